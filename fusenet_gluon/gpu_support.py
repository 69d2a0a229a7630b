"""Which GPUs the installed MXNet can drive, read from the build itself.

A CUDA build of MXNet carries its kernels as fat binaries in the ``.nv_fatbin`` section of
``libmxnet.so``: machine code (SASS) for some architectures and, optionally, PTX that the
driver can compile for newer ones. The ``mxnet-cu112`` 1.9.1 wheel carries SASS for sm_50,
60, 70, 80 and 86 and no PTX (its 198 fat binaries, read with :func:`fatbin_architectures`),
so on Hopper (H100/H200, sm_90) and newer cards every kernel fails with "no kernel image is
available", deep in the first batch. :func:`check_gpus` says so at start-up instead.

The library is read as data (ELF and fat-binary headers); nothing in it is executed.
"""
import functools
import os
import struct

__all__ = ['fatbin_architectures', 'build_architectures', 'runnable', 'check_gpus']

_FATBIN_MAGIC = 0xBA55ED50
_KIND_PTX, _KIND_SASS = 1, 2


def _elf_section(f, name):
    """(offset, size) of the section called `name` of a 64-bit little-endian ELF file."""
    head = f.read(64)
    if head[:4] != b'\x7fELF' or head[4] != 2 or head[5] != 1:
        return None
    shoff, = struct.unpack_from('<Q', head, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from('<HHH', head, 0x3A)
    f.seek(shoff)
    table = f.read(shentsize * shnum)
    sections = [struct.unpack_from('<IIQQQQ', table, i * shentsize) for i in range(shnum)]
    f.seek(sections[shstrndx][4])
    names = f.read(sections[shstrndx][5])
    for sh_name, _, _, _, offset, size in sections:
        if names[sh_name:names.index(b'\0', sh_name)].decode('ascii', 'replace') == name:
            return offset, size
    return None


def fatbin_architectures(path):
    """``{'sass': {50, ...}, 'ptx': {...}, 'binaries': N}`` of the fat binaries in the ELF
    file `path`, or None when it has no ``.nv_fatbin`` section (a CPU build)."""
    sass, ptx, binaries = set(), set(), 0
    with open(path, 'rb') as f:
        section = _elf_section(f, '.nv_fatbin')
        if section is None:
            return None
        pos, end = section[0], section[0] + section[1]
        while pos + 16 <= end:
            f.seek(pos)
            magic, _, header, size = struct.unpack('<IHHQ', f.read(16))
            if magic != _FATBIN_MAGIC:
                pos += 8  # padding between aligned fat binaries
                continue
            binaries += 1
            entry, stop = pos + header, pos + header + size
            while entry < stop:
                f.seek(entry)
                kind, _, entry_header, payload = struct.unpack('<HHIQ', f.read(16))
                f.seek(entry + 28)
                arch, = struct.unpack('<I', f.read(4))
                (ptx if kind == _KIND_PTX else sass).add(arch)
                entry += entry_header + payload
            pos = stop
    return dict(sass=sass, ptx=ptx, binaries=binaries)


@functools.lru_cache(maxsize=1)
def build_architectures():
    """:func:`fatbin_architectures` of the installed ``libmxnet.so``."""
    import mxnet as mx
    for path in mx.libinfo.find_lib_path():
        if os.path.isfile(path):
            return fatbin_architectures(path)
    return None


def runnable(capability, arch):
    """Whether code of the build `arch` runs on a card of compute `capability` (86 for
    8.6): SASS of the same major version and an equal or lower minor one, or PTX of an equal
    or lower architecture, which the driver compiles."""
    major, minor = divmod(capability, 10)
    return any(s // 10 == major and s % 10 <= minor for s in arch['sass']) or \
        any(p <= capability for p in arch['ptx'])


def _names(archs):
    return ', '.join('sm_%d' % a for a in sorted(archs)) or 'none'


def check_gpus(contexts, capabilities=None, arch=None):
    """Raise ``UserError`` naming the first GPU of `contexts` that this MXNet cannot drive.

    `capabilities` (device id -> compute capability, e.g. ``{0: 90}``) and `arch` (as
    :func:`fatbin_architectures` gives it) default to the cards' and the installed build's.
    """
    from .utils import UserError
    gpus = [c for c in contexts if c.device_type == 'gpu']
    if not gpus:
        return
    arch = arch if arch is not None else build_architectures()
    if arch is None:
        return  # no fat binaries to read: MXNet itself will say what it lacks
    for ctx in gpus:
        if capabilities is not None:
            cc = capabilities[ctx.device_id]
        else:
            import mxnet as mx
            cc = mx.util.get_cuda_compute_capability(ctx)
        if not runnable(cc, arch):
            raise UserError(
                'GPU %d has compute capability %d.%d (sm_%d), which this MXNet build cannot '
                'drive: it carries machine code for %s and PTX for %s. Use a card of sm_%d or '
                'older, or MXNet built from source for sm_%d (CUDA_ARCH / MXNET_CUDA_ARCH)'
                % (ctx.device_id, cc // 10, cc % 10, cc, _names(arch['sass']),
                   _names(arch['ptx']), max(arch['sass'] | arch['ptx']), cc))
