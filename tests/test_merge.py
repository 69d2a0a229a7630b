"""DFN-MR's merge weight (fusenet_gluon.models.common.merge_weigher): traced for training on
the CPU, ``0.5 * (line1 + line2)`` is a depthwise 1x1 convolution by the constant 0.5.
Checked against the product by hand (NumPy) and MXNet's ``_mul_scalar``, with oneDNN's
AVX-512 and AVX2 kernels, and a whole network's training step against the same network
built with the original's node."""
import json
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon
from mxnet.gluon import nn

import symbols
from fusenet_gluon import get_model
from fusenet_gluon.export import export_deploy
from fusenet_gluon.models import cifar, imagenet
from fusenet_gluon.models.common import merge_weigher

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# (batch, channels, side): the CIFAR merges' widths, and one that no SIMD width divides
SHAPES = [(8, 16, 32), (4, 32, 16), (4, 64, 8), (3, 5, 7)]


def blocked_sum(shape, seed):
    """``line1 + line2`` as a network has it: the sum of two convolutions' outputs, in the
    blocked layout oneDNN gives them, with values of every sign and size (tiny ones too)."""
    n, c, side = shape
    rng = np.random.RandomState(seed)
    maps = []
    for _ in range(2):
        x = mx.nd.array(rng.normal(0, 1, (n, c, side + 2, side + 2)))
        k = mx.nd.array(rng.normal(0, 0.2, (c, c, 3, 3)))
        maps.append(mx.nd.Convolution(x, k, kernel=(3, 3), num_filter=c, no_bias=True))
    return maps[0] * 1e-3 + maps[1]


def weighed(shape, seed=0):
    """The product and the gradient of one training call of the convolution, next to the
    product and gradient by hand and by MXNet's ``_mul_scalar``."""
    total = blocked_sum(shape, seed)
    dy = mx.nd.array(np.random.RandomState(seed + 1).normal(0, 1, total.shape))
    total.attach_grad()
    with autograd.record():
        weigh = merge_weigher(mx.nd, shape[1], nn.Dense(1, in_units=1))
        y = weigh(total)
    y.backward(dy)
    got = y.asnumpy(), total.grad.asnumpy()
    half = np.float32(0.5)
    by_hand = total.asnumpy() * half, dy.asnumpy() * half
    with autograd.record():
        y = 0.5 * total
    y.backward(dy)
    return got, by_hand, (y.asnumpy(), total.grad.asnumpy())


@pytest.mark.parametrize('shape', SHAPES)
def test_the_convolution_is_the_product_by_half_bit_for_bit(shape):
    got, by_hand, mul_scalar = weighed(shape)
    for name, i in (('product', 0), ('gradient', 1)):
        assert np.array_equal(got[i], by_hand[i]), name
        assert np.array_equal(got[i], mul_scalar[i]), name


EXACT = r'''
import sys
sys.path[:0] = [%r, %r]
import numpy as np
from test_merge import SHAPES, weighed
for shape in SHAPES:
    got, by_hand, mul_scalar = weighed(shape)
    for i in (0, 1):
        assert np.array_equal(got[i], by_hand[i]) and np.array_equal(got[i], mul_scalar[i])
'''


def test_the_same_values_with_onednns_avx2_kernels():
    """The same agreement with oneDNN capped at AVX2 (``DNNL_MAX_CPU_ISA``), as on this
    project's AVX2-only machines, on any host."""
    out = subprocess.run([sys.executable, '-c', EXACT % (ROOT, HERE)], capture_output=True,
                         text=True, timeout=300, env=dict(os.environ, DNNL_MAX_CPU_ISA='AVX2'))
    assert out.returncode == 0, out.stderr[-2000:]


def test_only_a_float32_graph_built_for_training_outside_amp_gets_the_convolution():
    branch = nn.Dense(1, in_units=1)
    assert merge_weigher(mx.sym, 16, branch) is None          # not training
    with autograd.record():
        assert merge_weigher(mx.sym, 16, branch) is not None
        branch.cast('float16')
        assert merge_weigher(mx.sym, 16, branch) is None


AMP = r'''
import sys
sys.path.insert(0, %r)
from mxnet import autograd
from mxnet import symbol as sym
from mxnet.contrib import amp
from mxnet.gluon import nn
from fusenet_gluon.models.common import merge_weigher
with autograd.record():
    assert merge_weigher(sym, 16, nn.Dense(1, in_units=1)) is not None
    amp.init(target_dtype='bfloat16')
    assert merge_weigher(sym, 16, nn.Dense(1, in_units=1)) is None
'''


