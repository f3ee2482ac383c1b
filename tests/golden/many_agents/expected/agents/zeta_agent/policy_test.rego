# METADATA
# title: "Tests of the agent boundary of zeta_agent"
# description: Cases derived from each rule of the boundary, then the cases written in its tests section.
# custom:
#   source: "tests/golden/many_agents/policy.yaml"
package agents.zeta_agent_test

import data.agents.zeta_agent

codes(result) := {reason.code | some reason in result.reasons}

# allowed_endpoints[0] (GET /z/*) allows GET /z/example (tests/golden/many_agents/policy.yaml:5)
test_allowed_endpoints_0_allows if {
	result := zeta_agent.decision with input as {"agent_id": "zeta_agent", "method": "GET", "path": "/z/example"}
	result.decision == "allow"
}

# GET /yaml2rego-unlisted/resource matches no allowed endpoint: default deny
test_unlisted_endpoint_is_denied if {
	result := zeta_agent.decision with input as {
		"agent_id": "zeta_agent",
		"method": "GET",
		"path": "/yaml2rego-unlisted/resource",
	}
	result.decision == "deny"
	"endpoint_not_allowed" in codes(result)
}

# a path with a '..' segment is not canonical and is refused before any rule matches
test_dot_dot_segment_is_refused if {
	result := zeta_agent.decision with input as {
		"agent_id": "zeta_agent",
		"method": "GET",
		"path": "/z/example/../../admin",
	}
	result.decision == "deny"
	"non_canonical_path" in codes(result)
}
