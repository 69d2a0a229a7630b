"""What the model modules share: the named-block base, the original's spellings of depth, and
the training graph's faster forms of three of the original's layers (the heads' average
pooling, BatchNorm followed by ReLU, DFN-MR's merge weight), with the networks' mixin that
builds that graph."""
import numpy as np
from mxnet import autograd
from mxnet import context as mx_context
from mxnet.contrib.amp import amp as amp_state
from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock
from mxnet.ndarray import NDArray

from .. import arch


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


def training_graph_on_cpu():
    """Whether the graph being built is for training (``autograd.is_training()`` as a
    hybridized block builds its graph, or at each call of an imperative one) in a process
    without GPUs: where the forms below replace the original's ops. Graphs built for
    inference (export, quantization, a network first called for inference, until its first
    training call: :class:`TrainingGraphNet`) and every graph on GPUs (cuDNN has neither
    trap) keep the original's ops node for node."""
    return autograd.is_training() and not mx_context.num_gpus()


def amp_active():
    """Whether ``mxnet.contrib.amp.init()`` has run in this process: it patches the ops the
    graph is built from, for good (MXNet 1.9.1 keeps this in a private flag, read here only)."""
    return bool(amp_state._amp_initialized)


class TrainingGraphNet(object):
    """Mixin of the networks (before ``HybridBlock`` in the bases): a hybridized network
    whose graph was built by a call for inference builds it again at its first call for
    training on the CPU (:func:`training_graph_on_cpu`).

    MXNet trap: Gluon 1.9.1's hybridized block builds one graph at its first call and serves
    training and inference from it until ``hybridize()`` is called again, and the training
    forms below are built only when that first call trains. A network first called for
    inference (a look at its output, the evaluation a resumed run starts with when its
    checkpoint holds a whole epoch) would otherwise train on the original's ops: on AVX-512
    with the slow pooling backward, and with other arithmetic (such a resume ended ~1e-5
    away from the run never stopped: tests/test_loop.py). A graph built for training serves
    inference as it is: the same values (tests/test_pooling.py, tests/test_bn_relu.py).
    """
    _graph_trains = False   # whether the graph built last was built for training

    def forward(self, x, *args):
        if self._active and isinstance(x, NDArray):
            if self._cached_op is not None and not self._graph_trains \
                    and training_graph_on_cpu():
                self._clear_cached_op()
            if self._cached_op is None:
                self._graph_trains = training_graph_on_cpu()
        return super(TrainingGraphNet, self).forward(x, *args)


# ---------------------------------------------------------------- the graph's own input and output
def graph_edge(F, x):
    """`x` at the graph's input or output: in a graph built for training on the CPU
    (:func:`training_graph_on_cpu`), ``slice_axis`` over the whole first axis, a copy of `x`
    (its gradient passed back unchanged); elsewhere `x` itself.

    MXNet trap (MXNet 1.9.1, several CPU devices): a hybridized graph runs in prebuilt engine
    segments (here of up to 1000 operators, ``training.step.hybridize_for_training``) except
    the operators that read the call's input or write its output, which run one by one as
    imperative operators (``src/imperative/cached_op.cc``, ``StaticRunOps``). Every CPU device
    shares one pool of temporary workspaces (``MXNET_CPU_TEMP_COPY``), and an imperative
    operator that needs one takes the next of the pool at each call, sometimes the one that
    another device's graph holds for its whole segment: it then waits for that segment,
    45-90 ms, and its device with it. At the edges of DFN-MR were the first convolution and
    the classifier, forward and backward, which need a workspace: in 3 epochs on the digits
    on two devices 6 to 10 of the 150 long segments ran after the other device's instead of
    beside it, none since (``turns`` of ``python benchmarks/device_busy.py``).
    ``slice_axis`` needs none, forward or backward, and puts those layers inside the
    segments (with the loss of :class:`training.recipe.SoftmaxCrossEntropy`: no segment
    waited, docs/performance.md, "Waiting for another device's workspace"). Graphs built
    for inference and on GPUs (a pool each) keep the original's nodes.
    """
    if not training_graph_on_cpu():
        return x
    return F.slice_axis(x, axis=0, begin=0, end=None)


