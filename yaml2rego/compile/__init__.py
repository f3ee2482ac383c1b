"""From the typed model to what the engines run: Rego modules and data (:mod:`~yaml2rego.compile.compiler`), the
generated Rego tests (:mod:`~yaml2rego.compile.testgen`) and the native decision programs
(:mod:`~yaml2rego.compile.native_program`, :mod:`~yaml2rego.compile.native_regex`)."""
