package agent_boundary_test

import data.agent_boundary

# Tests of tenants (decision.rego) and data residency (residency.rego): data.tenants.<tenant> as the compiler writes
# it, beside data.boundaries for agents of no tenant.

_ten_endpoint(index, pattern, prefix, region) := {
	"rule": sprintf("allowed_endpoints[%d]", [index]),
	"source": sprintf("acme/eu.yaml:%d", [index + 8]),
	"method": "*",
	"pattern": pattern,
	"prefix": prefix,
	"match": "subtree",
	"regex": sprintf(`^%s(?:/[^/]+)*$`, [trim_suffix(prefix, "/")]),
	"region": region,
}

_ten_agent(agent_id, tenant) := {
	"agent_id": agent_id,
	"mode": "enforce",
	"source": "acme/eu.yaml",
	"tenant": tenant,
	"allowed_endpoints": [
		_ten_endpoint(0, "/eu/*", "/eu/", "eu"),
		_ten_endpoint(1, "/us/*", "/us/", "us"),
		object.remove(_ten_endpoint(2, "/own/*", "/own/", ""), ["region"]),
	],
	"denied_endpoints": [],
	"input_validation": [],
	"rate_limits": [],
	"residency": {
		"rule": "regions",
		"source": "acme/eu.yaml:5",
		"regions": ["eu"],
		"hosts": [
			{"rule": "host_regions.*.eu.example", "source": "acme/eu.yaml:6", "pattern": "*.eu.example", "region": "eu"},
			{"rule": "host_regions.api.us.example", "source": "acme/eu.yaml:7", "pattern": "api.us.example", "region": "us"},
		],
	},
}

_ten_plain := object.remove(_ten_agent("plain", ""), ["tenant", "residency"])

_ten_data := {
	"boundaries": {"policy_version": "v-shared", "agents": {"plain": _ten_plain}},
	"tenants": {
		"acme": {"policy_version": "v-acme", "agents": {"eu_agent": _ten_agent("eu_agent", "acme")}},
		"globex": {"policy_version": "v-globex", "agents": {"gx": object.remove(_ten_agent("gx", "globex"), ["residency"])}},
	},
}

_ten_decide(call) := result if {
	result := agent_boundary.decision with input as call with data.boundaries as _ten_data.boundaries
		with data.tenants as _ten_data.tenants
}

_ten_codes(result) := {reason.code | some reason in result.reasons}

test_tenant_call_reaches_its_own_agent if {
	result := _ten_decide({"agent_id": "gx", "tenant": "globex", "method": "GET", "path": "/us/x"})
	result.decision == "allow"
	result.policy_version == "v-globex"
}

test_tenant_call_naming_another_tenants_agent_is_tenant_mismatch if {
	result := _ten_decide({"agent_id": "gx", "tenant": "acme", "method": "GET", "path": "/us/x"})
	result.decision == "deny"
	_ten_codes(result) == {"tenant_mismatch"}
	result.reasons[0].control == "CC6.1"
	result.decision_reason == "agent `gx` does not belong to tenant `acme`"
	result.policy_version == "v-acme"
}

test_call_without_tenant_cannot_reach_a_tenants_agent if {
	result := _ten_decide({"agent_id": "gx", "method": "GET", "path": "/us/x"})
	_ten_codes(result) == {"tenant_mismatch"}
	result.decision_reason == "agent `gx` does not belong to a call made for no tenant"
}

test_tenant_call_cannot_reach_an_agent_of_no_tenant if {
	result := _ten_decide({"agent_id": "plain", "tenant": "acme", "method": "GET", "path": "/own/x"})
	_ten_codes(result) == {"tenant_mismatch"}
}

test_call_without_tenant_reaches_an_agent_of_no_tenant if {
	result := _ten_decide({"agent_id": "plain", "method": "GET", "path": "/own/x"})
	result.decision == "allow"
	result.policy_version == "v-shared"
	not "region" in object.keys(result)
}

