"""The bootstrap trusts no cached runner: it hashes the cache on every start and runs only those bytes.

A step may write its work folder, and the runner is cached there
(``WORK/.bundlekit/runner/<sha>.pyz``). A cache rewritten with a trojan (a zipapp whose
``__main__`` leaves a mark and keeps what the zone sends) must never run: the next start finds
the bytes wrong, says ``SEND altered``, gets and runs the genuine runner, and repairs the cache;
the fleet keeps a notice for the deployment's record. Decision 451.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bundlekit.deploy.fleet import Fleet
from bundlekit.deploy.launch import default_python
from bundlekit.runtime.boot import bootstrap_argv
from bundlekit.deploy.targets import Isolation, LocalFolderTarget
from bundlekit.runtime.pack import runner

TROJAN = b"""import os, sys
with open(os.path.join(sys.argv[1], "trojan-ran"), "wb") as out:
    out.write(os.read(0, 65536))
sys.exit(3)
"""


def trojan_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("__main__.py", TROJAN)
    return buffer.getvalue()


def start(target: LocalFolderTarget) -> tuple[dict[str, object], bool, list[str]]:
    """Start the runner once on ``target``: its hello, whether the cache was found altered, the notices."""
    with Fleet() as fleet:
        session = fleet.run(fleet.session(target))
        return session.hello, session.runner_altered, list(fleet.notices)


@pytest.mark.parametrize("trojan", [trojan_zip(), TROJAN, b""], ids=["zipapp", "script", "empty"])
def test_a_rewritten_cached_runner_is_detected_replaced_and_never_run(tmp_path: Path, trojan: bytes) -> None:
    target = LocalFolderTarget("web-01", "Production", frozenset({"web"}), tmp_path / "web-01",
                               Isolation("unconfined", python=sys.executable))
    genuine = runner()
    cached = tmp_path / "web-01" / ".bundlekit" / "runner" / f"{genuine.sha256}.pyz"
    hello, altered, notices = start(target)
    assert hello["runner"] == genuine.sha256 and not altered and notices == []
    assert cached.read_bytes() == genuine.data  # kept for the next start
    cached.write_bytes(trojan)  # what a step of an earlier deployment could do
    hello, altered, notices = start(target)
    assert hello["runner"] == genuine.sha256 and altered
    assert len(notices) == 1 and "web-01" in notices[0] and "altered" in notices[0]
    assert not (tmp_path / "web-01" / "trojan-ran").exists()
    assert cached.read_bytes() == genuine.data  # repaired
    hello, altered, notices = start(target)
    assert hello["runner"] == genuine.sha256 and not altered and notices == []


def test_a_cached_runner_swapped_for_a_link_is_not_followed(tmp_path: Path) -> None:
    target = LocalFolderTarget("web-01", "Production", frozenset(), tmp_path / "web-01",
                               Isolation("unconfined", python=sys.executable))
    genuine = runner()
    start(target)
    cached = tmp_path / "web-01" / ".bundlekit" / "runner" / f"{genuine.sha256}.pyz"
    elsewhere = tmp_path / "elsewhere.pyz"
    planted = trojan_zip()
    elsewhere.write_bytes(planted)
    cached.unlink()
    cached.symlink_to(elsewhere)
    hello, altered, _ = start(target)
    assert hello["runner"] == genuine.sha256 and altered
    assert not (tmp_path / "web-01" / "trojan-ran").exists()
    assert elsewhere.read_bytes() == planted  # the link was replaced, not written through
    assert not cached.is_symlink() and cached.read_bytes() == genuine.data


PLANTED = "import os\nopen(os.path.join(WORK, 'pwned-NAME'), 'w').close()\n"


@pytest.mark.parametrize("mode", ["sandbox", "unconfined"])
def test_modules_a_step_leaves_in_the_work_folder_are_not_imported_by_the_bootstrap(tmp_path: Path, mode: str) -> None:
    """A step may write the work folder, which is the bootstrap's current folder in the sandbox and
    its HOME everywhere: a ``hashlib.py`` there, or a ``.pth`` in the user site folder under it,
    would run as the next runner, before any hash is checked."""
    if mode == "sandbox" and not os.access("/usr/bin/bwrap", os.X_OK):
        pytest.fail("the sandbox case needs bubblewrap: run `apt-get install -y bubblewrap`")
    work = tmp_path / "web-01"
    work.mkdir()
    names = ("hashlib", "tempfile", "errno", "fcntl", "stat", "json", "platform", "zipfile")
    for name in names:
        (work / f"{name}.py").write_text(PLANTED.replace("WORK", repr(str(work))).replace("NAME", name))
    python = default_python()  # the system's, whose user site folder is on (a virtual environment's is off)
    version = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True,
                             text=True, check=True).stdout.strip()
    site = work / ".local" / "lib" / f"python{version}" / "site-packages"
    site.mkdir(parents=True)
    (site / "planted.pth").write_text("import os; open(os.path.join(" + repr(str(work)) + ", 'pwned-pth'), 'w').close()\n")
    target = LocalFolderTarget("web-01", "Production", frozenset(), work, Isolation(mode, python=python))
    hello, _, _ = start(target)
    assert hello["runner"] == runner().sha256
    with Fleet() as fleet:  # a probe (``targets check``) and an inventory (prune) too
        assert fleet.check([target])[0].healthy
        assert not isinstance(fleet.inventory([target])[0], Exception)
    assert sorted(p.name for p in work.iterdir() if p.name.startswith("pwned-")) == []


@pytest.mark.parametrize("python, has_lxml", [(sys.executable, True), ("/usr/bin/python3", False)])
def test_a_probe_reports_the_configuration_formats_without_importing_lxml(tmp_path: Path, python: str,
                                                                          has_lxml: bool) -> None:
    # The zone's own interpreter has lxml (a dependency); Debian's python3 here has not, as on a
    # target where only `python3` is installed. The formats let a dry run refuse XML configuration
    # for such a target before a deployment starts (decision 522).
    argv = bootstrap_argv(python, str(tmp_path / "work"), "0" * 64, 1, probe=True)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0 and out.stdout.startswith("BUNDLEKIT-PROBE "), out
    report = json.loads(out.stdout[len("BUNDLEKIT-PROBE "):])
    expected = ["json", "properties", "xml", "yaml"] if has_lxml else ["json", "properties", "yaml"]
    assert report["formats"] == expected
    assert not (tmp_path / "work").exists()


def test_the_fleet_learns_a_targets_formats_from_a_probe_and_from_the_runner(tmp_path: Path) -> None:
    from bundlekit.deploy.targets import Isolation, LocalFolderTarget

    bare = LocalFolderTarget("web-01", "Production", frozenset({"web"}), tmp_path / "web-01",
                             Isolation("unconfined", python="/usr/bin/python3"))
    with Fleet() as fleet:
        [probed] = fleet.preflight([bare], start=False)  # a dry run: nothing written
        assert not (tmp_path / "web-01").exists()
        [started] = fleet.preflight([bare])  # a deployment: the runner's hello
    assert probed.formats == started.formats == ("json", "properties", "yaml")
    assert probed.to_dict()["formats"] == ["json", "properties", "yaml"]
