"""The training command line: the original's flags, and the resolved run configuration.

:func:`build_parser` has the original's flags (``options.py`` / ``train_imagenet.py``) and
the options beyond it; :func:`resolve` checks every flag a user can get wrong, fills the
defaults that depend on others (the data set's epochs and schedule, the model prefix) and
selects the devices, before any work starts, and returns a :class:`RunConfig`.
"""
import argparse
import dataclasses
import math
import os
import time
from typing import List, Optional, Tuple

import mxnet as mx

from .. import arch, families
from .. import spec as net_spec
from ..data import get_preset, lr_steps
from ..data.augment import PAD_COLOURS
from ..data.presets import family_preset
from ..data.meta import CIFAR_FILES, IMAGENET_FILES, META_FILE, read_meta
from ..data.presets import DATASETS, IMAGENET_FB_MEAN, IMAGENET_FB_STD, Preset
from ..devices import AUTO_CPU_DEVICES_RULE, cpu_devices_arg, get_contexts
from ..gpu_support import check_gpus
from ..utils import HelpFormatter, UserError, parse_ints
from .checkpoint import RunFiles
from .recipe import check_amp
from .distributed import KV_STORES, is_distributed

#: num_depth when --depth is not given (the original options.py: DFN-MR2's 62)
DEFAULT_DEPTH = 62


_UNSET = object()


class _Parser(argparse.ArgumentParser):
    """An argument parser whose namespaces also say which flags were given (``explicit``):
    a resumed run takes the others from its checkpoint."""

    def parse_known_args(self, args=None, namespace=None):
        ns, rest = super(_Parser, self).parse_known_args(args, namespace)
        if namespace is None:
            probe = argparse.Namespace(**{a.dest: _UNSET for a in self._actions
                                          if a.dest != argparse.SUPPRESS})
            probe, _ = super(_Parser, self).parse_known_args(args, probe)
            ns.explicit = frozenset(k for k, v in vars(probe).items() if v is not _UNSET)
        return ns, rest


def build_parser(imagenet=False):
    """The original's flags (options.py / train_imagenet.py), plus the options beyond it."""
    p = _Parser(
        description='Train a deep-fusion network on %s with the original recipe.'
                    % ('ImageNet' if imagenet else 'CIFAR-10/100 or SVHN'),
        formatter_class=HelpFormatter)
    _add_network_arguments(p.add_argument_group('network'), imagenet)
    _add_data_arguments(p.add_argument_group('data'), imagenet)
    g = p.add_argument_group('training')
    _add_device_arguments(g, imagenet)
    _add_schedule_arguments(g, imagenet)
    _add_step_arguments(g)
    _add_checkpoint_arguments(p.add_argument_group('checkpoints and logs'), imagenet)
    return p


def _add_network_arguments(g, imagenet):
    """The network's flags (:func:`fusenet_gluon.spec.add_arguments`); ImageNet: --fb-mean."""
    net_spec.add_arguments(g, family='imagenet' if imagenet else 'cifar',
                           default_depth=DEFAULT_DEPTH)
    if imagenet:
        g.add_argument('--fb-mean', action='store_true',
                       help='normalise with mean %s, std %s instead of the original '
                            'statistics' % (IMAGENET_FB_MEAN, IMAGENET_FB_STD))


