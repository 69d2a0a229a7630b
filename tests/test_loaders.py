"""Both loaders against the authors' augmentation: the white pad, the crop offsets and the
mirror rate counted over many draws, identical validation tensors, the same partitions,
and a new augmentation every epoch with worker processes."""
import numpy as np
import pytest

from fusenet_gluon.data import get_loaders, get_preset, recordio
from fusenet_gluon.data import loaders as L

CIFAR10_MEAN = np.array([125.307, 122.950, 113.865])
CIFAR10_STD = np.array([62.993, 62.089, 66.705])


def write(path, images, labels=None):
    labels = np.arange(len(images)) % 10 if labels is None else labels
    recordio.write_records(str(path), zip(labels, images))


@pytest.mark.parametrize('backend', L.BACKENDS)
def test_constant_colour_records_give_that_colour_or_the_white_pad(tmp_path, backend):
    """The issue's check: every training pixel is the records' colour or white
    ((255 - mean) / std, about +2.06, +2.13, +2.12), and pad pixels appear."""
    colour = (30, 160, 90)
    img = np.empty((32, 32, 3), np.uint8)
    img[:] = colour
    write(tmp_path / 'train.rec', [img] * 128)
    write(tmp_path / 'test.rec', [img] * 8)
    train, _ = get_loaders('cifar10', str(tmp_path), 64, backend)
    x = np.concatenate([d.asnumpy() for d, _ in train])
    assert x.shape == (128, 3, 32, 32)
    inside = (np.array(colour) - CIFAR10_MEAN) / CIFAR10_STD
    white = (255 - CIFAR10_MEAN) / CIFAR10_STD
    np.testing.assert_allclose(white, [2.06, 2.13, 2.12], atol=0.01)
    is_pad = np.abs(x - white[None, :, None, None]) < 1e-4
    is_img = np.abs(x - inside[None, :, None, None]) < 1e-4
    assert (is_pad | is_img).all()
    assert is_pad.any() and (is_pad.mean() < 0.3)


def _offsets_and_mirrors(x, img):
    """(dy, dx, mirrored) of each training image: the window of the white-padded `img`."""
    padded = np.full((40, 40, 3), 255, np.uint8)
    padded[4:36, 4:36] = img
    preset = get_preset('cifar10')
    windows = {}
    for dy in range(9):
        for dx in range(9):
            w = L.normalize(padded[dy:dy + 32, dx:dx + 32], preset)
            windows[(dy, dx, False)] = w
            windows[(dy, dx, True)] = w[:, :, ::-1]
    found = []
    for sample in x:
        hits = [k for k, w in windows.items() if np.abs(sample - w).max() < 1e-5]
        assert len(hits) == 1
        found.append(hits[0])
    return found


@pytest.mark.parametrize('backend', L.BACKENDS)
def test_crop_offsets_and_mirror_rate_are_the_forks(tmp_path, backend):
    """Counted over 1,024 draws: offsets uniform over the 81 windows of the 40x40 padded
    image (the fork: y, x uniform in [0, 8]), half of the images mirrored."""
    img = np.random.RandomState(0).randint(0, 256, (32, 32, 3)).astype(np.uint8)
    write(tmp_path / 'train.rec', [img] * 256, [0] * 256)
    write(tmp_path / 'test.rec', [img], [0])
    train, _ = get_loaders('cifar10', str(tmp_path), 64, backend, seed=3)
    found = []
    for _ in range(4):
        found += _offsets_and_mirrors(np.concatenate([d.asnumpy() for d, _ in train]), img)
    dy = np.bincount([f[0] for f in found], minlength=9)
    dx = np.bincount([f[1] for f in found], minlength=9)
    mirrored = np.mean([f[2] for f in found])
    assert len(found) == 1024
    assert dy.min() > 1024 / 9 * 0.65 and dy.max() < 1024 / 9 * 1.35, dy
    assert dx.min() > 1024 / 9 * 0.65 and dx.max() < 1024 / 9 * 1.35, dx
    assert 0.45 < mirrored < 0.55


