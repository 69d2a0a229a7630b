"""fusenet_gluon.data.loaders: both loaders against the authors' augmentation (the white pad,
the crop offsets and the mirror rate counted over many draws), normalisation and padding by
hand, identical validation tensors, the same partitions, a new augmentation every epoch with
worker processes, and every error path of the records they read."""
import cv2
import mxnet as mx
import numpy as np
import pytest

from conftest import run_cli, write_rec
from fusenet_gluon.data import DataError, get_loaders, get_preset, recordio
from fusenet_gluon.data import loaders as L


def normalize(img, preset):
    """By hand: uint8 RGB (H, W, 3) -> float32 (3, H, W), (x - mean) * (1 / std) per channel,
    as MXNet's ImageRecordIter computes it."""
    x = img.astype(np.float32) - np.asarray(preset.mean, np.float32)
    return (x * (np.float32(1) / np.asarray(preset.std, np.float32))).transpose(2, 0, 1)

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
            w = normalize(padded[dy:dy + 32, dx:dx + 32], preset)
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


@pytest.fixture
def cifar_dir(tmp_path):
    rng = np.random.RandomState(0)
    imgs = rng.randint(0, 256, (40, 32, 32, 3)).astype(np.uint8)
    labels = np.arange(40) % 10
    write_rec(tmp_path / 'train.rec', labels, imgs)
    write_rec(tmp_path / 'test.rec', labels[:23], imgs[:23])
    return tmp_path, imgs, labels


def solid(rgb, size=32):
    img = np.zeros((size, size, 3), np.uint8)
    img[...] = rgb
    return img


# ------------------------------------------------------------------ normalisation by hand
@pytest.mark.parametrize('backend', L.BACKENDS)
def test_validation_normalisation_by_hand(cifar_dir, backend):
    folder, imgs, labels = cifar_dir
    _, val = get_loaders('cifar10', str(folder), batch_size=8, backend=backend, workers=0)
    x = np.concatenate([d.asnumpy() for d, _ in val])
    y = np.concatenate([l.asnumpy() for _, l in val])
    assert x.shape == (23, 3, 32, 32) and x.dtype == np.float32
    assert np.array_equal(y, labels[:23])
    # by hand: pixel (5, 7) of image 4, channel 1 (green)
    expect = (imgs[4, 5, 7, 1] - 122.950) / 62.089
    assert abs(x[4, 1, 5, 7] - expect) < 1e-5


@pytest.mark.parametrize('backend', L.BACKENDS)
def test_training_pad_is_the_mean_colour_and_crops_are_windows(tmp_path, backend):
    # a solid image: every output pixel is either the image colour or the padding colour
    colour = (200, 100, 50)
    write_rec(tmp_path / 'train.rec', [3] * 16, [solid(colour)] * 16)
    write_rec(tmp_path / 'test.rec', [3], [solid(colour)])
    train, _ = get_loaders('cifar10', str(tmp_path), batch_size=16, backend=backend,
                           workers=0, seed=1, pad='mean')
    x = next(iter(train))[0].asnumpy()
    mean, std = np.array([125.307, 122.950, 113.865]), np.array([62.993, 62.089, 66.705])
    inside = (np.array(colour) - mean) / std
    pad = (np.array([125, 123, 114]) - mean) / std   # the rounded mean colour, as the original
    assert np.all(np.abs(pad) < 0.006)               # "zero after normalisation"
    for c in range(3):
        vals = x[:, c]
        is_pad = np.abs(vals - pad[c]) < 1e-4
        assert np.all(is_pad | (np.abs(vals - inside[c]) < 1e-4))
    # crops are 32x32 windows of the 40x40 padded image: padding forms bands of <= 4 pixels
    band = np.abs(x[:, 0] - pad[0]) < 1e-4
    rows_pad = band.all(axis=2).sum(axis=1)
    cols_pad = band.all(axis=1).sum(axis=1)
    assert rows_pad.max() <= 4 and cols_pad.max() <= 4 and (rows_pad + cols_pad).max() > 0


