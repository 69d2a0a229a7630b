"""Reduced precision and GPU support, as far as a CPU can check them: float16's master
weights, input and label casts and float32 checkpoints; AMP's loss-scale state; which CPUs
get bfloat16 AMP; and which GPUs the installed MXNet build can drive."""
import json
import logging
import struct
import types

import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon

from fusenet_gluon import get_model, upstream
from fusenet_gluon.spec import NetworkSpec
from fusenet_gluon.utils import UserError
from fusenet_gluon.gpu_support import check_gpus, fatbin_architectures, runnable
from fusenet_gluon.training import checkpoint
from fusenet_gluon.training.distributed import Job
from fusenet_gluon.training.recipe import amp_dtype, check_amp, cpu_has_bfloat16, make_trainer
from fusenet_gluon.utils import UserError


def cfg(**kw):
    base = dict(lr=0.1, momentum=0.9, wd=0.0, num_epochs=1, lr_steps=[], lr_factor=0.1,
                lr_mode='step', warmup_epochs=0, dtype='float32', amp=False,
                contexts=[mx.cpu()], spec=NetworkSpec('cross', 14))
    base.update(kw)
    return types.SimpleNamespace(**base)


def test_float16_keeps_float32_master_weights_and_updates_as_nag(tmp_path):
    net = get_model('cross', depth=14)
    net.initialize(mx.init.Xavier())
    net.cast('float16')
    trainer = make_trainer(net, cfg(dtype='float16'), Job('device'), epoch_size=1)
    trainer.set_batch_size(1)
    params = list(net.collect_params().values())
    learned = [p for p in params if p.grad_req != 'null']
    rng = np.random.RandomState(0)
    before, grads = {}, {}
    for p in learned:
        before[p.name] = p.data().astype('float32').asnumpy()
        grads[p.name] = rng.normal(0, 1, p.shape).astype(np.float16)
        p.grad()[:] = grads[p.name]
        p.data()._fresh_grad = True  # as a backward pass marks it (no float16 conv on CPU)
    trainer.step(1)
    states = trainer._updaters[0].states
    kinds = set()
    for p in learned:
        state = states[trainer._param2idx[p.name]]
        # MXNet's NAG by hand on float32: m = g; w -= lr * (g + 0.9 m)
        g = grads[p.name].astype(np.float32)
        expect = before[p.name] - 0.1 * (g + 0.9 * g)
        if p.data().dtype == np.float16:   # convolutions, the classifier
            momentum, master = state
            assert master.dtype == np.float32 and momentum.dtype == np.float32
            np.testing.assert_allclose(master.asnumpy(), expect, rtol=1e-5, atol=1e-6)
            assert np.array_equal(p.data().asnumpy(), master.asnumpy().astype(np.float16))
        else:   # Gluon keeps BatchNorm's gamma and beta float32 under cast('float16')
            assert p.name.endswith(('gamma', 'beta')) and state.dtype == np.float32
            np.testing.assert_allclose(p.data().asnumpy(), expect, rtol=1e-5, atol=1e-6)
        kinds.add(np.dtype(p.data().dtype).name)
    assert kinds == {'float16', 'float32'}


def test_float16_logits_take_float32_labels():
    """The loop casts the inputs to --dtype and leaves the labels float32."""
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    logits = mx.nd.array(np.random.RandomState(1).normal(0, 2, (6, 10)))
    labels = mx.nd.array([0, 3, 9, 2, 2, 7])
    half = loss(logits.astype('float16'), labels).asnumpy()
    shifted = logits.asnumpy() - logits.asnumpy().max(1, keepdims=True)
    expect = -(shifted - np.log(np.exp(shifted).sum(1, keepdims=True)))[np.arange(6), [0, 3, 9, 2, 2, 7]]
    np.testing.assert_allclose(half.astype(np.float32), expect, rtol=5e-3, atol=5e-3)


