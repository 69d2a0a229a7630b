"""The original-style import path: ``import symbols; symbols.fuse3.get_symbol(...)``."""
from fusenet_gluon.symbols.fuse3 import get_symbol  # noqa: F401
