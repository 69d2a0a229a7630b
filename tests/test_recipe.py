"""fusenet_gluon.training.recipe: the learning-rate schedules by hand (steps at update
counts, warmup and cosine)."""
import numpy as np

from fusenet_gluon import training


def test_schedule_fires_at_update_counts():
    sched = training.make_scheduler(0.1, epoch_size=10, num_epochs=4, steps=[2, 3],
                                    factor=0.1)
    # MXNet counts updates from 1; the lr drops once the update count passes 20, then 30
    got = [sched(n) for n in (1, 20, 21, 30, 31, 40)]
    np.testing.assert_allclose(got, [0.1, 0.1, 0.01, 0.01, 0.001, 0.001])


def test_warmup_and_cosine_schedule_by_hand():
    common = dict(epoch_size=10, num_epochs=4, steps=[3], warmup_epochs=1)
    sched = training.make_scheduler(0.1, **common)   # 10 warmup updates, step at 30
    np.testing.assert_allclose([sched(0), sched(5), sched(10), sched(31)],
                               [0.0, 0.05, 0.1, 0.01], atol=1e-12)
    sched = training.make_scheduler(0.1, mode='cosine', **common)   # 40 updates, 10 of warmup
    # halfway through the cosine part (update 25): 0.1 * (1 + cos(pi/2)) / 2 = 0.05
    np.testing.assert_allclose([sched(5), sched(25), sched(40)], [0.05, 0.05, 0.0],
                               atol=1e-9)


def _loss_and_gradient(loss, logits, labels):
    import mxnet as mx
    z = mx.nd.array(logits)
    z.attach_grad()
    with mx.autograd.record():
        value = loss(z, mx.nd.array(labels))
    value.backward()
    return value.asnumpy(), z.grad.asnumpy()


def test_the_cross_entropy_is_gluons_bit_for_bit():
    """recipe.SoftmaxCrossEntropy (operators that take no temporary workspace) against
    Gluon's SoftmaxCrossEntropyLoss: the losses and the gradient of the logits, to the bit,
    for one network's logits (N, C) and the ensemble's summed components (K, N, C)."""
    from mxnet import gluon
    from fusenet_gluon.training.recipe import SoftmaxCrossEntropy, SummedLoss
    rng = np.random.RandomState(0)
    labels = rng.randint(0, 10, 32)
    for shape, wrap in (((32, 10), lambda f: f), ((3, 32, 10), SummedLoss)):
        logits = rng.normal(0, 8, shape).astype(np.float32)
        ref = _loss_and_gradient(wrap(gluon.loss.SoftmaxCrossEntropyLoss()), logits, labels)
        got = _loss_and_gradient(wrap(SoftmaxCrossEntropy()), logits, labels)
        assert ref[0].shape == got[0].shape == (32,)
        assert np.array_equal(ref[0], got[0]) and np.array_equal(ref[1], got[1])
