"""The original training recipe with a hybridized Gluon model on one or many devices.

Used by ``train_cifar.py`` and ``train_imagenet.py``. The recipe (shared design file,
section 3): NAG, momentum 0.9, weight decay 1e-4 on every parameter, gradients rescaled by
1/batch, the multi-factor schedule counted in updates (epoch_size = examples // batch),
fully connected layers initialised Xavier(uniform, in, 1) and the rest Xavier(gaussian, in,
2), BatchNorm statistics per device.

Files, for a model prefix P:
  P-symbol.json, P-%04d.params  the original's checkpoint format and names
  P-%04d.states                 trainer state (momentum buffers, update count, schedule)
  P-%04d.json                   where the run stands (epoch, updates, batches done)
  P-metrics.jsonl               one JSON object per epoch
  P.log                         the log
  P-deploy-symbol.json/-0000.params, P-curves.png   at the end
"""
import argparse
import contextlib
import json
import logging
import math
import os
import re
import signal
import sys
import time
import traceback

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from . import arch, upstream
from .data import get_loaders, get_preset, lr_steps
from .model_zoo import get_model, list_models
from .optim import FastTrainer
from .utils import EXIT_INTERRUPTED, UserError, atomic_path, parse_ints, run_cli

EXIT_NAN = 3
_JOB_KVSTORE = []  # a distributed run's kvstore, kept alive until main() lets it go
KV_STORES = ('local', 'device', 'nccl', 'dist_sync', 'dist_device_sync', 'dist_async')


def is_distributed(kv_store):
    """Whether a kvstore name (or type) is a parameter-server one (``dist_*``)."""
    return 'dist' in (kv_store or '')


