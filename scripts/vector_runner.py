"""bundlekit's runner for the conformance kit (fixtures/vectors/README.md, "Runner contract").

    python scripts/vector_runner.py fixtures/vectors/valid-release.bundle
    ok
    python scripts/vector_runner.py fixtures/vectors/expired.bundle
    refuse expired

Verifies one vector as the zone `vector-dst` of the vector folder's keys.json would, at its
reference time, trusting its card: the bundle, then (for a vector with a `base:` line) every
delta package rebuilt from the named base. Prints `ok` or `refuse <code>` on one line and exits
0; anything that is not a refusal with a code (a crash, an input line it does not know) exits
non-zero with the reason on stderr.
It reads the vector's sidecar lines after the first, never the `expect:` line.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bundlekit.errors import BundleError  # noqa: E402
from bundlekit.format.card import parse_card  # noqa: E402
from bundlekit.format.crypto import key_id, open_text, seal_ad, seal_label, unb64  # noqa: E402
from bundlekit.format.keyfile import parse_rotation  # noqa: E402
from bundlekit.format.manifest import Manifest, scope_to_dict  # noqa: E402
from bundlekit.receipt.build import output_seal_ad  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey  # noqa: E402
from bundlekit.importer.rebuild import rebuild_all  # noqa: E402
from bundlekit.importer.verify import Verifier, check_bundle  # noqa: E402
from bundlekit.trust.policy import SourcePolicy, TrustedSource  # noqa: E402
from bundlekit.zone.store import PackageStore  # noqa: E402


#: The sidecar lines this runner understands (fixtures/vectors/README.md, "The .expect file").
KNOWN_LINES = ("kind", "note", "base", "trust", "open", "check")


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
    ``signing_keys``) replaces the default threshold, adds approvers and revokes keys."""
    keys = json.loads((folder / "keys.json").read_text("utf-8"))
    card = parse_card((folder / keys["trusted"]["card"]).read_bytes(), keys["trusted"]["card"])
    extra = json.loads(trust) if trust else {}
    named = {name: unb64(text.split(":", 1)[1], name, 32) for name, text in keys.get("signing_keys", {}).items()}
    approvers = frozenset(named[n] for n in extra.get("approvers", ()))
    revoked = frozenset(key_id("ed25519", named[n]) for n in extra.get("revoked", ()))
    source = TrustedSource(card.zone_id, card.name, frozenset({card.signing_key}), approvers,
                           SourcePolicy(threshold=extra.get("threshold", keys["trusted"]["threshold"])))
    me = keys["verifier"]
    return Verifier(me["zone_id"], me["name"], me["sealing_key_id"], (source,), revoked, keys["reference_time"])


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
        result = check_bundle(verifier(vector.parent, lines.get("trust")), vector)
        if base is not None:
            data = (vector.parent / base).read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            with tempfile.TemporaryDirectory() as tmp:
                store = PackageStore(Path(tmp))
                held = store.path(sha)
                held.parent.mkdir(parents=True, exist_ok=True)
                held.write_bytes(data)
                # The verifying zone received the base from the vectors' source: it may use it.
                rebuild_all(vector, result.digest, result.manifest, store, None, usable=frozenset({sha}))
        if lines.get("open") == "sealed":
            open_all(result.manifest, vector.parent)
        if lines.get("check") == "rotations":
            for i, statement in enumerate(result.manifest.rotations):
                parse_rotation(statement, f"rotations[{i}]")
    except BundleError as err:
        return f"refuse {err.code}"
    return "ok"


def open_all(m: Manifest, folder: Path) -> None:
    """Open every sealed value of a verified manifest with the verifying zone's sealing key
    (spec §8): a release's sensitive variables, bound to the bundle id, and a receipt's sensitive
    outputs, bound to their deployment; each must open to UTF-8 text. Raises ``malformed`` or
    ``invalid_seal``."""
    keys = json.loads((folder / "keys.json").read_text("utf-8"))
    key = X25519PrivateKey.from_private_bytes(unb64(keys["verifier"]["sealing_private"], "sealing key", 32))
    for i, v in enumerate(m.variables):
        if v.sensitive:
            ad = seal_ad(m.bundle_id, m.destination.key_id, seal_label("variable", v.name, scope_to_dict(v.scope)))
            open_text(key, v.sealed or "", ad, f"variable {v.name!r}", f"variables[{i}].sealed")
    for entry in m.receipts:
        for run in entry["runs"]:
            for o in run.get("outputs", ()):
                if o["sensitive"]:
                    ad = output_seal_ad(entry["deployment_id"], m.destination.key_id, run["step"], run.get("target"),
                                        o["name"])
                    open_text(key, o["sealed"], ad, f"output {o['name']!r}", f"output {o['name']}")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: vector_runner.py VECTOR.bundle|VECTOR.card", file=sys.stderr)
        return 2
    print(run(Path(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
