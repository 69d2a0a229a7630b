"""Where two CPU devices serialize: the evidence behind docs/performance.md's section
"Several CPU devices".

    python benchmarks/devices.py [--depth 26] [--batch-size 64] [--steps 10]

Each configuration runs in a fresh process (MXNet reads ``MXNET_CPU_TEMP_COPY`` once, when
it makes its pool of temporary workspaces): the library's Gluon training step
(``fusenet_gluon.timing.GluonStep``: the batch split over the devices, forward, backward,
the update) and ``mx.mod.Module``, on 1 and 2 CPU devices, with MXNet's default 4
workspaces and with 64. For each it reports

* img/s of whole training steps (no profiler),
* host ms per step: how long the Python calls of a step take to return (the work they
  queue runs on the engine's device workers),
* overlap: from MXNet's profiler, the fraction of the time some device works during which
  both devices work (1.0 would be two devices fully side by side; 0 one after the other).

A benchmark, not a test: it reports numbers and asserts nothing.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def operator_spans(trace, pid):
    """(operator name, start, end) in microseconds of every operator device `pid` ran, from
    the begin and end events of MXNet's profiler trace."""
    open_at = {}
    for e in trace:
        if e.get('pid') != pid or e.get('ph') not in ('B', 'E'):
            continue
        key = (e.get('tid'), e.get('name'))
        if e['ph'] == 'B':
            open_at[key] = e['ts']
        elif key in open_at:
            yield e['name'], open_at.pop(key), e['ts']


def busy_intervals(trace, pid):
    """Merged [start, end) microsecond intervals in which device `pid` runs an operator."""
    merged = []
    for s, t in sorted((s, t) for _, s, t in operator_spans(trace, pid)):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], t)
        else:
            merged.append([s, t])
    return merged


def overlap(a, b):
    """Time both interval lists cover over the time either covers."""
    both, i, j = 0, 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        both += max(0, hi - lo)
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    total = sum(t - s for s, t in a) + sum(t - s for s, t in b) - both
    return both / total if total else 0.0


def child(mode, devices, depth, batch, steps):
    import mxnet as mx
    from fusenet_gluon import timing
    from fusenet_gluon.spec import NetworkSpec
    spec = NetworkSpec('cross', depth=depth)
    ctx = [mx.cpu(i) for i in range(devices)]
    step = timing.ModuleStep(spec, batch, ctx if devices > 1 else ctx[0], 'float32') \
        if mode == 'module' else timing.GluonStep(spec, batch, ctx, True, 'float32')
    for _ in range(3):
        step.train()
    mx.nd.waitall()
    host, tic = 0.0, time.perf_counter()
    for _ in range(steps):
        t = time.perf_counter()
        step.train()
        host += time.perf_counter() - t
    mx.nd.waitall()
    wall = time.perf_counter() - tic
    out = dict(mode=mode, devices=devices, temp_copy=os.environ.get('MXNET_CPU_TEMP_COPY'),
               img_s=round(steps * batch / wall, 1), host_ms=round(1000 * host / steps, 2),
               rss_mb=round(timing._peak_mb()))
    if devices > 1:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, 'trace.json')
            mx.profiler.set_config(profile_all=True, filename=path)
            mx.profiler.set_state('run')
            for _ in range(steps):
                step.train()
            mx.nd.waitall()
            mx.profiler.set_state('stop')
            mx.profiler.dump()
            with open(path) as f:
                trace = json.load(f)['traceEvents']
        out['overlap'] = round(overlap(busy_intervals(trace, 0), busy_intervals(trace, 1)), 3)
    print(json.dumps(out))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--depth', type=int, default=26)
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--copies', default='4,64',
                   help='values of MXNET_CPU_TEMP_COPY to run, comma-separated')
    p.add_argument('--devices', default='1,2', help='device counts, comma-separated')
    p.add_argument('--modes', default='gluon,module', help='gluon, module or both')
    p.add_argument('--child', nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args.child[0], int(args.child[1]), args.depth, args.batch_size,
                     args.steps)
    rows = []
    for copies in args.copies.split(','):
        for mode in args.modes.split(','):
            for devices in map(int, args.devices.split(',')):
                env = dict(os.environ, MXNET_CPU_TEMP_COPY=copies, PYTHONPATH=ROOT)
                r = subprocess.run([sys.executable, __file__, '--child', mode, str(devices),
                                    '--depth', str(args.depth), '--batch-size',
                                    str(args.batch_size), '--steps', str(args.steps)],
                                   env=env, capture_output=True, text=True)
                if r.returncode:
                    raise SystemExit(r.stderr[-2000:])
                rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
                print(rows[-1], flush=True)
    print('\n| MXNET_CPU_TEMP_COPY | path | devices | img/s | host ms/step | overlap '
          '| peak RSS MB |')
    print('|---|---|---|---|---|---|---|')
    for r in rows:
        print('| %s | %s | %d | %.1f | %.2f | %s | %d |' % (
            r['temp_copy'], r['mode'], r['devices'], r['img_s'], r['host_ms'],
            r.get('overlap', '-'), r['rss_mb']))


if __name__ == '__main__':
    main()
