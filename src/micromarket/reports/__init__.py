"""Reports: self-contained HTML with Plotly charts (no CDN)."""

from .html import Section, write_report

__all__ = ["Section", "write_report"]
