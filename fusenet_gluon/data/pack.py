"""Pack the paper's data sets into RecordIO (``train.rec``/``test.rec`` with ``.idx``).

    python -m fusenet_gluon.data.pack cifar10  SRC_DIR OUT_DIR   # cifar-10-batches-py/
    python -m fusenet_gluon.data.pack cifar100 SRC_DIR OUT_DIR   # cifar-100-python/
    python -m fusenet_gluon.data.pack svhn     SRC_DIR OUT_DIR   # {train,extra,test}_32x32.mat
    python -m fusenet_gluon.data.pack imagenet SRC_DIR OUT_DIR   # SRC_DIR/{train,val}/CLASS/*.JPEG
    python -m fusenet_gluon.data.pack folder   SRC_DIR OUT.rec [--resize 480]  # one subfolder a class
    python -m fusenet_gluon.data.pack digits   OUT_DIR           # the bundled default data
    python -m fusenet_gluon.data.pack mnist-idx /usr/share/datasets/fashion-mnist OUT_DIR

CIFAR and SVHN images are stored losslessly (PNG); image folders as JPEG (quality 95), the
shorter side resized to 480 as the original stored ImageNet. ``imagenet`` writes the
original's file names, ``imagenet_train.rec`` and ``imagenet_val.rec``. Every data set
packer also writes ``dataset.json`` beside the records, so that training picks the data
set's preset from ``--data-dir`` alone. Existing files are never overwritten unless
``--force`` is given.
"""
import argparse
import os
import struct

import numpy as np

from .. import safe_pickle
from ..utils import HelpFormatter, UserError, run_cli
from .meta import IMAGENET_FILES, write_meta
from .presets import IMAGENET_STORED_SHORT_SIDE
from .recordio import check_free, pack_pair, write_images

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.ppm', '.pgm', '.tif', '.tiff', '.webp')


def _require(path):
    if not os.path.exists(path):
        raise FileNotFoundError('missing input: %s' % path)
    return path


def _unpickle(path):
    """A CIFAR python batch (a pickled dict of bytes keys, a uint8 array and label lists),
    read as data: a pickle naming anything but numpy's array rebuilders is refused."""
    return safe_pickle.load_file(_require(path), safe_pickle.NUMPY_ARRAYS,
                                 'a CIFAR python batch', encoding='bytes')


def _cifar_images(batch, label_key, path):
    try:
        data = np.asarray(batch[b'data'], np.uint8)
        labels = np.asarray(batch[label_key], np.int64)
    except KeyError as err:
        raise UserError('%s lacks the field %s' % (path, err)) from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise UserError('%s: expected data of shape (N, 3072) and N labels, got %s and %d'
                        % (path, data.shape, len(labels)))
    return labels, data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def load_cifar10(src):
    """Arrays from the official ``cifar-10-batches-py`` folder."""
    parts = [_cifar_images(_unpickle(os.path.join(src, 'data_batch_%d' % i)), b'labels',
                           'data_batch_%d' % i) for i in range(1, 6)]
    train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    test = _cifar_images(_unpickle(os.path.join(src, 'test_batch')), b'labels', 'test_batch')
    return train, test


def load_cifar100(src, label='fine'):
    """Arrays from the official ``cifar-100-python`` folder."""
    key = b'fine_labels' if label == 'fine' else b'coarse_labels'
    return tuple(_cifar_images(_unpickle(os.path.join(src, n)), key, n)
                 for n in ('train', 'test'))


def _svhn(path):
    from scipy.io import loadmat
    try:
        mat = loadmat(_require(path))
        x, y = mat['X'], mat['y'].reshape(-1).astype(np.int64)
    except (KeyError, ValueError, TypeError) as err:
        raise UserError('%s is not an SVHN .mat file (%s)' % (path, err)) from None
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != len(y):
        raise UserError('%s: expected X of shape (32, 32, 3, N), got %s' % (path, x.shape))
    y[y == 10] = 0  # SVHN stores the digit 0 as label 10
    return y, np.ascontiguousarray(x.transpose(3, 0, 1, 2))


def load_svhn(src, extra=True):
    """Arrays from the official ``{train,extra,test}_32x32.mat``; train + extra as the original."""
    parts = [_svhn(os.path.join(src, 'train_32x32.mat'))]
    if extra:
        parts.append(_svhn(os.path.join(src, 'extra_32x32.mat')))
    train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    return train, _svhn(os.path.join(src, 'test_32x32.mat'))


#: The official MNIST-format files (MNIST, Fashion-MNIST, KMNIST), gzipped or not.
IDX_FILES = {'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
             'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')}
#: 28x28 images are padded by 2 pixels of 0 on every side to 32x32: every pixel is kept.
IDX_PAD = 2


