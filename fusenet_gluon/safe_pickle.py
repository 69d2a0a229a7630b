"""Pickles from outside read as data: an unpickler that admits only the globals a kind of
file holds.

Loading a pickle calls whatever its stream names (``os.system`` as easily as ``dict``), so a
file this project did not write (CIFAR's python batches, a run folder handed over, a
PyTorch checkpoint) is read by :class:`RestrictedUnpickler`: a name outside the file kind's
table stops the load before anything of the file is called, with an error that names the
global. The tables list what these files really hold (found by listing the GLOBAL opcodes of
real files with ``pickletools.genops``); nothing is imported by name from the file.
"""
import io
import pickle

import numpy as np

from .utils import UserError

__all__ = ['UnsafePickle', 'RestrictedUnpickler', 'loads', 'load_file', 'NUMPY_ARRAYS']


class UnsafePickle(UserError, ValueError):
    """The pickle names something its kind of file never holds; none of it was run."""


def _latin1(text, encoding):
    """``_codecs.encode`` as protocol 2 rebuilds Python 3 bytes, and only that."""
    if encoding not in ('latin1', 'latin-1'):
        raise pickle.UnpicklingError('bytes encoded as %r, not latin1' % (encoding,))
    return text.encode('latin1')


#: numpy arrays as numpy 1.x pickles them: protocols 2-4 (``_reconstruct``; Python 3 bytes in
#: protocol 2 as ``_codecs.encode(text, 'latin1')``) and 5 (``_frombuffer``), and as Python 2
#: pickled them (CIFAR's batches: ``encoding='bytes'``).
NUMPY_ARRAYS = {('_codecs', 'encode'): _latin1,
                ('numpy.core.multiarray', '_reconstruct'): np.core.multiarray._reconstruct,
                ('numpy.core.numeric', '_frombuffer'): np.core.numeric._frombuffer,
                ('numpy', 'ndarray'): np.ndarray,
                ('numpy', 'dtype'): np.dtype}


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose globals come from `allowed`, ``{(module, name): object}``;
    any other name raises :class:`UnsafePickle` naming `source` and `what` (what such a
    file holds, for the message)."""
    error = UnsafePickle   # what a refused name raises

    def __init__(self, f, allowed, source, what, **kwargs):
        super(RestrictedUnpickler, self).__init__(f, **kwargs)
        self._allowed, self._source, self._what = allowed, source, what

    def find_class(self, module, name):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise self.error(
                '%s is refused: its pickle names %s.%s, which %s never holds (a pickle can '
                'run code; nothing of it was run)' % (self._source, module, name, self._what)
            ) from None


def loads(data, allowed, source, what, **kwargs):
    """The object pickled in `data` (bytes), read by :class:`RestrictedUnpickler`."""
    return RestrictedUnpickler(io.BytesIO(data), allowed, source, what, **kwargs).load()


def load_file(path, allowed, what, **kwargs):
    """The object pickled in the file `path`, a kind of file that holds `what` (``'a CIFAR
    python batch'``): a name outside `allowed` is :class:`UnsafePickle`, any other failure
    to read it one line saying the file is not `what`."""
    with open(path, 'rb') as f:
        data = f.read()
    try:
        return loads(data, allowed, path, what, **kwargs)
    except UnsafePickle:
        raise
    except Exception as err:
        raise UserError('%s is not %s (%s: %s)' % (path, what, type(err).__name__, err)) \
            from None
