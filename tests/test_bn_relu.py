"""BatchNorm followed by ReLU (fusenet_gluon.models.common.BatchNorm, batch_norm_op): traced
for training on the CPU it is MXNet's one op BatchNormWithReLU. Checked against MXNet's
BatchNorm then Activation (the original's two nodes) with oneDNN's AVX-512 and AVX2 kernels,
and a whole network's training step against the same network built with the two nodes."""
import json
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon

from fusenet_gluon import get_model
from fusenet_gluon.models.common import BatchNorm, batch_norm_op

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BN = dict(eps=2e-5, momentum=0.9, fix_gamma=False)


def conv_map(shape, seed):
    """A convolution's output, in the blocked layout oneDNN gives it inside a network."""
    rng = np.random.RandomState(seed)
    n, c, h, w = shape
    x = mx.nd.array(rng.normal(0, 1, (n, c, h + 2, w + 2)))
    k = mx.nd.array(rng.normal(0, 0.2, (c, c, 3, 3)))
    return mx.nd.Convolution(x, k, kernel=(3, 3), num_filter=c, no_bias=True) + 0.3


def one_way(fused, shape, seed=0):
    """Outputs, gradients and running statistics of one training call, then an inference
    call, of BatchNorm+ReLU computed one way or the other (by hand: the two MXNet ops)."""
    rng = np.random.RandomState(seed + 1)
    c = shape[1]
    x, gamma, beta = conv_map(shape, seed), mx.nd.array(rng.uniform(0.5, 1.5, c)), \
        mx.nd.array(rng.normal(0, 0.1, c))
    mean, var = mx.nd.array(rng.normal(0, 1, c)), mx.nd.array(rng.uniform(1, 2, c))
    dy = mx.nd.array(rng.normal(0, 1, shape))
    for a in (x, gamma, beta):
        a.attach_grad()

    def forward(data):
        if fused:
            return mx.nd.contrib.BatchNormWithReLU(data, gamma, beta, mean, var, **BN)
        return mx.nd.Activation(mx.nd.BatchNorm(data, gamma, beta, mean, var, **BN),
                                act_type='relu')
    with autograd.record():
        y = forward(x)
    y.backward(dy)
    inferred = forward(x)
    return [a.asnumpy() for a in (y, x.grad, gamma.grad, beta.grad, mean, var, inferred)]


SHAPES = [(8, 16, 32, 32), (4, 64, 8, 8), (3, 5, 7, 7)]


@pytest.mark.parametrize('shape', SHAPES)
def test_the_fused_op_is_batchnorm_then_relu_bit_for_bit(shape):
    ours, original = one_way(True, shape), one_way(False, shape)
    names = ('output', 'data gradient', 'gamma gradient', 'beta gradient', 'running mean',
             'running variance', 'inference output')
    for name, got, want in zip(names, ours, original):
        assert np.array_equal(got, want), name
    assert (ours[0] == 0).mean() > 0.2  # the ReLU did cut


EXACT = r'''
import sys
sys.path[:0] = [%r, %r]
import numpy as np
from test_bn_relu import SHAPES, one_way
for shape in SHAPES:
    for got, want in zip(one_way(True, shape), one_way(False, shape)):
        assert np.array_equal(got, want), shape
'''


def test_the_same_values_with_onednns_avx2_kernels():
    """The same agreement with oneDNN capped at AVX2 (``DNNL_MAX_CPU_ISA``), as on this
    project's AVX2-only machines, on any host."""
    out = subprocess.run([sys.executable, '-c', EXACT % (ROOT, HERE)], capture_output=True,
                         text=True, timeout=300, env=dict(os.environ, DNNL_MAX_CPU_ISA='AVX2'))
    assert out.returncode == 0, out.stderr[-2000:]


def ops(block):
    return [n['op'] for n in json.loads(block._cached_graph[1].tojson())['nodes']]


def test_the_training_graph_has_the_fused_op_and_the_inference_graph_the_two_nodes():
    net = get_model('cross', depth=14)
    net.initialize()
    x = mx.nd.random.uniform(shape=(2, 3, 32, 32))
    net.hybridize()
    net(x)
    inference = json.loads(net._cached_graph[1].tojson())['nodes']
    net.hybridize(static_alloc=True, static_shape=True)
    with autograd.record():
        net(x)
    trained = ops(net)
    assert '_contrib_BatchNormWithReLU' not in [n['op'] for n in inference]
    # every ReLU right after a BatchNorm (the stem, each two1 layer) is fused; the merges'
    # keep their Activation
    relus = [n for n in inference if n['op'] == 'Activation']
    fused = [n for n in relus if inference[n['inputs'][0][0]]['op'] == 'BatchNorm']
    assert len(fused) == 7 and trained.count('_contrib_BatchNormWithReLU') == len(fused)
    assert trained.count('Activation') == len(relus) - len(fused)
    assert trained.count('BatchNorm') + len(fused) == \
        [n['op'] for n in inference].count('BatchNorm')


