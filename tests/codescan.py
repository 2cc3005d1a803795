"""Find every error code the source can raise, by reading it (AST), not by running it.

A code reaches a :class:`~bundlekit.errors.BundleError` in one of these ways, and the scan
follows each:

- a ``code=`` (or ``*_code=``) keyword argument of any call, including helper functions and
  dataclasses that carry a code to a later raise;
- a positional argument in the place of a parameter or dataclass field named ``code`` or
  ``*_code`` (``_fail(path, where, problem, "unsafe_path")``);
- the default value of such a parameter;
- a name: a module constant (also through ``from x import NAME``), a dict of them (and
  ``.get``/``[...]`` on it), or a local variable assigned from any of these;
- conditional and boolean expressions (``a if c else b``, ``a or b``).

What cannot be resolved statically (``err.code``: forwarding the code of an error caught a
line earlier) is reported as ``unresolved`` so a test can hold it to a reviewed list.
Numbers in a code position are ignored (volume erasure-code ids are numbers, not errors).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Site", "Scan", "scan", "ERROR_CLASSES"]

#: Classes whose construction is checked against the registry's family by the scan.
ERROR_CLASSES = {
    "UsageError": "usage", "InputError": "input", "SubstitutionError": "input", "FormatError": "format",
    "VerificationError": "verification", "TrustError": "trust", "ConflictError": "conflict",
    "DeployError": "deploy", "TransportError": "transport", "StateError": "state", "BundleError": "",
}


def _is_code_name(name: str | None) -> bool:
    return bool(name) and (name == "code" or name.endswith("_code")) and name != "exit_code"  # type: ignore[union-attr]


@dataclass(frozen=True)
class Site:
    path: str
    line: int
    callee: str  # the class or function the code is passed to ("" for a default value)
    via: str = ""  # for a construction through a helper: the helper's name


@dataclass
class Scan:
    codes: dict[str, list[Site]] = field(default_factory=dict)
    unresolved: list[tuple[str, int, str]] = field(default_factory=list)  # (path, line, expression)
    #: (site, code) of ERROR_CLASSES calls, and of calls to helpers that pass their code parameter
    #: on to one (``site.callee`` is then the class the helper builds, ``site.via`` the helper).
    constructions: list[tuple[Site, str]] = field(default_factory=list)


class _Module:
    def __init__(self, name: str, path: Path, rel: str) -> None:
        self.name, self.path, self.rel = name, path, rel
        self.tree = ast.parse(path.read_text("utf-8"))
        self.constants: dict[str, ast.expr] = {}
        self.imports: dict[str, tuple[str, str]] = {}
        for node in self.tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                self.constants[node.targets[0].id] = node.value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                self.constants[node.target.id] = node.value
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = (node.module, alias.name)


def _callee(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def _signature(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[tuple[int, str, ast.expr | None]]:
    """[(positional index as callers count it, name, default)] of the code parameters of ``fn``."""
    args = fn.args.posonlyargs + fn.args.args
    defaults: list[ast.expr | None] = [None] * (len(args) - len(fn.args.defaults))
    defaults += fn.args.defaults
    shift = 1 if args and args[0].arg in ("self", "cls") else 0
    out = [(i - shift, a.arg, d) for i, (a, d) in enumerate(zip(args, defaults)) if _is_code_name(a.arg)]
    out += [(-1, a.arg, d) for a, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults) if _is_code_name(a.arg)]
    return out


def _code_params(modules: list[_Module]) -> dict[str, list[tuple[int, str, ast.expr | None]]]:
    """Callable name -> [(positional index, parameter name, default)] for every code parameter.

    A class counts by its ``__init__``, or by its annotated fields in order (dataclasses).
    """
    out: dict[str, list[tuple[int, str, ast.expr | None]]] = {}
    for mod in modules:
        for node in ast.walk(mod.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name != "__init__":
                out.setdefault(node.name, []).extend(_signature(node))
            elif isinstance(node, ast.ClassDef):
                inits = [s for s in node.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"]
                if inits:
                    out.setdefault(node.name, []).extend(_signature(inits[0]))
                    continue
                fields = [s for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
                for i, f in enumerate(fields):
                    assert isinstance(f.target, ast.Name)
                    if _is_code_name(f.target.id):
                        out.setdefault(node.name, []).append((i, f.target.id, f.value))
    return {k: v for k, v in out.items() if v}


class _Resolver:
    def __init__(self, modules: list[_Module]) -> None:
        self.by_name = {m.name: m for m in modules}

    def values(self, expr: ast.expr | None, mod: _Module, scope: ast.AST | None,
               seen: frozenset[int] = frozenset()) -> tuple[set[str], list[str]]:
        """(string constants the expression can take, unresolved sub-expressions)."""
        if expr is None or id(expr) in seen:
            return set(), []
        seen = seen | {id(expr)}
        if isinstance(expr, ast.Constant):
            return ({expr.value} if isinstance(expr.value, str) else set()), []
        if isinstance(expr, ast.IfExp):
            return self._union([expr.body, expr.orelse], mod, scope, seen)
        if isinstance(expr, ast.BoolOp):
            return self._union(expr.values, mod, scope, seen)
        if isinstance(expr, ast.Dict):
            return self._union([v for v in expr.values if v is not None], mod, scope, seen)
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "get":
            got, open_ = self.values(expr.func.value, mod, scope, seen)
            if len(expr.args) > 1:
                more, open2 = self.values(expr.args[1], mod, scope, seen)
                got, open_ = got | more, open_ + open2
            return got, open_
        if isinstance(expr, ast.Subscript):
            return self.values(expr.value, mod, scope, seen)
        if isinstance(expr, ast.Name):
            return self._name(expr.id, mod, scope, seen)
        return set(), [ast.unparse(expr)]

    def _union(self, exprs: list[ast.expr], mod: _Module, scope: ast.AST | None,
               seen: frozenset[int]) -> tuple[set[str], list[str]]:
        got: set[str] = set()
        open_: list[str] = []
        for e in exprs:
            g, o = self.values(e, mod, scope, seen)
            got |= g
            open_ += o
        return got, open_

    def _name(self, name: str, mod: _Module, scope: ast.AST | None,
              seen: frozenset[int]) -> tuple[set[str], list[str]]:
        if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
            params = {a.arg for a in scope.args.posonlyargs + scope.args.args + scope.args.kwonlyargs}
            if name in params and _is_code_name(name):
                return set(), []  # a code parameter: its call sites and default are scanned
            assigned = [n.value for n in ast.walk(scope) if isinstance(n, ast.Assign)
                        and any(isinstance(t, ast.Name) and t.id == name for t in n.targets)]
            if assigned:
                return self._union(assigned, mod, None, seen)
        if name in mod.constants:
            return self.values(mod.constants[name], mod, None, seen)
        if name in mod.imports:
            module, original = mod.imports[name]
            target = self.by_name.get(module)
            if target is not None:
                return self._name(original, target, None, seen)
        return set(), [name]


def _enclosing(tree: ast.Module) -> dict[int, ast.AST]:
    """id(node) -> the innermost function around it."""
    out: dict[int, ast.AST] = {}

    def visit(node: ast.AST, scope: ast.AST | None) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else scope
            if scope is not None:
                out[id(child)] = scope
            visit(child, inner)

    visit(tree, None)
    return out


def _positional(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    """The names of ``fn``'s positional parameters, as callers count them (``self``/``cls`` left out)."""
    names = [a.arg for a in fn.args.posonlyargs + fn.args.args]
    return names[1:] if names and names[0] in ("self", "cls") else names


