"""Hypothesis strategies for merge snapshots: a BASE plus two independently edited copies.

Edits are drawn from small name pools so that both sides often touch the same variable,
step or package (the interesting cases). Sensitive values all start with ``CANARY`` and
nothing else ever contains it, so a test can search any output for a leak.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

from bundlekit.importer.merge import Snapshot, make_snapshot, variable_key

CANARY = "S3CR3T-"
VAR_NAMES = ["Acme.Url", "Acme.Password", "Db Conn", "log.level", "Octopus.Action[Deploy].Output.X", "a=b;c,d%"]
SCOPES: list[dict[str, list[str]]] = [
    {},
    {"environment": ["Production"]},
    {"Environment": ["test", "Production"]},
    {"role": ["web"], "environment": ["Test"]},
]
STEP_NAMES = ["Deploy web", "Migrate DB", "Smoke test", "Notify", "Warm cache", "Backup"]
PACKAGE_IDS = ["Acme.Web", "Acme.Db", "tools"]
PLAIN_VALUES = ["v1", "v2", "v3", ""]
SECRET_VALUES = [CANARY + s for s in ("alpha", "beta", "gamma")]


@st.composite
def variables(draw: st.DrawFn, placeholders: bool = True) -> dict[str, Any]:
    name = draw(st.sampled_from(VAR_NAMES))
    sensitive = draw(st.booleans())
    entry: dict[str, Any] = {"name": name, "scope": copy.deepcopy(draw(st.sampled_from(SCOPES))),
                             "sensitive": sensitive, "placeholder": False}
    if placeholders and draw(st.integers(0, 3)) == 0:
        entry.update(value=None, placeholder=True)
    else:
        entry["value"] = draw(st.sampled_from(SECRET_VALUES if sensitive else PLAIN_VALUES))
    if draw(st.booleans()):
        entry["description"] = draw(st.sampled_from(["d1", "d2"]))
    return entry


@st.composite
def steps(draw: st.DrawFn) -> dict[str, Any]:
    step: dict[str, Any] = {
        "name": draw(st.sampled_from(STEP_NAMES)),
        "type": draw(st.sampled_from(["script", "package"])),
        "enabled": draw(st.booleans()),
        "roles": draw(st.lists(st.sampled_from(["web", "db", "worker"]), max_size=2, unique=True)),
        "script": draw(st.sampled_from(["echo 1", "echo 2", None])),
    }
    if draw(st.booleans()):
        step["timeout"] = draw(st.sampled_from([30, 60]))
    return step


@st.composite
def packages(draw: st.DrawFn) -> dict[str, Any]:
    version = draw(st.sampled_from(["1.0.0", "1.1.0", "2.0.0"]))
    return {"id": draw(st.sampled_from(PACKAGE_IDS)), "version": version, "sha256": f"{version}-hash"}


def _unique(entries: list[dict[str, Any]], ident: Any) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for e in entries:
        seen.setdefault(ident(e), e)
    return list(seen.values())


def _var_id(e: dict[str, Any]) -> str:
    return variable_key(e["name"], e["scope"])


@st.composite
def snapshots(draw: st.DrawFn, placeholders: bool = True) -> Snapshot:
    return make_snapshot(
        _unique(draw(st.lists(variables(placeholders), max_size=6)), _var_id),
        _unique(draw(st.lists(steps(), max_size=5)), lambda e: e["name"].lower()),
        _unique(draw(st.lists(packages(), max_size=3)), lambda e: e["id"].lower()),
    )


@st.composite
def edited(draw: st.DrawFn, base: Snapshot, placeholders: bool = True) -> Snapshot:
    """A copy of ``base`` with up to five random edits, as either zone might make them."""
    snap = copy.deepcopy(base)
    for _ in range(draw(st.integers(0, 5))):
        op = draw(st.sampled_from(["var_value", "var_remove", "var_add", "var_case", "var_desc",
                                   "step_enabled", "step_script", "step_remove", "step_add", "step_move",
                                   "step_drop_prop", "pkg_version", "pkg_remove", "pkg_add"]))
        vs, ss, ps = snap["variables"], snap["steps"], snap["packages"]
        if op.startswith("var_") and op != "var_add" and vs:
            key = draw(st.sampled_from(sorted(vs)))
            var = vs[key]
            if op == "var_remove":
                del vs[key]
            elif op == "var_value":
                pool = SECRET_VALUES if var["sensitive"] else PLAIN_VALUES
                var.update(value=draw(st.sampled_from(pool)), placeholder=False)
            elif op == "var_case":
                var["name"] = var["name"].swapcase()
            else:
                var["description"] = draw(st.sampled_from(["d1", "d2", "d3"]))
        elif op == "var_add":
            var = draw(variables(placeholders))
            vs.setdefault(_var_id(var), var)
        elif op.startswith("step_") and op != "step_add" and ss:
            key = draw(st.sampled_from(sorted(ss)))
            if op == "step_remove":
                del ss[key]
                snap["step_order"].remove(key)
            elif op == "step_enabled":
                ss[key]["enabled"] = not ss[key]["enabled"]
            elif op == "step_script":
                ss[key]["script"] = draw(st.sampled_from(["echo 1", "echo 2", "echo 3", None]))
            elif op == "step_drop_prop":
                ss[key].pop(draw(st.sampled_from(["timeout", "roles"])), None)
            else:
                order = snap["step_order"]
                order.remove(key)
                order.insert(draw(st.integers(0, len(order))), key)
        elif op == "step_add":
            step = draw(steps())
            key = step["name"].lower()
            if key not in ss:
                ss[key] = step
                snap["step_order"].insert(draw(st.integers(0, len(snap["step_order"]))), key)
        elif op == "pkg_version" and ps:
            pkg = ps[draw(st.sampled_from(sorted(ps)))]
            pkg["version"] = draw(st.sampled_from(["1.0.0", "1.1.0", "2.0.0", "3.0.0"]))
            pkg["sha256"] = f"{pkg['version']}-hash"
        elif op == "pkg_remove" and ps:
            del ps[draw(st.sampled_from(sorted(ps)))]
        elif op == "pkg_add":
            pkg = draw(packages())
            ps.setdefault(pkg["id"].lower(), pkg)
    # the steps dict follows the process order, as make_snapshot builds it
    snap["steps"] = {k: snap["steps"][k] for k in snap["step_order"]}
    return snap


@st.composite
def histories(draw: st.DrawFn, placeholders: bool = True) -> tuple[Snapshot, Snapshot, Snapshot]:
    """(base, local, incoming): two independent edits of one base."""
    base = draw(snapshots(placeholders))
    return base, draw(edited(base, placeholders)), draw(edited(base, placeholders))


# ---- plain builders for the table tests


def var(name: str, value: str | None, *, scope: dict[str, list[str]] | None = None, sensitive: bool = False,
        placeholder: bool = False, **extra: Any) -> dict[str, Any]:
    return {"name": name, "value": value, "sensitive": sensitive, "placeholder": placeholder,
            "scope": scope or {}, **extra}


def step(name: str, **props: Any) -> dict[str, Any]:
    return {"name": name, "type": "script", "enabled": True, "roles": ["web"], "script": "echo 1", **props}


def pkg(package_id: str, version: str) -> dict[str, Any]:
    return {"id": package_id, "version": version, "sha256": f"{version}-hash"}


def snap(variables: list[dict[str, Any]] | tuple[()] = (), steps: list[dict[str, Any]] | tuple[()] = (),
         packages: list[dict[str, Any]] | tuple[()] = ()) -> Snapshot:
    return make_snapshot(variables, steps, packages)
