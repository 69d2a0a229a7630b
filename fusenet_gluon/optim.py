"""A Gluon Trainer whose NAG update costs less Python per parameter, and that offers the
training loop what it needs (rebuild its state, set the update count, start the kvstore).

``gluon.Trainer.step`` pays Python for every parameter (stale-gradient checks,
``list_data``/``list_grad``, the learning-rate schedule called once per parameter), and
the networks here have hundreds of small parameters (341 for DFN-MR1); what that costs
against ``mx.mod.Module.update`` is measured in docs/performance.md (``benchmarks/levers.py``).
:class:`FastTrainer` does the same update with the same operator (``nag_mom_update``), the
same learning-rate schedule and the same update counts and optimizer states, so
``save_states``/``load_states`` are unchanged and the parameters are bit-identical; the
bookkeeping is done once per step instead of once per parameter, on one device or on each
of several (their gradients summed first in one kvstore call). Configurations it does not
cover (updates on a kvstore, multi-precision, AMP, gradient clipping, per-parameter lr/wd
multipliers, another optimizer) take the standard path.

A trainer-state file is a pickle (MXNet's ``Updater.get_states``: the states and the
optimizer object), so :meth:`FastTrainer.load_states` reads it as data first.
"""
import ctypes

import mxnet as mx
from mxnet import gluon
from mxnet.base import _LIB, NDArrayHandle, c_handle_array, c_str, c_str_array, check_call

from . import safe_pickle
from .utils import UserError


def is_distributed(kv_store):
    """Whether a kvstore name (or type) is a parameter-server one (``dist_*``): its
    gradients are summed, and its optimizer may run, on servers, not in this process."""
    return 'dist' in (kv_store or '')


def _classes(module, base):
    return {(module.__name__, name): obj for name, obj in vars(module).items()
            if isinstance(obj, type) and issubclass(obj, base)}


#: What MXNet's trainer states hold (``pickletools`` over the states of NAG and SGD runs, one
#: and two devices, AMP): the momentum arrays, the optimizer and its learning-rate schedule.
STATE_GLOBALS = {('builtins', 'bytearray'): bytearray,
                 ('mxnet.ndarray.ndarray', 'NDArray'): mx.nd.NDArray,
                 **_classes(mx.optimizer.optimizer, mx.optimizer.Optimizer),
                 **_classes(mx.lr_scheduler, mx.lr_scheduler.LRScheduler)}


def check_states(path):
    """Raise a one-line :class:`~fusenet_gluon.utils.UserError` unless `path` is a trainer
    state as MXNet writes it (a dict of states, alone or with the optimizer), read with
    nothing but :data:`STATE_GLOBALS` (a pickle naming anything else is refused unrun)."""
    states = safe_pickle.load_file(path, STATE_GLOBALS, 'an MXNet trainer state')
    if isinstance(states, tuple) and len(states) == 2 and \
            isinstance(states[1], mx.optimizer.Optimizer):
        states = states[0]
    if not isinstance(states, dict):
        raise UserError('%s is not an MXNet trainer state (it holds a %s)'
                        % (path, type(states).__name__))


class _NagCalls(object):
    """``nag_mom_update(w, g, mom, out=w)`` for a fixed list of (w, g, mom) arrays, called
    through MXNet's C API with every argument array built once.

    ``mx.nd.nag_mom_update`` converts its arguments to ctypes arrays and its keyword values
    to strings at every call: 28 us a call against 14 us here (89 parameters, a 2-core
    Intel Xeon, ``benchmarks/host_time.py``), and while two CPU devices compute beside the
    main thread its CPU time is taken from theirs. The operator, its inputs, its output
    and the strings of its parameters (``str`` of each value, as the generated function
    passes them) are the same, so the results are bit-identical."""

    KEYS = ('lr', 'wd', 'momentum', 'rescale_grad')

    def __init__(self, triples):
        op = ctypes.c_void_p()
        check_call(_LIB.NNGetOpHandle(c_str('nag_mom_update'), ctypes.byref(op)))
        self._op, self._keys = op, c_str_array(self.KEYS)
        self.arrays = [tuple(t) for t in triples]  # kept alive as long as their handles
        self._calls = [(c_handle_array(t), ctypes.cast(c_handle_array(t[:1]),
                                                       ctypes.POINTER(NDArrayHandle)))
                       for t in self.arrays]

    def __call__(self, lr, wd, momentum, rescale_grad):
        vals = c_str_array([str(v) for v in (lr, wd, momentum, rescale_grad)])
        stypes, invoke = ctypes.POINTER(ctypes.c_int)(), _LIB.MXImperativeInvokeEx
        for inputs, output in self._calls:
            check_call(invoke(self._op, 3, inputs, ctypes.byref(ctypes.c_int(1)),
                              ctypes.byref(output), 4, self._keys, vals,
                              ctypes.byref(stypes)))


