package agent_boundary_test

import data.agent_boundary

_source := "examples/support_agent.yaml"

_at(line) := sprintf("%s:%d", [_source, line])

_reporter_at(line) := sprintf("examples/reporter.yaml:%d", [line])

# How the compiler writes a pattern for matching (yaml2rego/semantics/paths.py): literal prefix, match kind, anchored regex.
_customer_regex := {"prefix": "/api/customer/v1/", "match": "subtree", "regex": `^/api/customer/v1(?:/[^/]+)*$`}

_ticket_regex := {"prefix": "/api/ticket/v1/", "match": "exact", "regex": `^/api/ticket/v1$`}

# An endpoint-style rule as the compiler writes it: rule id, source line, method, pattern and its matcher.
_endpoint(rule, source, method, pattern, matcher) := object.union(matcher, {
	"rule": rule,
	"source": source,
	"method": method,
	"pattern": pattern,
})

_field(index, line, name, type) := {
	"rule": sprintf("input_validation[0].rules[%d]", [index]),
	"source": _at(line),
	"field": name,
	"path": [name],
	"type": type,
	"required": true,
}

_rate_limit(index, line, method, per_minute) := object.union(limit, {"requests_per_minute": per_minute}) if {
	limit := _endpoint(sprintf("rate_limits[%d]", [index]), _at(line), method, "/api/customer/v1/*", _customer_regex)
}

_ticket_fields := [
	_field(0, 16, "customer_id", "uuid"),
	object.union(_field(1, 18, "priority", "enum"), {"values": ["low", "medium", "high"]}),
]

_ticket_rule := _endpoint("input_validation[0]", _at(14), "POST", "/api/ticket/v1/", _ticket_regex)

# data.boundaries.agents[_] as the compiler writes it for examples/support_agent.yaml (with a second rate limit, and
# max_payload_size_kb lowered to 100 bytes).
_support := {
	"agent_id": "support_agent_1",
	"mode": "enforce",
	"source": _source,
	"allowed_endpoints": [
		_endpoint("allowed_endpoints[0]", _at(4), "GET", "/api/customer/v1/*", _customer_regex),
		_endpoint("allowed_endpoints[1]", _at(6), "POST", "/api/ticket/v1/", _ticket_regex),
	],
	"denied_endpoints": [
		_endpoint("denied_endpoints[0]", _at(9), "*", "/api/admin/*", {"prefix": "/api/admin/", "match": "subtree", "regex": `^/api/admin(?:/[^/]+)*$`}),
		_endpoint("denied_endpoints[1]", _at(11), "DELETE", "/api/*", {"prefix": "/api/", "match": "subtree", "regex": `^/api(?:/[^/]+)*$`}),
	],
	"input_validation": [object.union(_ticket_rule, {"fields": _ticket_fields})],
	"rate_limits": [_rate_limit(0, 22, "*", 30), _rate_limit(1, 23, "POST", 5)],
	"max_payload": {"rule": "max_payload_size_kb", "source": "examples/support_agent.yaml:24", "bytes": 100},
}

_root_matcher := {"prefix": "/", "match": "exact", "regex": `^$`}

_reports_regex := {"prefix": "/reports/", "match": "subtree", "regex": `^/reports(?:/[^/]+)*$`}

# A second agent: monitor mode, no payload limit, overlapping allow rules, and an allow that a deny overrides.
_reporter := {
	"agent_id": "reporter",
	"mode": "monitor",
	"source": "examples/reporter.yaml",
	"allowed_endpoints": [
		_endpoint("allowed_endpoints[0]", _reporter_at(2), "*", "/reports/*", _reports_regex),
		_endpoint("allowed_endpoints[1]", _reporter_at(3), "GET", "/reports/*", _reports_regex),
		_endpoint("allowed_endpoints[2]", _reporter_at(4), "GET", "/", _root_matcher),
	],
	"denied_endpoints": [_endpoint("denied_endpoints[0]", _reporter_at(6), "GET", "/reports/secret/*", {
		"prefix": "/reports/secret/",
		"match": "subtree",
		"regex": `^/reports/secret(?:/[^/]+)*$`,
	})],
	"input_validation": [],
	"rate_limits": [],
}

_boundaries := {"policy_version": "sha256:0123", "agents": {"support_agent_1": _support, "reporter": _reporter}}

_ticket := {"customer_id": "123e4567-e89b-12d3-a456-426614174000", "priority": "low"}

