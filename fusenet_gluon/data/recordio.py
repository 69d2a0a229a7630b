"""RecordIO files: a framing check run before MXNet's C++ readers see a file, and writing.

MXNet's ``ImageRecordIter`` aborts the whole process on a corrupt or truncated file, on an
image smaller than the crop, or on some undecodable records. :func:`scan` walks the framing
in Python (magic, length, padding, the image header, the image's size read from its PNG or
JPEG header, the label) and raises :class:`DataError` naming the file and record index.

:func:`write_records` writes one file; :func:`pack_pair` a data set's training and test
files with their ``dataset.json``, for the ``pack`` command and the embedded digits alike.
"""
import contextlib
import os
import struct

import numpy as np

from ..utils import UserError, atomic_path, check_writable, progress_bar
from .meta import CIFAR_FILES, write_meta

MAGIC = 0xced7230a
_HEADER = struct.Struct('<IfQQ')  # IRHeader: flag, label, id, id2
_LEN_MASK = (1 << 29) - 1


class DataError(ValueError):
    """A data file that cannot be used, with the file and record named."""


#: What each data set's packer reads (and a note on it), for the hint of a missing file.
_PACK_SOURCES = {'cifar10': ('cifar-10-batches-py/', ''),
                 'cifar100': ('cifar-100-python/', ''),
                 'svhn': ('SVHN_FOLDER/', '; SVHN_FOLDER holds {train,extra,test}_32x32.mat'),
                 'imagenet': ('IMAGENET_FOLDER/', '; IMAGENET_FOLDER holds train/ and val/, '
                                                  'one subfolder a class'),
                 'digits': ('', ''),
                 'fashion-mnist': ('/usr/share/datasets/fashion-mnist', '; apt-get install '
                                   'dataset-fashion-mnist gives those files')}


def missing_file_message(path, dataset=None):
    """'no such RecordIO file', with the packing command that makes it."""
    if dataset not in _PACK_SOURCES:
        return 'no such RecordIO file: %s (make one with: python -m fusenet_gluon.data.pack ' \
               '--help)' % path
    source, note = _PACK_SOURCES[dataset]
    kind = 'mnist-idx' if dataset == 'fashion-mnist' else dataset
    command = ' '.join(w for w in ('python -m fusenet_gluon.data.pack', kind, source,
                                   os.path.dirname(path) or '.') if w)
    return 'no such RecordIO file: %s (make one with: %s%s)' % (path, command, note)


def image_size(buf):
    """(height, width) from a PNG or JPEG header, or None when neither."""
    if buf[:8] == b'\x89PNG\r\n\x1a\n' and len(buf) >= 24:
        w, h = struct.unpack('>II', buf[16:24])
        return h, w
    if buf[:2] == b'\xff\xd8':
        i = 2
        while i + 9 < len(buf):
            if buf[i] != 0xff:
                return None
            marker = buf[i + 1]
            if marker in (0xd8, 0x01) or 0xd0 <= marker <= 0xd7:
                i += 2
                continue
            length = struct.unpack('>H', buf[i + 2:i + 4])[0]
            if 0xc0 <= marker <= 0xcf and marker not in (0xc4, 0xc8, 0xcc):
                h, w = struct.unpack('>HH', buf[i + 5:i + 9])
                return h, w
            i += 2 + length
    return None


def _header(payload):
    """(label, image bytes) of a record: the first label when it holds several."""
    flag, label, _, _ = _HEADER.unpack_from(payload)
    if flag > 0:
        label = struct.unpack_from('<f', payload, _HEADER.size)[0]
    return label, payload[_HEADER.size + 4 * flag:]


def _decoded_size(buf):
    """(height, width) by decoding, for formats other than PNG and JPEG (BMP, TIFF, ...)."""
    import cv2
    img = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_COLOR)
    return None if img is None else img.shape[:2]


