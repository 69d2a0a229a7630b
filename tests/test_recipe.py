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
