"""The layout rules of ``bundlekit/`` (STYLE.md, "Layers you can see in the tree"), checked on the source.

Every import is read from the syntax tree, function-level and ``TYPE_CHECKING`` ones included,
so an arrow cannot hide inside a function. The rules:

* a package imports only the packages :data:`ALLOWED` lists for it, and those lists form no
  cycle (so there is no import cycle between packages);
* inside ``deploy``, only ``service`` (deploying from zone state) reaches the zone, trust and
  receipt layers: the engine and what it runs stay free of state, as the runtime shipped to
  targets must;
* SQL is written only in ``bundlekit/zone/``, and a database driver is imported only by a
  backend module there;
* no module is longer than :data:`MAX_LINES` lines, except those in :data:`LONG_MODULES`
  (each with its reason).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "bundlekit"

#: Bottom to top. A package may import only the packages listed for it.
ALLOWED: dict[str, set[str]] = {
    # the registry of error codes, and the error tree built on it
    "error_codes": set(),
    "errors": {"error_codes"},
    # pure primitives: path and name validation, sanitising, atomic writes, the clock
    "core": {"errors"},
    "fsutil": {"errors", "core"},
    # the bundle format (bytes <-> manifest objects, signing, sealing, cards); pure
    "format": {"errors", "core", "fsutil"},
    # who may sign what; pure
    "trust": {"errors", "core", "format"},
    # the #{...} engine and scope precedence; pure
    "substitution": {"errors", "core"},
    # deployment package archives: reading in place and safe extraction (below export and deploy)
    "package": {"errors", "core", "fsutil"},
    # the step runner shipped to targets (Python 3.8+): scripts, substitution in files, the protocol
    "runtime": {"errors", "core", "fsutil", "substitution", "package"},
    # a zone's home: keys, the state database (all SQL), the package store
    "zone": {"errors", "core", "fsutil", "format", "trust"},
    # workflows
    "importer": {"errors", "core", "fsutil", "format", "trust", "zone"},
    # export registers the release in its own zone (snapshots and the merge come from importer)
    "export": {"errors", "core", "fsutil", "format", "trust", "zone", "substitution", "package", "importer", "runtime"},
    "receipt": {"errors", "core", "fsutil", "format", "trust", "zone", "importer"},
    # lifecycles: the rules, and the gate that counts a zone's evidence (verified by importer)
    "promotion": {"errors", "core", "fsutil", "format", "trust", "zone", "importer"},
    "deploy": {"errors", "core", "fsutil", "format", "trust", "zone", "substitution", "package", "receipt",
               "importer", "promotion", "runtime"},
    "dashboard": {"errors", "core", "fsutil", "zone"},
    # retention: which releases a zone keeps, and prune (the store, staging, targets' folders)
    "retention": {"errors", "core", "fsutil", "zone", "deploy"},
    # bundlekit's own releases: wheels into a release (export-self), installed offline (self-update)
    "selfupdate": {"errors", "core", "fsutil", "format", "trust", "zone", "importer", "export"},
    # carrying bundles: media volumes and the diode (works on files, knows no zone)
    "transport": {"errors", "core", "fsutil", "format"},
    # thin click commands
    "cli": {"errors", "core", "fsutil", "format", "trust", "substitution", "package", "zone", "importer", "export",
            "receipt", "promotion", "deploy", "dashboard", "transport", "retention", "runtime", "selfupdate"},
    # the package's own modules: bundlekit/__init__.py and bundlekit/__main__.py
    "__init__": {"errors"},
    "__main__": {"cli", "core"},
}

#: Modules of a package that may use some of its allowed packages; the rest of it may not.
RESTRICTED: dict[str, tuple[set[str], set[str]]] = {
    # package: (packages only the listed modules may import, those modules)
    "deploy": ({"zone", "receipt", "trust", "importer", "promotion"},
               {"bundlekit.deploy.service", "bundlekit.deploy.recording", "bundlekit.deploy.scopes",
                "bundlekit.deploy.worker_admin", "bundlekit.deploy.keeper"}),
}

#: Modules that talk to a database driver (the backends of ``zone/db.py``).
BACKENDS = re.compile(r"^bundlekit\.zone\.(sqlite|postgres\w*)$")
DRIVERS = {"sqlite3", "psycopg", "psycopg2", "psycopg_pool", "apsw", "sqlalchemy"}
SQL = re.compile(r"\b(SELECT\s.+\sFROM\s|INSERT\s+INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s|CREATE\s+(TABLE|INDEX)\s|"
                 r"DROP\s+TABLE\s|ALTER\s+TABLE\s|PRAGMA\s+\w|BEGIN\s+(IMMEDIATE|DEFERRED|EXCLUSIVE)\b)", re.S)
SQL_CALLS = {"execute", "executemany", "executescript"}

MAX_LINES = 500
#: module -> why it may be longer than MAX_LINES (keep this short).
LONG_MODULES: dict[str, str] = {
    "bundlekit.error_codes": "the registry: one entry per stable code, data without logic, read as one table "
                             "(spec/errors.md is generated from it); split by family if it passes 600 lines",
    "bundlekit.substitution.parser": "one recursive-descent parser class, 8 lines over (Octostache agreement, "
                                     "decision 130; issue 13's brace message); split by grammar area next time",
}


def _modules() -> Iterator[tuple[str, Path, ast.Module]]:
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path, ast.parse(path.read_text("utf-8"), str(path))


def _package(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def _imports(module: str, path: Path, tree: ast.Module) -> Iterator[tuple[str, int]]:
    """Every module name ``module`` imports (absolute, relative resolved), with its line."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, node.lineno
            for alias in node.names:
                yield f"{target}.{alias.name}", node.lineno


