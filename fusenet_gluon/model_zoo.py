"""Gluon HybridBlocks that mirror the original graphs layer for layer and name for name.

Every parameter has the original's name (``g1_b1_d1_two1_conv_weight``, ``cls_fc_bias``,
...), except BatchNorm's running statistics, which Gluon calls ``..._running_mean`` /
``..._running_var`` where the original has ``..._moving_mean`` / ``..._moving_var``.
Every layer declares its input channels, so parameter shapes are known before the first
forward. The networks return logits; the softmax lives in the loss.

The block counts, widths, names and wiring rules (strides, shortcuts, the merge, the
last-block rule, the bottleneck, stem and head) come from :mod:`fusenet_gluon.arch`, shared
with the symbol graphs of :mod:`fusenet_gluon.symbols`; only the construction API differs.
The original's training graph of a network is :func:`fusenet_gluon.upstream.upstream_symbol`.
"""
from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock

from . import arch
from .spec import NetworkSpec

__all__ = ['ConvBN', 'PlainBlock', 'SumBlock', 'ResidualBlock', 'HalfBlock', 'SideBlock',
           'FuseBlock', 'CrossBlock', 'Bottleneck', 'ImageNetResBlock', 'ImageNetCrossBlock',
           'CifarFuseNet', 'ImageNetFuseNet', 'EnsembleNet', 'get_model', 'from_spec',
           'list_models']


# ---------------------------------------------------------------- CIFAR/SVHN layers
class ConvBN(HybridBlock):
    """The original's basic layer N: ``N_conv`` -> ``N_bn`` -> optional ReLU.

    Parameters
    ----------
    name : str
        The layer's name N, relative to the enclosing block.
    kin, kout : int
        Input and output channels.
    spec : arch.Conv
        Kernel, stride and pad.
    relu : bool
        Whether a ReLU follows the BatchNorm.

    Input (N, kin, H, W); output (N, kout, H', W').
    """

    def __init__(self, name, kin, kout, spec, relu=True, **kwargs):
        super(ConvBN, self).__init__(prefix=name + '_', **kwargs)
        self.relu = relu
        with self.name_scope():
            self.conv = nn.Conv2D(kout, spec.kernel, spec.stride, spec.pad, use_bias=False,
                                  in_channels=kin, prefix='conv_')
            self.bn = nn.BatchNorm(momentum=arch.BN_MOMENTUM, epsilon=arch.BN_EPS,
                                   in_channels=kout, prefix='bn_')

    def hybrid_forward(self, F, x):
        x = self.bn(self.conv(x))
        return F.Activation(x, act_type='relu') if self.relu else x


def one(name, kin, kout, relu=True):
    """3x3 layer, stride 2 when the width changes (the original's ``get_one``)."""
    return ConvBN(name, kin, kout, arch.one_conv(kin, kout), relu)


class Two(HybridBlock):
    """Two 3x3 layers ``N_two1`` (ReLU) and ``N_two2`` (the original's ``get_two``)."""

    def __init__(self, name, kin, kout, relu=False, **kwargs):
        super(Two, self).__init__(prefix=name + '_', **kwargs)
        with self.name_scope():
            self.two1 = one('two1', kin, kout)
            self.two2 = one('two2', kout, kout, relu)

    def hybrid_forward(self, F, x):
        return self.two2(self.two1(x))


def zero(name, kin, kout):
    """The shortcut: None for identity, or the 1x1 stride-2 projection ``N_line``."""
    if not arch.shortcut_projects(kin, kout):
        return None
    return ConvBN(name + '_line', kin, kout, arch.LINE, relu=False)


class _Block(HybridBlock):
    """A fusion block named N (``g2_b1``): its layers are named relative to ``N_``."""

    def __init__(self, name, **kwargs):
        super(_Block, self).__init__(prefix=name + '_', **kwargs)


def _shortcut(layer, F, x):
    return x if layer is None else layer(x)


class PlainBlock(_Block):
    """plain: one layer ``N_p1`` with ReLU."""

    def __init__(self, name, kin, kout, **kwargs):
        super(PlainBlock, self).__init__(name, **kwargs)
        with self.name_scope():
            self.p1 = one(arch.PLAIN_PATH, kin, kout, relu=True)

    def hybrid_forward(self, F, x):
        return self.p1(x)


