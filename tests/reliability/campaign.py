"""Kills and races against a real zone, and the checks that every one ended in a known state.

Shared by the suite's kill and concurrency tests (a few rounds) and ``scripts/kill_campaign.py``
(the full campaign: hundreds of kills, dozens of concurrent runs). Everything that is attacked
is the real ``bundlekit`` CLI in processes of their own, each in its own session so a kill
takes its runners too (what a crash or an operator's ``kill -9`` of the process group does).

A **kill** starts one command (``deploy``, ``import`` of a release, ``import`` of a receipt),
SIGKILLs it after a random delay drawn over the time that command takes uninterrupted, then
checks, after the next command that opens the zone (``deployments list``):

* no deployment is left ``Executing``, and every deployment has exactly one receipt entry;
* no installed package folder is half made (its substituted ``config.txt`` has no ``#{``);
* no secret is left anywhere in clear or in base64 (targets and homes, every file);
* the state database passes ``PRAGMA integrity_check`` (SQLite);

and that a retry of the same command succeeds, after which no temporary folder or file is left
(``.extract-``, ``.old-``, ``*.tmp``). A **concurrent run** starts imports (one bundle twice
at once) and deployments of two projects (two of them to one environment) together and checks
that none printed a traceback, every one ended in success or a registered error code, and
every deployment that got an id is recorded once and queued for its receipt once.
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bundlekit.errors import REGISTRY
from bundlekit.export.exporter import export_release
from bundlekit.zone.targets import add_target
from tests.conftest import Zones, cli_in_process, make_zones

#: The sensitive value the release carries; it must never be found in clear or in base64.
CANARY = "kc-canary-7f3a9-SECRET-value"
PROJECTS = ("Kill Test", "Kill Other")
ENVIRONMENTS = ("Production", "Staging")
LEFTOVER_MARKS = (".extract-", ".old-")

RELEASE = """[project]
name = "{project}"
space = "Default"

[release]
version = "{version}"
channel = "Default"

[[packages]]
id = "Kill.Pkg"
version = "{version}"
file = "packages/Kill.Pkg.{version}.zip"

[[steps]]
name = "Work"
type = "script"
syntax = "bash"
roles = ["db"]
script = '''
echo "working for #{{Name}}"
sleep 0.3
printf '%s' "#{{Secret}}" | wc -c
'''

[[steps]]
name = "Install"
type = "package"
package = "Kill.Pkg"
roles = ["web"]
substitute = ["config.txt"]

[[variables]]
name = "Name"
value = "kill-name"

[[variables]]
name = "Secret"
value = "{canary}"
sensitive = true
"""


def _package(path: Path, files: int, seed: int) -> None:
    """A zip of ``files`` files of 2 KiB (random, so extraction does real work) and a config.txt to substitute."""
    rng = random.Random(seed)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.txt", "name=#{Name}\nshout=#{Name | ToUpper}\n")
        for i in range(files):
            z.writestr(f"lib/part-{i:04d}.bin", rng.randbytes(2048))
    path.write_bytes(buf.getvalue())


@dataclass
class World:
    """Two zones (dev exports, prod deploys) and prod's targets: db and web in each environment."""

    zones: Zones
    root: Path
    files: int
    exported: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def prod(self) -> Path:
        return self.zones.prod.home

    @property
    def dev(self) -> Path:
        return self.zones.dev.home

    @property
    def targets(self) -> Path:
        return self.root / "targets"

    def export(self, project: str, version: str) -> Path:
        """A release bundle of ``project`` ``version`` from dev to prod (exported in this process)."""
        folder = self.root / "releases" / f"{project.replace(' ', '-')}-{version}"
        (folder / "packages").mkdir(parents=True)
        _package(folder / "packages" / f"Kill.Pkg.{version}.zip", self.files, seed=self.exported)
        (folder / "release.toml").write_text(RELEASE.format(project=project, version=version, canary=CANARY))
        out = self.root / "media" / f"{folder.name}.bundle"
        out.parent.mkdir(exist_ok=True)
        export_release(self.zones.dev, folder / "release.toml", "prod", out, now=int(time.time()))
        self.zones.dev.close()
        self.exported += 1
        return out


