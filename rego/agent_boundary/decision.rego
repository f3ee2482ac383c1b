# METADATA
# title: Agent boundary decision
# description: |
#   Decides whether one agent call (`{agent_id, method, path, body?, payload_size_bytes?}`) stays inside its
#   boundary. Per-agent facts come from data.boundaries.agents (data.tenants.<tenant>.agents for a call made for a
#   tenant), read with one keyed lookup; the logic is written once.
#   Every check adds reasons to `deny_reasons`; a new check (tool calls, parameter conditions, egress, DLP) is one
#   more `deny_reasons contains …` rule. Outcomes other than allow and deny (approval, sanitising) get their own
#   reason sets and one more branch in `_outcome`.
package agent_boundary

import data.agent_boundary.paths
import data.agent_boundary.tools
import data.agent_boundary.validation

# METADATA
# title: Reason codes and controls
# description: The SOC 2 control each reason code enforces. The only place that maps codes to controls.
reason_controls := {
	"invalid_request": "CC6.1",
	"unknown_agent": "CC6.1",
	"agent_suspended": "CC7.4",
	"non_canonical_path": "CC6.1",
	"endpoint_denied": "CC6.1",
	"endpoint_not_allowed": "CC6.1",
	"invalid_input": "CC6.1",
	"payload_too_large": "CC6.1",
	"unknown_tool": "CC6.1",
	"action_not_allowed": "CC6.3",
	"tool_not_allowed_in_environment": "CC6.1",
	"clearance_denied": "CC6.3",
	"scope_violation": "CC6.3",
	"invalid_arguments": "CC6.1",
	"approval_required": "CC8.1",
	"parameter_denied": "CC6.1",
	"egress_denied": "CC6.6",
	"sensitive_data_redacted": "CC6.7",
	"tenant_mismatch": "CC6.1",
	"region_not_allowed": "CC6.6",
}

# METADATA
# title: Decision
# description: |
#   The decision for `input`: always an object, for any input. Keys: decision ("allow", "deny", "approval_needed"
#   or "sanitize"), allow, reasons (sorted by their JSON text), decision_reason (one line), policy_version,
#   agent_id, mode, rate_limits; and, only when they apply, redactions, result_redactions and budget
#   (enforcement.rego).
# scope: document
# entrypoint: true
decision := object.union(_enforcement_extras, {
	"decision": _outcome,
	"allow": _outcome == "allow",
	"reasons": _sorted_reasons,
	"decision_reason": _decision_reason,
	"policy_version": _policy_version,
	"agent_id": _agent_id,
	"mode": _mode,
	"rate_limits": _rate_limits,
})

# Deny wins over approval, approval over sanitizing. Default deny: a call is allowed (or sanitized) only when an
# allowed_endpoints rule names it or its tool is registered, and no check objects. One chain, so the reason sets are
# counted once per decision.
default _outcome := "deny"

_outcome := "deny" if {
	count(deny_reasons) > 0
} else := "approval_needed" if {
	count(approval_reasons) > 0
} else := "sanitize" if {
	_sanitizing
	_permitted
} else := "allow" if {
	_permitted
}

# A call that is both an HTTP call and a tool call (it names a `tool` and a `method` or `path`) must pass both: an
# allowed endpoint and a registered tool. A `tool` key never lets an HTTP call skip the HTTP checks.
_permitted if {
	_allowed_by
	not _tool_call
}

_permitted if {
	_tool_entry
	not _http_call
}

_permitted if {
	_allowed_by
	_tool_entry
}

# OPA and regorus order sets of objects differently, so reasons are sorted by a string key: code, rule, message.
# (Code and rule never contain "|"; control and source follow from them.) An allowed call has none to sort.
default _sorted_reasons := []

_sorted_reasons := [_reasons_by_key[key] | some key in sort(object.keys(_reasons_by_key))] if _outcome != "allow"

# The reasons shown are those of the outcome: why a call needs approval, or why it is denied.
_shown_reasons := approval_reasons if {
	_outcome == "approval_needed"
} else := _sanitize_reasons if {
	_outcome == "sanitize"
} else := deny_reasons

_reasons_by_key[key] := reason if {
	some reason in _shown_reasons
	key := concat("|", [reason.code, reason.rule, reason.message])
}

default _decision_reason := "call denied by the agent boundary"

# Any outcome but allow says why in the messages of its reasons (a deny without reasons says so generically).
_decision_reason := sprintf("%s allowed by %s (%s %s)", [_call, allowed.rule, allowed.method, allowed.pattern]) if {
	_outcome == "allow"
	allowed := _allowed_by
} else := sprintf("tool `%s` allowed by %s", [validation.printable(input.tool), _tool_entry.rule]) if {
	_outcome == "allow"
	_tool_entry
} else := concat("; ", [r.message | some r in _sorted_reasons]) if {
	count(_sorted_reasons) > 0
}

