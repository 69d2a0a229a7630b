"""Convert between the original's checkpoints, Gluon parameters, deployable and ONNX models.

    python -m fusenet_gluon.convert to-gluon    --network cross --depth 26 --prefix P --epoch 10 --output net.params
    python -m fusenet_gluon.convert to-upstream --network cross --depth 26 --params net.params --prefix Q --epoch 10
    python -m fusenet_gluon.convert export      --network cross --depth 26 --params net.params --output deploy
    python -m fusenet_gluon.convert onnx        --network cross --depth 26 --prefix P --epoch 10 --output net.onnx

The source is either a Gluon parameter file (``--params``, as ``net.save_parameters``
writes it) or a checkpoint of the original (``--prefix`` and ``--epoch``). No existing file
is overwritten unless ``--force`` is given.
"""
import argparse
import os

import mxnet as mx
import numpy as np

from . import arch, upstream
from .model_zoo import get_model, list_models
from .utils import UserError, atomic_path, parse_ints, run_cli


def add_model_args(parser):
    """The flags that name a network, shared by the command lines of this package."""
    parser.add_argument('--network', required=True, metavar='NAME',
                        help='one of: %s' % ', '.join(list_models()))
    parser.add_argument('--depth', type=int, default=None,
                        help='num_depth of the original (CIFAR family), e.g. 110 for DFN-MR1')
    parser.add_argument('--widen-factor', type=int, default=1, help='channel multiplier w')
    parser.add_argument('--classes', type=int, default=None,
                        help='number of classes (default 10, ImageNet 1000)')
    parser.add_argument('--blocks', default=None,
                        help='ImageNet blocks per group, e.g. 2,2,8,2 (the paper\'s DFN-MR)')


def model_from_args(args):
    """Build the network that the flags of :func:`add_model_args` describe."""
    name = arch.canonical_name(args.network)
    if name in arch.IMAGENET_NETWORKS:
        kwargs = dict(classes=args.classes or 1000)
        if args.blocks:
            kwargs['blocks'] = tuple(parse_ints(args.blocks, '--blocks', '2,2,8,2'))
    else:
        kwargs = dict(depth=args.depth, widen_factor=args.widen_factor,
                      classes=args.classes or 10)
    return get_model(name, **kwargs)


def _check_writable(paths, force):
    existing = [p for p in paths if os.path.exists(p)]
    if existing and not force:
        raise FileExistsError('%s already exist(s); pass --force to overwrite'
                              % ', '.join(existing))


def load_source(net, args):
    """Fill `net` from ``--params`` (Gluon) or ``--prefix``/``--epoch`` (original)."""
    if args.params:
        if not os.path.isfile(args.params):
            raise FileNotFoundError('no such parameter file: %s' % args.params)
        try:
            net.load_parameters(args.params, ctx=mx.cpu())
        except (AssertionError, mx.base.MXNetError, KeyError) as err:
            raise ValueError('%s does not fit %s: %s' % (
                args.params, args.network, str(err).strip().splitlines()[0])) from None
    elif args.prefix is not None and args.epoch is not None:
        upstream.load_params(net, upstream.checkpoint_paths(args.prefix, args.epoch)[1])
    else:
        raise UserError('give the source: --params FILE, or --prefix P --epoch N')
    return net


def export_deploy(net, output, force=False):
    """``HybridBlock.export``: ``output-symbol.json`` and ``output-0000.params``."""
    paths = ['%s-symbol.json' % output, '%s-0000.params' % output]
    _check_writable(paths, force)
    net.hybridize()
    net(mx.nd.zeros((1,) + net.input_shape))
    folder = os.path.dirname(os.path.abspath(output))
    os.makedirs(folder, exist_ok=True)
    tmp_prefix = os.path.join(folder, '.export-tmp%d' % os.getpid())
    net.export(tmp_prefix)
    for suffix, final in zip(('-symbol.json', '-0000.params'), paths):
        os.replace(tmp_prefix + suffix, final)
    return paths


