"""The zone's audit trail: who changed what, chained and signed, in the same transaction as the change.

Every write transaction on a zone's state (``Zone.db``) is watched (``zone/db.py``
:class:`~bundlekit.zone.db.Watcher`): when it changed any row, one entry is appended to the
table ``audit_entries`` just before it commits, so a change never commits without its entry and
an entry never without its change. The entry says when (ms, UTC), the operating system
account and host, the command and the object it named (set by the command line for the
duration of a command, :func:`acting`), the rows changed per table, keyed digests of those
rows before and after (``zone/audit_capture.py``), the result, and it is chained to the entry
before and signed with the zone's signing key (``format/audit.py``, ``spec/audit.md``). The
last entry's seq and hash are kept in ``meta`` (``audit_head``), in the same transaction.

A command refused after it had changed the state (the documented exceptions of
``spec/errors.md``) ends with one more entry, ``result: refused`` and the code, in a
transaction of its own (:meth:`Acting.refused`); a refusal that changed nothing writes nothing
(decision 590). That entry belongs to the deployments the command's earlier entries changed, so
their receipts carry it with them (decision 790). A command that records its refusal before its
last change (``deploy --receipt-out``: :func:`refused_now`, then the receipt) marks the entries
of those later changes ``refused`` with the same code (decision 885).
"""

from __future__ import annotations

import json
import re
import socket
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bundlekit.core import clock
from bundlekit.core.operator import operator_name
from bundlekit.errors import BundleError
from bundlekit.errors import StateError, VerificationError
from bundlekit.format.audit import (GENESIS, ChainHead, Entry, StoredEntry, check_chain, check_head, check_witness,
                                    decode_body, encode_entry, entry_hash, sign_head)
from bundlekit.format.crypto import key_id, raw_private, raw_public
from bundlekit.format.keyfile import parse_rotation
from bundlekit.zone import owned_keys
from bundlekit.zone.audit_capture import Capture
from bundlekit.zone.db import Database, Params, Reader, Watch, Watcher, Writer
from bundlekit.zone.keyfiles import RESTORE, read_public

if TYPE_CHECKING:
    from bundlekit.zone.home import Zone

__all__ = ["Auditor", "Acting", "acting", "refused_now", "naming", "begin_trail", "note", "NOTE", "entries", "for_deployment", "verify", "head", "signing_keys",
           "unsigned_head", "sign_unsigned_head", "TABLE", "LIBRARY"]

TABLE = "audit_entries"
#: The ``command`` of an entry written by code that did not go through the command line.
LIBRARY = "(not a bundlekit command)"
_HEAD = "audit_head"
#: The head's signature by the zone (``KEY_ID:base64``), written with it (decision 675).
_HEAD_SIG = "audit_head_sig"
_HEX = re.compile(r"[0-9a-f]{64}")
_SINCE = "audit_since"
_DIGEST_INFO = b"bundlekit/1 audit digest"


@dataclass
class Acting:
    """The command being run and the object it named (its arguments, never a value); the
    auditors that recorded entries for it, so a refusal can be recorded after them; and, per
    zone home, the deployments whose rows its entries changed, so its refusal entry belongs to
    them too (decision 790)."""

    command: str
    object: dict[str, Any]
    recorded: list["Auditor"] = field(default_factory=list)
    deployments: dict[str, set[str]] = field(default_factory=dict)
    #: The code its refusal entry recorded already (:func:`refused_now`), so it is written once.
    closed: str | None = None

    def refused(self, code: str, *, leaving: bool = True) -> None:
        """Record that the command was refused with ``code`` in every zone it had changed
        (nothing for one it did not change), once: a refusal recorded before (:func:`refused_now`)
        is not recorded again. A state that cannot take the entry now is left as it is: the
        refusal is reported to the user all the same. ``leaving``: the command is over, so the
        zones are closed."""
        if self.closed is not None:
            return
        self.closed = code
        for auditor in self.recorded:
            try:
                auditor.close_refused(code, leaving=leaving)
            except BundleError:
                pass


def refused_now(code: str) -> None:
    """Record the running command's refusal (``code``) now, before it writes something that must
    carry the entry (a deployment's receipt written by ``deploy --receipt-out``, decision 790);
    the command then ends refused without a second entry, and every entry it writes after this
    one is ``refused`` with ``code`` too (decision 885). Nothing outside a command."""
    current = _ACTING.get()
    if current is not None:
        current.refused(code, leaving=False)


