"""fusenet_gluon.show_model: the picture of a network, one line saying how to get graphviz
where it is missing, an existing picture kept without --force, and its folder kept out of
git."""
import os
import subprocess
import sys

from conftest import ROOT, run_module


def test_show_model_draws_png(tmp_path):
    import shutil
    out = str(tmp_path / 'half_d26')
    r = run_module('fusenet_gluon.show_model', '--network', 'half', '--depth', '26',
                   '--output', out)
    if shutil.which('dot') is None:
        assert r.returncode == 2 and 'apt-get install graphviz' in r.stderr
        return
    assert r.returncode == 0, r.stderr
    with open(out + '.png', 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_show_model_without_dot_says_how_to_get_it(tmp_path):
    env = dict(os.environ, PATH=os.path.dirname(sys.executable))
    r = subprocess.run([sys.executable, '-m', 'fusenet_gluon.show_model', '--network', 'cross',
                        '--depth', '14', '--output', str(tmp_path / 'x')], cwd=ROOT,
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2 and 'graphviz' in r.stderr and 'Traceback' not in r.stderr


def test_show_model_keeps_an_existing_png_without_force(tmp_path):
    out = str(tmp_path / 'half_d26')
    open(out + '.png', 'wb').write(b'mine')
    r = run_module('fusenet_gluon.show_model', '--network', 'half', '--depth', '26',
                   '--output', out)
    assert r.returncode == 2 and 'already exists; pass --force' in r.stderr, r.stderr
    assert open(out + '.png', 'rb').read() == b'mine'


def test_gitignore_keeps_show_models_pictures_out():
    assert '/visualize/' in open(os.path.join(ROOT, '.gitignore')).read().split()
