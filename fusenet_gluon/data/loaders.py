"""Two loaders with one contract, the original's normalisation and augmentation.

* ``backend='recordio'`` (the fast path): ``mx.io.ImageRecordIter``, decoding, resizing and
  normalising in C++ threads (``preprocess_threads`` = the core count).
* ``backend='gluon'``: a Gluon ``Dataset`` over the same ``.rec`` file (no ``.idx`` needed),
  per-sample transforms and a ``DataLoader`` with worker processes.

Both yield ``(data, label)`` NDArray pairs, data NCHW float32 normalised as
``(x - mean) / std``; both split the records by ``num_parts``/``part_index``; both report
``num_examples`` and ``epoch_size`` (updates per epoch, as the learning-rate schedule counts
them). Training batches are always full; validation yields every record exactly once.

CIFAR padding: MXNet 1.9's ``ImageRecordIter`` has one ``fill_value`` for all channels and
has dropped the per-channel ``fill_value_r/g/b`` of the original's MXNet, so the pad with the
mean colour (the rounded mean, as the original), the random crop and the mirror are applied
after normalisation by :func:`pad_crop_mirror`, shared by both loaders.
"""
import os

import mxnet as mx
import numpy as np

from . import presets as P
from ..seeds import epoch_seed, sample_seed
from .recordio import DataError, missing_file_message, scan

BACKENDS = ('recordio', 'gluon')


def normalized_fill(preset):
    """The padding colour after normalisation: ``(round(mean) - mean) / std`` (about 0)."""
    return ((np.array(P.fill_value(preset)) - np.array(preset.mean))
            / np.array(preset.std)).astype(np.float32)


