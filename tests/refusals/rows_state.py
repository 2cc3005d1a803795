"""Refusal table rows: a zone's state on PostgreSQL, several nodes, the package store, concurrency."""

from __future__ import annotations

import json
from typing import Any

from bundlekit.zone import deployments, retention
from bundlekit.zone.sqlite import SQLiteDatabase
from bundlekit.zone.store import mark_store
from tests.refusals.world import Call, Ctx, Row, ok

#: A PostgreSQL URL nothing listens on (port 1 on the loopback).
CLOSED = "postgresql://bundlekit@127.0.0.1:1/prod"


def _pg_home(ctx: Ctx, name: str = "pg_prod") -> tuple[Any, Any]:
    """A zone ``name`` whose state is a new database on the session's server; returns (home, url)."""
    pg = ctx.pg()
    url = pg.new_database()
    ok("init", "--zone", "prod", "--state", url, "--state-password-file", pg.password_file, home=ctx.path(name))
    return ctx.path(name), url


def _bad_setting(ctx: Ctx) -> Call:
    """A node whose BUNDLEKIT_STATE has an IPv6 address never closed (a traceback before)."""
    home = ctx.prod
    (home / "bundlekit.conf").write_text("BUNDLEKIT_STATE=postgresql://bundlekit@[::1/prod\n")
    return Call(["trust", "list"], home=home)


def _read_only(ctx: Ctx) -> Call:
    home, url = _pg_home(ctx)
    ctx.pg().sql("postgres", f"ALTER DATABASE {url.rsplit('/', 1)[1]} SET default_transaction_read_only = on")
    return Call(["targets", "add", "web-09", "--environment", "Production", "--role", "web", "--root",
                 ctx.path("web-09")], home=home, outputs=[ctx.path("web-09")])


def _join_other(ctx: Ctx) -> Call:
    _, url = _pg_home(ctx)
    return Call(["join", "--state", url, "--package-store", ctx.path("store"), "--from", ctx.dev,
                 "--state-password-file", ctx.pg().password_file], home=ctx.path("node-b"),
                outputs=[ctx.path("store"), ctx.dev])


def _init_taken(ctx: Ctx) -> Call:
    _, url = _pg_home(ctx)
    return Call(["init", "--zone", "prod2", "--state", url, "--state-password-file", ctx.pg().password_file],
                home=ctx.path("second"))


def _damaged_password(ctx: Ctx) -> Call:
    """A node whose keys/state.password is not UTF-8 (a bare not_utf8 naming no file before)."""
    home, _ = _pg_home(ctx)
    (home / "keys" / "state.password").write_bytes(b"\xff\xfe\n")
    return Call(["trust", "list"], home=home)


def _unreachable(ctx: Ctx) -> Call:
    home = ctx.prod
    (home / "bundlekit.conf").write_text(f"BUNDLEKIT_STATE={CLOSED}\n")
    return Call(["trust", "list"], home=home)


def _running(ctx: Ctx) -> Call:
    ctx.run_targets()
    db = SQLiteDatabase(ctx.prod_run / "state.db")  # this process is the node running Deployments-7
    with db.transaction() as tx:
        assert db.claim(tx, deployments.slot("acme-web", "Production"))
        deployments.insert_running(tx, "Deployments-7", project_slug="acme-web", release="1.4.0",
                                   environment="Production", source_zone_id="z", bundle_digest="d", started=1.0)
        assert db.claim(tx, deployments.claim_name("Deployments-7"))  # alive: not to be closed Interrupted
    return Call(["deploy", "acme-web", "1.4.0", "--environment", "Production"], home=ctx.prod_run, hold=[db])


def _pruning(ctx: Ctx, *args: str) -> Call:
    """This process is a `bundlekit prune` removing files: it holds the zone's prune claim."""
    targets = ctx.run_targets()
    db = SQLiteDatabase(ctx.prod_run / "state.db")
    with db.transaction() as tx:
        assert db.claim(tx, retention.PRUNE_CLAIM)
    return Call(list(args), home=ctx.prod_run, outputs=list(targets.values()), hold=[db])


def _store_refuses(ctx: Ctx) -> Call:
    store = ctx.file("store/staging", b"a file where the store's staging folder belongs").parent
    zone = json.loads((ctx.prod_fresh / "zone.json").read_text())
    mark_store(store, zone["zone_id"], zone["name"])
    (ctx.prod_fresh / "bundlekit.conf").write_text(f"BUNDLEKIT_PACKAGE_STORE={store}\n")
    return Call(["import", ctx.get("acme.bundle")], home=ctx.prod_fresh, outputs=[store])


def _join_empty_store(ctx: Ctx) -> Call:
    """The new user's mistake: a join given an empty folder as the zone's package store."""
    pg, home, store = ctx.pg(), ctx.path("pg_prod"), ctx.path("shared-store")
    url = pg.new_database()
    ok("init", "--zone", "prod", "--state", url, "--state-password-file", pg.password_file, "--package-store", store,
       home=home)
    ctx.path("empty").mkdir()
    return Call(["join", "--state", url, "--package-store", ctx.path("empty"), "--from", home],
                home=ctx.path("node-b"), outputs=[ctx.path("empty"), store, home])


