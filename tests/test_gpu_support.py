"""fusenet_gluon.gpu_support: which GPUs the installed MXNet build can drive, read from the
fat binaries in its library, and an unsupported card named in one line."""
import struct

import mxnet as mx
import pytest

from fusenet_gluon.gpu_support import check_gpus, fatbin_architectures, runnable
from fusenet_gluon.utils import UserError


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
