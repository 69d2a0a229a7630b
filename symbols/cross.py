"""The original-style import path: ``import symbols; symbols.cross.get_symbol(...)``."""
from fusenet_gluon.symbols.cross import get_symbol  # noqa: F401
