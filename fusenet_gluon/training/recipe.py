"""The authors' recipe (docs/reference.md, section 3), as Gluon objects.

The deep-fusion nets: NAG with momentum 0.9 and weight decay 1e-4 on every parameter,
gradients averaged over the batch behind an update, the multi-factor schedule counted in
updates (epoch_size = examples // batch), fully connected layers initialised
Xavier(uniform, in, 1) and every other weight Xavier(gaussian, in, 2); BatchNorm gamma 1,
beta 0. DLA trains with its authors' choices where they differ: plain SGD with momentum
and their initialisation. Which optimizer and initializer a network takes is its family's
entry (:mod:`fusenet_gluon.families`). Beyond the original, off by default: a cosine
schedule, linear warmup, label smoothing and mixup.
"""
import os
import re

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..optim import FastTrainer
from ..utils import UserError

__all__ = ['OriginalInit', 'initializer', 'make_scheduler', 'make_trainer', 'make_loss',
           'mix_targets']


@mx.init.register
class OriginalInit(mx.init.Initializer):
    """The original's ``Mixed(['.*fc.*', '.*'], [...])`` as one Gluon initializer: weights of
    fully connected layers Xavier(uniform, in, 1), every other weight Xavier(gaussian, in, 2);
    biases 0; BatchNorm gamma 1 and beta 0 (their own initialisers in Gluon)."""

    def __init__(self):
        super(OriginalInit, self).__init__()
        self._fc = mx.init.Xavier(rnd_type='uniform', factor_type='in', magnitude=1)
        self._rest = mx.init.Xavier(rnd_type='gaussian', factor_type='in', magnitude=2)

    def _init_weight(self, name, arr):
        (self._fc if re.match('.*fc.*', name) else self._rest)._init_weight(name, arr)


def initializer(spec=None):
    """The initialisation of the recipe: the one the entry of `spec`'s family names (the
    original's, :class:`OriginalInit`; DLA: its authors', ``models.dla.DLAInit``)."""
    if spec is None:
        return OriginalInit()
    return mx.init.create(spec.family.initializer)


def make_scheduler(lr, epoch_size, num_epochs, steps, factor=0.1, mode='step',
                   warmup_epochs=0):
    """The learning-rate schedule, counted in updates.

    ``mode='step'``: the original's multi-factor schedule, `lr` multiplied by `factor` once
    the update count passes ``epoch_size * s`` for each epoch `s` in `steps`;
    ``mode='cosine'``: from `lr` to 0 over the run. Both after `warmup_epochs` of linear
    warmup from 0.
    """
    warmup = int(warmup_epochs * epoch_size)
    if mode == 'cosine':
        return mx.lr_scheduler.CosineScheduler(
            max_update=max(1, num_epochs * epoch_size), base_lr=lr, final_lr=0,
            warmup_steps=warmup, warmup_begin_lr=0)
    # short runs give repeated steps (3 epochs: 1, 2, 2), which MXNet's scheduler refuses
    updates = sorted(set(epoch_size * s for s in steps if 0 < s))
    if not updates:
        return mx.lr_scheduler.FactorScheduler(step=2 ** 31 - 1, factor=1.0, base_lr=lr,
                                               warmup_steps=warmup, warmup_begin_lr=0)
    return mx.lr_scheduler.MultiFactorScheduler(step=updates, factor=factor, base_lr=lr,
                                                warmup_steps=warmup, warmup_begin_lr=0)


def describe_schedule(lr, num_epochs, steps, factor=0.1, mode='step', warmup_epochs=0):
    """The schedule in words, naming only the steps that fire within `num_epochs`."""
    warm = ' after %g warmup epochs' % warmup_epochs if warmup_epochs else ''
    if mode == 'cosine':
        return 'lr %g, cosine to 0 over %d epochs%s' % (lr, num_epochs, warm)
    fired = sorted(set(s for s in steps if 0 < s < num_epochs))
    if not fired:
        return 'lr %g, constant (no step within %d epochs)%s' % (lr, num_epochs, warm)
    return 'lr %g, x%g after epochs %s%s' % (lr, factor, ', '.join(map(str, fired)), warm)


