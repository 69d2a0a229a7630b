"""DFN-MR's merge weight in the training graph: the depthwise convolution against the
original's ``_mul_scalar`` node, and both against mx.mod.Module, in one process, interleaved.

    python benchmarks/merge_weight.py [--devices 1,2] [--depth 26] [--rounds 8] [--parts]
    DNNL_MAX_CPU_ISA=AVX2 python benchmarks/merge_weight.py    # oneDNN's AVX2 kernels
    python benchmarks/merge_weight.py --reorders                # oneDNN's log of one step

Three training steps (forward, backward, the NAG update; DFN-MR, a random batch of 64 split
over the CPU devices, already on them) take turns, a block of ``--iters`` steps each,
``--rounds`` times: ``convolution`` is the library's step; ``mul_scalar`` is the same step
with the network built with the original's node (``merge_weigher`` made to answer None while
its graph is built); ``module`` is the original's engine (``fusenet_gluon.timing``). The
figure to read is the median over the rounds of each step's img/s over the Module's of the
same round. ``--parts`` adds the forward and backward alone (no gradient sum, no update) of
``convolution`` and of the Module (``forward_backward``).

``--reorders``: one training step of each graph (one device, batch 32) in a fresh process
under ``DNNL_VERBOSE=1``, after two steps of warm-up: oneDNN's reorders of whole maps (not
of weights) and oneDNN's time by primitive.

A benchmark, not a test: it reports numbers and asserts nothing.
"""
import argparse
import collections
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import mxnet as mx  # noqa: E402

from fusenet_gluon.models import cifar, imagenet  # noqa: E402
from fusenet_gluon.spec import NetworkSpec  # noqa: E402
from fusenet_gluon.timing import GluonStep, ModuleStep, _time, machine, spread  # noqa: E402


def steps(spec, batch, ctx, warmup=3):
    made = {'convolution': GluonStep(spec, batch, ctx, True, 'float32')}
    module = imagenet if spec.network.startswith('imagenet') else cifar
    real = module.merge_weigher
    module.merge_weigher = lambda F, channels, branch: None
    try:
        made['mul_scalar'] = GluonStep(spec, batch, ctx, True, 'float32')
        for _ in range(warmup):  # the graph is built at the first training call
            made['mul_scalar'].train()
    finally:
        module.merge_weigher = real
    made['module'] = ModuleStep(spec, batch, ctx if len(ctx) > 1 else ctx[0], 'float32')
    for step in made.values():
        for _ in range(warmup):
            step.train()
        step.sync()
    return made


ONE_STEP = r'''
import sys
sys.path.insert(0, %r)
import mxnet as mx
from mxnet import autograd, gluon
from fusenet_gluon.models import cifar
from fusenet_gluon.model_zoo import get_model
if %r:
    cifar.merge_weigher = lambda F, channels, branch: None
x, y = mx.nd.random.uniform(shape=(32, 3, 32, 32)), mx.nd.array([i %% 10 for i in range(32)])
net = get_model('cross', depth=%d)
net.initialize(mx.init.Xavier())
net.hybridize(static_alloc=True, static_shape=True)
loss = gluon.loss.SoftmaxCrossEntropyLoss()
for i in range(3):
    if i == 2:
        print('=== step', flush=True)
    with autograd.record():
        out = loss(net(x), y)
    out.backward()
    mx.nd.waitall()
'''


def reorders(depth):
    """oneDNN's log of one training step of each graph, summarised."""
    print('| graph | reorders of whole maps (blocked to plain, plain to blocked) '
          '| oneDNN ms by primitive |\n|---|---|---|')
    for name, original in (('convolution', False), ('mul_scalar', True)):
        out = subprocess.run([sys.executable, '-c', ONE_STEP % (ROOT, original, depth)],
                             capture_output=True, text=True, env=dict(os.environ, DNNL_VERBOSE='1'))
        lines = out.stdout.split('=== step', 1)[-1].splitlines()
        fields = [l.split(',') for l in lines if l.startswith('dnnl_verbose,exec')]
        ms, maps = collections.Counter(), collections.Counter()
        for f in fields:
            ms[f[3]] += float(f[-1])
            dims = f[-2].split('x')
            if f[3] == 'reorder' and len(dims) == 4 and dims[0] == '32' and int(dims[2]) >= 8:
                kinds = f[6].split()
                maps['to plain' if kinds[-1].endswith(':abcd:f0') else 'to blocked'
                     if kinds[0].endswith(':abcd:f0') else 'blocked to blocked'] += 1
        print('| %s | %d, %d (and %d copies) | %s |' % (
            name, maps['to plain'], maps['to blocked'], maps['blocked to blocked'],
            ', '.join('%s %.1f' % kv for kv in ms.most_common())))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--devices', default='1,2', help='comma list of CPU device counts')
    p.add_argument('--depth', type=int, default=26)
    p.add_argument('--imagenet', action='store_true',
                   help="the ImageNet DFN-MR (224x224, the original code's blocks) instead")
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--iters', type=int, default=10)
    p.add_argument('--rounds', type=int, default=8)
    p.add_argument('--parts', action='store_true',
                   help='also the forward and backward alone, Gluon and Module')
    p.add_argument('--reorders', action='store_true',
                   help="only oneDNN's log of one step of each graph (see the docstring)")
    args = p.parse_args()
    print('# ' + machine())
    if args.reorders:
        return reorders(args.depth)
    print('| CPU devices | step | img/s, median (min-max) | paired ratio to Module, '
          'median (min-max) |\n|---|---|---|---|')
    for n in [int(d) for d in args.devices.split(',')]:
        spec = NetworkSpec('imagenet_cross') if args.imagenet else NetworkSpec('cross', args.depth)
        made = steps(spec, args.batch_size, [mx.cpu(i) for i in range(n)])
        if args.parts:
            gluon, module = made['convolution'], made['module']
            made['convolution, forward and backward'] = lambda: gluon.step.forward_backward(
                gluon.x, gluon.y)
            made['module, forward and backward'] = lambda: module.mod.forward_backward(
                module.batch)
        speed = {k: [] for k in made}
        for _ in range(args.rounds):
            for name, step in made.items():
                run = step if callable(step) else step.train
                speed[name].append(args.batch_size * args.iters
                                   / _time(made['module'], run, args.iters))
        base = np.array(speed['module'])
        for name, got in speed.items():
            got = np.array(got)
            ratio = got / base
            print('| %d | %s | %s | %s |' % (n, name, spread(got), spread(ratio, 3, 2)),
                  flush=True)


if __name__ == '__main__':
    main()
