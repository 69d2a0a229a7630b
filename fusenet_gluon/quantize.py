"""Deployment beyond the original: a fused float32 export and an INT8 export calibrated on
real data, both as symbol/params pairs that plain MXNet loads.

* :func:`fuse`: MXNet's oneDNN (MKL-DNN) subgraph backend on the *inference* graph
  (``get_backend_symbol('MKLDNN')``): each Convolution takes its BatchNorm, its ReLU and a
  following sum into one ``_sg_mkldnn_conv`` node; the classifier becomes
  ``_sg_mkldnn_fully_connected``. The parameters are the unfused graph's (the BatchNorm is
  folded into the weights when the graph is bound), so one params file serves both.
* :func:`quantize`: ``mx.contrib.quantization``'s graph pass on the partitioned graph
  (``MKLDNN_QUANTIZE``), thresholds from the layer outputs of the float32 graph over
  calibration images (``naive``: their min/max; ``entropy``: the KL-optimal clip), then the
  partition again so that requantization folds into the convolutions.
* :func:`keep_float_layers`: the layers left in float32, chosen by kind (``first``
  convolution, ``classifier``, ``merge``-and-run sums); docs/deployment.md has the
  measurement behind :data:`DEFAULT_KEEP_FLOAT`.

Inputs are normalised as training's validation data, ``(x - mean) / std`` with the data
set's statistics; the ensemble's exports have its components' logits as separate outputs
(the original's ``Group``).
"""
import contextlib
import json
import os
import tempfile
import time

import mxnet as mx
import numpy as np

from .training.metrics import ensemble_log_probs
from .upstream import checkpoint_paths
from .utils import atomic_path, check_writable

__all__ = ['CALIB_MODES', 'QUANTIZED_DTYPES', 'KEEP_FLOAT', 'DEFAULT_KEEP_FLOAT',
           'DEFAULT_CALIB_EXAMPLES', 'inference_graph', 'fuse', 'keep_float_layers',
           'quantize', 'quantized_nodes', 'write_model', 'load_model',
           'export_fused', 'op_counts', 'predict', 'accuracy', 'throughput', 'file_size']

CALIB_MODES = ('naive', 'entropy')
QUANTIZED_DTYPES = ('auto', 'int8', 'uint8')
#: Kinds of layers that can be kept in float32 (see :func:`keep_float_layers`)
KEEP_FLOAT = ('first', 'classifier', 'merge')
#: Chosen by measurement (docs/deployment.md, "Which layers stay float32")
DEFAULT_KEEP_FLOAT = ()
DEFAULT_CALIB_EXAMPLES = 512


def inference_graph(net):
    """``(symbol, arg_params, aux_params)`` of `net`'s float32 inference graph, ending in
    its logits: the hybridized graph (``HybridBlock.export``); for the ensemble the
    original's ``Group`` of its components' logits, one output each."""
    if net.spec.family.outputs == 'components':
        from .export import logits_graph
        sym, values = logits_graph(net)
        arg, aux = {}, {}
        for key, value in values.items():
            kind, name = key.split(':', 1)
            (arg if kind == 'arg' else aux)[name] = value
        return sym, arg, aux
    net.hybridize()
    net(mx.nd.zeros((1,) + net.input_shape))
    with tempfile.TemporaryDirectory() as folder:
        net.export(os.path.join(folder, 'net'))
        return mx.model.load_checkpoint(os.path.join(folder, 'net'), 0)


def fuse(sym):
    """The oneDNN-fused float32 inference graph of `sym` (same parameters)."""
    return sym.get_backend_symbol('MKLDNN')


def _nodes(sym):
    return json.loads(sym.tojson())['nodes']


def op_counts(sym):
    """``{operator: count}`` of a graph's operator nodes (quantized ones included)."""
    counts = {}
    for node in _nodes(sym):
        if node['op'] != 'null':
            counts[node['op']] = counts.get(node['op'], 0) + 1
    return counts


def quantized_nodes(sym):
    """Names of the nodes that compute in INT8: oneDNN's fused nodes marked
    ``quantized`` and the ``_contrib_quantized_*`` operators."""
    return [n['name'] for n in _nodes(sym)
            if n['op'].startswith('_contrib_quantized_')
            or str(n.get('attrs', {}).get('quantized', '')).lower() == 'true']


def _is_layer(op):
    """A convolution or fully connected node, plain or fused by oneDNN."""
    return op in ('Convolution', 'FullyConnected') or op.startswith('_sg_mkldnn_')


def _classifiers(nodes, heads):
    """The layers computing the graph's outputs, seen through reshapes (DLA's classifier
    is a 1x1 convolution followed by a flatten; the others end in a FullyConnected)."""
    names = []
    for head in heads:
        node = nodes[head[0]]
        while node['op'] in ('Flatten', 'flatten', 'Reshape', 'reshape') and node['inputs']:
            node = nodes[node['inputs'][0][0]]
        if _is_layer(node['op']):
            names.append(node['name'])
    return names


