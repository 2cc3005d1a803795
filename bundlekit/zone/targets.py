"""The zone's deployment targets as recorded in its state: kind, environment, roles, how to reach it.

A ``local`` target is a folder on the zone's machine (``root``); an ``ssh`` target is reached
as ``user@host:port`` with its pinned host keys, an optional identity file and its work folder
(``config``). Checking an SSH address and turning a record into something that runs steps is
the deploy layer's job (``bundlekit.deploy.service.open_target``); this module stores, lists,
re-pins and removes, and refuses a local folder inside the zone's home (steps must never run
where the zone's keys are).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bundlekit.core.clock import EpochSeconds
from bundlekit.core.names import check_environment, check_label, check_name, check_one_name, fold
from bundlekit.core.hints import cut, in_space, shown, here_flags
from bundlekit.errors import InputError, StateError, UsageError
from bundlekit.zone.db import Reader, Row
from bundlekit.zone.environments import resolve_environment
from bundlekit.zone.home import Zone
from bundlekit.zone.homescan import refuse_folder_with_home
from bundlekit.zone.projects import step_roles
from bundlekit.core.text import shell_word

__all__ = ["TargetRecord", "add_target", "list_targets", "remove_target", "set_host_keys", "inside_home",
           "unknown_target"]


@dataclass(frozen=True, slots=True)
class TargetRecord:
    name: str
    environment: str
    roles: tuple[str, ...]
    kind: str
    root: str
    config: dict[str, Any] = field(default_factory=dict)
    #: The space the target belongs to: only deployments of that space's projects see it (decision 660).
    space: str = "Default"

    @property
    def address(self) -> str:
        if self.kind == "ssh":
            return f"{self.config['user']}@{self.config['host']}:{self.config['port']}"
        return self.root

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "environment": self.environment, "roles": list(self.roles),
                               "kind": self.kind, "address": self.address, "space": self.space}
        if self.kind == "local":
            out["root"] = self.root
        else:
            out.update(user=self.config["user"], host=self.config["host"], port=self.config["port"],
                       host_keys=list(self.config["host_keys"]), identity_file=self.config.get("identity_file"),
                       work_dir=self.config["work_dir"])
        return out


def _row(r: Row) -> TargetRecord:
    return TargetRecord(r["name"], r["environment"], tuple(json.loads(r["roles"])), r["kind"], r["root"],
                        json.loads(r["config"] or "{}"), r["in_space"])


def inside_home(zone: Zone, folder: Path) -> bool:
    """Whether ``folder`` is the zone's home or inside it (or holds it)."""
    home = zone.home.resolve()
    folder = folder.resolve()
    return folder == home or home in folder.parents or folder in home.parents


def add_target(zone: Zone, name: str, environment: str, roles: tuple[str, ...], root: Path | None, now: EpochSeconds, *,
               ssh: dict[str, Any] | None = None, new: bool = False, space: str = "Default",
               warn: Callable[[str], object] | None = None) -> TargetRecord:
    """Record a target: a local folder (``root``) or an SSH machine (``ssh``: user, host, port,
    host_keys, identity_file, work_dir; checked by the caller) in ``space`` (resolved by the
    caller; target names stay unique in the zone, decision 660). Nothing is written on refusal.

    The environment is recorded in the spelling the zone knows it by; a name close to a known
    environment is refused (``unknown_environment``) unless ``new`` (``zone/environments.py``).
    A local folder that is, holds or lies in a zone's home is refused: this zone's (``invalid_input``),
    another's (``folder_holds_home``, decision 801; ``warn`` gets the note when the folder was too
    large to look through whole)."""
    check_name(name, what="target name", error=UsageError, code="invalid_target_name")
    check_environment(environment, error=InputError, code="invalid_label")
    environment = resolve_environment(zone.db, environment, new=new)
    if not roles:
        raise InputError("give the target at least one --role", code="invalid_input")
    for role in roles:
        check_label(role, what="role", error=InputError, code="invalid_label")
    joined = [r for r in roles if "," in r]
    if joined:  # a list typed as one role; only a role a release's step spells so is one (decision 976)
        spelled = step_roles(zone.db, space)
        for role in joined:
            if role.casefold() not in spelled:
                check_one_name(role, option="--role", error=UsageError)
    if (root is None) == (ssh is None):
        raise UsageError("give exactly one of --root DIR (a folder on this machine) and --ssh USER@HOST[:PORT]",
                         code="usage")
    # Target names are case-insensitive, as Octopus's machine names are.
    taken = {fold(t.name): t for t in list_targets(zone.db)}
    other = taken.get(fold(name))
    if other is not None:  # names are the zone's, whatever the space (decision 660)
        where = "" if other.space == space else f" (in space {other.space}: target names are unique in the zone)"
        raise StateError(f"target {other.name!r} already exists{where}; `bundlekit targets remove {shell_word(other.name)}"
                         f"{here_flags(other.space)}` first, or choose another name", code="target_exists")
    if root is not None:
        root = root.expanduser().resolve()
        if root.exists() and not root.is_dir():
            raise InputError(f"--root {root}: exists and is not a folder", code="invalid_input")
        if inside_home(zone, root):
            raise InputError(f"--root {root}: a target folder cannot be the zone's home ({zone.home}), inside it or "
                             "above it: steps must never reach the zone's keys. Choose a folder outside it.",
                             code="invalid_input")
        refuse_folder_with_home(root, f"--root {root}", warn)  # another zone's home (decision 801)
        kind, where, config = "local", str(root), {}
    else:
        assert ssh is not None
        kind, where, config = "ssh", "", dict(ssh)
    with zone.db.transaction() as tx:
        tx.run("INSERT INTO targets(name, environment, roles, kind, root, added, config, in_space) "
               "VALUES (?,?,?,?,?,?,?,?)",
               (name, environment, json.dumps(sorted(set(roles))), kind, where, now, json.dumps(config), space))
        if root is not None:  # only once the state accepted the target (a refusal creates nothing)
            root.mkdir(parents=True, exist_ok=True)
    return list_targets(zone.db, name=name)[0]


