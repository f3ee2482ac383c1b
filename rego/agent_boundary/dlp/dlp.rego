# METADATA
# title: DLP flags
# description: |
#   Finds the strings of a call that a sanitize rule (`{rule, source, detector, flag_regex, fields, apply_to}`, as
#   written by the compiler) may have to redact. Rego only flags candidates by regex; the runtime guard confirms
#   them (the Luhn check of card numbers, SSN ranges) and redacts. A flag names the field, never its content.
package agent_boundary.dlp

# METADATA
# title: Redaction flags
# description: |
#   One flag `{field, path, detector, rule, source}` (and `regex` for a regex detector) per string below one of the
#   rule's fields that holds a match of the rule's regex. `path` is the JSON path from the call's root. Object keys
#   are scanned too (a PII value used as a key): then one flag for the whole field, with `keys: true` and a field
#   name ending in ` (keys)`, tells the guard to redact every key and value below it. Flags never hold a key that
#   matches, so strings below such a key get no flag of their own (the field's flag covers them).
flags(rule, call) := _value_flags(rule, call) | _key_flags(rule, call)

_value_flags(rule, call) := {flag |
	"request" in rule.apply_to
	some field in rule.fields
	value := object.get(call, field, null)
	walk(value, [below, leaf])
	is_string(leaf)
	regex.match(rule.flag_regex, leaf)
	not _through_matching_key(rule, below)
	path := array.concat(field, below)
	flag := object.union(_flag(rule, _field_name(path), path), _regex_of(rule))
}

_through_matching_key(rule, below) if {
	some step in below
	is_string(step)
	regex.match(rule.flag_regex, step)
}

# A field with at least one matching key anywhere below it.
_key_flags(rule, call) := {flag |
	"request" in rule.apply_to
	some field in rule.fields
	value := object.get(call, field, null)
	_has_matching_key(rule, value)
	name := concat("", [_field_name(field), " (keys)"])
	flag := object.union(object.union(_flag(rule, name, field), {"keys": true}), _regex_of(rule))
}

_has_matching_key(rule, value) if {
	walk(value, [_, node])
	is_object(node)
	some key, _ in node
	regex.match(rule.flag_regex, key)
}

_flag(rule, name, path) := {
	"field": name,
	"path": path,
	"detector": rule.detector,
	"rule": rule.rule,
	"source": rule.source,
}

_field_name(path) := concat(".", [sprintf("%v", [step]) | some step in path])

# METADATA
# title: Result redactions
# description: What the guard redacts in a tool's result when the rule applies to results too.
result_redaction(rule) := object.union(redaction, _regex_of(rule)) if {
	"result" in rule.apply_to
	redaction := {"detector": rule.detector, "rule": rule.rule, "source": rule.source}
}

# A custom pattern travels with its flags: the guard needs it to redact. Built-in detectors are known by name.
_regex_of(rule) := {"regex": rule.flag_regex} if {
	rule.detector == "regex"
} else := {}
