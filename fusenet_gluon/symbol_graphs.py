"""The authors' graphs, rebuilt with the MXNet symbol API.

Layer for layer and name for name the graphs of the original ``network/*.py`` (CIFAR/SVHN
family) and ``symbol_cross.py``/``symbol_resnet.py`` (ImageNet), in Python 3. The block
counts, widths and names come from :mod:`fusenet_gluon.arch`, which the Gluon blocks share.

The modules of the repository's ``symbols/`` folder expose these with the original
``get_symbol`` signatures.
"""
import mxnet as mx

from . import arch


# ---------------------------------------------------------------- CIFAR/SVHN layers
def conv(name, data, kout, kernel, stride, pad, relu=True):
    """The original's basic layer: Convolution -> BatchNorm -> (ReLU), named N_conv/N_bn/N_relu."""
    data = mx.sym.Convolution(name=name + '_conv', data=data, num_filter=kout, kernel=kernel,
                              stride=stride, pad=pad, no_bias=True)
    data = mx.sym.BatchNorm(name=name + '_bn', data=data, fix_gamma=False,
                            momentum=arch.BN_MOMENTUM, eps=arch.BN_EPS)
    if relu:
        data = mx.sym.Activation(name=name + '_relu', data=data, act_type='relu')
    return data


def one(name, data, kin, kout, relu=True):
    """3x3 layer, stride 2 when the width changes."""
    stride = (1, 1) if kin == kout else (2, 2)
    return conv(name, data, kout, (3, 3), stride, (1, 1), relu)


def two(name, data, kin, kout, relu=False):
    """Two 3x3 layers, N_two1 (with ReLU) and N_two2."""
    data = one(name + '_two1', data, kin, kout)
    return one(name + '_two2', data, kout, kout, relu)


def zero(name, data, kin, kout):
    """The shortcut: identity, or a 1x1 stride-2 projection N_line when the width changes."""
    if kin != kout:
        data = conv(name + '_line', data, kout, (1, 1), (2, 2), (0, 0), relu=False)
    return data


def _relu(name, data):
    return mx.sym.Activation(name=name, data=data, act_type='relu')


def plain_block(name, data, kin, kout):
    return one(name + '_p1', data, kin, kout, relu=True)


def resnet_block(name, data, kin, kout):
    line = zero(name + '_p0', data, kin, kout)
    deep = two(name + '_p2', data, kin, kout)
    return _relu(name + '_relu', line + deep)


def half_block(name, data, kin, kout):
    line = zero(name + '_p0', data, kin, kout)
    two1 = two(name + '_p1', data, kin, kout)
    two2 = two(name + '_p2', data, kin, kout)
    return _relu(name + '_relu', line + two1 + two2)


def side_block(name, data, kin, kout):
    two1 = two(name + '_p1', data, kin, kout)
    two2 = two(name + '_p2', data, kin, kout)
    return _relu(name + '_relu', two1 + two2)


def fuse_block(name, data, kin, kout, depth_of_block):
    left = data
    if arch.fuse_has_line(name, kin, kout):
        left = one(name + '_p0_line', data, kin, kout, relu=False)
    for i in range(depth_of_block):
        data = one(name + '_p2_%d' % i, data, kin, kout, relu=i != depth_of_block - 1)
        kin = kout
    return _relu(name + '_relu', left + data)


def cross_block(name, data1, data2, kin, kout, last=False):
    line1 = zero(name + '_l1', data1, kin, kout)
    line2 = zero(name + '_l2', data2, kin, kout)
    deep1 = two(name + '_d1', data1, kin, kout)
    deep2 = two(name + '_d2', data2, kin, kout)
    fuse = 0.5 * (line1 + line2)
    data1 = fuse + deep1
    data2 = fuse + deep2
    if last:  # the last block before the classifier: one output, the second stream dropped
        data1 = fuse + deep1 + deep2
        data2 = data1
    return _relu(name + '_relu1', data1), _relu(name + '_relu2', data2)


_SINGLE_STREAM = {'plain': plain_block, 'resnet': resnet_block, 'half': half_block,
                  'side': side_block}


def cifar_head(data, num_classes):
    data = mx.sym.Pooling(name='cls_pool', data=data, kernel=(8, 8), stride=(1, 1),
                          pool_type='avg', global_pool=True)
    data = mx.sym.Flatten(name='cls_flatten', data=data)
    return mx.sym.FullyConnected(name='cls_fc', data=data, num_hidden=num_classes)


def cifar_logits(network, num_classes, num_depth, widen_factor=1):
    """The graph of a CIFAR-family network up to its logits (``cls_fc``)."""
    network = arch.canonical_name(network)
    layout = list(arch.cifar_layout(network, num_depth, widen_factor))
    arch._check_positive_int(num_classes, 'num_classes')
    channels = arch.cifar_channels(widen_factor)
    data = mx.sym.Variable(name='data')
    data = conv('g0', data, channels[0], (3, 3), (1, 1), (1, 1))
    if network == 'cross':
        data1 = data2 = data
        for name, kin, kout, last in layout:
            data1, data2 = cross_block(name, data1, data2, kin, kout, last)
        data = data1
    elif network in ('fuse3', 'fuse6'):
        b = arch.block_depth(network, num_depth)
        for name, kin, kout, _ in layout:
            data = fuse_block(name, data, kin, kout, b)
    else:
        block = _SINGLE_STREAM[network]
        for name, kin, kout, _ in layout:
            data = block(name, data, kin, kout)
    return cifar_head(data, num_classes)


