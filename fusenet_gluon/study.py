"""The paper's study: a deeply-fused net against the ensemble of its own components.

    python -m fusenet_gluon.study evaluate --prefix P --epoch N --data-dir D [--json FILE]
    python -m fusenet_gluon.study table1 --depths 14,20,26 --num-epochs 20 --data-dir D
    python -m fusenet_gluon.study table3 --depths 14,20,26 --num-epochs 20 --data-dir D
    (and table2, figure2, figure4, figure5 with the same options)

``evaluate`` gives the test error (%) of each component of a trained ensemble, of the
ensemble (the mean of the components' softmax probabilities) and of every leave-one-out
sub-ensemble (the paper's Table 3). One sub-command per experiment of the paper:

* ``table1``  the three-fusion net (fuse3) against the ensemble of its components;
* ``table2``  each component's error in the weight-shared ensemble (W/) and in eight
  separately weighted networks (W/O);
* ``table3``  the ensemble with one component left out at test time;
* ``figure2`` plain, fuse3 and the ensemble across depths;
* ``figure4`` fuse3 (an ensemble of 8), fuse6 (64) and resnet across depths;
* ``figure5`` Ensemble-8, Ensemble-7 (without RRR) retrained, and Ensemble-7 without
  retraining (Ensemble-8 evaluated without RRR).

Each trains what it needs with ``train_cifar.py``'s recipe, through the library (a
``RunConfig`` made in Python; ``--num-epochs``, ``--num-examples``, ``--lr-steps``, the
batch, the data and the devices are the training command line's flags, passed on; ``--runs``
gives the seeds), only what is not finished yet, so
an interrupted study continues where it stopped and the experiments share their runs
(``OUT/NETWORK_dDEPTHwW[...]_rRUN/model``). It prints the table beside the paper's CIFAR-10
numbers where the paper gives numbers, and draws the figure as a PNG (``OUT/NAME.png``).
The paper's numbers are CIFAR-10 at 400 epochs; ours are at the scale given.
"""
import argparse
import json
import os
import sys

import mxnet as mx
import numpy as np

from . import arch, paper, upstream
from .data import get_loaders
from .data.meta import read_meta
from .model_zoo import from_spec
from .spec import NetworkSpec
from .training import checkpoint, options
from .training.loop import Interrupted, NonFiniteLoss, train
from .training.metrics import ensemble_log_probs
from .training.options import add_run_arguments
from .utils import HelpFormatter, UserError, check_writable, parse_ints, run_cli, tracked

#: Epochs of every run of a study unless --num-epochs says otherwise (the paper's 400 are
#: days on a CPU).
STUDY_EPOCHS = 20
#: The training flags a study passes on to its runs (options.RUN_FLAGS, by dest).
RUN_DESTS = add_run_arguments(argparse.ArgumentParser(add_help=False))


# ---------------------------------------------------------------- evaluating an ensemble
def ensemble_errors(log_probs, labels, names):
    """Test errors (%) from the components' log-probabilities (N, components, classes):
    ``{'components': {name: e}, 'ensemble': e, 'leave_one_out': {name: e}}``, every
    ensemble combined as training combines it (:func:`~.training.metrics.
    ensemble_log_probs`: the mean of its members' probabilities), in float64."""
    members = mx.nd.array(log_probs.transpose(1, 0, 2), dtype='float64')

    def error(logits):
        return round(100.0 * float((logits.argmax(-1) != labels).mean()), 4)

    def combined(keep):
        return error(ensemble_log_probs(members[keep]).asnumpy())
    out = dict(components={n: error(log_probs[:, k]) for k, n in enumerate(names)},
               ensemble=combined(list(range(len(names)))), leave_one_out={})
    if len(names) > 1:
        for k, n in enumerate(names):
            out['leave_one_out'][n] = combined([j for j in range(len(names)) if j != k])
    return out


def predict(net, loader, ctx):
    """Every test record's log-probabilities under each component, and the labels."""
    logp, labels = [], []
    for data, label in tracked(loader, len(loader), 'evaluate',
                               report=lambda line: print(line, file=sys.stderr, flush=True)):
        out = net(data.as_in_context(ctx))
        logp.append(mx.nd.log_softmax(out, axis=-1).asnumpy().transpose(1, 0, 2))
        labels.append(label.asnumpy())
    return np.concatenate(logp), np.concatenate(labels)


def load_ensemble(prefix, epoch):
    """The ensemble of the run with prefix `prefix`, from its ``-run.json`` (the network
    spec), with the weights of its checkpoint `epoch`."""
    files = checkpoint.RunFiles(prefix)
    files.check_resumable(epoch)
    spec = None
    if os.path.isfile(files.run):
        spec, _ = checkpoint.read_run_spec(files.run)
    if spec is None or spec.component_names is None:
        raise UserError('%s is not a checkpoint of the ensemble (its run is %s); study '
                        'evaluate takes a run of train_cifar.py --network ensemble'
                        % (files.params(epoch), spec.label if spec else 'unknown: no '
                           'readable %s' % os.path.basename(files.run)))
    net = upstream.load_params(from_spec(spec), files.params(epoch))
    return net, spec


