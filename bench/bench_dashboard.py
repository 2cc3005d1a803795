"""Benchmark: the source dashboard at scale (terminal, JSON and HTML), against a small baseline.

    nice -n 10 .venv/bin/python bench/bench_dashboard.py [--projects 200] [--environments E]
                                                         [--zones 5] [--depth 3] [--rounds 3]

A source zone (dev) is made in a temporary folder with real SQLite state, trusting ``--zones``
destination zones (made with the CLI: init, identity, trust add). Its history is then written in
one transaction through bundlekit's own zone data layer, as an export and a receipt import would
write it: for every project, zone, environment and each of ``--depth`` releases, one export
(``exports.record_export``), the receipt that answered it (``sequences.record_incoming`` with
``remote.receipt_plan``; every zone but the first is reached through the first, so its receipts
come back relayed by it) and the deployment it reported (``remote.record_remote``: two runs, an
output, a shared log; one deployment in seven failed). Then, best of ``--rounds``, what
``bundlekit dashboard`` does for each output (read the state, build the view, render):

  terminal   build_view (no steps) + render_text (no width: piped)
  json       build_view (every step) + to_dict + json.dumps
  html       build_view (the steps of those the page details) + render_html

for the baseline (``--projects`` / 10 projects, same zones, environments and depth) and for the
full scale: wall-clock and CPU seconds (this process's: what the load of a shared machine
inflates least), the sizes of what was printed or written, and the full/baseline ratios.

Goal (issue 11): under 1 s and under 2 MiB at 200 projects x 20 environments x 5 zones. By
default both readings are measured, each against its own baseline: ``strict``, 20 environments
in every zone (20,000 cells, 60,000 deployments), then ``spread``, the 20 environments spread
over the zones (4 each: 4,000 cells, 12,000 deployments). ``--environments E`` measures E
environments in every zone only. These machines are shared: compare within one run and note
the load (printed before and after).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from click.testing import CliRunner  # noqa: E402

from bundlekit.cli import cli  # noqa: E402
from bundlekit.dashboard.html import detailed, render_html  # noqa: E402
from bundlekit.dashboard.model import build_view  # noqa: E402
from bundlekit.dashboard.text import render_text  # noqa: E402
from bundlekit.zone import exports, remote, sequences, truststore  # noqa: E402
from bundlekit.zone.home import Zone, open_zone  # noqa: E402
from bundlekit.zone.logs import put_log  # noqa: E402

ZONES = ("staging", "prod", "dr", "pci", "eu", "ops", "edge", "lab")
LOG = b"Extracting package\nStarting service on port 8080\nGET /health -> 200 OK\n"


def ok(*args: object, home: Path) -> None:
    r = CliRunner().invoke(cli, [*map(str, args), "--home", str(home)], catch_exceptions=False)
    assert r.exit_code == 0, r.output


def make_zones(root: Path, count: int) -> tuple[Path, list[str]]:
    """dev, and ``count`` destination zones it trusts (their homes are not used again)."""
    names = list(ZONES[:count])
    ok("init", "--zone", "dev", home=root / "dev")
    for name in names:
        ok("init", "--zone", name, home=root / name)
        ok("identity", "-o", root / f"{name}.card", home=root / name)
        ok("trust", "add", root / f"{name}.card", home=root / "dev")
    return root / "dev", names


def _entry(dep: int, bundle_id: str, project: str, slug: str, release: str, env: str, failed: bool,
           started: float, log: str) -> dict[str, Any]:
    ms = int(started * 1000)
    runs = [{"step": "Deploy web", "target": "web-01", "state": "Failed" if failed else "Success",
             "started_ms": ms, "ended_ms": ms + 12_000, "exit_code": 1 if failed else 0, "log": log,
             "outputs": [{"name": "Port", "sensitive": False, "value": "8080"}]},
            {"step": "Smoke test", "state": "Skipped" if failed else "Success", "outputs": [],
             **({} if failed else {"started_ms": ms + 12_000, "ended_ms": ms + 15_000, "exit_code": 0})}]
    return {"deployment_id": f"Deployments-{dep}", "project": {"name": project, "slug": slug, "space": "Default"},
            "release_bundle": {"bundle_id": bundle_id, "digest": hashlib.sha256(bundle_id.encode()).hexdigest(),
                               "sequence": 1},
            "release": release, "environment": env, "state": "Failed" if failed else "Success",
            "started_ms": ms, "ended_ms": ms + 15_000, "runs": runs}


def fill(zone: Zone, names: list[str], projects: int, environments: int, depth: int, now: float) -> int:
    """Write the history (one transaction); returns how many deployments were recorded."""
    ids = {e.name: e.zone_id for e in truststore.list_zones(zone)}
    first = names[0]
    log = hashlib.sha256(LOG).hexdigest()
    count = 0
    with zone.db.transaction() as tx:
        put_log(tx, log, LOG)
        for z, name in enumerate(names):
            dep = 0
            for k in range(depth):
                release = f"1.{k}.0"
                for p in range(projects):
                    project, slug = f"Project {p:03d}", f"project-{p:03d}"
                    t0 = now - (depth - k) * 86400 + p * 10
                    bundle_id = hashlib.sha256(f"{name}/{slug}/{release}".encode()).hexdigest()[:32]
                    receipt_id = hashlib.sha256(f"receipt/{name}/{slug}/{release}".encode()).hexdigest()[:32]
                    exports.record_export(tx, exports.ExportRecord(
                        bundle_id=bundle_id, digest=hashlib.sha256(bundle_id.encode()).hexdigest(),
                        dest_zone_id=ids[first], dest_name=first, sequence=k * projects + p + 1, project=project,
                        project_slug=slug, space="Default", release=release, channel="Default",
                        created=int(t0) - 600, expires=int(t0) + 90 * 86400, exported_at=int(t0) - 600,
                        path=f"/media/{slug}-{release}.bundle"))
                    recorded = []
                    for e in range(environments):
                        dep += 1
                        failed = (dep % 7) == 0
                        entry = _entry(dep, bundle_id, project, slug, release, f"Env{e:02d}", failed,
                                       t0 + e * 60, log)
                        remote.record_remote(tx, ids[name], receipt_id, entry, int(t0) + 3600)
                        recorded.append(entry["deployment_id"])
                        count += 1
                    relayed = [] if name == first else [{"zone_id": ids[first], "name": first,
                                                         "relayed": int(t0) + 1800}]
                    sequences.record_incoming(tx, sequences.receipt_key(ids[name]), k * projects + p + 1,
                                              hashlib.sha256(receipt_id.encode()).hexdigest(), bundle_id=receipt_id,
                                              source_zone_id=ids[name], project_slug="", release="",
                                              now=int(t0) + 3600, plan=remote.receipt_plan(recorded, relayed))
    return count


def best(rounds: int, work: Callable[[], bytes]) -> tuple[float, float, int]:
    """Best wall-clock and best CPU (this process) seconds of ``rounds`` runs, and the output's bytes."""
    walls, cpus, size = [], [], 0
    for _ in range(rounds):
        t, c = time.perf_counter(), time.process_time()
        size = len(work())
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus), size