def test_svhn_has_no_augmentation(tmp_path):
    rng = np.random.RandomState(0)
    imgs = rng.randint(0, 256, (8, 32, 32, 3)).astype(np.uint8)
    write_rec(tmp_path / 'train.rec', np.arange(8), imgs)
    write_rec(tmp_path / 'test.rec', np.arange(8), imgs)
    train, _ = get_loaders('svhn', str(tmp_path), batch_size=8, backend='recordio', seed=0)
    x, y = next(iter(train))
    for i, label in enumerate(y.asnumpy().astype(int)):
        expect = normalize(imgs[label], get_preset('svhn'))
        np.testing.assert_allclose(x.asnumpy()[i], expect, atol=1e-5)


# ------------------------------------------------------------------ the two loaders agree
def test_validation_identical_between_loaders(cifar_dir):
    folder, _, _ = cifar_dir
    outs = []
    for backend in L.BACKENDS:
        _, val = get_loaders('cifar10', str(folder), batch_size=7, backend=backend, workers=2)
        for _ in range(2):  # twice: a second epoch must give the same again
            outs.append(np.concatenate([d.asnumpy() for d, _ in val]))
    for o in outs[1:]:
        np.testing.assert_allclose(o, outs[0], atol=1e-5)


def test_imagenet_validation_identical_between_loaders(tmp_path):
    # stored as the packer and the original store ImageNet (shorter side 480), where the
    # fork's validation warp leaves no border inside the centre crop (the C++ loader's
    # border colour differs from the fork's: tests/test_transforms.py,
    # test_mxnet_cpp_runs_the_forks_validation_warp_with_one_fill_value)
    rng = np.random.RandomState(1)
    imgs = [rng.randint(0, 256, shape + (3,)).astype(np.uint8)
            for shape in ((480, 560), (611, 480), (480, 480))]
    imgs = [cv2.GaussianBlur(im, (9, 9), 3) for im in imgs]   # photo-like, JPEG-friendly
    write_rec(tmp_path / 'train.rec', [0, 1, 2], imgs, fmt='.jpg')
    write_rec(tmp_path / 'val.rec', [0, 1, 2], imgs, fmt='.jpg')
    outs = []
    for backend in L.BACKENDS:
        _, val = get_loaders('imagenet', str(tmp_path), batch_size=2, backend=backend,
                             val_file='val.rec', workers=0)
        outs.append(np.concatenate([d.asnumpy() for d, _ in val]))
    assert outs[0].shape == (3, 3, 224, 224)
    np.testing.assert_allclose(outs[1], outs[0], atol=1e-4)
    train, _ = get_loaders('imagenet', str(tmp_path), batch_size=3, backend='gluon',
                           val_file='val.rec', workers=0)
    assert next(iter(train))[0].shape == (3, 3, 224, 224)
    train, _ = get_loaders('imagenet', str(tmp_path), batch_size=3, backend='recordio',
                           val_file='val.rec')
    assert next(iter(train))[0].shape == (3, 3, 224, 224)


@pytest.mark.parametrize('backend', L.BACKENDS)
def test_training_epochs_are_full_and_deterministic(cifar_dir, backend):
    folder, _, labels = cifar_dir
    train, _ = get_loaders('cifar10', str(folder), batch_size=16, backend=backend, seed=5,
                           workers=0)
    assert train.epoch_size == 2 and len(train) == 2 and train.num_examples == 40
    first = [(d.asnumpy(), l.asnumpy()) for d, l in train]
    second = [(d.asnumpy(), l.asnumpy()) for d, l in train]
    assert [d.shape[0] for d, _ in first] == [16, 16]
    assert not np.array_equal(first[0][1], second[0][1])   # a new order each epoch
    train.set_epoch(0)
    again = [(d.asnumpy(), l.asnumpy()) for d, l in train]
    for (a, b), (c, e) in zip(first, again):                 # ... that depends only on it
        assert np.array_equal(a, c) and np.array_equal(b, e)