def evaluate(prefix, epoch, data_dir, dataset=None, batch_size=100):
    """:func:`ensemble_errors` of the checkpoint on the test set of `data_dir`."""
    net, spec = load_ensemble(prefix, epoch)
    # as training decides it: no folder is the embedded digits, a folder says what it holds
    dataset = dataset or read_meta(data_dir) or ('cifar10' if data_dir else 'digits')
    _, val = get_loaders(dataset, data_dir, batch_size)
    log_probs, labels = predict(net, val, mx.cpu())
    return ensemble_errors(log_probs, labels, list(spec.component_names))


def format_evaluation(result):
    names = list(result['components'])
    rows = ['%-22s %s' % ('', ' '.join('%7s' % n for n in names)),
            '%-22s %s' % ('component error %', ' '.join(
                '%7.2f' % result['components'][n] for n in names))]
    if result['leave_one_out']:
        rows.append('%-22s %s' % ('without it, ensemble %', ' '.join(
            '%7.2f' % result['leave_one_out'][n] for n in names)))
    rows.append('ensemble error %%: %.2f' % result['ensemble'])
    return '\n'.join(rows)


# ---------------------------------------------------------------- training what a table needs
class Study(object):
    """The runs of a study under ``OUT/``, trained with train_cifar.py's recipe.

    `args` are the study's parsed flags; `run_flags` the dests of the training flags it
    passes on to every run (:func:`~fusenet_gluon.training.options.add_run_arguments`)."""

    def __init__(self, args, run_flags=RUN_DESTS):
        self.args, self.folder = args, args.out
        self.run_arguments = {dest: getattr(args, dest) for dest in run_flags}

    def prefix(self, spec, run):
        return os.path.join(self.folder, '%s_r%d' % (spec.tag, run), 'model')

    def config(self, spec, run, load_epoch=None, force=False):
        """The :class:`~fusenet_gluon.training.RunConfig` of run `run` of `spec`: the
        network as the spec says, seed `run`, the study's training flags."""
        return options.config(
            network=spec.network, depth=spec.depth, widen_factor=spec.widen_factor,
            components=spec.components, no_weight_sharing=not spec.share_weights,
            model_prefix=self.prefix(spec, run), rand_seed=run, load_epoch=load_epoch,
            no_plot=True, log_iters=100, force=force, **self.run_arguments)

    def train(self, spec, run):
        """Train `spec` (run number `run`) unless finished; resume it when interrupted.
        Returns the prefix of the finished run."""
        prefix = self.prefix(spec, run)
        done = checkpoint.RunFiles(prefix).checkpoint_epochs()
        if self.args.num_epochs in done:
            print('study: %s is finished' % prefix, flush=True)
            return prefix
        files = checkpoint.RunFiles(prefix)
        # a run that failed before its first checkpoint starts over (--force)
        cfg = self.config(spec, run, done[-1] if done else None,
                          force=not done and bool(files.existing()))
        print('study: training %s%s' % (prefix, ' from epoch %d' % done[-1] if done else ''),
              flush=True)
        try:
            train(cfg)
        except (NonFiniteLoss, Interrupted) as err:
            raise UserError('training %s stopped (%s); run the study again to continue it'
                            % (prefix, err)) from None
        return prefix

    def final_error(self, prefix):
        metrics = checkpoint.read_metrics(checkpoint.RunFiles(prefix).metrics)
        return 100.0 * (1 - metrics[-1]['val_acc'])

    def error(self, spec):
        """The mean final test error (%) of `spec` over the runs, training what is missing."""
        return _runs_mean([self.final_error(self.train(spec, r))
                           for r in range(1, self.args.runs + 1)])

    def evaluations(self, spec):
        """:func:`evaluate` of every run of the ensemble `spec`, training what is missing."""
        a = self.args
        return [evaluate(self.train(spec, r), a.num_epochs, a.data_dir, a.dataset)
                for r in range(1, a.runs + 1)]


def _runs_mean(values):
    return float(np.mean(values)) if values else float('nan')


def _header(title, args):
    return '%s (ours: mean of %d run(s), %d epochs; paper: CIFAR-10, 400 epochs)' % (
        title, args.runs, args.num_epochs)


