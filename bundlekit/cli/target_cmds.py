"""`targets` and `worker`: the machines a zone deploys to, and as whom steps on its own machine run."""

from __future__ import annotations

import asyncio
import ipaddress
import re
from pathlib import Path
from typing import Any

import click

from bundlekit.cli import cli
from bundlekit.cli.space_cmds import space_column, space_filter_option, space_option
from bundlekit.cli.common import (AsciiIntRange, counted, echo, emit_json, home_option, json_option, overwrite_needs,
                                  overwrite_option)
from bundlekit.cli.zones import open_home
from bundlekit.core import clock
from bundlekit.core.text import closest, dumps, shell_word
from bundlekit.core.hints import DEFAULT_SPACE, in_space, shown, here_flags, home_flag, listed
from bundlekit.deploy.targets import (DEFAULT_MAX_PARALLEL, DEFAULT_WORK_DIR, SshTarget, check_ssh_address,
                                      check_work_dir)
from bundlekit.deploy.worker_admin import (DEFAULT_WORKER_USER, choose_worker, prepare_local_folder, setup_worker,
                                           worker_notice)
from bundlekit.export.inventory import inventory_document
from bundlekit.errors import DeployError, InputError, UsageError
from bundlekit.zone.outputs import check_output, write_output
from bundlekit.zone.sshkey import client_public_line
from bundlekit.zone.targets import add_target, list_targets, remove_target, set_host_keys, unknown_target
from bundlekit.zone.spaces import resolve_space
from bundlekit.zone.worker import get_worker

# ASCII digits only (decision 413): ``\d`` alone would read ``٢٢`` as port 22.
_SSH = re.compile(r"^(?P<user>[^@\s]+)@(?P<host>\[[^\]]+\]|[^:\s]+)(?::(?P<port>[0-9]{1,5}))?$")


def _warn(text: str) -> None:
    """A note of the zone layer (a folder too large to look through whole) on stderr."""
    echo(f"warning: {text}", err=True)


def _ssh_address(name: str, value: str) -> tuple[str, str, int]:
    """``(user, host, port)`` of ``USER@HOST[:PORT]``; an IPv6 address is ``[::1]`` when a port
    follows and may be bare (``::1``) when none does; the host is returned in brackets then."""
    user, at, rest = value.partition("@")
    if at and rest.count(":") > 1 and not rest.startswith("["):
        try:
            return user, f"[{ipaddress.IPv6Address(rest)}]", 22
        except ValueError:
            pass  # refused below, with the usual message
    found = _SSH.match(value)
    if found is None:
        raise UsageError(f"target {name!r}: --ssh {value!r} must look like USER@HOST or USER@HOST:PORT (an IPv6 "
                         "address as [ADDRESS]:PORT, or bare without a port).", code="invalid_target_address")
    return found["user"], found["host"], int(found["port"] or 22)


def _host_keys(name: str, keys: tuple[str, ...], given: str = "--host-key") -> list[str]:
    from bundlekit.deploy.ssh import parse_host_key  # asyncssh is imported only by the commands that use it

    out = []
    for text in keys:
        lines = [line for line in text.splitlines() if line.strip()] or [text]
        for n, line in enumerate(lines, 1):
            # Every line of a pasted value is a key, and a line that is not one is refused by its
            # number: never kept quietly, never dropped quietly (decision 413).
            where = f"target {shown(name)} {given}" + (f" line {n} of {len(lines)}" if len(lines) > 1 else "")
            key = parse_host_key(line, where)
            out.append(key.export_public_key("openssh").decode("ascii").strip())
    return out


def _shown_key(key: str) -> str:
    """A pinned key as people compare it: its type and SHA256 fingerprint."""
    from bundlekit.deploy.ssh import fingerprint, parse_host_key

    parsed = parse_host_key(key, "a pinned host key")
    return f"{parsed.get_algorithm()} {fingerprint(parsed)}"


def _identity_file(name: str, path: Path) -> str:
    """The absolute path of a usable private key for ``--identity-file`` (InputError otherwise)."""
    from bundlekit.deploy.ssh import check_identity_file

    resolved = path.expanduser().resolve()
    check_identity_file(name, resolved)
    return str(resolved)


@cli.group(epilog="bundlekit targets add web-01 --environment Production --role web --ssh deploy@10.0.0.5 "
                  "--host-key 'ssh-ed25519 AAAA...' --home ./prod\n"
                  "bundlekit targets add web-01 --environment Production --role web --root /srv/web-01 --home ./prod")
