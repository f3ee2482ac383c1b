# METADATA
# title: "Tests of the agent boundary of alpha_agent"
# description: Cases derived from each rule of the boundary, then the cases written in its tests section.
# custom:
#   source: "tests/golden/many_agents/policy.yaml"
package agents.alpha_agent_test

import data.agents.alpha_agent

codes(result) := {reason.code | some reason in result.reasons}

# denied_endpoints[0] (GET /a) denies GET /a (tests/golden/many_agents/policy.yaml:11)
test_allowed_endpoints_0_overridden_by_deny if {
	result := alpha_agent.decision with input as {"agent_id": "alpha_agent", "method": "GET", "path": "/a"}
	result.decision == "deny"
	"endpoint_denied" in codes(result)
}

# denied_endpoints[0] (GET /a) denies GET /a (tests/golden/many_agents/policy.yaml:14)
test_denied_endpoints_0_denies if {
	result := alpha_agent.decision with input as {"agent_id": "alpha_agent", "method": "GET", "path": "/a"}
	result.decision == "deny"
	"endpoint_denied" in codes(result)
}

# GET /yaml2rego-unlisted/resource matches no allowed endpoint: default deny
test_unlisted_endpoint_is_denied if {
	result := alpha_agent.decision with input as {
		"agent_id": "alpha_agent",
		"method": "GET",
		"path": "/yaml2rego-unlisted/resource",
	}
	result.decision == "deny"
	"endpoint_not_allowed" in codes(result)
}

# a path with a '..' segment is not canonical and is refused before any rule matches
test_dot_dot_segment_is_refused if {
	result := alpha_agent.decision with input as {"agent_id": "alpha_agent", "method": "GET", "path": "/a/../../admin"}
	result.decision == "deny"
	"non_canonical_path" in codes(result)
}
