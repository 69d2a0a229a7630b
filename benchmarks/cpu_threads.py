"""How many cores a CPU device trains on: MXNet's default OpenMP threads against the physical
cores shared out (fusenet_gluon.cpu_threads.share_cores), one and two devices.

    python benchmarks/cpu_threads.py [--depth 26] [--batch-size 64] [--steps 10] [--repeat 2]

Each row is a fresh process training DFN-MR on random data (the Gluon step of training, or
the original's graph under ``mx.mod.Module``), the batch split over the devices: img/s, and
the process's CPU time over wall time (how many cores were busy). ``default`` leaves each
device's engine worker the threads MXNet gives it (``omp_get_num_procs() >> 1`` on x86);
``shared`` runs ``share_cores`` first, as ``train_cifar.py`` and the bench do. The rows are
interleaved over ``--repeat`` rounds. A benchmark, not a test: it reports numbers and asserts
nothing (docs/performance.md, "One device, half the cores").
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r'''
import json, sys, time
sys.path.insert(0, %(root)r)
import mxnet as mx
from fusenet_gluon.cpu_threads import share_cores
from fusenet_gluon.spec import NetworkSpec
from fusenet_gluon.timing import GluonStep, ModuleStep
ctx = [mx.cpu(i) for i in range(%(devices)d)]
if %(shared)r:
    share_cores(ctx)
spec = NetworkSpec('cross', depth=%(depth)d)
step = (GluonStep(spec, %(batch)d, ctx, True, 'float32') if %(path)r == 'gluon' else
        ModuleStep(spec, %(batch)d, ctx if len(ctx) > 1 else ctx[0], 'float32'))
for _ in range(3):
    step.train()
step.sync()
wall, cpu = time.perf_counter(), time.process_time()
for _ in range(%(steps)d):
    step.train()
step.sync()
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps([%(batch)d * %(steps)d / wall, cpu / wall]))
'''


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--depth', type=int, default=26)
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--repeat', type=int, default=2)
    args = p.parse_args(argv)
    sys.path.insert(0, ROOT)
    from fusenet_gluon.timing import machine
    env = {k: v for k, v in os.environ.items() if k != 'OMP_NUM_THREADS'}
    rows = [(path, devices, shared) for devices in (1, 2) for shared in (False, True)
            for path in ('gluon', 'module')]
    seen = {row: [] for row in rows}
    print('# ' + machine() + '; DNNL_MAX_CPU_ISA=%s' % os.environ.get('DNNL_MAX_CPU_ISA', ''),
          flush=True)
    for round_ in range(args.repeat):
        for path, devices, shared in rows:
            code = CHILD % dict(root=ROOT, devices=devices, shared=shared, depth=args.depth,
                                batch=args.batch_size, path=path, steps=args.steps)
            out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                                 env=env, cwd=ROOT)
            if out.returncode != 0:
                sys.exit('a run failed: ' + out.stderr[-500:])
            seen[(path, devices, shared)].append(json.loads(out.stdout.splitlines()[-1]))
            print('round %d: %s, %d device(s), %s threads: %.1f img/s, %.2f cores busy' % (
                round_ + 1, path, devices, 'shared' if shared else 'default',
                *seen[(path, devices, shared)][-1]), flush=True)
    print('\n| path | devices | threads | img/s (runs) | cores busy |\n|---|---|---|---|---|')
    for path, devices, shared in rows:
        runs = seen[(path, devices, shared)]
        print('| %s | %d | %s | %s | %.2f |' % (
            'Gluon' if path == 'gluon' else 'Module', devices,
            'shared cores' if shared else "MXNet's default",
            ', '.join('%.1f' % r[0] for r in runs), sum(r[1] for r in runs) / len(runs)))


if __name__ == '__main__':
    main()
