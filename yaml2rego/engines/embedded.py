"""The embedded engine: regorus (Microsoft's Rust Rego interpreter) running in-process.

This is the only module that imports ``regorus``. A regorus ``Engine`` may only be used from the thread that created
it, so each thread lazily builds its own from the same modules and data; a suspension (kill switch) bumps a
generation counter and every thread reloads its runtime data before its next decision.

>>> from yaml2rego.engines import EmbeddedEngine
>>> engine = EmbeddedEngine.from_policy_paths(["examples/support_agent.yaml"])  # doctest: +SKIP
>>> engine.decide({"agent_id": "support_agent_1", "method": "GET", "path": "/api/customer/v1/42"})["decision"]
... # doctest: +SKIP
'allow'
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yaml2rego.canonical_json import canonical, compact
from yaml2rego.engines.base import DECISION_PATH, RUNTIME_DATA_ROOT
from yaml2rego.errors import EngineError, EngineUnavailable

if TYPE_CHECKING:
    from yaml2rego.compile.compiler import CompiledPolicy

__all__ = ["DecisionCache", "EmbeddedEngine", "decision_modules", "engine_message", "new_regorus_engine"]

_DECISION_RULE = "data." + DECISION_PATH.replace("/", ".")


def engine_message(error: BaseException) -> str:
    """regorus error text without the Rust backtrace that follows the useful part."""
    text = str(error).split("Stack backtrace:")[0]
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    return "\n".join(lines) or type(error).__name__


def decision_modules(modules: Mapping[str, str]) -> dict[str, str]:
    """The modules a decision needs: the library, without the per-agent review modules under ``agents/``.

    Every review module only restates ``data.agent_boundary.decision`` for one agent; regorus slows down with each
    loaded module, so leaving them out keeps decisions as fast at 10,000 agents as at 10.
    """
    return {path: text for path, text in modules.items() if not path.startswith("agents/")}


def new_regorus_engine() -> Any:
    """A fresh regorus engine in Rego v1 mode; :class:`EngineUnavailable` if regorus is not installed."""
    try:
        import regorus
    except ImportError as exc:  # pragma: no cover - regorus is a hard dependency
        raise EngineUnavailable("the embedded engine needs regorus: pip install gordon-to-regorus") from exc
    engine = regorus.Engine()
    engine.set_rego_v0(False)
    return engine


class EmbeddedEngine:
    """Evaluates decisions in-process with regorus. Thread-safe; one regorus engine per thread."""

    name = "embedded"

    def __init__(self, modules: Mapping[str, str], data: Mapping[str, Any], *, cache_size: int = 0) -> None:
        """``modules`` maps a file name to Rego text (tests excluded); ``data`` is the root data document.

        ``cache_size`` > 0 keeps that many recent decisions, keyed by the exact input: a decision depends only on the
        input and on this engine's policy and data, so a repeated call is answered without evaluating the policy
        again. The kill switch (suspend/resume) invalidates every kept decision. Off by default.
        """
        self._modules = dict(sorted(modules.items()))
        self.cache = DecisionCache(cache_size) if cache_size > 0 else None
        self._data = json.loads(compact(data))
        self._suspended: dict[str, dict[str, str]] = {}
        self._generation = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        # Build once now so a broken policy fails at construction, not on the first call.
        self._engine_for_this_thread()

    @classmethod
    def from_compiled(cls, compiled: CompiledPolicy, *, cache_size: int = 0) -> EmbeddedEngine:
        modules = decision_modules(compiled.modules(include_tests=False))
        return cls(modules, compiled.data_document(), cache_size=cache_size)

    @classmethod
    def from_policy_paths(cls, paths: Iterable[str | os.PathLike[str]], *, cache_size: int = 0) -> EmbeddedEngine:
        """Load boundary YAML files or directories, compile them, and evaluate exactly that output."""
        from yaml2rego.compile.compiler import compile_policy_set
        from yaml2rego.dsl.loader import load_policies

        return cls.from_compiled(compile_policy_set(load_policies(paths)), cache_size=cache_size)

    @classmethod
    def from_directory(cls, directory: str | os.PathLike[str]) -> EmbeddedEngine:
        """Load what ``yaml2rego compile -o DIR`` wrote: every non-test ``.rego`` file and every ``data.json``."""
        root = Path(directory)
        modules: dict[str, str] = {}
        data: dict[str, Any] = {}
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root).as_posix()
            if path.suffix == ".rego" and not path.name.endswith("_test.rego"):
                modules[relative] = path.read_text(encoding="utf-8")
            elif path.name == "data.json":
                node = data
                for key in path.parent.relative_to(root).parts:
                    node = node.setdefault(key, {})
                node.update(json.loads(path.read_text(encoding="utf-8")))
        if not modules:
            raise EngineError(f"no Rego modules found in {root}")
        return cls(decision_modules(modules), data)

    # -- the Engine protocol -------------------------------------------------------------------------------------

    def decide(self, call: Mapping[str, Any]) -> dict[str, Any]:
        key = self.cache.key(call) if self.cache is not None else None
        if key is not None and self.cache is not None:
            kept = self.cache.get(key, self._generation)
            if kept is not None:
                return kept
        engine = self._engine_for_this_thread()
        generation = self._local.generation  # the data this evaluation sees
        try:
            engine.set_input(call)
            result = engine.eval_rule(_DECISION_RULE)
        except Exception as exc:  # regorus raises plain RuntimeError/ValueError
            raise EngineError(f"embedded engine failed to evaluate the decision: {engine_message(exc)}") from exc
        if not isinstance(result, dict):
            raise EngineError(f"{_DECISION_RULE} is undefined or not an object: {result!r}")
        if key is not None and self.cache is not None:
            self.cache.put(key, result, generation)
        return result

    def suspend(self, agent_id: str, reason: str) -> None:
        with self._lock:
            self._suspended[agent_id] = {"reason": reason}
            self._generation += 1

    def resume(self, agent_id: str) -> None:
        with self._lock:
            if self._suspended.pop(agent_id, None) is not None:
                self._generation += 1

    def close(self) -> None:
        # A regorus engine may only be dropped by the thread that made it: release this thread's engine here, and
        # let every other thread's engine go with its thread (thread-locals die with their thread).
        if hasattr(self._local, "engine"):
            del self._local.engine

    # -- internals -----------------------------------------------------------------------------------------------

    def _engine_for_this_thread(self) -> Any:
        local = self._local
        engine = getattr(local, "engine", None)
        if engine is None:
            engine = new_regorus_engine()
            try:
                for name, text in self._modules.items():
                    engine.add_policy(name, text)
            except Exception as exc:
                raise EngineError(f"embedded engine could not load the policy: {engine_message(exc)}") from exc
            local.engine = engine
            local.generation = -1
        if local.generation != self._generation:
            with self._lock:
                generation = self._generation
                runtime = {RUNTIME_DATA_ROOT: {"suspended": dict(self._suspended)}}
            engine.clear_data()
            engine.add_data(self._data)
            engine.add_data(runtime)
            local.generation = generation
        return engine


class DecisionCache:
    """The most recent decisions of one engine, keyed by the canonical JSON of the input. Thread-safe.

    Each entry remembers the data generation it was computed on and is only returned while that generation is
    current, so a decision computed before a suspension can never be served after it. Entries are kept as JSON text:
    every hit returns fresh objects that the caller may change.

    >>> cache = DecisionCache(2)
    >>> key = cache.key({"agent_id": "a", "method": "GET", "path": "/x"})
    >>> cache.put(key, {"decision": "allow"}, generation=0)
    >>> cache.get(key, generation=0), cache.get(key, generation=1)
    ({'decision': 'allow'}, None)
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, tuple[int, str]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(call: Mapping[str, Any]) -> str | None:
        """The input as canonical JSON; ``None`` (never cached) for an input that is not plain JSON."""
        try:
            return canonical(call)
        except (TypeError, ValueError):
            return None

    def get(self, key: str, generation: int) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != generation:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
        return json.loads(entry[1])  # type: ignore[no-any-return]

    def put(self, key: str, result: Mapping[str, Any], generation: int) -> None:
        text = compact(result)
        with self._lock:
            self._entries[key] = (generation, text)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
