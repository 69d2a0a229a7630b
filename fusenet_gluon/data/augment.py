"""Augmentations, one class per kind, each giving both loaders' recipe.

An augmentation gives

* :meth:`~Augmentation.record_iter_args`: the ``mx.io.ImageRecordIter`` arguments of the C++
  loader (the fork's own names where MXNet 1.9.1 has them), or raises when MXNet 1.9.1's
  C++ has no such augmentation;
* :meth:`~Augmentation.batch_transform`: a NumPy step on the C++ loader's normalised
  batches, for what its C++ cannot do (only the mean-colour pad);
* :meth:`~Augmentation.gluon_transform`: the Gluon loader's ``Compose`` of transform Blocks
  (GluonCV's and Gluon's where they are exact, :mod:`.transforms` otherwise), applied with
  ``transform_first`` as GluonCV's classification scripts do;
* :attr:`~Augmentation.exact`: the loaders whose tensors follow the authors' code exactly.

The kinds: :class:`NoAugment` (SVHN), :class:`PadCropMirror` (CIFAR), :class:`ImageNetWarp`
(the original's ImageNet) and :class:`RandomResizedCrop` (the DLA authors' ImageNet).
"""
import mxnet as mx
import numpy as np
from mxnet.gluon import Block
from mxnet.gluon.data.vision import transforms as gluon_transforms

from .gcv import gluoncv, transform_eval
from .transforms import HSLJitter, Normalize, RandomMirror, RandomPadCrop, ScaleAspectWarp

__all__ = ['Augmentation', 'NoAugment', 'PadCropMirror', 'ImageNetWarp', 'RandomResizedCrop',
           'PAD_COLOURS', 'pad_crop_mirror', 'normalized']

#: The CIFAR pad colours: what the authors' MXNet ran (white) and what their code intended.
PAD_COLOURS = ('white', 'mean')
WHITE = (255, 255, 255)


def mean_colour(preset):
    """The mean colour rounded to integers, as the original's ``fill_value_r/g/b``."""
    return tuple(int(round(m)) for m in preset.mean)


def normalized(colour, preset):
    """A raw RGB colour after normalisation, as both loaders compute it."""
    return Normalize(preset.mean, preset.std).apply(colour)


def pad_crop_mirror(x, pad, fill, rng, mirror=True):
    """Pad (N, C, H, W) by `pad` with the per-channel `fill`, crop back to (H, W) at a random
    place and mirror half of the images, each image independently (NumPy, after
    normalisation: the C++ loader's mean-colour pad)."""
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


class Augmentation(object):
    """One kind of augmentation (see the module's docstring)."""
    name = 'none'
    #: MXNet 1.9.1's C++ loader can run it
    record_iter = True
    #: the loaders whose tensors follow the authors' code exactly
    exact = ('recordio', 'gluon')
    #: images are resized by the augmentation (any size at least this), else exactly the
    #: input size
    min_image_size = None

    def record_iter_args(self, preset, train):
        """``mx.io.ImageRecordIter`` arguments beyond the shape, batch and normalisation."""
        return {}

    def batch_transform(self, preset, train):
        """None, or ``f(batch, rng)`` on a normalised (N, 3, H, W) NumPy batch."""
        return None

    def steps(self, preset, train):
        """The Gluon loader's transform Blocks before normalisation."""
        return []

    def gluon_transform(self, preset, train):
        """The Gluon loader's transform: a ``Compose`` of Blocks, (H, W, 3) uint8 RGB to
        (3, H, W) float32."""
        return gluon_transforms.Compose(self.steps(preset, train)
                                        + [Normalize(preset.mean, preset.std)])

    def __repr__(self):
        return '%s()' % type(self).__name__


class NoAugment(Augmentation):
    """No augmentation (SVHN): normalisation only, in training as in validation."""


class PadCropMirror(Augmentation):
    """CIFAR: pad `pad` pixels, random crop back to the input size, random mirror.

    The pad is white by default, (255 - mean) / std after normalisation: the authors'
    MXNet fork pads with ``fill_value``, 255 unless set, and their ``train_model.py`` never
    sets it (the ``fill_value_r/g/b`` it sets colour only the affine warp's border, which
    CIFAR training never runs). ``fill='mean'`` pads with the rounded mean colour, what
    the code intended and did not run. The C++ loader pads white in C++ (``pad``,
    ``fill_value``); MXNet 1.9.1 has one ``fill_value`` for all channels, so it pads with the
    mean colour in NumPy after normalisation.

    Parameters
    ----------
    pad : int
    mirror : bool (the digits: False, digits are not mirror symmetric)
    fill : ``'white'`` or ``'mean'``
    """

    def __init__(self, pad=4, mirror=True, fill='white'):
        if fill not in PAD_COLOURS:
            raise ValueError('unknown pad colour %r; choose from %s' % (fill,
                                                                        ', '.join(PAD_COLOURS)))
        self.pad, self.mirror, self.fill = pad, mirror, fill
        self.name = 'pad_crop_mirror' if mirror else 'pad_crop'

    def colour(self, preset):
        """The pad colour in raw RGB pixels."""
        return WHITE if self.fill == 'white' else mean_colour(preset)

    def record_iter_args(self, preset, train):
        if not train or self.fill != 'white':
            return {}
        return dict(pad=self.pad, fill_value=WHITE[0], rand_crop=True, rand_mirror=self.mirror)

    def batch_transform(self, preset, train):
        if not train or self.fill == 'white':
            return None
        fill = normalized(self.colour(preset), preset)
        return lambda x, rng: pad_crop_mirror(x, self.pad, fill, rng, self.mirror)

    def steps(self, preset, train):
        if not train:
            return []
        steps = [RandomPadCrop(self.pad, self.colour(preset))]
        return steps + [RandomMirror()] if self.mirror else steps

    def __repr__(self):
        return 'PadCropMirror(pad=%d, mirror=%s, fill=%r)' % (self.pad, self.mirror, self.fill)