def normalize(img, preset):
    """uint8 RGB (H, W, 3) -> float32 (3, H, W), ``(x - mean) / std``."""
    x = (img.astype(np.float32) - np.array(preset.mean, np.float32)) \
        / np.array(preset.std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def pad_crop_mirror(x, pad, fill, rng, mirror=True):
    """Pad (N, C, H, W) by `pad` with the per-channel `fill`, crop back to (H, W) at a random
    place and mirror half of the images, each image independently."""
    n, c, h, w = x.shape
    padded = np.empty((n, c, h + 2 * pad, w + 2 * pad), np.float32)
    padded[:] = np.asarray(fill, np.float32)[None, :, None, None]
    padded[:, :, pad:pad + h, pad:pad + w] = x
    ys = rng.randint(0, 2 * pad + 1, n)
    xs = rng.randint(0, 2 * pad + 1, n)
    flips = rng.rand(n) < 0.5 if mirror else np.zeros(n, bool)
    out = np.empty_like(x)
    for i in range(n):
        crop = padded[i, :, ys[i]:ys[i] + h, xs[i]:xs[i] + w]
        out[i] = crop[:, :, ::-1] if flips[i] else crop
    return out


def _part(count, num_parts, part_index):
    """Contiguous share `part_index` of `count` records."""
    if not (isinstance(num_parts, int) and num_parts >= 1 and 0 <= part_index < num_parts):
        raise ValueError('need 0 <= part_index < num_parts, got %r of %r'
                         % (part_index, num_parts))
    return count * part_index // num_parts, count * (part_index + 1) // num_parts


def check_file(path, preset, dataset=None, progress=None):
    """Scan `path` (framing, labels, image sizes) and return the record offsets."""
    kw = dict(classes=preset.classes, dataset=dataset or preset.name, progress=progress)
    if preset.augment in ('imagenet', 'random_resized_crop'):
        kw['min_size'] = 1
    else:
        kw['expect_size'] = (preset.input_size, preset.input_size)
    offsets = scan(path, **kw)
    if not offsets:
        raise DataError('%s holds no records' % path)
    return offsets


class _Loader(object):
    """The contract both loaders keep: `epoch_size` full training batches, or every
    validation record once; `set_epoch` fixes the order and augmentation of an epoch."""
    train = True
    batch_size = part_examples = epoch = 0

    @property
    def epoch_size(self):
        return max(1, self.part_examples // self.batch_size)

    def __len__(self):
        return self.epoch_size if self.train else -(-self.part_examples // self.batch_size)

    def set_epoch(self, epoch):
        self.epoch = epoch


# ------------------------------------------------------------------ the fast path
def recordio_part_count(offsets, file_size, num_parts, part_index):
    """Records that ``ImageRecordIter`` gives part `part_index` of `num_parts`.

    dmlc's InputSplit cuts the file into equal byte ranges (rounded up to 4 bytes) and a
    part reads the records that start inside its range."""
    step = -(-file_size // num_parts)
    step = -(-step // 4) * 4
    begin, end = min(step * part_index, file_size), min(step * (part_index + 1), file_size)
    return sum(1 for o in offsets if begin <= o < end)


class RecordIterLoader(_Loader):
    """``mx.io.ImageRecordIter`` behind the loaders' common contract.

    A fresh iterator is made for every epoch, seeded by (seed, epoch): MXNet 1.9.1's iterator
    loses records across ``reset()`` and reports no padding on the last batch, so the epoch
    is cut to exactly `epoch_size` full batches (training) or to the true record count
    (validation), and an epoch's order depends only on the seed and the epoch.
    """

    def __init__(self, path, offsets, preset, batch_size, train, num_parts=1, part_index=0,
                 threads=None, seed=0):
        self.preset, self.train, self.batch_size, self.seed = preset, train, batch_size, seed
        self.num_examples = len(offsets)
        self.part_examples = recordio_part_count(offsets, os.path.getsize(path), num_parts,
                                                 part_index)
        self._fill = normalized_fill(preset)
        self.epoch = 0
        s = preset.input_size
        self._kw = dict(path_imgrec=path, data_shape=(3, s, s), batch_size=batch_size,
                        shuffle=train, num_parts=num_parts, part_index=part_index,
                        preprocess_threads=threads or os.cpu_count() or 1,
                        round_batch=False, verbose=False,
                        mean_r=preset.mean[0], mean_g=preset.mean[1], mean_b=preset.mean[2],
                        std_r=preset.std[0], std_g=preset.std[1], std_b=preset.std[2])
        if preset.augment == 'imagenet':
            if train:
                self._kw.update(P.IMAGENET_AUGMENT, rand_crop=True, rand_mirror=True,
                                inter_method=9, fill_value=P.fill_value(preset)[0])
            else:
                self._kw.update(resize=P.IMAGENET_VAL_RESIZE, rand_crop=False,
                                rand_mirror=False, inter_method=1)

    def __iter__(self):
        seed = epoch_seed(self.seed, self.epoch)
        self.epoch += 1
        rng = np.random.RandomState(seed)
        it = mx.io.ImageRecordIter(seed=seed, seed_aug=seed, **self._kw)
        remaining = self.part_examples
        for i, batch in enumerate(it):
            if i >= len(self) or remaining <= 0:
                break
            data, label = batch.data[0], batch.label[0]
            keep = min(self.batch_size, remaining)
            remaining -= keep
            if keep < self.batch_size:
                if self.train:
                    break
                data, label = data[:keep], label[:keep]
            if self.train and self.preset.augment in ('pad_crop_mirror', 'pad_crop'):
                data = mx.nd.array(pad_crop_mirror(
                    data.asnumpy(), P.CIFAR_PAD, self._fill, rng,
                    mirror=self.preset.augment == 'pad_crop_mirror'))
            yield data, label


# ------------------------------------------------------------------ the Gluon path
class RecordDataset(mx.gluon.data.Dataset):
    """Records of a ``.rec`` file read by byte offset (no ``.idx`` needed); items are
    ``(uint8 RGB HWC image, label)``. Safe in DataLoader worker processes."""

    def __init__(self, path, offsets):
        self.path, self.offsets = path, list(offsets)
        self._file, self._pid = None, None

    def __len__(self):
        return len(self.offsets)

    def read(self, idx):
        if self._file is None or self._pid != os.getpid():
            self._file, self._pid = open(self.path, 'rb'), os.getpid()
        f = self._file
        f.seek(self.offsets[idx])
        parts = []
        while True:
            magic, lrec = np.frombuffer(f.read(8), '<u4')
            length = int(lrec) & ((1 << 29) - 1)
            parts.append(f.read(length))
            f.read((4 - length % 4) % 4)
            if int(lrec) >> 29 in (0, 3):
                break
        return np.uint32(0xced7230a).tobytes().join(parts)

    def __getitem__(self, idx):
        header, buf = mx.recordio.unpack(self.read(idx))
        label = header.label if np.isscalar(header.label) else header.label[0]
        img = mx.image.imdecode(buf, flag=1).asnumpy()  # MXNet's own decoder, as the C++ path
        return img, np.float32(label)


class SampleTransform(object):
    """Per-sample transform of the Gluon path: the same recipe as the fast path."""

    def __init__(self, preset, train, seed=0):
        self.preset, self.train, self.seed, self.epoch = preset, train, seed, 0
        self.fill = normalized_fill(preset)

    def rng(self, idx):
        return np.random.RandomState(sample_seed(self.seed, self.epoch, idx))

    def __call__(self, idx, img):
        p = self.preset
        if p.augment == 'imagenet':
            img = self._imagenet(idx, img) if self.train else self._imagenet_val(img)
        elif p.augment == 'random_resized_crop':
            img = self._resized_crop(idx, img) if self.train else self._center_crop(img)
        x = normalize(img, p)
        if self.train and p.augment in ('pad_crop_mirror', 'pad_crop'):
            x = pad_crop_mirror(x[None], P.CIFAR_PAD, self.fill, self.rng(idx),
                                mirror=p.augment == 'pad_crop_mirror')[0]
        return x

    def _resized_crop(self, idx, img):
        """Gluon's random-resized crop (area 0.08..1, aspect 3/4..4/3) and a mirror, drawn
        from this sample's seed (Gluon draws from Python's generator: seeded here)."""
        import random
        rng = self.rng(idx)
        random.seed(int(rng.randint(2 ** 31)))
        s = self.preset.input_size
        crop = mx.gluon.data.vision.transforms.RandomResizedCrop(s, interpolation=1)
        out = crop(mx.nd.array(img, dtype='uint8')).asnumpy()
        return out[:, ::-1] if rng.rand() < 0.5 else out

    def _center_crop(self, img):
        """Gluon's transforms: the shorter side to 256, the centre 224 x 224."""
        t = mx.gluon.data.vision.transforms
        img = t.Resize(P.IMAGENET_VAL_RESIZE, keep_ratio=True, interpolation=1)(
            mx.nd.array(img, dtype='uint8'))
        return t.CenterCrop(self.preset.input_size, interpolation=1)(img).asnumpy()

    def _imagenet_val(self, img):
        h, w = img.shape[:2]
        r = P.IMAGENET_VAL_RESIZE
        nw, nh = (r, r * h // w) if h > w else (r * w // h, r)
        img = mx.image.imresize(mx.nd.array(img, dtype='uint8'), nw, nh, interp=1).asnumpy()
        s = self.preset.input_size
        y0, x0 = (nh - s) // 2, (nw - s) // 2
        return img[y0:y0 + s, x0:x0 + s]

    def _imagenet(self, idx, img):
        import cv2
        rng, a, s = self.rng(idx), P.IMAGENET_AUGMENT, self.preset.input_size
        h, w = img.shape[:2]
        scale = rng.uniform(a['min_random_scale'], a['max_random_scale'])
        ratio = 1 + rng.uniform(-a['max_aspect_ratio'], a['max_aspect_ratio'])
        nw = max(a['min_img_size'], s, int(round(w * scale * np.sqrt(ratio))))
        nh = max(a['min_img_size'], s, int(round(h * scale / np.sqrt(ratio))))
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
        y0, x0 = rng.randint(0, nh - s + 1), rng.randint(0, nw - s + 1)
        img = img[y0:y0 + s, x0:x0 + s]
        if rng.rand() < 0.5:
            img = img[:, ::-1]
        hls = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2HLS).astype(np.int32)
        hls[..., 0] = (hls[..., 0] + rng.randint(-a['random_h'], a['random_h'] + 1) // 2) % 180
        hls[..., 1] += rng.randint(-a['random_l'], a['random_l'] + 1)
        hls[..., 2] += rng.randint(-a['random_s'], a['random_s'] + 1)
        return cv2.cvtColor(np.clip(hls, 0, 255).astype(np.uint8), cv2.COLOR_HLS2RGB)


class _Transformed(mx.gluon.data.Dataset):
    def __init__(self, records, transform, start, stop):
        self.records, self.transform, self.start, self.stop = records, transform, start, stop

    def __len__(self):
        return self.stop - self.start

    def __getitem__(self, i):
        idx = self.start + i
        img, label = self.records[idx]
        return self.transform(idx, img), label


class EpochSampler(mx.gluon.data.Sampler):
    """A permutation that depends only on (seed, epoch), so a resumed run sees the same
    order as an uninterrupted one."""

    def __init__(self, length, shuffle, seed):
        self.length, self.shuffle, self.seed, self.epoch = length, shuffle, seed, 0

    def __len__(self):
        return self.length

    def __iter__(self):
        if not self.shuffle:
            return iter(range(self.length))
        return iter(np.random.RandomState(epoch_seed(self.seed, self.epoch))
                    .permutation(self.length).tolist())


class GluonLoader(_Loader):
    """``ImageRecord``-style Dataset + transforms + ``DataLoader`` with workers."""

    def __init__(self, path, offsets, preset, batch_size, train, num_parts=1, part_index=0,
                 workers=None, seed=0):
        self.preset, self.train, self.batch_size = preset, train, batch_size
        self.num_examples = len(offsets)
        start, stop = _part(len(offsets), num_parts, part_index)
        self.part_examples = stop - start
        self.transform = SampleTransform(preset, train, seed)
        self._dataset = _Transformed(RecordDataset(path, offsets), self.transform, start, stop)
        workers = (os.cpu_count() or 1) if workers is None else workers
        self._sampler = EpochSampler(len(self._dataset), train, seed)
        self._loader = mx.gluon.data.DataLoader(
            self._dataset, batch_size, sampler=self._sampler,
            last_batch='discard' if train else 'keep', num_workers=workers)
        self.epoch = 0

    def __iter__(self):
        self.transform.epoch = self._sampler.epoch = self.epoch
        self.epoch += 1
        for data, label in self._loader:
            yield data, label


# ------------------------------------------------------------------ one entry point
def get_loaders(dataset='digits', data_dir=None, batch_size=64, backend='recordio',
                train_file='train.rec', val_file='test.rec', num_parts=1, part_index=0,
                workers=None, val_batch_size=None, seed=0, fb_mean=False, progress=None):
    """Training and validation loaders for a dataset of the paper.

    Parameters
    ----------
    dataset : str or Preset
        ``cifar10``, ``cifar100``, ``svhn``, ``imagenet``, ``fashion-mnist`` or ``digits`` (the
        embedded default), or a preset itself (the DLA recipe's ImageNet, say).
    data_dir : str, optional
        Folder with `train_file` and `val_file`; ``None`` for the digits, packed once into a
        cache folder.
    backend : ``'recordio'`` (fast, C++) or ``'gluon'`` (Dataset + DataLoader).
    num_parts, part_index : int
        This worker's share of the training records (distributed training).

    Returns ``(train, val)``; each iterates ``(data, label)`` NDArray batches and has
    ``num_examples`` (records in the file), ``part_examples`` (this part's), ``epoch_size``,
    ``len()`` and ``set_epoch(e)`` (an epoch's order and augmentation depend only on the
    seed and the epoch).
    """
    if backend not in BACKENDS:
        raise ValueError('unknown loader %r; choose from %s' % (backend, ', '.join(BACKENDS)))
    preset = dataset if isinstance(dataset, P.Preset) else P.get_preset(dataset, fb_mean)
    dataset = preset.name
    if preset.augment == 'random_resized_crop' and backend == 'recordio':
        raise ValueError("the random-resized crop runs in the gluon loader only (backend "
                         "'gluon')")
    if data_dir is None:
        if dataset != 'digits':
            raise ValueError('%s needs --data-dir with %s and %s' % (dataset, train_file,
                                                                     val_file))
        from .digits import ensure_digits
        data_dir = ensure_digits()
    paths = [os.path.join(data_dir, f) for f in (train_file, val_file)]
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(missing_file_message(path, dataset))
    offsets = [check_file(p, preset, progress=progress) for p in paths]
    val_batch_size = val_batch_size or batch_size
    if backend == 'recordio':
        train = RecordIterLoader(paths[0], offsets[0], preset, batch_size, True, num_parts,
                                 part_index, workers, seed)
        val = RecordIterLoader(paths[1], offsets[1], preset, val_batch_size, False, 1, 0,
                               workers, seed)
    else:
        train = GluonLoader(paths[0], offsets[0], preset, batch_size, True, num_parts,
                            part_index, workers, seed)
        val = GluonLoader(paths[1], offsets[1], preset, val_batch_size, False, 1, 0, workers,
                          seed)
    return train, val
