"""Looking back at what was decided: evidence packs (:mod:`~yaml2rego.audit.evidence`), replaying recorded calls
against another policy (:mod:`~yaml2rego.audit.replay`) and the semantic diff of two policies
(:mod:`~yaml2rego.audit.diff`)."""
