"""bundlekit's runner for the conformance kit (fixtures/vectors/README.md, "Runner contract").

    python scripts/vector_runner.py fixtures/vectors/valid-release.bundle
    ok
    python scripts/vector_runner.py fixtures/vectors/expired.bundle
    refuse expired
    python scripts/vector_runner.py fixtures/vectors/valid-release.bundle fixtures/vectors/expired.bundle
    ok
    refuse expired

Verifies one vector as the zone `vector-dst` of the vector folder's keys.json would, at its
reference time, trusting its card. For a vector with a `state:` line it then decides, as an
import into a zone whose prior state that file gives would, by the state rules of spec §6.6
(nothing is kept). For a release it then checks the packages as that zone, holding nothing but
the `base:` file (if any), does: listed by reference, or rebuilt from a base. Then the checks
the vector's `open:` and `check:` lines ask for. Prints `ok` or `refuse <code>` on one line per
vector named, in order, and exits 0; anything that is not a refusal with a code (a crash, an input line or a state field it
does not know) exits non-zero with the reason on stderr.
It reads the vector's sidecar lines after the first, never the `expect:` line.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bundlekit.errors import BundleError  # noqa: E402
from bundlekit.format.card import IdentityCard, parse_card  # noqa: E402
from bundlekit.format.crypto import key_id, open_text, seal_ad, seal_label, unb64  # noqa: E402
from bundlekit.format.keyfile import parse_rotation  # noqa: E402
from bundlekit.format.manifest import Manifest, scope_to_dict  # noqa: E402
from bundlekit.format.relay import relay_seal_ad  # noqa: E402
from bundlekit.receipt.build import output_seal_ad  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey  # noqa: E402
from bundlekit.importer.rebuild import check_bases, check_shared, rebuild_all  # noqa: E402
from bundlekit.importer.state_rules import check_release_state  # noqa: E402
from bundlekit.importer.verify import VerifiedBundle, Verifier, check_bundle  # noqa: E402
from bundlekit.receipt.ingest import decide_receipt  # noqa: E402
from bundlekit.zone import exports, refusals, remote, sequences  # noqa: E402
from bundlekit.zone.db import Database  # noqa: E402
from bundlekit.zone.state import open_state  # noqa: E402
from bundlekit.trust.policy import SourcePolicy, TrustedSource  # noqa: E402
from bundlekit.trust.relay import RelayPath  # noqa: E402
from bundlekit.zone.store import PackageStore  # noqa: E402


#: The sidecar lines this runner understands (fixtures/vectors/README.md, "The .expect file").
KNOWN_LINES = ("kind", "note", "base", "trust", "state", "open", "check")
#: The fields of a `state:` file, by list (fixtures/vectors/README.md, "The state file").
STATE_FIELDS = {"releases": {"source", "space", "slug", "sequence", "digest"},
                "receipts": {"source", "sequence", "digest", "deployments", "refusals"},
                "exports": {"destination", "bundle_id", "digest", "sequence", "space", "slug", "release"}}


def sidecar(vector: Path) -> dict[str, str]:
    """The `name: value` lines of the vector's .expect file after the first (the runner's inputs).
    A line this runner does not know stops it (non-zero exit): it must not guess without that input."""
    lines = vector.with_suffix(".expect").read_text("utf-8").splitlines()[1:]
    fields = dict(line.split(": ", 1) for line in lines if ": " in line)
    unknown = sorted(set(fields) - set(KNOWN_LINES))
    if unknown or len(fields) != len([line for line in lines if line]):
        raise SystemExit(f"{vector.with_suffix('.expect')}: input lines this runner does not know: {unknown}")
    return fields


def verifier(folder: Path, trust: str | None = None) -> Verifier:
    """The verifying zone keys.json describes, trusting its card at its reference time; a vector's
    ``trust:`` line (JSON: ``threshold``, ``approvers``, ``revoked``, keys named in keys.json's
    ``signing_keys``; ``relays``, zones whose cards NAME.card lie in the folder; ``via``, relays the
    source's policy requires; ``relay_rules``, each relay's space and policy globs; ``space``, the
    space the source's rule is in) replaces the default threshold, adds approvers and revokes keys, trusts
    relays and requires a path (spec/relay.md). Another key stops the runner."""
    keys = json.loads((folder / "keys.json").read_text("utf-8"))
    card = parse_card((folder / keys["trusted"]["card"]).read_bytes(), keys["trusted"]["card"])
    extra = json.loads(trust) if trust else {}
    unknown = sorted(set(extra) - {"threshold", "approvers", "revoked", "relays", "via", "relay_rules", "space"})
    if unknown:
        raise SystemExit(f"trust: keys this runner does not know: {unknown}")
    named = {name: unb64(text.split(":", 1)[1], name, 32) for name, text in keys.get("signing_keys", {}).items()}
    approvers = frozenset(named[n] for n in extra.get("approvers", ()))
    revoked = frozenset(key_id("ed25519", named[n]) for n in extra.get("revoked", ()))
    relays = [parse_card((folder / f"{n}.card").read_bytes(), f"{n}.card") for n in extra.get("relays", ())]
    ids = {c.name: c.zone_id for c in relays}
    source = TrustedSource(card.zone_id, card.name, frozenset({card.signing_key}), approvers,
                           SourcePolicy(threshold=extra.get("threshold", keys["trusted"]["threshold"]),
                                        via=tuple(ids[n] for n in extra.get("via", ()))),
                           space=extra.get("space", "Default"))
    others = tuple(relay_source(c, extra.get("relay_rules", {}).get(c.name, {})) for c in relays)
    me = keys["verifier"]
    return Verifier(me["zone_id"], me["name"], me["sealing_key_id"], (source, *others), revoked,
                    keys["reference_time"])


def relay_source(card: IdentityCard, rule: dict[str, Any]) -> TrustedSource:
    """A relay zone of a vector's ``trust:`` line, trusted with its card's signing key, in the
    space and under the policy globs its ``relay_rules`` entry gives (``space``, ``spaces``,
    ``projects``, ``environments``; spec/relay.md §4 step 6). Another key stops the runner."""
    unknown = sorted(set(rule) - {"space", "spaces", "projects", "environments"})
    if unknown:
        raise SystemExit(f"relay_rules for {card.name}: keys this runner does not know: {unknown}")
    policy = SourcePolicy(spaces=tuple(rule.get("spaces", ("*",))), projects=tuple(rule.get("projects", ("*",))),
                          environments=tuple(rule.get("environments", ("*",))))
    return TrustedSource(card.zone_id, card.name, frozenset({card.signing_key}), policy=policy,
                         space=rule.get("space", "Default"))


def run(vector: Path) -> str:
    """``ok`` or ``refuse <code>`` for one vector: a bundle (verified) or an identity card (loaded)."""
    lines = sidecar(vector)
    base = lines.get("base")
    if vector.suffix == ".card":
        try:
            parse_card(vector.read_bytes(), str(vector))
        except BundleError as err:
            return f"refuse {err.code}"
        return "ok"
    try:
        v = verifier(vector.parent, lines.get("trust"))
        result = check_bundle(v, vector)
        # An import applies the state rules first; a bundle it accepted before is a no-op (spec §6.6).
        if "state" in lines and import_into_state(result, vector.parent / lines["state"], v):
            return "ok"
        if result.manifest.kind == "release":
            check_packages(vector, result, base)
        if lines.get("open") == "sealed":
            open_all(result.manifest, vector.parent, result.relay)
        if lines.get("check") == "rotations":
            for i, statement in enumerate(result.manifest.rotations):
                parse_rotation(statement, f"rotations[{i}]")
    except BundleError as err:
        return f"refuse {err.code}"
    return "ok"


def check_packages(vector: Path, result: VerifiedBundle, base: str | None) -> None:
    """The package checks of spec §5.1 and §5.2 in the verifying zone, which holds no package but
    the vector's ``base:`` file, delivered by the bundle's source: a package listed by reference
    must be one it may use (``package_not_shared``) and have the size of the held copy
    (``package_size_mismatch``); every delta is rebuilt from its base and checked."""
    with tempfile.TemporaryDirectory() as tmp:
        store = PackageStore(Path(tmp))
        usable: frozenset[str] = frozenset()
        if base is not None:
            data = (vector.parent / base).read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            held = store.path(sha)
            held.parent.mkdir(parents=True, exist_ok=True)
            held.write_bytes(data)
            usable = frozenset({sha})  # the verifying zone received it from the vectors' source
        where = str(vector)
        check_shared(result.manifest, where, usable)
        check_bases(result.manifest, store, where, usable)
        rebuild_all(vector, result.digest, result.manifest, store, None, usable=usable)


def read_state(path: Path) -> dict[str, list[dict[str, Any]]]:
    """A vector's prior zone state (fixtures/vectors/README.md, "The state file"): the releases
    and receipts the zone accepted, and the release bundles it exported. A list or field this
    runner does not know stops it (non-zero exit), as an unknown input line does."""
    state = json.loads(path.read_text("utf-8"))
    if set(state) != set(STATE_FIELDS):
        raise SystemExit(f"{path}: a state has exactly the lists {sorted(STATE_FIELDS)}, not {sorted(state)}")
    for name, fields in STATE_FIELDS.items():
        for i, item in enumerate(state[name]):
            if set(item) != fields:
                raise SystemExit(f"{path}: {name}[{i}] has the fields {sorted(item)}, not {sorted(fields)}")
    return state


def load_state(db: Database, state: dict[str, list[dict[str, Any]]]) -> None:
    """Record ``state`` in an empty zone state database as imports and exports would have. What
    the state does not say (times, names, plans) is left empty: the state rules never read it."""
    with db.transaction() as tx:
        for r in sorted(state["releases"], key=lambda r: r["sequence"]):
            key = sequences.release_key(r["source"], r["space"], r["slug"])
            sequences.record_incoming(tx, key, r["sequence"], r["digest"], bundle_id="", source_zone_id=r["source"],
                                      project_slug=r["slug"], release="", now=0, plan="{}")
        for r in sorted(state["receipts"], key=lambda r: r["sequence"]):  # the mark ends at the highest
            sequences.record_incoming(tx, sequences.receipt_key(r["source"]), r["sequence"], r["digest"], bundle_id="",
                                      source_zone_id=r["source"], project_slug="", release="", now=0, plan="{}")
            for deployment_id in r["deployments"]:
                remote.record_remote(tx, r["source"], "", {
                    "deployment_id": deployment_id, "release_bundle": {"bundle_id": ""}, "project": {"slug": ""},
                    "release": "", "environment": "", "state": "", "started_ms": 0, "ended_ms": 0}, 0)
            for refusal_id in r["refusals"]:
                refusals.record_remote(tx, r["source"], "", {"refusal_id": refusal_id, "release_bundle": {
                    "bundle_id": ""}, "code": "", "refused_ms": 0}, 0)
        for e in state["exports"]:
            exports.record_export(tx, exports.ExportRecord(
                e["bundle_id"], e["digest"], e["destination"], "", e["sequence"], "", e["slug"], e["space"],
                e["release"], "", 0, 0, 0, ""))


def import_into_state(result: VerifiedBundle, state_file: Path, v: Verifier | None = None) -> bool:
    """Decide, as an import into a zone with the prior state of ``state_file`` would, whether the
    state rules (spec §6.6) accept the verified bundle: True when the zone accepted this very
    bundle (a no-op: nothing else is checked), False when the import goes on, or a refusal:
    ``rollback``, ``sequence_reused``, ``unknown_bundle``, ``receipt_mismatch``, ``replay`` (and
    ``untrusted_relay``: a receipt entry's relay hop of a zone the verifier ``v`` does not trust,
    spec/relay.md §7.1; without ``v`` it trusts none). Nothing is kept: the zone lives in a temporary folder."""
    state = read_state(state_file)
    with tempfile.TemporaryDirectory() as tmp:
        db = open_state(Path(tmp), create=True)
        try:
            load_state(db, state)
            where = str(result.path)
            if result.manifest.kind == "release":
                return check_release_state(db, result, where)
            trust = {"sources": v.sources, "revoked": v.revoked} if v is not None else {}
            return decide_receipt(db, result, where, **trust).noop
        finally:
            db.close()


def open_all(m: Manifest, folder: Path, relay: RelayPath | None = None) -> None:
    """Open every sealed value of a verified manifest with the verifying zone's sealing key
    (spec §8): a release's sensitive variables, bound to the bundle id (a relayed release: the last
    hop's copies, bound to ``"relay:" bundle id``, spec/relay.md §5), and a receipt's sensitive
    outputs, bound to their deployment; each must open to UTF-8 text. Raises ``malformed`` or
    ``invalid_seal``."""
    keys = json.loads((folder / "keys.json").read_text("utf-8"))
    key = X25519PrivateKey.from_private_bytes(unb64(keys["verifier"]["sealing_private"], "sealing key", 32))
    copies = {c.variable: c.sealed for c in relay.last.sealed} if relay is not None else {}
    for i, v in enumerate(m.variables):
        if v.sensitive:
            label = seal_label("variable", v.name, scope_to_dict(v.scope))
            if relay is not None:
                text, ad = copies[i], relay_seal_ad(m.bundle_id, relay.last.to["key_id"], label)
            else:
                text, ad = v.sealed or "", seal_ad(m.bundle_id, m.destination.key_id, label)
            open_text(key, text, ad, f"variable {v.name!r}", f"variables[{i}].sealed")
    for entry in m.receipts:
        for run in entry["runs"]:
            for o in run.get("outputs", ()):
                if o["sensitive"]:
                    # key_id(R) is the opening zone's own key, never the manifest's (spec §8)
                    ad = output_seal_ad(entry["deployment_id"], keys["verifier"]["sealing_key_id"], run["step"],
                                        run.get("target"), o["name"])
                    open_text(key, o["sealed"], ad, f"output {o['name']!r}", f"output {o['name']}")


def main(argv: list[str]) -> int:
    """Print the answer for each vector named, one line each, in order (the batch form of the
    contract: one start-up for many vectors); exits non-zero on anything that is not an answer."""
    if not argv:
        print("usage: vector_runner.py VECTOR.bundle|VECTOR.card [VECTOR...]", file=sys.stderr)
        return 2
    for path in argv:
        print(run(Path(path)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
