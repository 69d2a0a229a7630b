"""fusenet_gluon.quantize (and deploy, convert's quantize subcommand): the deployment exports,
INT8 calibrated on real records, and the oneDNN-fused float32.

The accuracy of the INT8 model is computed here from the test records with this file's
own decoding and normalisation (NumPy), and the model is read by plain MXNet only
(``SymbolBlock.imports``, ``mx.mod.Module``), not by the code that wrote it.
"""
import json
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

from conftest import ROOT, cli_here
from fusenet_gluon import arch, convert, quantize as Q
from fusenet_gluon.model_zoo import from_spec
from fusenet_gluon.spec import NetworkSpec

#: the digits' statistics as docs/reference.md (section 3.1) gives them
DIGITS_MEAN, DIGITS_STD = 77.865, 82.534


def run(*argv, timeout=600):
    return subprocess.run([sys.executable] + list(argv), cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def read_records(path):
    """(images normalised as the digits' validation data, labels), decoded with OpenCV."""
    import cv2
    record = mx.recordio.MXRecordIO(path, 'r')
    xs, ys = [], []
    while True:
        item = record.read()
        if item is None:
            break
        header, buf = mx.recordio.unpack(item)
        img = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
        xs.append((img.astype(np.float32) - DIGITS_MEAN) / DIGITS_STD)
        ys.append(int(header.label))
    return np.stack(xs).transpose(0, 3, 1, 2).copy(), np.array(ys)


def module_accuracy(prefix, x, y):
    sym, arg, aux = mx.model.load_checkpoint(prefix, 0)
    mod = mx.mod.Module(sym, data_names=['data'], label_names=None, context=mx.cpu())
    mod.bind(data_shapes=[('data', x.shape)], for_training=False)
    mod.set_params(arg, aux)
    mod.forward(mx.io.DataBatch([mx.nd.array(x)]), is_train=False)
    return float((mod.get_outputs()[0].asnumpy().argmax(1) == y).mean())


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """DFN-MR (cross, num_depth 14) trained for 6 epochs on the packed digits (on two CPU
    devices: 1.8x one device's speed on these 2-core machines, docs/performance.md)."""
    root = tmp_path_factory.mktemp('quantize')
    data, prefix = str(root / 'digits'), str(root / 'run' / 'model')
    assert run('-m', 'fusenet_gluon.data.pack', 'digits', data).returncode == 0
    r = run('train_cifar.py', '--gpus', '', '--network', 'cross', '--depth', '14',
            '--data-dir', data, '--num-epochs', '6', '--rand-seed', '1', '--no-plot',
            '--cpu-devices', '2',
            '--model-prefix', prefix)
    assert r.returncode == 0, r.stderr[-2000:]
    return root, data, prefix


def test_int8_model_loads_in_plain_mxnet_within_a_point_of_float32(trained):
    root, data, prefix = trained
    out = str(root / 'int8')
    r = run('-m', 'fusenet_gluon.convert', 'quantize', '--network', 'cross', '--depth', '14',
            '--prefix', prefix, '--epoch', '6', '--data-dir', data, '--output', out,
            '--bench-iters', '2')
    assert r.returncode == 0, r.stderr[-2000:]
    # quantized operators in the written graph
    nodes = json.load(open(out + '-symbol.json'))['nodes']
    quantized = [n for n in nodes if n.get('attrs', {}).get('quantized', '').lower() == 'true']
    assert len(quantized) >= 10 and any(n['op'] == '_contrib_quantize_v2' for n in nodes)
    # accuracy of the written files, by plain MXNet, against the float32 deploy export
    x, y = read_records(os.path.join(data, 'test.rec'))
    acc32 = module_accuracy(prefix + '-deploy', x, y)
    acc8 = module_accuracy(out, x, y)
    assert acc32 > 0.9 and abs(acc8 - acc32) <= 0.01, (acc32, acc8)
    block = mx.gluon.SymbolBlock.imports(out + '-symbol.json', ['data'], out + '-0000.params')
    logits = block(mx.nd.array(x[:64])).asnumpy()
    assert (logits.argmax(1) == y[:64]).mean() >= acc8 - 0.05
    # hosts without VNNI (AVX2 only) run other INT8 kernels: oneDNN is limited to them here
    code = ('import sys; sys.path.insert(0, %r); import numpy as np; import test_quantize as t; '
            'x, y = t.read_records(%r); print(t.module_accuracy(%r, x, y))'
            % (os.path.join(ROOT, 'tests'), os.path.join(data, 'test.rec'), out))
    env = dict(os.environ, DNNL_MAX_CPU_ISA='AVX2', DNNL_VERBOSE='1')
    avx2 = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=env)
    assert avx2.returncode == 0, avx2.stderr[-2000:]
    assert 'isa:Intel AVX2' in avx2.stdout   # oneDNN's own log says what it ran
    assert abs(float(avx2.stdout.strip().splitlines()[-1]) - acc32) <= 0.01
    # the command reports what was measured here
    line = [l for l in r.stdout.splitlines() if l.startswith('test accuracy')][0]
    assert 'int8 %.2f%%' % (100 * acc8) in line and 'float32 %.2f%%' % (100 * acc32) in line
    assert sum(l.startswith('batch ') for l in r.stdout.splitlines()) == 2


