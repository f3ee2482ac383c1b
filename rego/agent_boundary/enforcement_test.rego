package agent_boundary_test

import data.agent_boundary

_fin_matcher(rule, line, pattern, matcher) := object.union(matcher, {
	"rule": rule,
	"source": sprintf("examples/finance_agent.yaml:%d", [line]),
	"method": "*",
	"pattern": pattern,
})

_fin_payments := {"prefix": "/payments/", "match": "subtree", "regex": `^/payments(?:/[^/]+)*$`}

_fin_everywhere := {"prefix": "/", "match": "subtree", "regex": `^(?:/[^/]+)*$`}

_fin_condition(rule, line, pattern, matcher, op, value, outcome) := object.union(
	_fin_matcher(rule, line, pattern, matcher),
	{"field": "body.amount", "path": ["body", "amount"], "op": op, "value": value, "outcome": outcome},
)

# data.boundaries.agents[_] as the compiler writes it for a finance agent with every enforcement section.
_fin := {
	"agent_id": "fin",
	"mode": "enforce",
	"source": "examples/finance_agent.yaml",
	"allowed_endpoints": [object.union(
		_fin_matcher("allowed_endpoints[0]", 5, "/payments/*", _fin_payments),
		{"method": "POST"},
	)],
	"denied_endpoints": [],
	"input_validation": [],
	"rate_limits": [],
	"conditions": [
		_fin_condition("conditions[0]", 7, "/payments/*", _fin_payments, "gt", 5000, "approval_needed"),
		object.union(
			_fin_condition("conditions[1]", 8, "/**", _fin_everywhere, "gt", 50000, "deny"),
			{"message": "above the hard maximum"},
		),
	],
	"egress": {"rule": "allowed_domains", "source": "examples/finance_agent.yaml:9", "domains": ["*.bank.example"]},
	"budget": {
		"rule": "budget",
		"source": "examples/finance_agent.yaml:10",
		"daily_usd": 20,
		"requests_per_second": 5,
		"tool_prices": {"gpt": 0.5},
		"default_cost_usd": 0.01,
	},
	"sanitize": [object.union(
		_fin_matcher("sanitize[0]", 12, "/**", _fin_everywhere),
		{
			"detector": "email",
			"flag_regex": `[a-z]+@[a-z]+\.[a-z]+`,
			"fields": [["body"]],
			"apply_to": ["request", "result"],
		},
	)],
}

_fin_data := {"policy_version": "sha256:test", "agents": {"fin": _fin}}

_fin_decide(call) := decision if {
	request := object.union({"agent_id": "fin", "method": "POST", "path": "/payments/v1", "host": "eu.bank.example"}, call)
	decision := agent_boundary.decision with input as request with data.boundaries as _fin_data
}

test_enforcement_small_amount_is_allowed_with_its_budget if {
	d := _fin_decide({"body": {"amount": 10}})
	d.decision == "allow"
	d.budget == {
		"rule": "budget",
		"source": "examples/finance_agent.yaml:10",
		"daily_usd": 20,
		"requests_per_second": 5,
		"cost_usd": 0.01,
	}
	not d.redactions
}

test_enforcement_amount_above_threshold_needs_approval if {
	d := _fin_decide({"body": {"amount": 7500}})
	d.decision == "approval_needed"
	d.allow == false
	[reason] := d.reasons
	reason.code == "approval_required"
	reason.control == "CC8.1"
	reason.message == "`body.amount` is above 5000 (conditions[0])"
}

test_enforcement_hard_maximum_denies_and_wins_over_approval if {
	d := _fin_decide({"body": "{\"amount\": 60000}"})
	d.decision == "deny"
	[reason] := d.reasons
	reason.code == "parameter_denied"
	reason.message == "above the hard maximum (conditions[1])"
	not d.budget
}

test_enforcement_egress_allowlist if {
	_fin_decide({"host": "eu.bank.example"}).decision == "allow"
	d := _fin_decide({"host": "evil.example"})
	d.decision == "deny"
	[reason] := d.reasons
	reason.code == "egress_denied"
	reason.control == "CC6.6"
	reason.message == "host `evil.example` is not an allowed domain"
	reason.rule == "allowed_domains"
}

