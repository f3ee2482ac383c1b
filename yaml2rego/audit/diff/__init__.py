"""What changed between two versions of the boundaries, per agent, in policy terms, each change labelled.

Both sides are compared in the compiled data form (``data.boundaries.agents``, see docs/architecture.md), which YAML
(through the compiler), a compiled output directory, a ``data.json`` and a bundle all yield. Comparing the compiled
facts rather than YAML text means formatting, comments, key order and moved lines are not changes.

Every section is compared: endpoints, input validation, rate limits, payload size, the tool registry and execution
context (``tools``, ``execution_context``), ``conditions``, allowed domains (the agent's ``egress`` and the global
``defaults``, whose changes are listed once under the agent id :data:`DEFAULTS`), ``budget`` and ``sanitize``.

Every change is either ``loosens`` (the agent may now do something it could not) or ``tightens``. Where the effect
cannot be decided mechanically (a regex pattern replaced by another, a field type swapped for an unrelated one, a
condition's ``eq`` value changed) the change is labelled ``loosens`` so that a reviewer has to look, and its detail
says why.

The package, by module:

* :mod:`~yaml2rego.audit.diff.changes`: :class:`PolicyChange`, and how the entries of a section are paired;
* :mod:`~yaml2rego.audit.diff.endpoints`, :mod:`~yaml2rego.audit.diff.tools`, :mod:`~yaml2rego.audit.diff.enforcement`:
  one comparison per section, each with its own labels and its own rule for what loosens;
* :mod:`~yaml2rego.audit.diff.compare`: agents and sections put together (:func:`diff_agents`, :func:`diff_boundaries`);
* :mod:`~yaml2rego.audit.diff.sources`: bundles, ``data.json``, output directories, YAML and policy sets as sides;
* :mod:`~yaml2rego.audit.diff.formats`: text and Markdown.

>>> old = {"bot": {"mode": "enforce", "allowed_endpoints": [{"method": "GET", "pattern": "/a"}]}}
>>> new = {"bot": {"mode": "shadow", "allowed_endpoints": [{"method": "*", "pattern": "/a"}]}}
>>> [(change.kind, change.label) for change in diff_agents(old, new)]
[('mode_changed', 'loosens'), ('methods_widened', 'loosens')]
"""

from __future__ import annotations

from yaml2rego.audit.diff.changes import DEFAULTS, LOOSENS, TIGHTENS, PolicyChange
from yaml2rego.audit.diff.compare import diff_agents, diff_boundaries
from yaml2rego.audit.diff.formats import format_markdown, format_text
from yaml2rego.audit.diff.sources import diff_policy_sets, diff_sources, load_agents, load_boundaries

__all__ = [
    "DEFAULTS",
    "LOOSENS",
    "TIGHTENS",
    "PolicyChange",
    "diff_agents",
    "diff_boundaries",
    "diff_policy_sets",
    "diff_sources",
    "format_markdown",
    "format_text",
    "load_agents",
    "load_boundaries",
]
