"""Images per second of both loaders, beside the CPU training step they feed.

    python -m fusenet_gluon.data.bench [--cifar-images 4096] [--imagenet-images 256]

Packs CIFAR-like records (32x32 PNG) and ImageNet-like records (shorter side 480, JPEG
quality 95, as the original stored ImageNet) into a temporary folder, then times an epoch
of each loader with the training augmentation and with the validation transform, and the
hybridized DFN-MR training step (num_depth 26, batch 64) on this machine for comparison.
A benchmark: it reports numbers and asserts nothing.
"""
import argparse
import os
import shutil
import tempfile
import time

import numpy as np

from ..spec import NetworkSpec
from ..timing import bench_config, machine
from ..utils import HelpFormatter, UserError, check_range, run_cli
from .loaders import get_loaders
from .presets import IMAGENET_STORED_SHORT_SIDE
from .recordio import write_records


def _fake_photos(n, rng, shape):
    import cv2
    out = []
    for _ in range(n):
        img = rng.randint(0, 256, (shape[0] // 8, shape[1] // 8, 3)).astype(np.uint8)
        out.append(cv2.resize(img, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC))
    return out


def make_sets(folder, cifar_n, imagenet_n, seed=0):
    rng = np.random.RandomState(seed)
    cifar = os.path.join(folder, 'cifar')
    imgs = _fake_photos(64, rng, (32, 32))
    for name in ('train', 'test'):
        write_records(os.path.join(cifar, name + '.rec'),
                      ((i % 10, imgs[i % 64]) for i in range(cifar_n)), force=True)
    inet = os.path.join(folder, 'imagenet')
    side = IMAGENET_STORED_SHORT_SIDE
    photos = _fake_photos(16, rng, (side, side * 4 // 3))
    for name in ('train', 'val'):
        write_records(os.path.join(inet, name + '.rec'),
                      ((i % 1000, photos[i % 16]) for i in range(imagenet_n)), quality=95,
                      img_fmt='.jpg', force=True)
    return cifar, inet


def time_epoch(loader):
    tic, n = time.perf_counter(), 0
    for data, _ in loader:
        data.wait_to_read()
        n += data.shape[0]
    return n / (time.perf_counter() - tic)


def training_step_rate(batch=64, iters=5):
    import mxnet as mx
    r = bench_config(NetworkSpec('cross', 26), batch, mx.cpu(), modes=('hybrid',),
                     iters=iters, warmup=2, repeat=2)
    return r['modes']['hybrid']['train_img_s']


def main(argv=None):
    p = argparse.ArgumentParser(prog='python -m fusenet_gluon.data.bench', description=__doc__,
                                formatter_class=HelpFormatter)
    p.add_argument('--cifar-images', type=int, default=4096)
    p.add_argument('--imagenet-images', type=int, default=256)
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--workers', type=int, default=None, help='default: the core count')
    p.add_argument('--no-train-step', action='store_true', help='skip the training step')
    args = p.parse_args(argv)
    check_range('--batch-size', args.batch_size, 1)
    check_range('--workers', args.workers, 1)
    for flag, n in (('--cifar-images', args.cifar_images),
                    ('--imagenet-images', args.imagenet_images)):
        if n < args.batch_size:
            raise UserError('%s %d is fewer than one batch (--batch-size %d): a training '
                            'epoch would have no batch to time' % (flag, n, args.batch_size))
    print('# ' + machine())
    folder = tempfile.mkdtemp(prefix='fusenet-databench-')
    try:
        cifar, inet = make_sets(folder, args.cifar_images, args.imagenet_images)
        rows = []
        for dataset, path, val in (('cifar10', cifar, 'test.rec'), ('imagenet', inet, 'val.rec')):
            for backend in ('recordio', 'gluon'):
                train, test = get_loaders(dataset, path, args.batch_size, backend,
                                          val_file=val, workers=args.workers)
                time_epoch(train)  # warm: file cache, worker start
                rows.append((dataset, backend, time_epoch(train), time_epoch(test)))
                print('%-9s %-9s train %8.1f img/s   validation %8.1f img/s' % rows[-1],
                      flush=True)
        if not args.no_train_step:
            rate = training_step_rate(args.batch_size)
            print('training step, DFN-MR num_depth 26, batch %d, hybridized, CPU: %.1f img/s'
                  % (args.batch_size, rate))
            for dataset, backend, tr, _ in rows:
                if dataset == 'cifar10':
                    print('  %s loader / training step: %.0fx' % (backend, tr / rate))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


def cli():
    raise SystemExit(run_cli(main, 'python -m fusenet_gluon.data.bench'))


if __name__ == '__main__':
    cli()
