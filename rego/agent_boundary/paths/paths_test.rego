package agent_boundary.paths_test

import data.agent_boundary.paths

# Each table test has a companion asserting every case is present: a case whose body fails simply does not appear.

_encoded := "the path contains an encoded dot, slash, backslash or percent sign"

_unneeded := "the path contains a percent-escape its canonical form does not need"

_invalid := "the path contains an invalid percent-escape"

_parameter := "the path contains a ';' (path parameters are refused)"

_non_ascii := "the path contains a non-ASCII character"

_encode := "the path contains a character that must be percent-encoded"

_non_canonical_cases := {
	"number": {"path": 42, "reason": "the path is not a string"},
	"null": {"path": null, "reason": "the path is not a string"},
	"empty": {"path": "", "reason": "the path is empty"},
	"only a query": {"path": "?a=1", "reason": "the path is empty"},
	"relative": {"path": "api/x", "reason": "the path is relative (it must start with '/')"},
	"control character": {"path": "/api/\u0001x", "reason": "the path contains a control character"},
	"delete character": {"path": "/api/x\u007f", "reason": "the path contains a control character"},
	"newline": {"path": "/api/x\n", "reason": "the path contains a control character"},
	"backslash": {"path": `/api\admin`, "reason": "the path contains a backslash"},
	"encoded dot": {"path": "/api/%2e%2e/admin", "reason": _encoded},
	"encoded slash, upper case": {"path": "/api%2Fadmin", "reason": _encoded},
	"encoded backslash": {"path": "/api%5Cadmin", "reason": _encoded},
	"double encoding": {"path": "/api%252fadmin", "reason": _encoded},
	"empty segment": {"path": "/api//admin", "reason": "the path contains an empty segment ('//')"},
	"leading double slash": {"path": "//api", "reason": "the path contains an empty segment ('//')"},
	"dot segment": {"path": "/api/./admin", "reason": "the path contains a '.' or '..' segment"},
	"dot-dot segment": {"path": "/api/v1/../admin", "reason": "the path contains a '.' or '..' segment"},
	"trailing dot-dot": {"path": "/api/..", "reason": "the path contains a '.' or '..' segment"},
	"dot-dot before a query": {"path": "/api/..?x=1", "reason": "the path contains a '.' or '..' segment"},
	# Escapes of characters that may appear as themselves: an upstream decodes them into the denied path.
	"escaped unreserved letter": {"path": "/api/refun%64", "reason": _unneeded},
	"escaped first letter": {"path": "/api/%72efund", "reason": _unneeded},
	"escaped digit": {"path": "/api/v%31", "reason": _unneeded},
	"escaped tilde": {"path": "/api/%7euser", "reason": _unneeded},
	"escaped sub-delim": {"path": "/api/a%21b", "reason": _unneeded},
	"escaped NUL": {"path": "/api/refund%00", "reason": _unneeded},
	"escaped non-ASCII byte": {"path": "/api/caf%C3%A9", "reason": _unneeded},
	"overlong UTF-8 dot": {"path": "/api/%C0%AE%C0%AE/admin", "reason": _unneeded},
	"escaped fullwidth dot": {"path": "/api/%EF%BC%8E%EF%BC%8E/admin", "reason": _unneeded},
	"bare percent": {"path": "/api/100%", "reason": _invalid},
	"percent with one digit": {"path": "/api/%4", "reason": _invalid},
	"IIS %u escape": {"path": "/api/%u002e%u002e/admin", "reason": _invalid},
	"percent with non-hex": {"path": "/api/%zz", "reason": _invalid},
	# Path parameters that Tomcat, Jetty and Spring strip before routing.
	"path parameter": {"path": "/api/x;y=1", "reason": _parameter},
	"dot-dot path parameter": {"path": "/api/..;/admin", "reason": _parameter},
	"trailing semicolon": {"path": "/api/refund;", "reason": _parameter},
	"escaped semicolon": {"path": "/api/refund%3B", "reason": _parameter},
	# Characters outside ASCII and controls anywhere in the target, query string included.
	"C1 next line": {"path": "/api/x\u0085/admin", "reason": _non_ascii},
	"line separator": {"path": "/api/x\u2028y", "reason": _non_ascii},
	"fullwidth dot segment": {"path": "/api/\uff0e\uff0e/admin", "reason": _non_ascii},
	"fullwidth slash": {"path": "/api\uff0fadmin", "reason": _non_ascii},
	"division slash": {"path": "/api\u2215admin", "reason": _non_ascii},
	"non-ASCII letter": {"path": "/api/caf\u00e9", "reason": _non_ascii},
	"non-ASCII in the query": {"path": "/api/x?q=\u00e9", "reason": _non_ascii},
	"CR LF in the query": {"path": "/api/x?q=1\r\nHost: evil", "reason": "the path contains a control character"},
	"NUL in the query": {"path": "/api/x?q=\u0000", "reason": "the path contains a control character"},
	# Spaces, fragments and characters that must be escaped.
	"raw space": {"path": "/api/re fund", "reason": _encode},
	"raw space in the query": {"path": "/api/x?q=a b", "reason": "the query string contains a space"},
	"raw quote": {"path": "/api/\"x", "reason": _encode},
	"raw brackets": {"path": "/api/[x]", "reason": _encode},
	"fragment hiding dot segments": {"path": "/api/x#/../admin", "reason": "the path contains a fragment ('#')"},
	"fragment after a query": {"path": "/api/x?a=1#frag", "reason": "the path contains a fragment ('#')"},
	"three dots": {"path": "/api/.../admin", "reason": "the path contains a segment of only dots ('...')"},
	"four dots at the end": {"path": "/api/....", "reason": "the path contains a segment of only dots ('...')"},
}

