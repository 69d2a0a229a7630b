"""Training with the authors' recipe, one job per module.

* :mod:`.options`      the command line, and the resolved :class:`~.options.RunConfig`
* :mod:`.recipe`       initialiser, schedule, trainer, loss and targets
* :mod:`.checkpoint`   every file of a run, checkpoints and exact resume, the metrics file
* :mod:`.distributed`  the parameter-server job, the stop vote, how a worker leaves
* :mod:`.metrics`      cross-entropy and top-1/top-5 accuracy
* :mod:`.console`      the run's log
* :mod:`.loop`         ``train()``: set up, then ``train_one_epoch``, ``evaluate``,
                       ``end_epoch`` per epoch
* :mod:`.cli`          ``main()``, behind ``train_cifar.py`` and ``train_imagenet.py``
"""
from .cli import EXIT_INTERRUPTED, EXIT_NAN, main  # noqa: F401
from .options import RunConfig, build_parser, get_contexts, resolve  # noqa: F401
from .recipe import initializer, make_scheduler  # noqa: F401
