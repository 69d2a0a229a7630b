"""fusenet_gluon.data.transforms: the Gluon loader's transform Blocks against a NumPy/OpenCV
transcription of the authors' MXNet fork (zlmzju/mxnet, branch fusenet, 271cac1f,
src/io/image_aug_default.cc, ``DefaultImageAugmenter::Process``) on fixed draws, and against
MXNet 1.9.1's C++.

The transcription follows the fork's code path as docs/reference.md section 3 states it:
the affine warp (rotation and shear 0: a = cos 0, b = sin 0, shear s = 0) with
hs = 2 scale / (1 + ratio), ws = ratio hs, size scale * (cols, rows) clipped to
[min_img_size, max_img_size], the translation centring the content, ``inter_method`` 9
(GetInterMethod), a constant border; the crop (random, or centred: (rows - size) / 2);
the HLS offsets {h, l, s} clipped at (180, 255, 255); everything on BGR images, in float32
where the C++ is float.
"""
import cv2
import mxnet as mx
import numpy as np
import pytest

from fusenet_gluon.data import get_preset, recordio
from fusenet_gluon.data.transforms import (HSLJitter, Normalize, RandomPadCrop,
                                           ScaleAspectWarp, seed_sample)

f32 = np.float32


def get_inter_method(old_w, old_h, new_w, new_h):
    """The fork's GetInterMethod(9, ...): cubic to enlarge, area to shrink, else bilinear."""
    if new_w > old_w and new_h > old_h:
        return 2
    if new_w < old_w and new_h < old_h:
        return 3
    return 1


def fork_process(bgr, draws, size, min_img_size, fill_bgr, rand_crop=True, hsl=True):
    """The fork's Process() for ImageNet (pad 0, no crop-size range) on a BGR image, with
    `draws` = (scale, ratio, y, x, h, s, l) given instead of drawn."""
    scale, ratio, y, x, h, s, l = draws
    scale, ratio = f32(scale), f32(ratio)
    shear, angle = f32(0), 0
    a, b = f32(np.cos(angle / 180.0 * np.pi)), f32(np.sin(angle / 180.0 * np.pi))
    rows, cols = bgr.shape[:2]
    hs = f32(2) * scale / (f32(1) + ratio)
    ws = ratio * hs
    new_width = max(f32(min_img_size), min(f32(1e10), scale * f32(cols)))
    new_height = max(f32(min_img_size), min(f32(1e10), scale * f32(rows)))
    m = np.zeros((2, 3), np.float32)
    m[0, 0] = hs * a - shear * b * ws
    m[1, 0] = -b * ws
    m[0, 1] = hs * b + shear * a * ws
    m[1, 1] = a * ws
    ori_center_width = m[0, 0] * f32(cols) + m[0, 1] * f32(rows)
    ori_center_height = m[1, 0] * f32(cols) + m[1, 1] * f32(rows)
    m[0, 2] = (new_width - ori_center_width) / f32(2)
    m[1, 2] = (new_height - ori_center_height) / f32(2)
    inter = get_inter_method(cols, rows, int(new_width), int(new_height))
    res = cv2.warpAffine(bgr, m, (int(new_width), int(new_height)), flags=inter,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=fill_bgr)
    if not rand_crop:
        y, x = (res.shape[0] - size) // 2, (res.shape[1] - size) // 2
    res = res[y:y + size, x:x + size]
    if hsl:
        hls = cv2.cvtColor(np.ascontiguousarray(res), cv2.COLOR_BGR2HLS)
        temp, limit = (h, l, s), (180, 255, 255)
        out = np.empty_like(hls)
        for k in range(3):
            out[..., k] = np.clip(hls[..., k].astype(int) + temp[k], 0, limit[k])
        res = cv2.cvtColor(out, cv2.COLOR_HLS2BGR)
    return res


