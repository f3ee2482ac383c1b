# METADATA
# title: "Tests of the agent boundary of billing-agent.v2"
# description: Cases derived from each rule of the boundary, then the cases written in its tests section.
# custom:
#   source: "tests/golden/field_types/policy.yaml"
package agents.billing_agent_v2_test

import data.agents.billing_agent_v2

codes(result) := {reason.code | some reason in result.reasons}

# allowed_endpoints[0] (POST /billing/invoices) allows POST /billing/invoices (tests/golden/field_types/policy.yaml:7)
test_allowed_endpoints_0_allows if {
	result := billing_agent_v2.decision with input as {
		"agent_id": "billing-agent.v2",
		"method": "POST",
		"path": "/billing/invoices",
		"body": {
			"customer": {"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "email": "agent@example.com"},
			"amount": 0.01,
			"quantity": 1,
			"currency": "EUR",
			"memo": "x",
			"reference": "INV-1001",
			"paid": true,
		},
	}
	result.decision == "allow"
}

# allowed_endpoints[1] (GET /billing/customers/*) allows GET /billing/customers/example
# (tests/golden/field_types/policy.yaml:9)
test_allowed_endpoints_1_allows if {
	result := billing_agent_v2.decision with input as {
		"agent_id": "billing-agent.v2",
		"method": "GET",
		"path": "/billing/customers/example",
	}
	result.decision == "allow"
}

# GET /yaml2rego-unlisted/resource matches no allowed endpoint: default deny
test_unlisted_endpoint_is_denied if {
	result := billing_agent_v2.decision with input as {
		"agent_id": "billing-agent.v2",
		"method": "GET",
		"path": "/yaml2rego-unlisted/resource",
	}
	result.decision == "deny"
	"endpoint_not_allowed" in codes(result)
}

# input_validation[0].rules[0]: field customer.id must be a valid uuid (tests/golden/field_types/policy.yaml:15)
test_input_validation_0_rules_0_rejects_invalid_customer_id if {
	result := billing_agent_v2.decision with input as {
		"agent_id": "billing-agent.v2",
		"method": "POST",
		"path": "/billing/invoices",
		"body": {
			"customer": {"id": 12345, "email": "agent@example.com"},
			"amount": 0.01,
			"quantity": 1,
			"currency": "EUR",
			"memo": "x",
			"reference": "INV-1001",
			"paid": true,
		},
	}
	result.decision == "deny"
	"invalid_input" in codes(result)
}

# input_validation[0].rules[0]: field customer.id is required (tests/golden/field_types/policy.yaml:15)
test_input_validation_0_rules_0_requires_customer_id if {
	result := billing_agent_v2.decision with input as {
		"agent_id": "billing-agent.v2",
		"method": "POST",
		"path": "/billing/invoices",
		"body": {
			"customer": {"email": "agent@example.com"},
			"amount": 0.01,
			"quantity": 1,
			"currency": "EUR",
			"memo": "x",
			"reference": "INV-1001",
			"paid": true,
		},
	}
	result.decision == "deny"
	"invalid_input" in codes(result)
}

# input_validation[0].rules[1]: field customer.email must be a valid email (tests/golden/field_types/policy.yaml:17)
test_input_validation_0_rules_1_rejects_invalid_customer_email if {
	result := billing_agent_v2.decision with input as {
		"agent_id": "billing-agent.v2",
		"method": "POST",
		"path": "/billing/invoices",
		"body": {
			"customer": {"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "email": 12345},
			"amount": 0.01,
			"quantity": 1,
			"currency": "EUR",
			"memo": "x",
			"reference": "INV-1001",
			"paid": true,
		},
	}
	result.decision == "deny"
	"invalid_input" in codes(result)
}

# input_validation[0].rules[1]: field customer.email is required (tests/golden/field_types/policy.yaml:17)
test_input_validation_0_rules_1_requires_customer_email if {
	result := billing_agent_v2.decision with input as {
		"agent_id": "billing-agent.v2",
		"method": "POST",
		"path": "/billing/invoices",
		"body": {
			"customer": {"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6"},
			"amount": 0.01,
			"quantity": 1,
			"currency": "EUR",
			"memo": "x",
			"reference": "INV-1001",
			"paid": true,
		},
	}
	result.decision == "deny"
	"invalid_input" in codes(result)
}

# input_validation[0].rules[2]: field amount must be a valid number (tests/golden/field_types/policy.yaml:19)
test_input_validation_0_rules_2_rejects_invalid_amount if {
	result := billing_agent_v2.decision with input as {
		"agent_id": "billing-agent.v2",
		"method": "POST",
		"path": "/billing/invoices",
		"body": {
			"customer": {"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "email": "agent@example.com"},
			"amount": "not-a-number",
			"quantity": 1,
			"currency": "EUR",
			"memo": "x",
			"reference": "INV-1001",
			"paid": true,
		},
	}
	result.decision == "deny"
	"invalid_input" in codes(result)
}

# input_validation[0].rules[2]: field amount is required (tests/golden/field_types/policy.yaml:19)
test_input_validation_0_rules_2_requires_amount if {
	result := billing_agent_v2.decision with input as {
		"agent_id": "billing-agent.v2",
		"method": "POST",
		"path": "/billing/invoices",
		"body": {
			"customer": {"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "email": "agent@example.com"},
			"quantity": 1,
			"currency": "EUR",
			"memo": "x",
			"reference": "INV-1001",
			"paid": true,
		},
	}
	result.decision == "deny"
	"invalid_input" in codes(result)
}

# input_validation[0].rules[3]: field quantity must be a valid integer (tests/golden/field_types/policy.yaml:23)
test_input_validation_0_rules_3_rejects_invalid_quantity if {
	result := billing_agent_v2.decision with input as {
		"agent_id": "billing-agent.v2",
		"method": "POST",
		"path": "/billing/invoices",
		"body": {
			"customer": {"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "email": "agent@example.com"},
			"amount": 0.01,
			"quantity": "not-a-integer",
			"currency": "EUR",
			"memo": "x",
			"reference": "INV-1001",
			"paid": true,
		},
	}
	result.decision == "deny"
	"invalid_input" in codes(result)
}

# input_validation[0].rules[3]: field quantity is required (tests/golden/field_types/policy.yaml:23)
test_input_validation_0_rules_3_requires_quantity if {
	result := billing_agent_v2.decision with input as {
		"agent_id": "billing-agent.v2",
		"method": "POST",
		"path": "/billing/invoices",
		"body": {
			"customer": {"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "email": "agent@example.com"},
			"amount": 0.01,
			"currency": "EUR",
			"memo": "x",
			"reference": "INV-1001",
			"paid": true,
		},
	}
	result.decision == "deny"
	"invalid_input" in codes(result)
}

# input_validation[0].rules[4]: field currency must be a valid enum (tests/golden/field_types/policy.yaml:27)
test_input_validation_0_rules_4_rejects_invalid_currency if {
	result := billing_agent_v2.decision with input as {
		"agent_id": "billing-agent.v2",
		"method": "POST",
		"path": "/billing/invoices",
		"body": {
			"customer": {"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "email": "agent@example.com"},
			"amount": 0.01,
			"quantity": 1,
			"currency": "yaml2rego-not-a-listed-value",
			"memo": "x",
			"reference": "INV-1001",
			"paid": true,
		},
	}
	result.decision == "deny"
	"invalid_input" in codes(result)
}

# input_validation[0].rules[4]: field currency is required (tests/golden/field_types/policy.yaml:27)
test_input_validation_0_rules_4_requires_currency if {
	result := billing_agent_v2.decision with input as {
		"agent_id": "billing-agent.v2",
		"method": "POST",
		"path": "/billing/invoices",
		"body": {
			"customer": {"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "email": "agent@example.com"},
			"amount": 0.01,
			"quantity": 1,
			"memo": "x",
			"reference": "INV-1001",
			"paid": true,
		},
	}
	result.decision == "deny"
	"invalid_input" in codes(result)
}

# input_validation[0].rules[5]: field memo must be a valid string (tests/golden/field_types/policy.yaml:30)
test_input_validation_0_rules_5_rejects_invalid_memo if {
	result := billing_agent_v2.decision with input as {
		"agent_id": "billing-agent.v2",
		"method": "POST",
		"path": "/billing/invoices",
		"body": {
			"customer": {"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "email": "agent@example.com"},
			"amount": 0.01,
			"quantity": 1,
			"currency": "EUR",
			"memo": 12345,
			"reference": "INV-1001",
			"paid": true,
		},
	}
	result.decision == "deny"
	"invalid_input" in codes(result)
}

# input_validation[0].rules[6]: field reference must be a valid string (tests/golden/field_types/policy.yaml:34)
test_input_validation_0_rules_6_rejects_invalid_reference if {
	result := billing_agent_v2.decision with input as {
		"agent_id": "billing-agent.v2",
		"method": "POST",
		"path": "/billing/invoices",
		"body": {
			"customer": {"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "email": "agent@example.com"},
			"amount": 0.01,
			"quantity": 1,
			"currency": "EUR",
			"memo": "x",
			"reference": 12345,
			"paid": true,
		},
	}
	result.decision == "deny"
	"invalid_input" in codes(result)
}

# input_validation[0].rules[6]: field reference is required (tests/golden/field_types/policy.yaml:34)
test_input_validation_0_rules_6_requires_reference if {
	result := billing_agent_v2.decision with input as {
		"agent_id": "billing-agent.v2",
		"method": "POST",
		"path": "/billing/invoices",
		"body": {
			"customer": {"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "email": "agent@example.com"},
			"amount": 0.01,
			"quantity": 1,
			"currency": "EUR",
			"memo": "x",
			"paid": true,
		},
	}
	result.decision == "deny"
	"invalid_input" in codes(result)
}

# input_validation[0].rules[7]: field paid must be a valid boolean (tests/golden/field_types/policy.yaml:40)
test_input_validation_0_rules_7_rejects_invalid_paid if {
	result := billing_agent_v2.decision with input as {
		"agent_id": "billing-agent.v2",
		"method": "POST",
		"path": "/billing/invoices",
		"body": {
			"customer": {"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "email": "agent@example.com"},
			"amount": 0.01,
			"quantity": 1,
			"currency": "EUR",
			"memo": "x",
			"reference": "INV-1001",
			"paid": "not-a-boolean",
		},
	}
	result.decision == "deny"
	"invalid_input" in codes(result)
}

# input_validation[0].rules[7]: field paid is required (tests/golden/field_types/policy.yaml:40)
test_input_validation_0_rules_7_requires_paid if {
	result := billing_agent_v2.decision with input as {
		"agent_id": "billing-agent.v2",
		"method": "POST",
		"path": "/billing/invoices",
		"body": {
			"customer": {"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "email": "agent@example.com"},
			"amount": 0.01,
			"quantity": 1,
			"currency": "EUR",
			"memo": "x",
			"reference": "INV-1001",
		},
	}
	result.decision == "deny"
	"invalid_input" in codes(result)
}

# a payload of 65537 bytes is above max_payload_size_kb (65536 bytes) (tests/golden/field_types/policy.yaml:42)
test_max_payload_size_kb_rejects_larger_payload if {
	result := billing_agent_v2.decision with input as {
		"agent_id": "billing-agent.v2",
		"method": "POST",
		"path": "/billing/invoices",
		"payload_size_bytes": 65537,
	}
	result.decision == "deny"
	"payload_too_large" in codes(result)
}

# a payload of exactly 65536 bytes is within max_payload_size_kb (tests/golden/field_types/policy.yaml:42)
test_max_payload_size_kb_accepts_payload_at_the_limit if {
	result := billing_agent_v2.decision with input as {
		"agent_id": "billing-agent.v2",
		"method": "POST",
		"path": "/billing/invoices",
		"payload_size_bytes": 65536,
	}
	not "payload_too_large" in codes(result)
}

# a path with a '..' segment is not canonical and is refused before any rule matches
test_dot_dot_segment_is_refused if {
	result := billing_agent_v2.decision with input as {
		"agent_id": "billing-agent.v2",
		"method": "GET",
		"path": "/billing/invoices/../../admin",
	}
	result.decision == "deny"
	"non_canonical_path" in codes(result)
}