def measure(home: Path, rounds: int, now: float) -> dict[str, tuple[float, float, int]]:
    with open_zone(home) as zone:
        return {
            "terminal": best(rounds, lambda: render_text(build_view(zone, now, steps=False), now).encode("utf-8")),
            "json": best(rounds, lambda: json.dumps(build_view(zone, now).to_dict()).encode("utf-8")),
            "html": best(rounds, lambda: render_html(build_view(zone, now, steps=detailed), now).encode("utf-8")),
        }


def run_case(name: str, args: argparse.Namespace, environments: int, now: float) -> None:
    """Fill and measure the baseline and the full scale of one case, then print them and their ratios."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, projects in (("baseline", max(1, args.projects // 10)), ("full", args.projects)):
            root = Path(tmp) / label
            home, names = make_zones(root, args.zones)
            with open_zone(home) as zone:
                t = time.perf_counter()
                count = fill(zone, names, projects, environments, args.depth, now)
                filled = time.perf_counter() - t
            state = sum(f.stat().st_size for f in home.rglob("*") if f.is_file())
            print(f"{name} {label}: {projects} projects x {environments} environments x {args.zones} zones "
                  f"({projects * environments * args.zones} cells), {count} deployments (written in {filled:.1f} s, "
                  f"home {state / (1 << 20):.1f} MiB)")
            results[label] = measure(home, args.rounds, now)
    print(f"{name}: best of {args.rounds}, load {os.getloadavg()[0]:.1f}")
    base, full = results["baseline"], results["full"]
    print("             baseline: wall  cpu      size     full: wall  cpu      size      ratios: cpu  size")
    for what in ("terminal", "json", "html"):
        (bw, bc, bs), (fw, fc, fs) = base[what], full[what]
        print(f"  {what:<9} {bw:7.3f} s {bc:6.3f} s {bs / (1 << 20):6.2f} MiB   {fw:7.3f} s {fc:6.3f} s "
              f"{fs / (1 << 20):6.2f} MiB   {fc / bc:8.1f} {fs / bs:5.1f}")
    print()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--projects", type=int, default=200)
    ap.add_argument("--environments", type=int, default=None,
                    help="environments in every zone (default: 20 in every zone, then 20 spread over the zones)")
    ap.add_argument("--zones", type=int, default=5, choices=range(1, len(ZONES) + 1))
    ap.add_argument("--depth", type=int, default=3, help="releases deployed in every cell")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    now = float(int(time.time()))
    print(f"load before: {os.getloadavg()[0]:.1f}")
    cases = ([("strict", 20), ("spread", max(1, 20 // args.zones))] if args.environments is None
             else [(f"{args.environments} per zone", args.environments)])
    for name, environments in cases:
        run_case(name, args, environments, now)


if __name__ == "__main__":
    main()
