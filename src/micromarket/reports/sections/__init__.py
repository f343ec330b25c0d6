"""The report's sections, each built from the workspace by a function that returns a
:class:`~micromarket.reports.page.Section`, or ``None`` while the workspace has nothing for it.

:data:`SECTIONS` lists them in the order of the loop; a new stage adds its section here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from ..page import Section
from .local import local_section
from .measure import measure_section
from .offers import offers_section
from .overview import overview_section
from .quality import quality_section
from .recommend import recommend_section
from .segments import segments_section
from .value import value_section

if TYPE_CHECKING:
    from ...workspace import Workspace

#: The section builders, in the order the report shows them.
SECTIONS: tuple[Callable[["Workspace"], Section | None], ...] = (
    overview_section, value_section, segments_section, local_section, offers_section, recommend_section,
    measure_section, quality_section)


def default_sections(ws: "Workspace") -> list[Section]:
    """Every section the workspace has data for, in the order of the loop.

    Parameters
    ----------
    ws : Workspace
        The workspace reported on.

    Returns
    -------
    list of Section
    """
    sections = (build(ws) for build in SECTIONS)
    return [s for s in sections if s is not None]


__all__ = ["SECTIONS", "default_sections", "overview_section", "value_section", "segments_section",
           "local_section", "offers_section", "recommend_section", "measure_section", "quality_section"]
