"""Export, inspect and verify through the Python API: integrity, secrecy, determinism."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from bundlekit.errors import BundleError
from bundlekit.export.exporter import export_release
from bundlekit.export.releasefile import load_release
from bundlekit.format.container import HEADER_SIZE
from bundlekit.importer.verify import read_unverified, verify_bundle
from bundlekit.zone.rotation import rotate_key
from tests.conftest import CANARY, RELEASE, Zones, raises_code, snapshot


def _export(z: Zones, out: Path, release: Path = RELEASE, now: int | None = None, **kw: object) -> Path:
    when = int(time.time()) if now is None else now
    export_release(z.dev, release, "prod", out, now=when, **kw)  # type: ignore[arg-type]
    return out


@contextmanager
def refused_by_lint(code: str) -> Iterator[pytest.ExceptionInfo[BundleError]]:
    """Export refuses a release file's problem after linting it all (decision 570): as
    ``release_lint_failed``, with the problem's own ``code`` among the findings in ``details``."""
    with raises_code("release_lint_failed") as info:
        yield info
    assert code in [f["code"] for f in info.value.details if f["severity"] == "error"], info.value.details


def test_exported_bundle_verifies_in_destination(zones: Zones, tmp_path: Path) -> None:
    b = _export(zones, tmp_path / "a.bundle")
    v = verify_bundle(zones.prod, b, now=int(time.time()))
    assert v.manifest.project["name"] == "Acme Web"
    assert v.manifest.sequence == 1
    assert [p.id for p in v.manifest.packages] == ["Acme.Web"]
    assert {o.reference for o in v.manifest.output_refs} == {
        "Octopus.Action[Run migrations].Output.SchemaVersion"}
    assert [p.name for p in v.manifest.placeholders] == ["Acme.ApiKey"]


def test_output_refs_found_in_scripts_values_and_substituted_files(zones: Zones, tmp_path: Path) -> None:
    m = verify_bundle(zones.prod, _export(zones, tmp_path / "a.bundle"), now=int(time.time())).manifest
    used = next(o for o in m.output_refs if o.name == "SchemaVersion").used_in
    assert any("Smoke test" in u for u in used)
    assert any("appsettings.json" in u for u in used)


def test_sequence_grows_per_destination(zones: Zones, tmp_path: Path) -> None:
    seqs = [verify_bundle(zones.prod, _export(zones, tmp_path / f"{i}.bundle"), now=int(time.time())).manifest.sequence
            for i in range(3)]
    assert seqs == [1, 2, 3]


def test_canary_secret_absent_from_bundle_in_every_encoding(zones: Zones, tmp_path: Path) -> None:
    data = _export(zones, tmp_path / "a.bundle").read_bytes()
    raw = CANARY.encode()
    forms = [raw, raw.hex().encode(), raw.hex().upper().encode(), CANARY.encode("utf-16-le")]
    for shift in range(3):  # base64 of the secret at every alignment
        enc = base64.b64encode(b"x" * shift + raw)[4 if shift else 0:-4]
        forms.append(enc)
    for form in forms:
        assert form not in data, form


#: What a flipped byte anywhere in a bundle is refused as: the format or the signed digests catch it.
TAMPERED = ("invalid_signature", "blob_corrupt", "blob_hash_mismatch", "blob_size_mismatch", "limit_exceeded",
            "malformed", "not_a_bundle", "trailing_bytes", "truncated", "unsupported_version")


def test_every_single_byte_flip_is_refused(zones: Zones, tmp_path: Path) -> None:
    b = _export(zones, tmp_path / "a.bundle")
    good = b.read_bytes()
    bad = tmp_path / "bad.bundle"
    now = int(time.time())
    for i in range(len(good)):
        data = bytearray(good)
        data[i] ^= 0x01
        bad.write_bytes(bytes(data))
        with raises_code(TAMPERED) as info:
            verify_bundle(zones.prod, bad, now=now)
        assert info.value.exit_code == 3, (i, info.value.code)


def test_every_truncation_and_extension_is_refused(zones: Zones, tmp_path: Path) -> None:
    good = _export(zones, tmp_path / "a.bundle").read_bytes()
    bad = tmp_path / "bad.bundle"
    now = int(time.time())
    cases = [good[:n] for n in range(len(good))] + [good + b"\0", good + b"\0" * 96, good + os.urandom(96)]
    for data in cases:
        bad.write_bytes(data)
        with raises_code(("truncated", "trailing_bytes", "invalid_signature")) as info:
            verify_bundle(zones.prod, bad, now=now)
        assert info.value.exit_code == 3


