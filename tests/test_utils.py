"""fusenet_gluon.utils: the one refuse-to-overwrite rule that every command uses, one line for
an operating-system error, and progress over an iterable."""
import errno
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from fusenet_gluon.utils import check_writable, run_cli, tracked


def run_module(*args):
    return subprocess.run([sys.executable, '-m'] + list(args), cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_check_writable(tmp_path):
    there, missing = str(tmp_path / 'a'), str(tmp_path / 'b')
    open(there, 'w').close()
    check_writable([missing], False)
    check_writable([there, missing], True)
    with pytest.raises(FileExistsError, match='%s already exists; pass --force' % there):
        check_writable([there, missing], False)


def test_show_model_keeps_an_existing_png_without_force(tmp_path):
    out = str(tmp_path / 'half_d26')
    open(out + '.png', 'wb').write(b'mine')
    r = run_module('fusenet_gluon.show_model', '--network', 'half', '--depth', '26',
                   '--output', out)
    assert r.returncode == 2 and 'already exists; pass --force' in r.stderr, r.stderr
    assert open(out + '.png', 'rb').read() == b'mine'


def test_results_keeps_an_existing_plot_without_force(tmp_path):
    metrics = tmp_path / 'm-metrics.jsonl'
    metrics.write_text(json.dumps(dict(epoch=1, lr=0.1, train_loss=1, train_acc=0.5, val_loss=1,
                                       val_acc=0.5, time_s=1, img_per_s=1)) + '\n')
    png = str(tmp_path / 'curves.png')
    open(png, 'wb').write(b'mine')
    r = run_module('fusenet_gluon.results', str(metrics), '--plot', png)
    assert r.returncode == 2 and 'already exists; pass --force' in r.stderr
    assert open(png, 'rb').read() == b'mine' and r.stdout == ''
    r = run_module('fusenet_gluon.results', str(metrics), '--plot', png, '--force')
    assert r.returncode == 0 and open(png, 'rb').read(4) == b'\x89PNG'


def test_gitignore_keeps_show_models_pictures_out():
    assert '/visualize/' in open(os.path.join(ROOT, '.gitignore')).read().split()


def test_an_os_error_is_one_line_without_errno(capsys):
    def fails():
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), '/root/x')
    assert run_cli(fails, 'prog') == 2
    assert capsys.readouterr().err == 'prog: error: /root/x: Permission denied\n'


def test_tracked_yields_everything_and_reports_in_a_pipe():
    said = []
    assert list(tracked(range(5), 5, 'work', report=said.append, every=0)) == list(range(5))
    assert said == ['work: %d/5 batches' % n for n in range(1, 6)]
