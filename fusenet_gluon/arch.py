"""The architecture facts of the original code, stated once.

Both constructions of every network, the symbol graphs (:mod:`fusenet_gluon.symbols`)
and the Gluon blocks (:mod:`fusenet_gluon.models`), take from here their block counts,
channel widths and layer names, and the wiring rules: the stride of a layer, when a
shortcut projects, which paths a block sums, the merge weight and the last-block rule of
DFN-MR, the ImageNet merge condition, the bottleneck's reduction, the stem and the head.
Each construction only turns these facts into layers with its own API.

The facts are those of docs/reference.md (sections 1 and 2); every integer division of
the original (Python 2) is a floor division here.
"""
import collections

from . import families

#: The network names of the families (fusenet_gluon.families holds them, one entry each).
CIFAR_NETWORKS = families.CIFAR.networks
IMAGENET_NETWORKS = families.IMAGENET.networks
DLA_NETWORKS = families.DLA.networks

#: Paper names for the CIFAR family.
ALIASES = families.CIFAR.aliases

#: Layers per fusion block, by network; fuseK depends on the depth (see :func:`block_depth`).
_FIXED_BLOCK_DEPTH = {'plain': 1, 'resnet': 2, 'cross': 4, 'half': 4, 'side': 4}
_FUSE_PATHS = {'fuse3': 3, 'fuse6': 6}

NUM_GROUPS = 3
#: Layers outside the groups: the stem convolution and the classifier.
EXCLUDED_LAYERS = 2

#: Blocks per group (g1..g4) of the ImageNet networks as the original code ships them.
IMAGENET_BLOCKS = {n: d['blocks'] for n, d in families.IMAGENET.network_defaults.items()}
IMAGENET_STEM_CHANNELS = 64
#: Output channels of groups g1..g4 (bottleneck width is a quarter of it).
IMAGENET_GROUP_CHANNELS = (256, 512, 1024, 2048)

#: BatchNorm settings of every layer of the original (``fix_gamma=False``).
BN_MOMENTUM = 0.9
BN_EPS = 2e-5

# ---------------------------------------------------------------- layers and wiring rules
#: A convolution: kernel, stride and pad (square), as the original writes them.
Conv = collections.namedtuple('Conv', 'kernel stride pad')
#: A pooling layer: kernel, stride, pad and type.
Pool = collections.namedtuple('Pool', 'kernel stride pad pool_type')

#: The 3x3 layer ("one") pads by 1; its stride is :func:`conv_stride`.
ONE_KERNEL, ONE_PAD = 3, 1


def conv_stride(kin, kout):
    """Stride of a CIFAR layer (and of the ensemble's groups): 2 where the width changes."""
    return 1 if kin == kout else 2


def one_conv(kin, kout):
    """The original's "one" layer: 3x3, pad 1, stride 2 where the width changes."""
    return Conv(ONE_KERNEL, conv_stride(kin, kout), ONE_PAD)


def shortcut_projects(kin, kout):
    """The shortcut ("zero") is identity when the width stays, else :data:`LINE`."""
    return kin != kout


#: The projection shortcut ``N_line``: 1x1, stride 2, no ReLU.
LINE = Conv(1, 2, 0)

#: DFN-MR's merge: ``m = MERGE_WEIGHT * (x1 + x2)``, the average of the two streams.
MERGE_WEIGHT = 0.5

#: Which block each CIFAR network is made of.
BLOCK_KIND = {'plain': 'plain', 'resnet': 'sum', 'half': 'sum', 'side': 'sum',
              'fuse3': 'fuse', 'fuse6': 'fuse', 'cross': 'cross'}

#: The blocks that are ``relu(sum of paths)`` (ReLU named ``N_relu``): each path is
#: ``(name, kind)``, kind ``'zero'`` (the shortcut) or ``'two'`` (two 3x3 layers), summed
#: in this order. plain is one layer ``N_p1`` with ReLU and no sum.
SUM_BLOCK_PATHS = {
    'resnet': (('p0', 'zero'), ('p2', 'two')),
    'half': (('p0', 'zero'), ('p1', 'two'), ('p2', 'two')),
    'side': (('p1', 'two'), ('p2', 'two')),
}
PLAIN_PATH = 'p1'


def two_streams(network):
    """Whether `network` carries two streams through its blocks (the DFN-MR models)."""
    return canonical_name(network) in ('cross', 'imagenet_cross')


