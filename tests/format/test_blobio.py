"""The overlapping blob pipeline: same bytes as a serial write, errors surface, compressed input is not recompressed."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest

from bundlekit.format.blobcheck import stream_blob
from bundlekit.format.blobio import Stage, choose_encoding
from bundlekit.format.container import BundleFile, BundleWriter, SignatureRecord
from tests.conftest import raises_code

MIB = 1 << 20


def _text(n: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    words = [bytes(rng.choice(b"abcdefghij") for _ in range(rng.randint(2, 8))) for _ in range(300)]
    out = b" ".join(rng.choice(words) for _ in range(n // 4))
    return out[:n]


def _bundle(path: Path, contents: list[bytes], threads: int) -> bytes:
    writer = BundleWriter(path, "receipt", threads=threads)
    for c in contents:
        writer.add_blob(io.BytesIO(c), len(c))
    writer.finish(b"\x80", [lambda m: SignatureRecord(b"k" * 32, b"s" * 64)])
    return path.read_bytes()


def test_bundle_bytes_do_not_depend_on_threads_or_timing(tmp_path: Path) -> None:
    contents = [_text(6 * MIB), random.Random(2).randbytes(5 * MIB), _text(300_000, seed=3)]
    one = _bundle(tmp_path / "a", contents, threads=1)
    two = _bundle(tmp_path / "b", contents, threads=2)
    again = _bundle(tmp_path / "c", contents, threads=2)
    assert one == two == again


def test_incompressible_package_is_stored_identity_and_still_checked(tmp_path: Path) -> None:
    noise = random.Random(4).randbytes(6 * MIB)
    text = _text(6 * MIB)
    assert choose_encoding(io.BytesIO(noise), len(noise)) == "identity"
    assert choose_encoding(io.BytesIO(text), len(text)) == "zstd"
    half = noise[:3 * MIB] + text[:3 * MIB]  # half compressible: still worth compressing
    assert choose_encoding(io.BytesIO(half), len(half)) == "zstd"
    path = tmp_path / "n.bundle"
    writer = BundleWriter(path, "receipt")
    rec = writer.add_blob(io.BytesIO(noise), len(noise))
    writer.finish(b"\x80", [lambda m: SignatureRecord(b"k" * 32, b"s" * 64)])
    assert rec.encoding == "identity" and rec.stored_sha256 == rec.digest and rec.length == len(noise)
    got = io.BytesIO()
    with BundleFile(path) as bundle:
        stream_blob(bundle, rec, got.write)
    assert got.getvalue() == noise
    data = bytearray(path.read_bytes())
    data[32 + 12345] ^= 1
    path.write_bytes(bytes(data))
    with BundleFile(path) as bundle, raises_code("blob_hash_mismatch"):
        stream_blob(bundle, rec, None)


def test_stage_keeps_order_and_reraises_the_first_error_on_the_callers_thread() -> None:
    seen: list[int] = []
    with Stage(seen.append) as stage:
        for i in range(100):
            stage.put(i)
    assert seen == list(range(100))

    def fail(item: int) -> None:
        if item == 3:
            raise OSError("disk full")
        seen.append(item)

    seen.clear()
    stage = Stage(fail)
    with pytest.raises(OSError, match="disk full"):
        for i in range(50):
            stage.put(i)
        stage.close()
    assert seen == [0, 1, 2]


def test_changed_input_length_is_refused_and_leaves_no_blob(tmp_path: Path) -> None:
    writer = BundleWriter(tmp_path / "x.bundle", "receipt")
    data = _text(2 * MIB)
    with raises_code("input_changed"):
        writer.add_blob(io.BytesIO(data), len(data) - 10)
    assert writer.blobs == []
    writer.abort()


@pytest.mark.parametrize("kind", ["text", "noise"])
def test_tee_gets_every_content_byte_in_order_for_both_encodings(tmp_path: Path, kind: str) -> None:
    data = _text(5 * MIB) if kind == "text" else random.Random(5).randbytes(5 * MIB)
    copy = io.BytesIO()
    writer = BundleWriter(tmp_path / "t.bundle", "receipt")
    rec = writer.add_blob(io.BytesIO(data), len(data), tee=copy.write)
    writer.abort()
    assert rec.encoding == ("zstd" if kind == "text" else "identity")
    assert copy.getvalue() == data