class FastTrainer(gluon.Trainer):
    """``gluon.Trainer`` with a lean NAG update on one device or several; same results."""

    def _fast_ok(self):
        opt = self._optimizer
        return (type(opt) is mx.optimizer.NAG
                and len(self._updaters) == len(self._contexts)
                and not (self._kvstore and self._update_on_kvstore)
                and (len(self._contexts) == 1 or self._local_store())
                and not opt.multi_precision and not opt.clip_gradient
                and getattr(self, '_amp_loss_scaler', None) is None
                and opt.momentum > 0
                and all(p.lr_mult == 1 and p.wd_mult == 1 for p in self._params))

    def _local_store(self):
        """Whether gradients are summed by a kvstore of this process (several devices of
        one machine), not by parameter servers."""
        kv = self._kvstore
        return kv is not None and not is_distributed(kv.type) and not self._update_on_kvstore

    def _allreduce_grads(self):
        """Sum every dense gradient over the devices with one kvstore call.

        ``gluon.Trainer`` makes one ``pushpull`` per parameter (89 calls at num_depth 26,
        341 at 110), each through ctypes; the store sums each key the same way whether its
        keys come one by one or in a list, so the sums are bit-identical."""
        if not (self._kv_initialized and self._local_store()):
            return super(FastTrainer, self)._allreduce_grads()
        items = getattr(self, '_reduce_items', None)
        if items is None:
            items = self._reduce_items = [
                (i, p.list_grad()) for i, p in enumerate(self._params)
                if p.grad_req != 'null' and p._stype == 'default']
        if items:
            keys, grads = zip(*items)
            self._kvstore.pushpull(list(keys), list(grads))

    def _update(self, ignore_stale_grad=False):
        if not self._fast_ok():
            return super(FastTrainer, self)._update(ignore_stale_grad)
        items = getattr(self, '_fast_items', None)
        if items is None:  # per device: (its context, [(index, weight, gradient)])
            items = self._fast_items = [
                (ctx, [(i, p.list_data()[d], p.list_grad()[d])
                       for i, p in enumerate(self._params) if p.grad_req != 'null'])
                for d, ctx in enumerate(self._contexts)]
        for updater, (ctx, device_items) in zip(self._updaters, items):
            self._update_device(updater, ctx, device_items, ignore_stale_grad)

    def _update_device(self, updater, ctx, items, ignore_stale_grad):
        """One device's NAG update, with the bookkeeping of ``mx.optimizer.Updater``: the
        update counts of this device (MXNet keeps one count per device and parameter), the
        schedule read at the largest count, the state made on first use."""
        opt = self._optimizer
        todo = []
        for i, w, g in items:
            if not w._fresh_grad:
                if ignore_stale_grad:
                    continue
                raise UserWarning('Gradient of Parameter `%s` on context %s has not been '
                                  'updated by backward since last `step`.'
                                  % (self._params[i].name, ctx))
            todo.append((i, w, g))
        if not todo:
            return
        opt._set_current_context(ctx.device_id)
        counts = opt._index_update_count
        for i, w, _ in todo:
            if i not in updater.states:
                updater.states[i] = opt.create_state_multi_precision(i, w)
                updater.states_synced[i] = True
            counts[i] = counts.get(i, opt.begin_num_update) + 1
            w._fresh_grad = False
        opt.num_update = max([opt.num_update] + [counts[i] for i, _, _ in todo])
        lr, wd = opt._get_lr(todo[0][0]), opt._get_wd(todo[0][0])
        self._nag_calls(updater, todo)(lr, wd, opt.momentum, opt.rescale_grad)

    def _nag_calls(self, updater, todo):
        """The prepared update calls of `todo` on one device, made again whenever the
        arrays differ from last time (a first step, a stale gradient skipped, states
        loaded or rebuilt)."""
        triples = [(w, g, updater.states[i]) for i, w, g in todo]
        cache = self.__dict__.setdefault('_nag_cache', {})
        calls = cache.get(id(updater))
        if calls is None or len(calls.arrays) != len(triples) or any(
                a is not b for old, new in zip(calls.arrays, triples)
                for a, b in zip(old, new)):
            calls = cache[id(updater)] = _NagCalls(triples)
        return calls

    # ------------------------------------------------------------ what the training loop needs
    @property
    def fast_path(self):
        """Whether steps take the lean NAG update (one device or several of this process)."""
        return self._fast_ok()

    @property
    def updates_on_kvstore(self):
        """Whether the optimizer runs on the kvstore (servers, or several devices)."""
        return bool(self._update_on_kvstore)

    @property
    def state_on_servers(self):
        """Whether the optimizer state lives on parameter servers, where MXNet cannot read
        it back (dist_async): such a trainer's state cannot be saved."""
        return bool(self._update_on_kvstore and self._kvstore is not None
                    and is_distributed(self._kvstore.type))

    def load_states(self, fname):
        """``gluon.Trainer.load_states``, once :func:`check_states` has read `fname` as
        data (MXNet's updater would unpickle whatever it holds)."""
        check_states(fname)
        super(FastTrainer, self).load_states(fname)

    @property
    def num_update(self):
        """Updates made so far, as the learning-rate schedule counts them."""
        return self._optimizer.num_update

    def set_lr_scheduler(self, scheduler):
        """Use `scheduler` from now on. ``load_states`` restores the optimizer with the
        schedule it was saved with; a resumed run follows the schedule of its own flags, as
        the original's did (it built its schedule anew at every start)."""
        self._optimizer.lr_scheduler = scheduler

    def set_update_count(self, count):
        """Continue the schedule from update `count` (a checkpoint without trainer state)."""
        self._optimizer.num_update = count
        self._optimizer.begin_num_update = count

    _AMP_FIELDS = ('_loss_scale', '_next_loss_scale', '_unskipped')

    def amp_state(self):
        """AMP's dynamic loss scale (mxnet.contrib.amp), JSON-ready, or None without AMP:
        part of the trainer state, so a resumed run scales its losses as the uninterrupted
        one does."""
        scaler = getattr(self, '_amp_loss_scaler', None)
        if scaler is None:
            return None
        return {k.lstrip('_'): getattr(scaler, k) for k in self._AMP_FIELDS}

    def load_amp_state(self, state):
        """Continue from :meth:`amp_state` (nothing to do for None or without AMP)."""
        scaler = getattr(self, '_amp_loss_scaler', None)
        if scaler is not None and state:
            for k in self._AMP_FIELDS:
                setattr(scaler, k, state[k.lstrip('_')])

    def set_batch_size(self, batch_size):
        """Average gradients over `batch_size` samples. Call before :meth:`start`: an
        optimizer on parameter servers keeps the scale it was sent."""
        self._optimizer.rescale_grad = self._scale / batch_size

    def start(self, distributed=False):
        """Create the kvstore now rather than at the first step and give every device (and,
        in a distributed job, every worker) the first device's parameters; in a distributed
        job also wait until they have arrived.

        Gluon broadcasts the parameters at its first ``step``, after the first backward
        pass, so on several devices it would replace the second device's first BatchNorm
        update with the first device's; doing it before the first batch gives every device
        its own running statistics from the start, as the original's executors had. In a
        distributed job Gluon does not wait for the pulls. On MXNet 1.9.1 a worker's pull
        of a parameter can then reach the server after both workers' first gradient
        push-pull of it, and without an optimizer on the server that push-pull has replaced
        the stored value with the summed gradient: the worker takes that sum as its weight
        and the workers drift apart (seen in about one 2-worker run in ten). Broadcasting
        before the first batch and waiting for it closes the window: no worker pushes a
        gradient before its own pulls are done.
        """
        if not self._kv_initialized:  # load_states() may have made it: a second one would
            self._init_kvstore()      # lack the keys the first was given
        if self._params_to_init:
            self._init_params()  # nothing to do without a kvstore (one device)
        if distributed:
            mx.nd.waitall()

    def refresh(self):
        """Rebuild every parameter array and the optimizer state from their values, exactly
        as a run resumed from a checkpoint builds them.

        MKL-DNN keeps arrays it has worked on in blocked layouts whose arithmetic order
        differs from that of arrays freshly loaded from a checkpoint, so a run resumed from
        epoch N would drift (about 1e-4 after one epoch) from one that went on in memory.
        Evaluation needs it too: an inference-mode convolution reorders its weight into an
        MKL-DNN layout in place, and the updates that follow are then no longer reproducible
        from run to run; in a dist_sync job the workers, which apply the same summed
        gradients, drift apart by an ulp or so per update (seen on every 2-worker run with
        an evaluation between epochs). Rebuilding at each epoch boundary, after the
        evaluation, removes both effects (bit-identical on the CPU).
        """
        if self._update_on_kvstore:
            return  # the state lives on the servers (dist_async): not refreshed
        for param in self._params:
            ctx = param.list_ctx()
            # each device keeps its own values (BatchNorm statistics differ per device)
            values = [d.copyto(mx.cpu()) for d in param.list_data()]
            for value in values:
                value.wait_to_read()
            param._data = None
            param._load_init(values[0], ctx)
            for array, value in zip(param.list_data()[1:], values[1:]):
                array[:] = value
        for updater in self._updaters:
            updater.set_states(updater.get_states(dump_optimizer=True))
            updater.optimizer = self._updaters[0].optimizer
        self._optimizer = self._updaters[0].optimizer
        self._optimizer.param_dict = {i: p for i, p in enumerate(self._params)}
        for cached in ('_fast_items', '_reduce_items', '_nag_cache'):
            self.__dict__.pop(cached, None)
