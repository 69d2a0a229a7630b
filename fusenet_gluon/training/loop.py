"""The training loop: set up, then per epoch :func:`train_one_epoch`, :func:`evaluate` and
:func:`end_epoch`; at the end the deployable export and the curves.

A run that cannot go on raises: :class:`NonFiniteLoss` when the loss or the weights stop
being finite, :class:`Interrupted` when a signal stopped it after saving its state.
``fusenet_gluon.training.cli.main`` turns these into exit statuses.
"""
import collections
import logging
import math
import os
import time

import mxnet as mx
import numpy as np
from mxnet import gluon
from mxnet.contrib import amp  # importing it changes nothing; amp.init() does

from .. import upstream
from ..data import get_loaders
from ..export import export_deploy, export_graph_deploy
from ..model_zoo import from_spec
from ..plots import plot_runs
from ..seeds import batch_seed, repeat_epoch
from ..utils import (UserError, atomic_path, missing_folders, os_error_message, progress_bar,
                     tracked)
from . import checkpoint
from .console import close_logging, setup_logging
from .distributed import Job, StopSignals
from .metrics import RunningMetrics, ensemble_log_probs
from .recipe import (amp_dtype, describe_schedule, initializer, make_loss, make_trainer,
                     mix_targets, run_scheduler)
from .step import DataParallelStep, hybridize_for_training

__all__ = ['train', 'train_one_epoch', 'evaluate', 'end_epoch', 'NonFiniteLoss',
           'Interrupted']


class NonFiniteLoss(Exception):
    """The loss or the weights became NaN or infinite; the message says where and names the
    last good checkpoint."""


class Interrupted(Exception):
    """A signal stopped the run after the current batch; its state was saved."""


class Run(object):
    """A training run in progress: the configuration and what is built from it once (the
    job, the log, the network, the data, the trainer), the point it started from, and the
    running sums of the epoch in progress, which :func:`train_step` adds to and
    :func:`train_one_epoch` starts anew."""

    def __init__(self, cfg, job, logger):
        self.cfg, self.job, self.logger, self.files = cfg, job, logger, cfg.files
        self.net = self.trainer = self.loss = self.train_data = self.val_data = None
        self.epoch_size = 0        # updates of this worker an epoch
        self.log_iters = 1         # the original's log line every N batches
        self.step_batch = 0        # the batch one update averages over (every worker's)
        self.resume = checkpoint.ResumePoint.FRESH   # where this run (re)started
        self.last_good = cfg.load_epoch   # the newest checkpoint, named when a run fails
        self.metrics = self.window = None  # the epoch's running sums; the log line's window
        self.step = None           # DataParallelStep: forward, backward, update of a batch
        self.progress = self.signals = None

    @property
    def rank0(self):
        return self.job.rank == 0

    def updates(self, steps):
        """Updates made so far, in the schedule's unit, after `steps` steps of this worker."""
        if self.job.asynchronous:  # the servers' optimizer counts; this worker's stays at 0
            return steps * self.job.workers
        return self.trainer.num_update

    def current_lr(self, steps):
        if self.job.asynchronous:
            return self.trainer.optimizer.lr_scheduler(self.updates(steps))
        return self.trainer.learning_rate


class EpochResult(collections.namedtuple('EpochResult', ['metrics', 'seen', 'train_time',
                                                         'started', 'carried_time'])):
    """What :func:`train_one_epoch` hands to :func:`end_epoch`: the training metrics, the
    images seen, the seconds of training, when the epoch started (``time.time()``) and the
    seconds of it done before a mid-epoch resume."""
    __slots__ = ()


# ---------------------------------------------------------------- set up
def start_run(cfg):
    """Open the run's log and build the network, the data and the trainer. A run that
    fails here leaves nothing behind that it made (its log, its folder)."""
    if cfg.start_over:  # --force; before the job forms, so no worker removes another's log
        cfg.files.remove()
    job = Job(cfg.kv_store)
    log = cfg.files.log(job.rank)
    made = ([log] if not os.path.exists(log) else []) + missing_folders(cfg.files.folder)
    log_size = os.path.getsize(log) if os.path.isfile(log) else None
    try:
        os.makedirs(cfg.files.folder, exist_ok=True)
        logger = setup_logging(log, job.rank if job.distributed else None)
    except OSError as err:
        flag = '--model-prefix' if cfg.arguments.get('model_prefix') else '--log-dir'
        raise UserError('%s %s: cannot write there (%s)' % (
            flag, cfg.arguments.get(flag[2:].replace('-', '_')), os_error_message(err))) from None
    try:
        return _start(cfg, job, logger)
    except BaseException:
        close_logging(logger)
        if log_size is not None:  # a resumed run's log: as it was
            os.truncate(log, log_size)
        for path in made:  # the log, then the folders made for it if they are empty now
            if os.path.isfile(path):
                os.remove(path)
            elif os.path.isdir(path) and not os.listdir(path):
                os.rmdir(path)
        raise


