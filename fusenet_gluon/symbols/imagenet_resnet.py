"""The original ImageNet `symbol_resnet.py`: get_symbol(num_classes=1000)."""
from . import graphs
from ..families import IMAGENET


def get_symbol(num_classes=IMAGENET.classes, blocks=None):
    return graphs.get_symbol('imagenet_resnet', num_classes, blocks=blocks)
