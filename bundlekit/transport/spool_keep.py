"""Which spool files a diode receiver may delete: only those whose frames nothing needs any more.

On a one-way link nobody can send a frame again, so a spool file stays in the folder until
every frame it carried belongs to a file that is finished for good (decision 920,
spec/transport.md §3.6): written under its name with its SHA-256 checked, already there
intact, refused for its name, or rebuilt and found not to match its announcement. A file
holding a frame of anything else (a file still incomplete, a name conflict, a file refused
for lack of space, another sender's session the receiver was not following, a frame it could
not place) stays for the next run, which reads it again. A receiver killed midway therefore
loses nothing: the next one reads every frame the killed one had read.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from bundlekit.transport.channel import SpoolChannel
from bundlekit.transport.diode_receive import Receiver
from bundlekit.transport.frames import CRC_RESIDUE, MAGIC

__all__ = ["SpoolKeeper", "SPENT_STATUSES", "MAX_REOFFERS"]

#: Times one run reads kept files again for a session it never took up (each may cost an idle
#: timeout): a spool holding many stray sessions cannot keep a receiver busy for long.
MAX_REOFFERS = 8

#: A file that ended with one of these statuses needs none of its frames again (unless the
#: receiver marked it ``keep``: refused for lack of space, which freeing space cures).
SPENT_STATUSES = frozenset({"complete", "already_present", "rejected", "digest_mismatch"})


class SpoolKeeper:
    """Tracks the spool files a receive run read and removes each once its frames are spent.

    Call :meth:`took` after each batch :meth:`SpoolChannel.recv_batch` returned has been fed
    to the receiver, and :meth:`settle` after that and once more when the run ends.
    """

    def __init__(self, spool: SpoolChannel, rx: Receiver) -> None:
        self.spool = spool
        self.rx = rx
        #: Spool files read and kept: the header keys (``frame[6:40]``) of their frames not yet spent.
        self.pending: dict[Path, set[bytes]] = {}
        self._results = 0
        self._offered = -1  # how many objects the receiver knew at the last reoffer
        self.reoffers = 0

    def _spent(self, key: bytes) -> bool:
        obj = self.rx.objects.get(key)
        return (obj is not None and obj.result is not None and obj.result.status in SPENT_STATUSES
                and not obj.keep)

    def took(self, frames: list[bytes]) -> None:
        """The frames of the file the channel read last were fed: remove it if they are all spent."""
        path = self.spool.last_path
        if path is None:
            return
        keys = {f[6:40] for f in frames if f[:4] == MAGIC and len(f) >= 48 and zlib.crc32(f) == CRC_RESIDUE}
        keys = {k for k in keys if not self._spent(k)}
        if keys:
            self.pending[path] = keys
        else:
            self.spool.remove(path)  # junk only, or frames of finished files

    def settle(self) -> None:
        """Remove the kept files whose frames have all been spent since (checked when a file finished)."""
        if len(self.rx.results) == self._results:
            return
        self._results = len(self.rx.results)
        for path, keys in list(self.pending.items()):
            keys.difference_update([k for k in keys if self._spent(k)])
            if not keys:
                del self.pending[path]
                self.spool.remove(path)

    def reoffer(self) -> bool:
        """Have the channel read again, in this run, the kept files holding frames of objects the
        receiver never took up (another session, heard while it followed one): True if there are
        any, objects were taken up since the last time and :data:`MAX_REOFFERS` is not reached
        (so this ends), False otherwise."""
        if len(self.rx.objects) == self._offered or self.reoffers >= MAX_REOFFERS:
            return False
        again = [p for p, keys in self.pending.items() if any(k not in self.rx.objects for k in keys)]
        if not again:
            return False
        self._offered = len(self.rx.objects)
        self.reoffers += 1
        self.spool.read_again([p.name for p in again])
        return True

    @property
    def kept(self) -> list[str]:
        """The names of the spool files left in the folder for a later run, sorted."""
        return sorted(p.name for p in self.pending)