def keep_float_layers(sym, kinds):
    """Names of the nodes of the partitioned graph `sym` (``MKLDNN_QUANTIZE``) that stay in
    float32 for `kinds`, a subset of :data:`KEEP_FLOAT`:

    * ``first``: the convolution(s) reading the input image;
    * ``classifier``: the layer(s) computing the outputs (a fully connected layer; DLA's
      1x1 convolution);
    * ``merge``: the merge-and-run sums, ``0.5 * (a + b)`` (the sum feeding a scalar
      multiplication).
    """
    unknown = sorted(set(kinds) - set(KEEP_FLOAT))
    if unknown:
        raise ValueError('cannot keep %s in float32; choose from %s'
                         % (', '.join(unknown), ', '.join(KEEP_FLOAT)))
    graph = json.loads(sym.tojson())
    nodes = graph['nodes']
    names = []
    if 'classifier' in kinds:
        names += _classifiers(nodes, graph['heads'])
    for node in nodes:
        op, inputs = node['op'], [nodes[i[0]] for i in node.get('inputs', [])]
        if 'first' in kinds and _is_layer(op) and 'fully' not in op.lower() \
                and any(i['op'] == 'null' and i['name'] == 'data' for i in inputs):
            names.append(node['name'])
        elif 'merge' in kinds and op == '_mul_scalar' and inputs \
                and inputs[0]['op'] == 'elemwise_add':
            names.append(inputs[0]['name'])
    return names


def quantize(sym, arg_params, aux_params, calib_data, calib_mode='naive', keep_float=(),
             quantized_dtype='auto', num_examples=None, ctx=mx.cpu(), logger=None):
    """INT8 graph of the float32 inference graph `sym` (unfused), calibrated on
    `calib_data` (an ``mx.io.DataIter`` of normalised images named ``data``).

    Returns ``(qsym, arg_params, aux_params, kept)``: the quantized, oneDNN-fused graph, its
    parameters and the names of the nodes kept in float32."""
    from mxnet.contrib import quantization as q
    if calib_mode not in CALIB_MODES:
        raise ValueError('unknown calibration mode %r; choose from %s'
                         % (calib_mode, ', '.join(CALIB_MODES)))
    if quantized_dtype not in QUANTIZED_DTYPES:
        raise ValueError('unknown quantized dtype %r; choose from %s'
                         % (quantized_dtype, ', '.join(QUANTIZED_DTYPES)))
    parted = sym.get_backend_symbol('MKLDNN_QUANTIZE')
    kept = keep_float_layers(parted, keep_float)
    qsym, qarg, aux, collector = q.quantize_graph(
        sym=parted, arg_params=arg_params, aux_params=aux_params, ctx=ctx,
        excluded_sym_names=list(kept), calib_mode=calib_mode,
        quantized_dtype=quantized_dtype, quantize_mode='full', logger=logger)
    # the thresholds come from the float32 partitioned graph's layer outputs; MXNet 1.9.1
    # has no public call between quantize_graph and calib_graph that fills the collector
    # from a bound Module: quantize_net_v2 and quantize_model call this same private one
    mod = mx.mod.Module(parted, data_names=['data'], label_names=None, context=ctx)
    mod.bind(data_shapes=calib_data.provide_data, for_training=False)
    mod.set_params(arg_params, aux_params, allow_missing=False, force_init=True)
    calib_data.reset()
    q._collect_layer_statistics(mod, calib_data, collector, num_examples, logger)
    qsym, qarg, aux = q.calib_graph(qsym, arg_params, aux_params, collector,
                                    calib_mode=calib_mode, quantized_dtype=quantized_dtype,
                                    logger=logger)
    return qsym.get_backend_symbol('MKLDNN_QUANTIZE'), qarg, aux, kept


def write_model(prefix, sym, arg_params, aux_params, force=False):
    """Write `sym` and its parameters (``arg:``/``aux:`` keys, as ``mx.model`` saves them)
    atomically; refuses to overwrite unless `force`. Returns the two paths."""
    paths = checkpoint_paths(prefix, 0)
    check_writable(paths, force)
    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
    params = {'arg:%s' % k: v.as_in_context(mx.cpu()) for k, v in arg_params.items()}
    params.update({'aux:%s' % k: v.as_in_context(mx.cpu()) for k, v in aux_params.items()})
    with atomic_path(paths[0]) as tmp_sym, atomic_path(paths[1]) as tmp_params:
        sym.save(tmp_sym)
        mx.nd.save(tmp_params, params)
    return list(paths)


def load_model(prefix):
    """``(symbol, arg_params, aux_params)`` of a written model, by plain MXNet."""
    return mx.model.load_checkpoint(prefix, 0)


