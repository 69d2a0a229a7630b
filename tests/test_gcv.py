"""fusenet_gluon.data.gcv: GluonCV is a requirement and the data pipeline imports it, quietly,
also beside a torch >= 2.0 (a stand-in module shows it: the machines here have no torch)."""
import os
import subprocess
import sys

from conftest import ROOT


def run(code, tmp_path, stand_in_torch=None):
    env = dict(os.environ)
    if stand_in_torch:
        pkg = tmp_path / 'torch'
        pkg.mkdir(exist_ok=True)
        (pkg / '__init__.py').write_text('__version__ = %r\n' % stand_in_torch)
        env['PYTHONPATH'] = os.pathsep.join([str(tmp_path), ROOT])
    else:
        env['PYTHONPATH'] = ROOT
    return subprocess.run([sys.executable, '-c', code], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=120)


def test_gluoncv_is_a_pinned_requirement():
    from importlib.metadata import requires
    assert 'gluoncv==0.10.5.post0' in requires('fusenet-gluon')
    pins = open(os.path.join(ROOT, 'constraints.txt')).read().split()
    assert 'gluoncv==0.10.5.post0' in pins


def test_importing_the_data_pipeline_imports_gluoncv(tmp_path):
    r = run('import sys, fusenet_gluon.data; print("gluoncv" in sys.modules, '
            '"torch" in sys.modules)', tmp_path)
    assert r.returncode == 0 and r.stdout.split() == ['True', 'False'], r.stderr
    assert r.stderr == ''   # quiet


def test_beside_torch_2_gluoncv_fails_alone_and_the_pipeline_still_imports(tmp_path):
    code = ('import mxnet\ntry:\n    import gluoncv\nexcept RuntimeError as e:\n'
            '    print("refused")\n')
    assert run(code, tmp_path, '2.1.0').stdout.strip() == 'refused'   # the trap is real
    r = run('import torch, fusenet_gluon.data as d, sys\n'
            'print(sys.modules["torch"] is torch, d.gluoncv.__version__)', tmp_path, '2.1.0')
    assert r.returncode == 0 and r.stdout.split() == ['True', '0.11.0'], r.stderr


def test_deprecation_warnings_as_errors_do_not_break_it(tmp_path):
    code = ('import warnings, mxnet\nwarnings.simplefilter("error", DeprecationWarning)\n'
            'import fusenet_gluon.data\nprint("ok")')
    r = run(code, tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == 'ok', r.stderr
