package agent_boundary.egress_test

import data.agent_boundary.egress

_patterns := ["internal-api.company.local", "*.payments.example"]

test_exact_and_suffix_matches if {
	egress.allowed("internal-api.company.local", _patterns)
	egress.allowed("eu.payments.example", _patterns)
	egress.allowed("a.b.payments.example", _patterns)
}

test_a_wildcard_does_not_cover_its_own_domain if {
	not egress.allowed("payments.example", _patterns)
}

test_lookalike_suffixes_are_not_subdomains if {
	not egress.allowed("evilpayments.example", _patterns)
	not egress.allowed("internal-api.company.local.evil.com", _patterns)
}

test_hosts_are_canonicalised if {
	egress.canonical("Internal-API.Company.Local.", null) == "internal-api.company.local"
	egress.canonical("api.example.com:8443", null) == "api.example.com"
	egress.canonical("api.example.com:0443", 443) == "api.example.com"
}

test_refused_hosts if {
	egress.host_problem("", null) == "the host is empty"
	egress.host_problem(7, null) == "the host is empty"
	egress.host_problem("user@internal-api.company.local", null) == "a user name in the host is refused"
	egress.host_problem("api%2eevil.com", null) == "a percent-encoded host is refused"
	egress.host_problem("10.0.0.1", null) == "an IP address is refused as a host (use a domain name)"
	egress.host_problem("2130706433", null) == "an IP address is refused as a host (use a domain name)"
	egress.host_problem("0x7f.1", null) == "an IP address is refused as a host (use a domain name)"
	egress.host_problem("[::1]", null) == "an IP address is refused as a host (use a domain name)"
	egress.host_problem("::1", null) == "an IP address is refused as a host (use a domain name)"
	egress.host_problem("a..b", null) == "the host is not a valid domain name"
	egress.host_problem("a_b.com", null) == "the host is not a valid domain name"
	egress.host_problem("api.example.com:x", null) == "the host's port is not a number"
	egress.host_problem("api.example.com:\u0663", null) == "a non-ASCII host is refused (use its punycode form)"
	egress.host_problem("\u212aube.example.com", null) == "a non-ASCII host is refused (use its punycode form)"
	egress.host_problem("api\uff0eexample.com", null) == "a non-ASCII host is refused (use its punycode form)"
	egress.host_problem("api.example.com\u0085", null) == "a non-ASCII host is refused (use its punycode form)"
	not egress.host_problem("xn--caf-dma.example", null)
}

test_port_mismatch_is_refused if {
	egress.host_problem("api.example.com:8443", 443) == "the host's port 8443 does not match the call's port 443"
	not egress.host_problem("api.example.com:443", 443)
	not egress.host_problem("api.example.com", 443)
}
