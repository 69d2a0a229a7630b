"""Transform Blocks of the Gluon data path that neither Gluon nor GluonCV has exactly.

Each reproduces a step of the authors' MXNet fork (zlmzju/mxnet, branch ``fusenet``, commit
271cac1f), ``src/io/image_aug_default.cc`` (``DefaultImageAugmenter::Process``) and
``src/io/iter_normalize.h``, in GluonCV's style: a ``Block`` whose ``forward`` takes an
(H, W, 3) uint8 RGB image, NDArray or NumPy. They are composed with Gluon's and GluonCV's
own transforms (``CenterCrop``, ``RandomResizedCrop``, GluonCV's ``RandomCrop``) by
:mod:`fusenet_gluon.data.augment`. They return NumPy arrays (GluonCV's crops and
``DataLoader``'s batching take them; making a per-sample NDArray costs about 90 us here, more
than a CIFAR image's whole augmentation).

Random draws come from NumPy's global generator, as GluonCV's and Gluon's Python transforms
draw from Python's and NumPy's; :func:`seed_sample` seeds both before each sample, so that a
sample's augmentation depends only on (run seed, epoch, index). Gluon's
``RandomFlipLeftRight`` draws from MXNet's generator instead, whose reseeding costs about
1 ms of engine work per sample here: :class:`RandomMirror` takes its place.
"""
import random

import cv2
import mxnet as mx
import numpy as np
from mxnet.gluon import Block

__all__ = ['seed_sample', 'Normalize', 'RandomPadCrop', 'RandomMirror', 'ScaleAspectWarp',
           'HSLJitter', 'uniform32']


