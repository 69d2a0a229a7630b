"""The architecture facts of the original code, stated once.

Both constructions of every network, the symbol graphs (:mod:`fusenet_gluon.symbol_graphs`)
and the Gluon blocks (:mod:`fusenet_gluon.model_zoo`), take their block counts, channel
widths and layer names from here, so the two can never disagree.

The facts follow ``shared/upstream-architecture.md``; every integer division of the
original (Python 2) is a floor division here.
"""

#: The CIFAR/SVHN family (32x32 input), in the order of the original's ``network/`` folder.
CIFAR_NETWORKS = ('plain', 'resnet', 'cross', 'half', 'side', 'fuse3', 'fuse6')

#: The ImageNet family (224x224 input, bottleneck blocks).
IMAGENET_NETWORKS = ('imagenet_cross', 'imagenet_resnet')

#: Paper names for the CIFAR family.
ALIASES = {'dfn_mr': 'cross', 'dfn_il': 'half'}

#: Layers per fusion block, by network; fuseK depends on the depth (see :func:`block_depth`).
_FIXED_BLOCK_DEPTH = {'plain': 1, 'resnet': 2, 'cross': 4, 'half': 4, 'side': 4}
_FUSE_PATHS = {'fuse3': 3, 'fuse6': 6}

NUM_GROUPS = 3
#: Layers outside the groups: the stem convolution and the classifier.
EXCLUDED_LAYERS = 2

#: Blocks per group (g1..g4) of the ImageNet networks as the original code ships them.
IMAGENET_BLOCKS = {'imagenet_resnet': (2, 4, 22, 4), 'imagenet_cross': (1, 2, 11, 2)}
#: The paper's own ImageNet DFN-MR (Table 6, 43.3M parameters).
IMAGENET_PAPER_CROSS_BLOCKS = (2, 2, 8, 2)
IMAGENET_STEM_CHANNELS = 64
#: Output channels of groups g1..g4 (bottleneck width is a quarter of it).
IMAGENET_GROUP_CHANNELS = (256, 512, 1024, 2048)
IMAGENET_INPUT_SIZE = 224
CIFAR_INPUT_SIZE = 32

#: BatchNorm settings of every layer of the original (``fix_gamma=False``).
BN_MOMENTUM = 0.9
BN_EPS = 2e-5


def canonical_name(network):
    """Resolve an alias (``dfn_mr``, ``dfn_il``) to the original's module name."""
    return ALIASES.get(network, network)


def _check_cifar_network(network):
    if network not in CIFAR_NETWORKS:
        raise ValueError('unknown network %r; the CIFAR/SVHN networks are %s (aliases %s)'
                         % (network, ', '.join(CIFAR_NETWORKS),
                            ', '.join('%s=%s' % kv for kv in sorted(ALIASES.items()))))


def _check_positive_int(value, what):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError('%s must be a positive integer, got %r' % (what, value))


def block_depth(network, num_depth):
    """Layers in one fusion block of `network` at plain-network depth `num_depth`.

    1 for plain, 2 for resnet, 4 for cross, half and side, and
    ``(num_depth - 2) // K`` for fuseK (K = 3 or 6), as in the original.
    """
    network = canonical_name(network)
    _check_cifar_network(network)
    if network in _FUSE_PATHS:
        return (num_depth - EXCLUDED_LAYERS) // _FUSE_PATHS[network]
    return _FIXED_BLOCK_DEPTH[network]


def set_blocks(num_depth, depth_of_block, num_groups=NUM_GROUPS):
    """The original's ``set_blocks``: blocks per group for a block of `depth_of_block` layers.

    >>> set_blocks(20, 4)
    [1, 1, 2]
    """
    blocks = []
    exclude = EXCLUDED_LAYERS
    for i in range(num_groups):
        count = (num_depth - exclude) // (depth_of_block * (num_groups - i))
        exclude += count * depth_of_block
        blocks.append(count)
    return blocks


def min_depth(network):
    """The smallest num_depth that gives every group at least one block."""
    network = canonical_name(network)
    _check_cifar_network(network)
    if network in _FUSE_PATHS:
        return EXCLUDED_LAYERS + _FUSE_PATHS[network]
    return EXCLUDED_LAYERS + NUM_GROUPS * _FIXED_BLOCK_DEPTH[network]


