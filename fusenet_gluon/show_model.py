"""Draw a network's graph to a PNG, as the original's show_model.py did.

    python -m fusenet_gluon.show_model --network half --depth 26 [--output half_d26w1]

Uses ``mx.viz.plot_network`` on the original's graph; needs the ``graphviz`` Python package
and Graphviz's ``dot`` program (Debian: ``apt-get install graphviz``).
"""
import argparse
import os
import shutil

from . import spec as net_spec
from .upstream import upstream_symbol
from .utils import HelpFormatter, UserError, check_writable, run_cli


def plot(spec, output, force=False):
    """Render the original graph of the network `spec` describes to ``output.png``
    (an existing one only with `force`); returns the PNG's path."""
    check_writable([output + '.png'], force)
    import mxnet as mx
    try:
        import graphviz  # noqa: F401
    except ImportError:
        raise UserError('drawing needs the graphviz Python package: '
                        'pip install -c constraints.txt graphviz') from None
    if shutil.which('dot') is None:
        raise UserError("Graphviz's 'dot' program is not on the PATH; install it "
                        '(Debian/Ubuntu: apt-get install graphviz)')
    dot = mx.viz.plot_network(upstream_symbol(spec), title=os.path.basename(output),
                              shape={'data': (1,) + spec.input_shape},
                              node_attrs={'shape': 'rect', 'fixedsize': 'false'})
    folder = os.path.dirname(os.path.abspath(output))
    os.makedirs(folder, exist_ok=True)
    dot.format = 'png'
    return dot.render(filename=output, cleanup=True)


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m fusenet_gluon.show_model',
                                     description=__doc__,
                                     formatter_class=HelpFormatter)
    net_spec.add_arguments(parser)
    parser.add_argument('--output', default=None,
                        help="output path without .png (default: visualize/TAG, the run's "
                             'tag: half_d26w1, imagenet_cross, dla34)')
    parser.add_argument('--force', action='store_true', help='overwrite an existing PNG')
    args = parser.parse_args(argv)
    spec = net_spec.from_args(args)
    output = args.output or os.path.join('visualize', spec.tag)
    print('wrote', plot(spec, output, args.force))
    return 0


def cli():
    raise SystemExit(run_cli(main, 'python -m fusenet_gluon.show_model'))


if __name__ == '__main__':
    cli()
