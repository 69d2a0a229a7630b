"""fusenet_gluon.training.loop: a signal during validation or with an epoch's last batch
stops the run after saving that epoch, and what a run's log says (one start line with the
precision, what --num-examples makes of an epoch, progress in short epochs)."""
import json
import os
import shutil
import signal

import pytest

from conftest import assert_same_files, make_toy_records
from fusenet_gluon.training import cli, loop


def argv(data, prefix, *extra):
    return ['--network', 'cross', '--depth', '14', '--data-dir', data, '--gpus', '',
            '--batch-size', '16', '--rand-seed', '5', '--no-plot', '--model-prefix', prefix,
            '--num-epochs', '3', '--checkpoint-epochs', '3', '--lr-steps', '2'] + list(extra)


def signal_during_validation_of(monkeypatch, epochs):
    """Make the validation of each epoch in `epochs` receive SIGINT after its first batch."""
    original = loop.validation_batches

    def batches(run, epoch):
        for n, batch in enumerate(original(run, epoch)):
            if n == 1 and epoch in epochs:
                os.kill(os.getpid(), signal.SIGINT)
            yield batch
    monkeypatch.setattr(loop, 'validation_batches', batches)


def test_sigint_during_validation_saves_the_epoch_and_resumes_exactly(tmp_path, monkeypatch):
    data = str(tmp_path / 'toy')
    make_toy_records(data, n_train=48, n_test=48)     # three validation batches
    whole = str(tmp_path / 'whole' / 'm')
    assert cli.main(argv(data, whole)) == 0
    stopped = str(tmp_path / 'stopped' / 'm')
    # in an earlier epoch: the epoch's checkpoint is written though not due (every 3)
    signal_during_validation_of(monkeypatch, {0})
    assert cli.main(argv(data, stopped)) == cli.EXIT_INTERRUPTED
    info = json.load(open(stopped + '-0001.json'))
    assert info['complete'] is True and info['epoch'] == 1
    assert not os.path.exists(stopped + '-0002.params')       # not one batch into the next
    log = open(stopped + '.log').read()
    assert 'SIGINT received: stopped after Epoch[0]; continue with --load-epoch 1' in log
    # in the last epoch: the run stops (no export) with its checkpoint, and a resume ends it
    signal_during_validation_of(monkeypatch, {2})
    assert cli.main(argv(data, stopped, '--load-epoch', 'latest')) == \
        cli.EXIT_INTERRUPTED
    assert not os.path.exists(stopped + '-deploy-0000.params')
    signal_during_validation_of(monkeypatch, set())
    assert cli.main(argv(data, stopped, '--load-epoch', 'latest')) == 0
    assert os.path.exists(stopped + '-deploy-0000.params')
    assert_same_files(stopped + '-0003.params', whole + '-0003.params')
    assert [json.loads(l)['epoch'] for l in open(stopped + '-metrics.jsonl')] == [1, 2, 3]


SIGNAL_AT_LAST_BATCH = r'''
import os, signal, sys
sys.path.insert(0, %r)
from fusenet_gluon.training import cli, loop
step = loop.train_step
def signalled(run, data, label, epoch, nbatch):
    out = step(run, data, label, epoch, nbatch)
    if epoch == 0 and nbatch + 1 == run.epoch_size:  # SIGINT as the epoch's last batch ends
        os.kill(os.getpid(), signal.SIGINT)
    return out
loop.train_step = signalled
sys.exit(cli.main(sys.argv[1:]))
'''


