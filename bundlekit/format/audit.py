"""A zone's audit entries as bytes, and the check of a chain of them (pure: no files, no clock).

An entry is a canonical msgpack map (:mod:`bundlekit.format.codec`), its *body*; the zone
signs the body's exact bytes with its signing key in the ``audit`` domain
(:data:`bundlekit.format.crypto.DOMAINS`), and the next entry names the body's SHA-256 as its
``prev``. So an altered field breaks that entry's signature, a deleted or reordered entry breaks
the next one's ``prev`` and ``seq``, and the chain's recorded head catches a cut tail.
``spec/audit.md`` is the normative description; :func:`check_chain` follows it.

Digests in a body (``before``, ``after``) are opaque here: the zone computes them with a key of
its own (``zone/audit.py``), so nobody can test guesses about a value against them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from bundlekit.core.hints import home_flag
from bundlekit.errors import BundleError, VerificationError
from bundlekit.format import codec
from bundlekit.format.crypto import sign, verify_signature

__all__ = ["FORMAT", "GENESIS", "Entry", "StoredEntry", "encode_entry", "decode_body", "entry_hash", "check_chain",
           "ChainHead", "carried", "check_carried", "check_witness", "head_message", "sign_head", "check_head",
           "NUMBER_NAMES", "shown_object", "object_text"]

#: The ``v`` of every body this module writes; a reader refuses another.
FORMAT = 1
#: The ``prev`` of a chain's first entry.
GENESIS = "0" * 64

_HEX64 = re.compile(r"[0-9a-f]{64}")
_KEY_ID = re.compile(r"[0-9a-f]{32}")
_RESULTS = ("ok", "refused")
_FIELDS = {"v", "seq", "prev", "zone_id", "at_ms", "user", "host", "command", "object", "changes", "before",
           "after", "result", "code", "key"}


@dataclass(frozen=True, slots=True)
class Entry:
    """One audit entry as its body says (``spec/audit.md`` §2).

    ``seq`` counts from 1; ``prev`` is the previous body's SHA-256 (hex; :data:`GENESIS` for the
    first); ``at_ms`` milliseconds since the Unix epoch, UTC; ``object`` what the command named
    (its arguments, never a value); ``changes`` rows changed per table; ``before``/``after``
    keyed digests (hex) of those rows, or None; ``result`` ``ok`` or ``refused`` with ``code``;
    ``key`` the id of the signing key. Raises ``VerificationError`` ``invalid_audit_chain`` when
    a field has the wrong type or form (``ValueError`` is never raised)."""

    seq: int
    prev: str
    zone_id: str
    at_ms: int
    user: str
    host: str
    command: str
    object: Mapping[str, Any]
    changes: Mapping[str, int]
    before: str | None
    after: str | None
    result: str
    code: str | None
    key: str

    def __post_init__(self) -> None:
        problem = _problem(self)
        if problem:
            raise VerificationError(f"audit entry {self.seq}: {problem}", code="invalid_audit_chain",
                                    details={"seq": self.seq, "reason": "malformed"})

    def to_dict(self) -> dict[str, Any]:
        """The body as a map (``v`` included): what is encoded and signed."""
        return {"v": FORMAT, "seq": self.seq, "prev": self.prev, "zone_id": self.zone_id, "at_ms": self.at_ms,
                "user": self.user, "host": self.host, "command": self.command, "object": dict(self.object),
                "changes": dict(self.changes), "before": self.before, "after": self.after, "result": self.result,
                "code": self.code, "key": self.key}


def _problem(e: Entry) -> str:
    ints = (e.seq, e.at_ms)
    if any(type(i) is not int or i < 0 for i in ints) or e.seq < 1:
        return "seq must be an integer from 1 and at_ms one from 0"
    if not isinstance(e.prev, str) or not _HEX64.fullmatch(e.prev):
        return "prev is not 64 lowercase hex digits"
    if not isinstance(e.key, str) or not _KEY_ID.fullmatch(e.key):
        return "key is not a key id (32 lowercase hex digits)"
    if not all(isinstance(s, str) for s in (e.zone_id, e.user, e.host, e.command)):
        return "zone_id, user, host and command must be text"
    if not isinstance(e.object, Mapping) or not all(isinstance(k, str) and _object_value(v)
                                                     for k, v in e.object.items()):
        return "object must map names to text, a flag or a list of text"
    if not isinstance(e.changes, Mapping) or not all(isinstance(k, str) and type(v) is int and v >= 0
                                                      for k, v in e.changes.items()):
        return "changes must map table names to row counts"
    if not all(d is None or (isinstance(d, str) and _HEX64.fullmatch(d)) for d in (e.before, e.after)):
        return "before and after must be 64 lowercase hex digits or null"
    if e.result not in _RESULTS or (e.result == "ok") != (e.code is None) or not (e.code is None
                                                                                   or isinstance(e.code, str)):
        return "result must be ok (no code) or refused (with a code)"
    return ""


def _object_value(v: Any) -> bool:
    return isinstance(v, (str, bool)) or (isinstance(v, list) and all(isinstance(x, str) for x in v))


#: The names of an entry's ``object`` that hold a whole number, written as text in the signed body
#: (``spec/audit.md`` §2: the body's values are text, flags or lists of text).
NUMBER_NAMES = frozenset({"keep_releases", "keep_days"})
_WHOLE = re.compile(r"(?:0|[1-9][0-9]{0,17})\Z")
#: What to do when a head given with ``--head`` is not in the trail (:func:`check_witness`).
_HEAD_ADVICE = ("Compare the head with where it was written down; if it is right, keep the state as it is as "
                "evidence and compare it with a backup of the home")


def shown_object(obj: Mapping[str, Any]) -> dict[str, Any]:
    """An entry's ``object`` as listings give it (``--json``): a number (:data:`NUMBER_NAMES`) as
    a number, flags as booleans, the rest as stored. The signed body is never changed: this is
    how it is shown, for entries written before and after alike (decision 792)."""
    return {k: int(v) if k in NUMBER_NAMES and isinstance(v, str) and _WHOLE.match(v) else
            list(v) if isinstance(v, list) else v for k, v in obj.items()}


def object_text(obj: Mapping[str, Any]) -> str:
    """An entry's ``object`` on one line for a person: ``name=value`` pairs, a flag as
    ``true``/``false``, a list joined by commas (decision 792)."""
    def one(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        return ",".join(map(str, v)) if isinstance(v, list) else str(v)
    return " ".join(f"{k}={one(v)}" for k, v in shown_object(obj).items())


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as a zone stores it: the row's ``seq``, the exact ``body`` bytes and the ``signature``."""

    seq: int
    body: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last entry a zone recorded: its ``seq`` and body hash (0 and :data:`GENESIS` for none)."""

    seq: int
    hash: str


def encode_entry(entry: Entry, key: Any) -> tuple[bytes, bytes]:
    """The body bytes of ``entry`` and their Ed25519 signature by ``key`` (a private key)."""
    body = codec.encode(entry.to_dict())
    return body, sign(key, "audit", body)


def entry_hash(body: bytes) -> str:
    """What the next entry names as ``prev``: SHA-256 of the body bytes, lowercase hex."""
    return hashlib.sha256(body).hexdigest()


def decode_body(body: bytes, seq: int) -> Entry:
    """The entry ``body`` holds; ``invalid_audit_chain`` (naming ``seq``, the row's) if it is
    not a canonical body of format :data:`FORMAT` with exactly the fields of ``spec/audit.md``."""
    try:
        data = codec.decode(body, what=f"audit entry {seq}")
    except BundleError as error:
        raise _broken(seq, "malformed", f"its body does not decode ({error.message})") from None
    if not isinstance(data, dict) or set(data) != _FIELDS or data.get("v") != FORMAT:
        raise _broken(seq, "malformed", f"its body is not an audit entry of format {FORMAT}")
    data = dict(data)
    data.pop("v")
    return Entry(**data)


def _broken(seq: int, reason: str, what: str) -> VerificationError:
    return VerificationError(f"audit entry {seq}: {what}. The audit trail was changed outside bundlekit after this "
                             "entry was written; entries before it are intact. Keep the state as it is as evidence "
                             "and compare it with a backup of the home", code="invalid_audit_chain",
                             details={"seq": seq, "reason": reason})


def check_witness(stored: Iterable[StoredEntry], witness: ChainHead) -> None:
    """Refuse a trail that does not hold ``witness`` (a head noted earlier, kept outside the zone)
    as one of its entries. Raises ``VerificationError`` ``invalid_audit_chain``, reason
    ``witness``, naming its seq and quoting the head as given: when the trail ends before that
    seq, the head was mistyped or the state rolled back since it was noted (``details.last``: the
    trail's last seq); when that entry's hash differs, the head was mistyped or the trail was
    replaced (``details.found``: the entry's hash) (decision 793)."""
    given = f"{witness.seq}:{witness.hash}"
    last = 0
    for row in stored:
        last = row.seq
        if row.seq == witness.seq:
            found = entry_hash(row.body)
            if found == witness.hash:
                return
            raise VerificationError(
                f"audit entry {row.seq}: its hash is {found[:12]}..., not the one of the head given with --head "
                f"({given}): the head was mistyped, or the trail was replaced since it was noted. {_HEAD_ADVICE}",
                code="invalid_audit_chain",
                details={"seq": witness.seq, "reason": "witness", "found": found})
    raise VerificationError(
        f"the head given with --head ({given}) names audit entry {witness.seq}, but the trail ends at entry {last}: "
        f"the head was mistyped, or the zone's state was rolled back (or replaced) since it was noted. {_HEAD_ADVICE}",
        code="invalid_audit_chain",
        details={"seq": witness.seq, "reason": "witness", "last": last})


def check_chain(stored: Iterable[StoredEntry], zone_id: str, keys: Mapping[str, bytes],
                head: ChainHead | None) -> list[Entry]:
    """The entries of ``stored`` (in the order of their rows' ``seq``), each checked against the
    one before; returns them all, or raises at the first that fails.

    ``keys`` maps key ids to the zone's Ed25519 public keys (every key it has signed with);
    ``head`` is the chain's recorded head (None: not recorded, so a cut tail goes unnoticed).
    Raises ``VerificationError`` ``invalid_audit_chain`` with ``details = {seq, reason}``, the
    first bad entry's row ``seq`` and one of ``malformed``, ``signature``, ``sequence`` (a row
    missing or out of its place), ``chain`` (``prev`` is not the previous body's hash), ``zone``,
    ``unknown_key``, ``truncated`` (the head names an entry the chain does not end with;
    ``seq`` is the head's) and ``head`` (the head is unreadable; ``seq`` is the last entry's)."""
    entries: list[Entry] = []
    prev, expected = GENESIS, 1
    for row in stored:
        entry = decode_body(row.body, row.seq)
        public = keys.get(entry.key)
        if public is None:
            raise _broken(row.seq, "unknown_key", f"it names signing key {entry.key}, which is not one of this zone's")
        if not verify_signature(public, "audit", row.body, row.signature):
            raise _broken(row.seq, "signature", "its signature does not match its body: the entry was altered")
        if entry.seq != row.seq or row.seq != expected:
            raise _broken(row.seq, "sequence", f"it says it is entry {entry.seq} where entry {expected} belongs: "
                          "entries were deleted or reordered")
        if entry.prev != prev:
            raise _broken(row.seq, "chain", "the entry before it is not the one it was chained to: entries were "
                          "deleted, reordered or replaced")
        if entry.zone_id != zone_id:
            raise _broken(row.seq, "zone", f"it belongs to zone {entry.zone_id}, not this one ({zone_id})")
        entries.append(entry)
        prev, expected = entry_hash(row.body), expected + 1
    if head is not None and (head.seq < 0 or not _HEX64.fullmatch(head.hash)):
        raise _broken(expected - 1, "head", "the zone's record of its last entry is damaged, so a cut tail cannot be "
                      "ruled out")
    if head is not None and (head.seq, head.hash) != (expected - 1, prev if expected > 1 else GENESIS):
        raise _broken(head.seq, "truncated", f"the zone recorded entry {head.seq} as its last, but the trail ends "
                      f"at entry {expected - 1} (or another entry {head.seq}): entries at its end were deleted or "
                      "the record of the last one was changed")
    return entries


def head_message(zone_id: str, head: ChainHead) -> bytes:
    """What the zone signs to record ``head`` as its trail's last entry: ``ZONE_ID ":" SEQ ":" HASH``
    (ASCII), signed in the ``audit head`` domain (``spec/audit.md`` §3)."""
    return f"{zone_id}:{head.seq}:{head.hash}".encode("ascii")


def sign_head(zone_id: str, head: ChainHead, key: Any, kid: str) -> str:
    """The head's signature as the zone stores it: ``KEY_ID ":" base64(signature)``."""
    return f"{kid}:{base64.b64encode(sign(key, 'audit head', head_message(zone_id, head))).decode('ascii')}"


def check_head(zone_id: str, head: ChainHead, signature: str | None, keys: Mapping[str, bytes]) -> None:
    """Refuse a recorded ``head`` (already found to match the trail's last entry) whose
    ``signature`` (``KEY_ID ":" base64``, :func:`sign_head`) is missing or is not a signature by
    one of ``keys`` over it: anyone can recompute a head, only the zone can sign one, so a tail
    cut together with its head is caught here. Raises ``invalid_audit_chain``, reason
    ``head_unsigned`` or ``head_signature``, naming the head's seq."""
    if signature is None:
        # Not "changed outside bundlekit": an upgraded zone not changed since has no signature yet.
        raise VerificationError(f"audit entry {head.seq}: the zone's record of its last entry (its head) is not "
                                "signed yet, so a cut tail cannot be ruled out. A zone last changed by a bundlekit "
                                "from before signed heads has none until its next change signs it; a signature "
                                "deleted by hand looks the same. To sign it now, checking the trail holds a head noted "
                                f"earlier: `bundlekit audit --sign-head --head SEQ:HASH{home_flag()}` (without --head once you "
                                "know the trail is whole)", code="invalid_audit_chain",
                                details={"seq": head.seq, "reason": "head_unsigned"})
    kid, _, encoded = signature.partition(":")
    public = keys.get(kid)
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if public is None or not verify_signature(public, "audit head", head_message(zone_id, head), raw):
        raise _broken(head.seq, "head_signature", "the zone's record of its last entry is not signed by the zone: "
                      "entries at its end were deleted and the record rewritten")


def carried(stored: Iterable[StoredEntry]) -> list[dict[str, str]]:
    """Entries as a receipt carries them (``spec/bundle-format.md`` §7.3): ``{body, signature}``,
    each canonical base64 of the stored bytes."""
    return [{"body": base64.b64encode(s.body).decode("ascii"),
             "signature": base64.b64encode(s.signature).decode("ascii")} for s in stored]


def check_carried(items: Iterable[Mapping[str, Any]], zone_id: str, keys: Mapping[str, bytes],
                  where: str) -> list[Entry]:
    """The entries a receipt entry carries, each checked on its own: its body decodes, names
    ``zone_id`` (the receipt's source) and one of ``keys`` (the source's zone keys by id), and its
    signature verifies. A receipt carries some entries of a trail, not the trail, so ``prev`` is
    not followed. Raises ``VerificationError`` ``invalid_audit_chain`` naming ``where`` and the
    entry's place (``details``: ``{seq, reason}``, ``seq`` the place from 1)."""
    out: list[Entry] = []
    for i, item in enumerate(items, 1):
        try:
            texts = (item["body"], item["signature"])
            body, signature = (base64.b64decode(str(t), validate=True) for t in texts)
        except (KeyError, binascii.Error, ValueError):
            raise _carried(where, i, "malformed", "is not base64 of a body and a signature") from None
        if (base64.b64encode(body).decode("ascii"), base64.b64encode(signature).decode("ascii")) != texts:
            # spec §7.3: canonical base64, so one entry has one spelling (no unused bits set)
            raise _carried(where, i, "malformed", "is not canonical base64 of a body and a signature")
        try:
            entry = decode_body(body, i)
        except VerificationError:
            raise _carried(where, i, "malformed", "is not an audit entry") from None
        public = keys.get(entry.key)
        if entry.zone_id != zone_id or public is None:
            raise _carried(where, i, "zone", "was not signed by the zone that wrote the receipt")
        if not verify_signature(public, "audit", body, signature):
            raise _carried(where, i, "signature", "does not match its signature: it was altered")
        out.append(entry)
    return out


def _carried(where: str, i: int, reason: str, what: str) -> VerificationError:
    return VerificationError(f"{where}: audit entry {i} it carries {what}; nothing was recorded. Ask the zone that "
                             "deployed for a new receipt", code="invalid_audit_chain",
                             details={"seq": i, "reason": reason})
