"""A draft campaign made from template text (the server's campaign builder and API), rather than
from template files on disk (the CLI): the templates are checked, kept in the workspace under
``campaigns/NAME/templates/VARIANT.tmpl``, and the draft is stored by the runner."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import SchemaError
from .campaign import list_campaigns
from .messages import MessageTemplate

if TYPE_CHECKING:
    from ..workspace import Workspace
    from .campaign import Campaign

_CREATING = threading.Lock()
#: Campaign and variant names: they name folders and files, so nothing that could leave them.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def create_draft(ws: "Workspace", name: str, *, variants: list[dict], **definition: Any) -> "Campaign":
    """Check ``variants`` (``name``, ``template`` text, optional ``discount_depth``), keep their
    templates in the workspace and store the draft (:func:`micromarket.runner.run_create_campaign`
    with ``definition``); nothing is written when a template or a name is wrong."""
    from ..runner import run_create_campaign

    with _CREATING:  # the name's check and the templates' files, one draft at a time
        return _create(ws, name, variants, definition, run_create_campaign)


def _create(ws, name, variants, definition, run_create_campaign) -> "Campaign":
    _check_name("campaign", name)
    currency = ws.config["workspace"]["currency"]
    for variant in variants:
        _check_name("variant", variant["name"])
        MessageTemplate(variant["template"], f"variant {variant['name']}", currency=currency)
    if any(c["campaign_id"] == name for c in list_campaigns(ws)):
        raise SchemaError(f"campaign {name!r} exists; choose another name")
    stored = [{"name": v["name"], "template": str(_keep(ws.root, name, v["name"], v["template"])),
               **({"discount_depth": v["discount_depth"]} if v.get("discount_depth") is not None else {})}
              for v in variants]
    return run_create_campaign(ws, name, template=None, variants=stored, **definition)


def _check_name(what: str, name: str) -> None:
    if not isinstance(name, str) or not NAME.match(name):
        raise SchemaError(f"{what} name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a "
                          "letter or digit")


def _keep(root: Path, campaign: str, variant: str, text: str) -> Path:
    folder = Path(root) / "campaigns" / campaign / "templates"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{variant}.tmpl"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


__all__ = ["NAME", "create_draft"]