def _add_data_arguments(g, imagenet):
    """Which data, where, and how they are read."""
    g.add_argument('--dataset', default=None,
                   choices=['imagenet'] if imagenet else ['cifar10', 'cifar100', 'svhn',
                                                          'fashion-mnist', 'digits'],
                   help='dataset preset: statistics, augmentation, classes, epochs (default: '
                        'what --data-dir/%s says, as the packer wrote it; else %s)'
                        % (META_FILE, 'imagenet' if imagenet else 'cifar10 with --data-dir, '
                           'and the embedded digits without'))
    g.add_argument('--data-dir', default=None,
                   help='folder with the RecordIO files' + (
                       '' if imagenet else '; none: the embedded handwritten digits'))
    g.add_argument('--train-dataset', default=(IMAGENET_FILES if imagenet else CIFAR_FILES)[0],
                   help='training file')
    g.add_argument('--val-dataset', default=(IMAGENET_FILES if imagenet else CIFAR_FILES)[1],
                   help='validation file')
    g.add_argument('--num-examples', type=int, default=None,
                   help='training examples for the schedule (default: the records in the file)')
    g.add_argument('--loader', choices=['recordio', 'gluon'], default='recordio',
                   help='recordio: mx.io.ImageRecordIter (C++ threads); gluon: Dataset + '
                        'DataLoader workers')
    g.add_argument('--data-workers', type=int, default=None,
                   help='decoding threads/processes (default: the core count)')
    if not imagenet:
        g.add_argument('--pad-colour', choices=PAD_COLOURS, default='white',
                       help="colour of the CIFAR augmentation's 4-pixel pad: white is what "
                            "the authors' MXNet fork ran (fill_value 255: zlmzju/mxnet "
                            '271cac1f, src/io/image_aug_default.cc); mean, the rounded mean '
                            'colour, is what their train_model.py intended and did not run')


def _add_device_arguments(g, imagenet):
    """The devices (:mod:`fusenet_gluon.devices`) and the batch split over them."""
    g.add_argument('--gpus', default=None,
                   help="comma list of GPU ids; '' for the CPU; default: every visible GPU, "
                        'else the CPU')
    g.add_argument('--cpu-devices', type=cpu_devices_arg, default=1, metavar='N',
                   help='on the CPU, split the batch over N devices mx.cpu(0..N-1) exactly '
                        'as over N GPUs (BatchNorm statistics per device); auto: %s'
                        % AUTO_CPU_DEVICES_RULE)
    g.add_argument('--batch-size', type=int, default=256 if imagenet else 64,
                   help='total batch, split over the devices')


def _add_schedule_arguments(g, imagenet):
    """The schedule: its length, the learning rate and its steps, the warmup."""
    g.add_argument('--num-epochs', type=int, default=None,
                   help='epochs (default: the dataset preset: %s)' % ', '.join(
                       '%d %s' % (preset.num_epochs, preset.name)
                       for preset in DATASETS.values()))
    g.add_argument('--lr', type=float, default=0.1, help='initial learning rate')
    g.add_argument('--lr-factor', type=float, default=0.1, help='factor at each step')
    if imagenet:
        g.add_argument('--lr-epoch-step', type=int, default=DATASETS['imagenet'].lr_step_epochs,
                       help='divide the lr by 1/lr-factor every N epochs (when no --lr-steps)')
    g.add_argument('--lr-steps', default=None,
                   help='epochs at which the lr is multiplied, e.g. 200,300,350 (default: '
                        + ('every --lr-epoch-step epochs)' if imagenet
                           else '1/2, 3/4, 7/8 of the epochs)'))
    g.add_argument('--lr-mode', choices=['step', 'cosine'], default='step',
                   help='step: the original multi-factor schedule; cosine: beyond the original')
    g.add_argument('--warmup-epochs', type=float, default=0, help='linear warmup epochs')


def _add_step_arguments(g):
    """The update, the loss, the precision, the seed, and how gradients are combined."""
    g.add_argument('--momentum', type=float, default=0.9,
                   help="NAG momentum (DLA: of plain SGD, as its authors train it)")
    g.add_argument('--wd', type=float, default=1e-4, help='weight decay on every parameter')
    g.add_argument('--label-smoothing', type=float, default=0.0, help='epsilon (0: off)')
    g.add_argument('--mixup', type=float, default=0.0, help='mixup alpha (0: off)')
    g.add_argument('--dtype', choices=['float32', 'float16'], default='float32',
                   help='float16 keeps float32 master weights (multi-precision); GPUs only')
    g.add_argument('--amp', action='store_true',
                   help='automatic mixed precision (mxnet.contrib.amp): float16 on GPUs, '
                        'bfloat16 on CPUs with avx512_bf16/amx_bf16; weights and checkpoints '
                        'stay float32')
    g.add_argument('--mode', choices=['hybrid', 'imperative'], default='hybrid',
                   help='hybrid: static_alloc/static_shape graph; imperative: for debugging')
    g.add_argument('--rand-seed', type=int, default=None,
                   help='seed of initialisation, shuffling and augmentation (default: time)')
    g.add_argument('--kv-store', default='device', choices=KV_STORES,
                   help='how gradients are combined: local, device or nccl on one machine; '
                        'dist_sync, dist_device_sync or dist_async (updates on the servers; '
                        'its momentum is not checkpointed) under fusenet_gluon.launch')