def make_world(root: Path, *, pg: Any = None, files: int = 300) -> World:
    z = make_zones(root, pg=pg)
    for env in ENVIRONMENTS:
        for role in ("db", "web"):
            name = f"{role}-{env.lower()}"
            add_target(z.prod, name, env, (role,), root / "targets" / name, 0)
    z.prod.close()
    z.dev.close()
    return World(z, root, files)


# ------------------------------------------------------------------------------ processes

def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("BUNDLEKIT_HOME", None)
    return env


def start(*args: str | Path) -> subprocess.Popen[str]:
    """The real CLI in a session of its own (so a kill takes its runners too)."""
    return subprocess.Popen([sys.executable, "-m", "bundlekit", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(), start_new_session=True)


def finish(proc: subprocess.Popen[str], limit: float = 600) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=limit)
    return proc.returncode, out, err


def kill_after(proc: subprocess.Popen[str], delay: float) -> bool:
    """SIGKILL ``proc``'s session after ``delay`` seconds; True if it was still running then."""
    try:
        proc.wait(timeout=delay)
        proc.communicate()
        return False
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()
    return True


def must(*args: str | Path) -> str:
    code, out, err = finish(start(*args))
    if code != 0:
        raise AssertionError(f"bundlekit {' '.join(map(str, args))}: exit {code}\n{out}\n{err}")
    return out


def error_code(stderr: str) -> str | None:
    """The registered code of the one error a command printed (``error [code]: ...``), else None."""
    for line in stderr.splitlines():
        if line.startswith("error [") and "]" in line:
            return line[len("error ["):line.index("]")]
    return None


# ------------------------------------------------------------------------------ checks

def deployments_listed(home: Path) -> list[dict[str, Any]]:
    """`deployments list --json`: the next command that opens the zone (run in this process)."""
    r = cli_in_process("deployments", "list", "--json", home=home)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["deployments"]  # type: ignore[no-any-return]


def outbox_ids(home: Path) -> list[str]:
    r = cli_in_process("outbox", "list", "--json", home=home)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    return [e["deployment_id"] for e in info["pending"] + info["packed"]]


def integrity(home: Path) -> None:
    db = home / "state.db"
    if db.exists():
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", f"{db}: integrity_check"


def no_secret_anywhere(*roots: Path) -> None:
    needles = [CANARY.encode(), base64.b64encode(CANARY.encode())]
    for root in roots:
        for folder, _, names in os.walk(root):
            for name in names:
                path = Path(folder) / name
                if path.is_symlink() or not path.is_file():
                    continue
                data = path.read_bytes()
                for needle in needles:
                    assert needle not in data, f"{path}: holds the secret ({needle[:12]!r}...)"


def no_half_made_package(targets: Path) -> None:
    for config in targets.glob("*/Kill.Pkg/*/config.txt"):
        if any(m in config.parent.name for m in LEFTOVER_MARKS) or config.parent.name.startswith("."):
            continue
        assert "#{" not in config.read_text(), f"{config}: the live package folder is half made"


def no_leftovers(*roots: Path) -> None:
    for root in roots:
        for folder, dirs, names in os.walk(root):
            for name in dirs + names:
                assert not any(m in name for m in LEFTOVER_MARKS), f"{Path(folder) / name}: left by a killed run"
                assert not (name.startswith(".") and name.endswith(".tmp")), f"{Path(folder) / name}: a temporary file"


def settled(w: World) -> list[dict[str, Any]]:
    """The checks after a kill, through the next command; returns the deployments listed."""
    listed = deployments_listed(w.prod)
    stuck = [d["id"] for d in listed if d["state"] == "Executing"]
    assert not stuck, f"still Executing after the next command: {stuck}"
    queued = outbox_ids(w.prod)
    assert sorted(queued) == sorted(d["id"] for d in listed), f"receipt entries {queued} for {listed}"
    no_half_made_package(w.targets)
    no_secret_anywhere(w.targets, w.prod, w.dev)
    integrity(w.prod)
    integrity(w.dev)
    return listed


