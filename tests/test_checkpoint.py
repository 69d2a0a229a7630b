"""training.checkpoint and the checkpoint readers: a run's files under its prefix, and damaged
checkpoints reported in one line naming the file, with no traceback text."""
import os
import subprocess
import sys

from conftest import ROOT, make_toy_records
from fusenet_gluon.training.checkpoint import RunFiles

TRAIN = ['train_cifar.py', '--network', 'cross', '--depth', '14', '--gpus', '',
         '--batch-size', '16', '--no-plot', '--rand-seed', '1']


def run(*argv):
    env = {k: v for k, v in os.environ.items() if not k.startswith('DMLC_')}
    return subprocess.run([sys.executable] + list(argv), cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_files_of_a_run_are_told_apart_from_others(tmp_path):
    run_names = ['m-symbol.json', 'm-0001.params', 'm-0001.states', 'm-0001.json',
                 'm-0002.device-stats', 'm-metrics.jsonl', 'm-run.json', 'm.log',
                 'm-worker1.log', 'm-worker1-final.params', 'm-deploy-symbol.json',
                 'm-deploy-0000.params', 'm-curves.png']
    others = ['m2-run.json', 'm-a-run.json', 'mine.txt', 'm-0001.params.bak', 'n.log']
    for name in run_names + others:
        (tmp_path / name).write_text('x')
    files = RunFiles(str(tmp_path / 'm'))
    assert sorted(os.path.basename(p) for p in files.existing()) == sorted(run_names)
    files.remove()
    assert sorted(os.listdir(str(tmp_path))) == sorted(others)
    assert files.existing() == []


def test_a_truncated_checkpoint_is_one_line(tmp_path):
    data = str(tmp_path / 'toy')
    make_toy_records(data)
    prefix = str(tmp_path / 'm')
    assert run(*TRAIN, '--data-dir', data, '--model-prefix', prefix,
               '--num-epochs', '1').returncode == 0
    path = prefix + '-0001.params'
    whole = open(path, 'rb').read()
    open(path, 'wb').write(whole[:len(whole) // 2])
    r = run(*TRAIN, '--data-dir', data, '--model-prefix', prefix, '--num-epochs', '2',
            '--load-epoch', '1')
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert path in r.stderr and 'not an MXNet parameter file' in r.stderr
    assert 'Traceback' not in r.stderr and 'ndarray.cc' not in r.stderr


def test_a_corrupt_pth_is_one_line(tmp_path):
    for name, content in (('bad.pth', b'not a checkpoint at all' * 10),
                          ('proto.pth', b'\x80' + b'garbage' * 10)):
        path = str(tmp_path / name)
        open(path, 'wb').write(content)
        r = run('-m', 'fusenet_gluon.convert', 'to-gluon', '--network', 'dla34', '--params',
                path, '--output', str(tmp_path / 'x'))
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert path in r.stderr and 'Traceback' not in r.stderr, r.stderr
        assert not os.path.exists(str(tmp_path / 'x'))
