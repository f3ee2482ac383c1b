# METADATA
# title: "Tests of the agent boundary of ops_agent"
# description: Cases derived from each rule of the boundary, then the cases written in its tests section.
# custom:
#   source: "tests/golden/tool_registry/policy.yaml"
package agents.ops_agent_test

import data.agents.ops_agent

codes(result) := {reason.code | some reason in result.reasons}

# GET /yaml2rego-unlisted/resource matches no allowed endpoint: default deny
test_unlisted_endpoint_is_denied if {
	result := ops_agent.decision with input as {
		"agent_id": "ops_agent",
		"method": "GET",
		"path": "/yaml2rego-unlisted/resource",
	}
	result.decision == "deny"
	"endpoint_not_allowed" in codes(result)
}

# a path with a '..' segment is not canonical and is refused before any rule matches
test_dot_dot_segment_is_refused if {
	result := ops_agent.decision with input as {
		"agent_id": "ops_agent",
		"method": "GET",
		"path": "/yaml2rego-unlisted/resource/../../admin",
	}
	result.decision == "deny"
	"non_canonical_path" in codes(result)
}

# tool yaml2rego_unlisted_tool is not in the tool registry
test_unregistered_tool_is_denied if {
	result := ops_agent.decision with input as {"agent_id": "ops_agent", "tool": "yaml2rego_unlisted_tool"}
	result.decision == "deny"
	"unknown_tool" in codes(result)
}

# a call of ticket_reader within its rules gets allow (tests/golden/tool_registry/policy.yaml:4)
test_tool_ticket_reader_allows if {
	result := ops_agent.decision with input as {
		"agent_id": "ops_agent",
		"tool": "ticket_reader",
		"action": "read",
		"args": {"project": "SEC-x", "limit": 1},
		"environment": "prod",
	}
	result.decision == "allow"
}

# ticket_reader does not allow write (tests/golden/tool_registry/policy.yaml:4)
test_tool_ticket_reader_refuses_write if {
	result := ops_agent.decision with input as {
		"agent_id": "ops_agent",
		"tool": "ticket_reader",
		"action": "write",
		"args": {"project": "SEC-x", "limit": 1},
		"environment": "prod",
	}
	result.decision == "deny"
	"action_not_allowed" in codes(result)
}

# tools.ticket_reader.args.project: argument project must be a valid string (tests/golden/tool_registry/policy.yaml:4)
test_tool_ticket_reader_rejects_invalid_project if {
	result := ops_agent.decision with input as {
		"agent_id": "ops_agent",
		"tool": "ticket_reader",
		"action": "read",
		"args": {"project": 12345, "limit": 1},
		"environment": "prod",
	}
	result.decision == "deny"
	"invalid_arguments" in codes(result)
}

# tools.ticket_reader.args.limit: argument limit must be a valid integer (tests/golden/tool_registry/policy.yaml:4)
test_tool_ticket_reader_rejects_invalid_limit if {
	result := ops_agent.decision with input as {
		"agent_id": "ops_agent",
		"tool": "ticket_reader",
		"action": "read",
		"args": {"project": "SEC-x", "limit": "not-a-integer"},
		"environment": "prod",
	}
	result.decision == "deny"
	"invalid_arguments" in codes(result)
}

# ticket_reader declares no argument yaml2rego_unlisted_argument (tests/golden/tool_registry/policy.yaml:4)
test_tool_ticket_reader_rejects_undeclared_argument if {
	result := ops_agent.decision with input as {
		"agent_id": "ops_agent",
		"tool": "ticket_reader",
		"action": "read",
		"args": {"project": "SEC-x", "limit": 1, "yaml2rego_unlisted_argument": "x"},
		"environment": "prod",
	}
	result.decision == "deny"
	"invalid_arguments" in codes(result)
}

# tools.ticket_reader.scope.project: yaml2rego/out-of-scope is outside SEC-*, OPS-*
# (tests/golden/tool_registry/policy.yaml:4)
test_tool_ticket_reader_keeps_project_in_scope if {
	result := ops_agent.decision with input as {
		"agent_id": "ops_agent",
		"tool": "ticket_reader",
		"action": "read",
		"args": {"project": "yaml2rego/out-of-scope", "limit": 1},
		"environment": "prod",
	}
	result.decision == "deny"
	"scope_violation" in codes(result)
}

