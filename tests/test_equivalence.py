"""The Gluon blocks, the symbol graphs and an independent NumPy implementation of DFN-MR
compute the same function for the same weights. Modules: fusenet_gluon.models (cifar,
imagenet) against fusenet_gluon.symbols, through upstream's checkpoints."""
import mxnet as mx
import numpy as np
import pytest

import symbols
from conftest import module_predict, random_upstream_params, save_upstream
from fusenet_gluon import arch, get_model, upstream

CASES = [(n, d, 1) for n in arch.CIFAR_NETWORKS for d in (arch.min_depth(n) if n.startswith('fuse') else 14, 20)]
CASES += [('cross', 26, 2), ('fuse6', 26, 1)]


def gluon_softmax(net, x, hybridize):
    if hybridize:
        net.hybridize(static_alloc=True, static_shape=True)
    return mx.nd.softmax(net(mx.nd.array(x))).asnumpy()


def check_against_symbol(sym, shape, make_net, tmp_path):
    """The original graph under mx.mod.Module and the Gluon network loaded from the same
    weights through load_params give the same softmax, imperative and hybridized."""
    x = np.random.RandomState(1).normal(0, 1, shape).astype('float32')
    arg, aux = random_upstream_params(sym, x.shape)
    ref = module_predict(sym, arg, aux, x)
    path = str(tmp_path / 'orig-0001.params')
    save_upstream(path, arg, aux)
    for hybridize in (False, True):
        net = upstream.load_params(make_net(), path)
        np.testing.assert_allclose(gluon_softmax(net, x, hybridize), ref, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('network,depth,w', CASES)
def test_gluon_matches_symbol(network, depth, w, tmp_path):
    check_against_symbol(symbols.get_symbol(network, 10, depth, w), (3, 3, 32, 32),
                         lambda: get_model(network, depth=depth, widen_factor=w), tmp_path)


@pytest.mark.parametrize('network', arch.IMAGENET_NETWORKS)
def test_imagenet_gluon_matches_symbol(network, tmp_path):
    check_against_symbol(symbols.get_symbol(network, 1000), (1, 3, 224, 224),
                         lambda: get_model(network), tmp_path)


def test_gluon_names_are_the_originals():
    for network, depth, w in CASES:
        sym = symbols.get_symbol(network, 10, depth, w)
        net = get_model(network, depth=depth, widen_factor=w)
        arg_shapes, _, aux_shapes = sym.infer_shape(data=(1, 3, 32, 32))
        expect = {n: s for n, s in zip(sym.list_arguments(), arg_shapes)
                  if n not in ('data', 'softmax_label')}
        expect.update({arch.aux_to_gluon(n): s
                       for n, s in zip(sym.list_auxiliary_states(), aux_shapes)})
        got = {n: p.shape for n, p in net.collect_params().items()}
        assert got == expect


def test_named_examples_from_design_file():
    sym = symbols.cross.get_symbol(10, 14, 1)
    assert 'g1_b1_d1_two1_conv_weight' in sym.list_arguments()
    assert 'g0_bn_moving_mean' in sym.list_auxiliary_states()
    assert sym.list_outputs() == ['softmax_output']
    shapes = dict(zip(sym.list_arguments(), sym.infer_shape(data=(1, 3, 32, 32))[0]))
    assert shapes['g2_b1_l1_line_conv_weight'] == (32, 16, 1, 1)
    assert shapes['cls_fc_weight'] == (10, 64) and shapes['cls_fc_bias'] == (10,)
    fuse = symbols.fuse3.get_symbol(10, 26, 1)
    shapes = dict(zip(fuse.list_arguments(), fuse.infer_shape(data=(1, 3, 32, 32))[0]))
    assert shapes['g1_b1_p0_line_conv_weight'] == (16, 16, 3, 3)   # g1_b1 has a line conv
    assert shapes['g1_b1_p2_7_conv_weight'] == (16, 16, 3, 3)
    img = symbols.imagenet_cross.get_symbol(1000)
    shapes = dict(zip(img.list_arguments(), img.infer_shape(data=(1, 3, 224, 224))[0]))
    assert shapes['g0_weight'] == (64, 3, 7, 7)
    assert shapes['g1_b1_deep1l_conv1_weight'] == (64, 64, 1, 1)
    assert shapes['fc_score_weight'] == (1000, 4096)
    assert 'g0_bn_gamma' not in shapes  # no BN after the ImageNet stem


# ------------------------------------------------------------ an independent implementation
def np_conv(x, w, stride, pad):
    n, c, h, wd = x.shape
    k = w.shape[2]
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    out = np.zeros((n, w.shape[0], ho, wo))
    for i in range(k):
        for j in range(k):
            patch = x[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride]
            out += np.einsum('nchw,oc->nohw', patch, w[:, :, i, j])
    return out


def np_layer(p, name, x, stride, pad, relu):
    y = np_conv(x, p[name + '_conv_weight'], stride, pad)
    g, b = p[name + '_bn_gamma'], p[name + '_bn_beta']
    m, v = p[name + '_bn_moving_mean'], p[name + '_bn_moving_var']
    y = (y - m[:, None, None]) / np.sqrt(v[:, None, None] + 2e-5) * g[:, None, None] \
        + b[:, None, None]
    return np.maximum(y, 0) if relu else y


def np_dfn_mr_14(p, x):
    """DFN-MR at num_depth 14 (one block per group) written from the design file's text."""
    relu = lambda t: np.maximum(t, 0)  # noqa: E731
    x = np_layer(p, 'g0', x, 1, 1, True)
    x1 = x2 = x
    for block, down, last in (('g1_b1', False, False), ('g2_b1', True, False),
                              ('g3_b1', True, True)):
        s = 2 if down else 1
        l1 = np_layer(p, block + '_l1_line', x1, 2, 0, False) if down else x1
        l2 = np_layer(p, block + '_l2_line', x2, 2, 0, False) if down else x2
        d1 = np_layer(p, block + '_d1_two2', np_layer(p, block + '_d1_two1', x1, s, 1, True),
                      1, 1, False)
        d2 = np_layer(p, block + '_d2_two2', np_layer(p, block + '_d2_two1', x2, s, 1, True),
                      1, 1, False)
        m = 0.5 * (l1 + l2)
        if last:
            x1 = x2 = relu(m + d1 + d2)
        else:
            x1, x2 = relu(m + d1), relu(m + d2)
    feat = x1.mean(axis=(2, 3))
    return feat @ p['cls_fc_weight'].T + p['cls_fc_bias']


def test_dfn_mr_matches_independent_numpy(tmp_path):
    sym = symbols.cross.get_symbol(10, 14, 1)
    x = np.random.RandomState(3).normal(0, 1, (2, 3, 32, 32)).astype('float32')
    arg, aux = random_upstream_params(sym, x.shape, seed=5)
    p = {k: v.asnumpy().astype('float64') for k, v in list(arg.items()) + list(aux.items())}
    expect = np_dfn_mr_14(p, x.astype('float64'))
    path = str(tmp_path / 'orig-0001.params')
    save_upstream(path, arg, aux)
    net = upstream.load_params(get_model('cross', depth=14), path)
    np.testing.assert_allclose(net(mx.nd.array(x)).asnumpy(), expect, rtol=1e-3, atol=1e-4)
