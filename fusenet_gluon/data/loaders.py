"""Two loaders with one contract, the original's normalisation and augmentation.

* ``backend='recordio'`` (the fast path): ``mx.io.ImageRecordIter``, decoding, augmenting
  and normalising in C++ threads (``preprocess_threads`` = the core count).
* ``backend='gluon'``: built as GluonCV's classification scripts build theirs: a record
  Dataset over the same ``.rec`` file (no ``.idx`` needed), ``transform_first`` of a
  ``Compose`` of transform Blocks, a sampler, and a ``DataLoader`` with worker processes.

Both yield ``(data, label)`` NDArray pairs, data NCHW float32 normalised as
``(x - mean) * (1 / std)`` (the same bits); both split the training records as
``ImageRecordIter`` does (``num_parts``/``part_index``: contiguous byte ranges), so a
worker trains on the same records with either; both report ``num_examples`` and
``epoch_size`` (the full batches of this worker's part; the training loop counts its epoch
from the data set's size and ``--num-examples`` instead, the same on every worker). Training
batches are always full; validation yields every record exactly once. The preset's
:mod:`~fusenet_gluon.data.augment` object gives each loader its augmentation.
"""
import bisect
import collections
import os

import mxnet as mx
import numpy as np

from . import presets as P
from ..seeds import epoch_seed, sample_seed
from .meta import CIFAR_FILES
from .recordio import DataError, missing_file_message, read_record, scan
from .transforms import seed_sample

BACKENDS = ('recordio', 'gluon')


def check_file(path, preset, dataset=None, progress=None):
    """Scan `path` (framing, labels, image sizes) and return the record offsets."""
    kw = dict(classes=preset.classes, dataset=dataset or preset.name, progress=progress)
    if preset.augment.min_image_size:
        kw['min_size'] = preset.augment.min_image_size
    else:
        kw['expect_size'] = (preset.input_size, preset.input_size)
    offsets = scan(path, **kw)
    if not offsets:
        raise DataError('%s holds no records' % path)
    return offsets


