"""Timing a training step: the Gluon model against the original's symbolic engine.

The measuring core of ``python -m fusenet_gluon.bench`` and ``python -m
fusenet_gluon.data.bench``: a step of each mode on random data already on the device,
the modes interleaved over repetitions, and peak memory. It reports numbers and asserts
nothing.
"""
import json
import os
import platform
import resource
import subprocess
import sys
import time

import mxnet as mx
import numpy as np

from .model_zoo import from_spec
from .optim import FastTrainer
from .spec import NetworkSpec
from .training.recipe import SoftmaxCrossEntropy, cpu_flags, initializer
from .training.step import DataParallelStep, hybridize_for_training
from .upstream import upstream_symbol
from .utils import UserError

__all__ = ['MODES', 'GluonStep', 'ModuleStep', 'bench_config', 'machine', 'memory_probe',
           'NetworkSpec', 'spread']

MODES = ('hybrid', 'module', 'imperative')


def _gpu_memory_mb(ctx):
    free, total = mx.context.gpu_memory_info(ctx.device_id)
    return (total - free) / 2 ** 20


def _peak_mb():
    """Peak resident memory of this process (VmHWM: reset on exec, unlike ru_maxrss,
    which a child inherits from its parent on Linux)."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024.0
    except OSError:  # pragma: no cover - not Linux
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def memory_probe(spec, batch, mode, dtype, steps=2, devices=1):
    """Peak resident memory (MB) of a fresh process that builds `mode` and trains `steps`
    steps, above one that only imports MXNet. MXNet's pooled allocator keeps freed memory,
    so within one process the CPU memory of one mode cannot be told from another's."""
    code = ('import json, sys; from fusenet_gluon import timing as t; import mxnet as mx; '
            'spec, batch, mode, dtype, steps, n = json.loads(sys.argv[1]); '
            'base = t._peak_mb(); spec = t.NetworkSpec.from_dict(spec); '
            'ctx = [mx.cpu(i) for i in range(n)]; '
            'st = t.ModuleStep(spec, batch, ctx, dtype) if mode == "module" else '
            't.GluonStep(spec, batch, ctx, mode == "hybrid", dtype); '
            '[st.train() for _ in range(steps)]; st.sync(); '
            'print(json.dumps([base, t._peak_mb()]))')
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, '-c', code, json.dumps(
        [spec.to_dict(), batch, mode, dtype, steps, devices])], capture_output=True, text=True,
        cwd=root)
    if out.returncode != 0:
        return None
    base, peak = json.loads(out.stdout.strip().splitlines()[-1])
    return round(peak - base, 1)


class GluonStep(object):
    """A training step of the Gluon model of `spec` on random data, the batch split over
    the devices `ctx` (a list) as the training loop splits it."""

    def __init__(self, spec, batch, ctx, hybrid, dtype, amp=False):
        ctx = ctx if isinstance(ctx, (list, tuple)) else [ctx]
        self.net = from_spec(spec)
        self.net.initialize(initializer(spec), ctx=ctx)   # the family's, as training's
        if dtype == 'float16':
            self.net.cast('float16')
        if hybrid:
            hybridize_for_training(self.net, ctx)   # as training builds its graph
        # the family's optimizer (NAG; DLA plain SGD), as training builds it
        self.trainer = FastTrainer(self.net.collect_params(), spec.family.optimizer,
                                   dict(learning_rate=0.01, momentum=0.9, wd=1e-4,
                                        multi_precision=dtype == 'float16'),
                                   kvstore='device' if len(ctx) > 1 else None,
                                   update_on_kvstore=False if len(ctx) > 1 else None)
        if amp:  # after amp.init (bench_config): float16 on GPUs, bfloat16 on the CPU
            from mxnet.contrib import amp as mx_amp
            mx_amp.init_trainer(self.trainer)
        self.step = DataParallelStep(self.net, SoftmaxCrossEntropy(),
                                     self.trainer, ctx, amp)
        x = mx.nd.random.uniform(-1, 1, (batch,) + self.net.input_shape, dtype=dtype)
        y = mx.nd.array(np.arange(batch) % spec.classes)
        self.xs = self.step.split(x)  # inference: each device's part, already there
        self.x, self.y = x, y
        self.batch = batch

    def train(self):
        """One step as training takes it: the batch split over the devices, forward and
        backward queued on all of them, the update."""
        self.step(self.x, self.y, self.batch)

    def infer(self):
        for x in self.xs:
            self.net(x)

    def sync(self):
        mx.nd.waitall()


class ModuleStep(object):
    """The original's way: the symbol graph bound by mx.mod.Module, NAG on the module."""

    def __init__(self, spec, batch, ctx, dtype):
        sym = upstream_symbol(spec)
        shape = (batch,) + spec.input_shape
        if dtype == 'float16':
            raise UserError('the symbolic baseline runs in float32 only here')
        self.mod = mx.mod.Module(sym, context=ctx)  # a list of devices splits the batch
        self.mod.bind(data_shapes=[('data', shape)],
                      label_shapes=[('softmax_label', (batch,))])
        self.mod.init_params(mx.init.Xavier(rnd_type='gaussian', factor_type='in', magnitude=2))
        # several devices: a 'device' kvstore sums their gradients, as the original's did
        multi = isinstance(ctx, (list, tuple)) and len(ctx) > 1
        self.mod.init_optimizer(kvstore='device' if multi else None, optimizer='nag',
                                optimizer_params=dict(
            learning_rate=0.01, momentum=0.9, wd=1e-4, rescale_grad=1.0 / batch))
        data = mx.nd.random.uniform(-1, 1, shape)
        label = mx.nd.array(np.arange(batch) % spec.classes)
        self.batch = mx.io.DataBatch([data], [label])

    def train(self):
        self.mod.forward_backward(self.batch)
        self.mod.update()

    def infer(self):
        self.mod.forward(self.batch, is_train=False)

    def sync(self):
        mx.nd.waitall()