def test_bundle_for_another_zone_is_refused(zones: Zones, tmp_path: Path) -> None:
    from bundlekit.format.card import parse_card
    from bundlekit.trust.policy import SourcePolicy
    from bundlekit.zone import truststore
    from bundlekit.zone.home import init_zone

    bundle = _export(zones, tmp_path / "x.bundle")
    other = init_zone(tmp_path / "other", "other", 0)
    with raises_code("untrusted"):
        verify_bundle(other, bundle, now=int(time.time()))
    truststore.add_zone(other, parse_card(zones.dev.card_bytes(), "dev.card"), SourcePolicy(), 0)
    with raises_code("wrong_destination"):
        verify_bundle(other, bundle, now=int(time.time()))
    other.close()


def test_expired_bundle_refused(zones: Zones, tmp_path: Path) -> None:
    b = _export(zones, tmp_path / "a.bundle", expires_in=60)
    with raises_code("expired"):
        verify_bundle(zones.prod, b, now=int(time.time()) + 61)


def test_spliced_blob_from_another_bundle_refused(zones: Zones, release_dir: Path, tmp_path: Path) -> None:
    pkg = release_dir / "packages" / "Acme.Web.1.4.0.zip"
    release = release_dir / "release.toml"  # random bytes are no archive: no step may deploy them (lint refuses)
    step = ('[[steps]]\nname = "Deploy web"\ntype = "package"\npackage = "Acme.Web"\nroles = ["web"]\n'
            'substitute = ["appsettings.json", "index.html"]\n')
    assert step in release.read_text()
    release.write_text(release.read_text().replace(step, ""))
    pkg.write_bytes(os.urandom(5000))
    a = _export(zones, tmp_path / "a.bundle", release=release_dir / "release.toml").read_bytes()
    pkg.write_bytes(os.urandom(5000))
    b = _export(zones, tmp_path / "b.bundle", release=release_dir / "release.toml", replace=True).read_bytes()
    blen = int.from_bytes(a[16:24], "big")
    assert blen == int.from_bytes(b[16:24], "big")  # incompressible: same stored length
    spliced = tmp_path / "spliced.bundle"
    spliced.write_bytes(a[:HEADER_SIZE] + b[HEADER_SIZE:HEADER_SIZE + blen] + a[HEADER_SIZE + blen:])
    with raises_code("blob_hash_mismatch"):
        verify_bundle(zones.prod, spliced, now=int(time.time()))


def test_inspect_reads_no_blob_bytes(zones: Zones, tmp_path: Path) -> None:
    b = _export(zones, tmp_path / "a.bundle")
    data = bytearray(b.read_bytes())
    blen = int.from_bytes(data[16:24], "big")
    data[HEADER_SIZE:HEADER_SIZE + blen] = b"\xff" * blen  # destroy every blob byte
    b.write_bytes(bytes(data))
    bf, m = read_unverified(b)
    bf.close()
    assert m.packages[0].id == "Acme.Web"


def _no_secrets(release_dir: Path) -> Path:
    text = (release_dir / "release.toml").read_text()
    blocks = text.split("[[variables]]")
    # Sealing is randomised: the same names stay defined (lint refuses a reference to none), in clear.
    kept = [blk.replace("sensitive = true\n", "") for blk in blocks[1:]]
    assert "sensitive" not in "".join(kept)
    (release_dir / "release.toml").write_text(blocks[0] + "".join("[[variables]]" + k for k in kept))
    return release_dir / "release.toml"


