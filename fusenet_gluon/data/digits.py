"""The embedded default data set: scikit-learn's handwritten digits as 32x32 RGB RecordIO.

1,797 real 8x8 grey images (0..16) of 10 classes ship inside scikit-learn. They are
scaled to 0..255, upscaled to 32x32 (bilinear), copied to three channels and split once,
with a fixed seed and stratified by class, into 1,437 training and 360 test images, then
packed to ``train.rec``/``test.rec`` (+ ``.idx``) in a cache folder:
``$FUSENET_DATA_HOME/digits`` or ``~/.cache/fusenet_gluon/digits``.
"""
import os

import numpy as np

from .meta import CIFAR_FILES, META_FILE
from .recordio import pack_pair

SPLIT_SEED = 0
TEST_FRACTION = 0.2


def cache_dir():
    root = os.environ.get('FUSENET_DATA_HOME') or os.path.join(
        os.path.expanduser('~'), '.cache', 'fusenet_gluon')
    return os.path.join(root, 'digits')


def load_images():
    """``(train_images, train_labels, test_images, test_labels)``: uint8 (N, 32, 32, 3)."""
    import cv2
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    grey = np.clip(digits.images * (255.0 / 16.0), 0, 255).astype(np.float32)
    big = np.stack([cv2.resize(im, (32, 32), interpolation=cv2.INTER_LINEAR) for im in grey])
    rgb = np.repeat(np.clip(np.round(big), 0, 255).astype(np.uint8)[..., None], 3, axis=3)
    xtr, xte, ytr, yte = train_test_split(rgb, digits.target, test_size=TEST_FRACTION,
                                          random_state=SPLIT_SEED, stratify=digits.target)
    return xtr, ytr, xte, yte


def pack_digits(folder, force=False, quiet=False):
    """Pack the digits into `folder` as the ``pack digits`` command does (existing files
    refused unless `force`; `quiet`: no progress, no output); returns the image counts."""
    xtr, ytr, xte, yte = load_images()
    pack_pair(folder, (ytr, xtr), (yte, xte), force, 'digits', 10, quiet=quiet)
    return len(ytr), len(yte)


def ensure_digits(folder=None, quiet=False):
    """Pack the digits into `folder` (default :func:`cache_dir`) once; return the folder."""
    folder = folder or cache_dir()
    paths = [os.path.join(folder, n) for n in CIFAR_FILES + tuple(
        n[:-4] + '.idx' for n in CIFAR_FILES) + (META_FILE,)]
    if all(os.path.exists(p) for p in paths):
        return folder
    train, test = pack_digits(folder, force=True, quiet=True)
    if not quiet:
        print('packed scikit-learn digits: %d train / %d test images, 32x32 RGB, in %s'
              % (train, test, folder))
    return folder
