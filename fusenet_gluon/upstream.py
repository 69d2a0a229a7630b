"""Interchange with the original code's checkpoints.

The original saves ``prefix-symbol.json`` and ``prefix-%04d.params`` with keys
``arg:NAME`` (learned parameters) and ``aux:NAME`` (BatchNorm ``..._moving_mean`` and
``..._moving_var``). A Gluon network of this package has the same names, except that its
running statistics end in ``_running_mean`` / ``_running_var``.
"""
import os

import mxnet as mx
import numpy as np

from . import arch, symbols
from .model_zoo import from_spec
from .utils import UserError, atomic_path

__all__ = ['load_params', 'save_checkpoint', 'to_upstream_dict', 'from_upstream_dict',
           'load_upstream_file', 'checkpoint_paths', 'upstream_symbol']


def upstream_symbol(net):
    """The original's training graph (ending in ``SoftmaxOutput('softmax')``) of a network
    of this zoo, or of a :class:`~fusenet_gluon.spec.NetworkSpec`. A family whose authors'
    code is not MXNet (DLA: PyTorch) has no such graph: its checkpoints carry the Gluon
    network's own graph, closed the same way (its entry's ``checkpoint_graph``)."""
    spec = getattr(net, 'spec', net)
    if _gluon_graph(spec):
        return symbols.graphs.with_softmax(from_spec(spec)(mx.sym.var('data')))
    return symbols.get_symbol(spec.network, spec.classes, spec.depth, spec.widen_factor,
                              spec.blocks, spec.components, spec.share_weights)


def _gluon_graph(spec):
    """Whether checkpoints of `spec`'s family carry the Gluon graph and names (not the
    original's): BatchNorm statistics named ``..._running_mean``, and parameters the graph
    never uses (DLA's projects) kept in the file."""
    return spec is not None and spec.family.checkpoint_graph == 'gluon'


def checkpoint_paths(prefix, epoch):
    """``(prefix-symbol.json, prefix-%04d.params)`` as MXNet's ``save_checkpoint`` names them;
    a prefix that names a folder (``runs/``) or a negative epoch is one line."""
    if not os.path.basename(prefix):
        raise UserError('the prefix %s names a folder; a checkpoint needs a name in it, e.g. %s'
                        % (prefix, os.path.join(prefix, 'model')))
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise UserError('a checkpoint epoch is a whole number >= 0, got %r' % (epoch,))
    return '%s-symbol.json' % prefix, '%s-%04d.params' % (prefix, epoch)


def _mxnet_reason(err):
    """The reason in an MXNetError's text, which starts with a C++ "Traceback" header and a
    source location: its last line without the ``Check failed: CONDITION:`` part."""
    last = str(err).strip().splitlines()[-1]
    last = last.split('MXNetError:', 1)[-1].strip()
    if last.startswith('Check failed:') and ': ' in last[len('Check failed:'):]:
        last = last.rsplit(': ', 1)[-1]
    return last or 'unreadable'


def load_upstream_file(path):
    """Read a ``.params`` file of the original, with clear errors for a user's mistakes."""
    if not os.path.isfile(path):
        raise FileNotFoundError('no such parameter file: %s' % path)
    try:
        loaded = mx.nd.load(path)
    except mx.base.MXNetError as err:
        raise ValueError('%s is not an MXNet parameter file, nor a PyTorch checkpoint '
                         '(MXNet: %s; is it truncated?)' % (path, _mxnet_reason(err))) from None
    if not isinstance(loaded, dict):
        raise ValueError('%s holds an unnamed list of arrays, not named parameters' % path)
    return loaded


def from_upstream_dict(loaded):
    """``{'arg:x': a, 'aux:y_moving_mean': b}`` -> ``{'x': a, 'y_running_mean': b}``.

    Keys without ``arg:``/``aux:`` (a Gluon file saved with full names) are kept as they are.
    """
    out = {}
    for key, value in loaded.items():
        kind, _, name = key.partition(':')
        if not name:
            out[key] = value
        elif kind == 'arg' or kind == 'aux' and arch.gluon_to_aux(name) is not None:
            out[name] = value   # DLA's checkpoints keep Gluon's running_mean/var
        elif kind == 'aux':
            try:
                out[arch.aux_to_gluon(name)] = value
            except ValueError:
                out[key] = value  # reported as unexpected
        else:
            out[key] = value
    return out


def device_mean(param):
    """A parameter's value as the original's checkpoints hold it: the mean over the devices
    it lives on, in float32 (``executor_manager.copy_to``, ``executor_group.get_params``).

    BatchNorm statistics differ per device, so a checkpoint holds their average; learned
    parameters are the same on every device, and the mean, taken in float64, returns them
    exactly."""
    arrays = [a.asnumpy().astype(np.float64) for a in param.list_data()]
    return mx.nd.array(sum(arrays) / len(arrays), ctx=mx.cpu(), dtype='float32')


def to_upstream_dict(net):
    """The parameters of `net` keyed as the original saves them (``arg:``/``aux:``), each
    the float32 mean over its devices (:func:`device_mean`)."""
    out, gluon_names = {}, _gluon_graph(getattr(net, 'spec', None))
    for name, param in net.collect_params().items():
        aux = arch.gluon_to_aux(name)
        if aux is None:
            out['arg:' + name] = device_mean(param)
        else:  # a Gluon graph (DLA's) names the statistics as Gluon does
            out['aux:' + (name if gluon_names else aux)] = device_mean(param)
    return out


