"""Report a refused import back to the bundle's source: the refusal entry (decision 153).

When ``import`` refuses a release bundle, the zone that sent it would otherwise never learn
of it: its dashboard would say "awaiting receipt" forever. So a refusal is queued in the
outbox, like a deployment's receipt entry, and travels back in the next receipt bundle
(signed by this zone): the source's dashboard then shows "refused in prod: rollback".

Only a bundle that is *authentic* gets one: its signatures verify, its source is trusted and
it is addressed to this zone (steps 1-17 of spec §6.2), so nobody can make this zone write to
its outbox with a bundle it could not have received from a trusted source. Refusals of the
bundle itself count (families verification, trust and format: expired, rollback, policy,
damaged blobs, ...); conflicts with local changes do not (they are this zone's to resolve with
``--on-conflict`` or ``--replace``), nor do a dry run's. The entry names the bundle, the
project and release, the code and the message (the local path of the bundle replaced by its
file name), and for a relayed release the hops that brought it here, which show the source that
it reached this zone (``release_bundle.relay_hops``, decision 906). Refusing the same bundle again for the same reason queues nothing new.

A relayed bundle is authentic when its hops also pass (spec/relay.md §4): a bundle that skipped a
relay the source's policy requires (``relay_required``), or came through an untrusted relay
(``untrusted_relay``), is not, and its refusal changes nothing at all (decision 621).

This is the documented exception to "a refusal leaves the home as it was" for imports
(``spec/errors.md``): exactly one row in the state database changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bundlekit.core.clock import EpochSeconds
from bundlekit.errors import BundleError
from bundlekit.format.crypto import b64
from bundlekit.importer.verify import authenticate, verifier_for
from bundlekit.zone.home import Zone
from bundlekit.zone.refusals import queue_refusal

__all__ = ["record_refusal", "REPORTED_FAMILIES", "UNREPORTED", "MESSAGE_LIMIT"]

#: The families of refusals reported to the source (conflicts are this zone's to resolve).
REPORTED_FAMILIES = frozenset({"verification", "trust", "format"})
#: Codes of those families never reported: where this zone imports a bundle is its own affair,
#: and a bundle naming a space its trust rule does not name changes nothing at all (decision 660).
UNREPORTED = frozenset({"space_denied"})
MESSAGE_LIMIT = 2000


def record_refusal(zone: Zone, path: Path, err: BundleError, *, now: EpochSeconds) -> str | None:
    """Queue a refusal entry for the source of the bundle at ``path``, refused with ``err``.

    Returns the refusal id, or None when nothing was queued (not an authentic release bundle
    addressed here, a family not reported, or the same refusal already queued). Never raises
    a ``BundleError`` of its own: the caller re-raises ``err``.
    """
    if err.family not in REPORTED_FAMILIES or err.code in UNREPORTED:
        return None
    try:
        auth = authenticate(verifier_for(zone, now), path)
    except BundleError:
        return None
    m = auth.manifest
    if m.kind != "release":
        return None
    message = err.message.replace(str(path), path.name)
    if len(message) > MESSAGE_LIMIT:
        message = message[:MESSAGE_LIMIT] + " ... (truncated)"

    def entry(refusal_id: str) -> dict[str, Any]:
        return {"refusal_id": refusal_id,
                "release_bundle": {"bundle_id": m.bundle_id, "digest": auth.digest, "sequence": m.sequence,
                                   **({"relay_hops": b64(auth.relay.raw)} if auth.relay is not None else {})},
                "project": {"name": m.project["name"], "slug": m.project["slug"], "space": m.project["space"]},
                "release": m.release["version"], "code": err.code, "message": message,
                "refused_ms": now * 1000}

    with zone.db.transaction() as tx:
        return queue_refusal(tx, auth.source.zone_id, auth.digest, err.code, entry, now)
