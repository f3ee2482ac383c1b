package agent_boundary.tools_test

import data.agent_boundary

_jira := {
	"name": "jira_reader",
	"rule": "tools.jira_reader",
	"source": "infra.yaml:5",
	"actions": ["read"],
	"classification": "internal",
	"requires_approval": false,
	"declares_args": true,
	"arg_names": {"project": true, "limit": true},
	"args": [{
		"rule": "tools.jira_reader.args.limit",
		"source": "infra.yaml:9",
		"field": "limit",
		"path": ["limit"],
		"type": "integer",
		"required": false,
		"maximum": 50,
	}],
	"scope": [{
		"rule": "tools.jira_reader.scope.project",
		"source": "infra.yaml:12",
		"arg": "project",
		"patterns": ["SEC-*"],
		"regexes": [`^SEC\-.*$`],
	}],
}

_tool(name, actions, classification, approval) := {
	"name": name,
	"rule": sprintf("tools.%s", [name]),
	"source": "infra.yaml:20",
	"actions": actions,
	"classification": classification,
	"requires_approval": approval,
	"declares_args": false,
	"arg_names": {},
	"args": [],
	"scope": [],
}

_agent := {
	"agent_id": "infra",
	"mode": "enforce",
	"source": "infra.yaml",
	"allowed_endpoints": [],
	"denied_endpoints": [],
	"input_validation": [],
	"rate_limits": [],
	"tools": {
		"jira_reader": _jira,
		"slack_notifier": _tool("slack_notifier", ["write"], "internal", true),
		"aws_metadata": _tool("aws_metadata", ["read"], "confidential", false),
		"deployer": _tool("deployer", ["read", "execute"], "internal", false),
	},
	"execution_context": {
		"restricted_classes": ["confidential", "pii", "financial"],
		"clearance": {"security-admin": ["confidential"]},
		"environments": {
			"prod": {
				"rule": "execution_context.environments.prod",
				"source": "infra.yaml:40",
				"allowed_tools": {"jira_reader": true, "slack_notifier": true, "deployer": true},
				"requires_approval_for": ["write", "execute"],
			},
			"dev": {
				"rule": "execution_context.environments.dev",
				"source": "infra.yaml:44",
				"requires_approval_for": [],
			},
		},
	},
}

_boundaries := {"policy_version": "test", "agents": {"infra": _agent}}

_decide(call) := result if {
	result := agent_boundary.decision with input as object.union({"agent_id": "infra"}, call)
		with data.boundaries as _boundaries
}

_codes(result) := {reason.code | some reason in result.reasons}

test_registered_tool_in_scope_is_allowed if {
	result := _decide({"tool": "jira_reader", "action": "read", "args": {"project": "SEC-7"}, "environment": "prod"})
	result.decision == "allow"
	result.allow == true
	result.decision_reason == "tool `jira_reader` allowed by tools.jira_reader"
}

test_tool_call_needs_no_method_or_path if {
	result := _decide({"tool": "jira_reader", "args": {"project": "SEC-7"}, "environment": "dev"})
	result.decision == "allow"
	result.rate_limits == []
}

# A null method or path counts as absent: the call stays a pure tool call, decided alike by OPA and regorus (where a
# builtin given null is an error, not undefined).
test_null_method_or_path_of_a_tool_call_counts_as_absent[note] if {
	some note, absent in {"path": {"path": null}, "method": {"method": null}, "both": {"method": null, "path": null}}
	result := _decide(object.union({"tool": "jira_reader", "args": {"project": "SEC-7"}, "environment": "dev"}, absent))
	result.decision == "allow"
}

test_null_method_or_path_every_case if count(test_null_method_or_path_of_a_tool_call_counts_as_absent) == 3

test_unknown_tool_is_denied_with_its_own_code if {
	result := _decide({"tool": "shell", "environment": "dev"})
	result.decision == "deny"
	_codes(result) == {"unknown_tool"}
	result.reasons[0].control == "CC6.1"
}

test_action_outside_the_registry_is_denied if {
	result := _decide({"tool": "jira_reader", "action": "write", "args": {"project": "SEC-7"}, "environment": "dev"})
	_codes(result) == {"action_not_allowed"}
	result.reasons[0].control == "CC6.3"
}

test_argument_outside_scope_is_denied if {
	result := _decide({"tool": "jira_reader", "args": {"project": "OPS-1"}, "environment": "dev"})
	_codes(result) == {"scope_violation"}
	result.reasons[0].rule == "tools.jira_reader.scope.project"
}

test_missing_scoped_argument_is_denied if {
	result := _decide({"tool": "jira_reader", "args": {}, "environment": "dev"})
	_codes(result) == {"scope_violation"}
}

test_non_string_scoped_argument_is_denied if {
	result := _decide({"tool": "jira_reader", "args": {"project": ["SEC-1"]}, "environment": "dev"})
	_codes(result) == {"scope_violation"}
}

test_argument_rule_is_checked if {
	result := _decide({"tool": "jira_reader", "args": {"project": "SEC-1", "limit": 51}, "environment": "dev"})
	_codes(result) == {"invalid_arguments"}
	result.reasons[0].rule == "tools.jira_reader.args.limit"
}

test_null_argument_counts_as_absent if {
	result := _decide({"tool": "jira_reader", "args": {"project": "SEC-1", "limit": null}, "environment": "dev"})
	result.decision == "allow"
}

test_undeclared_argument_is_denied if {
	result := _decide({"tool": "jira_reader", "args": {"project": "SEC-1", "jql": "x"}, "environment": "dev"})
	_codes(result) == {"invalid_arguments"}
	result.reasons[0].message == "tool `jira_reader` has no argument `jql`"
}

