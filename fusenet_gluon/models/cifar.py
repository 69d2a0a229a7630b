"""The CIFAR/SVHN deep-fusion nets (32x32 input) as Gluon blocks: plain, resnet, cross
(DFN-MR), half (DFN-IL), side, fuse3 and fuse6 (N_f3/N_f6), and the paper's named models.

Every parameter has the original's name (``g1_b1_d1_two1_conv_weight``, ``cls_fc_bias``,
...), except BatchNorm's running statistics, which Gluon calls ``..._running_mean`` /
``..._running_var`` where the original has ``..._moving_mean`` / ``..._moving_var``.
Every layer declares its input channels, so parameter shapes are known before the first
forward. The networks return logits; the softmax lives in the loss.

The block counts, widths, names and wiring rules (strides, shortcuts, the merge, the
last-block rule, stem and head) come from :mod:`fusenet_gluon.arch`, shared with the
symbol graphs of :mod:`fusenet_gluon.symbols`; only the construction API differs. The
family's facts are its entry, :data:`fusenet_gluon.families.CIFAR`.
"""
from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock

from .. import arch
from ..families import CIFAR
from .common import (BatchNorm, GlobalAvgPool2D, NamedBlock, TrainingGraphNet, graph_edge,
                     merge_weigher, one_depth)

__all__ = ['ConvBN', 'PlainBlock', 'SumBlock', 'ResidualBlock', 'HalfBlock', 'SideBlock',
           'FuseBlock', 'CrossBlock', 'CifarFuseNet']


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
            self.bn = BatchNorm(relu=relu, momentum=arch.BN_MOMENTUM, epsilon=arch.BN_EPS,
                                in_channels=kout, prefix='bn_')

    def hybrid_forward(self, F, x):
        x = self.bn(self.conv(x))
        if self.relu and not self.bn.takes_relu():  # else the BatchNorm's op applied it
            x = F.Activation(x, act_type='relu')
        return x


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


def _shortcut(layer, F, x):
    return x if layer is None else layer(x)


class PlainBlock(NamedBlock):
    """plain: one layer ``N_p1`` with ReLU."""

    def __init__(self, name, kin, kout, **kwargs):
        super(PlainBlock, self).__init__(name, **kwargs)
        with self.name_scope():
            self.p1 = one(arch.PLAIN_PATH, kin, kout, relu=True)

    def hybrid_forward(self, F, x):
        return self.p1(x)


class SumBlock(NamedBlock):
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


class FuseBlock(NamedBlock):
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


class CrossBlock(NamedBlock):
    """cross (DFN-MR, merge-and-run) on two streams.

    ``m = 0.5 * (zero(N_l1, x1) + zero(N_l2, x2))``; ``x1 = relu(m + two(N_d1, x1))``,
    ``x2 = relu(m + two(N_d2, x2))``; the very last block of g3 (`last`) gives
    ``relu(m + d1 + d2)`` on both streams.
    """

    def __init__(self, name, kin, kout, last=False, **kwargs):
        super(CrossBlock, self).__init__(name, **kwargs)
        self.last = last
        self.channels = kout
        with self.name_scope():
            self.l1 = zero('l1', kin, kout)
            self.l2 = zero('l2', kin, kout)
            self.d1 = Two('d1', kin, kout)
            self.d2 = Two('d2', kin, kout)

    def hybrid_forward(self, F, x1, x2):
        weigh = merge_weigher(F, self.channels, self.d1)
        x1, x2 = arch.merge_and_run(_shortcut(self.l1, F, x1), _shortcut(self.l2, F, x2),
                                    self.d1(x1), self.d2(x2), self.last, weigh)
        if self.last:
            out = F.Activation(x1, act_type='relu')
            return out, out
        return F.Activation(x1, act_type='relu'), F.Activation(x2, act_type='relu')


_SUM_BLOCKS = {cls.network: cls for cls in (ResidualBlock, HalfBlock, SideBlock)}


class CifarFuseNet(TrainingGraphNet, HybridBlock):
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
    classes : int, default 10 (the family's)

    Input (N, 3, 32, 32) (any size works: the pooling is global); output (N, classes) logits.
    """

    def __init__(self, network, depth, widen_factor=1, classes=None, **kwargs):
        kwargs.setdefault('prefix', '')
        super(CifarFuseNet, self).__init__(**kwargs)
        network = arch.canonical_name(network)
        if depth is None:
            raise ValueError('depth (the original num_depth) is required for %r, e.g. %s'
                             % (network, arch.even_depths(network)[:4]))
        layout = list(arch.cifar_layout(network, depth, widen_factor))
        classes = CIFAR.classes if classes is None else classes
        arch.check_positive_int(classes, 'classes')
        self.spec_fields = dict(network=network, depth=depth, widen_factor=widen_factor,
                                classes=classes)
        self.spec = None   # the zoo's NetworkSpec, set by get_model / from_spec
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
            self.cls_pool = GlobalAvgPool2D(prefix='cls_pool_')
            self.cls_fc = nn.Dense(classes, in_units=channels[-1], prefix='cls_fc_')

    def hybrid_forward(self, F, x):
        x = self.g0(graph_edge(F, x))
        if self.two_stream:
            x1 = x2 = x
            for block in self.blocks:
                x1, x2 = block(x1, x2)
            x = x1
        else:
            x = self.blocks(x)
        return graph_edge(F, self.cls_fc(self.cls_pool(x)))

    @property
    def input_shape(self):
        return CIFAR.input_shape()


# ---------------------------------------------------------------- the family's registration
def _network(name, depth=None, widen_factor=1, classes=None, num_depth=None, **kwargs):
    return CifarFuseNet(CIFAR.canonical(name), one_depth(depth, num_depth), widen_factor,
                        classes, **kwargs)


def _variant(name, classes=None, depth=None, widen_factor=None, num_depth=None, **kwargs):
    fixed = CIFAR.variant_fields(name, dict(depth=one_depth(depth, num_depth),
                                            widen_factor=widen_factor),
                                 'for other sizes use get_model(%r, depth=..., '
                                 'widen_factor=...)')
    return CifarFuseNet(fixed['network'], fixed['depth'], fixed['widen_factor'], classes,
                        **kwargs)


def build(name, **kwargs):
    """``get_model`` for this family: kwargs ``depth`` (also ``num_depth``, required),
    ``widen_factor`` (1), ``classes`` (10); a named model (``dfn_mr1``) takes ``classes``
    only."""
    return (_variant if name in CIFAR.variants else _network)(name, **kwargs)


def check(spec):
    """The fields of a valid CIFAR-family spec; ``ValueError`` for what builds nothing."""
    if spec.blocks is not None:
        raise ValueError('blocks are for the ImageNet networks; %r takes a depth'
                         % spec.network)
    if spec.depth is None:
        raise ValueError('%r needs a depth (the original num_depth), e.g. %s' % (
            spec.network, ', '.join(map(str, arch.even_depths(spec.network)[:4]))))
    arch.num_blocks(spec.network, spec.depth)  # a clear error for a bad depth
    return {}


CIFAR.register(build=build, check=check, built_depth=arch.built_depth)
