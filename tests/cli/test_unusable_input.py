"""Input bundlekit cannot use is refused with a code, never a traceback or a hang (decision 413),
through the real CLI: a sensitive value on stdin that is not UTF-8, a zone home the system will
not create, and a FIFO offered as lifecycle evidence. Each leaves the zone's home as it was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.cli.operator_world import ok, world
from tests.conftest import run_cli, snapshot


def _error(r: object) -> dict:  # type: ignore[type-arg]
    out = json.loads(r.stdout)  # type: ignore[attr-defined]
    assert "Traceback" not in r.stderr, r.stderr  # type: ignore[attr-defined]
    return out["error"]  # type: ignore[no-any-return]


def test_a_sensitive_value_on_stdin_that_is_not_utf8_is_refused_naming_stdin(tmp_path: Path) -> None:
    w = world(tmp_path)
    ok("import", w.bundle, home=w.prod)
    before = snapshot(w.prod)
    for extra in ([], ["--json"]):
        done = subprocess.run([sys.executable, "-m", "bundlekit", "variables", "set", "acme-web", "Acme.ApiKey", "-",
                               "--sensitive", *extra, "--home", str(w.prod)], input=b"TOPSECRET-9f8e7d\xff\xfe",
                              capture_output=True, timeout=120)
        r = subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        if extra:
            err = _error(r)
            assert err["code"] == "not_utf8" and "standard input" in err["message"], err
        assert "TOPSECRET" not in r.stdout + r.stderr
    assert snapshot(w.prod) == before


def test_a_home_the_system_will_not_create_is_path_unusable(tmp_path: Path) -> None:
    for home in (Path("/proc/bundlekit-home"), tmp_path / ("d" * 300)):
        r = run_cli("init", "--zone", "ok", "--json", home=home)
        err = _error(r)
        assert (err["code"], r.returncode) == ("path_unusable", 1), err
        assert str(home) in err["message"] and "--home" in err["message"], err
        assert not os.path.lexists(home)
    assert list(tmp_path.iterdir()) == []


def test_a_fifo_offered_as_evidence_is_refused_at_once(tmp_path: Path) -> None:
    """Opening a FIFO for reading waits for a writer; run_cli's own time limit would end this
    test with a failure if bundlekit waited."""
    w = world(tmp_path)
    ok("import", w.bundle, home=w.prod)
    fifo = tmp_path / "staging-receipt.bundle"
    os.mkfifo(fifo)
    before = snapshot(w.prod)
    for args in (["deploy", "acme-web", "1.4.0", "--environment", "Production", "--dry-run", "--evidence", fifo],
                 ["trust", "add", fifo], ["verify", fifo]):
        r = run_cli(*args, "--json", home=w.prod, timeout=60)
        err = _error(r)
        assert err["code"] == "not_a_file" and "FIFO" in err["message"], (args, err)
    assert snapshot(w.prod) == before


def test_a_closed_standard_input_reads_as_empty_never_a_traceback(tmp_path: Path) -> None:
    """`render -` started with standard input closed (`<&-`; Python then has no sys.stdin)
    renders the empty template, as with an empty pipe."""
    done = subprocess.run(["bash", "-c", 'exec "$@" <&-', "bash", sys.executable, "-m", "bundlekit", "render", "-",
                           "--json"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert json.loads(done.stdout)["text"] == ""


def test_an_output_path_that_is_a_fifo_socket_or_folder_is_refused_and_left_in_place(tmp_path: Path) -> None:
    """An atomic writer renames its file over the output name: as root, `-o /dev/null` once made
    /dev/null a regular file (review v32-16). A FIFO, a socket and a folder stand in for a device
    here (a test must never risk the machine's /dev/null); each is refused before anything is
    written and is still what it was afterwards."""
    import socket
    import stat

    w = world(tmp_path)
    fifo, sock_path, folder = tmp_path / "out.fifo", tmp_path / "out.sock", tmp_path / "out.d"
    os.mkfifo(fifo)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    folder.mkdir()
    try:
        before = snapshot(w.dev)
        for out, kind, test in ((fifo, "FIFO", stat.S_ISFIFO), (sock_path, "socket", stat.S_ISSOCK),
                                (folder, "folder", stat.S_ISDIR)):
            for args in (["export", w.release, "--to", "prod", "-o", out], ["identity", "-o", out]):
                r = run_cli(*args, "--json", home=w.dev, timeout=120)
                err = _error(r)
                if kind == "folder" and err["code"] == "usage":  # the option's own check came first
                    assert r.returncode == 2 and "directory" in err["message"], err
                else:
                    assert (err["code"], r.returncode) == ("not_a_file", 1), (args, err)
                    assert str(out) in err["message"] and kind in err["message"], err
                assert test(os.lstat(out).st_mode), f"{out} was replaced"
        assert snapshot(w.dev) == before
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".bundlekit-")) == []
    finally:
        sock.close()


def test_a_receipt_out_no_folder_can_hold_is_refused_before_the_deployment_runs(tmp_path: Path) -> None:
    """Review v32-att N5: the deployment ran, then its receipt could not be written (exit 1,
    path_unusable) and the trail ended with 'ok'; a failed deployment's own refusal was hidden."""
    w = world(tmp_path)
    ok("import", w.bundle, home=w.prod)
    r = run_cli("variables", "set", "acme-web", "Acme.ApiKey", "-", "--sensitive", home=w.prod, input=b"k-987654321\n")
    assert r.returncode == 0, r.stderr
    (tmp_path / "afile").write_text("a file, not a folder")
    before = snapshot(w.prod)
    r = run_cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--receipt-out",
                tmp_path / "afile" / "r.bundle", "--json", home=w.prod)
    err = _error(r)
    assert (err["code"], r.returncode) == ("path_unusable", 1), err
    assert "--receipt-out" in err["message"] and "not a folder" in err["message"], err
    assert snapshot(w.prod) == before  # nothing ran, nothing was recorded
    assert not any((tmp_path / "targets").rglob("*.ps1")) and not list((tmp_path / "targets").rglob("current"))
