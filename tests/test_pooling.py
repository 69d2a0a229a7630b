"""The heads' average pooling (fusenet_gluon.models.common.average_pool): traced for training
it is a sum pooling divided by the window's size, whose backward avoids oneDNN's reference
kernels on AVX-512 CPUs. Checked against MXNet's own average pooling (the original's op),
a hand-computed gradient, the original's graph trained by mx.mod.Module, and oneDNN's
verbose log."""
import json
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon

import symbols
from conftest import random_upstream_params, save_upstream
from fusenet_gluon import get_model, upstream
from fusenet_gluon.export import export_deploy
from fusenet_gluon.models.common import AvgPool2D, GlobalAvgPool2D, average_pool

# (input map side, Pooling's arguments) of every head of the zoo
HEADS = [
    (8, dict(kernel=(8, 8), global_pool=True, pool_type='avg')),               # CIFAR
    (5, dict(kernel=(1, 1), global_pool=True, pool_type='avg')),               # CIFAR, other size
    (8, dict(kernel=(8, 8), stride=(1, 1), pool_type='avg')),                  # ensemble
    (7, dict(kernel=(7, 7), stride=(1, 1), pad=(0, 0), pool_type='avg')),      # ImageNet
    (7, dict(kernel=(7, 7), stride=(7, 7), pool_type='avg')),                  # DLA at 224
]


def blocked_map(side, channels=32, seed=0):
    """A ReLU'd convolution output, in the blocked layout oneDNN gives it inside a network."""
    rng = np.random.RandomState(seed)
    x = mx.nd.array(rng.normal(0, 1, (4, channels, side + 2, side + 2)))
    w = mx.nd.array(rng.normal(0, 0.2, (channels, channels, 3, 3)))
    return mx.nd.relu(mx.nd.Convolution(x, w, kernel=(3, 3), num_filter=channels,
                                        no_bias=True))


@pytest.mark.parametrize('side,kwargs', HEADS)
def test_training_average_is_the_originals_bit_for_bit_with_the_hand_gradient(side, kwargs):
    x = blocked_map(side)
    expected = mx.nd.Pooling(x, **kwargs).asnumpy()         # MXNet's (oneDNN's) average
    x.attach_grad()
    with autograd.record():
        y = average_pool(mx.nd, x, **kwargs)
    dy = np.random.RandomState(1).normal(0, 1, y.shape).astype(np.float32)
    y.backward(mx.nd.array(dy))
    assert y.shape == expected.shape == (4, 32, 1, 1)
    assert np.array_equal(y.asnumpy(), expected)
    # by hand: each position of the window gets dy over the window's size
    area = side * side if kwargs.get('global_pool') else kwargs['kernel'][0] ** 2
    hand = np.zeros(x.shape, np.float32)
    k = side if kwargs.get('global_pool') else kwargs['kernel'][0]
    hand[:, :, :k, :k] = dy / np.float32(area)
    np.testing.assert_allclose(x.grad.asnumpy(), hand, rtol=1e-6, atol=0)


def test_blocks_trace_the_sum_for_training_and_the_originals_node_otherwise():
    x = blocked_map(8)
    for block, kwargs in ((GlobalAvgPool2D(), dict(global_pool=True, kernel=(1, 1))),
                          (AvgPool2D(8, 1), dict(kernel=(8, 8), stride=(1, 1)))):
        block.hybridize(static_alloc=True, static_shape=True)
        with autograd.record():
            trained = block(x)
        assert np.array_equal(trained.asnumpy(),
                              mx.nd.Pooling(x, pool_type='avg', **kwargs).asnumpy())
        ops = [n['op'] for n in json.loads(block._cached_graph[1].tojson())['nodes']]
        assert ops.count('Pooling') == (2 if kwargs.get('global_pool') else 1)
        block.hybridize()                                    # built again, for inference
        block(x)
        nodes = json.loads(block._cached_graph[1].tojson())['nodes']
        assert [(n['op'], n['attrs']['pool_type']) for n in nodes if n['op'] != 'null'] \
            == [('Pooling', 'avg')]


def module_gradients(sym, arg, aux, x, labels):
    mod = mx.mod.Module(sym, context=mx.cpu())
    mod.bind(data_shapes=[('data', x.shape)], label_shapes=[('softmax_label', labels.shape)])
    mod.set_params(arg, aux)
    mod.forward_backward(mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(labels)]))
    return {k: v.asnumpy() for k, v in mod._exec_group.execs[0].grad_dict.items()
            if v is not None}


@pytest.mark.parametrize('network,depth', [('cross', 14), ('resnet', 8)])
def test_a_hybridized_training_step_has_the_originals_gradients(network, depth, tmp_path):
    """The Gluon training graph (with the sum-pooling head) against the original's graph
    under mx.mod.Module: the same weights, batch and labels give the same gradient of the
    summed cross-entropy for every parameter."""
    sym = symbols.get_symbol(network, 10, depth, 1)
    x = np.random.RandomState(2).normal(0, 1, (6, 3, 32, 32)).astype(np.float32)
    labels = np.arange(6, dtype=np.float32) % 10
    arg, aux = random_upstream_params(sym, x.shape)
    ref = module_gradients(sym, arg, aux, x, labels)
    path = str(tmp_path / 'orig-0001.params')
    save_upstream(path, arg, aux)
    net = upstream.load_params(get_model(network, depth=depth), path)
    net.hybridize(static_alloc=True, static_shape=True)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    with autograd.record():
        out = loss(net(mx.nd.array(x)), mx.nd.array(labels))
    out.backward()
    params = {k: p for k, p in net.collect_params().items() if p.grad_req != 'null'}
    assert set(params) == set(ref)
    for name, param in params.items():
        got, want = param.grad().asnumpy(), ref[name]
        assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max() + 1e-7, name


