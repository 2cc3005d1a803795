"""The overlapping blob pipeline: same bytes as a serial write, errors surface, compressed input is not recompressed."""

from __future__ import annotations

import hashlib
import io
import threading
import time
import random
from pathlib import Path

import pytest

from bundlekit.format.blobcheck import stream_blob
from bundlekit.format.blobio import STAGE_DEPTH, Ring, Stage, choose_encoding
from bundlekit.format.container import BlobRecord, BundleFile, BundleWriter, SignatureRecord
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


def test_a_ring_piece_is_not_overwritten_before_slow_stages_handled_it() -> None:
    """Pieces go through two stages whose threads are slower than the reader (they wait for
    a go-ahead): each must still see every piece as it was read, though the ring has only
    STAGE_DEPTH + 2 buffers and the source is many times longer."""
    data = random.Random(5).randbytes(40 * 4096 + 123)
    src = io.BytesIO(data)
    ring = Ring(4096)
    seen: dict[str, list[bytes]] = {"a": [], "b": []}
    gate = threading.Event()

    def slow(name: str):  # type: ignore[no-untyped-def]
        def step(piece: memoryview) -> None:
            gate.wait()
            time.sleep(0.001)
            seen[name].append(bytes(piece))
        return step

    sent = []
    with Stage(slow("a"), name="a") as a, Stage(slow("b"), name="b") as b:
        threading.Timer(0.2, gate.set).start()
        while piece := ring.read(src, 4096):
            sent.append(hashlib.sha256(piece).hexdigest())
            a.put(piece)
            b.put(piece)
    for name in ("a", "b"):
        assert b"".join(seen[name]) == data
        assert [hashlib.sha256(p).hexdigest() for p in seen[name]] == sent
    assert len({id(ring.take().obj) for _ in range(3 * (STAGE_DEPTH + 2))}) == STAGE_DEPTH + 2


def test_a_ring_reads_from_a_source_without_readinto() -> None:
    class Plain:
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def read(self, n: int) -> bytes:
            return self._data.read(n)

    data = random.Random(6).randbytes(10_000)
    ring, src, got = Ring(4096), Plain(data), []
    while piece := ring.read(src, 1 << 20):  # asked for more than a buffer: one buffer's worth
        assert len(piece) <= 4096
        got.append(bytes(piece))
    assert b"".join(got) == data and [len(p) for p in got] == [4096, 4096, 1808]


def test_verify_of_identity_and_zstd_blobs_with_and_without_a_sink(tmp_path: Path) -> None:
    """The ring-read verification accepts both encodings, hands a sink exactly the content, and
    still refuses a changed byte."""
    contents = [_text(3 * MIB + 17), random.Random(7).randbytes(5 * MIB + 3)]
    raw = _bundle(tmp_path / "r", contents, threads=2)
    with BundleFile(tmp_path / "r") as bundle:
        writer_blobs = _blob_records(tmp_path / "r", contents)
        assert sorted(b.encoding for b in writer_blobs) == ["identity", "zstd"]
        for blob, content in zip(writer_blobs, contents):
            stream_blob(bundle, blob)
            got = io.BytesIO()
            stream_blob(bundle, blob, got.write)
            assert got.getvalue() == content
            assert isinstance(blob, BlobRecord)
    for blob in writer_blobs:
        damaged = bytearray(raw)
        damaged[32 + blob.offset + blob.length // 2] ^= 1
        (tmp_path / "d").write_bytes(bytes(damaged))
        with BundleFile(tmp_path / "d") as bundle, raises_code(("blob_hash_mismatch", "blob_corrupt")):
            stream_blob(bundle, blob)


def _blob_records(path: Path, contents: list[bytes]):  # type: ignore[no-untyped-def]
    writer = BundleWriter(path.with_suffix(".again"), "receipt", threads=2)
    records = [writer.add_blob(io.BytesIO(c), len(c)) for c in contents]
    writer.abort()
    return records
