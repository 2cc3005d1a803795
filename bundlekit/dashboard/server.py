"""A tiny local web server for the dashboard: loopback only, read-only, fresh on every request.

``serve`` answers ``GET /`` with the HTML page and ``GET /api/dashboard.json`` with the view
as JSON, building the view anew for each request so a reload shows the zone's current state.
It refuses to listen anywhere but loopback (code ``non_loopback``) because the page names
projects, releases, targets and logs of a secure zone, and it refuses requests whose
``Host`` header is not a loopback name, so a web page cannot reach it through DNS rebinding.
Responses forbid scripts and every external load (``Content-Security-Policy``) and are
never cached (``docs/decisions/052-dashboard-server.md``).
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import urlsplit

from bundlekit.core import clock
from bundlekit.core.clock import EpochSeconds
from bundlekit.core.text import dumps
from bundlekit.dashboard.html import CSP, render_html
from bundlekit.dashboard.view import DashboardView
from bundlekit.errors import BundleError, UsageError

__all__ = ["serve", "JSON_PATH"]

JSON_PATH = "/api/dashboard.json"
_SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)


def serve(build_view: Callable[[], DashboardView], host: str = "127.0.0.1", port: int = 8080, *,
          ready: Callable[[int], None] | None = None, max_requests: int | None = None,
          page: Callable[[DashboardView, EpochSeconds], str] | None = None) -> None:
    """Serve the dashboard on ``host:port`` until interrupted (Ctrl-C returns normally) or,
    with ``max_requests``, until that many HTTP responses have been sent.

    ``port=0`` lets the system pick a free port; ``ready`` is called with the actual port
    once the socket listens (before the first request is accepted). ``page`` renders a view
    at a time (Unix seconds) as the HTML page (default :func:`render_html`; the CLI's names
    the space of ``serve --space``).
    """
    family, bind_host = _loopback(host)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise UsageError(f"port {port!r} is not a TCP port: give 1-65535, or 0 for any free port.",
                         code="invalid_port")
    if max_requests is not None and (isinstance(max_requests, bool) or not isinstance(max_requests, int)
                                     or max_requests < 1):
        raise UsageError(f"max_requests {max_requests!r} must be a positive integer or None.",
                         code="invalid_max_requests")

    server_cls = _Server6 if family == socket.AF_INET6 else _Server
    try:
        server = server_cls((bind_host, port), _Handler)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {host} port {port}: {exc.strerror or exc}. Choose another port with "
            "--port, or --port 0 for any free one.",
            code="port_unavailable",
        ) from exc
    server.build_view = build_view
    server.page = page or render_html
    server.max_requests = max_requests
    try:
        if ready is not None:
            ready(server.server_address[1])
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a person stops the server: not an error
    finally:
        server.server_close()


def _loopback(host: str) -> tuple[socket.AddressFamily, str]:
    """The address family and literal address for a loopback ``host``; anything else refused.

    ``localhost`` is taken to mean 127.0.0.1 without asking the resolver, which could map it
    elsewhere."""
    literal = "127.0.0.1" if host.lower() == "localhost" else host.strip("[]")
    try:
        addr = ipaddress.ip_address(literal)
    except ValueError:
        addr = None
    if addr is None or not addr.is_loopback:
        raise UsageError(
            f"refusing to serve the dashboard on {host!r}: it shows a zone's deployments and logs, so it "
            "only listens on loopback (127.0.0.1, ::1 or localhost). To show it on another machine, "
            "copy the self-contained HTML page that bundlekit dashboard writes.",
            code="non_loopback",
        )
    return (socket.AF_INET6 if addr.version == 6 else socket.AF_INET), literal


def _allowed_host_header(value: str) -> bool:
    """True for ``localhost``/a loopback literal, with or without a port (DNS-rebinding guard)."""
    value = value.strip().lower()
    if value.startswith("["):
        name = value[1:value.find("]")] if "]" in value else value
    else:
        name = value.rsplit(":", 1)[0] if value.count(":") == 1 else value
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # Ctrl-C stops at once, even with a browser's idle connection open
    build_view: Callable[[], DashboardView]
    page: Callable[[DashboardView, EpochSeconds], str]
    max_requests: int | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._count_lock = threading.Lock()
        self._answered = 0

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        # As ThreadingMixIn does, but a response counts only once its socket is closed, so a
        # client of the last allowed request always receives the whole body.
        responded = False
        try:
            responded = _Handler(request, client_address, self).responded
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
        if responded:
            self._count()

    def _count(self) -> None:
        with self._count_lock:
            self._answered += 1
            done = self.max_requests is not None and self._answered == self.max_requests
        if done:
            # From another thread: shutdown() waits for the serve loop, which must keep running.
            threading.Thread(target=self.shutdown, daemon=True).start()


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "bundlekit-dashboard"
    sys_version = ""
    timeout = 30  # a client that connects and says nothing cannot hold a thread forever
    responded = False

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def _respond(self, send_body: bool) -> None:
        host = self.headers.get("Host")
        if host is not None and not _allowed_host_header(host):
            self._send(403, "text/plain; charset=utf-8",
                       b"Forbidden: this dashboard only answers requests addressed to localhost.\n", send_body)
            return
        path = urlsplit(self.path).path
        if path not in ("/", JSON_PATH):
            self._send(404, "text/plain; charset=utf-8",
                       f"Not found. The dashboard is at / and its data at {JSON_PATH}.\n".encode(), send_body)
            return
        try:
            view = self.server.build_view()
            if path == "/":
                body = self.server.page(view, clock.now()).encode("utf-8", "replace")
                ctype = "text/html; charset=utf-8"
            else:
                # Exact data, but nothing in it can open a tag or steer a terminal.
                body = (dumps(view.to_dict(), indent=2, sort_keys=True) + "\n").encode("utf-8")
                ctype = "application/json"  # UTF-8 by definition (RFC 8259)
        except BundleError as err:
            self._send(500, "text/plain; charset=utf-8", f"error [{err.code}]: {err.message}\n".encode(), send_body)
            return
        except Exception as exc:  # keep serving; the operator's terminal gets the reason
            print(f"bundlekit dashboard: building the view failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            self._send(500, "text/plain; charset=utf-8",
                       b"Internal error while reading the zone's state; see the server's terminal.\n", send_body)
            return
        self._send(200, ctype, body, send_body)

    def _send(self, status: int, ctype: str, body: bytes, send_body: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            try:
                self.wfile.write(body)
            except ConnectionError:
                pass  # the browser went away; nothing to tell anyone

    def end_headers(self) -> None:
        # Here rather than in _send so error pages from http.server (400, 501) carry them too.
        for name, value in _SECURITY_HEADERS:
            self.send_header(name, value)
        super().end_headers()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Called once per response, also for http.server's own errors (400, 501).
        self.responded = True

    def log_message(self, format: str, *args: object) -> None:
        pass  # no access log on the terminal the dashboard was started from
