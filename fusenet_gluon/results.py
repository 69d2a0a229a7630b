"""Summarise several training runs, as the original's get_results.py / show_results.py.

    python -m fusenet_gluon.results snapshot/cifar10/*/model-metrics.jsonl [--plot curves.png]

Prints, per network, depth and width, the final test error of the runs as
``median (mean +/- std, best)`` in percent, and draws their curves in one PNG
(test error and training loss against the epoch, the paper's Figure 12 style).
"""
import argparse
import glob
import os

import numpy as np

from .plots import plot_runs
from .training.checkpoint import RunFiles, read_metrics, read_run_spec
from .utils import HelpFormatter, UserError, check_writable, os_error_message, run_cli


#: How a run's metrics file ends (``P-metrics.jsonl``), as RunFiles names it.
METRICS_SUFFIX = RunFiles('').metrics


def run_info(path):
    """``(label, data set, epochs planned)`` of the run behind a ``P-metrics.jsonl``, from
    its ``P-run.json`` (the network spec), else the folder's name."""
    run = RunFiles(path[:-len(METRICS_SUFFIX)]).run if path.endswith(METRICS_SUFFIX) else ''
    if run and os.path.isfile(run):
        spec, record = read_run_spec(run)
        label = spec.label if spec is not None else str(record.get('network'))
        return label, record.get('dataset'), record.get('num_epochs')
    return os.path.basename(os.path.dirname(os.path.abspath(path))), None, None


def run_label(path):
    """``network dDEPTH wW`` (and the data set, when known) of a run's metrics file."""
    label, dataset, _ = run_info(path)
    return label if dataset is None else '%s, %s' % (label, dataset)


def summarize(errors):
    """``median (mean +/- std, best)`` of test errors in percent."""
    e = np.asarray(errors, float)
    return '%.2f (%.2f +/- %.2f, %.2f)' % (np.median(e), e.mean(), e.std(), e.min())


def table(paths):
    """One row per network, data set and planned schedule: runs that differ in any of these
    are never summarised together."""
    groups = {}
    for path in paths:
        last = read_metrics(path)[-1]
        label, _, planned = run_info(path)
        key = run_label(path) + ('' if planned is None else ', %d epochs' % planned)
        groups.setdefault(key, []).append((100.0 * (1 - last['val_acc']), last['epoch']))
    lines = ['%-40s %5s %7s  %s' % ('network, data set, schedule', 'runs', 'epochs',
                                    'test error %: median (mean +/- std, best)')]
    for label in sorted(groups):
        errs = [e for e, _ in groups[label]]
        epochs = sorted(set(ep for _, ep in groups[label]))
        lines.append('%-40s %5d %7s  %s' % (label, len(errs), ','.join(map(str, epochs)),
                                            summarize(errs)))
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m fusenet_gluon.results', description=__doc__,
                                     formatter_class=HelpFormatter)
    parser.add_argument('metrics', nargs='+',
                        help='*-metrics.jsonl files, or folders searched for them')
    parser.add_argument('--plot', default=None, help='write the curves of all runs to this PNG')
    parser.add_argument('--force', action='store_true', help='overwrite an existing --plot PNG')
    parser.add_argument('--min-accuracy', type=float, default=None, metavar='PERCENT',
                        help='exit with status 1 unless every run ends at least this accurate')
    args = parser.parse_args(argv)
    if args.min_accuracy is not None and not 0 <= args.min_accuracy <= 100:
        raise UserError('--min-accuracy is a percentage from 0 to 100, got %g'
                        % args.min_accuracy)
    if args.plot:
        if not args.plot.lower().endswith('.png'):
            args.plot += '.png'   # what matplotlib writes for a name without an extension
        check_writable([args.plot], args.force)
    paths = []
    for m in args.metrics:
        if os.path.isdir(m):
            paths += sorted(glob.glob(os.path.join(m, '**', '*' + METRICS_SUFFIX),
                                      recursive=True))
        else:
            paths.append(m)
    if not paths:
        raise UserError('no *-metrics.jsonl found in %s' % ', '.join(args.metrics))
    print(table(paths))
    if args.plot:
        labels = ['%s (%s)' % (run_label(p), os.path.basename(os.path.dirname(os.path.abspath(p))))
                  for p in paths]
        try:
            print('curves in', plot_runs(paths, args.plot, labels=labels))
        except OSError as err:
            raise UserError('--plot %s: cannot write it (%s)' % (args.plot,
                                                                os_error_message(err))) from None
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
