"""The work of ``python -m fusenet_gluon.convert quantize``: calibrate on a data set's
training records, write the INT8 model, and measure it against the float32 export.

Every check (the folder, its data set, the records, the network's input size and classes,
the output files) runs before anything is computed or written; a mistake raises
:class:`~fusenet_gluon.utils.UserError` or ``ValueError`` with one line naming it.
"""
import os

import mxnet as mx
import numpy as np

from . import quantize as Q
from .data import presets as P
from .data.loaders import GluonLoader, RecordDataset, RecordIterLoader, check_file
from .data.meta import CIFAR_FILES, META_FILE, read_meta
from .data.recordio import missing_file_message
from .data.transforms import as_array
from .upstream import checkpoint_paths
from .utils import UserError, check_writable

__all__ = ['add_arguments', 'data_preset', 'calibration_iter', 'validation_loader', 'run']

BATCHES = (1, 64)


def add_arguments(parser):
    """The flags of the ``quantize`` command beyond the network and its source."""
    parser.add_argument('--data-dir', required=True,
                        help='folder of the data set the network was trained on: calibration '
                             'reads its training records, accuracy its validation records')
    parser.add_argument('--dataset', default=None,
                        help='data set preset (statistics, classes), where the folder has no '
                             '%s: one of %s' % (META_FILE, ', '.join(P.DATASETS)))
    parser.add_argument('--train-dataset', default=CIFAR_FILES[0],
                        help='training records (calibration) in --data-dir (default: train.rec)')
    parser.add_argument('--val-dataset', default=CIFAR_FILES[1],
                        help='validation records (accuracy) in --data-dir (default: test.rec)')
    parser.add_argument('--calib-examples', type=int, default=Q.DEFAULT_CALIB_EXAMPLES,
                        help='training images for calibration, drawn at random without '
                             'augmentation (default: %d)' % Q.DEFAULT_CALIB_EXAMPLES)
    parser.add_argument('--calib-mode', default='naive', choices=Q.CALIB_MODES,
                        help="thresholds: the layer outputs' min/max (naive) or the "
                             'KL-optimal clip (entropy) (default: naive)')
    parser.add_argument('--quantized-dtype', default='auto', choices=Q.QUANTIZED_DTYPES,
                        help='INT8 type of the activations (default: auto, uint8 after a '
                             'ReLU)')
    parser.add_argument('--keep-float', default=','.join(Q.DEFAULT_KEEP_FLOAT),
                        metavar='LIST',
                        help='layers left in float32, a comma list of %s (default: none, '
                             'by measurement: docs/deployment.md)' % ','.join(Q.KEEP_FLOAT))
    parser.add_argument('--bench-iters', type=int, default=20,
                        help='batches per timing round of the speed comparison (default: 20; '
                             '0: no timing)')


def data_preset(spec, data_dir, dataset=None, train_file=CIFAR_FILES[0]):
    """The preset of `data_dir`'s records, checked against the network `spec`."""
    if not os.path.isdir(data_dir):
        raise UserError('calibration folder %s does not exist' % data_dir)
    packed = read_meta(data_dir)
    name = dataset or packed
    train = os.path.join(data_dir, train_file)
    if not os.path.isfile(train):
        raise FileNotFoundError(missing_file_message(train, name))
    if name is None:
        raise UserError('%s has no %s: name its data set with --dataset (one of %s)'
                        % (data_dir, META_FILE, ', '.join(P.DATASETS)))
    preset = P.family_preset(P.get_preset(name), spec.family)
    size = spec.input_shape[1]
    if preset.input_size != size:
        pool = spec.family.pool_size_for(preset.input_size)
        hint = ' (--pool-size %d builds it for them)' % pool if pool else ''
        raise UserError('%s takes %dx%d images; %s records are %dx%d%s' % (
            spec.label, size, size, preset.name, preset.input_size, preset.input_size, hint))
    if preset.classes != spec.classes:
        raise UserError('%s has %d classes and %s has %d: calibrate with the data set it '
                        'was trained on' % (spec.label, spec.classes, preset.name,
                                            preset.classes))
    return preset