def _add_checkpoint_arguments(g, imagenet):
    """Where the run's files go, resuming, how often to save and log."""
    g.add_argument('--model-prefix', default=None,
                   help='checkpoint prefix (default: LOG_DIR/DATASET/NETWORK_dDEPTHwW[_EXP]/model)')
    g.add_argument('--load-epoch', default=None, metavar='N|latest',
                   help='resume from MODEL_PREFIX-%%04d.params (and .states when present), or '
                        'from the newest checkpoint (latest); the seed and every setting that '
                        'decides the arithmetic come from the checkpoint')
    g.add_argument('--force', action='store_true',
                   help='start over under a model prefix that holds a run: its files are '
                        'removed first')
    g.add_argument('--checkpoint-epochs', type=int, default=None,
                   help='save every N epochs (default: num_epochs/8' +
                        (', ImageNet 5)' if imagenet else ')'))
    g.add_argument('--log-iters', type=int, default=None,
                   help='log every N batches (default: 50, or often enough for four lines an '
                        'epoch)')
    g.add_argument('--log-dir', default='./snapshot/', help='where default prefixes go')
    g.add_argument('--exp-name', default=None, help='experiment name in the default prefix')
    g.add_argument('--no-plot', action='store_true', help='skip the PNG of the curves')


@dataclasses.dataclass(frozen=True)
class RunConfig(object):
    """Everything a training run needs, resolved and checked (see :func:`resolve`)."""
    spec: net_spec.NetworkSpec
    preset: Preset
    data_dir: Optional[str]
    train_file: str
    val_file: str
    num_examples: Optional[int]
    loader: str
    data_workers: Optional[int]
    contexts: List[mx.Context]
    batch_size: int
    num_epochs: int
    lr: float
    lr_factor: float
    lr_steps: List[int]
    lr_mode: str
    warmup_epochs: float
    momentum: float
    wd: float
    label_smoothing: float
    mixup: float
    dtype: str
    amp: bool
    hybridize: bool
    seed: int
    kv_store: str
    files: RunFiles
    notes: Tuple[str, ...]  # things the user should know, logged before training starts
    load_epoch: Optional[int]
    start_over: bool  # --force: remove the files of the run under the prefix first
    checkpoint_epochs: int
    log_iters: Optional[int]  # None: 50, or fewer in a short epoch (loop.log_interval)
    plot: bool
    arguments: dict  # the command line as given, for the log and -run.json

    @property
    def dataset(self):
        return self.preset.name

    @property
    def top5(self):
        """ImageNet reports top-5 accuracy beside top-1 (the family's entry says)."""
        return self.spec.family.top5


def _dataset(args, imagenet, notes):
    """The data set preset the flags ask for: ``--dataset``, else what the packer wrote into
    ``--data-dir``, else the family's default."""
    if args.data_dir is None and args.dataset not in (None, 'digits') and not imagenet:
        raise UserError('--dataset %s needs --data-dir, the folder with %s and %s (make them '
                        'with: python -m fusenet_gluon.data.pack %s --help)'
                        % (args.dataset, args.train_dataset, args.val_dataset, args.dataset))
    packed = read_meta(args.data_dir)
    name = args.dataset or packed or ('imagenet' if imagenet else
                                      'cifar10' if args.data_dir else 'digits')
    if args.dataset and packed and packed != args.dataset:
        notes.append('--dataset %s, but %s says its records are %s: using the %s preset as '
                     'asked' % (args.dataset, os.path.join(args.data_dir, META_FILE), packed,
                                args.dataset))
    if imagenet != (name == 'imagenet'):
        raise UserError('%s holds %s records; train them with %s' % (
            args.data_dir, name, 'train_imagenet.py' if name == 'imagenet' else
            'train_cifar.py'))
    if imagenet:
        if args.lr_epoch_step < 1:
            raise UserError('--lr-epoch-step must be at least 1')
        return get_preset('imagenet', args.fb_mean).replace(lr_step_epochs=args.lr_epoch_step)
    return get_preset(name, pad=args.pad_colour)


