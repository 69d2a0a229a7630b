"""How long each CPU device computes in a training run: train_cifar.py against Module.fit,
from MXNet's profiler.

    python benchmarks/device_busy.py [--epochs 3] [--devices 2]

Each side runs in a fresh process with MXNet's profiler on: ``train_cifar.py`` on the packed
digits, and ``Module.fit`` as ``benchmarks/end_to_end.py`` trains it (same records, network,
batch, NAG, the 'device' kvstore). From each trace: the wall time, how long each device
worked, the overlap of the two devices, each device's time in forward segments (MXNet
bulks operators into segments), backward segments and the other operators, and how many
long segments ran after the other device's instead of beside it (``turns``). The Module run
does no validation; ``train_cifar.py`` validates after every epoch (about a second of
device time over 3 epochs here). It reports numbers and asserts nothing
(docs/performance.md, "End to end").
"""
import argparse
import collections
import json
import os
import runpy
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)


def kind(name):
    if '_backward' in name:
        return 'backward'
    return 'forward' if ',' in name or name.startswith('[') else 'other'


def child(side, epochs, devices, trace_path):
    import mxnet as mx
    from fusenet_gluon.data.digits import ensure_digits
    folder = ensure_digits(quiet=True)
    mx.profiler.set_config(profile_all=True, filename=trace_path)
    mx.profiler.set_state('run')
    if side == 'gluon':
        with tempfile.TemporaryDirectory() as tmp:
            sys.argv = ['train_cifar.py', '--network', 'cross', '--depth', '26', '--data-dir',
                        folder, '--gpus', '', '--cpu-devices', str(devices), '--batch-size',
                        '64', '--num-epochs', str(epochs), '--rand-seed', '1', '--no-plot',
                        '--model-prefix', os.path.join(tmp, 'm')]
            try:
                runpy.run_path(os.path.join(ROOT, 'train_cifar.py'), run_name='__main__')
            except SystemExit:
                pass
    else:
        import end_to_end
        from fusenet_gluon.spec import NetworkSpec
        end_to_end.module_run(folder, NetworkSpec('cross', depth=26), 64, devices, epochs,
                              'device')
    mx.nd.waitall()
    mx.profiler.set_state('stop')
    mx.profiler.dump()


def summary(trace_path, devices):
    import devices as dv
    with open(trace_path) as f:
        trace = json.load(f)['traceEvents']
    stamps = [e['ts'] for e in trace if 'ts' in e and e.get('pid') in range(devices)]
    row = dict(wall_s=(max(stamps) - min(stamps)) / 1e6)
    for pid in range(devices):
        by = collections.Counter()
        for name, start, end in dv.operator_spans(trace, pid):
            by[kind(name)] += end - start
        row['device %d' % pid] = {k: round(v / 1e6, 2) for k, v in by.items()}
        row['device %d' % pid]['busy'] = round(
            sum(e - s for s, e in dv.busy_intervals(trace, pid)) / 1e6, 2)
    if devices > 1:
        row['overlap'] = round(dv.overlap(dv.busy_intervals(trace, 0),
                                          dv.busy_intervals(trace, 1)), 3)
        row['turns'] = turns(trace)
    return row


def turns(trace, longer_than_us=20000):
    """How many of device 0's long segments (over 20 ms: a training graph's forward or
    backward in 1000-operator segments) ran wholly before or after device 1's of the same
    rank: the devices took turns instead of computing side by side (models.common.graph_edge)."""
    import devices as dv
    long = [[(s, t) for n, s, t in sorted(dv.operator_spans(trace, pid), key=lambda x: x[1])
             if ',' in n and t - s > longer_than_us] for pid in (0, 1)]
    return sum(min(b, d) <= max(a, c) for (a, b), (c, d) in zip(*long))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--epochs', type=int, default=3)
    p.add_argument('--devices', type=int, default=2)
    p.add_argument('--child', help=argparse.SUPPRESS)
    p.add_argument('--trace', help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args.child, args.epochs, args.devices, args.trace)
    with tempfile.TemporaryDirectory() as tmp:
        for side in ('gluon', 'module'):
            path = os.path.join(tmp, side + '.json')
            r = subprocess.run([sys.executable, __file__, '--child', side, '--trace', path,
                                '--epochs', str(args.epochs), '--devices', str(args.devices)],
                               capture_output=True, text=True, cwd=ROOT)
            if r.returncode:
                raise SystemExit(r.stderr[-2000:])
            print(side, json.dumps(summary(path, args.devices)), flush=True)


if __name__ == '__main__':
    main()
