"""The one reader for a whole file a user names: bounded, with the refusals every command shares.

Some inputs are small documents read whole before they are parsed: an identity card, a key
file, a release file, a template, a variables file, a configuration file. A path given on
the command line can name anything, ``/dev/zero`` or a 40 GB log included, so each is read
up to a limit the caller states (the most its parser would ever accept) and refused above
it, before the memory is spent (``docs/decisions/128-files-from-users-are-read-bounded.md``).
Bundles and packages are never read whole; they are streamed.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO, Union
from os import PathLike

from bundlekit.errors import InputError

__all__ = ["read_limited", "read_user_file", "open_regular", "unusable_path", "argument_text", "strip_line_break"]

KIB = 1024
MIB = 1024 * KIB


def _size_text(limit: int) -> str:
    if limit >= MIB and limit % MIB == 0:
        return f"{limit // MIB} MiB"
    if limit >= KIB and limit % KIB == 0:
        return f"{limit // KIB} KiB"
    return f"{limit} bytes"


def read_limited(stream: BinaryIO, limit: int, what: str, *,
                 fix: str = "check that the path names the right file") -> bytes:
    """At most ``limit`` bytes from ``stream``; ``InputError`` ``input_too_large`` (naming
    ``what``, and saying ``fix``: a stream that is no file, such as standard input, says what
    to check instead) when there are more. Reads ``limit + 1`` bytes at most, whatever the stream."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{what} is larger than {_size_text(limit)}, more than any valid one; {fix}",
                         code="input_too_large", details={"limit": limit})
    return data


def read_user_file(path: Union[str, "PathLike[str]"], *, what: str, limit: int) -> bytes:
    """The bytes of the file at ``path``, at most ``limit`` of them.

    ``what`` names it in messages (``"identity card dev.card"``). Raises ``InputError``:
    ``file_not_found`` (no such file, or a folder), ``unreadable`` (it exists but cannot be
    read: permissions, a link loop) and ``input_too_large`` (more than ``limit`` bytes;
    ``/dev/zero`` and FIFOs are read no further than that).
    A FIFO, device or socket is refused before a byte is read (:func:`open_regular`).
    """
    try:
        with open_regular(path, what) as handle:
            return read_limited(handle, limit, what)
    except FileNotFoundError:
        raise InputError(f"{what} does not exist; check the path", code="file_not_found") from None
    except IsADirectoryError:
        raise InputError(f"{what} is a folder; give the file itself", code="file_not_found") from None
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror or exc}", code="unreadable") from None


def unusable_path(path: Union[str, "PathLike[str]"], error: OSError, what: str) -> InputError:
    """The coded refusal (``InputError`` ``path_unusable``) of a path the user gave that the
    system will not let bundlekit use (a name too long, a place no folder can be made, no
    permission): it names what the path is for, the path and the system's reason."""
    reason = f"{error.strerror or error} ({errno.errorcode.get(error.errno or 0, 'error')})"
    return InputError(f"{what} {os.fspath(path)}: {reason}; give a path this user may create and write (each name "
                      "at most 255 bytes)", code="path_unusable", details={"path": os.fspath(path)})


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def refuse_unwritable_place(path: Union[str, "PathLike[str]"], what: str) -> None:
    """Refuse (``InputError`` ``path_unusable``) a path to write later whose folder cannot hold it:
    the nearest folder of it that exists must be a folder this user may write (an atomic writer
    creates the folders missing below it). For a command that writes its file only at the end
    (a deploy's receipt): checked before anything runs, so the work is not done for nothing."""
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    while not os.path.lexists(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    if not os.path.isdir(folder):
        raise unusable_path(path, NotADirectoryError(errno.ENOTDIR, f"{folder} is not a folder"), what)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise unusable_path(path, PermissionError(errno.EACCES, f"{folder} may not be written by this user"), what)


def refuse_special(path: Union[str, "PathLike[str]"]) -> None:
    """Refuse (``InputError`` ``not_a_file``) to put a file in place of what is at ``path`` when
    that is a folder, FIFO, device or socket: an atomic writer renames its file over the name,
    which would replace ``/dev/null`` itself rather than write into it. Nothing there, a regular
    file, or a symbolic link (the link is replaced, never its target) pass."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return  # nothing there (or nothing we may see): the write itself says what is wrong
    if stat.S_ISREG(mode) or stat.S_ISLNK(mode):
        return
    kind = "a folder" if stat.S_ISDIR(mode) else next((name for test, name in _KINDS if test(mode)), "not a regular file")
    raise InputError(f"{os.fspath(path)} is {kind}; bundlekit writes a new file and puts it in place of what is "
                     "at that path, so it writes only to a new or regular file: give such a path (to throw the "
                     "output away, write it into a temporary folder and remove that)", code="not_a_file",
                     details={"path": os.fspath(path)})


def open_regular(path: Union[str, "PathLike[str]"], what: str) -> BinaryIO:
    """Open the regular file at ``path`` for reading (binary), refusing anything else before
    reading a byte: ``InputError`` ``not_a_file`` for a FIFO, device or socket (opening a FIFO
    for reading would wait for a writer forever; a device never ends), ``file_not_found`` for a
    folder. The open itself does not block (``O_NONBLOCK``, cleared once the file is known to
    be regular), so a FIFO swapped in after a check cannot hang it. Other ``OSError`` (no such
    file, no permission) propagate for the caller to word."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise InputError(f"{what} is a folder; give the file itself", code="file_not_found")
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
            named = what if os.fspath(path) in what else f"{what} ({os.fspath(path)})"  # the path once
            raise InputError(f"{named} is {kind}, not a regular file; bundlekit reads only "
                             "regular files: copy the data to a file and give that", code="not_a_file",
                             details={"path": os.fspath(path)})
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def argument_text(value: str, what: str) -> str:
    """``value`` from the command line, refused (``InputError`` ``not_utf8``, naming ``what``,
    never quoting the value) when the bytes given were not UTF-8 (Python keeps them as lone
    surrogates, which no file, database or JSON can hold)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{what} is not UTF-8 text (the command line carried bytes that are not UTF-8); give "
                         "it as UTF-8, or pipe it in on standard input with '-'", code="not_utf8") from None
    return value


def strip_line_break(text: str) -> str:
    """``text`` without one trailing ``\n`` or ``\r\n``: the one ``echo`` or an editor adds to a
    value kept in a file. Only one, so a value may end in blank lines on purpose."""
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith("\n") else text
