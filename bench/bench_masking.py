"""Benchmark: masking a log once every secret is also masked in its encodings (decision 550).

    .venv/bin/python bench/bench_masking.py [--megabytes 10] [--secrets 53]

Each secret now brings a few dozen strings to mask (its base64 at three alignments, hex, URL and
JSON forms, ...). The masker compiles them into one prefix-tree expression; the baseline, in this
script, is the way decision 040 matched: one alternation of every string, longest first, with
the same strings. Both mask the same log (ordinary lines, with every secret and some of its
forms scattered through it) and must give the same text. Printed: seconds (best of 3), and the
ratio to the baseline (lower is better). Also the old masker's own case for scale: the raw
secrets alone, one alternation. Then the worst case for wrapped encodings (decision 670): a log
that is all base64 wrapped at 76 columns (every line joined to the next and searched), at the
same size and at twice it: the second ratio shows masking stays linear in the log's size.
These machines are shared: compare within one run, note the load.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bundlekit.runtime.masking import Masker, _mask_regions, secret_forms  # noqa: E402
from bundlekit.core.text import MASK  # noqa: E402


def _flat(strings: set[str]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(s) for s in sorted(strings, key=lambda s: (-len(s), s))))


def _best(fn, repeat: int = 3) -> tuple[float, str]:  # type: ignore[no-untyped-def]
    best, out = float("inf"), ""
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=float, default=10.0)
    parser.add_argument("--secrets", type=int, default=53)
    args = parser.parse_args()
    secrets = [f"pw-{i:03d}-{os.urandom(6).hex()}" for i in range(args.secrets)]
    line = "2026-12-01T10:00:00Z INFO worker 7 processed batch 0123456789abcdef in 42 ms, ok\n"
    lines = [line] * int(args.megabytes * 1024 * 1024 / len(line))
    step = max(1, len(lines) // (4 * len(secrets)))
    for i, secret in enumerate(secrets):  # each secret, its base64 and its hex, somewhere in the log
        b64 = base64.b64encode(b"user:" + secret.encode()).decode()
        lines[(4 * i) * step % len(lines)] = f"password {secret}\n"
        lines[(4 * i + 1) * step % len(lines)] = f"Authorization: Basic {b64}\n"
        lines[(4 * i + 2) * step % len(lines)] = f"key {secret.encode().hex()}\n"
    log = "".join(lines)
    masker = Masker(secrets)
    forms = set().union(*(secret_forms(s) for s in secrets))
    flat = _flat(forms)
    raw = _flat(set(secrets))

    new_s, new_out = _best(lambda: masker.mask(log))
    old_s, old_out = _best(lambda: _mask_regions(log, flat, MASK))
    raw_s, _ = _best(lambda: _mask_regions(log, raw, MASK))
    assert new_out == old_out, "the prefix tree and the alternation must mask the same text"
    assert not any(s in new_out for s in secrets)
    print(f"log {len(log) / 1048576:.1f} MiB, {len(secrets)} secrets, {len(forms)} strings to mask "
          f"(load {os.getloadavg()[0]:.1f})")
    print(f"{'matcher':<44} {'seconds':>8} {'vs baseline':>12}")
    print(f"{'one alternation of every form (baseline)':<44} {old_s:>8.3f} {1.0:>11.3f}x")
    print(f"{'prefix tree of every form (bundlekit)':<44} {new_s:>8.3f} {new_s / old_s:>11.3f}x")
    print(f"{'one alternation of the raw secrets (before)':<44} {raw_s:>8.3f} {raw_s / old_s:>11.3f}x")
    blob = base64.encodebytes(os.urandom(len(log) * 3 // 4)).decode()
    wrapped_s, _ = _best(lambda: masker.mask(blob))
    twice_s, _ = _best(lambda: masker.mask(blob + blob))
    print(f"{'prefix tree, a log of wrapped base64':<44} {wrapped_s:>8.3f} {wrapped_s / old_s:>11.3f}x")
    print(f"{'the same, twice the size (vs the line above)':<44} {twice_s:>8.3f} {twice_s / wrapped_s:>11.3f}x")


if __name__ == "__main__":
    main()
