"""PyTorch ``state_dict`` files read without PyTorch, as data.

Two formats: the zip archive of PyTorch >= 1.6 (``ARCHIVE/data.pkl`` and the storages in
``ARCHIVE/data/KEY``) and the older stream (magic number, protocol, system info, the pickle,
the storage keys, then each storage's element count and bytes). Both hold a pickle. A
pickle can run code when loaded, so it is read with an unpickler that admits only the
globals a tensor state_dict needs (``collections.OrderedDict``, the tensor-rebuild
functions of ``torch._utils``, the typed storage classes) and refuses any other by name;
the admitted names build plain descriptions here, never PyTorch objects, and nothing named
in the file is ever called.
"""
import collections
import io
import pickle
import struct
import zipfile

import numpy as np

from .safe_pickle import RestrictedUnpickler, UnsafePickle

__all__ = ['load_state_dict', 'is_torch_file', 'UnsafeCheckpoint']

_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
_STORAGE_DTYPES = {'FloatStorage': np.float32, 'DoubleStorage': np.float64,
                   'HalfStorage': np.float16, 'LongStorage': np.int64,
                   'IntStorage': np.int32, 'ShortStorage': np.int16, 'CharStorage': np.int8,
                   'ByteStorage': np.uint8, 'BoolStorage': np.bool_}


class UnsafeCheckpoint(UnsafePickle):
    """The pickle names something a tensor state_dict never holds; it was not loaded."""


class _StorageType(object):
    def __init__(self, name):
        self.name, self.dtype = name, np.dtype(_STORAGE_DTYPES[name])


class _Storage(object):
    """A storage's dtype and, once read, its bytes."""

    def __init__(self, dtype):
        self.dtype, self.data = dtype, None


class _Tensor(object):
    """A tensor as its rebuild call describes it: storage, offset, size, stride."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def numpy(self):
        flat = np.frombuffer(self.storage.data, self.storage.dtype)
        if not self.size:
            return flat[self.offset:self.offset + 1].reshape(()).copy()
        item = flat.itemsize
        return np.lib.stride_tricks.as_strided(
            flat[self.offset:], shape=tuple(self.size),
            strides=tuple(s * item for s in self.stride)).copy()


def _rebuild_tensor(storage, storage_offset, size, stride, *rest):
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *rest):
    return data


_ALLOWED = {('collections', 'OrderedDict'): collections.OrderedDict,
            ('torch._utils', '_rebuild_tensor_v2'): _rebuild_tensor,
            ('torch._utils', '_rebuild_tensor'): _rebuild_tensor,
            ('torch._utils', '_rebuild_parameter'): _rebuild_parameter}
_ALLOWED.update({('torch', name): _StorageType(name) for name in _STORAGE_DTYPES})


class _Unpickler(RestrictedUnpickler):
    error = UnsafeCheckpoint

    def __init__(self, f, path, persistent):
        super(_Unpickler, self).__init__(f, _ALLOWED, path, 'a tensor state_dict')
        self._path, self._persistent = path, persistent

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or pid[0] != 'storage' or \
                not isinstance(pid[1], _StorageType):
            raise UnsafeCheckpoint('%s holds an object that is not a tensor storage (%r)'
                                   % (self._path, pid[:1] if isinstance(pid, tuple) else pid))
        return self._persistent(pid)


def _load_zip(path):
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pkl = [n for n in names if n.endswith('/data.pkl') or n == 'data.pkl']
        if not pkl:
            raise ValueError('%s is a zip archive but not a PyTorch checkpoint (no data.pkl)'
                             % path)
        root = pkl[0][:-len('data.pkl')]
        storages = {}

        def persistent(pid):
            _, kind, key, _, _ = pid[:5]
            if key not in storages:
                storage = storages[key] = _Storage(kind.dtype)
                storage.data = archive.read('%sdata/%s' % (root, key))
            return storages[key]
        return _Unpickler(io.BytesIO(archive.read(pkl[0])), path, persistent).load()


def _load_legacy(path):
    with open(path, 'rb') as f:
        def plain():
            return _Unpickler(f, path, lambda pid: None).load()
        if plain() != _LEGACY_MAGIC:
            raise ValueError('%s is not a PyTorch checkpoint (no magic number)' % path)
        plain()  # protocol version
        plain()  # system info: byte order, type sizes
        storages = {}

        def persistent(pid):
            _, kind, key, _, _ = pid[:5]
            return storages.setdefault(key, _Storage(kind.dtype))
        result = _Unpickler(f, path, persistent).load()
        for key in plain():
            count, = struct.unpack('<q', f.read(8))
            storage = storages[key]
            storage.data = f.read(count * storage.dtype.itemsize)
            if len(storage.data) != count * storage.dtype.itemsize:
                raise ValueError('%s is truncated (storage %s)' % (path, key))
    return result


def is_torch_file(path):
    """Whether `path` looks like a PyTorch checkpoint (a zip archive, or a pickle stream);
    MXNet's .params files start with their own magic number."""
    with open(path, 'rb') as f:
        head = f.read(4)
    return head[:4] == b'PK\x03\x04' or head[:1] == b'\x80'


def load_state_dict(path):
    """``{key: numpy array}`` of the PyTorch state_dict in `path`; ``num_batches_tracked``
    entries are dropped. Raises :class:`UnsafeCheckpoint` for a pickle that names anything
    else than a tensor state_dict needs, ``ValueError`` for a file that is not one."""
    try:
        loaded = _load_zip(path) if zipfile.is_zipfile(path) else _load_legacy(path)
    except (UnsafeCheckpoint, ValueError) as err:
        if str(err).startswith(str(path)):  # ours, naming the file
            raise
        # pickle's own, e.g. "unsupported pickle protocol: 103" for a corrupt file
        raise ValueError('%s is not a readable PyTorch checkpoint (%s)' % (path, err)) from None
    except (pickle.UnpicklingError, EOFError, struct.error, KeyError, TypeError,
            AttributeError, IndexError, zipfile.BadZipFile) as err:
        raise ValueError('%s is not a readable PyTorch checkpoint (%s: %s)'
                         % (path, type(err).__name__, err)) from None
    if isinstance(loaded, dict) and 'state_dict' in loaded and isinstance(
            loaded['state_dict'], dict):
        loaded = loaded['state_dict']   # a training checkpoint wrapping the state_dict
    if not isinstance(loaded, dict) or not all(
            isinstance(k, str) and isinstance(v, _Tensor) for k, v in loaded.items()):
        raise ValueError('%s does not hold a state_dict of named tensors' % path)
    return collections.OrderedDict((k, v.numpy()) for k, v in loaded.items()
                                   if not k.endswith('num_batches_tracked'))
