"""Training and inference throughput: the Gluon model against the original's symbolic engine.

    python -m fusenet_gluon.bench --network cross --depth 26 --batch-size 32
    python -m fusenet_gluon.bench --network cross,resnet --depth 26,56,110 --batch-size 32,64 \
        --markdown --json results.json --plot scaling.png

For every configuration, in one process, it times a training step (forward, backward and
NAG update, on random data already on the device) of

  * ``hybrid``     the hybridized Gluon model (static_alloc, static_shape) with the
                   library's trainer (a gluon.Trainer with a lean NAG update),
  * ``module``     the same architecture from ``symbols/`` run by ``mx.mod.Module``, the way
                   the original trained (the baseline),
  * ``imperative`` the Gluon model not hybridized,

and the inference throughput of the first two, and peak memory (GPU: in use on the device;
CPU: peak resident memory of a fresh process training that mode, above a bare
``import mxnet``). The modes are interleaved over the
repetitions; the report gives the median images/s, the spread (min-max) and the ratio of
each to the baseline. A benchmark, not a test: it reports numbers and asserts nothing.
"""
import argparse
import json
import os
import platform
import resource
import sys
import time

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from . import arch, symbol_graphs
from .model_zoo import get_model
from .optim import FastTrainer
from .training import get_contexts, initializer
from .utils import UserError, parse_ints, run_cli

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


def memory_probe(spec, batch, mode, dtype, steps=2):
    """Peak resident memory (MB) of a fresh process that builds `mode` and trains `steps`
    steps, above one that only imports MXNet. MXNet's pooled allocator keeps freed memory,
    so within one process the CPU memory of one mode cannot be told from another's."""
    import subprocess
    code = ('import json, sys; from fusenet_gluon import bench; import mxnet as mx; '
            'spec, batch, mode, dtype, steps = json.loads(sys.argv[1]); base = bench._peak_mb(); '
            'st = bench.ModuleStep(spec, batch, mx.cpu(), dtype) if mode == "module" else '
            'bench.GluonStep(spec, batch, mx.cpu(), mode == "hybrid", dtype); '
            '[st.train() for _ in range(steps)]; st.sync(); print(json.dumps([base, bench._peak_mb()]))')
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, '-c', code, json.dumps([spec, batch, mode, dtype, steps])],
                         capture_output=True, text=True, cwd=root)
    if out.returncode != 0:
        return None
    base, peak = json.loads(out.stdout.strip().splitlines()[-1])
    return round(peak - base, 1)


class GluonStep(object):
    def __init__(self, spec, batch, ctx, hybrid, dtype):
        self.net = _model(spec)
        self.net.initialize(initializer(), ctx=ctx)
        if dtype == 'float16':
            self.net.cast('float16')
        if hybrid:
            self.net.hybridize(static_alloc=True, static_shape=True)
        self.trainer = FastTrainer(self.net.collect_params(), 'nag',
                                   dict(learning_rate=0.01, momentum=0.9, wd=1e-4,
                                        multi_precision=dtype == 'float16'), kvstore=None)
        self.loss = gluon.loss.SoftmaxCrossEntropyLoss()
        self.x = mx.nd.random.uniform(-1, 1, (batch,) + self.net.input_shape, ctx=ctx,
                                      dtype=dtype)
        self.y = mx.nd.array(np.arange(batch) % spec['classes'], ctx=ctx)
        self.batch = batch

    def train(self):
        with autograd.record():
            loss = self.loss(self.net(self.x), self.y)
        loss.backward()
        self.trainer.step(self.batch)

    def infer(self):
        self.net(self.x)

    def sync(self):
        mx.nd.waitall()


