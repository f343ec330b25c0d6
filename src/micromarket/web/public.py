"""Pages for customers, public, without a login: one-click unsubscribe (RFC 8058) and the preference
centre. The signed token in the URL is the only credential: it names one customer (and, for an
unsubscribe, one channel), cannot be forged, and does not open another customer's page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from ..campaigns import preferences as prefs
from ..campaigns.links import PREFERENCES, link_key, verify
from ..exceptions import SchemaError
from .render import page
from .security import public

router = APIRouter(tags=["customer links"], include_in_schema=True)

_CHANNELS = [("email", "E-mail"), ("sms", "Text messages"), ("post", "Post")]
_FREQUENCIES = [("any", "Whenever there is something for me"), ("weekly", "At most once a week"),
                ("monthly", "At most once a month")]
_LABELS = {"email": "our e-mails", "mail_folder": "our e-mails", "sms": "our text messages", "push": "our app's "
           "notifications", "direct_mail": "our letters"}


def _token(request: Request, token: str, purpose: str | None) -> tuple[str, str]:
    """``(customer_id, channel)`` of a genuine token; ``purpose`` ``preferences`` for the
    preference centre, ``None`` for an unsubscribe (any channel but that)."""
    try:
        customer, channel = verify(link_key(request.app.state.root), token)
    except (SchemaError, ValueError, UnicodeDecodeError):
        raise _refused() from None
    if (purpose == PREFERENCES) != (channel == PREFERENCES):
        raise _refused()
    return customer, channel


def _refused() -> Exception:
    from fastapi import HTTPException

    return HTTPException(404, "this link is not valid")


@router.get("/unsubscribe/{token}", response_class=HTMLResponse, summary="The unsubscribe confirmation page "
            "(a GET changes nothing: link scanners unsubscribe nobody)", **public())
def unsubscribe_page(request: Request, token: str):
    customer, channel = _token(request, token, None)
    # No link to the preference centre here: an unsubscribe URL is seen by mailbox providers and
    # whoever a message is forwarded to, and must not open the customer's other choices.
    return page(request, "unsubscribe.html", done=False, channel_label=_LABELS.get(channel, f"{channel} messages"))


@router.post("/unsubscribe/{token}", response_class=HTMLResponse, summary="Unsubscribe at once (RFC 8058 one-click: "
             "the mailbox provider's button POSTs here)", **public())
async def unsubscribe(request: Request, token: str):
    customer, channel = _token(request, token, None)

    def work() -> None:
        with request.app.state.gate.use() as ws:
            prefs.unsubscribe(ws, customer, channel)

    await run_in_threadpool(work)
    return page(request, "unsubscribe.html", done=True, channel_label=_LABELS.get(channel, f"{channel} messages"))


@router.get("/preferences/{token}", response_class=HTMLResponse, summary="The customer's preference centre",
            **public())
def preferences_page(request: Request, token: str):
    customer, _ = _token(request, token, PREFERENCES)
    with request.app.state.gate.use() as ws:
        current = prefs.preferences(ws, customer)
    return page(request, "preferences.html", prefs=current, channels=_CHANNELS, frequencies=_FREQUENCIES, saved=False)


@router.post("/preferences/{token}", response_class=HTMLResponse, summary="Save the customer's choices", **public())
async def save_preferences(request: Request, token: str):
    customer, _ = _token(request, token, PREFERENCES)
    form = await request.form()
    chosen = set(form.getlist("channel"))

    def work() -> dict:
        with request.app.state.gate.use() as ws:
            prefs.save_preferences(ws, customer, {name: name in chosen for name, _ in _CHANNELS},
                                   str(form.get("frequency") or "any"), [str(i) for i in form.getlist("interest")])
            return prefs.preferences(ws, customer)

    current = await run_in_threadpool(work)
    return page(request, "preferences.html", prefs=current, channels=_CHANNELS, frequencies=_FREQUENCIES, saved=True)
