"""The parameter-server job: its kvstore, the stop vote, and how a worker may leave.

A training process is one worker of a job started by :mod:`fusenet_gluon.launch` when its
kvstore is ``dist_*``; otherwise it is the only one (rank 0 of 1). This module holds what
differs between the two: the kvstore and ranks (:class:`Job`), agreeing on a stop after a
signal (:class:`StopSignals`), and leaving the job (:func:`run_worker`).
"""
import logging
import os
import signal
import sys
import traceback

import mxnet as mx

from ..optim import is_distributed

KV_STORES = ('local', 'device', 'nccl', 'dist_sync', 'dist_device_sync', 'dist_async')

__all__ = ['KV_STORES', 'is_distributed', 'Job', 'StopSignals', 'run_worker']


#: a distributed run's kvstore, kept alive until run_worker() lets it go (see there)
_JOB_KVSTORE = []


class Job(object):
    """This process's place in the training job.

    ``kvstore`` is what Gluon's trainer gets: a KVStore object only for a distributed run
    (a KVStore object makes Gluon update on the store even on one device), else the name,
    with which Gluon chooses (none on one device). ``rank``/``workers`` are 0/1 outside a
    distributed job. dist_async applies each worker's gradients on the servers as they come
    (Gluon allows no other way), so its schedule counts workers x steps and a step averages
    over this worker's batch only.
    """

    def __init__(self, kv_store):
        self.distributed = is_distributed(kv_store)
        self.kvstore = mx.kv.create(kv_store) if self.distributed else (kv_store or None)
        if self.distributed:
            _JOB_KVSTORE.append(self.kvstore)  # run_worker() decides when it may be freed
            self.rank, self.workers = self.kvstore.rank, self.kvstore.num_workers
        else:
            self.rank, self.workers = 0, 1
        self.asynchronous = self.distributed and 'async' in kv_store

    @property
    def updates_per_step(self):
        """Schedule updates per step of this worker (the servers count every worker's)."""
        return self.workers if self.asynchronous else 1

    @property
    def samples_per_update(self):
        """Workers whose batches one update averages over."""
        return 1 if self.asynchronous else self.workers

    @property
    def update_on_kvstore(self):
        """Gluon's ``update_on_kvstore`` for this job: on the servers only for dist_async."""
        return self.asynchronous if self.distributed else None

    @property
    def vote(self):
        """The kvstore through which the workers agree on a stop (dist_sync), else None."""
        return self.kvstore if self.distributed and not self.asynchronous else None


class StopSignals(object):
    """SIGINT/SIGTERM/SIGHUP set a flag; the loop saves and exits after the current batch
    (after the epoch's validation when it was the epoch's last).

    In a dist_sync job the workers must stop after the same batch: one that left a batch
    early would leave the others waiting for its gradients. With `kv`, :meth:`stop` sums
    the workers' flags through the kvstore after every batch but an epoch's last and after
    each epoch's end (one float, one round trip)
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


def run_worker(run):
    """Run ``run()`` (which returns an exit status) as a worker of a parameter-server job.

    A worker that leaves a parameter-server job early (a signal, a NaN, an error) must not
    free its kvstore: the destructor waits in a barrier (ps::Finalize) that workers blocked
    on its gradients never reach, and the job would hang instead of ending. So the store
    is kept alive and such a worker leaves with ``os._exit`` once its logs are flushed; one
    that finished lets the store go and returns its status.
    """
    try:
        status = run()
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
