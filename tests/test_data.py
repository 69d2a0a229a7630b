"""Data: presets against the design file, normalisation and padding by hand, the two
loaders against each other, partitioning, the packers, and every error path."""
import os
import pickle
import re
import subprocess
import sys

import cv2
import mxnet as mx
import numpy as np
import pytest

from conftest import ROOT
from fusenet_gluon.data import DataError, get_loaders, get_preset, lr_steps, presets
from fusenet_gluon.data import loaders as L
from fusenet_gluon.data import pack, recordio
from fusenet_gluon.data.augment import pad_crop_mirror


# ------------------------------------------------------------------ presets
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


# ------------------------------------------------------------------ helpers
def write_rec(path, labels, images, fmt='.png'):
    return recordio.write_records(str(path), zip(labels, images), img_fmt=fmt)


def solid(rgb, size=32):
    img = np.zeros((size, size, 3), np.uint8)
    img[...] = rgb
    return img


@pytest.fixture
def cifar_dir(tmp_path):
    rng = np.random.RandomState(0)
    imgs = rng.randint(0, 256, (40, 32, 32, 3)).astype(np.uint8)
    labels = np.arange(40) % 10
    write_rec(tmp_path / 'train.rec', labels, imgs)
    write_rec(tmp_path / 'test.rec', labels[:23], imgs[:23])
    return tmp_path, imgs, labels


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


def test_svhn_has_no_augmentation(tmp_path):
    rng = np.random.RandomState(0)
    imgs = rng.randint(0, 256, (8, 32, 32, 3)).astype(np.uint8)
    write_rec(tmp_path / 'train.rec', np.arange(8), imgs)
    write_rec(tmp_path / 'test.rec', np.arange(8), imgs)
    train, _ = get_loaders('svhn', str(tmp_path), batch_size=8, backend='recordio', seed=0)
    x, y = next(iter(train))
    for i, label in enumerate(y.asnumpy().astype(int)):
        expect = L.normalize(imgs[label], get_preset('svhn'))
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
    # border colour differs from the fork's: tests/test_augment.py)
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


# ------------------------------------------------------------------ packers
def test_pack_cifar10_round_trip(tmp_path):
    rng = np.random.RandomState(0)
    src = tmp_path / 'cifar-10-batches-py'
    src.mkdir()
    batches = []
    for i in range(1, 6):
        data = rng.randint(0, 256, (4, 3072)).astype(np.uint8)
        labels = rng.randint(0, 10, 4).tolist()
        batches.append((data, labels))
        with open(src / ('data_batch_%d' % i), 'wb') as f:
            pickle.dump({b'data': data, b'labels': labels}, f)
    with open(src / 'test_batch', 'wb') as f:
        pickle.dump({b'data': batches[0][0][:3], b'labels': batches[0][1][:3]}, f)
    out = tmp_path / 'out'
    pack.main(['cifar10', str(src), str(out)])
    rec = mx.recordio.MXIndexedRecordIO(str(out / 'train.idx'), str(out / 'train.rec'), 'r')
    header, img = mx.recordio.unpack_img(rec.read_idx(5))   # batch 2, image 1; BGR
    data, labels = batches[1]
    assert header.label == labels[1]
    assert np.array_equal(img[:, :, ::-1], data[1].reshape(3, 32, 32).transpose(1, 2, 0))
    assert len(recordio.scan(str(out / 'test.rec'))) == 3
    with pytest.raises(FileExistsError):                     # never overwrites
        pack.main(['cifar10', str(src), str(out)])
    pack.main(['cifar10', str(src), str(out), '--force'])


def test_pack_cifar100_coarse_and_fine(tmp_path):
    rng = np.random.RandomState(0)
    for name, n in (('train', 6), ('test', 2)):
        with open(tmp_path / name, 'wb') as f:
            pickle.dump({b'data': rng.randint(0, 256, (n, 3072)).astype(np.uint8),
                         b'fine_labels': [99] * n, b'coarse_labels': [19] * n}, f)
    pack.main(['cifar100', str(tmp_path), str(tmp_path / 'f')])
    pack.main(['cifar100', str(tmp_path), str(tmp_path / 'c'), '--label', 'coarse'])
    assert recordio.read_labels(str(tmp_path / 'f' / 'train.rec')) == [99.0] * 6
    assert recordio.read_labels(str(tmp_path / 'c' / 'test.rec')) == [19.0] * 2


