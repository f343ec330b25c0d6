"""The pages' Jinja2 environment: the package's templates, HTML autoescaped."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def page(request: Request, template: str, /, status_code: int = 200, **context):
    """The page ``template`` rendered with ``context`` (and the request, the signed-in user and the CSRF token)."""
    who = getattr(request.state, "principal", None)
    return TEMPLATES.TemplateResponse(request, template, {"who": who, "csrf": getattr(who, "csrf", None), **context},
                                      status_code=status_code)


def go_to(request: Request, url: str):
    """Send the browser to ``url`` after a form: a 303 redirect, or for an htmx request (which would
    follow a redirect itself and put the whole page into its target) an ``HX-Redirect``."""
    from fastapi.responses import RedirectResponse, Response

    if request.headers.get("HX-Request"):
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)
