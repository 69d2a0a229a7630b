"""fusenet-gluon: the deep-fusion networks of Zhao et al. (arXiv 1611.07718) in MXNet Gluon.

>>> import fusenet_gluon
>>> net = fusenet_gluon.get_model('cross', depth=110)   # DFN-MR1
"""
from .model_zoo import from_spec, get_model, list_models  # noqa: F401

__version__ = '0.1.0'
