"""What one write transaction changed, row by row, for its audit entry (``zone/audit.py``).

While a zone's write transaction is open, every changing statement goes through
:meth:`Capture.statement`: it is run with ``RETURNING *`` (SQLite 3.35+, PostgreSQL), so the
rows it inserted or updated (its *after* image) and the rows it deleted (*before*) come back
from the statement itself; the rows an ``UPDATE`` or an upsert is about to change are read
first with the statement's own ``WHERE`` clause or conflict key (the *before* image). The
images stay in memory until the transaction ends, when :meth:`Capture.digests` turns them into
two keyed digests. Nothing here writes anything but the statement it was given.

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
from dataclasses import dataclass, field
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


@dataclass
class Capture:
    """The changes of one open write transaction. ``key`` keys the digests (``zone/audit.py``)."""

    key: bytes
    changes: dict[str, int] = field(default_factory=dict)
    #: The ids of the deployments whose rows changed (their receipts may carry the entry).
    deployments: set[str] = field(default_factory=set)
    _before: list[Any] = field(default_factory=list)
    _after: list[Any] = field(default_factory=list)

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
            self._before.append([table, _image(returned)])
            self._after.append([table, []])
        else:
            self._before.append([table, None if before is None else _image(before)])
            self._after.append([table, _image(returned)])
        return len(returned)

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
        return self._digest("before", self._before), self._digest("after", self._after)

    def _digest(self, which: str, images: list[Any]) -> str:
        text = json.dumps([which, images], separators=(",", ":"), ensure_ascii=True)
        return hmac.new(self.key, text.encode("ascii"), hashlib.sha256).hexdigest()
