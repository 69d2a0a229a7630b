"""The model families of the zoo, one entry each: what every tool asks about a network.

A :class:`Family` holds a family's facts as data: its network names, aliases and named
variants, default classes, input size and pooling, which :class:`~fusenet_gluon.spec.
NetworkSpec` fields it takes, how its runs are tagged, the initializer, optimizer and data
recipe it trains with, and what its checkpoints carry. The zoo, the spec, the recipe, the
checkpoint and export tools ask the entry (:func:`find`), never the name.

This module is the leaf of the package: it imports nothing else of it. The model module of
a family (:mod:`fusenet_gluon.models`) registers the code the facts cannot say: how to build
a network (``build``) and how to check a spec (``check``); :mod:`fusenet_gluon.symbols`
registers the original's graph (``logits``, ``graph``) where the authors' code has one.

Adding a family
---------------
1. Write its entry below (a :class:`Family`) and add it to :data:`FAMILIES`.
2. Write its model module, ``fusenet_gluon/models/NAME.py``, which builds the networks and
   calls ``ENTRY.register(build=..., check=...)`` (see :meth:`Family.register`), and import
   it in ``fusenet_gluon/models/__init__.py``.
3. If the authors' code has an MXNet graph: build it in ``symbols/graphs.py`` and register
   it there (``logits=``, ``graph=``); else give the entry ``checkpoint_graph='gluon'``.
Nothing else changes: ``get_model``, ``list_models``, ``NetworkSpec``, the training
scripts' ``--network``, convert, export and show_model all read the entry.
"""
import dataclasses
from typing import Callable, Dict, Mapping, Optional, Tuple

__all__ = ['Family', 'FAMILIES', 'CIFAR', 'IMAGENET', 'ENSEMBLE', 'DLA', 'find', 'of',
           'canonical', 'model_names']