def calibration_iter(data_dir, preset, examples, batch_size=64, train_file=CIFAR_FILES[0],
                     seed=0):
    """``(DataIter, count)``: `examples` training images drawn at random (seeded), each
    prepared exactly as a validation image (no augmentation), in batches named ``data``."""
    if examples < 1:
        raise UserError('--calib-examples must be at least 1, got %d' % examples)
    path = os.path.join(data_dir, train_file)
    offsets = check_file(path, preset)  # missing, empty, corrupt, wrong size: one line
    pick = np.sort(np.random.RandomState(seed).choice(
        len(offsets), min(examples, len(offsets)), replace=False))
    records = RecordDataset(path, offsets)
    transform = preset.augment.gluon_transform(preset, train=False)
    x = np.stack([as_array(transform(records[i][0])) for i in pick])
    return mx.io.NDArrayIter(x, batch_size=min(batch_size, len(x)),
                             last_batch_handle='pad'), len(x)


def validation_loader(data_dir, preset, val_file=CIFAR_FILES[1], batch_size=64):
    """Every validation record once, normalised as training's validation data."""
    path = os.path.join(data_dir, val_file)
    offsets = check_file(path, preset)
    if 'recordio' not in preset.augment.exact:   # the loader that is exact for it
        return GluonLoader(path, offsets, preset, batch_size, False, workers=0)
    return RecordIterLoader(path, offsets, preset, batch_size, False)


#: the float32 graph bound as written, without MXNet's automatic oneDNN partitioning
UNFUSED = 'float32 unpartitioned'


def _speeds(models, input_shape, iters, out):
    """Print img/s of each model at each batch of :data:`BATCHES`, against float32."""
    for batch in BATCHES:
        rates = Q.throughput(models, input_shape, batch, iters=iters, unpartitioned=[UNFUSED])
        base = rates['float32']
        out('batch %2d: ' % batch + ', '.join('%s %.1f img/s (%.2fx)' % (
            name, rate, rate / base) for name, rate in rates.items()))


def run(net, args, out=print):
    """``convert quantize``: check everything, calibrate, write ``args.output``, report."""
    spec = net.spec
    preset = data_preset(spec, args.data_dir, args.dataset, args.train_dataset)
    if args.bench_iters < 0:
        raise UserError('--bench-iters must be at least 0, got %d' % args.bench_iters)
    keep = tuple(k for k in args.keep_float.split(',') if k.strip())
    Q.keep_float_layers(mx.sym.var('data'), keep)  # names the unknown kinds, if any
    check_writable(checkpoint_paths(args.output, 0), args.force)
    calib, count = calibration_iter(args.data_dir, preset, args.calib_examples,
                                    train_file=args.train_dataset)
    val = validation_loader(args.data_dir, preset, args.val_dataset)
    fp32 = Q.inference_graph(net)
    qsym, qarg, qaux, kept = Q.quantize(*fp32, calib, args.calib_mode, keep,
                                        args.quantized_dtype)
    for path in Q.write_model(args.output, qsym, qarg, qaux, args.force):
        out('wrote %s' % path)
    int8 = Q.load_model(args.output)   # what plain MXNet reads back
    ops = Q.op_counts(int8[0])
    out('calibrated (%s) on %d training images of %s; input (x - mean) / std with mean %s, '
        'std %s' % (args.calib_mode, count, args.data_dir, preset.mean, preset.std))
    out('INT8 nodes: %d of %d (%s); kept in float32: %s' % (
        len(Q.quantized_nodes(int8[0])), sum(ops.values()),
        ', '.join('%s %d' % kv for kv in sorted(ops.items())), ', '.join(kept) or 'none'))
    shape = spec.input_shape
    acc32, acc8 = Q.accuracy(fp32, val, shape), Q.accuracy(int8, val, shape)
    out('test accuracy on %d images: float32 %.2f%%, int8 %.2f%% (%+.2f points)' % (
        val.num_examples, 100 * acc32, 100 * acc8, 100 * (acc8 - acc32)))
    if args.bench_iters:
        out('img/s with mx.mod.Module, models interleaved; float32 is bound as MXNet does by '
            'default (it partitions for oneDNN itself), %s with MXNET_SUBGRAPH_BACKEND=NONE'
            % UNFUSED)
        _speeds({'float32': fp32, UNFUSED: fp32, 'fused float32': (Q.fuse(fp32[0]),)
                 + fp32[1:], 'int8': int8}, shape, args.bench_iters, out)
    return dict(float32=acc32, int8=acc8)
