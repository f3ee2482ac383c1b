# METADATA
# title: "Tests of the agent boundary of globex_support"
# description: Cases derived from each rule of the boundary, then the cases written in its tests section.
# custom:
#   source: "tests/golden/tenants_and_regions/policy.yaml"
package agents.globex_support_test

import data.agents.globex_support

codes(result) := {reason.code | some reason in result.reasons}

# allowed_endpoints[0] (GET /api/tickets/*) allows GET /api/tickets/example
# (tests/golden/tenants_and_regions/policy.yaml:38)
test_allowed_endpoints_0_allows if {
	result := globex_support.decision with input as {
		"agent_id": "globex_support",
		"method": "GET",
		"path": "/api/tickets/example",
	}
	result.decision == "allow"
}

# GET /yaml2rego-unlisted/resource matches no allowed endpoint: default deny
test_unlisted_endpoint_is_denied if {
	result := globex_support.decision with input as {
		"agent_id": "globex_support",
		"method": "GET",
		"path": "/yaml2rego-unlisted/resource",
	}
	result.decision == "deny"
	"endpoint_not_allowed" in codes(result)
}

# a path with a '..' segment is not canonical and is refused before any rule matches
test_dot_dot_segment_is_refused if {
	result := globex_support.decision with input as {
		"agent_id": "globex_support",
		"method": "GET",
		"path": "/api/tickets/example/../../admin",
	}
	result.decision == "deny"
	"non_canonical_path" in codes(result)
}
