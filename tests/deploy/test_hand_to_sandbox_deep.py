"""A root zone hands a target folder holding a tree 3000 folders deep to the sandbox user
without recursion, and still leaves a hard-linked file alone (decision 541)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bundlekit.core.tree import remove_tree
from bundlekit.deploy.launch import hand_to_sandbox, sandbox_user
from tests.core.test_tree import DEPTH, _deep


@pytest.mark.skipif(os.geteuid() != 0, reason="handing a folder to another user needs root")
def test_a_deep_tree_is_handed_over_and_a_hard_link_is_not(tmp_path: Path) -> None:
    folder = tmp_path / "target"
    _deep(folder)
    try:
        elsewhere = tmp_path / "elsewhere.txt"
        elsewhere.write_text("not the sandbox's")
        os.link(elsewhere, folder / "linked.txt")
        hand_to_sandbox(folder)
        uid, _ = sandbox_user()
        assert folder.lstat().st_uid == uid and elsewhere.stat().st_uid == os.geteuid()
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for _ in range(DEPTH):
                child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                os.close(fd)
                fd = child
            assert os.stat("leaf", dir_fd=fd, follow_symlinks=False).st_uid == uid  # the very bottom
        finally:
            os.close(fd)
    finally:
        remove_tree(folder)  # pytest's own clean-up of tmp_path recurses
