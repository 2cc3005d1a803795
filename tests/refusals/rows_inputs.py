"""Refusal table rows: the command line, input files, templates, and the zone's home itself."""

from __future__ import annotations

import os
import socket
import sqlite3
from pathlib import Path

from tests.refusals.world import Call, Ctx, Row, ok

REL = "release.toml"
# Well-formed key files whose key is 3 bytes, not 32 (the reviewer's example).
_BAD_KEY = "bundlekit signing key v1\nname: alice\nkey: ed25519:AAAA\n"
_BAD_PUB = "bundlekit public key v1\nname: alice\nkey: ed25519:AAAA\n"
# TOML nested past what the parser's stack holds (the review's files, r12a F5).
_DEEP_ARRAYS = "a=" + "[" * 5000 + "]" * 5000 + "\n"
_DEEP_TABLES = '[[rule]]\nprojects=["a"]\nx=' + "{a=" * 3000 + "1" + "}" * 3000 + "\n"


def _export(ctx: Ctx, release: object, *extra: object) -> Call:
    out = ctx.path("out.bundle")
    return Call(["export", release, "--to", "prod", "-o", out, *extra], home=ctx.dev, outputs=[out])


def _create(ctx: Ctx, release: object) -> Call:
    """``releases create``: it refuses a release file's first broken rule under the rule's own code,
    where export lints first and lists every problem as ``release_lint_failed`` (decision 570)."""
    return Call(["releases", "create", release], home=ctx.dev)


def _render(ctx: Ctx, template: str | bytes, *extra: object) -> Call:
    t = ctx.file("template.txt", template)
    return Call(["render", t, *extra], outputs=[t], json=False)


def _variables_file(ctx: Ctx, values: dict[str, str]) -> object:
    import json

    return ctx.file("vars.json", json.dumps(values))


def _split(ctx: Ctx, *extra: object) -> Call:
    out = ctx.path("vols")
    return Call(["media", "split", ctx.get("acme.bundle"), "--out", out, *extra], outputs=[out, ctx.get("acme.bundle")])


def _send(ctx: Ctx, *files_and_options: object) -> Call:
    spool = ctx.path("spool")
    spool.mkdir()
    return Call(["diode", "send", *files_and_options, "--spool", spool], outputs=[spool])


def _self_loop(ctx: Ctx, name: str) -> object:
    # A link to itself: it exists as a name, but opening it fails (ELOOP) even for root.
    p = ctx.path(name)
    p.symlink_to(p.name)
    return p


def _lint_with_targets(ctx: Ctx, release: Path, targets: Path) -> Call:
    """`lint` with a target inventory: it writes nothing, so the release folder and the inventory are watched."""
    return Call(["lint", release, "--targets", targets], outputs=[release.parent, targets])


def _fifo(ctx: Ctx, name: str) -> Path:
    p = ctx.path(name)
    os.mkfifo(p)
    return p


def _port_in_use(ctx: Ctx) -> Call:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return Call(["serve", "--port", s.getsockname()[1]], home=ctx.prod, json=False, hold=[s])


def _chain(n: int) -> dict[str, str]:
    return {f"V{i}": f"#{{V{i + 1}}}" for i in range(n)} | {f"V{n}": "end"}


def _bomb(levels: int, fan: int) -> dict[str, str]:
    values = {f"L{i}": "".join(f"#{{L{i + 1}}}" for _ in range(fan)) for i in range(levels)}
    return values | {f"L{levels}": "x" * 64}


def _zone_file(ctx: Ctx, text: str) -> Call:
    (ctx.prod / "zone.json").write_text(text)
    return Call(["show", "acme-web"], home=ctx.prod)


def _schema_from_the_future(ctx: Ctx) -> Call:
    with sqlite3.connect(ctx.prod / "state.db") as db:
        db.execute("PRAGMA user_version = 999")
    db.close()
    return Call(["show", "acme-web"], home=ctx.prod)


def _key_file(ctx: Ctx, data: bytes | None) -> Call:
    key = ctx.prod / "keys" / "signing.key"
    if data is None:
        key.unlink()
    else:
        key.write_bytes(data)
    card = ctx.path("prod.card")
    return Call(["identity", "-o", card], home=ctx.prod, outputs=[card], json=False)


def _damaged_ssh_key(ctx: Ctx) -> Call:
    """A zone SSH key file that is not an OpenSSH key (a traceback before, and shared into the state)."""
    (ctx.prod / "keys" / "ssh_client.key").write_bytes(b"garbage")
    return Call(["targets", "ssh-key"], home=ctx.prod)


