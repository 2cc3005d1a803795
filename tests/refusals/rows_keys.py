"""Refusal table rows: the passphrase of protected zone keys (decision 580)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.refusals.world import Call, Ctx, Row, ok

PASSPHRASE = "rows-passphrase-7f3a"


def _passfile(ctx: Ctx, name: str, text: str) -> Path:
    path = ctx.file(name, text)
    os.chmod(path, 0o600)
    return path


def _protected_dev(ctx: Ctx) -> Path:
    """dev with its keys protected by :data:`PASSPHRASE`."""
    ok("keys", "protect", "--passphrase-file", _passfile(ctx, "dev.pass", PASSPHRASE + "\n"), home=ctx.dev)
    return ctx.dev


def _export_protected(ctx: Ctx, env: dict[str, str]) -> Call:
    home = _protected_dev(ctx)
    out = ctx.path("out.bundle")
    return Call(["export", ctx.get("release") / "release.toml", "--to", "prod", "-o", out], home=home,
                outputs=[out], env=env)


ROWS = [
    # no BUNDLEKIT_PASSPHRASE_FILE and no terminal: the export that needs the signing key is refused
    Row("passphrase_missing", lambda c: _export_protected(c, {"BUNDLEKIT_PASSPHRASE_FILE": ""})),
    Row("passphrase_wrong", lambda c: _export_protected(
        c, {"BUNDLEKIT_PASSPHRASE_FILE": str(_passfile(c, "wrong.pass", "not-the-passphrase\n"))})),
    Row("invalid_passphrase", lambda c: Call(["keys", "protect", "--passphrase-file", _passfile(c, "empty.pass", "\n")],
                                             home=c.prod)),
    Row("invalid_passphrase", lambda c: Call(["init", "--zone", "x", "--passphrase-file",
                                              _passfile(c, "two.pass", "one\ntwo\n")], home=c.path("n")), "init"),
]


BACKUP_PASSPHRASE = "rows-backup-passphrase-31"


def _backup(ctx: Ctx, home: Path, name: str) -> tuple[Path, Path]:
    """A backup of ``home`` and the file holding its passphrase (given with --passphrase-file:
    BUNDLEKIT_PASSPHRASE_FILE is the keys' passphrase, never a backup's, decision 677)."""
    out = ctx.path(f"{name}.zbak")
    passfile = _passfile(ctx, "backup.pass", BACKUP_PASSPHRASE + "\n")
    ok("zone", "backup", "-o", out, "--passphrase-file", passfile, home=home)
    return out, passfile


def _restore_other(ctx: Ctx) -> Call:
    backup, passfile = _backup(ctx, ctx.dev, "dev")
    return Call(["zone", "restore", backup, "--replace", "--passphrase-file", passfile], home=ctx.prod,
                outputs=[backup])


def _restore_tampered(ctx: Ctx) -> Call:
    backup, passfile = _backup(ctx, ctx.prod, "prod")
    data = bytearray(backup.read_bytes())
    data[len(data) // 2] ^= 0x10
    backup.write_bytes(bytes(data))
    return Call(["zone", "restore", backup, "--passphrase-file", passfile], home=ctx.path("restored/prod"),
                outputs=[backup, ctx.path("restored")])


def _backup_pg(ctx: Ctx) -> Call:
    pg = ctx.pg()
    home = ctx.path("pg_prod")
    ok("init", "--zone", "prod", "--state", pg.new_database(), "--state-password-file", pg.password_file, home=home)
    out = ctx.path("pg.zbak")
    return Call(["zone", "backup", "-o", out, "--passphrase-file", _passfile(ctx, "b.pass", "some passphrase\n")],
                home=home, outputs=[out])


ROWS += [
    Row("backup_zone_mismatch", _restore_other),
    Row("backup_corrupt", _restore_tampered),
    Row("invalid_backup", lambda c: Call(["zone", "restore", c.get("acme.bundle"), "--passphrase-file",
                                          _passfile(c, "p.pass", "whatever it is\n")], home=c.path("restored"),
                                         outputs=[c.get("acme.bundle")])),
    Row("backup_unsupported", _backup_pg),
    # a new passphrase of fewer than 8 characters (R12U-7), for the keys and for a backup
    Row("invalid_passphrase", lambda c: Call(["keys", "protect", "--passphrase-file", _passfile(c, "s.pass", "x\n")],
                                             home=c.prod), "keys protect, one character"),
    Row("invalid_passphrase", lambda c: Call(["zone", "backup", "-o", c.path("short.zbak"), "--passphrase-file",
                                              _passfile(c, "s7.pass", "seven77\n")], home=c.prod,
                                             outputs=[c.path("short.zbak")]), "zone backup, seven characters"),
]