def test_export_is_reproducible_with_source_date_epoch(zones: Zones, release_dir: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    release = _no_secrets(release_dir)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    now = int(time.time())
    a = _export(zones, tmp_path / "a.bundle", release=release, sequence=7, now=now).read_bytes()
    # An hour later by the exporting zone's clock: SOURCE_DATE_EPOCH, not the clock, makes `created`.
    b = _export(zones, tmp_path / "b.bundle", release=release, sequence=7, now=now + 3600).read_bytes()
    assert a == b
    c = _export(zones, tmp_path / "c.bundle", release=release, sequence=8).read_bytes()
    assert c != a


def test_the_same_bundle_exported_again_under_its_number_gets_no_rollback_warning(
        zones: Zones, release_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Decision 800: the very bundle exported again under its pinned number is allowed, and it is
    no rollback (a destination that has it takes it as a replay); another number not above the
    project's last still gets the warning (review v31-att)."""
    release = _no_secrets(release_dir)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    first = export_release(zones.dev, release, "prod", tmp_path / "a.bundle", now=int(time.time()), sequence=7)
    later = export_release(zones.dev, release, "prod", tmp_path / "b.bundle", now=int(time.time()), sequence=8)
    again = export_release(zones.dev, release, "prod", tmp_path / "c.bundle", now=int(time.time()), sequence=7)
    assert (first.reused_below, later.reused_below, again.reused_below) == (None, None, None)
    assert again.digest == first.digest and (tmp_path / "c.bundle").read_bytes() == (tmp_path / "a.bundle").read_bytes()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225601")  # another bundle: its number 6 is below 8
    assert export_release(zones.dev, release, "prod", tmp_path / "d.bundle", now=int(time.time()),
                          sequence=6).reused_below == 8


@pytest.mark.parametrize("bad", ["/etc/passwd", "../outside.zip", "packages/../../x.zip", "C:/x.zip",
                                 "packages\\Acme.zip"])
def test_package_path_escaping_release_folder_refused(zones: Zones, release_dir: Path, tmp_path: Path,
                                                      bad: str) -> None:
    release = release_dir / "release.toml"
    release.write_text(release.read_text().replace('file = "packages/Acme.Web.1.4.0.zip"', f"file = {bad!r}"))
    with refused_by_lint("unsafe_path") as info:
        _export(zones, tmp_path / "a.bundle", release=release)
    assert "packages[0].file" in info.value.message
    assert not (tmp_path / "a.bundle").exists()


def test_package_symlink_leading_outside_refused(zones: Zones, release_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.zip"
    outside.write_bytes(b"PK")
    link = release_dir / "packages" / "Acme.Web.1.4.0.zip"
    link.unlink()
    link.symlink_to(outside)
    with refused_by_lint("unsafe_path"):
        _export(zones, tmp_path / "a.bundle", release=release_dir / "release.toml")


def test_release_file_errors_name_file_and_key_path(zones: Zones, release_dir: Path, tmp_path: Path) -> None:
    release = release_dir / "release.toml"
    release.write_text(release.read_text().replace('type = "package"', 'type = "pakage"', 1))
    with refused_by_lint("invalid_value") as info:
        _export(zones, tmp_path / "a.bundle", release=release)
    assert str(release) in info.value.message and "steps[1].type" in info.value.message


def test_ambiguous_variable_scopes_refused_at_export(zones: Zones, release_dir: Path, tmp_path: Path) -> None:
    release = release_dir / "release.toml"
    release.write_text(release.read_text() + '\n[[variables]]\nname = "acme.db.name"\nvalue = "other"\n'
                       'scope = { environment = ["Production", "Test"] }\n')
    with refused_by_lint("ambiguous_variable"):
        _export(zones, tmp_path / "a.bundle", release=release)


def test_output_reference_to_unknown_step_refused(zones: Zones, release_dir: Path, tmp_path: Path) -> None:
    release = release_dir / "release.toml"
    release.write_text(release.read_text() + '\n[[variables]]\nname = "X"\n'
                       'value = "#{Octopus.Action[No such step].Output.Y}"\n')
    with refused_by_lint("unknown_output_step"):
        _export(zones, tmp_path / "a.bundle", release=release)


def test_export_to_untrusted_zone_refused_and_writes_nothing(zones: Zones, tmp_path: Path) -> None:
    with raises_code("unknown_zone"):
        export_release(zones.dev, RELEASE, "nowhere", tmp_path / "a.bundle", now=0)
    assert not (tmp_path / "a.bundle").exists()


def test_package_by_reference_has_no_blob(zones: Zones, release_dir: Path, tmp_path: Path) -> None:
    release = release_dir / "release.toml"
    release.write_text(release.read_text() + '\n[[packages]]\nid = "Acme.Tools"\nversion = "2.0.0"\n'
                       f'sha256 = "{"ab" * 32}"\nsize = 123\n')
    b = _export(zones, tmp_path / "a.bundle", release=release)
    bf, m = read_unverified(b)  # the destination refuses it: dev never delivered that package there
    with bf:
        ref = next(p for p in m.packages if p.id == "Acme.Tools")
        assert not ref.included and m.blob_for(ref.sha256) is None
        assert len(m.blobs) == 1 and bf.header.blobs_length == m.blobs[0].length
    with raises_code("package_not_shared"):
        verify_bundle(zones.prod, b, now=int(time.time()))


def test_copy_of_home_unchanged_by_verify(zones: Zones, tmp_path: Path) -> None:
    from tests.conftest import snapshot

    b = _export(zones, tmp_path / "a.bundle")
    before = snapshot(zones.prod.home)
    verify_bundle(zones.prod, b, now=int(time.time()))
    assert snapshot(zones.prod.home) == before


def test_export_refused_by_an_invalid_rotation_statement_leaves_the_home_as_it_was(zones: Zones,
                                                                                   tmp_path: Path) -> None:
    st = rotate_key(zones.dev, int(time.time()))
    forged = dict(st.to_dict(), new_signature=st.to_dict()["old_signature"])
    with sqlite3.connect(zones.dev.home / "state.db") as db:  # written behind bundlekit's back, as a forger would
        db.execute("UPDATE rotations SET statement = ?", (json.dumps(forged),))
    zones.close()
    before = snapshot(zones.dev.home)
    out = tmp_path / "out"
    with raises_code("invalid_rotation") as info:
        _export(zones, out / "a.bundle")
    assert info.value.exit_code == 3
    assert snapshot(zones.dev.home) == before  # no outgoing sequence, no export row
    assert not out.exists() or not list(out.iterdir())
    # The refused export consumed no number: once the statement is valid, the next export is sequence 1.
    with sqlite3.connect(zones.dev.home / "state.db") as db:
        db.execute("UPDATE rotations SET statement = ?", (json.dumps(st.to_dict()),))
    b = _export(zones, out / "a.bundle")
    assert verify_bundle(zones.prod, b, now=int(time.time())).manifest.sequence == 1


def test_parallel_exports_never_share_a_sequence_number(zones: Zones, tmp_path: Path) -> None:
    zones.close()
    procs = [subprocess.Popen([sys.executable, "-m", "bundlekit", "export", str(RELEASE), "--to", "prod", "-o",
                               str(tmp_path / f"{i}.bundle"), "--home", str(zones.dev.home), "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(4)]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    sequences = sorted(json.loads(out)["sequence"] for out, _ in results)
    assert sequences == [1, 2, 3, 4]
    recorded = zones.dev.db.all("SELECT sequence FROM exports ORDER BY sequence")
    assert [r["sequence"] for r in recorded] == [1, 2, 3, 4]


@pytest.mark.parametrize("value", ["0", "-1", '"2"', "1.5"])
def test_a_window_size_that_is_not_a_whole_number_of_at_least_one_is_refused(release_dir: Path, value: str) -> None:
    release = release_dir / "release.toml"
    text = release.read_text()
    release.write_text(text.replace('roles = ["web"]\nsubstitute',
                                    f'roles = ["web"]\nwindow_size = {value}\nsubstitute', 1))
    assert release.read_text() != text
    with raises_code("invalid_release") as info:
        load_release(release)
    assert str(release) in info.value.message and "window_size" in info.value.message


def test_a_window_size_reaches_the_manifest(release_dir: Path) -> None:
    release = release_dir / "release.toml"
    release.write_text(release.read_text().replace('roles = ["web"]\nsubstitute', 'roles = ["web"]\nwindow_size = 2\n'
                                                   'substitute', 1))
    assert [s.window_size for s in load_release(release).steps] == [None, 2, None]


def test_an_expiry_no_manifest_can_state_is_a_usage_error() -> None:
    from bundlekit.export.exporter import parse_duration

    assert parse_duration("52w") == 52 * 7 * 86400
    for text in (f"{2**64}w", f"{253402300800}s"):
        with raises_code("invalid_duration") as info:
            parse_duration(text)
        assert "9999" in info.value.message


@pytest.mark.parametrize("case", ["--sequence 2**64", "SOURCE_DATE_EPOCH 2**64", "by-reference size 2**64",
                                  "validity past the year 9999"])
def test_an_export_input_no_manifest_can_state_is_refused_and_writes_nothing(zones: Zones, release_dir: Path,
                                                                          tmp_path: Path, case: str,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Integers from the command line, the environment or the release file end in the signed
    manifest; beyond its ranges they once ended in OverflowError tracebacks (msgpack, SQLite)."""
    release, kw, code = RELEASE, {}, "invalid_input"
    if case == "--sequence 2**64":
        kw = {"sequence": 2**64}
    elif case == "SOURCE_DATE_EPOCH 2**64":
        monkeypatch.setenv("SOURCE_DATE_EPOCH", str(2**64))
    elif case == "by-reference size 2**64":
        release = release_dir / "release.toml"
        release.write_text(release.read_text() + '\n[[packages]]\nid = "Acme.Tools"\nversion = "2.0.0"\n'
                           f'sha256 = "{"ab" * 32}"\nsize = {2**64}\n')
        code = "release_lint_failed"  # the schema's finding, among every other (decision 570)
    else:
        kw, code = {"expires_in": 2 * 86400}, "invalid_duration"
        monkeypatch.setenv("SOURCE_DATE_EPOCH", str(253402300799 - 86400))
    before = snapshot(zones.dev.home)
    with raises_code(code) as info:
        _export(zones, tmp_path / "a.bundle", release=release, **kw)
    assert any(text in info.value.message for text in ("9999", "9007199254740991", "253402300799")), info.value.message
    assert not (tmp_path / "a.bundle").exists()
    assert snapshot(zones.dev.home) == before
