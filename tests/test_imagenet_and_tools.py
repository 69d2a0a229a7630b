"""ImageNet training end to end on tiny data, and the benchmark tools' interfaces (their
output format, not their speed: numbers are for docs/performance.md, not for tests)."""
import json
import subprocess
import sys

import mxnet as mx
import numpy as np

from conftest import ROOT
from fusenet_gluon.data.recordio import write_records


def test_train_imagenet_end_to_end(tmp_path):
    rng = np.random.RandomState(0)
    imgs = [rng.randint(0, 256, (270, 300, 3)).astype(np.uint8) for _ in range(8)]
    for name in ('imagenet_train', 'imagenet_val'):   # the original's file names
        write_records(str(tmp_path / (name + '.rec')), zip(range(8), imgs), img_fmt='.jpg')
    prefix = str(tmp_path / 'm')
    r = subprocess.run([sys.executable, 'train_imagenet.py', '--data-dir', str(tmp_path),
                        '--blocks', '1,1,1,1', '--batch-size', '4', '--num-epochs', '1',
                        '--gpus', '', '--model-prefix', prefix, '--no-plot', '--log-iters',
                        '1', '--rand-seed', '0'], cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rec = json.loads(open(prefix + '-metrics.jsonl').readline())
    assert 'val_top5' in rec and rec['epoch'] == 1
    assert 'top5: ' in open(prefix + '.log').read()
    sym, arg, aux = mx.model.load_checkpoint(prefix, 1)
    assert arg['fc_score_weight'].shape == (1000, 4096) and 'g4_b1_deep1r_conv3_weight' in arg


def test_bench_reports_every_mode_and_ratio(tmp_path):
    out = str(tmp_path / 'b.json')
    r = subprocess.run([sys.executable, '-m', 'fusenet_gluon.bench', '--network', 'cross',
                        '--depth', '14', '--batch-size', '4', '--iters', '1', '--warmup', '1',
                        '--repeat', '1', '--json', out, '--markdown'], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    (res,) = json.load(open(out))['results']
    assert set(res['modes']) == {'hybrid', 'module', 'imperative'}
    assert res['modes']['module']['train_ratio'] == 1.0
    for mode in ('hybrid', 'module'):
        assert {'train_img_s', 'train_min', 'train_max', 'infer_img_s', 'memory_mb',
                'train_ratio'} <= set(res['modes'][mode])
    assert '| cross | 14 | 4 |' in r.stdout
    r = subprocess.run([sys.executable, '-m', 'fusenet_gluon.bench', '--depth', '9'],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and '>= 14' in r.stderr
