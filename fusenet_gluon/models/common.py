"""What the model modules share: the named-block base and the original's spellings of depth."""
from mxnet.gluon.block import HybridBlock


class NamedBlock(HybridBlock):
    """A block named N (``g2_b1``): its layers are named relative to ``N_``."""

    def __init__(self, name, **kwargs):
        super(NamedBlock, self).__init__(prefix=name + '_', **kwargs)


def one_depth(*spellings):
    """``depth`` and the original's spellings ``num_depth``/``net_depth`` are one argument:
    the one given (None if none), or ``ValueError`` when two disagree."""
    given = [d for d in spellings if d is not None]
    for other in given[1:]:
        if other != given[0]:
            raise ValueError('depth=%r and num_depth=%r disagree; give one of them'
                             % (given[0], other))
    return given[0] if given else None
