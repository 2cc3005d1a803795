"""`python3 tasks.py test` runs the suite on every core unless told otherwise."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pytest

from tests.conftest import ROOT


def _tasks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bundlekit_tasks", ROOT / "tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_suite_runs_with_xdist_by_default() -> None:
    args = _tasks().pytest_args(["tests/deploy"])
    assert args[args.index("-n") + 1] == "auto" and args[-1] == "tests/deploy"
    assert args[args.index("--dist") + 1] == "worksteal"  # long tests queued late do not idle a core


@pytest.mark.parametrize("given", [["-q", "-x", "-n", "2"], ["-n2"], ["-n=3"], ["--numprocesses", "4"],
                                   ["--numprocesses=auto"], ["-n", "0"], ["-p", "no:xdist"], ["-pno:xdist"],
                                   ["--dist", "loadfile", "-n", "2"]])
def test_callers_choice_of_workers_is_kept_alone(given: list[str]) -> None:
    args = _tasks().pytest_args(given)
    assert "auto" not in args[:len(args) - len(given)], args
    assert args[-len(given):] == given


def test_an_option_that_only_starts_like_n_is_not_taken_for_a_worker_count() -> None:
    args = _tasks().pytest_args(["--no-header", "-p", "no:cacheprovider"])
    assert args[args.index("-n") + 1] == "auto"


def test_without_root_the_test_command_names_the_one_install_line_and_stops_before_anything(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    tasks = _tasks()
    monkeypatch.setattr(tasks, "SYSTEM_PACKAGES", {"chromium": lambda: False, "openssh-server": lambda: True,
                                                   "postgresql": lambda: False})
    monkeypatch.setattr(tasks.os, "geteuid", lambda: 1000)

    def no_venv() -> None:
        raise AssertionError("nothing may start before the system packages are there")

    monkeypatch.setattr(tasks, "ensure_venv", no_venv)
    assert tasks.main(["test"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "`sudo apt-get install -y chromium postgresql`" in err[0]


def test_as_root_the_missing_packages_are_installed_with_apt_get(monkeypatch: pytest.MonkeyPatch) -> None:
    tasks = _tasks()
    ran: list[list[str]] = []
    monkeypatch.setattr(tasks, "SYSTEM_PACKAGES", {"chromium": lambda: False, "openssh-server": lambda: True})
    monkeypatch.setattr(tasks.os, "geteuid", lambda: 0)
    monkeypatch.setattr(tasks.shutil, "which", lambda name: "/usr/bin/" + name)

    class Done:
        returncode = 0

    monkeypatch.setattr(tasks.subprocess, "run", lambda cmd, **kw: ran.append(cmd) or Done())
    assert tasks.ensure_system_packages()
    assert ran == [["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]]
