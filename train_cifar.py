#!/usr/bin/env python
"""Train a deep-fusion network on CIFAR-10/100 or SVHN (or, with no --data-dir, the bundled digits) with the authors' recipe.

    python train_cifar.py --help
    python train_cifar.py --network cross --depth 110 --dataset cifar10 --data-dir DIR --gpus 0,1

The recipe and the loop live in the package fusenet_gluon.training; this script is its
command line.
"""
from fusenet_gluon.training.cli import main
from fusenet_gluon.utils import run_cli

if __name__ == '__main__':
    raise SystemExit(run_cli(lambda: main(imagenet=False), 'train_cifar.py'))
