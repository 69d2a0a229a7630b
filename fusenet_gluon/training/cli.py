"""The training scripts' entry point: parse, resolve, train, and turn the outcome into an
exit status (0 done, 2 a user's mistake, 3 the loss stopped being finite, 130 interrupted
after saving)."""
import logging
import os
import sys

from ..utils import EXIT_INTERRUPTED, run_cli
from .distributed import is_distributed, run_worker
from .loop import Interrupted, NonFiniteLoss, train
from .options import build_parser, resolve

EXIT_NAN = 3

__all__ = ['main', 'EXIT_NAN', 'EXIT_INTERRUPTED']


def _train(args, imagenet):
    try:
        train(resolve(args, imagenet))
    except NonFiniteLoss as err:
        logging.getLogger('fusenet').error('%s', err)
        return EXIT_NAN
    except Interrupted as err:
        logging.getLogger('fusenet').info('%s', err)
        return EXIT_INTERRUPTED
    return 0


def main(argv=None, imagenet=False):
    """Train as the command line `argv` says; returns the exit status."""
    args = build_parser(imagenet).parse_args(argv)
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else 'train'
    if not is_distributed(args.kv_store):
        return _train(args, imagenet)
    return run_worker(lambda: run_cli(lambda: _train(args, imagenet), prog))