def test_a_float16_network_saves_a_float32_checkpoint(tmp_path):
    net = get_model('cross', depth=14)
    net.initialize(mx.init.Xavier())
    net.cast('float16')
    upstream.save_checkpoint(net, str(tmp_path / 'm'), 1)
    _, arg, aux = mx.model.load_checkpoint(str(tmp_path / 'm'), 1)
    assert {v.dtype for v in list(arg.values()) + list(aux.values())} == {np.float32}
    w = net.collect_params()['g0_conv_weight'].data().asnumpy()
    assert np.array_equal(arg['g0_conv_weight'].asnumpy(), w.astype(np.float32))
    back = upstream.load_params(get_model('cross', depth=14), str(tmp_path / 'm-0001.params'))
    assert back.collect_params()['g0_conv_weight'].data().dtype == np.float32


def test_amp_loss_scale_is_part_of_the_trainer_state(tmp_path):
    from mxnet.contrib.amp.loss_scaler import LossScaler
    net = get_model('cross', depth=14)
    net.initialize(mx.init.Xavier())
    trainer = make_trainer(net, cfg(), Job('device'), epoch_size=1)
    trainer._amp_loss_scaler = LossScaler()          # what amp.init_trainer attaches
    trainer._amp_loss_scaler._loss_scale = 1024.0
    trainer._amp_loss_scaler._next_loss_scale = 512.0
    trainer._amp_loss_scaler._unskipped = 17
    files = checkpoint.RunFiles(str(tmp_path / 'm'))
    checkpoint.save_state(net, trainer, files, 1, dict(epoch=1, complete=True, batches_done=0,
                                                       num_update=5, seed=0),
                          logging.getLogger('test'))
    saved = json.load(open(files.state(1)))['amp_loss_scaler']
    assert saved == dict(loss_scale=1024.0, next_loss_scale=512.0, unskipped=17)
    resumed = make_trainer(net, cfg(), Job('device'), epoch_size=1)
    resumed._amp_loss_scaler = LossScaler()
    *_, amp_state = checkpoint.resume_point(files, 1, 1, logging.getLogger('test'))
    resumed.load_amp_state(amp_state)
    assert (resumed._amp_loss_scaler.loss_scale, resumed._amp_loss_scaler._unskipped) == \
        (1024.0, 17)


@pytest.mark.parametrize('flags,expect', [
    ('fpu sse avx2 fma', False),                       # this project's AMD EPYC: AVX2 only
    ('fpu avx512f avx512bw avx512_bf16 amx_tile', True),
    ('fpu avx512f amx_bf16 amx_tile', True),
    ('fpu avx512f avx512bw avx512_vnni', False),
])
def test_which_cpus_get_bfloat16(tmp_path, monkeypatch, flags, expect):
    monkeypatch.delenv('FUSENET_CPU_FLAGS', raising=False)
    info = tmp_path / 'cpuinfo'
    info.write_text('processor\t: 0\nflags\t\t: %s\n\nprocessor\t: 1\nflags\t\t: %s\n'
                    % (flags, flags))
    assert cpu_has_bfloat16(str(info)) is expect
    assert cpu_has_bfloat16(str(tmp_path / 'none')) is False
    assert amp_dtype([mx.cpu()]) == 'bfloat16' and amp_dtype([mx.gpu(0)]) == 'float16'


def test_cpu_flags_can_be_injected(tmp_path, monkeypatch):
    """FUSENET_CPU_FLAGS stands for /proc/cpuinfo's flags, so that both branches of a
    CPU-dependent path run on any host."""
    info = tmp_path / 'cpuinfo'
    info.write_text('processor\t: 0\nflags\t\t: fpu avx2\n')
    monkeypatch.setenv('FUSENET_CPU_FLAGS', 'fpu avx512f avx512_bf16')
    assert cpu_has_bfloat16(str(info)) is True
    monkeypatch.setenv('FUSENET_CPU_FLAGS', 'fpu avx2 fma')
    assert cpu_has_bfloat16('/proc/cpuinfo') is False
    with pytest.raises(UserError, match='avx512_bf16 or amx_bf16'):
        check_amp([mx.cpu()])
    check_amp([mx.gpu(0)])  # GPUs take float16 AMP whatever the CPU


