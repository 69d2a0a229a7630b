"""Reduced precision, as far as a CPU can check it: float16's master weights, input and
label casts and float32 checkpoints; AMP's loss-scale state; which CPUs get bfloat16 AMP.
Modules: fusenet_gluon.training.recipe (make_trainer, amp_dtype, check_amp,
cpu_has_bfloat16), training.checkpoint, training.distributed and upstream (float32
checkpoints) with a float16 network.
(Which GPUs the MXNet build drives: tests/test_gpu_support.py.)"""
import json
import logging
import types

import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon

from fusenet_gluon import get_model, upstream
from fusenet_gluon.spec import NetworkSpec
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
    monkeypatch.delenv('DNNL_MAX_CPU_ISA', raising=False)
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
    monkeypatch.delenv('DNNL_MAX_CPU_ISA', raising=False)
    monkeypatch.setenv('FUSENET_CPU_FLAGS', 'fpu avx512f avx512_bf16')
    assert cpu_has_bfloat16(str(info)) is True
    monkeypatch.setenv('FUSENET_CPU_FLAGS', 'fpu avx2 fma')
    assert cpu_has_bfloat16('/proc/cpuinfo') is False
    with pytest.raises(UserError, match='avx512_bf16 or amx_bf16'):
        check_amp([mx.cpu()])
    check_amp([mx.gpu(0)])  # GPUs take float16 AMP whatever the CPU


@pytest.mark.parametrize('cap,expect', [('AVX2', False), ('avx512_core', False),
                                        ('AVX512_CORE_BF16', True), ('avx512_core_amx', True),
                                        ('ALL', True)])
def test_a_onednn_cap_below_bfloat16_refuses_amp(monkeypatch, cap, expect):
    """DNNL_MAX_CPU_ISA=AVX2, how an AVX2-only machine is played on a bfloat16 one, leaves
    oneDNN no bfloat16 kernel (MXNet: "could not create a primitive descriptor iterator"):
    --amp is refused naming the cap, not let fail at the first update."""
    monkeypatch.setenv('FUSENET_CPU_FLAGS', 'fpu avx512f avx512_bf16')
    monkeypatch.setenv('DNNL_MAX_CPU_ISA', cap)
    assert cpu_has_bfloat16() is expect
    if expect:
        check_amp([mx.cpu()])
    else:
        with pytest.raises(UserError, match='DNNL_MAX_CPU_ISA=%s caps oneDNN below' % cap):
            check_amp([mx.cpu()])
