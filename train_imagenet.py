#!/usr/bin/env python
"""Train a deep-fusion network on ImageNet with the authors' recipe.

    python train_imagenet.py --help
    python train_imagenet.py --network imagenet_cross --data-dir DIR --gpus 0,1,2,3

The recipe and the loop live in the package fusenet_gluon.training; this script is its
command line.
"""
from fusenet_gluon.training.cli import main
from fusenet_gluon.utils import run_cli

if __name__ == '__main__':
    raise SystemExit(run_cli(lambda: main(imagenet=True), 'train_imagenet.py'))
