"""A run's files: their names, checkpoints with exact resume, and the metrics file.

For a model prefix P a run writes:

  P-symbol.json, P-%04d.params  the original's checkpoint format and names
                                (``mx.model.load_checkpoint(P, epoch)`` reads them)
  P-%04d.states                 trainer state: momentum buffers, update count, schedule
  P-%04d.device-stats           several devices: each device's BatchNorm statistics (the
                                .params hold their mean, as the original's do)
  P-%04d.json                   where the run stands: epoch, complete or not, batches done
                                in a partial epoch, update count, seed
  P-metrics.jsonl               one JSON object per epoch (:func:`append_metrics`)
  P-run.json                    the run: network spec, data set, arguments, parameter count
  P.log                         the log (worker N > 0 of a distributed job: P-workerN.log)
  P-workerN-final.params        a distributed job's other workers: their final parameters
                                (Gluon format), to check that they stayed in sync
  P-deploy-symbol.json, P-deploy-0000.params, P-curves.png   at the end

Every file is written to a temporary name and renamed, so a crash never leaves half a
checkpoint; the ``.json`` of a checkpoint is written last and so names only complete ones.
"""
import collections
import json
import os
import re

import mxnet as mx

from .. import upstream
from ..spec import NetworkSpec
from ..utils import UserError, atomic_path

__all__ = ['RunFiles', 'ResumePoint', 'save_state', 'resume_point', 'read_metrics',
           'append_metrics', 'truncate_metrics', 'read_run_spec']

#: the names a run writes beside its prefix P, after ``P``: every file of the table above
_RUN_FILE = re.compile(r'(-symbol\.json|-\d{4}\.(params|states|json|device-stats)'
                       r'|-metrics\.jsonl|-run\.json|\.log|-worker\d+\.log'
                       r'|-worker\d+-final\.params|-deploy-symbol\.json|-deploy-0000\.params'
                       r'|-curves\.png)$')


class RunFiles(object):
    """The name of every file of the run with model prefix `prefix`."""

    def __init__(self, prefix):
        self.prefix = prefix

    @property
    def folder(self):
        return os.path.dirname(os.path.abspath(self.prefix))

    def symbol(self):
        return upstream.checkpoint_paths(self.prefix, 0)[0]

    def params(self, epoch):
        return upstream.checkpoint_paths(self.prefix, epoch)[1]

    def states(self, epoch):
        return '%s-%04d.states' % (self.prefix, epoch)

    def state(self, epoch):
        return '%s-%04d.json' % (self.prefix, epoch)

    def device_stats(self, epoch):
        return '%s-%04d.device-stats' % (self.prefix, epoch)

    @property
    def metrics(self):
        return self.prefix + '-metrics.jsonl'

    @property
    def run(self):
        return self.prefix + '-run.json'

    def log(self, rank=0):
        return self.prefix + ('.log' if rank == 0 else '-worker%d.log' % rank)

    def worker_final(self, rank):
        return '%s-worker%d-final.params' % (self.prefix, rank)

    @property
    def deploy(self):
        """Prefix of the deployable export: ``P-deploy-symbol.json``, ``P-deploy-0000.params``."""
        return self.prefix + '-deploy'

    @property
    def curves(self):
        return self.prefix + '-curves.png'

    def checkpoint_epochs(self):
        """Epochs with a ``P-%04d.params`` checkpoint, in order."""
        if not os.path.isdir(self.folder):
            return []
        base = os.path.basename(self.prefix) + '-'
        out = []
        for name in os.listdir(self.folder):
            number = name[len(base):-len('.params')]
            if name.startswith(base) and name.endswith('.params') and number.isdigit() \
                    and len(number) == 4:
                out.append(int(number))
        return sorted(out)

    def existing(self):
        """The files of a run that are under this prefix now (the table above), sorted."""
        if not os.path.isdir(self.folder):
            return []
        base = os.path.basename(self.prefix)
        return sorted(os.path.join(os.path.dirname(self.prefix), name)
                      for name in os.listdir(self.folder)
                      if name.startswith(base) and _RUN_FILE.match(name[len(base):]))

    def remove(self):
        """Remove the files of the run under this prefix (``--force``: start over, so that
        no stale checkpoint stays beside the new run's). Several workers may do this at
        once: a file another one removed first is no error."""
        for path in self.existing():
            try:
                os.remove(path)
            except FileNotFoundError:
                pass

    def latest_epoch(self):
        """The newest checkpoint's epoch (``--load-epoch latest``)."""
        have = self.checkpoint_epochs()
        if not have:
            raise FileNotFoundError('cannot resume: no checkpoint %s-NNNN.params exists'
                                    % self.prefix)
        return have[-1]

    def saved_settings(self, epoch):
        """What the run behind checkpoint `epoch` was trained with: ``(arguments, seed)``,
        the arguments of its ``P-run.json`` ({} without one: an original checkpoint, or
        files copied without it) and the seed in the checkpoint's ``.json`` (else the run's;
        None when neither says)."""
        arguments = _read_json(self.run) if os.path.isfile(self.run) else {}
        info = _read_json(self.state(epoch)) if os.path.isfile(self.state(epoch)) else {}
        seed = info.get('seed', arguments.get('rand_seed'))
        return arguments, seed

    def check_resumable(self, epoch):
        """A clear error, naming the checkpoints there are, unless epoch `epoch` exists."""
        if os.path.isdir(self.params(epoch)):
            raise UserError('cannot resume: %s is a folder, not a checkpoint file'
                            % self.params(epoch))
        if not os.path.isfile(self.params(epoch)):
            have = self.checkpoint_epochs()
            raise FileNotFoundError('cannot resume: %s does not exist (checkpoints there: %s)'
                                    % (self.params(epoch), ', '.join(
                                        os.path.basename(self.params(e)) for e in have)
                                       or 'none'))