class SumBlock(_Block):
    """``relu(path_1(x) + path_2(x) + ...)``, the paths of ``arch.SUM_BLOCK_PATHS[network]``:
    each a shortcut (``zero``: identity or ``N_pK_line``) or two 3x3 layers (``N_pK_two1/2``).

    Input (N, kin, H, W); output (N, kout, H', W').
    """
    network = None

    def __init__(self, name, kin, kout, **kwargs):
        super(SumBlock, self).__init__(name, **kwargs)
        self.paths = []
        with self.name_scope():
            for path, kind in arch.SUM_BLOCK_PATHS[self.network]:
                layer = zero(path, kin, kout) if kind == 'zero' else Two(path, kin, kout)
                if layer is not None:
                    setattr(self, path, layer)
                self.paths.append(layer)

    def hybrid_forward(self, F, x):
        out = None
        for layer in self.paths:
            y = _shortcut(layer, F, x)
            out = y if out is None else out + y
        return F.Activation(out, act_type='relu')


class ResidualBlock(SumBlock):
    """resnet: ``relu(zero(N_p0) + two(N_p2))``."""
    network = 'resnet'


class HalfBlock(SumBlock):
    """half (DFN-IL, inception-like): ``relu(zero(N_p0) + two(N_p1) + two(N_p2))``."""
    network = 'half'


class SideBlock(SumBlock):
    """side (DFN-IL without identity): ``relu(two(N_p1) + two(N_p2))``."""
    network = 'side'


class FuseBlock(_Block):
    """fuseK (N_f3 / N_f6): ``relu(left + right)``.

    The left path is ``one(N_p0_line)`` without ReLU when the width changes or in block
    g1_b1, else identity; the right path is `depth` layers ``N_p2_0`` ... ``N_p2_{depth-1}``,
    ReLU on all but the last.
    """

    def __init__(self, name, kin, kout, depth, **kwargs):
        super(FuseBlock, self).__init__(name, **kwargs)
        with self.name_scope():
            self.p0 = one('p0_line', kin, kout, relu=False) \
                if arch.fuse_has_line(name, kin, kout) else None
            self.p2 = nn.HybridSequential(prefix='')
            with self.p2.name_scope():
                for i in range(depth):
                    self.p2.add(one('p2_%d' % i, kin if i == 0 else kout, kout,
                                    relu=i != depth - 1))

    def hybrid_forward(self, F, x):
        return F.Activation(_shortcut(self.p0, F, x) + self.p2(x), act_type='relu')


class CrossBlock(_Block):
    """cross (DFN-MR, merge-and-run) on two streams.

    ``m = 0.5 * (zero(N_l1, x1) + zero(N_l2, x2))``; ``x1 = relu(m + two(N_d1, x1))``,
    ``x2 = relu(m + two(N_d2, x2))``; the very last block of g3 (`last`) gives
    ``relu(m + d1 + d2)`` on both streams.
    """

    def __init__(self, name, kin, kout, last=False, **kwargs):
        super(CrossBlock, self).__init__(name, **kwargs)
        self.last = last
        with self.name_scope():
            self.l1 = zero('l1', kin, kout)
            self.l2 = zero('l2', kin, kout)
            self.d1 = Two('d1', kin, kout)
            self.d2 = Two('d2', kin, kout)

    def hybrid_forward(self, F, x1, x2):
        x1, x2 = arch.merge_and_run(_shortcut(self.l1, F, x1), _shortcut(self.l2, F, x2),
                                    self.d1(x1), self.d2(x2), self.last)
        if self.last:
            out = F.Activation(x1, act_type='relu')
            return out, out
        return F.Activation(x1, act_type='relu'), F.Activation(x2, act_type='relu')


_SUM_BLOCKS = {cls.network: cls for cls in (ResidualBlock, HalfBlock, SideBlock)}


