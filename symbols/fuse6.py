"""The original-style import path: ``import symbols; symbols.fuse6.get_symbol(...)``."""
from fusenet_gluon.symbols.fuse6 import get_symbol  # noqa: F401
