"""OpenMP threads per CPU device (fusenet_gluon.cpu_threads): the physical cores counted as
lscpu counts them, each device's engine worker given its share, and oneDNN seeing it."""
import os
import shutil
import subprocess
import sys

import mxnet as mx
import pytest

from fusenet_gluon.cpu_threads import physical_cores, share_cores, worker_threads

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# devices no other test uses, so that the threads set here slow nothing else down
DEVICES = [mx.cpu(6), mx.cpu(7)]


def fake_topology(tmp_path, cores):
    """A sysfs tree: logical CPU i on (package, core) cores[i]."""
    for cpu, (package, core) in enumerate(cores):
        folder = tmp_path / ('cpu%d' % cpu) / 'topology'
        folder.mkdir(parents=True)
        (folder / 'physical_package_id').write_text('%d\n' % package)
        (folder / 'core_id').write_text('%d\n' % core)
    return str(tmp_path)


def test_hyperthreads_and_sockets_are_counted_as_cores(tmp_path):
    # two sockets of two cores with two hyperthreads each: 8 logical CPUs, 4 cores
    sysfs = fake_topology(tmp_path, [(p, c) for _ in range(2) for p in range(2)
                                     for c in range(2)])
    assert physical_cores(range(8), sysfs) == 4
    assert physical_cores([0, 4], sysfs) == 1       # one core's two hyperthreads
    assert physical_cores([0, 1], sysfs) == 2


def test_an_unreadable_topology_counts_nothing(tmp_path):
    assert physical_cores([0], str(tmp_path)) is None


def test_this_machines_cores_are_lscpus():
    if not shutil.which('lscpu'):
        pytest.skip('no lscpu here')
    out = subprocess.run(['lscpu', '-p=CPU,CORE,SOCKET'], capture_output=True, text=True)
    allowed = os.sched_getaffinity(0)
    rows = [line.split(',') for line in out.stdout.splitlines() if not line.startswith('#')]
    expected = {(socket, core) for cpu, core, socket in rows if int(cpu) in allowed}
    assert physical_cores() == len(expected)


def test_each_device_gets_its_share_of_the_cores():
    line = share_cores(DEVICES[:1], cores=4, environ={})
    assert worker_threads(DEVICES[:1]) == {6: 4}
    assert line == 'OpenMP threads per CPU device: 4 (4 physical core(s) over 1 device(s))'
    share_cores(DEVICES, cores=4, environ={})
    assert worker_threads(DEVICES) == {6: 2, 7: 2}
    share_cores(DEVICES, cores=3, environ={})
    assert worker_threads(DEVICES) == {6: 1, 7: 1}
    share_cores(DEVICES, cores=1, environ={})        # never fewer than one
    assert worker_threads(DEVICES) == {6: 1, 7: 1}


@pytest.mark.parametrize('environ,why', [
    ({'OMP_NUM_THREADS': '3'}, 'OMP_NUM_THREADS=3 is set'),
    ({'MXNET_CPU_WORKER_NTHREADS': '2'}, 'MXNET_CPU_WORKER_NTHREADS=2 is set'),
    ({'MXNET_ENGINE_TYPE': 'ThreadedEngine'}, 'MXNET_ENGINE_TYPE=ThreadedEngine'),
])
def test_the_users_settings_are_left_alone(environ, why):
    share_cores(DEVICES, cores=2, environ={})
    line = share_cores(DEVICES, cores=8, environ=environ)
    assert line == "OpenMP threads per CPU device: MXNet's choice (%s)" % why
    assert worker_threads(DEVICES) == {6: 1, 7: 1}


def test_gpus_are_not_touched():
    assert share_cores([mx.gpu(0)], cores=2, environ={}) is None


BUSY = r'''
import sys, time
sys.path.insert(0, %r)
import mxnet as mx
from fusenet_gluon.training.options import build_parser, resolve
cfg = resolve(build_parser().parse_args(['--network', 'cross', '--depth', '14', '--gpus', '',
                                         '--cpu-devices', '1', '--batch-size', '16',
                                         '--data-dir', %r]))
print([n for n in cfg.notes if 'OpenMP' in n])


def cores_busy(ctx):
    """CPU time over wall time of convolutions (oneDNN) on `ctx`'s worker."""
    x = mx.nd.ones((32, 32, 32, 32), ctx=ctx)
    w = mx.nd.ones((32, 32, 3, 3), ctx=ctx)
    conv = lambda: mx.nd.Convolution(x, w, kernel=(3, 3), pad=(1, 1), num_filter=32,
                                     no_bias=True).wait_to_read()
    conv()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(60):
        conv()
    return (time.process_time() - cpu) / (time.perf_counter() - wall)


print('busy', cores_busy(mx.cpu(0)), cores_busy(mx.cpu(1)))  # cpu(1): MXNet's default
'''


def test_training_gives_one_device_every_core(tmp_path, toy_dir):
    """After the training options chose one CPU device, its convolutions (oneDNN) keep every
    physical core busy; on a device left to MXNet's default (half the logical CPUs on x86),
    about one core on a 2-core machine."""
    cores = physical_cores()
    if not cores or cores < 2:
        pytest.skip('one core: nothing to share')
    env = {k: v for k, v in os.environ.items() if k != 'OMP_NUM_THREADS'}
    out = subprocess.run([sys.executable, '-c', BUSY % (ROOT, toy_dir)], env=env,
                         capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "OpenMP threads per CPU device: %d (%d physical core(s) over 1 device(s))" % (
        cores, cores) in out.stdout
    shared, default = [float(v) for v in out.stdout.split('busy')[1].split()]
    assert shared > 1.3 and shared > default + 0.3, (shared, default)