# ---------------------------------------------------------------- ImageNet layers
def bottleneck(name, data, kout, stride):
    """1x1 to kout/4, 3x3 (stride), 1x1 to kout; BN after each, ReLU after the first two."""
    mid = kout // 4
    bn = dict(fix_gamma=False, momentum=arch.BN_MOMENTUM, eps=arch.BN_EPS)
    data = mx.sym.Convolution(name=name + '_conv1', data=data, num_filter=mid, kernel=(1, 1),
                              stride=(1, 1), pad=(0, 0), no_bias=True)
    data = mx.sym.BatchNorm(name=name + '_bn1', data=data, **bn)
    data = _relu(name + '_relu1', data)
    data = mx.sym.Convolution(name=name + '_conv2', data=data, num_filter=mid, kernel=(3, 3),
                              stride=(stride, stride), pad=(1, 1), no_bias=True)
    data = mx.sym.BatchNorm(name=name + '_bn2', data=data, **bn)
    data = _relu(name + '_relu2', data)
    data = mx.sym.Convolution(name=name + '_conv3', data=data, num_filter=kout, kernel=(1, 1),
                              stride=(1, 1), pad=(0, 0), no_bias=True)
    return mx.sym.BatchNorm(name=name + '_bn3', data=data, **bn)


def imagenet_stem():
    data = mx.sym.Variable(name='data')
    data = mx.sym.Convolution(name='g0', data=data, num_filter=arch.IMAGENET_STEM_CHANNELS,
                              kernel=(7, 7), stride=(2, 2), pad=(3, 3), no_bias=True)
    return mx.sym.Pooling(name='g0_pool', data=data, kernel=(3, 3), stride=(2, 2), pad=(1, 1),
                          pool_type='max')


def imagenet_head(data, num_classes):
    data = mx.sym.Pooling(name='global_pool', data=data, kernel=(7, 7), stride=(1, 1),
                          pool_type='avg')
    data = mx.sym.Flatten(name='flatten', data=data)
    return mx.sym.FullyConnected(name='fc_score', data=data, num_hidden=num_classes)


def imagenet_logits(network, num_classes=1000, blocks=None):
    """The graph of an ImageNet network up to its logits (``fc_score``)."""
    layout = list(arch.imagenet_layout(network, blocks))
    arch._check_positive_int(num_classes, 'num_classes')
    data = imagenet_stem()
    if network == 'imagenet_resnet':
        for name, kin, kout, stride in layout:
            deep = bottleneck(name + '_deep1', data, kout, stride)
            data = _relu(name + '_relu', deep + data if kin == kout else deep)
    else:
        left = right = data
        for name, kin, kout, stride in layout:
            deep_l = bottleneck(name + '_deep1l', left, kout, stride)
            deep_r = bottleneck(name + '_deep1r', right, kout, stride)
            if kin == kout:
                fuse = 0.5 * (left + right)
                deep_l, deep_r = deep_l + fuse, deep_r + fuse
            # the original names both streams' ReLU N_relu
            left, right = _relu(name + '_relu', deep_l), _relu(name + '_relu', deep_r)
        data = mx.sym.Concat(left, right)
    return imagenet_head(data, num_classes)


# ---------------------------------------------------------------- whole graphs
def with_softmax(logits):
    """Close a logits graph the way the original did: ``SoftmaxOutput`` named ``softmax``."""
    return mx.sym.SoftmaxOutput(name='softmax', data=logits)


def get_symbol(network, num_classes, num_depth=None, widen_factor=1, blocks=None):
    """The original training graph of `network`, ending in ``SoftmaxOutput('softmax')``.

    Parameters
    ----------
    network : str
        One of ``plain, resnet, cross, half, side, fuse3, fuse6`` (aliases ``dfn_mr``,
        ``dfn_il``) or ``imagenet_cross``, ``imagenet_resnet``.
    num_classes : int
    num_depth : int
        Depth of the corresponding plain network (CIFAR family only).
    widen_factor : int
        Channel multiplier w (CIFAR family only).
    blocks : tuple of 4 ints, optional
        Blocks per group (ImageNet only); the original's by default.
    """
    return with_softmax(get_logits(network, num_classes, num_depth, widen_factor, blocks))


def get_logits(network, num_classes, num_depth=None, widen_factor=1, blocks=None):
    """Like :func:`get_symbol` but ending in the classifier's output."""
    network = arch.canonical_name(network)
    if network in arch.IMAGENET_NETWORKS:
        return imagenet_logits(network, num_classes, blocks)
    if network not in arch.CIFAR_NETWORKS:
        raise ValueError('unknown network %r; choose from %s' % (
            network, ', '.join(arch.CIFAR_NETWORKS + arch.IMAGENET_NETWORKS
                               + tuple(sorted(arch.ALIASES)))))
    if num_depth is None:
        raise ValueError('num_depth is required for %r (e.g. %d)' % (
            network, arch.even_depths(network)[1]))
    return cifar_logits(network, num_classes, num_depth, widen_factor)