default _policy_version := null

_policy_version := data.boundaries.policy_version if not _tenant_call

_policy_version := data.tenants[input.tenant].policy_version if _tenant_call

default _agent_id := null

_agent_id := input.agent_id if is_string(input.agent_id)

default _mode := "enforce"

_mode := _agent.mode if is_string(_agent.mode)

default _rate_limits := []

_rate_limits := [limit |
	some entry in _agent.rate_limits
	_applies(entry)
	limit := {
		"rule": entry.rule,
		"source": entry.source,
		"pattern": entry.pattern,
		"requests_per_minute": entry.requests_per_minute,
	}
] if {
	_known
	_path_ok
}

# ---------------------------------------------------------------------------------------------------------------------
# The call, as the checks see it.

# OPA evaluates `not is_string(x.y)` as undefined, not true, when `x.y` is missing, so presence and type are asked
# through helper rules whose negation is well defined in both OPA and regorus.
_request_problems contains "the request must be a JSON object" if not _input_is_object

_request_problems contains sprintf("the request needs `%s` as a string", [key]) if {
	_input_is_object
	some key in _required_keys
	not _string_at(input, key)
}

_input_is_object if is_object(input)

_string_at(document, key) if is_string(document[key])

# A call is a tool call when it names a `tool` (tools.is_tool_call(input), written out: this runs on every call). It
# is an HTTP call when it names no tool, or names a `method` or a `path` beside it; a call may be both, and then
# needs both a method and a path, and passes both the HTTP and the tool checks.
_tool_call if input.tool != null

# One else-chain: the first body that holds settles it, and most calls are plain HTTP calls.
_http_call if {
	not _tool_call
} else if {
	input.method != null
} else if {
	input.path != null
}

default _required_keys := ["agent_id", "method", "path"]

_required_keys := ["agent_id"] if {
	_tool_call
	not _http_call
}

_request_problems contains problem if {
	_tool_call
	some problem in tools.request_problems(input)
}

# An empty method would slip through rules that allow any method ("*").
_request_problems contains "the request's `method` is empty" if input.method == ""

# RFC 9110, section 5.6.2: a method is a token of ASCII tchar. Anything else is refused before it is upper-cased:
# upper("po\u017ft") is "POST" in Go and Rust alike, and " DELETE" or a fullwidth DELETE must not pass for another
# method.
_token := "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"

_request_problems contains "the request's `method` is not an HTTP token (RFC 9110)" if {
	is_string(input.method)
	input.method != ""
	not regex.match(_token, input.method)
}

# The guard sets `tenant` from its own identity (never from a model's arguments) or leaves it out.
_request_problems contains "the request's `tenant` must be a string" if _tenant_problem

_tenant_problem if {
	input.tenant != null
	not is_string(input.tenant)
}

# A declared size is a non-negative integer; the size checked is the larger of it and the body's measured size.
_request_problems contains "the request's `payload_size_bytes` must be a non-negative integer" if _size_problem

_size_problem if {
	size := input.payload_size_bytes
	size != null
	not _valid_size(size)
}

# At most 2^53 - 1, the largest integer JSON exchanges exactly (RFC 7493): beyond it floor() rounds through a float in
# OPA and not in regorus, and the engines would disagree.
_valid_size(size) if {
	is_number(size)
	size >= 0
	size <= 9007199254740991
	floor(size) == size
}

# Most calls are well-formed HTTP calls: one body decides that, and the problems are named only for the others.
_well_formed if {
	is_string(input.agent_id)
	is_string(input.method)
	is_string(input.path)
	regex.match(_token, input.method)
	not _tool_call
	not _size_problem
	not _tenant_problem
}

_well_formed if {
	_tool_call
	count(_request_problems) == 0
}

# A call made for a tenant reads only that tenant's data; any other call reads only data.boundaries. Two rules with
# opposite conditions, never an else: a tenant without data must not fall back to data.boundaries.
_tenant_call if {
	_input_is_object
	is_string(input.tenant)
}

_scope := data.tenants[input.tenant] if {
	_well_formed
	_tenant_call
}

_scope := data.boundaries if {
	_well_formed
	not _tenant_call
}

# The one keyed lookup: decisions cost the same at 10 agents and at 10,000. Written out for each scope rather than
# through _scope: this runs on every call, and most calls are made for no tenant.
_agent := data.boundaries.agents[input.agent_id] if {
	_well_formed
	not _tenant_call
}

_agent := data.tenants[input.tenant].agents[input.agent_id] if {
	_well_formed
	_tenant_call
}

_known if is_object(_agent)

# Only an HTTP call has a method and a path to look at: a pure tool call may carry `"method": null` or `"path": null`
# (null counts as absent), and a builtin given null is an error in regorus where OPA makes it undefined.
_method := upper(input.method) if {
	_well_formed
	_http_call
}

