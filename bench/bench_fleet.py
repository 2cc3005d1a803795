"""Deploying to a fleet of real SSH targets (one sshd per target on 127.0.0.1), against OpenSSH's own tools.

    .venv/bin/python bench/bench_fleet.py                 # both parts
    .venv/bin/python bench/bench_fleet.py --size-mib 64   # a smaller package

Part 1: one package (--size-mib MiB of content, half text deflated, half random bytes stored: a
zip of about three quarters of that, 193 MiB for the default 256; the label printed says both) to 10
targets with bundlekit's engine (package sent once per target, hashed on arrival, extracted by
the runner), against `scp` of the file to each target and `ssh ... unzip` there, 10 at a time,
and against bundlekit sending the other way (from 2 transfer processes on a machine where it
uses none by default, from its one zone process elsewhere; decision 340). Each run starts from empty work folders; --rounds rounds, the order rotating, so a
change of the machine's load hits every contender. Prints each round, the median wall times and
ratios, the zone-side CPU seconds of each (bundlekit's zone process and its transfer processes;
the baseline's `scp`/`ssh` clients), and the zone's peak memory: the deploy runs in a child
process that adds each transfer process's peak resident set (VmHWM) to its own.

Part 2: overhead per target: one trivial script step on 10, 25 and 50 targets
(--max-parallel 10), against `ssh target true` 10 at a time; prints seconds per target, split
into the preflight (connect, start the runner) and the step, and the zone's peak RSS (so memory
per target). Then parallel against serial: a step that sleeps one
second on 10 targets with --max-parallel 10 and with --max-parallel 1.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import io
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fleet.sshd import SshServer, free_port  # noqa: E402  (the servers the tests use)

CHILD = r'''
import json, os, sys, threading, time
from pathlib import Path
import asyncssh
from bundlekit.deploy.engine import execute
from bundlekit.deploy.fleet import Fleet
from bundlekit.deploy.model import DeployRequest, PackageInput
from bundlekit.deploy.plan import build_plan
from bundlekit.deploy.targets import SshTarget
from bundlekit.format.manifest import Step
from datetime import datetime, timezone
spec = json.loads(sys.argv[1])
key = asyncssh.import_private_key(Path(spec["key"]).read_bytes())
targets = tuple(SshTarget(t["name"], "Production", frozenset({"web"}), "127.0.0.1", t["user"], (t["host_key"],),
                          t["port"], work_dir=t["work"]) for t in spec["targets"])
if spec.get("package"):
    p = spec["package"]
    packages = (PackageInput("Bench.App", "1.0.0", Path(p["path"]), p["sha256"], Path(p["path"]).name),)
    steps = (Step(name="Install", type="package", roles=("web",), package="Bench.App"),)
else:
    packages = ()
    steps = (Step(name="Noop", type="script", roles=("web",), syntax="bash", script=spec.get("script", "true")),)
request = DeployRequest(deployment_id="deployments-1", project_name="Bench", project_slug="bench", space="Default",
                        release_version="1.0.0", channel="Default", environment="Production", steps=steps,
                        packages=packages, variables=(), targets=targets, now=datetime.now(timezone.utc))


def hwm(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return 0


# The zone's helper processes (package transfers) count as the zone: each one's peak resident set
# (VmHWM), sampled while it lives (a peak only grows), is added to this process's own.
peaks, done = {}, threading.Event()


def sample():
    while not done.wait(0.1):
        for task in os.listdir("/proc/self/task"):
            try:
                children = open(f"/proc/self/task/{task}/children").read().split()
            except OSError:
                continue
            for pid in children:
                peaks[pid] = max(peaks.get(pid, 0), hwm(pid))


threading.Thread(target=sample, daemon=True).start()
started = time.monotonic()
width = spec.get("max_parallel", 10)
with Fleet(lambda: key, max_parallel=width, transfer_processes=spec.get("transfer_processes")) as fleet:
    plan = build_plan(request)
    fleet.preflight(list(targets))
    checked = time.monotonic()
    record = execute(plan, request, fleet=fleet, max_parallel=width)
    ran = time.monotonic()
wall = time.monotonic() - started
done.set()
import resource
own, helpers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent that forked a process.
print(json.dumps({"state": record.state, "wall": wall, "preflight": checked - started, "steps": ran - checked,
                  "cpu": own.ru_utime + own.ru_stime + helpers.ru_utime + helpers.ru_stime,
                  "rss_mib": hwm("self") / 1024, "helpers": len(peaks), "helpers_rss_mib": sum(peaks.values()) / 1024,
                  "reasons": [r.reason for r in record.runs if r.reason]}))
'''


def make_zip(path: Path, size_mib: int) -> str:
    rng = random.Random(7)
    half = size_mib << 19
    words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz ") for _ in range(rng.randint(3, 9))) for _ in range(5000)]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        text = io.BytesIO()
        while text.tell() < half:
            text.write(b" ".join(rng.choice(words) for _ in range(2000)) + b"\n")
        archive.writestr("app/data.txt", text.getvalue()[:half])
        archive.writestr("app/blob.bin", os.urandom(half), compress_type=zipfile.ZIP_STORED)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def servers(root: Path, count: int, public: str) -> list[SshServer]:
    out = []
    for i in range(count):
        out.append(SshServer(f"t{i:02d}", root / f"t{i:02d}", free_port()).start(public))
    return out


def fresh(targets: list[SshServer]) -> None:
    for s in targets:
        shutil.rmtree(s.work_dir, ignore_errors=True)
        s.work_dir.mkdir(parents=True)


def bundlekit(targets: list[SshServer], key: Path, package: dict[str, str] | None,  # type: ignore[type-arg]
              **extra: object) -> dict:
    spec = {"key": str(key), "package": package, **extra,
            "targets": [{"name": s.name, "user": s.user, "host_key": s.host_key, "port": s.port,
                         "work": str(s.work_dir)} for s in targets]}
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["state"] != "Success":
        raise SystemExit(f"bundlekit deploy failed: {result['reasons']}")
    return result


def openssh(targets: list[SshServer], key: Path, known: Path, archive: Path | None) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of the `scp`/`ssh` client processes (the zone's side of the baseline)."""
    base = ["-i", str(key), "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes", "-o",
            "BatchMode=yes", "-o", "LogLevel=ERROR"]

    def one(s: SshServer) -> None:
        login = f"{s.user}@127.0.0.1"
        if archive is None:
            subprocess.run(["ssh", *base, "-p", str(s.port), login, "true"], check=True)
            return
        subprocess.run(["scp", "-q", *base, "-P", str(s.port), str(archive), f"{login}:{s.work_dir}/"], check=True)
        subprocess.run(["ssh", *base, "-p", str(s.port), login,
                        f"unzip -q -o {s.work_dir}/{archive.name} -d {s.work_dir}/pkg"], check=True)

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(one, targets))
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def median(values: list[float]) -> float:
    return statistics.median(values)


