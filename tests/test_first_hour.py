"""What a new user meets in the first hour: the README's paths work as written and each
mistake gets one line naming the problem and the fix, before any work starts."""
import json
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

from conftest import ROOT, make_toy_records
from fusenet_gluon import arch, get_model, upstream
from fusenet_gluon.spec import NetworkSpec


def run(*argv, timeout=300):
    env = {k: v for k, v in os.environ.items() if not k.startswith('DMLC_')}
    return subprocess.run([sys.executable] + list(argv), cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def train_cifar(*argv):
    return run('train_cifar.py', '--gpus', '', '--network', 'cross', '--depth', '14',
               '--batch-size', '16', '--num-epochs', '1', '--no-plot', '--rand-seed', '1',
               *argv)


def test_packed_digits_train_with_the_digits_preset(tmp_path):
    data = str(tmp_path / 'digits')
    r = run('-m', 'fusenet_gluon.data.pack', 'digits', data)
    assert r.returncode == 0, r.stderr
    assert json.load(open(os.path.join(data, 'dataset.json')))['dataset'] == 'digits'
    prefix = str(tmp_path / 'm')
    r = train_cifar('--data-dir', data, '--model-prefix', prefix, '--num-examples', '32')
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert json.load(open(prefix + '-run.json'))['dataset'] == 'digits'
    # asked for another preset: done as asked, with a note naming both
    r = train_cifar('--data-dir', data, '--dataset', 'cifar10', '--model-prefix', prefix + '2',
                    '--num-examples', '32')
    assert r.returncode == 0 and 'note: --dataset cifar10, but' in r.stdout and 'digits' in r.stdout
    assert json.load(open(prefix + '2-run.json'))['dataset'] == 'cifar10'


def test_default_run_folder_is_named_by_what_is_built(tmp_path):
    r = train_cifar('--depth', '15', '--log-dir', str(tmp_path), '--num-examples', '32')
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'builds the same cross as num_depth 14' in r.stdout
    assert os.path.isdir(str(tmp_path / 'digits' / 'cross_d14w1'))
    assert not os.path.exists(str(tmp_path / 'digits' / 'cross_d15w1'))
    log = open(str(tmp_path / 'digits' / 'cross_d14w1' / 'model.log')).read()
    assert 'lr 0.1, constant (no step within 1 epochs)' in log     # 1 epoch: no step fires
    assert NetworkSpec('cross', 15).tag == 'cross_d14w1'
    assert NetworkSpec('cross', 110).tag == 'cross_d110w1'


@pytest.mark.parametrize('argv,message', [
    (['--lr', 'nan'], '--lr must be a number > 0, got nan'),
    (['--lr', '-1'], '--lr must be a number > 0'),
    (['--momentum', '1'], '--momentum must be a number >= 0 and < 1'),
    (['--wd', '-0.1'], '--wd must be a number >= 0'),
    (['--checkpoint-epochs', '0'], '--checkpoint-epochs must be at least 1'),
    (['--num-examples', '0'], '--num-examples must be at least 1'),
])
def test_bad_numbers_get_one_line_before_any_work(tmp_path, argv, message):
    r = train_cifar('--model-prefix', str(tmp_path / 'm' / 'm'), *argv)
    assert r.returncode == 2 and message in r.stderr and 'Traceback' not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not os.path.exists(str(tmp_path / 'm'))


def test_a_run_failing_before_training_leaves_nothing(tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    r = train_cifar('--data-dir', str(empty), '--model-prefix', str(tmp_path / 'run' / 'm'))
    assert r.returncode == 2 and 'make one with: python -m fusenet_gluon.data.pack' in r.stderr
    assert not os.path.exists(str(tmp_path / 'run'))


def test_load_epoch_lists_only_checkpoints(tmp_path):
    data = tmp_path / 'toy'
    make_toy_records(data)
    prefix = str(tmp_path / 'm')
    assert train_cifar('--data-dir', str(data), '--model-prefix', prefix).returncode == 0
    assert os.path.exists(prefix + '-deploy-0000.params')
    r = train_cifar('--data-dir', str(data), '--model-prefix', prefix, '--load-epoch', '99')
    assert r.returncode == 2 and 'checkpoints there: m-0001.params)' in r.stderr, r.stderr


def test_one_epoch_curves_are_drawn(tmp_path):
    from fusenet_gluon.plots import plot_runs
    path = tmp_path / 'm-metrics.jsonl'
    path.write_text(json.dumps(dict(epoch=1, lr=0.1, train_loss=1.0, train_acc=0.5,
                                    val_loss=1.2, val_acc=0.4, time_s=1, img_per_s=1)) + '\n')
    import matplotlib.image
    png = plot_runs([str(path)], str(tmp_path / 'c.png'))
    rgb = matplotlib.image.imread(png)[..., :3]
    coloured = (rgb.max(axis=2) - rgb.min(axis=2)) > 0.2   # the lines' colours, not grey axes
    assert coloured.sum() > 20


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


def test_help_states_each_default_once():
    for script in ('train_cifar.py', 'train_imagenet.py'):
        r = run(script, '--help')
        assert r.returncode == 0 and '(default: None)' not in r.stdout
        assert r.stdout.count('(default:') == len(set(
            line for line in r.stdout.splitlines() if '(default:' in line))
        assert 'NAG momentum' in r.stdout


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
    r = run('-m', 'fusenet_gluon.convert', 'export', '--network', 'half', '--depth', '38',
            '--widen-factor', '2', '--classes', '7', '--params', out, '--output',
            str(tmp_path / 'd'))
    assert r.returncode == 2 and 'missing (' in r.stderr and 'allow_missing' not in r.stderr


@pytest.mark.parametrize('network,kwargs', [
    ('cross', dict(depth=20)), ('fuse6', dict(depth=26)), ('side', dict(depth=38)),
    ('resnet', dict(depth=56, widen_factor=2)), ('plain', dict(depth=14, classes=100)),
    ('imagenet_cross', dict(blocks=(2, 2, 8, 2))),
])
def test_guess_network_reads_names_back(network, kwargs):
    net = get_model(network, **kwargs)
    guess = arch.guess_network({n: p.shape for n, p in net.collect_params().items()})
    built = NetworkSpec(**guess)
    assert sorted(get_model(network if network != built.network else built.network,
                            **built.model_kwargs()).collect_params().keys()) == \
        sorted(net.collect_params().keys())


def test_data_bench_with_fewer_images_than_a_batch_says_why():
    r = run('-m', 'fusenet_gluon.data.bench', '--cifar-images', '10', '--no-train-step')
    assert r.returncode == 2 and 'fewer than one batch' in r.stderr


def test_pack_imagenet_then_train_imagenet_as_the_readme_says(tmp_path):
    import cv2
    rng = np.random.RandomState(0)
    src = tmp_path / 'imagenet'
    for part in ('train', 'val'):
        for c, name in enumerate(('n01', 'n02')):
            folder = src / part / name
            folder.mkdir(parents=True)
            for i in range(4 if part == 'train' else 2):
                img = rng.randint(0, 256, (300, 360, 3)).astype(np.uint8)
                cv2.imwrite(str(folder / ('%d.JPEG' % i)), img)
    out = str(tmp_path / 'data' / 'imagenet')
    r = run('-m', 'fusenet_gluon.data.pack', 'imagenet', str(src), out, '--resize', '256')
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(out)) == ['dataset.json', 'imagenet_train.classes.txt',
                                       'imagenet_train.idx', 'imagenet_train.rec',
                                       'imagenet_val.classes.txt', 'imagenet_val.idx',
                                       'imagenet_val.rec']
    prefix = str(tmp_path / 'm')
    r = run('train_imagenet.py', '--data-dir', out, '--blocks', '1,1,1,1', '--batch-size', '4',
            '--num-epochs', '1', '--gpus', '', '--model-prefix', prefix, '--no-plot',
            '--rand-seed', '0', timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert mx.model.load_checkpoint(prefix, 1)[1]['fc_score_weight'].shape == (1000, 4096)
    # the digits are not ImageNet: one line says which script trains them
    r = run('-m', 'fusenet_gluon.data.pack', 'digits', str(tmp_path / 'digits'))
    r = run('train_imagenet.py', '--data-dir', str(tmp_path / 'digits'), '--gpus', '')
    assert r.returncode == 2 and 'train them with train_cifar.py' in r.stderr