@dataclasses.dataclass(frozen=True, eq=False)
class Family(object):
    """One model family.

    Parameters
    ----------
    name : str
        The family's name (``'cifar'``, ``'imagenet'``, ``'ensemble'``, ``'dla'``).
    title : str
        How messages name it (``'the ensemble'``).
    networks : tuple of str
        Its networks' names, as the original's modules call them.
    classes : int
        Default number of classes.
    input_size : int
        Side of the square input the networks were designed for (at the default pooling;
        :meth:`input_shape`).
    options : tuple of str
        The NetworkSpec fields beyond ``network`` and ``classes`` it takes, in the order of
        the model's keyword arguments.
    datasets : tuple of str
        The training command lines that offer it: ``'cifar'`` (train_cifar.py, 32x32 data
        sets), ``'imagenet'`` (train_imagenet.py).
    tag : callable
        ``tag(spec)``: the short file-name tag of a run (:attr:`NetworkSpec.tag`).
    aliases : mapping
        Other spellings of its networks (``dfn_mr`` is ``cross``).
    variants : mapping
        Named models that fix some fields: name -> fields (``dfn_mr1`` is cross at num_depth
        110, width 1). :meth:`variant_fields` is the one rule for asking one of them.
    network_defaults : mapping
        Per network, the default of a field (ImageNet: the blocks the original ships).
    configs : mapping
        Per network, the arguments its model module builds it from (DLA's variants).
    pool_size : int, optional
        The head's average pooling when it is an option (DLA: 7, for 224x224); the input
        side is then ``input_size * pool_size // self.pool_size``.
    top5 : bool
        Whether training reports top-5 accuracy beside top-1.
    outputs : str
        ``'logits'``, (N, classes), or ``'components'``, (components, N, classes).
    initializer, optimizer : str
        The recipe: an ``mx.init`` registry name and a Gluon optimizer name.
    data_recipe : str
        ``'original'`` (the original's data sets as they are) or ``'dla'`` (the DLA authors'
        ImageNet statistics and augmentation, ``data.presets.dla_preset``).
    checkpoint_graph : str
        ``'original'``: the authors' MXNet graph and names (BatchNorm statistics
        ``..._moving_mean``); ``'gluon'``: the authors' code is not MXNet, so checkpoints
        carry the Gluon network's own graph and names (``..._running_mean``), and may hold
        parameters that graph never uses.
    """
    name: str
    title: str
    networks: Tuple[str, ...]
    classes: int
    input_size: int
    options: Tuple[str, ...]
    datasets: Tuple[str, ...]
    tag: Callable
    aliases: Mapping[str, str] = dataclasses.field(default_factory=dict)
    variants: Mapping[str, Mapping] = dataclasses.field(default_factory=dict)
    network_defaults: Mapping[str, Mapping] = dataclasses.field(default_factory=dict)
    configs: Mapping[str, Mapping] = dataclasses.field(default_factory=dict)
    pool_size: Optional[int] = None
    top5: bool = False
    outputs: str = 'logits'
    initializer: str = 'originalinit'
    optimizer: str = 'nag'
    data_recipe: str = 'original'
    checkpoint_graph: str = 'original'
    hooks: Dict[str, Callable] = dataclasses.field(default_factory=dict, repr=False,
                                                   compare=False)

    def register(self, **hooks):
        """Set the code of the family, by the module that has it:

        ``build(name, **kwargs)`` -> network (the model module; ``name`` any of
        :meth:`names`); ``check(spec)`` -> dict of the spec's normalised fields, raising
        ``ValueError`` for a network it cannot build; ``built_depth(network, depth)`` where
        a depth can round down; ``logits(network, num_classes, num_depth, widen_factor,
        blocks, components, share_weights)`` and ``graph(...)`` (same arguments) the
        original's graph up to the logits and for training (symbols/graphs.py).
        """
        unknown = set(hooks) - {'build', 'check', 'built_depth', 'logits', 'graph'}
        if unknown:
            raise ValueError('unknown hook(s) %s' % ', '.join(sorted(unknown)))
        if ('logits' in hooks or 'graph' in hooks) and self.checkpoint_graph != 'original':
            raise ValueError('%s has no graph of the original' % self.title)
        self.hooks.update(hooks)

    def names(self):
        """Every name of the family: networks, aliases and variants."""
        return tuple(self.networks) + tuple(self.aliases) + tuple(self.variants)

    def canonical(self, name):
        """The network an alias names (``dfn_mr`` -> ``cross``); other names as they are."""
        return self.aliases.get(name, name)

    def input_shape(self, pool_size=None):
        """``(3, H, W)`` of one input image, for the pooling `pool_size` where it is an
        option (DLA: side 32 x pool_size)."""
        side = self.input_size
        if pool_size is not None and self.pool_size is not None:
            side = self.input_size * pool_size // self.pool_size
        return (3, side, side)

    def pool_size_for(self, input_size):
        """The pooling that fits inputs of side `input_size`; None without the option."""
        if self.pool_size is None or not input_size:
            return None
        return max(1, input_size * self.pool_size // self.input_size)

    def variant_fields(self, name, given, retry):
        """The fields the named model `name` fixes, e.g. ``{'network': 'cross', 'depth':
        110, 'widen_factor': 1}``. `given` maps those fields to what the caller asked (None:
        nothing); a different value raises ``ValueError``, ending in `retry` (a sentence
        with ``%s`` for the network) to say how to ask for other sizes."""
        fixed = self.variants[name]
        if any(given.get(key) not in (None, value) for key, value in fixed.items()
               if key != 'network'):
            raise ValueError('%s is %s at num_depth %d, widen_factor %d; %s'
                             % (name, fixed['network'], fixed['depth'],
                                fixed['widen_factor'], retry % fixed['network']))
        return dict(fixed)

    def hook(self, name):
        try:
            return self.hooks[name]
        except KeyError:
            raise RuntimeError('%s: no %r registered (import fusenet_gluon.models%s)'
                               % (self.title, name, ' and fusenet_gluon.symbols'
                                  if name in ('logits', 'graph') else '')) from None


# ---------------------------------------------------------------- tag rules
def _depth_tag(spec):
    """``cross_d110w1`` (by the depth built), the ensemble's components and sharing."""
    tag = '%s_d%dw%d' % (spec.network, spec.built_depth, spec.widen_factor)
    if spec.components:
        tag += '_' + '-'.join(spec.components)
    return tag if spec.share_weights else tag + '_unshared'


def _blocks_tag(spec):
    """``imagenet_cross``, or ``imagenet_cross_b2-2-8-2`` for other blocks than the default."""
    if spec.blocks == spec.family.network_defaults[spec.network]['blocks']:
        return spec.network
    return '%s_b%s' % (spec.network, '-'.join(map(str, spec.blocks)))


def _pool_tag(spec):
    """``dla34``, or ``dla34_p1`` for another pooling than the default."""
    if spec.pool_size == spec.family.pool_size:
        return spec.network
    return '%s_p%d' % (spec.network, spec.pool_size)


# ---------------------------------------------------------------- the families
#: The CIFAR/SVHN deep-fusion nets (32x32 input), in the order of the original's
#: ``network/`` folder, and their paper names. dfn_mr3 has 50 layers (num_depth 98) at
#: width 4: 24,151,882 parameters, where the paper's table says 24.8M, which no num_depth
#: gives at width 4 (docs/reference.md, section 1.2).
CIFAR = Family(
    name='cifar', title='the CIFAR/SVHN networks',
    networks=('plain', 'resnet', 'cross', 'half', 'side', 'fuse3', 'fuse6'),
    aliases={'dfn_mr': 'cross', 'dfn_il': 'half'},
    variants={'dfn_mr1': dict(network='cross', depth=110, widen_factor=1),
              'dfn_mr2': dict(network='cross', depth=62, widen_factor=4),
              'dfn_mr3': dict(network='cross', depth=98, widen_factor=4)},
    classes=10, input_size=32, options=('depth', 'widen_factor'), datasets=('cifar',),
    tag=_depth_tag)

#: The ImageNet deep-fusion nets (224x224 input, bottleneck blocks); their blocks per group
#: as the original code ships them (the paper's own DFN-MR is blocks (2, 2, 8, 2)).
IMAGENET = Family(
    name='imagenet', title='the ImageNet networks',
    networks=('imagenet_cross', 'imagenet_resnet'),
    network_defaults={'imagenet_cross': dict(blocks=(1, 2, 11, 2)),
                      'imagenet_resnet': dict(blocks=(2, 4, 22, 4))},
    classes=1000, input_size=224, options=('blocks',), datasets=('imagenet',),
    tag=_blocks_tag, top5=True)

#: The original's network/ensemble.py: the 2^3 components of the three-fusion net.
ENSEMBLE = Family(
    name='ensemble', title='the ensemble', networks=('ensemble',),
    classes=10, input_size=32, options=('depth', 'widen_factor', 'components', 'share_weights'),
    datasets=('cifar',), tag=_depth_tag, outputs='components')

#: Deep Layer Aggregation (arXiv 1707.06484), the authors' ten ImageNet variants as their
#: PyTorch dla.py builds them: levels and channels of level0..level5, the block, whether
#: the roots are residual, the cardinality of BottleneckX.
_DLA_CONFIGS = {}
for _name, _levels, _channels, _block, _residual, _cardinality in (
        ('dla34', (1, 1, 1, 2, 2, 1), (16, 32, 64, 128, 256, 512), 'basic', False, 32),
        ('dla46_c', (1, 1, 1, 2, 2, 1), (16, 32, 64, 64, 128, 256), 'bottleneck', False, 32),
        ('dla46x_c', (1, 1, 1, 2, 2, 1), (16, 32, 64, 64, 128, 256), 'bottleneckx', False, 32),
        ('dla60x_c', (1, 1, 1, 2, 3, 1), (16, 32, 64, 64, 128, 256), 'bottleneckx', False, 32),
        ('dla60', (1, 1, 1, 2, 3, 1), (16, 32, 128, 256, 512, 1024), 'bottleneck', False, 32),
        ('dla60x', (1, 1, 1, 2, 3, 1), (16, 32, 128, 256, 512, 1024), 'bottleneckx', False, 32),
        ('dla102', (1, 1, 1, 3, 4, 1), (16, 32, 128, 256, 512, 1024), 'bottleneck', True, 32),
        ('dla102x', (1, 1, 1, 3, 4, 1), (16, 32, 128, 256, 512, 1024), 'bottleneckx', True, 32),
        ('dla102x2', (1, 1, 1, 3, 4, 1), (16, 32, 128, 256, 512, 1024), 'bottleneckx', True,
         64),
        ('dla169', (1, 1, 2, 3, 5, 1), (16, 32, 128, 256, 512, 1024), 'bottleneck', True, 32)):
    _DLA_CONFIGS[_name] = dict(levels=_levels, channels=_channels, block=_block,
                               residual_root=_residual, cardinality=_cardinality)

#: DLA trains with its authors' recipe: their initialisation, plain SGD with momentum, and
#: on ImageNet their statistics and augmentation; its authors' code is PyTorch, so its
#: checkpoints carry the Gluon graph.
DLA = Family(
    name='dla', title='the DLA networks', networks=tuple(_DLA_CONFIGS), configs=_DLA_CONFIGS,
    classes=1000, input_size=224, pool_size=7, options=('pool_size',),
    datasets=('cifar', 'imagenet'), tag=_pool_tag, initializer='dlainit', optimizer='sgd',
    data_recipe='dla', checkpoint_graph='gluon')

#: Every family, in the order the zoo lists them.
FAMILIES = (CIFAR, ENSEMBLE, IMAGENET, DLA)


def find(name):
    """The family of the network `name` (any spelling, any case), or None."""
    key = name.lower() if isinstance(name, str) else name
    return next((f for f in FAMILIES if key in f.names()), None)


def of(name):
    """The family of `name`; ``ValueError`` naming every model when there is none."""
    family = find(name)
    if family is None:
        raise ValueError('unknown model %r; choose from %s' % (name, ', '.join(model_names())))
    return family


def canonical(name):
    """The original's name of a network: aliases resolved, lower case; others unchanged."""
    key = name.lower() if isinstance(name, str) else name
    family = find(key)
    return key if family is None else family.canonical(key)


def model_names():
    """Every name of every family, sorted (:func:`fusenet_gluon.model_zoo.list_models`)."""
    return sorted(n for f in FAMILIES for n in f.names())
