"""Benchmark: the worst a manifest can cost to decode, against an ordinary manifest of the same size.

    .venv/bin/python bench/bench_decode.py [--unbounded]

The manifest decoder weighs the bytes before building values (bundlekit/format/budget.py,
spec/bundle-format.md §4 and §9). Each input below is decoded by ``codec.decode`` in a fresh
process, under GNU time when it is installed (its peak RSS is the child's own), and compared
with an *ordinary* manifest of the same byte size: a list of variable entries (maps of a name,
a scope, a flag and a 1000-character value), which is what a large real manifest holds: text.

  tiny-maps   15 MiB of one-byte maps (the attack): refused, limit_exceeded
  worst-size  the most decoded size the limit admits: one-byte maps up to 176 MiB of weight
  worst-count the most values the limit admits: 5 x 2^20 - 4 values, one-byte integers
  max-recipe  the largest legitimate manifest: 2^20 operations with 8-byte offsets (16 MiB)

``--unbounded`` also decodes tiny-maps with msgpack alone, as the reader did before the limit
(about 2.3 GB and tens of seconds: only on a machine with the memory to spare). These machines
are shared: compare within one run, note the load.
"""

from __future__ import annotations

import argparse
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

MIB = 1 << 20

DECODE = """
import sys
from bundlekit.errors import BundleError
from bundlekit.format import codec
data = open(sys.argv[1], "rb").read()
try:
    codec.decode(data)
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
    op = b"\x93\x00\xcf" + struct.pack(">Q", 5 << 32) + b"\xce" + struct.pack(">I", 1 << 20)
    ops = 1 << 20
    return {
        "tiny-maps": b"\x9f" + array32(b"\x80" * MIB, MIB) * 15,
        "worst-size": b"\x92" + array32(b"\x80" * half, half) + array32(b"\x80" * (maps - half), maps - half),
        "worst-count": b"\x95" + array32(b"\x01" * (MIB - 2), MIB - 2) * 5,  # 6 + 5 (2^20 - 2) values
        "max-recipe": b"\x81" + codec.encode("recipe") + array32(op * ops, ops),
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
        print(f"{'input':12} {'bytes':>10} {'result':>15} {'CPU s':>7} {'grown MiB':>9} | "
              f"{'ordinary CPU s':>14} {'grown MiB':>9} | {'CPU x':>6} {'mem x':>6}")
        for name, data in inputs().items():
            path, plain = base / f"{name}.bin", base / f"{name}.ordinary.bin"
            path.write_bytes(data)
            plain.write_bytes(ordinary(len(data)))
            _, cpu, rss, result = measure(DECODE, path)
            _, cpu_o, rss_o, result_o = measure(DECODE, plain)
            assert result_o == "ok", result_o
            grown, grown_o = max(rss - rss0, 1), max(rss_o - rss0, 1)
            print(f"{name:12} {len(data):>10} {result:>15} {cpu:>7.2f} {grown / 1024:>9.0f} | "
                  f"{cpu_o:>14.2f} {grown_o / 1024:>9.0f} | {cpu / max(cpu_o, 0.01):>6.1f} {grown / grown_o:>6.1f}")
        if args.unbounded:
            path = base / "tiny-maps.bin"
            _, cpu, rss, result = measure(UNBOUNDED, path)
            print(f"tiny-maps decoded by msgpack without the limit: {result}, {cpu:.1f} CPU s, "
                  f"{(rss - rss0) / 1024:.0f} MiB grown")


if __name__ == "__main__":
    main()
