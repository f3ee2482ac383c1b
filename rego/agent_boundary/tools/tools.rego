# METADATA
# title: Tool-call checks
# description: |
#   Checks of one tool call (`{agent_id, tool, action?, args?, environment?, requester_role?}`) against an agent's
#   tool registry and execution context, as written by the compiler under data.boundaries.agents[_].tools and
#   .execution_context. Each finding is `{code, message, rule, source}`; agent_boundary adds the SOC 2 control, so
#   the code-to-control map stays in one place (agent_boundary.reason_controls). The tool is found with one keyed
#   lookup in the agent's registry.
package agent_boundary.tools

import data.agent_boundary.validation

# METADATA
# title: Tool call
# description: |
#   Whether `call` is a tool call (it names a `tool`); then `method` and `path` are not needed. A call that names a
#   `method` or `path` beside its tool is an HTTP call too, and passes both kinds of checks (decision.rego).
is_tool_call(call) if {
	is_object(call)
	object.get(call, "tool", null) != null
}

# METADATA
# title: Request problems of a tool call
# description: What makes a tool call malformed (wrong JSON types of its keys); these become `invalid_request`.
request_problems(call) := {problem |
	some key in ["tool", "action", "environment", "requester_role"]
	value := call[key]
	not _non_empty_string(value)
	problem := sprintf("the tool call needs `%s` as a non-empty string", [key])
} | {problem |
	args := call.args
	not is_object(args)
	problem := "the tool call's `args` must be an object"
}

# METADATA
# title: Registered tool
# description: The registry entry of the call's tool, undefined for a tool the agent does not have.
tool(agent, call) := object.get(agent, "tools", {})[call.tool]

# METADATA
# title: Deny findings
# description: Every reason to refuse the tool call. An unknown tool gives only `unknown_tool`.
deny_findings(agent, call) := {_unknown_tool(agent, call)} if {
	not tool(agent, call)
}

# The arguments are filtered once and handed on: functions, unlike rules, are not cached within a decision.
deny_findings(agent, call) := union({
	_action_findings(entry, call),
	_environment_findings(agent, entry, call),
	_clearance_findings(agent, entry, call),
	_scope_findings(entry, args),
	_argument_findings(entry, args),
}) if {
	entry := tool(agent, call)
	args := _args(call)
}

# METADATA
# title: Approval findings
# description: |
#   Every reason the call needs a human's approval: the tool requires it, or the target environment requires it for
#   one of the call's actions. Applies only to a call the registry knows.
approval_findings(agent, call) := _tool_approval(entry) | _environment_approval(agent, entry, call) if {
	entry := tool(agent, call)
} else := set()

# ---------------------------------------------------------------------------------------------------------------------

_present(call, key) if object.get(call, key, false) == object.get(call, key, true)

_non_empty_string(value) if {
	is_string(value)
	value != ""
}

_finding(code, message, rule, source) := {"code": code, "message": message, "rule": rule, "source": source}

# The actions a call uses: the one it names, or, when it names none, every action its tool declares (so an
# approval that any of them needs applies).
_call_actions(entry, call) := {call.action} if {
	is_string(call.action)
} else := {action | some action in entry.actions}

_shown_actions(actions) := concat(", ", sort([action | some action in actions]))

_unknown_tool(agent, call) := _finding("unknown_tool", message, "tools", object.get(agent, "source", "")) if {
	message := sprintf("tool `%s` is not in the tool registry of agent `%s`", [_text(call.tool), _text(agent.agent_id)])
}

_action_findings(entry, call) := {_finding("action_not_allowed", message, entry.rule, entry.source) |
	action := call.action
	is_string(action)
	not action in entry.actions
	template := "tool `%s` does not allow the action `%s` (allowed: %s)"
	message := sprintf(template, [entry.name, _text(action), _shown_actions(entry.actions)])
}

_environments(agent) := object.get(agent, ["execution_context", "environments"], {})

_environment_findings(agent, entry, call) := {_finding(code, message, rule, source) |
	environments := _environments(agent)
	count(environments) > 0
	message := _environment_problem(environments, entry, call)
	code := "tool_not_allowed_in_environment"
	rule := _environment_rule(environments, call)
	source := _environment_source(agent, environments, call)
}

