"""fusenet_gluon.launch: Ctrl-C reaches the launcher even when it was started with SIGINT
ignored, as a shell starts a background job (`launch ... &`)."""
import os
import signal
import subprocess
import sys
import time

from conftest import ROOT

#: a worker that records the signal it gets and leaves as a saved training worker does
WORKER = """import signal, sys, time
def stop(signum, frame):
    open(sys.argv[1] + '.{rank}', 'w').write(signal.Signals(signum).name)
    sys.exit(130)
signal.signal(signal.SIGTERM, stop)
open(sys.argv[1] + '.started.{rank}', 'w').close()
time.sleep(120)
"""


def test_sigint_stops_a_launcher_started_with_sigint_ignored(tmp_path):
    out = str(tmp_path / 'got')
    p = subprocess.Popen([sys.executable, '-m', 'fusenet_gluon.launch', '-n', '2', '-s', '1',
                          '--grace', '20', '--', sys.executable, '-c', WORKER, out], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    deadline = time.time() + 60
    while not all(os.path.exists('%s.started.%d' % (out, r)) for r in (0, 1)):
        assert time.time() < deadline and p.poll() is None, p.communicate()
        time.sleep(0.1)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 128 + signal.SIGINT, err
    assert 'launch: SIGINT; asking the workers to save and stop' in err
    assert [open('%s.%d' % (out, r)).read() for r in (0, 1)] == ['SIGTERM', 'SIGTERM']
