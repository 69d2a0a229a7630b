"""The original `network/ensemble.py`: get_symbol(num_classes=10, net_depth=20, widen_factor=1)."""
from . import graphs
from ..families import ENSEMBLE


def get_symbol(num_classes=ENSEMBLE.classes, net_depth=20, widen_factor=1):
    return graphs.ensemble_symbol(num_classes, net_depth, widen_factor)
