# METADATA
# title: Parameter conditions
# description: |
#   Conditions on fields of a call (`{rule, source, field, path, op, value, outcome, message?}`, as written by the
#   compiler under data.boundaries.agents[_].conditions). `findings` says which conditions hold for a call; the
#   decision turns each into a denial (`parameter_denied`) or an approval reason (`approval_required`). The caller
#   adds the SOC 2 control, so the code-to-control map stays in one place (agent_boundary.reason_controls).
package agent_boundary.conditions

import data.agent_boundary.validation

_codes := {"deny": "parameter_denied", "approval_needed": "approval_required"}

_ordering := {"lt", "le", "gt", "ge"}

# METADATA
# title: Condition findings
# description: |
#   One finding `{code, outcome, message, rule, source}` per condition that holds for `call` (an object whose body,
#   if any, is already a parsed document). An empty set when none holds.
findings(conditions, call) := {finding |
	some condition in conditions
	holds(condition, call)
	finding := {
		"code": _codes[condition.outcome],
		"outcome": condition.outcome,
		"message": _message(condition, call),
		"rule": condition.rule,
		"source": condition.source,
	}
}

# METADATA
# title: Condition holds
# description: |
#   eq/ne: JSON equality (a missing field is not equal to anything); lt/le/gt/ge: numbers only (a missing or
#   non-numeric field never holds); in/not_in: membership in the condition's list; exists/missing: presence.
holds(condition, call) if {
	condition.op == "exists"
	_present(call, condition.path)
}

holds(condition, call) if {
	condition.op == "missing"
	not _present(call, condition.path)
}

holds(condition, call) if {
	condition.op == "eq"
	_equal(condition, call)
}

holds(condition, call) if {
	condition.op == "ne"
	not _equal(condition, call)
}

holds(condition, call) if {
	condition.op in _ordering
	value := object.get(call, condition.path, null)
	is_number(value)
	is_number(condition.value)
	_compare(condition.op, value, condition.value)
}

holds(condition, call) if {
	condition.op == "in"
	_member(condition, call)
}

holds(condition, call) if {
	condition.op == "not_in"
	not _member(condition, call)
}

# As in validation: present when two different defaults give the same answer, so no sentinel can be forged.
_present(doc, path) if object.get(doc, path, false) == object.get(doc, path, true)

_equal(condition, call) if {
	_present(call, condition.path)
	object.get(call, condition.path, null) == condition.value
}

_member(condition, call) if {
	_present(call, condition.path)
	object.get(call, condition.path, null) in condition.value
}

_compare("lt", a, b) if a < b

_compare("le", a, b) if a <= b

_compare("gt", a, b) if a > b

_compare("ge", a, b) if a >= b

_words := {
	"eq": "is",
	"ne": "is not",
	"lt": "is below",
	"le": "is at most",
	"gt": "is above",
	"ge": "is at least",
	"in": "is one of",
	"not_in": "is not one of",
}

_message(condition, _) := sprintf("%s (%s)", [condition.message, condition.rule]) if {
	is_string(condition.message)
} else := sprintf("`%s` is present (%s)", [condition.field, condition.rule]) if {
	condition.op == "exists"
} else := sprintf("`%s` is missing (%s)", [condition.field, condition.rule]) if {
	condition.op == "missing"
} else := sprintf("`%s` %s %s (%s)", [condition.field, _words[condition.op], _show(condition.value), condition.rule])

# Condition values come from the policy, not the call, so showing them echoes nothing the agent sent.
# (Rego forbids recursion, so a list shows its items with the scalar form.)
_show(value) := concat("", ["[", concat(", ", [_show_scalar(item) | some item in value]), "]"]) if {
	is_array(value)
} else := _show_scalar(value)

_show_scalar(value) := concat("", [`"`, value, `"`]) if {
	is_string(value)
} else := validation.number_text(value) if {
	is_number(value)
} else := sprintf("%v", [value])
