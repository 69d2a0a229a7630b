"""BatchNorm and ReLU in one op against the original's two nodes, per network, in one process.

    python benchmarks/bn_relu.py [--networks cross:26,fuse3:8] [--size 32]
                                 [--batch-size 16] [--steps 10] [--rounds 5]

The same network (same weights), trained with its BatchNorms built with ``relu=True``
fused (``_contrib_BatchNormWithReLU`` in the training graph) and with them unfused (the
``relu`` flag off, so the enclosing block applies the original's ``Activation``), the two
taking turns (which goes first alternates by round): a round times `steps` training steps
(forward and backward, no update) of each, after rebuilding the hybridized graph and two
warm-up steps. Reports the median img/s of each and the median of the rounds' ratios. A
network with no fused BatchNorm (DLA and the ImageNet networks run the two nodes since
commit 14ae038; commit f01720f fused them) is refused in one line. A benchmark, not a test
(docs/performance.md, "BatchNorm and ReLU in one op").
"""
import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed_steps(net, x, labels, steps):
    """img/s of `steps` training steps (forward, backward) after two, the graph rebuilt."""
    import mxnet as mx
    from mxnet import autograd, gluon
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    net.hybridize(static_alloc=True, static_shape=True)
    for i in range(2 + steps):
        if i == 2:
            mx.nd.waitall()
            start = time.perf_counter()
        with autograd.record():
            total = loss(net(x), labels)
        total.backward()
    mx.nd.waitall()
    return steps * x.shape[0] / (time.perf_counter() - start)


def compare(name, depth, size, batch, steps, rounds):
    """Print the table row of network `name` at inputs of side `size` where its family's
    pooling is an option (DLA), else at the family's own input size."""
    import mxnet as mx
    from fusenet_gluon import families, get_model
    from fusenet_gluon.models.common import BatchNorm
    from fusenet_gluon.timing import spread
    family = families.of(name)
    kwargs = dict(classes=10)
    if depth:
        kwargs['depth'] = depth
    if family.pool_size is None:
        size = family.input_size
    else:
        kwargs['pool_size'] = family.pool_size_for(size)
    net = get_model(name, **kwargs)
    net.initialize(mx.init.Xavier())
    fusable = []   # Block.apply visits the net and every block below it
    net.apply(lambda b: fusable.append(b) if isinstance(b, BatchNorm) and b.relu else None)
    if not fusable:
        raise SystemExit('%s has no BatchNorm that fuses its ReLU: nothing to compare' % name)
    x = mx.nd.random.uniform(shape=(batch, 3, size, size))
    labels = mx.nd.array([i % 10 for i in range(batch)])
    speeds = {True: [], False: []}
    for i in range(rounds):
        for fused in ((True, False) if i % 2 == 0 else (False, True)):
            for block in fusable:
                block.relu = fused
            speeds[fused].append(timed_steps(net, x, labels, steps))
    ratios = [f / u for f, u in zip(speeds[True], speeds[False])]
    print('| %s | %dx%d | %d | %d | %s | %s | %s |' % (
        name + (' %d' % depth if depth else ''), size, size, batch, len(fusable),
        spread(speeds[True]), spread(speeds[False]), spread(ratios, 3, 2)), flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--networks', default='cross:26,fuse3:8',
                   help='comma list of NAME or NAME:DEPTH')
    p.add_argument('--size', type=int, default=32,
                   help="input side of the networks whose pooling is an option (DLA); the "
                        "others take their family's input size")
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--rounds', type=int, default=5)
    args = p.parse_args(argv)
    sys.path.insert(0, ROOT)
    from fusenet_gluon.timing import machine
    print('# ' + machine())
    print('| network | input | batch | fused BatchNorms | fused img/s | two nodes img/s | '
          'paired ratio |\n|---|---|---|---|---|---|---|')
    for item in args.networks.split(','):
        name, _, depth = item.partition(':')
        compare(name, int(depth) if depth else None, args.size, args.batch_size, args.steps,
                args.rounds)


if __name__ == '__main__':
    main()
