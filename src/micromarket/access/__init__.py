"""Who may use a workspace through the server: users with passwords, API tokens, roles, and the
audit log of what they changed. Used by ``micromarket user``/``token`` and by the server."""

from .audit import audit_write, audited
from .roles import EVENTS, ROLES, STAFF_ROLES, allows, check_role
from .tokens import create_token, find_token, revoke_token
from .users import add_user, authenticate, end_sessions, find_user

__all__ = ["EVENTS", "ROLES", "STAFF_ROLES", "add_user", "allows", "audit_write", "audited", "authenticate",
           "check_role", "create_token", "end_sessions", "find_token", "find_user", "revoke_token"]