def targets() -> None:
    """Deployment targets: machines reached over SSH, or folders on this machine."""


@targets.command("add", epilog="bundlekit targets add web-01 --environment Production --role web "
                              "--ssh deploy@web-01.example:22 --host-key 'ssh-ed25519 AAAA...' --home ./prod")
@click.argument("name")
@click.option("--environment", required=True, help="The environment the target belongs to.")
@click.option("--role", "roles", multiple=True, required=True, help="A role (repeatable); steps run on matching roles.")
@click.option("--ssh", "ssh_given", multiple=True, help="USER@HOST[:PORT] of an SSH target (an IPv6 address as "
                                                          "[ADDRESS]:PORT, or bare without a port). Give exactly one "
                                                          "of --ssh and --root.")
@click.option("--host-key", "host_keys", multiple=True,
              help="The SSH target's host key ('ssh-ed25519 AAAA...'; repeatable). Never trusted on first use: "
                   "compare it out of band (`bundlekit targets scan-host-key HOST`).")
@click.option("--identity-file", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="A private key for this target instead of the zone's own SSH key.")
@click.option("--work-dir", default=None, help=f"Where bundlekit keeps its files on the SSH target "
                                               f"(absolute; default {DEFAULT_WORK_DIR}).")
@click.option("--root", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="A folder on this machine (a local target). Give exactly one of --ssh and --root.")
@click.option("--new", is_flag=True, help="The environment is new, though its name is close to a known one.")
@home_option
@space_option
@json_option
def targets_add(name: str, environment: str, roles: tuple[str, ...], ssh_given: tuple[str, ...],
                host_keys: tuple[str, ...], identity_file: Path | None, work_dir: str | None, root: Path | None,
                new: bool, home: str | None, space: str, as_json: bool) -> None:
    """Add a target: an SSH machine with a pinned host key (--ssh), or a local folder (--root);
    exactly one of the two. It belongs to --space: only deployments of that space's projects use it."""
    if len(ssh_given) > 1:
        raise UsageError(f"target {name!r}: --ssh was given {len(ssh_given)} times ({', '.join(ssh_given)}); a target "
                         "is one machine: give --ssh once.", code="usage")
    ssh = ssh_given[0] if ssh_given else None
    if (ssh is None) == (root is None):
        raise UsageError("give exactly one of --ssh USER@HOST[:PORT] and --root DIR", code="usage")
    config = None
    if ssh is not None:
        user, host, port = _ssh_address(name, ssh)
        check_ssh_address(name, user, host, port)
        if not host_keys:
            raise UsageError(f"target {name!r}: --host-key is required for an SSH target (see `bundlekit targets "
                             f"scan-host-key {shell_word(host + ':' + str(port))}`, and compare it out of band).", code="invalid_host_key")
        keys = _host_keys(name, host_keys)
        chosen_dir = work_dir or DEFAULT_WORK_DIR
        check_work_dir(name, chosen_dir)
        ident = _identity_file(name, identity_file) if identity_file else None
        SshTarget(name, environment, frozenset(roles), host, user, tuple(keys), port, ident, chosen_dir)
        config = {"user": user, "host": host, "port": port, "host_keys": keys, "identity_file": ident,
                  "work_dir": chosen_dir}
    elif host_keys or identity_file or work_dir:
        raise UsageError("--host-key, --identity-file and --work-dir are for --ssh targets", code="usage")
    with open_home(home) as z:
        t = add_target(z, name, environment, roles, root, clock.now(), ssh=config, new=new,
                       space=resolve_space(z.db, space), warn=_warn)
        if t.kind == "local":
            prepare_local_folder(z, Path(t.root))
    if as_json:
        emit_json(t.to_dict())
    else:
        echo(f"added {t.kind} target {t.name} in {t.environment} (space {t.space}) with roles {listed(t.roles)} "
             f"at {t.address}")