_call(method, path) := {"agent_id": "support_agent_1", "method": method, "path": path}

_decide(request) := result if {
	result := agent_boundary.decision with input as request with data.boundaries as _boundaries
}

_codes(result) := {reason.code | some reason in result.reasons}

test_allowed_call if {
	result := _decide(_call("GET", "/api/customer/v1/42"))
	result.decision == "allow"
	result.allow == true
	result.reasons == []
	result.decision_reason == "GET /api/customer/v1/42 allowed by allowed_endpoints[0] (GET /api/customer/v1/*)"
	result.policy_version == "sha256:0123"
	result.agent_id == "support_agent_1"
	result.mode == "enforce"
}

test_rate_limits_that_apply if {
	result := _decide(_call("GET", "/api/customer/v1/42"))
	expected := {
		"rule": "rate_limits[0]",
		"source": "examples/support_agent.yaml:22",
		"pattern": "/api/customer/v1/*",
		"requests_per_minute": 30,
	}
	result.rate_limits == [expected]
	_decide(_call("POST", "/api/customer/v1/42")).rate_limits[1].requests_per_minute == 5
	_decide(_call("POST", "/api/ticket/v1")).rate_limits == []
}

_endpoint_cases := {
	"method is case-insensitive": {"method": "get", "path": "/api/customer/v1/42", "codes": set()},
	"subtree covers its prefix": {"method": "GET", "path": "/api/customer/v1", "codes": set()},
	"subtree covers any depth": {"method": "GET", "path": "/api/customer/v1/42/orders/7", "codes": set()},
	"trailing slash is not significant": {"method": "GET", "path": "/api/customer/v1/42/", "codes": set()},
	"query string is ignored": {"method": "POST", "path": "/api/ticket/v1/?draft=1", "codes": {"invalid_input"}},
	"default deny: other method": {"method": "PUT", "path": "/api/customer/v1/42", "codes": {"endpoint_not_allowed"}},
	"default deny: other path": {"method": "GET", "path": "/api/billing/v1", "codes": {"endpoint_not_allowed"}},
	"default deny: root": {"method": "GET", "path": "/", "codes": {"endpoint_not_allowed"}},
	"matching is case-sensitive": {"method": "GET", "path": "/API/customer/v1/42", "codes": {"endpoint_not_allowed"}},
	"deny * matches any method": {"method": "PATCH", "path": "/api/admin/users", "codes": {"endpoint_denied"}},
	"deny /api/* covers any depth": {"method": "DELETE", "path": "/api/customer/v1/42", "codes": {"endpoint_denied"}},
	"dot-dot is refused, not resolved": {"method": "GET", "path": "/api/v1/../../admin", "codes": {"non_canonical_path"}},
	"encoded slash is refused": {"method": "GET", "path": "/api/customer/v1/42%2F..", "codes": {"non_canonical_path"}},
	"relative path is refused": {"method": "GET", "path": "api/customer/v1/42", "codes": {"non_canonical_path"}},
	"empty path is refused": {"method": "GET", "path": "", "codes": {"non_canonical_path"}},
}

test_endpoints[note] if {
	some note, case in _endpoint_cases
	result := _decide(_call(case.method, case.path))
	_codes(result) == case.codes

	# Bound to a name first: `opa fmt` drops the parentheses of `a == (b == c)`, which then no longer type-checks.
	allowed := count(case.codes) == 0
	result.allow == allowed
}

test_endpoints_every_case if count(test_endpoints) == count(_endpoint_cases)

test_deny_wins_over_allow if {
	result := _decide({"agent_id": "reporter", "method": "GET", "path": "/reports/secret/q3"})
	result.decision == "deny"
	expected := {
		"code": "endpoint_denied",
		"control": "CC6.1",
		"message": "GET /reports/secret/q3 is denied by denied_endpoints[0] (GET /reports/secret/*)",
		"rule": "denied_endpoints[0]",
		"source": "examples/reporter.yaml:6",
	}
	result.reasons == [expected]
}

test_first_matching_allow_rule_is_named if {
	result := _decide({"agent_id": "reporter", "method": "GET", "path": "/reports/q3"})
	result.decision_reason == "GET /reports/q3 allowed by allowed_endpoints[0] (* /reports/*)"
}

