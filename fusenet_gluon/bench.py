"""Training and inference throughput: the Gluon model against the original's symbolic engine.

    python -m fusenet_gluon.bench --network cross --depth 26 --batch-size 32
    python -m fusenet_gluon.bench --network cross,resnet --depth 26,56,110 \\
        --batch-size 32,64 --markdown --json results.json --plot scaling.png

For every configuration, in one process, it times a training step (forward, backward and
NAG update, on random data already on the device) of

  * ``hybrid``     the hybridized Gluon model as training builds it
                   (``training.step.hybridize_for_training``: static_alloc, static_shape,
                   long segments on the CPU) with the library's trainer (a gluon.Trainer
                   with a lean NAG update),
  * ``module``     the same architecture from ``symbols/`` run by ``mx.mod.Module``, the way
                   the original trained (the baseline),
  * ``imperative`` the Gluon model not hybridized,

and the inference throughput of the first two, and peak memory (GPU: in use on the device;
CPU: peak resident memory of a fresh process training that mode, above a bare
``import mxnet``). The modes are interleaved over the repetitions; the report gives the median images/s, the spread (min-max) and the ratio of
each to the baseline. A benchmark, not a test: it reports numbers and asserts nothing.
"""
import argparse
import json

from . import families
from . import spec as net_spec
from .timing import MODES, bench_config, machine
from .devices import cpu_devices_arg, get_contexts
from .training.recipe import amp_dtype, check_amp
from .utils import HelpFormatter, UserError, check_range, check_writable, parse_ints, run_cli


def markdown(results):
    lines = ['| network | depth | batch | Gluon hybrid img/s (min-max) | Module img/s (min-max) '
             '| ratio (paired) | Gluon imperative img/s | ratio | inference hybrid / Module '
             'img/s | ratio | peak MB hybrid / Module / imperative |', '|' + '---|' * 11]
    for r in results:
        h, m = r['modes'].get('hybrid', {}), r['modes'].get('module', {})
        i = r['modes'].get('imperative', {})
        fmt = lambda row: '%.1f (%.1f-%.1f)' % (row['train_img_s'], row['train_min'],  # noqa
                                                row['train_max']) if row else '-'
        lines.append('| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |' % (
            r['network'], r.get('depth', '-'), r['batch_size'], fmt(h), fmt(m),
            ('%.2f (%.2f)' % (h['train_ratio'], h['train_ratio_paired'])
             if 'train_ratio_paired' in h else '%.2f' % h['train_ratio'])
            if 'train_ratio' in h else '-',
            '%.1f' % i['train_img_s'] if i else '-',
            '%.2f' % i['train_ratio'] if 'train_ratio' in i else '-',
            '%.1f / %.1f' % (h['infer_img_s'], m['infer_img_s']) if h and m else '-',
            '%.2f' % h['infer_ratio'] if 'infer_ratio' in h else '-',
            ' / '.join('%s' % (r['modes'][m].get('memory_mb') if m in r['modes'] else '-')
                       for m in MODES)))
    return '\n'.join(lines)


def plot(results, output):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    keys = sorted(set((r['network'], r['batch_size']) for r in results))
    for net, batch in keys:
        rows = sorted((r for r in results if (r['network'], r['batch_size']) == (net, batch)),
                      key=lambda r: r.get('depth') or 0)
        depths = [r.get('depth') for r in rows]
        for mode, style in (('hybrid', '-'), ('module', '--')):
            if all(mode in r['modes'] for r in rows):
                ax.plot(depths, [r['modes'][mode]['train_img_s'] for r in rows], style,
                        marker='o', label='%s batch %d, %s' % (net, batch, mode))
    ax.set(xlabel='num_depth', ylabel='training images/s', yscale='log',
           title='training throughput against depth and batch')
    ax.grid(alpha=0.3, which='both')
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(output, dpi=100)
    plt.close(fig)
    return output



def _specs(args):
    """Every network the comma lists of --network and --depth name, checked before work."""
    specs = []
    for network in args.network.split(','):
        family = families.find(network)  # None: from_args names the valid networks
        takes_depth = family is None or 'depth' in family.options
        depths = parse_ints(args.depth, '--depth', '26,56') if takes_depth else [None]
        for depth in depths:
            args_one = argparse.Namespace(network=network, depth=depth, blocks=None,
                                          widen_factor=args.widen_factor, classes=args.classes)
            specs.append(net_spec.from_args(args_one))
    return specs


