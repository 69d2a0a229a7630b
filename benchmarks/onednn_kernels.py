"""Where a training step's time goes, kernel by kernel, from oneDNN's verbose log.

    python benchmarks/onednn_kernels.py [--network cross] [--depth 26] [--batch-size 32]
                                        [--isa AVX2] [--old-head] [--amp] [--operators]

Each side runs in a fresh process with ``DNNL_VERBOSE=1``: training steps (forward and
backward, no update) of the Gluon network of this package, hybridized, and of the original's
graph under ``mx.mod.Module``; the oneDNN primitives of the last three of five steps are
summed by kind and implementation, per step (``ref:any``, ``bnorm_ref:any``: oneDNN's
unoptimised reference code). ``--isa AVX2`` caps oneDNN at AVX2 (``DNNL_MAX_CPU_ISA``), as
on this project's AVX2-only machines;
``--old-head`` trains the Gluon network through MXNet's average pooling, as before the
heads' sum pooling (``fusenet_gluon.models.common.average_pool``); ``--amp`` trains the
Gluon side in bfloat16 AMP (``amp.init``, as ``train_cifar.py --amp`` on the CPU) and skips
the Module. The times are oneDNN's
own: a benchmark, not a test (docs/performance.md, "A oneDNN trap at the heads").
``--operators`` times the same steps by MXNet operator instead (MXNet's profiler, each
operator run alone), grouped into convolutions, BatchNorm and ReLU, the merges, and the
rest: what is left to gain once the convolutions, the same kernels on both sides, are set
aside.
"""
import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARK = '=== measured steps ==='

CHILD = r'''
import sys
sys.path.insert(0, %(root)r)
import mxnet as mx
import fusenet_gluon
from fusenet_gluon.spec import NetworkSpec
spec = NetworkSpec(%(network)r, depth=%(depth)d)
x = mx.nd.random.uniform(shape=(%(batch)d,) + spec.input_shape)
y = mx.nd.array([i %% spec.classes for i in range(%(batch)d)])
if %(module)r:
    from fusenet_gluon.upstream import upstream_symbol
    mod = mx.mod.Module(upstream_symbol(spec), context=mx.cpu())
    mod.bind(data_shapes=[('data', x.shape)], label_shapes=[('softmax_label', y.shape)])
    mod.init_params(mx.init.Xavier())
    batch = mx.io.DataBatch([x], [y])
    def step():
        mod.forward_backward(batch)
else:
    from mxnet import autograd, gluon
    if %(amp)r:
        from mxnet.contrib import amp
        amp.init(target_dtype='bfloat16')
    if %(old_head)r:  # MXNet's own average pooling at the head, as before
        from fusenet_gluon.models import common, ensemble
        def pooling(F, x, name=None, **kwargs):
            return F.Pooling(x, **dict(kwargs, **({'name': name} if name else {})))
        common.average_pool = ensemble.average_pool = pooling
    net = fusenet_gluon.model_zoo.from_spec(spec)
    net.initialize(mx.init.Xavier())
    net.hybridize(static_alloc=True, static_shape=True)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    def step():
        with autograd.record():
            out = loss(net(x), y)
        out.backward()
if %(operators)r:
    from mxnet import profiler
    profiler.set_config(profile_all=True, aggregate_stats=True, filename=%(trace)r)
for i in range(2 + %(steps)d):
    mx.nd.waitall()
    if i == 2:
        print(%(mark)r, flush=True)
        if %(operators)r:
            profiler.set_state('run')
    step()
    mx.nd.waitall()
if %(operators)r:
    profiler.set_state('stop')
    print(profiler.dumps(format='json'))
'''


def _measured_output(env, isa, operators, **fields):
    """What a fresh process running :data:`CHILD` with `fields` printed once the measured
    steps began, under `env` with oneDNN capped at `isa` if given; the end of its stderr,
    as the exit message, if it failed."""
    if isa:
        env['DNNL_MAX_CPU_ISA'] = isa
    with tempfile.TemporaryDirectory() as tmp:   # the profiler's trace file, if any
        code = CHILD % dict(fields, root=ROOT, mark=MARK, operators=operators,
                            trace=os.path.join(tmp, 'profile.json'))
        out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True,
                             text=True, cwd=tmp)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    return out.stdout.split(MARK, 1)[1]


def kernel_times(network, depth, batch, module, isa=None, old_head=False, steps=3,
                 amp=False):
    """{(primitive, implementation): (calls, ms)} per step, the mean over `steps` steps after
    two, from a fresh process."""
    lines = _measured_output(dict(os.environ, DNNL_VERBOSE='1'), isa, False, network=network,
                             depth=depth, batch=batch, module=module, old_head=old_head,
                             steps=steps, amp=amp).splitlines()
    totals = collections.defaultdict(lambda: [0, 0.0])
    for line in lines:
        fields = line.split(',')
        if fields[:2] != ['dnnl_verbose', 'exec']:
            continue
        key = (fields[3], fields[4])
        totals[key][0] += 1
        totals[key][1] += float(fields[-1])
    return {k: (calls / steps, ms / steps) for k, (calls, ms) in totals.items()}


