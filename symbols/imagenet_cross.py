"""The original ImageNet `symbol_cross.py`: get_symbol(num_classes=1000)."""
from fusenet_gluon import symbol_graphs


def get_symbol(num_classes=1000, blocks=None):
    return symbol_graphs.get_symbol('imagenet_cross', num_classes, blocks=blocks)
