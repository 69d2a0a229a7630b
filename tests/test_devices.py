"""Several devices, as a multi-GPU user runs them, on CPU devices mx.cpu(0), mx.cpu(1):
the batch split, BatchNorm statistics per device, checkpoints holding their mean (as the
original's FeedForward/Module save them), exact resume, signals and dist_sync.
Modules: fusenet_gluon.training (loop, step, checkpoint, options' --cpu-devices), optim,
upstream and bench, with several devices; the package's __init__ (the workspace pool)."""
import json
import os
import signal
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

from conftest import ROOT, assert_same_files, assert_workers_agree, make_toy_records
from fusenet_gluon import get_model, upstream

CTX2 = [mx.cpu(0), mx.cpu(1)]


def on_two_devices_with_own_statistics(seed=0):
    net = get_model('cross', depth=14)
    net.initialize(mx.init.Xavier(), ctx=CTX2)
    rng = np.random.RandomState(seed)
    for name, p in net.collect_params().items():
        if name.endswith(('running_mean', 'running_var')):
            for array in p.list_data():   # a different value on each device
                array[:] = rng.uniform(0.5, 1.5, p.shape)
    return net


def test_checkpoint_holds_the_mean_over_the_devices(tmp_path):
    net = on_two_devices_with_own_statistics()
    upstream.save_checkpoint(net, str(tmp_path / 'm'), 1)
    _, arg, aux = mx.model.load_checkpoint(str(tmp_path / 'm'), 1)
    params = net.collect_params()
    for name, value in aux.items():
        gluon_name = name.replace('moving_', 'running_')
        a, b = (x.asnumpy().astype(np.float64) for x in params[gluon_name].list_data())
        assert not np.array_equal(a, b)
        np.testing.assert_allclose(value.asnumpy(), (a + b) / 2, rtol=1e-7)
        assert value.dtype == np.float32
    for name, value in arg.items():   # learned: the same on both devices, kept exactly
        assert np.array_equal(value.asnumpy(), params[name].list_data()[0].asnumpy())


def test_an_original_checkpoint_gives_every_device_the_saved_statistics(tmp_path):
    src = on_two_devices_with_own_statistics()
    upstream.save_checkpoint(src, str(tmp_path / 'm'), 1)
    saved = mx.nd.load(str(tmp_path / 'm-0001.params'))
    net = upstream.load_params(get_model('cross', depth=14), str(tmp_path / 'm-0001.params'),
                               ctx=CTX2)
    for name, p in net.collect_params().items():
        key = ('aux:' + name.replace('running_', 'moving_')) if 'running_' in name \
            else 'arg:' + name
        for array in p.list_data():
            assert np.array_equal(array.asnumpy(), saved[key].asnumpy()), name