def read_idx(path):
    """An idx file (the MNIST format: big-endian magic 0x0000 08 NDIM, the dimensions, then
    unsigned bytes) as a NumPy array; ``.gz`` files are read through gzip."""
    import gzip
    opener = gzip.open if path.endswith('.gz') else open
    try:
        with opener(path, 'rb') as f:
            head = f.read(4)
            if len(head) < 4 or head[:3] != b'\x00\x00\x08' or not 1 <= head[3] <= 4:
                raise UserError('%s is not an idx file of unsigned bytes' % path)
            dims = struct.unpack('>%dI' % head[3], f.read(4 * head[3]))
            data = np.frombuffer(f.read(), np.uint8)
    except (OSError, EOFError) as err:   # gzip: EOFError for a cut-off file
        raise UserError('cannot read %s (%s)' % (path, err)) from None
    if data.size != int(np.prod(dims)):
        raise UserError('%s holds %d bytes where its header promises %s'
                        % (path, data.size, 'x'.join(map(str, dims))))
    return data.reshape(dims)


def _idx_path(src, name):
    for candidate in (name + '.gz', name):
        if os.path.isfile(os.path.join(src, candidate)):
            return os.path.join(src, candidate)
    raise FileNotFoundError('missing input: %s(.gz) in %s' % (name, src))


def load_mnist_idx(src):
    """Training and test arrays from a folder of the official MNIST-format files, as 32x32
    RGB: each 28x28 grey image padded with 2 black pixels a side, copied to 3 channels."""
    out = []
    for part in ('train', 'test'):
        images = read_idx(_idx_path(src, IDX_FILES[part][0]))
        labels = read_idx(_idx_path(src, IDX_FILES[part][1])).astype(np.int64)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise UserError('%s: expected N images of HxW and N labels, got %s and %s'
                            % (src, images.shape, labels.shape))
        padded = np.pad(images, ((0, 0), (IDX_PAD, IDX_PAD), (IDX_PAD, IDX_PAD)))
        out.append((labels, np.repeat(padded[..., None], 3, axis=3)))
    return out[0], out[1]


def folder_items(src):
    """(classes, [(label, path)]) of an image-folder tree, classes sorted by name."""
    _require(src)
    classes = sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d)))
    if not classes:
        raise UserError('%s has no class subfolders' % src)
    items = []
    for label, name in enumerate(classes):
        for root, _, files in sorted(os.walk(os.path.join(src, name))):
            items += [(label, os.path.join(root, f)) for f in sorted(files)
                      if f.lower().endswith(IMAGE_EXTENSIONS)]
    if not items:
        raise UserError('%s holds no images' % src)
    return classes, items