def worked_in(space: str, *, spelling_only: bool = False, typed: str | None = None) -> None:
    """Name ``space`` (in the zone's spelling) as the space the running command works in, for its
    entries' object: the object records ``--space`` as typed, or its default, while the space a
    command works in may be another spelling (``team2``) or come from a file (a release file's
    ``project.space``). ``spelling_only``: only respell the space the object already names (in
    any case, or exactly as ``typed``: a spelling that reads the same, decision 943). Nothing
    outside a command."""
    current = _ACTING.get()
    if current is None:
        return
    named = current.object.get("space")
    if not spelling_only or (isinstance(named, str) and (named.casefold() == space.casefold() or named == typed)):
        current.object["space"] = space


def naming(fields: Mapping[str, str | bool]) -> None:
    """Add ``fields`` (text or flags, never a value) to the object the running command's later
    entries name: what it learns only while it runs, like the installations a self-update
    switches between (``from``, ``to``). Nothing outside a command."""
    current = _ACTING.get()
    if current is not None:
        current.object.update(fields)


_ACTING: ContextVar[Acting | None] = ContextVar("bundlekit_audit_acting", default=None)


@contextmanager
def acting(command: str, obj: Mapping[str, Any]) -> Iterator[Acting]:
    """Entries written inside name ``command`` and ``obj`` (``cli/common.py`` wraps every
    command in it)."""
    current = Acting(command, dict(obj))
    token = _ACTING.set(current)
    try:
        yield current
    finally:
        _ACTING.reset(token)


def head(db: Reader) -> ChainHead:
    """The last entry the zone recorded (``meta`` ``audit_head``); seq 0 when there is none."""
    value = db.scalar("SELECT value FROM meta WHERE key = ?", (_HEAD,))
    if value is None:
        return ChainHead(0, GENESIS)
    seq, _, digest = str(value).partition(":")
    return ChainHead(int(seq) if seq.isdigit() else -1, digest)


def _link(tx: Reader) -> ChainHead:
    """What the next entry follows: the recorded head, so that entries deleted at the end stay
    visible as a gap; the last stored entry when the head is unreadable (altered by hand), so the
    zone can still change and the check still names the break."""
    last = head(tx)
    if last.seq >= 0 and _HEX.fullmatch(last.hash):
        return last
    row = tx.one(f"SELECT seq, body FROM {TABLE} ORDER BY seq DESC LIMIT 1")
    return ChainHead(0, GENESIS) if row is None else ChainHead(int(row["seq"]), entry_hash(bytes(row["body"])))


class _Open(Watch):
    """One watched transaction: its capture, and the refusal its entry records (if any)."""

    def __init__(self, auditor: "Auditor", refusal: str | None) -> None:
        self.auditor = auditor
        self.capture = Capture(auditor.digest_key)
        self.refusal = refusal

    def statement(self, db: Database, sql: str, params: Params) -> int:
        return self.capture.statement(db, sql, params)

    def end(self, tx: Writer) -> None:
        if self.capture.changes or self.refusal is not None:
            self.auditor.append(tx, self.capture, self.refusal)


