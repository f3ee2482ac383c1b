# METADATA
# title: Envoy external authorization
# description: |
#   The entry point for OPA's Envoy plugin (envoy_ext_authz_grpc, `path: agent_boundary/envoy/response`): the plugin's
#   input, a CheckRequest in protojson (`input.attributes.request.http.{method, path, headers, host, body}`), is mapped
#   onto the decision contract, and the same decision as for any other call answers Envoy. The agent id is the
#   `agent_id` context extension, which only Envoy's configuration sets (opa/envoy/envoy.yaml), never a header the
#   agent sends. OPA alone does not count rate limits or redeem approvals; the yaml2rego ext_authz service
#   (yaml2rego.adapters.envoy) does, with the same mapping.
package agent_boundary.envoy

# METADATA
# title: The call
# description: |
#   The decision input for the Envoy request: `{agent_id, method, path, host?, body?}`, the method and path as Envoy
#   forwards them upstream, the body from `body` or (pack_as_bytes) `rawBody`. A missing or non-string field becomes null, which the decision refuses (invalid_request).
call := object.union(object.union(_required, _host), _body)

# METADATA
# title: Decision
# description: data.agent_boundary.decision for `call`.
decision := result if {
	# The full reference, not an import of data.agent_boundary: through such an import regorus 0.13 evaluates the
	# whole data.agent_boundary tree, this package included, and reports a cycle.
	result := data.agent_boundary.decision with input as call
}

# METADATA
# title: Envoy response
# description: |
#   What the plugin answers Envoy: `allowed`; for a blocked call 403 with the outcome, reason and codes in
#   `x-agent-boundary-*` headers and a JSON body; for an allowed one the agent id for the upstream.
# entrypoint: true
response := {"allowed": true, "headers": _upstream_headers} if {
	not _blocked
} else := {
	"allowed": false,
	"http_status": 403,
	"headers": _denial_headers,
	"body": json.marshal({
		"decision": decision.decision,
		"decision_reason": _reason,
		"codes": _codes,
	}),
}

_http := input.attributes.request.http

_required := {
	"agent_id": _string_at(["attributes", "contextExtensions", "agent_id"]),
	"method": _string_at(["attributes", "request", "http", "method"]),
	"path": _string_at(["attributes", "request", "http", "path"]),
}

default _host := {}

_host := {"host": lower(_http.host)} if {
	is_string(_http.host)
	_http.host != ""
}

default _body := {}

_body := {"body": _http.body} if {
	is_string(_http.body)
	_http.body != ""
} else := {"body": base64.decode(_http.rawBody)} if {
	# With with_request_body.pack_as_bytes the body arrives as `rawBody` (base64 in protojson): it is decided on all
	# the same, so a body can never skip the payload limit or the field rules by the way Envoy packs it.
	is_string(_http.rawBody)
	_http.rawBody != ""
}

# The string at `path` in the input, or null: defined for any input, so `call` always is.
_string_at(path) := value if {
	is_object(input)
	value := object.get(input, path, null)
	is_string(value)
} else := null

# As the guard decides: a shadow-mode agent is never blocked, except by the kill switch.
_blocked if {
	decision.decision != "allow"
	_enforced
}

_blocked if _unsupported

# A redaction ext_authz cannot make (it rewrites neither a request body nor a response) refuses the call rather
# than let it through unredacted; the same words as redaction_needed in yaml2rego/adapters/envoy.py.
_unsupported := sprintf("the boundary redacts fields of this request (%s), %s", [rules, _cannot]) if {
	_enforced
	decision.decision == "sanitize"
	rules := concat(", ", sort({item.rule | some item in object.get(decision, "redactions", [])}))
}

_unsupported := sprintf("the boundary redacts this call's result (%s), %s", [rules, _cannot]) if {
	_enforced
	decision.decision == "allow"
	count(object.get(decision, "result_redactions", [])) > 0
	rules := concat(", ", sort({item.rule | some item in decision.result_redactions}))
}

_cannot := "which Envoy ext_authz cannot do"

_enforced if decision.mode != "shadow"

_enforced if {
	some reason in decision.reasons
	reason.code == "agent_suspended"
}

_policy_codes := [reason.code | some reason in decision.reasons]

_codes := array.concat(_policy_codes, ["redaction_unsupported"]) if {
	_unsupported
} else := _policy_codes

_reason := _unsupported if {
	_unsupported
} else := decision.decision_reason

_upstream_headers := {"x-agent-id": _header_text(decision.agent_id), "x-agent-boundary-decision": decision.decision}

_denial_headers := {
	"x-agent-boundary-decision": decision.decision,
	"x-agent-boundary-reason": _header_text(_reason),
	"x-agent-boundary-codes": concat(",", _codes),
	"content-type": "application/json",
}

# A safe header value, as header_text in yaml2rego/adapters/envoy.py: printable ASCII only (a reason quotes the
# path the agent chose), at most 1024 characters.
_header_text(value) := _clipped(regex.replace(_as_string(value), `[^ -~]`, "?"))

_clipped(text) := text if count(text) <= 1024

_clipped(text) := concat("", [substring(text, 0, 1021), "..."]) if count(text) > 1024

_as_string(value) := value if is_string(value)

_as_string(value) := "" if not is_string(value)
