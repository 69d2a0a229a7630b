"""The original-style import path: ``import symbols; symbols.imagenet_cross.get_symbol(...)``."""
from fusenet_gluon.symbols.imagenet_cross import get_symbol  # noqa: F401
