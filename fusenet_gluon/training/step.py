"""A training step and an inference pass over a batch split across devices, with every
device's work queued before anything is read back, so the devices run side by side.

MXNet runs each device's operators on that device's own engine worker; a Python loop that
reads one device's result before it queues the next device's work (``asnumpy()`` inside
the loop, as a per-part metric update does) makes the devices take turns. Here every
device's forward (and backward) is queued first and results are read afterwards, the way
``mx.mod.Module``'s executor group runs its executors.

The other half of running devices side by side is MXNet's temporary workspace, which
:mod:`fusenet_gluon` widens when it is imported (see ``fusenet_gluon/__init__.py``).
:func:`hybridize_for_training` builds the graph the step runs.
"""
from mxnet import autograd, gluon
from mxnet.contrib import amp as mx_amp  # importing it changes nothing; amp.init() does

from ..optim import is_distributed

__all__ = ['CPU_SEGMENT', 'DataParallelStep', 'hybridize_for_training']

#: Operators per engine operation of a hybridized graph on CPU devices, forward and backward
#: alike (MXNet's own default is 15: MXNET_EXEC_BULK_EXEC_MAX_NODE_TRAIN_FWD and _BWD).
CPU_SEGMENT = 1000


def hybridize_for_training(net, contexts, kv_store=None):
    """Hybridize `net` as training runs it on `contexts`: its memory and shapes fixed at the
    first call (``static_alloc``, ``static_shape``), and on CPU devices of one process its
    forward and its backward queued in segments of up to :data:`CPU_SEGMENT` operators.

    A segment is one operation of MXNet's engine, whose bookkeeping (dependencies, queues,
    waking the worker) takes CPU time from the cores the devices compute on. A CPU device
    has a single engine worker, so its operators run one after another in segments of any
    length; the same kernels in the same order, bit for bit (tests/test_devices.py). What it
    saves is measured in docs/performance.md ("Is the original engine's speed the limit?",
    ``benchmarks/step_variants.py``): CPU time in every run, speed within the noise.
    GPUs and jobs with parameter servers (`kv_store` ``dist_*``) keep MXNet's segments:
    there the gradients' sums and transfers overlap the backward between segments. On the
    CPU the flags take the place of ``MXNET_EXEC_BULK_EXEC_MAX_NODE_TRAIN_FWD``/``_BWD``;
    ``MXNET_EXEC_BULK_EXEC_TRAIN=0`` still turns the segments off."""
    flags = dict(static_alloc=True, static_shape=True)
    if all(ctx.device_type == 'cpu' for ctx in contexts) and not is_distributed(kv_store):
        flags.update(forward_bulk_size=CPU_SEGMENT, backward_bulk_size=CPU_SEGMENT)
    net.hybridize(**flags)


class DataParallelStep(object):
    """Forward, backward and update of one batch split over `contexts`.

    Parameters
    ----------
    net : HybridBlock
        The network, initialised on every device of `contexts`.
    loss : callable
        ``loss(outputs, targets)`` -> per-sample losses (N,).
    trainer : gluon.Trainer
        Sums the devices' gradients and updates every device's copy.
    contexts : list of Context
        The devices; the batch is split evenly over them (as ``split_and_load``).
    amp : bool
        Scale the losses with AMP's dynamic loss scale (``mxnet.contrib.amp``, after
        ``amp.init`` and ``amp.init_trainer``).

    ``step(data, targets, batch_size)`` returns ``(outputs, losses)``, one of each per device,
    still on the devices (nothing has been waited for).
    """

    def __init__(self, net, loss, trainer, contexts, amp=False):
        self.net, self.loss, self.trainer = net, loss, trainer
        self.contexts, self.amp = list(contexts), amp

    def split(self, array):
        """`array` cut along the batch into one even part per device, on its device."""
        return gluon.utils.split_and_load(array, self.contexts)

    def forward_backward(self, data, targets):
        """The step without its update: every device's forward and backward, queued;
        returns ``(outputs, losses)`` as the step does."""
        xs, ts = self.split(data), self.split(targets)
        with autograd.record():
            outputs = [self.net(x) for x in xs]
            losses = [self.loss(o, t) for o, t in zip(outputs, ts)]
            if self.amp:  # the scaled loss must be recorded too, or backward has no graph
                with mx_amp.scale_loss(losses, self.trainer) as scaled:
                    autograd.backward(scaled)
        if not self.amp:
            autograd.backward(losses)
        return outputs, losses

    def __call__(self, data, targets, batch_size):
        outputs, losses = self.forward_backward(data, targets)
        self.trainer.step(batch_size)
        return outputs, losses
