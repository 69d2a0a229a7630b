"""fusenet_gluon.export: the deploy pair (as HybridBlock.export writes it), the ONNX export
and the original's logits graph for deployment, against the network they came from."""
import os

import mxnet as mx
import numpy as np
import pytest

from conftest import initialized, x32


def test_export_and_symbolblock_imports(tmp_path):
    from fusenet_gluon.export import export_deploy
    net = initialized('resnet', depth=14)
    x = x32()
    expect = net(x).asnumpy()
    sym_file, params_file = export_deploy(net, str(tmp_path / 'deploy'))
    back = mx.gluon.SymbolBlock.imports(sym_file, ['data'], params_file)
    np.testing.assert_allclose(back(x).asnumpy(), expect, rtol=1e-5, atol=1e-6)
    with pytest.raises(FileExistsError):
        export_deploy(net, str(tmp_path / 'deploy'))


def test_onnx_export_matches_gluon(tmp_path):
    pytest.importorskip('onnx')
    pytest.importorskip('onnxruntime')
    from fusenet_gluon.export import export_onnx
    net = initialized('cross', depth=14)
    path, diff = export_onnx(net, str(tmp_path / 'm.onnx'))
    assert os.path.getsize(path) > 100000 and diff is not None and diff < 1e-4


def test_graph_deploy_export_matches_the_network(tmp_path):
    """What an AMP run exports: the original's logits graph with the float32 checkpoint
    values, loadable like HybridBlock.export's pair."""
    from fusenet_gluon.export import export_graph_deploy
    net = initialized('fuse3', depth=26)
    sym_file, params_file = export_graph_deploy(net, str(tmp_path / 'sub' / 'deploy'))
    back = mx.gluon.SymbolBlock.imports(sym_file, ['data'], params_file)
    np.testing.assert_allclose(back(x32()).asnumpy(), net(x32()).asnumpy(), rtol=1e-5,
                               atol=1e-6)
    assert {np.dtype(v.dtype).name for v in mx.nd.load(params_file).values()} == {'float32'}
    with pytest.raises(FileExistsError):
        export_graph_deploy(net, str(tmp_path / 'sub' / 'deploy'))


def test_export_of_a_network_on_other_devices(tmp_path):
    """A GPU run's network has no copy on cpu(0): the export at the end of its training
    traced the graph with an input on cpu(0) and failed. mx.cpu(1) alone stands in for the
    GPU here (MXNet checks the contexts alike)."""
    from fusenet_gluon.export import export_deploy
    net = initialized('resnet', depth=14)
    net.collect_params().reset_ctx([mx.cpu(1)])
    x = x32()
    expect = net(x.as_in_context(mx.cpu(1))).asnumpy()
    sym_file, params_file = export_deploy(net, str(tmp_path / 'deploy'))
    back = mx.gluon.SymbolBlock.imports(sym_file, ['data'], params_file)
    np.testing.assert_allclose(back(x).asnumpy(), expect, rtol=1e-5, atol=1e-6)
