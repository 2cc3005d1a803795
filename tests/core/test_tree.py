"""Trees of any depth are walked and removed without recursion (decision 541).

A tree 3000 folders deep (deeper than Python's recursion limit, and with paths longer than
PATH_MAX, so no path-based call can even name its bottom) is removed, measured and walked;
links are removed as links, never followed out of the tree. And no module of bundlekit calls
a recursive tree walker on a folder it does not own.
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

import pytest

from bundlekit.core.tree import remove_tree, tree_apply, tree_paths, tree_size

DEPTH = 3000
ROOT = Path(__file__).resolve().parents[2] / "bundlekit"


def _deep(top: Path, depth: int = DEPTH) -> None:
    """``top/d/d/.../d`` ``depth`` levels, a 5-byte file at every 500th level and at the bottom,
    made through folder descriptors (the bottom's path is longer than any system call takes)."""
    top.mkdir()
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for level in range(1, depth + 1):
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
            if level % 500 == 0 or level == depth:
                f = os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
                os.write(f, b"12345")
                os.close(f)
    finally:
        os.close(fd)


def test_a_tree_deeper_than_the_recursion_limit_is_removed(tmp_path: Path) -> None:
    assert DEPTH > sys.getrecursionlimit()
    top = tmp_path / "deep"
    _deep(top)
    remove_tree(top)
    assert not top.exists() and list(tmp_path.iterdir()) == []


def test_size_and_every_entry_of_a_deep_tree(tmp_path: Path) -> None:
    top = tmp_path / "deep"
    _deep(top)
    try:
        files = DEPTH // 500 + (DEPTH % 500 != 0)
        assert tree_size(top) == 5 * files
        seen: list[str] = []
        tree_apply(top, lambda fd, name: seen.append(name))
        assert sorted(set(seen)) == ["d", "leaf"] and seen.count("d") == DEPTH and seen.count("leaf") == files
    finally:
        remove_tree(top)  # pytest's own clean-up of tmp_path recurses


def test_tree_paths_lists_parents_first_without_recursion(tmp_path: Path) -> None:
    top = tmp_path / "t"
    (top / "a" / "b").mkdir(parents=True)
    (top / "a" / "b" / "f.txt").write_text("x")
    (top / "a" / "up").symlink_to(top)
    folders, others = tree_paths(top)
    assert folders == [str(top), str(top / "a"), str(top / "a" / "b")]
    assert sorted(others) == [str(top / "a" / "b" / "f.txt"), str(top / "a" / "up")]


def test_links_are_removed_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    top = tmp_path / "tree"
    (top / "a" / "b").mkdir(parents=True)
    (top / "a" / "b" / "to-folder").symlink_to(outside)
    (top / "a" / "to-file").symlink_to(outside / "keep.txt")
    assert tree_size(top) == len(str(outside)) + len(str(outside / "keep.txt"))  # the links themselves
    remove_tree(top)
    assert not top.exists() and (outside / "keep.txt").read_text() == "keep"
    link = tmp_path / "link"
    link.symlink_to(outside)
    remove_tree(link)  # a link at the top is removed as the link
    assert not os.path.lexists(link) and (outside / "keep.txt").exists()


def test_a_missing_tree_is_no_error_and_a_failure_is_raised_unless_ignored(tmp_path: Path) -> None:
    remove_tree(tmp_path / "nothing")
    assert tree_size(tmp_path / "nothing") == 0
    top = tmp_path / "t"
    (top / "locked").mkdir(parents=True)
    (top / "locked" / "f").write_text("x")
    (top / "free.txt").write_text("x")
    os.chmod(top / "locked", 0o500)  # its file cannot be unlinked (unless we are root)
    try:
        if os.geteuid() != 0:
            with pytest.raises(PermissionError, match="Permission denied"):
                remove_tree(top)
            remove_tree(top, ignore_errors=True)  # removes what it can, raises nothing
            assert (top / "locked" / "f").exists() and not (top / "free.txt").exists()
    finally:
        os.chmod(top / "locked", 0o700)
    remove_tree(top)
    assert not top.exists()


# Recursive tree walkers of the standard library, and the few calls allowed on bundlekit's own trees.
_RECURSIVE = {"rmtree", "walk", "fwalk", "copytree", "rglob", "move"}
_ALLOWED = {
    ("runtime/pack.py", "rglob"),  # the installed bundlekit modules, to build the runner
    ("runtime/boot.py", "rmtree"),  # inside the bootstrap's text: the runner it just unpacked
}


def test_no_module_calls_a_recursive_tree_walker() -> None:
    found = set()
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text("utf-8")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Attribute) and node.attr in _RECURSIVE and isinstance(node.value, ast.Name) \
                    and node.value.id in ("shutil", "os") or isinstance(node, ast.Attribute) and node.attr == "rglob":
                found.add((rel, node.attr))
        if rel == "runtime/boot.py" and "shutil.rmtree(" in text:
            found.add((rel, "rmtree"))
    assert found <= _ALLOWED, sorted(found - _ALLOWED)
