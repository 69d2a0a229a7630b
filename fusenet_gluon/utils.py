"""Small helpers shared by the library and its command lines."""
import argparse
import contextlib
import os
import sys
import tempfile
import time

#: Exit status of a run stopped by a signal after saving its state (128 + SIGINT, as a shell
#: reports Ctrl-C); the launcher then lets the other workers save and stop too.
EXIT_INTERRUPTED = 130


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; on success rename it to `path` atomically.

    On failure the temporary file is removed and `path` is left as it was.
    """
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, '.%s.tmp%d' % (os.path.basename(path), os.getpid()))
    try:
        yield tmp
        with open(tmp, 'rb+') as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def check_range(flag, value, low, high=None):
    """One line unless `value` of `flag` (None: not given) is at least `low` (and at most
    `high`)."""
    if value is not None and (value < low or (high is not None and value > high)):
        raise UserError('%s must be %s, got %s' % (
            flag, 'at least %s' % low if high is None else 'from %s to %s' % (low, high), value))


def parse_ints(text, what, example='1,2'):
    """``'2,2,8,2'`` -> ``[2, 2, 8, 2]``; a clear UserError naming the flag otherwise."""
    try:
        return [int(v) for v in str(text).split(',') if v.strip()]
    except ValueError:
        raise UserError('%s takes comma-separated integers like %s, got %r'
                        % (what, example, text)) from None


class UserError(Exception):
    """A mistake of the user's (bad argument, missing file): reported without a traceback."""


def missing_folders(folder):
    """The folders ``os.makedirs(folder)`` would make, deepest first (absolute paths)."""
    missing, folder = [], os.path.abspath(folder)
    while not os.path.exists(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    return missing


def check_writable(paths, force, flag='--force'):
    """The one rule for every file a command writes, checked before any work: refuse to
    overwrite any of `paths` that exists unless `force` (the user's `flag`) was given, and
    refuse a path that is a folder, or whose folder cannot be written
    (its nearest existing folder is tried with a temporary file, removed at once; the
    commands make the missing folders below it)."""
    existing = [p for p in paths if os.path.exists(p)]
    if existing and not force:
        raise FileExistsError('%s already exist%s; pass %s to overwrite' % (
            ', '.join(existing), 's' if len(existing) == 1 else '', flag))
    for path in paths:
        if os.path.isdir(path) or not os.path.basename(path):
            raise UserError('cannot write %s: it names a folder, not a file' % path)
        missing = missing_folders(os.path.dirname(os.path.abspath(path)))
        folder = os.path.dirname(missing[-1]) if missing else os.path.dirname(
            os.path.abspath(path))   # the nearest one there
        try:
            if not os.path.isdir(folder):
                raise NotADirectoryError(20, 'a file stands where a folder is needed', folder)
            tempfile.TemporaryFile(dir=folder).close()
        except OSError as err:
            raise UserError('cannot write %s (no file can be made in %s: %s)'
                            % (path, folder, err.strerror or err)) from None


def os_error_message(err):
    """One line for an operating-system error: the path and the reason, without the
    ``[Errno N]`` prefix."""
    where = ' -> '.join(str(f) for f in (err.filename, err.filename2) if f is not None)
    reason = err.strerror or str(err)
    return '%s: %s' % (where, reason) if where else reason


def run_cli(main, prog=None):
    """Run `main()`; report user mistakes (UserError, ValueError, and operating-system
    errors such as a missing file or a folder that cannot be made) in one line on stderr
    with exit status 2 instead of a traceback."""
    try:
        return main()
    except (UserError, ValueError, OSError) as err:
        prog = prog or (os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else 'fusenet')
        # an OSError raised with a message of ours has no errno; one from the system has
        text = os_error_message(err) if isinstance(err, OSError) and err.errno else str(err)
        print('%s: error: %s' % (prog, ' '.join(text.split('\n'))), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return EXIT_INTERRUPTED


@contextlib.contextmanager
def progress_bar(total, desc=None, unit='it', logger=None):
    """The one progress bar of this package: a tqdm bar on stderr when stderr is a
    terminal, else None (pipes and log files get no bar).

    With `logger`, that logger's console lines are written through tqdm while the bar
    shows, so that they do not land on the bar's line.
    """
    if not sys.stderr.isatty():
        yield None
        return
    try:
        from tqdm import tqdm
        from tqdm.contrib.logging import logging_redirect_tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        yield None
        return
    redirect = logging_redirect_tqdm(loggers=[logger]) if logger is not None \
        else contextlib.nullcontext()
    with redirect, tqdm(total=total, desc=desc, file=sys.stderr, leave=False,
                        unit=unit) as bar:
        yield bar


def tracked(iterable, total, desc, report=None, every=10.0, logger=None):
    """Iterate over `iterable` (`total` items) showing progress: a bar on a terminal
    (:func:`progress_bar`), else ``report('DESC: done/total')`` every `every` seconds when
    `report` is given (a log or a pipe then sees that long work goes on)."""
    with progress_bar(total, desc, 'batch', logger) as bar:
        last = time.time()
        for done, item in enumerate(iterable, 1):
            yield item
            if bar is not None:
                bar.update(1)
            elif report is not None and time.time() - last >= every:
                report('%s: %d/%d batches' % (desc, done, total))
                last = time.time()


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """``--help`` of every command line here: the description as written (its examples
    keep their lines), and ``(default: X)`` after a flag's help unless the help already
    says its default or there is none to say (None, False)."""

    def _get_help_string(self, action):
        text = action.help or ''
        if 'default' in text or action.default in (None, False, argparse.SUPPRESS) \
                or action.option_strings == [] or action.nargs == 0:
            return text
        return text + ' (default: %(default)s)'
