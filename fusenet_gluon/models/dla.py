"""Deep Layer Aggregation (Yu, Wang, Shelhamer, Darrell, arXiv 1707.06484) as Gluon blocks,
built as the authors' ``dla.py`` (ucbdrive/dla) builds them (docs/reference.md, section 6).

Parameter names follow the authors' ``state_dict`` keys with '.' read as '_':
``level2.tree1.conv1.weight`` is ``level2_tree1_conv1_weight``, and BatchNorm's ``weight``
and ``bias`` are Gluon's ``gamma`` and ``beta`` (``level2_tree1_bn1_gamma``); running
statistics keep their names. BatchNorm has PyTorch's defaults, eps 1e-5 and momentum 0.1
(MXNet's 0.9).

A :class:`Tree` of more than one level computes a ``project`` of its input and passes it to
its first child, a Tree, which ignores it (ucbdrive/dla issue 21): those layers are kept
(the authors' checkpoints hold them, the parameter counts include them) but never used,
so their parameters take no gradient (``grad_req='null'``).

The variants' names and configurations are the family's entry,
:data:`fusenet_gluon.families.DLA`.
"""
import math

from mxnet import init as mx_init
from mxnet import random as mx_random
from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock

from ..families import DLA as DLA_FAMILY
from .common import AvgPool2D, TrainingGraphNet, graph_edge

__all__ = ['DLA', 'Tree', 'Root', 'BasicBlock', 'Bottleneck', 'BottleneckX', 'DLA_VARIANTS',
           'DLAInit', 'dla_init', 'get_dla']

BN_EPS = 1e-5
BN_MOMENTUM = 0.9   # PyTorch's momentum 0.1: running = 0.9 running + 0.1 batch


def _bn(prefix, channels):
    return nn.BatchNorm(momentum=BN_MOMENTUM, epsilon=BN_EPS, in_channels=channels,
                        prefix=prefix)


def _conv(prefix, cin, cout, kernel, stride=1, pad=0, groups=1, bias=False):
    return nn.Conv2D(cout, kernel, stride, pad, groups=groups, use_bias=bias, in_channels=cin,
                     prefix=prefix)


class BasicBlock(HybridBlock):
    """``relu(bn2(conv2(relu(bn1(conv1(x))))) + residual)``; conv1 3x3 carries the stride."""

    def __init__(self, cin, cout, stride=1, **kwargs):
        super(BasicBlock, self).__init__(**kwargs)
        with self.name_scope():
            self.conv1 = _conv('conv1_', cin, cout, 3, stride, 1)
            self.bn1 = _bn('bn1_', cout)
            self.conv2 = _conv('conv2_', cout, cout, 3, 1, 1)
            self.bn2 = _bn('bn2_', cout)

    def hybrid_forward(self, F, x, residual):
        out = F.Activation(self.bn1(self.conv1(x)), act_type='relu')
        return F.Activation(self.bn2(self.conv2(out)) + residual, act_type='relu')


class Bottleneck(HybridBlock):
    """1x1 to the bottleneck width, 3x3 (stride, `groups`), 1x1 to `cout`, each with
    BatchNorm, ReLU after the first two; plus the residual, ReLU. Width ``cout // 2``."""

    def __init__(self, cin, cout, stride=1, width=None, groups=1, **kwargs):
        super(Bottleneck, self).__init__(**kwargs)
        width = cout // 2 if width is None else width
        with self.name_scope():
            self.conv1 = _conv('conv1_', cin, width, 1)
            self.bn1 = _bn('bn1_', width)
            self.conv2 = _conv('conv2_', width, width, 3, stride, 1, groups)
            self.bn2 = _bn('bn2_', width)
            self.conv3 = _conv('conv3_', width, cout, 1)
            self.bn3 = _bn('bn3_', cout)

    def hybrid_forward(self, F, x, residual):
        out = F.Activation(self.bn1(self.conv1(x)), act_type='relu')
        out = F.Activation(self.bn2(self.conv2(out)), act_type='relu')
        return F.Activation(self.bn3(self.conv3(out)) + residual, act_type='relu')