@pytest.fixture(scope='module')
def source(tmp_path_factory):
    """Parameters of an untrained cross at num_depth 14 (for the refusals)."""
    net = from_spec(NetworkSpec('cross', 14))
    net.initialize()
    path = str(tmp_path_factory.mktemp('source') / 'net.params')
    net.save_parameters(path)
    return path


def write_digit_like(folder, size):
    from fusenet_gluon.data.meta import write_meta
    from fusenet_gluon.data.recordio import write_records
    imgs = np.random.RandomState(0).randint(0, 255, (20, size, size, 3)).astype(np.uint8)
    for name in ('train', 'test'):
        write_records(os.path.join(folder, name + '.rec'), zip(np.arange(20) % 10, imgs))
    write_meta(folder, 'digits', ['train.rec', 'test.rec'], 10, [20, 20])


@pytest.mark.parametrize('case, message', [
    ('missing', 'does not exist'), ('empty', 'no such RecordIO file'),
    ('no-records', 'is empty'), ('wrong-size', 'is a 28x28 image; this data set needs 32x32')])
def test_bad_calibration_folder_gets_one_line_and_writes_nothing(tmp_path, source, case,
                                                                 message):
    folder = tmp_path / 'calib'
    if case != 'missing':
        folder.mkdir()
    if case == 'no-records':
        write_digit_like(str(folder), 32)
        open(str(folder / 'train.rec'), 'w').close()
    elif case == 'wrong-size':
        write_digit_like(str(folder), 28)
    out = tmp_path / 'out' / 'int8'
    argv = ['quantize', '--network', 'cross', '--depth', '14', '--params', source,
            '--data-dir', str(folder), '--output', str(out)]
    if case == 'missing':   # as a user runs it; the rest in this process
        r = run('-m', 'fusenet_gluon.convert', *argv)
        status, err = r.returncode, r.stderr
    else:
        status, _, err = cli_here(convert.main, 'python -m fusenet_gluon.convert', *argv)
    assert status == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / 'out').exists()


def test_folder_without_dataset_json_needs_dataset(tmp_path, source):
    folder = str(tmp_path / 'calib')
    write_digit_like(folder, 32)
    os.remove(os.path.join(folder, 'dataset.json'))
    with pytest.raises(convert.UserError, match='name its data set with --dataset'):
        convert.main(['quantize', '--network', 'cross', '--depth', '14', '--params', source,
                      '--data-dir', folder, '--output', str(tmp_path / 'q')])
    assert os.listdir(str(tmp_path)) == ['calib']


def random_statistics(net, seed=0):
    """BatchNorm statistics and affine parameters away from 0/1, so that folding them into
    the convolutions changes the arithmetic."""
    rng = np.random.RandomState(seed)
    for name, p in net.collect_params().items():
        if name.endswith(('running_mean', 'beta')):
            p.set_data(mx.nd.array(rng.normal(0, 0.1, p.shape)))
        elif name.endswith(('running_var', 'gamma')):
            p.set_data(mx.nd.array(rng.uniform(0.5, 1.5, p.shape)))


ZOO = [NetworkSpec('cross', 14), NetworkSpec('resnet', 14), NetworkSpec('half', 14),
       NetworkSpec('fuse6', 14), NetworkSpec('ensemble', 8),
       NetworkSpec('imagenet_cross', blocks=(1, 1, 1, 1), classes=10),
       NetworkSpec('dla46x_c', classes=10, pool_size=1)]


@pytest.mark.parametrize('spec', ZOO, ids=lambda s: s.tag)
def test_fused_export_agrees_with_the_unfused_graph(tmp_path, spec):
    net = from_spec(spec)
    net.initialize(mx.init.Xavier(magnitude=2))
    net(mx.nd.zeros((1,) + spec.input_shape))
    random_statistics(net)
    x = np.random.RandomState(1).normal(size=(4,) + spec.input_shape).astype(np.float32)
    out = str(tmp_path / 'fused')
    Q.export_fused(net, out)
    nodes = json.load(open(out + '-symbol.json'))['nodes']
    assert not any(n['op'] == 'BatchNorm' for n in nodes)
    assert any(n['op'] == '_sg_mkldnn_conv' for n in nodes)
    fused = mx.model.load_checkpoint(out, 0)
    # reference: the Gluon network itself, imperative (no graph partitioning at all)
    ref = net(mx.nd.array(x)).asnumpy()
    ref = list(ref) if spec.component_names else [ref]
    got = Q.predict(fused, x, backend='NONE')  # the fused nodes run as written
    assert len(got) == len(ref)
    for a, b in zip(ref, got):
        scale = max(1.0, np.abs(a).max())
        assert np.abs(a - b).max() / scale < 1e-4