# ---------------------------------------------------------------- the heads' average pooling
def average_pool(F, x, name=None, **kwargs):
    """``F.Pooling(x, pool_type='avg', **kwargs)``: y[n, c] = the mean of x[n, c] over each
    window, with a backward that stays off oneDNN's reference kernels.

    MXNet trap (MXNet 1.9.1's oneDNN on AVX-512 CPUs): when an average pooling's output is
    1x1, as at every head here, its backward gives the gradient a channels-last blocked
    layout (``acdB16b`` in oneDNN's verbose log) that no optimised kernel takes, so the
    pooling backward and the BatchNorm backwards that receive it run oneDNN's reference
    code: 66.5 of the 211 ms oneDNN spent in a DFN-MR num_depth 26 training step at batch
    32, two BatchNorm calls 48.0 ms against 14.1 for the other 56 (Intel Xeon, 2026-12-01,
    ``python benchmarks/onednn_kernels.py --old-head``; the original's Module loses the
    same). With AVX2 only (``--isa AVX2``) the layout stays ``aBcd8b``, the kernels fast.

    So when a graph is built for training on the CPU (:func:`training_graph_on_cpu`), the
    mean is MXNet's own sum pooling divided by the window's size: the same float32 values
    bit for bit as MXNet's average pooling (every head's shape, oneDNN's AVX-512 and AVX2
    kernels: tests/test_pooling.py), and a gradient in plain layout. Under AMP the sum is
    taken in float32 (MXNet's sum pooling has no bfloat16 kernel). A graph built for
    inference (export, quantization, a network first called for inference until it trains:
    :class:`TrainingGraphNet`) has the
    original's ``Pooling`` node; a graph built for training also serves that network's
    inference until ``hybridize()`` builds it again. GPUs (cuDNN), and windows that reach
    into padding, keep the original's op.
    """
    named = dict(name=name) if name else {}
    whole = kwargs.get('global_pool', False)
    plain = whole or (not any(kwargs.get('pad', ()) or ())
                      and kwargs.get('pooling_convention', 'valid') == 'valid')
    if kwargs.get('pool_type') != 'avg' or not plain or not training_graph_on_cpu():
        return F.Pooling(x, **dict(kwargs, **named))
    if amp_active():  # AMP casts Pooling's input to bfloat16/float16
        x = F.amp_cast(x, dtype='float32')
    sums = {k: v for k, v in kwargs.items() if k != 'count_include_pad'}
    sums['pool_type'] = 'sum'
    total = F.Pooling(x, **sums)
    if whole:  # the window is the whole map, whose size the graph does not know yet
        return total / F.BlockGrad(F.Pooling(F.ones_like(x), **sums))
    return total / float(np.prod(kwargs['kernel']))


class _AveragePooling(object):
    """Gluon's pooling layer computed by :func:`average_pool` (its inference graph is
    Gluon's own, node for node)."""

    def hybrid_forward(self, F, x):
        return average_pool(F, x, name='fwd', **self._kwargs)


class AvgPool2D(_AveragePooling, nn.AvgPool2D):
    """``nn.AvgPool2D`` computed by :func:`average_pool`."""


class GlobalAvgPool2D(_AveragePooling, nn.GlobalAvgPool2D):
    """``nn.GlobalAvgPool2D`` computed by :func:`average_pool`: (N, C, H, W) -> (N, C, 1,
    1), the mean over H x W."""


