"""Curves of training runs: test error and loss against the epoch, in one PNG."""
import os

from .training.checkpoint import read_metrics

__all__ = ['plot_runs']


def plot_runs(paths, output, title=None, labels=None):
    """Test error and training loss of every run (its ``P-metrics.jsonl`` in `paths`)
    against the epoch, in one PNG; `labels` name the runs in the legend."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for path in paths:
        recs = read_metrics(path)
        ep = [r['epoch'] for r in recs]
        label = labels[paths.index(path)] if labels else None
        marker = 'o' if len(recs) == 1 else None  # a single epoch is a point, not a line
        line, = ax1.plot(ep, [100 * (1 - r['val_acc']) for r in recs], label=label,
                         marker=marker)
        ax1.plot(ep, [100 * (1 - r['train_acc']) for r in recs], ls='--', lw=0.8,
                 color=line.get_color(), marker=marker)
        ax2.plot(ep, [r['train_loss'] for r in recs], color=line.get_color(), label=label,
                 marker=marker)
        ax2.plot(ep, [r['val_loss'] for r in recs], ls=':', color=line.get_color(),
                 marker=marker)
    ax1.set(xlabel='epoch', ylabel='error (%): test solid, train dashed')
    ax2.set(xlabel='epoch', ylabel='loss: train solid, test dotted')
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    if labels:
        ax1.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    folder = os.path.dirname(os.path.abspath(output))
    os.makedirs(folder, exist_ok=True)
    fig.savefig(output, dpi=100)
    plt.close(fig)
    return output
