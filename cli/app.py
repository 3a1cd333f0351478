"""The root `lookalike` command, on which every command module registers its commands
(cli/main.py imports them all; none imports main, so there is no cycle)."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Lookalike: self-hosted visual similarity search. Ingest a catalog of images, then "
    "ask what looks like an image or an item.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # markdown: a docstring's wrapped lines read as one paragraph, blank lines part them
    rich_markup_mode="markdown",
)
