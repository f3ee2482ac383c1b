package agent_boundary.envoy_test

import data.agent_boundary.envoy

_customer := {
	"rule": "allowed_endpoints[0]", "source": "envoy.yaml:4", "method": "GET", "pattern": "/api/customer/v1/*",
	"prefix": "/api/customer/v1/", "match": "subtree", "regex": `^/api/customer/v1(?:/[^/]+)*$`,
}

_admin := {
	"rule": "denied_endpoints[0]", "source": "envoy.yaml:7", "method": "*", "pattern": "/api/admin/*",
	"prefix": "/api/admin/", "match": "subtree", "regex": `^/api/admin(?:/[^/]+)*$`,
}

_agent(agent_id, mode) := {
	"agent_id": agent_id,
	"mode": mode,
	"source": "envoy.yaml",
	"allowed_endpoints": [_customer],
	"denied_endpoints": [_admin],
	"input_validation": [],
	"rate_limits": [],
}

# Redacts e-mail addresses in the body of POST /notes/ and card numbers in the results of GET /cards/*.
_notes := {
	"agent_id": "notes_agent", "mode": "enforce", "source": "notes.yaml",
	"allowed_endpoints": [
		{
			"rule": "allowed_endpoints[0]", "source": "notes.yaml:4", "method": "POST", "pattern": "/notes/",
			"prefix": "/notes/", "match": "exact", "regex": `^/notes$`,
		},
		{
			"rule": "allowed_endpoints[1]", "source": "notes.yaml:6", "method": "GET", "pattern": "/cards/*",
			"prefix": "/cards/", "match": "subtree", "regex": `^/cards(?:/[^/]+)*$`,
		},
	],
	"denied_endpoints": [], "input_validation": [], "rate_limits": [],
	"sanitize": [
		{
			"rule": "sanitize[0]", "source": "notes.yaml:9", "method": "*", "pattern": "/notes/", "prefix": "/notes/",
			"match": "exact", "regex": `^/notes$`, "detector": "email", "fields": [["body"]], "apply_to": ["request"],
			"flag_regex": `[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`,
		},
		{
			"rule": "sanitize[1]", "source": "notes.yaml:11", "method": "*", "pattern": "/cards/*", "prefix": "/cards/",
			"match": "subtree", "regex": `^/cards(?:/[^/]+)*$`, "detector": "card", "fields": [["body"]],
			"apply_to": ["result"], "flag_regex": `[0-9](?:[ -]?[0-9]){12,18}`,
		},
	],
}

_boundaries := {"policy_version": "sha256:e1", "agents": {
	"support_agent_1": _agent("support_agent_1", "enforce"),
	"shadow_agent": _agent("shadow_agent", "shadow"),
	"notes_agent": _notes,
}}

# A CheckRequest as OPA's Envoy plugin hands it over (protojson field names), from the sidecar of `agent`.
_check(agent, method, path) := {"attributes": {
	"contextExtensions": {"agent_id": agent},
	"request": {"http": {
		"method": method, "path": path, "host": "CRM.internal",
		"headers": {":authority": "CRM.internal", "x-agent-id": "admin_agent"},
	}},
}}

_answer(request) := answer if {
	answer := envoy.response with input as request with data.boundaries as _boundaries
}

test_the_envoy_request_becomes_the_decision_input if {
	request := json.patch(_check("support_agent_1", "POST", "/api/ticket/v1/?x=1"), [
		{"op": "add", "path": "/attributes/request/http/body", "value": `{"priority": "low"}`},
		{"op": "add", "path": "/attributes/source", "value": {"address": {"socketAddress": {"portValue": 5}}}},
	])
	call := envoy.call with input as request
	call == {
		"agent_id": "support_agent_1", "method": "POST", "path": "/api/ticket/v1/?x=1", "host": "crm.internal",
		"body": `{"priority": "low"}`,
	}
}

test_a_body_packed_as_bytes_is_decided_too if {
	request := json.patch(_check("support_agent_1", "POST", "/api/ticket/v1/"), [{
		"op": "add", "path": "/attributes/request/http/rawBody",
		"value": base64.encode(`{"priority": "low"}`),
	}])
	call := envoy.call with input as request
	call.body == `{"priority": "low"}`
}

