"""GluonCV, imported so that it stays quiet and safe wherever this package runs.

gluoncv 0.10.5.post0 (the last release) has two traps, both seen here:

* ``import gluoncv`` raises RuntimeError when torch >= 2.0 is installed beside it: its
  ``__init__`` calls ``check._require_pytorch_version('1.4.0', '2.0.0')`` and catches only
  ImportError. DLA users often have torch installed (they compare with PyTorch), so the
  import below makes ``import torch`` fail with ImportError for its duration: GluonCV then
  skips its PyTorch half, as on a machine without torch. A torch that was imported before
  is put back untouched.
* its ``check`` module builds ``distutils.version.LooseVersion`` objects, which warn with
  DeprecationWarning (and ``-W error::DeprecationWarning`` would turn that into an
  ImportError); those warnings are silenced for the import only.

Everything of the package takes GluonCV from here: ``from .gcv import gluoncv``.
"""
import sys
import warnings

__all__ = ['gluoncv', 'transform_eval']

_ABSENT = object()


def _import_gluoncv():
    torch = sys.modules.get('torch', _ABSENT)
    sys.modules['torch'] = None   # `import torch` now raises ImportError
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', DeprecationWarning)
            import gluoncv
            from gluoncv.data.transforms.presets import imagenet
    finally:
        if torch is _ABSENT:
            del sys.modules['torch']
        else:
            sys.modules['torch'] = torch
    return gluoncv, imagenet.transform_eval


gluoncv, transform_eval = _import_gluoncv()
