# Enforcement checks: parameter conditions, the egress allowlist, DLP (sanitize) and budgets, the checks of
# docs/enforcement.md, added to the decision of decision.rego. Conditions and egress add deny or approval reasons; DLP
# turns an otherwise allowed call into `sanitize` with the fields to redact; the budget is passed on for the guard to
# count. A plain comment, not a METADATA block: this file shares the package of decision.rego, which holds the
# package's one annotation (OPA refuses a second one: "package annotation redeclared").
package agent_boundary

import data.agent_boundary.conditions
import data.agent_boundary.dlp
import data.agent_boundary.egress
import data.agent_boundary.validation

# Conditions and sanitize rules without an endpoint apply to every call, tool calls (which have no path) included.
_enforcement_applies(rule) if _applies(rule)

_enforcement_applies(rule) if {
	rule.pattern == "/**"
	rule.method == "*"
	_tool_call
}

# The call as conditions and DLP see it: the body parsed when it is a string holding a JSON object.
_call_document := object.union(input, {"body": _document}) if {
	_well_formed
	"body" in object.keys(input)
} else := input if _well_formed

_condition_findings := conditions.findings(applicable, _call_document) if {
	_known
	agent_conditions := _agent.conditions
	applicable := [condition | some condition in agent_conditions; _enforcement_applies(condition)]
}

# METADATA
# title: Deny reasons
# description: A parameter condition whose outcome is deny holds for the call (e.g. an amount above the maximum).
# custom:
#   control: CC6.1
deny_reasons contains _reason(finding.code, finding.message, finding.rule, finding.source) if {
	some finding in _condition_findings
	finding.outcome == "deny"
}

# METADATA
# title: Approval reasons
# description: A parameter condition whose outcome is approval_needed holds for the call.
# custom:
#   control: CC8.1
approval_reasons contains _reason(finding.code, finding.message, finding.rule, finding.source) if {
	some finding in _condition_findings
	finding.outcome == "approval_needed"
}

# ---------------------------------------------------------------------------------------------------------------------
# Egress: the agent's allowed_domains plus the global ones (data.boundaries.defaults.allowed_domains, or the tenant's
# copy of them for a call made for a tenant).

_global_domains := object.get(_scope, ["defaults", "allowed_domains"], [])

_egress_domains := array.concat(object.get(_agent, ["egress", "domains"], []), _global_domains) if _known

_egress_rule := {"rule": _agent.egress.rule, "source": _agent.egress.source} if {
	_known
	_agent.egress
} else := {"rule": "defaults.allowed_domains", "source": object.get(_scope, ["defaults", "source"], null)}

# A call names its destination in `host` (the guard and the HTTP adapter fill it from the URL). With no allowed domains
# anywhere there is no egress check at all. With an allowlist, an HTTP call that names no host is refused (below): it
# fails closed rather than open. A pure tool call (no method or path) names no destination and is not checked: the
# tool runs in-process, and what it sends over HTTP goes through the HTTP adapter, which names the host.
_egress_checked if {
	_known
	_names_host
	_egress_configured
}

# is_object first: regorus, unlike OPA, raises an error for object.keys of a string input.
_names_host if {
	is_object(input)
	"host" in object.keys(input)
}

_egress_configured if _agent.egress

_egress_configured if count(_global_domains) > 0

_host_problem := egress.host_problem(input.host, object.get(input, "port", null)) if _egress_checked

_shown_host := validation.printable(input.host) if {
	is_string(input.host)
} else := "(not a string)"

# METADATA
# title: Deny reasons
# description: The destination host is refused outright (IP literal, user name, port mismatch, not a domain name).
# custom:
#   control: CC6.6
deny_reasons contains _reason("egress_denied", message, _egress_rule.rule, _egress_rule.source) if {
	problem := _host_problem
	message := sprintf("host `%s` is refused: %s", [_shown_host, problem])
}

# METADATA
# title: Deny reasons
# description: |
#   An HTTP call that names no destination (no `host`) while the agent may reach only allowed domains: it cannot be
#   shown to stay inside them.
# custom:
#   control: CC6.6
deny_reasons contains _reason("egress_denied", message, _egress_rule.rule, _egress_rule.source) if {
	_known
	_egress_configured
	_http_call
	not _names_host
	message := "the call names no destination host (`host` or `url`), and only allowed domains may be reached"
}

# METADATA
# title: Deny reasons
# description: The destination host matches no allowed domain of the agent or of the defaults.
# custom:
#   control: CC6.6
deny_reasons contains _reason("egress_denied", message, _egress_rule.rule, _egress_rule.source) if {
	_egress_checked
	not _host_problem
	host := egress.canonical(input.host, object.get(input, "port", null))
	not egress.allowed(host, _egress_domains)
	message := sprintf("host `%s` is not an allowed domain", [host])
}

# ---------------------------------------------------------------------------------------------------------------------
# Sanitize: fields to redact before the call leaves (and what to redact in the tool's result).

_sanitize_rules contains rule if {
	_known
	some rule in _agent.sanitize
	_enforcement_applies(rule)
}

_flags contains flag if {
	some rule in _sanitize_rules
	some flag in dlp.flags(rule, _call_document)
}

_flags_by_key[key] := flag if {
	some flag in _flags
	key := concat("|", [flag.field, flag.detector, flag.rule])
}

_redactions := [_flags_by_key[key] | some key in sort(object.keys(_flags_by_key))]

_result_by_key := {rule.rule: redaction |
	some rule in _sanitize_rules
	redaction := dlp.result_redaction(rule)
}

_result_redactions := [_result_by_key[key] | some key in sort(object.keys(_result_by_key))]

# Every flag becomes one redaction.
_sanitizing if count(_flags) > 0

_sanitize_reasons contains _reason("sensitive_data_redacted", message, flag.rule, flag.source) if {
	some flag in _flags
	message := sprintf("`%s` may hold %s and is redacted (%s)", [flag.field, flag.detector, flag.rule])
}

# ---------------------------------------------------------------------------------------------------------------------
# Budget: what this call costs; the guard counts it against the daily budget and the requests per second.

_cost := input.cost_usd if {
	is_number(input.cost_usd)
	input.cost_usd >= 0
} else := _agent.budget.tool_prices[input.tool] if {
	is_string(input.tool)
} else := object.get(_agent.budget, "default_cost_usd", 0)

_budget := object.union(limits, {"cost_usd": _cost}) if {
	_known
	limits := object.remove(_agent.budget, ["tool_prices", "default_cost_usd"])
}

# Keys of the decision that only appear when they say something, so decisions without them keep their shape.
_enforcement_extras["redactions"] := _redactions if _sanitizing

_enforcement_extras["result_redactions"] := _result_redactions if count(_result_by_key) > 0

_enforcement_extras["budget"] := _budget if _outcome != "deny"
