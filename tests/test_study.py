"""The study: errors of an ensemble's components, of the ensemble and of its leave-one-out
sub-ensembles by hand; Fashion-MNIST-format data packed from idx files the test writes."""
import gzip
import json
import os
import struct
import subprocess
import sys

import numpy as np

from conftest import ROOT
from fusenet_gluon.study import ensemble_errors


def test_errors_of_components_ensemble_and_leave_one_out_by_hand():
    # 4 samples, 3 components, 2 classes; labels 0 0 1 1
    p = np.array([[[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]],     # mean 0.50 0.50: a tie -> 0
                  [[0.8, 0.2], [0.7, 0.3], [0.1, 0.9]],     # mean 0.53: right
                  [[0.6, 0.4], [0.3, 0.7], [0.45, 0.55]],   # mean 0.45/0.55: right
                  [[0.3, 0.7], [0.8, 0.2], [0.9, 0.1]]])    # mean 0.67 for 0: wrong
    out = ensemble_errors(np.log(p), np.array([0, 0, 1, 1]), ['A', 'B', 'C'])
    assert out['components'] == {'A': 25.0, 'B': 50.0, 'C': 75.0}
    assert out['ensemble'] == 25.0
    # without A: B, C means (0.3 0.7), (0.4 0.6), (0.375 .625), (0.85 .15) -> wrong 1,2,4 = 75
    # without B: A, C -> (0.55 .45), (0.45 .55), (.525 .475), (.6 .4) -> wrong 2,3,4 = 75
    # without C: A, B -> (.65 .35), (.75 .25), (.45 .55), (.55 .45) -> wrong 4 = 25
    assert out['leave_one_out'] == {'A': 75.0, 'B': 75.0, 'C': 25.0}


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
