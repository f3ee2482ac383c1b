"""The root click group and the one place where yaml2rego errors become exit codes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from yaml2rego._version import __version__
from yaml2rego.errors import Yaml2RegoError

__all__ = ["EXIT_ERROR", "echo_error", "fail", "handle_errors", "main"]

EXIT_ERROR = 1

F = TypeVar("F", bound=Callable[..., Any])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="yaml2rego")
def main() -> None:
    """Compile YAML agent boundaries into OPA Rego policies and enforce them on every agent call."""


def echo_error(message: str) -> None:
    click.echo(message, err=True)


def fail(message: str, exit_code: int = EXIT_ERROR) -> None:
    """Print ``message`` on stderr and leave with ``exit_code`` (1 unless a command documents otherwise)."""
    echo_error(message)
    raise click.exceptions.Exit(exit_code)


def handle_errors(command: F) -> F:
    """Turn yaml2rego errors (and broken pipes or file errors) into a message on stderr and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except Yaml2RegoError as error:
            fail(f"error: {error}")
        except OSError as error:
            fail(f"error: {error.strerror or error}: {error.filename or ''}".rstrip(": "))
        return None

    return wrapper  # type: ignore[return-value]
