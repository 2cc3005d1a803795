"""Prune never removes what one target runs because another target reaches the same folder
under another name (decision 411), through the real CLI against a real sshd.

Two targets are one machine and one work folder, spelled differently: ``127.0.0.1`` and
``localhost``, a trailing slash, a link to the folder; or two local folder targets, one through
a link. Production runs 1.0.0 from that folder while Staging moves on to 4.0.0; with
``retention set --keep 1`` the plan must keep Production's current release and Staging's
current and previous ones there, and let only 2.0.0 go (it removed Production's 1.0.0 and
Staging's current release when it compared the spellings)."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.operator_world import ok
from tests.fleet.sshd import SshServer, require_sshd, start_servers

VERSIONS = ("1.0.0", "2.0.0", "3.0.0", "4.0.0")
RELEASE = '''[project]
name = "Shared App"
space = "Default"
[release]
version = "{v}"
channel = "Default"
[[packages]]
id = "Shared.App"
version = "{v}"
file = "Shared.App.{v}.zip"
[[steps]]
name = "Install"
type = "package"
package = "Shared.App"
roles = ["app"]
'''


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SshServer, Path]]:
    require_sshd()
    root = tmp_path_factory.mktemp("one-machine")
    ok("init", "--zone", "dev", home=root / "zone")
    key = ok("targets", "ssh-key", home=root / "zone").strip()
    (server,) = start_servers(root / "machines", 1, key, prefix="shared")
    yield server, root
    server.stop()


def _zone(tmp_path: Path, base: Path) -> Path:
    import shutil

    home = tmp_path / "zone"
    shutil.copytree(base / "zone", home)
    for v in VERSIONS:
        with zipfile.ZipFile(tmp_path / f"Shared.App.{v}.zip", "w") as z:
            z.writestr("app.txt", f"version {v}\n" * 100)
        (tmp_path / f"r{v}.toml").write_text(RELEASE.format(v=v))
        ok("releases", "create", tmp_path / f"r{v}.toml", home=home)
    return home


def _deploy_and_prune(home: Path, shared: Path) -> tuple[dict, dict]:  # type: ignore[type-arg]
    ok("deploy", "shared-app", "1.0.0", "--environment", "Production", home=home)
    for v in VERSIONS:
        ok("deploy", "shared-app", v, "--environment", "Staging", home=home)
    assert sorted(p.name for p in (shared / "Shared.App").iterdir() if p.is_dir()) == list(VERSIONS)
    ok("retention", "set", "--keep", "1", home=home)
    plan = json.loads(ok("prune", "--dry-run", "--json", home=home))
    done = json.loads(ok("prune", "--json", home=home))
    return plan, done


def _removed_versions(plan: dict) -> list[str]:  # type: ignore[type-arg]
    return sorted(r["what"].split()[-1] for r in plan["remove"] if r["kind"] == "target_folder")


@pytest.mark.parametrize(("host", "slash", "link"), [("localhost", "/", False), ("127.0.0.1", "", True)],
                         ids=["host-and-slash", "through-a-link"])
def test_prune_keeps_what_any_target_reaching_one_ssh_folder_runs(machine: tuple[SshServer, Path], tmp_path: Path,
                                                                   host: str, slash: str, link: bool) -> None:
    server, base = machine
    home = _zone(tmp_path, base)
    shared = tmp_path / "shared"
    other = tmp_path / "shared-link" if link else shared
    if link:
        shared.mkdir()
        other.symlink_to(shared)
    address = f"{server.user}@{{}}:{server.port}"
    ok("targets", "add", "st", "--environment", "Staging", "--role", "app", "--ssh", address.format("127.0.0.1"),
       "--host-key", server.host_key, "--work-dir", shared, home=home)
    ok("targets", "add", "pr", "--environment", "Production", "--role", "app", "--ssh", address.format(host),
       "--host-key", server.host_key, "--work-dir", f"{other}{slash}", home=home)
    plan, done = _deploy_and_prune(home, shared)
    # Production's current (1.0.0), Staging's current and previous (4.0.0, 3.0.0) stay; only 2.0.0 may go
    # both targets answered (a target not asked keeps its environment's releases everywhere)
    assert not [s for s in plan["skipped"] if s.startswith(("target st", "target pr"))], plan["skipped"]
    assert _removed_versions(plan) == ["2.0.0"], plan["remove"]
    assert sorted(p.name for p in (shared / "Shared.App").iterdir() if p.is_dir()) == ["1.0.0", "3.0.0", "4.0.0"], done
    reasons = [r["reason"] for r in plan["remove"] if r["kind"] == "target_folder"]
    assert len(reasons) == 1 and reasons[0] in (
        "no release kept on st (Staging) or pr (Production) installs it here",
        "no release kept on pr (Production) or st (Staging) installs it here"), reasons


def test_prune_keeps_what_any_local_target_reaching_one_folder_through_a_link_runs(tmp_path: Path,
                                                                                    machine: tuple[SshServer, Path]) -> None:
    _, base = machine
    home = _zone(tmp_path, base)
    shared = tmp_path / "shared"
    shared.mkdir()
    (tmp_path / "link").symlink_to(shared)
    ok("targets", "add", "st", "--environment", "Staging", "--role", "app", "--root", shared, home=home)
    ok("targets", "add", "pr", "--environment", "Production", "--role", "app", "--root", tmp_path / "link", home=home)
    plan, _ = _deploy_and_prune(home, shared)
    assert not [s for s in plan["skipped"] if s.startswith(("target st", "target pr"))], plan["skipped"]
    assert _removed_versions(plan) == ["2.0.0"], plan["remove"]
    assert sorted(p.name for p in (shared / "Shared.App").iterdir() if p.is_dir()) == ["1.0.0", "3.0.0", "4.0.0"]


def test_an_unreachable_target_keeps_its_environments_releases_everywhere(tmp_path: Path,
                                                                          machine: tuple[SshServer, Path]) -> None:
    """A target that cannot be asked may share a folder with one that can: nothing its
    environment keeps is removed until it answers again."""
    server, base = machine
    home = _zone(tmp_path, base)
    shared = tmp_path / "shared"
    ok("targets", "add", "st", "--environment", "Staging", "--role", "app", "--ssh",
       f"{server.user}@127.0.0.1:{server.port}", "--host-key", server.host_key, "--work-dir", shared, home=home)
    ok("targets", "add", "pr", "--environment", "Production", "--role", "app", "--ssh",
       f"{server.user}@localhost:{server.port}", "--host-key", server.host_key, "--work-dir", f"{shared}/",
       home=home)
    ok("deploy", "shared-app", "1.0.0", "--environment", "Production", home=home)
    for v in VERSIONS:
        ok("deploy", "shared-app", v, "--environment", "Staging", home=home)
    # pr now points at a port nobody answers on: its folder is still the shared one
    ok("targets", "remove", "pr", home=home)
    ok("targets", "add", "pr", "--environment", "Production", "--role", "app", "--ssh",
       f"{server.user}@localhost:1", "--host-key", server.host_key, "--work-dir", f"{shared}/", home=home)
    ok("retention", "set", "--keep", "1", home=home)
    plan = json.loads(ok("prune", "--dry-run", "--json", home=home))
    assert _removed_versions(plan) == ["2.0.0"], plan["remove"]
    assert any("target pr" in s and "nothing kept for Production is removed anywhere" in s for s in plan["skipped"])
