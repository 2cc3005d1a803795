"""Refusal table rows: relayed bundles (spec/relay.md): a skipped relay, an untrusted one, a forged hop,
a release relayed on without the packages it lists by reference.

The world's third zone ``other`` plays the relay: each row makes the trust it needs in its own
copies of the zones. A skipped relay and an untrusted one are reported back to the source (its
origin's signature verifies, decision 968): the importing zone's home changes by that refusal
entry only; the other refusals leave it byte-identical.
"""

from __future__ import annotations

from pathlib import Path

from bundlekit.format.card import parse_card
from tests.refusals.world import Call, Ctx, Row, ok
from tests.relayforge import add_hop, hop_record


def _ref(card: Path, sealing: bool) -> dict[str, str]:
    c = parse_card(card.read_bytes(), str(card))
    return {"zone_id": c.zone_id, "name": c.name, "key_id": c.sealing_key_id if sealing else c.signing_key_id}


def _import(ctx: Ctx, bundle: Path, expect: str = "unchanged") -> Call:
    return Call(["import", bundle], home=ctx.prod, outputs=[bundle], expect=expect)


def _skipped(ctx: Ctx) -> Call:
    """prod demands that dev's releases come through ``other``; this one came directly."""
    ok("trust", "add", ctx.get("other.card"), home=ctx.prod)
    ok("trust", "set", "dev", "--via", "other", home=ctx.prod)
    out = ctx.path("direct.bundle")
    ok("export", ctx.release(version="1.4.1"), "--to", "prod", "-o", out, home=ctx.dev)
    return _import(ctx, out, "refusal")


def _untrusted(ctx: Ctx) -> Call:
    """Relayed by ``other``, which prod does not trust."""
    ok("trust", "add", ctx.get("dev.card"), home=ctx.other)
    ok("trust", "add", ctx.get("other.card"), home=ctx.dev)
    to_other, out = ctx.path("to-other.bundle"), ctx.path("relayed.bundle")
    ok("export", ctx.release(version="1.4.1"), "--to", "other", "-o", to_other, home=ctx.dev)
    ok("relay", to_other, "--to", "prod", "-o", out, home=ctx.other)
    return _import(ctx, out, "refusal")


def _broken_chain(ctx: Ctx) -> Call:
    """``other`` (trusted by prod) countersigns a hop of a bundle dev addressed to prod, not to it."""
    ok("trust", "add", ctx.get("other.card"), home=ctx.prod)
    direct = ctx.path("direct.bundle")
    ok("export", ctx.release(version="1.4.1"), "--to", "prod", "-o", direct, home=ctx.dev)
    record = hop_record(direct, _ref(ctx.get("other.card"), False), _ref(ctx.get("prod.card"), True))
    return _import(ctx, add_hop(direct, ctx.path("forged.bundle"), ctx.other, record))


def _by_reference(ctx: Ctx) -> Call:
    """prod holds Acme.Web 1.4.0 from dev; dev's 1.4.1 lists it by reference (``delta.bundle``), so
    prod may import it, but relaying it on to ``other`` needs --allow-by-reference (decision 950)."""
    ok("trust", "add", ctx.get("other.card"), home=ctx.prod)
    out = ctx.path("relayed.bundle")
    return Call(["relay", ctx.get("delta.bundle"), "--to", "other", "-o", out], home=ctx.prod, outputs=[out])


def _relay_to(ctx: Ctx, out: Path) -> Call:
    """``other`` relays dev's bundle on to prod, writing it at ``out`` (decision 942: never inside a
    zone's home, never over a file without --overwrite; review relayatk F6)."""
    ok("trust", "add", ctx.get("dev.card"), home=ctx.other)
    ok("trust", "add", ctx.get("other.card"), home=ctx.dev)
    to_other = ctx.path("to-other.bundle")
    ok("export", ctx.release(version="1.4.1"), "--to", "other", "-o", to_other, home=ctx.dev)
    return Call(["relay", to_other, "--to", "prod", "-o", out], home=ctx.other, outputs=[to_other, out])


def _over_a_file(ctx: Ctx) -> Call:
    ctx.root.mkdir(parents=True, exist_ok=True)
    earlier = ctx.path("earlier.bundle")
    earlier.write_bytes(b"a bundle not carried yet")
    return _relay_to(ctx, earlier)


ROWS = [
    Row("relay_required", _skipped),
    Row("untrusted_relay", _untrusted),
    Row("invalid_relay", _broken_chain),
    Row("relay_by_reference", _by_reference),
    Row("output_in_home", lambda c: _relay_to(c, c.other / "state.db"), name="relay-over-its-state"),
    Row("file_exists", _over_a_file, name="relay-over-a-file"),
]