# With an allowlist, an HTTP call that names no host fails closed; a pure tool call names no destination.
test_enforcement_call_without_host_is_refused if {
	request := {"agent_id": "fin", "method": "POST", "path": "/payments/v1", "body": {"amount": 10}}
	d := agent_boundary.decision with input as request with data.boundaries as _fin_data
	d.decision == "deny"
	[reason] := d.reasons
	reason.code == "egress_denied"
	reason.rule == "allowed_domains"
	reason.message == "the call names no destination host (`host` or `url`), and only allowed domains may be reached"
	tool_call := {"agent_id": "fin", "tool": "gpt"}
	t := agent_boundary.decision with input as tool_call with data.boundaries as _fin_data
	not "egress_denied" in {r.code | some r in t.reasons}
	both := object.union(tool_call, {"method": "GET", "path": "/payments/v1"})
	b := agent_boundary.decision with input as both with data.boundaries as _fin_data
	"egress_denied" in {r.code | some r in b.reasons}
}

test_enforcement_refused_hosts if {
	d := _fin_decide({"host": "user@eu.bank.example"})
	d.reasons[0].message == "host `user@eu.bank.example` is refused: a user name in the host is refused"
	_fin_decide({"host": 7}).reasons[0].message == "host `(not a string)` is refused: the host is empty"
}

test_enforcement_global_domains_apply_to_agents_without_their_own if {
	plain := object.remove(_fin, ["egress"])
	defaults := {"allowed_domains": ["api.shared"], "source": "defaults.yaml:2"}
	boundaries := {"agents": {"fin": plain}, "defaults": defaults}
	call := {"agent_id": "fin", "method": "POST", "path": "/payments/v1", "host": "other.example"}
	d := agent_boundary.decision with input as call with data.boundaries as boundaries
	d.reasons[0].rule == "defaults.allowed_domains"
	d.reasons[0].source == "defaults.yaml:2"
	shared := object.union(call, {"host": "api.shared"})
	ok := agent_boundary.decision with input as shared with data.boundaries as boundaries
	ok.decision == "allow"
}

test_enforcement_no_allowlist_no_egress_check if {
	plain := object.remove(_fin, ["egress"])
	call := {"agent_id": "fin", "method": "POST", "path": "/payments/v1", "host": "10.0.0.1"}
	d := agent_boundary.decision with input as call with data.boundaries as {"agents": {"fin": plain}}
	d.decision == "allow"
}

test_enforcement_sanitize_names_fields_not_values if {
	d := _fin_decide({"body": {"note": "mail bob@example.com", "amount": 1}})
	d.decision == "sanitize"
	d.allow == false
	d.redactions == [{
		"field": "body.note",
		"path": ["body", "note"],
		"detector": "email",
		"rule": "sanitize[0]",
		"source": "examples/finance_agent.yaml:12",
	}]
	d.result_redactions == [{"detector": "email", "rule": "sanitize[0]", "source": "examples/finance_agent.yaml:12"}]
	[reason] := d.reasons
	reason.code == "sensitive_data_redacted"
	reason.control == "CC6.7"
	d.decision_reason == "`body.note` may hold email and is redacted (sanitize[0])"
	not contains(json.marshal(d), "bob@")
}

test_enforcement_costs_come_from_the_call_then_tool_prices if {
	_fin_decide({"cost_usd": 0.25}).budget.cost_usd == 0.25
	_fin_decide({"cost_usd": -1}).budget.cost_usd == 0.01
	tool_call := {"agent_id": "fin", "tool": "gpt", "cost_usd": "1"}
	agent_boundary._cost == 0.5 with input as tool_call with data.boundaries as _fin_data
}

test_enforcement_conditions_without_endpoint_apply_to_tool_calls if {
	every_call := {"pattern": "/**", "method": "*"}
	agent_boundary._enforcement_applies(every_call) with input as {"agent_id": "fin", "tool": "pay"}
		with data.boundaries as _fin_data
	not agent_boundary._enforcement_applies({"pattern": "/x", "method": "*"}) with input as {"agent_id": "fin"}
		with data.boundaries as _fin_data
}