def _damaged_retired_key(ctx: Ctx) -> Call:
    """A retired key file that holds another key than its name says: it would co-sign as a stranger."""
    ok("rotate-key", home=ctx.dev)
    [retired] = (ctx.dev / "keys" / "retired").glob("*.key")
    retired.write_bytes(b"\x11" * 32)
    return _export(ctx, ctx.get("release") / REL)


ROWS = [
    # -- usage ------------------------------------------------------------------------------
    Row("usage", lambda c: Call(["diode", "send", c.get("acme.bundle")], outputs=[c.get("acme.bundle")])),
    # click's own parse errors print the error object too under --json (decision 127)
    Row("usage", lambda c: Call(["verify"], home=c.prod), name="missing-argument"),
    Row("usage", lambda c: Call(["verify", c.get("acme.bundle"), "--bogus"], home=c.prod,
                                outputs=[c.get("acme.bundle")]), name="unknown-option"),
    Row("usage", lambda c: Call(["import", c.get("acme.bundle"), "--on-conflict", "bogus"], home=c.prod,
                                outputs=[c.get("acme.bundle")]), name="bad-choice"),
    Row("invalid_var", lambda c: _render(c, "#{A}", "--var", "NoEqualsSign")),
    Row("invalid_config_file", lambda c: Call(["render-config", c.file("values.yaml", "a: [1, 2\nb: 3\n"), "--var",
                                               "a=x"], outputs=[c.path("values.yaml")], json=False)),
    Row("invalid_address", lambda c: Call(["diode", "send", c.get("acme.bundle"), "--to", "no-port-here"],
                                          outputs=[c.get("acme.bundle")])),
    Row("invalid_file_name", lambda c: _send(c, c.file(".hidden.bundle", b"x"))),
    Row("invalid_parity", lambda c: _split(c, "--parity", "-1")),
    Row("invalid_port", lambda c: Call(["serve", "--port", "70000"], home=c.prod, json=False)),
    Row("invalid_redundancy", lambda c: _send(c, c.get("acme.bundle"), "--redundancy", "20")),
    Row("invalid_repeat", lambda c: _send(c, c.get("acme.bundle"), "--repeat", "-1")),
    Row("invalid_size", lambda c: _split(c, "--volume-size", "4X")),
    Row("duplicate_name", lambda c: _send(c, c.file("a/x.bundle", b"1"), c.file("b/x.bundle", b"2"))),
    Row("port_unavailable", _port_in_use),
    Row("too_many_volumes", lambda c: _split(c, "--volume-size", "513", "--parity", "1")),
    Row("volume_size_too_small", lambda c: _split(c, "--volume-size", "100")),
    # -- input ------------------------------------------------------------------------------
    Row("invalid_input", lambda c: _export(c, c.get("release") / REL, "--sequence", "0")),
    Row("ambiguous_variable", lambda c: _create(c, c.release(
        ('value = "acme_dev"', 'value = "acme_dev"\nscope = { environment = ["Production", "Test"] }')))),
    Row("bundle_not_found", lambda c: Call(["verify", c.path("missing.bundle")], home=c.prod,
                                           outputs=[c.path("missing.bundle")])),
    Row("bundle_unreadable", lambda c: Call(["media", "split", _self_loop(c, "loop.bundle"), "--out", c.path("v")],
                                            outputs=[c.path("v"), c.path("loop.bundle")])),
    Row("file_exists", lambda c: Call(["keys", "new", "--name", "alice", "-o", c.path("alice")],
                                      outputs=[c.file("alice.key", b"keep me"), c.path("alice.pub")])),
    Row("file_not_found", lambda c: _export(c, c.path("missing.toml"))),
    Row("file_not_found", lambda c: _export(c, c.file("adir/keep.txt", b"").parent), name="release-file-is-a-folder"),
    Row("file_unreadable", lambda c: _send(c, _self_loop(c, "loop.bundle"))),
    Row("input_too_large", lambda c: _render(c, b"x" * (16 * 1024 * 1024 + 1))),
    # a device or FIFO is refused before a byte is read: /dev/zero never ends, a FIFO waits for a writer
    Row("not_a_file", lambda c: Call(["trust", "add", "/dev/zero"], home=c.prod), name="card"),
    Row("not_a_file", lambda c: Call(["trust", "add-signer", "/dev/zero", "--for", "dev"], home=c.prod),
        name="public-key"),
    Row("not_a_file", lambda c: Call(["sign", c.get("acme.bundle"), "--key", "/dev/zero"],
                                     outputs=[c.get("acme.bundle")]), name="key-file"),
    Row("not_a_file", lambda c: _export(c, "/dev/zero"), name="release-file"),
    Row("not_a_file", lambda c: Call(["verify", _fifo(c, "waiting.bundle")], home=c.prod,
                                     outputs=[c.path("waiting.bundle")]), name="bundle-fifo"),
    Row("not_a_file", lambda c: Call(["media", "split", "/dev/zero", "--out", c.path("v")], outputs=[c.path("v")]),
        name="bundle-to-split"),
    Row("not_utf8", lambda c: Call(["variables", "set", "acme-web", "Acme.ApiKey", "TOPSECRET\udcff", "--sensitive"],
                                   home=c.prod), name="value-argument"),
    # value_from naming an environment variable nobody set (decision 542)
    Row("value_source_missing", lambda c: _create(c, c.release(('value = "s3cret-value"',
                                                                'value_from = { env = "BUNDLEKIT_NEVER_SET_12" }')))),
    # VALUE omitted, standard input not a terminal and empty (decision 540)
    Row("value_missing", lambda c: Call(["variables", "set", "acme-web", "Acme.ApiKey", "--sensitive"], home=c.prod)),
    Row("path_unusable", lambda c: Call(["init", "--zone", "fresh"], home=Path("/proc/bundlekit-no-such-home")),
        name="home-in-proc"),
    Row("path_unusable", lambda c: Call(["init", "--zone", "fresh"], home=c.path("d" * 300)), name="name-too-long"),
    Row("invalid_card", lambda c: Call(["trust", "add", c.file("bad.card", "not a card\n")], home=c.prod)),
    Row("invalid_card", lambda c: Call(["trust", "add", c.file("dev.card", c.get("dev.card").read_bytes().replace(
        b"name: dev", b"name: dew"))], home=c.prod), name="altered"),
    Row("invalid_duration", lambda c: _export(c, c.get("release") / REL, "--expires", "5x")),
    Row("invalid_key_file", lambda c: Call(["trust", "add-signer", c.file("alice.pub", "hello\n"), "--for", "dev"],
                                           home=c.prod)),
    Row("invalid_key_file", lambda c: Call(["sign", c.get("acme.bundle"), "--key", c.file("bad.key", _BAD_KEY)],
                                           outputs=[c.get("acme.bundle")]), name="damaged-key-line"),
    Row("invalid_key_file", lambda c: Call(["trust", "add-signer", c.file("bad.pub", _BAD_PUB), "--for", "dev"],
                                           home=c.prod), name="damaged-public-key-line"),
    Row("invalid_key_name", lambda c: Call(["keys", "new", "--name", "bad\tname", "-o", c.path("k")],
                                           outputs=[c.path("k.key"), c.path("k.pub")])),
    Row("invalid_policy", lambda c: Call(["trust", "add", c.get("other.card"), "--threshold", "0"], home=c.prod)),
    Row("invalid_policy", lambda c: Call(["trust", "add", c.get("other.card"), "--threshold", "33"], home=c.prod),
        name="threshold-above-signature-limit"),
    Row("invalid_policy", lambda c: Call(["import", c.get("acme.bundle"), "--policy", c.file("p.toml", "[[nope\n")],
                                         home=c.prod_fresh), name="merge-policy-file"),
    Row("invalid_policy", lambda c: Call(["egress", "set", c.file("egress.toml", '[[rule]]\nprojects = ["*"]\n'
                                          'allow_sensitive = ["Token"]\nwithhold = ["token"]\n')], home=c.prod),
        name="egress-policy-file"),
    # Hostile nesting (review r12a F5): the file's own refusal, never a RecursionError (decision 671).
    Row("invalid_policy", lambda c: Call(["egress", "set", c.file("deep.toml", _DEEP_ARRAYS)], home=c.prod),
        name="egress-policy-arrays-5000-deep"),
    Row("invalid_policy", lambda c: Call(["egress", "set", c.file("deep2.toml", _DEEP_TABLES)], home=c.prod),
        name="egress-policy-inline-tables-3000-deep"),
    Row("invalid_policy", lambda c: Call(["import", c.get("acme.bundle"), "--dry-run", "--policy",
                                          c.file("deep.toml", _DEEP_ARRAYS)], home=c.prod_fresh),
        name="merge-policy-arrays-5000-deep"),
    Row("invalid_release", lambda c: _create(c, c.file("deep.toml", _DEEP_ARRAYS)), name="release-arrays-5000-deep"),
    Row("release_lint_failed", lambda c: _export(c, c.file("deep.toml", _DEEP_TABLES)),
        name="export-release-inline-tables-3000-deep"),
    Row("release_lint_failed", lambda c: _export(c, c.file("deep.toml", "a = " + "[" * 70 + "]" * 70 + "\n")),
        name="export-release-arrays-70-deep-parsed-but-too-deep"),
    Row("invalid_release", lambda c: _create(c, c.release(('type = "package"', 'type = "pakage"')))),
    Row("invalid_release", lambda c: _create(c, c.release(version="1.4.0\u009b31m\u202e/../x")), name="version"),
    Row("invalid_release", lambda c: _create(c, c.release(('name = "Smoke test"', 'name = "Smoke \u202etset"'))),
        name="step-name-with-a-bidi-control"),
    Row("invalid_label", lambda c: Call(["targets", "add", "web-02", "--environment", "Prod\x1b[31m\u202e", "--role",
                                         "web", "--root", c.path("t")], home=c.prod, outputs=[c.path("t")]),
        name="environment"),
    Row("invalid_label", lambda c: Call(["targets", "add", "web-02", "--environment", "Production", "--role",
                                         "../web\x9b", "--root", c.path("t")], home=c.prod, outputs=[c.path("t")]),
        name="role"),
    # newuser36 finding 9: a list typed into an option taking one name (decision 976)
    Row("joined_names", lambda c: Call(["targets", "add", "web-02", "--environment", "Production", "--role",
                                        "web,db", "--root", c.path("t")], home=c.prod, outputs=[c.path("t")]),
        name="targets-add-role"),
    Row("joined_names", lambda c: Call(["variables", "set", "acme-web", "Acme.ApiKey", "x", "--role", "web,db"],
                                       home=c.prod), name="variables-scope"),
    Row("invalid_label", lambda c: Call(["targets", "add", "web-02", "--environment", "E" * 201, "--role", "web",
                                         "--root", c.path("t")], home=c.prod, outputs=[c.path("t")]),
        name="environment-over-200-characters"),
    # Review v32-11: an environment named (awaiting) merged with the dashboard's own column.
    Row("invalid_label", lambda c: Call(["targets", "add", "web-02", "--environment", "(awaiting)", "--role", "web",
                                         "--root", c.path("t")], home=c.prod, outputs=[c.path("t")]),
        name="environment-in-parentheses"),
    Row("invalid_label", lambda c: Call(["variables", "set", "acme-web", "A\x1b[2J", "x"], home=c.prod),
        name="variable-name"),
    Row("invalid_label", lambda c: Call(["variables", "set", "acme-web", "Acme.ApiKey", "x", "--environment",
                                         "P\x1b"], home=c.prod), name="variable-scope"),
    Row("invalid_target_name", lambda c: Call(["targets", "add", "web 01", "--environment", "Production", "--role",
                                               "web", "--root", c.path("t")], home=c.prod, outputs=[c.path("t")])),
    Row("invalid_inventory", lambda c: _lint_with_targets(c, c.release(), c.file("t.json", '{"targets": []}'))),
    Row("invalid_variables_file", lambda c: _render(c, "#{A}", "--variables", c.file("v.json", "[1, 2]"))),
    Row("invalid_zone_name", lambda c: Call(["init", "--zone", "bad name"], home=c.path("newzone"))),
    Row("not_utf8", lambda c: _render(c, "caf\xe9 #{A}".encode("latin-1"))),
    # another bundle's set in the folder (this very set again is nothing to do: decision 921)
    Row("output_exists", lambda c: (ok("media", "split", c.get("r1.bundle"), "--out", c.path("vols")),
                                    _split(c))[1]),
    Row("package_refused", lambda c: _create(c, _with_package(c, {"appsettings.json": b"{}", "../escape.txt": b"x",
                                                                  "index.html": b"<p>"}))),
    Row("release_lint_failed", lambda c: _export(c, c.release(("#{Acme.Db.Name} on", "#{Acme.Db.Nmae} on")))),
    Row("self_trust", lambda c: Call(["trust", "add", c.get("prod.card")], home=c.prod)),
    Row("spool_dir_missing", lambda c: Call(["diode", "receive", "--spool", c.path("nospool"), "--out",
                                             c.path("inbox")], outputs=[c.path("nospool"), c.path("inbox")])),
    Row("unknown_output_step", lambda c: _create(c, c.release(
        ('schema = "#{Octopus.Action[Run migrations].Output.SchemaVersion}"',
         'schema = "#{Octopus.Action[Run migration].Output.SchemaVersion}"')))),
    Row("unreadable", lambda c: Call(["render", _self_loop(c, "loop.txt")], outputs=[c.path("loop.txt")],
                                     json=False)),
    # The reviewer's example: a release file naming a package file that is not there (it crashed
    # with a traceback, the code being of another family than the usage error raised).
    Row("package_file_missing", lambda c: _create(c, c.release(('file = "packages/Acme.Web.1.4.0.zip"',
                                                                'file = "packages/Acme.Web.1.4.1.zip"')))),
    Row("package_file_missing", lambda c: Call(["releases", "create", c.release(
        ('file = "packages/Acme.Web.1.4.0.zip"', 'file = "packages"'))], home=c.dev), name="create-folder"),
    Row("unsafe_path", lambda c: _create(c, c.release(('file = "packages/Acme.Web.1.4.0.zip"',
                                                       'file = "../release/packages/Acme.Web.1.4.0.zip"')))),
    Row("volume_dir_missing", lambda c: Call(["media", "check", c.path("novols")], outputs=[c.path("novols")])),
    Row("template_syntax", lambda c: _render(c, "a\n#{if A}never closed\n")),
    Row("unresolved_variables", lambda c: _render(c, "#{Missing.One} #{Missing.Two}")),
    Row("filter_failed", lambda c: _render(c, "#{A | FromBase64}", "--var", "A=***not base64***")),
    Row("variable_cycle", lambda c: _render(c, "#{A}", "--var", "A=#{B}", "--var", "B=#{A}")),
    Row("substitution_too_deep", lambda c: _render(c, "#{V0}", "--variables", _variables_file(c, _chain(60)))),
    Row("substitution_too_large", lambda c: _render(c, "#{L0}", "--variables", _variables_file(c, _bomb(8, 10)))),
    # -- state ------------------------------------------------------------------------------
    Row("not_a_zone", lambda c: Call(["show", "acme-web"], home=c.file("empty/.keep", b"").parent)),
    Row("zone_exists", lambda c: Call(["init", "--zone", "prod"], home=c.prod)),
    Row("home_not_empty", lambda c: Call(["init", "--zone", "x"], home=c.file("busy/notes.txt", b"mine").parent)),
    Row("state_damaged", lambda c: _zone_file(c, "{not json")),
    Row("state_too_new", _schema_from_the_future),
    Row("key_missing", lambda c: _key_file(c, None)),
    Row("key_missing", lambda c: ((c.dev / "keys" / "signing.key").unlink(), _export(c, c.get("release") / REL))[1],
        name="export"),
    Row("invalid_zone_key", lambda c: _key_file(c, b"short")),
    Row("invalid_zone_key", _damaged_ssh_key, "ssh"),
    Row("invalid_zone_key", _damaged_retired_key, "retired"),
    Row("already_trusted", lambda c: Call(["trust", "add", c.get("dev.card")], home=c.prod)),
    Row("unknown_zone", lambda c: Call(["trust", "remove", "nowhere"], home=c.prod)),
    Row("unknown_project", lambda c: Call(["show", "no-such-project"], home=c.prod)),
    Row("unknown_release", lambda c: Call(["show", "acme-web", "9.9.9"], home=c.prod)),
    Row("unknown_step", lambda c: Call(["steps", "disable", "acme-web", "No such step"], home=c.prod)),
    Row("unknown_variable", lambda c: Call(["variables", "unset", "acme-web", "No.Such.Variable"], home=c.prod)),
    Row("unknown_target", lambda c: Call(["targets", "remove", "nope-01"], home=c.prod)),
    Row("unknown_deployment", lambda c: Call(["deployments", "show", "Deployments-99"], home=c.prod)),
    Row("target_exists", lambda c: Call(["targets", "add", "web-01", "--environment", "Production", "--role", "web",
                                         "--root", c.path("elsewhere")], home=c.prod, outputs=[c.path("elsewhere")])),
    Row("folder_holds_home", lambda c: (ok("init", "--zone", "stray", home=c.path("shared") / "stray"),
                                         Call(["targets", "add", "web-02", "--environment", "Production", "--role",
                                               "web", "--root", c.path("shared")], home=c.prod,
                                              outputs=[c.path("shared")]))[1]),
    Row("outbox_empty", lambda c: Call(["outbox", "pack", "-o", c.path("r.bundle")], home=c.prod,
                                       outputs=[c.path("r.bundle")])),
    Row("no_outputs", lambda c: Call(["outputs", "acme-web", "--zone", "prod"], home=c.dev)),
]


def _with_package(ctx: Ctx, members: dict[str, bytes]) -> object:
    from tests.refusals.world import write_zip

    release = ctx.release()
    write_zip(release.parent / "packages" / "Acme.Web.1.4.0.zip", members)
    return release
