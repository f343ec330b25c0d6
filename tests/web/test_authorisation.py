"""Who may call what: every operation of the OpenAPI description, for every role, with no
credentials, a wrong token, an expired session, each role's token and each role's session. The
table is made from the routes themselves (``x-role``), so a new route without a rule fails here."""

from __future__ import annotations

import re
import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from micromarket.access import ROLES, STAFF_ROLES, allows
from micromarket.web.security import PUBLIC, SESSION_COOKIE, session_key

#: The routes anyone may call: customers' links and the sign-in page.
PUBLIC_ROUTES = {("GET", "/login"), ("POST", "/login"), ("GET", "/unsubscribe/{token}"),
                 ("POST", "/unsubscribe/{token}"), ("GET", "/preferences/{token}"), ("POST", "/preferences/{token}")}


def operations(app) -> list[tuple[str, str, str]]:
    spec = app.openapi()
    found = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            found.append((method.upper(), path, operation.get("x-role")))
    return found


def concrete(path: str) -> str:
    """The path with every parameter set to a name nothing has (a granted request is answered 404
    or 422, never acted on)."""
    return re.sub(r"\{[^}]+\}", "no-such-thing", path).replace("/runs/no-such-thing", "/runs/999999")


def call(client, method: str, path: str, **kwargs):
    return client.request(method, concrete(path), follow_redirects=False, **kwargs)


def denied_without_credentials(response, path: str) -> bool:
    if path.startswith("/api/"):
        return response.status_code == 401 and response.headers.get("www-authenticate") == "Bearer"
    return response.status_code == 303 and response.headers["location"].startswith("/login")


def expired_cookie(root, user: str, role: str) -> str:
    class Yesterday(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 86_400

    signer = URLSafeTimedSerializer(session_key(root), salt="micromarket-session", signer=Yesterday)
    return signer.dumps({"u": user, "r": role, "c": "x"})


def test_every_route_names_its_role_and_the_public_ones_are_only_the_customers_links(served):
    ops = operations(served.client.app)
    assert len(ops) >= 25
    missing = [(m, p) for m, p, role in ops if role is None]
    assert not missing, f"routes without an x-role rule: {missing}"
    assert {role for _, _, role in ops} <= {*ROLES, PUBLIC}
    assert {(m, p) for m, p, role in ops if role == PUBLIC} == PUBLIC_ROUTES


def test_no_credentials_a_wrong_token_or_an_expired_session_get_nothing(served):
    client = served.client
    expired = expired_cookie(served.root, "admin", "admin")
    for method, path, role in operations(client.app):
        if role == PUBLIC:
            continue
        assert denied_without_credentials(call(client, method, path), path), (method, path)
        wrong = call(client, method, path, headers={"Authorization": "Bearer mm_00000000_notatoken"})
        assert wrong.status_code == 401, (method, path, wrong.status_code)
        forged = served.tokens["admin"][:-4] + "AAAA"
        assert call(client, method, path, headers={"Authorization": f"Bearer {forged}"}).status_code == 401
        client.cookies.set(SESSION_COOKIE, expired)
        stale = call(client, method, path)
        client.cookies.clear()
        assert denied_without_credentials(stale, path), (method, path, stale.status_code)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_s_token_reaches_exactly_what_its_role_allows(served, role):
    client = served.client
    for method, path, needed in operations(client.app):
        if needed == PUBLIC:
            continue
        response = call(client, method, path, headers=served.as_role(role))
        if allows(role, needed):
            assert response.status_code not in (401, 403), (role, method, path, response.status_code, response.text)
        else:
            assert response.status_code == 403, (role, method, path, response.status_code)


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_each_role_s_session_reaches_what_its_role_allows_and_needs_the_csrf_token(served, role):
    client = served.client
    csrf = served.sign_in(role)
    for method, path, needed in operations(client.app):
        if needed == PUBLIC or path == "/logout":
            continue
        response = call(client, method, path, headers={"X-CSRF-Token": csrf})
        if allows(role, needed):
            assert response.status_code not in (401, 403), (role, method, path, response.status_code)
            if method in ("POST", "PUT", "PATCH", "DELETE"):
                forged = call(client, method, path, headers={"X-CSRF-Token": "not-the-token"})
                assert forged.status_code == 403 and "CSRF" in forged.json()["detail"], (method, path)
                assert call(client, method, path).status_code == 403  # no token at all
        else:
            assert response.status_code == 403, (role, method, path, response.status_code)


def test_a_token_stops_working_when_revoked_or_expired(served):
    import datetime as dt

    from micromarket.access import find_token, revoke_token
    from micromarket.access.tokens import token_id

    client = served.client
    token = served.tokens["viewer"]
    assert client.get("/api/v1/campaigns", headers=served.as_role("viewer")).status_code == 200
    with served.client.app.state.gate.use() as ws:
        row = find_token(ws, token)
        assert row is not None and find_token(ws, token, now=dt.datetime.now() + dt.timedelta(days=1)) is not None
        assert revoke_token(ws, token_id(token), actor="test")
    # The server reads tokens again within AccessCache.REFRESH seconds (at once here).
    client.app.state.access.refresh(force=True)
    assert client.get("/api/v1/campaigns", headers=served.as_role("viewer")).status_code == 401


def test_signing_out_a_new_password_or_disabling_ends_sessions(served):
    from micromarket.access import add_user, end_sessions

    client = served.client
    served.sign_in("marketer")
    stolen = client.cookies["mm_session"]
    assert client.get("/", follow_redirects=False).status_code == 200
    time.sleep(1.1)  # sessions are stamped to the second
    csrf = client.app.state.sessions.read(stolen)["c"]
    assert client.post("/logout", headers={"X-CSRF-Token": csrf}, follow_redirects=False).status_code == 303
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, stolen)  # a copy of the cookie kept from before signing out
    assert denied_without_credentials(client.get("/", follow_redirects=False), "/")
    served.sign_in("marketer")
    assert client.get("/", follow_redirects=False).status_code == 200
    time.sleep(1.1)
    with client.app.state.gate.use() as ws:
        add_user(ws, "marketer", "marketer", "a brand new password")
    client.app.state.access.refresh(force=True)
    assert denied_without_credentials(client.get("/", follow_redirects=False), "/")
    client.cookies.clear()
    assert client.post("/login", data={"user": "marketer", "password": "a brand new password"},
                       follow_redirects=False).status_code == 303
    time.sleep(1.1)
    with client.app.state.gate.use() as ws:
        assert end_sessions(ws, "marketer", "test", disable=True)
    client.app.state.access.refresh(force=True)
    assert denied_without_credentials(client.get("/", follow_redirects=False), "/")
    client.cookies.clear()
    refused = client.post("/login", data={"user": "marketer", "password": "a brand new password"}, follow_redirects=False)
    assert refused.status_code == 401


def test_repeated_failed_sign_ins_must_wait(served):
    client = served.client
    for _ in range(10):
        assert client.post("/login", data={"user": "admin", "password": "wrong password!"}).status_code == 401
    assert client.post("/login", data={"user": "admin", "password": "wrong password!"}).status_code == 429
    from web_fixtures import PASSWORD

    assert client.post("/login", data={"user": "admin", "password": PASSWORD}).status_code == 429  # even right
