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


def test_the_papers_numbers_are_the_reference_docs():
    """fusenet_gluon/paper.py against docs/reference.md section 4.1."""
    from conftest import REFERENCE
    from fusenet_gluon import paper
    text = open(REFERENCE).read()
    text = text[text.index('### 4.1'):]

    def rows(title):
        part = text[text.index(title):]
        part = part[:part.index('\n\n', part.index('|---'))]
        return [[c.strip() for c in line.strip('|').split('|')]
                for line in part.splitlines() if line.startswith('| ') and '---' not in line]
    t1 = rows('Table 1,')
    depths = [int(d) for d in t1[0][1:]]
    assert {d: (float(f), float(e)) for d, f, e in zip(depths, t1[1][1:], t1[2][1:])} == \
        paper.TABLE1
    t3 = rows('Table 3,')
    assert {int(r[0]): tuple(float(v) for v in r[1:]) for r in t3[1:]} == paper.TABLE3
    t2 = rows('Table 2,')
    got = {}
    for r in t2[1:]:
        got.setdefault(int(r[0]), {})[r[1]] = tuple(None if v == 'fail' else float(v)
                                                     for v in r[2:])
    assert got == paper.TABLE2


def test_study_commands_train_once_and_share_their_runs(tmp_path):
    from conftest import make_toy_records
    data = str(tmp_path / 'toy')
    make_toy_records(data, n_train=48, n_test=16)
    common = ['--depths', '8', '--num-epochs', '1', '--data-dir', data, '--batch-size', '16',
              '--out', str(tmp_path / 'study')]

    def study(*argv):
        return subprocess.run([sys.executable, '-m', 'fusenet_gluon.study'] + list(argv),
                              cwd=ROOT, capture_output=True, text=True, timeout=600)
    r = study('table1', *common)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert 'Table 1: test error %' in r.stdout and r.stdout.count('study: training') == 2
    r = study('figure5', *common)   # Ensemble-8 reused; only Ensemble-7 is trained
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count('study: training') == 1 and 'is finished' in r.stdout
    assert 'Ensemble-7 without retraining' in r.stdout
    for name in ('table1', 'figure5'):
        assert open(str(tmp_path / 'study' / (name + '.png')), 'rb').read(4) == b'\x89PNG'
    prefix = str(tmp_path / 'study' / 'ensemble_d8w1_r1' / 'model')
    r = study('evaluate', '--prefix', prefix, '--epoch', '1', '--data-dir', data, '--json',
              str(tmp_path / 'e.json'))
    assert r.returncode == 0 and 'ensemble error %' in r.stdout
    result = json.load(open(str(tmp_path / 'e.json')))
    assert set(result) == {'components', 'leave_one_out', 'ensemble'}
    assert len(result['components']) == 8 and len(result['leave_one_out']) == 8
    r = study('evaluate', '--prefix', str(tmp_path / 'study' / 'fuse3_d8w1_r1' / 'model'),
              '--epoch', '1', '--data-dir', data)
    assert r.returncode == 2 and 'not a checkpoint of the ensemble' in r.stderr
    r = study('table3', *common[:1], '4', *common[2:])
    assert r.returncode == 2 and 'num_depth >= 5' in r.stderr and 'Traceback' not in r.stderr