def _arguments(call: ast.Call, positional: list[str]) -> dict[str, ast.expr]:
    """Parameter name -> the expression a call passes for it."""
    out = {name: arg for name, arg in zip(positional, call.args)}
    out.update({kw.arg: kw.value for kw in call.keywords if kw.arg})
    return out


class _Builders:
    """Helpers that pass a code parameter of theirs on to an error class: ``_fail(..., code)``
    returning ``UsageError(..., code=code)``, or ``check_name(..., error=InputError, code=...)``
    raising ``error(..., code=code)``, also through other such helpers.

    ``builds[(module path, helper)]``: code parameter -> the class built, or ``"@param"`` when
    the class is the helper's own parameter ``param``.
    """

    def __init__(self, modules: list[_Module]) -> None:
        self.modules = {m.name: m for m in modules}
        self.signatures: dict[tuple[str, str], list[str]] = {}
        self.builds: dict[tuple[str, str], dict[str, str]] = {}
        #: (module, function, its parameters, the calls in it that are not to itself), found once.
        self.functions: list[tuple[_Module, ast.FunctionDef | ast.AsyncFunctionDef, set[str], list[ast.Call]]] = []
        for mod in modules:
            for fn in ast.walk(mod.tree):
                if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    self.signatures.setdefault((mod.rel, fn.name), _positional(fn))
                    params = {a.arg for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs}
                    calls = [c for c in ast.walk(fn) if isinstance(c, ast.Call) and _callee(c) != fn.name]
                    self.functions.append((mod, fn, params, calls))
        while self._grow():
            pass

    def find(self, mod: _Module, name: str) -> tuple[str, str] | None:
        """The helper ``name`` means in ``mod`` (defined there, or imported by name)."""
        if (mod.rel, name) in self.signatures:
            return mod.rel, name
        if name in mod.imports:
            module, original = mod.imports[name]
            target = self.modules.get(module)
            if target is not None and (target.rel, original) in self.signatures:
                return target.rel, original
        return None

    def classes(self, mod: _Module, call: ast.Call, params: set[str]) -> dict[str, tuple[str, ast.expr]]:
        """What ``call`` (inside a function with parameters ``params``) builds: code argument name
        -> (class or ``"@param"``, the expression passed as the code)."""
        callee = _callee(call)
        if callee in ERROR_CLASSES and ERROR_CLASSES[callee]:
            code = next((kw.value for kw in call.keywords if kw.arg == "code"), None)
            return {"code": (callee, code)} if code is not None else {}
        if isinstance(call.func, ast.Name) and callee in params:
            code = next((kw.value for kw in call.keywords if kw.arg == "code"), None)
            return {"code": ("@" + callee, code)} if code is not None else {}
        helper = self.find(mod, callee)
        if helper is None or helper not in self.builds:
            return {}
        args = _arguments(call, self.signatures[helper])
        out: dict[str, tuple[str, ast.expr]] = {}
        for code_param, spec in self.builds[helper].items():
            if code_param not in args:
                continue
            if spec.startswith("@"):
                given = args.get(spec[1:])
                if not isinstance(given, ast.Name):
                    continue
                spec = given.id if given.id in ERROR_CLASSES else "@" + given.id if given.id in params else ""
                if not spec:
                    continue
            out[code_param] = (spec, args[code_param])
        return out

    def _grow(self) -> bool:
        grew = False
        for mod, fn, params, calls in self.functions:
            found = self.builds.get((mod.rel, fn.name), {})
            for call in calls:
                for spec, code in self.classes(mod, call, params).values():
                    if isinstance(code, ast.Name) and code.id in params and found.get(code.id) != spec:
                        found[code.id] = spec
                        grew = True
            if found:
                self.builds[(mod.rel, fn.name)] = found
        return grew