def _read_json(path, counts=()):
    """A JSON object from one of the run's files, holding whole numbers under the keys
    `counts`; a damaged one is named in one line."""
    try:
        with open(path) as f:
            value = json.load(f)
    except ValueError:
        raise UserError('%s is damaged (not JSON); it belongs to the run being resumed'
                        % path) from None
    if not isinstance(value, dict):
        raise UserError('%s is damaged (not a JSON object)' % path)
    _check_counts(value, path, counts)
    return value


def _check_counts(value, path, counts):
    bad = [k for k in counts if isinstance(value.get(k), bool)
           or not isinstance(value.get(k), int) or value[k] < 0]
    if bad:
        raise UserError('%s is damaged (no count %s in it); it belongs to the run being '
                        'resumed' % (path, ', '.join(bad)))


def save_state(net, trainer, files, epoch, info, logger):
    """Checkpoint: original-format symbol + params, trainer states and the run state, each
    written atomically; the run-state file last, so it names only complete checkpoints.

    It first waits for all pending engine work: a save begun while the last step's
    operators were still queued (a signal mid-epoch, after a refresh replaced the arrays)
    wrote parameters that differed from run to run."""
    mx.nd.waitall()
    upstream.save_checkpoint(net, files.prefix, epoch)
    states = files.states(epoch)
    if trainer.state_on_servers:
        # MXNet cannot read the optimizer state back from parameter servers: a resume
        # starts with fresh momentum, the schedule carried on by the update count
        if os.path.exists(states):
            os.remove(states)  # never pair these parameters with another run's state
        info = dict(info, trainer_state='on the servers, not saved')
    else:
        with atomic_path(states) as tmp:
            trainer.save_states(tmp)
        if trainer.amp_state() is not None:
            info = dict(info, amp_loss_scaler=trainer.amp_state())
    save_device_stats(net, files.device_stats(epoch))
    with atomic_path(files.state(epoch)) as tmp:
        with open(tmp, 'w') as f:
            json.dump(info, f, indent=1)
    logger.info('Saved checkpoint to "%s"%s', files.params(epoch),
                '' if info.get('complete', True) else
                ' (partial: Epoch[%d] stopped after batch %d)' % (epoch - 1, info['batches_done']))


def _device_stats(net):
    """The parameters that differ per device (BatchNorm's running statistics)."""
    return {n: p for n, p in net.collect_params().items()
            if p.grad_req == 'null' and len(p.list_ctx()) > 1}


def save_device_stats(net, path):
    """On several devices, each device's BatchNorm statistics (NDArray file, keys
    ``DEVICE:NAME``), so that a resumed run continues with them and not with their mean."""
    stats = _device_stats(net)
    if not stats:
        return
    arrays = {'%d:%s' % (i, n): a.copyto(mx.cpu())
              for n, p in stats.items() for i, a in enumerate(p.list_data())}
    with atomic_path(path) as tmp:
        mx.nd.save(tmp, arrays)


def load_device_stats(net, path, logger):
    """Give each device its own saved BatchNorm statistics when the checkpoint was written
    on as many devices; otherwise every device keeps the checkpoint's mean (as the
    original's executors got it)."""
    stats = _device_stats(net)
    if not stats:
        return
    saved = mx.nd.load(path) if os.path.isfile(path) else {}
    devices = len(next(iter(stats.values())).list_ctx())
    expected = {'%d:%s' % (i, n) for n in stats for i in range(devices)}
    if set(saved) != expected:
        logger.info('no per-device statistics for %d devices beside the checkpoint: every '
                    'device starts from their mean', devices)
        return
    for n, p in stats.items():
        for i, array in enumerate(p.list_data()):
            array[:] = saved['%d:%s' % (i, n)]