def test_pack_svhn_train_plus_extra_and_label_zero(tmp_path):
    from scipy.io import savemat
    rng = np.random.RandomState(0)
    sets = {}
    for name, n in (('train', 5), ('extra', 3), ('test', 2)):
        x = rng.randint(0, 256, (32, 32, 3, n)).astype(np.uint8)
        y = np.array([[10]] + [[i + 1] for i in range(n - 1)])
        savemat(str(tmp_path / ('%s_32x32.mat' % name)), {'X': x, 'y': y})
        sets[name] = (x, y)
    pack.main(['svhn', str(tmp_path), str(tmp_path / 'out')])
    labels = recordio.read_labels(str(tmp_path / 'out' / 'train.rec'))
    assert len(labels) == 8 and labels[0] == 0 and labels[5] == 0   # 10 means the digit 0
    rec = mx.recordio.MXIndexedRecordIO(str(tmp_path / 'out' / 'train.idx'),
                                        str(tmp_path / 'out' / 'train.rec'), 'r')
    _, img = mx.recordio.unpack_img(rec.read_idx(6))
    assert np.array_equal(img[:, :, ::-1], sets['extra'][0][..., 1])
    pack.main(['svhn', str(tmp_path), str(tmp_path / 'noextra'), '--no-extra'])
    assert len(recordio.read_labels(str(tmp_path / 'noextra' / 'train.rec'))) == 5


def test_pack_folder_resizes_shorter_side(tmp_path):
    rng = np.random.RandomState(0)
    for cls, shape in (('ant', (120, 200)), ('bee', (300, 150))):
        (tmp_path / 'src' / cls).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / 'src' / cls / 'a.jpg'),
                    rng.randint(0, 256, shape + (3,)).astype(np.uint8))
    out = tmp_path / 'all.rec'
    pack.main(['folder', str(tmp_path / 'src'), str(out), '--resize', '96'])
    rec = mx.recordio.MXIndexedRecordIO(str(tmp_path / 'all.idx'), str(out), 'r')
    sizes = [mx.recordio.unpack_img(rec.read_idx(i))[1].shape[:2] for i in range(2)]
    assert sizes == [(96, 160), (192, 96)]
    assert recordio.read_labels(str(out)) == [0.0, 1.0]
    assert open(tmp_path / 'all.classes.txt').read() == '0\tant\n1\tbee\n'
    with pytest.raises(FileExistsError):                     # never overwrites
        pack.main(['folder', str(tmp_path / 'src'), str(out), '--resize', '96'])


# ------------------------------------------------------------------ errors
def run_cli(*args):
    return subprocess.run([sys.executable] + list(args), cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


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


def test_truncated_rec_names_the_record(tmp_path):
    write_rec(tmp_path / 'train.rec', np.arange(10) % 10,
              np.random.RandomState(0).randint(0, 256, (10, 32, 32, 3)))
    size = os.path.getsize(tmp_path / 'train.rec')
    with open(tmp_path / 'train.rec', 'r+b') as f:
        f.truncate(size - 500)
    with pytest.raises(DataError) as err:
        recordio.scan(str(tmp_path / 'train.rec'))
    assert 'record 9' in str(err.value) and 'truncated' in str(err.value)


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


def test_pack_command_line_errors(tmp_path):
    r = run_cli('-m', 'fusenet_gluon.data.pack', 'cifar10', str(tmp_path / 'nope'),
                str(tmp_path / 'out'))
    assert r.returncode == 2 and 'missing input' in r.stderr and 'Traceback' not in r.stderr


def test_other_image_formats_and_undecodable_payloads(tmp_path):
    write_rec(tmp_path / 'bmp.rec', [1, 2], [solid((10, 20, 30))] * 2, fmt='.bmp')
    assert len(L.check_file(str(tmp_path / 'bmp.rec'), get_preset('cifar10'))) == 2
    header = mx.recordio.IRHeader(0, 1.0, 0, 0)
    writer = mx.recordio.MXRecordIO(str(tmp_path / 'junk.rec'), 'w')
    writer.write(mx.recordio.pack(header, b'not an image at all'))
    writer.close()
    with pytest.raises(DataError, match='record 0 does not hold an image'):
        L.check_file(str(tmp_path / 'junk.rec'), get_preset('cifar10'))


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
