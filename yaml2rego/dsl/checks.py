"""Check a policy document's meaning: the JSON Schema, then the rules a schema cannot express.

Each document read by :mod:`yaml2rego.dsl.yaml_source` is checked against
``yaml2rego/dsl/schema/agent_boundary.schema.json`` (a fast Rust validator says whether it is valid; only then does the
Python one explain what is wrong) and by the checks a schema cannot express: path patterns, field rules
(:mod:`yaml2rego.dsl.field_rules`: portable regular expressions, examples that satisfy their rule), duplicate field
rules and test names. The tool, enforcement, alert and tenancy sections bring their own checks
(:func:`yaml2rego.dsl.tools.problems`, :func:`yaml2rego.dsl.enforcement_sections.problems`, …), which run from here.

Every error is phrased for the author of the YAML (``unknown key 'alowed_endpoints'; did you mean
'allowed_endpoints'?``) and located at the offending key or value. Kept apart from reading, so the wording of
messages and the semantic rules live in one place that knows nothing of YAML events.

>>> HTTP_METHODS[:3]
('GET', 'HEAD', 'POST')
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import jsonschema
import jsonschema_rs

from yaml2rego.dsl import alerts, enforcement_sections, tenancy, tools
from yaml2rego.dsl.field_rules import rule_problems, same_json
from yaml2rego.dsl.model import ANY_METHOD
from yaml2rego.dsl.schema import load_schema
from yaml2rego.dsl.yaml_source import Document, JSONPath, Mark, SourceFile, as_mapping, mapping_items, to_mark
from yaml2rego.errors import PolicyError, PolicyValidationError
from yaml2rego.escaping import escape_text
from yaml2rego.semantics.paths import parse_pattern as _parse_pattern_uncached
from yaml2rego.text import did_you_mean, show

__all__ = [
    "HTTP_METHODS",
    "Checker",
    "fast_schema_validator",
    "parse_pattern",
    "schema_errors",
    "schema_validator",
    "semantic_checks",
    "tenant_directory_errors",
]

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE")

# Agents of one platform share most of their endpoint patterns, and each pattern is both checked and built: parse each
# text once. Patterns are frozen, so sharing one among agents is safe (it also shares the regex computed from it).
parse_pattern = lru_cache(maxsize=4096)(_parse_pattern_uncached)


# --------------------------------------------------------------------------------------------------------------------
# Schema errors, translated for policy authors
# --------------------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def fast_schema_validator() -> Any:
    """The Rust validator of the schema: answers "valid?" quickly, explains nothing."""
    return jsonschema_rs.validator_for(load_schema())


@lru_cache(maxsize=1)
def schema_validator() -> jsonschema.Draft202012Validator:
    """The Python validator of the schema: slower, but says what is wrong and where."""
    schema = load_schema()
    return jsonschema.Draft202012Validator(_inline_refs(schema, schema["$defs"]))


def schema_errors(value: Any) -> list[jsonschema.ValidationError]:
    """What the schema refuses in a document: nothing when the Rust validator finds it valid, else the Python
    validator's explanations.

    The two must agree; should the Python one find nothing where the Rust one refused (their regex dialects differ,
    see the schema's ``singleLine``), the document is still refused, with the Rust validator's first complaint.
    """
    fast = fast_schema_validator()
    if fast.is_valid(value):
        return []
    errors = list(schema_validator().iter_errors(value))
    if errors:
        return errors
    first = next(iter(fast.iter_errors(value)))
    path = tuple(first.instance_path)
    return [jsonschema.ValidationError(f"is refused by the schema ({escape_text(first.message)})", path=path)]


@lru_cache(maxsize=1)
def _tenant_directory_validator() -> jsonschema.Draft202012Validator:
    definitions = load_schema()["$defs"]
    return jsonschema.Draft202012Validator(_inline_refs(definitions["tenantDirectory"], definitions))


def tenant_directory_errors(value: Any) -> list[jsonschema.ValidationError]:
    """What the schema (``$defs/tenantDirectory``) refuses in the document of a ``_tenant.yaml`` file."""
    return list(_tenant_directory_validator().iter_errors(value))


def _inline_refs(node: Any, definitions: dict[str, Any]) -> Any:
    """The schema with each local ``$ref`` replaced by its definition: validating 10,000 agents takes half the time.

    The schema has no recursive definitions, so this terminates; sibling keywords of a ``$ref`` (its description)
    are kept.
    """
    if isinstance(node, list):
        return [_inline_refs(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    inlined = {key: _inline_refs(value, definitions) for key, value in node.items() if key not in ("$ref", "$defs")}
    reference = node.get("$ref")
    if isinstance(reference, str) and reference.startswith("#/$defs/"):
        return {**_inline_refs(definitions[reference.removeprefix("#/$defs/")], definitions), **inlined}
    return inlined


def _label(path: JSONPath) -> str:
    """``values[2]`` for the third enum value, ``max_length`` for a key: what the author sees in the file."""
    suffix = ""
    for part in reversed(path):
        if isinstance(part, int):
            suffix = f"[{part}]{suffix}"
        else:
            return f"{escape_text(part)}{suffix}"
    return "the document" + suffix


def _describe(value: Any) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return f"the boolean {show(value)}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value}"
    return show(value)


_EXPECTED = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "empty",
}


def _expected(types: list[str]) -> str:
    if len(types) == 1:
        return _EXPECTED.get(types[0], types[0])
    names = [name for name in types if not (name == "integer" and "number" in types)]
    shown = ["a boolean" if name == "boolean" else _EXPECTED.get(name, name) for name in names]
    return ", ".join(shown[:-1]) + " or " + shown[-1]


def _one_of(choices: Iterable[object]) -> str:
    shown = [show(choice) for choice in choices]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


class Checker:
    """Collects the errors of one document, located by JSON path."""

    def __init__(self, document: Document, source: SourceFile) -> None:
        self.document = document
        self.source = source
        self.errors: list[PolicyError] = []

    def mark(self, path: JSONPath, *, key: bool = False) -> Mark:
        """The mark of the value at ``path`` (or of its key), falling back to the nearest enclosing node."""
        for end in range(len(path), -1, -1):
            marks = self.document.marks.get(path[:end])
            if marks is not None:
                value_mark, key_mark = marks
                if key and end == len(path) and key_mark is not None:
                    return to_mark(key_mark)
                return to_mark(value_mark)
        return Mark(1, 1)

    def mapping_mark(self, path: JSONPath) -> Mark:
        """Where to report something missing from a mapping: its key in the parent, else where it starts."""
        return self.mark(path, key=bool(path) and isinstance(path[-1], str))

    def add(self, message: str, path: JSONPath, *, key: bool = False) -> None:
        self.errors.append(self.source.error(PolicyValidationError, message, self.mark(path, key=key)))

    def add_at(self, message: str, mark: Mark) -> None:
        self.errors.append(self.source.error(PolicyValidationError, message, mark))

    def schema_error(self, error: jsonschema.ValidationError) -> None:
        path: JSONPath = tuple(error.absolute_path)
        instance = error.instance
        schema = error.schema if isinstance(error.schema, dict) else {}
        label = _label(path)
        validator = error.validator
        if validator == "additionalProperties" and isinstance(instance, dict):
            known = list(schema.get("properties", {}))
            for name in instance:
                if name not in known:
                    hint = did_you_mean(name, known) or f"; expected one of: {', '.join(known)}"
                    self.add(f"unknown key {name!r}{hint}", (*path, name), key=True)
        elif validator == "required" and isinstance(instance, dict):
            known = list(schema.get("properties", {}))
            # A misspelt key is reported once, as an unknown key with a hint, not also as a missing one.
            misspelt = {did_you_mean(key, known) for key in instance if key not in known}
            for name in error.validator_value:
                if name not in instance and f"; did you mean {name!r}?" not in misspelt:
                    why = " (a field of type 'enum' lists its allowed values)" if name == "values" else ""
                    self.add_at(f"missing required key {name!r}{why}", self.mapping_mark(path))
        elif validator == "type":
            types = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
            expected = _expected(types)
            if not path:
                self.add(
                    f"a policy document must be a mapping with the key 'agent_boundary', got {show(instance)}", path
                )
            else:
                hint = ""
                if types == ["boolean"] and str(instance).lower() in ("yes", "no", "on", "off", "y", "n"):
                    hint = " (YAML 1.2: write true or false)"
                self.add(f"{label} must be {expected}, got {_describe(instance)}{hint}", path)
        elif validator == "enum":
            choices = error.validator_value
            hint = did_you_mean(instance, [c for c in choices if isinstance(c, str)])
            self.add(f"{label} must be {_one_of(choices)}, got {show(instance)}{hint}", path)
        elif validator == "anyOf" and error.context:
            # Explain the alternative whose type fits (a string that breaks the string rule), not every alternative.
            fitting = [inner for inner in error.context if inner.validator != "type"]
            self.schema_error((fitting or error.context)[0])
        elif validator == "not" and "propertyNames" in error.absolute_schema_path and "errorMessage" in schema:
            # A key refused by propertyNames: the error's path is the mapping's, the key is its instance.
            self.add(f"key {show(instance)} {schema['errorMessage']}", (*path, str(instance)), key=True)
        elif validator == "not" and "pattern" in as_mapping(error.validator_value) and "errorMessage" in schema:
            self.add(f"{label} {show(instance)} {schema['errorMessage']}", path)
        elif validator == "not" and "errorMessage" in schema:
            self.add(f"{label} {schema['errorMessage']}", path, key=True)
        elif validator == "pattern" and "errorMessage" in schema:
            self.add(f"{label} {show(instance)} {schema['errorMessage']}", path)
        elif validator in ("minimum", "exclusiveMinimum"):
            self.add(f"{label} must be at least {error.validator_value}, got {show(instance)}", path)
        elif validator in ("minLength", "minItems") and error.validator_value == 1:
            self.add(f"{label} must not be empty", path)
        elif validator == "uniqueItems" and isinstance(instance, list):
            for index, item in enumerate(instance):
                if any(same_json(item, earlier) for earlier in instance[:index]):
                    self.add(f"duplicate value {show(item)} in {label}", (*path, index))
                    break
        else:  # pragma: no cover - a schema keyword without a tailored message yet
            self.add(f"{label}: {error.message}", path)


# --------------------------------------------------------------------------------------------------------------------
# Checks a schema cannot express
# --------------------------------------------------------------------------------------------------------------------


def _has_errors(path: JSONPath, bad: set[JSONPath]) -> bool:
    return any(error_path[: len(path)] == path for error_path in bad)


def _check_method(checker: Checker, item: dict[str, Any], path: JSONPath, bad: set[JSONPath]) -> None:
    method = item.get("method")
    if (
        (*path, "method") not in bad
        and isinstance(method, str)
        and method != ANY_METHOD
        and method.upper() not in HTTP_METHODS
    ):
        hint = did_you_mean(method.upper(), HTTP_METHODS)
        checker.add(f"unknown HTTP method {method!r}{hint} (or '*' for every method)", (*path, "method"))


def _check_pattern(checker: Checker, item: dict[str, Any], key: str, path: JSONPath, bad: set[JSONPath]) -> None:
    if (*path, key) in bad or not isinstance(item.get(key), str):
        return
    try:
        parse_pattern(item.get(key))
    except ValueError as exc:
        checker.add(str(exc), (*path, key))


def _check_field_rule(checker: Checker, rule: dict[str, Any], path: JSONPath) -> None:
    for message, key in rule_problems(rule):
        checker.add(message, (*path, key))


def semantic_checks(checker: Checker, boundary: dict[str, Any], bad: set[JSONPath]) -> None:
    """The checks of an ``agent_boundary`` a schema cannot express; ``bad``: the paths the schema refused."""
    root: JSONPath = ("agent_boundary",)
    for section in ("allowed_endpoints", "denied_endpoints"):
        for index, item in mapping_items(boundary.get(section)):
            path = (*root, section, index)
            _check_method(checker, item, path, bad)
            _check_pattern(checker, item, "path", path, bad)
    for index, item in mapping_items(boundary.get("rate_limits")):
        path = (*root, "rate_limits", index)
        _check_method(checker, item, path, bad)
        _check_pattern(checker, item, "endpoint", path, bad)
    for index, item in mapping_items(boundary.get("input_validation")):
        path = (*root, "input_validation", index)
        _check_method(checker, item, path, bad)
        _check_pattern(checker, item, "endpoint", path, bad)
        first_rule: dict[str, int] = {}
        for number, rule in mapping_items(item.get("rules")):
            rule_path = (*path, "rules", number)
            if not _has_errors(rule_path, bad):  # the checks below assume the rule's keys have the right types
                _check_field_rule(checker, rule, rule_path)
            name = rule.get("field")
            if name in first_rule:
                first = first_rule[name]
                line = checker.mark((*path, "rules", first)).line
                checker.add(
                    f"field {name!r} already has a rule here (rules[{first}], line {line})", (*rule_path, "field")
                )
            elif isinstance(name, str):
                first_rule[name] = number
    test_names: dict[str, int] = {}
    for index, test in mapping_items(boundary.get("tests")):
        path = (*root, "tests", index)
        if test.get("expect") == "allow" and "reasons" in test:
            checker.add("reasons can only be given for a test that expects deny", (*path, "reasons"), key=True)
        name = test.get("name")
        if name in test_names:
            checker.add(f"a test named {name!r} already exists (line {test_names[name]})", (*path, "name"))
        elif isinstance(name, str):
            test_names[name] = checker.mark(path).line
    # Each section's own checks, in this order; a section the schema already refused is not checked again.
    sections = (
        tools.problems(boundary),
        enforcement_sections.problems(boundary),
        alerts.problems(boundary),
        tenancy.problems(boundary),
    )
    for message, path, at_key in itertools.chain(*sections):
        if not _has_errors(path[:3], bad):
            checker.add(message, path, key=at_key)
