"""Refusal table rows: media volumes and the one-way diode."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import socket
from pathlib import Path

from bundlekit.transport.volume import HEADER_SIZE, parse_header
from tests.refusals.world import Call, Ctx, Row, ok


def _volumes(ctx: Ctx, bundle: str = "acme.bundle", folder: str = "vols") -> Path:
    out = ctx.path(folder)
    ok("media", "split", ctx.get(bundle), "--volume-size", "1024", "--out", out)
    return out


def _check(folder: Path) -> Call:
    return Call(["media", "check", folder], outputs=[folder])


def _missing_volume(ctx: Ctx) -> Call:
    vols = _volumes(ctx)
    sorted(vols.iterdir())[1].unlink()
    return _check(vols)


def _mixed(ctx: Ctx) -> Call:
    vols = _volumes(ctx, "acme.bundle")
    for f in _volumes(ctx, "r1.bundle", "vols-r1").iterdir():  # an old set left on the stick
        shutil.copy(f, vols / f.name)
    return _check(vols)


def _unknown_set(ctx: Ctx) -> Call:
    vols = _volumes(ctx)
    out = ctx.path("joined.bundle")
    return Call(["media", "join", vols, "-o", out, "--set", "00000000"], outputs=[vols, out])


def _consistent_but_wrong(ctx: Ctx) -> Call:
    # Every volume checks out on its own (payload hash and header checksum rewritten), yet
    # together they are not the bundle their headers name: a volume from a broken writer.
    vols = _volumes(ctx)
    first = sorted(vols.iterdir())[0]
    data = first.read_bytes()
    payload = bytearray(data[HEADER_SIZE:])
    payload[0] ^= 0x01
    header = dataclasses.replace(parse_header(data[:HEADER_SIZE]), payload_sha256=hashlib.sha256(payload).digest())
    first.write_bytes(header.encode() + bytes(payload))
    out = ctx.path("joined.bundle")
    return Call(["media", "join", vols, "-o", out], outputs=[vols, out])


def _receive(ctx: Ctx, spool: Path, *watch: Path) -> Call:
    out = ctx.path("inbox")
    return Call(["diode", "receive", "--spool", spool, "--out", out, "--idle-timeout", "0.3"],
                outputs=[out, *watch])


def _partial_spool(ctx: Ctx) -> Call:
    spool = ctx.path("spool")
    spool.mkdir()
    ok("diode", "send", ctx.file("big.bin", bytes(range(256)) * 1200), "--spool", spool, "--redundancy", "0")
    (frames,) = spool.iterdir()
    data = frames.read_bytes()
    frames.write_bytes(data[: len(data) * 4 // 10])  # a damaged spool file: the first 40% of its frames
    return _receive(ctx, spool, spool)  # its frames are still needed: the spool file stays (decision 920)


def _split_over_another_set(ctx: Ctx, *replace: str) -> Call:
    stick = _volumes(ctx, "r1.bundle", "stick")  # an old set left on the stick
    shutil.copy(sorted(stick.iterdir())[0], stick / "my-copy.bin")  # and a user's copy of one volume
    return Call(["media", "split", ctx.get("acme.bundle"), "--volume-size", "1024", "--out", stick, *replace],
                outputs=[stick])


def _udp_port_in_use(ctx: Ctx) -> Call:
    held = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    held.bind(("127.0.0.1", 0))
    out = ctx.path("inbox")
    return Call(["diode", "receive", "--listen", f"127.0.0.1:{held.getsockname()[1]}", "--out", out,
                 "--idle-timeout", "0.3"], outputs=[out], hold=[held])


ROWS = [
    Row("volumes_incomplete", _missing_volume),
    Row("volumes_mixed", _mixed),
    Row("unknown_volume_set", _unknown_set),
    Row("no_volumes", lambda c: _check(c.file("empty/readme.txt", b"no volumes here").parent)),
    # the same folder given to import is the same refusal (it used to be `usage`)
    Row("no_volumes", lambda c: Call(["import", c.file("empty/readme.txt", b"no volumes here").parent],
                                     home=c.prod, outputs=[c.path("empty")]), name="import"),
    Row("bundle_digest_mismatch", _consistent_but_wrong),
    Row("output_exists", _split_over_another_set, name="split"),
    # --replace removes only volumes named as bundlekit names them: a user's copy is refused (decision 921)
    Row("output_exists", lambda c: _split_over_another_set(c, "--replace"), name="split-replace"),
    Row("nothing_received", lambda c: (c.path("spool").mkdir(), _receive(c, c.path("spool"), c.path("spool")))[1]),
    Row("incomplete", _partial_spool),
    Row("listen_failed", _udp_port_in_use),
    # A broadcast address is refused by connect() itself: no datagram is ever sent.
    Row("send_failed", lambda c: Call(["diode", "send", c.get("acme.bundle"), "--to", "255.255.255.255:9"],
                                      outputs=[c.get("acme.bundle")])),
]
