"""Benchmark (not a test): diode goodput over UDP loopback with loss, and media split/join throughput.

    .venv/bin/python bench/bench_transport.py [--size-mib N] [--loss 0.05] [--redundancy 0.10]

Creates an N MiB file (half text, half random), then in one run:
  1. times `cat FILE > OTHER` as the baseline copy;
  2. sends FILE over UDP on 127.0.0.1 with seeded random loss injected in the sender, the
     receiver being the real CLI in another process; prints goodput (file bytes / time from
     the first datagram to the verified file), overhead, ratio vs cat, receiver peak RSS;
  3. times `bundlekit` media split/join against `split -b` / `cat` of the same data.
Goals: diode goodput >= 100 MB/s at 5% loss with <= 15% overhead; split/join >= 0.8x split/cat.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bundlekit.transport._util import keep_freed_memory  # noqa: E402
from bundlekit.transport.channel import LossyChannel, UdpChannel  # noqa: E402
from bundlekit.transport.diode_send import SendOptions, send  # noqa: E402
from bundlekit.transport.media import join, split  # noqa: E402

MiB = 1 << 20


def make_file(path: Path, size: int) -> str:
    """Half compressible text, half random bytes, written in 1 MiB chunks; returns its SHA-256."""
    rng = random.Random(2024)
    h = hashlib.sha256()
    line = b"2024-05-01T12:00:00Z deploy step 'Deploy web' on web-01: package acme.web 1.4.0 ok\n"
    text = (line * (MiB // len(line) + 1))[:MiB]
    with open(path, "wb") as f:
        written = 0
        while written < size:
            n = min(MiB, size - written)
            chunk = text[:n] if written < size // 2 else rng.randbytes(n)
            f.write(chunk)
            h.update(chunk)
            written += n
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(MiB):
            h.update(chunk)
    return h.hexdigest()


def timed_shell(cmd: str) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, shell=True, check=True)
    return time.perf_counter() - t


def bench_cat(src: Path, work: Path) -> float:
    dst = work / "cat-copy"
    secs = timed_shell(f"cat '{src}' > '{dst}'")
    dst.unlink()
    return secs


def bench_diode(src: Path, digest: str, work: Path, loss: float, redundancy: float, rate: int) -> dict[str, float]:
    inbox = work / "inbox"
    rx = subprocess.Popen([sys.executable, "-m", "bundlekit", "diode", "receive", "--listen", "127.0.0.1:0",
                           "--out", str(inbox), "--idle-timeout", "3", "--json"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    assert rx.stderr is not None and rx.stdout is not None
    line = rx.stderr.readline().decode()
    port = int(line.strip().rsplit(":", 1)[1])
    keep_freed_memory()  # what `bundlekit diode send` does; the sender runs here to inject the loss
    tx = LossyChannel(UdpChannel.sender("127.0.0.1", port), seed=5, drop=loss)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    report = send([src], tx, SendOptions(rate=rate, redundancy=redundancy))
    tx.close()
    send_secs = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    _pid, status, usage = os.wait4(rx.pid, 0)
    out = json.loads(rx.stdout.read().decode() or "{}")
    rx.stdout.close()
    rx.stderr.close()
    if "error" in out:
        print("receiver failed:", json.dumps(out["error"]["message"]), file=sys.stderr)
        return {"ok": 0.0, "send_secs": send_secs, "rss_mib": usage.ru_maxrss / 1024}
    got = inbox / src.name
    ok = sha256_file(got) == digest
    size = src.stat().st_size
    wire = report.wire_bytes
    return {
        "ok": 1.0 if ok else 0.0,
        "send_secs": send_secs,
        "transfer_secs": float(out["transfer_seconds"]),
        "wire_overhead": wire / size - 1,
        "repair_overhead": redundancy,
        "frames": float(report.frames),
        "lost": float(tx.dropped),
        "rss_mib": usage.ru_maxrss / 1024,
        "peak_buffered_mib": out["peak_buffered_bytes"] / MiB,
        "send_cpu": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime),
        "recv_cpu": usage.ru_utime + usage.ru_stime,
    }


def bench_media(src: Path, work: Path, volume_size: int) -> dict[str, float]:
    vols, coreutils = work / "vols", work / "parts"
    coreutils.mkdir()
    t = time.perf_counter()
    split(src, vols, volume_size)
    bk_split = time.perf_counter() - t
    cu_split = timed_shell(f"split -b {volume_size} '{src}' '{coreutils}/part.'")
    t = time.perf_counter()
    join([vols], work / "joined")
    bk_join = time.perf_counter() - t
    cu_join = timed_shell(f"cat '{coreutils}'/part.* > '{work}/cat-joined'")
    assert sha256_file(work / "joined") == sha256_file(src)
    return {"bk_split": bk_split, "cu_split": cu_split, "bk_join": bk_join, "cu_join": cu_join}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--loss", type=float, default=0.05)
    ap.add_argument("--redundancy", type=float, default=0.10,
                    help="repair fraction (0.10 keeps total wire overhead, headers included, under 15%%)")
    ap.add_argument("--rate", type=int, default=120 << 20,
                    help="sender pacing in wire bytes/s (default 120 MiB/s, i.e. ~110 MB/s of file data at "
                         "14%% overhead; 0 = unpaced, which overruns a receiver that cannot keep up)")
    ap.add_argument("--volume-size-mib", type=int, default=64)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-transport-", dir=args.workdir))
    try:
        size = args.size_mib * MiB
        src = work / "bench.bundle"
        print(f"creating {args.size_mib} MiB test file (half text, half random) in {work} ...")
        digest = make_file(src, size)
        mb = size / 1e6
        cat = bench_cat(src, work)
        print(f"\nbaseline  cat FILE > OTHER: {cat:.2f}s  {mb / cat:8.1f} MB/s")

        d = bench_diode(src, digest, work, args.loss, args.redundancy, args.rate)
        print(f"\ndiode over UDP 127.0.0.1, {args.loss:.0%} seeded loss in the sender, receiver in another process,"
              f" rate {args.rate / MiB:.0f} MiB/s:")
        if not d.get("ok"):
            print(f"  FAILED (file not received intact); sender {d['send_secs']:.2f}s, receiver peak RSS "
                  f"{d['rss_mib']:.0f} MiB")
        else:
            goodput = mb / d["transfer_secs"]
            print(f"  goodput            {goodput:8.1f} MB/s  (first datagram -> verified file, "
                  f"{d['transfer_secs']:.2f}s; sender done in {d['send_secs']:.2f}s)")
            print(f"  ratio vs cat       {goodput / (mb / cat):8.2f}x")
            print(f"  overhead           {d['repair_overhead']:.0%} repair symbols, "
                  f"{d['wire_overhead']:.1%} on the wire (headers, announcements, repair)")
            print(f"  datagrams          {d['frames']:.0f} sent, {d['lost']:.0f} dropped on purpose")
            print(f"  receiver peak RSS  {d['rss_mib']:8.1f} MiB (symbol buffer peak {d['peak_buffered_mib']:.1f} MiB)")
            print(f"  CPU time           sender {d['send_cpu']:.2f}s ({mb / d['send_cpu']:.0f} MB per CPU-second), "
                  f"receiver {d['recv_cpu']:.2f}s incl. start-up ({mb / d['recv_cpu']:.0f} MB per CPU-second); "
                  f"{os.cpu_count()} CPUs here")

        m = bench_media(src, work, args.volume_size_mib * MiB)
        print(f"\nmedia, {args.volume_size_mib} MiB volumes (bundlekit hashes with SHA-256 and fsyncs; "
              "split -b and cat do neither):")
        print(f"  split  bundlekit {m['bk_split']:.2f}s {mb / m['bk_split']:8.1f} MB/s | split -b {m['cu_split']:.2f}s"
              f" {mb / m['cu_split']:8.1f} MB/s | ratio {m['cu_split'] / m['bk_split']:.2f}x")
        print(f"  join   bundlekit {m['bk_join']:.2f}s {mb / m['bk_join']:8.1f} MB/s | cat      {m['cu_join']:.2f}s"
              f" {mb / m['cu_join']:8.1f} MB/s | ratio {m['cu_join'] / m['bk_join']:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
