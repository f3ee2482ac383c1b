"""OPA bundles of compiled policies (:mod:`~yaml2rego.bundles.bundle`), their signatures
(:mod:`~yaml2rego.bundles.signing`) and the policy history (:mod:`~yaml2rego.bundles.history`)."""
