"""Benchmark (not a test): one zone served by two nodes against one node, and SQLite against PostgreSQL.

    .venv/bin/python bench/bench_nodes.py [--count 100] [--rounds 3]

Starts a throwaway PostgreSQL server on 127.0.0.1 (durable settings: fsync on), then:
  1. exports COUNT small release bundles from two source zones (COUNT/2 each, one project per
     source, so the two halves are independent: one project's bundles are ordered by their
     sequence numbers, and anti-rollback would refuse them out of order);
  2. imports all of them into a PostgreSQL zone with one node (one process, both halves in
     turn), then into a fresh zone with two nodes (two processes, one half each, at once);
  3. runs COUNT trivial deployments (one script step that echoes) with one node, then with two
     nodes (each deploying to its own environment: deployments of one project to one
     environment run one at a time by design);
  4. repeats the one-node runs on a SQLite zone.
Every set-up runs ``--rounds`` times (3) on new zones, the order of the set-ups rotating each
round, and the least time of each measure counts (single runs on shared cores are noise-bound).
Prints throughput and the ratios: two nodes / one node (goal >= 1.6x on 2 cores) and
PostgreSQL / SQLite on one node (reported, no goal). Every node is a separate process (one
per machine in production); the timings cover the work only, not interpreter start-up.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bundlekit.export.exporter import export_release  # noqa: E402
from bundlekit.format.card import parse_card  # noqa: E402
from bundlekit.trust.policy import SourcePolicy  # noqa: E402
from bundlekit.zone import truststore  # noqa: E402
from bundlekit.zone.home import Zone, init_zone, open_zone  # noqa: E402
from bundlekit.zone.join import join_zone  # noqa: E402
from bundlekit.zone.location import parse_state_url  # noqa: E402
from bundlekit.zone.targets import add_target  # noqa: E402
from tests.pgserver import PostgresServer, start_server  # noqa: E402

RELEASE = """[project]
name = "{project}"
space = "Default"

[release]
version = "{version}"
channel = "Default"
notes = "benchmark release {version}"

[[packages]]
id = "{project_id}"
version = "{version}"
file = "packages/app.zip"

[[steps]]
name = "Say hello"
type = "script"
syntax = "bash"
roles = ["app"]
script = 'echo "hello from #{{Octopus.Machine.Name}}"'
"""


def _write_release(folder: Path, project: str, version: str) -> Path:
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "packages").mkdir(exist_ok=True)
    with zipfile.ZipFile(folder / "packages" / "app.zip", "w") as zf:
        # a fixed date: the same version is the same bytes in every pass, since the source zone
        # keeps each release it exported and refuses one of the same version with other content
        zf.writestr(zipfile.ZipInfo("index.html", date_time=(2026, 1, 1, 0, 0, 0)), f"<p>{project} {version}</p>")
    path = folder / "release.toml"
    path.write_text(RELEASE.format(project=project, version=version, project_id=project.replace(" ", ".")))
    return path


def _zone(home: Path, name: str, pg: PostgresServer | None, store: Path | None = None) -> Zone:
    if pg is None:
        return init_zone(home, name, int(time.time()))
    url = parse_state_url(pg.new_database("bench"), where="bench", allow_password=False)
    return init_zone(home, name, int(time.time()), state=url, password=pg.password, package_store=store)


def make_sources(work: Path) -> list[Path]:
    """The two source zones' homes."""
    homes = []
    for s in range(2):
        src = init_zone(work / f"source-{s}", f"source{s}", int(time.time()))
        homes.append(src.home)
        src.close()
    return homes