def _check_numbers(args):
    """Hyper-parameters that MXNet would take and fail on later, or silently misuse."""
    checks = [('--lr', args.lr, 0, None, False), ('--lr-factor', args.lr_factor, 0, None, False),
              ('--momentum', args.momentum, 0, 1, True), ('--wd', args.wd, 0, None, True),
              ('--warmup-epochs', args.warmup_epochs, 0, None, True),
              ('--label-smoothing', args.label_smoothing, 0, 1, True),
              ('--mixup', args.mixup, 0, None, True)]
    for flag, value, low, high, low_ok in checks:
        if not math.isfinite(value) or value < low or (value == low and not low_ok) \
                or (high is not None and value >= high):
            raise UserError('%s must be a number %s %g%s, got %s' % (
                flag, '>=' if low_ok else '>', low, '' if high is None else ' and < %g' % high,
                value))
    for flag, value in (('--num-examples', args.num_examples),
                        ('--data-workers', args.data_workers)):
        if value is not None and value < (1 if flag == '--num-examples' else 0):
            raise UserError('%s must be at least %d, got %d'
                            % (flag, 1 if flag == '--num-examples' else 0, value))
    if args.rand_seed is not None and not 0 <= args.rand_seed < 2 ** 32:
        raise UserError('--rand-seed must be a whole number from 0 to 2**32 - 1, got %d'
                        % args.rand_seed)
    if args.exp_name is not None and (os.sep in args.exp_name or args.exp_name in ('', '.', '..')):
        raise UserError('--exp-name %r must be a name, not a path (the run goes under '
                        '--log-dir)' % args.exp_name)


def _depth_note(spec):
    if spec.built_depth == spec.depth:
        return []
    return ['--depth %d builds the same %s as num_depth %d (blocks %s of %d layers): the '
            'run is named by num_depth %d' % (
                spec.depth, spec.network, spec.built_depth,
                ','.join(map(str, arch.num_blocks(spec.network, spec.depth))),
                arch.block_depth(spec.network, spec.depth), spec.built_depth)]


def _default_prefix(args, spec, dataset):
    tag = spec.tag if args.exp_name is None else '%s_%s' % (spec.tag, args.exp_name)
    return os.path.join(args.log_dir, dataset, tag, 'model')


def _devices(args, notes):
    """The devices, checked against the precision and the batch they are given."""
    contexts = get_contexts(args.gpus, args.cpu_devices, args.batch_size)
    if args.cpu_devices == 'auto' and contexts[0].device_type == 'cpu':
        notes.append('--cpu-devices auto: %d CPU device(s), %s' % (
            len(contexts), AUTO_CPU_DEVICES_RULE))
    check_gpus(contexts)  # a card this MXNet build has no code for: say so now
    if args.dtype == 'float16' and contexts[0].device_type == 'cpu':
        # MXNet's CPU build has no float16 GEMM ("FP16 gemm on cpu not implemented")
        raise UserError('float16 weights (--dtype float16) need GPUs (--gpus 0,...); this run '
                        'would use the CPU, where --amp trains in bfloat16 if the CPU has the '
                        'instructions')
    if args.amp:
        check_amp(contexts)
    if args.batch_size % len(contexts):
        raise UserError('--batch-size %d does not split over %d devices'
                        % (args.batch_size, len(contexts)))
    return contexts