test_unknown_tenant_never_falls_back_to_shared_agents if {
	result := _ten_decide({"agent_id": "plain", "tenant": "nobody", "method": "GET", "path": "/own/x"})
	_ten_codes(result) == {"tenant_mismatch"}
	result.policy_version == null
}

test_agent_known_nowhere_is_unknown_agent if {
	result := _ten_decide({"agent_id": "ghost", "tenant": "acme", "method": "GET", "path": "/own/x"})
	_ten_codes(result) == {"unknown_agent"}
}

test_non_string_tenant_is_invalid_request if {
	result := _ten_decide({"agent_id": "plain", "tenant": 7, "method": "GET", "path": "/own/x"})
	_ten_codes(result) == {"invalid_request"}
	result.decision_reason == "the request's `tenant` must be a string"
}

test_null_tenant_is_no_tenant if {
	result := _ten_decide({"agent_id": "plain", "tenant": null, "method": "GET", "path": "/own/x"})
	result.decision == "allow"
}

test_endpoint_in_an_allowed_region_is_allowed_and_named if {
	result := _ten_decide({"agent_id": "eu_agent", "tenant": "acme", "method": "GET", "path": "/eu/x"})
	result.decision == "allow"
	result.region == "eu"
}

test_endpoint_in_another_region_is_region_not_allowed if {
	result := _ten_decide({"agent_id": "eu_agent", "tenant": "acme", "method": "GET", "path": "/us/x"})
	_ten_codes(result) == {"region_not_allowed"}
	result.reasons[0].control == "CC6.6"
	result.reasons[0].rule == "allowed_endpoints[1]"
	result.decision_reason == "GET /us/x goes to region `us` (allowed_endpoints[1]), outside the agent's regions (eu)"
	result.region == "us"
}

test_endpoint_without_region_is_not_checked if {
	result := _ten_decide({"agent_id": "eu_agent", "tenant": "acme", "method": "GET", "path": "/own/x"})
	result.decision == "allow"
	not "region" in object.keys(result)
}

test_host_in_an_allowed_region_is_allowed if {
	call := {"agent_id": "eu_agent", "tenant": "acme", "method": "GET", "path": "/own/x", "host": "API.eu.example."}
	result := _ten_decide(call)
	result.decision == "allow"
	result.region == "eu"
}

test_host_in_another_region_is_region_not_allowed if {
	call := {"agent_id": "eu_agent", "tenant": "acme", "method": "GET", "path": "/eu/x", "host": "api.us.example"}
	result := _ten_decide(call)
	_ten_codes(result) == {"region_not_allowed"}
	result.reasons[0].rule == "host_regions.api.us.example"
	result.decision_reason == "host `api.us.example` is in region `us`, outside the agent's regions (eu)"
	result.region == "eu,us"
}

test_host_without_declared_region_is_region_not_allowed if {
	call := {"agent_id": "eu_agent", "tenant": "acme", "method": "GET", "path": "/own/x", "host": "other.example"}
	result := _ten_decide(call)
	_ten_codes(result) == {"region_not_allowed"}
	result.reasons[0].rule == "regions"
}

test_refused_host_has_no_region if {
	call := {"agent_id": "eu_agent", "tenant": "acme", "method": "GET", "path": "/own/x", "host": "10.0.0.1"}
	result := _ten_decide(call)
	_ten_codes(result) == {"region_not_allowed"}
}

test_agent_without_regions_ignores_endpoint_regions if {
	result := _ten_decide({"agent_id": "gx", "tenant": "globex", "method": "GET", "path": "/us/x", "host": "x.example"})
	result.decision == "allow"
	not "region" in object.keys(result)
}

test_malformed_request_with_tenants_is_invalid_request if {
	result := _ten_decide("x")
	_ten_codes(result) == {"invalid_request"}
}
