"""Call semantics that the DSL checks, the compiler and the runtime must agree on: canonical request paths and
endpoint patterns (:mod:`~yaml2rego.semantics.paths`), destination hosts (:mod:`~yaml2rego.semantics.hosts`) and the
built-in content detectors (:mod:`~yaml2rego.semantics.detectors`)."""
