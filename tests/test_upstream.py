"""fusenet_gluon.upstream: checkpoint interchange with the original (save/load round trips,
strict loading, atomic saves)."""
import os

import mxnet as mx
import numpy as np
import pytest

import symbols
from conftest import initialized, module_predict, random_upstream_params, save_upstream, x32
from fusenet_gluon import get_model, upstream


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
