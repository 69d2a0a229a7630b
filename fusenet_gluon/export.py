"""Deployable exports of a trained network: MXNet's symbol/params pair and ONNX.

Both write to a temporary name and rename, refuse to overwrite unless told, and create
the output folder.
"""
import os

import mxnet as mx
import numpy as np

from . import symbols, upstream
from .upstream import checkpoint_paths
from .utils import UserError, atomic_path, check_writable

__all__ = ['export_deploy', 'export_graph_deploy', 'export_onnx', 'check_writable']


def export_deploy(net, output, force=False):
    """``HybridBlock.export``: ``output-symbol.json`` and ``output-0000.params``."""
    paths = list(checkpoint_paths(output, 0))
    check_writable(paths, force)
    net.hybridize()
    # trace on a device the network lives on: a GPU run's has no copy on cpu(0)
    ctx = next(iter(net.collect_params().values())).list_ctx()[0]
    net(mx.nd.zeros((1,) + net.input_shape, ctx=ctx))
    folder = os.path.dirname(os.path.abspath(output))
    os.makedirs(folder, exist_ok=True)
    tmp_prefix = os.path.join(folder, '.export-tmp%d' % os.getpid())
    net.export(tmp_prefix)
    for tmp, final in zip(checkpoint_paths(tmp_prefix, 0), paths):
        os.replace(tmp, final)
    return paths


def export_graph_deploy(net, output, force=False):
    """The deployable pair built from the original's logits graph of `net` and its float32
    checkpoint values (the mean over its devices), not from the hybridized graph: what an
    AMP run exports, whose hybridized graph carries AMP's casts. Loads like
    :func:`export_deploy`'s (``SymbolBlock.imports(..., ['data'], ...)``)."""
    paths = list(checkpoint_paths(output, 0))
    check_writable(paths, force)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    _write_graph(net, paths)
    return paths


def logits_graph(net):
    """``(symbol, values)``: the original's graph of `net` ending in its logits (the
    ensemble: a ``Group`` of its components' logits) and its float32 values, keyed
    ``arg:NAME``/``aux:NAME`` as the original's checkpoints."""
    spec = net.spec
    logits = symbols.get_logits(spec.network, spec.classes, spec.depth, spec.widen_factor,
                                spec.blocks, spec.components, spec.share_weights)
    return logits, upstream.to_upstream_dict(net)


def _write_graph(net, paths):
    """The original's logits graph of `net` and its float32 values to ``paths``."""
    logits, values = logits_graph(net)
    with atomic_path(paths[0]) as tmp:
        logits.save(tmp)
    with atomic_path(paths[1]) as tmp:
        mx.nd.save(tmp, values)


def export_onnx(net, output, force=False, check=True):
    """Export `net` to ONNX (``mx.onnx.export_model``) and, where onnxruntime is installed,
    check its outputs against the Gluon logits. Returns (path, the largest difference
    relative to the largest logit, or to 1 where the logits are smaller; None unchecked).

    The ensemble is exported from the original's graph, so the ONNX model has one output
    per component (its Gluon network stacks them into one array)."""
    check_writable([output], force)
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise UserError('ONNX export needs the onnx package: pip install -c constraints.txt '
                        '"fusenet-gluon[onnx]"') from None
    folder = os.path.dirname(os.path.abspath(output))
    os.makedirs(folder, exist_ok=True)
    tmp_prefix = os.path.join(folder, '.onnx-tmp%d' % os.getpid())
    net.hybridize()
    x = np.random.RandomState(0).uniform(-1, 1, (2,) + net.input_shape).astype('float32')
    logits = net(mx.nd.array(x)).asnumpy()
    tmp_paths = checkpoint_paths(tmp_prefix, 0)
    ensemble = net.spec.family.outputs == 'components'
    if ensemble:
        _write_graph(net, tmp_paths)
    else:
        net.export(tmp_prefix)
    try:
        with atomic_path(output) as tmp:
            mx.onnx.export_model(tmp_paths[0], tmp_paths[1],
                                 in_shapes=[(2,) + net.input_shape], in_types=[np.float32],
                                 onnx_file_path=tmp)
    finally:
        for path in tmp_paths:
            if os.path.exists(path):
                os.remove(path)
    diff = None
    if check:
        try:
            import onnxruntime
        except ImportError:
            return output, None
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # the exporter keeps weights as inputs: not an error
        sess = onnxruntime.InferenceSession(output, options, providers=['CPUExecutionProvider'])
        outputs = sess.run(None, {sess.get_inputs()[0].name: x})
        out = np.stack(outputs) if ensemble else outputs[0]
        diff = float(np.abs(out - logits).max() / max(1.0, np.abs(logits).max()))
    return output, diff
