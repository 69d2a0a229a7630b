"""Checkpoint interchange with the original: save/load round trips, strict loading, export."""
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

import symbols
from conftest import ROOT, module_predict, random_upstream_params, save_upstream
from fusenet_gluon import get_model, upstream


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


@pytest.mark.parametrize('network', ['cross', 'fuse3', 'half'])
def test_save_checkpoint_loads_with_mxnet_and_back(network, tmp_path):
    net = initialized(network, depth=26 if network == 'fuse3' else 14)
    prefix = str(tmp_path / 'run' / 'model')
    sym_path, params_path = upstream.save_checkpoint(net, prefix, 7)
    assert os.path.basename(params_path) == 'model-0007.params'
    sym, arg, aux = mx.model.load_checkpoint(prefix, 7)
    assert sym.list_outputs() == ['softmax_output']
    assert set(mx.nd.load(params_path)) == {'arg:' + k for k in arg} | {'aux:' + k for k in aux}
    assert all(k.endswith(('moving_mean', 'moving_var')) for k in aux)
    x = x32()
    logits = net(x)
    np.testing.assert_allclose(module_predict(sym, arg, aux, x.asnumpy()),
                               mx.nd.softmax(logits).asnumpy(), rtol=1e-4, atol=1e-6)
    fresh = upstream.load_params(get_model(network, depth=26 if network == 'fuse3' else 14),
                                 params_path)
    np.testing.assert_allclose(fresh(x).asnumpy(), logits.asnumpy(), rtol=1e-5, atol=1e-6)


def test_original_training_can_resume_from_our_checkpoint(tmp_path):
    """The original resumed with its graph + arg/aux params under mx.mod (FeedForward)."""
    net = initialized()
    prefix = str(tmp_path / 'model')
    upstream.save_checkpoint(net, prefix, 2)
    sym, arg, aux = mx.model.load_checkpoint(prefix, 2)
    mod = mx.mod.Module(sym, context=mx.cpu())
    mod.bind(data_shapes=[('data', (4, 3, 32, 32))], label_shapes=[('softmax_label', (4,))])
    mod.init_params(arg_params=arg, aux_params=aux, allow_missing=False)
    mod.init_optimizer(optimizer='nag', optimizer_params={'learning_rate': 0.1, 'momentum': 0.9})
    batch = mx.io.DataBatch([x32(4)], [mx.nd.array([0, 1, 2, 3])])
    mod.forward_backward(batch)
    mod.update()


def test_load_params_into_initialized_net(tmp_path):
    src = initialized()
    _, path = upstream.save_checkpoint(src, str(tmp_path / 'm'), 1)
    dst = initialized()
    upstream.load_params(dst, path)
    np.testing.assert_allclose(dst(x32()).asnumpy(), src(x32()).asnumpy(), rtol=1e-5)


def snapshot(net):
    return {k: p.data().asnumpy().copy() for k, p in net.collect_params().items()}


def test_load_params_strict_lists_everything_and_changes_nothing(tmp_path):
    sym = symbols.cross.get_symbol(10, 14, 1)
    arg, aux = random_upstream_params(sym, (1, 3, 32, 32))
    del arg['g2_b1_d1_two1_conv_weight']
    del aux['g0_bn_moving_var']
    arg['cls_fc_weight'] = mx.nd.zeros((7, 64))
    arg['extra_weight'] = mx.nd.zeros((3,))
    path = str(tmp_path / 'bad-0001.params')
    save_upstream(path, arg, aux)
    net = initialized()
    before = snapshot(net)
    with pytest.raises(ValueError) as err:
        upstream.load_params(net, path)
    text = str(err.value)
    for name in ('g2_b1_d1_two1_conv_weight', 'g0_bn_running_var', 'extra_weight',
                 'cls_fc_weight'):
        assert name in text
    assert 'missing (2)' in text and 'unexpected (1)' in text and 'wrong shape (1)' in text
    after = snapshot(net)
    assert all(np.array_equal(before[k], after[k]) for k in before)
    # an uninitialized network stays uninitialized
    fresh = get_model('cross', depth=14)
    with pytest.raises(ValueError):
        upstream.load_params(fresh, path)
    assert all(p._data is None for p in fresh.collect_params().values())


def test_load_params_wrong_depth_and_missing_file(tmp_path):
    _, path = upstream.save_checkpoint(initialized(), str(tmp_path / 'm'), 1)
    with pytest.raises(ValueError, match='missing'):
        upstream.load_params(get_model('cross', depth=18), path)
    with pytest.raises(FileNotFoundError, match='nope.params'):
        upstream.load_params(get_model('cross', depth=14), str(tmp_path / 'nope.params'))
    junk = tmp_path / 'junk.params'
    junk.write_bytes(os.urandom(300))
    with pytest.raises(ValueError, match='not an MXNet parameter file'):
        upstream.load_params(get_model('cross', depth=14), str(junk))


