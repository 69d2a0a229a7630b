"""The study's runs are RunConfigs made in Python: each trains the network its name says,
with the training command line's flags and defaults."""
import argparse

import pytest

from fusenet_gluon import arch
from fusenet_gluon.spec import NetworkSpec
from fusenet_gluon.study import STUDY_EPOCHS, Study, _experiment_args
from fusenet_gluon.training import build_parser
from fusenet_gluon.utils import UserError


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