# ---------------------------------------------------------------- command line
def build_parser(imagenet=False):
    """The original's flags (options.py / train_imagenet.py), plus the options beyond it."""
    p = argparse.ArgumentParser(
        description='Train a deep-fusion network on %s with the original recipe.'
                    % ('ImageNet' if imagenet else 'CIFAR-10/100 or SVHN'),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group('network')
    if imagenet:
        g.add_argument('--network', default='imagenet_cross',
                       choices=list(arch.IMAGENET_NETWORKS), help='network name')
        g.add_argument('--blocks', default=None,
                       help='blocks of g1..g4, e.g. 2,2,8,2 (the paper); default: the '
                            "original code's (1,2,11,2 cross; 2,4,22,4 resnet)")
        g.add_argument('--fb-mean', action='store_true',
                       help='normalise with mean (123.675, 116.28, 103.53), std (58.395, '
                            '57.12, 57.375) instead of the original statistics')
    else:
        g.add_argument('--network', default='cross', metavar='NAME',
                       help='one of %s' % ', '.join(m for m in list_models()
                                                     if not m.startswith('imagenet')))
        g.add_argument('--depth', type=int, default=62,
                       help='depth of the corresponding plain network (num_depth): cross at '
                            '62 is the 32-layer DFN-MR2, at 110 the 56-layer DFN-MR1')
        g.add_argument('--widen-factor', type=int, default=1, help='channels 16w, 32w, 64w')
    g = p.add_argument_group('data')
    g.add_argument('--dataset', default='imagenet' if imagenet else None,
                   choices=['imagenet'] if imagenet else ['cifar10', 'cifar100', 'svhn'],
                   help='dataset preset: statistics, augmentation, classes, epochs (default '
                        + ('imagenet)' if imagenet else 'cifar10 with --data-dir, else the '
                                                        'embedded digits)'))
    g.add_argument('--data-dir', default=None,
                   help='folder with the RecordIO files' + (
                       '' if imagenet else '; none: the embedded handwritten digits'))
    g.add_argument('--train-dataset', default='imagenet_train.rec' if imagenet else 'train.rec',
                   help='training file')
    g.add_argument('--val-dataset', default='imagenet_val.rec' if imagenet else 'test.rec',
                   help='validation file')
    g.add_argument('--num-examples', type=int, default=None,
                   help='training examples for the schedule (default: the records in the file)')
    g.add_argument('--loader', choices=['recordio', 'gluon'], default='recordio',
                   help='recordio: mx.io.ImageRecordIter (C++ threads); gluon: Dataset + '
                        'DataLoader workers')
    g.add_argument('--data-workers', type=int, default=None,
                   help='decoding threads/processes (default: the core count)')
    g = p.add_argument_group('training')
    g.add_argument('--gpus', default=None,
                   help="comma list of GPU ids; '' for the CPU; default: every visible GPU, "
                        'else the CPU')
    g.add_argument('--batch-size', type=int, default=256 if imagenet else 64,
                   help='total batch, split over the devices')
    g.add_argument('--num-epochs', type=int, default=None,
                   help='epochs (default: the dataset preset: 400 CIFAR, 40 SVHN, 120 ImageNet)')
    g.add_argument('--lr', type=float, default=0.1, help='initial learning rate')
    g.add_argument('--lr-factor', type=float, default=0.1, help='factor at each step')
    if imagenet:
        g.add_argument('--lr-epoch-step', type=int, default=30,
                       help='divide the lr by 1/lr-factor every N epochs (when no --lr-steps)')
    g.add_argument('--lr-steps', default=None,
                   help='epochs at which the lr is multiplied, e.g. 200,300,350 (default: '
                        + ('every 30 epochs)' if imagenet else '1/2, 3/4, 7/8 of the epochs)'))
    g.add_argument('--lr-mode', choices=['step', 'cosine'], default='step',
                   help='step: the original multi-factor schedule; cosine: beyond the original')
    g.add_argument('--warmup-epochs', type=float, default=0, help='linear warmup epochs')
    g.add_argument('--momentum', type=float, default=0.9)
    g.add_argument('--wd', type=float, default=1e-4, help='weight decay on every parameter')
    g.add_argument('--label-smoothing', type=float, default=0.0, help='epsilon (0: off)')
    g.add_argument('--mixup', type=float, default=0.0, help='mixup alpha (0: off)')
    g.add_argument('--dtype', choices=['float32', 'float16'], default='float32',
                   help='float16 keeps float32 master weights (multi-precision); GPUs only')
    g.add_argument('--amp', action='store_true',
                   help='automatic mixed precision (mxnet.contrib.amp); GPUs only')
    g.add_argument('--mode', choices=['hybrid', 'imperative'], default='hybrid',
                   help='hybrid: static_alloc/static_shape graph; imperative: for debugging')
    g.add_argument('--rand-seed', type=int, default=None,
                   help='seed of initialisation, shuffling and augmentation (default: time)')
    g.add_argument('--kv-store', default='device', choices=KV_STORES,
                   help='how gradients are combined: local, device or nccl on one machine; '
                        'dist_sync, dist_device_sync or dist_async (updates on the servers; '
                        'its momentum is not checkpointed) under fusenet_gluon.launch')
    g = p.add_argument_group('checkpoints and logs')
    g.add_argument('--model-prefix', default=None,
                   help='checkpoint prefix (default: LOG_DIR/DATASET/NETWORK_dDEPTHwW[_EXP]/model)')
    g.add_argument('--load-epoch', type=int, default=None,
                   help='resume from MODEL_PREFIX-%%04d.params (and .states when present)')
    g.add_argument('--checkpoint-epochs', type=int, default=None,
                   help='save every N epochs (default: num_epochs/8' +
                        (', ImageNet 5)' if imagenet else ')'))
    g.add_argument('--log-iters', type=int, default=50, help='log every N batches')
    g.add_argument('--log-dir', default='./snapshot/', help='where default prefixes go')
    g.add_argument('--exp-name', default=None, help='experiment name in the default prefix')
    g.add_argument('--no-plot', action='store_true', help='skip the PNG of the curves')
    return p


def get_contexts(gpus):
    """``--gpus``: None -> every visible GPU, else the CPU; '' -> CPU; '0,1' -> those GPUs."""
    if gpus is None:
        n = mx.context.num_gpus()
        return [mx.gpu(i) for i in range(n)] if n else [mx.cpu()]
    gpus = gpus.strip().strip('"\'')  # also a literal '' from a config file or script
    if gpus == '':
        return [mx.cpu()]
    try:
        ids = [int(g) for g in gpus.split(',') if g.strip() != '']
    except ValueError:
        raise UserError("--gpus takes a comma list of GPU ids like 0,1 (or '' for the CPU), "
                        'got %r' % gpus) from None
    available = mx.context.num_gpus()
    bad = [i for i in ids if i < 0 or i >= available]
    if bad:
        raise UserError('GPU(s) %s not available: this machine has %d GPU(s) visible to MXNet'
                        "%s" % (bad, available, " (use --gpus '' for the CPU)"
                                if not available else ''))
    return [mx.gpu(i) for i in ids]


def resolve_args(args, imagenet=False):
    """Fill the defaults that depend on other flags; check the flags a user can get wrong."""
    if not imagenet:
        if args.data_dir is None and args.dataset is not None:
            raise UserError('--dataset %s needs --data-dir, the folder with %s and %s (make '
                            'them with: python -m fusenet_gluon.data.pack %s --help)'
                            % (args.dataset, args.train_dataset, args.val_dataset,
                               args.dataset))
        if args.dataset is None:
            args.dataset = 'cifar10' if args.data_dir else 'digits'
    preset = get_preset(args.dataset, getattr(args, 'fb_mean', False))
    if imagenet:
        if args.lr_epoch_step < 1:
            raise UserError('--lr-epoch-step must be at least 1')
        preset = preset._replace(lr_step_epochs=args.lr_epoch_step)
    if args.num_epochs is None:
        args.num_epochs = preset.num_epochs
    for flag in ('batch_size', 'num_epochs', 'log_iters'):
        if getattr(args, flag) < 1:
            raise UserError('--%s must be at least 1' % flag.replace('_', '-'))
    if args.checkpoint_epochs is None:
        args.checkpoint_epochs = 5 if imagenet else max(1, args.num_epochs // 8)
    if args.lr_steps is None:
        args.lr_steps = lr_steps(preset, args.num_epochs)
    elif isinstance(args.lr_steps, str):
        args.lr_steps = parse_ints(args.lr_steps, '--lr-steps', '200,300,350')
    if args.rand_seed is None:
        args.rand_seed = int(time.time()) % (2 ** 31)
    if args.model_prefix is None:
        if imagenet:
            tag = args.network
        else:
            tag = '%s_d%dw%d' % (args.network, args.depth, args.widen_factor)
        if args.exp_name:
            tag += '_' + args.exp_name
        args.model_prefix = os.path.join(args.log_dir, args.dataset, tag, 'model')
    if args.amp and args.dtype == 'float16':
        raise UserError('choose one of --amp and --dtype float16')
    return preset


# ---------------------------------------------------------------- pieces of the recipe
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


def initializer():
    return OriginalInit()


def make_scheduler(args, epoch_size):
    """The learning-rate schedule, counted in updates."""
    warmup = int(args.warmup_epochs * epoch_size)
    if args.lr_mode == 'cosine':
        return mx.lr_scheduler.CosineScheduler(
            max_update=max(1, args.num_epochs * epoch_size), base_lr=args.lr, final_lr=0,
            warmup_steps=warmup, warmup_begin_lr=0)
    # short runs give repeated steps (3 epochs: 1, 2, 2), which MXNet's scheduler refuses
    steps = sorted(set(epoch_size * s for s in args.lr_steps if 0 < s))
    if not steps:
        return mx.lr_scheduler.FactorScheduler(step=2 ** 31 - 1, factor=1.0, base_lr=args.lr,
                                               warmup_steps=warmup, warmup_begin_lr=0)
    return mx.lr_scheduler.MultiFactorScheduler(step=steps, factor=args.lr_factor,
                                                base_lr=args.lr, warmup_steps=warmup,
                                                warmup_begin_lr=0)


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

    def get(self):
        n = max(self.n, 1)
        out = dict(loss=self.loss / n, acc=self.top1 / n)
        if self.top5:
            out['top5'] = self.top5_hits / n
        return out


def evaluate(net, loader, ctxs, dtype='float32', top5=False):
    """Validation loss and accuracy over every record of `loader`."""
    metrics = RunningMetrics(top5)
    for data, label in loader:
        parts = gluon.utils.split_and_load(data.astype(dtype), ctxs, even_split=False)
        labels = gluon.utils.split_and_load(label, ctxs, even_split=False)
        for x, y in zip(parts, labels):
            metrics.update(net(x), y)
    return metrics.get()


def _setup_logging(log_path):
    logger = logging.getLogger('fusenet')
    logger.setLevel(logging.INFO)
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    fmt = logging.Formatter('%(asctime)-15s %(message)s')
    for handler in (logging.FileHandler(log_path), logging.StreamHandler(sys.stdout)):
        handler.setFormatter(fmt)
        logger.addHandler(handler)
    logger.propagate = False
    return logger


class _Signals(object):
    """SIGINT/SIGTERM/SIGHUP set a flag; the loop saves and exits after the current batch.

    In a dist_sync job the workers must stop after the same batch: one that left a batch
    early would leave the others waiting for its gradients. With `kv`, :meth:`stop` sums
    the workers' flags through the kvstore after every batch (one float, one round trip)
    and is true on all of them when any caught a signal. (dist_async needs no agreement:
    no worker waits for another; its servers also run the optimizer, which would treat
    the flag as a weight.)"""

    KEY = 999999  # beside the parameters' keys 0..N-1

    def __init__(self, kv=None):
        self.caught = None
        self._old = {}
        self._kv = kv
        if kv is not None:
            self._flag = mx.nd.zeros((1,))
            kv.init(self.KEY, self._flag)

    def stop(self):
        """Whether to stop after this batch (this worker's signal or, with a kvstore, any)."""
        if self._kv is None:
            return self.caught is not None
        # decide on the sum alone: a signal landing while this waits is voted on next batch
        self._flag[:] = 0 if self.caught is None else 1
        self._kv.pushpull(self.KEY, self._flag, out=self._flag)
        if self._flag.asscalar() == 0:
            return False
        if self.caught is None:
            self.caught = 'STOP (from another worker)'
        return True

    def __enter__(self):
        # SIGHUP: what a worker started over ssh gets when the launcher stops its ssh
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.caught is not None:  # a second signal: stop now
            raise KeyboardInterrupt
        self.caught = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def state_path(prefix, epoch, ext):
    return '%s-%04d.%s' % (prefix, epoch, ext)


def save_state(net, trainer, prefix, epoch, info, logger):
    """Checkpoint: original-format symbol + params, trainer states and the run state, each
    written atomically; the run-state file last, so it names only complete checkpoints.

    It first waits for all pending engine work: a save begun while the last step's
    operators were still queued (a signal mid-epoch, after refresh_state replaced the
    arrays) wrote parameters that differed from run to run."""
    mx.nd.waitall()
    upstream.save_checkpoint(net, prefix, epoch)
    states = state_path(prefix, epoch, 'states')
    if trainer._update_on_kvstore and is_distributed(trainer._kvstore.type):
        # MXNet cannot read the optimizer state back from parameter servers: a resume
        # starts with fresh momentum, the schedule carried on by the update count
        if os.path.exists(states):
            os.remove(states)  # never pair these parameters with another run's state
        info = dict(info, trainer_state='on the servers, not saved')
    else:
        with atomic_path(states) as tmp:
            trainer.save_states(tmp)
    with atomic_path(state_path(prefix, epoch, 'json')) as tmp:
        with open(tmp, 'w') as f:
            json.dump(info, f, indent=1)
    logger.info('Saved checkpoint to "%s-%04d.params"%s', prefix, epoch,
                '' if info.get('complete', True) else
                ' (partial: Epoch[%d] stopped after batch %d)' % (epoch - 1, info['batches_done']))


# ---------------------------------------------------------------- the loop
def train(args, imagenet=False):
    """Run training as `args` (from :func:`build_parser`) say. Returns an exit status."""
    preset = resolve_args(args, imagenet)
    ctxs = get_contexts(args.gpus)
    if (args.amp or args.dtype == 'float16') and ctxs[0].device_type == 'cpu':
        # MXNet's CPU build has no float16 GEMM ("FP16 gemm on cpu not implemented")
        raise UserError('--dtype float16 and --amp need GPUs (--gpus 0,...); this run would '
                        'use the CPU')
    if args.batch_size % len(ctxs):
        raise UserError('--batch-size %d does not split over %d devices'
                        % (args.batch_size, len(ctxs)))
    if args.load_epoch is not None:
        _check_resume_files(args.model_prefix, args.load_epoch)
    # a KVStore object makes Gluon update on the store even on one device; only a
    # distributed run needs one, elsewhere the name lets Gluon choose (none on one device)
    distributed = is_distributed(args.kv_store)
    if distributed and not os.environ.get('DMLC_ROLE'):
        raise UserError('--kv-store %s needs a parameter-server job: start it with python -m '
                        'fusenet_gluon.launch -n WORKERS -s SERVERS -- python %s ...'
                        % (args.kv_store, os.path.basename(sys.argv[0])))
    kv = mx.kv.create(args.kv_store) if distributed else (args.kv_store or None)
    if distributed:
        _JOB_KVSTORE.append(kv)  # main() decides when it may be freed (see there)
    rank, workers = (kv.rank, kv.num_workers) if distributed else (0, 1)
    # dist_async applies each worker's gradients on the servers as they come (Gluon allows
    # no other way), so the schedule counts workers x steps and a step rescales by 1/batch
    asynchronous = distributed and 'async' in args.kv_store
    per_step = workers if asynchronous else 1

    folder = os.path.dirname(os.path.abspath(args.model_prefix))
    os.makedirs(folder, exist_ok=True)
    log_path = args.model_prefix + ('.log' if rank == 0 else '-worker%d.log' % rank)
    logger = _setup_logging(log_path)
    if args.dataset == 'digits':
        logger.info('no --data-dir given: training on the embedded data set, scikit-learn\'s '
                    'handwritten digits (1,437 train / 360 test images, 32x32)')
    logger.info('start with arguments %s', vars(args))

    if imagenet:
        blocks = tuple(parse_ints(args.blocks, '--blocks', '2,2,8,2')) if args.blocks else None
        net = get_model(args.network, classes=preset.classes, blocks=blocks)
    else:
        net = get_model(args.network, depth=args.depth, widen_factor=args.widen_factor,
                        classes=preset.classes)
    nparams = sum(int(np.prod(p.shape)) for n, p in net.collect_params().items()
                  if not n.endswith(('running_mean', 'running_var')))
    logger.info('network %s: %d parameters (%.4fM)', args.network, nparams, nparams / 1e6)

    mx.random.seed(args.rand_seed)
    np.random.seed(args.rand_seed)
    train_data, val_data = get_loaders(
        args.dataset, args.data_dir, args.batch_size, args.loader, args.train_dataset,
        args.val_dataset, num_parts=workers, part_index=rank, workers=args.data_workers,
        seed=args.rand_seed, fb_mean=getattr(args, 'fb_mean', False))
    if train_data.part_examples < args.batch_size:
        raise UserError('--batch-size %d is more than the %d training images%s'
                        % (args.batch_size, train_data.part_examples,
                           ' on this worker' if workers > 1 else ''))
    num_examples = args.num_examples or train_data.num_examples
    # the same on every worker: dist_sync waits for all workers' updates
    epoch_size = max(1, num_examples // workers // args.batch_size)
    logger.info('%d training examples (%d on this worker): %d updates an epoch; lr %g, steps at '
                'epochs %s', train_data.num_examples, train_data.part_examples, epoch_size,
                args.lr, args.lr_steps)

    begin_epoch, skip_batches, num_update = 0, 0, 0
    states_file = None
    if args.load_epoch is not None:
        upstream.load_params(net, state_path(args.model_prefix, args.load_epoch, 'params'),
                             ctx=ctxs)
        begin_epoch, skip_batches, num_update, states_file = _resume_point(
            args.model_prefix, args.load_epoch, epoch_size * per_step, logger)
    else:
        net.initialize(initializer(), ctx=ctxs)
    if args.dtype == 'float16':
        net.cast('float16')
    if args.mode == 'hybrid':
        net.hybridize(static_alloc=True, static_shape=True)

    opt_params = dict(learning_rate=args.lr, momentum=args.momentum, wd=args.wd,
                      lr_scheduler=make_scheduler(args, epoch_size * per_step))
    if args.dtype == 'float16' or args.amp:
        opt_params['multi_precision'] = True
    trainer = FastTrainer(net.collect_params(), 'nag', opt_params, kvstore=kv,
                          update_on_kvstore=asynchronous if distributed else None)
    if args.amp:
        from mxnet.contrib import amp
        amp.init()
        amp.init_trainer(trainer)
    if states_file:
        trainer.load_states(states_file)
    elif num_update:
        # an original checkpoint has no trainer state: re-apply the lr steps already passed
        trainer._optimizer.num_update = num_update
        trainer._optimizer.begin_num_update = num_update
    # gradients are averaged over the samples behind one update; the scale must be set
    # before the kvstore starts (an optimizer on the servers keeps the one it was sent)
    step_batch = args.batch_size * (1 if asynchronous else workers)
    trainer._optimizer.rescale_grad = trainer._scale / step_batch
    trainer._init_kvstore()
    if distributed:
        sync_initial_params(trainer)
    logger.info('parameter update: %s', 'lean single-device NAG (FastTrainer)'
                if trainer._fast_ok() else 'gluon.Trainer (%s)' % (
                    'on the kvstore' if trainer._update_on_kvstore else 'on the workers'
                    if distributed else 'per device'))

    smooth = args.label_smoothing
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss(sparse_label=not (smooth or args.mixup))
    metrics_path = args.model_prefix + '-metrics.jsonl'
    if rank == 0:
        _truncate_metrics(metrics_path, begin_epoch if args.load_epoch is not None else 0)
    if rank == 0 and args.load_epoch is None:
        with open(args.model_prefix + '-run.json', 'w') as f:
            json.dump(dict(vars(args), parameters=nparams, examples=num_examples), f, indent=1)
    top5 = imagenet
    last_good = args.load_epoch

    def updates(steps):
        """Updates made so far, in the schedule's unit, after `steps` steps of this worker."""
        # dist_async: the servers' optimizer counts; this worker's copy stays at zero
        return steps * workers if asynchronous else trainer._optimizer.num_update

    def current_lr(steps):
        if asynchronous:
            return trainer._optimizer.lr_scheduler(updates(steps))
        return trainer.learning_rate
    vote = kv if distributed and not asynchronous else None
    with _progress_bar(epoch_size, logger) as progress, _Signals(vote) as sig:
        for epoch in range(begin_epoch, args.num_epochs):
            tic = time.time()
            metrics, window = RunningMetrics(top5), RunningMetrics(top5)
            window_tic, seen = time.time(), 0
            if progress:
                progress.reset(total=epoch_size)
                progress.set_description('epoch %d' % epoch)
            for nbatch, (data, label) in enumerate(epoch_batches(train_data, epoch,
                                                                 epoch_size)):
                if nbatch < skip_batches:
                    continue
                data, soft, hard = _targets(data, label, preset.classes, smooth, args.mixup,
                                            (args.rand_seed * 7 + epoch * 100003 + nbatch)
                                            % 2 ** 31)
                xs = gluon.utils.split_and_load(data.astype(args.dtype), ctxs)
                ys = gluon.utils.split_and_load(soft if soft is not None else hard, ctxs)
                hs = gluon.utils.split_and_load(hard, ctxs)
                with autograd.record():
                    outs = [net(x) for x in xs]
                    losses = [loss_fn(o, y) for o, y in zip(outs, ys)]
                if args.amp:
                    with amp.scale_loss(losses, trainer) as scaled:
                        autograd.backward(scaled)
                else:
                    autograd.backward(losses)
                trainer.step(step_batch)
                batch_loss = []
                for o, h, l in zip(outs, hs, losses):
                    stats = RunningMetrics.batch(o, h, l, top5)
                    metrics.add(stats)
                    window.add(stats)
                    batch_loss.append(stats['loss'] / max(stats['n'], 1))
                seen += data.shape[0]
                if not all(math.isfinite(v) for v in batch_loss):
                    _report_nan(logger, 'Epoch[%d] Batch [%d]: the loss became %s' % (
                        epoch, nbatch + 1, 'NaN' if any(math.isnan(v) for v in batch_loss)
                        else 'infinite'), args.model_prefix, last_good)
                    return EXIT_NAN
                if progress:
                    progress.update(1)
                    progress.set_postfix(loss='%.3f' % (metrics.loss / metrics.n))
                if (nbatch + 1) % args.log_iters == 0:
                    w, m = window.get(), metrics.get()
                    speed = window.n / max(time.time() - window_tic, 1e-9)
                    line = 'Epoch[%d] Batch [%d]\tSpeed: %.0f\tloss: %.4f(%.4f)\ttop1: %.4f(%.4f)' \
                        % (epoch, nbatch + 1, speed, w['loss'], m['loss'], 100 * w['acc'],
                           100 * m['acc'])
                    if top5:
                        line += '\ttop5: %.4f(%.4f)' % (100 * w['top5'], 100 * m['top5'])
                    logger.info(line)
                    window.reset()
                    window_tic = time.time()
                if sig.stop():
                    # finish this batch's work everywhere: a worker leaving with its last
                    # gradients unsent would leave the others waiting for them forever
                    mx.nd.waitall()
                    if rank == 0:
                        save_state(net, trainer, args.model_prefix, epoch + 1, dict(
                            epoch=epoch + 1, complete=False, batches_done=nbatch + 1,
                            num_update=updates(epoch * epoch_size + nbatch + 1),
                            seed=args.rand_seed), logger)
                    logger.info('%s received: stopped in Epoch[%d] after batch %d; continue with '
                                '--load-epoch %d', sig.caught, epoch, nbatch + 1, epoch + 1)
                    return EXIT_INTERRUPTED
            skip_batches = 0
            train_time = time.time() - tic
            train_m = metrics.get()
            val = evaluate(net, val_data, ctxs, args.dtype, top5)
            if not (math.isfinite(val['loss']) and _finite(net)):
                # the last update can break the weights after a finite loss
                _report_nan(logger, 'Epoch[%d] Batch [%d]: the loss became NaN (the weights '
                            'are no longer finite)' % (epoch, nbatch + 1), args.model_prefix,
                            last_good)
                return EXIT_NAN
            logger.info('Epoch[%d] Train-cross-entropy=%f', epoch, train_m['loss'])
            logger.info('Epoch[%d] Train-accuracy=%f', epoch, train_m['acc'])
            logger.info('Epoch[%d] Time cost=%.3f', epoch, time.time() - tic)
            logger.info('Epoch[%d] Validation-cross-entropy=%f', epoch, val['loss'])
            logger.info('Epoch[%d] Validation-accuracy=%f', epoch, val['acc'])
            if top5:
                logger.info('Epoch[%d] Validation-top_k_accuracy_5=%f', epoch, val['top5'])
            record = dict(epoch=epoch + 1, lr=current_lr((epoch + 1) * epoch_size),
                          train_loss=train_m['loss'], train_acc=train_m['acc'],
                          val_loss=val['loss'], val_acc=val['acc'],
                          time_s=round(time.time() - tic, 3),
                          img_per_s=round(seen / max(train_time, 1e-9), 1))
            if top5:
                record['val_top5'] = val['top5']
            if rank == 0:
                with open(metrics_path, 'a') as f:
                    f.write(json.dumps(record) + '\n')
            done = epoch + 1
            refresh_state(net, trainer)
            if rank == 0 and (done % args.checkpoint_epochs == 0 or done == args.num_epochs):
                save_state(net, trainer, args.model_prefix, done, dict(
                    epoch=done, complete=True, batches_done=0,
                    num_update=updates(done * epoch_size), seed=args.rand_seed), logger)
                last_good = done
    if rank == 0:
        _finish(net, args, logger, metrics_path)
    else:  # the other workers keep their final weights, to check they stayed in sync
        path = '%s-worker%d-final.params' % (args.model_prefix, rank)
        with atomic_path(path) as tmp:
            net.save_parameters(tmp)
        logger.info('worker %d: final parameters in %s', rank, path)
    return 0


def sync_initial_params(trainer):
    """Give every worker rank 0's parameters, and wait until they have arrived.

    Gluon broadcasts the parameters through the kvstore at its first ``step`` and does not
    wait for the pulls. On MXNet 1.9.1 a worker's pull of a parameter can then reach the
    server after both workers' first gradient push-pull of it, and without an optimizer on
    the server that push-pull has replaced the stored value with the summed gradient: the
    worker takes that sum as its weight and the workers drift apart (seen in about one
    2-worker run in ten). Broadcasting before the first batch and waiting for it closes the
    window: no worker pushes a gradient before its own pulls are done.
    """
    if trainer._params_to_init:
        trainer._init_params()
    mx.nd.waitall()


def refresh_state(net, trainer):
    """Put the parameters and the trainer state in the form a resumed run starts from.

    MKL-DNN keeps arrays it has worked on in blocked layouts whose arithmetic order differs
    from that of arrays freshly loaded from a checkpoint, so a run resumed from epoch N would
    drift (about 1e-4 after one epoch) from one that went on in memory. Rebuilding every
    parameter from its values and round-tripping the trainer state at each epoch boundary,
    exactly as a resume does, makes the two compute alike (bit-identical on the CPU).

    Evaluation needs it too: an inference-mode convolution reorders its weight into an
    MKL-DNN layout in place, and the updates that follow are then no longer reproducible
    from run to run; in a dist_sync job the workers, which apply the same summed gradients,
    drift apart by an ulp or so per update (seen on every 2-worker run with an evaluation
    between epochs). The rebuild after each evaluation removes both effects.
    """
    if trainer._update_on_kvstore:
        return  # the state lives in the kvstore (several devices): not refreshed
    for param in net.collect_params().values():
        ctx = param.list_ctx()
        value = param.data(ctx[0]).copyto(mx.cpu())
        value.wait_to_read()
        param._data = None
        param._load_init(value, ctx)
    for updater in trainer._updaters:
        updater.set_states(updater.get_states(dump_optimizer=True))
        updater.optimizer = trainer._updaters[0].optimizer
    trainer._optimizer = trainer._updaters[0].optimizer
    trainer._optimizer.param_dict = {i: p for i, p in enumerate(trainer._params)}
    trainer.__dict__.pop('_fast_items', None)


def epoch_batches(loader, epoch, count):
    """Exactly `count` batches for `epoch`: a part shorter than that (RecordIO parts are cut
    by bytes, so their sizes differ a little) is read again, in another fixed order."""
    done, rep = 0, 0
    while done < count:
        loader.set_epoch(epoch if rep == 0 else 1000003 * rep + epoch)
        before = done
        for batch in loader:
            if done == count:
                return
            done += 1
            yield batch
        if done == before:
            raise UserError('the training data yields no full batch of this size')
        rep += 1


def _finite(net):
    return all(np.isfinite(p.data(p.list_ctx()[0]).asnumpy()).all()
               for p in net.collect_params().values())


def _report_nan(logger, what, prefix, last_good):
    logger.error('%s; stopping. The last good checkpoint is %s', what,
                 '"%s-%04d.params"' % (prefix, last_good) if last_good is not None
                 else 'none (no epoch was saved)')


def _targets(data, label, classes, smooth, alpha, seed):
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


def _check_resume_files(prefix, epoch):
    path = state_path(prefix, epoch, 'params')
    if not os.path.isfile(path):
        have = sorted(f for f in os.listdir(os.path.dirname(os.path.abspath(prefix)) or '.')
                      if f.startswith(os.path.basename(prefix) + '-') and f.endswith('.params')) \
            if os.path.isdir(os.path.dirname(os.path.abspath(prefix))) else []
        raise FileNotFoundError('cannot resume: %s does not exist (checkpoints there: %s)'
                                % (path, ', '.join(have) or 'none'))


def _resume_point(prefix, epoch, epoch_size, logger):
    """(begin epoch, batches to skip, update count, trainer-states file or None)."""
    info_path = state_path(prefix, epoch, 'json')
    states = state_path(prefix, epoch, 'states')
    if os.path.isfile(info_path):
        with open(info_path) as f:
            info = json.load(f)
        states = states if os.path.isfile(states) else None
        if states is None:
            logger.info('no trainer state beside %s (%s): resuming with fresh momentum, the '
                        'schedule at update %d', prefix,
                        info.get('trainer_state', 'missing'), info['num_update'])
        if not info.get('complete', True):
            logger.info('resuming from "%s-%04d.params": Epoch[%d] from batch %d, update %d',
                        prefix, epoch, epoch - 1, info['batches_done'] + 1, info['num_update'])
            return epoch - 1, info['batches_done'], info['num_update'], states
        logger.info('resuming from "%s-%04d.params": %d epochs done, update %d, next Epoch[%d]',
                    prefix, epoch, epoch, info['num_update'], epoch)
        return epoch, 0, info['num_update'], states
    logger.info('no trainer state beside %s: resuming with fresh momentum, lr steps before '
                'epoch %d re-applied (as the original did)', prefix, epoch)
    return epoch, 0, epoch * epoch_size, None


def _truncate_metrics(path, epoch):
    """On resume keep the metrics of epochs up to `epoch`; a fresh run starts a new file."""
    if not os.path.exists(path):
        return
    keep = []
    if epoch:
        with open(path) as f:
            keep = [line for line in f if line.strip() and json.loads(line)['epoch'] <= epoch]
    with atomic_path(path) as tmp:
        with open(tmp, 'w') as f:
            f.writelines(keep)


@contextlib.contextmanager
def _progress_bar(total, logger):
    """A tqdm bar on a terminal, else None; while it shows, the logger's console lines are
    written through tqdm so that they do not land on the bar's line."""
    if not sys.stderr.isatty():
        yield None
        return
    try:
        from tqdm import tqdm
        from tqdm.contrib.logging import logging_redirect_tqdm
    except ImportError:  # pragma: no cover
        yield None
        return
    with logging_redirect_tqdm(loggers=[logger]):
        with tqdm(total=total, file=sys.stderr, leave=False, unit='batch') as bar:
            yield bar


def _finish(net, args, logger, metrics_path):
    """The deployable export and the PNG of the curves."""
    from .convert import export_deploy
    for path in export_deploy(net, args.model_prefix + '-deploy', force=True):
        logger.info('exported %s', path)
    if not args.no_plot:
        from .results import plot_runs
        png = plot_runs([metrics_path], args.model_prefix + '-curves.png',
                        title=os.path.basename(os.path.dirname(args.model_prefix)))
        logger.info('curves in %s', png)
    with open(metrics_path) as f:
        last = [json.loads(line) for line in f if line.strip()][-1]
    logger.info('final test error %.2f%% (accuracy %.2f%%) after %d epochs',
                100 * (1 - last['val_acc']), 100 * last['val_acc'], last['epoch'])


def main(argv=None, imagenet=False):
    args = build_parser(imagenet).parse_args(argv)
    if not is_distributed(args.kv_store):
        return train(args, imagenet)
    # A worker that leaves a parameter-server job early (a signal, a NaN, an error) must not
    # free its kvstore: the destructor waits in a barrier (ps::Finalize) that workers blocked
    # on its gradients never reach, and the job would hang instead of ending. So the store
    # is kept alive and such a worker leaves with os._exit; one that finished lets it go.
    try:
        status = run_cli(lambda: train(args, imagenet), os.path.basename(sys.argv[0]))
    except BaseException:
        traceback.print_exc()
        status = 1
    if status:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    del _JOB_KVSTORE[:]
    return status
