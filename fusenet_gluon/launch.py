"""Start an MXNet parameter-server job: scheduler, servers and workers (DMLC_* variables).

    python -m fusenet_gluon.launch -n 2 -s 1 -- python train_cifar.py --kv-store dist_sync ...
    python -m fusenet_gluon.launch -n 4 -s 2 --hosts hosts.txt -- python train_cifar.py ...

Locally every process runs on this machine on loopback. With ``--hosts`` (one host a line)
servers and workers are started over ssh, round robin, in the same working directory (and
with the same Python path: a shared file system or identical installs), and the scheduler
runs here on ``--scheduler-host`` (default: this machine's name). In the command,
``{rank}`` is replaced by the worker's index in start order (0..n-1; its kvstore rank,
which ps-lite assigns when the job forms, may differ). When a worker fails, every process
is stopped and the launcher exits with the worker's status. When the launcher is
interrupted (Ctrl-C, SIGTERM, SIGHUP) it passes SIGTERM to the workers, which save a
checkpoint and stop after the same batch, waits up to ``--grace`` seconds for them, then
stops the rest. (MXNet's own tools/launch.py calls ``Thread.isAlive``, gone since Python
3.9.)
"""
import argparse
import os
import shlex
import signal
import socket
import subprocess
import sys
import time

from .utils import EXIT_INTERRUPTED, HelpFormatter, UserError, check_range, run_cli

SERVER_CODE = 'import mxnet'  # a server or scheduler serves from inside `import mxnet`


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _spawn(role, command, env_extra, host=None, cwd=None):
    env = dict(os.environ, DMLC_ROLE=role, **env_extra)
    if host is None:
        return subprocess.Popen(command, env=env, cwd=cwd, start_new_session=True)
    exports = ' '.join('%s=%s' % (k, shlex.quote(v)) for k, v in
                       sorted(dict(env_extra, DMLC_ROLE=role).items()))
    remote = 'cd %s && env %s %s' % (shlex.quote(cwd or os.getcwd()), exports,
                                     ' '.join(shlex.quote(c) for c in command))
    # -tt: a remote terminal, so that the remote process gets SIGHUP when this ssh is
    # stopped; BatchMode: fail rather than wait for a password nobody will type; '--': the
    # host is never read as an option (read_hosts refuses such lines too)
    return subprocess.Popen(['ssh', '-tt', '-o', 'BatchMode=yes', '-o',
                             'StrictHostKeyChecking=no', '--', host, remote],
                            start_new_session=True, stdin=subprocess.DEVNULL)


def read_hosts(path):
    """The hosts of a hosts file, one a line (``#`` starts a comment line). A line that is
    not one word, or that starts with ``-`` (ssh would read it as an option, e.g.
    ``-oProxyCommand=...``, a command run here), is refused naming its line."""
    if not os.path.isfile(path):
        raise FileNotFoundError('no such hosts file: %s' % path)
    hosts = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            host = line.strip()
            if not host or host.startswith('#'):
                continue
            if host.startswith('-') or len(host.split()) != 1:
                raise UserError('%s line %d: %r is not a host name (one word, not starting '
                                'with -)' % (path, number, host))
            hosts.append(host)
    if not hosts:
        raise UserError('%s lists no hosts' % path)
    return hosts


class _Interrupted(Exception):
    pass


def _interrupt(signum, frame):
    raise _Interrupted(signum)


def _signal_all(procs, sig):
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass


def _wait_all(procs, seconds):
    deadline = time.time() + seconds
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            pass


def _stop(procs, grace=5.0):
    """SIGTERM to every process group still running; SIGKILL to those alive after `grace`."""
    _signal_all(procs, signal.SIGTERM)
    _wait_all(procs, grace)
    _signal_all(procs, signal.SIGKILL)


def _job_env(num_workers, num_servers, hosts=None, port=None, scheduler_host=None):
    """The DMLC_* variables every process of the job gets: the scheduler's address
    (`scheduler_host` or this machine's name with `hosts`, else loopback) and `port`
    (default: a free one), and the number of servers and workers."""
    if hosts:
        root = scheduler_host or socket.gethostname()
    else:
        root = '127.0.0.1'
    base = dict(DMLC_PS_ROOT_URI=root, DMLC_PS_ROOT_PORT=str(port or free_port()),
                DMLC_NUM_SERVER=str(num_servers), DMLC_NUM_WORKER=str(num_workers))
    if not hosts:
        base.update(DMLC_NODE_HOST='127.0.0.1', DMLC_INTERFACE='lo')
    return base


def _catch_signals():
    """Make SIGINT, SIGTERM and SIGHUP raise _Interrupted; returns the handlers they had."""
    # SIGINT too, set here and not left to Python: a shell starts a background job (`launch
    # ... &`) with SIGINT ignored, and Python then installs no KeyboardInterrupt for it
    return {sig: signal.signal(sig, _interrupt)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}


def _start(command, num_workers, num_servers, base, hosts, roots, workers):
    """Start the scheduler here, then `num_servers` servers and `num_workers` workers
    running `command` (``{rank}`` replaced), round robin over `hosts` (None: here). Each
    process is appended as it starts, the scheduler and servers to `roots`, the workers to
    `workers`, so that a start cut short (an interrupt, a program that cannot be started)
    leaves the caller every process to stop."""
    py = [sys.executable, '-c', SERVER_CODE]
    roots.append(_spawn('scheduler', py, base))
    for i in range(num_servers):
        roots.append(_spawn('server', py, base, hosts[i % len(hosts)] if hosts else None))
    for i in range(num_workers):
        cmd = [c.replace('{rank}', str(i)) for c in command]
        workers.append(_spawn('worker', cmd, base, hosts[i % len(hosts)] if hosts else None))


