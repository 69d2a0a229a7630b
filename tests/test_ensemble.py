"""The original's eighth network, the weight-shared ensemble, in both constructions:
names, shapes, parameter counts and each component's logits for the same weights.
Modules: fusenet_gluon.models.ensemble and symbols/ensemble.py, with the ensemble's paths
through training, export and several devices."""
import mxnet as mx
import numpy as np
import pytest

import symbols
from fusenet_gluon import arch, get_model, upstream
from fusenet_gluon.spec import NetworkSpec

LABELS = ['softmax%d_label' % i for i in range(1, 9)]


def random_params(sym, rng):
    shapes, _, aux_shapes = sym.infer_shape(data=(1, 3, 32, 32))
    arg = {n: mx.nd.array((1.0 if n.endswith('gamma') else 0.0) + rng.normal(
        0, 1.0 / np.sqrt(np.prod(s[1:])) if n.endswith('weight') else 0.2, s))
        for n, s in zip(sym.list_arguments(), shapes) if n != 'data' and n not in LABELS}
    aux = {n: mx.nd.array(rng.normal(0, 0.1, s) if n.endswith('mean') else
                          rng.uniform(0.5, 1.5, s))
           for n, s in zip(sym.list_auxiliary_states(), aux_shapes)}
    return arg, aux


def module_softmaxes(sym, arg, aux, x):
    mod = mx.mod.Module(sym, data_names=['data'], label_names=LABELS[:len(sym.list_outputs())],
                        context=mx.cpu())
    mod.bind(data_shapes=[('data', x.shape)], for_training=False)
    mod.set_params(arg, aux)
    mod.forward(mx.io.DataBatch([mx.nd.array(x)]), is_train=False)
    return np.stack([o.asnumpy() for o in mod.get_outputs()])


@pytest.mark.parametrize('depth,w,classes', [(5, 1, 10), (14, 2, 10), (20, 1, 100)])
def test_gluon_ensemble_matches_the_original_graph(depth, w, classes, tmp_path):
    sym = symbols.ensemble.get_symbol(classes, depth, w)
    assert sym.list_outputs() == ['softmax%d_output' % i for i in range(1, 9)]
    arg, aux = random_params(sym, np.random.RandomState(depth))
    path = str(tmp_path / 'e-0001.params')
    mx.nd.save(path, dict([('arg:' + k, v) for k, v in arg.items()] +
                          [('aux:' + k, v) for k, v in aux.items()]))
    x = np.random.RandomState(1).normal(0, 1, (2, 3, 32, 32)).astype('float32')
    expect = module_softmaxes(sym, arg, aux, x)
    for hybridize in (False, True):
        net = upstream.load_params(get_model('ensemble', depth=depth, widen_factor=w,
                                             classes=classes), path)
        if hybridize:
            net.hybridize(static_alloc=True, static_shape=True)
        logits = net(mx.nd.array(x))
        assert logits.shape == (8, 2, classes)
        np.testing.assert_allclose(mx.nd.softmax(logits, axis=-1).asnumpy(), expect,
                                   rtol=1e-4, atol=1e-6)


def test_names_and_shapes_are_the_originals():
    sym = symbols.ensemble.get_symbol(10, 14, 2)
    shapes, _, aux_shapes = sym.infer_shape(data=(1, 3, 32, 32))
    expect = {n: s for n, s in zip(sym.list_arguments(), shapes)
              if n != 'data' and n not in LABELS}
    expect.update({arch.aux_to_gluon(n): s
                   for n, s in zip(sym.list_auxiliary_states(), aux_shapes)})
    net = get_model('ensemble', net_depth=14, widen_factor=2)
    assert {n: p.shape for n, p in net.collect_params().items()} == expect
    names = set(expect)
    # the quirks: a 16-channel stem at every width, a 3x3 left path, no right1 variables
    assert expect['g0_weight'] == (16, 3, 3, 3) and expect['g1_left_weight'] == (32, 16, 3, 3)
    assert expect['g2_left_weight'] == (64, 32, 3, 3)
    assert not [n for n in names if 'right1' in n]
    assert 'uncouple01g0_conv_bn_running_mean' in names and 'fc_weight' in names
    assert 'uncouple08g3_b4_conv3_bn_running_var' in names
    assert 'uncouple01g1_b1_conv3_bn_running_var' not in names   # LLL has no right path
    assert 'g1_b1_right2_bn_gamma' in names


def count(net):
    return sum(int(np.prod(p.shape)) for n, p in net.collect_params().items()
               if not n.endswith(('running_mean', 'running_var')))


@pytest.mark.parametrize('depth', [5, 14, 26, 110, 197])
def test_parameter_counts_equal_fuse3s(depth):
    """docs/reference.md: the ensemble has fuse3's parameters at the same depth (14:
    198,074; 110: 1,753,530), whose counts are checked against the reference table."""
    net = get_model('ensemble', depth=depth)
    if depth >= 5:
        assert count(net) == count(get_model('fuse3', depth=depth))
    if depth == 14:
        assert count(net) == 198074
    if depth == 110:
        assert count(net) == 1753530