class ImageNetWarp(Augmentation):
    """The original's ImageNet (its ``train_imagenet.py`` on its MXNet fork).

    Training: :class:`~.transforms.ScaleAspectWarp` with scale in [0.533, 1] (480-pixel
    images to a shorter side in [256, 480]), aspect in [0.75, 1.25], ``min_img_size`` 256,
    ``inter_method`` 9 and the border in the mean colour (``fill_value_r/g/b``); a random
    crop of the input size; :class:`~.transforms.HSLJitter` (36, 50, 50); a random mirror.
    Validation: the same warp at scale 0.533 exactly, no aspect, then the centre crop.

    The Gluon loader is exact. MXNet 1.9.1's C++ runs the same warp, crop and jitter but
    has one ``fill_value``: its warp border is (123, 123, 123) where the fork's is the mean
    colour (123, 113, 99); the border shows in training crops when the aspect jitter
    narrows the image, and in validation only for images stored smaller than 480 pixels.
    """
    name = 'imagenet'
    exact = ('gluon',)
    min_image_size = 1
    train_args = dict(min_random_scale=0.533, max_random_scale=1.0, max_aspect_ratio=0.25,
                      min_img_size=256, random_h=36, random_s=50, random_l=50)
    val_args = dict(min_random_scale=0.533, max_random_scale=0.533, min_img_size=256)

    def record_iter_args(self, preset, train):
        args = dict(self.train_args if train else self.val_args, inter_method=9,
                    fill_value=mean_colour(preset)[0], rand_crop=train, rand_mirror=train)
        return args

    def steps(self, preset, train):
        a = self.train_args if train else self.val_args
        warp = ScaleAspectWarp(a['min_random_scale'], a['max_random_scale'],
                               a.get('max_aspect_ratio', 0.0), a['min_img_size'],
                               fill=mean_colour(preset))
        if not train:
            return [warp, gluon_transforms.CenterCrop(preset.input_size)]
        return [warp, gluoncv.data.transforms.block.RandomCrop(preset.input_size),
                HSLJitter(a['random_h'], a['random_s'], a['random_l']), RandomMirror()]


class _GluonCVEval(Block):
    """GluonCV's ``presets.imagenet.transform_eval`` as a transform Block."""

    def __init__(self, resize, size, mean, std):
        super(_GluonCVEval, self).__init__()
        self._args = (resize, size, mean, std)

    def forward(self, x):
        return transform_eval(x, *self._args)[0]


class _AsNDArray(Block):
    """NumPy to NDArray, for Gluon's ``ToTensor``."""

    def forward(self, x):
        return mx.nd.array(np.ascontiguousarray(x), dtype=x.dtype)


class RandomResizedCrop(Augmentation):
    """The DLA authors' ImageNet (their ``classify.py``, torchvision): training a random
    resized crop (area 0.08..1, aspect 3/4..4/3) and a mirror; validation the shorter side to
    256 and the centre crop (GluonCV's ``transform_eval``); normalised as torchvision's
    ``ToTensor`` + ``Normalize`` (Gluon's). The Gluon loader only: MXNet 1.9.1's C++ loader
    has no random resized crop of this kind.
    """
    name = 'random_resized_crop'
    record_iter = False
    exact = ()
    min_image_size = 1
    resize = 256

    def record_iter_args(self, preset, train):
        raise ValueError("the random-resized crop runs in the gluon loader only (backend "
                         "'gluon')")

    def gluon_transform(self, preset, train):
        mean = tuple(m / 255.0 for m in preset.mean)
        std = tuple(s / 255.0 for s in preset.std)
        if not train:
            return _GluonCVEval(self.resize, preset.input_size, mean, std)
        t = gluon_transforms
        return t.Compose([t.RandomResizedCrop(preset.input_size, interpolation=1),
                          RandomMirror(), _AsNDArray(), t.ToTensor(), t.Normalize(mean, std)])
