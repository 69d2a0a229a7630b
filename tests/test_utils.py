"""fusenet_gluon.utils: the one refuse-to-overwrite rule that every command uses, one line for
an operating-system error, and progress over an iterable."""
import errno
import os

import pytest

from fusenet_gluon.utils import UserError, check_writable, run_cli, tracked


def test_check_writable(tmp_path):
    there, missing = str(tmp_path / 'a'), str(tmp_path / 'b')
    open(there, 'w').close()
    check_writable([missing], False)
    check_writable([there, missing], True)
    with pytest.raises(FileExistsError, match='%s already exists; pass --force' % there):
        check_writable([there, missing], False)
    # where nothing can be written: one line before any work, and nothing left there
    before = sorted(os.listdir(str(tmp_path)))
    for path, says in ((os.path.join(there, 'sub', 'x'), 'a file stands where a folder is'),
                       (str(tmp_path), 'names a folder'), ('/proc/x', 'no file can be made')):
        with pytest.raises(UserError, match=says):
            check_writable([path], True)
    assert sorted(os.listdir(str(tmp_path))) == before


def test_an_os_error_is_one_line_without_errno(capsys):
    def fails():
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), '/root/x')
    assert run_cli(fails, 'prog') == 2
    assert capsys.readouterr().err == 'prog: error: /root/x: Permission denied\n'


def test_tracked_yields_everything_and_reports_in_a_pipe():
    said = []
    assert list(tracked(range(5), 5, 'work', report=said.append, every=0)) == list(range(5))
    assert said == ['work: %d/5 batches' % n for n in range(1, 6)]
