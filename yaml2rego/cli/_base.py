"""The root click group and the one place where errors become messages and exit codes.

Every command runs inside :class:`ErrorMappingGroup.invoke`, so no command handles errors by itself:

* a yaml2rego error (:class:`~yaml2rego.errors.Yaml2RegoError`) prints ``error: <message>`` and exits 1;
* a file error (:class:`OSError`) prints what failed and on which file, and exits 1;
* click's own usage errors keep click's message and exit 2;
* anything else is a bug or a library error nobody translated: one line naming it, exit 1, and the traceback only
  when ``YAML2REGO_DEBUG`` is set. A user never sees a traceback by accident.
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

import click

from yaml2rego._version import __version__
from yaml2rego.errors import Yaml2RegoError
from yaml2rego.text import count_of

__all__ = ["EXIT_ERROR", "ErrorMappingGroup", "count_of", "echo_error", "fail", "main", "tenant_name"]

EXIT_ERROR = 1


def echo_error(message: str) -> None:
    click.echo(message, err=True)


def fail(message: str, exit_code: int = EXIT_ERROR) -> NoReturn:
    """Print ``message`` on stderr and leave with ``exit_code`` (1 unless a command documents otherwise)."""
    echo_error(message)
    raise click.exceptions.Exit(exit_code)


def tenant_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A ``--tenant`` option's value, refused (exit 2) unless it is a tenant name as the schema defines one."""
    import re

    from yaml2rego.dsl.schema import load_schema

    if value is not None and not re.fullmatch(load_schema()["$defs"]["tenant"]["pattern"], value):
        raise click.BadParameter("must be a tenant name: 1 to 63 lower-case letters, digits, '_' or '-'")
    return value


def error_message(error: BaseException) -> str:
    """The one line a user sees for ``error``."""
    if isinstance(error, Yaml2RegoError):
        return f"error: {error}"
    if isinstance(error, OSError):
        return f"error: {error.strerror or error}: {error.filename or ''}".rstrip(": ")
    detail = f": {str(error).splitlines()[0]}" if str(error) else ""
    return f"error: unexpected {type(error).__name__}{detail} (set YAML2REGO_DEBUG=1 to see where)"


class ErrorMappingGroup(click.Group):
    """A click group whose commands (and subgroups') errors are mapped in :func:`error_message`."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:
            # The reader went away (`yaml2rego eval … | head`): nothing left to say, and no one to say it to. Point
            # stdout at /dev/null so the interpreter's final flush does not complain either.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise click.exceptions.Exit(EXIT_ERROR) from None
        except Exception as error:
            if os.environ.get("YAML2REGO_DEBUG"):
                raise
            fail(error_message(error))


@click.group(cls=ErrorMappingGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="yaml2rego")
def main() -> None:
    """Compile YAML agent boundaries into OPA Rego policies and enforce them on every agent call."""
