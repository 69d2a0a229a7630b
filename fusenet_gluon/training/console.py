"""What a run shows: its log (file and console, the original's line format)."""
import logging
import sys

__all__ = ['setup_logging', 'close_logging']


def close_logging(logger):
    """Detach and close the logger's handlers (its file is then free to remove)."""
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()


def setup_logging(log_path, rank=None):
    """The run's logger: lines with a time stamp to `log_path` and to stdout; a worker of
    a distributed job (`rank` not None) marks each line with its rank, since the workers'
    lines meet on the launcher's console."""
    logger = logging.getLogger('fusenet')
    logger.setLevel(logging.INFO)
    close_logging(logger)
    fmt = logging.Formatter('%(asctime)-15s ' + ('' if rank is None else '[rank %d] ' % rank)
                            + '%(message)s')
    for handler in (logging.FileHandler(log_path), logging.StreamHandler(sys.stdout)):
        handler.setFormatter(fmt)
        logger.addHandler(handler)
    logger.propagate = False
    return logger
