"""The original-style import path: ``import symbols; symbols.imagenet_resnet.get_symbol(...)``."""
from fusenet_gluon.symbols.imagenet_resnet import get_symbol  # noqa: F401