def test_export_and_symbolblock_imports(tmp_path):
    from fusenet_gluon.export import export_deploy
    net = initialized('resnet', depth=14)
    x = x32()
    expect = net(x).asnumpy()
    sym_file, params_file = export_deploy(net, str(tmp_path / 'deploy'))
    back = mx.gluon.SymbolBlock.imports(sym_file, ['data'], params_file)
    np.testing.assert_allclose(back(x).asnumpy(), expect, rtol=1e-5, atol=1e-6)
    with pytest.raises(FileExistsError):
        export_deploy(net, str(tmp_path / 'deploy'))


def test_save_checkpoint_is_atomic(tmp_path, monkeypatch):
    net = initialized()
    prefix = str(tmp_path / 'm')
    sym_path, params_path = upstream.save_checkpoint(net, prefix, 1)
    good = open(params_path, 'rb').read()

    def boom(*args, **kwargs):
        raise OSError('disk full')
    monkeypatch.setattr(mx.nd, 'save', boom)
    with pytest.raises(OSError):
        upstream.save_checkpoint(net, prefix, 1)
    assert open(params_path, 'rb').read() == good
    assert sorted(os.listdir(tmp_path)) == ['m-0001.params', 'm-symbol.json']


def run_module(*args):
    return subprocess.run([sys.executable, '-m'] + list(args), cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_convert_command_line_round_trip(tmp_path):
    net = initialized()
    orig = str(tmp_path / 'orig')
    upstream.save_checkpoint(net, orig, 3)
    gl = str(tmp_path / 'net.params')
    model = ['--network', 'dfn_mr', '--depth', '14']
    r = run_module('fusenet_gluon.convert', 'to-gluon', *model, '--prefix', orig, '--epoch', '3',
                   '--output', gl)
    assert r.returncode == 0, r.stderr
    fresh = get_model('cross', depth=14)
    fresh.load_parameters(gl)
    np.testing.assert_allclose(fresh(x32()).asnumpy(), net(x32()).asnumpy(), rtol=1e-5)
    # refuses to overwrite, says so in one line
    r = run_module('fusenet_gluon.convert', 'to-gluon', *model, '--prefix', orig, '--epoch', '3',
                   '--output', gl)
    assert r.returncode == 2 and 'already exist' in r.stderr and 'Traceback' not in r.stderr
    back = str(tmp_path / 'back')
    r = run_module('fusenet_gluon.convert', 'to-upstream', *model, '--params', gl,
                   '--prefix', back, '--epoch', '3')
    assert r.returncode == 0, r.stderr
    a = mx.nd.load(orig + '-0003.params')
    b = mx.nd.load(back + '-0003.params')
    assert set(a) == set(b) and all(np.array_equal(a[k].asnumpy(), b[k].asnumpy()) for k in a)
    # a checkpoint that does not fit: clear error, no traceback, nothing written
    r = run_module('fusenet_gluon.convert', 'to-gluon', '--network', 'cross', '--depth', '18',
                   '--prefix', orig, '--epoch', '3', '--output', str(tmp_path / 'x.params'))
    assert r.returncode == 2 and 'missing' in r.stderr and 'Traceback' not in r.stderr
    assert not os.path.exists(str(tmp_path / 'x.params'))
    r = run_module('fusenet_gluon.convert', 'export', '--network', 'cross', '--depth', '10',
                   '--params', gl, '--output', str(tmp_path / 'd'))
    assert r.returncode == 2 and '>= 14' in r.stderr and 'Traceback' not in r.stderr


def test_onnx_export_matches_gluon(tmp_path):
    pytest.importorskip('onnx')
    pytest.importorskip('onnxruntime')
    from fusenet_gluon.export import export_onnx
    net = initialized('cross', depth=14)
    path, diff = export_onnx(net, str(tmp_path / 'm.onnx'))
    assert os.path.getsize(path) > 100000 and diff is not None and diff < 1e-4


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


def test_graph_deploy_export_matches_the_network(tmp_path):
    """What an AMP run exports: the original's logits graph with the float32 checkpoint
    values, loadable like HybridBlock.export's pair."""
    from fusenet_gluon.export import export_graph_deploy
    net = initialized('fuse3', depth=26)
    sym_file, params_file = export_graph_deploy(net, str(tmp_path / 'sub' / 'deploy'))
    back = mx.gluon.SymbolBlock.imports(sym_file, ['data'], params_file)
    np.testing.assert_allclose(back(x32()).asnumpy(), net(x32()).asnumpy(), rtol=1e-5,
                               atol=1e-6)
    assert {np.dtype(v.dtype).name for v in mx.nd.load(params_file).values()} == {'float32'}
    with pytest.raises(FileExistsError):
        export_graph_deploy(net, str(tmp_path / 'sub' / 'deploy'))
