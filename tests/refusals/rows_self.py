"""Refusal table rows: bundlekit's own releases (export-self, self-update)."""

from __future__ import annotations

from pathlib import Path

from tests.refusals.world import Call, Ctx, Row, copy, ok, write_zip


def _wheel(folder: Path, version: str, python: str = "") -> Path:
    """A bundlekit wheel that installs but has no command: its ``bundlekit --version`` cannot run;
    ``python``: its Requires-Python."""
    info = f"bundlekit-{version}.dist-info"
    required = f"Requires-Python: {python}\n" if python else ""
    return write_zip(folder / f"bundlekit-{version}-py3-none-any.whl", {
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: bundlekit\nVersion: {version}\n{required}".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: bundlekit-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/RECORD": f"{info}/METADATA,,\n{info}/WHEEL,,\n{info}/RECORD,,\n".encode(),
    })


def _export_self(ctx: Ctx, wheelhouse: Path) -> Call:
    out = ctx.path("self.bundle")
    return Call(["export-self", "--to", "prod", "-o", out, "--wheelhouse", wheelhouse], home=ctx.dev,
                outputs=[out, wheelhouse])


def _update_that_does_not_run(ctx: Ctx) -> Call:
    out = ctx.path("self.bundle")
    ok("export-self", "--to", "prod", "-o", out, "--wheelhouse", _wheel(ctx.path("wheels"), "9.9.9").parent,
       home=ctx.dev)
    return Call(["self-update", out], home=ctx.prod, outputs=[out])


def _update_for_another_python(ctx: Ctx) -> Call:
    """A bundlekit release exported for a Python this interpreter is not (its dependency's wheel is
    cp399 only): pip would find no wheel for it (newuser35 finding 11)."""
    house = _wheel(ctx.path("wheels"), "9.9.9").parent
    write_zip(house / "cffi-2.1.1-cp399-cp399-manylinux_2_17_x86_64.whl", {
        "cffi-2.1.1.dist-info/METADATA": b"Metadata-Version: 2.1\nName: cffi\nVersion: 2.1.1\n"})
    meta = house / "bundlekit-9.9.9-py3-none-any.whl"
    write_zip(meta, {"bundlekit-9.9.9.dist-info/METADATA":
                     b"Metadata-Version: 2.1\nName: bundlekit\nVersion: 9.9.9\nRequires-Dist: cffi\n"})
    out = ctx.path("self.bundle")
    ok("export-self", "--to", "prod", "-o", out, "--wheelhouse", house, "--python-version", "3.99", "--platform",
       "manylinux_2_17_x86_64", home=ctx.dev)
    return Call(["self-update", out, "--dry-run"], home=ctx.prod, outputs=[out])


def _import_bundlekit(ctx: Ctx) -> Call:
    """bundlekit's release imported with plain `import`: it would be accepted without being installed."""
    out = ctx.path("self.bundle")
    ok("export-self", "--to", "prod", "-o", out, "--wheelhouse", _wheel(ctx.path("wheels"), "9.9.9").parent,
       home=ctx.dev)
    return Call(["import", out], home=ctx.prod, outputs=[out])


def _home_the_launchers_cannot_carry(ctx: Ctx) -> Call:
    """prod's home copied under a folder whose name holds a space and `$`: pip's launchers of the new
    installation would name its interpreter in double quotes, where sh expands `$x`."""
    out = ctx.path("self.bundle")
    ok("export-self", "--to", "prod", "-o", out, "--wheelhouse", _wheel(ctx.path("wheels"), "9.9.9").parent,
       home=ctx.dev)
    home = copy(ctx.prod, ctx.path("zone $x") / "prod")
    return Call(["self-update", out, "--dry-run"], home=home, outputs=[out])


def _deploy_bundlekit(ctx: Ctx) -> Call:
    """dev made bundlekit's release (export-self registers it "created here"): deploying it ran no step."""
    ok("export-self", "--to", "prod", "-o", ctx.path("self.bundle"), "--wheelhouse",
       _wheel(ctx.path("wheels"), "9.9.9").parent, home=ctx.dev)
    return Call(["deploy", "bundlekit", "9.9.9", "--environment", "Development"], home=ctx.dev)


def _tampered_current(ctx: Ctx) -> Call:
    """prod's HOME/self/current made a folder by hand: a self-update would rewrite previous from it."""
    current = ctx.prod / "self" / "current"
    (current / "bin").mkdir(parents=True)
    (current / "bin" / "bundlekit").write_text("#!/bin/sh\necho not bundlekit\n", "utf-8")
    return Call(["self-update", "--rollback"], home=ctx.prod)


def _rollback_to_an_older_schema(ctx: Ctx) -> Call:
    """prod's previous installation (a stand-in answering as bundlekit does) reads one schema less than
    the zone's state: the current one migrated it."""
    import os

    from bundlekit.zone.schema import SCHEMA_VERSION
    from tests.selfupdate.conftest import runnable_stand_in

    for link, version, schema in (("current", "0.3.0", SCHEMA_VERSION), ("previous", "0.1.0", SCHEMA_VERSION - 1)):
        runnable_stand_in(ctx.prod / "self" / "venvs" / version, version, schema=schema)
        os.symlink(f"venvs/{version}", ctx.prod / "self" / link)
    return Call(["self-update", "--rollback"], home=ctx.prod)


ROWS = [
    Row("invalid_wheelhouse", lambda c: _export_self(c, c.path("no-such-wheelhouse"))),
    Row("wheel_missing", lambda c: _export_self(c, c.file("wheels/README.txt", "no wheel yet").parent)),
    Row("invalid_wheel", lambda c: _export_self(c, c.file("wheels/bundlekit-0.9.0-py3-none-any.whl", "no zip").parent)),
    Row("unsupported_python", lambda c: _export_self(c, _wheel(c.path("wheels"), "9.9.9", ">=3.99").parent)),
    Row("self_not_deployable", _deploy_bundlekit),
    Row("invalid_self_bundle", lambda c: Call(["self-update", c.get("acme.bundle")], home=c.prod,
                                              outputs=[c.get("acme.bundle")])),
    Row("self_update_failed", _update_that_does_not_run),
    Row("unsupported_home_path", _home_the_launchers_cannot_carry),
    Row("rollback_missing", lambda c: Call(["self-update", "--rollback"], home=c.prod)),
    Row("invalid_self_link", _tampered_current),
    Row("self_platform_mismatch", _update_for_another_python),
    Row("self_not_importable", _import_bundlekit),
    Row("rollback_state_too_new", _rollback_to_an_older_schema),
]
