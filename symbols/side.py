"""The original-style import path: ``import symbols; symbols.side.get_symbol(...)``."""
from fusenet_gluon.symbols.side import get_symbol  # noqa: F401
