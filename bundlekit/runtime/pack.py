"""Packing the runner: one deterministic zipapp, named by its SHA-256.

The zipapp holds :mod:`bundlekit.runtime.agent` and every bundlekit module it imports,
found by reading the import statements (so it never silently misses one, and never ships the
zone, the CLI or a workflow: ``tests/runtime/test_shipped.py``), plus a ``__main__.py`` and a
``bundlekit/__init__.py`` of its own (the real one belongs to the zone). Third-party packages it
imports are vendored from this installation when they are pure Python
(:data:`VENDORED`; ``docs/decisions/140-step-runner.md``). Entries are sorted and dated
1980-01-01, so the same sources always give the same bytes and the same name on every target.

Each module is shipped twice: its source, and its bytecode compiled by the zone's interpreter
(an unchecked hash-based ``.pyc``, PEP 552). A target whose Python is the zone's minor version
imports the bytecode and compiles nothing; any other finds a magic number it does not know, and
``zipimport`` falls back to the source. The bytecode is compiled in a fresh interpreter with a
fixed hash seed: ``marshal``'s output depends on the process that writes it (string hashes order
frozenset constants; reference counts decide shared references), and the runner's name must not
(``docs/decisions/980-the-runner-ships-its-bytecode.md``).
This module runs in the zone (Python 3.11); it is shipped too, but never run on a target.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import io
import marshal
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = ["Runner", "runner", "shipped_modules", "VENDORED", "OPTIONAL"]

_ROOT = Path(__file__).resolve().parent.parent  # bundlekit/
#: Where the import scan starts: the runner, and the configuration formats it imports by name.
_ENTRIES = ("bundlekit.runtime.agent", "bundlekit.runtime.structured.jsonfile", "bundlekit.runtime.structured.yamlfile",
            "bundlekit.runtime.structured.xmlfile", "bundlekit.runtime.structured.propertiesfile")
#: Third-party top-level packages copied into the zipapp (pure Python; decision 140).
VENDORED: tuple[str, ...] = ("ruamel",)
#: Third-party packages the runner imports only if the target has them (lxml: XML configuration).
OPTIONAL: tuple[str, ...] = ("lxml",)
_MAIN = b"import sys\nfrom bundlekit.runtime.agent import main\nsys.exit(main())\n"
_PACKAGE_INIT = b'"""bundlekit\'s step runner (a zipapp; see bundlekit.runtime)."""\n'
_DATE = (1980, 1, 1, 0, 0, 0)
#: Reads ``marshal((names, sources))`` on stdin and writes ``marshal([pyc bytes, ...])``: each an
#: unchecked hash-based pyc (magic, flags 0b01, the source's hash, the code; PEP 552).
_COMPILER = r"""
import importlib.util, marshal, sys
names, sources = marshal.loads(sys.stdin.buffer.read())
out = []
for name, source in zip(names, sources):
    code = compile(source, name, "exec", dont_inherit=True)
    head = importlib.util.MAGIC_NUMBER + (1).to_bytes(4, "little") + importlib.util.source_hash(source)
    out.append(head + marshal.dumps(code))
sys.stdout.buffer.write(marshal.dumps(out))
"""
#: Seconds the compiler may take (it takes about 0.2 s).
_COMPILE_TIMEOUT = 120


@dataclass(frozen=True)
class Runner:
    """The packed runner: its bytes and their SHA-256 (hex)."""

    data: bytes
    sha256: str


def _module_path(name: str) -> Path | None:
    parts = name.split(".")[1:]
    base = _ROOT.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _imports(name: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def shipped_modules() -> tuple[dict[str, Path], set[str]]:
    """``({bundlekit module: source path}, {third-party top-level names})`` the runner needs."""
    modules: dict[str, Path] = {}
    external: set[str] = set()
    todo = list(_ENTRIES)
    while todo:
        name = todo.pop()
        if name in modules:
            continue
        path = _module_path(name)
        if path is None:
            continue  # "from bundlekit.x import y" where y is not a module
        modules[name] = path
        parents = name.split(".")
        for depth in range(2, len(parents)):
            todo.append(".".join(parents[:depth]))  # a module's packages run their __init__
        for imported in _imports(name, path):
            top = imported.split(".")[0]
            if top == "bundlekit":
                if imported != "bundlekit":
                    todo.append(imported)
            elif top and top not in sys.stdlib_module_names and top != "__future__":
                external.add(top)
    return modules, external


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, _DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


def _vendored_files(top: str) -> list[tuple[str, bytes]]:
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the runner needs {top!r}, which is not installed as a package")
    out = [(f"{top}/__init__.py", b"")]  # a regular package inside the runner, whatever it is installed as
    for location in spec.submodule_search_locations:
        base = Path(location)
        for path in sorted(base.rglob("*.py")):
            relative = path.relative_to(base).as_posix()
            if "__pycache__" in relative or relative.startswith("yaml/clibz/"):
                continue
            out.append((f"{top}/{relative}", path.read_bytes()))
    return out


def _bytecode(files: dict[str, bytes]) -> dict[str, bytes]:
    """``{NAME.pyc: bytecode}`` for every ``NAME.py`` of ``files`` (archive name -> source), compiled
    by this interpreter in a process of its own (``-P -s -S``: nothing of the caller's folder, user
    or site; ``PYTHONHASHSEED=0``: the same bytes every time). Empty if that process cannot run
    or fails: the runner then ships its sources only, which every target can compile."""
    names = sorted(n for n in files if n.endswith(".py"))
    env = {"PYTHONHASHSEED": "0"}
    if "LD_LIBRARY_PATH" in os.environ:  # an interpreter built to find its libpython there
        env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
    try:
        done = subprocess.run([sys.executable, "-P", "-s", "-S", "-c", _COMPILER],
                              input=marshal.dumps((names, [files[n] for n in names])), capture_output=True,
                              env=env, cwd="/", timeout=_COMPILE_TIMEOUT, check=False)
        compiled = marshal.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError, EOFError, TypeError):
        return {}
    if not isinstance(compiled, list) or len(compiled) != len(names) or not all(isinstance(c, bytes) for c in compiled):
        return {}
    return {n[:-3] + ".pyc": pyc for n, pyc in zip(names, compiled)}


@lru_cache(maxsize=1)
def runner() -> Runner:
    """The runner of this installation (built once per process, about 1 MiB)."""
    modules, external = shipped_modules()
    unexpected = external - set(VENDORED) - set(OPTIONAL)
    if unexpected:
        raise RuntimeError(f"the runner imports {sorted(unexpected)}, which it cannot ship; see VENDORED")
    files: dict[str, bytes] = {"__main__.py": _MAIN, "bundlekit/__init__.py": _PACKAGE_INIT}
    for name, path in modules.items():
        if name == "bundlekit":
            continue
        files[path.relative_to(_ROOT.parent).as_posix()] = path.read_bytes()
    for top in VENDORED:
        files.update(_vendored_files(top))
    files.update(_bytecode(files))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            _add(archive, name, files[name])
    data = buffer.getvalue()
    return Runner(data, hashlib.sha256(data).hexdigest())