def run_scheduler(cfg, job, epoch_size):
    """The schedule of the run `cfg`, over `epoch_size` steps an epoch of this worker."""
    return make_scheduler(cfg.lr, epoch_size * job.updates_per_step, cfg.num_epochs,
                          cfg.lr_steps, cfg.lr_factor, cfg.lr_mode, cfg.warmup_epochs)


def make_trainer(net, cfg, job, epoch_size):
    """The trainer of the recipe for `net` in `job` (the optimizer of its family's entry:
    NAG, DLA plain SGD), its schedule over `epoch_size` steps an epoch of this worker."""
    opt = dict(learning_rate=cfg.lr, momentum=cfg.momentum, wd=cfg.wd,
               lr_scheduler=run_scheduler(cfg, job, epoch_size))
    if cfg.dtype == 'float16' or cfg.amp:
        opt['multi_precision'] = True
    update_on_kvstore = job.update_on_kvstore
    if not job.distributed and len(cfg.contexts) > 1:
        # several devices of one machine: the kvstore sums the gradients and every device
        # updates its own copy, as a dist_sync worker does (the same arithmetic as updating
        # on the store), so the optimizer state lives where refresh() rebuilds it and
        # save_states() saves it
        update_on_kvstore = False
    # the family's: the original's Nesterov momentum; the DLA authors' plain SGD
    return FastTrainer(net.collect_params(), cfg.spec.family.optimizer, opt,
                       kvstore=job.kvstore, update_on_kvstore=update_on_kvstore)


#: Environment variable that replaces the flags read from /proc/cpuinfo (space-separated),
#: so either branch of a CPU-dependent path can be taken on any host, e.g.
#: ``FUSENET_CPU_FLAGS='avx2 fma'`` to see what a CPU without bfloat16 gets.
CPU_FLAGS_ENV = 'FUSENET_CPU_FLAGS'


def cpu_flags(cpuinfo='/proc/cpuinfo'):
    """The instruction-set flags of this CPU (``$FUSENET_CPU_FLAGS`` if set), a set."""
    forced = os.environ.get(CPU_FLAGS_ENV)
    if forced is not None:
        return set(forced.split())
    try:
        with open(cpuinfo) as f:
            return set(' '.join(l.split(':', 1)[1] for l in f
                                if l.startswith('flags')).split())
    except OSError:
        return set()


#: oneDNN's ``DNNL_MAX_CPU_ISA`` values that leave it its bfloat16 kernels; any other value
#: (``AVX2``, how this project plays an AVX2-only machine on another) caps them off.
BFLOAT16_ISAS = ('AVX512_CORE_BF16', 'AVX512_CORE_AMX', 'ALL')


def onednn_caps_bfloat16():
    """The ``DNNL_MAX_CPU_ISA`` value if it keeps oneDNN from its bfloat16 kernels, else None."""
    cap = os.environ.get('DNNL_MAX_CPU_ISA')
    return cap if cap and cap.upper() not in BFLOAT16_ISAS else None


def cpu_has_bfloat16(cpuinfo='/proc/cpuinfo'):
    """Whether MXNet's oneDNN can run bfloat16 kernels here: this CPU has the instructions
    (``avx512_bf16`` or ``amx_bf16`` among its flags, :func:`cpu_flags`) and no
    ``DNNL_MAX_CPU_ISA`` caps oneDNN below them (:func:`onednn_caps_bfloat16`)."""
    return _bfloat16_instructions(cpuinfo) and not onednn_caps_bfloat16()


def _bfloat16_instructions(cpuinfo='/proc/cpuinfo'):
    return bool(cpu_flags(cpuinfo) & {'avx512_bf16', 'amx_bf16'})


