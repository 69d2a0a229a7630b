"""fusenet_gluon.training.console: a worker's log lines carry its rank."""
from fusenet_gluon.training.console import close_logging, setup_logging


def test_a_workers_log_lines_carry_its_rank(tmp_path, capsys):
    logger = setup_logging(str(tmp_path / 'w.log'), rank=1)
    logger.info('hello')
    close_logging(logger)
    assert open(str(tmp_path / 'w.log')).read().rstrip().endswith('[rank 1] hello')
    logger = setup_logging(str(tmp_path / 'one.log'))
    logger.info('hello')
    close_logging(logger)
    assert '[rank' not in open(str(tmp_path / 'one.log')).read()
