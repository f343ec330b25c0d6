"""The report writer: the sections rendered into one self-contained HTML page, with plotly.js
inlined once (no CDN, no network).

The sections come from :mod:`micromarket.reports.sections`, built with the toolkit in
:mod:`micromarket.reports.page` and the charts in :mod:`micromarket.reports.figures`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
from plotly.offline import get_plotlyjs

from .page import Section
from .sections import default_sections

if TYPE_CHECKING:
    from ..workspace import Workspace


def write_report(ws: "Workspace", path: str | Path | None = None, sections: list[Section] | None = None) -> Path:
    """Write the HTML report and return its path.

    Parameters
    ----------
    ws : Workspace
        The workspace reported on.
    path : str or Path, optional
        The HTML file (default ``<workspace>/reports/overview.html``); its folder is made if missing.
    sections : list of Section, optional
        The sections to show (default: every section the workspace has data for, see
        :func:`micromarket.reports.sections.default_sections`).

    Returns
    -------
    Path
        The file written. It is replaced in one step: readers never see half a report.
    """
    out = Path(path) if path else ws.root / "reports" / "overview.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    env = jinja2.Environment(loader=jinja2.PackageLoader("micromarket", "reports/templates"),
                             autoescape=jinja2.select_autoescape(["html"]))
    page = env.get_template("report.html").render(
        title=f"micromarket report: {ws.config['workspace']['name']}",
        generated=dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        sections=sections or default_sections(ws),
        plotlyjs=get_plotlyjs(),
    )
    tmp = out.with_suffix(".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)  # readers never see half a report
    return out


__all__ = ["write_report"]
