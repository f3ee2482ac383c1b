"""``schema``: the JSON Schema of boundary files, for editors and other tools.

Editors with the YAML language server validate and complete boundary files as they are typed when the file's first
line names the schema (``# yaml-language-server: $schema=…``); see ``docs/ci.md``.
"""

from __future__ import annotations

import click

from yaml2rego.cli._base import main
from yaml2rego.dsl.schema import schema_path

__all__ = ["schema_command"]


@main.command("schema")
@click.option("--path", "print_path", is_flag=True, help="Print the installed schema file's path instead.")
def schema_command(print_path: bool) -> None:
    """Print the JSON Schema (draft 2020-12) of agent-boundary files.

    \b
    Example:
      yaml2rego schema > agent_boundary.schema.json
      echo "# yaml-language-server: \\$schema=$(yaml2rego schema --path)"
    """
    path = schema_path()
    if print_path:
        click.echo(str(path))
        return
    # The file's own bytes, so what an editor loads from --path and what is printed here are the same document.
    click.echo(path.read_text(encoding="utf-8"), nl=False)
