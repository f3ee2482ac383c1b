# METADATA
# title: "Tests of the agent boundary of shared_status"
# description: Cases derived from each rule of the boundary, then the cases written in its tests section.
# custom:
#   source: "tests/golden/tenants_and_regions/policy.yaml"
package agents.shared_status_test

import data.agents.shared_status

codes(result) := {reason.code | some reason in result.reasons}

# allowed_endpoints[0] (GET /status) allows GET /status (tests/golden/tenants_and_regions/policy.yaml:44)
test_allowed_endpoints_0_allows if {
	result := shared_status.decision with input as {"agent_id": "shared_status", "method": "GET", "path": "/status"}
	result.decision == "allow"
}

# GET /yaml2rego-unlisted/resource matches no allowed endpoint: default deny
test_unlisted_endpoint_is_denied if {
	result := shared_status.decision with input as {
		"agent_id": "shared_status",
		"method": "GET",
		"path": "/yaml2rego-unlisted/resource",
	}
	result.decision == "deny"
	"endpoint_not_allowed" in codes(result)
}

# a path with a '..' segment is not canonical and is refused before any rule matches
test_dot_dot_segment_is_refused if {
	result := shared_status.decision with input as {
		"agent_id": "shared_status",
		"method": "GET",
		"path": "/status/../../admin",
	}
	result.decision == "deny"
	"non_canonical_path" in codes(result)
}
