"""The local dashboard server: real HTTP on 127.0.0.1, fresh state per request, loopback only."""

from __future__ import annotations

import http.client
import json
import queue
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bundlekit.dashboard.server import JSON_PATH, _loopback, serve
from bundlekit.dashboard.view import DashboardView
from bundlekit.errors import StateError

from .dom import grid_cells, parse, release
from .sample import NOW, sample_view
from tests.conftest import raises_code


@contextmanager
def running(build_view: Callable[[], DashboardView], max_requests: int) -> Iterator[int]:
    """Serve in a thread on a free port; yields the port; the server must stop by itself."""
    ports: queue.Queue[int] = queue.Queue()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            serve(build_view, "127.0.0.1", 0, ready=ports.put, max_requests=max_requests)
        except BaseException as exc:  # surfaced in the test thread below
            errors.append(exc)
            ports.put(-1)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    port = ports.get(timeout=10)
    assert port > 0, errors
    yield port
    t.join(timeout=10)
    assert not t.is_alive(), "serve() did not return after max_requests responses"
    assert not errors, errors


def get(port: int, path: str, method: str = "GET",
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_serves_the_html_page_and_the_json_view_with_strict_headers() -> None:
    view = sample_view()
    with running(lambda: view, max_requests=2) as port:
        status, headers, body = get(port, "/")
        jstatus, jheaders, jbody = get(port, JSON_PATH)
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert headers["content-security-policy"] == "default-src 'none'; style-src 'unsafe-inline'"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    assert int(headers["content-length"]) == len(body)
    cells = grid_cells(parse(body.decode("utf-8")))
    assert cells[("billing-api", "prod", "Staging")].attrs["data-state"] == "failed"
    assert jstatus == 200 and jheaders["content-type"] == "application/json"
    assert jheaders["content-security-policy"] == headers["content-security-policy"]
    assert DashboardView.from_dict(json.loads(jbody)) == view


def test_each_request_rebuilds_the_view_so_a_state_change_shows_on_reload(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps(sample_view().to_dict()))

    def from_disk() -> DashboardView:
        return DashboardView.from_dict(json.loads(state.read_text()))

    key = ("acme-web", "prod", "Production")
    with running(from_disk, max_requests=3) as port:
        first = grid_cells(parse(get(port, "/")[2].decode()))[key]
        # The receipt comes back: Production now ran 1.4.0 successfully.
        d = json.loads(state.read_text())
        cell = d["projects"][0]["cells"][2]
        cell["latest"].update(state="succeeded", started=NOW - 600, ended=NOW - 300, receipt_received=NOW - 60)
        state.write_text(json.dumps(d))
        second = grid_cells(parse(get(port, "/")[2].decode()))[key]
        api = json.loads(get(port, JSON_PATH)[2])
    assert first.attrs["data-state"] == "exported"
    assert second.attrs["data-state"] == "succeeded"
    assert release(second) == "1.4.0"
    assert api["projects"][0]["cells"][2]["latest"]["state"] == "succeeded"


def test_unknown_paths_are_404_and_head_sends_no_body() -> None:
    with running(sample_view, max_requests=3) as port:
        missing = get(port, "/etc/passwd")
        traversal = get(port, "/../../api/dashboard.json")
        head = get(port, "/", method="HEAD")
    assert missing[0] == 404 and b"/api/dashboard.json" in missing[2]
    assert traversal[0] == 404
    assert head[0] == 200 and head[2] == b"" and int(head[1]["content-length"]) > 1000
    assert missing[1]["content-security-policy"].startswith("default-src 'none'")


def test_requests_for_a_foreign_host_name_are_refused_against_dns_rebinding() -> None:
    with running(sample_view, max_requests=4) as port:
        evil = get(port, "/", headers={"Host": f"attacker.example:{port}"})
        evil_api = get(port, JSON_PATH, headers={"Host": "rebind.attacker.example"})
        by_name = get(port, "/", headers={"Host": f"localhost:{port}"})
        by_ip = get(port, "/", headers={"Host": f"127.0.0.1:{port}"})
    assert evil[0] == 403 and b"Acme" not in evil[2]
    assert evil_api[0] == 403 and b"deployments" not in evil_api[2]
    assert by_name[0] == 200 and by_ip[0] == 200


def test_a_failing_view_builder_gives_500_with_its_code_and_the_server_keeps_serving() -> None:
    calls = []

    def flaky() -> DashboardView:
        calls.append(1)
        if len(calls) == 1:
            raise StateError("the zone's state database is locked; retry", code="state_damaged")
        if len(calls) == 2:
            raise RuntimeError("boom")
        return sample_view()

    with running(flaky, max_requests=3) as port:
        first = get(port, "/")
        second = get(port, "/")
        third = get(port, "/")
    assert first[0] == 500 and b"state_damaged" in first[2]
    assert second[0] == 500 and b"boom" not in second[2]  # internals stay on the operator's terminal
    assert third[0] == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.168.1.10", "10.0.0.1", "example.com", "127.0.0.1.nip.io"])
def test_non_loopback_host_is_refused_before_anything_listens(host: str) -> None:
    ready_calls: list[int] = []
    with raises_code("non_loopback") as e:
        serve(sample_view, host, 0, ready=ready_calls.append, max_requests=1)
    assert "loopback" in e.value.message
    assert ready_calls == []


def test_loopback_names_are_accepted_without_asking_a_resolver() -> None:
    assert _loopback("localhost") == (socket.AF_INET, "127.0.0.1")
    assert _loopback("127.0.0.1") == (socket.AF_INET, "127.0.0.1")
    assert _loopback("[::1]") == (socket.AF_INET6, "::1")


def test_localhost_serves_on_loopback() -> None:
    ports: queue.Queue[int] = queue.Queue()
    t = threading.Thread(target=serve, args=(sample_view, "localhost", 0),
                         kwargs={"ready": ports.put, "max_requests": 1}, daemon=True)
    t.start()
    port = ports.get(timeout=10)
    assert get(port, JSON_PATH)[0] == 200
    t.join(timeout=10)
    assert not t.is_alive()


def test_port_in_use_is_a_clear_usage_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with raises_code("port_unavailable") as e:
            serve(sample_view, "127.0.0.1", taken.getsockname()[1], max_requests=1)
    assert "--port 0" in e.value.message


@pytest.mark.parametrize("port", [-1, 65536, "8080", True])
def test_invalid_port_is_refused(port: object) -> None:
    with raises_code("invalid_port"):
        serve(sample_view, "127.0.0.1", port, max_requests=1)  # type: ignore[arg-type]
