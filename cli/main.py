"""The `lookalike` command line: the root command with every command module's commands.

Each module registers its commands on the one `app` (cli/app.py) when imported; this module
imports them all, in the order `lookalike --help` lists them, and no module imports it.
"""

from __future__ import annotations

from cli import catalog, export, serve, jobs, benchmarks, analyze, doctor, keys, backup  # noqa: F401  (isort: skip)
from cli.app import app

__all__ = ["app"]

if __name__ == "__main__":
    app()
