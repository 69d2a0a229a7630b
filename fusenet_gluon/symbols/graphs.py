"""The authors' graphs, rebuilt with the MXNet symbol API.

Layer for layer and name for name the graphs of the original ``network/*.py`` (CIFAR/SVHN
family) and ``symbol_cross.py``/``symbol_resnet.py`` (ImageNet), in Python 3. The block
counts, widths, names and wiring rules come from :mod:`fusenet_gluon.arch`, which the
Gluon blocks of :mod:`fusenet_gluon.models` share; only the construction API differs.
Nodes are created in the original's order, so the graphs' JSON matches theirs. Each
family's graphs are registered in its entry (:mod:`fusenet_gluon.families`), which
:func:`get_symbol` and :func:`get_logits` ask.
"""
import mxnet as mx

from .. import arch, families


# ---------------------------------------------------------------- CIFAR/SVHN layers
def conv(name, data, kout, spec, relu=True):
    """The original's basic layer: Convolution -> BatchNorm -> (ReLU), named N_conv/N_bn/N_relu.

    `spec` is an :class:`arch.Conv` (kernel, stride, pad)."""
    data = mx.sym.Convolution(name=name + '_conv', data=data, num_filter=kout,
                              kernel=(spec.kernel,) * 2, stride=(spec.stride,) * 2,
                              pad=(spec.pad,) * 2, no_bias=True)
    data = mx.sym.BatchNorm(name=name + '_bn', data=data, fix_gamma=False,
                            momentum=arch.BN_MOMENTUM, eps=arch.BN_EPS)
    if relu:
        data = _relu(name + '_relu', data)
    return data


def one(name, data, kin, kout, relu=True):
    """3x3 layer, stride 2 when the width changes (the original's ``get_one``)."""
    return conv(name, data, kout, arch.one_conv(kin, kout), relu)


def two(name, data, kin, kout, relu=False):
    """Two 3x3 layers, N_two1 (with ReLU) and N_two2 (the original's ``get_two``)."""
    data = one(name + '_two1', data, kin, kout)
    return one(name + '_two2', data, kout, kout, relu)


def zero(name, data, kin, kout):
    """The shortcut: identity, or the projection N_line when the width changes."""
    if arch.shortcut_projects(kin, kout):
        data = conv(name + '_line', data, kout, arch.LINE, relu=False)
    return data


_PATHS = {'zero': zero, 'two': two}


def _relu(name, data):
    return mx.sym.Activation(name=name, data=data, act_type='relu')


def plain_block(name, data, kin, kout):
    return one('%s_%s' % (name, arch.PLAIN_PATH), data, kin, kout, relu=True)


def sum_block(network, name, data, kin, kout):
    """resnet, half, side: ``relu(sum of the paths of arch.SUM_BLOCK_PATHS)``, ``N_relu``."""
    paths = [_PATHS[kind]('%s_%s' % (name, path), data, kin, kout)
             for path, kind in arch.SUM_BLOCK_PATHS[network]]
    out = paths[0]
    for path in paths[1:]:
        out = out + path
    return _relu(name + '_relu', out)


def fuse_block(name, data, kin, kout, depth_of_block):
    """fuseK: ``relu(left + right)``; left a 3x3 ``N_p0_line`` or identity, right
    `depth_of_block` layers ``N_p2_i``."""
    left = data
    if arch.fuse_has_line(name, kin, kout):
        left = one(name + '_p0_line', data, kin, kout, relu=False)
    for i in range(depth_of_block):
        data = one(name + '_p2_%d' % i, data, kin, kout, relu=i != depth_of_block - 1)
        kin = kout
    return _relu(name + '_relu', left + data)


