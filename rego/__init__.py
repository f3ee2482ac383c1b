"""The hand-written Rego library every compiled policy builds on.

This folder is Rego, not Python: it is installed as package data (``yaml2rego.rego``) so the compiler can copy it into
every output directory and bundle. Run its tests with ``opa test rego/`` or ``yaml2rego test``.
"""