# Computed once per decision and shared by every check: string work is the most expensive part of a call.
_query_free := paths.strip_query(input.path) if {
	_well_formed
	_http_call
}

# The whole target is checked, query string included (its characters only: its content is never matched).
# paths.non_canonical_reason(input.path) for a string path, written out: the one regex settles most calls.
_path_problem := paths.problem(input.path) if {
	_well_formed
	_http_call
	not regex.match(paths.canonical_target, input.path)
}

_path_ok if {
	_well_formed
	_http_call
	not _path_problem
}

# The match target (paths.match_target) with one slash appended: what endpoint rules are matched against.
_target_slash := concat("", [paths.query_free_target(_query_free), "/"]) if _path_ok

# Messages show the path without its query string, which may carry tokens; the checks ignore it too. A canonical path
# has no control characters to replace.
_shown_path := _query_free if {
	_path_ok
} else := validation.printable(_query_free)

_call := sprintf("%s %s", [_method, _shown_path])

# paths.rule_matches for this call, written out: it runs for every endpoint rule of every call, and each call of a
# function costs about as much as one more check, so most rules are ruled out before any call.
_applies(rule) if {
	rule.method in {"*", _method}
	startswith(_target_slash, rule.prefix)
	paths.rest_matches(rule, _target_slash)
}

# The first allowed_endpoints rule (by index) that names this call.
_allowed_by := candidates[indices[0]] if {
	_known
	candidates := _agent.allowed_endpoints
	indices := [i | some i, candidate in candidates; _applies(candidate)]
	count(indices) > 0
}

_document := validation.document(object.get(input, "body", null)) if _well_formed

# The size checked against max_payload_size_kb: the larger of the declared size and the measured size of the body, so
# a declared size below the body's real size changes nothing (docs/dsl.md, "Payload size").
_payload_size := max({_declared_size, _measured_size})

default _declared_size := 0

_declared_size := input.payload_size_bytes if is_number(input.payload_size_bytes)

# A string body: its UTF-8 bytes. Any other body: the UTF-8 bytes of its JSON text, measured so OPA and regorus agree.
default _measured_size := 0

_measured_size := _utf8_length(input.body) if {
	is_string(input.body)
} else := _utf8_length(_json_text(body)) if {
	body := input.body
	body != null
}

# hex.encode writes two characters per byte, so this counts UTF-8 bytes in both OPA and regorus.
_utf8_length(text) := count(hex.encode(text)) / 2

# json.marshal, minus what differs between the engines. Go escapes `<`, `>`, `&`, U+2028 and U+2029 (regorus writes
# them as themselves) and keeps a number's original spelling (regorus writes 1.0 as 1 and 1e300 as 1e+300). So numbers
# are dropped (strings kept whole), each escaped backslash `\\` becomes `!!` (same length: every backslash left then
# starts an escape), and the escapes Go adds are written back as their characters.
_json_text(body) := text if {
	without_numbers := regex.replace(json.marshal(body), `("(?:[^"\\]|\\.)*")|-?[0-9][0-9.eE+-]*`, "${1}")
	plain := replace(without_numbers, `\\`, "!!")
	ascii_escapes := replace(replace(replace(plain, `\u003c`, "<"), `\u003e`, ">"), `\u0026`, "&")
	text := replace(replace(ascii_escapes, `\u2028`, "\u2028"), `\u2029`, "\u2029")
}

_reason(code, message, rule, source) := {
	"code": code,
	"control": reason_controls[code],
	"message": message,
	"rule": rule,
	"source": source,
}

# ---------------------------------------------------------------------------------------------------------------------
# Checks. Each adds reasons to deny_reasons and never depends on another check's outcome.

# METADATA
# title: Deny reasons
# description: A malformed request (not an object, or no string agent_id, method or path) is refused.
# custom:
#   control: CC6.1
deny_reasons contains _reason("invalid_request", problem, "request", "input") if {
	not _well_formed
	some problem in _request_problems
}

# METADATA
# title: Deny reasons
# description: An agent without a boundary may do nothing.
# custom:
#   control: CC6.1
deny_reasons contains _reason("unknown_agent", message, "agent_id", "data.boundaries.agents") if {
	_well_formed
	not _known
	not _agent_elsewhere
	message := sprintf("no boundary is defined for agent `%s`", [validation.printable(input.agent_id)])
}

# METADATA
# title: Deny reasons
# description: |
#   The call names an agent of another tenant, a tenant's agent without being made for a tenant, or an agent of no
#   tenant while made for one. The message never names the agent's own tenant.
# custom:
#   control: CC6.1
deny_reasons contains _reason("tenant_mismatch", message, "tenant", "input.tenant") if {
	_well_formed
	not _known
	_agent_elsewhere
	message := sprintf("agent `%s` does not belong to %s", [validation.printable(input.agent_id), _tenant_shown])
}