def test_validation_tensors_are_the_same_bits(tmp_path):
    rng = np.random.RandomState(1)
    imgs = rng.randint(0, 256, (21, 32, 32, 3)).astype(np.uint8)
    write(tmp_path / 'train.rec', imgs)
    write(tmp_path / 'test.rec', imgs)
    outs = []
    for backend in L.BACKENDS:
        _, val = get_loaders('cifar10', str(tmp_path), 8, backend, workers=1)
        outs.append(np.concatenate([d.asnumpy() for d, _ in val]))
    assert outs[0].shape == (21, 3, 32, 32) and np.array_equal(outs[0], outs[1])


@pytest.mark.parametrize('parts', [2, 3])
def test_both_loaders_give_a_worker_the_same_records(tmp_path, parts):
    """The Gluon loader splits the records as ImageRecordIter's byte ranges do."""
    n = 41
    rng = np.random.RandomState(2)
    # images of different sizes in bytes: a split by count would differ from one by bytes
    imgs = [rng.randint(0, 256 if i % 3 else 2, (32, 32, 3)).astype(np.uint8)
            for i in range(n)]
    write(tmp_path / 'train.rec', imgs, np.arange(n))
    path = str(tmp_path / 'train.rec')
    offsets = recordio.scan(path)
    preset = get_preset('svhn').replace(classes=n)
    for k in range(parts):
        cpp = L.RecordIterLoader(path, offsets, preset, 1, True, parts, k)
        gluon = L.GluonLoader(path, offsets, preset, 1, True, parts, k, workers=0)
        got = [sorted(int(l.asscalar()) for _, l in loader) for loader in (cpp, gluon)]
        assert got[0] == got[1] and len(got[0]) == cpp.part_examples == gluon.part_examples


def test_worker_processes_augment_anew_every_epoch(tmp_path):
    """Workers keep the dataset they were started with: the epoch must reach them."""
    img = np.random.RandomState(0).randint(0, 256, (32, 32, 3)).astype(np.uint8)
    write(tmp_path / 'train.rec', [img] * 16, [0] * 16)
    write(tmp_path / 'test.rec', [img], [0])
    train, _ = get_loaders('cifar10', str(tmp_path), 16, 'gluon', workers=2, seed=1)
    epochs = [sorted(x.tobytes() for x in next(iter(train))[0].asnumpy()) for _ in range(2)]
    assert epochs[0] != epochs[1]
    train.set_epoch(0)
    assert sorted(x.tobytes() for x in next(iter(train))[0].asnumpy()) == epochs[0]


def test_imagenet_gluon_loader_is_the_forks_border_colour(tmp_path):
    """An image stored smaller than 480 shows the validation warp's border: the fork's mean
    colour (123, 113, 99) in the Gluon loader, grey 123 in MXNet 1.9.1's C++."""
    img = np.zeros((260, 300, 3), np.uint8)
    for name in ('train', 'val'):
        write(tmp_path / (name + '.rec'), [img], [0])
    preset = get_preset('imagenet')
    corner = {}
    for backend in L.BACKENDS:
        _, val = get_loaders('imagenet', str(tmp_path), 1, backend, val_file='val.rec',
                             workers=0)
        corner[backend] = next(iter(val))[0].asnumpy()[0, :, 0, 0]
    fork = (np.array([123, 113, 99]) - np.array(preset.mean)) / np.array(preset.std)
    grey = (123 - np.array(preset.mean)) / np.array(preset.std)
    np.testing.assert_allclose(corner['gluon'], fork, atol=1e-5)
    np.testing.assert_allclose(corner['recordio'], grey, atol=1e-5)


def test_training_says_which_loader_is_exact_and_takes_the_pad_colour(tmp_path):
    from fusenet_gluon import training

    def resolve(argv, imagenet=False):
        args = training.build_parser(imagenet).parse_args(argv + ['--gpus', ''])
        return training.resolve(args, imagenet)
    assert any('--loader gluon' in n for n in resolve([], True).notes)
    assert not any('not exact' in n for n in resolve(['--loader', 'gluon'], True).notes)
    cfg = resolve(['--data-dir', str(tmp_path), '--pad-colour', 'mean'])
    assert cfg.preset.augment.fill == 'mean'
    assert resolve(['--data-dir', str(tmp_path)]).preset.augment.fill == 'white'
    with pytest.raises(ValueError, match='svhn has no pad'):
        resolve(['--data-dir', str(tmp_path), '--dataset', 'svhn', '--pad-colour', 'mean'])
