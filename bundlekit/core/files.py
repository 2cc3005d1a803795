"""The one reader for a whole file a user names: bounded, with the refusals every command shares.

Some inputs are small documents read whole before they are parsed: an identity card, a key
file, a release file, a template, a variables file, a configuration file. A path given on
the command line can name anything, ``/dev/zero`` or a 40 GB log included, so each is read
up to a limit the caller states (the most its parser would ever accept) and refused above
it, before the memory is spent (``docs/decisions/128-files-from-users-are-read-bounded.md``).
Bundles and packages are never read whole; they are streamed.
"""

from __future__ import annotations

from typing import BinaryIO, Union
from os import PathLike

from bundlekit.errors import InputError

__all__ = ["read_limited", "read_user_file"]

KIB = 1024
MIB = 1024 * KIB


def _size_text(limit: int) -> str:
    if limit >= MIB and limit % MIB == 0:
        return f"{limit // MIB} MiB"
    if limit >= KIB and limit % KIB == 0:
        return f"{limit // KIB} KiB"
    return f"{limit} bytes"


def read_limited(stream: BinaryIO, limit: int, what: str) -> bytes:
    """At most ``limit`` bytes from ``stream``; ``InputError`` ``input_too_large`` (naming
    ``what``) when there are more. Reads ``limit + 1`` bytes at most, whatever the stream."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{what} is larger than {_size_text(limit)}, more than any valid one; check that the "
                         "path names the right file", code="input_too_large",
                         details={"limit": limit})
    return data


def read_user_file(path: Union[str, "PathLike[str]"], *, what: str, limit: int) -> bytes:
    """The bytes of the file at ``path``, at most ``limit`` of them.

    ``what`` names it in messages (``"identity card dev.card"``). Raises ``InputError``:
    ``file_not_found`` (no such file, or a folder), ``unreadable`` (it exists but cannot be
    read: permissions, a link loop) and ``input_too_large`` (more than ``limit`` bytes;
    ``/dev/zero`` and FIFOs are read no further than that).
    """
    try:
        with open(path, "rb") as handle:
            return read_limited(handle, limit, what)
    except FileNotFoundError:
        raise InputError(f"{what} does not exist; check the path", code="file_not_found") from None
    except IsADirectoryError:
        raise InputError(f"{what} is a folder; give the file itself", code="file_not_found") from None
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror or exc}", code="unreadable") from None