class BottleneckX(Bottleneck):
    """The ResNeXt bottleneck: width ``cout * cardinality // 32``, the 3x3 convolution in
    `cardinality` groups (32; 64 for dla102x2)."""

    def __init__(self, cin, cout, stride=1, cardinality=32, **kwargs):
        super(BottleneckX, self).__init__(cin, cout, stride, cout * cardinality // 32,
                                          cardinality, **kwargs)


class Root(HybridBlock):
    """``relu(bn(conv1x1(concat(children))) [+ children[0]])``: the aggregation node."""

    def __init__(self, cin, cout, residual, **kwargs):
        super(Root, self).__init__(**kwargs)
        self.residual = residual
        with self.name_scope():
            self.conv = _conv('conv_', cin, cout, 1)
            self.bn = _bn('bn_', cout)

    def hybrid_forward(self, F, *children):
        x = self.bn(self.conv(F.concat(*children, dim=1)))
        return F.Activation(x + children[0] if self.residual else x, act_type='relu')


class Tree(HybridBlock):
    """A hierarchical aggregation tree of `levels` levels (the authors' ``Tree``).

    Input (N, cin, H, W) and the children passed down; output (N, cout, H/stride, W/stride).
    ``root_dim`` is ``2 cout`` (plus ``cin`` for a level root) unless given.
    """

    def __init__(self, levels, block, cin, cout, stride=1, level_root=False, root_dim=0,
                 root_residual=False, **kwargs):
        super(Tree, self).__init__(**kwargs)
        root_dim = (root_dim or 2 * cout) + (cin if level_root else 0)
        self.levels, self.level_root = levels, level_root
        with self.name_scope():
            if levels == 1:
                self.tree1 = block(cin, cout, stride, prefix='tree1_')
                self.tree2 = block(cout, cout, 1, prefix='tree2_')
                self.root = Root(root_dim, cout, root_residual, prefix='root_')
            else:
                self.tree1 = Tree(levels - 1, block, cin, cout, stride, root_dim=0,
                                  root_residual=root_residual, prefix='tree1_')
                self.tree2 = Tree(levels - 1, block, cout, cout, root_dim=root_dim + cout,
                                  root_residual=root_residual, prefix='tree2_')
            self.downsample = nn.MaxPool2D(stride, stride) if stride > 1 else None
            self.project = None
            if cin != cout:
                self.project = nn.HybridSequential(prefix='project_')
                with self.project.name_scope():
                    self.project.add(_conv('0_', cin, cout, 1), _bn('1_', cout))
                if levels > 1:  # computed by the authors' code and never used
                    self.project.collect_params().setattr('grad_req', 'null')

    def hybrid_forward(self, F, x, *children):
        children = list(children)
        bottom = self.downsample(x) if self.downsample is not None else x
        if self.level_root:
            children.append(bottom)
        if self.levels == 1:
            residual = self.project(bottom) if self.project is not None else bottom
            x1 = self.tree1(x, residual)
            x2 = self.tree2(x1, x1)
            return self.root(x2, x1, *children)
        x1 = self.tree1(x)
        return self.tree2(x1, *(children + [x1]))


def _conv_level(prefix, cin, cout, convs, stride=1):
    """``levels[i]`` 3x3 conv + BN + ReLU layers, the first with the stride."""
    level = nn.HybridSequential(prefix=prefix)
    with level.name_scope():
        for i in range(convs):
            level.add(_conv('%d_' % (3 * i), cin, cout, 3, stride if i == 0 else 1, 1),
                      _bn('%d_' % (3 * i + 1), cout), nn.Activation('relu'))
            cin = cout
    return level