def table1(args):
    """fuse3 (the deeply-fused net) against the ensemble of its components, per depth."""
    study, rows = Study(args), []
    for depth in args.depths:
        rows.append((depth, study.error(NetworkSpec('fuse3', depth)),
                     study.error(NetworkSpec(arch.ENSEMBLE, depth)))
                    + paper.TABLE1.get(depth, (None, None)))
    lines = [_header('Table 1: test error %', args),
             '%6s | %10s %10s | %11s %11s' % ('depth', 'fuse3', 'ensemble', 'paper fuse3',
                                             'paper ens.')]
    for depth, f, e, pf, pe in rows:
        lines.append('%6d | %10.2f %10.2f | %11s %11s' % (depth, f, e, _num(pf), _num(pe)))
    series = {'fuse3': [r[1] for r in rows], 'ensemble': [r[2] for r in rows]}
    return '\n'.join(lines), series, dict(fuse3=[r[3] for r in rows],
                                          ensemble=[r[4] for r in rows])


def _mean_of(results, key, names):
    return {n: _runs_mean([res[key][n] for res in results]) for n in names}


def table2(args):
    """Each component's error, weights shared (W/) and not (W/O), and the ensemble's."""
    study, lines, series = Study(args), [_header('Table 2: test error %', args)], {}
    names = paper.TABLE3_ORDER
    lines.append('%6s %-10s | %s | %7s' % ('depth', '', ' '.join('%6s' % n for n in names),
                                           'all'))
    for depth in args.depths:
        for label, share in (('W/O', False), ('W/', True)):
            results = study.evaluations(NetworkSpec(arch.ENSEMBLE, depth, share_weights=share))
            each = _mean_of(results, 'components', names)
            overall = _runs_mean([res['ensemble'] for res in results])
            lines.append('%6d %-10s | %s | %7.2f' % (depth, label + ' ours', ' '.join(
                '%6.2f' % each[n] for n in names), overall))
            ref = paper.TABLE2.get(depth, {}).get(label)
            if ref:
                lines.append('%6s %-10s | %s | %7.2f' % ('', label + ' paper', ' '.join(
                    '%6s' % _num(v) for v in ref[:-1]), ref[-1]))
            series.setdefault('ensemble ' + label, []).append(overall)
    return '\n'.join(lines), series, {}


def table3(args):
    """The ensembles of Table 1 with one component left out at test time."""
    study, rows = Study(args), []
    for depth in args.depths:
        results = study.evaluations(NetworkSpec(arch.ENSEMBLE, depth))
        rows.append((depth, _mean_of(results, 'leave_one_out', paper.TABLE3_ORDER),
                     _runs_mean([res['ensemble'] for res in results]), paper.TABLE3.get(depth)))
    head = ' '.join('%6s' % ('-' + n) for n in paper.TABLE3_ORDER)
    lines = [_header('Table 3: ensemble test error % without one component', args),
             '%6s %7s | %s | %s' % ('depth', '', head, 'overall')]
    for depth, loo, overall, ref in rows:
        lines.append('%6d %7s | %s | %7.2f' % (depth, 'ours', ' '.join(
            '%6.2f' % loo[n] for n in paper.TABLE3_ORDER), overall))
        if ref:
            lines.append('%6s %7s | %s | %7.2f' % ('', 'paper', ' '.join(
                '%6.2f' % v for v in ref[:-1]), ref[-1]))
    series = {'without ' + n: [r[1][n] for r in rows] for n in paper.TABLE3_ORDER}
    series['all eight'] = [r[2] for r in rows]
    return '\n'.join(lines), series, {}


def _networks_by_depth(args, title, specs):
    """A table and a figure of the final errors of `specs` (label -> depth -> spec)."""
    study = Study(args)
    series = {label: [study.error(make(depth)) for depth in args.depths]
              for label, make in specs}
    lines = [_header(title, args) + ' (the paper gives this as a figure only)',
             '%6s | %s' % ('depth', ' '.join('%10s' % label for label, _ in specs))]
    for i, depth in enumerate(args.depths):
        lines.append('%6d | %s' % (depth, ' '.join('%10.2f' % series[label][i]
                                                   for label, _ in specs)))
    return '\n'.join(lines), series, {}


def figure2(args):
    return _networks_by_depth(args, 'Figure 2: test error %', [
        ('plain', lambda d: NetworkSpec('plain', d)),
        ('fuse3', lambda d: NetworkSpec('fuse3', d)),
        ('ensemble', lambda d: NetworkSpec(arch.ENSEMBLE, d))])


def figure4(args):
    return _networks_by_depth(args, 'Figure 4: test error %', [
        ('fuse3', lambda d: NetworkSpec('fuse3', d)),
        ('fuse6', lambda d: NetworkSpec('fuse6', d)),
        ('resnet', lambda d: NetworkSpec('resnet', d))])


