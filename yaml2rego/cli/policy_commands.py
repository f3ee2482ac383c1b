"""``check``, ``compile``, ``eval`` and ``test``: from boundary YAML to decisions."""

from __future__ import annotations
