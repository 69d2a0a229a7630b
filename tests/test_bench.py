"""fusenet_gluon.bench: the benchmark's interface (its output format, not its speed: numbers
are for docs/performance.md, not for tests)."""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, cli_here
from fusenet_gluon import bench


def test_bench_reports_every_mode_and_ratio(tmp_path):
    out = str(tmp_path / 'b.json')
    r = subprocess.run([sys.executable, '-m', 'fusenet_gluon.bench', '--network', 'cross',
                        '--depth', '14', '--batch-size', '4', '--iters', '1', '--warmup', '1',
                        '--repeat', '1', '--json', out, '--markdown'], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    (res,) = json.load(open(out))['results']
    assert set(res['modes']) == {'hybrid', 'module', 'imperative'}
    assert res['modes']['module']['train_ratio'] == 1.0
    for mode in ('hybrid', 'module'):
        assert {'train_img_s', 'train_min', 'train_max', 'infer_img_s', 'memory_mb',
                'train_ratio'} <= set(res['modes'][mode])
    assert '| cross | 14 | 4 |' in r.stdout
    # a refusal, in this process (test_devices runs the bench's refusals as a user does)
    status, _, err = cli_here(bench.main, 'bench', '--depth', '9')
    assert status == 2 and '>= 14' in err and 'Traceback' not in err


def test_bench_takes_networks_without_a_depth():
    """DLA variants are fixed and take no --depth: the bench used to pass its default depth
    to every network that is not of the ImageNet family and so refused ``--network dla34``."""
    import argparse
    from fusenet_gluon import bench
    args = argparse.Namespace(network='dla34,cross', depth='14,26', widen_factor=1,
                              classes=None)
    specs = bench._specs(args)
    assert [(s.network, s.depth) for s in specs] == [('dla34', None), ('cross', 14),
                                                      ('cross', 26)]


def test_the_machine_line_names_a_cap_on_onednn(monkeypatch):
    """A figure measured with oneDNN capped (DNNL_MAX_CPU_ISA=AVX2 stands in for the
    project's AVX2-only machines) ran other kernels: the benchmarks' header line says so,
    and says nothing of a cap when there is none."""
    from fusenet_gluon.timing import machine
    monkeypatch.delenv('DNNL_MAX_CPU_ISA', raising=False)
    assert 'DNNL_MAX_CPU_ISA' not in machine()
    monkeypatch.setenv('DNNL_MAX_CPU_ISA', 'AVX2')
    assert machine().endswith('; oneDNN capped at AVX2 (DNNL_MAX_CPU_ISA)')


def test_the_bn_relu_benchmark_pairs_a_fused_network_and_refuses_one_without(capsys):
    """benchmarks/bn_relu.py: DFN-MR 14 has 7 BatchNorms followed by a ReLU (the stem and
    each path's first layer: tests/test_bn_relu.py counts them in the graph); DLA runs the
    two nodes, so there is nothing to pair."""
    spec = importlib.util.spec_from_file_location(
        'bn_relu_benchmark', os.path.join(ROOT, 'benchmarks', 'bn_relu.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(['--networks', 'cross:14', '--batch-size', '2', '--steps', '1', '--rounds', '2'])
    assert '| cross 14 | 32x32 | 2 | 7 |' in capsys.readouterr().out
    with pytest.raises(SystemExit, match='dla34 has no BatchNorm that fuses its ReLU'):
        module.main(['--networks', 'dla34', '--steps', '1', '--rounds', '1'])


def test_spread_writes_median_and_range_as_the_docs_tables_do():
    from fusenet_gluon.timing import spread
    assert spread([436.3, 426.4, 440.2]) == '436.3 (426.4-440.2)'
    assert spread([1.0, 1.2345, 0.9], 3, 2) == '1.000 (0.90-1.23)'   # a ratio's form
    assert spread([2, 4]) == '3.0 (2.0-4.0)'   # an even count: the mean of the middle two


@pytest.mark.parametrize('argv, says', [(['--network', 'nosuch'], "unknown model 'nosuch'"),
                                        (['--depth', '9'], 'num_depth 9 leaves')])
def test_a_bad_network_or_depth_is_the_only_line_printed(argv, says):
    status, out, err = cli_here(bench.main, 'python -m fusenet_gluon.bench', *argv)
    assert status == 2 and out == '' and says in err and len(err.splitlines()) == 1
