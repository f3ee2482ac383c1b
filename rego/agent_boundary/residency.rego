# Data residency: an agent with `regions` (data: `residency`) may send data only to endpoints and hosts whose declared
# region is one of them. A host with no declared region cannot be shown to stay inside them and is refused; an
# endpoint rule without a region is the agent's own service and is not checked. Agents without `regions` are not
# checked at all. A plain comment, not a METADATA block: this file shares the package of decision.rego.
package agent_boundary

import data.agent_boundary.egress

_residency := _agent.residency if _known

_agent_regions := concat(", ", _residency.regions)

# METADATA
# title: Deny reasons
# description: The call sends data outside the agent's regions (the reasons below). One rule, so agents without
#   residency pay for one failed lookup, not one per check.
# custom:
#   control: CC6.6
deny_reasons contains reason if {
	_residency
	some reason in _region_reasons
}

# The destination host as matched (egress.canonical); undefined for a host egress refuses outright.
_destination_host := egress.canonical(input.host, object.get(input, "port", null)) if {
	_residency
	_names_host
}

# The host_regions entries the destination host falls under.
_host_entries contains entry if {
	host := _destination_host
	some entry in _residency.hosts
	egress.allowed(host, [entry.pattern])
}

# The destination host lies in a region outside the agent's regions.
_region_reasons contains _reason("region_not_allowed", message, entry.rule, entry.source) if {
	some entry in _host_entries
	not entry.region in _residency.regions
	message := sprintf(
		"host `%s` is in region `%s`, outside the agent's regions (%s)",
		[_destination_host, entry.region, _agent_regions],
	)
}

# The destination host has no declared region, so the call cannot be shown to stay in the agent's regions.
_region_reasons contains _reason("region_not_allowed", message, _residency.rule, _residency.source) if {
	_residency
	_names_host
	count(_host_entries) == 0
	message := sprintf(
		"host `%s` has no declared region (host_regions), and only the agent's regions (%s) may be reached",
		[_shown_host, _agent_regions],
	)
}

# The endpoint rule that allows the call sends data to a region outside the agent's regions.
_region_reasons contains _reason("region_not_allowed", message, rule.rule, rule.source) if {
	_residency
	rule := _allowed_by
	region := rule.region
	not region in _residency.regions
	message := sprintf("%s goes to region `%s` (%s), outside the agent's regions (%s)", [_call, region, rule.rule, _agent_regions])
}

# The regions the call's data goes to, when the agent's residency names them: for the decision record.
_destination_regions contains entry.region if some entry in _host_entries

_destination_regions contains _allowed_by.region if _residency

_enforcement_extras["region"] := concat(",", sort(_destination_regions)) if {
	_residency
	count(_destination_regions) > 0
}
