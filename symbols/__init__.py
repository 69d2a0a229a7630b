"""The original's import path for the graphs: ``import symbols`` from the repository root.

The graphs live in :mod:`fusenet_gluon.symbols` (installed with the package); this folder
keeps the original repository's spelling, one module per network with its
``get_symbol(num_classes, num_depth, widen_factor)``.

>>> import symbols
>>> sym = symbols.get_symbol('cross', 10, 110)   # DFN-MR1
>>> sym = symbols.cross.get_symbol(10, 110, 1)
"""
from fusenet_gluon.symbols import get_logits, get_symbol  # noqa: F401

__all__ = ['get_symbol', 'get_logits', 'plain', 'resnet', 'cross', 'half', 'side', 'fuse3',
           'fuse6', 'ensemble', 'imagenet_cross', 'imagenet_resnet']
from . import (cross, ensemble, fuse3, fuse6, half, imagenet_cross,  # noqa: F401,E402
               imagenet_resnet, plain, resnet, side)
