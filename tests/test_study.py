"""fusenet_gluon.study: errors of an ensemble's components, of the ensemble and of its
leave-one-out sub-ensembles by hand; the study's commands end to end; and its runs as
RunConfigs made in Python, each training the network its name says, with the training
command line's flags and defaults."""
import argparse
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from fusenet_gluon import arch
from fusenet_gluon.spec import NetworkSpec
from fusenet_gluon.study import STUDY_EPOCHS, Study, _experiment_args, ensemble_errors
from fusenet_gluon.training.options import build_parser
from fusenet_gluon.utils import UserError


def test_errors_of_components_ensemble_and_leave_one_out_by_hand():
    # 4 samples, 3 components, 2 classes; labels 0 0 1 1
    p = np.array([[[0.9, 0.1], [0.1, 0.9], [0.5, 0.5]],     # mean 0.50 0.50: a true tie -> 0
                  [[0.8, 0.2], [0.7, 0.3], [0.1, 0.9]],     # mean 0.53: right
                  [[0.6, 0.4], [0.3, 0.7], [0.45, 0.55]],   # mean 0.45/0.55: right
                  [[0.3, 0.7], [0.8, 0.2], [0.9, 0.1]]])    # mean 0.67 for 0: wrong
    out = ensemble_errors(np.log(p), np.array([0, 0, 1, 1]), ['A', 'B', 'C'])
    # A wrong on 3; B on 1 and 4; C on 2 and 4 (its tie on 1 is class 0, right)
    assert out['components'] == {'A': 25.0, 'B': 50.0, 'C': 50.0}
    assert out['ensemble'] == 25.0
    # without A: B, C means (0.3 0.7), (0.4 0.6), (0.375 .625), (0.85 .15) -> wrong 1,2,4 = 75
    # without B: A, C -> (0.7 0.3), (0.45 .55), (.525 .475), (.6 .4) -> wrong 2,3,4 = 75
    # without C: A, B -> (0.5 0.5) a tie, (.75 .25), (.45 .55), (.55 .45) -> wrong 4 = 25
    assert out['leave_one_out'] == {'A': 75.0, 'B': 75.0, 'C': 25.0}


def test_a_class_no_component_can_give_is_never_the_ensembles():
    # probability 0 (log -inf) for class 1 from every component: the ensemble says 0
    log_p = np.array([[[0.0, -np.inf], [0.0, -np.inf]],
                      [[np.log(0.2), np.log(0.8)], [np.log(0.6), np.log(0.4)]]])
    out = ensemble_errors(log_p, np.array([0, 1]), ['A', 'B'])
    assert out['components'] == {'A': 0.0, 'B': 50.0}
    assert out['ensemble'] == 0.0   # (0.4, 0.6) on the second: right
    assert out['leave_one_out'] == {'A': 50.0, 'B': 0.0}


def test_study_commands_train_once_and_share_their_runs(tmp_path):
    from conftest import make_toy_records
    data = str(tmp_path / 'toy')
    make_toy_records(data, n_train=48, n_test=16)
    common = ['--depths', '8', '--num-epochs', '1', '--data-dir', data, '--batch-size', '16',
              '--out', str(tmp_path / 'study')]

    def study(*argv):
        return subprocess.run([sys.executable, '-m', 'fusenet_gluon.study'] + list(argv),
                              cwd=ROOT, capture_output=True, text=True, timeout=600)
    r = study('table1', *common)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert 'Table 1: test error %' in r.stdout and r.stdout.count('study: training') == 2
    r = study('figure5', *common)   # Ensemble-8 reused; only Ensemble-7 is trained
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count('study: training') == 1 and 'is finished' in r.stdout
    assert 'Ensemble-7 without retraining' in r.stdout
    for name in ('table1', 'figure5'):
        assert open(str(tmp_path / 'study' / (name + '.png')), 'rb').read(4) == b'\x89PNG'
    prefix = str(tmp_path / 'study' / 'ensemble_d8w1_r1' / 'model')
    r = study('evaluate', '--prefix', prefix, '--epoch', '1', '--data-dir', data, '--json',
              str(tmp_path / 'e.json'))
    assert r.returncode == 0 and 'ensemble error %' in r.stdout
    result = json.load(open(str(tmp_path / 'e.json')))
    assert set(result) == {'components', 'leave_one_out', 'ensemble'}
    assert len(result['components']) == 8 and len(result['leave_one_out']) == 8
    r = study('evaluate', '--prefix', str(tmp_path / 'study' / 'fuse3_d8w1_r1' / 'model'),
              '--epoch', '1', '--data-dir', data)
    assert r.returncode == 2 and 'not a checkpoint of the ensemble' in r.stderr
    r = study('table3', *common[:1], '4', *common[2:])
    assert r.returncode == 2 and 'num_depth >= 5' in r.stderr and 'Traceback' not in r.stderr


def study_args(tmp_path, *argv):
    parser = argparse.ArgumentParser()
    _experiment_args(parser)
    return parser.parse_args(['--out', str(tmp_path)] + list(argv))


@pytest.mark.parametrize('spec', [
    NetworkSpec(arch.ENSEMBLE, 8, share_weights=False),              # Table 2, W/O
    NetworkSpec(arch.ENSEMBLE, 8, components=('LLL', 'RLL', 'LRL', 'RRL', 'LLR', 'RLR',
                                              'LRR')),                # Figure 5, Ensemble-7
    NetworkSpec('fuse3', 14, widen_factor=2)])
def test_each_run_trains_the_network_its_name_says(tmp_path, spec):
    args = study_args(tmp_path, '--batch-size', '16', '--lr-steps', '3,4', '--cpu-devices', '2',
                      '--gpus', '')
    cfg = Study(args).config(spec, run=3)
    assert cfg.spec == spec and cfg.seed == 3 and cfg.num_epochs == STUDY_EPOCHS == 20
    assert cfg.files.prefix == str(tmp_path / ('%s_r3' % spec.tag) / 'model')
    assert (cfg.batch_size, cfg.lr_steps, len(cfg.contexts)) == (16, [3, 4], 2)


def test_the_study_flags_are_the_training_flags(tmp_path):
    """Same defaults as train_cifar.py, but for the epochs (a study's runs are short) and
    the CPU devices (a study takes the fastest, --cpu-devices auto)."""
    args = study_args(tmp_path)
    train = build_parser().parse_args([])
    for dest in ('gpus', 'batch_size', 'dataset', 'num_examples', 'amp'):
        assert getattr(args, dest) == getattr(train, dest), dest
    assert args.cpu_devices == 'auto' and train.cpu_devices == 1
    with pytest.raises(SystemExit):   # argparse refuses an unknown preset, as training does
        study_args(tmp_path, '--dataset', 'mnist')


def test_a_bad_flag_is_the_training_command_lines_error(tmp_path):
    args = study_args(tmp_path, '--batch-size', '0')
    with pytest.raises(UserError, match='--batch-size must be at least 1'):
        Study(args).config(NetworkSpec('fuse3', 8), run=1)
