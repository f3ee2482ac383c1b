# METADATA
# title: "Agent boundary of billing-agent.v2"
# description: "Creates invoices and reads customers for the billing team."
# custom:
#   agent_id: "billing-agent.v2"
#   source: "tests/golden/field_types/policy.yaml:2"
#   mode: "enforce"
#   owner: "billing-platform@example.com"
#   controls: ["CC6.1", "CC7.2", "CC8.1"]
package agents.billing_agent_v2

# The facts of this boundary, as every decision reads them: one keyed lookup in data.boundaries.agents.
# allowed_endpoints:
#   allowed_endpoints[0]: POST /billing/invoices  (tests/golden/field_types/policy.yaml:7)
#   allowed_endpoints[1]: GET /billing/customers/*  (tests/golden/field_types/policy.yaml:9)
# input_validation:
#   input_validation[0].rules[0]: POST /billing/invoices field customer.id is uuid
#   input_validation[0].rules[1]: POST /billing/invoices field customer.email is email
#   input_validation[0].rules[2]: POST /billing/invoices field amount is number
#   input_validation[0].rules[3]: POST /billing/invoices field quantity is integer
#   input_validation[0].rules[4]: POST /billing/invoices field currency is enum
#   input_validation[0].rules[5]: POST /billing/invoices field memo is string (optional)
#   input_validation[0].rules[6]: POST /billing/invoices field reference is string
#   input_validation[0].rules[7]: POST /billing/invoices field paid is boolean
# max_payload_size_kb: 64 KiB

# METADATA
# title: "Boundary data of billing-agent.v2"
# description: The compiled facts behind every decision for this agent.
boundary := data.boundaries.agents["billing-agent.v2"]

# METADATA
# title: "Decision for billing-agent.v2"
# description: "The shared decision (data.agent_boundary.decision) for a call made by billing-agent.v2."
# entrypoint: true
decision := result if {
	result := data.agent_boundary.decision with input.agent_id as "billing-agent.v2"
}
