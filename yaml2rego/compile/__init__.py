"""From the typed model to what the engines run: Rego modules and data (:mod:`~yaml2rego.compile.compiler`, each
section's data in :mod:`~yaml2rego.compile.section_data`), the generated Rego tests (:mod:`~yaml2rego.compile.testgen`,
their expected answers from :mod:`~yaml2rego.compile.oracle`) and the native decision programs
(:mod:`~yaml2rego.compile.native_program`, :mod:`~yaml2rego.compile.native_regex`)."""
