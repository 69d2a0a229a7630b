"""A Gluon Trainer whose NAG update costs less Python per parameter.

``gluon.Trainer.step`` pays Python for every parameter (stale-gradient checks,
``list_data``/``list_grad``, the learning-rate schedule called once per parameter); the
networks here have hundreds of small parameters (341 for DFN-MR1), and on this project's
2-core CPU its update took 25.8 ms a step against 15.9 ms for ``mx.mod.Module.update``
(``benchmarks/levers.py``, docs/performance.md). :class:`FastTrainer` does the same update with
the same operator (``nag_mom_update``), the same learning-rate schedule and the same
update counts and optimizer states, so ``save_states``/``load_states`` are unchanged and the
parameters are bit-identical; the bookkeeping is done once per step instead of once per
parameter. Configurations it does not cover (several devices, updates on a kvstore,
multi-precision, AMP, gradient clipping, per-parameter lr/wd multipliers, another
optimizer) take the standard path.
"""
import mxnet as mx
from mxnet import gluon


class FastTrainer(gluon.Trainer):
    """``gluon.Trainer`` with a lean single-device NAG update; same results."""

    def _fast_ok(self):
        opt = self._optimizer
        return (type(opt) is mx.optimizer.NAG and len(self._updaters) == 1
                and len(self._contexts) == 1
                and not (self._kvstore and self._update_on_kvstore)
                and not opt.multi_precision and not opt.clip_gradient
                and getattr(self, '_amp_loss_scaler', None) is None
                and opt.momentum > 0
                and all(p.lr_mult == 1 and p.wd_mult == 1 for p in self._params))

    def _update(self, ignore_stale_grad=False):
        if not self._fast_ok():
            return super(FastTrainer, self)._update(ignore_stale_grad)
        items = getattr(self, '_fast_items', None)
        if items is None:
            items = self._fast_items = [
                (i, p.list_data()[0], p.list_grad()[0])
                for i, p in enumerate(self._params) if p.grad_req != 'null']
        opt, updater = self._optimizer, self._updaters[0]
        todo = []
        for i, w, g in items:
            if not w._fresh_grad:
                if ignore_stale_grad:
                    continue
                raise UserWarning('Gradient of Parameter `%s` has not been updated by '
                                  'backward since last `step`.' % self._params[i].name)
            todo.append((i, w, g))
        counts = opt._index_update_count
        for i, w, _ in todo:
            if i not in updater.states:
                updater.states[i] = opt.create_state_multi_precision(i, w)
                updater.states_synced[i] = True
            counts[i] = counts.get(i, opt.begin_num_update) + 1
            w._fresh_grad = False
        if not todo:
            return
        opt.num_update = max([opt.num_update] + [counts[i] for i, _, _ in todo])
        lr, wd = opt._get_lr(todo[0][0]), opt._get_wd(todo[0][0])
        states, update = updater.states, mx.nd.nag_mom_update
        kwargs = dict(lr=lr, wd=wd, momentum=opt.momentum, rescale_grad=opt.rescale_grad)
        for i, w, g in todo:
            update(w, g, states[i], out=w, **kwargs)