def cross_block(name, data1, data2, kin, kout, last=False):
    """DFN-MR: merge the streams' shortcuts, run each stream's deep path beside the merge."""
    line1 = zero(name + '_l1', data1, kin, kout)
    line2 = zero(name + '_l2', data2, kin, kout)
    deep1 = two(name + '_d1', data1, kin, kout)
    deep2 = two(name + '_d2', data2, kin, kout)
    data1, data2 = arch.merge_and_run(line1, line2, deep1, deep2, last)
    return _relu(name + '_relu1', data1), _relu(name + '_relu2', data2)


def cifar_head(data, num_classes):
    pool = arch.CIFAR_HEAD_POOL
    data = mx.sym.Pooling(name='cls_pool', data=data, kernel=(pool.kernel,) * 2,
                          stride=(pool.stride,) * 2, pool_type=pool.pool_type,
                          global_pool=True)
    data = mx.sym.Flatten(name='cls_flatten', data=data)
    return mx.sym.FullyConnected(name='cls_fc', data=data, num_hidden=num_classes)


def cifar_logits(network, num_classes, num_depth, widen_factor=1):
    """The graph of a CIFAR-family network up to its logits (``cls_fc``)."""
    network = arch.canonical_name(network)
    layout = list(arch.cifar_layout(network, num_depth, widen_factor))
    arch.check_positive_int(num_classes, 'num_classes')
    channels = arch.cifar_channels(widen_factor)
    data = conv('g0', mx.sym.Variable(name='data'), channels[0], arch.CIFAR_STEM)
    kind = arch.BLOCK_KIND[network]
    if kind == 'cross':
        data1 = data2 = data
        for name, kin, kout, last in layout:
            data1, data2 = cross_block(name, data1, data2, kin, kout, last)
        data = data1
    else:
        for name, kin, kout, _ in layout:
            if kind == 'fuse':
                data = fuse_block(name, data, kin, kout, arch.block_depth(network, num_depth))
            elif kind == 'sum':
                data = sum_block(network, name, data, kin, kout)
            else:
                data = plain_block(name, data, kin, kout)
    return cifar_head(data, num_classes)


# ---------------------------------------------------------------- ImageNet layers
def bottleneck(name, data, kout, stride):
    """1x1 to kout/4, 3x3 (stride), 1x1 to kout; BN after each, ReLU after the first two."""
    layers = arch.bottleneck_layers(kout, stride)
    for i, (k, channels, spec) in enumerate(layers):
        data = mx.sym.Convolution(name=name + '_conv' + k, data=data, num_filter=channels,
                                  kernel=(spec.kernel,) * 2, stride=(spec.stride,) * 2,
                                  pad=(spec.pad,) * 2, no_bias=True)
        data = mx.sym.BatchNorm(name=name + '_bn' + k, data=data, fix_gamma=False,
                                momentum=arch.BN_MOMENTUM, eps=arch.BN_EPS)
        if i < len(layers) - 1:
            data = _relu(name + '_relu' + k, data)
    return data


def _pool(name, data, pool):
    # the original gives no pad to the unpadded head pooling: its JSON has no pad attribute
    pad = dict(pad=(pool.pad,) * 2) if pool.pad else {}
    return mx.sym.Pooling(name=name, data=data, kernel=(pool.kernel,) * 2,
                          stride=(pool.stride,) * 2, pool_type=pool.pool_type, **pad)


def imagenet_stem():
    stem = arch.IMAGENET_STEM
    data = mx.sym.Convolution(name='g0', data=mx.sym.Variable(name='data'),
                              num_filter=arch.IMAGENET_STEM_CHANNELS, kernel=(stem.kernel,) * 2,
                              stride=(stem.stride,) * 2, pad=(stem.pad,) * 2, no_bias=True)
    return _pool('g0_pool', data, arch.IMAGENET_STEM_POOL)


def imagenet_head(data, num_classes):
    data = _pool('global_pool', data, arch.IMAGENET_HEAD_POOL)
    data = mx.sym.Flatten(name='flatten', data=data)
    return mx.sym.FullyConnected(name='fc_score', data=data, num_hidden=num_classes)