def figure5(args):
    """Ensemble-8; Ensemble-7 (without RRR) retrained; Ensemble-8 evaluated without RRR."""
    study, series = Study(args), {}
    seven = tuple(c for c in arch.ENSEMBLE_COMPONENTS if c != 'RRR')
    for depth in args.depths:
        eight = study.evaluations(NetworkSpec(arch.ENSEMBLE, depth))
        series.setdefault('Ensemble-8', []).append(_runs_mean([r['ensemble'] for r in eight]))
        series.setdefault('Ensemble-7 retrained', []).append(
            study.error(NetworkSpec(arch.ENSEMBLE, depth, components=seven)))
        series.setdefault('Ensemble-7 without retraining', []).append(
            _runs_mean([r['leave_one_out']['RRR'] for r in eight]))
    lines = [_header('Figure 5: test error %', args) + ' (the paper gives this as a figure)',
             '%6s | %s' % ('depth', ' '.join('%30s' % k for k in series))]
    for i, depth in enumerate(args.depths):
        lines.append('%6d | %s' % (depth, ' '.join('%30.2f' % v[i] for v in series.values())))
    return '\n'.join(lines), series, {}


EXPERIMENTS = {'table1': table1, 'table2': table2, 'table3': table3, 'figure2': figure2,
               'figure4': figure4, 'figure5': figure5}


def _num(value):
    return '-' if value is None else '%.2f' % value


def plot_series(depths, series, reference, title, output):
    """Our errors (solid) and the paper's (dashed, where it gives numbers) against depth."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for label, values in series.items():
        line, = ax.plot(depths, values, 'o-', label='%s (ours)' % label)
        ref = reference.get(label)
        if ref and any(v is not None for v in ref):
            ax.plot([d for d, v in zip(depths, ref) if v is not None],
                    [v for v in ref if v is not None], 'o--', color=line.get_color(),
                    label='%s (paper, CIFAR-10)' % label)
    ax.set(xlabel='num_depth', ylabel='test error (%)', title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    fig.savefig(output, dpi=100)
    plt.close(fig)
    return output


# ---------------------------------------------------------------- command line
def _experiment_args(p):
    p.add_argument('--depths', default='14,20,26', help='num_depth values (default: 14,20,26)')
    p.add_argument('--runs', type=int, default=1, help='runs per network and depth (seeds 1..)')
    p.add_argument('--out', default='snapshot/study', help='where the runs and tables go')
    add_run_arguments(p, num_epochs=STUDY_EPOCHS, cpu_devices='auto')


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m fusenet_gluon.study', description=__doc__,
                                     formatter_class=HelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('evaluate', help='errors of an ensemble checkpoint: its components, '
                                        'the ensemble, each leave-one-out sub-ensemble')
    p.add_argument('--prefix', required=True)
    p.add_argument('--epoch', type=int, required=True)
    p.add_argument('--json', default=None, help='also write the errors to this JSON file')
    p.add_argument('--force', action='store_true', help='overwrite an existing --json file')
    add_run_arguments(p, ('--data-dir', '--dataset'))
    for name, text in (('table1', 'fuse3 vs the ensemble across depths (Table 1)'),
                       ('table2', 'components with and without weight sharing (Table 2)'),
                       ('table3', 'the ensemble with one component left out (Table 3)'),
                       ('figure2', 'plain vs fuse3 vs the ensemble (Figure 2)'),
                       ('figure4', 'fuse3 vs fuse6 vs resnet (Figure 4)'),
                       ('figure5', 'Ensemble-8, Ensemble-7 retrained or not (Figure 5)')):
        _experiment_args(sub.add_parser(name, help=text, description=text,
                                        formatter_class=HelpFormatter))
    args = parser.parse_args(argv)
    if args.command == 'evaluate':
        if args.json:
            check_writable([args.json], args.force)   # before the evaluation, not after it
        result = evaluate(args.prefix, args.epoch, args.data_dir, args.dataset)
        print(format_evaluation(result))
        if args.json:
            with open(args.json, 'w') as f:
                json.dump(result, f, indent=1)
        return 0
    args.depths = parse_ints(args.depths, '--depths', '14,20,26')
    for depth in args.depths:
        NetworkSpec('fuse3', depth), NetworkSpec(arch.ENSEMBLE, depth)  # errors before work
    if args.runs < 1 or args.num_epochs < 1:
        raise UserError('--runs and --num-epochs must be at least 1')
    text, series, reference = EXPERIMENTS[args.command](args)
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, args.command + '.txt'), 'w') as f:
        f.write(text + '\n')
    title = '%s (%d epochs)' % (text.splitlines()[0].split(' (')[0], args.num_epochs)
    print('figure in', plot_series(args.depths, series, reference, title,
                                   os.path.join(args.out, args.command + '.png')))
    return 0


def cli():
    raise SystemExit(run_cli(main, 'python -m fusenet_gluon.study'))


if __name__ == '__main__':
    cli()