class CifarFuseNet(HybridBlock):
    """A network of the CIFAR/SVHN family (32x32 input).

    Parameters
    ----------
    network : str
        ``plain, resnet, cross, half, side, fuse3, fuse6`` (aliases ``dfn_mr``, ``dfn_il``).
    depth : int
        The original's num_depth: the depth of the corresponding plain network
        (110 builds the 56-layer DFN-MR1).
    widen_factor : int, default 1
        Channel multiplier w: widths 16w, 32w, 64w.
    classes : int, default 10

    Input (N, 3, 32, 32) (any size works: the pooling is global); output (N, classes) logits.
    """

    def __init__(self, network, depth, widen_factor=1, classes=10, **kwargs):
        kwargs.setdefault('prefix', '')
        super(CifarFuseNet, self).__init__(**kwargs)
        network = arch.canonical_name(network)
        if depth is None:
            raise ValueError('depth (the original num_depth) is required for %r, e.g. %s'
                             % (network, arch.even_depths(network)[:4]))
        layout = list(arch.cifar_layout(network, depth, widen_factor))
        arch.check_positive_int(classes, 'classes')
        self.spec = NetworkSpec(network, depth, widen_factor, classes)
        self.two_stream = arch.two_streams(network)
        channels = arch.cifar_channels(widen_factor)
        kind = arch.BLOCK_KIND[network]
        with self.name_scope():
            self.g0 = ConvBN('g0', 3, channels[0], arch.CIFAR_STEM)
            self.blocks = nn.HybridSequential(prefix='')
            with self.blocks.name_scope():
                for name, kin, kout, last in layout:
                    if kind == 'cross':
                        block = CrossBlock(name, kin, kout, last)
                    elif kind == 'fuse':
                        block = FuseBlock(name, kin, kout, arch.block_depth(network, depth))
                    elif kind == 'sum':
                        block = _SUM_BLOCKS[network](name, kin, kout)
                    else:
                        block = PlainBlock(name, kin, kout)
                    self.blocks.add(block)
            # the original pools its 8x8 map with global_pool=True: global average pooling
            self.cls_pool = nn.GlobalAvgPool2D(prefix='cls_pool_')
            self.cls_fc = nn.Dense(classes, in_units=channels[-1], prefix='cls_fc_')

    def hybrid_forward(self, F, x):
        x = self.g0(x)
        if self.two_stream:
            x1 = x2 = x
            for block in self.blocks:
                x1, x2 = block(x1, x2)
            x = x1
        else:
            x = self.blocks(x)
        return self.cls_fc(self.cls_pool(x))

    @property
    def input_shape(self):
        return self.spec.input_shape


# ---------------------------------------------------------------- ImageNet layers
class Bottleneck(HybridBlock):
    """``N_conv1`` 1x1 to kout/4, ``N_conv2`` 3x3 (stride), ``N_conv3`` 1x1 to kout.

    Each convolution is followed by BatchNorm (``N_bn1..3``), the first two by ReLU.
    Input (N, kin, H, W); output (N, kout, H/stride, W/stride).
    """

    def __init__(self, name, kin, kout, stride, **kwargs):
        super(Bottleneck, self).__init__(prefix=name + '_', **kwargs)
        layers = arch.bottleneck_layers(kout, stride)
        with self.name_scope():
            self.body = nn.HybridSequential(prefix='')
            with self.body.name_scope():
                for i, (k, channels, spec) in enumerate(layers):
                    self.body.add(nn.Conv2D(channels, spec.kernel, spec.stride, spec.pad,
                                            use_bias=False, in_channels=kin,
                                            prefix='conv%s_' % k))
                    self.body.add(nn.BatchNorm(momentum=arch.BN_MOMENTUM,
                                               epsilon=arch.BN_EPS, in_channels=channels,
                                               prefix='bn%s_' % k))
                    if i < len(layers) - 1:
                        self.body.add(nn.Activation('relu'))
                    kin = channels

    def hybrid_forward(self, F, x):
        return self.body(x)


class ImageNetResBlock(_Block):
    """ImageNet resnet block: ``relu(bott(N_deep1) + x)``, or ``relu(bott(N_deep1))``
    when the width changes (the first block of a group has no shortcut at all)."""

    def __init__(self, name, kin, kout, stride, **kwargs):
        super(ImageNetResBlock, self).__init__(name, **kwargs)
        self.shortcut = arch.imagenet_merges(kin, kout)
        with self.name_scope():
            self.deep1 = Bottleneck('deep1', kin, kout, stride)

    def hybrid_forward(self, F, x):
        deep = self.deep1(x)
        return F.Activation(deep + x if self.shortcut else deep, act_type='relu')