test_root_path_matches_root_pattern if {
	result := _decide({"agent_id": "reporter", "method": "GET", "path": "/?page=2"})
	result.decision_reason == "GET / allowed by allowed_endpoints[2] (GET /)"
}

test_mode_comes_from_the_agent if {
	result := _decide({"agent_id": "reporter", "method": "DELETE", "path": "/x"})
	result.mode == "monitor"
	result.decision == "deny"
}

test_non_canonical_path_reason if {
	result := _decide(_call("GET", "/api/customer/v1/./42?x=1"))
	expected := {
		"code": "non_canonical_path",
		"control": "CC6.1",
		"message": "path `/api/customer/v1/./42` is refused: the path contains a '.' or '..' segment",
		"rule": "canonical_path",
		"source": "input.path",
	}
	result.reasons == [expected]
	result.rate_limits == []
}

test_control_characters_do_not_break_the_line if {
	result := _decide(_call("GET", "/api/\n/x"))
	result.decision_reason == "path `/api/�/x` is refused: the path contains a control character"
}

test_unicode_line_breaks_do_not_break_the_line if {
	result := _decide(_call("GET", "/api/\u0085/\u2028/\u2029/x"))
	result.decision_reason == "path `/api/�/�/�/x` is refused: the path contains a non-ASCII character"
}

test_unknown_agent if {
	result := _decide({"agent_id": "ghost", "method": "GET", "path": "/api/customer/v1/42"})
	result.decision == "deny"
	result.mode == "enforce"
	result.agent_id == "ghost"
	result.rate_limits == []
	expected := {
		"code": "unknown_agent",
		"control": "CC6.1",
		"message": "no boundary is defined for agent `ghost`",
		"rule": "agent_id",
		"source": "data.boundaries.agents",
	}
	result.reasons == [expected]
}

test_agent_id_is_a_key_not_a_prefix if {
	_codes(_decide({"agent_id": "support_agent", "method": "GET", "path": "/api/customer/v1/42"})) == {"unknown_agent"}
}

test_kill_switch_with_reason if {
	suspended := {"support_agent_1": {"reason": "incident INC-42"}}
	result := _decide(_call("GET", "/api/customer/v1/42")) with data.agent_boundary_runtime.suspended as suspended
	result.decision == "deny"
	expected := {
		"code": "agent_suspended",
		"control": "CC7.4",
		"message": "agent `support_agent_1` is suspended: incident INC-42",
		"rule": "kill_switch",
		"source": "data.agent_boundary_runtime.suspended",
	}
	result.reasons == [expected]
}

test_kill_switch_without_reason if {
	suspended := {"support_agent_1": {}}
	result := _decide(_call("GET", "/api/customer/v1/42")) with data.agent_boundary_runtime.suspended as suspended
	result.decision_reason == "agent `support_agent_1` is suspended"
}

test_kill_switch_of_another_agent if {
	suspended := {"reporter": {"reason": "x"}}
	result := _decide(_call("GET", "/api/customer/v1/42")) with data.agent_boundary_runtime.suspended as suspended
	result.allow
}

_malformed_cases := {
	"string input": {"input": "GET /", "messages": ["the request must be a JSON object"]},
	"array input": {"input": [1], "messages": ["the request must be a JSON object"]},
	"null input": {"input": null, "messages": ["the request must be a JSON object"]},
	"empty object": {
		"input": {},
		"messages": [
			"the request needs `agent_id` as a string",
			"the request needs `method` as a string",
			"the request needs `path` as a string",
		],
	},
	"numeric method": {
		"input": {"agent_id": "support_agent_1", "method": 1, "path": "/api/customer/v1/42"},
		"messages": ["the request needs `method` as a string"],
	},
	"object agent id": {
		"input": {"agent_id": {"id": "support_agent_1"}, "method": "GET", "path": "/api/customer/v1/42"},
		"messages": ["the request needs `agent_id` as a string"],
	},
	"empty method": {
		"input": {"agent_id": "support_agent_1", "method": "", "path": "/api/customer/v1/42"},
		"messages": ["the request's `method` is empty"],
	},
	"null path": {
		"input": {"agent_id": "support_agent_1", "method": "GET", "path": null},
		"messages": ["the request needs `path` as a string"],
	},
	# Methods must be RFC 9110 tokens: nothing that upper-cases or trims into a method a rule names.
	"method with a leading space": _bad_method(" DELETE"),
	"method with a trailing space": _bad_method("DELETE "),
	"method with an inner space": _bad_method("DE LETE"),
	"method with NUL": _bad_method("DELETE\u0000"),
	"method with CR LF": _bad_method("GET\r\n"),
	"method with a long s": _bad_method("po\u017ft"),
	"fullwidth method": _bad_method("\uff24\uff25\uff2c\uff25\uff34\uff25"),
	"Cyrillic lookalike method": _bad_method("D\u0415L\u0415T\u0415"),
	# A declared size is a non-negative integer.
	"negative size": _bad_size(-1),
	"fractional size": _bad_size(1.5),
	"size as text": _bad_size("1"),
	"size as a boolean": _bad_size(true),
	"size beyond 2^53 - 1": _bad_size(9007199254740992),
	"size of 1e300": _bad_size(1e300),
}

