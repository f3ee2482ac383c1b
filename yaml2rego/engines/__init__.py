"""Decision engines behind one protocol: :class:`NativeEngine` (the guard's default: per-agent native programs, with
regorus behind them), :class:`EmbeddedEngine` (regorus alone) and :class:`OpaEngine` (an OPA daemon)."""

from yaml2rego.engines.base import DECISION_PATH, RUNTIME_DATA_ROOT, Engine
from yaml2rego.engines.embedded import EmbeddedEngine
from yaml2rego.engines.native import NativeEngine
from yaml2rego.engines.opa import OpaEngine

__all__ = ["DECISION_PATH", "RUNTIME_DATA_ROOT", "EmbeddedEngine", "Engine", "NativeEngine", "OpaEngine"]
