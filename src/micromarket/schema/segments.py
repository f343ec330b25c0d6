"""Tables ``micromarket segment`` writes: segments, their members, segmentations and area types."""

from __future__ import annotations

from .base import INTEGER, NUMBER, TEXT, TIMESTAMP, Column, Table, _derived

SEGMENTS = Table(
    "segments",
    "One row per segment: rule segments, clustered segments at each granularity, area types.",
    (
        _derived("segment_id", INTEGER, "Segment number, never reused."),
        _derived("name", TEXT, "Unique name, e.g. `lapsing-cheese-lovers` or `clusters/micro-017`."),
        _derived("kind", TEXT, "`rule`, `cluster` or `area_type`."),
        _derived("segmentation", TEXT, "The clustering or area typology the segment belongs to (NULL for rules)."),
        _derived("granularity", TEXT, "`segment` for rules; `macro`, `segment`, `niche` or `micro` within a segmentation."),
        _derived("parent_id", INTEGER, "The coarser segment this one merges into (clustered hierarchies)."),
        _derived("definition", TEXT, "The rule text, or the segment's centre as JSON for clustered segments."),
        _derived("persona_name", TEXT, "Short persona name written from what sets the segment apart."),
        _derived("persona", TEXT, "One-paragraph persona description."),
        _derived("size", INTEGER, "Members at the last refresh."),
        _derived("clv", NUMBER, "Total CLV of the members at the last refresh."),
        _derived("updated_at", TIMESTAMP, "Last refresh of the membership."),
    ),
    natural_key=("segment_id",),
    ingestible=False,
)

SEGMENT_MEMBERS = Table(
    "segment_members",
    "One row per segment and member customer.",
    (
        _derived("segment_id", INTEGER, "Segment (see `segments`)."),
        Column("customer_id", TEXT, "Member customer.", source=False),
    ),
    natural_key=("segment_id", "customer_id"),
    ingestible=False,
)

SEGMENTATIONS = Table(
    "segmentations",
    "One row per clustering or area typology: settings, fitted model (to assign new customers) and quality.",
    (
        _derived("segmentation", TEXT, "Name, e.g. `clusters`."),
        _derived("kind", TEXT, "`cluster` or `area_type`."),
        _derived("created_at", TIMESTAMP, "When it was fitted."),
        _derived("settings", TEXT, "Features, weights, method and k as JSON text."),
        _derived("model", TEXT, "Scaling and centres as JSON text: enough to assign new rows without refitting."),
        _derived("quality", TEXT, "Scores per candidate k, the chosen k, bootstrap stability as JSON text."),
    ),
    natural_key=("segmentation",),
    ingestible=False,
)

AREA_TYPES = Table(
    "area_types",
    "One row per area: its geodemographic type (from `micromarket segment areas`).",
    (
        Column("area_id", TEXT, "Area (see `areas`).", source=False),
        _derived("area_type", TEXT, "Type name, e.g. `High income, older, low density`."),
        _derived("segment_id", INTEGER, "The type's segment (see `segments`)."),
    ),
    natural_key=("area_id",),
    ingestible=False,
)