test_tool_outside_the_environment_gate_is_denied if {
	result := _decide({"tool": "aws_metadata", "environment": "prod", "requester_role": "security-admin"})
	_codes(result) == {"tool_not_allowed_in_environment"}
	result.reasons[0].rule == "execution_context.environments.prod"
}

test_undeclared_environment_is_denied if {
	result := _decide({"tool": "jira_reader", "args": {"project": "SEC-1"}, "environment": "staging"})
	_codes(result) == {"tool_not_allowed_in_environment"}
}

test_missing_environment_is_denied if {
	result := _decide({"tool": "jira_reader", "args": {"project": "SEC-1"}})
	_codes(result) == {"tool_not_allowed_in_environment"}
}

test_restricted_class_needs_clearance if {
	result := _decide({"tool": "aws_metadata", "environment": "dev", "requester_role": "engineer"})
	_codes(result) == {"clearance_denied"}
	result.reasons[0].control == "CC6.3"
}

test_restricted_class_without_role_is_denied if {
	result := _decide({"tool": "aws_metadata", "environment": "dev"})
	_codes(result) == {"clearance_denied"}
}

test_cleared_role_may_use_restricted_class if {
	result := _decide({"tool": "aws_metadata", "environment": "dev", "requester_role": "security-admin"})
	result.decision == "allow"
}

test_tool_requiring_approval_needs_approval if {
	result := _decide({"tool": "slack_notifier", "action": "write", "environment": "dev"})
	result.decision == "approval_needed"
	result.allow == false
	_codes(result) == {"approval_required"}
	result.reasons[0].control == "CC8.1"
	result.reasons[0].rule == "tools.slack_notifier"
}

test_prod_gate_needs_approval_for_execute if {
	result := _decide({"tool": "deployer", "action": "execute", "environment": "prod"})
	result.decision == "approval_needed"
	result.reasons[0].rule == "execution_context.environments.prod"
}

test_prod_gate_lets_reads_through if {
	result := _decide({"tool": "deployer", "action": "read", "environment": "prod"})
	result.decision == "allow"
}

test_call_without_action_counts_every_declared_action if {
	result := _decide({"tool": "deployer", "environment": "prod"})
	result.decision == "approval_needed"
}

test_deny_wins_over_approval if {
	result := _decide({"tool": "slack_notifier", "action": "execute", "environment": "dev"})
	result.decision == "deny"
	_codes(result) == {"action_not_allowed"}
}

test_malformed_tool_call_is_invalid_request if {
	result := _decide({"tool": "jira_reader", "args": "project=SEC-1", "action": 3})
	result.decision == "deny"
	_codes(result) == {"invalid_request"}
	count(result.reasons) == 2
}

test_http_call_is_unchanged_by_tools if {
	result := _decide({"method": "GET", "path": "/api/x"})
	_codes(result) == {"endpoint_not_allowed"}
}

# A call with both a `tool` and a `method` or `path` passes both the HTTP and the tool checks; the tool key never lets
# it skip the endpoint rules or the canonical path.
_api_agent := object.union(_agent, {"allowed_endpoints": [{
	"rule": "allowed_endpoints[0]",
	"source": "infra.yaml:3",
	"method": "GET",
	"pattern": "/api/*",
	"prefix": "/api/",
	"match": "subtree",
	"regex": `^/api(?:/[^/]+)*$`,
}]})

_both(call) := result if {
	result := agent_boundary.decision with input as object.union({"agent_id": "infra"}, call)
		with data.boundaries as {"policy_version": "test", "agents": {"infra": _api_agent}}
}

_jira_call := {"tool": "jira_reader", "args": {"project": "SEC-7"}, "environment": "dev"}

_both_cases := {
	"both allowed": {"call": {"method": "GET", "path": "/api/x"}, "codes": set(), "decision": "allow"},
	"endpoint not allowed": {
		"call": {"method": "DELETE", "path": "/api/x"},
		"codes": {"endpoint_not_allowed"}, "decision": "deny",
	},
	"path not canonical": {
		"call": {"method": "GET", "path": "/api/../admin"},
		"codes": {"non_canonical_path"}, "decision": "deny",
	},
	"method without path": {
		"call": {"method": "GET"},
		"codes": {"invalid_request"}, "decision": "deny",
	},
	"path without method": {
		"call": {"path": "/api/x"},
		"codes": {"invalid_request"}, "decision": "deny",
	},
	"bad method": {
		"call": {"method": "G\u0415T", "path": "/api/x"},
		"codes": {"invalid_request"}, "decision": "deny",
	},
	"tool out of scope": {
		"call": {"method": "GET", "path": "/api/x", "args": {"project": "OPS-1"}},
		"codes": {"scope_violation"}, "decision": "deny",
	},
	"unknown tool": {
		"call": {"method": "GET", "path": "/api/x", "tool": "nope"},
		"codes": {"unknown_tool"}, "decision": "deny",
	},
}

test_call_with_tool_and_http_passes_both[note] if {
	some note, case in _both_cases
	result := _both(object.union(_jira_call, case.call))
	_codes(result) == case.codes
	result.decision == case.decision
}

test_call_with_tool_and_http_passes_both_every_case if {
	count(test_call_with_tool_and_http_passes_both) == count(_both_cases)
}

test_agent_without_tools_denies_every_tool if {
	boundaries := {"policy_version": "t", "agents": {"web": {"agent_id": "web", "mode": "enforce", "source": "w.yaml"}}}
	result := agent_boundary.decision with input as {"agent_id": "web", "tool": "jira_reader"}
		with data.boundaries as boundaries
	_codes(result) == {"unknown_tool"}
}

test_tool_names_in_messages_stay_on_one_line if {
	result := _decide({"tool": "a\u2028b\u0085c\nd"})
	result.decision_reason == "tool `a�b�c�d` is not in the tool registry of agent `infra`"
}