def _job_status(workers, roots, start, timeout, grace):
    """The job's exit status once it is over, saying why on stderr: the first failed
    worker's status (after up to `grace` seconds for the others to save when it was
    interrupted), 0 when every worker succeeded, 1 when the scheduler or a server (`roots`)
    died, 124 after `timeout` seconds from `start`; None while it runs."""
    codes = [w.poll() for w in workers]
    failed = [c for c in codes if c not in (None, 0)]
    if failed:
        status = failed[0]
        if status == EXIT_INTERRUPTED:  # it saved: let the others finish the same batch
            print('launch: a worker was interrupted; waiting up to %ds for the others '
                  'to save and stop' % grace, file=sys.stderr)
            _wait_all(workers, grace)
        else:
            print('launch: a worker exited with status %d; stopping the job' % status,
                  file=sys.stderr)
        return status
    if all(c == 0 for c in codes):
        return 0
    if any(s.poll() not in (None, 0) for s in roots):
        print('launch: the scheduler or a server died; stopping the job', file=sys.stderr)
        return 1
    if timeout and time.time() - start > timeout:
        print('launch: timed out after %ds; stopping the job' % timeout, file=sys.stderr)
        return 124
    return None


def _watch(workers, roots, timeout, grace):
    """Poll the job every 0.2 s until it is over; returns its exit status (_job_status)."""
    start = time.time()
    while True:
        status = _job_status(workers, roots, start, timeout, grace)
        if status is not None:
            return status
        time.sleep(0.2)


def _ask_workers_to_stop(workers, signum, grace):
    """Tell why the launcher stops (signal `signum`), pass SIGTERM on to the workers and
    give them up to `grace` seconds to save and stop; a second interrupt cuts that short."""
    print('launch: %s; asking the workers to save and stop (up to %ds)'
          % (signal.Signals(signum).name, grace), file=sys.stderr)
    try:
        _signal_all(workers, signal.SIGTERM)
        _wait_all(workers, grace)
    except (KeyboardInterrupt, _Interrupted):  # a second one: stop now
        pass


def _finish(status, roots, workers, old_handlers):
    """Stop the job: after a success give the scheduler and servers (`roots`) up to 30 s to
    leave (an interrupt cuts that short), stop every process still running with the
    signals ignored meanwhile (it takes seconds, and cut short it would leave processes
    running), put back `old_handlers`."""
    try:
        if status == 0:  # servers and scheduler leave once the workers are done
            _wait_all(roots, 30)
    except (KeyboardInterrupt, _Interrupted):
        pass
    finally:
        for sig in old_handlers:
            signal.signal(sig, signal.SIG_IGN)
        try:
            _stop(roots + workers)
        finally:
            for sig, handler in old_handlers.items():
                signal.signal(sig, handler)


def launch(command, num_workers, num_servers, hosts=None, port=None, scheduler_host=None,
           timeout=None, grace=60.0):
    """Run `command` as `num_workers` workers beside `num_servers` servers; returns the exit
    status (0 when every worker succeeded)."""
    if num_workers < 1 or num_servers < 1:
        raise UserError('need at least one worker (-n) and one server (-s)')
    if not command:
        raise UserError('no command given: put it after --, e.g. -- python train_cifar.py ...')
    base = _job_env(num_workers, num_servers, hosts, port, scheduler_host)
    old = _catch_signals()
    roots, workers = [], []   # scheduler and servers; workers: filled as they start
    status = 1   # until the job says otherwise: a start that fails stops what it started
    try:
        _start(command, num_workers, num_servers, base, hosts, roots, workers)
        status = _watch(workers, roots, timeout, grace)
    except (KeyboardInterrupt, _Interrupted) as e:
        signum = e.args[0] if isinstance(e, _Interrupted) else signal.SIGINT
        status = 128 + signum
        _ask_workers_to_stop(workers, signum, grace)
    finally:
        _finish(status, roots, workers, old)
    return status


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if '--' in argv:
        cut = argv.index('--')
        argv, command = argv[:cut], argv[cut + 1:]
    else:
        command = []
    parser = argparse.ArgumentParser(prog='python -m fusenet_gluon.launch', description=__doc__,
                                     formatter_class=HelpFormatter)
    parser.add_argument('-n', '--num-workers', type=int, required=True)
    parser.add_argument('-s', '--num-servers', type=int, default=None,
                        help='parameter servers (default: as many as workers)')
    parser.add_argument('--hosts', default=None, help='file with one host a line (ssh)')
    parser.add_argument('--scheduler-host', default=None,
                        help='address of this machine as the others reach it (with --hosts)')
    parser.add_argument('--port', type=int, default=None, help='scheduler port')
    parser.add_argument('--timeout', type=int, default=None, help='seconds before giving up')
    parser.add_argument('--grace', type=float, default=60.0,
                        help='when interrupted, seconds the workers get to save and stop '
                             '(default 60)')
    args = parser.parse_args(argv)
    check_range('-s/--num-servers', args.num_servers, 1)
    check_range('--port', args.port, 1, 65535)
    check_range('--timeout', args.timeout, 1)
    check_range('--grace', args.grace, 0)
    hosts = read_hosts(args.hosts) if args.hosts else None
    num_servers = args.num_workers if args.num_servers is None else args.num_servers
    return launch(command, args.num_workers, num_servers, hosts,
                  args.port, args.scheduler_host, args.timeout, args.grace)


def cli():
    raise SystemExit(run_cli(main, 'python -m fusenet_gluon.launch'))


if __name__ == '__main__':
    cli()
