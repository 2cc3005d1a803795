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
