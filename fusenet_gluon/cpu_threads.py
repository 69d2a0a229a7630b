"""How many OpenMP threads each CPU device's engine worker runs: the machine's physical
cores, shared among the CPU devices in use.

MXNet trap (MXNet 1.9.1, ``src/engine/openmp.cc``): unless ``OMP_NUM_THREADS`` is set, the
most OpenMP threads an operator may use is ``omp_get_num_procs() >> 1`` on x86, on the
assumption that half the logical CPUs are hyperthreads, and each engine worker starts with
that many. On a machine without hyperthreads, as this project's 2-core machines
(``lscpu``: one thread per core), one CPU device therefore trains on half the cores: DFN-MR
num_depth 26 at batch 64 ran at 150 img/s using 1.01 cores, and at 249 img/s using 2.00
once its worker had two threads (Intel Xeon, 2026-12-01, oneDNN capped at AVX2;
docs/performance.md, "One device, half the cores"). Two devices were faster than one
mostly because each got a core of its own.

:func:`share_cores` gives each CPU device's worker ``physical cores // devices`` threads
(at least one) by running ``omp_set_num_threads`` on that worker itself, through MXNet's
engine (``MXEnginePushSync``): OpenMP's thread count is per thread, and oneDNN, which runs
nearly all of a step, asks the calling thread's. MXNet's own kernels stay within MXNet's
limit. It changes nothing when the user set ``OMP_NUM_THREADS`` (MXNet then gives every
worker that many), when a device has several workers (``MXNET_CPU_WORKER_NTHREADS``), under
an engine other than MXNet's default per-device one or the naive one, or when the cores
cannot be counted.
"""
import ctypes
import ctypes.util
import os

import mxnet as mx

__all__ = ['physical_cores', 'share_cores', 'worker_threads']

_CPU = 1  # MXNet's Context::kCPU
_SYNC_FUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


class _Context(ctypes.Structure):
    """MXNet's ``Context`` as ``MXEnginePushSync`` reads it: device type, device id."""
    _fields_ = [('dev_type', ctypes.c_int), ('dev_id', ctypes.c_int)]


def physical_cores(cpus=None, sysfs='/sys/devices/system/cpu'):
    """The physical cores among the logical CPUs this process may run on (`cpus`, default
    its affinity): distinct (package, core) pairs of Linux's CPU topology. None when the
    topology cannot be read."""
    cpus = sorted(os.sched_getaffinity(0) if cpus is None else cpus)
    cores = set()
    for cpu in cpus:
        folder = os.path.join(sysfs, 'cpu%d' % cpu, 'topology')
        try:
            with open(os.path.join(folder, 'physical_package_id')) as f:
                package = f.read().strip()
            with open(os.path.join(folder, 'core_id')) as f:
                core = f.read().strip()
        except OSError:
            return None
        cores.add((package, core))
    return len(cores) or None


def _openmp():
    """The OpenMP runtime MXNet's library uses (the wheel links the system's libgomp)."""
    return ctypes.CDLL(ctypes.util.find_library('gomp') or 'libgomp.so.1')


def _on_workers(contexts, work):
    """Runs ``work(device_id)`` on each CPU device's engine worker, and waits."""
    calls = []
    for ctx in contexts:
        callback = _SYNC_FUNC(lambda run_ctx, param, i=ctx.device_id: work(i))
        calls.append(callback)  # alive until the engine has run it
        check = mx.base._LIB.MXEnginePushSync(
            callback, None, None, ctypes.byref(_Context(_CPU, ctx.device_id)),
            None, 0, None, 0, None, 0, None)
        if check != 0:
            raise RuntimeError(mx.base.py_str(mx.base._LIB.MXGetLastError()))
    mx.nd.waitall()


def worker_threads(contexts):
    """{device id: ``omp_get_max_threads()`` on that CPU device's engine worker}."""
    openmp, seen = _openmp(), {}
    _on_workers(contexts, lambda i: seen.__setitem__(i, openmp.omp_get_max_threads()))
    return seen


def _why_not(environ):
    if environ.get('OMP_NUM_THREADS'):
        return 'OMP_NUM_THREADS=%s is set' % environ['OMP_NUM_THREADS']
    if environ.get('MXNET_CPU_WORKER_NTHREADS', '1') != '1':
        return 'MXNET_CPU_WORKER_NTHREADS=%s is set' % environ['MXNET_CPU_WORKER_NTHREADS']
    engine = environ.get('MXNET_ENGINE_TYPE', 'ThreadedEnginePerDevice')
    if engine not in ('ThreadedEnginePerDevice', 'NaiveEngine'):
        return 'MXNET_ENGINE_TYPE=%s' % engine
    return None


def share_cores(contexts, cores=None, environ=None):
    """Gives each CPU device of `contexts` ``cores // devices`` OpenMP threads (at least 1;
    `cores` default :func:`physical_cores`). Returns a line for the log saying what was
    set, or why nothing was; None when `contexts` has no CPU device."""
    cpus = [c for c in contexts if c.device_type == 'cpu']
    if not cpus:
        return None
    why = _why_not(os.environ if environ is None else environ)
    cores = physical_cores() if cores is None and why is None else cores
    if why is None and not cores:
        why = 'the physical cores could not be counted'
    if why:
        return 'OpenMP threads per CPU device: MXNet\'s choice (%s)' % why
    threads = max(1, cores // len(cpus))
    openmp = _openmp()
    _on_workers(cpus, lambda i: openmp.omp_set_num_threads(threads))
    return 'OpenMP threads per CPU device: %d (%d physical core(s) over %d device(s))' % (
        threads, cores, len(cpus))