def part_range(offsets, file_size, num_parts, part_index):
    """The records ``[start, stop)`` that ``ImageRecordIter`` gives part `part_index` of
    `num_parts`: dmlc's InputSplit cuts the file into equal byte ranges (rounded up to 4
    bytes) and a part reads the records that start inside its range."""
    if not (isinstance(num_parts, int) and num_parts >= 1 and 0 <= part_index < num_parts):
        raise ValueError('need 0 <= part_index < num_parts, got %r of %r'
                         % (part_index, num_parts))
    step = -(-file_size // num_parts)
    step = -(-step // 4) * 4
    begin, end = min(step * part_index, file_size), min(step * (part_index + 1), file_size)
    return bisect.bisect_left(offsets, begin), bisect.bisect_left(offsets, end)


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
        start, stop = part_range(offsets, os.path.getsize(path), num_parts, part_index)
        self.part_examples = stop - start
        self.epoch = 0
        s = preset.input_size
        self._kw = dict(path_imgrec=path, data_shape=(3, s, s), batch_size=batch_size,
                        shuffle=train, num_parts=num_parts, part_index=part_index,
                        preprocess_threads=threads or os.cpu_count() or 1,
                        round_batch=False, verbose=False,
                        mean_r=preset.mean[0], mean_g=preset.mean[1], mean_b=preset.mean[2],
                        std_r=preset.std[0], std_g=preset.std[1], std_b=preset.std[2])
        self._kw.update(preset.augment.record_iter_args(preset, train))
        self._batch_transform = preset.augment.batch_transform(preset, train)

    def _iterator(self, seed):
        """The iterator of the epoch seeded `seed`: the one made ahead if it is that one."""
        ahead, self._ahead = getattr(self, '_ahead', None), None
        if ahead is not None and ahead[0] == seed:
            return ahead[1]
        return mx.io.ImageRecordIter(seed=seed, seed_aug=seed, **self._kw)

    def _make_next(self):
        """Start the next epoch's iterator now: making one and decoding its first batch
        took about 75 ms on the digits (2-core EPYC), time the training clock would count
        at the start of every epoch; made here, at the end of an epoch, it overlaps the
        validation and the checkpoint, as ``reset()`` overlaps them in ``Module.fit``. Its
        order and augmentation depend only on its seed, so nothing else changes."""
        seed = epoch_seed(self.seed, self.epoch)
        self._ahead = (seed, mx.io.ImageRecordIter(seed=seed, seed_aug=seed, **self._kw))

    def __iter__(self):
        seed = epoch_seed(self.seed, self.epoch)
        self.epoch += 1
        rng = np.random.RandomState(seed)
        try:
            for batch in self._batches(self._iterator(seed), rng):
                yield batch
        except GeneratorExit:  # the reader took the batches it wanted: the epoch is done
            self._make_next()
            raise
        self._make_next()

    def _batches(self, it, rng):
        """The epoch's batches from `it`: full ones, or every validation record once."""
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
            if self._batch_transform is not None:
                data = mx.nd.array(self._batch_transform(data.asnumpy(), rng))
            yield data, label


# ------------------------------------------------------------------ the Gluon path
#: What the training sampler yields: a record index and the epoch it is read in.
SampleKey = collections.namedtuple('SampleKey', ['epoch', 'index'])


class RecordDataset(mx.gluon.data.Dataset):
    """Records of a ``.rec`` file read by byte offset (no ``.idx`` needed); items are
    ``(image, label)``, the image an (H, W, 3) uint8 RGB NDArray decoded by MXNet's own
    decoder (as the C++ loader). Safe in DataLoader worker processes.

    With a `seed`, reading a :class:`SampleKey` first seeds the generators the transforms
    draw from (:func:`~.transforms.seed_sample`) by (seed, epoch, index): the transform
    ``transform_first`` applies next, in the same process, is that sample's own. The epoch
    travels in the key because worker processes hold a copy of the dataset made when the
    ``DataLoader`` started them.
    """

    def __init__(self, path, offsets, seed=None):
        self.path, self.offsets, self.seed = path, list(offsets), seed
        self._file, self._pid = None, None

    def __len__(self):
        return len(self.offsets)

    def read(self, idx):
        """The raw record `idx` (its parts joined as ``mx.recordio.unpack`` expects)."""
        if self._file is None or self._pid != os.getpid():
            self._file, self._pid = open(self.path, 'rb'), os.getpid()
        return read_record(self._file, self.offsets[idx])

    def __getitem__(self, key):
        if isinstance(key, SampleKey):
            if self.seed is not None:
                seed_sample(sample_seed(self.seed, key.epoch, key.index))
            key = key.index
        header, buf = mx.recordio.unpack(self.read(key))
        label = header.label if np.isscalar(header.label) else header.label[0]
        return mx.image.imdecode(buf, flag=1), np.float32(label)


class PartSampler(mx.gluon.data.Sampler):
    """The records ``[start, stop)`` of this worker's part, in an order that depends only
    on (seed, epoch) when `shuffle`, so a resumed run sees the same order as an
    uninterrupted one; training yields :class:`SampleKey` (the epoch seeds the sample's
    augmentation), validation plain indices."""

    def __init__(self, start, stop, shuffle, seed, keys=True):
        self.start, self.stop, self.shuffle, self.seed, self.keys = start, stop, shuffle, \
            seed, keys
        self.epoch = 0

    def __len__(self):
        return self.stop - self.start

    def __iter__(self):
        order = np.arange(self.start, self.stop)
        if self.shuffle:
            order = self.start + np.random.RandomState(
                epoch_seed(self.seed, self.epoch)).permutation(len(self))
        if not self.keys:
            return iter(order.tolist())
        return (SampleKey(self.epoch, i) for i in order.tolist())


class GluonLoader(_Loader):
    """A record dataset, ``transform_first`` of the augmentation's ``Compose`` and a
    ``DataLoader`` with worker processes, as GluonCV's classification scripts."""

    def __init__(self, path, offsets, preset, batch_size, train, num_parts=1, part_index=0,
                 workers=None, seed=0):
        self.preset, self.train, self.batch_size = preset, train, batch_size
        self.num_examples = len(offsets)
        start, stop = part_range(offsets, os.path.getsize(path), num_parts, part_index)
        self.part_examples = stop - start
        records = RecordDataset(path, offsets, seed if train else None)
        dataset = records.transform_first(preset.augment.gluon_transform(preset, train))
        self._sampler = PartSampler(start, stop, train, seed, keys=train)
        workers = (os.cpu_count() or 1) if workers is None else workers
        self._loader = mx.gluon.data.DataLoader(
            dataset, batch_size, sampler=self._sampler,
            last_batch='discard' if train else 'keep', num_workers=workers)
        self.epoch = 0

    def __iter__(self):
        self._sampler.epoch = self.epoch
        self.epoch += 1
        for data, label in self._loader:
            yield data, label


# ------------------------------------------------------------------ one entry point
def get_loaders(dataset='digits', data_dir=None, batch_size=64, backend='recordio',
                train_file=CIFAR_FILES[0], val_file=CIFAR_FILES[1], num_parts=1, part_index=0,
                workers=None, val_batch_size=None, seed=0, fb_mean=False, pad='white',
                progress=None):
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
    pad : ``'white'`` (what the authors' MXNet ran) or ``'mean'`` (what their code
        intended): the colour of the CIFAR pad.
    num_parts, part_index : int
        This worker's share of the training records (distributed training).

    Returns ``(train, val)``; each iterates ``(data, label)`` NDArray batches and has
    ``num_examples`` (records in the file), ``part_examples`` (this part's), ``epoch_size``,
    ``len()`` and ``set_epoch(e)`` (an epoch's order and augmentation depend only on the
    seed and the epoch).
    """
    if backend not in BACKENDS:
        raise ValueError('unknown loader %r; choose from %s' % (backend, ', '.join(BACKENDS)))
    preset = dataset if isinstance(dataset, P.Preset) else P.get_preset(dataset, fb_mean, pad)
    dataset = preset.name
    if backend == 'recordio' and not preset.augment.record_iter:
        preset.augment.record_iter_args(preset, True)   # raises, saying why
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