MODULES = list(_modules())


def _arrows() -> dict[tuple[str, str], list[str]]:
    """(importing package, imported package) -> where ("module:line")."""
    out: dict[tuple[str, str], list[str]] = {}
    for module, path, tree in MODULES:
        src = _package(module)
        for name, line in _imports(module, path, tree):
            parts = name.split(".")
            if parts[0] != "bundlekit" or len(parts) < 2:
                continue
            if not (ROOT / parts[1]).is_dir() and not (ROOT / f"{parts[1]}.py").is_file():
                continue  # "from bundlekit import x" names a package below, seen as bundlekit.x
            dst = parts[1]
            if dst != src:
                out.setdefault((src, dst), []).append(f"{module}:{line}")
    return out


def test_every_package_has_declared_layers() -> None:
    packages = {_package(m) for m, _, _ in MODULES}
    assert packages <= set(ALLOWED), f"declare the layer of {sorted(packages - set(ALLOWED))} in ALLOWED"


def test_no_package_imports_a_package_it_is_not_allowed_to() -> None:
    wrong = {f"{src} -> {dst}": where for (src, dst), where in _arrows().items() if dst not in ALLOWED.get(src, set())}
    assert not wrong, f"imports against the layers (see ALLOWED): {wrong}"


def test_allowed_arrows_have_no_cycle() -> None:
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        if state.get(node) == 1:
            raise AssertionError(f"import cycle allowed between packages: {' -> '.join(trail + [node])}")
        if state.get(node) == 2:
            return
        state[node] = 1
        for nxt in sorted(ALLOWED.get(node, set())):
            visit(nxt, trail + [node])
        state[node] = 2

    for package in sorted(ALLOWED):
        visit(package, [])


def test_no_import_cycle_between_packages_in_the_real_graph() -> None:
    graph: dict[str, set[str]] = {}
    for src, dst in _arrows():
        graph.setdefault(src, set()).add(dst)
    for start in graph:
        seen: set[str] = set()
        stack = list(graph[start])
        while stack:
            node = stack.pop()
            assert node != start, f"import cycle through package {start!r}"
            if node not in seen:
                seen.add(node)
                stack.extend(graph.get(node, ()))


def test_restricted_layers_are_reached_only_from_their_modules() -> None:
    wrong = []
    for module, path, tree in MODULES:
        package = _package(module)
        if package not in RESTRICTED:
            continue
        limited, owners = RESTRICTED[package]
        if module in owners:
            continue
        for name, line in _imports(module, path, tree):
            parts = name.split(".")
            if parts[0] == "bundlekit" and len(parts) > 1 and parts[1] in limited:
                wrong.append(f"{module}:{line} imports {name}")
    assert not wrong, wrong


def _strings(tree: ast.Module) -> Iterator[tuple[str, int]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value, node.lineno
        elif isinstance(node, ast.JoinedStr):
            text = "".join(str(v.value) if isinstance(v, ast.Constant) else "{}" for v in node.values)
            yield text, node.lineno


def test_sql_is_written_only_in_the_zone_layer() -> None:
    found = []
    for module, _, tree in MODULES:
        if _package(module) == "zone":
            continue
        for text, line in _strings(tree):
            if SQL.search(text):
                found.append(f"{module}:{line}: {text[:60]!r}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in SQL_CALLS and node.args:
                found.append(f"{module}:{node.lineno}: .{node.func.attr}(...)")
    assert not found, f"SQL outside bundlekit/zone/ (add a function to a zone repository instead): {found}"


def test_only_backend_modules_import_a_database_driver() -> None:
    found = [f"{module}:{line} imports {name}" for module, path, tree in MODULES
             for name, line in _imports(module, path, tree)
             if name.split(".")[0] in DRIVERS and not BACKENDS.match(module)]
    assert not found, found


def test_the_checks_recognise_what_they_forbid() -> None:
    assert SQL.search("SELECT id FROM deployments WHERE id = ?")
    assert SQL.search("INSERT INTO outbox(a) VALUES (?)") and SQL.search("UPDATE outbox SET packed_in = ?")
    assert SQL.search("PRAGMA user_version") and SQL.search("BEGIN IMMEDIATE")
    assert not SQL.search("Select the environment from the list")
    tree = ast.parse("def f():\n    from bundlekit.zone import state\n    conn.execute('x')\n")
    assert ("bundlekit.zone", 2) in list(_imports("bundlekit.deploy.engine", ROOT / "deploy" / "engine.py", tree))


@pytest.mark.parametrize("module,path", [(m, p) for m, p, _ in MODULES], ids=[m for m, _, _ in MODULES])
def test_module_is_small(module: str, path: Path) -> None:
    lines = len(path.read_text("utf-8").splitlines())
    if module in LONG_MODULES:
        return
    assert lines <= MAX_LINES, f"{path}: {lines} lines; split it by responsibility (limit {MAX_LINES})"


def test_long_module_allowances_are_still_needed() -> None:
    for module, reason in LONG_MODULES.items():
        path = next(p for m, p, _ in MODULES if m == module)
        assert reason and len(path.read_text("utf-8").splitlines()) > MAX_LINES, module


def test_the_cli_opens_no_transaction() -> None:
    # The CLI parses, calls and prints (issue 18): a state change is one function of a lower layer
    # that owns its transaction, never a transaction the command line opens around repository calls.
    found = [f"{module}:{node.lineno}" for module, _, tree in MODULES if _package(module) == "cli"
             for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
             and node.func.attr == "transaction"]
    assert not found, f"move the transaction into the zone or a workflow: {found}"
