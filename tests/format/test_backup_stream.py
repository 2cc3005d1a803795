"""The backup stream (format/backup.py, spec/backup.md): chunks in order, the last one marked.

Cheap scrypt costs keep these fast; the format is the same at any cost.
"""

from __future__ import annotations

import io

import pytest

from bundlekit.format.backup import CHUNK, BackupHeader, BackupReader, BackupWriter, keys_for, read_header
from bundlekit.format.passphrase import Kdf
from tests.conftest import raises_code

KDF = Kdf(bytes(range(16)), 1024, 8, 1)
PASS = b"a backup passphrase"


def make(contents: dict[str, bytes]) -> bytes:
    payload, check = keys_for(PASS, KDF)
    out = io.BytesIO()
    w = BackupWriter(out, BackupHeader("0" * 32, "prod", 1, KDF, check), payload)
    w.record({"type": "zone"})
    for name, data in contents.items():
        w.add_file(name, 0o600, len(data), io.BytesIO(data))
    w.finish()
    return out.getvalue()


def read(data: bytes, passphrase: bytes = PASS) -> dict[str, bytes]:
    f = io.BytesIO(data)
    header, prefix = read_header(f, "b")
    reader = BackupReader(f, header, prefix, passphrase, "b")
    got: dict[str, bytes] = {}
    for rec in reader.records():
        if rec["type"] == "file":
            got[rec["path"]] = b"".join(reader.read_file(rec["size"]))
    return got


@pytest.mark.parametrize("size", [0, 1, CHUNK - 60, CHUNK, CHUNK + 1, 3 * CHUNK + 7])
def test_contents_of_any_size_round_trip_across_chunk_boundaries(size: int) -> None:
    contents = {"a": bytes(i % 251 for i in range(size)), "b/c": b"x"}
    assert read(make(contents)) == contents


def test_a_plaintext_that_fills_its_last_chunk_exactly_still_ends_with_a_marked_chunk() -> None:
    for pad in range(0, 80):  # some of these land the end record exactly on a chunk boundary
        contents = {"f": b"y" * (2 * CHUNK - 120 - pad)}
        data = make(contents)
        assert read(data) == contents
        with raises_code("backup_corrupt"):
            read(data[:-(CHUNK + 16)] if len(data) > 2 * (CHUNK + 16) else data[:-1])


def test_dropped_reordered_or_appended_chunks_fail_to_open() -> None:
    data = make({"f": bytes(3 * CHUNK)})
    head = len(read_header(io.BytesIO(data), "b")[1])
    chunks = [data[i:i + CHUNK + 16] for i in range(head, len(data), CHUNK + 16)]
    assert len(chunks) == 4
    for forged in (chunks[:1] + chunks[2:], [chunks[1], chunks[0], *chunks[2:]], chunks[:3], chunks + chunks[-1:]):
        with raises_code("backup_corrupt"):
            read(data[:head] + b"".join(forged))


def test_a_wrong_passphrase_is_told_apart_from_damage() -> None:
    with raises_code("passphrase_wrong"):
        read(make({"f": b"z"}), b"another passphrase")


def test_the_spec_vector_opens_to_its_records_and_is_what_the_writer_writes() -> None:
    import base64
    import re

    from tests.conftest import ROOT

    text = (ROOT / "spec" / "backup.md").read_text()
    block = re.search(r"```\n(YnVuZGxla2l0IHpvbmUgYmFja3Vw[A-Za-z0-9+/=\n]+)```", text)
    assert block is not None
    data = base64.b64decode(block.group(1).replace("\n", ""))
    assert len(data) == 533
    f = io.BytesIO(data)
    header, prefix = read_header(f, "vector")
    payload, check = keys_for(b"correct horse battery staple", header.kdf)
    assert payload.hex() == "5c3d3232f43d03cbac4f7a70f3a592301736b71c5434211184adb095d51dfc16"
    assert check.hex() == "1419672e0cbf94e096d363436ae935c8"
    reader = BackupReader(f, header, prefix, b"correct horse battery staple", "vector")
    seen = []
    for rec in reader.records():
        seen.append(rec)
        if rec["type"] == "file":
            assert b"".join(reader.read_file(rec["size"])) == b"hello\n"
    assert [r["type"] for r in seen] == ["zone", "dir", "file", "end"]
    assert seen[-1] == {"type": "end", "files": 1, "bytes": 6}
    out = io.BytesIO()  # the chunk nonces are counters: the same inputs give the same bytes
    w = BackupWriter(out, header, payload)
    w.record(seen[0])
    w.add_dir("keys", 0o700)
    w.add_file("keys/note.txt", 0o600, 6, io.BytesIO(b"hello\n"))
    w.finish()
    assert out.getvalue() == data
