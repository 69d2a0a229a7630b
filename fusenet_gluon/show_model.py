"""Draw a network's graph to a PNG, as the original's show_model.py did.

    python -m fusenet_gluon.show_model --network half --depth 26 [--output half_d26]

Uses ``mx.viz.plot_network`` on the original's graph; needs the ``graphviz`` Python package
and Graphviz's ``dot`` program (Debian: ``apt-get install graphviz``).
"""
import argparse
import os
import shutil

from . import arch, symbol_graphs
from .convert import add_model_args
from .utils import UserError, parse_ints, run_cli


def plot(network, num_classes, output, num_depth=None, widen_factor=1, blocks=None):
    """Render the graph of `network` to ``output.png``; returns the PNG's path."""
    import mxnet as mx
    try:
        import graphviz  # noqa: F401
    except ImportError:
        raise UserError('drawing needs the graphviz Python package: '
                        'pip install -c constraints.txt graphviz') from None
    if shutil.which('dot') is None:
        raise UserError("Graphviz's 'dot' program is not on the PATH; install it "
                        '(Debian/Ubuntu: apt-get install graphviz)')
    sym = symbol_graphs.get_symbol(network, num_classes, num_depth, widen_factor, blocks)
    size = arch.IMAGENET_INPUT_SIZE if arch.canonical_name(network) in arch.IMAGENET_NETWORKS \
        else arch.CIFAR_INPUT_SIZE
    dot = mx.viz.plot_network(sym, title=os.path.basename(output),
                              shape={'data': (1, 3, size, size)},
                              node_attrs={'shape': 'rect', 'fixedsize': 'false'})
    folder = os.path.dirname(os.path.abspath(output))
    os.makedirs(folder, exist_ok=True)
    dot.format = 'png'
    return dot.render(filename=output, cleanup=True)


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m fusenet_gluon.show_model',
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_args(parser)
    parser.add_argument('--output', default=None,
                        help='output path without .png (default: visualize/NETWORK_dDEPTH)')
    args = parser.parse_args(argv)
    name = arch.canonical_name(args.network)
    imagenet = name in arch.IMAGENET_NETWORKS
    output = args.output or os.path.join(
        'visualize', name if imagenet else '%s_d%s' % (name, args.depth))
    blocks = tuple(parse_ints(args.blocks, '--blocks', '2,2,8,2')) if args.blocks else None
    path = plot(name, args.classes or (1000 if imagenet else 10), output,
                args.depth, args.widen_factor, blocks)
    print('wrote', path)
    return 0


def cli():
    raise SystemExit(run_cli(main, 'python -m fusenet_gluon.show_model'))


if __name__ == '__main__':
    cli()