def photo(rows, cols, seed):
    rng = np.random.RandomState(seed)
    small = rng.randint(0, 256, (rows // 8 + 1, cols // 8 + 1, 3)).astype(np.uint8)
    return cv2.resize(small, (cols, rows), interpolation=cv2.INTER_CUBIC)


FILL = (123, 113, 99)   # the fork's fill_value_r/g/b for ImageNet (RGB)


@pytest.mark.parametrize('shape', [(480, 640), (512, 480), (200, 150), (300, 700)])
def test_warp_crop_and_jitter_are_the_forks_on_fixed_draws(shape):
    """Shrinking (area, run as bilinear), enlarging past min_img_size (cubic) and mixed
    (bilinear) warps, random crops and HLS offsets: bit for bit the transcription's."""
    rng = np.random.RandomState(sum(shape))
    rgb = photo(shape[0], shape[1], 1)
    warp = ScaleAspectWarp(0.533, 1.0, 0.25, 256, fill=FILL)
    for _ in range(4):
        scale = f32(rng.uniform(0.533, 1.0))
        ratio = f32(rng.uniform(0.75, 1.25))
        warped = warp.warp(rgb, scale, ratio)
        y = rng.randint(0, warped.shape[0] - 224 + 1)
        x = rng.randint(0, warped.shape[1] - 224 + 1)
        h, s, l = rng.randint(-36, 37), rng.randint(-50, 51), rng.randint(-50, 51)
        ours = HSLJitter.jitter(warped[y:y + 224, x:x + 224], h, s, l)
        theirs = fork_process(rgb[..., ::-1].copy(), (scale, ratio, y, x, h, s, l), 224, 256,
                              FILL[::-1])[..., ::-1]
        assert np.array_equal(ours, theirs), (scale, ratio, y, x, h, s, l)


def test_the_border_is_the_fill_colour_and_sizes_are_clipped():
    """A narrowing aspect leaves a border of the fill colour; sizes clip at 256."""
    rgb = np.full((480, 640, 3), 7, np.uint8)
    warp = ScaleAspectWarp(0.533, 1.0, 0.25, 256, fill=FILL)
    out = warp.warp(rgb, 0.6, 1.25)        # hs = 2 * 0.6 / 2.25: the width shrinks
    assert out.shape == (288, 384, 3)      # int(0.6 * 480), int(0.6 * 640)
    assert (out[:, 0] == FILL).all() and (out[144, 200] == 7).all()
    assert warp.warp(rgb, 0.533, 1.0).shape == (256, 341, 3)   # 255.84 -> 256


def test_hsl_draws_truncate_towards_zero():
    """int(u * 2 m - m): offsets within (-m, m), zero twice as often as any other."""
    np.random.seed(0)
    jitter = HSLJitter(36, 50, 50)
    h = np.array([jitter.draw()[0] for _ in range(20000)])
    assert h.min() >= -36 and h.max() <= 35
    counts = np.bincount(h + 36)
    assert 1.6 < counts[36] / counts[37] < 2.4 and 0.6 < counts[37] / counts[38] < 1.4


def test_hsl_clips_hue_at_180_and_lightness_at_255():
    img = np.array([[[250, 10, 10], [200, 200, 200]]], np.uint8)
    hls = cv2.cvtColor(img, cv2.COLOR_RGB2HLS).astype(int)
    out = cv2.cvtColor(HSLJitter.jitter(img, 200, 0, 300), cv2.COLOR_RGB2HLS)
    assert out[0, 1, 1] == 255 and hls[0, 0, 0] + 200 > 180
    assert out[0, 0, 0] in (0, 180)   # hue 180 clipped (OpenCV reads 180 as 0 degrees)


def _record_iter(tmp_path, images, **kw):
    path = str(tmp_path / 'x.rec')
    recordio.write_records(path, [(0, im) for im in images], force=True)
    it = mx.io.ImageRecordIter(path_imgrec=path, data_shape=(3, 224, 224), batch_size=1,
                               preprocess_threads=1, verbose=False, **kw)
    return [b.data[0].asnumpy()[0] for b in it]


@pytest.mark.parametrize('shape', [(480, 560), (300, 260)])
def test_mxnet_cpp_runs_the_forks_validation_warp_with_one_fill_value(tmp_path, shape):
    """MXNet 1.9.1's ImageRecordIter with the fork's validation arguments is the
    transcription with a grey border (its one fill_value), bit for bit (no mean/std: raw
    pixels); the Gluon loader's Blocks give the fork's coloured border."""
    rgb = photo(shape[0], shape[1], 3)
    preset = get_preset('imagenet')
    args = preset.augment.record_iter_args(preset, False)
    cpp = _record_iter(tmp_path, [rgb], **args)[0].transpose(1, 2, 0)
    grey = (args['fill_value'],) * 3
    theirs = fork_process(rgb[..., ::-1].copy(), (0.533, 1.0, 0, 0, 0, 0, 0), 224, 256, grey,
                          rand_crop=False, hsl=False)[..., ::-1]
    assert np.array_equal(cpp, theirs.astype(np.float32))
    steps = preset.augment.steps(preset, False)
    ours = steps[1](steps[0](mx.nd.array(rgb, dtype="uint8")))
    fork = fork_process(rgb[..., ::-1].copy(), (0.533, 1.0, 0, 0, 0, 0, 0), 224, 256,
                        FILL[::-1], rand_crop=False, hsl=False)[..., ::-1]
    assert np.array_equal(ours, fork)
    assert np.array_equal(ours == cpp, fork == theirs)   # they differ on the border only
    assert (ours != cpp).any() == (min(shape) < 480)


def test_mxnet_cpp_random_scale_is_the_forks(tmp_path):
    """With the scale fixed (min = max) and no aspect jitter the C++ warp is deterministic:
    the transcription's, bit for bit, at an enlarging (cubic) and a shrinking scale."""
    rgb = photo(240, 300, 4)
    for scale in (1.4, 0.9):
        cpp = _record_iter(tmp_path, [rgb], min_random_scale=scale, max_random_scale=scale,
                           min_img_size=224, inter_method=9, fill_value=255)[0]
        theirs = fork_process(rgb[..., ::-1].copy(), (scale, 1.0, 0, 0, 0, 0, 0), 224, 224,
                              (255, 255, 255), rand_crop=False, hsl=False)[..., ::-1]
        assert np.array_equal(cpp.transpose(1, 2, 0), theirs.astype(np.float32)), scale


def test_pad_crop_is_copymakeborder_then_a_window():
    """RandomPadCrop: a window of the image padded with the fill colour, at offsets
    uniform in [0, 2 pad] (counted over many draws)."""
    img = photo(32, 32, 5)
    block = RandomPadCrop(4, (255, 255, 255))
    padded = np.full((40, 40, 3), 255, np.uint8)
    padded[4:36, 4:36] = img
    assert np.array_equal(block.crop(img, 3, 7), padded[3:35, 7:39])
    np.random.seed(1)
    seen = np.zeros((9, 9), int)
    for _ in range(2000):
        out = block(mx.nd.array(img, dtype='uint8'))
        hits = [(y, x) for y in range(9) for x in range(9)
                if np.array_equal(out, padded[y:y + 32, x:x + 32])]
        assert len(hits) == 1
        seen[hits[0]] += 1
    assert seen.min() > 2000 / 81 * 0.4 and seen.max() < 2000 / 81 * 1.8


def test_normalize_is_imagerecorditers_arithmetic(tmp_path):
    """(x - mean) * (1 / std) in float32: the C++ loader's tensors, bit for bit."""
    preset = get_preset('cifar10')
    img = np.random.RandomState(0).randint(0, 256, (32, 32, 3)).astype(np.uint8)
    path = str(tmp_path / 'n.rec')
    recordio.write_records(path, [(0, img)])
    it = mx.io.ImageRecordIter(path_imgrec=path, data_shape=(3, 32, 32), batch_size=1,
                               mean_r=preset.mean[0], mean_g=preset.mean[1],
                               mean_b=preset.mean[2], std_r=preset.std[0],
                               std_g=preset.std[1], std_b=preset.std[2], verbose=False)
    cpp = next(iter(it)).data[0].asnumpy()[0]
    ours = Normalize(preset.mean, preset.std)(mx.nd.array(img, dtype='uint8'))
    assert np.array_equal(ours, cpp)


def test_a_samples_augmentation_repeats_with_its_seed():
    preset = get_preset('imagenet')
    t = preset.augment.gluon_transform(preset, True)
    img = mx.nd.array(photo(480, 600, 6), dtype='uint8')
    outs = []
    for seed in (3, 3, 4):
        seed_sample(seed)
        outs.append(t(img))
    assert outs[0].shape == (3, 224, 224)
    assert np.array_equal(outs[0], outs[1]) and not np.array_equal(outs[0], outs[2])
