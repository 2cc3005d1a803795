"""What one write transaction changed, row by row, for its audit entry (``zone/audit.py``).

While a zone's write transaction is open, every changing statement goes through
:meth:`Capture.statement`: it is run with ``RETURNING *`` (SQLite 3.35+, PostgreSQL), so the
rows it inserted or updated (its *after* image) and the rows it deleted (*before*) come back
from the statement itself; the rows an ``UPDATE`` or an upsert is about to change are read
first with the statement's own ``WHERE`` clause or conflict key (the *before* image). Each
statement's images are folded at once into two keyed digests (:meth:`Capture.digests`), so
memory holds one statement's rows at a time. Nothing here writes but the statement it was given.

What is not captured, and why it is acceptable: rows a foreign key's ``ON DELETE CASCADE``
removes (the entry still counts the row that caused it), and the before image of a statement
whose shape the parser below does not know (marked unknown in the digest, never guessed).
The claims table is the backends' bookkeeping, not the zone's state, and is not audited.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any, Sequence

from bundlekit.zone.db import Database, Params, Row

__all__ = ["Capture", "UNAUDITED"]

#: Tables whose changes are no audit entry: the backends' claims, and the audit trail itself.
UNAUDITED = frozenset({"bundlekit_claims", "audit_entries", "audit_deployments"})

_FLAGS = re.S | re.I
_WRITE = re.compile(r"\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(\w+)", _FLAGS)
#: An UPDATE whose SET and WHERE hold no sub-select: the WHERE can be reused to read the rows first.
_UPDATE = re.compile(r"\s*UPDATE\s+(\w+)\s+SET\s+((?:(?!\bWHERE\b|\bSELECT\b).)*?)\s+WHERE\s+"
                     r"((?:(?!\bSELECT\b|\bRETURNING\b).)*?)\s*\Z", _FLAGS)
_UPSERT = re.compile(r"\s*INSERT\s+INTO\s+(\w+)\s*\(([^()]*)\)\s*VALUES\s*\(([^()]*)\)\s*"
                     r"ON\s+CONFLICT\s*\(([^()]*)\)", _FLAGS)
_INSERT = re.compile(r"\s*INSERT\s+INTO\s+\w+", _FLAGS)
_DELETE = re.compile(r"\s*DELETE\s+FROM", _FLAGS)
_NAME = re.compile(r"\w+")


def _value(v: Any) -> list[Any]:
    """A column value as a tagged JSON value: the digest tells ``b'1'`` from ``'1'`` from ``1``."""
    if v is None:
        return ["n"]
    if isinstance(v, (bytes, bytearray, memoryview)):
        return ["b", bytes(v).hex()]
    if isinstance(v, bool):
        return ["i", int(v)]
    if isinstance(v, int):
        return ["i", v]
    if isinstance(v, float):
        return ["f", repr(v)]
    return ["s", str(v)]


def _image(rows: Sequence[Row]) -> list[str]:
    """Rows as sorted canonical text (column order and row order do not matter)."""
    return sorted(json.dumps([[k, _value(r[k])] for k in sorted(r)], separators=(",", ":")) for r in rows)


class Capture:
    """The changes of one open write transaction. ``key`` keys the digests (``zone/audit.py``);
    each statement's images are folded into the two digests as it runs, so memory holds one
    statement's rows at a time."""

    def __init__(self, key: bytes) -> None:
        #: Rows changed per table.
        self.changes: dict[str, int] = {}
        #: The ids of the deployments whose rows changed (their receipts may carry the entry).
        self.deployments: set[str] = set()
        self._before = hmac.new(key, b"bundlekit/1 audit before", hashlib.sha256)
        self._after = hmac.new(key, b"bundlekit/1 audit after", hashlib.sha256)

    def statement(self, db: Database, sql: str, params: Params) -> int:
        """Run one statement of the transaction on ``db``; returns the rows it changed."""
        found = _WRITE.match(sql)
        if found is None or found.group(1).lower() in UNAUDITED:
            return db._run(sql, params)
        table = found.group(1).lower()
        before = self._rows_before(db, sql, params)
        returned = db.all(f"{sql.rstrip().rstrip(';')} RETURNING *", params)
        if not returned:
            return 0
        self.changes[table] = self.changes.get(table, 0) + len(returned)
        if table == "deployments":
            self.deployments.update(str(r["id"]) for r in returned if r.get("id") is not None)
        if _DELETE.match(sql):
            before, after = returned, []
        else:
            after = returned
        self._fold(self._before, table, None if before is None else _image(before))
        self._fold(self._after, table, _image(after))
        return len(returned)

    @staticmethod
    def _fold(mac: "hmac.HMAC", table: str, image: list[str] | None) -> None:
        """Add one statement's image to a digest: length-prefixed, so no two sequences of images
        fold to the same bytes."""
        text = json.dumps([table, image], separators=(",", ":"), ensure_ascii=True).encode("ascii")
        mac.update(len(text).to_bytes(8, "big") + text)

    def _rows_before(self, db: Database, sql: str, params: Params) -> list[Row] | None:
        """The rows the statement is about to change, read with its own condition; [] for a plain
        insert (nothing was there), None when its shape gives no safe way to read them."""
        update = _UPDATE.match(sql)
        if update is not None:
            table, assignments, where = update.groups()
            n = assignments.count("?")
            if n + where.count("?") != len(params):
                return None
            return db.all(f"SELECT * FROM {table} WHERE {where}", list(params)[n:])
        upsert = _UPSERT.match(sql)
        if upsert is not None:
            table, columns, values, conflict = upsert.groups()
            names = _NAME.findall(columns)
            slots = [v.strip() for v in values.split(",")]
            keys = _NAME.findall(conflict)
            if len(slots) != len(names) or any(s != "?" for s in slots) or len(params) < len(names) \
                    or not set(keys) <= set(names):
                return None
            given = dict(zip(names, params))
            where = " AND ".join(f"{k} = ?" for k in keys)
            return db.all(f"SELECT * FROM {table} WHERE {where}", [given[k] for k in keys])
        if _INSERT.match(sql) and " ON CONFLICT" not in sql.upper():
            return []
        return None

    def digests(self) -> tuple[str | None, str | None]:
        """The keyed digests (hex) of the rows as they were and as they are; (None, None) when
        nothing changed."""
        if not self.changes:
            return None, None
        return self._before.hexdigest(), self._after.hexdigest()