def read_resized(path, resize):
    import cv2
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise UserError('cannot read image %s' % path)
    if resize:
        h, w = img.shape[:2]
        s = resize / float(min(h, w))
        img = cv2.resize(img, (max(1, int(round(w * s))), max(1, int(round(h * s)))),
                         interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    return img[:, :, ::-1]


def pack_folder(src, out, resize, quality, force, desc='folder'):
    """One image-folder tree (a subfolder a class) to `out` (.rec + .idx) and its class
    names to ``out``'s ``.classes.txt``; returns (classes, images)."""
    classes, items = folder_items(src)
    images = (read_resized(path, resize) for _, path in items)
    write_images(out, [label for label, _ in items], images, force, desc, '.jpg', quality)
    synset = os.path.splitext(out)[0] + '.classes.txt'
    with open(synset, 'w') as f:
        f.write(''.join('%d\t%s\n' % (i, c) for i, c in enumerate(classes)))
    print('class names in %s' % synset)
    return classes, len(items)


def pack_imagenet(src, out_dir, resize, quality, force):
    """``SRC/train`` and ``SRC/val`` (a subfolder a class, the same classes in both) to the
    original's ``imagenet_train.rec`` and ``imagenet_val.rec`` in `out_dir`."""
    parts = [os.path.join(src, 'train'), os.path.join(src, 'val')]
    missing = [p for p in parts if not os.path.isdir(p)]
    if missing:
        raise UserError('%s must hold train/ and val/, each with one subfolder a class; '
                        'missing: %s' % (src, ', '.join(missing)))
    class_sets = [folder_items(p)[0] for p in parts]
    if class_sets[0] != class_sets[1]:
        raise UserError('train/ and val/ of %s have different class folders (%d and %d; '
                        'first difference: %s)' % (src, len(class_sets[0]), len(class_sets[1]),
                                                   sorted(set(class_sets[0]) ^
                                                          set(class_sets[1]))[0]))
    targets = [os.path.join(out_dir, n) for n in IMAGENET_FILES]
    check_free(targets, force)
    counts = [pack_folder(p, t, resize, quality, True, 'imagenet ' + part)[1]
              for p, t, part in zip(parts, targets, ('train', 'val'))]
    write_meta(out_dir, 'imagenet', IMAGENET_FILES, len(class_sets[0]), counts)
    return targets


def _add_array_packers(sub):
    """The data sets read as arrays and written as ``train.rec`` and ``test.rec``."""
    for kind, src_help in (('cifar10', 'the cifar-10-batches-py folder'),
                           ('cifar100', 'the cifar-100-python folder'),
                           ('svhn', 'folder with train/extra/test_32x32.mat')):
        p = sub.add_parser(kind, help='pack %s' % kind)
        p.add_argument('src', help=src_help)
        p.add_argument('out', help='output folder for train.rec and test.rec')
        p.add_argument('--force', action='store_true', help='overwrite existing files')
        if kind == 'cifar100':
            p.add_argument('--label', choices=('fine', 'coarse'), default='fine')
        if kind == 'svhn':
            p.add_argument('--no-extra', action='store_true',
                           help='train on train_32x32 only (the original used train + extra)')


def _add_folder_packers(sub):
    """The image-folder trees, stored as resized JPEG."""
    for kind, text, out_help in (
            ('imagenet', 'pack SRC/train and SRC/val (one subfolder a class) to '
                         'imagenet_train.rec and imagenet_val.rec', 'output folder'),
            ('folder', 'pack one image-folder tree (one subfolder a class)',
             'output .rec file')):
        p = sub.add_parser(kind, help=text, description=text)
        p.add_argument('src')
        p.add_argument('out', help=out_help)
        p.add_argument('--resize', type=int, default=IMAGENET_STORED_SHORT_SIDE,
                       help='shorter side in pixels (0 keeps the size; default %d, as the '
                            'original stored ImageNet)' % IMAGENET_STORED_SHORT_SIDE)
        p.add_argument('--quality', type=int, default=95, help='JPEG quality')
        p.add_argument('--force', action='store_true', help='overwrite existing files')


def _add_digit_packers(sub):
    """The MNIST-format idx files and the embedded digits."""
    p = sub.add_parser('mnist-idx', help='pack a folder of the official MNIST-format files '
                                         '(Fashion-MNIST, MNIST, KMNIST) to 32x32 RGB')
    p.add_argument('src', help='folder with train-images-idx3-ubyte(.gz), train-labels-...,'
                               ' t10k-images-..., t10k-labels-... (Fashion-MNIST: apt-get '
                               'install dataset-fashion-mnist, /usr/share/datasets/'
                               'fashion-mnist)')
    p.add_argument('out', help='output folder for train.rec and test.rec')
    p.add_argument('--dataset', default='fashion-mnist',
                   help='the data set the files hold, written to dataset.json (the '
                        'fashion-mnist preset has its statistics; others train with '
                        '--dataset)')
    p.add_argument('--force', action='store_true', help='overwrite existing files')
    p = sub.add_parser('digits', help="pack scikit-learn's digits (the default data)")
    p.add_argument('out', help='output folder for train.rec and test.rec')
    p.add_argument('--force', action='store_true', help='overwrite existing files')


def build_parser():
    """The command line: one subcommand per kind of source (the arrays of CIFAR and SVHN,
    image folders, MNIST's idx files and the embedded digits)."""
    parser = argparse.ArgumentParser(prog='python -m fusenet_gluon.data.pack',
                                     description=__doc__,
                                     formatter_class=HelpFormatter)
    sub = parser.add_subparsers(dest='kind', required=True)
    _add_array_packers(sub)
    _add_folder_packers(sub)
    _add_digit_packers(sub)
    return parser


def _check_args(args):
    """The user's mistakes in the flags, refused in one line before any work."""
    if getattr(args, 'quality', 95) not in range(1, 101) or getattr(args, 'resize', 0) < 0:
        raise UserError('--quality is a JPEG quality from 1 to 100 and --resize a side >= 0 '
                        '(0 keeps the size), got %s and %s' % (args.quality, args.resize))
    if args.kind == 'folder' and not args.out.endswith('.rec'):
        raise UserError('the output of folder must be a .rec file, got %s' % args.out)


def _pack(args):
    """Read the data set `args` name and write its records."""
    if args.kind == 'cifar10':
        pack_pair(args.out, *load_cifar10(args.src), args.force, 'cifar10')
    elif args.kind == 'cifar100':
        pack_pair(args.out, *load_cifar100(args.src, args.label), args.force, 'cifar100',
                  20 if args.label == 'coarse' else 100)
    elif args.kind == 'svhn':
        pack_pair(args.out, *load_svhn(args.src, not args.no_extra), args.force, 'svhn')
    elif args.kind == 'digits':
        from .digits import pack_digits
        pack_digits(args.out, args.force)
    elif args.kind == 'mnist-idx':
        pack_pair(args.out, *load_mnist_idx(args.src), args.force, args.dataset,
                  10)   # MNIST, Fashion-MNIST, KMNIST: ten classes each
    elif args.kind == 'imagenet':
        pack_imagenet(args.src, args.out, args.resize, args.quality, args.force)
    else:
        pack_folder(args.src, args.out, args.resize, args.quality, args.force)


def main(argv=None):
    args = build_parser().parse_args(argv)
    _check_args(args)
    _pack(args)
    return 0


def cli():
    raise SystemExit(run_cli(main, 'python -m fusenet_gluon.data.pack'))


if __name__ == '__main__':
    cli()
