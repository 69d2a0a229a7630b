"""fusenet_gluon.results: a run's summary and the table of runs, by hand; an existing plot
kept without --force."""
import json
import subprocess
import sys

from conftest import ROOT, run_module
from fusenet_gluon.results import summarize, table
from fusenet_gluon.spec import NetworkSpec


def test_results_group_by_data_set_and_schedule(tmp_path):
    from fusenet_gluon.results import table
    paths = []
    for name, dataset, epochs, acc in (('a', 'digits', 20, 0.99), ('b', 'cifar10', 4, 0.5),
                                       ('c', 'cifar10', 4, 0.6)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / 'm-metrics.jsonl').write_text(json.dumps(dict(
            epoch=epochs, lr=0.1, train_loss=1, train_acc=1, val_loss=1, val_acc=acc,
            time_s=1, img_per_s=1)) + '\n')
        (folder / 'm-run.json').write_text(json.dumps(dict(
            model=NetworkSpec('cross', 14).to_dict(), dataset=dataset, num_epochs=epochs)))
        paths.append(str(folder / 'm-metrics.jsonl'))
    rows = table(paths).splitlines()[1:]
    assert len(rows) == 2
    assert any('cross d14 w1, digits, 20 epochs' in r and ' 1 ' in r for r in rows)
    assert any('cross d14 w1, cifar10, 4 epochs' in r and '45.00' in r for r in rows)


def test_results_summary_by_hand(tmp_path):
    paths = []
    for i, acc in enumerate([0.95, 0.94, 0.90]):    # test errors 5, 6 and 10 %
        p = tmp_path / ('r%d' % i) / 'm-metrics.jsonl'
        p.parent.mkdir()
        p.write_text(json.dumps(dict(epoch=3, lr=0.1, train_loss=1, train_acc=0.5, val_loss=1,
                                     val_acc=acc, time_s=1, img_per_s=1)) + '\n')
        (p.parent / 'm-run.json').write_text(json.dumps(dict(network='cross', depth=110,
                                                             widen_factor=1)))
        paths.append(str(p))
    # median 6, mean 7, population std sqrt(14/3) = 2.16, best 5
    assert summarize([5, 6, 10]) == '6.00 (7.00 +/- 2.16, 5.00)'
    assert 'cross d110 w1' in table(paths) and '6.00 (7.00 +/- 2.16, 5.00)' in table(paths)
    out = str(tmp_path / 'curves.png')
    r = subprocess.run([sys.executable, '-m', 'fusenet_gluon.results', str(tmp_path),
                        '--plot', out, '--min-accuracy', '92'], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1 and 'does NOT meet' in r.stdout
    assert open(out, 'rb').read(4) == b'\x89PNG'


def test_results_keeps_an_existing_plot_without_force(tmp_path):
    metrics = tmp_path / 'm-metrics.jsonl'
    metrics.write_text(json.dumps(dict(epoch=1, lr=0.1, train_loss=1, train_acc=0.5, val_loss=1,
                                       val_acc=0.5, time_s=1, img_per_s=1)) + '\n')
    png = str(tmp_path / 'curves.png')
    open(png, 'wb').write(b'mine')
    r = run_module('fusenet_gluon.results', str(metrics), '--plot', png)
    assert r.returncode == 2 and 'already exists; pass --force' in r.stderr
    assert open(png, 'rb').read() == b'mine' and r.stdout == ''
    r = run_module('fusenet_gluon.results', str(metrics), '--plot', png, '--force')
    assert r.returncode == 0 and open(png, 'rb').read(4) == b'\x89PNG'
    # a name without .png is where matplotlib writes it, name.png: kept too without --force
    r = run_module('fusenet_gluon.results', str(metrics), '--plot', png[:-4])
    assert r.returncode == 2 and png + ' already exists' in r.stderr
    assert open(png, 'rb').read(4) == b'\x89PNG' and not (tmp_path / 'curves').exists()


def test_results_name_a_bad_metrics_line_or_bar_in_one_line(tmp_path):
    metrics = tmp_path / 'm-metrics.jsonl'
    good = json.dumps(dict(epoch=1, val_acc=0.5))
    for lines, says in (([good, '{"epoch": 2}'], 'line 2 has no number val_acc'),
                        (['[1, 2]'], 'line 1 is not an epoch record'),
                        ([good, '{"epoch": 2, "val_acc": "x"}'], 'line 2 has no number val_acc'),
                        (['{', '}'], 'line 1 is not JSON')):
        metrics.write_text('\n'.join(lines) + '\n')
        r = run_module('fusenet_gluon.results', str(metrics))
        assert r.returncode == 2 and says in r.stderr and 'Traceback' not in r.stderr, r.stderr
    metrics.write_text(good + '\n')
    for bar in ('-5', '150'):
        r = run_module('fusenet_gluon.results', str(metrics), '--min-accuracy', bar)
        assert r.returncode == 2 and 'percentage from 0 to 100' in r.stderr
