# METADATA
# title: Request paths
# description: |
#   Canonical request paths and endpoint matching. The same checks live in yaml2rego/semantics/paths.py; they are
#   repeated here so the policy refuses a non-canonical path even when OPA is queried directly, with nothing in front
#   of it.
package agent_boundary.paths

# The canonical form of a request target (docs/dsl.md, "Canonical paths"). The path may hold only RFC 3986 unreserved
# characters, the sub-delims but `;`, `:`, `@`, `/` and the percent-escapes it needs: those of a printable ASCII
# character that may not appear as itself (space " # < > ? [ ] ^ ` { | }). Every other escape has a shorter spelling
# an upstream would decode it into (`/refun%64` is `/refund`), or decodes into a separator, a control character or
# non-ASCII bytes, so it is refused rather than decoded. The query string may hold printable ASCII but space and `#`;
# a request target never has a fragment (RFC 9112, section 3.2), so `#` is refused.

# METADATA
# title: Canonical target
# description: |
#   The whole canonical form as one regex, since most paths are canonical and a regex costs the most of any step: the
#   root, or segments that are not empty and not only dots (each starts with dots at most, then one character or
#   needed escape that is not a dot), an optional trailing slash, an optional query string.
canonical_target := concat("", [
	`^(?:/|(?:/\.*(?:[A-Za-z0-9\-_~!$&'()*+,=:@]|%(?:20|22|23|3[CcEeFf]|5[BbDdEe]|60|7[BbCcDd]))`,
	`(?:[A-Za-z0-9\-._~!$&'()*+,=:@]|%(?:20|22|23|3[CcEeFf]|5[BbDdEe]|60|7[BbCcDd]))*)+/?)`,
	`(?:\?[!"$-~]*)?$`,
])

# Percent-encodings that smuggle a dot, a slash, a backslash or a second round of encoding past a naive matcher.
_encoded_separator := `%(?i:2e|2f|5c|25)`

_control_character := `[\x00-\x1f\x7f]`

_non_ascii := `[^\x00-\x7f]`

_valid_escape := `%[0-9A-Fa-f]{2}`

_needed_escape := `%(?:20|22|23|3[CcEeFf]|5[BbDdEe]|60|7[BbCcDd])`

# What the path may hold as itself (escapes are checked apart).
_path_characters := `^[A-Za-z0-9\-._~!$&'()*+,=:@/%]*$`

# METADATA
# title: Path without query string
# description: The path up to its first `?` or `#`.
strip_query(path) := regex.replace(path, `[?#](?s:.*)`, "")

# METADATA
# title: Why a path is not canonical
# description: |
#   A one-line reason when the policy refuses to match `path`; undefined when the path is canonical.
#   The checks and their order mirror non_canonical_reason in yaml2rego/semantics/paths.py. The query string is
#   checked only for characters (no control characters, space, `#` or non-ASCII); its content is never matched.
# custom:
#   control: CC6.1
non_canonical_reason(path) := "the path is not a string" if not is_string(path)

non_canonical_reason(path) := problem(path) if {
	is_string(path)
	not _fast_canonical(path)
}

# Most paths are canonical, and one regex decides that; the checks in `problem` run only to name the problem.
_fast_canonical(path) if regex.match(canonical_target, path)

# METADATA
# title: Problem of a string path
# description: |
#   The first problem found in a string path that does not match canonical_target, in a fixed order
#   (yaml2rego/semantics/paths.py keeps the same order and messages): characters of the whole target first (control,
#   non-ASCII, fragment), then those of the path, then its segments, then the query string.
# custom:
#   control: CC6.1
problem(path) := "the path is empty" if {
	strip_query(path) == ""
} else := "the path is relative (it must start with '/')" if {
	not startswith(path, "/")
} else := "the path contains a control character" if {
	regex.match(_control_character, path)
} else := "the path contains a non-ASCII character" if {
	regex.match(_non_ascii, path)
} else := "the path contains a fragment ('#')" if {
	contains(path, "#")
} else := found if {
	found := _query_free_problem(strip_query(path))
} else := "the query string contains a space" if {
	contains(path, " ")
} else := "the path is not in canonical form"

# Problems of the path without its query string (and free of control, non-ASCII and `#` characters); undefined when
# it has none.
_query_free_problem(path) := "the path contains a backslash" if {
	contains(path, `\`)
} else := "the path contains an encoded dot, slash, backslash or percent sign" if {
	regex.match(_encoded_separator, path)
} else := "the path contains a ';' (path parameters are refused)" if {
	# Tomcat, Jetty and Spring strip `;…` path parameters before routing: `/refund;x=1` and `/..;/admin`.
	regex.match(`;|%(?i:3b)`, path)
} else := "the path contains an invalid percent-escape" if {
	# A bare `%`, `%u002e`, `%g0`: what remains once every well-formed escape is taken out.
	contains(regex.replace(path, _valid_escape, ""), "%")
} else := "the path contains a percent-escape its canonical form does not need" if {
	# `%64`, `%00`, `%C0%AE`: what remains once every needed escape is taken out.
	contains(regex.replace(path, _needed_escape, ""), "%")
} else := "the path contains a character that must be percent-encoded" if {
	not regex.match(_path_characters, path)
} else := "the path contains an empty segment ('//')" if {
	contains(path, "//")
} else := "the path contains a '.' or '..' segment" if {
	some segment in split(path, "/")
	segment in {".", ".."}
} else := "the path contains a segment of only dots ('...')" if {
	some segment in split(path, "/")
	regex.match(`^\.+$`, segment)
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
