package agent_boundary.conditions_test

import data.agent_boundary.conditions

_condition(field, op, value, outcome) := {
	"rule": "conditions[0]",
	"source": "examples/finance_agent.yaml:12",
	"field": field,
	"path": split(field, "."),
	"op": op,
	"value": value,
	"outcome": outcome,
}

_holds(field, op, value, call) if conditions.holds(_condition(field, op, value, "deny"), call)

_amount(value) := {"body": {"amount": value}}

test_gt_holds_only_above_the_value if {
	_holds("body.amount", "gt", 5000, _amount(5000.5))
	not _holds("body.amount", "gt", 5000, _amount(5000))
}

test_ordering_needs_numbers_on_both_sides if {
	not _holds("body.amount", "gt", 5000, _amount("9999"))
	not _holds("body.amount", "lt", 5000, {"body": {}})
	not _holds("body.amount", "lt", "5000", _amount(1))
}

test_le_ge_lt_include_or_exclude_the_bound if {
	_holds("body.amount", "le", 10, _amount(10))
	_holds("body.amount", "ge", 10, _amount(10))
	not _holds("body.amount", "lt", 10, _amount(10))
	_holds("body.amount", "lt", 10, _amount(9))
}

test_eq_is_json_equality if {
	_holds("body.amount", "eq", 1, _amount(1.0))
	not _holds("body.amount", "eq", 1, _amount("1"))
	not _holds("body.amount", "eq", true, _amount(1))
}

test_ne_holds_for_a_missing_field if {
	_holds("context.purpose", "ne", "care", {"context": {"purpose": "research"}})
	_holds("context.purpose", "ne", "care", {})
	not _holds("context.purpose", "ne", "care", {"context": {"purpose": "care"}})
}

test_in_and_not_in if {
	_holds("body.currency", "in", ["EUR", "USD"], {"body": {"currency": "USD"}})
	not _holds("body.currency", "in", ["EUR", "USD"], {"body": {}})
	_holds("body.currency", "not_in", ["EUR", "USD"], {"body": {"currency": "BTC"}})
	_holds("body.currency", "not_in", ["EUR", "USD"], {"body": {}})
}

test_exists_and_missing if {
	_holds("body.export", "exists", null, {"body": {"export": false}})
	not _holds("body.export", "exists", null, {"body": {}})
	_holds("body.export", "missing", null, {"body": {}})
}

test_a_null_value_is_present if {
	_holds("body.export", "exists", null, {"body": {"export": null}})
}

test_findings_carry_code_outcome_and_spelled_out_message if {
	approval := _condition("body.amount", "gt", 5000, "approval_needed")
	deny := object.union(_condition("body.amount", "gt", 100000, "deny"), {"rule": "conditions[1]"})
	found := conditions.findings([approval, deny], _amount(7500))
	found == {{
		"code": "approval_required",
		"outcome": "approval_needed",
		"message": "`body.amount` is above 5000 (conditions[0])",
		"rule": "conditions[0]",
		"source": "examples/finance_agent.yaml:12",
	}}
}

test_custom_message_and_list_values if {
	condition := object.union(_condition("body.currency", "not_in", ["EUR"], "deny"), {"message": "EUR only"})
	[finding] := [f | some f in conditions.findings([condition], {"body": {"currency": "USD"}})]
	finding.message == "EUR only (conditions[0])"
	finding.code == "parameter_denied"
	plain := _condition("body.currency", "not_in", ["EUR", 1], "deny")
	[other] := [f | some f in conditions.findings([plain], {})]
	other.message == "`body.currency` is not one of [\"EUR\", 1] (conditions[0])"
}

test_presence_messages if {
	exists := _condition("body.export", "exists", null, "deny")
	[present] := [f.message | some f in conditions.findings([exists], {"body": {"export": true}})]
	present == "`body.export` is present (conditions[0])"
	missing := _condition("body.export", "missing", null, "deny")
	[absent] := [f.message | some f in conditions.findings([missing], {})]
	absent == "`body.export` is missing (conditions[0])"
}
