"""The diff for people: plain text for a terminal, Markdown for a pull-request comment.

>>> from yaml2rego.audit.diff.changes import PolicyChange
>>> print(format_text([PolicyChange("bot", "rate_limit_raised", "loosens", "rate limit for * /a: 30/min -> 60/min")]))
bot:
  [loosens] rate limit for * /a: 30/min -> 60/min
1 change(s): 1 loosen, 0 tighten
"""

from __future__ import annotations

from collections.abc import Sequence

from yaml2rego.audit.diff.changes import PolicyChange

__all__ = ["format_markdown", "format_text"]


def _summary(changes: Sequence[PolicyChange]) -> str:
    loosening = sum(change.loosens for change in changes)
    return f"{len(changes)} change(s): {loosening} loosen, {len(changes) - loosening} tighten"


def format_text(changes: Sequence[PolicyChange]) -> str:
    """Plain text, one block per agent."""
    if not changes:
        return "no policy changes"
    lines: list[str] = []
    agent = None
    for change in changes:
        if change.agent_id != agent:
            agent = change.agent_id
            lines.append(f"{agent}:")
        lines.append(f"  [{change.label}] {change.detail}")
    lines.append(_summary(changes))
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def format_markdown(changes: Sequence[PolicyChange]) -> str:
    """A Markdown comment for a pull request: one table per agent, loosening changes in bold."""
    lines = ["## Agent boundary changes", ""]
    if not changes:
        return "\n".join([*lines, "No policy changes."])
    loosening = [change for change in changes if change.loosens]
    if loosening:
        lines += [f"**{len(loosening)} change(s) loosen a boundary: a reviewer must approve.**", ""]
    agent = None
    for change in changes:
        if change.agent_id != agent:
            agent = change.agent_id
            lines += ["", f"### `{_cell(agent)}`", "", "| Effect | Change | Detail |", "|---|---|---|"]
        effect = "**loosens**" if change.loosens else "tightens"
        lines.append(f"| {effect} | `{change.kind}` | {_cell(change.detail)} |")
    lines += ["", _summary(changes)]
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text
