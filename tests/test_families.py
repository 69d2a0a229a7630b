"""fusenet_gluon.families, the family entries: every tool asks them, and a new family is one
entry and one model module, with nothing else touched."""
import argparse

import mxnet as mx
import pytest
from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock

from fusenet_gluon import families, get_model, list_models, upstream
from fusenet_gluon.model_zoo import from_spec
from fusenet_gluon.spec import NetworkSpec, add_arguments, from_args
from fusenet_gluon.training.recipe import initializer

# the README's lists, independent of the entries
README_DLA = ['dla34', 'dla46_c', 'dla46x_c', 'dla60x_c', 'dla60', 'dla60x', 'dla102',
              'dla102x', 'dla102x2', 'dla169']


def test_every_name_belongs_to_exactly_one_family():
    names = [n for f in families.FAMILIES for n in f.names()]
    assert len(names) == len(set(names)) and sorted(names) == list_models()
    assert list(families.DLA.networks) == README_DLA
    assert families.find('DFN_MR') is families.CIFAR and families.find('nope') is None
    with pytest.raises(ValueError, match='unknown model .*cross'):
        families.of('nope')


@pytest.mark.parametrize('name, family, classes, side', [
    ('cross', families.CIFAR, 10, 32), ('ensemble', families.ENSEMBLE, 10, 32),
    ('imagenet_resnet', families.IMAGENET, 1000, 224), ('dla34', families.DLA, 1000, 224)])
def test_a_spec_takes_its_defaults_from_its_family(name, family, classes, side):
    spec = NetworkSpec(name, depth=14 if 'depth' in family.options else None)
    assert spec.family is family and spec.classes == classes
    assert spec.input_shape == (3, side, side)


def test_the_recipe_and_the_checkpoints_ask_the_entry():
    """The DLA authors train with plain SGD and their own initialisation, and their code is
    PyTorch (README, 'Deep Layer Aggregation'); the deep-fusion nets keep the original's."""
    assert (families.DLA.optimizer, families.CIFAR.optimizer) == ('sgd', 'nag')
    assert type(initializer(NetworkSpec('dla34'))).__name__ == 'DLAInit'
    assert type(initializer(NetworkSpec('cross', 14))).__name__ == 'OriginalInit'
    assert [f.name for f in families.FAMILIES if f.checkpoint_graph == 'gluon'] == ['dla']


def test_the_paper_variant_rule_is_one_rule_for_both_callers():
    with pytest.raises(ValueError, match=r"dfn_mr2 is cross at num_depth 62, widen_factor 4; "
                                         r"give --network cross for other sizes"):
        NetworkSpec('dfn_mr2', depth=20)
    with pytest.raises(ValueError, match=r"dfn_mr2 is cross at num_depth 62, widen_factor 4; "
                                         r"for other sizes use get_model\('cross'"):
        get_model('dfn_mr2', widen_factor=2)
    assert NetworkSpec('dfn_mr2', widen_factor=4).depth == 62


def test_the_zoo_attaches_the_spec_it_was_given():
    spec = NetworkSpec('ensemble', 8, components=('LLL', 'RRR'))
    net = from_spec(spec)
    assert net.spec is spec and len(net.layout) == 2


# ---------------------------------------------------------------- a new family
class TinyNet(HybridBlock):
    """A toy family's network: global pooling and a dense layer."""

    def __init__(self, width, classes, **kwargs):
        super(TinyNet, self).__init__(prefix='', **kwargs)
        with self.name_scope():
            self.pool = nn.GlobalAvgPool2D()
            self.fc = nn.Dense(classes, in_units=3, prefix='tiny_fc_')
        self.spec_fields = dict(network='tiny%d' % width, classes=classes)
        self.spec = None

    def hybrid_forward(self, F, x):
        return self.fc(self.pool(x))

    @property
    def input_shape(self):
        return (3, 16, 16)


TINY = families.Family(
    name='tiny', title='the tiny nets', networks=('tiny1', 'tiny2'), classes=5,
    input_size=16, options=(), datasets=('cifar',), tag=lambda spec: spec.network,
    checkpoint_graph='gluon')


@pytest.fixture
def tiny_family(monkeypatch):
    """The one entry and the one model module's registration of a new family."""
    monkeypatch.setattr(families, 'FAMILIES', families.FAMILIES + (TINY,))
    TINY.register(build=lambda name, classes=None, **kw: TinyNet(
        int(name[-1]), TINY.classes if classes is None else classes, **kw),
        check=lambda spec: {})
    yield TINY


def test_a_new_family_is_one_entry_and_one_model_module(tiny_family, tmp_path):
    assert 'tiny2' in list_models()
    net = get_model('tiny2', classes=3)
    assert net.spec == NetworkSpec('tiny2', classes=3) and net.spec.tag == 'tiny2'
    assert NetworkSpec('tiny1').classes == 5 and NetworkSpec('tiny1').input_shape == (3, 16, 16)
    with pytest.raises(ValueError, match='pool_size is an option of the DLA networks'):
        NetworkSpec('tiny1', pool_size=2)
    parser = argparse.ArgumentParser()
    add_arguments(parser, family='cifar')
    args = parser.parse_args(['--network', 'tiny1'])
    assert from_args(args, classes=7) == NetworkSpec('tiny1', classes=7)
    assert 'tiny1' in parser.format_help()
    net = from_spec(NetworkSpec('tiny1'))
    net.initialize(mx.init.Xavier())
    assert net(mx.nd.zeros((2, 3, 16, 16))).shape == (2, 5)
    sym_path, params_path = upstream.save_checkpoint(net, str(tmp_path / 'tiny'), 1)
    again = get_model('tiny1')
    upstream.load_params(again, params_path)
    assert (again.fc.weight.data() == net.fc.weight.data()).asnumpy().all()
