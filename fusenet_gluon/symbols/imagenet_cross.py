"""The original ImageNet `symbol_cross.py`: get_symbol(num_classes=1000)."""
from . import graphs
from ..families import IMAGENET


def get_symbol(num_classes=IMAGENET.classes, blocks=None):
    return graphs.get_symbol('imagenet_cross', num_classes, blocks=blocks)
