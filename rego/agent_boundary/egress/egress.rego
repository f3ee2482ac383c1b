# METADATA
# title: Egress allowlist
# description: |
#   Destination hosts, canonicalised exactly as yaml2rego.semantics.hosts does in Python: lower case, one trailing dot
#   and a port dropped. Refused outright: an empty host, user names, non-ASCII hosts (punycode is accepted), IP
#   literals (dotted, integer, hex, IPv6), percent signs, characters outside `a-z 0-9 . -`, empty labels, and a port
#   that disagrees with the call's `port`.
#   Patterns are written by the compiler already canonical: `api.example.com`, or `*.example.com` for subdomains.
package agent_boundary.egress

_labels := `^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`

# Every label numeric or hex (0x7f.1): inet_aton reads these as IPv4 addresses, so they are never host names.
_numeric := `^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+))*$`

_ip_refused := "an IP address is refused as a host (use a domain name)"

# METADATA
# title: Host problem
# description: Why a host (with the call's `port`, or null) is refused; undefined for a host that can be matched.
host_problem(host, port) := "the host is empty" if {
	not _non_empty_string(host)
} else := "a user name in the host is refused" if {
	contains(host, "@")
} else := "a percent-encoded host is refused" if {
	contains(host, "%")
} else := "a non-ASCII host is refused (use its punycode form)" if {
	# Before lower-casing: lower("\u212a") is "k" in Go and Rust alike.
	regex.match(`[^\x00-\x7f]`, host)
} else := _ip_refused if {
	startswith(host, "[")
} else := _ip_refused if {
	count(split(host, ":")) > 2
} else := "the host's port is not a number" if {
	[_, given] := split(host, ":")
	not regex.match(`^[0-9]+$`, given)
} else := message if {
	[_, given] := split(host, ":")
	port != null
	sprintf("%v", [port]) != _without_zeros(given)
	message := sprintf("the host's port %s does not match the call's port %v", [_without_zeros(given), port])
} else := _ip_refused if {
	regex.match(_numeric, _name(host))
} else := "the host is not a valid domain name" if {
	not _valid_name(_name(host))
}

_non_empty_string(host) if {
	is_string(host)
	host != ""
}

_without_zeros(digits) := regex.replace(digits, `^0+([0-9])`, "$1")

# Lower case, no port, one trailing dot dropped.
_name(host) := trim_suffix(split(lower(host), ":")[0], ".")

_valid_name(name) if {
	count(name) <= 253
	regex.match(_labels, name)
}

# METADATA
# title: Canonical host
# description: The host as matched (lower case, no port, no trailing dot); undefined for a refused host.
canonical(host, port) := _name(host) if not host_problem(host, port)

# METADATA
# title: Host allowed
# description: The canonical host equals a pattern, or lies below a `*.domain` pattern (not the domain itself).
allowed(host, patterns) if {
	some pattern in patterns
	_matches(host, pattern)
}

_matches(host, pattern) if {
	not startswith(pattern, "*.")
	host == pattern
}

_matches(host, pattern) if {
	startswith(pattern, "*.")
	endswith(host, trim_prefix(pattern, "*"))
}
