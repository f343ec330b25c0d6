"""Reports: self-contained HTML with Plotly charts (no CDN).

- :mod:`.html`: the writer, :func:`write_report`;
- :mod:`.sections`: one module per section, each built from the workspace;
- :mod:`.page`: the toolkit sections share (:class:`Section`, rendering a chart, formatting);
- :mod:`.figures` and :mod:`.maps`: the charts as plain functions of data (no workspace, no HTML);
- :mod:`.overview` and :mod:`.quality`: the overview's Ibis expressions and the loads' quality rows.
"""

from .html import write_report
from .page import Section

__all__ = ["Section", "write_report"]