def _read_record(f, path, index, size):
    """Read the whole record at `f`'s position, checking its framing: its parts joined by
    the magic number, as ``mx.recordio.unpack`` expects them."""
    offset = f.tell()
    parts = []
    while True:
        head = f.read(8)
        if len(head) < 8:
            raise DataError('%s: record %s is truncated (file ends inside its header at '
                            'byte %d)' % (path, index, offset))
        magic, lrec = struct.unpack('<II', head)
        if magic != MAGIC:
            raise DataError('%s: record %s at byte %d does not start with the RecordIO '
                            'magic number: corrupt file, or not a .rec file'
                            % (path, index, f.tell() - 8))
        cflag, length = lrec >> 29, lrec & _LEN_MASK
        data = f.read(length)
        if len(data) < length:
            raise DataError('%s: record %s is truncated (%d of %d bytes present)'
                            % (path, index, len(data), length))
        f.seek((4 - length % 4) % 4, 1)
        if f.tell() > size:
            raise DataError('%s: record %s is truncated (padding missing)' % (path, index))
        parts.append(data)
        if cflag in (0, 3):
            break
        if cflag == 1 and len(parts) > 1 or cflag == 2 and len(parts) == 1:
            raise DataError('%s: record %s has a broken multi-part framing' % (path, index))
    return struct.pack('<I', MAGIC).join(parts)


def _records(f, path, size):
    """Yield (index, offset, payload) of each whole record, checking the framing."""
    index = 0
    while True:
        offset = f.tell()
        if offset == size:
            return
        yield index, offset, _read_record(f, path, index, size)
        index += 1


def read_record(f, offset):
    """The record at byte `offset` of the open ``.rec`` file `f` (framing checked)."""
    f.seek(offset)
    return _read_record(f, f.name, 'at byte %d' % offset, os.fstat(f.fileno()).st_size)


