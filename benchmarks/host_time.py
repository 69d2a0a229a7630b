"""The main thread's CPU time per training step, Gluon against Module, on 1 and 2 CPU devices.

    python benchmarks/host_time.py [--depths 26,110] [--steps 20]

For each depth and device count: the Gluon step of the library (``timing.GluonStep``: split,
forward, backward, the lean update) and ``mx.mod.Module`` (``timing.ModuleStep``), each step
waited for before the next, ``time.thread_time()`` around the step's Python calls. Then two
parts of it: one ``nag_mom_update`` call as ``mx.nd.nag_mom_update`` makes it and as
``optim._NagCalls`` does (num_depth 26's weights), and the first batch of a freshly made
``ImageRecordIter`` on the packed digits (what the RecordIO loader now makes ahead). It
reports numbers and asserts nothing (docs/performance.md, "Several CPU devices").
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


def update_call_us(depth, reps=10):
    """Microseconds of one NAG update call: the generated function, then the prepared one."""
    from fusenet_gluon.model_zoo import from_spec
    from fusenet_gluon.optim import _NagCalls
    net = from_spec(NetworkSpec('cross', depth=depth))
    net.initialize()
    net(mx.nd.zeros((1,) + net.input_shape))
    ws = [p.data() for p in net.collect_params().values()]
    triples = [(w, w.ones_like(), w.zeros_like()) for w in ws]
    kw = dict(lr=0.1, wd=1e-4, momentum=0.9, rescale_grad=1 / 64.)
    prepared = _NagCalls(triples)
    out = []
    for call in (lambda: [mx.nd.nag_mom_update(w, g, m, out=w, **kw) for w, g, m in triples],
                 lambda: prepared(**kw)):
        mx.nd.waitall()
        tic = time.perf_counter()
        for _ in range(reps):
            call()
        out.append(1e6 * (time.perf_counter() - tic) / (reps * len(triples)))
        mx.nd.waitall()
    return out


def first_batch_ms(reps=3):
    """Milliseconds from making the digits' training ImageRecordIter to its first batch."""
    from fusenet_gluon.data.digits import ensure_digits
    from fusenet_gluon.data.loaders import get_loaders
    train, _ = get_loaders('digits', ensure_digits(quiet=True), 64, 'recordio', seed=1)
    times = []
    for r in range(reps):
        tic = time.perf_counter()
        next(iter(mx.io.ImageRecordIter(seed=r, seed_aug=r, **train._kw)))
        times.append(1000 * (time.perf_counter() - tic))
    return sorted(times)[len(times) // 2]


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
    generated, prepared = update_call_us(26)
    print('nag_mom_update, one call: mx.nd.nag_mom_update %.1f us, optim._NagCalls %.1f us'
          % (generated, prepared))
    print('a fresh ImageRecordIter to its first batch (digits, batch 64): %.0f ms (median of 3)'
          % first_batch_ms())


if __name__ == '__main__':
    main()
