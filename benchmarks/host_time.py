"""The main thread's CPU time per training step, Gluon against Module, on 1 and 2 CPU devices.

    python benchmarks/host_time.py [--depths 26,110] [--steps 20]

For each depth and device count: the Gluon step of the library (``timing.GluonStep``: split,
forward, backward, the lean update) and ``mx.mod.Module`` (``timing.ModuleStep``), each step
waited for before the next, ``time.thread_time()`` around the step's Python calls. It
reports numbers and asserts nothing (docs/performance.md, "Host time per device").
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import mxnet as mx  # noqa: E402

from fusenet_gluon.spec import NetworkSpec  # noqa: E402
from fusenet_gluon.timing import GluonStep, ModuleStep, machine  # noqa: E402


def host_ms(step, steps):
    """Mean main-thread CPU ms of one step, each step waited for."""
    for _ in range(3):
        step.train()
    mx.nd.waitall()
    total = 0.0
    for _ in range(steps):
        tic = time.thread_time()
        step.train()
        total += time.thread_time() - tic
        mx.nd.waitall()
    return 1000 * total / steps


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--depths', default='26,110')
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--steps', type=int, default=20)
    args = p.parse_args()
    print('# ' + machine())
    print('| num_depth | devices | Gluon ms | Module ms |\n|---|---|---|---|')
    for depth in map(int, args.depths.split(',')):
        spec = NetworkSpec('cross', depth=depth)
        for n in (1, 2):
            ctx = [mx.cpu(i) for i in range(n)]
            gluon = host_ms(GluonStep(spec, args.batch_size, ctx, True, 'float32'), args.steps)
            module = host_ms(ModuleStep(spec, args.batch_size, ctx if n > 1 else ctx[0],
                                        'float32'), args.steps)
            print('| %d | %d | %.1f | %.1f |' % (depth, n, gluon, module), flush=True)


if __name__ == '__main__':
    main()
