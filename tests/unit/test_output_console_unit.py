"""``fengqiao.cli.output_console``: a piped or captured table is written whole, a terminal's
table at the terminal's width."""

from __future__ import annotations

import io

import pytest

from fengqiao.cli import PIPED_WIDTH, output_console


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stderr", [False, True])
def test_piped_output_is_wide(monkeypatch: pytest.MonkeyPatch, stderr: bool) -> None:
    monkeypatch.setattr("sys.stdout", io.StringIO())
    monkeypatch.setattr("sys.stderr", io.StringIO())
    monkeypatch.delenv("COLUMNS", raising=False)
    assert output_console(stderr=stderr).width == PIPED_WIDTH


def test_a_terminal_keeps_its_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdout", _Tty())
    monkeypatch.setenv("COLUMNS", "97")
    assert output_console().width == 97
