"""Every dataset fact of the original recipe, in one place.

Statistics are RGB, on the 0-255 scale; inputs are normalised as ``(x - mean) / std``.
Source: docs/reference.md, section 3.1 (the original ``options.py`` and train_imagenet.py).
"""
import collections

Preset = collections.namedtuple('Preset', [
    'name', 'classes', 'num_examples', 'mean', 'std', 'augment', 'num_epochs',
    'input_size', 'test_examples', 'lr_step_epochs'])
Preset.__doc__ = """A dataset as the original trained on it.

augment: ``'pad_crop_mirror'`` (CIFAR: pad 4 with the mean colour, random 32x32 crop,
random mirror), ``'none'`` (SVHN), ``'imagenet'`` (scale, aspect, crop, mirror, HSL
jitter), ``'pad_crop'`` (the digits: no mirror, digits are not mirror symmetric),
``'random_resized_crop'`` (the DLA authors' ImageNet recipe: random-resized crop 224 and
flip; validation shorter side 256, centre crop 224; Gluon's own transforms).
lr_step_epochs: None for the CIFAR rule (1/2, 3/4, 7/8 of the epochs), else a period."""

CIFAR_PAD = 4

#: ImageNet training augmentation of the original train_imagenet.py; images stored with
#: the shorter side at 480, so scales 0.533..1 put it in [256, 480].
IMAGENET_STORED_SHORT_SIDE = 480
IMAGENET_AUGMENT = dict(min_random_scale=0.533, max_random_scale=1.0, min_img_size=256,
                        max_aspect_ratio=0.25, random_h=36, random_s=50, random_l=50)
IMAGENET_VAL_RESIZE = 256

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

DATASETS = {
    'cifar10': Preset('cifar10', 10, 50000, (125.307, 122.950, 113.865),
                      (62.993, 62.089, 66.705), 'pad_crop_mirror', 400, 32, 10000, None),
    'cifar100': Preset('cifar100', 100, 50000, (129.304, 124.070, 112.434),
                       (68.170, 65.392, 70.418), 'pad_crop_mirror', 400, 32, 10000, None),
    'svhn': Preset('svhn', 10, 604388, (111.609, 113.161, 120.565),
                   (50.498, 51.259, 50.244), 'none', 40, 32, 26032, None),
    'imagenet': Preset('imagenet', 1000, 1281167, (123.370, 112.757, 99.406),
                       (68.998, 66.093, 68.292), 'imagenet', 120, 224, 50000, 30),
    'digits': Preset('digits', 10, 1437, DIGITS_MEAN, DIGITS_STD, 'pad_crop', 30, 32, 360,
                     None),
    # clothes look alike mirrored: the CIFAR augmentation; 40 epochs as SVHN (no original
    # recipe exists for it)
    'fashion-mnist': Preset('fashion-mnist', 10, 60000, FASHION_MNIST_MEAN, FASHION_MNIST_STD,
                            'pad_crop_mirror', 40, 32, 10000, None),
}


def dla_preset(preset):
    """The DLA authors' version of the ImageNet preset (their classify.py): the alternative
    statistics and the random-resized crop; other data sets are left as they are."""
    if preset.name != 'imagenet':
        return preset
    return preset._replace(mean=IMAGENET_FB_MEAN, std=IMAGENET_FB_STD,
                           augment='random_resized_crop')


def get_preset(name, fb_mean=False):
    """The preset called `name`; ``fb_mean`` switches ImageNet to the alternative statistics."""
    if name not in DATASETS:
        raise ValueError('unknown dataset %r; choose from %s' % (name, ', '.join(DATASETS)))
    preset = DATASETS[name]
    if fb_mean:
        if name != 'imagenet':
            raise ValueError('--fb-mean applies to imagenet only')
        preset = preset._replace(mean=IMAGENET_FB_MEAN, std=IMAGENET_FB_STD)
    return preset


def fill_value(preset):
    """The padding colour of the original: the mean, rounded to integers."""
    return tuple(int(round(m)) for m in preset.mean)


def lr_steps(preset, num_epochs):
    """Epochs after which the learning rate is multiplied by the factor.

    CIFAR/SVHN: after 1/2, 3/4 and 7/8 of the epochs (integer division, as Python 2 did);
    ImageNet: every `lr_step_epochs` epochs.
    """
    if preset.lr_step_epochs:
        return list(range(preset.lr_step_epochs, num_epochs, preset.lr_step_epochs))
    return [num_epochs * 1 // 2, num_epochs * 3 // 4, num_epochs * 7 // 8]
