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

The command line (:mod:`.options`, :mod:`.cli`) is imported by its module's name, never
through this package, so that a library module importing the recipe or the checkpoints
does not build the command line.
"""
from .recipe import initializer, make_scheduler  # noqa: F401