def _store_not_mounted(ctx: Ctx) -> Call:
    """A node whose shared store is not mounted: the deployment is refused, never recorded as Failed."""
    ctx.run_targets()
    (ctx.prod_run / "bundlekit.conf").write_text(f"BUNDLEKIT_PACKAGE_STORE={ctx.path('mnt/bundlekit')}\n")
    return Call(["deploy", "acme-web", "1.4.0", "--environment", "Production"], home=ctx.prod_run)


def _audit_cut(ctx: Ctx) -> Call:
    """An audit entry deleted with plain SQL: `audit --verify` names the entry after the gap."""
    home = ctx.prod
    db = SQLiteDatabase(home / "state.db")
    try:
        with db.transaction() as tx:
            tx.run("DELETE FROM audit_entries WHERE seq = ?", (2,))
    finally:
        db.close()
    return Call(["audit", "--verify"], home=home)


def _into_space(ctx: Ctx, *, retrust: bool) -> Call:
    """prod_fresh with a space Web; with ``retrust``, dev trusted in Web instead of Default."""
    home = ctx.prod_fresh
    ok("spaces", "add", "Web", home=home)
    if retrust:
        ok("trust", "remove", "dev", home=home)
        ok("trust", "add", ctx.get("dev.card"), "--space", "Web", home=home)
    # the release names Default: refused in Web whatever is typed, so reported to dev (decision 968);
    # without ``retrust`` only the --space typed is wrong, this zone's own affair
    return Call(["import", ctx.get("acme.bundle"), "--space", "Web"], home=home, outputs=[ctx.get("acme.bundle")],
                expect="refusal" if retrust else "unchanged")


def _file_disagrees(ctx: Ctx) -> Call:
    """dev has a space Team2; the release file names it, --space names Default (decision 887)."""
    ok("spaces", "add", "Team2", home=ctx.dev)
    return Call(["releases", "create", ctx.release(('space = "Default"', 'space = "Team2"')), "--space", "Default"],
                home=ctx.dev)


ROWS = [
    Row("invalid_state_url", lambda c: Call(["init", "--zone", "x", "--state", "mysql://u@db/x"], home=c.path("n"))),
    Row("invalid_state_url", lambda c: Call(["zone", "migrate-state", "--to", "postgresql://bundlekit@[::1/prod"],
                                            home=c.prod), "ipv6"),
    Row("invalid_node_settings", _bad_setting),
    Row("password_in_url", lambda c: Call(["init", "--zone", "x", "--state", "postgresql://u:hunter2@127.0.0.1:1/x"],
                                          home=c.path("n"))),
    Row("invalid_state_password", _damaged_password),
    Row("state_unreachable", _unreachable),
    Row("state_unreachable", lambda c: Call(["init", "--zone", "x", "--state", CLOSED], home=c.path("n")), "init"),
    Row("state_read_only", _read_only),
    Row("zone_mismatch", _join_other),
    Row("state_not_empty", _init_taken),
    Row("deployment_in_progress", _running),
    Row("prune_in_progress", lambda c: _pruning(c, "deploy", "acme-web", "1.4.0", "--environment", "Production"),
        "deploy"),
    Row("prune_in_progress", lambda c: _pruning(c, "prune"), "prune"),
    Row("prune_in_progress", lambda c: _pruning(c, "import", c.get("delta.bundle")), "import"),
    Row("store_write_failed", _store_refuses),
    Row("store_mismatch", _join_empty_store),
    Row("store_unavailable", _store_not_mounted),
    Row("invalid_audit_chain", _audit_cut),
    # spaces (decision 660): dev is trusted in Default, so its release may not enter Web; trusted in
    # Web, its release that names space Default may not either, and that refusal is queued for dev
    Row("space_denied", lambda c: _into_space(c, retrust=False), "untrusted-space"),
    Row("space_denied", lambda c: _into_space(c, retrust=True), "names-another-space"),
    Row("unknown_space", lambda c: Call(["targets", "add", "web-09", "--environment", "Production", "--role", "web",
                                         "--root", c.path("web-09"), "--space", "Nowhere"], home=c.prod,
                                        outputs=[c.path("web-09")])),
    Row("unknown_space", lambda c: Call(["import", c.get("acme.bundle"), "--space", "Paymnts"],
                                        home=c.prod_fresh, outputs=[c.get("acme.bundle")]), "import"),
    # the space a release file names is where the authoring zone creates it, or it is refused (decision 887)
    Row("unknown_space", lambda c: Call(["export", c.release(('space = "Default"', 'space = "Team3"')), "--to", "prod",
                                         "-o", c.path("t3.bundle")], home=c.dev, outputs=[c.path("t3.bundle")]),
        "export"),
    Row("unknown_space", lambda c: Call(["releases", "create", c.release(('space = "Default"', 'space = "Team3"'))],
                                        home=c.dev), "releases-create"),
    Row("space_denied", _file_disagrees, "release-file-names-another"),
    Row("space_exists", lambda c: Call(["spaces", "add", "default"], home=c.prod)),
    Row("invalid_label", lambda c: Call(["spaces", "add", "Team\tA"], home=c.prod), "space"),
]
