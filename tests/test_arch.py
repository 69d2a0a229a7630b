"""fusenet_gluon.arch: depth arithmetic, widths and parameter counts against hand
computations and the figures of docs/reference.md; a network read back from its parameter
names (guess_network)."""
import re

import numpy as np
import pytest

import symbols
from conftest import REFERENCE
from fusenet_gluon import arch, get_model, list_models
from fusenet_gluon.spec import NetworkSpec

# docs/reference.md, section 1.1 "Parameter counts (10 classes, w = 1)".
TABLE = {
    26: dict(plain=366938, resnet=369690, cross=349402, half=346650, side=343898,
             fuse3=392506, fuse6=392506),
    56: dict(plain=853018, resnet=855770, cross=886234, half=883482, side=880730,
             fuse3=878586, fuse6=878586),
    110: dict(plain=1727962, resnet=1730714, cross=1710426, half=1707674, side=1704922,
              fuse3=1753530, fuse6=1753530),
}


def reference_numbers(title):
    """The integers (of 5 digits or more) in the table rows under `title` in the reference."""
    text = open(REFERENCE).read()
    section = text[text.index(title):]
    section = section[:section.index('\n## ') if '\n## ' in section else None]
    return section


def test_table_is_the_reference_docs():
    text = reference_numbers('### 1.1 Parameter counts')
    for depth, row in TABLE.items():
        line = re.search(r'^\| %d \|(.*)$' % depth, text, re.M).group(1)
        numbers = [int(v.replace(',', '')) for v in re.findall(r'[\d,]{5,}', line)]
        expect = [row[n] for n in ('plain', 'resnet', 'cross', 'half', 'side', 'fuse3')]
        assert numbers == expect


def gluon_count(net):
    return sum(int(np.prod(p.shape)) for n, p in net.collect_params().items()
               if not n.endswith(('_running_mean', '_running_var')))


def symbol_count(sym, size):
    shapes, _, _ = sym.infer_shape(data=(1, 3, size, size))
    return sum(int(np.prod(s)) for n, s in zip(sym.list_arguments(), shapes)
               if n not in ('data', 'softmax_label'))


@pytest.mark.parametrize('depth', sorted(TABLE))
@pytest.mark.parametrize('network', arch.CIFAR_NETWORKS)
def test_parameter_counts_match_table(network, depth):
    expect = TABLE[depth][network]
    assert gluon_count(get_model(network, depth=depth)) == expect
    assert symbol_count(symbols.get_symbol(network, 10, depth), 32) == expect


def test_dfn_mr2_is_14_9m():
    assert gluon_count(get_model('dfn_mr', depth=62, widen_factor=4)) == 14851402
    assert symbol_count(symbols.get_symbol('cross', 10, 62, 4), 32) == 14851402


# docs/reference.md, section 1.2: the paper's named models
NAMED = {'dfn_mr1': (110, 1, 1710426), 'dfn_mr2': (62, 4, 14851402),
         'dfn_mr3': (98, 4, 24151882)}


def test_named_models_are_the_reference_docs():
    text = reference_numbers('### 1.2 The paper')
    for name, (depth, w, count) in NAMED.items():
        row = re.search(r'^\| `%s` \| cross, %d, %d \|.*\| ([\d,]+) \|' % (name, depth, w),
                        text, re.M)
        assert row and int(row.group(1).replace(',', '')) == count, name


@pytest.mark.parametrize('name', sorted(NAMED))
def test_named_paper_models(name):
    depth, w, count = NAMED[name]
    net = get_model(name)
    assert (net.spec.network, net.spec.depth, net.spec.widen_factor) == ('cross', depth, w)
    assert gluon_count(net) == count
    assert symbol_count(symbols.get_symbol('cross', 10, depth, w), 32) == count
    assert net.spec.classes == 10 and get_model(name, classes=100).spec.classes == 100
    with pytest.raises(ValueError, match='cross'):
        get_model(name, depth=depth + 12)


def test_num_depth_is_the_originals_spelling_of_depth():
    names = lambda net: sorted(net.collect_params().keys())  # noqa: E731
    assert names(get_model('cross', num_depth=26)) == names(get_model('cross', depth=26))
    assert get_model('half', num_depth=20).spec.depth == 20
    with pytest.raises(ValueError, match='disagree'):
        get_model('cross', depth=26, num_depth=38)


def test_imagenet_parameter_counts():
    assert gluon_count(get_model('imagenet_resnet')) == 45047464
    assert gluon_count(get_model('imagenet_cross')) == 46395048
    assert symbol_count(symbols.imagenet_resnet.get_symbol(1000), 224) == 45047464
    assert symbol_count(symbols.imagenet_cross.get_symbol(1000), 224) == 46395048


def hand_count_cifar(network, blocks, w, classes):
    """Parameter count from first principles: conv k*k*cin*cout, BN 2*c, FC."""
    f = [16 * w, 16 * w, 32 * w, 64 * w]
    conv = lambda k, cin, cout: k * k * cin * cout + 2 * cout  # noqa: E731  conv + BN
    total = conv(3, 3, f[0]) + f[3] * classes + classes
    for g, n in enumerate(blocks):
        for i in range(n):
            cin, cout = (f[g] if i == 0 else f[g + 1]), f[g + 1]
            two = conv(3, cin, cout) + conv(3, cout, cout)
            line = conv(1, cin, cout) if cin != cout else 0
            total += {'plain': conv(3, cin, cout), 'resnet': line + two,
                      'half': line + 2 * two, 'side': 2 * two, 'cross': 2 * line + 2 * two}[network]
    return total


