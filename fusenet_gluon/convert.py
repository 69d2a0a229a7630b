"""Convert between the original's checkpoints, Gluon parameters, deployable and ONNX models.

    python -m fusenet_gluon.convert to-gluon    --network cross --depth 26 --prefix P --epoch 10 --output net.params
    python -m fusenet_gluon.convert to-upstream --network cross --depth 26 --params net.params --prefix Q --epoch 10
    python -m fusenet_gluon.convert export      --network cross --depth 26 --params net.params --output deploy
    python -m fusenet_gluon.convert onnx        --network cross --depth 26 --prefix P --epoch 10 --output net.onnx
    python -m fusenet_gluon.convert export      --network cross --depth 26 --params net.params --output fused --fused
    python -m fusenet_gluon.convert quantize    --network cross --depth 26 --params net.params --data-dir data/digits --output int8

The source is either a parameter file (``--params``: Gluon's, as ``net.save_parameters``
writes it, or for DLA the authors' PyTorch state_dict, read without PyTorch) or a checkpoint
of the original (``--prefix`` and ``--epoch``). No existing file
is overwritten unless ``--force`` is given.
"""
import argparse
import os

import mxnet as mx

from . import deploy
from . import spec as net_spec
from . import upstream
from .export import check_writable, export_deploy, export_onnx
from .model_zoo import from_spec
from .quantize import export_fused
from .torch_checkpoint import is_torch_file
from .utils import HelpFormatter, UserError, atomic_path, run_cli


def load_source(net, params=None, prefix=None, epoch=None):
    """Fill `net` from `params` (``--params``: Gluon's file, or the DLA authors' PyTorch
    one) or the original's checkpoint `prefix`, `epoch` (``--prefix``/``--epoch``)."""
    if params and (prefix is not None or epoch is not None):
        raise UserError('give one source: --params FILE, or --prefix P --epoch N, not both')
    if params and is_torch_file(params):
        upstream.load_params(net, params)   # the DLA authors' PyTorch state_dict
    elif params:
        # Gluon files name parameters by their place in the network ('g0.conv.weight'):
        # the same strict check as for the original's files, with those names
        loaded = upstream.load_upstream_file(params)
        expected = {n: p.shape for n, p in net._collect_params_with_prefix().items()}
        upstream.check_fit(params, expected, {n: v.shape for n, v in loaded.items()})
        net.load_parameters(params, ctx=mx.cpu())
    elif prefix is not None and epoch is not None:
        upstream.load_params(net, upstream.checkpoint_paths(prefix, epoch)[1])
    else:
        raise UserError('give the source: --params FILE, or --prefix P --epoch N')
    return net


#: The subcommands and their help (also their description).
COMMANDS = {'to-gluon': 'original checkpoint -> Gluon parameters (net.save_parameters)',
            'to-upstream': 'Gluon parameters -> checkpoint of the original (symbol + params)',
            'export': 'deployable symbol.json/params pair (HybridBlock.export)',
            'onnx': 'ONNX model, checked against the Gluon logits with onnxruntime',
            'quantize': 'INT8 symbol.json/params (oneDNN), calibrated on the training '
                        'records; accuracy and speed against float32 (docs/deployment.md)'}


def _add_command(sub, command, text):
    """The subparser of `command` (help and description `text`) with its flags."""
    p = sub.add_parser(command, help=text, description=text)
    net_spec.add_arguments(p)
    p.add_argument('--params', help='source: Gluon parameter file, or (DLA) the authors\' '
                                    'PyTorch .pth state_dict')
    p.add_argument('--prefix', help='original checkpoint prefix (source, or target of '
                                    'to-upstream)')
    p.add_argument('--epoch', type=int, help='original checkpoint epoch')
    if command != 'to-upstream':
        p.add_argument('--output', required=True,
                       help='output file (to-gluon, onnx) or prefix (export)')
    p.add_argument('--force', action='store_true', help='overwrite existing outputs')
    if command == 'export':
        p.add_argument('--fused', action='store_true',
                       help="the inference graph with MXNet's oneDNN fusion (conv + "
                            'BatchNorm + ReLU + sum), for CPUs; docs/deployment.md')
    if command == 'quantize':
        deploy.add_arguments(p)
    return p


def build_parser():
    """The command line: one subcommand of COMMANDS a conversion."""
    parser = argparse.ArgumentParser(
        prog='python -m fusenet_gluon.convert', description=__doc__,
        formatter_class=HelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)
    for command, text in COMMANDS.items():
        _add_command(sub, command, text)
    return parser


def _to_upstream(net, args):
    """to-upstream: `net` filled from ``--params``, saved as the original's checkpoint
    ``--prefix``/``--epoch`` (checked writable first)."""
    if not args.params or args.prefix is None or args.epoch is None:
        raise UserError('to-upstream needs --params (source) and --prefix/--epoch (target)')
    check_writable(upstream.checkpoint_paths(args.prefix, args.epoch), args.force)
    load_source(net, params=args.params)   # --prefix/--epoch name the target here
    for path in upstream.save_checkpoint(net, args.prefix, args.epoch):
        print('wrote', path)


def _to_gluon(net, output, force):
    """to-gluon: `net`'s parameters to the file `output` (its folder made, written
    atomically), refused if it exists unless `force`."""
    check_writable([output], force)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with atomic_path(output) as tmp:
        net.save_parameters(tmp)
    print('wrote', output)


def _to_onnx(net, output, force):
    """onnx: `net` to the ONNX file `output`; a UserError (the file stays written) when
    onnxruntime's logits differ from Gluon's by more than 1e-3 of the largest logit."""
    path, diff = export_onnx(net, output, force)
    print('wrote', path)
    if diff is None:
        print('onnxruntime is not installed: the ONNX model was not checked')
    else:
        print('onnxruntime logits match Gluon: largest difference %.2e (relative to the '
              'largest logit, or absolute below 1)' % diff)
        if diff > 1e-3:
            raise UserError('the ONNX model disagrees with the Gluon network (largest '
                            'difference %.3g relative to the largest logit)' % diff)


def main(argv=None):
    """Run the subcommand of `argv` (default: the command line); returns 0."""
    args = build_parser().parse_args(argv)
    net = from_spec(net_spec.from_args(args))
    if args.command == 'to-upstream':
        _to_upstream(net, args)
        return 0

    load_source(net, args.params, args.prefix, args.epoch)
    if args.command == 'to-gluon':
        _to_gluon(net, args.output, args.force)
    elif args.command == 'export':
        for path in (export_fused if args.fused else export_deploy)(net, args.output,
                                                                    args.force):
            print('wrote', path)
    elif args.command == 'quantize':
        deploy.run(net, args)
    else:
        _to_onnx(net, args.output, args.force)
    return 0


def cli():
    raise SystemExit(run_cli(main, 'python -m fusenet_gluon.convert'))


if __name__ == '__main__':
    cli()