# ------------------------------------------------------------------------------ kills

@dataclass
class Tally:
    """What a campaign did and found: kills by command, checks passed, problems (each a message)."""

    kills: dict[str, int] = field(default_factory=dict)
    finished_first: int = 0  # the command ended before its kill came (counted, not a kill)
    retries: int = 0
    runs: int = 0
    commands: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    deployments: int = 0
    problems: list[str] = field(default_factory=list)

    #: Where a line per kill and per run goes as the campaign goes (None: nowhere).
    log: Any = None

    #: Where the kills landed, as far as the state tells (SQLite zones): phase -> kills.
    phases: dict[str, int] = field(default_factory=dict)

    def count(self, what: str, phase: str | None = None) -> None:
        self.kills[what] = self.kills.get(what, 0) + 1
        if phase is not None:
            self.phases[phase] = self.phases.get(phase, 0) + 1
        self.say(f"kill {sum(self.kills.values())}: {what}{f' {phase}' if phase else ''} "
                 f"({len(self.problems)} problem(s) so far)")

    def say(self, line: str) -> None:
        if self.log is not None:
            print(line, file=self.log, flush=True)

    def outcome(self, what: str) -> None:
        self.outcomes[what] = self.outcomes.get(what, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        return {"kills": self.kills, "kills_total": sum(self.kills.values()), "kill_phases": self.phases,
                "finished_first": self.finished_first,
                "retries": self.retries, "concurrent_runs": self.runs, "concurrent_commands": self.commands,
                "outcomes": self.outcomes, "deployments_recorded": self.deployments, "problems": self.problems}


def _timed(*args: str | Path) -> float:
    began = time.monotonic()
    must(*args)
    return time.monotonic() - began


def _check(tally: Tally, what: str, check: Any) -> Any:
    try:
        return check()
    except AssertionError as problem:
        tally.problems.append(f"{what}: {problem}")
        tally.say(f"PROBLEM {what}: {problem}")
        return None


def deploy_args(w: World, project: str, version: str, env: str, *extra: str) -> list[str | Path]:
    return ["deploy", project, version, "--environment", env, "--home", w.prod, "--json", *extra]


def kill_deploys(w: World, tally: Tally, kills: int, rng: random.Random, *, retry_every: int = 3) -> None:
    """``kills`` deploys of "Kill Test" to Production, each SIGKILLed at a random point, checked;
    every ``retry_every``-th followed by a full deploy that must succeed and leave nothing behind."""
    version = "1.0.0"
    must("import", w.export(PROJECTS[0], version), "--home", w.prod)
    recorded, span = _deploy_times(w, version)
    for i in range(kills):
        before = _newest_deployment(w.prod)
        # Most of a deploy's first seconds are the interpreter starting: aim past them, mostly.
        delay = rng.uniform(0.0, recorded) if rng.random() < 0.1 else rng.uniform(recorded * 0.9, span)
        if kill_after(start(*deploy_args(w, PROJECTS[0], version, "Production")), delay):
            tally.count("deploy", _deploy_phase(w.prod, before))
        else:
            tally.finished_first += 1
        _check(tally, f"deploy kill {i + 1}", lambda: settled(w))
        if (i + 1) % retry_every == 0 or i == kills - 1:
            tally.retries += 1
            _check(tally, f"retry after deploy kill {i + 1}", lambda: _retry_deploy(w, version))


def _deploy_times(w: World, version: str) -> tuple[float, float]:
    """Seconds from start until an uninterrupted deploy is recorded (SQLite zones; else 0), and until it ends."""
    before = _newest_deployment(w.prod)
    began = time.monotonic()
    proc = start(*deploy_args(w, PROJECTS[0], version, "Production"))
    recorded = 0.0
    while proc.poll() is None:
        row = _newest_deployment(w.prod)
        if row is not None and (before is None or row["id"] != before["id"]):
            recorded = time.monotonic() - began
            break
        time.sleep(0.05)
    code, out, err = finish(proc)
    assert code == 0, f"deploy: exit {code}\n{err[-2000:]}"
    return recorded, time.monotonic() - began


def _newest_deployment(home: Path) -> dict[str, Any] | None:
    """The newest deployment row of a SQLite zone, read without opening the zone (nothing settled)."""
    db = home / "state.db"
    if not db.exists():
        return None
    try:
        with sqlite3.connect(db, timeout=60) as conn:
            conn.row_factory = sqlite3.Row
            row = conn.execute("SELECT id, state, record FROM deployments ORDER BY started DESC, "
                               "CAST(substr(id, 13) AS INTEGER) DESC LIMIT 1").fetchone()
    except sqlite3.OperationalError:
        return None  # a writer holds it for longer than a minute: said as "nothing new"
    return None if row is None else dict(row)


def _deploy_phase(home: Path, before: dict[str, Any] | None) -> str | None:
    """Where a killed deploy was, from its row: not recorded yet, in a step, or past its outcome."""
    if not (home / "state.db").exists():
        return None
    row = _newest_deployment(home)
    if row is None or (before is not None and row["id"] == before["id"]):
        return "before recording the deployment (start-up, plan, preflight)"
    if row["state"] != "Executing":
        return "after recording the outcome"
    reached = json.loads(row["record"] or "{}").get("reached")
    if not reached:
        return "recorded, before the first step"
    step = reached["step"]
    return f"during step {step!r}" + (" (send, extract, substitute, swap)" if step == "Install" else " (script)")


def _import_phase(home: Path, project: str, version: str) -> str | None:
    """Where a killed import was: before or after its transaction committed the release."""
    db = home / "state.db"
    if not db.exists():
        return None
    with sqlite3.connect(db) as conn:
        found = conn.execute("SELECT 1 FROM releases r JOIN projects p ON p.slug = r.project_slug WHERE p.name = ? "
                             "AND r.version = ?", (project, version)).fetchone()
    return "after its commit" if found else "before its commit"


def _retry_deploy(w: World, version: str) -> None:
    code, out, err = finish(start(*deploy_args(w, PROJECTS[0], version, "Production")))
    assert code == 0, f"the retry failed (exit {code}): {err[-2000:]}"
    no_leftovers(w.targets)
    settled(w)


def kill_imports(w: World, tally: Tally, kills: int, rng: random.Random) -> None:
    """``kills`` imports of new releases of "Kill Other", each SIGKILLed at a random point, then
    retried: the retry imports it (or finds it imported), and the state is the old one or the new."""
    span = _timed("import", w.export(PROJECTS[1], "0.1.0"), "--home", w.prod)
    for i in range(kills):
        bundle = w.export(PROJECTS[1], f"0.2.{i}")
        if kill_after(start("import", bundle, "--home", w.prod), rng.uniform(0.0, span)):
            tally.count("import", "import " + (_import_phase(w.prod, PROJECTS[1], f"0.2.{i}") or ""))
        else:
            tally.finished_first += 1
        _check(tally, f"import kill {i + 1}", lambda: settled(w))
        tally.retries += 1
        _check(tally, f"retry of import {i + 1}", lambda: _retry_import(w, bundle))


def _retry_import(w: World, bundle: Path) -> None:
    code, out, err = finish(start("import", bundle, "--home", w.prod, "--json"))
    assert code == 0, f"the retry failed (exit {code}): {err[-2000:]}"
    no_leftovers(w.prod)


def kill_receipt_imports(w: World, tally: Tally, kills: int, rng: random.Random) -> None:
    """``kills`` imports of a receipt into dev, each SIGKILLed at a random point, then retried
    (the retry imports it, or finds it imported)."""
    span = 0.0
    for i in range(kills + 1):
        _retry_deploy(w, "1.0.0")  # something new to report
        receipt = w.root / "media" / f"receipt-{i}.bundle"
        must("outbox", "pack", "-o", receipt, "--home", w.prod)
        if i == 0:  # the first, uninterrupted, says how long one takes
            span = _timed("import", receipt, "--home", w.dev)
            continue
        if kill_after(start("import", receipt, "--home", w.dev), rng.uniform(0.0, span)):
            tally.count("receipt import")
        else:
            tally.finished_first += 1
        _check(tally, f"receipt import kill {i}", lambda: settled(w))
        tally.retries += 1
        _check(tally, f"retry of receipt import {i}", lambda: must("import", receipt, "--home", w.dev))


# ------------------------------------------------------------------------------ races

def concurrent_run(w: World, tally: Tally, n: int, run: int) -> None:
    """Start ``n`` imports (the first bundle twice) and ``n`` deploys (the first two to one
    environment, one of them waiting) together; check what each ended in and what was recorded."""
    bundles = [w.export(PROJECTS[i % 2], f"3.{run}.{i}") for i in range(max(1, n - 1))]
    imports = [bundles[0]] + bundles[: n - 1]
    targets = [(PROJECTS[0], "Production", ("--wait", "120")), (PROJECTS[0], "Production", ()),
               (PROJECTS[1], "Staging", ()), (PROJECTS[1], "Production", ())]
    wanted = [targets[i % len(targets)] for i in range(n)]
    procs = [("import", start("import", b, "--home", w.prod, "--json")) for b in imports]
    procs += [("deploy", start(*deploy_args(w, p, "1.0.0" if p == PROJECTS[0] else "0.1.0", env, *extra)))
              for p, env, extra in wanted]
    ids: list[str] = []
    for kind, proc in procs:
        code, out, err = finish(proc)
        tally.commands += 1
        if "Traceback" in err or "Traceback" in out:
            tally.problems.append(f"run {run}: {kind} printed a traceback:\n{err[-3000:]}")
            continue
        if code == 0:
            tally.outcome(f"{kind}: success")
            if kind == "deploy":
                ids.append(json.loads(out)["deployment_id"])
            continue
        found = error_code(err) or (json.loads(out).get("error", {}).get("code") if out.strip().startswith("{") else None)
        if found not in REGISTRY:
            tally.problems.append(f"run {run}: {kind} ended {code} without a registered code:\n{out[-1500:]}\n{err[-1500:]}")
            continue
        tally.outcome(f"{kind}: {found}")
        if kind == "deploy" and out.strip().startswith("{") and "deployment_id" in json.loads(out):
            ids.append(json.loads(out)["deployment_id"])

    def recorded() -> None:
        listed = settled(w)
        by_id = [d["id"] for d in listed]
        assert len(by_id) == len(set(by_id)), f"a deployment id recorded twice: {by_id}"
        missing = [i for i in ids if i not in by_id]
        assert not missing, f"deployments that ran but are not recorded: {missing}"
        queued = outbox_ids(w.prod)
        assert all(queued.count(i) == 1 for i in ids), f"not queued exactly once: {ids} vs {queued}"
        releases = cli_in_process("releases", "list", "--json", home=w.prod).stdout
        assert all(f"3.{run}.{i}" in releases for i in range(len(bundles))), f"run {run}: a release was not imported"
    _check(tally, f"concurrent run {run}", recorded)
    tally.runs += 1
    tally.say(f"run {tally.runs}: {tally.commands} commands so far ({len(tally.problems)} problem(s) so far)")


def prepare_races(w: World) -> None:
    """Both projects imported once, so each run has releases to deploy."""
    for project, version in ((PROJECTS[0], "1.0.0"), (PROJECTS[1], "0.1.0")):
        listed = cli_in_process("releases", "list", "--json", home=w.prod)
        if version in listed.stdout and project in listed.stdout:
            continue
        must("import", w.export(project, version), "--home", w.prod)
