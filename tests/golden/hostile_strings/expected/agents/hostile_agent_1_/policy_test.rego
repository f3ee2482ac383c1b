# METADATA
# title: "Tests of the agent boundary of Hostile.Agent-1:"
# description: Cases derived from each rule of the boundary, then the cases written in its tests section.
# custom:
#   source: "tests/golden/hostile_strings/policy.yaml"
package agents.hostile_agent_1__test

import data.agents.hostile_agent_1_

codes(result) := {reason.code | some reason in result.reasons}

# allowed_endpoints[0] (GET /api/'$(x)'/items=x,1/*) allows GET /api/'$(x)'/items=x,1/example
# (tests/golden/hostile_strings/policy.yaml:11)
test_allowed_endpoints_0_allows if {
	result := hostile_agent_1_.decision with input as {
		"agent_id": "Hostile.Agent-1:",
		"method": "GET",
		"path": "/api/'$(x)'/items=x,1/example",
	}
	result.decision == "allow"
}

# allowed_endpoints[1] (POST /api/notes/v1) allows POST /api/notes/v1 (tests/golden/hostile_strings/policy.yaml:12)
test_allowed_endpoints_1_allows if {
	result := hostile_agent_1_.decision with input as {
		"agent_id": "Hostile.Agent-1:",
		"method": "POST",
		"path": "/api/notes/v1",
		"body": {"quote\"d#{x}": "a\"b", "note\\": "plain"},
	}
	result.decision == "allow"
}

# GET /yaml2rego-unlisted/resource matches no allowed endpoint: default deny
test_unlisted_endpoint_is_denied if {
	result := hostile_agent_1_.decision with input as {
		"agent_id": "Hostile.Agent-1:",
		"method": "GET",
		"path": "/yaml2rego-unlisted/resource",
	}
	result.decision == "deny"
	"endpoint_not_allowed" in codes(result)
}

# input_validation[0].rules[0]: field quote"d#{x} must be a valid enum (tests/golden/hostile_strings/policy.yaml:17)
test_input_validation_0_rules_0_rejects_invalid_quote_d_x if {
	result := hostile_agent_1_.decision with input as {
		"agent_id": "Hostile.Agent-1:",
		"method": "POST",
		"path": "/api/notes/v1",
		"body": {"quote\"d#{x}": "yaml2rego-not-a-listed-value", "note\\": "plain"},
	}
	result.decision == "deny"
	"invalid_input" in codes(result)
}

# input_validation[0].rules[0]: field quote"d#{x} is required (tests/golden/hostile_strings/policy.yaml:17)
test_input_validation_0_rules_0_requires_quote_d_x if {
	result := hostile_agent_1_.decision with input as {
		"agent_id": "Hostile.Agent-1:",
		"method": "POST",
		"path": "/api/notes/v1",
		"body": {"note\\": "plain"},
	}
	result.decision == "deny"
	"invalid_input" in codes(result)
}

# input_validation[0].rules[1]: field note\ must be a valid string (tests/golden/hostile_strings/policy.yaml:20)
test_input_validation_0_rules_1_rejects_invalid_note if {
	result := hostile_agent_1_.decision with input as {
		"agent_id": "Hostile.Agent-1:",
		"method": "POST",
		"path": "/api/notes/v1",
		"body": {"quote\"d#{x}": "a\"b", "note\\": 12345},
	}
	result.decision == "deny"
	"invalid_input" in codes(result)
}

# input_validation[0].rules[1]: field note\ is required (tests/golden/hostile_strings/policy.yaml:20)
test_input_validation_0_rules_1_requires_note if {
	result := hostile_agent_1_.decision with input as {
		"agent_id": "Hostile.Agent-1:",
		"method": "POST",
		"path": "/api/notes/v1",
		"body": {"quote\"d#{x}": "a\"b"},
	}
	result.decision == "deny"
	"invalid_input" in codes(result)
}

