"""The bottom layer stays the bottom layer, and each primitive has one home.

``bundlekit.core`` imports nothing of bundlekit but ``errors`` and is valid Python 3.8, so the
step runtime shipped to remote targets (which may only have an old ``python3``) can carry it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import bundlekit

ROOT = Path(bundlekit.__file__).parent
CORE = sorted((ROOT / "core").glob("*.py"))
STDLIB_OK = {"__future__", "concurrent", "datetime", "difflib", "errno", "fcntl", "html", "json", "mmap", "os", "re", "shlex", "signal", "stat", "tempfile", "threading", "time", "types", "typing",
             "unicodedata", "pathlib", "pwd"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", CORE, ids=[p.name for p in CORE])
def test_core_imports_only_errors_and_the_standard_library(path: Path) -> None:
    for module in _imports(path):
        if module.startswith("bundlekit"):
            assert module in ("bundlekit.errors",) or module.startswith("bundlekit.core"), module
        else:
            assert module.split(".")[0] in STDLIB_OK, f"{path.name} imports {module}"


@pytest.mark.parametrize("path", CORE, ids=[p.name for p in CORE])
def test_core_is_valid_python_3_8_for_the_remote_runtime(path: Path) -> None:
    ast.parse(path.read_text("utf-8"), feature_version=(3, 8))
    source = path.read_text("utf-8")
    # Run-time 3.9+ features a 3.8 grammar check does not see.
    for later in ("removeprefix(", "removesuffix(", "is_relative_to(", "slots=True", "functools.cache\n"):
        assert later not in source, f"{path.name} uses {later!r} (Python 3.9+)"


#: Modules that may commit files without bundlekit.core.atomic, each with its reason.
OWN_WRITERS = {
    "runtime/boot.py": "the bootstrap is a program text run on a target before any bundlekit module is there",
}


def test_files_are_committed_only_by_the_one_atomic_writer() -> None:
    own = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
           if p.parent.name != "core" and str(p.relative_to(ROOT)) not in OWN_WRITERS
           and any(call in p.read_text("utf-8") for call in ("os.replace(", "os.fsync("))]
    assert own == [], f"write through bundlekit.core.atomic instead: {own}"


def test_text_sanitizers_have_one_home() -> None:
    # The patterns the old sanitizers were built from; a new one should call bundlekit.core.text.
    markers = ("\\u202a-\\u202e", '"Cc", "Cf"', "isprintable() else")
    own = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
           if p.parent.name != "core" and any(marker in p.read_text("utf-8") for marker in markers)]
    assert own == []


def test_the_wall_clock_is_read_only_through_core_clock_or_an_injected_clock() -> None:
    # Decision 122: "now" comes from core.clock.now(); measured times from a Clock a caller can
    # inject (a default argument `clock: Clock = time.time` is fine, a call is not).
    # The step runner shipped to targets (`runtime/`) reports the target machine's own clock to the
    # zone; that is a reading of another machine, not the zone's "now".
    calls = ("time.time()", "datetime.now(", "datetime.utcnow(", "date.today(")
    own = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
           if p.name != "clock.py" and p.relative_to(ROOT).parts[0] != "runtime"
           and any(call in p.read_text("utf-8") for call in calls)]
    assert own == [], f"read the time through bundlekit.core.clock or an injected Clock: {own}"


#: Where "now" is not EpochSeconds, and why (decision 122): the substitution engine and the step
#: runner evaluate Octopus's date filters, which need an aware datetime; the deploy request
#: carries the one the zone made with ``clock.to_datetime(now)`` for them.
DATETIME_NOW = ("substitution/", "runtime/", "deploy/model.py")


def test_every_now_is_epoch_seconds() -> None:
    # One type for "now" (decision 122): a parameter or field named ``now`` is annotated
    # ``EpochSeconds`` (measured moments are a ``Timestamp`` under another name, clocks a ``Clock``).
    loose = []
    for p in sorted(ROOT.rglob("*.py")):
        rel = str(p.relative_to(ROOT))
        if rel.startswith(DATETIME_NOW):
            continue
        for node in ast.walk(ast.parse(p.read_text("utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
                found = [(a.lineno, a.annotation) for a in args if a.arg == "now"]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "now":
                found = [(node.lineno, node.annotation)]
            else:
                continue
            loose += [f"{rel}:{line} now: {ast.unparse(ann) if ann is not None else '(none)'}"
                      for line, ann in found if ann is None or "EpochSeconds" not in ast.unparse(ann)]
    assert loose == [], f"annotate now as EpochSeconds (bundlekit.core.clock): {loose}"


def test_path_rules_have_one_home() -> None:
    # Decision 120: every rule for a path that comes from outside is in core/names.py. A module that
    # compares a component with ".." (or looks for "/../") is writing a rule of its own; core/tree.py
    # opens ".." to walk back up a tree it descended, which checks nothing.
    own = []
    for p in sorted(ROOT.rglob("*.py")):
        rel = str(p.relative_to(ROOT))
        if rel in ("core/names.py", "core/tree.py"):
            continue
        tree = ast.parse(p.read_text("utf-8"))
        text = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}  # "{a}..{b}"
        own += [f"{rel}:{n.lineno}" for n in ast.walk(tree) if isinstance(n, ast.Constant) and id(n) not in text
                and isinstance(n.value, str) and n.value.strip("/") == ".."]
    assert own == [], f"check paths with bundlekit.core.names instead: {own}"