test_a_missing_field_becomes_null_and_is_refused if {
	every request in [{}, "not an object", {"attributes": "x"}, {"attributes": {"request": {"http": {"path": 7}}}}] {
		envoy.call == {"agent_id": null, "method": null, "path": null} with input as request
		envoy.decision.reasons[0].code == "invalid_request" with input as request with data.boundaries as _boundaries
		not envoy.response.allowed with input as request with data.boundaries as _boundaries
	}
}

test_an_allowed_request_names_the_agent_for_the_upstream if {
	answer := _answer(_check("support_agent_1", "GET", "/api/customer/v1/42"))
	answer == {"allowed": true, "headers": {"x-agent-id": "support_agent_1", "x-agent-boundary-decision": "allow"}}
}

test_a_denied_request_gets_403_with_its_reason if {
	answer := _answer(_check("support_agent_1", "GET", "/api/admin/users"))
	answer.allowed == false
	answer.http_status == 403
	answer.headers["x-agent-boundary-decision"] == "deny"
	answer.headers["x-agent-boundary-codes"] == "endpoint_denied"
	answer.headers["x-agent-boundary-reason"] == "GET /api/admin/users is denied by denied_endpoints[0] (* /api/admin/*)"
	json.unmarshal(answer.body) == {
		"decision": "deny", "codes": ["endpoint_denied"],
		"decision_reason": "GET /api/admin/users is denied by denied_endpoints[0] (* /api/admin/*)",
	}
}

test_the_identity_is_the_context_extension_never_a_header if {
	request := _check("support_agent_1", "GET", "/api/customer/v1/42")
	answer := _answer({"attributes": {"request": request.attributes.request}})
	answer.headers["x-agent-boundary-codes"] == "invalid_request"
}

test_path_tricks_that_reach_opa_are_refused if {
	every path in ["/api/customer/v1/../../admin/users", "/api/customer/v1/%2e%2e/admin", "/api//admin/users"] {
		_answer(_check("support_agent_1", "GET", path)).headers["x-agent-boundary-codes"] == "non_canonical_path"
	}
}

test_a_shadow_agent_is_not_blocked if {
	request := _check("shadow_agent", "GET", "/api/admin/users")
	_answer(request).allowed
	envoy.decision.decision == "deny" with input as request with data.boundaries as _boundaries
}

test_the_kill_switch_blocks_a_shadow_agent_too if {
	suspended := {"shadow_agent": {"reason": "incident"}}
	request := _check("shadow_agent", "GET", "/api/customer/v1/42")
	answer := _answer(request) with data.agent_boundary_runtime.suspended as suspended
	answer.allowed == false
	answer.headers["x-agent-boundary-codes"] == "agent_suspended"
}

test_header_values_are_printable_ascii_and_bounded if {
	reason := _answer(_check("support_agent_1", "GET", "/api/caf\u00e9")).headers["x-agent-boundary-reason"]
	startswith(reason, "path `/api/caf?` is refused: ")
	segment := concat("", [x | some _ in numbers.range(1, 1100); x := "a"])
	long := _answer(_check("support_agent_1", "GET", concat("", ["/", segment])))
	count(long.headers["x-agent-boundary-reason"]) == 1024
	endswith(long.headers["x-agent-boundary-reason"], "...")
}

test_a_call_that_needs_redacting_is_refused if {
	note := json.patch(_check("notes_agent", "POST", "/notes/"), [{
		"op": "add", "path": "/attributes/request/http/body",
		"value": `{"text": "mail me at a@example.com"}`,
	}])
	refused := _answer(note)
	refused.allowed == false
	refused.headers["x-agent-boundary-decision"] == "sanitize"
	refused.headers["x-agent-boundary-reason"] == concat(", ", [
		"the boundary redacts fields of this request (sanitize[0])",
		"which Envoy ext_authz cannot do",
	])
	refused.headers["x-agent-boundary-codes"] == "sensitive_data_redacted,redaction_unsupported"
	result := _answer(_check("notes_agent", "GET", "/cards/7"))
	result.allowed == false
	result.headers["x-agent-boundary-decision"] == "allow"
	result.headers["x-agent-boundary-reason"] == concat(", ", [
		"the boundary redacts this call's result (sanitize[1])",
		"which Envoy ext_authz cannot do",
	])
	json.unmarshal(result.body).codes == ["redaction_unsupported"]
}
