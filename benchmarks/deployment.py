"""The tables of docs/deployment.md: float32, fused float32 and INT8 exports side by side.

    python benchmarks/deployment.py --data-dir D --out-dir O --run cross:26:PREFIX:EPOCH [--run ...]
    python benchmarks/deployment.py --layers --data-dir D --run cross:26:PREFIX:EPOCH

Table mode: for each trained run, ``convert export``, ``convert export --fused`` and
``convert quantize`` write the three models (the commands are printed); each file is read
back by plain MXNet (``mx.model.load_checkpoint``), its test accuracy computed on every
validation record, its img/s at batch 1 and 64 measured with ``mx.mod.Module``, the three
models interleaved in one run, and its size on disk given.

Zoo mode (``--zoo``, no ``--run``): every network family at a small size, random weights
and random calibration images: whether it quantizes and fuses, its INT8 nodes, the largest
difference of the fused logits from the unpartitioned graph's, and the correlation of the
INT8 logits with the float32 ones.

Layers mode (``--layers``): the first run quantized with each choice of layers kept in
float32 and each calibration mode, in memory; test accuracy and img/s at batch 64 of each
against the float32 graph, interleaved in one run.
"""
import argparse
import os
import sys

import mxnet as mx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fusenet_gluon import convert, deploy, quantize as Q, upstream  # noqa: E402
from fusenet_gluon.model_zoo import from_spec  # noqa: E402
from fusenet_gluon.spec import NetworkSpec  # noqa: E402
from fusenet_gluon.timing import machine  # noqa: E402

LAYER_CHOICES = ((), ('first',), ('classifier',), ('merge',), ('first', 'classifier'),
                 ('first', 'classifier', 'merge'))


def parse_run(text):
    network, depth, prefix, epoch = text.split(':')
    return NetworkSpec(network, int(depth)), prefix, int(epoch)


def convert_cli(argv):
    print('    python -m fusenet_gluon.convert ' + ' '.join(argv), flush=True)
    if convert.main(argv) != 0:
        raise SystemExit('failed: %s' % ' '.join(argv))


def table(args):
    print('| network | export | test acc. | img/s batch 1 | img/s batch 64 | x float32 (64) '
          '| MB |')
    rows = []
    for text in args.run:
        spec, prefix, epoch = parse_run(text)
        source = ['--network', spec.network, '--depth', str(spec.depth), '--prefix', prefix,
                  '--epoch', str(epoch), '--force']
        out = os.path.join(args.out_dir, spec.tag)
        convert_cli(['export'] + source + ['--output', out + '-float32'])
        convert_cli(['export'] + source + ['--output', out + '-fused', '--fused'])
        convert_cli(['quantize'] + source + ['--output', out + '-int8', '--data-dir',
                                             args.data_dir, '--bench-iters', '0'])
        preset = deploy.data_preset(spec, args.data_dir)
        val = deploy.validation_loader(args.data_dir, preset)
        files = {'float32': 'float32', 'fused float32': 'fused', 'int8': 'int8',
                 deploy.UNFUSED: 'float32'}
        models = {n: Q.load_model(out + '-' + f) for n, f in files.items()}
        acc = {n: Q.accuracy(models[n], val, spec.input_shape) for n in list(files)[:3]}
        acc[deploy.UNFUSED] = acc['float32']   # the same file and arithmetic
        speed = {b: Q.throughput(models, spec.input_shape, b, iters=args.iters,
                                 unpartitioned=[deploy.UNFUSED]) for b in (1, 64)}
        for n, f in files.items():
            rows.append('| %s | %s | %.2f%% | %.0f | %.0f | %.2f | %.1f |' % (
                spec.label, n, 100 * acc[n], speed[1][n], speed[64][n],
                speed[64][n] / speed[64]['float32'], Q.file_size(out + '-' + f) / 1e6))
            print(rows[-1], flush=True)
    print('\n'.join(rows))


def layers(args):
    spec, prefix, epoch = parse_run(args.run[0])
    net = from_spec(spec)
    upstream.load_params(net, upstream.checkpoint_paths(prefix, epoch)[1])
    preset = deploy.data_preset(spec, args.data_dir)
    calib, _ = deploy.calibration_iter(args.data_dir, preset, Q.DEFAULT_CALIB_EXAMPLES)
    val = deploy.validation_loader(args.data_dir, preset)
    fp32 = Q.inference_graph(net)
    models, acc = {'float32': fp32}, {'float32': Q.accuracy(fp32, val, spec.input_shape)}
    for mode in Q.CALIB_MODES:
        for keep in LAYER_CHOICES:
            name = '%s, float32: %s' % (mode, '+'.join(keep) or 'none')
            qsym, qarg, qaux, _ = Q.quantize(*fp32, calib, mode, keep)
            models[name] = (qsym, qarg, qaux)
            acc[name] = Q.accuracy(models[name], val, spec.input_shape)
    speed = Q.throughput(models, spec.input_shape, 64, iters=args.iters)
    print('| calibration, kept in float32 | test acc. | img/s batch 64 | x float32 |')
    for name in models:
        print('| %s | %.2f%% | %.0f | %.2f |' % (name, 100 * acc[name], speed[name],
                                                speed[name] / speed['float32']))


def zoo_specs():
    from fusenet_gluon import arch
    return ([NetworkSpec(n, 14) for n in arch.CIFAR_NETWORKS] + [NetworkSpec('ensemble', 8)]
            + [NetworkSpec(n, blocks=(1, 1, 1, 1), classes=10) for n in arch.IMAGENET_NETWORKS]
            + [NetworkSpec(n, classes=10, pool_size=1) for n in arch.DLA_NETWORKS])


def zoo(args):
    import numpy as np
    print('| network | outputs | INT8 nodes | fused vs unpartitioned | INT8 vs float32 corr. |')
    for spec in zoo_specs():
        net = from_spec(spec)
        net.initialize(mx.init.Xavier(magnitude=2))
        net(mx.nd.zeros((1,) + spec.input_shape))
        x = np.random.RandomState(0).normal(size=(8,) + spec.input_shape).astype('float32')
        try:
            fp32 = Q.inference_graph(net)
            qsym, qarg, qaux, _ = Q.quantize(*fp32, mx.io.NDArrayIter(x, batch_size=4))
            ref = Q.predict(fp32, x, backend='NONE')
            fused = Q.predict((Q.fuse(fp32[0]),) + fp32[1:], x, backend='NONE')
            int8 = Q.predict((qsym, qarg, qaux), x)
        except mx.base.MXNetError as err:
            print('| %s | fails: %s |' % (spec.tag, str(err).splitlines()[0]))
            continue
        diff = max(np.abs(a - b).max() / max(1, np.abs(a).max()) for a, b in zip(ref, fused))
        corr = min(np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(ref, int8))
        print('| %s | %d | %d | %.1e | %.3f |' % (spec.tag, len(int8), len(
            Q.quantized_nodes(qsym)), diff, corr), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--run', action='append',
                        help='NETWORK:DEPTH:PREFIX:EPOCH of a trained run (repeatable)')
    parser.add_argument('--data-dir')
    parser.add_argument('--out-dir', default='deploy-bench')
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument('--layers', action='store_true')
    parser.add_argument('--zoo', action='store_true')
    args = parser.parse_args()
    if not args.zoo and not (args.run and args.data_dir):
        parser.error('give --run and --data-dir (or --zoo)')
    print(machine(), flush=True)
    zoo(args) if args.zoo else layers(args) if args.layers else table(args)


if __name__ == '__main__':
    main()
