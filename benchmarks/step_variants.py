"""Ways of driving two CPU devices, each against mx.mod.Module, in one process, interleaved.

    python benchmarks/step_variants.py [--pairs 12] [--variants gluon,priority,...]

Each variant trains DFN-MR (num_depth 26 by default) on one random batch of 64 split over
``mx.cpu(0)`` and ``mx.cpu(1)`` and, like a training loop, reads every step's outputs and
losses back before the next step (``Module``: ``update_metric``). The variants run in turn,
a block of ``--steps`` steps each, ``--pairs`` times, so the machine's drift touches all of
them alike; the figure to read is the median over the blocks of (variant img/s) / (Module
img/s of the same round). Besides img/s: the CPU time of the whole process per step (the
engine's device workers and the Python thread) and of the Python thread alone.

The variants (only ``gluon`` is what training runs; the others are experiments kept so
that docs/performance.md's figures can be made again):

* ``gluon``: the library's step (``training.step.DataParallelStep``, ``optim.FastTrainer``:
  one kvstore call for every gradient, the NAG update on each device), the graph built by
  ``training.step.hybridize_for_training`` (segments of up to 1000 operators on the CPU).
* ``priority``: as ``gluon``, but one kvstore call per parameter with priority ``-index``,
  as ``gluon.Trainer`` and ``Module`` give it.
* ``lagged``: as ``gluon``, but a step's outputs are read after the next step is queued.
* ``kvstore_update``: ``gluon.Trainer`` with the optimizer on the kvstore (the gradient
  summed, updated once, the weights sent to the devices), as ``Module`` updates.
* ``loss_in_graph``: the loss inside the hybridized graph, with identity operators between
  the graph's inputs and outputs and the layers, so that only copies run per call outside
  the graph's prebuilt segments.
* ``executors``: the hybridized network's symbol bound once per device with
  ``Symbol.bind`` on the Gluon parameters' own arrays (Module's executor, Gluon's
  parameters and trainer), the loss in the graph.
* ``bulked_update``: as ``gluon``, but each device's NAG calls queued as one engine
  operation (``mx.engine.bulk``) instead of one per parameter; the same kernels in the same
  order.
* ``segments15``: as ``gluon``, but the hybridized graph runs its forward and backward in
  MXNet's own segments of up to 15 operators (``hybridize(static_alloc=True,
  static_shape=True)``), as the library's step did until 2026-12-03.
* ``module``: ``mx.mod.Module`` on the graph of ``symbols/``, the 'device' kvstore.

A benchmark, not a test: it reports numbers and asserts nothing.
"""
import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import fusenet_gluon  # noqa: E402,F401  (sets the workspace pool before MXNet works)
import mxnet as mx  # noqa: E402
from mxnet import autograd, gluon  # noqa: E402

from fusenet_gluon.optim import FastTrainer  # noqa: E402
from fusenet_gluon.spec import NetworkSpec  # noqa: E402
from fusenet_gluon.timing import GluonStep, ModuleStep, machine, spread  # noqa: E402
from fusenet_gluon.training.step import DataParallelStep  # noqa: E402

NAG = dict(learning_rate=0.01, momentum=0.9, wd=1e-4)
VARIANTS = ('gluon', 'priority', 'lagged', 'kvstore_update', 'loss_in_graph', 'executors',
            'bulked_update', 'segments15', 'module')


class PriorityTrainer(FastTrainer):
    """FastTrainer whose gradients are summed one kvstore call per parameter, priority -i."""

    def _allreduce_grads(self):
        return gluon.Trainer._allreduce_grads(self)


class BulkedUpdateTrainer(FastTrainer):
    """FastTrainer whose update of each device is one engine operation (MXNet's bulk
    execution appends the NAG calls of a device to one operation, flushed at the end)."""

    def _update_device(self, updater, ctx, items, ignore_stale_grad):
        with mx.engine.bulk(len(items) + 1):
            super(BulkedUpdateTrainer, self)._update_device(updater, ctx, items,
                                                            ignore_stale_grad)