@targets.command("set-host-key", epilog="bundlekit targets set-host-key web-01 'ssh-ed25519 AAAA...' --home ./prod")
@click.argument("name")
@click.argument("keys", nargs=-1, required=True)
@home_option
@space_option
@json_option
def targets_set_host_key(name: str, keys: tuple[str, ...], home: str | None, space: str, as_json: bool) -> None:
    """Re-pin an SSH target's host key(s), after comparing them out of band."""
    pinned = _host_keys(name, keys, "KEY")
    with open_home(home) as z:
        space = resolve_space(z.db, space)
        before = list_targets(z.db, name=name, space=space)
        t = set_host_keys(z, name, pinned, space=space)
    replaced = [_shown_key(k) for k in (before[0].config.get("host_keys") or [])] if before else []
    if as_json:
        emit_json(dict(t.to_dict(), replaced=replaced))
    else:
        for key in pinned:
            echo(f"pinned {_shown_key(key)} for target {t.name}")
        for old in replaced:
            if old not in (_shown_key(k) for k in pinned):
                echo(f"no longer pinned: {old}")


@targets.command("scan-host-key", epilog="bundlekit targets scan-host-key web-01.example:22")
@click.argument("address")
@json_option
def targets_scan_host_key(address: str, as_json: bool) -> None:
    """Print every host key HOST[:PORT] offers, one known_hosts line each (the SHA256 fingerprint
    after a '#'); pins nothing. A whole line may be given to --host-key or set-host-key."""
    from bundlekit.deploy.ssh import fingerprint, known_hosts_field, scan_host_keys

    try:
        _, host, port = _ssh_address("scan", f"scan@{address}")
        check_ssh_address("scan", "scan", host, port)
    except UsageError:
        raise UsageError(f"{address!r} is not HOST or HOST:PORT (a host name or IP address, an IPv6 address in "
                         "[brackets] when a port follows, a port from 1 to 65535).",
                         code="invalid_target_address") from None
    keys, why = asyncio.run(scan_host_keys(host.strip("[]"), port))
    if not keys:
        raise DeployError(f"{host}:{port} offered no SSH host key ({why}): is an SSH server listening there, and "
                          "reachable from this machine? Nothing was pinned.", code="target_unreachable")
    field = known_hosts_field(host, port)
    rows = [{"key": k.export_public_key("openssh").decode("ascii").strip(), "fingerprint": fingerprint(k),
             "known_hosts": f"{field} {k.export_public_key('openssh').decode('ascii').strip()}"} for k in keys]
    if as_json:
        emit_json({"host": host, "port": port, "keys": rows})
        return
    for row in rows:
        echo(f"{row['known_hosts']} # {row['fingerprint']}")


@targets.command("ssh-key", epilog="bundlekit targets ssh-key --home ./prod >> ~deploy/.ssh/authorized_keys")
@home_option
@json_option
def targets_ssh_key(home: str | None, as_json: bool) -> None:
    """Print the zone's SSH public key (created on first use), for targets' authorized_keys."""
    with open_home(home) as z:
        line = client_public_line(z, clock.now())
    if as_json:
        emit_json({"public_key": line})
    else:
        echo(line)


@targets.command("check", epilog="bundlekit targets check --home ./prod\nbundlekit targets check web-01 --json")
@click.argument("names", nargs=-1)
@click.option("--max-parallel", type=AsciiIntRange(min=1), default=DEFAULT_MAX_PARALLEL, show_default=True,
              help="How many targets are checked at once.")
@home_option
@space_option
@json_option
@click.pass_context
def targets_check(ctx: click.Context, names: tuple[str, ...], max_parallel: int, home: str | None, space: str,
                  as_json: bool) -> None:
    """Connect to the targets of --space (all, or those named) and report each one's health; exit 5 if any
    is unhealthy."""
    from bundlekit.deploy.service import isolation, open_target, zone_fleet  # asyncio: only when checking

    with open_home(home) as z:
        space = resolve_space(z.db, space)
        records = list_targets(z.db, space=space)
        if names:
            wanted = {n.casefold() for n in names}
            unknown = wanted - {r.name.casefold() for r in records}
            if unknown:
                first = next(n for n in names if n.casefold() in unknown)
                near = closest(first, [r.name for r in records])
                raise unknown_target(z.db, [n for n in names if n.casefold() in unknown], space,
                                     near=near[0] if near else None)
            records = [r for r in records if r.name.casefold() in wanted]
        local = isolation(z)
        with zone_fleet(z, max_parallel) as fleet:
            health = fleet.check([open_target(r, local) for r in records])
    if as_json:
        emit_json({"healthy": all(h.healthy for h in health), "targets": [h.to_dict() for h in health]})
    elif not health:
        echo(f"no targets{in_space(space)}; add one with `bundlekit targets add NAME --environment ENV --role ROLE "
             f"--root DIR{here_flags(space)}`")
    else:
        for line in _health_table(health):
            echo(line)
    if not all(h.healthy for h in health):
        ctx.exit(5)