class ResumePoint(collections.namedtuple('ResumePoint', [
        'epoch', 'skip_batches', 'num_update', 'states_file', 'epoch_metrics', 'amp_state'])):
    """Where a run continues: its first epoch, the batches of that epoch already done, the
    update count, the trainer-states file (None: fresh momentum), the running metrics of a
    partial epoch (None: start them at 0) and AMP's loss-scaler state (None: AMP's
    default). :data:`FRESH` is a run's start."""
    __slots__ = ()


ResumePoint.FRESH = ResumePoint(0, 0, 0, None, None, None)


def resume_point(files, epoch, epoch_size, logger):
    """The :class:`ResumePoint` of a run resumed from checkpoint `epoch`, `epoch_size`
    updates an epoch."""
    info_path, states = files.state(epoch), files.states(epoch)
    if not os.path.isfile(info_path):
        logger.info('no trainer state beside %s: resuming with fresh momentum, lr steps before '
                    'epoch %d re-applied (as the original did)', files.prefix, epoch)
        return ResumePoint(epoch, 0, epoch * epoch_size, None, None, None)
    info = _read_json(info_path, ('num_update',))
    if not info.get('complete', True):
        _check_counts(info, info_path, ('batches_done',))
    states = states if os.path.isfile(states) else None
    if states is None:
        logger.info('no trainer state beside %s (%s): resuming with fresh momentum, the '
                    'schedule at update %d', files.prefix, info.get('trainer_state', 'missing'),
                    info['num_update'])
    if not info.get('complete', True):
        logger.info('resuming from "%s": Epoch[%d] from batch %d, update %d', files.params(epoch),
                    epoch - 1, info['batches_done'] + 1, info['num_update'])
        return ResumePoint(epoch - 1, info['batches_done'], info['num_update'], states,
                           info.get('epoch_metrics'), info.get('amp_loss_scaler'))
    logger.info('resuming from "%s": %d epochs done, update %d, next Epoch[%d]',
                files.params(epoch), epoch, info['num_update'], epoch)
    return ResumePoint(epoch, 0, info['num_update'], states, None,
                       info.get('amp_loss_scaler'))


# ---------------------------------------------------------------- the metrics file
def read_metrics(path):
    """The per-epoch records of one run's ``P-metrics.jsonl``."""
    if not os.path.isfile(path):
        raise FileNotFoundError('no such metrics file: %s' % path)
    records = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except ValueError:
                    raise UserError('%s line %d is not JSON (a metrics file holds one JSON '
                                    'object a line)' % (path, n)) from None
                _check_record(records[-1], path, n)
    if not records:
        raise UserError('%s holds no epochs yet' % path)
    return records


def _check_record(record, path, n):
    """An epoch's record as training writes it: a JSON object with the epoch and the test
    accuracy, which every reader of the file needs."""
    if not isinstance(record, dict):
        raise UserError('%s line %d is not an epoch record (a JSON object)' % (path, n))
    for key in ('epoch', 'val_acc'):
        value = record.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError('%s line %d has no number %s: not a metrics file of this project'
                            % (path, n, key))


def append_metrics(path, record):
    """Add one epoch's record to the metrics file."""
    with open(path, 'a') as f:
        f.write(json.dumps(record) + '\n')


def truncate_metrics(path, epoch):
    """On resume keep the records of epochs up to `epoch`; a fresh run (`epoch` 0) starts a
    new file."""
    if not os.path.exists(path):
        return
    keep = []
    if epoch:
        with open(path) as f:
            keep = [line for line in f if line.strip() and json.loads(line)['epoch'] <= epoch]
    with atomic_path(path) as tmp:
        with open(tmp, 'w') as f:
            f.writelines(keep)


def write_run(files, cfg, parameters, examples):
    """``P-run.json``: the network spec, the data set and schedule, and the arguments."""
    run = dict(cfg.arguments, model=cfg.spec.to_dict(), dataset=cfg.dataset,
               num_epochs=cfg.num_epochs, parameters=parameters, examples=examples)
    with atomic_path(files.run) as tmp:
        with open(tmp, 'w') as f:
            json.dump(run, f, indent=1)


def read_run_spec(path):
    """The :class:`NetworkSpec` and the run's record from a ``P-run.json``; runs written
    before the spec was stored give it from their top-level arguments."""
    with open(path) as f:
        run = json.load(f)
    try:
        return NetworkSpec.from_dict(run.get('model') or run), run
    except (ValueError, TypeError):
        return None, run
