"""The package version, in one place (read by the CLI, bundle manifests and packaging)."""

__version__ = "0.1.0"
