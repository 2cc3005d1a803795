"""The `bundlekit media` CLI contract: options, exit codes, --json shapes, examples in --help."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bundlekit.cli import cli
from bundlekit.transport.volume import HEADER_SIZE
from tests.conftest import run_cli
from tests.transport.helpers import write_payload


def _run(*args: str | Path) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


@pytest.mark.parametrize("cmd", [["media"], ["media", "split"], ["media", "check"], ["media", "join"]])
def test_every_media_command_help_has_an_example(cmd: list[str]) -> None:
    code, out, _ = _run(*cmd, "--help")
    assert code == 0 and "Example:" in out and "bundlekit media" in out


def test_split_check_join_through_the_real_cli(tmp_path: Path) -> None:
    data = write_payload(tmp_path / "acme.bundle", 50_000, seed=1)
    r = run_cli("media", "split", tmp_path / "acme.bundle", "--volume-size", "16K", "--out", tmp_path / "v",
                "--parity", "1", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["data_volumes"] == 4 and out["parity_volumes"] == 1 and len(out["volumes"]) == 5
    assert all(v["size"] <= 16 * 1024 for v in out["volumes"])
    Path(out["volumes"][1]["path"]).unlink()
    r = run_cli("media", "check", tmp_path / "v")
    assert r.returncode == 0, r.stderr
    assert "rebuilt from parity" in r.stdout
    r = run_cli("media", "join", tmp_path / "v", "-o", tmp_path / "out.bundle")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out.bundle").read_bytes() == data


def test_check_json_names_missing_and_exits_1_with_code(tmp_path: Path) -> None:
    write_payload(tmp_path / "b.bundle", 3000)
    code, out, _ = _run("media", "split", tmp_path / "b.bundle", "--volume-size", str(HEADER_SIZE + 1000),
                        "--out", tmp_path / "v", "--json")
    assert code == 0
    vols = json.loads(out)["volumes"]
    Path(vols[0]["path"]).unlink()
    code, out, _ = _run("media", "check", tmp_path / "v", "--json")
    assert code == 1
    err = json.loads(out)["error"]
    assert err["code"] == "volumes_incomplete"
    assert err["details"]["missing"] == [{"index": 0, "label": "data volume 1 of 3"}]
    assert err["details"]["joinable"] is False


def test_check_json_for_a_good_set(tmp_path: Path) -> None:
    write_payload(tmp_path / "b.bundle", 3000)
    _run("media", "split", tmp_path / "b.bundle", "--volume-size", "2K", "--out", tmp_path / "v")
    code, out, _ = _run("media", "check", tmp_path / "v", "--json")
    assert code == 0
    rep = json.loads(out)
    assert rep["joinable"] is True and rep["bundle"]["name"] == "b.bundle" and rep["missing"] == []
    assert {v["status"] for v in rep["volumes"]} == {"ok"}


def test_join_failure_exits_1_and_leaves_no_output(tmp_path: Path) -> None:
    write_payload(tmp_path / "b.bundle", 3000)
    _run("media", "split", tmp_path / "b.bundle", "--volume-size", "2K", "--out", tmp_path / "v")
    next((tmp_path / "v").iterdir()).unlink()
    code, out, _ = _run("media", "join", tmp_path / "v", "-o", tmp_path / "out.bundle", "--json")
    assert code == 1 and json.loads(out)["error"]["code"] == "volumes_incomplete"
    assert not (tmp_path / "out.bundle").exists()


@pytest.mark.parametrize("size", ["4X", "-1", "lots", ""])
def test_bad_volume_size_is_a_usage_error_exit_2(tmp_path: Path, size: str) -> None:
    write_payload(tmp_path / "b.bundle", 10)
    code, _, err = _run("media", "split", tmp_path / "b.bundle", "--volume-size", size, "--out", tmp_path / "v")
    assert code == 2 and "invalid_size" in err
    assert not (tmp_path / "v").exists()


def test_default_volume_size_fits_fat32(tmp_path: Path) -> None:
    write_payload(tmp_path / "b.bundle", 10)
    code, out, _ = _run("media", "split", tmp_path / "b.bundle", "--out", tmp_path / "v", "--json")
    assert code == 0 and json.loads(out)["data_volumes"] == 1
    code, out, _ = _run("media", "split", "--help")
    assert str((4 << 30) - 1) in out


def test_leftovers_of_an_interrupted_split_are_named_by_check_and_removed_by_the_next_split(tmp_path: Path) -> None:
    # r1015a A5: what a split killed mid-way leaves (its AtomicFile temporaries, hidden): check names
    # them (with and without a joinable set), the re-run removes them and says so.
    write_payload(tmp_path / "s.bundle", 50_000, seed=3)
    code, out, _ = _run("media", "split", tmp_path / "s.bundle", "--volume-size", "16K", "--out", tmp_path / "probe",
                        "--json")
    assert code == 0
    names = [Path(v["path"]).name for v in json.loads(out)["volumes"]]
    vols = tmp_path / "vols"
    vols.mkdir()
    left = [vols / f".{names[0]}.k2hsv3gb.tmp", vols / f".{names[1]}.x9q0a1zz.tmp"]
    for n, p in enumerate(left):
        p.write_bytes(b"\0" * (10_000 + n))
    code, out, _ = _run("media", "check", vols)
    assert code == 1 and out.count("  leftover   ") == 2 and str(left[0]) in out, out
    code, out, _ = _run("media", "check", vols, "--json")
    assert {d["path"] for d in json.loads(out)["error"]["details"]["leftovers"]} == {str(p) for p in left}
    code, out, _ = _run("media", "split", tmp_path / "s.bundle", "--volume-size", "16K", "--out", vols)
    assert code == 0 and "removed 2 temporary file(s)" in out, out
    assert "interrupted bundlekit commands (a split, most often) left in" in out, out
    assert not any(p.exists() for p in left)
    assert "(48.8 KiB, sha256 " in out  # sizes as people read them (r1015a N2); a file's hash is its sha256
    code, out, _ = _run("media", "check", vols)
    assert code == 0 and "  leftover   " not in out


def test_join_prints_the_size_as_people_read_it(tmp_path: Path) -> None:
    # r1015a N2: "(48.8 KiB, SHA-256 checked)", not a raw byte count
    write_payload(tmp_path / "s.bundle", 50_000, seed=4)
    assert _run("media", "split", tmp_path / "s.bundle", "--volume-size", "16K", "--out", tmp_path / "v")[0] == 0
    code, out, _ = _run("media", "join", tmp_path / "v", "-o", tmp_path / "j.bundle")
    assert code == 0 and "(48.8 KiB, SHA-256 checked)" in out and "50000" not in out, out