def train(data, prefix, *extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith('DMLC_')}
    r = subprocess.run([sys.executable, 'train_cifar.py', '--network', 'cross', '--depth',
                        '14', '--data-dir', data, '--gpus', '', '--cpu-devices', '2',
                        '--batch-size', '16', '--rand-seed', '3', '--no-plot',
                        '--checkpoint-epochs', '1', '--lr-steps', '2,3', '--model-prefix',
                        prefix] + list(extra), cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return r


def test_two_devices_stopped_and_resumed_end_identical(tmp_path):
    data = str(tmp_path / 'toy')
    make_toy_records(data, n_train=96, n_test=16)
    a, b = str(tmp_path / 'a' / 'm'), str(tmp_path / 'b' / 'm')
    r = train(data, a, '--num-epochs', '4')
    assert 'parameter update: lean NAG on each of 2 devices' in r.stdout
    train(data, b, '--num-epochs', '2')
    train(data, b, '--num-epochs', '4', '--load-epoch', '2')
    for suffix in ('-0004.params', '-0004.device-stats', '-0004.states'):
        assert_same_files(a + suffix, b + suffix)
    stats = mx.nd.load(a + '-0004.device-stats')
    d0, d1 = stats['0:g0_bn_running_mean'].asnumpy(), stats['1:g0_bn_running_mean'].asnumpy()
    assert np.abs(d0 - d1).max() > 1e-3   # each device kept its own statistics
    saved = mx.nd.load(a + '-0004.params')['aux:g0_bn_moving_mean'].asnumpy()
    np.testing.assert_allclose(saved, (d0.astype(np.float64) + d1) / 2, rtol=1e-6)


def test_sigint_on_two_devices_resumes_exactly(tmp_path):
    data = str(tmp_path / 'toy')
    make_toy_records(data, n_train=160, n_test=16)
    a, b = str(tmp_path / 'a' / 'm'), str(tmp_path / 'b' / 'm')
    common = ['--num-epochs', '2', '--log-iters', '1', '--batch-size', '8']
    train(data, a, *common)
    proc = subprocess.Popen([sys.executable, 'train_cifar.py', '--network', 'cross', '--depth',
                             '14', '--data-dir', data, '--gpus', '', '--cpu-devices', '2',
                             '--rand-seed', '3', '--no-plot', '--checkpoint-epochs', '1',
                             '--lr-steps', '2,3', '--model-prefix', b] + common, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if 'Epoch[1] Batch [5]' in line:
            proc.send_signal(signal.SIGINT)
    assert proc.wait(120) == 130
    assert json.load(open(b + '-0002.json'))['complete'] is False
    train(data, b, *common, '--load-epoch', '2')
    assert_same_files(a + '-0002.params', b + '-0002.params')
    assert_same_files(a + '-0002.device-stats', b + '-0002.device-stats')


@pytest.mark.parametrize('argv,message', [
    (['--cpu-devices', '0'], '--cpu-devices must be at least 1, got 0'),
    (['--cpu-devices', '-2'], '--cpu-devices must be at least 1, got -2'),
    (['--gpus', '0,1', '--cpu-devices', '2'], '--cpu-devices 2 is for runs on the CPU'),
    (['--gpus', '', '--cpu-devices', '3', '--batch-size', '16'],
     '--batch-size 16 does not split over 3 devices'),
])
def test_bad_device_counts_get_one_line(tmp_path, argv, message):
    r = subprocess.run([sys.executable, 'train_cifar.py', '--model-prefix',
                        str(tmp_path / 'm' / 'm')] + argv, cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and message in r.stderr and 'Traceback' not in r.stderr, r.stderr
    assert not os.path.exists(str(tmp_path / 'm'))


def test_dist_sync_with_two_devices_per_worker(tmp_path):
    data = str(tmp_path / 'toy')
    make_toy_records(data, n_train=64, n_test=16)
    prefix = str(tmp_path / 'm')
    r = subprocess.run([sys.executable, '-m', 'fusenet_gluon.launch', '-n', '2', '-s', '1',
                        '--timeout', '200', '--', sys.executable, 'train_cifar.py',
                        '--network', 'cross', '--depth', '14', '--data-dir', data, '--gpus', '',
                        '--cpu-devices', '2', '--batch-size', '8', '--kv-store', 'dist_sync',
                        '--model-prefix', prefix, '--rand-seed', '4', '--no-plot',
                        '--num-epochs', '2'], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert_workers_agree(prefix, 2, lambda: get_model('cross', depth=14))


def test_bench_splits_the_batch_over_cpu_devices(tmp_path):
    out = str(tmp_path / 'b.json')
    r = subprocess.run([sys.executable, '-m', 'fusenet_gluon.bench', '--depth', '14',
                        '--batch-size', '8', '--iters', '1', '--warmup', '1', '--repeat', '1',
                        '--modes', 'hybrid,module', '--cpu-devices', '2', '--json', out],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    (res,) = json.load(open(out))['results']
    assert res['device'] == 'cpu(0),cpu(1)' and res['modes']['hybrid']['train_img_s'] > 0
    r = subprocess.run([sys.executable, '-m', 'fusenet_gluon.bench', '--cpu-devices', '0'],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and '--cpu-devices must be at least 1' in r.stderr
    # a CPU without bfloat16, played on any host by replacing the flags
    r = subprocess.run([sys.executable, '-m', 'fusenet_gluon.bench', '--amp'], cwd=ROOT,
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, FUSENET_CPU_FLAGS='fpu avx2'))
    assert r.returncode == 2 and 'avx512_bf16' in r.stderr and 'Traceback' not in r.stderr


def mxnet_hybridize(net, devices):
    """Gluon's own static graph, in MXNet's default segments of operators."""
    net.hybridize(static_alloc=True, static_shape=True)


def steps_on(devices, trainer_cls, steps=4, hybridize=mxnet_hybridize, loss=None):
    """Parameters, optimizer states and outputs after `steps` NAG steps of a DFN-MR on
    `devices`, the batch split over them (fixed initial values and data), the network
    hybridized by ``hybridize(net, devices)``, the loss Gluon's unless given."""
    from mxnet import gluon
    from fusenet_gluon.training.step import DataParallelStep
    mx.random.seed(1)
    net = get_model('cross', depth=14)
    net.initialize(mx.init.Xavier(), ctx=devices)
    hybridize(net, devices)
    schedule = mx.lr_scheduler.MultiFactorScheduler(step=[2], factor=0.1, base_lr=0.1)
    multi = len(devices) > 1
    trainer = trainer_cls(net.collect_params(), 'nag', dict(
        learning_rate=0.1, momentum=0.9, wd=1e-4, lr_scheduler=schedule),
        kvstore='device' if multi else None, update_on_kvstore=False if multi else None)
    if multi:  # as FastTrainer.start(): every device gets device 0's values before the
        trainer._init_kvstore()  # first batch (Gluon's own broadcast at the first step
        trainer._init_params()   # races with the first BatchNorm update)
        mx.nd.waitall()
    step = DataParallelStep(net, loss or gluon.loss.SoftmaxCrossEntropyLoss(), trainer, devices)
    rng, outs = np.random.RandomState(0), []
    for _ in range(steps):
        x = mx.nd.array(rng.uniform(-1, 1, (8, 3, 32, 32)))
        y = mx.nd.array(rng.randint(0, 10, 8))
        o, l = step(x, y, 8)
        outs += [a.asnumpy() for a in o + l]
    params = {k: [d.asnumpy() for d in p.list_data()]
              for k, p in net.collect_params().items()}
    states = [{i: s.asnumpy() for i, s in u.states.items()} for u in trainer._updaters]
    return params, states, outs, trainer


def same_run(ref, got):
    """Whether two steps_on results hold the same parameters, states and outputs, bit for bit."""
    (ref_p, ref_s, ref_o, _), (p, s, o, _) = ref, got
    if (sorted(ref_p) != sorted(p) or len(ref_s) != len(s) or len(ref_o) != len(o)
            or any(sorted(x) != sorted(y) for x, y in zip(ref_s, s))):
        return False
    return (all(np.array_equal(a, b) for k in ref_p for a, b in zip(ref_p[k], p[k]))
            and all(np.array_equal(a, y[k]) for x, y in zip(ref_s, s) for k, a in x.items())
            and all(np.array_equal(a, b) for a, b in zip(ref_o, o)))


@pytest.mark.parametrize('devices', [CTX2[:1], CTX2], ids=['one device', 'two devices'])
def test_lean_update_matches_gluon_trainer_bit_for_bit(devices):
    """The library's step (FastTrainer's lean update on every device, gradients summed in
    one kvstore call) against plain gluon.Trainer: the same parameters, optimizer states,
    outputs and update counts, to the bit."""
    from mxnet import gluon
    from fusenet_gluon.optim import FastTrainer
    ref, got = steps_on(devices, gluon.Trainer), steps_on(devices, FastTrainer)
    ref_t, t = ref[3], got[3]
    assert t.fast_path
    assert same_run(ref, got)
    assert t.optimizer.num_update == ref_t.optimizer.num_update == 4
    assert t.learning_rate == ref_t.learning_rate  # the schedule's step at update 2 fired


@pytest.mark.parametrize('devices', [CTX2[:1], CTX2], ids=['one device', 'two devices'])
def test_the_training_graphs_long_segments_change_no_bit(devices):
    """hybridize_for_training runs the graph on CPU devices in segments of up to 1000
    operators (MXNet: 15), fewer engine operations for the same kernels in the same order:
    four training steps against Gluon's own hybridized graph, to the bit. GPUs keep MXNet's
    segments, and so do jobs with parameter servers."""
    from fusenet_gluon.optim import FastTrainer
    from fusenet_gluon.training.step import CPU_SEGMENT, hybridize_for_training
    net = get_model('cross', depth=14)
    hybridize_for_training(net, devices)
    assert ('forward_bulk_size', CPU_SEGMENT) in net._flags
    assert ('backward_bulk_size', CPU_SEGMENT) in net._flags
    for where, kv in (([mx.gpu(0)], None), (devices, 'dist_sync')):  # flags only
        hybridize_for_training(net, where, kv)
        assert not any(k.endswith('bulk_size') for k, _ in net._flags)
    assert same_run(steps_on(devices, FastTrainer),
                    steps_on(devices, FastTrainer, hybridize=hybridize_for_training))


def training_graph_ops(devices):
    """The operators of the graph a DFN-MR builds at its first training call on `devices`."""
    from mxnet import autograd
    from fusenet_gluon.training.step import hybridize_for_training
    net = get_model('cross', depth=14)
    net.initialize(ctx=devices)
    hybridize_for_training(net, devices)
    with autograd.record():
        net(mx.nd.zeros((len(devices),) + net.input_shape, ctx=devices[0]))
    return [n['op'] for n in json.loads(net._cached_graph[1].tojson())['nodes']]


@pytest.mark.parametrize('devices', [CTX2[:1], CTX2], ids=['one device', 'two devices'])
def test_the_graph_edges_and_the_loss_change_no_bit(devices, monkeypatch):
    """A graph built for training on the CPU passes the network's input and output through
    models.common.graph_edge (slice_axis, a copy), and training's loss is
    recipe.SoftmaxCrossEntropy: four steps against Gluon's graph without the edges and
    Gluon's own loss, to the bit."""
    from fusenet_gluon.models import cifar
    from fusenet_gluon.optim import FastTrainer
    from fusenet_gluon.training.recipe import SoftmaxCrossEntropy
    ops = training_graph_ops(devices)
    assert ops.count('slice_axis') == 2 and ops[1] == 'slice_axis' and ops[-1] == 'slice_axis'
    ours = steps_on(devices, FastTrainer, loss=SoftmaxCrossEntropy())
    monkeypatch.setattr(cifar, 'graph_edge', lambda F, x: x)
    assert 'slice_axis' not in training_graph_ops(devices)
    assert same_run(steps_on(devices, FastTrainer), ours)


SIDE_BY_SIDE = r'''
import json, sys
import mxnet as mx
from fusenet_gluon import timing
from fusenet_gluon.spec import NetworkSpec
step = timing.GluonStep(NetworkSpec('cross', depth=14), 64, [mx.cpu(0), mx.cpu(1)], True,
                        'float32')   # the library's step, as training builds it
for _ in range(3):
    step.train()
mx.nd.waitall()
mx.profiler.set_config(profile_all=True, filename=sys.argv[1])
mx.profiler.set_state('run')
for _ in range(20):   # the outputs and losses read after each step, as training reads them
    outs, losses = step.step(step.x, step.y, 64)
    [a.asnumpy() for a in outs + losses]
mx.nd.waitall()
mx.profiler.set_state('stop')
mx.profiler.dump()
'''


def segments(trace, device):
    """(start, end) of each engine segment (several operators) device `device` ran."""
    begun, spans = {}, []
    for e in trace:
        if e.get('pid') != device or ',' not in e.get('name', '') or e.get('ph') not in 'BE':
            continue
        if e['ph'] == 'B':
            begun[e['name']] = e['ts']
        else:
            spans.append((begun.pop(e['name']), e['ts']))
    return sorted(spans)


def test_no_device_waits_for_a_workspace_another_device_holds(tmp_path):
    """Every CPU device shares MXNet's pool of temporary workspaces, and an imperative
    operator that needs one takes the next, sometimes one another device's graph holds for
    its whole segment; its device then waits for that segment (models.common.graph_edge).
    With a pool of 2, each device's graph holds one: any operator outside the graphs that
    took a workspace would make the devices take turns. The library's step runs none:
    in 20 steps on two devices the segments run beside the other device's (the old step:
    40 of 40 after it)."""
    trace_path = str(tmp_path / 'trace.json')
    r = subprocess.run([sys.executable, '-c', SIDE_BY_SIDE, trace_path], cwd=ROOT,
                       capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, MXNET_CPU_TEMP_COPY='2'))
    assert r.returncode == 0, r.stderr[-2000:]
    with open(trace_path) as f:
        trace = json.load(f)['traceEvents']
    ours, theirs = segments(trace, 0), segments(trace, 1)
    assert len(ours) == len(theirs) == 40   # a forward and a backward a step
    # the old step took turns in 40 of 40; a busy machine may delay queuing a few
    turns = sum(min(b, d) <= max(a, c) for (a, b), (c, d) in zip(ours, theirs))
    assert turns <= 4, '%d of 40 segments ran after the other device\'s' % turns


def test_importing_the_package_widens_the_cpu_workspace_pool():
    """Every CPU device shares one pool of MXNet temporary workspaces, 4 by default, which
    makes two CPU devices take turns (docs/performance.md): the package asks for 64 before
    MXNet makes the pool, and keeps a value the user set."""
    code = 'import os, fusenet_gluon; print(os.environ["MXNET_CPU_TEMP_COPY"])'
    env = {k: v for k, v in os.environ.items() if k != 'MXNET_CPU_TEMP_COPY'}
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.stdout.strip() == '64', out.stderr
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env=dict(env, MXNET_CPU_TEMP_COPY='8'))
    assert out.stdout.strip() == '8', out.stderr


def test_cpu_devices_auto_picks_two_on_two_cores(tmp_path):
    from fusenet_gluon.devices import auto_cpu_devices, get_contexts
    assert auto_cpu_devices(64, cores=2) == 2 and auto_cpu_devices(64, cores=1) == 1
    assert auto_cpu_devices(63, cores=8) == 1   # an odd batch does not split evenly
    expect = 2 if (os.cpu_count() or 1) >= 2 else 1
    assert len(get_contexts('', 'auto', 64)) == expect
    data = str(tmp_path / 'toy')
    make_toy_records(data, n_train=32, n_test=16)
    r = subprocess.run([sys.executable, 'train_cifar.py', '--network', 'cross', '--depth', '14',
                        '--data-dir', data, '--gpus', '', '--cpu-devices', 'auto',
                        '--batch-size', '16', '--num-epochs', '1', '--no-plot',
                        '--model-prefix', str(tmp_path / 'm' / 'm')], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert '--cpu-devices auto: %d CPU device(s)' % expect in r.stdout + r.stderr
    r = subprocess.run([sys.executable, 'train_cifar.py', '--cpu-devices', 'two'], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and 'takes a whole number or auto' in r.stderr
