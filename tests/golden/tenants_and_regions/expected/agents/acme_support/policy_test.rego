# METADATA
# title: "Tests of the agent boundary of acme_support"
# description: Cases derived from each rule of the boundary, then the cases written in its tests section.
# custom:
#   source: "tests/golden/tenants_and_regions/policy.yaml"
package agents.acme_support_test

import data.agents.acme_support

codes(result) := {reason.code | some reason in result.reasons}

# allowed_endpoints[0] (GET /api/tickets/*) allows GET /api/tickets/example
# (tests/golden/tenants_and_regions/policy.yaml:10)
test_allowed_endpoints_0_allows if {
	result := acme_support.decision with input as {
		"agent_id": "acme_support",
		"method": "GET",
		"path": "/api/tickets/example",
		"host": "yaml2rego.eu.example.com",
	}
	result.decision == "allow"
}

# allowed_endpoints[1] (POST /api/export/*) goes to region us, outside the agent's regions
# (tests/golden/tenants_and_regions/policy.yaml:13)
test_allowed_endpoints_1_region_not_allowed if {
	result := acme_support.decision with input as {
		"agent_id": "acme_support",
		"method": "POST",
		"path": "/api/export/example",
		"host": "yaml2rego.eu.example.com",
	}
	result.decision == "deny"
	"region_not_allowed" in codes(result)
}

# allowed_endpoints[2] (GET /health) allows GET /health (tests/golden/tenants_and_regions/policy.yaml:16)
test_allowed_endpoints_2_allows if {
	result := acme_support.decision with input as {
		"agent_id": "acme_support",
		"method": "GET",
		"path": "/health",
		"host": "yaml2rego.eu.example.com",
	}
	result.decision == "allow"
}

# GET /yaml2rego-unlisted/resource matches no allowed endpoint: default deny
test_unlisted_endpoint_is_denied if {
	result := acme_support.decision with input as {
		"agent_id": "acme_support",
		"method": "GET",
		"path": "/yaml2rego-unlisted/resource",
		"host": "yaml2rego.eu.example.com",
	}
	result.decision == "deny"
	"endpoint_not_allowed" in codes(result)
}

# a path with a '..' segment is not canonical and is refused before any rule matches
test_dot_dot_segment_is_refused if {
	result := acme_support.decision with input as {
		"agent_id": "acme_support",
		"method": "GET",
		"path": "/api/tickets/example/../../admin",
		"host": "yaml2rego.eu.example.com",
	}
	result.decision == "deny"
	"non_canonical_path" in codes(result)
}

# tickets stay in the EU (tests/golden/tenants_and_regions/policy.yaml:22)
test_user_tickets_stay_in_the_eu if {
	result := acme_support.decision with input as {
		"agent_id": "acme_support",
		"method": "GET",
		"path": "/api/tickets/1",
		"host": "app.eu.example.com",
	}
	result.decision == "allow"
}

# an export to the US is refused (tests/golden/tenants_and_regions/policy.yaml:25)
test_user_an_export_to_the_us_is_refused if {
	result := acme_support.decision with input as {
		"agent_id": "acme_support",
		"method": "POST",
		"path": "/api/export/1",
		"host": "api.us.example.com",
	}
	result.decision == "deny"
	"region_not_allowed" in codes(result)
}

# another tenant's call is refused (tests/golden/tenants_and_regions/policy.yaml:29)
test_user_another_tenant_s_call_is_refused if {
	result := acme_support.decision with input as {
		"agent_id": "acme_support",
		"method": "GET",
		"path": "/api/tickets/1",
		"host": "app.eu.example.com",
		"tenant": "globex",
	}
	result.decision == "deny"
	"tenant_mismatch" in codes(result)
}