def test_a_signal_at_an_epochs_last_batch_ends_the_epoch_and_resumes_exactly(tmp_path):
    """A signal that comes with the last batch of an epoch: the run validates and saves that
    epoch and stops, and the resumed run ends bit-identical; so does one resumed from a
    partial checkpoint holding the whole epoch (what such a signal wrote before). That
    resume evaluates before it trains, and a hybridized network keeps the graph of its first
    call: it trained on the inference graph and ended ~1e-7..1e-5 away (the signalled
    dist_sync job of tests/test_training.py hit it about once in fifteen runs). Each run is
    its own process: the graph is the process's."""
    import subprocess
    import sys
    from conftest import ROOT
    data = str(tmp_path / 'toy')
    make_toy_records(data, n_train=32, n_test=16)   # two batches an epoch
    whole, stopped = str(tmp_path / 'whole' / 'm'), str(tmp_path / 'stopped' / 'm')
    common = ['--num-epochs', '2', '--checkpoint-epochs', '2']

    def run(*args, script=None):
        cmd = ['-c', SIGNAL_AT_LAST_BATCH % ROOT] if script else ['train_cifar.py']
        return subprocess.run([sys.executable] + cmd + argv(data, *args), cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
    assert run(whole, *common).returncode == 0
    r = run(stopped, *common, script=True)
    assert r.returncode == cli.EXIT_INTERRUPTED, r.stderr[-2000:]
    assert 'SIGINT received: stopped after Epoch[0]; continue with --load-epoch 1' in r.stdout
    assert json.load(open(stopped + '-0001.json'))['complete'] is True
    # a partial checkpoint that holds every batch of Epoch[0], as earlier versions wrote it
    # on such a signal (the same values as the epoch's checkpoint): its resume evaluates
    # first, then must build the training graph (not train on the inference one)
    legacy = str(tmp_path / 'legacy' / 'm')
    os.makedirs(os.path.dirname(legacy))
    for suffix in ('-symbol.json', '-0001.params', '-0001.states'):
        shutil.copy(stopped + suffix, legacy + suffix)
    json.dump(dict(epoch=1, complete=False, batches_done=2, num_update=2, seed=5,
                   epoch_metrics=dict(n=32, loss=20.0, top1=20, top5=0, seen=32,
                                      train_time=0.1)), open(legacy + '-0001.json', 'w'))
    for prefix in (stopped, legacy):
        r = run(prefix, *common, '--load-epoch', 'latest')
        assert r.returncode == 0, r.stderr[-2000:]
        assert_same_files(prefix + '-0002.params', whole + '-0002.params')
    assert 'Epoch[0] from batch 3' in open(legacy + '.log').read()


def test_the_log_says_what_runs_in_one_start_line(tmp_path):
    data = str(tmp_path / 'toy')
    make_toy_records(data, n_train=48, n_test=16)
    prefix = str(tmp_path / 'm')
    assert cli.main(argv(data, prefix, '--num-epochs', '1', '--num-examples', '200')) == 0
    lines = open(prefix + '.log').read().splitlines()
    start = [l for l in lines if ' start ' in l]
    assert len(start) == 1 and len(start[0]) < 250, start
    assert 'cross d14 w1' in start[0] and 'float32' in start[0] and 'seed 5' in start[0]
    assert prefix + '-run.json' in start[0] and "'data_dir'" not in start[0]
    # --num-examples 200 of 48 records: said, and the epoch's updates follow it (200 // 16)
    assert any('note: --num-examples 200 is more than the 48 training records: an epoch '
               'reads them 4.2 times' in l for l in lines)
    assert any('--num-examples 200 of the 48 training records: 12 updates an epoch of '
               'batch 16' in l for l in lines)
    # 12 batches and no --log-iters: a line every 3 batches, not every 50
    assert [l.split('Batch [')[1].split(']')[0] for l in lines if 'Batch [' in l] == \
        ['3', '6', '9', '12']


def test_fewer_examples_than_a_batch_are_said(tmp_path):
    data = str(tmp_path / 'toy')
    make_toy_records(data, n_train=48, n_test=16)
    prefix = str(tmp_path / 'm')
    assert cli.main(argv(data, prefix, '--num-epochs', '1', '--num-examples', '10')) == 0
    assert 'note: --num-examples 10 is less than one batch of 16: an epoch is one update' in \
        open(prefix + '.log').read()


def test_the_precision_in_words():
    from fusenet_gluon.devices import get_contexts

    class Cfg(object):
        amp, dtype, contexts = False, 'float32', [get_contexts('')[0]]
    assert loop.precision(Cfg) == 'float32'
    Cfg.amp = True
    assert loop.precision(Cfg).startswith('AMP: bfloat16')
    Cfg.amp, Cfg.dtype = False, 'float16'
    assert loop.precision(Cfg) == 'float16 with float32 master weights'


@pytest.mark.parametrize('given,epoch_size,every', [(None, 3, 1), (None, 12, 3), (None, 1000, 50),
                                                    (7, 3, 7)])
def test_log_interval(given, epoch_size, every):
    assert loop.log_interval(given, epoch_size) == every


def test_amp_names_bfloat16_and_no_stray_symbol_warning(tmp_path):
    """Where the CPU has bfloat16 (this machine: avx512_bf16) an --amp run says what it
    trains in, and MXNet's warning about the checkpoint's SoftmaxOutput is not shown."""
    import subprocess
    import sys
    from conftest import ROOT
    from fusenet_gluon.training.recipe import cpu_has_bfloat16
    if not cpu_has_bfloat16():
        pytest.skip('this CPU has no bfloat16: --amp is refused (tests/test_training.py)')
    data = str(tmp_path / 'toy')
    make_toy_records(data, n_train=48, n_test=16)
    r = subprocess.run([sys.executable, 'train_cifar.py'] + argv(data, str(tmp_path / 'm'),
                                                                 '--num-epochs', '1', '--amp'),
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'AMP: bfloat16 where mxnet.contrib.amp allows it' in r.stdout
    assert 'dynamic loss scaling' not in r.stdout + r.stderr


def test_the_loaders_end_of_epoch_is_not_training_time(tmp_path, monkeypatch):
    """The RecordIO loader starts the next epoch's iterator when an epoch's batches are done
    (to overlap the validation), and the next epoch uses it; made 4 s slower here, that
    stays out of the epoch's training time, as ``reset()`` stays out of ``Module.fit``'s
    "Time cost"."""
    import time
    from fusenet_gluon.data import loaders
    make_next, iterator, used = loaders.RecordIterLoader._make_next, \
        loaders.RecordIterLoader._iterator, []

    def slow(self):
        if self.train:
            time.sleep(4)
        make_next(self)

    def reads(self, seed):
        if self.train:
            ahead = getattr(self, '_ahead', None)
            used.append(ahead is not None and ahead[0] == seed)
        return iterator(self, seed)
    monkeypatch.setattr(loaders.RecordIterLoader, '_make_next', slow)
    monkeypatch.setattr(loaders.RecordIterLoader, '_iterator', reads)
    data, prefix = str(tmp_path / 'toy'), str(tmp_path / 'run' / 'm')
    make_toy_records(data, n_train=48, n_test=16)
    assert cli.main(argv(data, prefix, '--num-epochs', '2', '--checkpoint-epochs',
                              '2')) == 0
    assert used == [False, True]                    # epoch 1 read the iterator made ahead
    rows = [json.loads(line) for line in open(prefix + '-metrics.jsonl')]
    assert [r['time_s'] > 4 for r in rows] == [True, True], rows   # each epoch took the 4 s
    assert 48 / rows[1]['img_per_s'] < 4, rows      # three updates, without them


def test_a_run_on_devices_other_than_cpu0_trains_exports_and_equals_one_on_cpu0(
        tmp_path, monkeypatch):
    """A GPU run's devices do not include cpu(0), where MXNet puts the arrays a loader or
    ``mx.nd.zeros`` makes: the whole run (training, validation, checkpoints, the export)
    on mx.cpu(1) and mx.cpu(2), as on GPUs, gives the parameters of the same run on
    mx.cpu(0) and mx.cpu(1) bit for bit (a device's id changes no kernel)."""
    import mxnet as mx
    from fusenet_gluon.training import options
    data = str(tmp_path / 'toy')
    make_toy_records(data, n_train=32, n_test=16)
    usual = str(tmp_path / 'usual' / 'm')
    assert cli.main(argv(data, usual, '--cpu-devices', '2', '--num-epochs', '2')) == 0
    monkeypatch.setattr(options, 'get_contexts',
                        lambda gpus, n, batch: [mx.cpu(1 + i) for i in range(n)])
    other = str(tmp_path / 'other' / 'm')
    assert cli.main(argv(data, other, '--cpu-devices', '2', '--num-epochs', '2')) == 0
    assert_same_files(other + '-0002.params', usual + '-0002.params')
    assert_same_files(other + '-deploy-0000.params', usual + '-deploy-0000.params')