def export_onnx(net, output, force=False, check=True):
    """Export `net` to ONNX (``mx.onnx.export_model``) and, where onnxruntime is installed,
    check its outputs against the Gluon logits. Returns (path, max abs difference or None)."""
    _check_writable([output], force)
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise UserError('ONNX export needs the onnx package: pip install -c constraints.txt '
                        '"fusenet-gluon[onnx]"') from None
    folder = os.path.dirname(os.path.abspath(output))
    os.makedirs(folder, exist_ok=True)
    tmp_prefix = os.path.join(folder, '.onnx-tmp%d' % os.getpid())
    net.hybridize()
    x = np.random.RandomState(0).uniform(-1, 1, (2,) + net.input_shape).astype('float32')
    logits = net(mx.nd.array(x)).asnumpy()
    net.export(tmp_prefix)
    try:
        with atomic_path(output) as tmp:
            mx.onnx.export_model(tmp_prefix + '-symbol.json', tmp_prefix + '-0000.params',
                                 in_shapes=[(2,) + net.input_shape], in_types=[np.float32],
                                 onnx_file_path=tmp)
    finally:
        for suffix in ('-symbol.json', '-0000.params'):
            if os.path.exists(tmp_prefix + suffix):
                os.remove(tmp_prefix + suffix)
    diff = None
    if check:
        try:
            import onnxruntime
        except ImportError:
            return output, None
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # the exporter keeps weights as inputs: not an error
        sess = onnxruntime.InferenceSession(output, options, providers=['CPUExecutionProvider'])
        out = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        diff = float(np.abs(out - logits).max())
    return output, diff


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m fusenet_gluon.convert', description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)
    helps = {'to-gluon': 'original checkpoint -> Gluon parameters (net.save_parameters)',
             'to-upstream': 'Gluon parameters -> checkpoint of the original (symbol + params)',
             'export': 'deployable symbol.json/params pair (HybridBlock.export)',
             'onnx': 'ONNX model, checked against the Gluon logits with onnxruntime'}
    for command, text in helps.items():
        p = sub.add_parser(command, help=text, description=text)
        add_model_args(p)
        p.add_argument('--params', help='source: Gluon parameter file')
        p.add_argument('--prefix', help='original checkpoint prefix (source, or target of '
                                        'to-upstream)')
        p.add_argument('--epoch', type=int, help='original checkpoint epoch')
        if command != 'to-upstream':
            p.add_argument('--output', required=True,
                           help='output file (to-gluon, onnx) or prefix (export)')
        p.add_argument('--force', action='store_true', help='overwrite existing outputs')
    args = parser.parse_args(argv)

    net = model_from_args(args)
    if args.command == 'to-upstream':
        if not args.params or args.prefix is None or args.epoch is None:
            raise UserError('to-upstream needs --params (source) and --prefix/--epoch (target)')
        _check_writable(upstream.checkpoint_paths(args.prefix, args.epoch), args.force)
        source = argparse.Namespace(**vars(args))
        source.prefix = None
        load_source(net, source)
        for path in upstream.save_checkpoint(net, args.prefix, args.epoch):
            print('wrote', path)
        return 0

    load_source(net, args)
    if args.command == 'to-gluon':
        _check_writable([args.output], args.force)
        with atomic_path(args.output) as tmp:
            net.save_parameters(tmp)
        print('wrote', args.output)
    elif args.command == 'export':
        for path in export_deploy(net, args.output, args.force):
            print('wrote', path)
    else:
        path, diff = export_onnx(net, args.output, args.force)
        print('wrote', path)
        if diff is None:
            print('onnxruntime is not installed: the ONNX model was not checked')
        else:
            print('onnxruntime logits match Gluon: max abs difference %.2e' % diff)
            if diff > 1e-3:
                raise UserError('the ONNX model disagrees with the Gluon network '
                                '(max abs difference %.3g)' % diff)
    return 0


def cli():
    raise SystemExit(run_cli(main, 'python -m fusenet_gluon.convert'))


if __name__ == '__main__':
    cli()
