"""Shared helpers: random weights by name, running a symbol graph the original's way, toy
records and record files, an initialised network and its input, and running the command
lines as a user does."""
import contextlib
import io
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # `symbols/` is importable from the repository root
    sys.path.insert(0, ROOT)

#: The reference figures the tests check against (inside the repository)
REFERENCE = os.path.join(ROOT, 'docs', 'reference.md')

from fusenet_gluon import get_model, utils  # noqa: E402  (after the path is set)
from fusenet_gluon.data import recordio  # noqa: E402


def random_upstream_params(sym, data_shape, seed=0):
    """Random arg/aux dicts for `sym`, as the original would hold them (names, shapes)."""
    rng = np.random.RandomState(seed)
    arg_shapes, _, aux_shapes = sym.infer_shape(data=data_shape)
    arg = {}
    for name, shape in zip(sym.list_arguments(), arg_shapes):
        if name in ('data', 'softmax_label'):
            continue
        scale = 1.0 / np.sqrt(np.prod(shape[1:])) if name.endswith('weight') else 0.2
        base = 1.0 if name.endswith('gamma') else 0.0
        arg[name] = mx.nd.array(base + rng.normal(0, scale, shape))
    aux = {}
    for name, shape in zip(sym.list_auxiliary_states(), aux_shapes):
        aux[name] = mx.nd.array(rng.normal(0, 0.1, shape) if name.endswith('mean')
                                else rng.uniform(0.5, 1.5, shape))
    return arg, aux


def save_upstream(path, arg, aux):
    mx.nd.save(path, dict([('arg:' + k, v) for k, v in arg.items()]
                          + [('aux:' + k, v) for k, v in aux.items()]))


def module_predict(sym, arg, aux, x):
    """Inference with mx.mod.Module, as the original's FeedForward ran its graphs; returns
    the softmax output."""
    mod = mx.mod.Module(sym, data_names=['data'], label_names=['softmax_label'],
                        context=mx.cpu())
    mod.bind(data_shapes=[('data', x.shape)], label_shapes=[('softmax_label', x.shape[:1])],
             for_training=False)
    mod.set_params(arg, aux)
    mod.forward(mx.io.DataBatch([mx.nd.array(x)]), is_train=False)
    return mod.get_outputs()[0].asnumpy()


class Hostile(object):
    """Pickled, it names ``os.system`` to touch `marker`: whoever loads it runs that. The
    safe readers must refuse it unrun (the marker never appears)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ('touch %s' % self.marker,))


def make_toy_records(folder, n_train=48, n_test=16, classes=4, seed=0):
    """A learnable toy set in RecordIO: each class a colour plus noise, 32x32."""
    from fusenet_gluon.data.recordio import write_records
    rng = np.random.RandomState(seed)
    colours = np.array([[220, 40, 40], [40, 200, 40], [40, 40, 220], [200, 200, 40]])
    out = {}
    for name, n in (('train', n_train), ('test', n_test)):
        labels = np.arange(n) % classes
        imgs = np.clip(colours[labels][:, None, None, :] +
                       rng.normal(0, 40, (n, 32, 32, 3)), 0, 255).astype(np.uint8)
        write_records(os.path.join(str(folder), name + '.rec'), zip(labels, imgs))
        out[name] = (labels, imgs)
    return out


@pytest.fixture
def toy_dir(tmp_path):
    folder = tmp_path / 'toy'
    make_toy_records(folder)
    return str(folder)


def assert_workers_agree(prefix, epoch, make_net):
    """Rank 0's checkpoint and worker 1's final parameters of a 2-worker dist_sync job hold
    bit-identical learned parameters (BatchNorm statistics stay per worker; everything
    learned comes from the same summed gradients: a tolerance once hid a 1-ulp-per-update
    drift)."""
    from fusenet_gluon import upstream
    rank0 = upstream.load_params(make_net(), '%s-%04d.params' % (prefix, epoch))
    rank1 = make_net()
    rank1.load_parameters(prefix + '-worker1-final.params')
    p0, p1 = rank0.collect_params(), rank1.collect_params()
    for name in p0:
        if not name.endswith(('running_mean', 'running_var')):
            np.testing.assert_array_equal(p0[name].data().asnumpy(),
                                          p1[name].data().asnumpy(), err_msg=name)


def assert_same_files(a, b):
    """`a` and `b` hold the same bytes; if not, the message names the arrays that differ
    (files MXNet saves) or the first differing byte, not megabytes of both files."""
    x, y = open(a, 'rb').read(), open(b, 'rb').read()
    if x == y:
        return
    try:
        da, db = mx.nd.load(a), mx.nd.load(b)
    except mx.base.MXNetError:  # not an NDArray file (optimizer states are a pickle)
        first = next((i for i, (p, q) in enumerate(zip(x, y)) if p != q), min(len(x), len(y)))
        raise AssertionError('%s (%d bytes) and %s (%d bytes) first differ at byte %d'
                             % (a, len(x), b, len(y), first)) from None
    if sorted(da) != sorted(db):
        raise AssertionError('%s and %s hold different names: %s' % (
            a, b, sorted(set(da) ^ set(db))[:8]))
    differ = [(k, float(np.abs(da[k].asnumpy().astype(np.float64) - db[k].asnumpy()).max()))
              for k in sorted(da) if not np.array_equal(da[k].asnumpy(), db[k].asnumpy())]
    raise AssertionError('%s and %s: %d of %d arrays differ, e.g. %s' % (
        a, b, len(differ), len(da), ', '.join('%s by %.3g' % d for d in differ[:6])))


def run(*argv, timeout=300):
    env = {k: v for k, v in os.environ.items() if not k.startswith('DMLC_')}
    return subprocess.run([sys.executable] + list(argv), cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def write_rec(path, labels, images, fmt='.png'):
    return recordio.write_records(str(path), zip(labels, images), img_fmt=fmt)


def run_cli(*args):
    return subprocess.run([sys.executable] + list(args), cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def initialized(network='cross', **kwargs):
    kwargs.setdefault('depth', 14)
    net = get_model(network, **kwargs)
    net.initialize(mx.init.Xavier(magnitude=2))
    # non-trivial running statistics, so a lost aux state would show
    for name, p in net.collect_params().items():
        if name.endswith('running_var'):
            p.set_data(mx.nd.random.uniform(0.5, 2, p.shape))
        elif name.endswith('running_mean'):
            p.set_data(mx.nd.random.normal(0, 0.2, p.shape))
    return net


def x32(n=2):
    return mx.nd.array(np.random.RandomState(0).normal(0, 1, (n, 3, 32, 32)))


def run_module(*args):
    return subprocess.run([sys.executable, '-m'] + list(args), cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def cli_here(main, prog, *argv):
    """A command line (`main(argv)`, as ``python -m`` or the script runs it through
    ``run_cli``) run inside this process: (status, stdout, stderr).

    For refusals, which end before any work: each subprocess pays about 4 s of imports
    (MXNet alone 3 s on the project's AVX2 machines), and there are dozens of them. Each
    test that uses this also runs a case of its command as a user does, in a subprocess,
    so the command itself (its exit status, no traceback) is still what is checked. Not
    for a distributed worker (it leaves by ``os._exit``)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = utils.run_cli(lambda: main(list(argv)), prog)
        except SystemExit as stop:  # argparse's own refusals
            status = stop.code
    return status, out.getvalue(), err.getvalue()


def train_cifar_here(*argv):
    """train_cifar.py's command line in this process (:func:`cli_here`)."""
    from fusenet_gluon.training.cli import main
    return cli_here(main, 'train_cifar.py', *argv)
