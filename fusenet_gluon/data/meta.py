"""What a packed data set is: ``dataset.json`` beside its RecordIO files.

Every packer of :mod:`fusenet_gluon.data.pack` writes it, so training picks the right
preset (classes, statistics, augmentation) from ``--data-dir`` alone. It is data: read as
JSON, never executed.
"""
import json
import os

from ..utils import UserError, atomic_path

META_FILE = 'dataset.json'
#: The training and test records the packers write and the commands read by default:
#: train_cifar.py's data sets, and train_imagenet.py's (the original's names).
CIFAR_FILES = ('train.rec', 'test.rec')
IMAGENET_FILES = ('imagenet_train.rec', 'imagenet_val.rec')

__all__ = ['META_FILE', 'CIFAR_FILES', 'IMAGENET_FILES', 'write_meta', 'read_meta']


def write_meta(folder, dataset, files, classes, counts):
    """Record in `folder` that its `files` (name -> images) hold `dataset` of `classes`."""
    os.makedirs(folder, exist_ok=True)
    with atomic_path(os.path.join(folder, META_FILE)) as tmp:
        with open(tmp, 'w') as f:
            json.dump(dict(dataset=dataset, classes=classes,
                           files=dict(zip(files, counts))), f, indent=1)


def read_meta(folder):
    """The data set name recorded in `folder`'s ``dataset.json``, or None when there is
    none (records packed by other tools). A file that is there but damaged is named in a
    one-line :class:`~fusenet_gluon.utils.UserError`: guessing the data set instead would
    train with another one's statistics and schedule."""
    path = os.path.join(folder or '', META_FILE)
    if not folder or not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            name = json.load(f).get('dataset')
    except (OSError, ValueError, AttributeError) as err:
        why = 'not a JSON object' if isinstance(err, AttributeError) else 'not JSON' \
            if isinstance(err, ValueError) else str(err)
        raise UserError('%s is damaged (%s): pack the data again, or remove it and give '
                        '--dataset' % (path, why)) from None
    if not isinstance(name, str):
        raise UserError('%s is damaged (no data set name in it): pack the data again, or '
                        'remove it and give --dataset' % path)
    return name
