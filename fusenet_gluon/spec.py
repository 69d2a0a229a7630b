"""One description of a network, shared by every tool that builds or names one.

A :class:`NetworkSpec` says which network (``cross``, ``imagenet_cross``, ...), at which
num_depth and width, with how many classes and (ImageNet) which blocks per group. The
training scripts, ``convert``, ``bench``, ``show_model``, a run's ``-run.json`` and
``results`` all read and write this one object; :func:`fusenet_gluon.model_zoo.from_spec`
builds it and :func:`fusenet_gluon.upstream.upstream_symbol` draws its original graph.
"""
import dataclasses
from typing import Optional, Tuple

from . import arch
from .utils import UserError, parse_ints

__all__ = ['NetworkSpec', 'add_arguments', 'from_args']


@dataclasses.dataclass(frozen=True)
class NetworkSpec(object):
    """A network of this zoo, validated when made.

    Parameters
    ----------
    network : str
        Any name :func:`~fusenet_gluon.model_zoo.get_model` takes; aliases (``dfn_mr``)
        and the paper's named models (``dfn_mr1``) are resolved to the original's name.
    depth : int, optional
        The original's num_depth (CIFAR family); required there.
    widen_factor : int, default 1
        CIFAR family only.
    classes : int, optional
        Default 10 (CIFAR family) or 1000 (ImageNet).
    blocks : tuple of 4 ints, optional
        ImageNet only: blocks of g1..g4 (default: the original code's).
    components : tuple of str, optional
        The ensemble only: which of its components (default all eight).
    share_weights : bool, default True
        The ensemble only: whether the components share their weights (as the original).
    pool_size : int, optional
        DLA only: the head's average pooling, input side // 32 (default 7, for 224x224).

    Raises ``ValueError`` naming the valid choices for anything that builds no network.
    """
    network: str
    depth: Optional[int] = None
    widen_factor: int = 1
    classes: Optional[int] = None
    blocks: Optional[Tuple[int, ...]] = None
    components: Optional[Tuple[str, ...]] = None
    share_weights: bool = True
    pool_size: Optional[int] = None

    def __post_init__(self):
        name = self.network.lower() if isinstance(self.network, str) else self.network
        if name in arch.PAPER_VARIANTS:
            network, depth, width = arch.PAPER_VARIANTS[name]
            if self.depth not in (None, depth) or self.widen_factor not in (1, width):
                raise ValueError('%s is %s at num_depth %d, widen_factor %d; give --network %s '
                                 'for other sizes' % (name, network, depth, width, network))
            self._set(network=network, depth=depth, widen_factor=width)
        else:
            self._set(network=arch.canonical_name(name))
        if self.network != arch.ENSEMBLE and (self.components is not None
                                              or not self.share_weights):
            raise ValueError('components and weight sharing are options of the ensemble, not '
                             'of %r' % self.network)
        if self.network not in arch.DLA_NETWORKS and self.pool_size is not None:
            raise ValueError('pool_size is an option of the DLA networks, not of %r'
                             % self.network)
        if self.network in arch.DLA_NETWORKS:
            if self.depth is not None or self.blocks is not None:
                raise ValueError('%s takes no depth or blocks: each DLA variant is fixed '
                                 '(choose another of %s)' % (self.network,
                                                             ', '.join(arch.DLA_NETWORKS)))
            self._set(classes=1000 if self.classes is None else self.classes,
                      pool_size=7 if self.pool_size is None else self.pool_size)
            arch.check_positive_int(self.pool_size, 'pool_size')
        elif self.network == arch.ENSEMBLE:
            if self.depth is None:
                raise ValueError("the ensemble needs a depth (the original's net_depth), "
                                 'e.g. 14, 20, 26')
            arch.ensemble_blocks(self.depth)
            chosen = arch.ensemble_components(self.components)
            self._set(components=None if chosen == arch.ENSEMBLE_COMPONENTS else chosen,
                      classes=10 if self.classes is None else self.classes,
                      share_weights=bool(self.share_weights))
        elif self.imagenet:
            self._set(blocks=arch.imagenet_blocks(self.network, self.blocks),
                      classes=1000 if self.classes is None else self.classes, depth=None)
        elif self.network in arch.CIFAR_NETWORKS:
            if self.blocks is not None:
                raise ValueError('blocks are for the ImageNet networks; %r takes a depth'
                                 % self.network)
            if self.depth is None:
                raise ValueError('%r needs a depth (the original num_depth), e.g. %s' % (
                    self.network, ', '.join(map(str, arch.even_depths(self.network)[:4]))))
            arch.num_blocks(self.network, self.depth)  # a clear error for a bad depth
            self._set(classes=10 if self.classes is None else self.classes)
        else:
            from .model_zoo import list_models
            raise ValueError('unknown model %r; choose from %s'
                             % (self.network, ', '.join(list_models())))
        arch.check_positive_int(self.classes, 'classes')

    _OLD_KEYS = {'num_depth': 'depth', 'num_classes': 'classes'}

    def __getitem__(self, key):
        """``spec['network']``: the dict spelling of earlier versions (``num_depth``,
        ``num_classes`` included)."""
        return getattr(self, self._OLD_KEYS.get(key, key))

    def _set(self, **values):
        for key, value in values.items():
            object.__setattr__(self, key, value)

    @property
    def imagenet(self):
        """Whether this is an ImageNet network (224x224 input, bottlenecks)."""
        return arch.is_imagenet(self.network)

    @property
    def component_names(self):
        """The ensemble's components in their order (all eight unless a subset was chosen);
        None for every other network."""
        if self.network != arch.ENSEMBLE:
            return None
        return self.components or arch.ENSEMBLE_COMPONENTS

    @property
    def dla(self):
        """Whether this is a Deep Layer Aggregation network."""
        return self.network in arch.DLA_NETWORKS

    @property
    def input_shape(self):
        """``(3, H, W)`` of one input image."""
        size = 32 * self.pool_size if self.dla else arch.input_size(self.network)
        return (3, size, size)

    @property
    def built_depth(self):
        """The num_depth of the network this builds (``arch.built_depth``): 14 for cross at
        15, which builds the same blocks. None for ImageNet networks and DLA."""
        if self.imagenet or self.dla:
            return None
        if self.network == arch.ENSEMBLE:
            return self.depth
        return arch.built_depth(self.network, self.depth)

    @property
    def tag(self):
        """A short file-name tag, by what is built: ``cross_d110w1`` (also for cross at 111),
        ``imagenet_cross``, ``imagenet_cross_b2-2-8-2``."""
        if self.dla:
            return self.network if self.pool_size == 7 else '%s_p%d' % (self.network,
                                                                         self.pool_size)
        if self.imagenet:
            if self.blocks == arch.IMAGENET_BLOCKS[self.network]:
                return self.network
            return '%s_b%s' % (self.network, '-'.join(map(str, self.blocks)))
        tag = '%s_d%dw%d' % (self.network, self.built_depth, self.widen_factor)
        if self.components:
            tag += '_' + '-'.join(self.components)
        return tag if self.share_weights else tag + '_unshared'

    @property
    def label(self):
        """A readable name: ``cross d110 w1``, ``imagenet_cross``."""
        return self.tag.replace('_d', ' d').replace('w', ' w', 1) \
            if not (self.imagenet or self.dla) else self.tag

    def model_kwargs(self):
        """Keyword arguments of :func:`~fusenet_gluon.model_zoo.get_model` for this network."""
        if self.dla:
            return dict(classes=self.classes, pool_size=self.pool_size)
        if self.imagenet:
            return dict(classes=self.classes, blocks=self.blocks)
        out = dict(depth=self.depth, widen_factor=self.widen_factor, classes=self.classes)
        if self.network == arch.ENSEMBLE:
            out.update(components=self.components, share_weights=self.share_weights)
        return out

    def to_dict(self):
        """A JSON-ready dict (what a run's ``-run.json`` stores under ``model``)."""
        out = dataclasses.asdict(self)
        out['blocks'] = list(self.blocks) if self.blocks else None
        out['components'] = list(self.components) if self.components else None
        return out

    @classmethod
    def from_dict(cls, values):
        """The inverse of :meth:`to_dict`; unknown keys are ignored."""
        keys = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in values.items() if k in keys and v is not None}
        for key in ('blocks', 'components'):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