def operator_times(network, depth, batch, module, isa=None, old_head=False, steps=3,
                   amp=False):
    """{operator: ms} per step from MXNet's profiler, each operator run alone
    (``MXNET_EXEC_BULK_EXEC_TRAIN=0``: bulked segments would hide which operator took the
    time), the mean over `steps` steps after two, from a fresh process."""
    env = {k: v for k, v in os.environ.items()   # a verbose log would mix with the JSON
           if k not in ('DNNL_VERBOSE', 'MKLDNN_VERBOSE')}
    env['MXNET_EXEC_BULK_EXEC_TRAIN'] = '0'
    stats = json.loads(_measured_output(env, isa, True, network=network, depth=depth,
                                        batch=batch, module=module, old_head=old_head,
                                        steps=steps, amp=amp))['Time']
    times = {op: row['Total'] / steps for domain, ops in stats.items()
             if domain.startswith('operator') for op, row in ops.items()}
    bulked = [op for op in times if ',' in op]   # a segment's name lists its operators
    if bulked:
        raise SystemExit('operators ran in bulked segments (%s...): MXNET_EXEC_BULK_EXEC_TRAIN '
                         'was not honoured' % bulked[0][:60])
    return times


#: How --operators groups MXNet's operators (forward and backward alike); the rest is "other".
OPERATOR_GROUPS = (('convolution', ('Convolution',)),
                   ('BatchNorm and ReLU', ('BatchNorm', 'Activation')),
                   ('merges (sums, scalar multiply)', ('add_n', 'elemwise_add', 'mul_scalar')))


def operator_table(label, times):
    """Print MXNet's per-operator time of one side, grouped by :data:`OPERATOR_GROUPS`."""
    total = sum(times.values())
    groups = collections.OrderedDict((name, 0.0) for name, _ in OPERATOR_GROUPS)
    groups['other'] = 0.0
    for op, ms in times.items():
        name = next((n for n, keys in OPERATOR_GROUPS if any(k in op for k in keys)), 'other')
        groups[name] += ms
    print('\n%s: %.1f ms a step in MXNet\'s operators, each run alone' % (label, total))
    print('| operators | ms | share |\n|---|---|---|')
    for name, ms in groups.items():
        print('| %s | %.1f | %.0f%% |' % (name, ms, 100 * ms / total))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--network', default='cross')
    p.add_argument('--depth', type=int, default=26)
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--isa', default=None, help='DNNL_MAX_CPU_ISA, e.g. AVX2')
    p.add_argument('--amp', action='store_true', help='the Gluon side in bfloat16 AMP, no Module')
    p.add_argument('--old-head', action='store_true',
                   help="the Gluon side pools with MXNet's average pooling (as before)")
    p.add_argument('--operators', action='store_true',
                   help="MXNet's profiler by operator instead of oneDNN's log by kernel")
    args = p.parse_args(argv)
    if args.network == 'ensemble':
        p.error('the ensemble trains with a loss per component: give a network with one output')
    if args.isa:   # the children inherit it, and the header line names it
        os.environ['DNNL_MAX_CPU_ISA'] = args.isa
    sys.path.insert(0, ROOT)
    from fusenet_gluon.timing import machine
    print('# %s; %s %d, batch %d' % (machine(), args.network, args.depth, args.batch_size))
    sides = [('Gluon' + (' (old head)' if args.old_head else '') +
              (', bfloat16 AMP' if args.amp else ''), False)] + [('Module', True)] * (not args.amp)
    for label, module in sides:
        if args.operators:
            operator_table(label, operator_times(args.network, args.depth, args.batch_size,
                                                 module, args.isa, args.old_head,
                                                 amp=args.amp))
            continue
        times = kernel_times(args.network, args.depth, args.batch_size, module, args.isa,
                             args.old_head, amp=args.amp)
        total = sum(ms for _, ms in times.values())
        ref = sum(ms for (_, impl), (_, ms) in times.items()
                  if impl.split(':')[0].endswith('ref'))
        print('\n%s: %.1f ms in oneDNN, %.1f ms (%.0f%%) in reference kernels' % (
            label, total, ref, 100 * ref / total))
        print('| primitive | implementation | calls | ms | share |\n|---|---|---|---|---|')
        for (prim, impl), (calls, ms) in sorted(times.items(), key=lambda kv: -kv[1][1]):
            if ms >= 0.005 * total:
                print('| %s | %s | %g | %.1f | %.0f%% |' % (prim, impl, calls, ms,
                                                          100 * ms / total))


if __name__ == '__main__':
    main()
