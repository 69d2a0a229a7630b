"""The original-style import path: ``import symbols; symbols.plain.get_symbol(...)``."""
from fusenet_gluon.symbols.plain import get_symbol  # noqa: F401
