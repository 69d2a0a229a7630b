"""training.options: a resume takes its seed and settings from the checkpoint, a used model
prefix is never written over without --force, and the prefix and --load-epoch are checked
before any work, each mistake in one line."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, make_toy_records
from fusenet_gluon import training
from fusenet_gluon.training.options import CARRIED


def cli(prefix, *argv, seed=True):
    """train_cifar.py in a subprocess, as a user runs it: (status, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith('DMLC_')}
    base = ['--network', 'cross', '--depth', '14', '--gpus', '', '--batch-size', '16',
            '--no-plot', '--model-prefix', prefix] + (['--rand-seed', '1'] if seed else [])
    r = subprocess.run([sys.executable, 'train_cifar.py'] + base + list(argv), cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=300)
    return r.returncode, r.stdout, r.stderr


def snapshot(folder):
    """Every file under `folder` with its bytes."""
    out = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            out[os.path.relpath(path, folder)] = open(path, 'rb').read()
    return out


def one_line_error(status, stderr, *words):
    assert status == 2 and 'Traceback' not in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    for w in words:
        assert w in stderr, (w, stderr)


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / 'toy'
    make_toy_records(folder, n_train=64, n_test=16)
    return str(folder)


def test_a_resume_without_rand_seed_ends_identical_to_the_run_never_stopped(data, tmp_path):
    """The issue's case: no --rand-seed (the default seed is new at every start), stopped
    after epoch 1 of 2 and resumed with the same command and --load-epoch 1."""
    prefix = str(tmp_path / 'run' / 'm')
    command = ['--data-dir', data, '--num-epochs', '2', '--checkpoint-epochs', '1']
    status, out, err = cli(prefix, *command, seed=False)
    assert status == 0, err[-2000:]
    whole = open(prefix + '-0002.params', 'rb').read()
    seed = json.load(open(prefix + '-0001.json'))['seed']
    status, out, err = cli(prefix, *command, '--load-epoch', '1', seed=False)
    assert status == 0, err[-2000:]
    assert 'seed %d' % seed in out          # the start line names the checkpoint's seed
    assert open(prefix + '-0002.params', 'rb').read() == whole


def test_a_contradicting_flag_is_refused_naming_both_values(data, tmp_path):
    prefix = str(tmp_path / 'm')
    assert cli(prefix, '--data-dir', data, '--num-epochs', '1')[0] == 0
    before = snapshot(str(tmp_path))
    for flag, given, saved in (('--rand-seed', '7', '1'), ('--lr', '0.05', '0.1'),
                               ('--batch-size', '8', '16'), ('--depth', '20', '14')):
        argv = ['--data-dir', data, '--num-epochs', '2', '--load-epoch', '1', flag, given]
        status, _, err = cli(prefix, *argv, seed=flag != '--rand-seed')
        one_line_error(status, err, '%s %s contradicts' % (flag, given),
                       'trained with %s %s' % (flag, saved))
    assert snapshot(str(tmp_path)) == before
    # the schedule's length may change (the original built its schedule at every start)
    assert 'num_epochs' not in CARRIED and 'rand_seed' in CARRIED


def test_settings_come_from_the_checkpoint_when_not_given(data, tmp_path):
    prefix = str(tmp_path / 'm')
    assert cli(prefix, '--data-dir', data, '--num-epochs', '1', '--lr', '0.05', '--wd', '0',
               '--lr-steps', '5')[0] == 0
    argv = ['--network', 'cross', '--depth', '14', '--gpus', '', '--data-dir', data,
            '--model-prefix', prefix, '--num-epochs', '3', '--load-epoch', 'latest']
    cfg = training.resolve(training.build_parser().parse_args(argv))
    assert (cfg.seed, cfg.lr, cfg.wd, cfg.batch_size, cfg.lr_steps, cfg.load_epoch) == \
        (1, 0.05, 0.0, 16, [5], 1)
    assert cfg.num_epochs == 3       # the flags' own schedule length


