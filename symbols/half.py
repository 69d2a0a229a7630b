"""The original-style import path: ``import symbols; symbols.half.get_symbol(...)``."""
from fusenet_gluon.symbols.half import get_symbol  # noqa: F401