def build_parser():
    """The command line: networks, depths and batch sizes as comma lists, the timing's
    settings and the outputs."""
    p = argparse.ArgumentParser(prog='python -m fusenet_gluon.bench', description=__doc__,
                                formatter_class=HelpFormatter)
    p.add_argument('--network', default='cross', help='comma list of networks')
    p.add_argument('--depth', default='26', help='comma list of num_depth (CIFAR family)')
    p.add_argument('--widen-factor', type=int, default=1)
    p.add_argument('--classes', type=int, default=None)
    p.add_argument('--batch-size', default='32', help='comma list of batch sizes')
    p.add_argument('--gpus', default='', help="one GPU id, or '' for the CPU (default)")
    p.add_argument('--cpu-devices', type=cpu_devices_arg, default=1, metavar='N',
                   help='on the CPU, split the batch over N devices mx.cpu(0..N-1), as '
                        'training does with --cpu-devices')
    p.add_argument('--modes', default=','.join(MODES), help='comma list of %s' % ', '.join(MODES))
    p.add_argument('--iters', type=int, default=10, help='steps per timing')
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--repeat', type=int, default=3, help='timings per mode (median, spread)')
    p.add_argument('--dtype', choices=['float32', 'float16'], default='float32')
    p.add_argument('--amp', action='store_true',
                   help='time the Gluon modes with automatic mixed precision, as training '
                        'does (float16 on a GPU, bfloat16 on a CPU with the instructions); '
                        'the Module baseline stays float32')
    p.add_argument('--json', default=None, help='write the results to this file')
    p.add_argument('--markdown', action='store_true', help='print a markdown table')
    p.add_argument('--plot', default=None, help='PNG of throughput against depth and batch')
    p.add_argument('--force', action='store_true', help='overwrite an existing --json or --plot')
    return p


def _batches(args):
    """The batch sizes of --batch-size; one line unless they, --iters and --repeat are at
    least 1 and --warmup at least 0."""
    batches = parse_ints(args.batch_size, '--batch-size', '32,64')
    for flag, value, low in (('--batch-size', min(batches), 1), ('--iters', args.iters, 1),
                             ('--repeat', args.repeat, 1), ('--warmup', args.warmup, 0)):
        check_range(flag, value, low)
    return batches


def _contexts(args, batches):
    """The devices of --gpus and --cpu-devices (``auto``: for the smallest of `batches`);
    refused in one line for more than one GPU."""
    ctxs = get_contexts(args.gpus, args.cpu_devices, min(batches))
    if len(ctxs) != 1 and ctxs[0].device_type == 'gpu':
        raise UserError('the benchmark runs on one GPU; give one GPU id (or --gpus "" '
                        '--cpu-devices N for N CPU devices)')
    return ctxs


def _init_amp(ctxs):
    """--amp: automatic mixed precision for `ctxs`, refused where it cannot run."""
    check_amp(ctxs)
    from mxnet.contrib import amp
    amp.init(target_dtype=amp_dtype(ctxs))


def _modes(text):
    """The modes of the comma list `text` (--modes); one line for a mode not in MODES."""
    modes = [m for m in text.split(',') if m]
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise UserError('unknown mode(s) %s; choose from %s' % (bad, ', '.join(MODES)))
    return modes


def _print_modes(r):
    """One line per mode of the result `r`: training images/s and spread, the ratio to the
    Module baseline (and the paired one), inference images/s."""
    for mode, row in r['modes'].items():
        print('  %-10s train %7.1f img/s (%.1f-%.1f)%s%s' % (
            mode, row['train_img_s'], row['train_min'], row['train_max'],
            '  x%.2f of module (paired x%.2f)' % (
                row['train_ratio'], row['train_ratio_paired'])
            if 'train_ratio' in row else '',
            '  infer %.1f img/s' % row['infer_img_s'] if 'infer_img_s' in row
            else ''), flush=True)


def _run(args, specs, batches, ctxs, modes):
    """bench_config of every network of `specs` (_specs) at every batch size of `batches`
    on `ctxs`, each printed as it ends; returns the results in that order."""
    results = []
    for spec in specs:
        network, depth = spec.network, spec.depth
        for batch in batches:
            print('%s depth %s batch %d on %s ...' % (network, depth, batch,
                                                      ', '.join(map(str, ctxs))), flush=True)
            r = bench_config(spec, batch, ctxs, modes, args.iters, args.warmup,
                             args.repeat, args.dtype, log=lambda s: print(s, flush=True),
                             amp=args.amp)
            results.append(r)
            _print_modes(r)
    return results


def _report(args, results):
    """The outputs asked for: the --markdown table, the --json file, the --plot PNG."""
    if args.markdown:
        print(markdown(results))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(machine=machine(), results=results), f, indent=1)
    if args.plot:
        print('plot in', plot(results, args.plot))


def main(argv=None):
    """Time every configuration of `argv` (default: the command line); returns 0."""
    args = build_parser().parse_args(argv)
    batches = _batches(args)
    outputs = [path for path in (args.json, args.plot) if path]
    check_writable(outputs, args.force)   # before the work, not after it
    ctxs = _contexts(args, batches)
    if args.amp:
        _init_amp(ctxs)
    modes = _modes(args.modes)
    specs = _specs(args)   # a bad network or depth: its one line is all that is printed
    print('# ' + machine(), flush=True)
    _report(args, _run(args, specs, batches, ctxs, modes))
    return 0


def cli():
    raise SystemExit(run_cli(main, 'python -m fusenet_gluon.bench'))


if __name__ == '__main__':
    cli()