# a path with a '..' segment is not canonical and is refused before any rule matches
test_dot_dot_segment_is_refused if {
	result := hostile_agent_1_.decision with input as {
		"agent_id": "Hostile.Agent-1:",
		"method": "GET",
		"path": "/api/'$(x)'/items=x,1/example/../../admin",
	}
	result.decision == "deny"
	"non_canonical_path" in codes(result)
}

# tool yaml2rego_unlisted_tool is not in the tool registry
test_unregistered_tool_is_denied if {
	result := hostile_agent_1_.decision with input as {
		"agent_id": "Hostile.Agent-1:",
		"tool": "yaml2rego_unlisted_tool",
	}
	result.decision == "deny"
	"unknown_tool" in codes(result)
}

# a call of reader within its rules gets allow (tests/golden/hostile_strings/policy.yaml:31)
test_tool_reader_allows if {
	result := hostile_agent_1_.decision with input as {
		"agent_id": "Hostile.Agent-1:",
		"tool": "reader",
		"action": "read",
		"args": {"key": "SEC-\"#}x"},
	}
	result.decision == "allow"
}

# reader does not allow write (tests/golden/hostile_strings/policy.yaml:31)
test_tool_reader_refuses_write if {
	result := hostile_agent_1_.decision with input as {
		"agent_id": "Hostile.Agent-1:",
		"tool": "reader",
		"action": "write",
		"args": {"key": "SEC-\"#}x"},
	}
	result.decision == "deny"
	"action_not_allowed" in codes(result)
}

# tools.reader.args.key: argument key must be a valid string (tests/golden/hostile_strings/policy.yaml:31)
test_tool_reader_rejects_invalid_key if {
	result := hostile_agent_1_.decision with input as {
		"agent_id": "Hostile.Agent-1:",
		"tool": "reader",
		"action": "read",
		"args": {"key": 12345},
	}
	result.decision == "deny"
	"invalid_arguments" in codes(result)
}

# reader declares no argument yaml2rego_unlisted_argument (tests/golden/hostile_strings/policy.yaml:31)
test_tool_reader_rejects_undeclared_argument if {
	result := hostile_agent_1_.decision with input as {
		"agent_id": "Hostile.Agent-1:",
		"tool": "reader",
		"action": "read",
		"args": {"key": "SEC-\"#}x", "yaml2rego_unlisted_argument": "x"},
	}
	result.decision == "deny"
	"invalid_arguments" in codes(result)
}

# tools.reader.scope.key: yaml2rego/out-of-scope is outside SEC-"#}*, x := 1 # *, \*
# (tests/golden/hostile_strings/policy.yaml:31)
test_tool_reader_keeps_key_in_scope if {
	result := hostile_agent_1_.decision with input as {
		"agent_id": "Hostile.Agent-1:",
		"tool": "reader",
		"action": "read",
		"args": {"key": "yaml2rego/out-of-scope"},
	}
	result.decision == "deny"
	"scope_violation" in codes(result)
}

# ok" # test_injected if { true } \ { (tests/golden/hostile_strings/policy.yaml:42)
test_user_ok_test_injected_if_true if {
	result := hostile_agent_1_.decision with input as {
		"agent_id": "Hostile.Agent-1:",
		"method": "GET",
		"path": "/api/'$(x)'/items=x,1/y",
		"body": {"k\"ey\n": "v\u2028\u2029\u0085\ufeff\u202e\u0000\u007f\udb40\udc01😀", "#": "} x := 1 {"},
	}
	result.decision == "allow"
}

# the enum value with a newline is allowed (tests/golden/hostile_strings/policy.yaml:48)
test_user_the_enum_value_with_a_newline_is_allowed if {
	result := hostile_agent_1_.decision with input as {
		"agent_id": "Hostile.Agent-1:",
		"method": "POST",
		"path": "/api/notes/v1",
		"body": {"quote\"d#{x}": "line\nbreak", "note\\": "plain"},
	}
	result.decision == "allow"
}