# a call of deployer within its rules gets allow (tests/golden/tool_registry/policy.yaml:12)
test_tool_deployer_allows if {
	result := ops_agent.decision with input as {
		"agent_id": "ops_agent",
		"tool": "deployer",
		"action": "read",
		"args": {"service": "api"},
		"environment": "prod",
		"requester_role": "release-manager",
	}
	result.decision == "allow"
}

# deployer does not allow write (tests/golden/tool_registry/policy.yaml:12)
test_tool_deployer_refuses_write if {
	result := ops_agent.decision with input as {
		"agent_id": "ops_agent",
		"tool": "deployer",
		"action": "write",
		"args": {"service": "api"},
		"environment": "prod",
		"requester_role": "release-manager",
	}
	result.decision == "deny"
	"action_not_allowed" in codes(result)
}

# tools.deployer.args.service: argument service must be a valid enum (tests/golden/tool_registry/policy.yaml:12)
test_tool_deployer_rejects_invalid_service if {
	result := ops_agent.decision with input as {
		"agent_id": "ops_agent",
		"tool": "deployer",
		"action": "read",
		"args": {"service": "yaml2rego-not-a-listed-value"},
		"environment": "prod",
		"requester_role": "release-manager",
	}
	result.decision == "deny"
	"invalid_arguments" in codes(result)
}

# deployer declares no argument yaml2rego_unlisted_argument (tests/golden/tool_registry/policy.yaml:12)
test_tool_deployer_rejects_undeclared_argument if {
	result := ops_agent.decision with input as {
		"agent_id": "ops_agent",
		"tool": "deployer",
		"action": "read",
		"args": {"service": "api", "yaml2rego_unlisted_argument": "x"},
		"environment": "prod",
		"requester_role": "release-manager",
	}
	result.decision == "deny"
	"invalid_arguments" in codes(result)
}

# deployer handles confidential data: a call without a cleared role is refused
# (tests/golden/tool_registry/policy.yaml:12)
test_tool_deployer_needs_clearance if {
	result := ops_agent.decision with input as {
		"agent_id": "ops_agent",
		"tool": "deployer",
		"action": "read",
		"args": {"service": "api"},
		"environment": "prod",
	}
	result.decision == "deny"
	"clearance_denied" in codes(result)
}

# a call of pager within its rules gets approval_needed (tests/golden/tool_registry/policy.yaml:17)
test_tool_pager_needs_approval if {
	result := ops_agent.decision with input as {
		"agent_id": "ops_agent",
		"tool": "pager",
		"action": "write",
		"args": {},
		"environment": "dev",
	}
	result.decision == "approval_needed"
}

# pager does not allow read (tests/golden/tool_registry/policy.yaml:17)
test_tool_pager_refuses_read if {
	result := ops_agent.decision with input as {
		"agent_id": "ops_agent",
		"tool": "pager",
		"action": "read",
		"args": {},
		"environment": "dev",
	}
	result.decision == "deny"
	"action_not_allowed" in codes(result)
}

# execution_context.environments.dev does not allow deployer (tests/golden/tool_registry/policy.yaml:28)
test_environment_dev_bars_deployer if {
	result := ops_agent.decision with input as {"agent_id": "ops_agent", "tool": "deployer", "environment": "dev"}
	result.decision == "deny"
	"tool_not_allowed_in_environment" in codes(result)
}

# deploying to prod needs approval (tests/golden/tool_registry/policy.yaml:31)
test_user_deploying_to_prod_needs_approval if {
	result := ops_agent.decision with input as {
		"agent_id": "ops_agent",
		"tool": "deployer",
		"action": "execute",
		"args": {"service": "api"},
		"environment": "prod",
		"requester_role": "release-manager",
	}
	result.decision == "approval_needed"
	"approval_required" in codes(result)
}
