"""Check over HTTP that a deployed environment answers as the application should.

    ADMIN_PASSWORD=... python -m scripts.e2e.http_checks --base-url http://127.0.0.1:8080 \\
        --host backend-e2e.e2e.test [--admin-user admin]

Connects to --base-url and sends `Host: <host>`, so the ingress routes the
requests as it would the public name (a kind cluster has no DNS for it).
Checks, from the application's contract (routes and run-time behaviour):

- login page: `GET /` redirects to `/login`, which answers 200 with HTML;
- static files: `/static/admin/css/base.css` answers 200 as CSS, not the
  catch-all's redirect to `/login` that a build without collectstatic gives;
- admin login: the Django admin form with its CSRF token, posted with the
  admin account, redirects to `/admin/` with a session, and `/admin/` answers 200;
- WebSocket upgrade: `/api/core/ws` with that session answers 101 with the
  `Sec-WebSocket-Accept` RFC 6455 derives from the key.

Cookies are kept by hand: the session cookie may carry a Domain that is not
the address connected to. Prints one line per check; exits 1 if any fails.
The password is read from the environment and never printed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
import secrets
import socket
import ssl
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

import httpx

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
"""RFC 6455, section 1.3."""
STATIC_FILE = "/static/admin/css/base.css"
WEBSOCKET_PATH = "/api/core/ws"
_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken"\s+value="([^"]+)"')


class CheckFailed(AssertionError):
    pass


@dataclass
class Session:
    base_url: str
    host: str
    timeout: float = 10.0
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self, method: str, path: str, *, data: dict[str, str] | None = None
    ) -> httpx.Response:
        headers = {"Host": self.host}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if data is not None:
            # Django checks the Referer of HTTPS posts only; it is harmless over HTTP.
            headers["Referer"] = f"{self.scheme}://{self.host}{path}"
        with httpx.Client(base_url=self.base_url, timeout=self.timeout, verify=False) as client:  # noqa: S501 - a kind cluster's self-signed ingress
            response = client.request(method, path, headers=headers, data=data)
        for line in response.headers.get_list("set-cookie"):
            jar: SimpleCookie = SimpleCookie()
            jar.load(line)
            self.cookies.update({name: morsel.value for name, morsel in jar.items()})
        return response

    @property
    def scheme(self) -> str:
        return str(urlsplit(self.base_url).scheme or "http")


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def _location(response: httpx.Response) -> str:
    return str(urlsplit(response.headers.get("location", "")).path)


def check_login_page(session: Session) -> str:
    root = session.request("GET", "/")
    _expect(
        root.status_code in (301, 302) and _location(root).rstrip("/") == "/login",
        f"GET / answered {root.status_code} to {_location(root)!r}, expected a redirect to /login",
    )
    page = session.request("GET", "/login")
    _expect(page.status_code == 200, f"GET /login answered {page.status_code}, expected 200")
    kind = page.headers.get("content-type", "")
    _expect("text/html" in kind, f"GET /login answered {kind!r}, expected HTML")
    return "login page: / redirects to /login, which answers 200"


def check_static_files(session: Session) -> str:
    response = session.request("GET", STATIC_FILE)
    _expect(
        response.status_code == 200,
        f"GET {STATIC_FILE} answered {response.status_code}"
        + (f" to {_location(response)!r}" if response.status_code in (301, 302) else "")
        + ": static files were not collected into the backend image",
    )
    kind = response.headers.get("content-type", "")
    _expect("text/css" in kind, f"GET {STATIC_FILE} answered {kind!r}, expected text/css")
    return f"static files: {STATIC_FILE} answers 200 text/css"


def check_admin_login(session: Session, user: str, password: str) -> str:
    form = session.request("GET", "/admin/login/")
    _expect(form.status_code == 200, f"GET /admin/login/ answered {form.status_code}")
    token = _CSRF_INPUT.search(form.text)
    _expect(token is not None, "the admin login page has no csrfmiddlewaretoken")
    assert token is not None
    posted = session.request(
        "POST",
        "/admin/login/?next=/admin/",
        data={
            "csrfmiddlewaretoken": token.group(1),
            "username": user,
            "password": password,
            "next": "/admin/",
        },
    )
    _expect(
        posted.status_code == 302 and _location(posted) == "/admin/",
        f"the admin login answered {posted.status_code} (to {_location(posted)!r}); expected "
        "a redirect to /admin/: wrong password, or CSRF refused",
    )
    _expect("sessionid" in session.cookies, "the admin login set no sessionid cookie")
    admin = session.request("GET", "/admin/")
    _expect(admin.status_code == 200, f"GET /admin/ after login answered {admin.status_code}")
    return f"admin login: {user} logs in, /admin/ answers 200"


def websocket_accept(key: str) -> str:
    """The Sec-WebSocket-Accept a server must answer to `key` (RFC 6455, 4.2.2)."""
    digest = hashlib.sha1((key + WEBSOCKET_GUID).encode("ascii")).digest()  # noqa: S324 - the protocol's hash
    return base64.b64encode(digest).decode("ascii")


def check_websocket(session: Session) -> str:
    url = urlsplit(session.base_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    key = base64.b64encode(secrets.token_bytes(16)).decode("ascii")
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    request = (
        f"GET {WEBSOCKET_PATH} HTTP/1.1\r\nHost: {session.host}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: {session.scheme}://{session.host}\r\n"
        + (f"Cookie: {cookie}\r\n" if cookie else "")
        + "\r\n"
    )
    with socket.create_connection((url.hostname or "127.0.0.1", port), session.timeout) as raw:
        conn: socket.socket = raw
        if url.scheme == "https":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            conn = context.wrap_socket(raw, server_hostname=session.host)
        conn.sendall(request.encode("ascii"))
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                break
            head += chunk
    lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)
    code = int(status[1]) if len(status) > 1 and status[1].isdigit() else 0
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    _expect(code == 101, f"the WebSocket {WEBSOCKET_PATH} answered {code or lines[0]!r}, not 101")
    _expect(
        headers.get("sec-websocket-accept") == websocket_accept(key),
        f"the WebSocket upgrade answered a wrong Sec-WebSocket-Accept: {headers}",
    )
    return f"WebSocket: {WEBSOCKET_PATH} upgrades (101) for the logged-in admin"


def run_checks(session: Session, user: str, password: str) -> list[tuple[bool, str]]:
    """Each check's (passed, line), in order; the WebSocket needs the admin's session."""
    checks: list[Callable[[], str]] = [
        lambda: check_login_page(session),
        lambda: check_static_files(session),
        lambda: check_admin_login(session, user, password),
        lambda: check_websocket(session),
    ]
    results = []
    for check in checks:
        try:
            results.append((True, check()))
        except (CheckFailed, httpx.HTTPError, OSError) as exc:
            results.append((False, str(exc) or type(exc).__name__))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--base-url", required=True, help="where to connect, e.g. http://127.0.0.1:8080"
    )
    parser.add_argument("--host", required=True, help="the environment's public host name")
    parser.add_argument("--admin-user", default="admin")
    args = parser.parse_args(argv)
    password = os.environ.get("ADMIN_PASSWORD", "")
    if not password:
        print("error: ADMIN_PASSWORD is empty (pulumi stack output adminPassword)", file=sys.stderr)
        return 2
    results = run_checks(Session(args.base_url, args.host), args.admin_user, password)
    for passed, line in results:
        print(("ok    " if passed else "FAIL  ") + line.replace(password, "***"))
    return 0 if all(passed for passed, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
