"""The egress policy in a zone's state: which rules decide what its receipts carry.

One row of ``meta`` (key ``egress_policy``) holds the policy as JSON (``EgressPolicy.to_dict``),
so every node of a zone sharing a PostgreSQL state applies the same one. No row: the defaults
(``bundlekit.trust.egress``; ``spec/egress.md``).
"""

from __future__ import annotations

import json

from bundlekit.core.hints import home_flag
from bundlekit.core.clock import EpochSeconds
from bundlekit.errors import StateError
from bundlekit.trust.egress import EgressPolicy, parse_policy
from bundlekit.zone.db import Database, Reader

__all__ = ["get_policy", "set_policy", "policy_set_at"]

_KEY = "egress_policy"
_AT = "egress_policy_set"


def get_policy(db: Reader) -> EgressPolicy:
    """The zone's egress policy (the defaults when none was set). Raises ``StateError``
    ``state_damaged`` when the stored one no longer reads as a policy."""
    row = db.one("SELECT value FROM meta WHERE key = ?", (_KEY,))
    if row is None:
        return EgressPolicy()
    try:
        return parse_policy(json.loads(row["value"]), "the egress policy in the zone's state")
    except (ValueError, TypeError) as err:
        raise StateError(f"the egress policy stored in the zone's state is damaged ({err}); set it again with "
                         f"`bundlekit egress set FILE{home_flag()}`", code="state_damaged") from None


def policy_set_at(db: Reader) -> EpochSeconds | None:
    """When the policy was last set (Unix seconds), or None: never (the defaults apply)."""
    row = db.one("SELECT value FROM meta WHERE key = ?", (_AT,))
    return None if row is None else int(row["value"])


def set_policy(db: Database, policy: EgressPolicy, now: EpochSeconds) -> None:
    """Record ``policy`` (already checked) as the zone's egress policy, in one transaction."""
    with db.transaction() as tx:
        for key, value in ((_KEY, json.dumps(policy.to_dict(), sort_keys=True)), (_AT, str(int(now)))):
            tx.run("DELETE FROM meta WHERE key = ?", (key,))
            tx.run("INSERT INTO meta(key, value) VALUES (?, ?)", (key, value))