def test_under_amp_the_merge_keeps_the_originals_node():
    """AMP would cast the convolution to bfloat16 and round the merge (any host: only the
    choice is checked, nothing runs)."""
    out = subprocess.run([sys.executable, '-c', AMP % ROOT], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]


def ops(net):
    return [n['op'] for n in json.loads(net._cached_graph[1].tojson())['nodes']]


def depthwise(net):
    return [n for n in json.loads(net._cached_graph[1].tojson())['nodes']
            if n['op'] == 'Convolution' and n['attrs'].get('num_group', '1') != '1']


def test_the_training_graph_weighs_by_convolution_and_export_keeps_the_originals_node(tmp_path):
    """num_depth 14 has 3 merges (one a block of each group): the graph built for training
    has 3 depthwise convolutions and no ``_mul_scalar``; inference and the export after
    training have the original's 3 ``_mul_scalar`` nodes, as the original's symbol."""
    net = get_model('cross', depth=14)
    net.initialize()
    x = mx.nd.random.uniform(shape=(2, 3, 32, 32))
    net.hybridize(static_alloc=True, static_shape=True)
    net(x)
    assert ops(net).count('_mul_scalar') == 3 and not depthwise(net)
    with autograd.record():
        net(x).sum().backward()
    assert '_mul_scalar' not in ops(net)
    assert sorted(int(n['attrs']['num_group']) for n in depthwise(net)) == [16, 32, 64]
    sym_file, _ = export_deploy(net, str(tmp_path / 'deploy'))
    exported = [n['op'] for n in json.load(open(sym_file))['nodes']]
    original = [n['op'] for n in json.loads(symbols.get_symbol('cross', 10, 14, 1).tojson())
                ['nodes']]
    assert exported.count('_mul_scalar') == original.count('_mul_scalar') == 3
    assert exported.count('Convolution') == original.count('Convolution')


def step(make, x, labels, hybridize=True):
    mx.random.seed(7)
    net = make()
    net.initialize(mx.init.Xavier(magnitude=2), ctx=x.context)
    if hybridize:
        net.hybridize(static_alloc=True, static_shape=True)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    with autograd.record():
        out = net(x)
        total = loss(out, labels)
    total.backward()
    params = net.collect_params()
    return [out.asnumpy()] + [params[k].grad().asnumpy() for k in sorted(params)
                              if params[k].grad_req != 'null'] \
        + [params[k].data().asnumpy() for k in sorted(params) if 'running' in k]


def without_convolution(module, run):
    """`run()` with the models built with the original's ``_mul_scalar`` in every graph."""
    real = module.merge_weigher
    module.merge_weigher = lambda F, channels, branch: None
    try:
        return run()
    finally:
        module.merge_weigher = real


@pytest.mark.parametrize('hybridize', [True, False])
def test_a_dfn_mr_training_step_is_the_originals_node_step_bit_for_bit(hybridize):
    """Outputs, every gradient and the running statistics of one training step, with the
    convolution against the original's node; hybridized, and imperative on a second
    device (where the constant weight must be made)."""
    ctx = mx.cpu(0) if hybridize else mx.cpu(1)
    x = mx.nd.array(np.random.RandomState(3).normal(0, 1, (4, 3, 32, 32)), ctx=ctx)
    labels = mx.nd.array(np.arange(4) % 10, ctx=ctx)
    make = lambda: get_model('cross', depth=20)  # noqa: E731
    ours = step(make, x, labels, hybridize)
    original = without_convolution(cifar, lambda: step(make, x, labels, hybridize))
    assert len(ours) == len(original) > 30
    for got, want in zip(ours, original):
        assert np.array_equal(got, want)


def test_an_imagenet_dfn_mr_training_step_is_the_originals_node_step_bit_for_bit():
    x = mx.nd.array(np.random.RandomState(4).normal(0, 1, (1, 3, 224, 224)))
    labels = mx.nd.array([3])
    make = lambda: get_model('imagenet_cross', blocks=(2, 1, 1, 1), classes=10)  # noqa: E731
    ours = step(make, x, labels)
    original = without_convolution(imagenet, lambda: step(make, x, labels))
    for got, want in zip(ours, original):
        assert np.array_equal(got, want)