# Looked for only when the call's own scope has no such agent; a scan of the tenants, not of their agents.
_agent_elsewhere if {
	_tenant_call
	is_object(data.boundaries.agents[input.agent_id])
}

_agent_elsewhere if {
	_well_formed # regorus, unlike OPA, raises an error for object.get of a string input
	some tenant, scope in data.tenants
	tenant != object.get(input, "tenant", null)
	is_object(scope.agents[input.agent_id])
}

_tenant_shown := sprintf("tenant `%s`", [validation.printable(input.tenant)]) if _tenant_call

else := "a call made for no tenant"

# METADATA
# title: Deny reasons
# description: The kill switch; data.agent_boundary_runtime.suspended is written at run time, not compiled.
# custom:
#   control: CC7.4
deny_reasons contains _reason("agent_suspended", message, "kill_switch", "data.agent_boundary_runtime.suspended") if {
	_well_formed
	suspension := data.agent_boundary_runtime.suspended[input.agent_id]
	message := _suspension_message(input.agent_id, suspension)
}

_suspension_message(agent_id, suspension) := message if {
	is_string(suspension.reason)
	message := sprintf("agent `%s` is suspended: %s", [validation.printable(agent_id), validation.printable(suspension.reason)])
} else := sprintf("agent `%s` is suspended", [validation.printable(agent_id)])

# METADATA
# title: Deny reasons
# description: A path the policy cannot match safely (`..`, `//`, `%2f`, …) is refused before any endpoint rule.
# custom:
#   control: CC6.1
deny_reasons contains _reason("non_canonical_path", message, "canonical_path", "input.path") if {
	problem := _path_problem
	message := sprintf("path `%s` is refused: %s", [_shown_path, problem])
}

# The denied_endpoints rules that name the call, matched once for both checks that need them.
_denied_by contains rule if {
	_known
	some rule in _agent.denied_endpoints
	_applies(rule)
}

# METADATA
# title: Deny reasons
# description: A denied_endpoints rule names the call; deny rules win over allow rules.
# custom:
#   control: CC6.1
deny_reasons contains _reason("endpoint_denied", message, rule.rule, rule.source) if {
	some rule in _denied_by
	message := sprintf("%s is denied by %s (%s %s)", [_call, rule.rule, rule.method, rule.pattern])
}

# METADATA
# title: Deny reasons
# description: |
#   Default deny; no allowed_endpoints rule names the call. An explicit denial says why already, so "no allowed
#   endpoint" would only repeat it.
# custom:
#   control: CC6.1
deny_reasons contains _reason("endpoint_not_allowed", message, "allowed_endpoints", source) if {
	_known
	_path_ok
	not _allowed_by
	count(_denied_by) == 0
	message := sprintf("%s matches no allowed endpoint", [_call])
	source := object.get(_agent, "source", "")
}

# METADATA
# title: Deny reasons
# description: Request body fields break an input_validation rule of this endpoint; one reason per field.
# custom:
#   control: CC6.1
deny_reasons contains _reason(finding.code, finding.message, finding.rule, finding.source) if {
	_known
	some entry in _agent.input_validation
	_applies(entry)
	some finding in validation.violations(entry.fields, _document)
}

# METADATA
# title: Deny reasons
# description: The payload is larger than the boundary's max_payload_size_kb.
# custom:
#   control: CC6.1
deny_reasons contains _reason("payload_too_large", message, limit.rule, limit.source) if {
	_known
	limit := _agent.max_payload
	_payload_size > limit.bytes
	sizes := [validation.number_text(_payload_size), validation.number_text(limit.bytes)]
	message := sprintf("payload of %s bytes exceeds the limit of %s bytes", sizes)
}

# METADATA
# title: Deny reasons
# description: |
#   A tool call breaks the agent's tool registry or execution context: an unknown tool, an action, environment,
#   clearance or scope the boundary does not grant, or arguments that break their rules.
# custom:
#   control: CC6.1, CC6.3
deny_reasons contains _reason(finding.code, finding.message, finding.rule, finding.source) if {
	_known
	_tool_call
	some finding in tools.deny_findings(_agent, input)
}

# METADATA
# title: Approval reasons
# description: |
#   Why a tool call needs a human's approval before it runs (the tool requires it, or its target environment does
#   for the call's action). A call with approval reasons and no deny reasons gets `approval_needed`.
# custom:
#   control: CC8.1
approval_reasons contains _reason(finding.code, finding.message, finding.rule, finding.source) if {
	_known
	_tool_call
	_well_formed
	some finding in tools.approval_findings(_agent, input)
}

_tool_entry := tools.tool(_agent, input) if {
	_known
	_tool_call
}