def imagenet_logits(network, num_classes=families.IMAGENET.classes, blocks=None):
    """The graph of an ImageNet network up to its logits (``fc_score``)."""
    layout = list(arch.imagenet_layout(network, blocks))
    arch.check_positive_int(num_classes, 'num_classes')
    data = imagenet_stem()
    if not arch.two_streams(network):
        for name, kin, kout, stride in layout:
            deep = bottleneck(name + '_deep1', data, kout, stride)
            data = _relu(name + '_relu', deep + data if arch.imagenet_merges(kin, kout)
                         else deep)
    else:
        left = right = data
        for name, kin, kout, stride in layout:
            deep_l = bottleneck(name + '_deep1l', left, kout, stride)
            deep_r = bottleneck(name + '_deep1r', right, kout, stride)
            if arch.imagenet_merges(kin, kout):
                deep_l, deep_r = arch.imagenet_merge(left, right, deep_l, deep_r)
            # the original names both streams' ReLU N_relu
            left, right = _relu(name + '_relu', deep_l), _relu(name + '_relu', deep_r)
        data = mx.sym.Concat(left, right)
    return imagenet_head(data, num_classes)


# ---------------------------------------------------------------- the weight-shared ensemble
def ensemble_logits(num_classes, net_depth, widen_factor=1, components=None,
                    share_weights=True):
    """The ensemble's components up to their logits: ``[(number, component, fc), ...]``.

    Every layer of every component names its own Convolution, BatchNorm and ReLU (so each
    component has its own BatchNorm statistics) and takes its weight, gamma and beta from
    variables shared across the components (``g0_weight``, ``g1_left_bn_gamma``,
    ``g2_b1_right2_weight``, ``fc_weight``, ...). Without sharing each component has its
    own, prefixed ``uncoupleNN_`` (``uncouple08_g1_b1_right2_weight``).
    """
    arch.check_positive_int(num_classes, 'num_classes')
    data = mx.sym.Variable(name='data')
    variables = {}

    def shared(name):
        if name not in variables:
            variables[name] = mx.sym.Variable(name=name)
        return variables[name]

    out = []
    for number, component, layers in arch.ensemble_layout(net_depth, widen_factor,
                                                          components):
        own = '' if share_weights else 'uncouple%02d_' % number
        x = data
        for name, weights, _, kout, spec, relu in layers:
            if spec is None:  # the group's ReLU
                x = _relu(name, x)
                continue
            x = mx.sym.Convolution(name=name, data=x, weight=shared(own + weights + '_weight'),
                                   num_filter=kout, kernel=(spec.kernel,) * 2,
                                   stride=(spec.stride,) * 2, pad=(spec.pad,) * 2, no_bias=True)
            x = mx.sym.BatchNorm(name=name + '_bn', data=x, fix_gamma=False,
                                 momentum=arch.ENSEMBLE_BN_MOMENTUM, eps=arch.BN_EPS,
                                 gamma=shared(own + weights + '_bn_gamma'),
                                 beta=shared(own + weights + '_bn_beta'))
            if relu:
                x = _relu(name + '_relu', x)
        head = 'n%d' % number
        pool = arch.ENSEMBLE_HEAD_POOL
        x = mx.sym.Pooling(name=head + 'global_pool', data=x, kernel=(pool.kernel,) * 2,
                           stride=(pool.stride,) * 2, pool_type=pool.pool_type)
        x = mx.sym.Flatten(name=head + 'flatten', data=x)
        x = mx.sym.FullyConnected(name=head + 'fc_score', data=x, num_hidden=num_classes,
                                  weight=shared(own + 'fc_weight'), bias=shared(own + 'fc_bias'))
        out.append((number, component, x))
    return out


def ensemble_symbol(num_classes, net_depth, widen_factor=1, components=None,
                    share_weights=True):
    """The original's ensemble graph: the ``Group`` of one ``SoftmaxOutput`` per component,
    ``softmax1`` .. ``softmax8`` (numbered as the original numbers the components)."""
    return mx.sym.Group([mx.sym.SoftmaxOutput(name='softmax%d' % number, data=fc)
                         for number, _, fc in ensemble_logits(
                             num_classes, net_depth, widen_factor, components, share_weights)])


