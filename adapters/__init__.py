"""Runtime guard and framework adapters, installed as ``yaml2rego.adapters``."""
