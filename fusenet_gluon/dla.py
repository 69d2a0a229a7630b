"""Deep Layer Aggregation: the model module is :mod:`fusenet_gluon.models.dla`; this path
is kept for earlier imports (``from fusenet_gluon.dla import dla_init``)."""
from .models.dla import *  # noqa: F401,F403
from .models.dla import __all__  # noqa: F401