def describe(cfg):
    """The run in one line (every argument is in ``P-run.json``)."""
    devices = '%d x %s' % (len(cfg.contexts), cfg.contexts[0].device_type) \
        if len(cfg.contexts) > 1 else str(cfg.contexts[0])
    fresh = cfg.load_epoch is None
    return '%s %s on %s, %d epochs, batch %d on %s, %s, seed %d%s%s' % (
        'start' if fresh else 'resume from epoch %d:' % cfg.load_epoch, cfg.spec.label,
        cfg.dataset, cfg.num_epochs, cfg.batch_size, devices, precision(cfg), cfg.seed,
        ', kvstore %s' % cfg.kv_store if cfg.kv_store not in ('device', 'local') else '',
        '; every argument in %s' % cfg.files.run if fresh or os.path.isfile(cfg.files.run)
        else '')


def precision(cfg):
    """The arithmetic the run trains in, in words."""
    if cfg.amp:
        return ('AMP: %s where mxnet.contrib.amp allows it, float32 weights and checkpoints'
                % amp_dtype(cfg.contexts))
    if cfg.dtype == 'float16':
        return 'float16 with float32 master weights'
    return 'float32'


def _start(cfg, job, logger):
    """:func:`start_run` once the log is open."""
    if cfg.dataset == 'digits' and cfg.data_dir is None:
        logger.info('no --data-dir given: training on the embedded data set, scikit-learn\'s '
                    'handwritten digits (1,437 train / 360 test images, 32x32)')
    for note in cfg.notes:
        logger.warning('note: %s', note)
    logger.info('%s', describe(cfg))
    run = Run(cfg, job, logger)
    if cfg.amp:  # before the network is built, as MXNet's AMP guide has it
        amp.init(target_dtype=amp_dtype(cfg.contexts))
        logging.getLogger().addFilter(_quiet_amp_symbol_warning)
    run.net = from_spec(cfg.spec)
    nparams = sum(int(np.prod(p.shape)) for n, p in run.net.collect_params().items()
                  if not n.endswith(('running_mean', 'running_var')))
    logger.info('network %s: %d parameters (%.4fM)', cfg.spec.network, nparams, nparams / 1e6)
    mx.random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    examples = _open_data(run)
    _place_network(run)
    _make_trainer(run)
    run.loss = make_loss(cfg)
    run.step = DataParallelStep(run.net, run.loss, run.trainer, cfg.contexts, amp=cfg.amp)
    if run.rank0:
        checkpoint.truncate_metrics(run.files.metrics, run.resume.epoch
                                    if cfg.load_epoch is not None else 0)
        if cfg.load_epoch is None:
            checkpoint.write_run(run.files, cfg, nparams, examples)
    return run


def _quiet_amp_symbol_warning(record):
    """After ``amp.init`` every symbolic ``SoftmaxOutput`` warns (root logger) that it "does
    not support dynamic loss scaling": the checkpoint's graph is the original's, ending in
    one, but it never trains here (the Gluon loss is scaled by ``amp.scale_loss``)."""
    return 'does not support dynamic loss scaling' not in record.getMessage()


