"""Every dataset fact of the original recipe, in one place.

Statistics are RGB, on the 0-255 scale; inputs are normalised as ``(x - mean) / std``.
Source: docs/reference.md, section 3.1 (the original ``options.py`` and train_imagenet.py).
"""
import dataclasses
from typing import Optional, Tuple

from .augment import (Augmentation, ImageNetWarp, NoAugment, PAD_COLOURS, PadCropMirror,
                      RandomResizedCrop)


@dataclasses.dataclass(frozen=True)
class Preset(object):
    """A data set as the original trained on it; build it by keyword.

    augment: an :class:`~fusenet_gluon.data.augment.Augmentation` (CIFAR: pad 4 in white,
    random crop, mirror; SVHN: none; ImageNet: the fork's warp, crop, HSL jitter, mirror;
    the digits: pad and crop without mirror, digits are not mirror symmetric).
    lr_step_epochs: None for the CIFAR rule (1/2, 3/4, 7/8 of the epochs), else a period."""
    name: str
    classes: int
    num_examples: int
    mean: Tuple[float, float, float]
    std: Tuple[float, float, float]
    augment: Augmentation
    num_epochs: int
    input_size: int
    test_examples: int
    lr_step_epochs: Optional[int] = None

    def replace(self, **changes):
        """A copy with `changes`."""
        return dataclasses.replace(self, **changes)


CIFAR_PAD = 4

#: The original stored ImageNet's images with the shorter side at 480 pixels (its warp's
#: scales 0.533..1 then put the shorter side in [256, 480]); the packer does the same.
IMAGENET_STORED_SHORT_SIDE = 480

#: The alternative ImageNet statistics (``--fb-mean`` of the original).
IMAGENET_FB_MEAN = (123.675, 116.280, 103.530)
IMAGENET_FB_STD = (58.395, 57.120, 57.375)

#: The embedded default data set: scikit-learn's handwritten digits, upscaled to 32x32 RGB.
#: Its statistics were computed on the fixed training split (tests recompute them).
DIGITS_MEAN = (77.865, 77.865, 77.865)
DIGITS_STD = (82.534, 82.534, 82.534)

#: Fashion-MNIST (Debian's dataset-fashion-mnist): 28x28 grey padded to 32x32 RGB, mean
#: and std of its 60,000 padded training images (docs/reference.md, section 3.1).
FASHION_MNIST_MEAN = (55.845, 55.845, 55.845)
FASHION_MNIST_STD = (84.612, 84.612, 84.612)

_CIFAR = PadCropMirror(CIFAR_PAD)

DATASETS = {p.name: p for p in (
    Preset(name='cifar10', classes=10, num_examples=50000, mean=(125.307, 122.950, 113.865),
           std=(62.993, 62.089, 66.705), augment=_CIFAR, num_epochs=400, input_size=32,
           test_examples=10000),
    Preset(name='cifar100', classes=100, num_examples=50000, mean=(129.304, 124.070, 112.434),
           std=(68.170, 65.392, 70.418), augment=_CIFAR, num_epochs=400, input_size=32,
           test_examples=10000),
    Preset(name='svhn', classes=10, num_examples=604388, mean=(111.609, 113.161, 120.565),
           std=(50.498, 51.259, 50.244), augment=NoAugment(), num_epochs=40, input_size=32,
           test_examples=26032),
    Preset(name='imagenet', classes=1000, num_examples=1281167, mean=(123.370, 112.757, 99.406),
           std=(68.998, 66.093, 68.292), augment=ImageNetWarp(), num_epochs=120,
           input_size=224, test_examples=50000, lr_step_epochs=30),
    Preset(name='digits', classes=10, num_examples=1437, mean=DIGITS_MEAN, std=DIGITS_STD,
           augment=PadCropMirror(CIFAR_PAD, mirror=False), num_epochs=30, input_size=32,
           test_examples=360),
    # clothes look alike mirrored: the CIFAR augmentation; 40 epochs as SVHN (no original
    # recipe exists for it)
    Preset(name='fashion-mnist', classes=10, num_examples=60000, mean=FASHION_MNIST_MEAN,
           std=FASHION_MNIST_STD, augment=_CIFAR, num_epochs=40, input_size=32,
           test_examples=10000),
)}


def dla_preset(preset):
    """The DLA authors' version of the ImageNet preset (their classify.py): the alternative
    statistics and the random-resized crop; other data sets are left as they are."""
    if preset.name != 'imagenet':
        return preset
    return preset.replace(mean=IMAGENET_FB_MEAN, std=IMAGENET_FB_STD,
                          augment=RandomResizedCrop())


def family_preset(preset, family):
    """`preset` as the model `family` (:mod:`fusenet_gluon.families`) trains on it: its
    entry's ``data_recipe`` (``'dla'``: :func:`dla_preset`; ``'original'``: unchanged)."""
    return dla_preset(preset) if family.data_recipe == 'dla' else preset


def get_preset(name, fb_mean=False, pad='white'):
    """The preset called `name`; ``fb_mean`` switches ImageNet to the alternative statistics;
    `pad` is the colour of the CIFAR pad (``'white'``, what the authors' MXNet ran, or
    ``'mean'``, what their code intended)."""
    if name not in DATASETS:
        raise ValueError('unknown dataset %r; choose from %s' % (name, ', '.join(DATASETS)))
    preset = DATASETS[name]
    if fb_mean:
        if name != 'imagenet':
            raise ValueError('--fb-mean applies to imagenet only')
        preset = preset.replace(mean=IMAGENET_FB_MEAN, std=IMAGENET_FB_STD)
    if pad != 'white':
        if pad not in PAD_COLOURS:
            raise ValueError('unknown pad colour %r; choose from %s'
                             % (pad, ', '.join(PAD_COLOURS)))
        if not isinstance(preset.augment, PadCropMirror):
            raise ValueError('%s has no pad (the pad colour applies to %s)' % (
                name, ', '.join(n for n, p in DATASETS.items()
                                if isinstance(p.augment, PadCropMirror))))
        a = preset.augment
        preset = preset.replace(augment=PadCropMirror(a.pad, a.mirror, pad))
    return preset


def lr_steps(preset, num_epochs):
    """Epochs after which the learning rate is multiplied by the factor.

    CIFAR/SVHN: after 1/2, 3/4 and 7/8 of the epochs (integer division, as Python 2 did);
    ImageNet: every `lr_step_epochs` epochs.
    """
    if preset.lr_step_epochs:
        return list(range(preset.lr_step_epochs, num_epochs, preset.lr_step_epochs))
    return [num_epochs * 1 // 2, num_epochs * 3 // 4, num_epochs * 7 // 8]
