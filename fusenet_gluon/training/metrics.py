"""Training and validation metrics: cross-entropy and top-1 (top-5) accuracy."""
import mxnet as mx
import numpy as np

__all__ = ['RunningMetrics', 'ensemble_log_probs']


def ensemble_log_probs(outputs):
    """The prediction of an ensemble from its components' logits (components, N, classes):
    the log of the mean of their softmax probabilities, the standard choice (the paper does
    not spell it out). As logits it gives the ensemble's accuracy and cross-entropy.

    Computed as a log-mean-exp of the components' log-probabilities: the mean of the
    probabilities themselves underflows to 0 for a confidently wrong class, and its log to
    minus infinity. A class that every member gives minus infinity stays there (its maximum
    is held finite, so no -inf - -inf makes it NaN, which argmax would pick)."""
    logp = mx.nd.log_softmax(outputs, axis=-1)
    top = mx.nd.maximum(logp.max(axis=0, keepdims=True), float(np.finfo(np.float32).min))
    return (top + mx.nd.log(mx.nd.exp(logp - top).mean(axis=0, keepdims=True)))[0]


class RunningMetrics(object):
    """Cross-entropy and top-1 (top-5) accuracy, summed over samples."""

    def __init__(self, top5=False):
        self.top5 = top5
        self.reset()

    def reset(self):
        self.n = 0
        self.loss = 0.0
        self.top1 = 0
        self.top5_hits = 0

    @staticmethod
    def batch(logits, labels, losses=None, top5=False):
        """One batch's sums: samples, loss, top-1 (and top-5) hits."""
        logits = logits.astype('float32').asnumpy()
        labels = labels.asnumpy().astype(np.int64)
        if losses is None:
            shifted = logits - logits.max(axis=1, keepdims=True)
            logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            losses = -logp[np.arange(len(labels)), labels]
        else:
            losses = losses.astype('float32').asnumpy()
        out = dict(n=len(labels), loss=float(losses.sum()),
                   top1=int((logits.argmax(axis=1) == labels).sum()), top5=0)
        if top5:
            top = np.argsort(-logits, axis=1)[:, :5]
            out['top5'] = int((top == labels[:, None]).any(axis=1).sum())
        return out

    def add(self, stats):
        self.n += stats['n']
        self.loss += stats['loss']
        self.top1 += stats['top1']
        self.top5_hits += stats['top5']

    def update(self, logits, labels, losses=None):
        """Add a batch; returns its mean loss."""
        stats = self.batch(logits, labels, losses, self.top5)
        self.add(stats)
        return stats['loss'] / max(stats['n'], 1)

    def state(self):
        """The running sums, JSON-ready (a partial epoch's checkpoint keeps them)."""
        return dict(n=self.n, loss=self.loss, top1=self.top1, top5=self.top5_hits)

    def load(self, state):
        """Continue from sums :meth:`state` gave."""
        self.n, self.loss = state['n'], state['loss']
        self.top1, self.top5_hits = state['top1'], state['top5']

    def get(self):
        n = max(self.n, 1)
        out = dict(loss=self.loss / n, acc=self.top1 / n)
        if self.top5:
            out['top5'] = self.top5_hits / n
        return out
