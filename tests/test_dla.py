"""fusenet_gluon.models.dla, Deep Layer Aggregation: the authors' ten variants, their
parameter counts and names, the Tree's channel arithmetic by hand, and its training recipe
through both training scripts."""
import mxnet as mx
import numpy as np
import pytest

from conftest import REFERENCE
from fusenet_gluon import arch, get_model


def reference_counts():
    """The counts of docs/reference.md section 6 (all state_dict parameters, 1000 classes)."""
    import re
    text = open(REFERENCE).read()
    text = text[text.index('## 6.'):]
    rows = [[c.strip() for c in line.strip('|').split('|')]
            for line in text.splitlines() if line.startswith('| `dla')]
    return {re.sub('`', '', r[0]): int(r[-1].replace(',', '')) for r in rows}


def test_every_variant_has_the_authors_parameter_count():
    counts = reference_counts()
    assert set(counts) == set(arch.DLA_NETWORKS)
    for name in arch.DLA_NETWORKS:
        net = get_model(name)
        learned = sum(int(np.prod(p.shape)) for n, p in net.collect_params().items()
                      if not n.endswith(('running_mean', 'running_var')))
        assert learned == counts[name], name


def test_tree_channels_of_dla34_by_hand():
    """dla34, levels (1,1,1,2,2,1), channels (16,32,64,128,256,512), BasicBlock.

    level2: Tree(1, 32 -> 64): root of 2 x 64 = 128 inputs (no level root).
    level3: Tree(2, 64 -> 128, level root): root_dim 2 x 128 + 64 = 320; its tree2 is
    Tree(1, 128 -> 128, root_dim 320 + 128 = 448): the root that sees x2, x1, the level's
    bottom (64) and tree1's output (128).
    level5: Tree(1, 256 -> 512, level root): root 2 x 512 + 256 = 1280 inputs.
    """
    shapes = {n: p.shape for n, p in get_model('dla34').collect_params().items()}
    assert shapes['level2_root_conv_weight'] == (64, 128, 1, 1)
    assert shapes['level3_tree1_root_conv_weight'] == (128, 256, 1, 1)
    assert shapes['level3_tree2_root_conv_weight'] == (128, 448, 1, 1)
    assert shapes['level5_root_conv_weight'] == (512, 1280, 1, 1)
    assert shapes['level3_project_0_weight'] == (128, 64, 1, 1)   # computed, never used
    assert shapes['level2_tree1_conv1_weight'] == (64, 32, 3, 3)
    assert shapes['fc_weight'] == (1000, 512, 1, 1) and shapes['fc_bias'] == (1000,)
    assert shapes['base_layer_0_weight'] == (16, 3, 7, 7)


def test_names_are_the_state_dict_keys():
    names = set(get_model('dla46x_c').collect_params().keys())
    for key in ('base_layer.1.running_var', 'level1.0.weight', 'level1.1.weight',
                'level2.tree1.conv2.weight', 'level3.tree2.root.bn.bias',
                'level4.project.1.running_mean', 'fc.bias'):
        name = key.replace('.', '_')
        name = name[:-len('_weight')] + '_gamma' if '_bn' in name or name.split('_')[-2].isdigit() \
            and name.endswith('_weight') and not key.split('.')[-2].startswith(('conv', 'fc')) \
            and key.split('.')[-2] not in ('0',) else name
        if key.endswith('bn.bias') or key.endswith('.1.bias'):
            name = key.replace('.', '_')[:-len('_bias')] + '_beta'
        assert name in names, (key, name)


def test_unused_projects_take_no_gradient_and_the_net_trains():
    from mxnet import autograd, gluon
    from fusenet_gluon.dla import dla_init
    net = get_model('dla34', classes=10, pool_size=1)
    net.initialize(dla_init())
    params = net.collect_params()
    assert params['level3_project_0_weight'].grad_req == 'null'    # levels 2: unused
    assert params['level2_project_0_weight'].grad_req == 'write'   # levels 1: the residual
    net.hybridize()
    trainer = gluon.Trainer(params, 'sgd', dict(learning_rate=0.01), kvstore=None)
    x, y = mx.nd.random.normal(shape=(4, 3, 32, 32)), mx.nd.array([0, 1, 2, 3])
    with autograd.record():
        loss = gluon.loss.SoftmaxCrossEntropyLoss()(net(x), y)
    loss.backward()
    trainer.step(4)   # no stale-gradient complaint about the unused layers
    w = params['fc_weight'].data().asnumpy()
    assert w.std() == pytest.approx(np.sqrt(2.0 / 10), rel=0.3)   # normal(0, sqrt(2/(1*1*10)))


