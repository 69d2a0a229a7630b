"""The original's weight-shared ensemble (``network/ensemble.py``) as a Gluon block.

Its layout (components, layers, shared and own names) comes from
:func:`fusenet_gluon.arch.ensemble_layout`, shared with the symbol graph; the family's
facts are its entry, :data:`fusenet_gluon.families.ENSEMBLE`.
"""
from mxnet.gluon.block import HybridBlock

from .. import arch
from ..families import ENSEMBLE
from .common import (TrainingGraphNet, average_pool, batch_norm_op, graph_edge,
                     one_depth)

__all__ = ['EnsembleNet']


class EnsembleNet(TrainingGraphNet, HybridBlock):
    """The original's weight-shared ensemble (``network/ensemble.py``): the 2^3 component
    networks of the three-fusion net N_f3, each a chain of the left (L, one 3x3 layer) or
    right (R, the group's layers) path of every group, with its own head.

    Parameters
    ----------
    depth : int
        The original's net_depth (also spelled ``net_depth``/``num_depth``), >= 5.
    widen_factor : int, default 1
    classes : int, default 10 (the family's)
    components : sequence of str, optional
        Which components (``'LLL'``, ``'RLL'``, ... ``'RRR'``); default all eight.
    share_weights : bool, default True
        As the original: every layer takes its weight, gamma and beta from the parameters
        shared by all components (``g0_weight``, ``g1_left_bn_gamma``,
        ``g2_b1_right2_weight``, ``fc_weight``, ...). False gives each component its own,
        named ``uncoupleNN_`` + the shared name (``uncouple08_g1_b1_right2_weight``).

    Each component keeps its own BatchNorm statistics (``uncouple01g0_conv_bn_running_mean``).
    Input (N, 3, 32, 32); output (components, N, classes): each component's logits, in the
    original's order.
    """

    def __init__(self, depth, widen_factor=1, classes=None, components=None, share_weights=True,
                 **kwargs):
        kwargs.setdefault('prefix', '')
        super(EnsembleNet, self).__init__(**kwargs)
        self.layout = list(arch.ensemble_layout(_needs_depth(depth), widen_factor, components))
        self.classes = classes = ENSEMBLE.classes if classes is None else classes
        arch.check_positive_int(classes, 'classes')
        self.spec_fields = dict(network=arch.ENSEMBLE, depth=depth, widen_factor=widen_factor,
                                classes=classes, components=components,
                                share_weights=share_weights)
        self.spec = None   # the zoo's NetworkSpec, set by get_model / from_spec
        self._own = {n: '' if share_weights else 'uncouple%02d_' % n for n, _, _ in self.layout}
        width = arch.cifar_channels(widen_factor)[-1]
        with self.name_scope():
            for number, _, layers in self.layout:
                own = self._own[number]
                for name, weights, kin, kout, conv, _ in layers:
                    if conv is None:
                        continue
                    self._param(own + weights + '_weight', (kout, kin, conv.kernel, conv.kernel))
                    self._param(own + weights + '_bn_gamma', (kout,), 'ones')
                    self._param(own + weights + '_bn_beta', (kout,), 'zeros')
                    self._param(name + '_bn_running_mean', (kout,), 'zeros', False)
                    self._param(name + '_bn_running_var', (kout,), 'ones', False)
                self._param(own + 'fc_weight', (classes, width))
                self._param(own + 'fc_bias', (classes,), 'zeros')

    def _param(self, name, shape, init=None, learned=True):
        if name not in self._reg_params:  # shared weights are registered once
            setattr(self, name, self.params.get(
                name, shape=shape, init=init, grad_req='write' if learned else 'null',
                differentiable=learned))

    def hybrid_forward(self, F, x, **p):
        x, outputs = graph_edge(F, x), []
        for number, _, layers in self.layout:
            own, y = self._own[number], x
            for name, weights, _, kout, conv, relu in layers:
                if conv is None:
                    y = F.Activation(y, act_type='relu')
                    continue
                y = F.Convolution(y, p[own + weights + '_weight'], num_filter=kout,
                                  kernel=(conv.kernel,) * 2, stride=(conv.stride,) * 2,
                                  pad=(conv.pad,) * 2, no_bias=True)
                batch_norm, relu = batch_norm_op(F, relu)
                y = batch_norm(y, p[own + weights + '_bn_gamma'], p[own + weights + '_bn_beta'],
                               p[name + '_bn_running_mean'], p[name + '_bn_running_var'],
                               fix_gamma=False, momentum=arch.ENSEMBLE_BN_MOMENTUM,
                               eps=arch.BN_EPS)
                if relu:  # not yet applied by the BatchNorm's op
                    y = F.Activation(y, act_type='relu')
            pool = arch.ENSEMBLE_HEAD_POOL
            y = average_pool(F, y, kernel=(pool.kernel,) * 2, stride=(pool.stride,) * 2,
                             pool_type=pool.pool_type)
            outputs.append(F.FullyConnected(F.Flatten(y), p[own + 'fc_weight'],
                                            p[own + 'fc_bias'], num_hidden=self.classes))
        return graph_edge(F, F.stack(*outputs, axis=0))

    @property
    def input_shape(self):
        return ENSEMBLE.input_shape()


# ---------------------------------------------------------------- the family's registration
def build(name, depth=None, widen_factor=1, classes=None, components=None, share_weights=True,
          num_depth=None, net_depth=None, **kwargs):
    """``get_model`` for the ensemble: kwargs ``depth`` (also ``num_depth``, ``net_depth``),
    ``widen_factor``, ``classes``, ``components``, ``share_weights``."""
    return EnsembleNet(one_depth(depth, num_depth, net_depth), widen_factor, classes,
                       components, share_weights, **kwargs)


def _needs_depth(depth):
    if depth is None:
        raise ValueError("the ensemble needs a depth (the original's net_depth), "
                         'e.g. 14, 20, 26')
    return depth


def check(spec):
    """The fields of a valid ensemble spec: its components (None for all eight)."""
    arch.ensemble_blocks(_needs_depth(spec.depth))
    chosen = arch.ensemble_components(spec.components)
    return dict(components=None if chosen == arch.ENSEMBLE_COMPONENTS else chosen,
                share_weights=bool(spec.share_weights))


ENSEMBLE.register(build=build, check=check, built_depth=lambda network, depth: depth)