def check_fit(path, expected, found, spec=None):
    """Raise ``ValueError`` listing every missing, unexpected and wrongly shaped name when
    the parameters `found` in file `path` (name -> shape) do not fit those `expected`;
    where the names tell which network the file holds and it is not `spec`, say so."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong = sorted('%s (network %s, file %s)' % (n, tuple(expected[n]), tuple(found[n]))
                   for n in set(expected) & set(found)
                   if tuple(expected[n]) != tuple(found[n]))
    if not (missing or unexpected or wrong):
        return
    lines = ['%s does not fit this network:' % path]
    for title, names in (('missing', missing), ('unexpected', unexpected),
                         ('wrong shape', wrong)):
        if names:
            lines.append('  %s (%d): %s' % (title, len(names), ', '.join(names)))
    guess = arch.guess_network({n: s for n, s in found.items()
                                if arch.gluon_to_aux(n) is None})
    if guess is not None:
        flags = ' '.join('--%s %s' % (k.replace('_', '-'), ','.join(map(str, v))
                                      if isinstance(v, tuple) else v)
                         for k, v in guess.items())
        if spec is None or any(getattr(spec, k) != v for k, v in guess.items()):
            lines.append('  the file holds the network of: %s' % flags)
    raise ValueError('\n'.join(lines))


def from_torch_state_dict(state, params):
    """PyTorch keys to this zoo's names: '.' read as '_' (``level2.tree1.conv1.weight`` is
    ``level2_tree1_conv1_weight``), BatchNorm's ``weight``/``bias`` as ``gamma``/``beta``
    where the network has those, a DataParallel ``module.`` prefix dropped."""
    out = {}
    for key, value in state.items():
        name = (key[len('module.'):] if key.startswith('module.') else key).replace('.', '_')
        for torch_suffix, gluon_suffix in (('_weight', '_gamma'), ('_bias', '_beta')):
            if name not in params and name.endswith(torch_suffix) and \
                    name[:-len(torch_suffix)] + gluon_suffix in params:
                name = name[:-len(torch_suffix)] + gluon_suffix
        out[name] = mx.nd.array(value, dtype=value.dtype if value.dtype != np.float64
                                else np.float32)
    return out


def _read_params(path, params):
    """The parameters in `path` by this zoo's names: an MXNet ``.params`` file of the
    original (or of Gluon with full names), or a PyTorch state_dict."""
    if not os.path.isfile(path):
        raise FileNotFoundError('no such parameter file: %s' % path)
    from .torch_checkpoint import is_torch_file, load_state_dict
    if is_torch_file(path):
        return from_torch_state_dict(load_state_dict(path), params)
    return from_upstream_dict(load_upstream_file(path))


def load_params(net, path, ctx=None):
    """Load a ``.params`` file written by the original code (or a PyTorch state_dict of the
    DLA authors' code, read without PyTorch) into `net`.

    Parameters
    ----------
    net : HybridBlock
        A freshly made network of this package, initialized or not.
    path : str
        The original's ``prefix-%04d.params`` (keys ``arg:NAME``, ``aux:NAME``).
    ctx : Context or list of Context, optional
        Where to put uninitialized parameters (default: where initialized ones are, else CPU).

    Strict: a missing, unexpected or wrongly shaped entry raises ``ValueError`` listing every
    such name, and then nothing of the network has changed.
    """
    params = net.collect_params()
    loaded = _read_params(path, params)
    check_fit(path, {n: p.shape for n, p in params.items()},
              {n: v.shape for n, v in loaded.items()}, getattr(net, 'spec', None))
    for name, param in params.items():
        value = loaded[name].astype(param.dtype, copy=False)
        if param._data is not None:
            param.set_data(value)
        else:
            param._load_init(value, ctx if ctx is not None else None)
    return net


def save_checkpoint(net, prefix, epoch, symbol=None):
    """Write `net` as the original's checkpoint: ``prefix-symbol.json`` + ``prefix-%04d.params``.

    The graph is the original's (ending in ``SoftmaxOutput`` named ``softmax``), so
    ``mx.model.load_checkpoint(prefix, epoch)`` and the original training code load it.
    Both files are written to a temporary name and renamed, so a crash never leaves a
    half-written checkpoint. Returns the two paths.
    """
    if symbol is None:
        symbol = upstream_symbol(net)
    params = to_upstream_dict(net)
    graph_names = set('arg:' + n for n in symbol.list_arguments()
                      if n != 'data' and not (n.startswith('softmax') and n.endswith('_label')))
    graph_names |= set('aux:' + n for n in symbol.list_auxiliary_states())
    # DLA keeps the projects its authors compute and never use: in the file, not the graph
    extra_ok = _gluon_graph(getattr(net, 'spec', None))
    mismatch = (graph_names - set(params)) | (set() if extra_ok else set(params) - graph_names)
    if mismatch:
        raise ValueError('the network does not match its graph: %s'
                         % ', '.join(sorted(mismatch)))
    sym_path, params_path = checkpoint_paths(prefix, epoch)
    folder = os.path.dirname(os.path.abspath(sym_path))
    os.makedirs(folder, exist_ok=True)
    with atomic_path(sym_path) as tmp:
        symbol.save(tmp)
    with atomic_path(params_path) as tmp:
        mx.nd.save(tmp, params)
    return sym_path, params_path
