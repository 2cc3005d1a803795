"""The worked examples in spec/transport.md are exactly what the code produces."""

from __future__ import annotations

import re
from pathlib import Path

from bundlekit.transport.diode_send import SendOptions, iter_frames, plan_objects
from bundlekit.transport.media import split

SPEC = Path(__file__).resolve().parents[2] / "spec" / "transport.md"


def _dump(section: str) -> bytes:
    """The hex dump in a spec section's first code block (offsets and comments stripped)."""
    text = SPEC.read_text().split(section, 1)[1].split("```", 2)[1]
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([0-9a-f]{4}): ((?:[0-9a-f]{2} ?){1,16})", line)
        if m:
            out[int(m.group(1), 16)] = bytes.fromhex(m.group(2))
    return b"".join(v for _k, v in sorted(out.items())) if out else b""


def _example(tmp: Path) -> Path:
    p = tmp / "example.bundle"
    p.write_bytes(bytes(i % 251 for i in range(2500)))
    return p


def test_volume_header_example_matches_the_spec(tmp_path: Path) -> None:
    vols = split(_example(tmp_path), tmp_path / "v", 1512, parity=1)
    assert [v.name for v in vols][0] == "example.bundle.001-of-003.bkvol"
    header = vols[0].read_bytes()[:512]
    dump = _dump("### 2.6 Worked example")
    assert header[:0x90] == dump[:0x90]
    assert header[0x1E0:] == dump[0x90:]


def test_diode_announcement_example_matches_the_spec(tmp_path: Path) -> None:
    frames = list(iter_frames(plan_objects([_example(tmp_path)]), bytes.fromhex("0102030405060708"),
                              SendOptions()))
    assert [len(f) for f in frames] == [96, 96] + [1452] * 10 + [96]
    assert frames[0] == _dump("### 3.9 Worked example")
    assert frames[2][-4:] == bytes.fromhex("48d61df6")
    assert frames[4][44:48] == b"\x00\x00\x00\x02"
