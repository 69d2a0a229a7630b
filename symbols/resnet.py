"""The original-style import path: ``import symbols; symbols.resnet.get_symbol(...)``."""
from fusenet_gluon.symbols.resnet import get_symbol  # noqa: F401
