# METADATA
# title: "Tests of the agent boundary of research_agent"
# description: Cases derived from each rule of the boundary, then the cases written in its tests section.
# custom:
#   source: "tests/golden/wildcards_and_shadow/policy.yaml"
package agents.research_agent_test

import data.agents.research_agent

codes(result) := {reason.code | some reason in result.reasons}

# allowed_endpoints[0] (* /docs/**/pages/*) allows GET /docs/example/pages/example
# (tests/golden/wildcards_and_shadow/policy.yaml:6)
test_allowed_endpoints_0_allows if {
	result := research_agent.decision with input as {
		"agent_id": "research_agent",
		"method": "GET",
		"path": "/docs/example/pages/example",
	}
	result.decision == "allow"
}

# allowed_endpoints[1] (GET /search/*/results) allows GET /search/example/results
# (tests/golden/wildcards_and_shadow/policy.yaml:8)
test_allowed_endpoints_1_allows if {
	result := research_agent.decision with input as {
		"agent_id": "research_agent",
		"method": "GET",
		"path": "/search/example/results",
	}
	result.decision == "allow"
}

# denied_endpoints[0] (* /docs/internal/*) denies GET /docs/internal/example
# (tests/golden/wildcards_and_shadow/policy.yaml:11)
test_denied_endpoints_0_denies if {
	result := research_agent.decision with input as {
		"agent_id": "research_agent",
		"method": "GET",
		"path": "/docs/internal/example",
	}
	result.decision == "deny"
	"endpoint_denied" in codes(result)
}

# GET /yaml2rego-unlisted/resource matches no allowed endpoint: default deny
test_unlisted_endpoint_is_denied if {
	result := research_agent.decision with input as {
		"agent_id": "research_agent",
		"method": "GET",
		"path": "/yaml2rego-unlisted/resource",
	}
	result.decision == "deny"
	"endpoint_not_allowed" in codes(result)
}

# a path with a '..' segment is not canonical and is refused before any rule matches
test_dot_dot_segment_is_refused if {
	result := research_agent.decision with input as {
		"agent_id": "research_agent",
		"method": "GET",
		"path": "/docs/example/pages/example/../../admin",
	}
	result.decision == "deny"
	"non_canonical_path" in codes(result)
}

# reading a nested page is allowed (tests/golden/wildcards_and_shadow/policy.yaml:18)
test_user_reading_a_nested_page_is_allowed if {
	result := research_agent.decision with input as {
		"agent_id": "research_agent",
		"method": "GET",
		"path": "/docs/a/b/pages/intro",
	}
	result.decision == "allow"
}

# internal docs stay closed even in shadow mode (tests/golden/wildcards_and_shadow/policy.yaml:21)
test_user_internal_docs_stay_closed_even_in_shadow_mode if {
	result := research_agent.decision with input as {
		"agent_id": "research_agent",
		"method": "GET",
		"path": "/docs/internal/pages/plan",
	}
	result.decision == "deny"
	"endpoint_denied" in codes(result)
}

# another agent id gets no access through this boundary (tests/golden/wildcards_and_shadow/policy.yaml:25)
test_user_another_agent_id_gets_no_access_through_this_boundary if {
	result := data.agent_boundary.decision with input as {
		"agent_id": "someone_else",
		"method": "GET",
		"path": "/docs/a/pages/intro",
	}
	result.decision == "deny"
	"unknown_agent" in codes(result)
}