class ImageNetCrossBlock(_Block):
    """ImageNet DFN-MR block on two streams.

    ``m = 0.5 * (xl + xr)``; ``xl = relu(bott(N_deep1l, xl) + m)``,
    ``xr = relu(bott(N_deep1r, xr) + m)``; the first block of a group (width change)
    maps each stream through its own bottleneck and ReLU, without merging.
    """

    def __init__(self, name, kin, kout, stride, **kwargs):
        super(ImageNetCrossBlock, self).__init__(name, **kwargs)
        self.merge = arch.imagenet_merges(kin, kout)
        with self.name_scope():
            self.deep1l = Bottleneck('deep1l', kin, kout, stride)
            self.deep1r = Bottleneck('deep1r', kin, kout, stride)

    def hybrid_forward(self, F, xl, xr):
        deep_l, deep_r = self.deep1l(xl), self.deep1r(xr)
        if self.merge:
            deep_l, deep_r = arch.imagenet_merge(xl, xr, deep_l, deep_r)
        return F.Activation(deep_l, act_type='relu'), F.Activation(deep_r, act_type='relu')


class ImageNetFuseNet(HybridBlock):
    """An ImageNet network (224x224 input, bottleneck blocks).

    Parameters
    ----------
    network : str
        ``imagenet_cross`` (DFN-MR, 50 layers) or ``imagenet_resnet`` (98 layers).
    classes : int, default 1000
    blocks : tuple of 4 ints, optional
        Blocks in groups g1..g4; the original code's (1, 2, 11, 2) for imagenet_cross and
        (2, 4, 22, 4) for imagenet_resnet by default. The paper's own DFN-MR is
        ``blocks=(2, 2, 8, 2)``.

    Input (N, 3, 224, 224); output (N, classes) logits.
    """

    def __init__(self, network, classes=1000, blocks=None, **kwargs):
        kwargs.setdefault('prefix', '')
        super(ImageNetFuseNet, self).__init__(**kwargs)
        layout = list(arch.imagenet_layout(network, blocks))
        arch.check_positive_int(classes, 'classes')
        self.spec = NetworkSpec(network, classes=classes,
                                blocks=arch.imagenet_blocks(network, blocks))
        self.two_stream = arch.two_streams(network)
        block_cls = ImageNetCrossBlock if self.two_stream else ImageNetResBlock
        stem, stem_pool, head = arch.IMAGENET_STEM, arch.IMAGENET_STEM_POOL, \
            arch.IMAGENET_HEAD_POOL
        with self.name_scope():
            self.g0 = nn.Conv2D(arch.IMAGENET_STEM_CHANNELS, stem.kernel, stem.stride,
                                stem.pad, use_bias=False, in_channels=3, prefix='g0_')
            self.g0_pool = nn.MaxPool2D(stem_pool.kernel, stem_pool.stride, stem_pool.pad,
                                        prefix='g0_pool_')
            self.blocks = nn.HybridSequential(prefix='')
            with self.blocks.name_scope():
                for name, kin, kout, stride in layout:
                    self.blocks.add(block_cls(name, kin, kout, stride))
            width = arch.IMAGENET_GROUP_CHANNELS[-1] * (2 if self.two_stream else 1)
            self.global_pool = nn.AvgPool2D(head.kernel, head.stride, head.pad,
                                            prefix='global_pool_')
            self.fc_score = nn.Dense(classes, in_units=width, prefix='fc_score_')

    def hybrid_forward(self, F, x):
        x = self.g0_pool(self.g0(x))
        if self.two_stream:
            xl = xr = x
            for block in self.blocks:
                xl, xr = block(xl, xr)
            x = F.concat(xl, xr, dim=1)
        else:
            x = self.blocks(x)
        return self.fc_score(self.global_pool(x))

    @property
    def input_shape(self):
        return self.spec.input_shape