_bad_method(method) := {
	"input": {"agent_id": "support_agent_1", "method": method, "path": "/api/customer/v1/42"},
	"messages": ["the request's `method` is not an HTTP token (RFC 9110)"],
}

_bad_size(size) := {
	"input": {"agent_id": "support_agent_1", "method": "GET", "path": "/api/customer/v1/42", "payload_size_bytes": size},
	"messages": ["the request's `payload_size_bytes` must be a non-negative integer"],
}

test_malformed_requests[note] if {
	some note, case in _malformed_cases
	result := _decide(case.input)
	result.decision == "deny"
	result.allow == false
	_codes(result) == {"invalid_request"}
	[reason.message | some reason in result.reasons] == case.messages
	result.decision_reason == concat("; ", case.messages)
	result.mode == "enforce"
	result.rate_limits == []
	result.policy_version == "sha256:0123"
}

test_malformed_requests_every_case if count(test_malformed_requests) == count(_malformed_cases)

test_agent_id_of_a_malformed_request if {
	_decide({"agent_id": 7}).agent_id == null
	_decide({"agent_id": "support_agent_1"}).agent_id == "support_agent_1"
}

test_decision_without_any_boundaries if {
	result := agent_boundary.decision with input as _call("GET", "/api/customer/v1/42")
		with data.boundaries as {}
	result.decision == "deny"
	result.policy_version == null
	_codes(result) == {"unknown_agent"}
}

_ticket_call(body) := object.union(_call("POST", "/api/ticket/v1/"), {"body": body})

test_valid_ticket_is_allowed if {
	_decide(_ticket_call(_ticket)).allow
	_decide(_ticket_call(json.marshal(_ticket))).allow
}

test_invalid_ticket_names_each_field if {
	result := _decide(_ticket_call({"customer_id": "42", "priority": "urgent"}))
	result.decision == "deny"
	result.reasons == [
		{
			"code": "invalid_input",
			"control": "CC6.1",
			"message": "field `customer_id` must be a UUID, got \"42\"",
			"rule": "input_validation[0].rules[0]",
			"source": "examples/support_agent.yaml:16",
		},
		{
			"code": "invalid_input",
			"control": "CC6.1",
			"message": "field `priority` must be one of [\"low\", \"medium\", \"high\"], got \"urgent\"",
			"rule": "input_validation[0].rules[1]",
			"source": "examples/support_agent.yaml:18",
		},
	]
}

test_body_that_is_not_an_object_has_no_fields if {
	result := _decide(_ticket_call("not json"))
	[reason.message | some reason in result.reasons] == [
		"missing required field `customer_id`",
		"missing required field `priority`",
	]
}

test_missing_body_has_no_fields if {
	_codes(_decide(_call("POST", "/api/ticket/v1"))) == {"invalid_input"}
}

test_validation_applies_only_to_its_method if {
	# input_validation[0] is POST only; a GET on the same path is refused for the endpoint, not for its body.
	_codes(_decide(object.union(_call("GET", "/api/ticket/v1"), {"body": {}}))) == {"endpoint_not_allowed"}
}

test_payload_size_from_the_caller if {
	result := _decide(object.union(_call("GET", "/api/customer/v1/42"), {"payload_size_bytes": 101}))
	expected := {
		"code": "payload_too_large",
		"control": "CC6.1",
		"message": "payload of 101 bytes exceeds the limit of 100 bytes",
		"rule": "max_payload_size_kb",
		"source": "examples/support_agent.yaml:24",
	}
	result.reasons == [expected]
	_decide(object.union(_call("GET", "/api/customer/v1/42"), {"payload_size_bytes": 100})).allow
}

