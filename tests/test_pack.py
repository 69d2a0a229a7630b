"""fusenet_gluon.data.pack: every packer's records by hand (CIFAR-10/100, SVHN, an image folder,
ImageNet, Fashion-MNIST-format idx files), never writing over a pack, its command-line
errors, and packed data training as the README says."""
import gzip
import json
import os
import pickle
import struct
import subprocess
import sys

import cv2
import mxnet as mx
import numpy as np
import pytest

from conftest import Hostile, ROOT, run, run_cli
from fusenet_gluon.data import pack, recordio


def test_pack_imagenet_then_train_imagenet_as_the_readme_says(tmp_path):
    import cv2
    rng = np.random.RandomState(0)
    src = tmp_path / 'imagenet'
    for part in ('train', 'val'):
        for c, name in enumerate(('n01', 'n02')):
            folder = src / part / name
            folder.mkdir(parents=True)
            for i in range(4 if part == 'train' else 2):
                img = rng.randint(0, 256, (300, 360, 3)).astype(np.uint8)
                cv2.imwrite(str(folder / ('%d.JPEG' % i)), img)
    out = str(tmp_path / 'data' / 'imagenet')
    r = run('-m', 'fusenet_gluon.data.pack', 'imagenet', str(src), out, '--resize', '256')
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(out)) == ['dataset.json', 'imagenet_train.classes.txt',
                                       'imagenet_train.idx', 'imagenet_train.rec',
                                       'imagenet_val.classes.txt', 'imagenet_val.idx',
                                       'imagenet_val.rec']
    prefix = str(tmp_path / 'm')
    r = run('train_imagenet.py', '--data-dir', out, '--blocks', '1,1,1,1', '--batch-size', '4',
            '--num-epochs', '1', '--gpus', '', '--model-prefix', prefix, '--no-plot',
            '--rand-seed', '0', timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert mx.model.load_checkpoint(prefix, 1)[1]['fc_score_weight'].shape == (1000, 4096)
    # the digits are not ImageNet: one line says which script trains them
    r = run('-m', 'fusenet_gluon.data.pack', 'digits', str(tmp_path / 'digits'))
    r = run('train_imagenet.py', '--data-dir', str(tmp_path / 'digits'), '--gpus', '')
    assert r.returncode == 2 and 'train them with train_cifar.py' in r.stderr


def write_idx(path, array):
    head = b'\x00\x00\x08' + bytes([array.ndim]) + struct.pack('>%dI' % array.ndim, *array.shape)
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'wb') as f:
        f.write(head + array.astype(np.uint8).tobytes())


def test_pack_mnist_idx_pads_to_32x32_rgb(tmp_path):
    rng = np.random.RandomState(0)
    src = tmp_path / 'idx'
    src.mkdir()
    images = {'train': rng.randint(0, 256, (20, 28, 28)), 'test': rng.randint(0, 256, (6, 28, 28))}
    labels = {'train': np.arange(20) % 10, 'test': np.arange(6) % 10}
    write_idx(str(src / 'train-images-idx3-ubyte.gz'), images['train'])
    write_idx(str(src / 'train-labels-idx1-ubyte.gz'), labels['train'])
    write_idx(str(src / 't10k-images-idx3-ubyte'), images['test'])       # not gzipped
    write_idx(str(src / 't10k-labels-idx1-ubyte'), labels['test'])
    out = str(tmp_path / 'fm')
    r = subprocess.run([sys.executable, '-m', 'fusenet_gluon.data.pack', 'mnist-idx', str(src),
                        out], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.load(open(os.path.join(out, 'dataset.json')))['dataset'] == 'fashion-mnist'
    import mxnet as mx
    rec = mx.recordio.MXIndexedRecordIO(os.path.join(out, 'train.idx'),
                                        os.path.join(out, 'train.rec'), 'r')
    header, img = mx.recordio.unpack_img(rec.read_idx(3))
    assert img.shape == (32, 32, 3) and header.label == 3
    assert np.array_equal(img[2:30, 2:30, 0], images['train'][3])      # every pixel kept
    assert img[:2].max() == 0 and img[:, :2].max() == 0 and img[30:].max() == 0
    assert np.array_equal(img[..., 0], img[..., 2])
    (src / 't10k-labels-idx1-ubyte').write_bytes(b'\x00\x00\x09\x01junk')
    r = subprocess.run([sys.executable, '-m', 'fusenet_gluon.data.pack', 'mnist-idx', str(src),
                        str(tmp_path / 'x')], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and 'not an idx file' in r.stderr and 'Traceback' not in r.stderr


def test_pack_mnist_idx_refuses_a_cut_gzip_and_a_label_past_ten(tmp_path):
    src = tmp_path / 'idx'
    src.mkdir()
    write_idx(str(src / 'train-images-idx3-ubyte'), np.zeros((4, 28, 28)))
    write_idx(str(src / 'train-labels-idx1-ubyte'), np.arange(4))
    write_idx(str(src / 't10k-images-idx3-ubyte'), np.zeros((2, 28, 28)))
    write_idx(str(src / 't10k-labels-idx1-ubyte.gz'), np.array([1, 200]))
    for says in ('a test label is 200, outside 0..9', 'cannot read'):
        r = subprocess.run([sys.executable, '-m', 'fusenet_gluon.data.pack', 'mnist-idx',
                            str(src), str(tmp_path / 'out')], cwd=ROOT, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 2 and says in r.stderr and 'Traceback' not in r.stderr, r.stderr
        assert not (tmp_path / 'out').exists()
        cut = (src / 't10k-labels-idx1-ubyte.gz').read_bytes()[:-8]   # gzip's end cut off
        (src / 't10k-labels-idx1-ubyte.gz').write_bytes(cut)


def test_pack_cifar10_round_trip(tmp_path):
    rng = np.random.RandomState(0)
    src = tmp_path / 'cifar-10-batches-py'
    src.mkdir()
    batches = []
    for i in range(1, 6):
        data = rng.randint(0, 256, (4, 3072)).astype(np.uint8)
        labels = rng.randint(0, 10, 4).tolist()
        batches.append((data, labels))
        with open(src / ('data_batch_%d' % i), 'wb') as f:  # every protocol numpy uses
            pickle.dump({b'data': data, b'labels': labels}, f, protocol=2 + i % 4)
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


def test_a_hostile_cifar_batch_is_refused_without_running_it(tmp_path):
    src, marker = tmp_path / 'cifar-10-batches-py', tmp_path / 'pwned'
    src.mkdir()
    for name in ['data_batch_%d' % i for i in range(1, 6)] + ['test_batch']:
        data = np.zeros((2, 3072), np.uint8)
        with open(src / name, 'wb') as f:
            pickle.dump({b'data': Hostile(str(marker)) if name == 'data_batch_3' else data,
                         b'labels': [0, 1]}, f, protocol=2)
    r = run_cli('-m', 'fusenet_gluon.data.pack', 'cifar10', str(src), str(tmp_path / 'out'))
    assert r.returncode != 0 and 'Traceback' not in r.stderr, r.stderr
    line, = r.stderr.strip().splitlines()
    assert 'data_batch_3' in line and 'system' in line and 'nothing of it was run' in line
    assert not marker.exists() and not (tmp_path / 'out').exists()


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


def test_pack_command_line_errors(tmp_path):
    r = run_cli('-m', 'fusenet_gluon.data.pack', 'cifar10', str(tmp_path / 'nope'),
                str(tmp_path / 'out'))
    assert r.returncode == 2 and 'missing input' in r.stderr and 'Traceback' not in r.stderr
