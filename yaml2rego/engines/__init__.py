"""Rego engines behind one protocol: :class:`EmbeddedEngine` (the default) and :class:`OpaEngine`."""

from yaml2rego.engines.base import DECISION_PATH, RUNTIME_DATA_ROOT, Engine
from yaml2rego.engines.embedded import EmbeddedEngine
from yaml2rego.engines.opa import OpaEngine

__all__ = ["DECISION_PATH", "RUNTIME_DATA_ROOT", "EmbeddedEngine", "Engine", "OpaEngine"]