def scan(path, classes=None, expect_size=None, min_size=None, dataset=None, progress=None):
    """Check a ``.rec`` file and return the byte offset of every record.

    Parameters
    ----------
    classes : int, optional
        Labels must lie in ``[0, classes)``.
    expect_size : (int, int), optional
        Every image must be exactly (height, width) (CIFAR, SVHN).
    min_size : int, optional
        Every image's sides must be at least this (crop size, when images are resized).
    progress : callable, optional
        Called with the number of bytes read so far.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(missing_file_message(path, dataset))
    size = os.path.getsize(path)
    if size == 0:
        raise DataError('%s is empty' % path)
    offsets = []
    with open(path, 'rb') as f:
        for index, offset, payload in _records(f, path, size):
            if len(payload) < _HEADER.size:
                raise DataError('%s: record %d is too short to hold an image header'
                                % (path, index))
            label, body = _header(payload)
            if classes is not None and not (0 <= label < classes and label == int(label)):
                raise DataError('%s: record %d has label %g, outside the %d classes [0, %d)'
                                % (path, index, label, classes, classes))
            if expect_size or min_size:
                hw = image_size(body) or _decoded_size(body)
                if hw is None:
                    raise DataError('%s: record %d does not hold an image that can be decoded'
                                    % (path, index))
                if expect_size and tuple(hw) != tuple(expect_size):
                    raise DataError('%s: record %d is a %dx%d image; this data set needs '
                                    '%dx%d' % (path, index, hw[0], hw[1], expect_size[0],
                                               expect_size[1]))
                if min_size and min(hw) < min_size:
                    raise DataError('%s: record %d is a %dx%d image, smaller than the %d '
                                    'crop' % (path, index, hw[0], hw[1], min_size))
            offsets.append(offset)
            if progress is not None and index % 4096 == 0:
                progress(f.tell())
    if progress is not None:
        progress(size)
    return offsets


def read_labels(path):
    """Labels of every record, in file order (for summaries and partition checks)."""
    size = os.path.getsize(path)
    with open(path, 'rb') as f:
        return [_header(p)[0] for _, _, p in _records(f, path, size)]


def write_records(rec_path, items, quality=95, img_fmt='.png', force=False, progress=None):
    """Write ``(label, rgb_uint8_HWC)`` items to `rec_path` and its ``.idx``, atomically.

    Returns the per-class counts. Refuses to overwrite unless `force`.
    """
    import cv2
    import mxnet as mx
    idx_path = os.path.splitext(rec_path)[0] + '.idx'
    check_writable([rec_path, idx_path], force)
    os.makedirs(os.path.dirname(os.path.abspath(rec_path)), exist_ok=True)
    counts = {}
    with atomic_path(rec_path) as tmp_rec, atomic_path(idx_path) as tmp_idx:
        writer = mx.recordio.MXIndexedRecordIO(tmp_idx, tmp_rec, 'w')
        try:
            for i, (label, img) in enumerate(items):
                header = mx.recordio.IRHeader(0, float(label), i, 0)
                params = [cv2.IMWRITE_JPEG_QUALITY, quality] if img_fmt == '.jpg' else \
                    [cv2.IMWRITE_PNG_COMPRESSION, 3]
                ok, buf = cv2.imencode(img_fmt, np.ascontiguousarray(img[:, :, ::-1]), params)
                if not ok:
                    raise DataError('could not encode image %d' % i)
                writer.write_idx(i, mx.recordio.pack(header, buf.tobytes()))
                counts[int(label)] = counts.get(int(label), 0) + 1
                if progress is not None:
                    progress(1)
        finally:
            writer.close()
    return dict(sorted(counts.items()))


def write_images(path, labels, images, force, desc, fmt='.png', quality=95, quiet=False):
    """:func:`write_records` of `images` with their `labels`, showing a progress bar
    (`desc`) and then a line of per-class counts, unless `quiet`; returns those counts."""
    with contextlib.nullcontext() if quiet else progress_bar(len(labels), desc, 'img') as bar:
        counts = write_records(path, zip(labels, images), quality=quality, img_fmt=fmt,
                               force=force, progress=bar.update if bar else None)
    if not quiet:
        print('%s: %d images, %d classes; per class: %s'
              % (path, sum(counts.values()), len(counts),
                 ' '.join('%d:%d' % kv for kv in counts.items())))
    return counts


def check_free(targets, force):
    """Refuse, before any work, to overwrite the ``.rec`` files `targets` or their ``.idx``
    unless `force` (:func:`~fusenet_gluon.utils.check_writable`)."""
    check_writable([p for t in targets for p in (t, t[:-4] + '.idx')], force)


def pack_pair(out_dir, train, test, force, name, classes=None, quiet=False):
    """``train.rec`` and ``test.rec`` (+ ``.idx``) and ``dataset.json`` in `out_dir`.

    `train` and `test` are ``(labels, images)`` (uint8 N x H x W x 3, RGB); labels outside
    ``0..classes-1`` and existing files (unless `force`) are refused before anything is
    written. `quiet` shows no progress and prints nothing. Returns the ``.rec`` paths.
    """
    names = CIFAR_FILES
    targets = [os.path.join(out_dir, n) for n in names]
    for part, (labels, _) in zip(('training', 'test'), (train, test)):
        labels = np.asarray(labels)
        if labels.size and (labels.min() < 0 or (classes and labels.max() >= classes)):
            raise UserError('%s: a %s label is %d, outside 0..%s' % (
                name, part, labels.min() if labels.min() < 0 else labels.max(),
                classes - 1 if classes else ''))
    check_free(targets, force)
    counts = [sum(write_images(path, labels, images, True, '%s %s' % (name, part),
                               quiet=quiet).values())
              for path, (labels, images), part in zip(targets, (train, test),
                                                      ('train', 'test'))]
    write_meta(out_dir, name, names, classes or int(max(train[0])) + 1, counts)
    return targets
