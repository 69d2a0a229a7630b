"""fusenet_gluon.training.checkpoint: a run's files under its prefix, the named resume point,
and a damaged checkpoint reported in one line naming the file, with no traceback text."""
import json
import logging
import os
import pickle

from conftest import Hostile, make_toy_records, run
from fusenet_gluon.training import checkpoint
from fusenet_gluon.training.checkpoint import RunFiles

TRAIN = ['train_cifar.py', '--network', 'cross', '--depth', '14', '--gpus', '',
         '--batch-size', '16', '--no-plot', '--rand-seed', '1']


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


def test_a_truncated_or_hostile_checkpoint_is_one_line(tmp_path):
    data = str(tmp_path / 'toy')
    make_toy_records(data)
    prefix = str(tmp_path / 'm')
    assert run(*TRAIN, '--data-dir', data, '--model-prefix', prefix,
               '--num-epochs', '1').returncode == 0
    resume = (*TRAIN, '--data-dir', data, '--model-prefix', prefix, '--num-epochs', '2',
              '--load-epoch', '1')
    path = prefix + '-0001.params'
    whole = open(path, 'rb').read()
    open(path, 'wb').write(whole[:len(whole) // 2])
    log = open(prefix + '.log').read()
    r = run(*resume)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert path in r.stderr and 'not an MXNet parameter file' in r.stderr
    assert 'Traceback' not in r.stderr and 'ndarray.cc' not in r.stderr
    assert open(prefix + '.log').read() == log   # the failed resume left its log as it was
    open(path, 'wb').write(whole)
    # the trainer state is a pickle (MXNet's updater): read as data, never run
    states, marker = prefix + '-0001.states', tmp_path / 'pwned'
    good = open(states, 'rb').read()
    for bad, says in ((good[:len(good) // 2], 'not an MXNet trainer state'),
                      (pickle.dumps(Hostile(str(marker))), 'nothing of it was run'),
                      (pickle.dumps([1, 2]), 'not an MXNet trainer state')):
        open(states, 'wb').write(bad)
        before = sorted(os.listdir(str(tmp_path)))
        r = run(*resume)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert states in r.stderr and says in r.stderr and 'Traceback' not in r.stderr
        assert sorted(os.listdir(str(tmp_path))) == before
    assert not marker.exists()
    open(states, 'wb').write(good)
    assert run(*resume).returncode == 0


def test_the_resume_point_is_named(tmp_path):
    files = checkpoint.RunFiles(str(tmp_path / 'm'))
    with open(files.state(3), 'w') as f:
        json.dump(dict(epoch=3, complete=False, batches_done=4, num_update=20, seed=1,
                       epoch_metrics=dict(n=1, loss=0, top1=0, top5=0, seen=1,
                                          train_time=1)), f)
    point = checkpoint.resume_point(files, 3, 10, logging.getLogger('test'))
    assert (point.epoch, point.skip_batches, point.num_update) == (2, 4, 20)
    assert point.states_file is None and point.epoch_metrics['seen'] == 1
    assert checkpoint.ResumePoint.FRESH.epoch == 0
