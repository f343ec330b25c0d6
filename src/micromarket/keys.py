"""Secret keys a workspace keeps for itself in ``.micromarket/`` (readable by its owner only):
the key of customers' signed links, the key sessions are signed with. Made on first use; never in
``micromarket.toml``."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def workspace_key(root: Path, name: str, env: str | None = None) -> bytes:
    """The key ``.micromarket/<name>.key`` of the workspace at ``root`` (64 hex characters), made
    on first use; the environment variable ``env``, where named and set, wins (several servers
    sharing one key)."""
    if env and os.environ.get(env):
        return _checked(os.environ[env].encode(), f"the environment variable {env}")
    path = Path(root) / ".micromarket" / f"{name}.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under a temporary name, then linked into place: a process that reads the
        # key never sees it half-written, and of two processes making it at once one key wins.
        tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return _checked(path.read_text().strip().encode(), str(path))


def _checked(key: bytes, where: str) -> bytes:
    if len(key) < 32:
        from .exceptions import ConfigError

        raise ConfigError(f"{where}: a key needs at least 32 characters (it has {len(key)})")
    return key


__all__ = ["workspace_key"]
