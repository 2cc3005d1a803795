"""Prune's share of a source zone's chunk lists (``HOME/chunks``, decision 201): which go, which stay.

A chunk list says where the content-defined chunks of one package lie; a delta export needs
the list of the *base*, a package the destination holds, and keeps the list of every package
it chunks so that package can be the next base. The lists are a cache named by content, so a
list is worth keeping only while it can still be used:

* its package is held by a zone this one exports to, as that zone's latest receipt reports
  (the ``inventory``): a later release of the package can travel as a delta against it;
* or its package belongs to a release this zone's retention keeps: once exported and held
  by the destination, it becomes such a base.

Every other list goes (kind ``chunk_list``), and so do files an interrupted write left in the
cache folders (hidden ``.<digest>.<random>.tmp`` files, anything not named by a SHA-256)
once they are an hour old. A list that goes is made again from the package the next time a
delta needs it, if the package (or an earlier bundle carrying it) is still there; otherwise
that package travels whole once, as decision 201's limits say. Links are never followed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bundlekit.core.clock import EpochSeconds
from bundlekit.zone.chunks import ChunkListStore
from bundlekit.zone.home import Zone

__all__ = ["plan_chunk_lists", "chunk_list_kept_now"]

_DIGEST = re.compile(r"[0-9a-f]{64}")


def _plain_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def plan_chunk_lists(zone: Zone, *, kept_digests: set[str], held: dict[str, tuple[str, str, str]],
                     releases: list[dict[str, Any]], now: EpochSeconds, leftover_age: float) -> list[dict[str, Any]]:
    """The chunk lists (and leftovers) of ``zone`` that prune removes, each as ``{what, path,
    size, reason, digest}``. ``kept_digests``: the bytes of the releases retention keeps;
    ``held``: sha256 -> (id, version, zone id) other zones reported holding; ``releases``: the
    zone's releases (to name a list by its package); ``now`` and ``leftover_age`` in seconds."""
    root = ChunkListStore(zone.home).root
    if not _plain_dir(root):
        return []
    names = {p["sha256"]: f"{p['id']} {p['version']}" for x in releases for p in x["packages"]}
    out: list[dict[str, Any]] = []
    for sub in sorted(root.iterdir()):
        if not _plain_dir(sub):
            continue
        for f in sorted(sub.iterdir()):
            if f.is_symlink() or not f.is_file():
                continue
            info = f.stat()
            if not _DIGEST.fullmatch(f.name) or f.name[:2] != sub.name:
                if now - info.st_mtime >= leftover_age:
                    out.append({"what": f"chunk list leftover {f.name[:24]}", "path": str(f), "size": info.st_size,
                                "reason": "left in the chunk-list cache by an interrupted write", "digest": None})
                continue
            if f.name in kept_digests or f.name in held:
                continue
            what = names.get(f.name, f.name[:16] + "...")
            out.append({"what": f"chunk list of {what}", "path": str(f), "size": info.st_size,
                        "reason": "no release retention keeps uses the package and no zone it is sent to holds it "
                                  "(a delta export would make it again)", "digest": f.name})
    return out


def chunk_list_kept_now(digest: str, *, kept_digests: set[str], held: dict[str, tuple[str, str, str]]) -> str:
    """Why the list of ``digest`` stays after all (the apply step's check, decision 197), or ""."""
    if digest in kept_digests:
        return "a release kept now uses the package, since the plan was made"
    if digest in held:
        return "a zone's receipt now reports holding the package (a delta base), since the plan was made"
    return ""