_repeat(text, times) := concat("", [text | some _ in numbers.range(1, times)])

test_payload_size_of_a_string_body_counts_utf8_bytes if {
	# "é" is one character and two bytes: 50 of them fit the 100-byte limit, 51 do not.
	_decide(object.union(_call("GET", "/api/customer/v1/42"), {"body": _repeat("é", 50)})).allow
	result := _decide(object.union(_call("GET", "/api/customer/v1/42"), {"body": _repeat("é", 51)}))
	result.decision_reason == "payload of 102 bytes exceeds the limit of 100 bytes"
}

test_payload_size_of_an_object_body_is_its_json_text if {
	small := {"note": "abc"}
	_decide(object.union(_call("GET", "/api/customer/v1/42"), {"body": small})).allow
	big := {"note": _repeat("a", 90)}
	result := _decide(object.union(_call("GET", "/api/customer/v1/42"), {"body": big}))
	_codes(result) == {"payload_too_large"}
}

test_payload_size_declared_below_the_body_is_not_believed if {
	# 101 bytes of body declared as 1: the larger of the two is checked.
	request := object.union(_call("GET", "/api/customer/v1/42"), {"payload_size_bytes": 1, "body": _repeat("a", 101)})
	_decide(request).decision_reason == "payload of 101 bytes exceeds the limit of 100 bytes"
}

test_payload_size_declared_above_the_body_counts if {
	request := object.union(_call("GET", "/api/customer/v1/42"), {"payload_size_bytes": 101, "body": "{}"})
	_codes(_decide(request)) == {"payload_too_large"}
}

# Bodies measured the same way on OPA and regorus (docs/dsl.md, "Payload size"): a string body by its UTF-8 bytes;
# any other body by the UTF-8 bytes of its JSON text (keys sorted, no spaces), `<`, `>`, `&`, U+2028 and U+2029 as
# themselves (Go escapes them), numbers not counted (the engines spell them differently).
_measured_cases := {
	"ascii string": {"body": "abc", "size": 3},
	"string with <>&": {"body": "<a>&", "size": 4},
	"string with an emoji": {"body": "😀", "size": 4},
	"object": {"body": {"a": "b"}, "size": 9},
	"object with <>&": {"body": {"a": "<>&"}, "size": 11},
	"object with a line separator": {"body": {"a": "\u2028"}, "size": 11},
	"object with an emoji": {"body": {"e": "😀"}, "size": 12},
	"object with non-ASCII": {"body": {"é": "ü"}, "size": 11},
	"object with escapes spelled out": {"body": {"a": `\u003c\<`}, "size": 18},
	"numbers are not counted": {"body": {"n": [1, 1.0, 1e300, -0.5]}, "size": 11},
	"nested": {"body": {"a": [true, null, {"b": "x"}]}, "size": 27},
}

test_measured_payload_size[note] if {
	some note, case in _measured_cases
	agent_boundary._measured_size == case.size with input as {"body": case.body}
}

test_measured_payload_size_every_case if count(test_measured_payload_size) == count(_measured_cases)

test_no_payload_limit if {
	request := {"agent_id": "reporter", "method": "GET", "path": "/reports/q3", "payload_size_bytes": 1e9}
	_decide(request).allow
}

test_reasons_are_sorted_and_joined if {
	request := object.union(_call("DELETE", "/api/admin/users"), {"payload_size_bytes": 200})
	result := _decide(request)
	messages := [reason.message | some reason in result.reasons]
	messages == [
		"DELETE /api/admin/users is denied by denied_endpoints[0] (* /api/admin/*)",
		"DELETE /api/admin/users is denied by denied_endpoints[1] (DELETE /api/*)",
		"payload of 200 bytes exceeds the limit of 100 bytes",
	]
	result.decision_reason == concat("; ", messages)
}

test_every_reason_code_has_a_control if {
	every code, control in agent_boundary.reason_controls {
		regex.match(`^CC[0-9]+\.[0-9]+$`, control)
		code != ""
	}
	agent_boundary.reason_controls.agent_suspended == "CC7.4"
}

test_decision_keys_are_always_present if {
	keys := {"decision", "allow", "reasons", "decision_reason", "policy_version", "agent_id", "mode", "rate_limits"}
	every request in [_call("GET", "/api/customer/v1/42"), {}, "x", _call("GET", "//")] {
		object.keys(_decide(request)) == keys
	}
}
