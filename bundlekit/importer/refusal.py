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

A refusal of the way a bundle came (``relay_required``, ``untrusted_relay``) or of the space it
would enter (``space_denied``) is reported too when its origin is authentic (its source's
signatures verify; the relays aside), so the source learns "refused in prod: relay_required"
instead of waiting (decision 968, which replaces 621's and 660's silence). A ``space_denied``
that only the ``--space`` typed here caused (the bundle enters the space its source's trust rule
names) is this zone's own affair and is not reported.

This is the documented exception to "a refusal leaves the home as it was" for imports
(``spec/errors.md``): exactly one row in the state database changes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bundlekit.core.clock import EpochSeconds
from bundlekit.core.hints import home_flag, without_home
from bundlekit.core.text import shell_word
from bundlekit.errors import BundleError
from bundlekit.format.crypto import b64
from bundlekit.importer.state_rules import check_space
from bundlekit.importer.verify import (AuthenticBundle, VerifiedBundle, authenticate, authenticate_origin,
                                       verifier_for)
from bundlekit.zone.home import Zone
from bundlekit.zone.refusals import queue_refusal

__all__ = ["record_refusal", "REPORTED_FAMILIES", "PATH_CODES", "MESSAGE_LIMIT"]

#: The families of refusals reported to the source (conflicts are this zone's to resolve).
REPORTED_FAMILIES = frozenset({"verification", "trust", "format"})
#: Refusals of the way a relayed release came: reported when its origin alone is authentic.
PATH_CODES = frozenset({"relay_required", "untrusted_relay"})
MESSAGE_LIMIT = 2000
_NOTHING = re.compile("([Nn])othing was changed")


def record_refusal(zone: Zone, path: Path, err: BundleError, *, now: EpochSeconds) -> str | None:
    """Queue a refusal entry for the source of the bundle at ``path``, refused with ``err``.

    Returns the refusal id, or None when nothing was queued (not an authentic release bundle
    addressed here, for ``PATH_CODES`` one whose origin is not authentic, a family not reported,
    a ``space_denied`` of the ``--space`` typed only, or the same refusal already queued). Never
    raises a ``BundleError`` of its own: the caller re-raises ``err``, whose message then says,
    when an entry was queued, that the refusal was (:func:`_say_reported`).
    """
    if err.family not in REPORTED_FAMILIES:
        return None
    v = verifier_for(zone, now)
    try:
        if err.code in PATH_CODES:
            auth, hops = authenticate_origin(v, path)
        else:
            auth = authenticate(v, path)
            hops = auth.relay.raw if auth.relay is not None else None
    except BundleError:
        return None
    m = auth.manifest
    if m.kind != "release":
        return None
    if err.code == "space_denied" and _enters_its_sources_space(zone, path, auth):
        return None
    # the source reads it: this zone's paths (the bundle's, the --home a hint carries) are not its own
    message = without_home(err.message).replace(str(path), path.name)
    if len(message) > MESSAGE_LIMIT:
        message = message[:MESSAGE_LIMIT] + " ... (truncated)"

    def entry(refusal_id: str) -> dict[str, Any]:
        return {"refusal_id": refusal_id,
                "release_bundle": {"bundle_id": m.bundle_id, "digest": auth.digest, "sequence": m.sequence,
                                   **({"relay_hops": b64(hops)} if hops is not None else {})},
                "project": {"name": m.project["name"], "slug": m.project["slug"], "space": m.project["space"]},
                "release": m.release["version"], "code": err.code, "message": message,
                "refused_ms": now * 1000}

    with zone.db.transaction() as tx:
        refusal_id = queue_refusal(tx, auth.source.zone_id, auth.digest, err.code, entry, now)
    if refusal_id is not None:
        _say_reported(err, auth.source.name, refusal_id)
    return refusal_id


def _say_reported(err: BundleError, source: str, refusal_id: str) -> None:
    """Say in ``err`` that its refusal was queued for ``source``: the one row this writes is the
    documented exception to "nothing was changed", so the message says "the release was not
    imported" instead and names the entry, and ``--json`` gives its id (``details.refusal_queued``,
    when the details are an object or absent)."""
    said, found = _NOTHING.subn(lambda m: f"{'T' if m.group(1) == 'N' else 't'}he release was not imported",
                                err.message, count=1)
    if not found:
        said += ". The release was not imported"
    err.reword(f"{said.rstrip('. ')}. This zone queued the refusal as {refusal_id} for zone {source}: it leaves "
               f"with the next receipt (`bundlekit outbox pack --to {shell_word(source)} -o FILE{home_flag()}`)")
    if err.details is None:
        err.details = {"refusal_queued": refusal_id}
    elif isinstance(err.details, dict):
        err.details = {**err.details, "refusal_queued": refusal_id}


def _enters_its_sources_space(zone: Zone, path: Path, auth: AuthenticBundle) -> bool:
    """Whether the authentic release ``auth`` passes the space check in the space its source is
    trusted in: then its ``space_denied`` came from the ``--space`` typed here, not from the bundle."""
    verified = VerifiedBundle(path, auth.digest, auth.manifest, auth.source, (), 0, relay=auth.relay)
    try:
        check_space(zone.db, verified, auth.source.space, str(path))
    except BundleError:
        return False
    return True