@pytest.mark.parametrize('spec', ZOO, ids=lambda s: s.tag)
def test_every_family_quantizes(spec):
    """Random weights and calibration images: the graph quantizes, keeps its outputs (the
    ensemble its eight) and follows the float32 logits."""
    net = from_spec(spec)
    net.initialize(mx.init.Xavier(magnitude=2))
    net(mx.nd.zeros((1,) + spec.input_shape))
    random_statistics(net)
    x = np.random.RandomState(2).normal(size=(8,) + spec.input_shape).astype(np.float32)
    fp32 = Q.inference_graph(net)
    qsym, qarg, qaux, kept = Q.quantize(*fp32, mx.io.NDArrayIter(x, batch_size=4),
                                        keep_float=('classifier',))
    assert len(Q.quantized_nodes(qsym)) >= 5 and kept
    ref = Q.predict(fp32, x[:4], backend='NONE')
    got = Q.predict((qsym, qarg, qaux), x[:4])
    assert len(got) == (8 if spec.component_names else 1)
    for a, b in zip(ref, got):
        assert a.shape == b.shape == (4, spec.classes)
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9


def test_keep_float_finds_the_layers_by_kind():
    net = from_spec(NetworkSpec('cross', 14))
    net.initialize()
    sym = Q.inference_graph(net)[0].get_backend_symbol('MKLDNN_QUANTIZE')
    nodes = {n['name']: n for n in json.loads(sym.tojson())['nodes']}
    first = Q.keep_float_layers(sym, ('first',))
    assert len(first) == 1 and 'data' in [list(nodes)[i[0]] for i in nodes[first[0]]['inputs']]
    assert [nodes[n]['op'] for n in Q.keep_float_layers(sym, ('classifier',))] \
        == ['_sg_mkldnn_fully_connected']
    # cross at num_depth 14: 3 blocks, each one merge 0.5 * (a + b); the blocks that
    # change width sum two line convolutions, which oneDNN fuses into the second one
    merges = Q.keep_float_layers(sym, ('merge',))
    blocks = len(list(arch.cifar_layout('cross', 14, 1)))
    assert 1 <= len(merges) <= blocks and all(n.endswith('_plus0') for n in merges)
    with pytest.raises(ValueError, match='choose from first, classifier, merge'):
        Q.keep_float_layers(sym, ('stem',))


def test_ensemble_accuracy_scores_the_mean_of_the_components_softmax():
    """An ensemble's INT8 accuracy ranks classes by the mean of its components' softmax
    probabilities (computed here by hand), as training's val_acc does."""
    from fusenet_gluon.quantize import _scores
    rng = np.random.RandomState(0)
    outs = [5 * rng.normal(size=(50, 10)).astype(np.float32) for _ in range(8)]
    probs = [np.exp(o - o.max(axis=1, keepdims=True)) for o in outs]
    mean = np.mean([p / p.sum(axis=1, keepdims=True) for p in probs], axis=0)
    assert np.allclose(np.exp(_scores(outs)), mean, atol=1e-6)
    assert (_scores(outs).argmax(axis=1) == mean.argmax(axis=1)).all()
    assert _scores(outs[:1]) is outs[0]  # a single network: its logits as they are


def test_a_dla_at_the_wrong_size_is_told_the_pool_size_that_fits(tmp_path):
    """DLA at its default pooling takes 224x224 images; 32x32 records need pooling
    32 // 32 = 1, which the one-line refusal names. An ImageNet DFN, whose pooling is no
    option, gets no such hint."""
    from fusenet_gluon.deploy import data_preset
    from fusenet_gluon.utils import UserError
    folder = str(tmp_path)
    write_digit_like(folder, 32)
    with pytest.raises(UserError) as refused:
        data_preset(NetworkSpec('dla34', classes=10), folder)
    assert str(refused.value) == ('dla34 takes 224x224 images; digits records are 32x32 '
                                  '(--pool-size 1 builds it for them)')
    assert data_preset(NetworkSpec('dla34', classes=10, pool_size=1), folder).name == 'digits'
    with pytest.raises(UserError, match=r'takes 224x224 images; digits records are 32x32$'):
        data_preset(NetworkSpec('imagenet_resnet'), folder)
