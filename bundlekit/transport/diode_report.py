"""What a diode receiver reports: one result per file heard, frame counters, and the refusal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bundlekit.errors import TransportError

__all__ = ["FileResult", "ReceiveReport", "OK_STATUSES"]

#: A file with one of these statuses is intact under its announced name.
OK_STATUSES = ("complete", "already_present")


@dataclass(slots=True, frozen=True)
class FileResult:
    session: str
    object_id: int
    name: str | None
    size: int
    sha256: str | None
    status: str  # complete | already_present | incomplete | digest_mismatch | name_conflict | rejected
    path: str | None
    blocks_total: int
    blocks_missing: int
    bytes_missing: int
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES

    def to_dict(self) -> dict[str, Any]:
        return {"session": self.session, "object_id": self.object_id, "name": self.name, "size": self.size,
                "sha256": self.sha256, "status": self.status, "path": self.path, "blocks_total": self.blocks_total,
                "blocks_missing": self.blocks_missing, "bytes_missing": self.bytes_missing, "detail": self.detail}


@dataclass(slots=True, frozen=True)
class ReceiveReport:
    files: tuple[FileResult, ...]
    frames: dict[str, int]
    transfer_seconds: float
    peak_buffered_bytes: int
    #: From a spool folder: the spool files left there for a later run (their frames are still needed).
    spool_kept: tuple[str, ...] | None = None

    @property
    def ok(self) -> bool:
        return bool(self.files) and all(f.ok for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        out = {"ok": self.ok, "files": [f.to_dict() for f in self.files], "frames": dict(self.frames),
               "transfer_seconds": round(self.transfer_seconds, 3), "peak_buffered_bytes": self.peak_buffered_bytes}
        if self.spool_kept is not None:
            out["spool_kept"] = list(self.spool_kept)
        return out

    def raise_for_status(self, *, listen: str | None = None, spool: str | None = None) -> None:
        """Raise TransportError(incomplete / nothing_received) unless every file arrived intact.

        ``listen`` (the UDP address) or ``spool`` (the folder) says where the receiver looked,
        so the advice fits the carrier in use.
        """
        if not self.files:
            if spool is not None:
                message = (f"nothing was received from the spool folder {spool}: no spool file with a valid frame "
                           "appeared before the idle timeout. Check that the sending side writes into the folder "
                           "the diode mirrors (`bundlekit diode send FILE --spool DIR`), that the mirror runs and "
                           "delivers here, or wait longer with --idle-timeout")
            else:
                where = f" on {listen}" if listen else ""
                message = (f"nothing was received{where}: no valid frame arrived before the idle timeout. Check "
                           "that the sender's --to names this host and port, and that the diode passes UDP to it")
            raise TransportError(message, code="nothing_received", details=self.to_dict())
        bad = [f for f in self.files if not f.ok]
        if bad:
            parts = []
            for f in bad:
                what = f.name or f"object {f.object_id} of session {f.session}"
                if f.status == "incomplete":
                    parts.append(f"{what}: {f.blocks_missing} of {f.blocks_total} blocks "
                                 f"({f.bytes_missing} bytes) missing{'; ' + f.detail if f.detail else ''}")
                else:
                    parts.append(f"{what}: {f.status} ({f.detail})")
            message = "not every file arrived intact (nothing partial was kept): " + "; ".join(parts)
            other = self.frames.get("other_session", 0)
            if other:
                followed = ", ".join(sorted({f.session for f in bad}))
                message += (f". {other} frame(s) of another session were dropped: the receiver follows one sender "
                            f"at a time (here session {followed}, heard first) and another sender's frames came "
                            "too (frames are not authenticated: anyone on the link can send). Make sure only the "
                            "sender you expect sends, then send again; more --redundancy does not help with that")
            if self.spool_kept:
                message += (f". {len(self.spool_kept)} spool file(s) whose frames are still needed were kept in "
                            f"{spool}, so nothing read is lost: once more arrive, run bundlekit diode receive "
                            "--spool again and it takes them up")
            also = "also " if other else ""
            lost = (f"spool files were {also}lost or damaged on the way: check the mirror, then send again"
                    if spool is not None else f"frames were {also}lost on the way: send again")
            raise TransportError(message + f". If {lost} with more --redundancy or --repeat", code="incomplete",
                                 details=self.to_dict())
