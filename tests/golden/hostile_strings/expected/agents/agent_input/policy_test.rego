# METADATA
# title: "Tests of the agent boundary of INPUT"
# description: Cases derived from each rule of the boundary, then the cases written in its tests section.
# custom:
#   source: "tests/golden/hostile_strings/policy.yaml"
package agents.agent_input_test

import data.agents.agent_input

codes(result) := {reason.code | some reason in result.reasons}

# allowed_endpoints[0] (GET /api/*) allows GET /api/example (tests/golden/hostile_strings/policy.yaml:59)
test_allowed_endpoints_0_allows if {
	result := agent_input.decision with input as {"agent_id": "INPUT", "method": "GET", "path": "/api/example"}
	result.decision == "allow"
}

# GET /yaml2rego-unlisted/resource matches no allowed endpoint: default deny
test_unlisted_endpoint_is_denied if {
	result := agent_input.decision with input as {
		"agent_id": "INPUT",
		"method": "GET",
		"path": "/yaml2rego-unlisted/resource",
	}
	result.decision == "deny"
	"endpoint_not_allowed" in codes(result)
}

# a path with a '..' segment is not canonical and is refused before any rule matches
test_dot_dot_segment_is_refused if {
	result := agent_input.decision with input as {
		"agent_id": "INPUT",
		"method": "GET",
		"path": "/api/example/../../admin",
	}
	result.decision == "deny"
	"non_canonical_path" in codes(result)
}