def add_arguments(parser, family=None, required=True):
    """The flags that name a network: ``--network --depth --widen-factor --blocks`` and,
    unless `family` is given (the training scripts take classes from the data set),
    ``--classes``.

    `family`: None (any network), ``'cifar'`` or ``'imagenet'`` (the training scripts).
    """
    from .model_zoo import list_models
    names = [m for m in list_models() if family is None or m in arch.DLA_NETWORKS
             or arch.is_imagenet(m) == (family == 'imagenet')]
    if family == 'imagenet':
        parser.add_argument('--network', default='imagenet_cross', choices=names,
                            help='network name')
    elif family == 'cifar':
        parser.add_argument('--network', default='cross', metavar='NAME',
                            help='one of: %s' % ', '.join(names))
    else:
        parser.add_argument('--network', required=required, metavar='NAME',
                            help='one of: %s' % ', '.join(names))
    if family != 'imagenet':
        parser.add_argument('--depth', type=int, default=None,
                            help='num_depth of the original, the depth of the corresponding '
                                 'plain network: cross at 62 is the 32-layer DFN-MR2, at 110 '
                                 'the 56-layer DFN-MR1' + (' (default: 62)' if family else ''))
        parser.add_argument('--widen-factor', type=int, default=None,
                            help='channel multiplier w: widths 16w, 32w, 64w (default: 1)')
    if family != 'imagenet':
        parser.add_argument('--components', default=None, metavar='LIST',
                            help='ensemble only: its components to build, a comma list of '
                                 '%s (default: all eight)' % ','.join(arch.ENSEMBLE_COMPONENTS))
        parser.add_argument('--no-weight-sharing', action='store_true',
                            help='ensemble only: each component its own weights (the '
                                 "paper's Table 2, W/O)")
    if family != 'cifar':
        parser.add_argument('--blocks', default=None,
                            help='ImageNet blocks of g1..g4, e.g. 2,2,8,2 (the paper); default: '
                                 "the original code's (1,2,11,2 cross; 2,4,22,4 resnet)")
    if family != 'cifar':
        parser.add_argument('--pool-size', type=int, default=None,
                            help='DLA only: the average pooling of its head, input side // 32 '
                                 '(default: 7, for 224x224 inputs)')
    if family is None:
        parser.add_argument('--classes', type=int, default=None,
                            help='number of classes (default: 10, ImageNet 1000)')