# ---------------------------------------------------------------- whole graphs
def with_softmax(logits):
    """Close a logits graph the way the original did: ``SoftmaxOutput`` named ``softmax``."""
    return mx.sym.SoftmaxOutput(name='softmax', data=logits)


def get_symbol(network, num_classes, num_depth=None, widen_factor=1, blocks=None,
               components=None, share_weights=True):
    """The original training graph of `network`, ending in ``SoftmaxOutput('softmax')``
    (the ensemble: a ``Group`` of ``softmax1`` .. ``softmax8``).

    Parameters
    ----------
    network : str
        One of ``plain, resnet, cross, half, side, fuse3, fuse6`` (aliases ``dfn_mr``,
        ``dfn_il``), ``ensemble``, or ``imagenet_cross``, ``imagenet_resnet``.
    num_classes : int
    num_depth : int
        Depth of the corresponding plain network (CIFAR family, the ensemble).
    widen_factor : int
        Channel multiplier w (CIFAR family, the ensemble).
    blocks : tuple of 4 ints, optional
        Blocks per group (ImageNet only); the original's by default.
    components, share_weights :
        The ensemble only: which components (default all eight) and whether they share
        weights (default, as the original).
    """
    return _family(network).hook('graph')(arch.canonical_name(network), num_classes,
                                          num_depth, widen_factor, blocks, components,
                                          share_weights)


def get_logits(network, num_classes, num_depth=None, widen_factor=1, blocks=None,
               components=None, share_weights=True):
    """Like :func:`get_symbol` but ending in the classifier's output (for the ensemble, the
    Group of its components' classifier outputs)."""
    return _family(network).hook('logits')(arch.canonical_name(network), num_classes,
                                           num_depth, widen_factor, blocks, components,
                                           share_weights)


def _family(network):
    """The family of `network` if the authors' code has its graph, else ``ValueError``."""
    family = families.find(network)
    if family is None or family.checkpoint_graph != 'original' \
            or network not in family.networks + tuple(family.aliases):
        names = [n for f in families.FAMILIES if f.checkpoint_graph == 'original'
                 for n in f.networks + tuple(sorted(f.aliases))]
        raise ValueError('unknown network %r; choose from %s' % (network, ', '.join(names)))
    return family


# ---------------------------------------------------------------- each family's graphs
def _cifar_logits(network, num_classes, num_depth, widen_factor, *unused):
    if num_depth is None:
        raise ValueError('num_depth is required for %r (e.g. %d)' % (
            network, arch.even_depths(network)[1]))
    return cifar_logits(network, num_classes, num_depth, widen_factor)


def _imagenet_logits(network, num_classes, num_depth, widen_factor, blocks, *unused):
    return imagenet_logits(network, num_classes, blocks)


def _ensemble_logits(network, num_classes, num_depth, widen_factor, blocks, components,
                     share_weights):
    return mx.sym.Group([fc for _, _, fc in ensemble_logits(
        num_classes, num_depth, widen_factor, components, share_weights)])


def _ensemble_graph(network, num_classes, num_depth, widen_factor, blocks, components,
                    share_weights):
    if num_depth is None:
        raise ValueError('net_depth is required for the ensemble (e.g. 14, 20, 26)')
    return ensemble_symbol(num_classes, num_depth, widen_factor, components, share_weights)


def _closed(logits):
    """The training graph of a one-output family: its logits and ``SoftmaxOutput``."""
    return lambda *args: with_softmax(logits(*args))


families.CIFAR.register(logits=_cifar_logits, graph=_closed(_cifar_logits))
families.IMAGENET.register(logits=_imagenet_logits, graph=_closed(_imagenet_logits))
families.ENSEMBLE.register(logits=_ensemble_logits, graph=_ensemble_graph)