# ---------------------------------------------------------------- the weight-shared ensemble
class EnsembleNet(HybridBlock):
    """The original's weight-shared ensemble (``network/ensemble.py``): the 2^3 component
    networks of the three-fusion net N_f3, each a chain of the left (L, one 3x3 layer) or
    right (R, the group's layers) path of every group, with its own head.

    Parameters
    ----------
    depth : int
        The original's net_depth (also spelled ``net_depth``/``num_depth``), >= 5.
    widen_factor : int, default 1
    classes : int, default 10
    components : sequence of str, optional
        Which components (``'LLL'``, ``'RLL'``, ... ``'RRR'``); default all eight.
    share_weights : bool, default True
        As the original: every layer takes its weight, gamma and beta from the parameters
        shared by all components (``g0_weight``, ``g1_left_bn_gamma``,
        ``g2_b1_right2_weight``, ``fc_weight``, ...). False gives each component its own,
        named ``uncoupleNN_`` + the shared name (``uncouple08_g1_b1_right2_weight``).

    Each component keeps its own BatchNorm statistics (``uncouple01g0_conv_bn_running_mean``).
    Input (N, 3, 32, 32); output (components, N, classes): each component's logits, in the
    original's order.
    """

    def __init__(self, depth, widen_factor=1, classes=10, components=None, share_weights=True,
                 **kwargs):
        kwargs.setdefault('prefix', '')
        super(EnsembleNet, self).__init__(**kwargs)
        self.spec = NetworkSpec(arch.ENSEMBLE, depth, widen_factor, classes,
                                components=components, share_weights=share_weights)
        self.layout = list(arch.ensemble_layout(depth, widen_factor, self.spec.components))
        self._own = {n: '' if share_weights else 'uncouple%02d_' % n for n, _, _ in self.layout}
        width = arch.cifar_channels(widen_factor)[-1]
        with self.name_scope():
            for number, _, layers in self.layout:
                own = self._own[number]
                for name, weights, kin, kout, conv, _ in layers:
                    if conv is None:
                        continue
                    self._param(own + weights + '_weight', (kout, kin, conv.kernel, conv.kernel))
                    self._param(own + weights + '_bn_gamma', (kout,), 'ones')
                    self._param(own + weights + '_bn_beta', (kout,), 'zeros')
                    self._param(name + '_bn_running_mean', (kout,), 'zeros', False)
                    self._param(name + '_bn_running_var', (kout,), 'ones', False)
                self._param(own + 'fc_weight', (classes, width))
                self._param(own + 'fc_bias', (classes,), 'zeros')

    def _param(self, name, shape, init=None, learned=True):
        if name not in self._reg_params:  # shared weights are registered once
            setattr(self, name, self.params.get(
                name, shape=shape, init=init, grad_req='write' if learned else 'null',
                differentiable=learned))

    def hybrid_forward(self, F, x, **p):
        outputs = []
        for number, _, layers in self.layout:
            own, y = self._own[number], x
            for name, weights, _, kout, conv, relu in layers:
                if conv is None:
                    y = F.Activation(y, act_type='relu')
                    continue
                y = F.Convolution(y, p[own + weights + '_weight'], num_filter=kout,
                                  kernel=(conv.kernel,) * 2, stride=(conv.stride,) * 2,
                                  pad=(conv.pad,) * 2, no_bias=True)
                y = F.BatchNorm(y, p[own + weights + '_bn_gamma'], p[own + weights + '_bn_beta'],
                                p[name + '_bn_running_mean'], p[name + '_bn_running_var'],
                                fix_gamma=False, momentum=arch.ENSEMBLE_BN_MOMENTUM,
                                eps=arch.BN_EPS)
                if relu:
                    y = F.Activation(y, act_type='relu')
            pool = arch.ENSEMBLE_HEAD_POOL
            y = F.Pooling(y, kernel=(pool.kernel,) * 2, stride=(pool.stride,) * 2,
                          pool_type=pool.pool_type)
            outputs.append(F.FullyConnected(F.Flatten(y), p[own + 'fc_weight'],
                                            p[own + 'fc_bias'], num_hidden=self.spec.classes))
        return F.stack(*outputs, axis=0)

    @property
    def input_shape(self):
        return self.spec.input_shape


# ---------------------------------------------------------------- the registry
def _depth(depth, num_depth):
    """``depth`` and the original's spelling ``num_depth`` are one argument."""
    if num_depth is not None and depth is not None and num_depth != depth:
        raise ValueError('depth=%r and num_depth=%r disagree; give one of them'
                         % (depth, num_depth))
    return depth if depth is not None else num_depth


