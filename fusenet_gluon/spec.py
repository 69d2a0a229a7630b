"""One description of a network, shared by every tool that builds or names one.

A :class:`NetworkSpec` says which network (``cross``, ``imagenet_cross``, ...), at which
num_depth and width, with how many classes and (ImageNet) which blocks per group. The
training scripts, ``convert``, ``bench``, ``show_model``, a run's ``-run.json`` and
``results`` all read and write this one object; :func:`fusenet_gluon.model_zoo.from_spec`
builds it and :func:`fusenet_gluon.upstream.upstream_symbol` draws its original graph.
What a spec takes, its defaults, its tag and its input size are its family's entry
(:attr:`NetworkSpec.family`, :mod:`fusenet_gluon.families`); the family's model module
checks the rest.
"""
import dataclasses
from typing import Optional, Tuple

from . import arch, families, models  # noqa: F401 (models: every family's check)
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
        Default: the family's (10 CIFAR and the ensemble, 1000 ImageNet and DLA).
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
        family = families.find(name)
        if family is not None and name in family.variants:
            self._set(**family.variant_fields(name, dict(
                depth=self.depth, widen_factor=None if self.widen_factor == 1
                else self.widen_factor), 'give --network %s for other sizes'))
        else:
            self._set(network=families.canonical(name))
        for option, given, what in (
                ('components', self.components is not None or not self.share_weights,
                 'components and weight sharing are options'),
                ('pool_size', self.pool_size is not None, 'pool_size is an option')):
            if given and (family is None or option not in family.options):
                owner = next(f for f in families.FAMILIES if option in f.options)
                raise ValueError('%s of %s, not of %r' % (what, owner.title, self.network))
        if family is None:
            raise ValueError('unknown model %r; choose from %s'
                             % (self.network, ', '.join(families.model_names())))
        self._set(**family.hook('check')(self))
        self._set(classes=family.classes if self.classes is None else self.classes)
        arch.check_positive_int(self.widen_factor, 'widen_factor')
        if family.pool_size is not None:
            self._set(pool_size=family.pool_size if self.pool_size is None else self.pool_size)
            arch.check_positive_int(self.pool_size, 'pool_size')
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
    def family(self):
        """The family's entry (:mod:`fusenet_gluon.families`): what every tool asks."""
        return families.of(self.network)

    @property
    def component_names(self):
        """The ensemble's components in their order (all eight unless a subset was chosen);
        None for every other network."""
        if self.family.outputs != 'components':
            return None
        return self.components or arch.ENSEMBLE_COMPONENTS

    @property
    def input_shape(self):
        """``(3, H, W)`` of one input image."""
        return self.family.input_shape(self.pool_size)

    @property
    def built_depth(self):
        """The num_depth of the network this builds (``arch.built_depth``): 14 for cross at
        15, which builds the same blocks. None for the networks that take no depth."""
        rule = self.family.hooks.get('built_depth')
        return None if rule is None else rule(self.network, self.depth)

    @property
    def tag(self):
        """A short file-name tag, by what is built (the family's rule): ``cross_d110w1``
        (also for cross at 111), ``imagenet_cross``, ``imagenet_cross_b2-2-8-2``,
        ``dla34_p1``."""
        return self.family.tag(self)

    @property
    def label(self):
        """A readable name: ``cross d110 w1``, ``imagenet_cross``."""
        return self.tag.replace('_d', ' d').replace('w', ' w', 1) \
            if 'depth' in self.family.options else self.tag

    def model_kwargs(self):
        """Keyword arguments of :func:`~fusenet_gluon.model_zoo.get_model` for this network."""
        out = {option: getattr(self, option) for option in self.family.options}
        out['classes'] = self.classes
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


def add_arguments(parser, family=None, required=True, default_depth=None):
    """The flags that name a network: ``--network --depth --widen-factor --blocks`` and,
    unless `family` is given (the training scripts take classes from the data set),
    ``--classes``.

    `family`: None (any network), ``'cifar'`` or ``'imagenet'`` (the training scripts:
    the networks whose entry lists it in ``datasets``), and only their flags;
    `default_depth`: what a missing ``--depth`` stands for (:func:`from_args`), for its help.
    """
    offered = [f for f in families.FAMILIES if family is None or family in f.datasets]
    names = sorted(n for f in offered for n in f.names())
    options = set(o for f in offered for o in f.options)
    if family == 'imagenet':
        parser.add_argument('--network', default='imagenet_cross', choices=names,
                            help='network name')
    elif family == 'cifar':
        parser.add_argument('--network', default='cross', metavar='NAME',
                            help='one of: %s' % ', '.join(names))
    else:
        parser.add_argument('--network', required=required, metavar='NAME',
                            help='one of: %s' % ', '.join(names))
    if 'depth' in options:
        parser.add_argument('--depth', type=int, default=None,
                            help='num_depth of the original, the depth of the corresponding '
                                 'plain network: cross at 62 is the 32-layer DFN-MR2, at 110 '
                                 'the 56-layer DFN-MR1' + ('' if default_depth is None
                                                          else ' (default: %d)' % default_depth))
        parser.add_argument('--widen-factor', type=int, default=None,
                            help='channel multiplier w: widths 16w, 32w, 64w (default: 1)')
    if 'components' in options:
        parser.add_argument('--components', default=None, metavar='LIST',
                            help='ensemble only: its components to build, a comma list of '
                                 '%s (default: all eight)' % ','.join(arch.ENSEMBLE_COMPONENTS))
        parser.add_argument('--no-weight-sharing', action='store_true',
                            help='ensemble only: each component its own weights (the '
                                 "paper's Table 2, W/O)")
    if 'blocks' in options:
        parser.add_argument('--blocks', default=None,
                            help='ImageNet blocks of g1..g4, e.g. 2,2,8,2 (the paper); default: '
                                 "the original code's (%s)" % '; '.join(
                                     '%s %s' % (','.join(map(str, d['blocks'])), n)
                                     for n, d in families.IMAGENET.network_defaults.items()))
    if 'pool_size' in options and family != 'cifar':  # 32x32 data fix it: default_pool_size
        parser.add_argument('--pool-size', type=int, default=None,
                            help='DLA only: the average pooling of its head, input side // 32 '
                                 '(default: %d, for %dx%d inputs)' % (
                                     families.DLA.pool_size, families.DLA.input_size,
                                     families.DLA.input_size))
    if family is None:
        parser.add_argument('--classes', type=int, default=None,
                            help='number of classes (default: %s)' % '; '.join(
                                '%s %d' % (f.title, f.classes) for f in offered))


def default_pool_size(network, input_size=None):
    """The pooling of `network` for inputs of side `input_size` (DLA: side // 32), None for
    the networks without the option or an unknown size."""
    family = families.find(network)
    return None if family is None else family.pool_size_for(input_size)


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
    family = families.find(network)
    if depth is None and family is not None and 'depth' in family.options \
            and network.lower() not in family.variants:
        depth = default_depth
    if classes is None:
        classes = getattr(args, 'classes', None)
    components = getattr(args, 'components', None)
    if isinstance(components, str):
        components = tuple(c.strip() for c in components.split(',') if c.strip())
    try:
        widen, pool = getattr(args, 'widen_factor', None), getattr(args, 'pool_size', None)
        return NetworkSpec(network, depth, 1 if widen is None else widen, classes,
                           blocks, components, not getattr(args, 'no_weight_sharing', False),
                           default_pool_size(network, input_size) if pool is None else pool)
    except ValueError as err:
        raise UserError(str(err)) from None
