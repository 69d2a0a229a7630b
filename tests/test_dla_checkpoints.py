"""The DLA authors' PyTorch checkpoints, read without PyTorch: real files of both formats
made by PyTorch, the authors' logits for weights from a recipe (tests/fixtures/, made once
with their dla.py in a separate environment with PyTorch 2.13.0; see 'made_with'),
strictness, a hostile pickle refused without running it, and a corrupt .pth in one line.
Modules: fusenet_gluon.torch_checkpoint, upstream (from_torch_state_dict, load_params),
models.dla and convert (to-gluon from a .pth)."""
import collections
import json
import os
import pickle
import struct
import zipfile
import zlib

import mxnet as mx
import numpy as np
import pytest

from conftest import Hostile, ROOT, run
from fusenet_gluon import get_model, upstream
from fusenet_gluon.torch_checkpoint import UnsafeCheckpoint, load_state_dict

FIXTURES = os.path.join(ROOT, 'tests', 'fixtures')
REFERENCE = json.load(open(os.path.join(FIXTURES, 'dla_reference.json')))


def recipe(key, shape):
    """Deterministic weights: numpy's RandomState seeded by the key's CRC-32 (the fixture
    was made with this same rule)."""
    rng = np.random.RandomState(zlib.crc32(key.encode()) % (2 ** 31))
    shape = tuple(shape)
    if key.endswith('running_var'):
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    if key.endswith('running_mean') or key.endswith('bias'):
        return (0.1 * rng.normal(0, 1, shape)).astype(np.float32)
    if len(shape) == 1:
        return (1 + 0.1 * rng.normal(0, 1, shape)).astype(np.float32)
    return rng.normal(0, 1 / np.sqrt(int(np.prod(shape[1:]))), shape).astype(np.float32)


def _unicode(text):
    data = text.encode()
    return b'X' + struct.pack('<I', len(data)) + data


def _int(value):
    return b'J' + struct.pack('<i', value)