# ---------------------------------------------------------------- BatchNorm followed by ReLU
def batch_norm_op(F, relu):
    """The op that computes a BatchNorm, and whether a ReLU is still to be applied after it:
    ``(F.contrib.BatchNormWithReLU, False)`` for a BatchNorm followed by a ReLU (`relu`) in a
    graph built for training on the CPU (:func:`training_graph_on_cpu`), else
    ``(F.BatchNorm, relu)``.

    ``BatchNormWithReLU`` is MXNet's own op for y = max(0, BN(x)): oneDNN's batch
    normalization with its ReLU fused, forward and backward, so the step skips an
    activation's pass over the map each way. Its outputs, gradients and running statistics
    are MXNet's BatchNorm-then-ReLU bit for bit (oneDNN's AVX-512 and AVX2 kernels:
    tests/test_bn_relu.py). It has no GPU kernel, and the graphs built for inference keep
    the original's two nodes, so exported graphs do not change.
    """
    if fuses_relu(relu):
        return F.contrib.BatchNormWithReLU, False
    return F.BatchNorm, relu


def fuses_relu(relu):
    """Whether :func:`batch_norm_op` gives the op with the ReLU inside, for a BatchNorm that
    a ReLU follows (`relu`)."""
    return bool(relu) and training_graph_on_cpu()


class BatchNorm(nn.BatchNorm):
    """``nn.BatchNorm``; with ``relu=True`` the layer that follows it is a ReLU, which this
    block computes itself where :func:`batch_norm_op` says so (:meth:`takes_relu`): the
    enclosing block then applies ``F.Activation`` only when ``not takes_relu()``, which keeps
    the original's ``Activation`` node, named as before, in every graph built for
    inference. Parameters, names and shapes are ``nn.BatchNorm``'s."""

    def __init__(self, relu=False, **kwargs):
        super(BatchNorm, self).__init__(**kwargs)
        self.relu = relu

    def takes_relu(self):
        """Whether the graph being built computes this block's ReLU inside its op."""
        return fuses_relu(self.relu)

    def hybrid_forward(self, F, x, gamma, beta, running_mean, running_var):
        op, _ = batch_norm_op(F, self.relu)
        return op(x, gamma, beta, running_mean, running_var, name='fwd', **self._kwargs)


# ---------------------------------------------------------------- DFN-MR's merge weight
def merge_weigher(F, channels, branch):
    """How a graph multiplies DFN-MR's merged streams ``line1 + line2`` (`channels` maps,
    of the type of the parameters of `branch`, a block beside the merge) by
    ``arch.MERGE_WEIGHT``: None, the original's ``_mul_scalar`` node, or in a
    float32 graph built for training on the CPU (:func:`training_graph_on_cpu`) outside AMP,
    a function giving the same product as a depthwise 1x1 ``Convolution`` whose weight is
    the constant ``MERGE_WEIGHT`` (no parameter: the graph makes it; no gradient flows to it).

    MXNet trap (MXNet 1.9.1's oneDNN, AVX2 and AVX-512 alike): the maps inside a training
    step are in oneDNN's blocked layout (``aBcd8b`` on AVX2), and ``_mul_scalar`` has no
    oneDNN kernel, so MXNet reorders its input to plain layout and its output back, forward
    and backward, at every merge: 38 reorders of whole maps in a num_depth 26 step, 9 with
    the convolution, whose oneDNN kernel (``jit_dw``) takes and gives the blocked layout
    (``python benchmarks/merge_weight.py --reorders``). The products are the same bit for
    bit, forward and backward (one product by a power of two, added to zero:
    tests/test_merge.py); a training step on one device is 1.04-1.07x as fast
    (docs/performance.md, "DFN-MR's merge weight"). Graphs built for inference, on GPUs,
    under AMP (whose bfloat16 convolution would round the merge) or in other types keep the
    original's node.
    """
    if not training_graph_on_cpu() or amp_active() \
            or any(np.dtype(p.dtype) != np.float32 for p in branch.collect_params().values()):
        return None

    def weigh(total):
        where = dict(ctx=total.context) if isinstance(total, NDArray) else {}
        weight = F.BlockGrad(F.full(shape=(channels, 1, 1, 1), val=arch.MERGE_WEIGHT,
                                    dtype='float32', **where))
        return F.Convolution(total, weight, kernel=(1, 1), num_filter=channels,
                             num_group=channels, no_bias=True)
    return weigh
