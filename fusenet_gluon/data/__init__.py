"""Data: dataset presets, RecordIO loaders (C++ fast path and Gluon path), packing tools,
and the embedded default data set (scikit-learn's handwritten digits)."""
from .presets import DATASETS, Preset, get_preset, lr_steps  # noqa: F401
from .loaders import get_loaders, BACKENDS  # noqa: F401
from .recordio import DataError  # noqa: F401
from .gcv import gluoncv  # noqa: F401  (the data pipeline is built on GluonCV)
