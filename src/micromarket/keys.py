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
        return os.environ[env].encode()
    path = Path(root) / ".micromarket" / f"{name}.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # made by another process meanwhile
            return path.read_text().strip().encode()
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


__all__ = ["workspace_key"]
