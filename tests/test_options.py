"""fusenet_gluon.training.options: a resume takes its seed and settings from the checkpoint,
a used model prefix is never written over without --force, and the prefix and --load-epoch
are checked before any work, each mistake in one line; the flags' defaults (schedule, run
folder, data preset, loader and pad colour) and their help."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, assert_same_files, make_toy_records, run, train_cifar_here
from fusenet_gluon.training import options
from fusenet_gluon.spec import NetworkSpec
from fusenet_gluon.training.options import CARRIED


def cli(prefix, *argv, seed=True, here=False):
    """train_cifar.py in a subprocess, as a user runs it: (status, stdout, stderr); `here`:
    in this process instead (conftest.train_cifar_here), for refusals only."""
    base = ['--network', 'cross', '--depth', '14', '--gpus', '', '--batch-size', '16',
            '--no-plot', '--model-prefix', prefix] + (['--rand-seed', '1'] if seed else [])
    if here:
        return train_cifar_here(*(base + list(argv)))
    r = run('train_cifar.py', *(base + list(argv)))
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
    whole = str(tmp_path / 'whole.params')
    shutil.copy(prefix + '-0002.params', whole)
    seed = json.load(open(prefix + '-0001.json'))['seed']
    status, out, err = cli(prefix, *command, '--load-epoch', '1', seed=False)
    assert status == 0, err[-2000:]
    assert 'seed %d' % seed in out          # the start line names the checkpoint's seed
    assert_same_files(prefix + '-0002.params', whole)


def test_a_contradicting_flag_is_refused_naming_both_values(data, tmp_path):
    prefix = str(tmp_path / 'm')
    assert cli(prefix, '--data-dir', data, '--num-epochs', '1')[0] == 0
    before = snapshot(str(tmp_path))
    for flag, given, saved in (('--rand-seed', '7', '1'), ('--lr', '0.05', '0.1'),
                               ('--batch-size', '8', '16'), ('--depth', '20', '14')):
        argv = ['--data-dir', data, '--num-epochs', '2', '--load-epoch', '1', flag, given]
        status, _, err = cli(prefix, *argv, seed=flag != '--rand-seed',
                             here=flag != '--rand-seed')
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
    cfg = options.resolve(options.build_parser().parse_args(argv))
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
    status, out, err = cli(str(tmp_path / 'run' / 'm'), '--load-epoch', value,
                           here=value != '-1')
    one_line_error(status, err, "--load-epoch takes the epoch of a checkpoint (0 or more) or "
                                "'latest', got %s" % value)
    assert out == '' and not os.path.exists(str(tmp_path / 'run'))


def test_latest_without_checkpoints_says_so(tmp_path):
    status, _, err = cli(str(tmp_path / 'm'), '--load-epoch', 'latest', here=True)
    one_line_error(status, err, 'no checkpoint', str(tmp_path / 'm'))


def test_a_fresh_run_into_a_used_prefix_is_refused_and_changes_nothing(data, tmp_path):
    prefix = str(tmp_path / 'ref' / 'm')
    assert cli(prefix, '--data-dir', data, '--num-epochs', '2', '--checkpoint-epochs', '1')[0] == 0
    before = snapshot(str(tmp_path / 'ref'))
    status, out, err = cli(prefix, '--data-dir', data, '--num-epochs', '1', here=True)
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
    status, _, err = cli(prefix, '--data-dir', data, '--load-epoch', '1', '--force', here=True)
    one_line_error(status, err, '--force', '--load-epoch 1', 'give one of them')


def test_model_prefix_mistakes_name_the_flag(data, tmp_path):
    (tmp_path / 'net.params').write_text('x')
    cases = [(str(tmp_path / 'net.params' / 'm'), 'is a file, where a folder is needed'),
             (str(tmp_path / 'q9') + '/', 'names a folder'),
             ('/proc/fusenet/m', 'cannot write there')]
    for prefix, message in cases:
        status, _, err = cli(prefix, '--data-dir', data, '--num-epochs', '1',
                             here=prefix != cases[0][0])
        one_line_error(status, err, '--model-prefix %s' % prefix, message)
        assert 'Errno' not in err
    assert sorted(os.listdir(str(tmp_path))) == ['net.params', 'toy']


def test_the_explicit_flags_are_known():
    args = options.build_parser().parse_args(['--lr', '0.1', '--amp'])
    assert args.explicit == {'lr', 'amp'}      # --lr at its default value is still given


TRAIN = ['--gpus', '', '--network', 'cross', '--depth', '14', '--batch-size', '16',
         '--num-epochs', '1', '--no-plot', '--rand-seed', '1']


def train_cifar(*argv):
    return run('train_cifar.py', *TRAIN, *argv)


def test_packed_digits_train_with_the_digits_preset(tmp_path):
    data = str(tmp_path / 'digits')
    r = run('-m', 'fusenet_gluon.data.pack', 'digits', data)
    assert r.returncode == 0, r.stderr
    assert json.load(open(os.path.join(data, 'dataset.json')))['dataset'] == 'digits'
    prefix = str(tmp_path / 'm')
    r = train_cifar('--data-dir', data, '--model-prefix', prefix, '--num-examples', '32')
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert json.load(open(prefix + '-run.json'))['dataset'] == 'digits'
    # asked for another preset: done as asked, with a note naming both
    r = train_cifar('--data-dir', data, '--dataset', 'cifar10', '--model-prefix', prefix + '2',
                    '--num-examples', '32')
    assert r.returncode == 0 and 'note: --dataset cifar10, but' in r.stdout and 'digits' in r.stdout
    assert json.load(open(prefix + '2-run.json'))['dataset'] == 'cifar10'


def test_default_run_folder_is_named_by_what_is_built(tmp_path):
    r = train_cifar('--depth', '15', '--log-dir', str(tmp_path), '--num-examples', '32')
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'builds the same cross as num_depth 14' in r.stdout
    assert os.path.isdir(str(tmp_path / 'digits' / 'cross_d14w1'))
    assert not os.path.exists(str(tmp_path / 'digits' / 'cross_d15w1'))
    log = open(str(tmp_path / 'digits' / 'cross_d14w1' / 'model.log')).read()
    assert 'lr 0.1, constant (no step within 1 epochs)' in log     # 1 epoch: no step fires
    assert NetworkSpec('cross', 15).tag == 'cross_d14w1'
    assert NetworkSpec('cross', 110).tag == 'cross_d110w1'
    # resumed without --model-prefix: the default folder is found again from the flags
    status, out, err = train_cifar_here(*TRAIN, '--depth', '15', '--log-dir', str(tmp_path),
                                        '--num-examples', '32', '--num-epochs', '2',
                                        '--load-epoch', 'latest')
    assert status == 0, err[-2000:]
    assert 'resume from epoch 1' in out
    assert os.path.isfile(str(tmp_path / 'digits' / 'cross_d14w1' / 'model-0002.params'))


@pytest.mark.parametrize('argv,message', [
    (['--lr', 'nan'], '--lr must be a number > 0, got nan'),
    (['--lr', '-1'], '--lr must be a number > 0'),
    (['--momentum', '1'], '--momentum must be a number >= 0 and < 1'),
    (['--wd', '-0.1'], '--wd must be a number >= 0'),
    (['--checkpoint-epochs', '0'], '--checkpoint-epochs must be at least 1'),
    (['--num-examples', '0'], '--num-examples must be at least 1'),
    (['--widen-factor', '0'], 'widen_factor must be a positive integer, got 0'),
    (['--lr-steps=-3'], '--lr-steps are epochs, each at least 1'),
    (['--rand-seed', '-1'], '--rand-seed must be a whole number from 0 to 2**32 - 1'),
    (['--exp-name', '../x'], "--exp-name '../x' must be a name, not a path"),
    (['--network', 'imagenet_cross'], 'imagenet_cross is one of the ImageNet networks: train '
                                      'it with train_imagenet.py'),
])
def test_bad_numbers_get_one_line_before_any_work(tmp_path, argv, message):
    full = TRAIN + ['--model-prefix', str(tmp_path / 'm' / 'm')] + argv
    if argv == ['--lr', 'nan']:   # as a user runs it; the rest in this process
        r = run('train_cifar.py', *full)
        status, err = r.returncode, r.stderr
    else:
        status, _, err = train_cifar_here(*full)
    assert status == 2 and message in err and 'Traceback' not in err, err
    assert len(err.strip().splitlines()) == 1 and not os.path.exists(str(tmp_path / 'm'))


def test_a_run_failing_before_training_leaves_nothing(tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    r = train_cifar('--data-dir', str(empty), '--model-prefix',
                    str(tmp_path / 'run' / 'deeper' / 'm'))   # every folder made is removed
    assert r.returncode == 2 and 'make one with: python -m fusenet_gluon.data.pack' in r.stderr
    assert not os.path.exists(str(tmp_path / 'run'))


def test_load_epoch_lists_only_checkpoints(tmp_path):
    data = tmp_path / 'toy'
    make_toy_records(data)
    prefix = str(tmp_path / 'm')
    assert train_cifar('--data-dir', str(data), '--model-prefix', prefix).returncode == 0
    assert os.path.exists(prefix + '-deploy-0000.params')
    r = train_cifar('--data-dir', str(data), '--model-prefix', prefix, '--load-epoch', '99')
    assert r.returncode == 2 and 'checkpoints there: m-0001.params)' in r.stderr, r.stderr


def test_help_states_each_default_once():
    for script in ('train_cifar.py', 'train_imagenet.py'):
        r = run(script, '--help')
        assert r.returncode == 0 and '(default: None)' not in r.stdout
        assert r.stdout.count('(default:') == len(set(
            line for line in r.stdout.splitlines() if '(default:' in line))
        assert 'NAG momentum' in r.stdout


def resolved(argv, imagenet=False):
    return options.resolve(options.build_parser(imagenet).parse_args(argv + ['--gpus', '']),
                            imagenet)


def test_default_lr_steps_are_the_originals():
    cfg = resolved(['--data-dir', 'x'])
    assert cfg.num_epochs == 400 and cfg.lr_steps == [200, 300, 350]
    assert cfg.checkpoint_epochs == 50 and cfg.batch_size == 64 and cfg.spec.depth == 62
    cfg = resolved([], imagenet=True)
    assert cfg.num_epochs == 120 and cfg.lr_steps == [30, 60, 90]
    assert (cfg.train_file, cfg.val_file) == ('imagenet_train.rec', 'imagenet_val.rec')
    cfg = resolved(['--lr-epoch-step', '40'], imagenet=True)
    assert cfg.lr_steps == [40, 80]
    assert cfg.checkpoint_epochs == 5 and cfg.batch_size == 256


@pytest.mark.parametrize('argv,message', [
    (['--depth', '10'], '>= 14'),
    (['--network', 'densenet'], 'unknown model'),
    (['--gpus', 'x'], 'comma list of GPU ids'),
    (['--gpus', '0'], 'not available'),
    (['--load-epoch', '7'], 'cannot resume'),
    (['--dtype', 'float16', '--gpus', ''], 'need GPUs'),
    (['--batch-size', '0'], 'at least 1'),
    (['--dataset', 'cifar100', '--data-dir', None], 'needs --data-dir'),
    (['--kv-store', 'dist_sync'], 'needs a parameter-server job'),
    (['--kv-store', 'dist'], "invalid choice: 'dist'"),
    (['--batch-size', '64'], '--batch-size 64 is more than the 48 training images'),
])
def test_user_mistakes_get_one_line_errors(toy_dir, tmp_path, argv, message):
    base = ['--data-dir', toy_dir, '--model-prefix', str(tmp_path / 'm'), '--num-epochs', '1']
    if None in argv:  # the case without a data folder
        argv, base = argv[:-2], base[2:]
    if '--gpus' not in argv:
        base += ['--gpus', '']
    # as a user runs it; the rest in this process (a distributed worker leaves by os._exit)
    if argv in (['--batch-size', '64'], ['--kv-store', 'dist_sync']):
        r = run('train_cifar.py', *(base + argv))
        status, err = r.returncode, r.stderr
    else:
        status, _, err = train_cifar_here(*(base + argv))
    assert status == 2 and message in err and 'Traceback' not in err, err
    assert not os.path.exists(str(tmp_path / 'm-run.json'))


def test_help_documents_the_flags():
    r = subprocess.run([sys.executable, 'train_cifar.py', '--help'], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    for flag in ('--network', '--depth', '--widen-factor', '--dataset', '--data-dir',
                 '--train-dataset', '--val-dataset', '--gpus', '--batch-size', '--num-epochs',
                 '--num-examples', '--lr', '--lr-factor', '--lr-steps', '--log-iters',
                 '--model-prefix', '--load-epoch', '--checkpoint-epochs', '--rand-seed',
                 '--kv-store', '--exp-name', '--log-dir'):
        assert flag in r.stdout
    r = subprocess.run([sys.executable, 'train_imagenet.py', '--help'], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert '--fb-mean' in r.stdout and '--blocks' in r.stdout


def test_training_says_which_loader_is_exact_and_takes_the_pad_colour(tmp_path):
    from fusenet_gluon.training import options

    def resolve(argv, imagenet=False):
        args = options.build_parser(imagenet).parse_args(argv + ['--gpus', ''])
        return options.resolve(args, imagenet)
    assert any('--loader gluon' in n for n in resolve([], True).notes)
    assert not any('not exact' in n for n in resolve(['--loader', 'gluon'], True).notes)
    cfg = resolve(['--data-dir', str(tmp_path), '--pad-colour', 'mean'])
    assert cfg.preset.augment.fill == 'mean'
    assert resolve(['--data-dir', str(tmp_path)]).preset.augment.fill == 'white'
    with pytest.raises(ValueError, match='svhn has no pad'):
        resolve(['--data-dir', str(tmp_path), '--dataset', 'svhn', '--pad-colour', 'mean'])


@pytest.mark.parametrize('content,says', [('{broken', 'not JSON'), ('[1]', 'not a JSON object'),
                                          ('{"classes": 10}', 'no data set name')])
def test_a_damaged_dataset_json_is_named_not_guessed(tmp_path, content, says):
    """A folder's dataset.json decides the preset; damaged, it is named rather than the run
    trained as CIFAR-10 with the wrong statistics."""
    data = tmp_path / 'toy'
    make_toy_records(str(data))
    (data / 'dataset.json').write_text(content)
    status, out, err = cli(str(tmp_path / 'run' / 'm'), '--data-dir', str(data), here=True)
    one_line_error(status, err, str(data / 'dataset.json'), 'is damaged (%s' % says)
    assert not os.path.exists(str(tmp_path / 'run'))
