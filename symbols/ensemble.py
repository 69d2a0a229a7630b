"""The original-style import path: ``import symbols; symbols.ensemble.get_symbol(...)``."""
from fusenet_gluon.symbols.ensemble import get_symbol  # noqa: F401