def scan(package: Path, ignore: frozenset[str] = frozenset()) -> Scan:
    """Scan every module under ``package`` (the ``bundlekit`` folder).

    ``ignore``: callables whose ``code`` parameter is not an error code (an HTTP status, a
    volume's erasure-code id, the registry's own lookup); they are neither followed nor
    reported.
    """
    root = package.parent
    modules = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(root)
        name = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        modules.append(_Module(name, path, str(rel)))
    params = {k: v for k, v in _code_params(modules).items() if k not in ignore}
    resolver = _Resolver(modules)
    result = Scan()
    builders = _Builders(modules)

    def record(expr: ast.expr | None, mod: _Module, scope: ast.AST | None, line: int, callee: str) -> set[str]:
        got, open_ = resolver.values(expr, mod, scope)
        for code in got:
            result.codes.setdefault(code, []).append(Site(mod.rel, line, callee))
        result.unresolved += [(mod.rel, line, text) for text in open_]
        return got

    for mod in modules:
        scopes = _enclosing(mod.tree)
        for node in ast.walk(mod.tree):
            scope = scopes.get(id(node))
            if isinstance(node, ast.Call):
                callee = _callee(node)
                if callee in ignore:
                    continue
                passed: set[str] = set()
                by_param: dict[str, set[str]] = {}
                for kw in node.keywords:
                    if _is_code_name(kw.arg):
                        got = record(kw.value, mod, scope, node.lineno, callee)
                        passed |= got
                        by_param.setdefault(kw.arg or "", set()).update(got)
                for index, name, _ in params.get(callee, []):
                    if 0 <= index < len(node.args):
                        got = record(node.args[index], mod, scope, node.lineno, callee)
                        passed |= got
                        by_param.setdefault(name, set()).update(got)
                if callee in ERROR_CLASSES:
                    result.constructions += [(Site(mod.rel, node.lineno, callee), c) for c in passed]
                if callee not in ERROR_CLASSES:
                    for param, (cls, _) in builders.classes(mod, node, set()).items():
                        result.constructions += [(Site(mod.rel, node.lineno, cls, callee), c)
                                                 for c in by_param.get(param, set())]
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name not in ignore:
                built = builders.builds.get((mod.rel, node.name), {})
                for _, name, default in _signature(node):
                    got = record(default, mod, scopes.get(id(node)), node.lineno, "")
                    if name in built and not built[name].startswith("@"):
                        result.constructions += [(Site(mod.rel, node.lineno, built[name], node.name), c) for c in got]
            elif isinstance(node, ast.ClassDef) and node.name not in ignore:
                for stmt in node.body:
                    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) \
                            and _is_code_name(stmt.target.id):
                        record(stmt.value, mod, None, stmt.lineno, node.name)
                    if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "default_code"
                                                            for t in stmt.targets):
                        record(stmt.value, mod, None, stmt.lineno, node.name)
    return result