def export_fused(net, output, force=False):
    """The oneDNN-fused float32 inference graph of `net` and its parameters, written as
    ``output-symbol.json`` and ``output-0000.params``."""
    check_writable(checkpoint_paths(output, 0), force)
    sym, arg, aux = inference_graph(net)
    return write_model(output, fuse(sym), arg, aux, force)


@contextlib.contextmanager
def _subgraph_backend(name):
    """``MXNET_SUBGRAPH_BACKEND`` set to `name` (None: as it was) while graphs are bound.

    MXNet 1.9.1's CPU build partitions every graph bound for inference with the MKLDNN
    backend unless this variable says otherwise (``graph_executor.cc`` logs "Subgraph
    backend MKLDNN is activated"), and reads it at each bind: ``NONE`` binds the graph as
    written."""
    old = os.environ.get('MXNET_SUBGRAPH_BACKEND')
    if name is not None:
        os.environ['MXNET_SUBGRAPH_BACKEND'] = name
    try:
        yield
    finally:
        if name is not None:
            if old is None:
                del os.environ['MXNET_SUBGRAPH_BACKEND']
            else:
                os.environ['MXNET_SUBGRAPH_BACKEND'] = old


class _Runner(object):
    """A graph bound for inference with ``mx.mod.Module``, as a deployment would run it;
    `backend` ``'NONE'`` binds it without MXNet's automatic oneDNN partitioning."""

    def __init__(self, model, input_shape, batch, ctx=mx.cpu(), backend=None):
        sym, arg, aux = model
        self.mod = mx.mod.Module(sym, data_names=['data'], label_names=None, context=ctx)
        with _subgraph_backend(backend):
            self.mod.bind(data_shapes=[('data', (batch,) + tuple(input_shape))],
                          for_training=False)
            self.mod.set_params(arg, aux, allow_missing=False)

    def __call__(self, x):
        self.mod.forward(mx.io.DataBatch([x]), is_train=False)
        return self.mod.get_outputs()


def predict(model, x, batch=64, backend=None):
    """Outputs of `model` (symbol, args, auxs) for the float32 array `x` (N, 3, H, W):
    a list with one (N, classes) array per output of the graph. `backend` ``'NONE'``
    runs the graph as written (no automatic oneDNN partitioning)."""
    runner = _Runner(model, x.shape[1:], min(batch, len(x)), backend=backend)
    outs = []
    for start in range(0, len(x), batch):
        outs.append([o.asnumpy() for o in runner(mx.nd.array(x[start:start + batch]))])
    return [np.concatenate(parts) for parts in zip(*outs)]


def _scores(outputs):
    """One (N, classes) score: the logits, or the ensemble's log-probabilities from its
    components' logits (:func:`~fusenet_gluon.training.metrics.ensemble_log_probs`, as
    training's val_acc)."""
    if len(outputs) == 1:
        return outputs[0]
    return ensemble_log_probs(mx.nd.array(np.stack(outputs))).asnumpy()


def accuracy(model, loader, input_shape):
    """Top-1 accuracy of `model` over every batch of `loader` (``(data, label)`` pairs)."""
    runner, correct, total, bound = None, 0, 0, None
    for data, label in loader:
        if runner is None or data.shape[0] != bound:
            runner, bound = _Runner(model, input_shape, data.shape[0]), data.shape[0]
        scores = _scores([o.asnumpy() for o in runner(data)])
        correct += int((scores.argmax(axis=1) == label.asnumpy()).sum())
        total += data.shape[0]
    return correct / max(1, total)


def throughput(models, input_shape, batch, iters=20, repeat=3, warmup=3, seed=0,
               unpartitioned=()):
    """Inference img/s of each of `models` (name -> (symbol, args, auxs)) at `batch` with
    ``mx.mod.Module``, the models interleaved in each of `repeat` rounds; the median round
    of each. The models named in `unpartitioned` are bound without MXNet's automatic
    oneDNN partitioning (``MXNET_SUBGRAPH_BACKEND=NONE``)."""
    x = mx.nd.array(np.random.RandomState(seed).normal(
        size=(batch,) + tuple(input_shape)).astype(np.float32))
    runners = {name: _Runner(model, input_shape, batch,
                             backend='NONE' if name in unpartitioned else None)
               for name, model in models.items()}
    for run in runners.values():
        for _ in range(warmup):
            for o in run(x):
                o.wait_to_read()
    rates = {name: [] for name in models}
    for _ in range(repeat):
        for name, run in runners.items():
            start = time.perf_counter()
            for _ in range(iters):
                outs = run(x)
            for o in outs:
                o.wait_to_read()
            rates[name].append(batch * iters / (time.perf_counter() - start))
    return {name: float(np.median(r)) for name, r in rates.items()}


def file_size(prefix):
    """Bytes of a written model (symbol and params)."""
    return sum(os.path.getsize(p) for p in checkpoint_paths(prefix, 0))