class LossInGraph(gluon.HybridBlock):
    """(logits, losses) of `net` with the loss inside the graph and identity operators at
    the graph's inputs and outputs."""

    def __init__(self, net, **kwargs):
        super(LossInGraph, self).__init__(**kwargs)
        self.net, self.loss = net, gluon.loss.SoftmaxCrossEntropyLoss()

    def hybrid_forward(self, F, x, y):
        logits = self.net(F.identity(x))
        return F.identity(logits), F.identity(self.loss(logits, F.identity(y)))


class GraphStep(object):
    """Forward and backward of a :class:`LossInGraph`, then the trainer's step."""

    def __init__(self, net, trainer, contexts):
        self.graph, self.trainer, self.contexts = LossInGraph(net), trainer, contexts
        self.graph.hybridize(static_alloc=True, static_shape=True)

    def __call__(self, data, targets, batch_size):
        xs = gluon.utils.split_and_load(data, self.contexts)
        ys = gluon.utils.split_and_load(targets, self.contexts)
        with autograd.record():
            results = [self.graph(x, y) for x, y in zip(xs, ys)]
        autograd.backward([r[1] for r in results])
        self.trainer.step(batch_size)
        return [r[0] for r in results], [r[1] for r in results]


class ExecutorStep(object):
    """The network's symbol and the loss bound once per device on the parameters' arrays."""

    def __init__(self, net, trainer, contexts, batch_size):
        self.trainer, self.contexts = trainer, contexts
        data, label = mx.sym.var('data'), mx.sym.var('label')
        logits = net(data)
        loss = gluon.loss.SoftmaxCrossEntropyLoss()(logits, label)
        sym = mx.sym.Group([mx.sym.BlockGrad(logits), mx.sym.make_loss(loss)])
        params = {p.name: p for p in net.collect_params().values()}
        part = batch_size // len(contexts)
        self.executors = []
        for d, ctx in enumerate(contexts):
            args = {'data': mx.nd.zeros((part,) + net.input_shape, ctx=ctx),
                    'label': mx.nd.zeros((part,), ctx=ctx)}
            grads, reqs = {}, {'data': 'null', 'label': 'null'}
            for name in sym.list_arguments():
                if name in params:
                    p = params[name]
                    args[name], grads[name] = p.list_data()[d], p.list_grad()[d]
                    reqs[name] = p.grad_req
            aux = {n: params[n].list_data()[d] for n in sym.list_auxiliary_states()}
            self.executors.append(sym.bind(ctx, args, args_grad=grads, grad_req=reqs,
                                           aux_states=aux))
        self.weights = [p.list_data()[d] for p in params.values() if p.grad_req != 'null'
                        for d in range(len(contexts))]

    def __call__(self, data, targets, batch_size):
        xs = gluon.utils.split_and_load(data, self.contexts)
        ys = gluon.utils.split_and_load(targets, self.contexts)
        for ex, x, y in zip(self.executors, xs, ys):
            x.copyto(ex.arg_dict['data'])
            y.copyto(ex.arg_dict['label'])
            ex.forward(is_train=True)
            ex.backward()
        for w in self.weights:  # what autograd marks after a backward; the trainer checks it
            w._fresh_grad = True
        self.trainer.step(batch_size)
        return [ex.outputs[0] for ex in self.executors], [ex.outputs[1] for ex in self.executors]