def weighed_merge(line1, line2, weigh=None):
    """``m = MERGE_WEIGHT * (line1 + line2)``: by the original's ``_mul_scalar``, or by
    `weigh` (a function of the sum computing the same product another way)."""
    total = line1 + line2
    return weigh(total) if weigh is not None else MERGE_WEIGHT * total


def merge_and_run(line1, line2, deep1, deep2, last=False, weigh=None):
    """DFN-MR's merge-and-run, before the ReLUs, for symbols and NDArrays alike.

    ``m = MERGE_WEIGHT * (line1 + line2)`` (:func:`weighed_merge`); ``x1 = m + deep1``,
    ``x2 = m + deep2``; the very last block of g3 (`last`) gives
    ``x1 = x2 = m + deep1 + deep2``. The terms are formed in the original's order, so the
    symbol graph's auto-named nodes match its own.
    """
    merged = weighed_merge(line1, line2, weigh)
    x1, x2 = merged + deep1, merged + deep2
    if last:
        x1 = merged + deep1 + deep2
        x2 = x1
    return x1, x2


def imagenet_merge(left, right, deep_left, deep_right, weigh=None):
    """ImageNet DFN-MR where the width stays: each stream's bottleneck plus the merge
    ``MERGE_WEIGHT * (left + right)`` (:func:`weighed_merge`; before the ReLUs)."""
    merged = weighed_merge(left, right, weigh)
    return deep_left + merged, deep_right + merged


#: CIFAR stem: 3x3 conv 'g0' to 16w channels, stride 1, pad 1, with BN and ReLU.
CIFAR_STEM = Conv(3, 1, 1)
#: CIFAR head: average pooling over the whole 8x8 map ('cls_pool', global), Flatten
#: ('cls_flatten'), FullyConnected with bias ('cls_fc').
CIFAR_HEAD_POOL = Pool(8, 1, 0, 'avg')

#: ImageNet stem: 7x7 conv 'g0', stride 2, pad 3, no BN, no ReLU; max pooling 'g0_pool'.
IMAGENET_STEM = Conv(7, 2, 3)
IMAGENET_STEM_POOL = Pool(3, 2, 1, 'max')
#: ImageNet head: average pooling 7x7, stride 1 ('global_pool'), Flatten ('flatten'),
#: FullyConnected 'fc_score'; DFN-MR concatenates both streams first.
IMAGENET_HEAD_POOL = Pool(7, 1, 0, 'avg')

#: The bottleneck's inner width is its output width divided by this.
BOTTLENECK_REDUCTION = 4


def bottleneck_layers(kout, stride):
    """The bottleneck's three convolutions: ``(suffix, channels, Conv)``, each followed by
    BatchNorm ``N_bnK``, the first two also by ReLU."""
    mid = kout // BOTTLENECK_REDUCTION
    return [('1', mid, Conv(1, 1, 0)), ('2', mid, Conv(3, stride, 1)), ('3', kout, Conv(1, 1, 0))]


def imagenet_merges(kin, kout):
    """ImageNet blocks add a shortcut (resnet) or merge the streams (cross) only where the
    width stays: the first block of a group is its bottleneck(s) and ReLU alone."""
    return kin == kout


def canonical_name(network):
    """Resolve an alias (``dfn_mr``, ``dfn_il``) to the original's module name."""
    return ALIASES.get(network, network)


def _check_cifar_network(network):
    if network not in CIFAR_NETWORKS:
        raise ValueError('unknown network %r; the CIFAR/SVHN networks are %s (aliases %s)'
                         % (network, ', '.join(CIFAR_NETWORKS),
                            ', '.join('%s=%s' % kv for kv in sorted(ALIASES.items()))))


def check_positive_int(value, what):
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
    check_positive_int(num_depth, 'num_depth')
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


def built_depth(network, num_depth):
    """The num_depth of the network that `num_depth` builds.

    The original's arithmetic rounds down: cross at 15 builds the same blocks as at 14, and
    cross at 20 the same as at 18 (blocks 1, 1, 2 of 4 layers: 2 + 4 x 4). This returns the
    depth ``2 + blocks x layers per block`` when that depth builds the same network, else
    `num_depth` itself.
    """
    b = block_depth(network, num_depth)
    blocks = num_blocks(network, num_depth)
    exact = EXCLUDED_LAYERS + sum(blocks) * b
    if exact != num_depth and block_depth(network, exact) == b \
            and set_blocks(exact, b) == blocks:
        return exact
    return num_depth