class ModuleStep(object):
    """The original's way: the symbol graph bound by mx.mod.Module, NAG on the module."""

    def __init__(self, spec, batch, ctx, dtype):
        sym = symbol_graphs.get_symbol(spec['network'], spec['classes'], spec.get('depth'),
                                       spec.get('widen_factor', 1))
        size = arch.IMAGENET_INPUT_SIZE if spec['network'] in arch.IMAGENET_NETWORKS \
            else arch.CIFAR_INPUT_SIZE
        if dtype == 'float16':
            raise UserError('the symbolic baseline runs in float32 only here')
        self.mod = mx.mod.Module(sym, context=ctx)
        self.mod.bind(data_shapes=[('data', (batch, 3, size, size))],
                      label_shapes=[('softmax_label', (batch,))])
        self.mod.init_params(mx.init.Xavier(rnd_type='gaussian', factor_type='in', magnitude=2))
        self.mod.init_optimizer(kvstore=None, optimizer='nag', optimizer_params=dict(
            learning_rate=0.01, momentum=0.9, wd=1e-4, rescale_grad=1.0 / batch))
        data = mx.nd.random.uniform(-1, 1, (batch, 3, size, size), ctx=ctx)
        label = mx.nd.array(np.arange(batch) % spec['classes'], ctx=ctx)
        self.batch = mx.io.DataBatch([data], [label])

    def train(self):
        self.mod.forward_backward(self.batch)
        self.mod.update()

    def infer(self):
        self.mod.forward(self.batch, is_train=False)

    def sync(self):
        mx.nd.waitall()


def _model(spec):
    if spec['network'] in arch.IMAGENET_NETWORKS:
        return get_model(spec['network'], classes=spec['classes'])
    return get_model(spec['network'], depth=spec['depth'],
                     widen_factor=spec.get('widen_factor', 1), classes=spec['classes'])


def _time(step, fn, iters):
    step.sync()
    tic = time.perf_counter()
    for _ in range(iters):
        fn()
    step.sync()
    return time.perf_counter() - tic


def bench_config(spec, batch, ctx, modes=MODES, iters=10, warmup=3, repeat=3,
                 dtype='float32', log=None):
    """Throughput of every mode for one configuration; returns a dict of results."""
    steps, memory = {}, {}
    gpu = ctx.device_type == 'gpu'
    for mode in modes:
        before = _gpu_memory_mb(ctx) if gpu else None
        steps[mode] = ModuleStep(spec, batch, ctx, dtype) if mode == 'module' else \
            GluonStep(spec, batch, ctx, mode == 'hybrid', dtype)
        for _ in range(warmup):
            steps[mode].train()
            if mode != 'imperative':
                steps[mode].infer()  # the inference graph is built on its first call
        steps[mode].sync()
        # GPU: memory in use on the device after warm-up; CPU: peak RSS of a fresh process
        memory[mode] = _gpu_memory_mb(ctx) - before if gpu else \
            memory_probe(spec, batch, mode, dtype)
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
    out = dict(spec, batch_size=batch, device=str(ctx), dtype=dtype, iters=iters,
               repeat=repeat, modes={})
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
    return '%s, %d cores; MXNet %s (%s), OMP_NUM_THREADS=%s' % (
        cpu, os.cpu_count() or 0, mx.__version__,
        ', '.join(f for f in ('MKLDNN', 'CUDA', 'CUDNN') if feats.is_enabled(f)) or 'plain',
        os.environ.get('OMP_NUM_THREADS', 'unset'))


def markdown(results):
    lines = ['| network | depth | batch | Gluon hybrid img/s (min-max) | Module img/s (min-max) '
             '| ratio (paired) | Gluon imperative img/s | ratio | inference hybrid / Module '
             'img/s | ratio | peak MB hybrid / Module / imperative |', '|' + '---|' * 11]
    for r in results:
        h, m = r['modes'].get('hybrid', {}), r['modes'].get('module', {})
        i = r['modes'].get('imperative', {})
        fmt = lambda row: '%.1f (%.1f-%.1f)' % (row['train_img_s'], row['train_min'],  # noqa
                                                row['train_max']) if row else '-'
        lines.append('| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |' % (
            r['network'], r.get('depth', '-'), r['batch_size'], fmt(h), fmt(m),
            ('%.2f (%.2f)' % (h['train_ratio'], h['train_ratio_paired'])
             if 'train_ratio_paired' in h else '%.2f' % h['train_ratio'])
            if 'train_ratio' in h else '-',
            '%.1f' % i['train_img_s'] if i else '-',
            '%.2f' % i['train_ratio'] if 'train_ratio' in i else '-',
            '%.1f / %.1f' % (h['infer_img_s'], m['infer_img_s']) if h and m else '-',
            '%.2f' % h['infer_ratio'] if 'infer_ratio' in h else '-',
            ' / '.join('%s' % (r['modes'][m].get('memory_mb') if m in r['modes'] else '-')
                       for m in MODES)))
    return '\n'.join(lines)