def _cifar(network):
    def make(depth=None, widen_factor=1, classes=10, num_depth=None, **kwargs):
        return CifarFuseNet(network, _depth(depth, num_depth), widen_factor, classes, **kwargs)
    make.__name__ = network
    make.__doc__ = 'The %r network of the CIFAR/SVHN family; see CifarFuseNet.' % network
    return make


def _paper_variant(name):
    network, fixed_depth, fixed_width = arch.PAPER_VARIANTS[name]

    def make(classes=10, depth=None, widen_factor=None, num_depth=None, **kwargs):
        depth = _depth(depth, num_depth)
        if depth not in (None, fixed_depth) or widen_factor not in (None, fixed_width):
            raise ValueError('%s is %s at num_depth %d, widen_factor %d; for other sizes use '
                             'get_model(%r, depth=..., widen_factor=...)'
                             % (name, network, fixed_depth, fixed_width, network))
        return CifarFuseNet(network, fixed_depth, fixed_width, classes, **kwargs)
    make.__name__ = name
    make.__doc__ = 'The paper\'s %s: %r at num_depth %d, widen_factor %d.' % (
        name.upper().replace('_', '-'), network, fixed_depth, fixed_width)
    return make


def _imagenet(network):
    def make(classes=1000, blocks=None, **kwargs):
        return ImageNetFuseNet(network, classes, blocks, **kwargs)
    make.__name__ = network
    make.__doc__ = 'The %r network; see ImageNetFuseNet.' % network
    return make


_MODELS = {name: _cifar(name) for name in arch.CIFAR_NETWORKS}
_MODELS.update({alias: _MODELS[target] for alias, target in arch.ALIASES.items()})
_MODELS.update({name: _paper_variant(name) for name in arch.PAPER_VARIANTS})
_MODELS.update({name: _imagenet(name) for name in arch.IMAGENET_NETWORKS})


def _ensemble(depth=None, widen_factor=1, classes=10, components=None, share_weights=True,
              num_depth=None, net_depth=None, **kwargs):
    return EnsembleNet(_depth(_depth(depth, num_depth), net_depth), widen_factor, classes,
                       components, share_weights, **kwargs)


_ensemble.__doc__ = 'The original\'s weight-shared ensemble; see EnsembleNet.'
_MODELS[arch.ENSEMBLE] = _ensemble


def _dla(name):
    def make(classes=1000, pool_size=7, **kwargs):
        from .dla import get_dla
        return get_dla(name, classes, pool_size, **kwargs)
    make.__name__ = name
    make.__doc__ = 'Deep Layer Aggregation %s, as the authors build it; see fusenet_gluon.dla.' \
        % name
    return make


_MODELS.update({name: _dla(name) for name in arch.DLA_NETWORKS})


def list_models():
    """Names accepted by :func:`get_model`, aliases and the paper's named models included."""
    return sorted(_MODELS)


def get_model(name, **kwargs):
    """Build a network by name.

    Deep Layer Aggregation (``dla34``, ``dla46_c``, ... ``dla169``): kwargs ``classes``
    (1000), ``pool_size`` (7 for 224x224 inputs; input side // 32 in general).

    CIFAR family (``plain, resnet, cross, half, side, fuse3, fuse6``; aliases ``dfn_mr`` =
    cross, ``dfn_il`` = half): kwargs ``depth`` (the original's num_depth, required; also
    spelled ``num_depth``), ``widen_factor`` (1), ``classes`` (10). The paper's named
    models ``dfn_mr1`` (cross, 110), ``dfn_mr2`` (cross, 62, w 4) and ``dfn_mr3`` (cross,
    98, w 4) take ``classes`` only. ImageNet (``imagenet_cross``, ``imagenet_resnet``):
    kwargs ``classes`` (1000), ``blocks``.

    >>> net = get_model('cross', depth=110)        # DFN-MR1, 1.7M parameters
    >>> net = get_model('dfn_mr2', classes=100)     # 14.9M parameters
    >>> net = get_model('imagenet_cross', blocks=(2, 2, 8, 2))
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in _MODELS:
        raise ValueError('unknown model %r; choose from %s' % (name, ', '.join(list_models())))
    return _MODELS[key](**kwargs)


def from_spec(spec):
    """The network a :class:`~fusenet_gluon.spec.NetworkSpec` describes."""
    return get_model(spec.network, **spec.model_kwargs())
