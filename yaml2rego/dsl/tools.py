"""The tool sections of a boundary — ``tools`` (the registry) and ``execution_context`` — from validated YAML to the
model (read by ``rego/agent_boundary/tools/tools.rego`` once compiled).

The loader calls :func:`problems` (checks the JSON Schema cannot make) and :func:`build` (model objects); their
compiled data is :func:`yaml2rego.compile.section_data.tools_data`. Nothing here reads YAML or writes Rego.

>>> from yaml2rego.dsl.loader import load_policy_text
>>> agent = load_policy_text('''
... agent_boundary:
...   agent_id: infra
...   tools:
...     jira_reader: {actions: [read], classification: internal, args: {project: {type: string}},
...                   scope: {project: "SEC-*"}}
... ''').get("infra")
>>> agent.tools[0].scope[0].regexes
('^SEC-.*$',)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from yaml2rego.dsl.field_rules import rule_problems
from yaml2rego.dsl.model import (
    DataClass,
    EnvironmentGate,
    ExecutionContext,
    FieldRule,
    FieldType,
    Tool,
    ToolAction,
    ToolScope,
)
from yaml2rego.dsl.yaml_source import as_mapping
from yaml2rego.errors import SourceLocation
from yaml2rego.text import did_you_mean

__all__ = ["ARG_NAME", "TOOL_NAME", "build", "problems"]

TOOL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]*")
# Arguments are top-level keys of a call's `args`: no dots, so a rule never reaches into a nested value by accident.
ARG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")

Path = tuple[str | int, ...]
Locate = Callable[..., SourceLocation]


def problems(boundary: Mapping[str, Any]) -> Iterator[tuple[str, Path, bool]]:
    """``(message, path, at_key)`` for each problem beyond the schema's: bad tool and argument names, a scope that
    names an argument the tool does not declare (or one that is not a string), argument rules that contradict
    themselves, and environment gates that name unknown tools."""
    root: Path = ("agent_boundary", "tools")
    tools = as_mapping(boundary.get("tools"))
    for name, tool in tools.items():
        where: Path = (*root, name)
        if not TOOL_NAME.fullmatch(name):
            yield (
                f"tool name {name!r} must start with a letter, digit or '_' and hold only letters, digits, "
                "'_', '.', ':' and '-'",
                where,
                True,
            )
        if not isinstance(tool, dict):
            continue
        args = tool.get("args")
        declared = as_mapping(args)
        for arg, rule in declared.items():
            if not ARG_NAME.fullmatch(arg):
                yield (
                    f"argument name {arg!r} must be a letter or '_' then letters, digits, '_' or '-'",
                    (
                        *where,
                        "args",
                        arg,
                    ),
                    True,
                )
            if isinstance(rule, dict):
                for message, key in rule_problems(rule):
                    yield message, (*where, "args", arg, key), False
        for arg in as_mapping(tool.get("scope")):
            if arg not in declared:
                hint = did_you_mean(arg, list(declared)) if declared else " (declare it under args)"
                yield (
                    f"scope names argument {arg!r}, which tool {name!r} does not declare{hint}",
                    (
                        *where,
                        "scope",
                        arg,
                    ),
                    True,
                )
            elif isinstance(declared[arg], dict) and declared[arg].get("type") not in ("string", None):
                yield (
                    f"scope applies only to string arguments; {arg!r} is of type {declared[arg]['type']!r}",
                    (
                        *where,
                        "scope",
                        arg,
                    ),
                    True,
                )
    context = as_mapping(boundary.get("execution_context"))
    for environment, gate in as_mapping(context.get("environments")).items():
        allowed = as_mapping(gate).get("allowed_tools")
        if not isinstance(allowed, list):
            continue
        for index, tool_name in enumerate(allowed):
            if isinstance(tool_name, str) and tool_name not in tools:
                hint = did_you_mean(tool_name, list(tools))
                yield (
                    f"allowed_tools names {tool_name!r}, which is not in the tool registry{hint}",
                    ("agent_boundary", "execution_context", "environments", environment, "allowed_tools", index),
                    False,
                )


def build(boundary: Mapping[str, Any], location: Locate) -> dict[str, Any]:
    """The keyword arguments of :class:`~yaml2rego.dsl.model.AgentBoundary` for the tool sections of ``boundary``."""
    built: dict[str, Any] = {}
    tools = boundary.get("tools")
    if tools:
        built["tools"] = tuple(_tool(name, tool, location) for name, tool in tools.items())
    context = boundary.get("execution_context")
    if context is not None:
        built["execution_context"] = _context(context, location)
    return built


def _tool(name: str, tool: Mapping[str, Any], location: Locate) -> Tool:
    args = tool.get("args")
    scope = tool.get("scope") or {}
    return Tool(
        name=name,
        actions=tuple(ToolAction(action) for action in tool["actions"]),
        classification=DataClass(tool["classification"]),
        source=location("tools", name, key=True),
        requires_approval=bool(tool.get("requires_approval", False)),
        description=tool.get("description"),
        args=None if args is None else tuple(_arg(name, arg, rule, location) for arg, rule in args.items()),
        scope=tuple(
            ToolScope(
                rule_id=f"tools.{name}.scope.{arg}",
                arg=arg,
                patterns=(patterns,) if isinstance(patterns, str) else tuple(patterns),
                source=location("tools", name, "scope", arg, key=True),
            )
            for arg, patterns in scope.items()
        ),
    )


def _arg(tool: str, arg: str, rule: Mapping[str, Any], location: Locate) -> FieldRule:
    values = rule.get("values")
    return FieldRule(
        rule_id=f"tools.{tool}.args.{arg}",
        field=arg,
        type=FieldType(rule["type"]),
        source=location("tools", tool, "args", arg, key=True),
        required=rule.get("required", True),
        values=tuple(values) if values is not None else None,
        min_length=rule.get("min_length"),
        max_length=rule.get("max_length"),
        pattern=rule.get("pattern"),
        minimum=rule.get("minimum"),
        maximum=rule.get("maximum"),
        example=rule.get("example"),
    )


def _context(context: Mapping[str, Any], location: Locate) -> ExecutionContext:
    environments = tuple(
        EnvironmentGate(
            name=name,
            source=location("execution_context", "environments", name, key=True),
            allowed_tools=tuple(gate["allowed_tools"]) if gate and "allowed_tools" in gate else None,
            requires_approval_for=tuple(ToolAction(action) for action in (gate or {}).get("requires_approval_for", [])),
        )
        for name, gate in (context.get("environments") or {}).items()
    )
    clearance = {
        role: tuple(DataClass(c) for c in classes) for role, classes in (context.get("clearance") or {}).items()
    }
    restricted = context.get("restricted_classes")
    return ExecutionContext(
        source=location("execution_context", key=True),
        environments=environments,
        clearance=clearance,
        **({"restricted_classes": tuple(DataClass(c) for c in restricted)} if restricted is not None else {}),
    )
