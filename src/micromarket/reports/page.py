"""The report's toolkit: the :class:`Section` every part of the report fills in, the newest record of
a run log, the rendering of a figure as an HTML fragment, and the formatting of figures in text.

Sections import this module, never :mod:`micromarket.reports.html` (the writer, which imports
the sections).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ..workspace import Workspace


@dataclass
class Section:
    """A titled part of the report.

    ``warnings`` say why a figure of the section is weak; they are shown above the figures,
    where no reader can miss them.

    Parameters
    ----------
    title : str
        The section's heading.
    intro : str
        A paragraph under the heading: what the section shows.
    figures : list of (str, str)
        Key figures as (label, formatted value).
    charts : list of str
        Charts as HTML fragments (see :func:`chart`).
    tables : list of dict
        Tables as ``{"caption", "header", "rows"}``.
    warnings : list of str
        Why a figure of the section is weak.
    """

    title: str
    intro: str = ""
    figures: list[tuple[str, str]] = field(default_factory=list)
    charts: list[str] = field(default_factory=list)
    tables: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def latest_summary(ws: "Workspace", run_log: str) -> dict | None:
    """The ``summary`` of the newest record of a run log, decoded, or ``None`` before the first run.

    Parameters
    ----------
    ws : Workspace
        The workspace reported on.
    run_log : str
        A run log table with a JSON ``summary`` column (``offer_runs``, ``recommendation_runs`` ...).

    Returns
    -------
    dict or None
    """
    row = ws.storage.latest_run(run_log)
    return None if row is None else json.loads(row["summary"])


def chart(fig: "go.Figure") -> str:
    """A figure as an HTML fragment that fits its cell of the report.

    The figure is given the report's template, margins and height (360 pixels, whatever it had);
    plotly.js is not included: the writer inlines it once per page.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
        The figure (changed in place: template, margins, height).

    Returns
    -------
    str
        A ``<div>`` with the figure and the script that draws it.
    """
    fig.update_layout(template="plotly_white", margin=dict(l=40, r=20, t=50, b=40), height=360)
    return fig.to_html(full_html=False, include_plotlyjs=False, default_width="100%",
                       config={"displaylogo": False, "responsive": True})


def money(value, currency: str) -> str:
    """An amount with its currency; NULL and NaN count as zero.

    Parameters
    ----------
    value : float or None
        The amount.
    currency : str
        The currency code.

    Returns
    -------
    str
        The amount with thousands separators and two decimals.

    Examples
    --------
    >>> money(1234.5, "GBP")
    'GBP 1,234.50'
    >>> money(float("nan"), "EUR")
    'EUR 0.00'
    """
    # An empty sum comes back as NULL or NaN depending on the backend: both mean nothing.
    return f"{currency} {0.0 if value is None or value != value else value:,.2f}"


def with_interval(value, low, high, show: Callable[[float], str], note: str | None = "95 %") -> str:
    """A figure with its interval, ``"value [low, high] (note)"``, each shown by ``show``; the
    figure alone where no interval was recorded (``low`` None or NaN: older runs, too few rows).

    Examples
    --------
    >>> with_interval(0.5, 0.4, 0.6, "{:.2f}".format)
    '0.50 [0.40, 0.60] (95 %)'
    >>> with_interval(0.5, None, None, "{:.2f}".format)
    '0.50'
    """
    if _missing(low):
        return show(value)
    return f"{show(value)} [{show(low)}, {show(high)}]" + (f" ({note})" if note else "")


def clustering_quality(groups: int, silhouette: float, stability: float | None) -> str:
    """A clustering's size and quality in words; a stability that is NULL or NaN was not run.

    Parameters
    ----------
    groups : int
        Clusters (or types).
    silhouette : float
        Mean silhouette.
    stability : float or None
        Bootstrap stability (adjusted Rand index), or ``None``/NaN where not measured.

    Returns
    -------
    str

    Examples
    --------
    >>> clustering_quality(4, 0.431, 0.95)
    '4 (silhouette 0.43, bootstrap stability 0.95)'
    >>> clustering_quality(3, 0.2, None)
    '3 (silhouette 0.20, bootstrap stability not run)'
    """
    measured = stability is not None and stability == stability
    return (f"{groups} (silhouette {silhouette:.2f}, bootstrap stability "
            + (f"{stability:.2f})" if measured else "not run)"))


def significant(value) -> str:
    """Three significant digits, or ``n/a`` where the value is not a number.

    Examples
    --------
    >>> significant(0.123456), significant(None)
    ('0.123', 'n/a')
    """
    return "n/a" if _missing(value) else f"{value:.3g}"


def whole(value) -> str:
    """No decimals, or ``n/a`` where the value is not a number.

    Examples
    --------
    >>> whole(104.6), whole(float("nan"))
    ('105', 'n/a')
    """
    return "n/a" if _missing(value) else f"{value:.0f}"


def measure(value) -> str:
    """A mean or difference: three decimals under 10, one above, ``n/a`` for none.

    Examples
    --------
    >>> measure(0.25), measure(1234.56), measure(None)
    ('0.250', '1,234.6', 'n/a')
    """
    return "n/a" if value is None else f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"


def _missing(value) -> bool:
    """Whether ``value`` is NULL, NaN or NaT (what ``pandas.isna`` says of a scalar)."""
    import pandas as pd

    return bool(pd.isna(value))


__all__ = ["Section", "latest_summary", "chart", "money", "clustering_quality", "significant", "whole", "measure"]