class DLA(TrainingGraphNet, HybridBlock):
    """A DLA classifier.

    Parameters
    ----------
    levels, channels : 6 ints each
        Layers of level0/level1 and tree levels of level2..level5; their widths.
    block : BasicBlock, Bottleneck or BottleneckX
    residual_root : bool
    classes : int, default 1000
    pool_size : int, default 7
        The head's average pooling, input side // 32 (7 for 224, 1 for 32x32 inputs).
    cardinality : int, default 32 (BottleneckX only)

    Input (N, 3, 32 p, 32 p) for pool size p; output (N, classes) logits.
    """

    def __init__(self, levels, channels, block, residual_root=False,
                 classes=DLA_FAMILY.classes, pool_size=DLA_FAMILY.pool_size, cardinality=32,
                 **kwargs):
        kwargs.setdefault('prefix', '')
        super(DLA, self).__init__(**kwargs)
        if block is BottleneckX:
            make = lambda cin, cout, stride, prefix: BottleneckX(  # noqa: E731
                cin, cout, stride, cardinality, prefix=prefix)
        else:
            make = block
        self.pool_size = pool_size
        self.spec = None   # the zoo's NetworkSpec of a named variant (get_model, from_spec)
        c = channels
        with self.name_scope():
            self.base_layer = nn.HybridSequential(prefix='base_layer_')
            with self.base_layer.name_scope():
                self.base_layer.add(_conv('0_', 3, c[0], 7, 1, 3), _bn('1_', c[0]),
                                    nn.Activation('relu'))
            self.level0 = _conv_level('level0_', c[0], c[0], levels[0])
            self.level1 = _conv_level('level1_', c[0], c[1], levels[1], 2)
            self.level2 = Tree(levels[2], make, c[1], c[2], 2, level_root=False,
                               root_residual=residual_root, prefix='level2_')
            self.level3 = Tree(levels[3], make, c[2], c[3], 2, level_root=True,
                               root_residual=residual_root, prefix='level3_')
            self.level4 = Tree(levels[4], make, c[3], c[4], 2, level_root=True,
                               root_residual=residual_root, prefix='level4_')
            self.level5 = Tree(levels[5], make, c[4], c[5], 2, level_root=True,
                               root_residual=residual_root, prefix='level5_')
            self.avgpool = AvgPool2D(pool_size, pool_size)
            self.fc = _conv('fc_', c[5], classes, 1, bias=True)

    def hybrid_forward(self, F, x):
        x = self.level1(self.level0(self.base_layer(graph_edge(F, x))))
        x = self.level5(self.level4(self.level3(self.level2(x))))
        return graph_edge(F, F.Flatten(self.fc(self.avgpool(x))))

    @property
    def input_shape(self):
        return DLA_FAMILY.input_shape(self.pool_size)


#: The blocks a variant's ``block`` names (families.DLA.configs).
BLOCKS = {'basic': BasicBlock, 'bottleneck': Bottleneck, 'bottleneckx': BottleneckX}

#: The authors' variants, from the family's entry: (levels, channels, block,
#: residual_root, cardinality).
DLA_VARIANTS = {name: (c['levels'], c['channels'], BLOCKS[c['block']], c['residual_root'],
                       c['cardinality']) for name, c in DLA_FAMILY.configs.items()}


def get_dla(name, classes=None, pool_size=None, **kwargs):
    """The DLA variant `name` (one of DLA_VARIANTS), as the authors build it; `classes` and
    `pool_size` default to the family's (1000, 7)."""
    levels, channels, block, residual_root, cardinality = DLA_VARIANTS[name]
    classes = DLA_FAMILY.classes if classes is None else classes
    pool_size = DLA_FAMILY.pool_size if pool_size is None else pool_size
    net = DLA(levels, channels, block, residual_root, classes, pool_size, cardinality,
              **kwargs)
    net.spec_fields = dict(network=name, classes=classes, pool_size=pool_size)
    return net


@mx_init.register
class DLAInit(mx_init.Initializer):
    """The authors' initialisation: every convolution weight, the classifier's included,
    normal(0, sqrt(2 / (k * k * out_channels))); BatchNorm 1 and 0; the classifier's bias
    0 (PyTorch leaves it at its default, uniform(-1/sqrt(fan_in), ..); the recipe's
    training starts from zero here)."""

    def _init_weight(self, name, arr):
        out_channels, k = arr.shape[0], arr.shape[2] * arr.shape[3]
        mx_random.normal(0, math.sqrt(2.0 / (k * out_channels)), out=arr)


def dla_init():
    return DLAInit()


# ---------------------------------------------------------------- the family's registration
def check(spec):
    """A DLA spec takes no depth or blocks: each variant is fixed."""
    if spec.depth is not None or spec.blocks is not None:
        raise ValueError('%s takes no depth or blocks: each DLA variant is fixed '
                         '(choose another of %s)' % (spec.network,
                                                     ', '.join(DLA_FAMILY.networks)))
    return {}


DLA_FAMILY.register(build=get_dla, check=check)