def default_pool_size(network, input_size=None):
    """A DLA network's pooling for `input_size` (side // 32), None for others or unknown."""
    if network.lower() in arch.DLA_NETWORKS and input_size:
        return max(1, input_size // 32)
    return None


def from_args(args, classes=None, default_depth=None, input_size=None):
    """The :class:`NetworkSpec` that parsed flags of :func:`add_arguments` describe.

    `classes` overrides ``--classes`` (training takes it from the data set);
    `default_depth` fills a missing ``--depth`` of a CIFAR network; `input_size` (the data
    set's) gives a DLA network its pooling when ``--pool-size`` is not given."""
    blocks = getattr(args, 'blocks', None)
    if isinstance(blocks, str):
        blocks = tuple(parse_ints(blocks, '--blocks', '2,2,8,2'))
    network = args.network
    depth = getattr(args, 'depth', None)
    if depth is None and network.lower() not in arch.PAPER_VARIANTS \
            and not arch.is_imagenet(network) and network.lower() not in arch.DLA_NETWORKS:
        depth = default_depth
    if classes is None:
        classes = getattr(args, 'classes', None)
    components = getattr(args, 'components', None)
    if isinstance(components, str):
        components = tuple(c.strip() for c in components.split(',') if c.strip())
    try:
        return NetworkSpec(network, depth, getattr(args, 'widen_factor', None) or 1, classes,
                           blocks, components, not getattr(args, 'no_weight_sharing', False),
                           getattr(args, 'pool_size', None)
                           or default_pool_size(network, input_size))
    except ValueError as err:
        raise UserError(str(err)) from None