def test_train_cifar_trains_dla_beside_dfn_mr(tmp_path):
    import json
    import subprocess
    import sys
    from conftest import ROOT, make_toy_records
    data = str(tmp_path / 'toy')
    make_toy_records(data, n_train=32, n_test=16)
    prefix = str(tmp_path / 'm')
    r = subprocess.run([sys.executable, 'train_cifar.py', '--network', 'dla46_c', '--data-dir',
                        data, '--gpus', '', '--batch-size', '16', '--num-epochs', '1',
                        '--no-plot', '--model-prefix', prefix], cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    run = json.load(open(prefix + '-run.json'))
    assert run['model']['network'] == 'dla46_c' and run['model']['pool_size'] == 1
    assert 'optimizer sgd' in open(prefix + '.log').read()
    sym, arg, aux = mx.model.load_checkpoint(prefix, 1)
    assert 'level4_project_0_weight' in arg and 'fc_weight' in arg   # the unused project
    from fusenet_gluon import upstream
    upstream.load_params(get_model('dla46_c', classes=10, pool_size=1), prefix + '-0001.params')


def test_train_imagenet_with_the_dla_recipe(tmp_path):
    import subprocess
    import sys
    from conftest import ROOT
    from fusenet_gluon.data.recordio import write_records
    rng = np.random.RandomState(0)
    imgs = [rng.randint(0, 256, (260, 300, 3)).astype(np.uint8) for _ in range(4)]
    for name in ('imagenet_train', 'imagenet_val'):
        write_records(str(tmp_path / (name + '.rec')), zip(range(4), imgs), img_fmt='.jpg')
    prefix = str(tmp_path / 'm')
    r = subprocess.run([sys.executable, 'train_imagenet.py', '--network', 'dla46_c',
                        '--data-dir', str(tmp_path), '--batch-size', '2', '--num-epochs', '1',
                        '--gpus', '', '--model-prefix', prefix, '--no-plot', '--rand-seed', '0',
                        '--data-workers', '0'], cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "the authors' random-resized crop runs in the gluon loader" in r.stdout
    assert 'optimizer sgd' in r.stdout


def test_the_dla_transforms_are_gluons_and_repeat_per_sample():
    from fusenet_gluon.data import get_preset
    from fusenet_gluon.data.presets import dla_preset
    from fusenet_gluon.data.transforms import seed_sample
    preset = dla_preset(get_preset('imagenet'))
    assert preset.augment.name == 'random_resized_crop' and preset.mean == (123.675, 116.28, 103.53)
    img = mx.nd.array(np.random.RandomState(1).randint(0, 256, (300, 400, 3)), dtype='uint8')
    train_t = preset.augment.gluon_transform(preset, True)
    val_t = preset.augment.gluon_transform(preset, False)

    def train(idx, im):   # a sample's augmentation, seeded as the loader seeds it
        seed_sample(idx)
        return train_t(im).asnumpy()
    a, b, c = train(5, img), train(5, img), train(6, img)
    assert a.shape == (3, 224, 224) and np.array_equal(a, b) and not np.array_equal(a, c)
    v = val_t(img).asnumpy()
    img = img.asnumpy()
    t = mx.gluon.data.vision.transforms
    expect = t.CenterCrop(224, interpolation=1)(t.Resize(256, keep_ratio=True, interpolation=1)(
        mx.nd.array(img, dtype='uint8'))).asnumpy().astype(np.float32)
    expect = ((expect - np.array(preset.mean)) / np.array(preset.std)).transpose(2, 0, 1)
    np.testing.assert_allclose(v, expect, rtol=1e-5, atol=1e-5)