def test_a_network_first_called_for_inference_trains_on_the_training_graph():
    """A hybridized network keeps the graph of its first call (Gluon): one first called for
    inference builds it again at its first training call, and keeps that for inference."""
    net = get_model('cross', depth=14)
    net.initialize()
    x = mx.nd.random.uniform(shape=(2, 3, 32, 32))
    net.hybridize(static_alloc=True, static_shape=True)
    before = net(x).asnumpy()
    assert '_contrib_BatchNormWithReLU' not in ops(net)
    with autograd.record():
        net(x)
    trained = ops(net)
    assert trained.count('_contrib_BatchNormWithReLU') == 7
    np.testing.assert_array_equal(net(x).asnumpy(), before)   # inference on it: same values
    assert ops(net) == trained


def step(net, x, labels):
    net.hybridize(static_alloc=True, static_shape=True)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    with autograd.record():
        out = net(x)
        total = loss(out.mean(axis=0) if out.ndim == 3 else out, labels)  # the ensemble's
        # members stacked first
    total.backward()
    params = net.collect_params()
    return [out.asnumpy()] + [params[k].grad().asnumpy() for k in sorted(params)
                              if params[k].grad_req != 'null'] \
        + [params[k].data().asnumpy() for k in sorted(params) if 'running' in k]


@pytest.mark.parametrize('network,depth', [('cross', 14), ('fuse3', 8), ('ensemble', 14)])
def test_a_training_step_is_the_two_nodes_step_bit_for_bit(network, depth):
    """The whole network: the step with the fused op against the same weights built with
    BatchNorm and Activation (``relu`` off in every BatchNorm block, so the enclosing layer
    applies its Activation; the ensemble through batch_norm_op, patched)."""
    x = mx.nd.array(np.random.RandomState(3).normal(0, 1, (4, 3, 32, 32)))
    labels = mx.nd.array(np.arange(4) % 10)
    results = []
    for fused in (True, False):
        mx.random.seed(7)
        net = get_model(network, depth=depth)
        net.initialize(mx.init.Xavier())
        blocks = []   # Block.apply visits the net and every block below it
        net.apply(lambda b: blocks.append(b) if isinstance(b, BatchNorm) and b.relu else None)
        if network != 'ensemble':
            assert blocks
        for block in blocks:
            block.relu = fused
        if network == 'ensemble' and not fused:
            import fusenet_gluon.models.ensemble as ensemble
            ensemble.batch_norm_op = lambda F, relu: (F.BatchNorm, relu)
            try:
                results.append(step(net, x, labels))
            finally:
                ensemble.batch_norm_op = batch_norm_op
            continue
        graph = step(net, x, labels)
        assert ('_contrib_BatchNormWithReLU' in ops(net)) == fused
        results.append(graph)
    for got, want in zip(*results):
        assert np.array_equal(got, want)


AMP = r'''
import sys
sys.path.insert(0, %r)
import mxnet as mx
from mxnet import autograd
from mxnet.contrib import amp
from fusenet_gluon import get_model
amp.init(target_dtype='bfloat16')
net = get_model('cross', depth=14)
net.initialize()
net.hybridize(static_alloc=True, static_shape=True)
with autograd.record():
    out = net(mx.nd.random.uniform(shape=(4, 3, 32, 32)))
out.backward()
graph = net._cached_graph[1].tojson()
assert '_contrib_BatchNormWithReLU' in graph
import numpy as np
grad = net.collect_params()['g1_b1_d1_two1_conv_weight'].grad().astype('float32').asnumpy()
assert np.isfinite(out.astype('float32').asnumpy()).all() and np.abs(grad).max() > 0
'''


def test_the_fused_op_under_bfloat16_amp():
    from fusenet_gluon.training.recipe import cpu_has_bfloat16
    if not cpu_has_bfloat16():
        pytest.skip('this CPU has no avx512_bf16/amx_bf16: bfloat16 AMP cannot run here')
    out = subprocess.run([sys.executable, '-c', AMP % ROOT], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
