"""What every command shares: errors become one line on stderr and a non-zero exit."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NoReturn, ParamSpec, TypeVar

import typer
from pydantic import ValidationError

from embedder import EmbedderError
from engine import EngineError
from index import IndexStoreError

P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, code: int = 2) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def guard(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn the packages' own errors into one line on stderr and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (EmbedderError, IndexStoreError, EngineError) as exc:
            fail(str(exc))
        except ValidationError as exc:
            err = exc.errors()[0]
            fail(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}.")

    return wrapper
