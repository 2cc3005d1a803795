"""Walking and removing folder trees of any depth, without recursion and with one descriptor.

Folders on a target hold what packages and scripts put there: a zip nested 2000 folders deep,
or a script that made such a tree. ``shutil.rmtree`` and ``os.walk`` recurse (on the Python
versions bundlekit supports), so such a tree ended a redeploy in a ``RecursionError``; a path
4000 bytes long cannot even be named in one system call. So bundlekit never recurses on a
tree it did not make (``docs/decisions/541-no-recursion-on-user-trees.md``):

- the walk keeps an explicit stack of the names still to visit in each open folder, so its
  depth costs memory, not Python frames;
- it holds **one** folder descriptor at a time: it descends with ``openat(name)`` and climbs
  back with ``openat("..")``, checking that ``..`` is the very folder it came from (device and
  inode), so no path is ever longer than one name and no descriptor limit is reached;
- links are never followed: a link is removed or counted as the link itself.

Shipped to targets with the step runner: Python 3.8 or newer, standard library only.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Callable, List, Tuple, Union

__all__ = ["remove_tree", "tree_size", "tree_apply", "tree_paths"]

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)

PathLike = Union[str, "os.PathLike[str]"]
_OnFile = Callable[[int, str, str], None]  # (folder fd, name, relative path)
_OnLeave = Callable[[int, str], None]  # (parent fd, name of the folder just finished)


def _entries(fd: int) -> List[Tuple[str, bool]]:
    """(name, is a folder) of every entry of the open folder ``fd``; links are not folders."""
    with os.scandir(fd) as it:
        return [(e.name, e.is_dir(follow_symlinks=False)) for e in it]


def _ident(fd: int) -> Tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def _visit_file(on_file: _OnFile, fd: int, name: str, rel: List[str], skip_errors: bool) -> None:
    """``on_file`` for the entry ``name`` of the open folder ``fd`` (``rel``: that folder's path
    from the top); its ``OSError`` is raised unless ``skip_errors``."""
    try:
        on_file(fd, name, "/".join(rel + [name]))
    except OSError:
        if not skip_errors:
            raise


def _walk(top: PathLike, on_file: _OnFile, on_leave: _OnLeave, skip_errors: bool) -> None:
    """Visit every entry under the folder ``top``, depth first: ``on_file`` for each entry that
    is not a folder, ``on_leave`` for each folder once everything in it was visited.

    Raises ``OSError`` (a folder that cannot be opened or listed, a callback's failure), or with
    ``skip_errors`` goes on past it. A folder replaced while walking (``..`` is no longer the
    folder the walk came from) is always an error: ``OSError`` ``ESTALE``.
    """
    fd = os.open(top, _DIR)
    try:
        # Each frame: (name in its parent, entries still to visit, the folder's identity).
        stack: List[Tuple[str, List[Tuple[str, bool]], Tuple[int, int]]] = [("", _entries(fd), _ident(fd))]
        rel: List[str] = []
        while stack:
            name, todo, _ = stack[-1]
            if todo:
                child, is_dir = todo.pop()
                if not is_dir:
                    _visit_file(on_file, fd, child, rel, skip_errors)
                    continue
                try:
                    child_fd = os.open(child, _DIR, dir_fd=fd)
                except OSError as error:
                    if error.errno == errno.ENOENT:
                        continue  # gone meanwhile
                    if error.errno in (errno.ENOTDIR, errno.ELOOP):  # replaced by a file or a link
                        _visit_file(on_file, fd, child, rel, skip_errors)
                        continue
                    if skip_errors:
                        continue
                    raise
                try:
                    frame = (child, _entries(child_fd), _ident(child_fd))
                except OSError:
                    os.close(child_fd)
                    if skip_errors:
                        continue
                    raise
                os.close(fd)
                fd = child_fd
                stack.append(frame)
                rel.append(child)
                continue
            stack.pop()
            if not stack:
                break
            rel.pop()
            parent_fd = os.open("..", _DIR, dir_fd=fd)
            if _ident(parent_fd) != stack[-1][2]:
                os.close(parent_fd)
                raise OSError(errno.ESTALE, "a folder was moved while bundlekit walked it", "/".join(rel + [name]))
            os.close(fd)
            fd = parent_fd
            try:
                on_leave(fd, name)
            except OSError:
                if not skip_errors:
                    raise
    finally:
        os.close(fd)


def remove_tree(path: PathLike, *, ignore_errors: bool = False) -> None:
    """Remove ``path`` and everything under it, however deep; never follows a link.

    A link or file at ``path`` is removed itself; a missing ``path``, or an entry that vanishes
    meanwhile, is no error. Raises ``OSError`` on the first entry that cannot be removed (what
    was removed stays removed), or with ``ignore_errors`` removes all it can and raises nothing.
    """

    def unlink(fd: int, name: str, _rel: str) -> None:
        try:
            os.unlink(name, dir_fd=fd)
        except FileNotFoundError:
            pass

    def rmdir(fd: int, name: str) -> None:
        try:
            os.rmdir(name, dir_fd=fd)
        except FileNotFoundError:
            pass

    try:
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(info.st_mode):
            _unlink_path(path)
            return
        try:
            _walk(path, unlink, rmdir, ignore_errors)
        except FileNotFoundError:  # the folder itself vanished meanwhile
            return
        try:
            os.rmdir(path)
        except FileNotFoundError:
            pass
    except OSError:
        if not ignore_errors:
            raise


def _unlink_path(path: PathLike) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def tree_size(path: PathLike) -> int:
    """Bytes of everything under ``path`` that is not a folder (a link counts as the link);
    entries that vanish or cannot be read while counting are skipped. 0 for a missing path."""
    total = [0]

    def count(fd: int, name: str, _rel: str) -> None:
        total[0] += os.stat(name, dir_fd=fd, follow_symlinks=False).st_size

    try:
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode):
            return info.st_size
        _walk(path, count, lambda fd, name: None, True)
    except OSError:
        pass
    return total[0]


def tree_apply(path: PathLike, action: Callable[[int, str], None]) -> None:
    """Call ``action(folder_fd, name)`` for every entry under the folder ``path``, however deep:
    files and links as they are met, each folder after everything in it; never follows a link
    (``action`` must not either: use ``dir_fd`` and ``follow_symlinks=False``). ``path`` itself
    is not passed. Raises ``OSError`` on the first failure."""
    _walk(path, lambda fd, name, _rel: action(fd, name), action, False)


def tree_paths(top: PathLike) -> Tuple[List[str], List[str]]:
    """``(folders, others)``: the paths of ``top`` and every folder under it, parents before
    their children, and of every entry that is not a folder (links included, not followed).

    For trees bundlekit bounds itself (an extracted package: at most 64 folders deep,
    spec/names.md), whose paths every system call takes; an explicit stack, no recursion.
    Raises ``OSError`` when a folder cannot be listed."""
    folders: List[str] = []
    others: List[str] = []
    stack = [os.fspath(top)]
    while stack:
        folder = stack.pop()
        folders.append(folder)
        with os.scandir(folder) as found:
            for entry in found:
                (stack if entry.is_dir(follow_symlinks=False) else others).append(entry.path)
    return folders, others
