"""The experiments behind the "what was tried" table of docs/performance.md (CPU).

    python benchmarks/levers.py [--depth 26] [--batch-size 32]

1. The optimizer step alone (fresh gradients), with the multi-factor lr schedule that
   training uses: gluon.Trainer, the library's FastTrainer and mx.mod.Module.update, on the
   same DFN-MR; FastTrainer's parameters compared with gluon.Trainer's after a few steps.
2. Training throughput of hybridize variants (static memory, none, the MKL-DNN subgraph
   backend, larger bulks) against the Module, interleaved, with paired ratios.
3. Whether this build runs an NHWC convolution.
Thread settings are environment variables: run the bench under them, e.g.
``OMP_NUM_THREADS=1 python -m fusenet_gluon.bench --modes hybrid,module``.
"""
import argparse
import time

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from fusenet_gluon import get_model
from fusenet_gluon.spec import NetworkSpec
from fusenet_gluon.timing import GluonStep, ModuleStep, _time
from fusenet_gluon.optim import FastTrainer
from fusenet_gluon.training.recipe import initializer


def schedule():
    return mx.lr_scheduler.MultiFactorScheduler([1000, 2000], 0.1, base_lr=0.1)


def step_alone(depth, batch, n=30):
    x = mx.nd.random.uniform(shape=(batch, 3, 32, 32))
    y = mx.nd.array(np.arange(batch) % 10)
    weights = {}
    for cls in (gluon.Trainer, FastTrainer):
        mx.random.seed(0)
        net = get_model('cross', depth=depth)
        net.initialize(initializer())
        net.hybridize(static_alloc=True, static_shape=True)
        tr = cls(net.collect_params(), 'nag', dict(learning_rate=0.1, momentum=0.9, wd=1e-4,
                                                   lr_scheduler=schedule()), kvstore=None)
        loss = gluon.loss.SoftmaxCrossEntropyLoss()
        for _ in range(4):
            with autograd.record():
                l = loss(net(x), y)
            l.backward()
            tr.step(batch)
        weights[cls.__name__] = {k: p.data().asnumpy() for k, p in net.collect_params().items()}
        params = [p for p in net.collect_params().values() if p.grad_req != 'null']
        mx.nd.waitall()
        tic = time.perf_counter()
        for _ in range(n):
            for p in params:
                p.list_data()[0]._fresh_grad = True
            tr.step(batch)
        mx.nd.waitall()
        print('%-14s step alone %.1f ms (%d parameters)'
              % (cls.__name__, (time.perf_counter() - tic) / n * 1e3, len(params)))
    m = ModuleStep(NetworkSpec('cross', depth), batch, mx.cpu(), 'float32')
    m.mod.init_optimizer(kvstore=None, optimizer='nag', force_init=True, optimizer_params=dict(
        learning_rate=0.1, momentum=0.9, wd=1e-4, rescale_grad=1.0 / batch,
        lr_scheduler=schedule()))
    m.train()
    mx.nd.waitall()
    tic = time.perf_counter()
    for _ in range(n):
        m.mod.update()
    mx.nd.waitall()
    print('%-14s step alone %.1f ms' % ('Module.update', (time.perf_counter() - tic) / n * 1e3))
    a, b = weights['Trainer'], weights['FastTrainer']
    print('FastTrainer vs gluon.Trainer, max |difference| after 4 steps: %g'
          % max(float(np.abs(a[k] - b[k]).max()) for k in a))


def variants(depth, batch, reps=5, iters=5):
    spec = NetworkSpec('cross', depth)
    options = {
        'static (default)': dict(static_alloc=True, static_shape=True),
        'no static': {},
        'MKLDNN backend': dict(static_alloc=True, static_shape=True, backend='MKLDNN'),
        'bulk 64': dict(static_alloc=True, static_shape=True, forward_bulk_size=64,
                        backward_bulk_size=64),
    }
    steps = {}
    for name, kw in options.items():
        st = GluonStep(spec, batch, mx.cpu(), False, 'float32')
        try:
            st.net.hybridize(**kw)
            for _ in range(2):
                st.train()
            st.sync()
            steps[name] = st
        except mx.base.MXNetError as err:
            print('%-18s fails: %s' % (name, str(err).strip().splitlines()[0][:160]))
    module = ModuleStep(spec, batch, mx.cpu(), 'float32')
    module.train()
    module.sync()
    steps['Module'] = module
    rates = {k: [] for k in steps}
    for _ in range(reps):
        for k, st in steps.items():
            rates[k].append(batch * iters / _time(st, st.train, iters))
    base = np.array(rates['Module'])
    for k, v in rates.items():
        v = np.array(v)
        print('%-18s %.1f img/s (%.1f-%.1f), paired ratio to Module %.2f'
              % (k, np.median(v), v.min(), v.max(), np.median(v / base)))


def nhwc():
    try:
        mx.nd.Convolution(mx.nd.ones((1, 8, 8, 3)), mx.nd.ones((4, 3, 3, 3)), no_bias=True,
                          kernel=(3, 3), num_filter=4, layout='NHWC').wait_to_read()
        print('NHWC convolution runs')
    except mx.base.MXNetError as err:
        print('NHWC convolution fails: %s' % str(err).strip().splitlines()[0][:160])


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--depth', type=int, default=26)
    p.add_argument('--batch-size', type=int, default=32)
    a = p.parse_args()
    step_alone(a.depth, a.batch_size)
    variants(a.depth, a.batch_size)
    nhwc()
