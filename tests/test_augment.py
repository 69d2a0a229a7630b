"""fusenet_gluon.data.augment: the CIFAR pad, crop and mirror on a ramp by hand, and the pad
colour (white, the default, or the mean colour) as the presets give it."""
import numpy as np
import pytest

from fusenet_gluon.data import augment, get_preset
from fusenet_gluon.data.augment import pad_crop_mirror


def test_mirror_and_crop_follow_the_window(tmp_path):
    """pad_crop_mirror on a ramp: each output equals a window of the padded input."""
    rng = np.random.RandomState(0)
    x = np.arange(2 * 3 * 6 * 6, dtype=np.float32).reshape(2, 3, 6, 6)
    out = pad_crop_mirror(x, 2, np.array([-1, -2, -3], np.float32), rng)
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    for c, v in enumerate([-1, -2, -3]):
        padded[:, c][padded[:, c] == 0] = v
    padded[:, :, 2:8, 2:8] = x
    for i in range(2):
        found = any(np.array_equal(out[i], w) or np.array_equal(out[i], w[:, :, ::-1])
                    for y0 in range(5) for x0 in range(5)
                    for w in [padded[i, :, y0:y0 + 6, x0:x0 + 6]])
        assert found


def test_mean_colour_pad_is_an_option_and_white_the_default():
    white, mean = get_preset('cifar10').augment, get_preset('cifar10', pad='mean').augment
    assert white.colour(get_preset('cifar10')) == (255, 255, 255)
    assert mean.colour(get_preset('cifar10')) == (125, 123, 114)
    np.testing.assert_allclose(augment.normalized(white.colour(get_preset('cifar10')),
                                                  get_preset('cifar10')),
                               [2.0588, 2.1268, 2.1158], atol=1e-4)
    assert get_preset('fashion-mnist').augment.fill == 'white'
    with pytest.raises(ValueError, match='svhn has no pad'):
        get_preset('svhn', pad='mean')
    with pytest.raises(ValueError, match='white, mean'):
        get_preset('cifar10', pad='grey')