def cifar_channels(widen_factor):
    """Channels ``[stem, g1, g2, g3]`` = ``[16w, 16w, 32w, 64w]``."""
    check_positive_int(widen_factor, 'widen_factor')
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


def imagenet_stride(group, index):
    """Stride of ImageNet block `index` of group `group` (both from 1): 2 for the first
    block of g2, g3 and g4, else 1."""
    return 2 if (index == 1 and group > 1) else 1


def imagenet_layout(network, blocks=None):
    """Every block of an ImageNet network: ``(name, kin, kout, stride)``."""
    blocks = imagenet_blocks(network, blocks)
    kin = IMAGENET_STEM_CHANNELS
    for g, (count, kout) in enumerate(zip(blocks, IMAGENET_GROUP_CHANNELS)):
        for i in range(count):
            stride = imagenet_stride(g + 1, i + 1)
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


# ---------------------------------------------------------------- reading names back
#: Learned parameters that tell each CIFAR network apart, checked in this order (half has
#: a p0 projection and a p1 path, side the p1 path only, resnet p0 and p2 only).
_SIGNATURES = (('cross', ('g1_b1_d1_two1_conv_weight',)),
               ('fuse', ('g1_b1_p2_0_conv_weight',)),
               ('half', ('g2_b1_p0_line_conv_weight', 'g1_b1_p1_two1_conv_weight')),
               ('side', ('g1_b1_p1_two1_conv_weight',)),
               ('resnet', ('g1_b1_p2_two1_conv_weight',)),
               ('plain', ('g1_b1_p1_conv_weight',)))


def guess_network(shapes):
    """The network a set of parameters was made by, from the original's names.

    `shapes` maps parameter names (``g1_b1_d1_two1_conv_weight``, ...) to shapes. Returns
    a dict of NetworkSpec fields (network, depth, widen_factor, classes or network, blocks,
    classes), or None when the names are not this zoo's.
    """
    import re
    blocks = {}
    for name in shapes:
        m = re.match(r'g(\d)_b(\d+)_', name)
        if m:
            blocks[int(m.group(1))] = max(blocks.get(int(m.group(1)), 0), int(m.group(2)))
    if 'fc_score_weight' in shapes and len(blocks) == 4:
        network = 'imagenet_cross' if 'g1_b1_deep1l_conv1_weight' in shapes \
            else 'imagenet_resnet'
        return dict(network=network, blocks=tuple(blocks[g] for g in (1, 2, 3, 4)),
                    classes=shapes['fc_score_weight'][0])
    if 'cls_fc_weight' not in shapes or 'g0_conv_weight' not in shapes or len(blocks) != 3:
        return None
    network = next((n for n, keys in _SIGNATURES if all(k in shapes for k in keys)), None)
    counts = [blocks[g] for g in (1, 2, 3)]
    if network == 'fuse':
        b = len([n for n in shapes if re.match(r'g1_b1_p2_\d+_conv_weight$', n)])
        network = 'fuse3' if max(counts) == 1 else 'fuse6'
    elif network is not None:
        b = _FIXED_BLOCK_DEPTH[network]
    if network is None:
        return None
    depth = EXCLUDED_LAYERS + sum(counts) * b
    if block_depth(network, depth) != b or set_blocks(depth, b) != counts:
        return None
    return dict(network=network, depth=depth, widen_factor=shapes['g0_conv_weight'][0] // 16,
                classes=shapes['cls_fc_weight'][0])


# ---------------------------------------------------------------- the weight-shared ensemble
#: The original's network/ensemble.py: the 2^3 component networks of the three-fusion net,
#: weights shared across components, each with its own BatchNorm statistics and softmax.
ENSEMBLE = families.ENSEMBLE.networks[0]
#: Components in the original's order (loops g3 outermost, g1 innermost, the left path
#: first), named by the path each takes in g1 g2 g3: L the one-layer left path, R the deep
#: right path. Component k (1..8) is ENSEMBLE_COMPONENTS[k - 1].
ENSEMBLE_COMPONENTS = ('LLL', 'RLL', 'LRL', 'RRL', 'LLR', 'RLR', 'LRR', 'RRR')
#: Every layer of the ensemble: BatchNorm momentum 0.99 (not 0.9), eps 2e-5.
ENSEMBLE_BN_MOMENTUM = 0.99
#: The stem has 16 channels at every width (the original's quirk: g1 then maps 16 -> 16w).
ENSEMBLE_STEM_CHANNELS = 16
#: The left path of a group is one 3x3 convolution, pad 1, stride as the group's first layer.
ENSEMBLE_LEFT = 'left'
#: Head of each component: average pooling 8x8, stride 1 (not global_pool), Flatten, FC.
ENSEMBLE_HEAD_POOL = Pool(8, 1, 0, 'avg')


