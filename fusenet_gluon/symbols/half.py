"""The original `network/half.py`: get_symbol(num_classes, num_depth, widen_factor)."""
from . import graphs


def get_symbol(num_classes, num_depth, widen_factor=1):
    return graphs.get_symbol('half', num_classes, num_depth, widen_factor)