@pytest.mark.parametrize('backend', L.BACKENDS)
@pytest.mark.parametrize('parts', [2, 3])
def test_partitions_cover_every_record_once(tmp_path, backend, parts):
    n = 37
    rng = np.random.RandomState(2)
    write_rec(tmp_path / 'train.rec', np.arange(n), rng.randint(0, 256, (n, 32, 32, 3)))
    preset = get_preset('svhn').replace(classes=n)
    offsets = recordio.scan(str(tmp_path / 'train.rec'))
    seen = []
    for k in range(parts):
        if backend == 'recordio':
            loader = L.RecordIterLoader(str(tmp_path / 'train.rec'), offsets, preset, 1, True,
                                        parts, k)
        else:
            loader = L.GluonLoader(str(tmp_path / 'train.rec'), offsets, preset, 1, True,
                                   parts, k, workers=0)
        got = [int(l.asscalar()) for _, l in loader]
        assert len(got) == loader.part_examples
        seen += got
    assert sorted(seen) == list(range(n))


def test_missing_file_names_path_and_command(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        get_loaders('cifar10', str(tmp_path))
    assert str(tmp_path / 'train.rec') in str(err.value)
    assert 'python -m fusenet_gluon.data.pack cifar10' in str(err.value)


def test_random_bytes_rec_is_reported_not_aborted(tmp_path):
    (tmp_path / 'train.rec').write_bytes(np.random.RandomState(0).bytes(4000))
    write_rec(tmp_path / 'test.rec', [1], [solid((1, 2, 3))])
    with pytest.raises(DataError) as err:
        get_loaders('cifar10', str(tmp_path))
    assert 'train.rec' in str(err.value) and 'record 0' in str(err.value)


def test_wrong_size_and_bad_label_name_the_record(tmp_path):
    write_rec(tmp_path / 'train.rec', [1, 2, 3], [solid((9, 9, 9)), solid((9, 9, 9), 28),
                                                  solid((9, 9, 9))])
    write_rec(tmp_path / 'test.rec', [1, 12], [solid((9, 9, 9)), solid((9, 9, 9))])
    with pytest.raises(DataError, match=r'record 1 is a 28x28 image'):
        get_loaders('cifar10', str(tmp_path))
    with pytest.raises(DataError, match=r'record 1 has label 12'):
        L.check_file(str(tmp_path / 'test.rec'), get_preset('cifar10'))


def test_training_script_reports_corrupt_data_cleanly(tmp_path):
    (tmp_path / 'train.rec').write_bytes(b'\x00' * 100)
    write_rec(tmp_path / 'test.rec', [1], [solid((1, 2, 3))])
    r = run_cli('train_cifar.py', '--data-dir', str(tmp_path), '--gpus', '',
                '--model-prefix', str(tmp_path / 'm'), '--num-epochs', '1')
    assert r.returncode == 2 and 'record 0' in r.stderr and 'Traceback' not in r.stderr


def test_other_image_formats_and_undecodable_payloads(tmp_path):
    write_rec(tmp_path / 'bmp.rec', [1, 2], [solid((10, 20, 30))] * 2, fmt='.bmp')
    assert len(L.check_file(str(tmp_path / 'bmp.rec'), get_preset('cifar10'))) == 2
    header = mx.recordio.IRHeader(0, 1.0, 0, 0)
    writer = mx.recordio.MXRecordIO(str(tmp_path / 'junk.rec'), 'w')
    writer.write(mx.recordio.pack(header, b'not an image at all'))
    writer.close()
    with pytest.raises(DataError, match='record 0 does not hold an image'):
        L.check_file(str(tmp_path / 'junk.rec'), get_preset('cifar10'))
