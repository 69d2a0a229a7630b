"""fusenet_gluon.convert: checkpoints to Gluon and back through the command line, bit for
bit; never writing over a file; a checkpoint of another network named in one line, with
the flags that build it."""
import os

import mxnet as mx
import numpy as np

from conftest import cli_here, initialized, run, run_module, x32
from fusenet_gluon import convert, get_model, upstream


def test_convert_names_the_network_a_checkpoint_holds(tmp_path):
    net = get_model('half', depth=26, widen_factor=2, classes=7)
    net.initialize()
    upstream.save_checkpoint(net, str(tmp_path / 'o'), 3)
    r = run('-m', 'fusenet_gluon.convert', 'to-gluon', '--network', 'half', '--depth', '14',
            '--prefix', str(tmp_path / 'o'), '--epoch', '3', '--output', str(tmp_path / 'x'))
    assert r.returncode == 2 and 'Traceback' not in r.stderr
    assert ('the file holds the network of: --network half --depth 26 --widen-factor 2 '
            '--classes 7') in r.stderr
    # the right flags work, and the output's folder is made
    out = str(tmp_path / 'new' / 'folder' / 'net.params')
    r = run('-m', 'fusenet_gluon.convert', 'to-gluon', '--network', 'half', '--depth', '26',
            '--widen-factor', '2', '--classes', '7', '--prefix', str(tmp_path / 'o'),
            '--epoch', '3', '--output', out)
    assert r.returncode == 0 and os.path.isfile(out), r.stderr
    # a Gluon file of another depth: every name listed, no advice the command cannot take
    # (in this process: the first refusal above ran the command as a user does)
    status, _, err = cli_here(convert.main, 'convert', 'export', '--network', 'half', '--depth',
                              '38', '--widen-factor', '2', '--classes', '7', '--params', out,
                              '--output', str(tmp_path / 'd'))
    assert status == 2 and 'missing (' in err and 'allow_missing' not in err


def test_convert_command_line_round_trip(tmp_path):
    net = initialized()
    orig = str(tmp_path / 'orig')
    upstream.save_checkpoint(net, orig, 3)
    gl = str(tmp_path / 'net.params')
    model = ['--network', 'dfn_mr', '--depth', '14']
    r = run_module('fusenet_gluon.convert', 'to-gluon', *model, '--prefix', orig, '--epoch', '3',
                   '--output', gl)
    assert r.returncode == 0, r.stderr
    fresh = get_model('cross', depth=14)
    fresh.load_parameters(gl)
    np.testing.assert_allclose(fresh(x32()).asnumpy(), net(x32()).asnumpy(), rtol=1e-5)
    # refuses to overwrite, says so in one line
    r = run_module('fusenet_gluon.convert', 'to-gluon', *model, '--prefix', orig, '--epoch', '3',
                   '--output', gl)
    assert r.returncode == 2 and 'already exist' in r.stderr and 'Traceback' not in r.stderr
    back = str(tmp_path / 'back')
    r = run_module('fusenet_gluon.convert', 'to-upstream', *model, '--params', gl,
                   '--prefix', back, '--epoch', '3')
    assert r.returncode == 0, r.stderr
    a = mx.nd.load(orig + '-0003.params')
    b = mx.nd.load(back + '-0003.params')
    assert set(a) == set(b) and all(np.array_equal(a[k].asnumpy(), b[k].asnumpy()) for k in a)
    # a checkpoint that does not fit: clear error, no traceback, nothing written
    # (these two in this process: the refusal above ran the command as a user does)
    status, _, err = cli_here(convert.main, 'convert', 'to-gluon', '--network', 'cross',
                              '--depth', '18', '--prefix', orig, '--epoch', '3',
                              '--output', str(tmp_path / 'x.params'))
    assert status == 2 and 'missing' in err and 'Traceback' not in err
    assert not os.path.exists(str(tmp_path / 'x.params'))
    status, _, err = cli_here(convert.main, 'convert', 'export', '--network', 'cross',
                              '--depth', '10', '--params', gl, '--output', str(tmp_path / 'd'))
    assert status == 2 and '>= 14' in err and 'Traceback' not in err
