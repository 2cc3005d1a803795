"""Targets as the deploy engine sees them: identity, SSH addresses, isolation of local runners."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bundlekit.deploy.launch import interpreter_trees, local_command
from bundlekit.deploy.targets import Isolation, LocalFolderTarget, SshTarget, Target
from tests.conftest import raises_code

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHp7nYQ8d6l4ywm1V7Bw0zg3i3g3xY8Gk2vQh0d2Vb1A"


def test_identity_is_validated_and_roles_match_case_insensitively(tmp_path: Path) -> None:
    target = LocalFolderTarget("web-01", "Production", {"Web"}, tmp_path)  # type: ignore[arg-type]
    assert isinstance(target, Target) and target.roles == frozenset({"Web"}) and target.kind == "local"
    assert target.has_role(["db", "WEB"]) and not target.has_role(["db"])
    for bad in ({"name": ""}, {"environment": " "}, {"roles": {""}}):
        arguments = {"name": "n", "environment": "e", "roles": frozenset({"r"}), "root": tmp_path} | bad
        with raises_code("invalid_target"):
            LocalFolderTarget(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize("field, value", [("user", "root;rm"), ("user", ""), ("host", "a b"), ("host", "-oProxy"),
                                          ("port", 0), ("port", 70000), ("work_dir", "relative/dir"),
                                          ("work_dir", "/srv/../etc")])
def test_ssh_addresses_that_cannot_be_right_are_refused_naming_the_target(field: str, value: object) -> None:
    fields: dict[str, object] = {"name": "web-01", "environment": "Production", "roles": frozenset({"web"}),
                                 "host": "10.0.0.5", "user": "deploy", "host_keys": (KEY,), "port": 22,
                                 "work_dir": "/srv/bundlekit"}
    fields[field] = value
    with raises_code("invalid_target_address") as caught:
        SshTarget(**fields)  # type: ignore[arg-type]
    assert "web-01" in caught.value.message


def test_an_ssh_target_without_a_pinned_host_key_is_refused() -> None:
    with raises_code("invalid_host_key"):
        SshTarget("web-01", "Production", frozenset({"web"}), "10.0.0.5", "deploy", ())


def test_a_sandboxed_runner_gets_the_home_hidden_its_own_proc_and_no_zone_environment(tmp_path: Path) -> None:
    home = tmp_path / "zone-home"
    isolation = Isolation("sandbox", python="/usr/bin/python3", hide=(str(home),))
    argv, kwargs = local_command(isolation, tmp_path / "target", "0" * 64, 10)
    joined = " ".join(argv)
    assert argv[0].endswith("bwrap") and "--unshare-pid" in joined
    assert f"--bind {tmp_path / 'target'} {tmp_path / 'target'}" in joined
    # an allow-list (decision 760): nothing of the machine is bound whole, the home is not there at all
    assert "--ro-bind / /" not in joined and str(home) not in joined
    assert "--ro-bind /usr /usr" in joined and "--ro-bind /etc /etc" in joined
    assert set(kwargs["env"]) == {"PATH", "LANG", "HOME"} and kwargs["env"]["HOME"] == str(tmp_path / "target")
    # a home inside a folder the runner is shown (here: its target folder) is covered by an empty one
    inner = tmp_path / "target" / "zone-home"
    argv, _ = local_command(Isolation("sandbox", python="/usr/bin/python3", hide=(str(inner),)),
                            tmp_path / "target", "0" * 64, 10)
    assert f"--tmpfs {inner}" in " ".join(argv)


def test_a_python_kept_in_a_users_home_shows_the_sandbox_its_bin_and_lib_not_the_home(tmp_path: Path) -> None:
    home = tmp_path / "someone"
    (home / "bin").mkdir(parents=True)
    (home / "lib").mkdir()
    (home / ".pgpass").write_text("db:5432:*:app:secret")
    (home / "bin" / "python3").symlink_to(sys.executable)
    trees = interpreter_trees(str(home / "bin" / "python3"))
    assert str(home / "bin") in trees and str(home / "lib") in trees
    assert not any(str(home / ".pgpass").startswith(tree) or tree in (str(home), str(tmp_path)) for tree in trees)
    assert all(not tree.startswith(("/usr/", "/etc/")) for tree in trees)  # the system is shown as a whole
    assert interpreter_trees("/usr/bin/python3") == [] and interpreter_trees("python3") == []


def test_a_worker_user_that_does_not_exist_is_a_clear_refusal(tmp_path: Path) -> None:
    with raises_code("worker_unavailable") as caught:
        local_command(Isolation("user", user="no-such-user-bk"), tmp_path, "0" * 64, 10)
    assert "worker setup" in caught.value.message


def test_isolation_says_loudly_when_steps_do_not_run_as_a_separate_user() -> None:
    assert Isolation("user", user="bundlekit-worker").warning is None
    assert "WARNING" in (Isolation("sandbox").warning or "") and "bubblewrap" in (Isolation("sandbox").warning or "")
    assert "UNCONFINED" in (Isolation("unconfined").warning or "")
