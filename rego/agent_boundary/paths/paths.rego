# METADATA
# title: Request paths
# description: |
#   Canonical request paths and endpoint matching. The same checks live in yaml2rego/paths.py; they are repeated here
#   so the policy refuses a non-canonical path even when OPA is queried directly, with nothing in front of it.
package agent_boundary.paths

# Percent-encodings that smuggle a dot, a slash, a backslash or a second round of encoding past a naive matcher.
_encoded_separator := `%(?i:2e|2f|5c|25)`

_control_character := `[\x00-\x1f\x7f]`

# Anything any of the checks below would object to. Most paths are canonical, and one regex decides that; the
# checks themselves run only to name the problem.
_any_problem := `^$|^[^/]|[\x00-\x1f\x7f]|\\|%(?i:2e|2f|5c|25)|//|/\.\.?(?:/|$)`

# METADATA
# title: Path without query string
# description: The path up to its first `?` or `#`.
strip_query(path) := regex.replace(path, `[?#](?s:.*)`, "")

# METADATA
# title: Why a path is not canonical
# description: |
#   A one-line reason when the policy refuses to match `path`; undefined when the path is canonical.
#   The checks and their order mirror non_canonical_reason in yaml2rego/paths.py. The query string is ignored.
# custom:
#   control: CC6.1
non_canonical_reason(path) := "the path is not a string" if not is_string(path)

non_canonical_reason(path) := query_free_problem(strip_query(path)) if is_string(path)

# METADATA
# title: Why a path without query string is not canonical
# description: non_canonical_reason for a path whose query string is already removed (strip_query).
# custom:
#   control: CC6.1
query_free_problem(path) := _problem(path) if regex.match(_any_problem, path)

_problem(path) := "the path is empty" if {
	path == ""
} else := "the path is relative (it must start with '/')" if {
	not startswith(path, "/")
} else := "the path contains a control character" if {
	regex.match(_control_character, path)
} else := "the path contains a backslash" if {
	contains(path, `\`)
} else := "the path contains an encoded dot, slash, backslash or percent sign" if {
	regex.match(_encoded_separator, path)
} else := "the path contains an empty segment ('//')" if {
	contains(path, "//")
} else := "the path contains a '.' or '..' segment" if {
	some segment in split(path, "/")
	segment in {".", ".."}
}

# METADATA
# title: Canonical path
# description: True when the policy accepts `path` for matching.
canonical(path) if not non_canonical_reason(path)

# METADATA
# title: Match target
# description: |
#   The string endpoint regexes are matched against: the canonical path without query string and trailing slash,
#   so the root `/` becomes the empty string. Only meaningful for a canonical path.
match_target(path) := trim_suffix(strip_query(path), "/")

# METADATA
# title: Match target of a path without query string
# description: match_target for a path whose query string is already removed (strip_query).
query_free_target(path) := trim_suffix(path, "/")

# METADATA
# title: Method match
# description: A rule's method matches a request method (already upper case), or the rule says `*` for any method.
method_matches(rule_method, _) if rule_method == "*"

method_matches(rule_method, method) if rule_method == method

# METADATA
# title: Endpoint rule match
# description: |
#   An endpoint rule (`{method, prefix, match, regex, …}` from data.boundaries) applies to a call with this upper-case
#   method and match target (see match_target). Every rule carries the literal start of its pattern (`prefix`, with
#   a trailing slash); `match` says what decides the rest: nothing (`subtree`), equality (`exact`) or the regex.
rule_matches(rule, method, target) if {
	rule.method in {"*", method}
	path_matches(rule, concat("", [target, "/"]))
}

# METADATA
# title: Pattern match
# description: |
#   The path part of rule_matches, for a match target with a slash appended (so a subtree pattern's prefix
#   `/api/customer/v1/` covers `/api/customer/v1` itself). String tests first: a regex costs the most of any step.
path_matches(rule, target_slash) if {
	startswith(target_slash, rule.prefix)
	rest_matches(rule, target_slash)
}

# METADATA
# title: Pattern match after the prefix
# description: For a target (with its slash) that starts with the rule's prefix, whether the rest matches too.
rest_matches(rule, _) if rule.match == "subtree"

rest_matches(rule, target_slash) if {
	rule.match == "exact"
	target_slash == rule.prefix
}

rest_matches(rule, target_slash) if {
	rule.match == "regex"
	regex.match(rule.regex, trim_suffix(target_slash, "/"))
}