def _time(step, fn, iters):
    step.sync()
    tic = time.perf_counter()
    for _ in range(iters):
        fn()
    step.sync()
    return time.perf_counter() - tic


def bench_config(spec, batch, ctx, modes=MODES, iters=10, warmup=3, repeat=3,
                 dtype='float32', log=None, amp=False):
    """Throughput of every mode for the network `spec` (a NetworkSpec) at one batch size on
    the device `ctx` (or a list of devices, the batch split over them); returns a dict of
    results."""
    ctxs = list(ctx) if isinstance(ctx, (list, tuple)) else [ctx]
    ctx = ctxs if len(ctxs) > 1 else ctxs[0]
    steps, memory = {}, {}
    gpu = ctxs[0].device_type == 'gpu'
    for mode in modes:
        before = _gpu_memory_mb(ctxs[0]) if gpu else None
        steps[mode] = ModuleStep(spec, batch, ctx, dtype) if mode == 'module' else \
            GluonStep(spec, batch, ctx, mode == 'hybrid', dtype, amp)
        for _ in range(warmup):
            steps[mode].train()
            if mode != 'imperative':
                steps[mode].infer()  # the inference graph is built on its first call
        steps[mode].sync()
        # GPU: memory in use on the device after warm-up; CPU: peak RSS of a fresh process
        memory[mode] = _gpu_memory_mb(ctxs[0]) - before if gpu else \
            memory_probe(spec, batch, mode, dtype, devices=len(ctxs))
    train = {m: [] for m in modes}
    infer = {m: [] for m in modes if m != 'imperative'}
    for r in range(repeat):
        for mode in modes:
            train[mode].append(batch * iters / _time(steps[mode], steps[mode].train, iters))
            if mode in infer:
                infer[mode].append(batch * iters / _time(steps[mode], steps[mode].infer, iters))
        if log:
            log('  rep %d/%d: %s' % (r + 1, repeat, '  '.join(
                '%s %.1f' % (m, train[m][-1]) for m in modes)))
    out = dict(spec.to_dict(), batch_size=batch, device=','.join(map(str, ctxs)), dtype=dtype,
               amp=amp, iters=iters, repeat=repeat, modes={})
    base = np.median(train['module']) if 'module' in train else None
    base_inf = np.median(infer['module']) if 'module' in infer else None
    for mode in modes:
        t = np.array(train[mode])
        row = dict(train_img_s=float(np.median(t)), train_min=float(t.min()),
                   train_max=float(t.max()), memory_mb=None if memory[mode] is None
                   else round(float(memory[mode]), 1))
        if base:
            row['train_ratio'] = float(np.median(t) / base)
            # each repetition times the modes back to back: the median of the per-repetition
            # ratios is less exposed to the machine's drift than the ratio of the medians
            row['train_ratio_paired'] = float(np.median(t / np.array(train['module'])))
        if mode in infer:
            i = np.array(infer[mode])
            row.update(infer_img_s=float(np.median(i)), infer_min=float(i.min()),
                       infer_max=float(i.max()))
            if base_inf:
                row['infer_ratio'] = float(np.median(i) / base_inf)
        out['modes'][mode] = row
    return out


#: The CPU flags that decide which oneDNN kernels run (a speed figure names them).
SPEED_FLAGS = ('avx2', 'avx512f', 'avx512_vnni', 'avx512_bf16', 'amx_bf16', 'amx_int8')


def machine():
    """A line describing this machine and MXNet build."""
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            names = [l.split(':', 1)[1].strip() for l in f if l.startswith('model name')]
        if names:
            cpu = names[0]
    except OSError:  # pragma: no cover
        pass
    feats = mx.runtime.Features()
    isa = sorted(cpu_flags() & set(SPEED_FLAGS))
    # a cap on oneDNN's instruction set changes every kernel, so a figure must say so
    cap = os.environ.get('DNNL_MAX_CPU_ISA')
    return '%s, %d cores (%s); MXNet %s (%s), OMP_NUM_THREADS=%s%s' % (
        cpu, os.cpu_count() or 0, ' '.join(isa) or 'none of ' + ' '.join(SPEED_FLAGS),
        mx.__version__,
        ', '.join(f for f in ('MKLDNN', 'CUDA', 'CUDNN') if feats.is_enabled(f)) or 'plain',
        os.environ.get('OMP_NUM_THREADS', 'unset'),
        '; oneDNN capped at %s (DNNL_MAX_CPU_ISA)' % cap if cap else '')


def spread(values, digits=1, range_digits=None):
    """``'median (min-max)'`` of repeated measurements `values`, the form in which the
    benchmarks and docs/performance.md write a speed or a ratio: the median with `digits`
    decimals, the range with `range_digits` (default: `digits`)."""
    values = np.asarray(values, dtype=float)
    r = digits if range_digits is None else range_digits
    return '%.*f (%.*f-%.*f)' % (digits, np.median(values), r, values.min(), r, values.max())