def even_depths(network, upto=200):
    """Depths up to `upto` at which all groups get the same number of blocks (the usual choices)."""
    network = canonical_name(network)
    out = []
    for depth in range(min_depth(network), upto + 1):
        b = block_depth(network, depth)
        blocks = set_blocks(depth, b)
        if len(set(blocks)) == 1 and EXCLUDED_LAYERS + sum(blocks) * b == depth:
            out.append(depth)
    return out


def num_blocks(network, num_depth):
    """Blocks in groups g1, g2, g3 of a CIFAR-family `network` at plain depth `num_depth`.

    Raises ``ValueError`` naming the valid depths when a group would be left empty.
    """
    network = canonical_name(network)
    _check_cifar_network(network)
    _check_positive_int(num_depth, 'num_depth')
    b = block_depth(network, num_depth)
    blocks = set_blocks(num_depth, b) if b > 0 else [0] * NUM_GROUPS
    if min(blocks) < 1:
        empty = ', '.join('g%d' % (i + 1) for i, n in enumerate(blocks) if n < 1)
        raise ValueError(
            'num_depth %d leaves group(s) %s of %r without blocks; %r needs num_depth >= %d '
            '(evenly split depths: %s, ...)'
            % (num_depth, empty, network, network, min_depth(network),
               ', '.join(str(d) for d in even_depths(network, 120)[:8])))
    return blocks


def cifar_channels(widen_factor):
    """Channels ``[stem, g1, g2, g3]`` = ``[16w, 16w, 32w, 64w]``."""
    _check_positive_int(widen_factor, 'widen_factor')
    base = 16 * widen_factor
    return [base, base, 2 * base, 4 * base]


def block_name(group, index):
    """Name of block `index` (from 1) of group `group` (from 1): ``'g2_b3'``."""
    return 'g%d_b%d' % (group, index)


def cifar_layout(network, num_depth, widen_factor):
    """Every block of a CIFAR-family network, in order.

    Yields ``(name, kin, kout, is_last)`` where `is_last` marks the very last block of g3.
    """
    blocks = num_blocks(network, num_depth)
    channels = cifar_channels(widen_factor)
    for g, count in enumerate(blocks):
        kin, kout = channels[g], channels[g + 1]
        for i in range(count):
            last = g == len(blocks) - 1 and i == count - 1
            yield block_name(g + 1, i + 1), kin, kout, last
            kin = kout


def fuse_has_line(name, kin, kout):
    """The fuseK left path is a conv when the width changes or in block g1_b1 (the original's test)."""
    return kin != kout or 'g1_b1' in name


def imagenet_blocks(network, blocks=None):
    """Blocks per group of an ImageNet network, validated."""
    if network not in IMAGENET_NETWORKS:
        raise ValueError('unknown ImageNet network %r; choose from %s'
                         % (network, ', '.join(IMAGENET_NETWORKS)))
    blocks = tuple(IMAGENET_BLOCKS[network] if blocks is None else blocks)
    if len(blocks) != 4 or any(isinstance(b, bool) or not isinstance(b, int) or b < 1
                               for b in blocks):
        raise ValueError('blocks must be four positive integers (blocks of g1..g4), got %r'
                         % (blocks,))
    return blocks


def imagenet_layout(network, blocks=None):
    """Every block of an ImageNet network: ``(name, kin, kout, stride)``."""
    blocks = imagenet_blocks(network, blocks)
    kin = IMAGENET_STEM_CHANNELS
    for g, (count, kout) in enumerate(zip(blocks, IMAGENET_GROUP_CHANNELS)):
        for i in range(count):
            stride = 2 if (i == 0 and g > 0) else 1
            yield block_name(g + 1, i + 1), kin, kout, stride
            kin = kout


# Parameter names: the original's auxiliary states are '<bn>_moving_mean/var', Gluon's
# running statistics are '<bn>_running_mean/var'; every other name is the same.
_AUX_SUFFIXES = (('_moving_mean', '_running_mean'), ('_moving_var', '_running_var'))


def aux_to_gluon(name):
    """``'g0_bn_moving_mean'`` -> ``'g0_bn_running_mean'``."""
    for up, gl in _AUX_SUFFIXES:
        if name.endswith(up):
            return name[:-len(up)] + gl
    raise ValueError('%r is not an auxiliary state name of the original' % name)


def gluon_to_aux(name):
    """``'g0_bn_running_mean'`` -> ``'g0_bn_moving_mean'``, or None for a learned parameter."""
    for up, gl in _AUX_SUFFIXES:
        if name.endswith(gl):
            return name[:-len(gl)] + up
    return None