test_non_canonical_paths[note] if {
	some note, case in _non_canonical_cases
	paths.non_canonical_reason(case.path) == case.reason
	not paths.canonical(case.path)
}

test_non_canonical_paths_every_case if count(test_non_canonical_paths) == count(_non_canonical_cases)

_canonical_cases := {
	"root": "/",
	"plain": "/api/customer/v1/42",
	"trailing slash": "/api/ticket/v1/",
	"query string is ignored": "/api/x?next=../admin//%2f",
	"dots inside a segment": "/api/file.v1..json",
	"hidden file name": "/api/.well-known",
	"needed escapes": "/api/a%20b%22%23%3c%3E%3f%5B%5d%5e%60%7B%7c%7D",
	"sub-delims, colon and at sign": "/api/a!$&'()*+,=:@b",
	"query with reserved characters": "/api/x?a=1&b=%2F&c=../;[]|^",
}

test_canonical_paths[note] if {
	some note, path in _canonical_cases
	paths.canonical(path)
	not paths.non_canonical_reason(path)
}

test_canonical_paths_every_case if count(test_canonical_paths) == count(_canonical_cases)

_match_target_cases := {
	"root becomes empty": {"path": "/", "target": ""},
	"root with a query": {"path": "/?a=1", "target": ""},
	"trailing slash removed": {"path": "/api/ticket/v1/", "target": "/api/ticket/v1"},
	"query removed": {"path": "/api/x?y=1", "target": "/api/x"},
	"fragment removed": {"path": "/api/x#top", "target": "/api/x"},
	"fragment before query": {"path": "/api/x#a?b", "target": "/api/x"},
	"slash before query": {"path": "/api/x/?y=1", "target": "/api/x"},
}

test_match_target[note] if {
	some note, case in _match_target_cases
	paths.match_target(case.path) == case.target
}

test_match_target_every_case if count(test_match_target) == count(_match_target_cases)

test_strip_query if {
	paths.strip_query("/a?b#c") == "/a"
	paths.strip_query("/a") == "/a"
}

# Endpoint rules with the prefixes, match kinds and regexes yaml2rego/semantics/paths.py writes for each pattern.

# Pattern /api/*
_subtree := {"method": "*", "prefix": "/api/", "match": "subtree", "regex": `^/api(?:/[^/]+)*$`}

# Pattern /api/*/items
_one_segment := {"method": "GET", "prefix": "/api/", "match": "regex", "regex": `^/api/[^/]+/items$`}

# Pattern /a/**/z
_any_segments := {"method": "GET", "prefix": "/a/", "match": "regex", "regex": `^/a(?:/[^/]+)*/z$`}

# Pattern /
_root := {"method": "GET", "prefix": "/", "match": "exact", "regex": `^$`}

# Pattern /a.b/c+d
_literal := {"method": "POST", "prefix": "/a.b/c+d/", "match": "exact", "regex": `^/a\.b/c\+d$`}

_rule_cases := {
	"subtree covers its prefix": {"rule": _subtree, "method": "DELETE", "path": "/api", "want": true},
	"subtree covers one level": {"rule": _subtree, "method": "DELETE", "path": "/api/x", "want": true},
	"subtree covers any depth": {"rule": _subtree, "method": "DELETE", "path": "/api/customer/v1/42", "want": true},
	"subtree does not cover a sibling": {"rule": _subtree, "method": "GET", "path": "/apix", "want": false},
	"one segment matches one": {"rule": _one_segment, "method": "GET", "path": "/api/7/items", "want": true},
	"one segment is not zero": {"rule": _one_segment, "method": "GET", "path": "/api/items", "want": false},
	"one segment is not two": {"rule": _one_segment, "method": "GET", "path": "/api/7/8/items", "want": false},
	"any segments may be zero": {"rule": _any_segments, "method": "GET", "path": "/a/z", "want": true},
	"any segments may be many": {"rule": _any_segments, "method": "GET", "path": "/a/b/c/z", "want": true},
	"any segments keep the tail": {"rule": _any_segments, "method": "GET", "path": "/a/b/c", "want": false},
	"root matches root": {"rule": _root, "method": "GET", "path": "/", "want": true},
	"root is not a prefix": {"rule": _root, "method": "GET", "path": "/x", "want": false},
	"literal dots are literal": {"rule": _literal, "method": "POST", "path": "/a.b/c+d", "want": true},
	"literal dot is not a wildcard": {"rule": _literal, "method": "POST", "path": "/axb/c+d", "want": false},
	"matching is case-sensitive": {"rule": _one_segment, "method": "GET", "path": "/API/7/items", "want": false},
	"method must match": {"rule": _literal, "method": "GET", "path": "/a.b/c+d", "want": false},
}

test_rule_matches[note] if {
	some note, case in _rule_cases
	target := paths.match_target(case.path)
	_matches(case.rule, case.method, target) == case.want
}

test_rule_matches_every_case if count(test_rule_matches) == count(_rule_cases)

_matches(rule, method, target) if {
	paths.rule_matches(rule, method, target)
} else := false

test_method_matches if {
	paths.method_matches("*", "PATCH")
	paths.method_matches("GET", "GET")
	not paths.method_matches("GET", "POST")
	not paths.method_matches("GET", "*")
}
