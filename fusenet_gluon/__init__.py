"""fusenet-gluon: the deep-fusion networks of Zhao et al. (arXiv 1611.07718) in MXNet Gluon.

>>> import fusenet_gluon
>>> net = fusenet_gluon.get_model('cross', depth=110)   # DFN-MR1
"""
import os

# MXNet trap: every CPU device shares ONE pool of temporary workspaces, 4 by default
# (MXNET_CPU_TEMP_COPY; GPUs have a pool each), handed out round-robin, each guarded by
# one engine variable. A Gluon CachedOp holds one workspace per device and pass, and every
# imperative operator (the loss, its backward) takes the next one, so the operators of
# mx.cpu(0) and mx.cpu(1) keep landing on the same workspaces and the engine runs them one
# after the other: the two devices' forward and backward ran at 380 img/s against 345 on
# one device, and at 636 with 64 workspaces (2-core AMD EPYC, 2026-11-30;
# docs/performance.md, "Several CPU devices").
# The pool is made at MXNet's first operator that asks for a workspace, so this must come
# before any work; a value the user set is kept.
os.environ.setdefault('MXNET_CPU_TEMP_COPY', '64')

from .model_zoo import from_spec, get_model, list_models  # noqa: E402,F401

__version__ = '0.1.0'