def package_part(ten: list[SshServer], key: Path, known: Path, root: Path, size_mib: int, rounds: int) -> None:
    from bundlekit.deploy.transfer import default_pool_size

    archive = root / "Bench.App.1.0.0.zip"
    sha = make_zip(archive, size_mib)
    package = {"path": str(archive), "sha256": sha}
    default = default_pool_size()
    other = 0 if default else 2  # the other way of sending, for comparison (decision 340)
    names = {"openssh": "scp + unzip",
             "default": "bundlekit" + (f" ({default} transfer processes)" if default else " (its one zone process)"),
             "other": f"bundlekit with {other} transfer processes" if other else "bundlekit, its one zone process"}
    print(f"package: a {archive.stat().st_size / 2**20:.0f} MiB zip ({size_mib} MiB of content) to 10 SSH targets "
          f"(user {getpass.getuser()}), from empty work folders; {rounds} rounds, the order rotating each round")
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in names}
    peaks: dict[str, list[dict]] = {"default": [], "other": []}  # type: ignore[type-arg]
    for number in range(rounds):
        order = list(names)
        order = order[number % 3:] + order[:number % 3]
        for which in order:
            fresh(ten)
            if which == "openssh":
                runs[which].append(openssh(ten, key, known, archive))
                continue
            result = bundlekit(ten, key, package, transfer_processes=None if which == "default" else other)
            runs[which].append((result["wall"], result["cpu"]))
            peaks[which].append(result)
        theirs = runs["openssh"][-1][0]
        print(f"  round {number + 1} (load {os.getloadavg()[0]:.1f}): "
              + ", ".join(f"{names[k]} {runs[k][-1][0]:6.2f} s" + ("" if k == "openssh" else
                                                                  f" ({theirs / runs[k][-1][0]:.2f}x)")
                          for k in names))
    again = bundlekit(ten, key, package)
    wall = {k: median([w for w, _ in runs[k]]) for k in names}
    cpu = {k: median([c for _, c in runs[k]]) for k in names}
    # The ratio of each round (its contenders ran minutes apart at most), then the median of those.
    ratio = {k: median([o[0] / r[0] for o, r in zip(runs["openssh"], runs[k])]) for k in ("default", "other")}
    print(f"  median ratio over the rounds (baseline time / bundlekit time; >= 0.8 is the goal): {names['default']} "
          f"{ratio['default']:.2f}x, {names['other']} {ratio['other']:.2f}x; median wall: scp + unzip, 10 at a time "
          f"{wall['openssh']:6.2f} s, {names['default']} {wall['default']:6.2f} s, {names['other']} "
          f"{wall['other']:6.2f} s")
    print(f"  zone-side CPU seconds (median): scp/ssh clients {cpu['openssh']:.2f}; {names['default']} "
          f"{cpu['default']:.2f}; {names['other']} {cpu['other']:.2f} (the zone's process and its transfer processes)")
    for which in ("default", "other"):
        peak = max(peaks[which], key=lambda r: r["rss_mib"] + r["helpers_rss_mib"])
        print(f"  zone peak RSS, {names[which]}: {peak['rss_mib']:.0f} MiB + {peak['helpers']} transfer "
              f"process(es) {peak['helpers_rss_mib']:.0f} MiB = {peak['rss_mib'] + peak['helpers_rss_mib']:.0f} MiB "
              "(goal: under 200)")
    print(f"  bundlekit again (package already there, extract only): {again['wall']:6.2f} s")


