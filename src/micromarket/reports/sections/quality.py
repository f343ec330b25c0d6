"""The report's data-quality section: every load, what it read, what it kept out and why."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..page import Section
from ..quality import quality_rows

if TYPE_CHECKING:
    from ...workspace import Workspace


def quality_section(ws: "Workspace") -> Section:
    """The loads log and each load's data-quality report.

    Parameters
    ----------
    ws : Workspace
        The workspace reported on.

    Returns
    -------
    Section
        One table per load (none before the first load).
    """
    sec = Section("Data quality", "Every load, what it read, what it kept out and why. Excluded and invalid rows are "
                                  "in the quarantine table with their reasons.")
    sec.tables += quality_rows(ws)
    return sec


__all__ = ["quality_section"]
