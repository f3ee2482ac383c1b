"""Framework adapters, installed as ``yaml2rego.adapters``, and the runtime's public names (from
:mod:`yaml2rego.runtime`).

>>> from yaml2rego.adapters import Guard, JsonlFileSink  # doctest: +SKIP
>>> guard = Guard.from_policy(["boundaries/"], sinks=[JsonlFileSink("decisions.jsonl")])  # doctest: +SKIP
>>> guard.enforce({"agent_id": "support_agent_1", "method": "GET", "path": "/api/customer/v1/42"})  # doctest: +SKIP

Framework adapters (``yaml2rego.adapters.langgraph`` and friends) are imported on their own, so this package never
pulls in a framework.
"""

# The runtime's public names, the same objects: one list of them (yaml2rego.runtime.__all__), not a copy here.
from yaml2rego.runtime import *  # noqa: F403
from yaml2rego.runtime import __all__ as __all__