def ensemble_blocks(net_depth):
    """Right-path layers of g1, g2, g3 of the ensemble (the original's arithmetic).

    b1 = (d - 2) // 3, b2 = (d - 2 - b1) // 2, b3 = d - 2 - b1 - b2; a depth with b1 <= 0
    (below 5) builds no network.
    """
    check_positive_int(net_depth, 'net_depth')
    b1 = (net_depth - EXCLUDED_LAYERS) // 3
    b2 = (net_depth - EXCLUDED_LAYERS - b1) // 2
    b3 = net_depth - EXCLUDED_LAYERS - b1 - b2
    if b1 <= 0:
        raise ValueError('net_depth %d leaves g1 of the ensemble without layers; the ensemble '
                         'needs net_depth >= 5 (e.g. 14, 20, 26, ..., 110)' % net_depth)
    return [b1, b2, b3]


def ensemble_components(components=None):
    """The components to build, checked, in the original's order: all eight by default."""
    if components is None:
        return ENSEMBLE_COMPONENTS
    if isinstance(components, str):
        components = [c.strip() for c in components.split(',') if c.strip()]
    components = [str(c).upper() for c in components]
    unknown = [c for c in components if c not in ENSEMBLE_COMPONENTS]
    if unknown:
        raise ValueError('unknown ensemble component(s) %s; the components are %s'
                         % (', '.join(unknown), ', '.join(ENSEMBLE_COMPONENTS)))
    if not components:
        raise ValueError('the ensemble needs at least one component (of %s)'
                         % ', '.join(ENSEMBLE_COMPONENTS))
    repeated = sorted(set(c for c in components if components.count(c) > 1))
    if repeated:
        raise ValueError('ensemble component(s) %s given more than once' % ', '.join(repeated))
    return tuple(c for c in ENSEMBLE_COMPONENTS if c in components)


def ensemble_layout(net_depth, widen_factor, components=None):
    """Every layer of every component, in the original's order.

    Yields ``(number, component, layers)`` with number 1..8 as in the original, and layers
    a list of ``(layer name, shared name, kin, kout, Conv, relu)``: the layer's own name
    (its BatchNorm statistics are ``<layer>_bn_moving_mean``) and the name of the shared
    weights (``<shared>_weight``, ``<shared>_bn_gamma``, ``<shared>_bn_beta``).
    """
    blocks = ensemble_blocks(net_depth)
    widths = cifar_channels(widen_factor)
    chosen = ensemble_components(components)
    for number, component in enumerate(ENSEMBLE_COMPONENTS, 1):
        if component not in chosen:
            continue
        tag = 'uncouple%02d' % number
        layers = [(tag + 'g0_conv', 'g0', 3, ENSEMBLE_STEM_CHANNELS, Conv(3, 1, 1), True)]
        kin = ENSEMBLE_STEM_CHANNELS
        for g, (path, count) in enumerate(zip(component, blocks), 1):
            kout = widths[g]
            # the stride follows the original's widths (16w, 16w, 32w, 64w), not the input's
            stride = conv_stride(widths[g - 1], kout)
            group = '%sg%d' % (tag, g)
            if path == 'L':
                layers.append((group + '_skip_line', 'g%d_%s' % (g, ENSEMBLE_LEFT), kin, kout,
                               Conv(3, stride, 1), False))
            else:
                for j in range(1, count + 1):
                    layers.append(('%s_b%d_conv3' % (group, j), 'g%d_b%d_right2' % (g, j),
                                   kin, kout, Conv(3, stride if j == 1 else 1, 1),
                                   j < count))
                    kin = kout
            kin = kout
            layers.append((group + '_relu', None, kout, kout, None, True))
        yield number, component, layers
