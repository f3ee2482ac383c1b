# METADATA
# title: "Agent boundary of Hostile.Agent-1:"
# description: "Line one.\nx := 1\n# METADATA\n# title: injected\npackage evil\n\"quoted\" \\ back\\slash\u2028separated\u2029para\u0085nel\ttab\u202egnirts\ufeffbom\u007fdel\u0000nul😀 and \U000e0001 tag }"
# custom:
#   agent_id: "Hostile.Agent-1:"
#   source: "tests/golden/hostile_strings/policy.yaml:5"
#   mode: "enforce"
#   owner: "ops\" team # x := 1 } {"
#   controls: ["CC6.1", "CC7.2", "CC8.1"]
package agents.hostile_agent_1_

# The facts of this boundary, as every decision reads them: one keyed lookup in data.boundaries.agents.
# allowed_endpoints:
#   allowed_endpoints[0]: GET /api/'$(x)'/items=x,1/*  (tests/golden/hostile_strings/policy.yaml:11)
#   allowed_endpoints[1]: POST /api/notes/v1  (tests/golden/hostile_strings/policy.yaml:12)
# input_validation:
#   input_validation[0].rules[0]: POST /api/notes/v1 field quote"d#{x} is enum
#   input_validation[0].rules[1]: POST /api/notes/v1 field note\ is string
# tools (a tool call naming any other tool is denied):
#   tools.reader: read on restricted data  (tests/golden/hostile_strings/policy.yaml:31)
#     tools.reader.scope.key: key within SEC-"#}*, x := 1 # *, \*
# execution_context:
#   clearance ops" pwned := true #{: restricted
#   clearance role with spaces: and colons: restricted

# METADATA
# title: "Boundary data of Hostile.Agent-1:"
# description: The compiled facts behind every decision for this agent.
boundary := data.boundaries.agents["Hostile.Agent-1:"]

# METADATA
# title: "Decision for Hostile.Agent-1:"
# description: "The shared decision (data.agent_boundary.decision) for a call made by Hostile.Agent-1:."
# entrypoint: true
decision := result if {
	result := data.agent_boundary.decision with input.agent_id as "Hostile.Agent-1:"
}
