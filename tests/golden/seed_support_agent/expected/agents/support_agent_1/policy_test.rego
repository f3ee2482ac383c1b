# METADATA
# title: "Tests of the agent boundary of support_agent_1"
# description: Cases derived from each rule of the boundary, then the cases written in its tests section.
# custom:
#   source: "tests/golden/seed_support_agent/policy.yaml"
package agents.support_agent_1_test

import data.agents.support_agent_1

codes(result) := {reason.code | some reason in result.reasons}

# allowed_endpoints[0] (GET /api/customer/v1/*) allows GET /api/customer/v1/example
# (tests/golden/seed_support_agent/policy.yaml:5)
test_allowed_endpoints_0_allows if {
	result := support_agent_1.decision with input as {
		"agent_id": "support_agent_1",
		"method": "GET",
		"path": "/api/customer/v1/example",
	}
	result.decision == "allow"
}

# allowed_endpoints[1] (POST /api/ticket/v1/) allows POST /api/ticket/v1
# (tests/golden/seed_support_agent/policy.yaml:7)
test_allowed_endpoints_1_allows if {
	result := support_agent_1.decision with input as {
		"agent_id": "support_agent_1",
		"method": "POST",
		"path": "/api/ticket/v1",
		"body": {"customer_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "priority": "low"},
	}
	result.decision == "allow"
}

# denied_endpoints[0] (* /api/admin/*) denies GET /api/admin/example (tests/golden/seed_support_agent/policy.yaml:10)
test_denied_endpoints_0_denies if {
	result := support_agent_1.decision with input as {
		"agent_id": "support_agent_1",
		"method": "GET",
		"path": "/api/admin/example",
	}
	result.decision == "deny"
	"endpoint_denied" in codes(result)
}

# denied_endpoints[1] (DELETE /api/*) denies DELETE /api/example (tests/golden/seed_support_agent/policy.yaml:12)
test_denied_endpoints_1_denies if {
	result := support_agent_1.decision with input as {
		"agent_id": "support_agent_1",
		"method": "DELETE",
		"path": "/api/example",
	}
	result.decision == "deny"
	"endpoint_denied" in codes(result)
}

# GET /yaml2rego-unlisted/resource matches no allowed endpoint: default deny
test_unlisted_endpoint_is_denied if {
	result := support_agent_1.decision with input as {
		"agent_id": "support_agent_1",
		"method": "GET",
		"path": "/yaml2rego-unlisted/resource",
	}
	result.decision == "deny"
	"endpoint_not_allowed" in codes(result)
}

# input_validation[0].rules[0]: field customer_id must be a valid uuid
# (tests/golden/seed_support_agent/policy.yaml:17)
test_input_validation_0_rules_0_rejects_invalid_customer_id if {
	result := support_agent_1.decision with input as {
		"agent_id": "support_agent_1",
		"method": "POST",
		"path": "/api/ticket/v1",
		"body": {"customer_id": 12345, "priority": "low"},
	}
	result.decision == "deny"
	"invalid_input" in codes(result)
}

# input_validation[0].rules[0]: field customer_id is required (tests/golden/seed_support_agent/policy.yaml:17)
test_input_validation_0_rules_0_requires_customer_id if {
	result := support_agent_1.decision with input as {
		"agent_id": "support_agent_1",
		"method": "POST",
		"path": "/api/ticket/v1",
		"body": {"priority": "low"},
	}
	result.decision == "deny"
	"invalid_input" in codes(result)
}

# input_validation[0].rules[1]: field priority must be a valid enum (tests/golden/seed_support_agent/policy.yaml:19)
test_input_validation_0_rules_1_rejects_invalid_priority if {
	result := support_agent_1.decision with input as {
		"agent_id": "support_agent_1",
		"method": "POST",
		"path": "/api/ticket/v1",
		"body": {"customer_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "priority": "yaml2rego-not-a-listed-value"},
	}
	result.decision == "deny"
	"invalid_input" in codes(result)
}

# input_validation[0].rules[1]: field priority is required (tests/golden/seed_support_agent/policy.yaml:19)
test_input_validation_0_rules_1_requires_priority if {
	result := support_agent_1.decision with input as {
		"agent_id": "support_agent_1",
		"method": "POST",
		"path": "/api/ticket/v1",
		"body": {"customer_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6"},
	}
	result.decision == "deny"
	"invalid_input" in codes(result)
}

# a payload of 1048577 bytes is above max_payload_size_kb (1048576 bytes)
# (tests/golden/seed_support_agent/policy.yaml:25)
test_max_payload_size_kb_rejects_larger_payload if {
	result := support_agent_1.decision with input as {
		"agent_id": "support_agent_1",
		"method": "POST",
		"path": "/api/customer/v1/example",
		"payload_size_bytes": 1048577,
	}
	result.decision == "deny"
	"payload_too_large" in codes(result)
}

# a payload of exactly 1048576 bytes is within max_payload_size_kb (tests/golden/seed_support_agent/policy.yaml:25)
test_max_payload_size_kb_accepts_payload_at_the_limit if {
	result := support_agent_1.decision with input as {
		"agent_id": "support_agent_1",
		"method": "POST",
		"path": "/api/customer/v1/example",
		"payload_size_bytes": 1048576,
	}
	not "payload_too_large" in codes(result)
}

# a path with a '..' segment is not canonical and is refused before any rule matches
test_dot_dot_segment_is_refused if {
	result := support_agent_1.decision with input as {
		"agent_id": "support_agent_1",
		"method": "GET",
		"path": "/api/customer/v1/example/../../admin",
	}
	result.decision == "deny"
	"non_canonical_path" in codes(result)
}
