"""The ImageNet deep-fusion nets (224x224 input, bottleneck blocks) as Gluon blocks:
``imagenet_cross`` (DFN-MR) and ``imagenet_resnet``, named as the original's
``symbol_cross.py`` and ``symbol_resnet.py`` name them.

The blocks per group, widths, names and wiring rules come from :mod:`fusenet_gluon.arch`,
shared with the symbol graphs; the family's facts are its entry,
:data:`fusenet_gluon.families.IMAGENET`.
"""
from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock

from .. import arch
from ..families import IMAGENET
from .common import AvgPool2D, NamedBlock, TrainingGraphNet, graph_edge, merge_weigher

__all__ = ['Bottleneck', 'ImageNetResBlock', 'ImageNetCrossBlock', 'ImageNetFuseNet']


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


class ImageNetResBlock(NamedBlock):
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


class ImageNetCrossBlock(NamedBlock):
    """ImageNet DFN-MR block on two streams.

    ``m = 0.5 * (xl + xr)``; ``xl = relu(bott(N_deep1l, xl) + m)``,
    ``xr = relu(bott(N_deep1r, xr) + m)``; the first block of a group (width change)
    maps each stream through its own bottleneck and ReLU, without merging.
    """

    def __init__(self, name, kin, kout, stride, **kwargs):
        super(ImageNetCrossBlock, self).__init__(name, **kwargs)
        self.merge = arch.imagenet_merges(kin, kout)
        self.channels = kout
        with self.name_scope():
            self.deep1l = Bottleneck('deep1l', kin, kout, stride)
            self.deep1r = Bottleneck('deep1r', kin, kout, stride)

    def hybrid_forward(self, F, xl, xr):
        deep_l, deep_r = self.deep1l(xl), self.deep1r(xr)
        if self.merge:
            weigh = merge_weigher(F, self.channels, self.deep1l)
            deep_l, deep_r = arch.imagenet_merge(xl, xr, deep_l, deep_r, weigh)
        return F.Activation(deep_l, act_type='relu'), F.Activation(deep_r, act_type='relu')


class ImageNetFuseNet(TrainingGraphNet, HybridBlock):
    """An ImageNet network (224x224 input, bottleneck blocks).

    Parameters
    ----------
    network : str
        ``imagenet_cross`` (DFN-MR, 50 layers) or ``imagenet_resnet`` (98 layers).
    classes : int, default 1000 (the family's)
    blocks : tuple of 4 ints, optional
        Blocks in groups g1..g4; the original code's (1, 2, 11, 2) for imagenet_cross and
        (2, 4, 22, 4) for imagenet_resnet by default. The paper's own DFN-MR is
        ``blocks=(2, 2, 8, 2)``.

    Input (N, 3, 224, 224); output (N, classes) logits.
    """

    def __init__(self, network, classes=None, blocks=None, **kwargs):
        kwargs.setdefault('prefix', '')
        super(ImageNetFuseNet, self).__init__(**kwargs)
        layout = list(arch.imagenet_layout(network, blocks))
        classes = IMAGENET.classes if classes is None else classes
        arch.check_positive_int(classes, 'classes')
        self.spec_fields = dict(network=network, classes=classes,
                                blocks=arch.imagenet_blocks(network, blocks))
        self.spec = None   # the zoo's NetworkSpec, set by get_model / from_spec
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
            self.global_pool = AvgPool2D(head.kernel, head.stride, head.pad, prefix='global_pool_')
            self.fc_score = nn.Dense(classes, in_units=width, prefix='fc_score_')

    def hybrid_forward(self, F, x):
        x = self.g0_pool(self.g0(graph_edge(F, x)))
        if self.two_stream:
            xl = xr = x
            for block in self.blocks:
                xl, xr = block(xl, xr)
            x = F.concat(xl, xr, dim=1)
        else:
            x = self.blocks(x)
        return graph_edge(F, self.fc_score(self.global_pool(x)))

    @property
    def input_shape(self):
        return IMAGENET.input_shape()


# ---------------------------------------------------------------- the family's registration
def build(name, classes=None, blocks=None, **kwargs):
    """``get_model`` for this family: kwargs ``classes`` (1000), ``blocks``."""
    return ImageNetFuseNet(name, classes, blocks, **kwargs)


def check(spec):
    """The fields of a valid ImageNet spec: its blocks (the original's by default); a depth
    means nothing here and is dropped."""
    return dict(blocks=arch.imagenet_blocks(spec.network, spec.blocks), depth=None)


IMAGENET.register(build=build, check=check)