def _open_data(run):
    """The loaders and the epoch size; returns the examples the schedule counts."""
    cfg, job = run.cfg, run.job
    run.train_data, run.val_data = get_loaders(
        cfg.preset, cfg.data_dir, cfg.batch_size, cfg.loader, cfg.train_file, cfg.val_file,
        num_parts=job.workers, part_index=job.rank, workers=cfg.data_workers, seed=cfg.seed)
    if run.train_data.part_examples < cfg.batch_size:
        raise UserError('--batch-size %d is more than the %d training images%s'
                        % (cfg.batch_size, run.train_data.part_examples,
                           ' on this worker' if job.workers > 1 else ''))
    examples = cfg.num_examples or run.train_data.num_examples
    # the same on every worker: dist_sync waits for all workers' updates
    run.epoch_size = max(1, examples // job.workers // cfg.batch_size)
    run.log_iters = log_interval(cfg.log_iters, run.epoch_size)
    run.logger.info('%s: %d updates an epoch of batch %d; %s', _examples(run, examples),
                    run.epoch_size, cfg.batch_size,
                    describe_schedule(cfg.lr, cfg.num_epochs, cfg.lr_steps, cfg.lr_factor,
                                      cfg.lr_mode, cfg.warmup_epochs))
    return examples


def _examples(run, examples):
    """What an epoch is, in words: the records, or ``--num-examples`` and how it relates to
    the records (a note when an epoch reads them more than once, or is less than a batch)."""
    cfg, records = run.cfg, run.train_data.num_examples
    worker = '' if run.job.workers == 1 else \
        ' (%d on this worker)' % run.train_data.part_examples
    if cfg.num_examples is None:
        return '%d training examples%s' % (records, worker)
    if examples > records:
        run.logger.warning('note: --num-examples %d is more than the %d training records: '
                           'an epoch reads them %.1f times', examples, records,
                           examples / records)
    elif examples < cfg.batch_size * run.job.workers:
        run.logger.warning('note: --num-examples %d is less than one batch of %d: an epoch '
                           'is one update', examples, cfg.batch_size * run.job.workers)
    return '--num-examples %d of the %d training records%s' % (examples, records, worker)


def log_interval(log_iters, epoch_size):
    """Batches between the original's log lines: ``--log-iters``, by default 50, or fewer
    so that an epoch shows at least four lines."""
    if log_iters is not None:
        return log_iters
    return max(1, min(50, epoch_size // 4))


def _place_network(run):
    """Initialise the network, or load the checkpoint to resume from, on the devices."""
    cfg = run.cfg
    if cfg.load_epoch is not None:
        upstream.load_params(run.net, run.files.params(cfg.load_epoch), ctx=cfg.contexts)
        run.resume = checkpoint.resume_point(run.files, cfg.load_epoch,
                                             run.epoch_size * run.job.updates_per_step,
                                             run.logger)
    else:
        run.net.initialize(initializer(cfg.spec), ctx=cfg.contexts)
    if cfg.dtype == 'float16':
        run.net.cast('float16')
    if cfg.hybridize:
        hybridize_for_training(run.net, cfg.contexts, cfg.kv_store)


def _make_trainer(run):
    cfg, job, resume = run.cfg, run.job, run.resume
    trainer = run.trainer = make_trainer(run.net, cfg, job, run.epoch_size)
    if cfg.amp:  # amp.init() came before the network was built (_start)
        amp.init_trainer(trainer)
    if resume.states_file:
        trainer.load_states(resume.states_file)
        trainer.load_amp_state(resume.amp_state)
        trainer.set_lr_scheduler(run_scheduler(cfg, job, run.epoch_size))
    elif resume.num_update:
        # an original checkpoint has no trainer state: re-apply the lr steps already passed
        trainer.set_update_count(resume.num_update)
    run.step_batch = cfg.batch_size * job.samples_per_update
    trainer.set_batch_size(run.step_batch)
    trainer.start(job.distributed)  # gives every device the first one's values
    if cfg.load_epoch is not None:
        checkpoint.load_device_stats(run.net, run.files.device_stats(cfg.load_epoch),
                                     run.logger)
    lean = 'lean single-device NAG (FastTrainer)' if len(cfg.contexts) == 1 else \
        'lean NAG on each of %d devices, gradients summed in one kvstore call (FastTrainer)' \
        % len(cfg.contexts)
    run.logger.info('parameter update: %s', lean
                    if trainer.fast_path else 'optimizer %s, gluon.Trainer (%s)' % (
                        type(trainer.optimizer).__name__.lower(),
                        'on the kvstore' if trainer.updates_on_kvstore else 'on the workers'
                        if job.distributed else 'per device'))


# ---------------------------------------------------------------- one epoch
class _Clock(object):
    """The times of one epoch: its start, the log line's window, and the training seconds
    done before a mid-epoch resume."""

    def __init__(self, carried=0.0):
        self.started = self.window = time.time()
        self.carried = carried

    def train_time(self):
        return time.time() - self.started + self.carried


def train_one_epoch(run, epoch):
    """Train on one epoch's batches (after a mid-epoch resume, the rest of them, the running
    sums carried over); returns its :class:`EpochResult`."""
    cfg = run.cfg
    run.metrics, run.window = RunningMetrics(cfg.top5), RunningMetrics(cfg.top5)
    skip, seen, clock = 0, 0, _Clock()
    if epoch == run.resume.epoch and run.resume.skip_batches:  # the rest of a partial epoch
        skip, partial = run.resume.skip_batches, run.resume.epoch_metrics
        if partial:
            run.metrics.load(partial)
            seen, clock = partial['seen'], _Clock(partial['train_time'])
    if run.progress:
        run.progress.reset(total=run.epoch_size)
        run.progress.set_description('epoch %d' % epoch)
    batches = epoch_batches(run.train_data, epoch, run.epoch_size)
    for nbatch, (data, label) in enumerate(batches):
        if nbatch < skip:
            continue
        batch_loss = train_step(run, data, label, epoch, nbatch)
        seen += data.shape[0]
        if not all(math.isfinite(v) for v in batch_loss):
            raise NonFiniteLoss('Epoch[%d] Batch [%d]: the loss became %s' % (
                epoch, nbatch + 1, 'NaN' if any(math.isnan(v) for v in batch_loss)
                else 'infinite'))
        _report_batch(run, epoch, nbatch, clock)
        if nbatch + 1 == run.epoch_size:
            # a signal with the last batch is taken after the validation (train()), with
            # the epoch's checkpoint rather than a partial one holding every batch, whose
            # resume would start with an evaluation (models.common.TrainingGraphNet)
            break  # and asking for one more batch would end the loader's epoch on the clock
        if run.signals.stop():
            _stop_mid_epoch(run, epoch, nbatch, seen, clock)
    trained = EpochResult(run.metrics.get(), seen, clock.train_time(), clock.started,
                          clock.carried)
    # the loader's end of epoch, after the clock: the RecordIO loader starts the next
    # epoch's iterator here (121-298 ms on the digits, benchmarks/host_time.py) to overlap
    # the validation, as the original's Module.fit leaves its reset() out of its "Time cost"
    batches.close()
    return trained


def train_step(run, data, label, epoch, nbatch):
    """Forward, backward and update on one batch split over the devices; returns each
    device's mean loss."""
    cfg = run.cfg
    data, soft, hard = mix_targets(data, label, cfg.preset.classes, cfg.label_smoothing,
                                   cfg.mixup, batch_seed(cfg.seed, epoch, nbatch))
    outs, losses = run.step(data.astype(cfg.dtype),
                            soft if soft is not None else hard, run.step_batch)
    batch_loss = []
    # read back only now: every device's work is queued (DataParallelStep)
    for o, h, l in zip(outs, run.step.split(hard), losses):
        stats = RunningMetrics.batch(ensemble_log_probs(o) if o.ndim == 3 else o, h, l,
                                     cfg.top5)
        run.metrics.add(stats)
        run.window.add(stats)
        batch_loss.append(stats['loss'] / max(stats['n'], 1))
    return batch_loss


def _report_batch(run, epoch, nbatch, clock):
    """The progress bar, and the original's log line every ``run.log_iters`` batches."""
    if run.progress:
        run.progress.update(1)
        run.progress.set_postfix(loss='%.3f' % (run.metrics.loss / run.metrics.n))
    if (nbatch + 1) % run.log_iters:
        return
    w, m = run.window.get(), run.metrics.get()
    speed = run.window.n / max(time.time() - clock.window, 1e-9)
    line = 'Epoch[%d] Batch [%d]\tSpeed: %.0f\tloss: %.4f(%.4f)\ttop1: %.4f(%.4f)' % (
        epoch, nbatch + 1, speed, w['loss'], m['loss'], 100 * w['acc'], 100 * m['acc'])
    if run.cfg.top5:
        line += '\ttop5: %.4f(%.4f)' % (100 * w['top5'], 100 * m['top5'])
    run.logger.info(line)
    run.window.reset()
    clock.window = time.time()


def _stop_mid_epoch(run, epoch, nbatch, seen, clock):
    """Save a partial-epoch checkpoint (rank 0) and raise :class:`Interrupted`."""
    # finish this batch's work everywhere: a worker leaving with its last gradients unsent
    # would leave the others waiting for them forever
    mx.nd.waitall()
    if run.rank0:
        checkpoint.save_state(run.net, run.trainer, run.files, epoch + 1, dict(
            epoch=epoch + 1, complete=False, batches_done=nbatch + 1,
            num_update=run.updates(epoch * run.epoch_size + nbatch + 1), seed=run.cfg.seed,
            epoch_metrics=dict(run.metrics.state(), seen=seen, train_time=round(
                clock.train_time(), 3))), run.logger)
    raise Interrupted('%s received: stopped in Epoch[%d] after batch %d; continue with '
                      '--load-epoch %d (or latest; the seed and settings come from the '
                      'checkpoint)' % (run.signals.caught, epoch, nbatch + 1, epoch + 1))


def _stop_after_epoch(run, epoch):
    """A signal came with the epoch's last batch, during validation or at the epoch's end:
    the epoch's checkpoint (saved now when it was not due) and :class:`Interrupted`."""
    done = epoch + 1
    if run.last_good != done:
        _save_epoch(run, done)
    raise Interrupted('%s received: stopped after Epoch[%d]; continue with --load-epoch %d '
                      '(or latest; the seed and settings come from the checkpoint)'
                      % (run.signals.caught, epoch, done))


def epoch_batches(loader, epoch, count):
    """Exactly `count` batches for `epoch`: a part shorter than that (RecordIO parts are cut
    by bytes, so their sizes differ a little) is read again, in another fixed order."""
    done, rep = 0, 0
    while done < count:
        loader.set_epoch(repeat_epoch(epoch, rep))
        before = done
        part = iter(loader)
        try:
            for batch in part:
                if done == count:
                    return
                done += 1
                yield batch
        finally:  # closed with this generator too: the loader ends its epoch now
            getattr(part, 'close', lambda: None)()
        if done == before:
            raise UserError('the training data yields no full batch of this size')
        rep += 1


def evaluate(net, loader, ctxs, dtype='float32', top5=False, components=None):
    """Validation loss and accuracy over every record of `loader`, split over `ctxs`.

    For an ensemble (outputs of shape (components, N, classes), `components` their names)
    the loss and accuracy are the ensemble's (:func:`ensemble_log_probs`), and
    ``'components'`` maps each component to its own accuracy."""
    metrics = RunningMetrics(top5)
    each = {c: RunningMetrics(top5) for c in components or ()}
    for data, label in loader:
        parts = gluon.utils.split_and_load(data.astype(dtype), ctxs, even_split=False)
        labels = gluon.utils.split_and_load(label, ctxs, even_split=False)
        outs = [net(x) for x in parts]  # every device's forward queued before any is read
        for out, y in zip(outs, labels):
            if out.ndim == 3:
                for k, c in enumerate(components):
                    each[c].update(out[k], y)
                out = ensemble_log_probs(out)
            metrics.update(out, y)
    result = metrics.get()
    if each:
        result['components'] = {c: m.get()['acc'] for c, m in each.items()}
    return result


def end_epoch(run, epoch, trained, val):
    """After epoch `epoch` (`trained` its :class:`EpochResult`, `val` what :func:`evaluate`
    gave): check the weights, log the epoch as the original did, write its metrics, rebuild
    the arrays, and save a checkpoint when due."""
    _check_finite(run, epoch, val)
    _log_epoch(run.logger, epoch, trained, val, run.cfg.top5)
    done = epoch + 1
    if run.rank0:
        checkpoint.append_metrics(run.files.metrics, _epoch_record(run, done, trained, val))
    run.trainer.refresh()
    if done % run.cfg.checkpoint_epochs == 0 or done == run.cfg.num_epochs:
        _save_epoch(run, done)


def _check_finite(run, epoch, val):
    if not (math.isfinite(val['loss']) and _finite(run.net)):
        # the last update can break the weights after a finite loss
        raise NonFiniteLoss('Epoch[%d] Batch [%d]: the loss became NaN (the weights are no '
                            'longer finite)' % (epoch, run.epoch_size))


def _log_epoch(logger, epoch, trained, val, top5):
    """The original's end-of-epoch lines (``Module.fit``'s), and the ensemble's components."""
    train_m = trained.metrics
    logger.info('Epoch[%d] Train-cross-entropy=%f', epoch, train_m['loss'])
    logger.info('Epoch[%d] Train-accuracy=%f', epoch, train_m['acc'])
    logger.info('Epoch[%d] Time cost=%.3f', epoch, time.time() - trained.started)
    logger.info('Epoch[%d] Validation-cross-entropy=%f', epoch, val['loss'])
    logger.info('Epoch[%d] Validation-accuracy=%f', epoch, val['acc'])
    if top5:
        logger.info('Epoch[%d] Validation-top_k_accuracy_5=%f', epoch, val['top5'])
    if 'components' in val:
        logger.info('Epoch[%d] Validation-accuracy of each component: %s', epoch, ', '.join(
            '%s=%f' % kv for kv in val['components'].items()))


def _epoch_record(run, done, trained, val):
    """The metrics file's record of the epoch that makes `done` complete epochs."""
    train_m = trained.metrics
    record = dict(epoch=done, lr=run.current_lr(done * run.epoch_size),
                  train_loss=train_m['loss'], train_acc=train_m['acc'], val_loss=val['loss'],
                  val_acc=val['acc'], time_s=round(time.time() - trained.started
                                                   + trained.carried_time, 3),
                  img_per_s=round(trained.seen / max(trained.train_time, 1e-9), 1))
    if run.cfg.top5:
        record['val_top5'] = val['top5']
    if 'components' in val:  # the ensemble: each component's test accuracy
        record['val_acc_components'] = val['components']
    return record


def _save_epoch(run, done):
    """The checkpoint after `done` complete epochs (written by rank 0)."""
    if run.rank0:
        checkpoint.save_state(run.net, run.trainer, run.files, done, dict(
            epoch=done, complete=True, batches_done=0,
            num_update=run.updates(done * run.epoch_size), seed=run.cfg.seed), run.logger)
    run.last_good = done


def _finite(net):
    return all(np.isfinite(p.data(p.list_ctx()[0]).asnumpy()).all()
               for p in net.collect_params().values())


# ---------------------------------------------------------------- the whole run
def train(cfg):
    """Train as the resolved configuration `cfg` says (see ``training.options.resolve``)."""
    run = start_run(cfg)
    try:
        with progress_bar(run.epoch_size, unit='batch', logger=run.logger) as run.progress, \
                StopSignals(run.job.vote) as run.signals:
            for epoch in range(run.resume.epoch, cfg.num_epochs):
                trained = train_one_epoch(run, epoch)
                val = evaluate(run.net, validation_batches(run, epoch), cfg.contexts,
                               cfg.dtype, cfg.top5, cfg.spec.component_names)
                end_epoch(run, epoch, trained, val)
                if run.signals.stop():  # caught with the last batch, in validation or at the end
                    _stop_after_epoch(run, epoch)
    except NonFiniteLoss as err:
        raise NonFiniteLoss('%s; stopping. The last good checkpoint is %s' % (
            err, '"%s"' % run.files.params(run.last_good) if run.last_good is not None
            else 'none (no epoch was saved)')) from None
    finish(run)
    return run


def validation_batches(run, epoch):
    """The validation loader, showing progress (a bar on a terminal, else a log line every
    ten seconds)."""
    return tracked(run.val_data, len(run.val_data), 'Epoch[%d] validation' % epoch,
                   report=run.logger.info, logger=run.logger)


def finish(run):
    """Rank 0: the deployable export, the curves and the final error; other workers keep
    their final parameters, to check that they stayed in sync."""
    if not run.rank0:
        path = run.files.worker_final(run.job.rank)
        with atomic_path(path) as tmp:
            run.net.save_parameters(tmp)
        run.logger.info('worker %d: final parameters in %s', run.job.rank, path)
        return
    # with AMP the hybridized graph carries AMP's casts: export the original's graph instead
    export = export_graph_deploy if run.cfg.amp else export_deploy
    for path in export(run.net, run.files.deploy, force=True):
        run.logger.info('exported %s', path)
    if run.cfg.plot:
        png = plot_runs([run.files.metrics], run.files.curves,
                        title=os.path.basename(run.files.folder))
        run.logger.info('curves in %s', png)
    last = checkpoint.read_metrics(run.files.metrics)[-1]
    run.logger.info('final test error %.2f%% (accuracy %.2f%%) after %d epochs',
                    100 * (1 - last['val_acc']), 100 * last['val_acc'], last['epoch'])