# ------------------------------------------------------------ GPUs this MXNet can drive
def fatbin(entries):
    """A fat binary as nvcc lays it out: a 16-byte header, then entries of a 64-byte header
    (kind 1 PTX / 2 SASS, header size, payload size, the architecture at byte 28) and a
    payload."""
    body = b''
    for kind, arch in entries:
        payload = b'\x00' * 24
        head = struct.pack('<HHIQ', kind, 0x101, 64, len(payload)) + b'\x00' * 12
        head += struct.pack('<I', arch) + b'\x00' * (64 - 32)
        body += head + payload
    return struct.pack('<IHHQ', 0xBA55ED50, 1, 16, len(body)) + body


def elf_with_section(path, name, data):
    """A minimal 64-bit little-endian ELF: a null section, .shstrtab and `name`."""
    names = b'\x00.shstrtab\x00' + name.encode() + b'\x00'
    data_off = 64
    names_off = data_off + len(data)
    shoff = names_off + len(names)
    head = b'\x7fELF' + bytes([2, 1, 1]) + b'\x00' * 9
    head += struct.pack('<HHIQQQIHHHHHH', 3, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, 3, 1)
    sections = [struct.pack('<IIQQQQIIQQ', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
                struct.pack('<IIQQQQIIQQ', 1, 3, 0, 0, names_off, len(names), 0, 0, 1, 0),
                struct.pack('<IIQQQQIIQQ', 11, 1, 2, 0, data_off, len(data), 0, 0, 8, 0)]
    with open(path, 'wb') as f:
        f.write(head + data + names + b''.join(sections))


def test_fat_binaries_are_read_from_the_library(tmp_path):
    data = fatbin([(2, 70), (2, 86), (1, 80)]) + b'\x00' * 8 + fatbin([(2, 50)])
    lib = str(tmp_path / 'libfake.so')
    elf_with_section(lib, '.nv_fatbin', data)
    assert fatbin_architectures(lib) == dict(sass={50, 70, 86}, ptx={80}, binaries=2)
    cpu_lib = str(tmp_path / 'libcpu.so')
    elf_with_section(cpu_lib, '.rodata', b'\x00' * 16)
    assert fatbin_architectures(cpu_lib) is None


# what docs/reference.md section 5 records of the mxnet-cu112 1.9.1 wheel's libmxnet.so
CU112 = dict(sass={50, 60, 70, 80, 86}, ptx=set(), binaries=198)


@pytest.mark.parametrize('capability,ok', [
    (50, True), (52, True), (61, True), (75, True), (80, True), (86, True),
    (89, True),     # Ada: sm_86 machine code runs on 8.9
    (90, False),    # Hopper H100/H200: no sm_9x code and no PTX
    (100, False), (37, False),
])
def test_which_cards_the_cu112_wheel_drives(capability, ok):
    assert runnable(capability, CU112) is ok
    with_ptx = dict(CU112, ptx={80})
    assert runnable(capability, with_ptx) is (ok or capability >= 80)


def test_an_unsupported_card_is_named_in_one_line():
    with pytest.raises(UserError) as err:
        check_gpus([mx.gpu(0), mx.gpu(1)], {0: 86, 1: 90}, CU112)
    text = str(err.value)
    assert 'GPU 1 has compute capability 9.0 (sm_90)' in text and '\n' not in text
    assert 'sm_50, sm_60, sm_70, sm_80, sm_86' in text and 'sm_86 or older' in text
    check_gpus([mx.gpu(0)], {0: 80}, CU112)         # a supported card passes
    check_gpus([mx.cpu(0), mx.cpu(1)], {}, CU112)   # CPU devices are not checked
