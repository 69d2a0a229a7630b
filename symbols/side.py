"""The original `network/side.py`: get_symbol(num_classes, num_depth, widen_factor)."""
from fusenet_gluon import symbol_graphs


def get_symbol(num_classes, num_depth, widen_factor=1):
    return symbol_graphs.get_symbol('side', num_classes, num_depth, widen_factor)