#: the flags whose values decide a run's arithmetic: a resumed run takes them from its
#: checkpoint (``P-run.json``; the seed from the checkpoint's ``.json``), and refuses a flag
#: that says otherwise. Not among them: the schedule's length (``--num-epochs``, with the
#: steps derived from it; a resumed run may be extended, as the original's were), where the
#: data are, the devices' ids, how often to log and save.
CARRIED = ('rand_seed', 'network', 'depth', 'widen_factor', 'blocks', 'components',
           'no_weight_sharing', 'pool_size', 'fb_mean', 'dataset', 'num_examples', 'loader',
           'cpu_devices', 'batch_size', 'lr', 'lr_factor', 'lr_epoch_step', 'lr_steps',
           'lr_mode', 'warmup_epochs', 'momentum', 'wd', 'label_smoothing', 'mixup', 'dtype',
           'amp', 'mode', 'kv_store', 'pad_colour')


def _load_epoch(text):
    """``--load-epoch``: a checkpoint's epoch (0 or more) or 'latest'."""
    if text is None or text == 'latest' or isinstance(text, int) and text >= 0:
        return text
    if isinstance(text, str) and text.isdigit():
        return int(text)
    raise UserError("--load-epoch takes the epoch of a checkpoint (0 or more) or 'latest', "
                    'got %s' % text)


def _flag(dest, value, trained=False):
    """``--lr 0.1`` (`trained`: ``with --lr 0.1``), ``--amp``, ``without --amp``."""
    flag = '--' + dest.replace('_', '-')
    if value is None or value is False:
        return 'without ' + flag
    text = flag if value is True else '%s %s' % (flag, value)
    return 'with ' + text if trained else text


def _same(dest, a, b):
    if dest == 'lr_steps' and a is not None and b is not None:
        return parse_ints(a, '--lr-steps') == parse_ints(b, '--lr-steps')
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) \
            and not isinstance(a, bool) and not isinstance(b, bool):
        return float(a) == float(b)
    return a == b


def _resumed(args, imagenet):
    """`args` with the settings of the run behind checkpoint ``--load-epoch`` (see
    :data:`CARRIED`), 'latest' replaced by its epoch; a flag given that contradicts one is
    refused naming both values."""
    # the default prefix is named by the flags' network
    files = _prefix_files(args, *([] if args.model_prefix else _network(args, imagenet, [])))
    if args.load_epoch == 'latest':
        args.load_epoch = files.latest_epoch()
    files.check_resumable(args.load_epoch)
    saved, seed = files.saved_settings(args.load_epoch)
    if seed is not None:
        saved = dict(saved, rand_seed=seed)
    explicit = getattr(args, 'explicit', None)
    if explicit is None:  # a namespace not made by build_parser: flags that differ from the default
        parser = build_parser(imagenet)
        explicit = {d for d in CARRIED if hasattr(args, d)
                    and getattr(args, d) != parser.get_default(d)}
    changed = {}
    for dest in CARRIED:
        if dest not in saved or not hasattr(args, dest):
            continue
        if dest in explicit and not _same(dest, getattr(args, dest), saved[dest]):
            raise UserError('%s contradicts the run being resumed, which was trained %s '
                            '(%s): leave the flag out to resume it exactly, or start a new '
                            'run under another --model-prefix' % (
                                _flag(dest, getattr(args, dest)),
                                _flag(dest, saved[dest], trained=True),
                                files.state(args.load_epoch) if dest == 'rand_seed'
                                else files.run))
        changed[dest] = saved[dest]
    return argparse.Namespace(**dict(vars(args), **changed))


def _check_prefix(prefix, flag):
    """A model prefix the run's files can be written under, or one line naming the flag:
    it must end in a name, and no file may stand where a folder is needed."""
    if not os.path.basename(prefix) or os.path.basename(prefix) in ('.', '..'):
        raise UserError("%s %s names a folder; the run's files need a name prefix in it, "
                        'e.g. %s' % (flag, prefix, os.path.join(prefix, 'model')))
    folder = os.path.dirname(os.path.abspath(prefix))
    here = folder
    while not os.path.exists(here):
        here = os.path.dirname(here)
    if not os.path.isdir(here):
        raise UserError('%s %s: %s is a file, where a folder is needed' % (flag, prefix, here))
    if not os.access(here, os.W_OK | os.X_OK):
        raise UserError('%s %s: cannot write in %s (permission denied)' % (flag, prefix, here))