def write_torch_zip(path, state):
    """A PyTorch >= 1.6 checkpoint written by hand (pickle protocol 2 opcodes, storages in
    the archive), independently of the reader: OrderedDict of float32 tensors."""
    pkl = [b'\x80\x02ccollections\nOrderedDict\n)R']
    storages = {}
    for i, (key, value) in enumerate(state.items()):
        value = np.ascontiguousarray(value, np.float32)
        storages[str(i)] = value.tobytes()
        strides = [int(s // 4) for s in value.strides]
        pkl += [_unicode(key), b'ctorch._utils\n_rebuild_tensor_v2\n(',
                b'(' + _unicode('storage') + b'ctorch\nFloatStorage\n' + _unicode(str(i)) +
                _unicode('cpu') + _int(value.size) + b'tQ', _int(0),
                b'(' + b''.join(_int(d) for d in value.shape) + b't',
                b'(' + b''.join(_int(s) for s in strides) + b't',
                b'\x89ccollections\nOrderedDict\n)R', b'tRs']
    pkl.append(b'.')
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('archive/data.pkl', b''.join(pkl))
        z.writestr('archive/version', b'3\n')
        for key, data in storages.items():
            z.writestr('archive/data/' + key, data)


def authors_weights(name, net):
    """The recipe's weights under the authors' state_dict keys, shaped as `net` needs."""
    shapes = {n: p.shape for n, p in net.collect_params().items()}
    state = collections.OrderedDict()
    for key, _ in REFERENCE['variants'][name]:
        if key.endswith('num_batches_tracked'):
            continue
        mapped = upstream.from_torch_state_dict({key: np.zeros(1, np.float32)}, shapes)
        state[key] = recipe(key, shapes[next(iter(mapped))])
    return state


@pytest.mark.parametrize('fmt', ['zip', 'legacy'])
def test_real_pytorch_files_of_both_formats(fmt):
    expect = json.load(open(os.path.join(FIXTURES, 'tiny.json')))
    got = load_state_dict(os.path.join(FIXTURES, 'tiny_%s.pth' % fmt))
    assert list(got) == ['conv.weight', 'bn.running_mean', 'fc.bias']  # counter dropped
    for key, value in got.items():
        np.testing.assert_array_equal(value, np.array(expect[key], value.dtype))
    assert got['fc.bias'].tolist() == [1.0, 4.0]   # a strided view at an offset


@pytest.mark.parametrize('name', ['dla34', 'dla46x_c', 'dla60x_c'])
def test_names_and_shapes_are_the_authors_state_dict(name):
    net = get_model(name)
    params = {n: p.shape for n, p in net.collect_params().items()}
    keys = [(k, tuple(s)) for k, s in REFERENCE['variants'][name]
            if not k.endswith('num_batches_tracked')]
    mapped = upstream.from_torch_state_dict(
        collections.OrderedDict((k, np.zeros(s, np.float32)) for k, s in keys), params)
    assert {n: v.shape for n, v in mapped.items()} == params


@pytest.mark.parametrize('case', sorted(REFERENCE['logits']))
def test_the_authors_logits_from_their_checkpoint_format(case, tmp_path):
    name, classes, pool, side = case.rsplit('_', 3)
    classes, pool, side = int(classes[1:]), int(pool[1:]), int(side[1:])
    net = get_model(name, classes=classes, pool_size=pool)
    path = str(tmp_path / 'weights.pth')
    write_torch_zip(path, authors_weights(name, net))
    x = mx.nd.array(np.random.RandomState(7).normal(0, 1, (2, 3, side, side)))
    expect = np.array(REFERENCE['logits'][case])
    for hybridize in (False, True):
        net = upstream.load_params(get_model(name, classes=classes, pool_size=pool), path)
        if hybridize:
            net.hybridize()
        np.testing.assert_allclose(net(x).asnumpy(), expect, rtol=1e-4, atol=1e-4)


def test_a_missing_key_or_another_variant_is_refused_by_name(tmp_path):
    net = get_model('dla34', classes=10, pool_size=1)
    state = authors_weights('dla34', net)
    del state['level3.tree2.root.bn.weight']
    path = str(tmp_path / 'one-missing.pth')
    write_torch_zip(path, state)
    fresh = get_model('dla34', classes=10, pool_size=1)
    with pytest.raises(ValueError) as err:
        upstream.load_params(fresh, path)
    assert 'missing (1): level3_tree2_root_bn_gamma' in str(err.value)
    assert all(p._data is None for p in fresh.collect_params().values())   # unchanged
    other = str(tmp_path / 'dla46x_c.pth')
    write_torch_zip(other, authors_weights('dla46x_c', get_model('dla46x_c', classes=10,
                                                                  pool_size=1)))
    with pytest.raises(ValueError) as err:
        upstream.load_params(get_model('dla34', classes=10, pool_size=1), other)
    text = str(err.value)
    assert 'missing (' in text and 'unexpected (' in text and 'wrong shape (' in text
    assert 'level2_tree1_conv3_weight' in text     # a Bottleneck layer dla34 does not have


def test_a_hostile_pickle_is_refused_without_running_it(tmp_path):
    marker = str(tmp_path / 'pwned')
    for fmt in ('zip', 'legacy'):
        path = str(tmp_path / ('evil-%s.pth' % fmt))
        payload = pickle.dumps(collections.OrderedDict(weight=Hostile(marker)), protocol=2)
        if fmt == 'zip':
            with zipfile.ZipFile(path, 'w') as z:
                z.writestr('archive/data.pkl', payload)
        else:
            with open(path, 'wb') as f:
                for header in (0x1950a86a20f9469cfc6c, 1001, {}):
                    f.write(pickle.dumps(header, protocol=2))
                f.write(payload)
        with pytest.raises(UnsafeCheckpoint) as err:
            load_state_dict(path)
        assert 'system' in str(err.value) and 'nothing of it was run' in str(err.value)
        with pytest.raises(ValueError):
            upstream.load_params(get_model('dla34'), path)
    assert not os.path.exists(marker)
    # a real pickle of something else than tensors is no state_dict either
    path = str(tmp_path / 'list.pth')
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('archive/data.pkl', pickle.dumps([1, 2], protocol=2))
    with pytest.raises(ValueError, match='state_dict of named tensors'):
        load_state_dict(path)


def test_convert_takes_the_authors_pth(tmp_path):
    import subprocess
    import sys
    path = str(tmp_path / 'dla46x_c.pth')
    net = get_model('dla46x_c', classes=10, pool_size=1)
    write_torch_zip(path, authors_weights('dla46x_c', net))
    common = ['--network', 'dla46x_c', '--classes', '10', '--pool-size', '1', '--params', path]
    out = str(tmp_path / 'g.params')
    r = subprocess.run([sys.executable, '-m', 'fusenet_gluon.convert', 'to-gluon'] + common +
                       ['--output', out], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    back = get_model('dla46x_c', classes=10, pool_size=1)
    back.load_parameters(out)
    x = mx.nd.array(np.random.RandomState(7).normal(0, 1, (2, 3, 32, 32)))
    np.testing.assert_allclose(back(x).asnumpy(),
                               np.array(REFERENCE['logits']['dla46x_c_c10_p1_s32']),
                               rtol=1e-4, atol=1e-4)
    r = subprocess.run([sys.executable, '-m', 'fusenet_gluon.convert', 'to-gluon', '--network',
                        'dla34', '--classes', '10', '--pool-size', '1', '--params', path,
                        '--output', str(tmp_path / 'x.params')], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 2 and 'does not fit' in r.stderr and 'Traceback' not in r.stderr


ALL = json.load(__import__('gzip').open(os.path.join(FIXTURES, 'dla_all.json.gz'), 'rt'))


@pytest.mark.parametrize('name', sorted(ALL['variants']))
def test_every_variant_gives_the_authors_logits(name, tmp_path):
    """All ten variants (32x32 inputs, pool 1, 10 classes): weights from the recipe under
    the authors' keys, through a PyTorch-format file, against their dla.py's logits."""
    net = get_model(name, classes=10, pool_size=1)
    state = collections.OrderedDict()
    for key, shape in ALL['variants'][name]:
        if not key.endswith('num_batches_tracked'):
            state[key] = recipe(key, shape)
    path = str(tmp_path / 'w.pth')
    write_torch_zip(path, state)
    net = upstream.load_params(net, path)
    x = mx.nd.array(np.random.RandomState(7).normal(0, 1, (2, 3, 32, 32)))
    expect = np.array(ALL['logits']['%s_c10_p1_s32' % name])
    scale = max(1.0, np.abs(expect).max())
    np.testing.assert_allclose(net(x).asnumpy() / scale, expect / scale, atol=1e-5)


def test_a_corrupt_pth_is_one_line(tmp_path):
    for name, content in (('bad.pth', b'not a checkpoint at all' * 10),
                          ('proto.pth', b'\x80' + b'garbage' * 10)):
        path = str(tmp_path / name)
        open(path, 'wb').write(content)
        r = run('-m', 'fusenet_gluon.convert', 'to-gluon', '--network', 'dla34', '--params',
                path, '--output', str(tmp_path / 'x'))
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert path in r.stderr and 'Traceback' not in r.stderr, r.stderr
        assert not os.path.exists(str(tmp_path / 'x'))
