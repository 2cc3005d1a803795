"""The conformance kit (fixtures/vectors/README.md): bundlekit's own runner agrees with every
vector through scripts/conformance.py, and the script reports a runner that does not."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "fixtures" / "vectors"
SCRIPT = ROOT / "scripts" / "conformance.py"


def _kit(*args: str, vectors: Path = VECTORS, batch: int = 1) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), "--vectors", str(vectors), "--jobs", "2", "--batch",
                           str(batch), "--", *args], capture_output=True, text=True, timeout=900)


def test_bundlekit_agrees_with_every_vector_through_the_runner_contract() -> None:
    """Every vector, through the contract's batch form (16 paths a call: a start-up per 16 vectors,
    not per vector); the one-path form is the same loop with one path, run below."""
    n = len(list(VECTORS.glob("*.expect")))
    assert n == len(list(VECTORS.glob("*.bundle"))) + len(list(VECTORS.glob("card-*.card"))) + 1  # + valid-card
    done = _kit(sys.executable, str(ROOT / "scripts" / "vector_runner.py"), batch=16)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [f"agreement: {n}/{n} vectors"]


def test_bundlekit_s_runner_answers_one_vector_per_call_too(tmp_path: Path) -> None:
    chosen = ("valid-release", "expired", "valid-card")  # the folder's inputs, and three of its vectors
    for path in VECTORS.iterdir():
        if path.stem in chosen or not path.with_suffix(".expect").is_file():
            shutil.copy(path, tmp_path / path.name)
    done = _kit(sys.executable, str(ROOT / "scripts" / "vector_runner.py"), vectors=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["agreement: 3/3 vectors"]


def test_a_runner_that_accepts_everything_is_shown_each_vector_it_gets_wrong() -> None:
    done = _kit(sys.executable, "-c", "import sys; print('ok\\n' * len(sys.argv[1:]))", batch=16)
    lines = done.stdout.splitlines()
    inputs = ("vector-src", "vector-relay", "vector-relay2", "vector-relay3", "vector-dst")
    vectors = sorted(p for p in VECTORS.iterdir()  # the trusted cards are inputs, not vectors
                     if p.suffix in (".bundle", ".card") and p.stem not in inputs)
    refused = [p.stem for p in vectors  # the script's order: by file name
               if not p.with_suffix(".expect").read_text().startswith("expect: ok\n")]
    assert done.returncode == 1
    assert [line.split()[1].rstrip(":") for line in lines[:-1]] == refused
    assert "DISAGREE expired: expected 'refuse expired', runner said 'ok'" in lines
    total = len(vectors)
    assert lines[-1] == f"agreement: {total - len(refused)}/{total} vectors"


def test_a_crashing_or_silent_runner_disagrees_rather_than_counting_as_a_refusal(tmp_path: Path) -> None:
    for name in ("valid-release", "expired"):
        for suffix in (".bundle", ".expect"):
            shutil.copy(VECTORS / f"{name}{suffix}", tmp_path / f"{name}{suffix}")
    crash = _kit(sys.executable, "-c", "import sys; print('refuse expired'); sys.exit(3)", vectors=tmp_path)
    assert crash.returncode == 1
    assert "DISAGREE expired: expected 'refuse expired', runner said '(runner exited 3: )'" in crash.stdout
    silent = _kit(sys.executable, "-c", "pass", vectors=tmp_path)
    assert silent.returncode == 1 and silent.stdout.splitlines()[-1] == "agreement: 0/2 vectors"
    # Given both at once, a crash disagrees on both, and a line short leaves the second unanswered.
    crash = _kit(sys.executable, "-c", "import sys; print('refuse expired'); sys.exit(3)", vectors=tmp_path, batch=2)
    assert crash.returncode == 1 and crash.stdout.splitlines()[-1] == "agreement: 0/2 vectors"
    short = _kit(sys.executable, "-c", "print('refuse expired')", vectors=tmp_path, batch=2)
    assert "DISAGREE valid-release: expected 'ok', runner said '(runner printed nothing)'" in short.stdout
    assert short.returncode == 1 and short.stdout.splitlines()[-1] == "agreement: 1/2 vectors"


def test_bundlekit_runner_stops_at_an_input_line_it_does_not_know(tmp_path: Path) -> None:
    for name in ("valid-release.bundle", "keys.json", "vector-src.card"):
        shutil.copy(VECTORS / name, tmp_path / name)
    (tmp_path / "valid-release.expect").write_text((VECTORS / "valid-release.expect").read_text()
                                                   + "clock: 1767312000\n")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "vector_runner.py"),
                           str(tmp_path / "valid-release.bundle")], capture_output=True, text=True)
    assert done.returncode != 0 and done.stdout == ""
    assert "['clock']" in done.stderr


def test_bundlekit_runner_stops_at_a_state_it_does_not_know(tmp_path: Path) -> None:
    """A state file with a list or a field the contract does not name is not guessed around."""
    name = "valid-state-first-import"
    for file in (f"{name}.bundle", f"{name}.expect", "keys.json", "vector-src.card"):
        shutil.copy(VECTORS / file, tmp_path / file)
    runner = [sys.executable, str(ROOT / "scripts" / "vector_runner.py"), str(tmp_path / f"{name}.bundle")]
    for state, unknown in [({"releases": [], "receipts": [], "exports": [], "revoked": []}, "revoked"),
                           ({"releases": [{"source": "0" * 32, "space": "Default", "slug": "vector-app", "sequence": 8,
                                           "digest": "0" * 64, "accepted_at": 0}], "receipts": [], "exports": []},
                            "accepted_at")]:
        (tmp_path / f"{name}.state.json").write_text(json.dumps(state))
        done = subprocess.run(runner, capture_output=True, text=True)
        assert done.returncode != 0 and done.stdout == "" and unknown in done.stderr, done.stderr
    (tmp_path / f"{name}.state.json").write_text(json.dumps({"releases": [], "receipts": [], "exports": []}))
    done = subprocess.run(runner, capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, "ok\n"), done.stderr
