"""One line, not a traceback: how every `seqset` command reports a failure it knows."""

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
ErrorTypes = tuple[type[Exception], ...]


def one_line_errors(known: Callable[[], ErrorTypes],
                    describe: Callable[[Exception], str] = str) -> Callable[[F], F]:
    """A decorator: the `known()` exceptions become click's one-line error and exit 1.
    `known` is called only when a command fails, so it may import lazily (web3)."""
    def decorate(func: F) -> F:
        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except click.ClickException:
                raise
            except Exception as exc:
                if not isinstance(exc, known()):
                    raise
                raise click.ClickException(describe(exc)) from exc

        return wrapper  # type: ignore[return-value]

    return decorate