def plot(results, output):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    keys = sorted(set((r['network'], r['batch_size']) for r in results))
    for net, batch in keys:
        rows = sorted((r for r in results if (r['network'], r['batch_size']) == (net, batch)),
                      key=lambda r: r.get('depth') or 0)
        depths = [r.get('depth') for r in rows]
        for mode, style in (('hybrid', '-'), ('module', '--')):
            if all(mode in r['modes'] for r in rows):
                ax.plot(depths, [r['modes'][mode]['train_img_s'] for r in rows], style,
                        marker='o', label='%s batch %d, %s' % (net, batch, mode))
    ax.set(xlabel='num_depth', ylabel='training images/s', yscale='log',
           title='training throughput against depth and batch')
    ax.grid(alpha=0.3, which='both')
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(output, dpi=100)
    plt.close(fig)
    return output



def main(argv=None):
    p = argparse.ArgumentParser(prog='python -m fusenet_gluon.bench', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--network', default='cross', help='comma list of networks')
    p.add_argument('--depth', default='26', help='comma list of num_depth (CIFAR family)')
    p.add_argument('--widen-factor', type=int, default=1)
    p.add_argument('--classes', type=int, default=None)
    p.add_argument('--batch-size', default='32', help='comma list of batch sizes')
    p.add_argument('--gpus', default='', help="one GPU id, or '' for the CPU (default)")
    p.add_argument('--modes', default=','.join(MODES), help='comma list of %s' % ', '.join(MODES))
    p.add_argument('--iters', type=int, default=10, help='steps per timing')
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--repeat', type=int, default=3, help='timings per mode (median, spread)')
    p.add_argument('--dtype', choices=['float32', 'float16'], default='float32')
    p.add_argument('--json', default=None, help='write the results to this file')
    p.add_argument('--markdown', action='store_true', help='print a markdown table')
    p.add_argument('--plot', default=None, help='PNG of throughput against depth and batch')
    args = p.parse_args(argv)
    ctxs = get_contexts(args.gpus)
    if len(ctxs) != 1:
        raise UserError('the benchmark runs on one device; give one GPU id or --gpus ""')
    modes = [m for m in args.modes.split(',') if m]
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise UserError('unknown mode(s) %s; choose from %s' % (bad, ', '.join(MODES)))
    print('# ' + machine(), flush=True)
    results = []
    for network in args.network.split(','):
        network = arch.canonical_name(network)
        imagenet = network in arch.IMAGENET_NETWORKS
        for depth in ([None] if imagenet else parse_ints(args.depth, '--depth', '26,56')):
            spec = dict(network=network, classes=args.classes or (1000 if imagenet else 10))
            if not imagenet:
                arch.num_blocks(network, depth)  # a clear error for a bad depth, before work
                spec.update(depth=depth, widen_factor=args.widen_factor)
            for batch in parse_ints(args.batch_size, '--batch-size', '32,64'):
                print('%s depth %s batch %d on %s ...' % (network, depth, batch, ctxs[0]),
                      flush=True)
                r = bench_config(spec, batch, ctxs[0], modes, args.iters, args.warmup,
                                 args.repeat, args.dtype, log=lambda s: print(s, flush=True))
                results.append(r)
                for mode, row in r['modes'].items():
                    print('  %-10s train %7.1f img/s (%.1f-%.1f)%s%s' % (
                        mode, row['train_img_s'], row['train_min'], row['train_max'],
                        '  x%.2f of module (paired x%.2f)' % (
                            row['train_ratio'], row['train_ratio_paired'])
                        if 'train_ratio' in row else '',
                        '  infer %.1f img/s' % row['infer_img_s'] if 'infer_img_s' in row
                        else ''), flush=True)
    if args.markdown:
        print(markdown(results))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(machine=machine(), results=results), f, indent=1)
    if args.plot:
        print('plot in', plot(results, args.plot))
    return 0


def cli():
    raise SystemExit(run_cli(main, 'python -m fusenet_gluon.bench'))


if __name__ == '__main__':
    cli()