_environment_name(call) := call.environment if is_string(call.environment)

_environment_rule(environments, call) := rule if {
	rule := environments[_environment_name(call)].rule
} else := "execution_context.environments"

_environment_source(agent, environments, call) := source if {
	source := environments[_environment_name(call)].source
} else := object.get(agent, "source", "")

_environment_problem(environments, entry, call) := message if {
	not _environment_name(call)
	names := concat(", ", sort(object.keys(environments)))
	message := sprintf("tool `%s` is called without a target environment (declared: %s)", [entry.name, names])
} else := message if {
	# From here on the call names its environment.
	not environments[call.environment]
	names := concat(", ", sort(object.keys(environments)))
	message := sprintf("environment `%s` is not declared (declared: %s)", [_text(call.environment), names])
} else := message if {
	allowed := environments[call.environment].allowed_tools
	not allowed[entry.name]
	message := sprintf("tool `%s` is not allowed in environment `%s`", [entry.name, call.environment])
}

_restricted(agent, entry) if entry.classification in object.get(agent, ["execution_context", "restricted_classes"], [])

_clearance_findings(agent, entry, call) := {_finding("clearance_denied", message, entry.rule, entry.source) |
	_restricted(agent, entry)
	not _cleared(agent, entry, call)
	message := _clearance_message(entry, call)
}

_cleared(agent, entry, call) if {
	role := call.requester_role
	is_string(role)
	entry.classification in object.get(agent, ["execution_context", "clearance", role], [])
}

_clearance_message(entry, call) := message if {
	is_string(call.requester_role)
	template := "role `%s` lacks clearance for %s data (tool `%s`)"
	message := sprintf(template, [_text(call.requester_role), entry.classification, entry.name])
} else := message if {
	template := "tool `%s` handles %s data and the call names no requester role"
	message := sprintf(template, [entry.name, entry.classification])
}

# An argument whose value is null counts as absent: frameworks fill unset optional arguments with null.
_args(call) := {name: value | some name, value in call.args; value != null} if {
	is_object(call.args)
} else := {}

_scope_findings(entry, args) := {_finding("scope_violation", message, scope.rule, scope.source) |
	some scope in entry.scope
	message := _scope_problem(entry, scope, args)
}

_scope_problem(entry, scope, args) := message if {
	not _present(args, scope.arg)
	message := sprintf("tool `%s` needs the argument `%s` to check its scope", [entry.name, scope.arg])
} else := message if {
	value := args[scope.arg]
	not _in_scope(scope, value)
	template := "argument `%s` of tool `%s` is outside its scope (%s)"
	message := sprintf(template, [scope.arg, entry.name, concat(", ", scope.patterns)])
}

_in_scope(scope, value) if {
	is_string(value)
	some expression in scope.regexes
	regex.match(expression, value)
}

_argument_findings(entry, args) := _renamed(validation.violations(entry.args, args)) | _unknown_arguments(entry, args)

# The field checks are shared with request bodies; for a tool call they are problems of its arguments.
_renamed(findings) := {_finding("invalid_arguments", f.message, f.rule, f.source) | some f in findings}

_unknown_arguments(entry, args) := {_finding("invalid_arguments", message, entry.rule, entry.source) |
	entry.declares_args
	some name, _ in args
	not entry.arg_names[name]
	message := sprintf("tool `%s` has no argument `%s`", [entry.name, _text(name)])
}

_tool_approval(entry) := {_finding("approval_required", message, entry.rule, entry.source) |
	entry.requires_approval == true
	message := sprintf("tool `%s` requires human approval", [entry.name])
}

_environment_approval(agent, entry, call) := {_finding("approval_required", message, environment.rule, source) |
	name := _environment_name(call)
	environment := _environments(agent)[name]
	some action in _call_actions(entry, call)
	action in environment.requires_approval_for
	source := environment.source
	template := "action `%s` of tool `%s` in environment `%s` requires human approval"
	message := sprintf(template, [action, entry.name, name])
}

# Messages stay on one line: C0 and C1 controls, DEL and the Unicode line and paragraph separators are replaced.
_text(value) := validation.printable(value) if {
	is_string(value)
} else := validation.number_text(value) if {
	is_number(value)
} else := sprintf("%v", [value])