@pytest.mark.parametrize('network', ['plain', 'resnet', 'cross', 'half', 'side'])
@pytest.mark.parametrize('depth,w,classes', [(14, 1, 10), (38, 4, 100), (194, 1, 100),
                                             (20, 2, 10)])
def test_counts_by_hand_across_depths_and_widths(network, depth, w, classes):
    b = {'plain': 1, 'resnet': 2}.get(network, 4)
    blocks = arch.set_blocks(depth, b)
    expect = hand_count_cifar(network, blocks, w, classes)
    assert gluon_count(get_model(network, depth=depth, widen_factor=w, classes=classes)) == expect
    assert symbol_count(symbols.get_symbol(network, classes, depth, w), 32) == expect


@pytest.mark.parametrize('network,depth,blocks', [
    ('cross', 20, [1, 1, 2]),      # the design file's example
    ('cross', 110, [9, 9, 9]),     # DFN-MR1: 2 + 27 * 4 = 110
    ('cross', 62, [5, 5, 5]),      # DFN-MR2
    ('resnet', 56, [9, 9, 9]),
    ('resnet', 24, [3, 4, 4]),     # 22//6 = 3; 16//4 = 4; 8//2 = 4
    ('plain', 20, [6, 6, 6]),
    ('half', 27, [2, 2, 2]),       # 25//12 = 2; 17//8 = 2; 9//4 = 2
    ('fuse3', 26, [1, 1, 1]),      # block depth 24//3 = 8
    ('fuse6', 26, [2, 2, 2]),      # block depth 24//6 = 4
    ('fuse6', 15, [2, 2, 2]),      # block depth 13//6 = 2: 13//6 = 2; 9//4 = 2; 5//2 = 2
    ('fuse3', 5, [1, 1, 1]),       # block depth 1: the shallowest fuse3
])
def test_blocks_per_group_by_hand(network, depth, blocks):
    assert arch.num_blocks(network, depth) == blocks


def test_block_depths():
    assert [arch.block_depth(n, 26) for n in arch.CIFAR_NETWORKS] == [1, 2, 4, 4, 4, 8, 4]


def test_uneven_groups_build_the_right_blocks():
    net = get_model('cross', depth=20)
    names = set(net.collect_params().keys())
    assert 'g3_b2_d1_two2_conv_weight' in names and 'g2_b2_d1_two1_conv_weight' not in names


@pytest.mark.parametrize('network', arch.CIFAR_NETWORKS)
def test_too_shallow_depth_names_valid_choices(network):
    bad = arch.min_depth(network) - 1
    for build in (lambda: get_model(network, depth=bad),
                  lambda: symbols.get_symbol(network, 10, bad)):
        with pytest.raises(ValueError) as err:
            build()
        text = str(err.value)
        assert network in text and '>= %d' % arch.min_depth(network) in text
    get_model(network, depth=arch.min_depth(network))  # the smallest valid depth builds


def test_cross_minimum_is_14():
    assert arch.min_depth('cross') == 14 and arch.min_depth('fuse6') == 8


@pytest.mark.parametrize('bad', [0, -3, 2.5, '26', None])
def test_bad_depth_values(bad):
    with pytest.raises(ValueError):
        get_model('resnet', depth=bad)


def test_bad_width_and_classes():
    with pytest.raises(ValueError, match='widen_factor'):
        get_model('cross', depth=14, widen_factor=0)
    with pytest.raises(ValueError, match='classes'):
        get_model('cross', depth=14, classes=0)
    with pytest.raises(ValueError, match='blocks'):
        get_model('imagenet_cross', blocks=(1, 0, 1, 1))


def test_unknown_network_lists_models():
    with pytest.raises(ValueError) as err:
        get_model('densenet', depth=14)
    for name in list_models():
        assert name in str(err.value)
    with pytest.raises(ValueError, match='cross'):
        symbols.get_symbol('densenet', 10, 14)


def test_registry_names_and_aliases():
    assert set(list_models()) == {'plain', 'resnet', 'cross', 'half', 'side', 'fuse3', 'fuse6',
                                  'dfn_mr', 'dfn_il', 'dfn_mr1', 'dfn_mr2', 'dfn_mr3',
                                  'ensemble', 'imagenet_cross', 'imagenet_resnet',
                                  'dla34', 'dla46_c', 'dla46x_c', 'dla60x_c', 'dla60', 'dla60x',
                                  'dla102', 'dla102x', 'dla102x2', 'dla169'}
    assert get_model('dfn_mr', depth=14).spec['network'] == 'cross'
    assert get_model('dfn_il', depth=14).spec.network == 'half'


def test_paper_imagenet_dfn_mr_is_one_argument_away():
    net = get_model('imagenet_cross', blocks=(2, 2, 8, 2))
    names = net.collect_params().keys()
    assert 'g4_b2_deep1r_conv3_weight' in names and 'g3_b9_deep1l_conv1_weight' not in names


@pytest.mark.parametrize('network,kwargs', [
    ('cross', dict(depth=20)), ('fuse6', dict(depth=26)), ('side', dict(depth=38)),
    ('resnet', dict(depth=56, widen_factor=2)), ('plain', dict(depth=14, classes=100)),
    ('imagenet_cross', dict(blocks=(2, 2, 8, 2))),
])
def test_guess_network_reads_names_back(network, kwargs):
    net = get_model(network, **kwargs)
    guess = arch.guess_network({n: p.shape for n, p in net.collect_params().items()})
    built = NetworkSpec(**guess)
    assert sorted(get_model(network if network != built.network else built.network,
                            **built.model_kwargs()).collect_params().keys()) == \
        sorted(net.collect_params().keys())
