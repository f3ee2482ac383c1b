"""The report's charts: pygal renders each one to an SVG string that is inlined in the HTML.

pygal is used without its JavaScript (``js=[]``, which would load pygal-tooltips from a CDN) and with its comments
removed, and the inline configuration script it writes anyway is removed too, so a chart runs nothing and
reaches out to nothing: the report is read offline, perhaps years later, by an auditor.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["bar_chart", "line_chart"]

# pygal writes its config into a <script> even without its JavaScript: the report runs no script at all.
_UNWANTED = re.compile(r"<!--.*?-->|<script\b.*?</script>", re.DOTALL)


def _style() -> Any:
    from pygal.style import Style

    return Style(
        background="white",
        plot_background="white",
        foreground="#333",
        foreground_strong="#111",
        foreground_subtle="#666",
        colors=("#c0392b", "#2c7fb8", "#e67e22", "#27ae60", "#8e44ad"),
        font_family="sans-serif",
    )


def _config(title: str) -> dict[str, Any]:
    return {
        "title": title,
        "style": _style(),
        "js": [],
        "disable_xml_declaration": True,
        "width": 760,
        "height": 300,
        "explicit_size": True,
        "print_values": False,
        "show_legend": True,
        "legend_at_bottom": True,
        "truncate_label": 40,
    }


def _svg(chart: Any) -> str:
    return _UNWANTED.sub("", str(chart.render(is_unicode=True)))


def line_chart(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]]) -> str:
    """A line chart over ``labels`` (e.g. hours), one line per series."""
    import pygal

    chart = pygal.Line(**_config(title), x_label_rotation=30, show_minor_x_labels=False)
    chart.x_labels = list(labels)
    chart.x_labels_major = list(labels)[:: max(1, len(labels) // 12)]
    for name, values in series.items():
        chart.add(name, list(values))
    return _svg(chart)


def bar_chart(title: str, items: Sequence[tuple[str, float]], *, series: str = "count") -> str:
    """A horizontal bar chart of ``(label, value)`` items, largest first as given."""
    import pygal

    chart = pygal.HorizontalBar(**_config(title))
    drawn = list(items)[::-1]  # pygal draws the first bar at the bottom: the largest goes on top
    chart.x_labels = [label for label, _ in drawn]
    chart.add(series, [value for _, value in drawn])
    return _svg(chart)
