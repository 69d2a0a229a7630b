"""The Gluon networks, one module per model family (its entry: :mod:`fusenet_gluon.families`).

    cifar      the CIFAR/SVHN deep-fusion nets and their baselines (CifarFuseNet)
    imagenet   the ImageNet DFN-MR and ResNet (ImageNetFuseNet)
    ensemble   the original's weight-shared ensemble (EnsembleNet)
    dla        Deep Layer Aggregation, as its authors build it (DLA)

Importing this package registers every family's builder and spec check in its entry;
:mod:`fusenet_gluon.model_zoo` builds networks by name from there.
"""
from . import cifar, dla, ensemble, imagenet  # noqa: F401

__all__ = ['cifar', 'imagenet', 'ensemble', 'dla']
