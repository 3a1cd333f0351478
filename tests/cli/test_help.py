"""Every command's --help reads as sentences: nothing that rich markup ate ("Bind address
." where "[env ...; default ...]" stood), no paragraph broken mid-sentence."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from cli.main import app


def _paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    if hasattr(command, "commands"):  # a group (typer's, which may not be click's class)
        for name, sub in command.commands.items():
            out += _paths(sub, (*prefix, name))
    return out


PATHS = _paths(typer.main.get_command(app))


def test_every_command_is_listed() -> None:
    assert len(PATHS) > 15  # the root, its commands and the groups' commands


def test_python_m_cli_main_lists_every_command() -> None:
    """Importing the root imports every command module (it used to list five: the others
    imported `app` back from main, a cycle that left them unregistered under `-m`)."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "cli.main", "--help"],
        capture_output=True, text=True, timeout=120, env={"COLUMNS": "120", "PATH": ""},
    )  # fmt: skip
    listed = set(re.findall(r"^│ ([a-z]+) ", out.stdout, re.MULTILINE))
    top = {p[0] for p in PATHS if len(p) == 1}
    assert top <= listed, (top - listed, out.stdout, out.stderr)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "lookalike")
def test_help_reads_as_sentences(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    text = re.sub(r"[│╭╮╰╯─]", " ", result.output)
    text = re.sub(r"\s+", " ", text)
    assert not re.search(r"\w \.(\s|$)", text), text
    assert not re.search(r"\w ;", text), text
    assert "( " not in text and " )" not in text, text