def test_hand_count_of_a_small_ensemble():
    # net_depth 8: right paths of 2, 2, 2 layers; w 1, 10 classes; conv k*k*cin*cout + BN 2c
    conv = lambda cin, cout: 9 * cin * cout + 2 * cout  # noqa: E731
    expect = conv(3, 16) + conv(16, 16) + conv(16, 32) + conv(32, 64)      # g0, 3 left paths
    expect += conv(16, 16) * 2 + conv(16, 32) + conv(32, 32) + conv(32, 64) + conv(64, 64)
    expect += 64 * 10 + 10
    assert count(get_model('ensemble', depth=8)) == expect


def test_subsets_and_unshared_weights():
    seven = get_model('ensemble', depth=14, components=('LLL', 'RLL', 'LRL', 'RRL', 'LLR',
                                                        'RLR', 'LRR'))
    names = set(seven.collect_params().keys())
    assert not [n for n in names if n.startswith('uncouple08')]
    seven.initialize()
    assert seven(mx.nd.zeros((1, 3, 32, 32))).shape == (7, 1, 10)
    sym = symbols.get_symbol('ensemble', 10, 14, components=['RRR', 'LLL'])
    assert sym.list_outputs() == ['softmax1_output', 'softmax8_output']
    alone = get_model('ensemble', depth=14, share_weights=False)
    names = set(alone.collect_params().keys())
    assert 'uncouple08_g1_b1_right2_weight' in names and 'g0_weight' not in names
    assert 'uncouple03_fc_weight' in names
    # eight separately weighted networks: each component's own weights, counted once each
    shared = count(get_model('ensemble', depth=14))
    assert count(alone) > shared
    assert NetworkSpec('ensemble', 14, share_weights=False).tag == 'ensemble_d14w1_unshared'


@pytest.mark.parametrize('kwargs,message', [
    (dict(components=('LLL', 'XYZ')), 'unknown ensemble component(s) XYZ'),
    (dict(components=()), 'at least one component'),
    (dict(components=('LLL', 'LLL')), 'LLL given more than once'),
    (dict(depth=4), 'net_depth >= 5'),
])
def test_bad_ensembles_say_why(kwargs, message):
    kwargs = dict(dict(depth=14), **kwargs)
    with pytest.raises(ValueError) as err:
        get_model('ensemble', **kwargs)
    assert message in str(err.value)


def test_components_belong_to_the_ensemble_only():
    with pytest.raises(ValueError, match='options of the ensemble'):
        NetworkSpec('cross', 14, components=('LLL',))


def test_ensemble_checkpoints_read_back_in_the_originals_format(tmp_path):
    net = get_model('ensemble', depth=14)
    net.initialize(mx.init.Xavier())
    upstream.save_checkpoint(net, str(tmp_path / 'e'), 2)
    sym, arg, aux = mx.model.load_checkpoint(str(tmp_path / 'e'), 2)
    assert sym.tojson() == symbols.ensemble.get_symbol(10, 14, 1).tojson()
    assert 'uncouple05g0_conv_bn_moving_mean' in aux and 'g3_left_weight' in arg
    back = upstream.load_params(get_model('ensemble', depth=14), str(tmp_path / 'e-0002.params'))
    x = mx.nd.random.normal(shape=(2, 3, 32, 32))
    np.testing.assert_allclose(back(x).asnumpy(), net(x).asnumpy(), rtol=1e-5, atol=1e-6)


