"""fusenet_gluon.data.recordio: a truncated file names its record."""
import os

import numpy as np
import pytest

from conftest import write_rec
from fusenet_gluon.data import DataError, recordio


def test_truncated_rec_names_the_record(tmp_path):
    write_rec(tmp_path / 'train.rec', np.arange(10) % 10,
              np.random.RandomState(0).randint(0, 256, (10, 32, 32, 3)))
    size = os.path.getsize(tmp_path / 'train.rec')
    with open(tmp_path / 'train.rec', 'r+b') as f:
        f.truncate(size - 500)
    with pytest.raises(DataError) as err:
        recordio.scan(str(tmp_path / 'train.rec'))
    assert 'record 9' in str(err.value) and 'truncated' in str(err.value)