def gluon_variant(kind, spec, batch, contexts):
    """A function running one step of variant `kind` and reading its results."""
    g = GluonStep(spec, batch, contexts, True, 'float32')  # its step: the library's
    step, params = g.step, g.net.collect_params()
    if kind == 'priority':
        g.trainer = PriorityTrainer(params, 'nag', NAG, kvstore='device', update_on_kvstore=False)
    elif kind == 'kvstore_update':
        g.trainer = gluon.Trainer(params, 'nag', NAG, kvstore='device', update_on_kvstore=True)
    elif kind == 'bulked_update':
        g.trainer = BulkedUpdateTrainer(params, 'nag', NAG, kvstore='device',
                                        update_on_kvstore=False)
    elif kind == 'segments15':  # before the first call builds the graph
        g.net.hybridize(static_alloc=True, static_shape=True)
    if g.trainer is not step.trainer:
        step = DataParallelStep(g.net, gluon.loss.SoftmaxCrossEntropyLoss(), g.trainer,
                                contexts)
    if kind == 'loss_in_graph':
        step = GraphStep(g.net, g.trainer, contexts)
    elif kind == 'executors':
        step = ExecutorStep(g.net, g.trainer, contexts, batch)
    pending = []

    def read(results):
        for out, loss in zip(*results):
            out.asnumpy()
            loss.asnumpy()

    def one():
        results = step(g.x, g.y, batch)
        if kind != 'lagged':
            return read(results)
        if pending:
            read(pending.pop())
        pending.append(results)

    def flush():
        while pending:
            read(pending.pop())
    return one, flush


def module_variant(spec, batch, contexts):
    m = ModuleStep(spec, batch, contexts, 'float32')
    metric = mx.metric.create('acc')

    def one():
        m.train()
        m.mod.update_metric(metric, m.batch.label)
    return one, lambda: None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--depth', type=int, default=26)
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--steps', type=int, default=22, help='steps in a block (the digits epoch)')
    p.add_argument('--pairs', type=int, default=12, help='rounds of blocks')
    p.add_argument('--variants', default=','.join(VARIANTS))
    args = p.parse_args(argv)
    kinds = args.variants.split(',')
    unknown = sorted(set(kinds) - set(VARIANTS))
    if unknown:
        p.error('unknown variant(s) %s; choose from %s' % (', '.join(unknown), ', '.join(VARIANTS)))
    if 'module' not in kinds:
        kinds.append('module')
    spec, contexts = NetworkSpec('cross', depth=args.depth), [mx.cpu(0), mx.cpu(1)]
    print('# %s; MXNET_CPU_TEMP_COPY=%s' % (machine(), os.environ['MXNET_CPU_TEMP_COPY']),
          flush=True)
    runs = {k: module_variant(spec, args.batch_size, contexts) if k == 'module' else
            gluon_variant(k, spec, args.batch_size, contexts) for k in kinds}
    for one, flush in runs.values():  # build every graph and memory pool first
        for _ in range(3):
            one()
        flush()
    mx.nd.waitall()
    speed, cpu, thread = ({k: [] for k in kinds} for _ in range(3))
    for r in range(args.pairs):
        for k, (one, flush) in runs.items():
            tic, proc, main_cpu = time.perf_counter(), time.process_time(), time.thread_time()
            for _ in range(args.steps):
                one()
            flush()
            mx.nd.waitall()
            speed[k].append(args.steps * args.batch_size / (time.perf_counter() - tic))
            cpu[k].append(1000 * (time.process_time() - proc) / args.steps)
            thread[k].append(1000 * (time.thread_time() - main_cpu) / args.steps)
        print('round %d: %s' % (r + 1, ', '.join('%s %.0f' % (k, v[-1]) for k, v in
                                                 speed.items())), flush=True)
    base = np.array(speed['module'])
    print('| variant | img/s, median (min-max) | paired ratio to Module, median (min-max) | '
          'process CPU ms/step | Python thread CPU ms/step |\n|---|---|---|---|---|')
    for k in kinds:
        ratio = np.array(speed[k]) / base
        print('| %s | %s | %s | %.0f | %.1f |' % (
            k, spread(speed[k]), spread(ratio, 3, 2), np.median(cpu[k]), np.median(thread[k])))


if __name__ == '__main__':
    main()