def test_load_epoch_latest_takes_the_newest_checkpoint(data, tmp_path):
    prefix = str(tmp_path / 'm')
    assert cli(prefix, '--data-dir', data, '--num-epochs', '2', '--checkpoint-epochs', '1')[0] == 0
    status, out, err = cli(prefix, '--data-dir', data, '--num-epochs', '3', '--checkpoint-epochs',
                           '1', '--load-epoch', 'latest')
    assert status == 0, err[-2000:]
    assert 'resume from epoch 2:' in out
    assert [json.loads(l)['epoch'] for l in open(prefix + '-metrics.jsonl')] == [1, 2, 3]


@pytest.mark.parametrize('value', ['-1', 'newest', '1.5'])
def test_a_bad_load_epoch_is_refused_before_any_work(tmp_path, value):
    status, out, err = cli(str(tmp_path / 'run' / 'm'), '--load-epoch', value)
    one_line_error(status, err, "--load-epoch takes the epoch of a checkpoint (0 or more) or "
                                "'latest', got %s" % value)
    assert out == '' and not os.path.exists(str(tmp_path / 'run'))


def test_latest_without_checkpoints_says_so(tmp_path):
    status, _, err = cli(str(tmp_path / 'm'), '--load-epoch', 'latest')
    one_line_error(status, err, 'no checkpoint', str(tmp_path / 'm'))


def test_a_fresh_run_into_a_used_prefix_is_refused_and_changes_nothing(data, tmp_path):
    prefix = str(tmp_path / 'ref' / 'm')
    assert cli(prefix, '--data-dir', data, '--num-epochs', '2', '--checkpoint-epochs', '1')[0] == 0
    before = snapshot(str(tmp_path / 'ref'))
    status, out, err = cli(prefix, '--data-dir', data, '--num-epochs', '1')
    one_line_error(status, err, 'model prefix %s already holds a run' % prefix,
                   '--load-epoch', '--force')
    assert out == '' and snapshot(str(tmp_path / 'ref')) == before
    # a prefix that only shares a beginning is another run
    assert cli(prefix + '2', '--data-dir', data, '--num-epochs', '1')[0] == 0


def test_force_starts_over_and_removes_the_old_runs_files(data, tmp_path):
    prefix = str(tmp_path / 'ref' / 'm')
    assert cli(prefix, '--data-dir', data, '--num-epochs', '2', '--checkpoint-epochs', '1')[0] == 0
    other = str(tmp_path / 'ref' / 'm-other-notes.txt')     # not a file of the run: kept
    open(other, 'w').write('mine')
    status, _, err = cli(prefix, '--data-dir', data, '--num-epochs', '1', '--force')
    assert status == 0, err[-2000:]
    assert not os.path.exists(prefix + '-0002.params')    # no stale checkpoint beside the new
    assert [json.loads(l)['epoch'] for l in open(prefix + '-metrics.jsonl')] == [1]
    assert json.load(open(prefix + '-run.json'))['num_epochs'] == 1
    assert open(other).read() == 'mine'
    status, _, err = cli(prefix, '--data-dir', data, '--load-epoch', '1', '--force')
    one_line_error(status, err, '--force', '--load-epoch 1', 'give one of them')


def test_model_prefix_mistakes_name_the_flag(data, tmp_path):
    (tmp_path / 'net.params').write_text('x')
    cases = [(str(tmp_path / 'net.params' / 'm'), 'is a file, where a folder is needed'),
             (str(tmp_path / 'q9') + '/', 'names a folder'),
             ('/proc/fusenet/m', 'cannot write there')]
    for prefix, message in cases:
        status, _, err = cli(prefix, '--data-dir', data, '--num-epochs', '1')
        one_line_error(status, err, '--model-prefix %s' % prefix, message)
        assert 'Errno' not in err
    assert sorted(os.listdir(str(tmp_path))) == ['net.params', 'toy']


def test_the_explicit_flags_are_known():
    args = training.build_parser().parse_args(['--lr', '0.1', '--amp'])
    assert args.explicit == {'lr', 'amp'}      # --lr at its default value is still given