def steps_part(fleet: list[SshServer], key: Path, known: Path) -> None:
    print("one trivial script step, --max-parallel 10 (preflight: connect, start or install each runner; step: run it):")
    for count in (10, 25, 50):
        group = fleet[:count]
        fresh(group)
        ssh_time, _ = openssh(group, key, known, None)
        fresh(group)
        cold = bundlekit(group, key, None)
        warm = bundlekit(group, key, None)
        print(f"  {count:3d} targets: bundlekit {cold['wall']:6.2f} s installing the runner "
              f"({cold['wall'] / count:.3f} s/target), {warm['wall']:6.2f} s with it installed "
              f"({warm['wall'] / count:.3f} s/target: preflight {warm['preflight'] / count:.3f}, step "
              f"{warm['steps'] / count:.3f}); `ssh true` {ssh_time:5.2f} s ({ssh_time / count:.3f} s/target); "
              f"ratio {ssh_time / warm['wall']:.2f}x; zone peak RSS {warm['rss_mib']:.0f} MiB")
    ten = fleet[:10]
    parallel = bundlekit(ten, key, None, script="sleep 1", max_parallel=10)
    serial = bundlekit(ten, key, None, script="sleep 1", max_parallel=1)
    print(f"a one-second step on 10 targets: --max-parallel 10 {parallel['wall']:6.2f} s, "
          f"--max-parallel 1 {serial['wall']:6.2f} s; serial / parallel {serial['wall'] / parallel['wall']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=256,
                        help="MiB of content in the package (the zip itself is about 3/4 of that)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-package", action="store_true")
    parser.add_argument("--skip-steps", action="store_true")
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    if shutil.which("unzip") is None or not os.access("/usr/sbin/sshd", os.X_OK):
        raise SystemExit("needs sshd, ssh, scp and unzip: apt-get install -y openssh-server openssh-client unzip")
    import asyncssh

    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        root = Path(tmp)
        client = asyncssh.generate_private_key("ssh-ed25519")
        key = root / "id_ed25519"
        key.write_bytes(client.export_private_key("openssh"))
        key.chmod(0o600)
        public = client.export_public_key("openssh").decode().strip()
        fleet = servers(root / "machines", 10 if args.skip_steps else 50, public)
        known = root / "known_hosts"
        known.write_text("".join(f"[127.0.0.1]:{s.port} {s.host_key}\n" for s in fleet))
        try:
            if not args.skip_package:
                package_part(fleet[:10], key, known, root, args.size_mib, args.rounds)
            if not args.skip_steps:
                steps_part(fleet, key, known)
        finally:
            for s in fleet:
                s.stop()


if __name__ == "__main__":
    main()
