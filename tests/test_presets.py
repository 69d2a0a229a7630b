"""fusenet_gluon.data.presets: the data set presets against the design file and
docs/reference.md, and the digits' statistics recomputed from their training split."""
import re

import numpy as np
import pytest

from fusenet_gluon.data import get_preset, lr_steps, presets


def test_presets_are_the_design_files():
    c10, c100, svhn, inet = (get_preset(n) for n in ('cifar10', 'cifar100', 'svhn', 'imagenet'))
    assert c10.mean == (125.307, 122.950, 113.865) and c10.std == (62.993, 62.089, 66.705)
    assert c100.mean == (129.304, 124.070, 112.434) and c100.std == (68.170, 65.392, 70.418)
    assert svhn.mean == (111.609, 113.161, 120.565) and svhn.std == (50.498, 51.259, 50.244)
    assert svhn.num_examples == 604388 and svhn.augment.name == 'none' and svhn.num_epochs == 40
    assert inet.mean == (123.370, 112.757, 99.406) and inet.std == (68.998, 66.093, 68.292)
    fb = get_preset('imagenet', fb_mean=True)
    assert fb.mean == (123.675, 116.280, 103.530) and fb.std == (58.395, 57.120, 57.375)
    assert (c10.classes, c100.classes, svhn.classes, inet.classes) == (10, 100, 10, 1000)
    assert (c10.num_epochs, inet.num_epochs) == (400, 120)
    assert lr_steps(c10, 400) == [200, 300, 350]
    assert lr_steps(inet, 120) == [30, 60, 90]
    with pytest.raises(ValueError, match='cifar10'):
        get_preset('mnist')


def test_digits_statistics_are_the_training_splits():
    from fusenet_gluon.data.digits import load_images
    xtr, ytr, xte, yte = load_images()
    assert (len(ytr), len(yte)) == (1437, 360) and xtr.shape[1:] == (32, 32, 3)
    assert np.allclose(xtr.reshape(-1, 3).mean(0), presets.DIGITS_MEAN, atol=1e-3)
    assert np.allclose(xtr.reshape(-1, 3).std(0), presets.DIGITS_STD, atol=1e-3)
    assert sorted(set(ytr.tolist())) == list(range(10))


def test_presets_are_the_reference_docs():
    """docs/reference.md section 3.1: classes, training images, mean and std per data set."""
    from conftest import REFERENCE
    text = open(REFERENCE).read()
    text = text[text.index('### 3.1'):text.index('## 4.')]
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip('|').split('|')]
        if len(cells) == 5 and cells[1].isdigit():
            numbers = lambda cell: [float(v) for v in re.findall(r'[\d.]+', cell)]  # noqa
            name = 'fb_mean' if 'fb-mean' in cells[0] else cells[0].split()[0]
            rows[name] = (int(cells[1]), int(cells[2].replace(',', '')),
                                         numbers(cells[3]), numbers(cells[4]))
    assert set(rows) == set(presets.DATASETS) | {'fb_mean'}
    for name, (classes, examples, mean, std) in rows.items():
        p = get_preset('imagenet', fb_mean=True) if name == 'fb_mean' else get_preset(name)
        assert (p.classes, p.num_examples) == (classes, examples), name
        assert np.allclose(p.mean, mean * (3 // len(mean))), name
        assert np.allclose(p.std, std * (3 // len(std))), name
