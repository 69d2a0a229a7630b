"""The authors' graphs with the MXNet symbol API, one module per network of the original.

Each module has the original signature, ``get_symbol(num_classes, num_depth, widen_factor)``
(ImageNet: ``get_symbol(num_classes)``); the graphs themselves are built once, in
:mod:`fusenet_gluon.symbols.graphs`, from the rules of :mod:`fusenet_gluon.arch` that the
Gluon models share. The repository's top-level ``symbols/`` re-exports these modules
under the original's import path.

>>> from fusenet_gluon import symbols
>>> sym = symbols.get_symbol('cross', 10, 110)   # DFN-MR1
>>> sym = symbols.cross.get_symbol(10, 110, 1)
"""
from .graphs import get_logits, get_symbol  # noqa: F401

__all__ = ['get_symbol', 'get_logits', 'plain', 'resnet', 'cross', 'half', 'side', 'fuse3',
           'fuse6', 'ensemble', 'imagenet_cross', 'imagenet_resnet']
from . import (cross, ensemble, fuse3, fuse6, half, imagenet_cross,  # noqa: F401,E402
               imagenet_resnet, plain, resnet, side)
