"""What the model modules share: the named-block base, the original's spellings of depth and
the heads' average pooling."""
from mxnet import autograd
from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock


class NamedBlock(HybridBlock):
    """A block named N (``g2_b1``): its layers are named relative to ``N_``."""

    def __init__(self, name, **kwargs):
        super(NamedBlock, self).__init__(prefix=name + '_', **kwargs)


def one_depth(*spellings):
    """``depth`` and the original's spellings ``num_depth``/``net_depth`` are one argument:
    the one given (None if none), or ``ValueError`` when two disagree."""
    given = [d for d in spellings if d is not None]
    for other in given[1:]:
        if other != given[0]:
            raise ValueError('depth=%r and num_depth=%r disagree; give one of them'
                             % (given[0], other))
    return given[0] if given else None


# ---------------------------------------------------------------- the heads' average pooling
def average_pool(F, x, name=None, **kwargs):
    """``F.Pooling(x, pool_type='avg', **kwargs)``: y[n, c] = the mean of x[n, c] over each
    window, with a backward that stays off oneDNN's reference kernels.

    MXNet trap (MXNet 1.9.1's oneDNN on AVX-512 CPUs): when an average pooling's output is
    1x1, as at every head here, its backward gives the gradient a channels-last blocked
    layout (``acdB16b`` in oneDNN's verbose log) that no optimised kernel takes, so the
    pooling backward and the BatchNorm backwards that receive it run oneDNN's reference
    code: 131 of the 288 ms oneDNN spent in a DFN-MR num_depth 26 training step at batch 32,
    BatchNorms that take 0.1 ms otherwise taking 28.6 and 81.1 ms (Intel Xeon, 2026-12-01;
    ``python benchmarks/onednn_kernels.py --old-head``; the original's Module loses the same).
    With AVX2 only (``--isa AVX2``) the layout stays ``aBcd8b`` and the kernels optimised.

    Traced for training (``autograd.is_training()`` when a hybridized block builds its graph,
    or at each call of an imperative one), the mean is MXNet's own sum pooling divided by
    the window's size: the same values bit for bit as MXNet's average pooling (at every
    head's shape, with the AVX-512 and the AVX2 kernels; tests/test_pooling.py), and a
    gradient in plain layout. Otherwise (inference, export, quantization) it is the
    original's ``Pooling`` node, so a network first called for inference keeps that graph
    when it trains later (until ``hybridize()`` builds it again). Windows that reach into
    padding keep the original's op everywhere.
    """
    named = dict(name=name) if name else {}
    whole = kwargs.get('global_pool', False)
    plain = whole or (not any(kwargs.get('pad', ()) or ())
                      and kwargs.get('pooling_convention', 'valid') == 'valid')
    if kwargs.get('pool_type') != 'avg' or not plain or not autograd.is_training():
        return F.Pooling(x, **dict(kwargs, **named))
    sums = {k: v for k, v in kwargs.items() if k != 'count_include_pad'}
    sums['pool_type'] = 'sum'
    total = F.Pooling(x, **sums)
    if whole:  # the window is the whole map, whose size the graph does not know yet
        return total / F.Pooling(F.ones_like(x), **sums)
    kernel = kwargs['kernel']
    return total / float(kernel[0] * kernel[1])


class AvgPool2D(nn.AvgPool2D):
    """``nn.AvgPool2D`` computed by :func:`average_pool` (same graph for inference)."""

    def hybrid_forward(self, F, x):
        return average_pool(F, x, name='fwd', **self._kwargs)


class GlobalAvgPool2D(nn.GlobalAvgPool2D):
    """``nn.GlobalAvgPool2D`` computed by :func:`average_pool` (same graph for inference):
    (N, C, H, W) -> (N, C, 1, 1), the mean over H x W."""

    def hybrid_forward(self, F, x):
        return average_pool(F, x, name='fwd', **self._kwargs)
