"""Roles and what each may do.

Staff roles are ordered: a ``viewer`` reads; a ``marketer`` also writes segments and runs
campaigns; an ``admin`` also changes settings and starts stage runs. The ``events`` role stands
apart: a write key for systems that post events (a shop, an app), which may do nothing else, and
which no staff role includes (an admin token is never put in a web page's JavaScript)."""

from __future__ import annotations

from ..exceptions import SchemaError

STAFF_ROLES = ("viewer", "marketer", "admin")
EVENTS = "events"
ROLES = (*STAFF_ROLES, EVENTS)


def check_role(role: str) -> str:
    """``role`` if it is one of :data:`ROLES`, else a clear error."""
    if role not in ROLES:
        raise SchemaError(f"role {role!r} is not one of {', '.join(ROLES)}")
    return role


def allows(held: str, needed: str) -> bool:
    """Whether a principal holding role ``held`` may do what needs ``needed``.

    >>> allows("admin", "viewer"), allows("viewer", "marketer"), allows("admin", "events"), allows("events", "events")
    (True, False, False, True)
    """
    if needed == EVENTS or held == EVENTS:
        return held == needed
    return STAFF_ROLES.index(held) >= STAFF_ROLES.index(needed)


__all__ = ["EVENTS", "ROLES", "STAFF_ROLES", "allows", "check_role"]
