"""fusenet_gluon.optim: the fast trainer against Gluon's Trainer, bit for bit."""
import mxnet as mx
import numpy as np
import pytest

from fusenet_gluon import get_model, training


def test_fast_trainer_is_bit_identical_to_gluon_trainer(tmp_path):
    from mxnet import autograd, gluon
    from fusenet_gluon.optim import FastTrainer
    x = mx.nd.random.uniform(shape=(8, 3, 32, 32))
    y = mx.nd.array(np.arange(8) % 10)
    nets = []
    for cls in (gluon.Trainer, FastTrainer):
        mx.random.seed(0)
        net = get_model('cross', depth=14)
        net.initialize(training.initializer())
        net.hybridize(static_alloc=True, static_shape=True)
        sched = mx.lr_scheduler.MultiFactorScheduler([2, 4], 0.1, base_lr=0.1)
        tr = cls(net.collect_params(), 'nag', dict(learning_rate=0.1, momentum=0.9, wd=1e-4,
                                                   lr_scheduler=sched), kvstore=None)
        loss = gluon.loss.SoftmaxCrossEntropyLoss()
        for step in range(6):
            if step == 3:  # states written by one trainer load into the other
                tr.save_states(str(tmp_path / ('%s.states' % cls.__name__)))
                tr.load_states(str(tmp_path / ('%s.states' % cls.__name__)))
            with autograd.record():
                l = loss(net(x), y)
            l.backward()
            tr.step(8)
        assert tr._optimizer.num_update == 6 and abs(tr.learning_rate - 0.001) < 1e-12
        nets.append({k: p.data().asnumpy() for k, p in net.collect_params().items()})
        with pytest.raises(UserWarning):  # a step without backward is refused, as by Gluon
            tr.step(8)
    for k in nets[0]:
        assert np.array_equal(nets[0][k], nets[1][k]), k
