"""The zoo: every network of every family by name (GluonCV's ``get_model`` registry).

The networks live one family a module in :mod:`fusenet_gluon.models` (cifar, imagenet,
ensemble, dla); each family's facts are its entry in :mod:`fusenet_gluon.families`. This
module builds a network by name or from a :class:`~fusenet_gluon.spec.NetworkSpec`,
attaches that spec to it (``net.spec``), and re-exports the blocks under their earlier
import path (``from fusenet_gluon.model_zoo import CifarFuseNet``). The original's training
graph of a network is :func:`fusenet_gluon.upstream.upstream_symbol`.
"""
from . import families
from .models.cifar import (ConvBN, CifarFuseNet, CrossBlock, FuseBlock,  # noqa: F401
                           HalfBlock, PlainBlock, ResidualBlock, SideBlock, SumBlock)
from .models.ensemble import EnsembleNet  # noqa: F401
from .models.imagenet import (Bottleneck, ImageNetCrossBlock, ImageNetFuseNet,  # noqa: F401
                              ImageNetResBlock)
from .spec import NetworkSpec

__all__ = ['ConvBN', 'PlainBlock', 'SumBlock', 'ResidualBlock', 'HalfBlock', 'SideBlock',
           'FuseBlock', 'CrossBlock', 'Bottleneck', 'ImageNetResBlock', 'ImageNetCrossBlock',
           'CifarFuseNet', 'ImageNetFuseNet', 'EnsembleNet', 'get_model', 'from_spec',
           'list_models']


def list_models():
    """Names accepted by :func:`get_model`, aliases and the paper's named models included."""
    return families.model_names()


def get_model(name, **kwargs):
    """Build a network by name; ``net.spec`` is the :class:`NetworkSpec` of what was built.

    Deep Layer Aggregation (``dla34``, ``dla46_c``, ... ``dla169``): kwargs ``classes``
    (1000), ``pool_size`` (7 for 224x224 inputs; input side // 32 in general).

    CIFAR family (``plain, resnet, cross, half, side, fuse3, fuse6``; aliases ``dfn_mr`` =
    cross, ``dfn_il`` = half): kwargs ``depth`` (the original's num_depth, required; also
    spelled ``num_depth``), ``widen_factor`` (1), ``classes`` (10). The paper's named
    models ``dfn_mr1`` (cross, 110), ``dfn_mr2`` (cross, 62, w 4) and ``dfn_mr3`` (cross,
    98, w 4) take ``classes`` only. ImageNet (``imagenet_cross``, ``imagenet_resnet``):
    kwargs ``classes`` (1000), ``blocks``. The ensemble: ``depth``, ``widen_factor``,
    ``classes``, ``components``, ``share_weights``.

    >>> net = get_model('cross', depth=110)        # DFN-MR1, 1.7M parameters
    >>> net = get_model('dfn_mr2', classes=100)     # 14.9M parameters
    >>> net = get_model('imagenet_cross', blocks=(2, 2, 8, 2))
    """
    family = families.of(name)
    net = family.hook('build')(name.lower(), **kwargs)
    net.spec = NetworkSpec(**net.spec_fields)
    return net


def from_spec(spec):
    """The network a :class:`~fusenet_gluon.spec.NetworkSpec` describes (already checked:
    the spec is not made again)."""
    net = spec.family.hook('build')(spec.network, **spec.model_kwargs())
    net.spec = spec
    return net