def test_train_the_ensemble_and_check_it_with_the_executor(tmp_path):
    """train_cifar.py --network ensemble: the reported val_acc is the ensemble's (the mean
    of the components' softmax), each component's accuracy is in the metrics, and both
    equal an evaluation of the saved checkpoint with MXNet's Module and NumPy alone."""
    import json
    import subprocess
    import sys
    from conftest import ROOT, make_toy_records
    from fusenet_gluon.data import get_loaders
    data = str(tmp_path / 'toy')
    make_toy_records(data, n_train=96, n_test=32)
    prefix = str(tmp_path / 'e' / 'm')
    r = subprocess.run([sys.executable, 'train_cifar.py', '--network', 'ensemble', '--depth',
                        '8', '--data-dir', data, '--gpus', '', '--batch-size', '16',
                        '--num-epochs', '3', '--lr', '0.02', '--rand-seed', '1', '--no-plot',
                        '--model-prefix', prefix], cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    last = [json.loads(line) for line in open(prefix + '-metrics.jsonl')][-1]
    assert list(last['val_acc_components']) == list(arch.ENSEMBLE_COMPONENTS)
    sym, arg, aux = mx.model.load_checkpoint(prefix, 3)
    mod = mx.mod.Module(sym, data_names=['data'], label_names=LABELS, context=mx.cpu())
    _, val = get_loaders('cifar10', data, 16)
    probs, labels = [], []
    for x, y in val:
        mod.bind(data_shapes=[('data', x.shape)], for_training=False, force_rebind=True)
        mod.set_params(arg, aux)
        mod.forward(mx.io.DataBatch([x]), is_train=False)
        probs.append(np.stack([o.asnumpy() for o in mod.get_outputs()], axis=1))
        labels.append(y.asnumpy())
    probs, labels = np.concatenate(probs), np.concatenate(labels)     # (N, 8, classes)
    assert abs(float((probs.mean(axis=1).argmax(-1) == labels).mean()) - last['val_acc']) < 1e-9
    for k, name in enumerate(arch.ENSEMBLE_COMPONENTS):
        acc = float((probs[:, k].argmax(-1) == labels).mean())
        assert abs(acc - last['val_acc_components'][name]) < 1e-9, name


def test_ensemble_flags_of_train_cifar(tmp_path):
    import subprocess
    import sys
    from conftest import ROOT
    for argv, message in ((['--network', 'cross', '--depth', '14', '--components', 'LLL'],
                           'options of the ensemble'),
                          (['--network', 'ensemble', '--depth', '14', '--components',
                            'LLL,QQQ'], 'unknown ensemble component(s) QQQ'),
                          (['--network', 'ensemble', '--depth', '3'], 'net_depth >= 5')):
        r = subprocess.run([sys.executable, 'train_cifar.py', '--gpus', '', '--model-prefix',
                            str(tmp_path / 'm' / 'm')] + argv, cwd=ROOT, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 2 and message in r.stderr and 'Traceback' not in r.stderr
    spec_args = ['--network', 'ensemble', '--depth', '14', '--components', 'RRR,LLL',
                 '--no-weight-sharing']
    from fusenet_gluon.training.options import build_parser, resolve
    cfg = resolve(build_parser().parse_args(spec_args + ['--gpus', '']))
    assert cfg.spec.components == ('LLL', 'RRR') and cfg.spec.share_weights is False
    assert cfg.files.prefix.endswith('ensemble_d14w1_LLL-RRR_unshared/model')


def test_ensemble_onnx_has_eight_outputs_and_deploy_exports(tmp_path):
    import onnx
    from fusenet_gluon.export import export_deploy, export_graph_deploy, export_onnx
    net = get_model('ensemble', depth=8)
    net.initialize(mx.init.Xavier())
    path, diff = export_onnx(net, str(tmp_path / 'e.onnx'))
    assert len(onnx.load(path).graph.output) == 8 and diff is not None and diff < 1e-4
    x = mx.nd.random.normal(shape=(2, 3, 32, 32))
    for export in (export_deploy, export_graph_deploy):
        files = export(net, str(tmp_path / export.__name__))
        back = mx.gluon.SymbolBlock.imports(files[0], ['data'], files[1])
        got = back(x)
        got = mx.nd.stack(*got, axis=0) if isinstance(got, (list, tuple)) else got
        np.testing.assert_allclose(got.asnumpy(), net(x).asnumpy(), rtol=1e-4, atol=1e-5)


def test_the_ensemble_on_two_devices_resumes_exactly_and_trains_distributed(tmp_path):
    import subprocess
    import sys
    from conftest import ROOT, assert_same_files, assert_workers_agree, make_toy_records
    data = str(tmp_path / 'toy')
    make_toy_records(data, n_train=64, n_test=16)
    common = ['--network', 'ensemble', '--depth', '8', '--data-dir', data, '--gpus', '',
              '--batch-size', '16', '--rand-seed', '3', '--no-plot', '--checkpoint-epochs', '1',
              '--lr', '0.02', '--lr-steps', '2']

    def run(*argv):
        r = subprocess.run(list(argv), cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    a, b = str(tmp_path / 'a' / 'm'), str(tmp_path / 'b' / 'm')
    train = [sys.executable, 'train_cifar.py', '--cpu-devices', '2'] + common
    run(*train, '--num-epochs', '3', '--model-prefix', a)
    run(*train, '--num-epochs', '2', '--model-prefix', b)
    run(*train, '--num-epochs', '3', '--load-epoch', '2', '--model-prefix', b)
    for suffix in ('-0003.params', '-0003.device-stats'):
        assert_same_files(a + suffix, b + suffix)
    d = str(tmp_path / 'd' / 'm')
    run(sys.executable, '-m', 'fusenet_gluon.launch', '-n', '2', '-s', '1', '--timeout', '200',
        '--', sys.executable, 'train_cifar.py', *common, '--kv-store', 'dist_sync',
        '--num-epochs', '1', '--model-prefix', d)
    assert_workers_agree(d, 1, lambda: get_model('ensemble', depth=8))