def test_the_export_after_training_has_the_originals_pooling(tmp_path):
    net = get_model('cross', depth=14)
    net.initialize()
    net.hybridize(static_alloc=True, static_shape=True)
    with autograd.record():
        net(mx.nd.ones((2, 3, 32, 32))).sum().backward()
    sym_file, _ = export_deploy(net, str(tmp_path / 'deploy'))
    ours = [n for n in json.load(open(sym_file))['nodes'] if n['op'] == 'Pooling']
    original = [n for n in json.loads(symbols.get_symbol('cross', 10, 14, 1).tojson())['nodes']
                if n['op'] == 'Pooling']
    assert len(ours) == len(original) == 1
    for key in ('pool_type', 'global_pool'):
        assert ours[0]['attrs'][key] == original[0]['attrs'][key]


STEP = r'''
import sys
sys.path.insert(0, %r)
import mxnet as mx
from mxnet import autograd
import fusenet_gluon
net = fusenet_gluon.get_model('%s', depth=14)
net.initialize()
net.hybridize(static_alloc=True, static_shape=True)
with autograd.record():
    out = net(mx.nd.random.uniform(shape=(4, 3, 32, 32)))
out.backward(mx.nd.random.normal(shape=out.shape))
mx.nd.waitall()
'''


@pytest.mark.parametrize('network', ['cross', 'ensemble'])
def test_no_pooling_or_batchnorm_runs_onednns_reference_code(network):
    """oneDNN's verbose log of a training step: no pooling or BatchNorm primitive runs its
    reference implementation (``ref:any``). Before the sum-pooling head the gradient's layout
    sent both to it on AVX-512 CPUs; with AVX2 only, this passes either way."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, DNNL_VERBOSE='1', MKLDNN_VERBOSE='1')
    out = subprocess.run([sys.executable, '-c', STEP % (root, network)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [l for l in out.stdout.splitlines() if l.startswith(('dnnl_verbose,exec',
                                                                   'mkldnn_verbose,exec'))]
    heads = [l.split(',') for l in lines if ',pooling' in l or ',batch_normalization' in l]
    assert heads
    # the implementation field: ref:any (pooling), bnorm_ref:any (BatchNorm) is reference code
    slow = [f for f in heads if f[4].split(':')[0].endswith('ref')]
    assert not slow, slow[:3]


EXACT = r'''
import sys
sys.path[:0] = [%r, %r]
import numpy as np, mxnet as mx
from mxnet import autograd
from fusenet_gluon.models.common import average_pool
from test_pooling import HEADS, blocked_map
for side, kwargs in HEADS:
    x = blocked_map(side)
    with autograd.record():
        y = average_pool(mx.nd, x, **kwargs)
    assert np.array_equal(y.asnumpy(), mx.nd.Pooling(x, **kwargs).asnumpy()), kwargs
'''


def test_the_same_values_with_onednns_avx2_kernels():
    """The bit-for-bit agreement with oneDNN capped at AVX2 (``DNNL_MAX_CPU_ISA``), as on
    this project's AVX2-only machines, on any host."""
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run([sys.executable, '-c', EXACT % (os.path.dirname(here), here)],
                         capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, DNNL_MAX_CPU_ISA='AVX2'))
    assert out.returncode == 0, out.stderr[-2000:]


AMP = r'''
import sys
sys.path.insert(0, %r)
import numpy as np, mxnet as mx
from mxnet import autograd
from mxnet.contrib import amp
from mxnet.gluon import nn
from fusenet_gluon.models.common import GlobalAvgPool2D
amp.init(target_dtype='bfloat16')
net = nn.HybridSequential()
net.add(nn.Conv2D(16, 3, in_channels=3), nn.BatchNorm(in_channels=16), nn.Activation('relu'),
        GlobalAvgPool2D(), nn.Dense(10, in_units=16))
net.initialize()
net.hybridize(static_alloc=True, static_shape=True)
x = mx.nd.random.uniform(shape=(4, 3, 10, 10))
with autograd.record():
    out = net(x)
out.backward()
grad = net[0].weight.grad().astype('float32').asnumpy()
assert np.isfinite(out.astype('float32').asnumpy()).all() and np.abs(grad).max() > 0
'''


def test_the_training_head_under_bfloat16_amp():
    """AMP hands the head bfloat16 (after a BatchNorm and ReLU, as in the plain and ResNet
    networks): MXNet's sum pooling has no bfloat16 kernel, so the sum is taken in float32."""
    from fusenet_gluon.training.recipe import cpu_has_bfloat16
    if not cpu_has_bfloat16():
        pytest.skip('this CPU has no avx512_bf16/amx_bf16: bfloat16 AMP cannot run here')
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, '-c', AMP % root], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