def check_amp(contexts):
    """Refuse ``--amp`` where it cannot run: bfloat16 on a CPU without the instructions, or
    with oneDNN capped below them.

    oneDNN cannot make bfloat16 kernels without them: MXNet fails at the first update with
    "could not create a primitive descriptor iterator" (seen on an AMD EPYC with AVX2 only,
    and with ``DNNL_MAX_CPU_ISA=AVX2`` on one with avx512_bf16).
    """
    if contexts[0].device_type != 'cpu' or cpu_has_bfloat16():
        return
    if not _bfloat16_instructions():
        raise UserError('--amp on the CPU trains in bfloat16 and needs the avx512_bf16 or '
                        'amx_bf16 instructions, which this CPU lacks (see /proc/cpuinfo): '
                        'train in float32 here, or with --amp on GPUs')
    raise UserError('--amp on the CPU trains in bfloat16, and DNNL_MAX_CPU_ISA=%s caps oneDNN '
                    'below its bfloat16 kernels (AVX512_CORE_BF16): unset it, or train in '
                    'float32' % onednn_caps_bfloat16())


def amp_dtype(contexts):
    """The reduced precision of ``--amp``: float16 on GPUs, bfloat16 on the CPU."""
    return 'float16' if contexts[0].device_type == 'gpu' else 'bfloat16'


class SummedLoss(object):
    """The ensemble's objective: the sum of its components' losses, each component's logits
    against the same targets, as the original's Group of SoftmaxOutputs trains them."""

    def __init__(self, loss):
        self.loss = loss

    def __call__(self, outputs, targets):
        total = self.loss(outputs[0], targets)
        for k in range(1, outputs.shape[0]):
            total = total + self.loss(outputs[k], targets)
        return total


class SoftmaxCrossEntropy(object):
    """``gluon.loss.SoftmaxCrossEntropyLoss()`` for class labels: logits (N, C) and labels
    (N,) -> the losses (N,) ``-log softmax(logits)[n, label_n]``, the same values and
    gradients bit for bit (tests/test_recipe.py), by operators that need no temporary
    workspace (``log_softmax``, ``pick``, ``negative``).

    Gluon's loss negates with ``_mul_scalar`` by -1 and ends with a ``mean`` over an axis of
    one element; both take a workspace of the CPU devices' shared pool, and an imperative
    operator that does can wait for another device's whole graph segment
    (``models.common.graph_edge``)."""

    def __call__(self, logits, labels):
        nd = mx.nd
        return nd.negative(nd.pick(nd.log_softmax(logits, axis=-1), labels, axis=-1))


def make_loss(cfg):
    """Softmax cross-entropy (summed over the components of the ensemble); dense targets
    when label smoothing or mixup make them soft (Gluon's loss then)."""
    if cfg.label_smoothing or cfg.mixup:
        loss = gluon.loss.SoftmaxCrossEntropyLoss(sparse_label=False)
    else:
        loss = SoftmaxCrossEntropy()
    return SummedLoss(loss) if cfg.spec.family.outputs == 'components' else loss


def mix_targets(data, label, classes, smooth, alpha, seed):
    """(data, soft targets or None, hard labels) with label smoothing and mixup; the mixup
    draw depends only on `seed` (run seed, epoch, batch)."""
    if not (smooth or alpha):
        return data, None, label
    one_hot = mx.nd.one_hot(label, classes)
    if smooth:
        one_hot = one_hot * (1 - smooth) + smooth / classes
    if alpha:
        rng = np.random.RandomState(seed)
        lam = float(rng.beta(alpha, alpha))
        perm = mx.nd.array(rng.permutation(data.shape[0]))
        data = lam * data + (1 - lam) * data.take(perm)
        one_hot = lam * one_hot + (1 - lam) * one_hot.take(perm)
        if lam < 0.5:
            label = label.take(perm)
    return data, one_hot, label
