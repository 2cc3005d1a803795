"""Benchmark: the worst a manifest can cost to read, against an ordinary manifest of the same size.

    .venv/bin/python bench/bench_decode.py [--unbounded]

The manifest decoder weighs the bytes before building values (bundlekit/format/budget.py,
spec/bundle-format.md §4 and §9). Each input below is read in a fresh process (``codec.decode``,
and for a recipe the model a reader builds from it, ``DeltaRef``: a delta map around it),
under GNU time when it is installed (its peak RSS is the child's own), and compared with an
*ordinary* manifest of the same byte size: a list of variable entries (maps of a name, a scope,
a flag and a 1000-character value), which is what a large real manifest holds: text. Growth is
the process's peak over that of a fresh interpreter decoding an empty map.

  tiny-maps     15 MiB of one-byte maps (the attack): refused, limit_exceeded
  worst-size    the most decoded size the limit admits: one-byte maps up to the weight limit
  worst-count   the most values the limit admits: one-byte integers
  wide-ints     8-byte integers up to the weight limit (the most memory per weight, with the bytes)
  small-lists   one-element arrays up to the weight limit (the most object memory per weight)
  list-recipe   the largest format 1.2 recipe the limit admits (8-byte offsets and lengths)
  packed-recipe the largest legitimate manifest: a format 1.3 recipe filling the 16 MiB limit

``--unbounded`` also decodes tiny-maps with msgpack alone, as the reader did before the limit
(about 2.3 GB and tens of seconds: only on a machine with the memory to spare). These machines
are shared: compare within one run, note the load.
"""

from __future__ import annotations

import argparse
import base64
import struct
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from bench_format import load, run_measured  # noqa: E402

from bundlekit.format import codec  # noqa: E402
from bundlekit.format.budget import MAX_DECODED_SIZE, MAX_VALUES  # noqa: E402
from bundlekit.format.container import DEFAULT_LIMITS  # noqa: E402
from bundlekit.format.recipe import RECORD  # noqa: E402

MIB = 1 << 20
MANIFEST = DEFAULT_LIMITS.max_manifest  # the manifest size limit (16 MiB)

DECODE = """
import sys
from bundlekit.errors import BundleError
from bundlekit.format import codec
from bundlekit.format.delta import DeltaRef
data = open(sys.argv[1], "rb").read()
try:
    obj = codec.decode(data)
    if type(obj) is dict and "recipe" in obj:  # what a reader makes of a delta: its model
        delta = DeltaRef.from_dict({"base": {"id": "P", "version": "1", "sha256": "ab" * 32,
                                             "size": (1 << 53) - 1}, "recipe": obj["recipe"]})
        print(f"ok, {len(delta.recipe)} ops")
    else:
        print("ok")
except BundleError as e:
    print(e.code)
"""

UNBOUNDED = """
import sys, msgpack
data = open(sys.argv[1], "rb").read()
msgpack.unpackb(data, raw=False, max_array_len=1 << 20, max_map_len=1 << 20)
print("ok")
"""


def array32(items: bytes, count: int) -> bytes:
    return b"\xdd" + struct.pack(">I", count) + items


def ordinary(size: int) -> bytes:
    """A manifest-like value of about ``size`` bytes: variable entries, canonical."""
    entry = {"name": "Acme.Setting.0000000", "scope": {"environment": ["Production"]}, "sensitive": False,
             "value": "v" * 1000}
    one = len(codec.encode(entry))
    count = max(1, size // one)
    entries = [dict(entry, name=f"Acme.Setting.{i:07d}") for i in range(count)]
    return codec.encode({"variables": entries})


def inputs() -> dict[str, bytes]:
    maps = (MAX_DECODED_SIZE - 184) // 168  # [[{}, ...], [{}, ...]]: 184 for the arrays, 8 + 160 per map
    half = maps // 2
    wide = min((MAX_DECODED_SIZE - 184) // 48, (MANIFEST - 11) // 9)  # 184 for 3 arrays; 40 + 8 per integer
    lists = (MAX_DECODED_SIZE - 184) // 72  # 184 for 3 arrays; 8 + 56 + 8 per [1]
    big = struct.pack(">Q", 5 << 32)
    op = b"\x93\x00\xcf" + big + b"\xcf" + big  # 8 + 56 + 24 + 40 + 40 = 168
    ops = (MAX_DECODED_SIZE - 400) // 168
    packed = (MANIFEST - 16) * 3 // 4 // RECORD  # records whose base64 fills the manifest limit
    record = struct.pack("<QQ", 5 << 32, 1 << 20)
    return {
        "tiny-maps": b"\x9f" + array32(b"\x80" * MIB, MIB) * 15,
        "worst-size": b"\x92" + array32(b"\x80" * half, half) + array32(b"\x80" * (maps - half), maps - half),
        "worst-count": b"\x93" + array32(b"\x01" * (MIB - 2), MIB - 2) * 3,  # 4 + 3 (2^20 - 2) values
        "wide-ints": b"\x92" + array32((b"\xcf" + big) * (wide // 2), wide // 2) * 2,
        "small-lists": b"\x92" + array32(b"\x91\x01" * (lists // 2), lists // 2) * 2,
        "list-recipe": b"\x81" + codec.encode("recipe") + array32(op * ops, ops),
        "packed-recipe": codec.encode({"recipe": base64.b64encode(record * packed).decode("ascii")}),
    }


def measure(script: str, path: Path) -> tuple[float, float, int, str]:
    import subprocess

    wall, cpu, rss = run_measured([sys.executable, "-c", script, str(path)])
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, cwd=ROOT)
    said = out.stdout.strip() or (out.stderr.strip().splitlines() or ["?"])[-1]
    return wall, cpu, rss, said


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--unbounded", action="store_true", help="also decode tiny-maps without the limit (~2.3 GB)")
    args = ap.parse_args()
    print(f"limits: {MAX_VALUES} values, decoded size {MAX_DECODED_SIZE} bytes; load {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        empty = base / "empty.bin"
        empty.write_bytes(codec.encode({}))
        _, _, rss0, _ = measure(DECODE, empty)
        print(f"a fresh interpreter decoding an empty map: peak {rss0 / 1024:.0f} MiB (subtracted below)")
        print(f"{'input':13} {'bytes':>10} {'result':>15} {'CPU s':>7} {'grown MiB':>9} | "
              f"{'ordinary CPU s':>14} {'grown MiB':>9} | {'CPU x':>6} {'mem x':>6}")
        for name, data in inputs().items():
            path, plain = base / f"{name}.bin", base / f"{name}.ordinary.bin"
            path.write_bytes(data)
            plain.write_bytes(ordinary(len(data)))
            _, cpu, rss, result = measure(DECODE, path)
            _, cpu_o, rss_o, result_o = measure(DECODE, plain)
            assert result_o == "ok", result_o
            grown, grown_o = max(rss - rss0, 1), max(rss_o - rss0, 1)
            print(f"{name:13} {len(data):>10} {result:>15} {cpu:>7.2f} {grown / 1024:>9.0f} | "
                  f"{cpu_o:>14.2f} {grown_o / 1024:>9.0f} | {cpu / max(cpu_o, 0.01):>6.1f} {grown / grown_o:>6.1f}")
        if args.unbounded:
            path = base / "tiny-maps.bin"
            _, cpu, rss, result = measure(UNBOUNDED, path)
            print(f"tiny-maps decoded by msgpack without the limit: {result}, {cpu:.1f} CPU s, "
                  f"{(rss - rss0) / 1024:.0f} MiB grown")


if __name__ == "__main__":
    main()
