"""Deploying to a fleet of real SSH targets (one sshd per target on 127.0.0.1), against OpenSSH's own tools.

    .venv/bin/python bench/bench_fleet.py                 # both parts
    .venv/bin/python bench/bench_fleet.py --size-mib 64   # a smaller package

Part 1: one package (a zip of --size-mib MiB, half compressible text, half random bytes) to 10
targets with bundlekit's engine (package sent once per target, hashed on arrival, extracted by
the runner), against `scp` of the file to each target and `ssh ... unzip` there, 10 at a time.
Each side starts from empty work folders. Prints wall times, the ratio, and the zone's peak RSS
(the deploy runs in a child process that reports its own maximum resident set).

Part 2: overhead per target: one trivial script step on 10, 25 and 50 targets
(--max-parallel 10), against `ssh target true` 10 at a time; prints seconds per target and the
zone's peak RSS (so memory per target). Then parallel against serial: a step that sleeps one
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
import shutil
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
import json, sys, time
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
started = time.monotonic()
width = spec.get("max_parallel", 10)
with Fleet(lambda: key, max_parallel=width) as fleet:
    plan = build_plan(request)
    fleet.preflight(list(targets))
    record = execute(plan, request, fleet=fleet, max_parallel=width)
wall = time.monotonic() - started
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent that forked this process.
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"state": record.state, "wall": wall,
                  "rss_mib": hwm / 1024,
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


def openssh(targets: list[SshServer], key: Path, known: Path, archive: Path | None) -> float:
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

    started = time.monotonic()
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(one, targets))
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=256)
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
        fleet = servers(root / "machines", 50, public)
        known = root / "known_hosts"
        known.write_text("".join(f"[127.0.0.1]:{s.port} {s.host_key}\n" for s in fleet))
        try:
            if not args.skip_package:
                archive = root / "Bench.App.1.0.0.zip"
                sha = make_zip(archive, args.size_mib)
                size = archive.stat().st_size
                ten = fleet[:10]
                fresh(ten)
                theirs = openssh(ten, key, known, archive)
                fresh(ten)
                ours = bundlekit(ten, key, {"path": str(archive), "sha256": sha})
                again = bundlekit(ten, key, {"path": str(archive), "sha256": sha})
                print(f"package: a {size / 2**20:.0f} MiB zip ({args.size_mib} MiB of content) to 10 SSH targets "
                      f"(user {getpass.getuser()}):")
                print(f"  scp + unzip, 10 at a time : {theirs:6.2f} s")
                print(f"  bundlekit deploy (cold)   : {ours['wall']:6.2f} s   ratio {theirs / ours['wall']:.2f}x "
                      f"(baseline time / bundlekit time; >= 0.8 is the goal)   zone peak RSS {ours['rss_mib']:.0f} MiB")
                print(f"  bundlekit again (package already there, extract only): {again['wall']:6.2f} s")
            print("one trivial script step, --max-parallel 10:")
            for count in () if args.skip_steps else (10, 25, 50):
                group = fleet[:count]
                fresh(group)
                ssh_time = openssh(group, key, known, None)
                fresh(group)
                cold = bundlekit(group, key, None)
                warm = bundlekit(group, key, None)
                print(f"  {count:3d} targets: bundlekit {cold['wall']:6.2f} s cold ({cold['wall'] / count:.3f} s/target), "
                      f"{warm['wall']:6.2f} s with the runner installed ({warm['wall'] / count:.3f} s/target); "
                      f"`ssh true` {ssh_time:5.2f} s ({ssh_time / count:.3f} s/target); ratio "
                      f"{ssh_time / warm['wall']:.2f}x; zone peak RSS {warm['rss_mib']:.0f} MiB")
            if not args.skip_steps:
                ten = fleet[:10]
                parallel = bundlekit(ten, key, None, script="sleep 1", max_parallel=10)
                serial = bundlekit(ten, key, None, script="sleep 1", max_parallel=1)
                print(f"a one-second step on 10 targets: --max-parallel 10 {parallel['wall']:6.2f} s, "
                      f"--max-parallel 1 {serial['wall']:6.2f} s; serial / parallel {serial['wall'] / parallel['wall']:.2f}x")
        finally:
            for s in fleet:
                s.stop()


if __name__ == "__main__":
    main()