def _health_table(health: list[Any]) -> list[str]:
    """``targets check`` for people: one aligned row per target, then why each unhealthy one is."""
    def key(h: Any) -> str:
        return "-" if h.host_key_ok is None else "ok" if h.host_key_ok else "MISMATCH"

    rows = [("STATUS", "TARGET", "ADDRESS", "HOST KEY", "PYTHON", "FREE", "CLOCK SKEW")]
    for h in health:
        rows.append(("ok" if h.healthy else "UNHEALTHY", h.target, h.address,
                     key(h) if h.reachable else "?", h.python or "-",
                     f"{h.free_bytes / (1 << 30):.1f} GiB" if h.free_bytes is not None else "-",
                     f"{h.clock_skew:+.2f} s" if h.clock_skew is not None else "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    for h in health:
        if h.error is not None:
            out.append(f"{h.target}: {h.error.message} [{h.error.code}]")
    return out


@targets.command("list", epilog="bundlekit targets list --home ./prod --json\n"
                                 "bundlekit targets list --space Payments --home ./prod")
@home_option
@space_filter_option
@json_option
def targets_list(home: str | None, space: str | None, as_json: bool) -> None:
    """List the targets by environment, with their kind and address: of every space, each naming
    its space, or of --space only."""
    with open_home(home) as z:
        if space is not None:
            space = resolve_space(z.db, space)
        rows = list_targets(z.db, space=space)
        spaces = space_column(z.db, space)
    if spaces:  # grouped by space (Default first), each by environment and name (new-user review 38, F8)
        rows.sort(key=lambda t: (t.space != DEFAULT_SPACE, t.space.casefold()))
    if as_json:
        emit_json({"targets": [t.to_dict() for t in rows]})
        return
    if not rows:
        echo(f"no targets{in_space(space)}; add one with `bundlekit targets add NAME --environment ENV --role ROLE "
             f"--root DIR{here_flags(space)}`")
    if rows:  # a header row names the columns (as `releases list`)
        echo(f"{'Space':<12} " * spaces + f"{'Environment':<14} {'Target':<16} {'Kind':<6} {'Roles':<16} Address")
    for t in rows:
        where = f"{t.space:<12} " if spaces else ""
        echo(f"{where}{t.environment:<14} {t.name:<16} {t.kind:<6} {listed(t.roles, ','):<16} {t.address}")
        if t.kind == "ssh":
            keys = ", ".join(_shown_key(k) for k in t.config.get("host_keys") or [])
            echo(f"{'':<14} work folder {t.config.get('work_dir')}; host key {keys}; identity "
                 f"{t.config.get('identity_file') or 'the zone key (`bundlekit targets ssh-key' + home_flag() + '`)'}")


@targets.command("export-inventory", epilog="bundlekit targets export-inventory -o prod-targets.json --home ./prod\n"
                                             "bundlekit lint release.toml --targets prod-targets.json")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the inventory to this file (default: print it; outside the zone's home; a new file unless "
                   "--overwrite).")
@overwrite_option
@home_option
@space_option
@json_option
def targets_export_inventory(output: Path | None, overwrite: bool, home: str | None, space: str,
                             as_json: bool) -> None:
    """Write the roles and environments of this zone's targets for `bundlekit lint --targets` in the
    development zone, so a step whose role no target has is caught there. Names only: no
    addresses, keys or paths travel. Without -o the inventory is printed (JSON either way). Only the
    targets of --space: another team's machines are not its source's business."""
    overwrite_needs(output, "-o", overwrite)
    with open_home(home) as z:
        if output is not None:
            check_output(output, "-o", z, overwrite=overwrite)
        found = list_targets(z.db, space=resolve_space(z.db, space))
        doc = inventory_document(z.name, [(t.name, t.environment, t.roles) for t in found], [])
    if output is None:
        emit_json(doc)
        return
    write_output(output, "-o", (dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8"), overwrite=overwrite)
    if as_json:
        emit_json({"path": str(output), "targets": len(doc["targets"]), "environments": doc["environments"]})
        return
    echo(f"wrote the inventory of {counted(len(doc['targets']), 'target')} in "
         f"{counted(len(doc['environments']), 'environment')} to {output}; carry it to the development zone; there, "
         f"`bundlekit lint RELEASE_FILE --targets {shell_word(output.name)}`")


@targets.command("remove", epilog="bundlekit targets remove web-01 --home ./prod")
@click.argument("name")
@home_option
@space_option
@json_option
def targets_remove(name: str, home: str | None, space: str, as_json: bool) -> None:
    """Remove a target of --space (nothing on it is changed)."""
    with open_home(home) as z:
        t = remove_target(z, name, space=resolve_space(z.db, space))
    if as_json:
        emit_json({"removed": t.to_dict()})
    else:
        echo(f"removed target {t.name}; nothing at {t.address} was changed")


@cli.group(epilog="sudo bundlekit worker setup --home /srv/bundlekit/prod\nbundlekit worker show --home ./prod")
def worker() -> None:
    """As whom, and where, steps on this machine run (zone-level steps, local folder targets)."""


@worker.command("setup", epilog="sudo bundlekit worker setup --home /srv/bundlekit/prod")
@click.option("--user", default=DEFAULT_WORKER_USER, show_default=True, help="The worker's OS user (created if missing).")
@click.option("--folder", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The worker's work folder (outside the home; default HOME.worker beside it).")
@home_option
@json_option
def worker_setup(user: str, folder: Path | None, home: str | None, as_json: bool) -> None:
    """Create an unprivileged worker user (as root) and run steps on this machine as it."""
    with open_home(home) as z:
        settings = setup_worker(z, user, folder, warn=_warn)
    if as_json:
        emit_json(settings.to_dict())
    else:
        echo(f"steps on this machine now run as {settings.user} in {settings.folder}")


@worker.command("set", epilog="bundlekit worker set --user deployer --home ./prod\n"
                              "bundlekit worker set --sandbox --home ./prod")
@click.option("--user", default=None, help="An existing unprivileged OS user to run steps as.")
@click.option("--sandbox", is_flag=True, help="No worker user: run inside bubblewrap (as nobody when the zone runs as root, else as the zone's user).")
@click.option("--unconfined", is_flag=True, help="No isolation at all (steps can read the zone's keys).")
@click.option("--folder", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The worker's work folder (outside the home).")
@click.option("--python", default=None, help="The Python the worker's runner uses (default: with --user the system's /usr/bin/python3; "
                   "with --sandbox or --unconfined the Python bundlekit itself runs on).")
@home_option
@json_option
def worker_set(user: str | None, sandbox: bool, unconfined: bool, folder: Path | None, python: str | None,
               home: str | None, as_json: bool) -> None:
    """Choose how steps on this machine run: as a worker user, sandboxed, or (loudly) unconfined.

    The setting belongs to this node (kept in HOME/worker.json); other nodes of the zone keep theirs."""
    if sum(map(bool, (user, sandbox, unconfined))) != 1:
        raise InputError("give exactly one of --user NAME, --sandbox and --unconfined", code="invalid_input")
    mode = "user" if user else "sandbox" if sandbox else "unconfined"
    with open_home(home) as z:
        settings = choose_worker(z, mode, user=user, folder=folder, python=python, warn=_warn)
        notice = worker_notice(z)
    if as_json:
        emit_json(settings.to_dict())
        return
    echo(f"steps on this machine (this node only) run {'as ' + str(settings.user) if settings.user else mode} "
               f"in {settings.folder}")
    if notice:
        echo(notice, err=True)


@worker.command("show", epilog="bundlekit worker show --home ./prod --json")
@home_option
@json_option
def worker_show(home: str | None, as_json: bool) -> None:
    """Show this node's worker settings (each node of a zone has its own), and a warning without a worker user."""
    with open_home(home) as z:
        settings = get_worker(z)
        notice = worker_notice(z)
    if as_json:
        emit_json(dict(settings.to_dict(), warning=notice))
        return
    echo(f"this node's worker ({z.home}): mode {settings.mode}  user {settings.user or '-'}  "
               f"python {settings.python or '(default)'}  folder {settings.folder}  [set by: {settings.source}]")
    if settings.source != "this node":
        echo("other nodes of this zone keep their own worker settings; bundlekit worker set changes only "
                   "this node's", err=True)
    if notice:
        echo(notice, err=True)
