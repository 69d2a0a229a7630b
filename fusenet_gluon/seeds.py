"""Every seed derived from a run's seed, in one place.

An epoch's order and augmentation depend only on (run seed, epoch), and a batch's mixup
draw only on (run seed, epoch, batch), so a resumed run sees exactly what an uninterrupted
one saw. The formulas are arbitrary but fixed: changing one changes every run's data order.
"""

__all__ = ['epoch_seed', 'sample_seed', 'batch_seed', 'repeat_epoch']


def epoch_seed(seed, epoch):
    """Seed of an epoch's shuffling and augmentation (both loaders)."""
    return (seed * 1000003 + epoch * 7919) % (2 ** 31)


def sample_seed(seed, epoch, index):
    """Seed of one sample's augmentation in epoch `epoch` (the Gluon loader's workers)."""
    return (epoch_seed(seed, epoch) + index) % 2 ** 32


def batch_seed(seed, epoch, batch):
    """Seed of one training batch's mixup draw."""
    return (seed * 7 + epoch * 100003 + batch) % 2 ** 31


def repeat_epoch(epoch, repeat):
    """The epoch number under which a worker's data part is read again, `repeat` (1, 2, ...)
    times, when it holds fewer batches than an epoch needs (RecordIO parts are cut by bytes,
    so their sizes differ a little); repeat 0 is the epoch itself."""
    return epoch if repeat == 0 else 1000003 * repeat + epoch