def set_host_keys(zone: Zone, name: str, host_keys: list[str], *, space: str | None = None) -> TargetRecord:
    """Re-pin an SSH target's host keys (checked by the caller); a target of another space than
    ``space`` (None: any) is ``unknown_target``."""
    found = list_targets(zone.db, name=name, space=space)
    if not found:
        raise unknown_target(zone.db, [name], space)
    if found[0].kind != "ssh":
        raise InputError(f"target {name!r} is a local folder; only SSH targets have host keys",
                         code="invalid_input")
    config = dict(found[0].config, host_keys=list(host_keys))
    with zone.db.transaction() as tx:
        tx.run("UPDATE targets SET config = ? WHERE name = ?", (json.dumps(config), name))
    return list_targets(zone.db, name=name)[0]


def unknown_target(db: Reader, names: list[str], space: str | None, *, near: str | None = None) -> StateError:
    """``unknown_target`` for ``names`` looked up in ``space`` (None: every space): a name another
    space's target has (target names are the zone's, decision 660) is named with that space and
    its ``--space`` (review newuser finding 3); else ``near``, a close name, if any."""
    listed = ", ".join(shown(n) for n in names)
    other = next((t for n in names for t in list_targets(db, name=n)), None) if space is not None else None
    if other is not None:
        return StateError(f"no target named {listed} in space {space}: target {other.name} is in space {other.space}; "
                          f"add `--space {shell_word(other.space)}` to the command", code="unknown_target",
                          details={"target": other.name, "space": other.space})
    return StateError(f"no target named {listed}{in_space(space)}" + (f" (did you mean {near!r}?)" if near else "")
                      + f"; see `bundlekit targets list{here_flags(space)}`", code="unknown_target",
                      details={"target": cut(names[0]) if len(names) == 1 else [cut(n) for n in names]})


def list_targets(db: Reader, *, environment: str | None = None, name: str | None = None,
                 space: str | None = None) -> list[TargetRecord]:
    """Targets ordered by environment and name; only one environment's, or the one named, when
    given; only one space's when ``space`` is given (None: every space)."""
    where: list[str] = []
    args: list[Any] = []
    if environment is not None:
        where, args = ["environment = ?"], [environment]
    elif name is not None:
        where, args = ["name = ?"], [name]
    if space is not None:
        where.append("in_space = ?")
        args.append(space)
    sql = "SELECT * FROM targets" + (" WHERE " + " AND ".join(where) if where else "")
    return [_row(r) for r in db.all(sql + " ORDER BY environment, name", args)]


def remove_target(zone: Zone, name: str, *, space: str | None = None) -> TargetRecord:
    """Remove target ``name``; one of another space than ``space`` (None: any) is ``unknown_target``."""
    found = list_targets(zone.db, name=name, space=space)
    if not found:
        raise unknown_target(zone.db, [name], space)
    with zone.db.transaction() as tx:
        tx.run("DELETE FROM targets WHERE name = ?", (name,))
    return found[0]