def _prefix_files(args, spec=None, preset=None):
    """The run's files under ``--model-prefix``, or under the default prefix of `spec` on
    `preset`'s data set."""
    return RunFiles(args.model_prefix or _default_prefix(args, spec, preset.name))


def _run_files(args, spec, preset):
    """The run's files, checked: the prefix can be written, ``--load-epoch`` names a
    checkpoint there, and a fresh run does not write over another run's files."""
    flag = '--model-prefix' if args.model_prefix else '--log-dir'
    files = _prefix_files(args, spec, preset)
    _check_prefix(files.prefix, flag)
    if args.load_epoch is not None:
        if args.force:
            raise UserError('--force starts the run under %s over; --load-epoch %s continues '
                            'it: give one of them' % (files.prefix, args.load_epoch))
        files.check_resumable(args.load_epoch)
        return files
    existing = files.existing()
    if existing and not args.force:
        raise UserError('the model prefix %s already holds a run (%s): continue it with '
                        '--load-epoch latest, or start over with --force, which removes '
                        'its files' % (files.prefix, _some(existing)))
    return files


def _some(paths, shown=3):
    names = [os.path.basename(p) for p in paths]
    return ', '.join(names[:shown]) + (' and %d more' % (len(names) - shown)
                                       if len(names) > shown else '')


def _network(args, imagenet, notes):
    """The network spec and the data set preset the flags ask for."""
    family, script = families.find(args.network), 'imagenet' if imagenet else 'cifar'
    if family is not None and script not in family.datasets:
        raise UserError('%s is one of %s: train it with train_%s.py'
                        % (args.network, family.title, family.datasets[0]))
    preset = _dataset(args, imagenet, notes)
    spec = net_spec.from_args(args, classes=preset.classes, default_depth=DEFAULT_DEPTH,
                              input_size=preset.input_size)
    return spec, family_preset(preset, spec.family)


