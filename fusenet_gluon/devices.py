"""The devices a run or a benchmark uses, from ``--gpus`` and ``--cpu-devices``.

:func:`get_contexts` turns the two flags into MXNet contexts: every visible GPU by default,
else the CPU, split into ``mx.cpu(0..N-1)`` when asked (``auto``: :func:`auto_cpu_devices`).
The training command line (``training.options``) and ``bench`` both select their devices
here; :func:`cpu_devices_arg` is the type of their ``--cpu-devices`` flag.
"""
import argparse
import os

import mxnet as mx

from .utils import UserError

__all__ = ['AUTO_CPU_DEVICES_RULE', 'cpu_devices_arg', 'auto_cpu_devices', 'get_contexts']

#: What ``--cpu-devices auto`` picks, in words (for the help and the log).
AUTO_CPU_DEVICES_RULE = ('two devices on a CPU of two cores or more when the batch splits '
                         'evenly (the paper\'s two GPUs; measured faster on two cores, '
                         'docs/performance.md), else one')


def cpu_devices_arg(text):
    """``--cpu-devices``: a whole number, or ``auto``."""
    if str(text).strip().lower() == 'auto':
        return 'auto'
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError('takes a whole number or auto, got %r' % text) \
            from None


def auto_cpu_devices(batch_size, cores=None):
    """The CPU devices ``--cpu-devices auto`` picks for `batch_size` (see
    :data:`AUTO_CPU_DEVICES_RULE`): each CPU device has its own engine worker, and on a 2-core
    machine two of them train DFN-MR about 1.7 times as fast as one."""
    cores = os.cpu_count() if cores is None else cores
    return 2 if (cores or 1) >= 2 and batch_size % 2 == 0 else 1


def get_contexts(gpus, cpu_devices=1, batch_size=64):
    """The devices: ``--gpus`` None -> every visible GPU, else the CPU; '' -> the CPU;
    '0,1' -> those GPUs. On the CPU, `cpu_devices` devices ``mx.cpu(0..N-1)``, which MXNet
    treats as separate devices exactly as it treats GPUs; ``'auto'``:
    :func:`auto_cpu_devices` of `batch_size`."""
    auto = cpu_devices == 'auto'
    if not auto and (isinstance(cpu_devices, bool) or not isinstance(cpu_devices, int)
                     or cpu_devices < 1):
        raise UserError('--cpu-devices must be at least 1, got %r (or auto)' % (cpu_devices,))
    if gpus is None:
        n = mx.context.num_gpus()
        gpus = ','.join(map(str, range(n))) if n else ''
    gpus = gpus.strip().strip('"\'')  # also a literal '' from a config file or script
    if gpus == '':
        return [mx.cpu(i) for i in range(auto_cpu_devices(batch_size) if auto
                                          else cpu_devices)]
    if auto:
        cpu_devices = 1  # GPUs: auto asks for nothing more
    try:
        ids = [int(g) for g in gpus.split(',') if g.strip() != '']
    except ValueError:
        raise UserError("--gpus takes a comma list of GPU ids like 0,1 (or '' for the CPU), "
                        'got %r' % gpus) from None
    if cpu_devices != 1:
        raise UserError("--cpu-devices %d is for runs on the CPU; with GPUs (--gpus %s) the "
                        "batch is split over them: give --gpus '' to use CPU devices"
                        % (cpu_devices, gpus))
    available = mx.context.num_gpus()
    bad = [i for i in ids if i < 0 or i >= available]
    if bad:
        raise UserError('GPU(s) %s not available: this machine has %d GPU(s) visible to MXNet'
                        "%s" % (bad, available, " (use --gpus '' for the CPU)"
                                if not available else ''))
    return [mx.gpu(i) for i in ids]
