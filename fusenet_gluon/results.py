"""Summarise several training runs, as the original's get_results.py / show_results.py.

    python -m fusenet_gluon.results snapshot/cifar10/*/model-metrics.jsonl [--plot curves.png]

Prints, per network, depth and width, the final test error of the runs as
``median (mean +/- std, best)`` in percent, and draws their curves in one PNG
(test error and training loss against the epoch, the paper's Figure 12 style).
"""
import argparse
import glob
import json
import os

import numpy as np

from .utils import UserError, run_cli


def read_metrics(path):
    """The per-epoch records of one run's ``*-metrics.jsonl``."""
    if not os.path.isfile(path):
        raise FileNotFoundError('no such metrics file: %s' % path)
    records = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except ValueError:
                    raise UserError('%s line %d is not JSON' % (path, n)) from None
    if not records:
        raise UserError('%s holds no epochs yet' % path)
    return records


def run_label(path):
    """``network dDEPTH wW`` from the run's ``-run.json`` beside the metrics, else the folder."""
    run = path[:-len('-metrics.jsonl')] + '-run.json' if path.endswith('-metrics.jsonl') else ''
    if run and os.path.isfile(run):
        with open(run) as f:
            r = json.load(f)
        if r.get('depth') is not None and not str(r.get('network', '')).startswith('imagenet'):
            return '%s d%s w%s' % (r['network'], r['depth'], r.get('widen_factor', 1))
        return str(r.get('network'))
    return os.path.basename(os.path.dirname(os.path.abspath(path)))


def summarize(errors):
    """``median (mean +/- std, best)`` of test errors in percent."""
    e = np.asarray(errors, float)
    return '%.2f (%.2f +/- %.2f, %.2f)' % (np.median(e), e.mean(), e.std(), e.min())


def table(paths):
    groups = {}
    for path in paths:
        last = read_metrics(path)[-1]
        groups.setdefault(run_label(path), []).append(
            (100.0 * (1 - last['val_acc']), last['epoch']))
    lines = ['%-24s %5s %7s  %s' % ('network', 'runs', 'epochs',
                                    'test error %: median (mean +/- std, best)')]
    for label in sorted(groups):
        errs = [e for e, _ in groups[label]]
        epochs = sorted(set(ep for _, ep in groups[label]))
        lines.append('%-24s %5d %7s  %s' % (label, len(errs), ','.join(map(str, epochs)),
                                            summarize(errs)))
    return '\n'.join(lines)


def plot_runs(paths, output, title=None):
    """Test error and training loss of every run against the epoch, in one PNG."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for path in paths:
        recs = read_metrics(path)
        ep = [r['epoch'] for r in recs]
        label = run_label(path) if len(paths) > 1 else None
        line, = ax1.plot(ep, [100 * (1 - r['val_acc']) for r in recs], label=label)
        ax1.plot(ep, [100 * (1 - r['train_acc']) for r in recs], ls='--', lw=0.8,
                 color=line.get_color())
        ax2.plot(ep, [r['train_loss'] for r in recs], color=line.get_color(), label=label)
        ax2.plot(ep, [r['val_loss'] for r in recs], ls=':', color=line.get_color())
    ax1.set(xlabel='epoch', ylabel='error (%): test solid, train dashed')
    ax2.set(xlabel='epoch', ylabel='loss: train solid, test dotted')
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    if len(paths) > 1:
        ax1.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    folder = os.path.dirname(os.path.abspath(output))
    os.makedirs(folder, exist_ok=True)
    fig.savefig(output, dpi=100)
    plt.close(fig)
    return output


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m fusenet_gluon.results', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('metrics', nargs='+',
                        help='*-metrics.jsonl files, or folders searched for them')
    parser.add_argument('--plot', default=None, help='write the curves of all runs to this PNG')
    parser.add_argument('--min-accuracy', type=float, default=None, metavar='PERCENT',
                        help='exit with status 1 unless every run ends at least this accurate')
    args = parser.parse_args(argv)
    paths = []
    for m in args.metrics:
        if os.path.isdir(m):
            paths += sorted(glob.glob(os.path.join(m, '**', '*-metrics.jsonl'), recursive=True))
        else:
            paths.append(m)
    if not paths:
        raise UserError('no *-metrics.jsonl found in %s' % ', '.join(args.metrics))
    print(table(paths))
    if args.plot:
        print('curves in', plot_runs(paths, args.plot))
    if args.min_accuracy is not None:
        worst = min(100.0 * read_metrics(p)[-1]['val_acc'] for p in paths)
        verdict = 'meets' if worst >= args.min_accuracy else 'does NOT meet'
        print('lowest final test accuracy %.2f%%: %s the %.1f%% bar'
              % (worst, verdict, args.min_accuracy))
        return 0 if worst >= args.min_accuracy else 1
    return 0


def cli():
    raise SystemExit(run_cli(main, 'python -m fusenet_gluon.results'))


if __name__ == '__main__':
    cli()