def export_for(prod: Zone, sources: list[Path], work: Path, count: int, tag: str) -> list[list[Path]]:
    """COUNT bundles addressed to ``prod`` (half per source), trusted both ways."""
    out: list[list[Path]] = []
    for s, home in enumerate(sources):
        src = open_zone(home)
        now = int(time.time())
        for entry in truststore.list_zones(src):
            truststore.remove_zone(src, entry.name)
        truststore.add_zone(src, parse_card(prod.card_bytes(), "prod.card"), SourcePolicy(), now)
        truststore.add_zone(prod, parse_card(src.card_bytes(), f"source{s}.card"), SourcePolicy(), now)
        project = f"Bench App {s}"
        batch = []
        for i in range(count // 2):
            release = _write_release(work / f"rel-{tag}-{s}-{i}", project, f"1.0.{i}")
            bundle = work / f"{tag}-{s}-{i}.bundle"
            export_release(src, release, "prod", bundle, now=int(time.time()))
            batch.append(bundle)
        out.append(batch)
        src.close()
    return out


def worker(argv: list[str]) -> None:
    """Inside a node process: import bundles, or deploy N times; prints the seconds taken."""
    from bundlekit.deploy.service import deploy
    from bundlekit.importer.importer import import_bundle

    kind, home = argv[0], Path(argv[1])
    zone = open_zone(home)
    zone.db  # connect before the clock starts
    start = time.perf_counter()
    if kind == "import":
        for bundle in argv[2:]:
            import_bundle(zone, Path(bundle), now=int(time.time()))
    else:
        project, environment, count = argv[2], argv[3], int(argv[4])
        versions = [r["version"] for r in zone.db.all("SELECT version FROM releases WHERE project_slug = ?",
                                                       (project,))]
        for i in range(count):
            deploy(zone, project, versions[i % len(versions)], environment, now=time.time(), wait=600)
    print(json.dumps({"seconds": time.perf_counter() - start}))
    zone.close()


def run_nodes(jobs: list[list[str]]) -> float:
    """Run each job in its own node process at once; wall time from the first start to the last end."""
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", *job], stdout=subprocess.PIPE, text=True)
             for job in jobs]
    outs = [p.communicate()[0] for p in procs]
    for p, out in zip(procs, outs):
        if p.returncode != 0:
            raise SystemExit(f"a node failed: {out}")
    return max(json.loads(out.strip().splitlines()[-1])["seconds"] for out in outs)


def prepare_deploys(zone: Zone, work: Path, environments: list[str]) -> None:
    for env in environments:
        add_target(zone, f"app-{env}", env, ("app",), work / "targets" / zone.name / env, int(time.time()))


def _measure(work: Path, sources: list[Path], label: str, engine: PostgresServer | None, nodes: int,
             count: int) -> dict[str, float]:
    """One set-up's import and deploy wall times (seconds) on new zones under ``work``."""
    store = work / f"{label}-store" if engine is not None else None
    prod = _zone(work / f"{label}-a", "prod", engine, store)
    homes = [prod.home]
    if nodes == 2:
        assert prod.settings.state is not None and store is not None
        homes.append(join_zone(work / f"{label}-b", state=prod.settings.state, password=None,
                               package_store=store, source=prod.home).home)
    halves = export_for(prod, sources, work, count, label)
    prepare_deploys(prod, work, ["E1", "E2"])
    prod.close()
    if nodes == 1:
        return {f"import {label}": run_nodes([["import", str(homes[0]), *halves[0], *halves[1]]]),
                f"deploy {label}": run_nodes([["deploy", str(homes[0]), "bench-app-0", "E1", str(count)]])}
    return {f"import {label}": run_nodes([["import", str(h), *half] for h, half in zip(homes, halves)]),
            f"deploy {label}": run_nodes([["deploy", str(h), "bench-app-0", env, str(count // 2)]
                                          for h, env in zip(homes, ["E1", "E2"])])}


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every set-up; the least time counts")
    parser.add_argument("--worker", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    count = args.count
    pg = start_server(fast=False)
    configs = [("pg-1", pg, 1), ("pg-2", pg, 2), ("sqlite-1", None, 1)]
    results: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-nodes-") as tmp:
            for round_no in range(args.rounds):
                # Each round builds new zones, the order of the set-ups rotating, and the least time
                # of each measure counts: one run of each on these shared cores is noise-bound.
                work = Path(tmp) / f"round-{round_no}"
                sources = make_sources(work)
                order = configs[round_no % len(configs):] + configs[:round_no % len(configs)]
                for label, engine, nodes in order:
                    for key, seconds in _measure(work, sources, label, engine, nodes, count).items():
                        results[key] = min(seconds, results.get(key, seconds))
                print(f"  round {round_no + 1} done (load {_load()})", flush=True)
    finally:
        pg.stop()
    print(f"{count} small bundles imported, {count} trivial deployments (seconds; per second)")
    for key, seconds in results.items():
        print(f"  {key:<16} {seconds:7.2f} s  {count / seconds:6.1f}/s")
    for what in ("import", "deploy"):
        two = results[f"{what} pg-1"] / results[f"{what} pg-2"]
        engine = results[f"{what} sqlite-1"] / results[f"{what} pg-1"]
        print(f"{what}: two nodes / one node {two:.2f}x (goal 1.6x); PostgreSQL / SQLite on one node {engine:.2f}x")


if __name__ == "__main__":
    main()