def resolve(args, imagenet=False):
    """Check the flags and fill the defaults that depend on other flags: a :class:`RunConfig`.

    Every mistake a user can make in the flags raises :class:`UserError` here, before any
    file is written or any data is read.
    """
    args.load_epoch = _load_epoch(args.load_epoch)
    if args.load_epoch is not None:  # the checkpoint's settings first
        args = _resumed(args, imagenet)
    notes = []
    spec, preset = _network(args, imagenet, notes)
    loader = _loader(args, spec, preset, notes)
    notes += _depth_note(spec)
    _check_numbers(args)
    num_epochs = preset.num_epochs if args.num_epochs is None else args.num_epochs
    _check_counts(args, num_epochs)
    if args.amp and args.dtype == 'float16':
        raise UserError('choose one of --amp and --dtype float16')
    steps = _lr_steps(args, preset, num_epochs)
    contexts = _devices(args, notes)
    _check_kv_store(args, imagenet)
    files = _run_files(args, spec, preset)
    seed = int(time.time()) % (2 ** 31) if args.rand_seed is None else args.rand_seed
    return RunConfig(
        spec=spec, preset=preset, loader=loader, contexts=contexts, num_epochs=num_epochs,
        lr_steps=steps, seed=seed, files=files, notes=tuple(notes),
        checkpoint_epochs=args.checkpoint_epochs if args.checkpoint_epochs is not None
        else 5 if imagenet else max(1, num_epochs // 8),
        arguments={k: v for k, v in dict(vars(args), rand_seed=seed).items()
                   if k != 'explicit'},
        **_as_given(args))


def _loader(args, spec, preset, notes):
    """The data loader: ``--loader``, but the gluon loader for DLA's ImageNet crop; a note
    when it is not the exact one for the data set."""
    loader = args.loader
    if spec.family.data_recipe == 'dla' and not preset.augment.record_iter \
            and loader == 'recordio':
        loader = 'gluon'   # MXNet's C++ iterator has no random-resized crop
        notes.append("DLA on ImageNet: the authors' random-resized crop runs in the "
                     'gluon loader (--loader gluon)')
    if preset.augment.exact and loader not in preset.augment.exact:
        notes.append('the %s loader is not exact for %s (see docs/data.md): --loader %s is '
                     'exact' % (loader, preset.name, preset.augment.exact[0]))
    return loader


def _check_counts(args, num_epochs):
    """The counts that must be at least 1: the batch, the epochs, how often to log and save."""
    for flag, value in (('batch_size', args.batch_size), ('num_epochs', num_epochs),
                        ('log_iters', 1 if args.log_iters is None else args.log_iters),
                        ('checkpoint_epochs', 1 if args.checkpoint_epochs is None
                         else args.checkpoint_epochs)):
        if value < 1:
            raise UserError('--%s must be at least 1' % flag.replace('_', '-'))


def _lr_steps(args, preset, num_epochs):
    """The epochs at which the learning rate steps: ``--lr-steps``, else the preset's."""
    if args.lr_steps is None:
        return lr_steps(preset, num_epochs)
    steps = parse_ints(args.lr_steps, '--lr-steps', '200,300,350')
    if any(step < 1 for step in steps):
        raise UserError('--lr-steps are epochs, each at least 1, got %s' % args.lr_steps)
    return steps


def _check_kv_store(args, imagenet):
    """A parameter-server kvstore needs the job ``fusenet_gluon.launch`` starts."""
    if is_distributed(args.kv_store) and not os.environ.get('DMLC_ROLE'):
        raise UserError('--kv-store %s needs a parameter-server job: start it with python -m '
                        'fusenet_gluon.launch -n WORKERS -s SERVERS -- python %s ...'
                        % (args.kv_store, 'train_imagenet.py' if imagenet else 'train_cifar.py'))


def _as_given(args):
    """The :class:`RunConfig` fields that are the flags as given (or as resumed)."""
    return dict(
        data_dir=args.data_dir, train_file=args.train_dataset, val_file=args.val_dataset,
        num_examples=args.num_examples, data_workers=args.data_workers,
        batch_size=args.batch_size, lr=args.lr, lr_factor=args.lr_factor,
        lr_mode=args.lr_mode, warmup_epochs=args.warmup_epochs, momentum=args.momentum,
        wd=args.wd, label_smoothing=args.label_smoothing, mixup=args.mixup, dtype=args.dtype,
        amp=args.amp, hybridize=args.mode == 'hybrid', kv_store=args.kv_store,
        load_epoch=args.load_epoch, start_over=args.load_epoch is None and args.force,
        log_iters=args.log_iters, plot=not args.no_plot)



# ---------------------------------------------------------------- runs started from Python
#: The flags of a run that a tool starting runs (the study) passes on to each: the data,
#: the devices, the schedule's length and the precision.
RUN_FLAGS = ('--data-dir', '--dataset', '--num-examples', '--batch-size', '--num-epochs',
             '--lr-steps', '--gpus', '--cpu-devices', '--amp')


def add_run_arguments(parser, flags=RUN_FLAGS, imagenet=False, **defaults):
    """Declare `flags` on `parser` as :func:`build_parser` declares them (their one
    declaration), in a group of their own; `defaults` (by dest) replace theirs. Returns
    their dests, to hand the parsed values to :func:`config`."""
    group = parser.add_argument_group('training (as the training command line)')
    dests = []
    for action in build_parser(imagenet)._actions:
        if set(action.option_strings) & set(flags):
            if action.dest in defaults:   # its help then names the new default
                action.help = action.help.split(' (default')[0]
            group._add_action(action)
            dests.append(action.dest)
    parser.set_defaults(**defaults)
    return dests


def config(imagenet=False, **arguments):
    """The :class:`RunConfig` of the training command line given `arguments` by dest
    (``network='cross', depth=14, num_epochs=20, ...``): its defaults, its checks and its
    errors (:class:`UserError`), from Python."""
    args = build_parser(imagenet).parse_args([])
    unknown = sorted(set(arguments) - set(vars(args)))
    if unknown:
        raise TypeError('unknown training argument(s): %s' % ', '.join(unknown))
    args = argparse.Namespace(**dict(vars(args), **arguments))
    args.explicit = frozenset(arguments)   # as if typed: a resumed run checks them
    return resolve(args, imagenet)
