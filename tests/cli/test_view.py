"""The command-line view writes to the process's streams as they are when it is made."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from dstream.cli.view import View


def test_a_view_writes_to_the_stdout_of_its_making_not_of_its_import() -> None:
    """A default argument bound sys.stdout at import: a view made under
    redirect_stdout (or a test's capture installed later) wrote elsewhere; seen as an
    empty capture in a full test run."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        view = View(json=True)
        view.document({"ok": True})
        view.note("a note")
    assert json.loads(out.getvalue()) == {"ok": True}
    assert "a note" in err.getvalue()


def test_help_is_as_wide_as_argparse_would_make_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """dstream's help formatter finds the width without shutil (issue 22): the width
    argparse's own formatter finds, for every $COLUMNS."""
    import argparse

    from dstream.cli.parsing import HelpFormatter

    for columns in ("50", "0", "-3", "wide", None):
        if columns is None:
            monkeypatch.delenv("COLUMNS", raising=False)
        else:
            monkeypatch.setenv("COLUMNS", columns)
        ours, theirs = HelpFormatter("dstream"), argparse.HelpFormatter("dstream")
        assert ours._width == theirs._width, columns
