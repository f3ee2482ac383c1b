"""The agent-boundary DSL: YAML read safely (:mod:`~yaml2rego.dsl.yaml_source`), checked against the JSON Schema
(:mod:`~yaml2rego.dsl.schema`) and the checks a schema cannot express (:mod:`~yaml2rego.dsl.checks`), and built into
the typed model (:mod:`~yaml2rego.dsl.model`) by :mod:`~yaml2rego.dsl.loader`. Each boundary section with rules of its
own has its own module (tools, alerts, tenancy and the enforcement sections), holding its checks and its model
building; field rules share their checks (:mod:`~yaml2rego.dsl.field_rules`). Each section's compiled data is in
:mod:`yaml2rego.compile.section_data`."""
