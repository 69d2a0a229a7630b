"""Deep Layer Aggregation: the authors' ten variants, their parameter counts and names, and
the Tree's channel arithmetic by hand."""
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
