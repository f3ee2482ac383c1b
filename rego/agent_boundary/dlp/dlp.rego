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
#   rule's fields that holds a match of the rule's regex. `path` is the JSON path from the call's root.
flags(rule, call) := {flag |
	"request" in rule.apply_to
	some field in rule.fields
	value := object.get(call, field, null)
	walk(value, [below, leaf])
	is_string(leaf)
	regex.match(rule.flag_regex, leaf)
	path := array.concat(field, below)
	flag := object.union(
		{
			"field": concat(".", [sprintf("%v", [step]) | some step in path]),
			"path": path,
			"detector": rule.detector,
			"rule": rule.rule,
			"source": rule.source,
		},
		_regex_of(rule),
	)
}

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
