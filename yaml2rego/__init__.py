"""yaml2rego: compile YAML agent boundaries into OPA Rego policies and enforce them on every agent call."""

__version__ = "0.1.0"