class Auditor(Watcher):
    """Watches the write transactions of ``zone``'s state and appends their entries."""

    def __init__(self, zone: "Zone") -> None:
        self.zone = zone
        self._digest_key: bytes | None = None
        self._refusal: str | None = None

    @property
    def digest_key(self) -> bytes:
        """The key of the entries' row digests: derived from the zone's sealing key, so only the
        zone can test a guess about a value against a digest (decision 590)."""
        if self._digest_key is None:
            self._digest_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                                    info=_DIGEST_INFO).derive(raw_private(self.zone.sealing_key()))
        return self._digest_key

    def begin(self) -> Watch:
        # The keys are read before the write lock is taken: a passphrase prompt never holds it.
        self.digest_key
        self.zone.signing_key()
        return _Open(self, self._refusal)

    def append(self, tx: Writer, capture: Capture, refusal: str | None) -> None:
        """Append the entry of the transaction ``tx`` (which changed what ``capture`` saw)."""
        now = _ACTING.get()
        # Once the command's refusal is recorded (refused_now), what it still writes says so:
        # the trail never reads as if it had ended well (decision 885).
        outcome = refusal if refusal is not None or now is None else now.closed
        last = _link(tx)
        key = self.zone.signing_key()
        before, after = capture.digests()
        entry = Entry(seq=last.seq + 1, prev=last.hash, zone_id=self.zone.zone_id,
                      at_ms=int(round(clock.stamp() * 1000)), user=operator_name(), host=socket.gethostname(),
                      command=now.command if now is not None else LIBRARY,
                      object=now.object if now is not None else {}, changes=dict(sorted(capture.changes.items())),
                      before=before, after=after, result="ok" if outcome is None else "refused", code=outcome,
                      key=key_id("ed25519", raw_public(key)))
        body, signature = encode_entry(entry, key)
        tx.run(f"INSERT INTO {TABLE}(seq, body, signature) VALUES (?, ?, ?)", (entry.seq, body, signature))
        new_head = ChainHead(entry.seq, entry_hash(body))
        for name, value in ((_HEAD, f"{new_head.seq}:{new_head.hash}"),
                            (_HEAD_SIG, sign_head(self.zone.zone_id, new_head, key, entry.key))):
            tx.run("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                   (name, value))
        if owned_keys.recorded(tx, self.zone.zone_id) is None:
            # A zone made before it recorded its own public keys records them now, as its key files
            # hold them; but not a signing key its trail does not know (a key file swapped before).
            _known_to_trail(tx, self.zone, raw_public(key), entry.seq)
            owned_keys.record(tx, raw_public(key), raw_public(self.zone.sealing_key()))
        tx.run_many("INSERT INTO audit_deployments(deployment_id, seq) VALUES (?, ?)",
                    [(d, entry.seq) for d in sorted(_deployments_of(tx, now, str(self.zone.home), capture, refusal))])
        if now is not None and refusal is None and all(a.zone.home != self.zone.home for a in now.recorded):
            now.recorded.append(self)  # once per zone, however many times the command opened it

    def close_refused(self, code: str, *, leaving: bool = True) -> None:
        """Append the entry that says the command was refused with ``code`` (no rows changed);
        ``leaving``: the command is over, so the zone is closed."""
        self._refusal = code
        try:
            with self.zone.db.transaction():
                pass
        finally:
            self._refusal = None
            if leaving:
                self.zone.close()  # the command is over: it had closed the zone, or leaves it now


def _deployments_of(tx: Reader, current: Acting | None, home: str, capture: Capture, refusal: str | None) -> set[str]:
    """The deployments an entry belongs to (``audit_deployments``, what their receipts carry):
    those whose rows its transaction changed; for a command's closing ``refused`` entry, which
    changes no row, those its earlier entries in the same zone changed and that are still
    recorded (a transaction that rolled back recorded none), so a deployment's receipt packed
    afterwards carries how the command ended (decision 790)."""
    own = set(capture.deployments)
    if current is None:
        return own
    if refusal is None:
        current.deployments.setdefault(home, set()).update(own)
        return own
    earlier = sorted(current.deployments.get(home, set()) - own)
    return own | {d for d in earlier if tx.scalar("SELECT 1 FROM deployments WHERE id = ?", (d,)) is not None}


def _known_to_trail(tx: Reader, zone: "Zone", public: bytes, new_seq: int) -> None:
    """Refuse (``invalid_zone_key``) to record ``public`` as the zone's signing key when the
    trail's last entry before ``new_seq`` was signed by a key not linked to it by the zone's
    rotations (the transaction, and the entry it appends, roll back)."""
    row = tx.one(f"SELECT seq, body FROM {TABLE} WHERE seq < ? ORDER BY seq DESC LIMIT 1", (new_seq,))
    if row is None:
        return
    try:
        signer = decode_body(bytes(row["body"]), int(row["seq"])).key
    except VerificationError:
        return  # a damaged entry: `audit --verify` names it
    if signer not in owned_keys.linked(tx, zone.zone_id, public):
        path = zone.home / "keys" / "signing.key"
        raise StateError(f"{path}: holds signing key {key_id('ed25519', public)}, but zone {zone.name}'s audit trail "
                         f"was signed by key {signer}, which it is not linked to: it is another zone's key or was "
                         f"replaced. Nothing was changed. {RESTORE}", code="invalid_zone_key",
                         details={"file": str(path)})


def begin_trail(zone: "Zone") -> None:
    """Record when the zone's trail began (``meta`` ``audit_since``, ms): the change that is the
    trail's first entry, written as the zone is created (``init``). A zone made by an older
    bundlekit has no such row; its trail begins with its first change after the upgrade."""
    with zone.db.transaction() as tx:
        tx.run("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING",
               (_SINCE, str(int(round(clock.stamp() * 1000)))))
        owned_keys.record(tx, raw_public(zone.signing_key()), raw_public(zone.sealing_key()))


#: The ``meta`` rows through which changes made outside the state get their entry (:func:`note`).
NOTE = "audit_note/"


def note(zone: "Zone", name: str, facts: Mapping[str, Any]) -> None:
    """Give a change a command made outside the state (the key files, a backup taken, a restore)
    its audit entry: the row ``meta`` ``audit_note/NAME`` is set to ``facts`` (JSON, with the time
    in ms, so each note is a change), in a transaction of its own, which appends the entry naming
    the command (decision 676). The zone's keys are read first, as for any change."""
    value = json.dumps({**facts, "at_ms": int(round(clock.stamp() * 1000)), "host": socket.gethostname()},
                       sort_keys=True)
    with zone.db.transaction() as tx:
        tx.run("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
               (NOTE + name, value))


def _stored(value: Any) -> bytes:
    """A body or signature column as the bytes it holds. A value stored as something else (text
    or a number, as a hand edit with a database shell leaves it) becomes its text's bytes, which
    no signature covers: :func:`verify` then names the entry as altered (exit 3), where reading it
    would have failed with a traceback (review v31-12 P1)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return str(value).encode("utf-8", "surrogateescape")


def _entry(r: Mapping[str, Any]) -> StoredEntry:
    return StoredEntry(int(r["seq"]), _stored(r["body"]), _stored(r["signature"]))


def entries(db: Reader) -> list[StoredEntry]:
    """The stored entries in the order of their rows' seq, unchecked (:func:`verify` checks them).

    A row the database cannot hand back (text that is not UTF-8, written behind bundlekit's
    back) is read as an empty body and signature, which :func:`verify` reports as altered at
    its seq: the rows are then read one at a time to find it."""
    try:
        return [_entry(r) for r in db.rows(f"SELECT seq, body, signature FROM {TABLE} ORDER BY seq")]
    except StateError as error:
        if error.code != "state_query_failed":
            raise
    out = []
    for seq in [int(r["seq"]) for r in db.all(f"SELECT seq FROM {TABLE} ORDER BY seq")]:
        try:
            out.extend(_entry(r) for r in db.all(f"SELECT seq, body, signature FROM {TABLE} WHERE seq = ?", (seq,)))
        except StateError as error:
            if error.code != "state_query_failed":
                raise
            out.append(StoredEntry(seq, b"", b""))
    return out


def for_deployment(db: Reader, deployment_id: str) -> list[StoredEntry]:
    """The stored entries of the transactions that changed deployment ``deployment_id``'s row, in
    seq order (what a receipt reporting it may carry, decision 591); unchecked."""
    return [_entry(r)
            for r in db.all(f"SELECT e.seq, e.body, e.signature FROM {TABLE} e JOIN audit_deployments d "
                            "ON d.seq = e.seq WHERE d.deployment_id = ? ORDER BY e.seq", (deployment_id,))]


def signing_keys(zone: "Zone", db: Reader) -> dict[str, bytes]:
    """Every signing key the zone has had, by key id, from public keys only (no passphrase): the
    keys its state records as its own and those its rotation statements link to them
    (``zone/owned_keys.py``); for a zone that has no record yet, the public key of this node's
    signing key file and, walking its rotation statements back, each key it replaced."""
    owned = owned_keys.recorded(db, zone.zone_id)
    if owned is not None:
        return owned.signing
    current = read_public(zone.home / "keys" / "signing.key", "ed25519")
    keys = {key_id("ed25519", current): current}
    replaced: dict[str, bytes] = {}  # new key id -> the key it replaced, from each verified statement
    for row in db.all("SELECT statement FROM rotations ORDER BY issued"):
        st = parse_rotation(json.loads(row["statement"]), "rotation statement")
        if st.zone_id == zone.zone_id:
            replaced[key_id("ed25519", st.new_key)] = st.old_key
    kid = key_id("ed25519", current)
    while kid in replaced and key_id("ed25519", replaced[kid]) not in keys:
        old = replaced[kid]
        kid = key_id("ed25519", old)
        keys[kid] = old
    return keys


def _file_problems(zone: "Zone", db: Reader) -> list[str]:
    """What is wrong with the zone's key files (not its own, missing, damaged), from public parts only."""
    owned = owned_keys.recorded(db, zone.zone_id)
    if owned is None:
        return []
    try:
        return [message for _, message in owned_keys.file_problems(zone.home, owned, zone.name)]
    except StateError as error:
        return [error.message]


def verify(zone: "Zone", witness: ChainHead | None = None) -> list[Entry]:
    """Check the zone's whole audit trail with its public keys only (no passphrase) in one
    snapshot: every entry (``format/audit.py`` :func:`check_chain`), the recorded head and its
    signature by the zone (:func:`check_head`), a trail that began at init but holds nothing,
    and that it holds ``witness`` (a head noted earlier, :func:`check_witness`); returns its
    entries. Raises ``VerificationError`` ``invalid_audit_chain`` naming the first bad entry, or
    ``StateError`` ``invalid_zone_key`` when a key file of the home is not the zone's (the trail's
    own result is in the message: a swapped key file is not a changed trail)."""
    with zone.db.read() as r:
        keys = signing_keys(zone, r)
        stored = entries(r)
        last = head(r)
        signature = r.scalar("SELECT value FROM meta WHERE key = ?", (_HEAD_SIG,))
        began = r.scalar("SELECT value FROM meta WHERE key = ?", (_SINCE,)) is not None
        problems = _file_problems(zone, r)
    try:
        checked = check_chain(stored, zone.zone_id, keys, last)
        if began and not stored:
            raise VerificationError("the audit trail began when the zone was created (meta audit_since) but holds no "
                                    "entry: the whole trail was deleted. Keep the state as it is as evidence and "
                                    "compare it with a backup of the home", code="invalid_audit_chain",
                                    details={"seq": 1, "reason": "empty"})
        if stored or last.seq:
            check_head(zone.zone_id, last, None if signature is None else str(signature), keys)
        if witness is not None:
            check_witness(stored, witness)
    except VerificationError as error:
        if problems:
            raise StateError(f"{problems[0]} (Checked with the zone's recorded public keys, the audit trail fails "
                             f"too: {error.message})", code="invalid_zone_key",
                             details={"trail": error.details}) from None
        raise
    if problems:
        raise StateError(f"{problems[0]} (The audit trail itself is intact: {len(checked)} entries checked with "
                         "the zone's recorded public keys; the key file is what changed.)", code="invalid_zone_key")
    return checked


def unsigned_head(db: Reader) -> ChainHead | None:
    """The recorded head when the trail has entries but the head no signature (a zone last
    changed by a bundlekit from before signed heads, or a signature deleted); else None."""
    last = head(db)
    if db.scalar("SELECT value FROM meta WHERE key = ?", (_HEAD_SIG,)) is not None:
        return None
    if last.seq == 0 and db.scalar(f"SELECT 1 FROM {TABLE} LIMIT 1") is None:
        return None
    return last


def sign_unsigned_head(zone: "Zone", witness: ChainHead | None = None) -> ChainHead | None:
    """Sign the head of a trail that has none (``audit --sign-head``): the whole trail is checked
    first as :func:`verify` checks it, but for the missing head signature, and against
    ``witness`` when given; then a change of its own (``meta`` ``audit_note/head``) appends an
    entry naming the command, and so signs the new head. Returns the head signed, or None when
    the head was signed already (nothing is written). Raises what :func:`verify` raises."""
    try:
        verify(zone, witness)
        return None
    except VerificationError as error:
        if not isinstance(error.details, dict) or error.details.get("reason") != "head_unsigned":
            raise
    with zone.db.read() as r:
        stored, last = entries(r), head(r)
    if witness is not None:
        check_witness(stored, witness)
    note(zone, "head", {"signed": f"{last.seq}:{last.hash}"})
    return head(zone.db)