def seed_sample(seed):
    """Seed the generators the transforms draw from: Python's (GluonCV's ``RandomCrop``,
    Gluon's ``RandomResizedCrop``) and NumPy's (these Blocks)."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)


def uniform32():
    """A float32 uniform draw in [0, 1), as the fork's ``uniform_real_distribution<float>``
    (24 bits: never rounds up to 1)."""
    return np.float32(np.random.randint(1 << 24)) * np.float32(2.0 ** -24)


def as_array(x):
    """`x` as a NumPy array (an NDArray read back)."""
    return x.asnumpy() if isinstance(x, mx.nd.NDArray) else np.asarray(x)


class Normalize(Block):
    """``y = (x - mean) * (1 / std)`` per channel, (H, W, 3) uint8 to (3, H, W) float32.

    The arithmetic of the fork's ``iter_normalize.h`` (``data -= mean; data *= scale``) and
    of MXNet 1.9.1's ``ImageRecordIter`` (``(x - mean) * (1.0f / std)``), in float32: the
    Gluon loader's tensors are bit for bit the C++ loader's. (Gluon's ``ToTensor`` +
    ``Normalize`` compute ``(x / 255 - m) / s`` and differ in the last bit.)

    Parameters
    ----------
    mean, std : 3 floats, RGB, on the 0-255 scale.
    """

    def __init__(self, mean, std):
        super(Normalize, self).__init__()
        self._mean = np.array(mean, np.float32)
        self._mult = np.float32(1) / np.array(std, np.float32)

    def apply(self, x):
        """The arithmetic on NumPy values whose last axis is the channel (HWC or colours)."""
        return (np.asarray(x).astype(np.float32) - self._mean) * self._mult

    def forward(self, x):
        return np.ascontiguousarray(self.apply(as_array(x)).transpose(2, 0, 1))


class RandomPadCrop(Block):
    """Pad by `pad` pixels of colour `fill`, then crop a window of the input's size at a
    random place: the fork's ``cv::copyMakeBorder(pad, BORDER_CONSTANT, fill)`` followed by
    its random crop, ``y`` and ``x`` uniform in ``[0, 2 pad]``.

    The fork pads CIFAR with ``fill_value``, 255 by default (white), which its
    ``train_model.py`` never sets. (GluonCV's ``RandomCrop(pad=...)`` pads with black.)

    Parameters
    ----------
    pad : int
    fill : 3 ints, RGB, 0-255.
    """

    def __init__(self, pad, fill):
        super(RandomPadCrop, self).__init__()
        self.pad, self.fill = pad, tuple(int(v) for v in fill)

    def crop(self, img, y, x):
        """The window at (`y`, `x`) of `img` padded."""
        h, w = img.shape[:2]
        p = self.pad
        padded = cv2.copyMakeBorder(np.ascontiguousarray(img), p, p, p, p, cv2.BORDER_CONSTANT,
                                    value=self.fill)
        return padded[y:y + h, x:x + w]

    def forward(self, x):
        y0 = np.random.randint(0, 2 * self.pad + 1)
        x0 = np.random.randint(0, 2 * self.pad + 1)
        return self.crop(as_array(x), y0, x0)


class RandomMirror(Block):
    """Mirror left to right with probability 1/2: the fork's ``rand_mirror``
    (``coin_flip``, after normalisation; mirroring commutes with it). Gluon's
    ``RandomFlipLeftRight`` does the same from MXNet's generator (see the module's
    docstring)."""

    def forward(self, x):
        img = as_array(x)
        return img[:, ::-1] if np.random.random_sample() < 0.5 else img


class ScaleAspectWarp(Block):
    """The fork's affine warp (rotation and shear 0): a random scale ``s`` and aspect ``r``,

        hs = 2 s / (1 + r),  ws = r hs,
        out(x', y') = img((x' - tx) / hs, (y' - ty) / ws),
        size = (clip(s cols), clip(s rows)),  clip(v) = max(min_img_size, min(max_img_size, v)),
        tx = (width - hs cols) / 2,  ty = (height - ws rows) / 2   (all float32),

    ``cv::warpAffine`` with a constant border of colour `fill` and ``inter_method`` 9: cubic
    when both sides grow, area when both shrink (which ``warpAffine`` runs as bilinear),
    bilinear otherwise. ``s`` is uniform in [min_scale, max_scale], ``r`` in
    [1 - max_aspect_ratio, 1 + max_aspect_ratio].

    MXNet 1.9.1's ``ImageRecordIter`` runs the same warp but fills the border with one grey
    ``fill_value``; the fork takes ``fill_value_r/g/b`` (the ImageNet mean colour).
    """

    def __init__(self, min_scale, max_scale, max_aspect_ratio=0.0, min_img_size=0.0,
                 max_img_size=1e10, fill=(255, 255, 255)):
        super(ScaleAspectWarp, self).__init__()
        self.min_scale, self.max_scale = np.float32(min_scale), np.float32(max_scale)
        self.max_aspect_ratio = np.float32(max_aspect_ratio)
        self.min_img_size, self.max_img_size = np.float32(min_img_size), np.float32(max_img_size)
        self.fill = tuple(int(v) for v in fill)

    def draw(self):
        """(scale, ratio), float32, in the fork's order and arithmetic."""
        scale = uniform32() * (self.max_scale - self.min_scale) + self.min_scale
        a = self.max_aspect_ratio
        ratio = uniform32() * a * np.float32(2) - a + np.float32(1)
        return scale, ratio

    def warp(self, img, scale, ratio):
        one, two = np.float32(1), np.float32(2)
        scale, ratio = np.float32(scale), np.float32(ratio)
        rows, cols = img.shape[:2]
        hs = two * scale / (one + ratio)
        ws = ratio * hs
        width = max(self.min_img_size, min(self.max_img_size, scale * np.float32(cols)))
        height = max(self.min_img_size, min(self.max_img_size, scale * np.float32(rows)))
        m = np.array([[hs, 0, (width - hs * np.float32(cols)) / two],
                      [0, ws, (height - ws * np.float32(rows)) / two]], np.float32)
        w, h = int(width), int(height)
        if w > cols and h > rows:
            interp = cv2.INTER_CUBIC
        elif w < cols and h < rows:
            interp = cv2.INTER_AREA   # warpAffine runs it as INTER_LINEAR
        else:
            interp = cv2.INTER_LINEAR
        return cv2.warpAffine(np.ascontiguousarray(img), m, (w, h), flags=interp,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=self.fill)

    def forward(self, x):
        return self.warp(as_array(x), *self.draw())


class HSLJitter(Block):
    """The fork's colour jitter: integer offsets ``h``, ``s``, ``l`` (``int(u * 2 m - m)``,
    truncated towards zero) added to OpenCV's 8-bit HLS channels, clipped to
    [0, 180], [0, 255], [0, 255], and back to RGB.

    Parameters
    ----------
    random_h, random_s, random_l : int, the largest offsets (the fork's ImageNet: 36, 50, 50).
    """

    def __init__(self, random_h, random_s, random_l):
        super(HSLJitter, self).__init__()
        self.maxima = tuple(np.float32(v) for v in (random_h, random_s, random_l))

    def draw(self):
        """(h, s, l), in the fork's order."""
        return tuple(int(uniform32() * m * np.float32(2) - m) for m in self.maxima)

    @staticmethod
    def jitter(img, h, s, l):
        hls = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2HLS).astype(np.int32)
        hls += np.array([h, l, s], np.int32)
        np.clip(hls, 0, np.array([180, 255, 255]), out=hls)
        return cv2.cvtColor(hls.astype(np.uint8), cv2.COLOR_HLS2RGB)

    def forward(self, x):
        return self.jitter(as_array(x), *self.draw())
