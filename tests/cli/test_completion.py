"""Shell completion offers the zone's projects, versions, environments and targets, not only commands."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.operator_world import World, bk, ok, world

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> World:
    w = world(tmp_path_factory.mktemp("completion"))
    ok("import", w.bundle, home=w.prod)
    return w


def _complete(line: str, home: Path | None, shell: str = "bash") -> list[str]:
    """The candidates click's ``shell`` script is given (bash: ``plain,VALUE`` lines; zsh:
    ``plain``, ``VALUE``, help lines)."""
    words = line.split(" ")
    env = {"_BUNDLEKIT_COMPLETE": f"{shell}_complete", "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)}
    if home is not None:
        env["BUNDLEKIT_HOME"] = str(home)
    r = bk(env=env)
    assert r.exit_code == 0, r.stderr
    if shell == "zsh":
        return r.stdout.splitlines()[1::3]
    return [row.split(",", 1)[1] for row in r.stdout.splitlines() if row]


def test_commands_complete(w: World) -> None:
    assert "deploy" in _complete("bundlekit dep", None)
    assert "prune" in _complete("bundlekit pr", None)


def test_projects_versions_environments_and_targets_come_from_the_zone(w: World) -> None:
    assert _complete("bundlekit deploy ", w.prod) == ["acme-web"]
    assert _complete("bundlekit deploy acme-web ", w.prod) == ["1.4.0"]
    assert _complete("bundlekit deploy acme-web 1.4.0 --environment P", w.prod) == ["Production"]
    assert _complete("bundlekit targets remove ", w.prod) == ["db-01", "web-01"]
    assert _complete("bundlekit variables set acme-web X y --machine w", w.prod) == ["web-01"]


def test_home_on_the_command_line_is_used_and_a_missing_zone_completes_nothing(w: World, tmp_path: Path) -> None:
    assert _complete(f"bundlekit show --home {w.prod} ", tmp_path / "nowhere") == ["acme-web"]
    assert _complete("bundlekit show ", tmp_path / "nowhere") == []


def test_tenants_complete_from_the_project_and_projects_complete_once_by_slug(w: World) -> None:
    """Finding 15.5: `deploy --tenant` completed nothing, and project names came back mixed
    (`big-app billing Billing Shop shop`)."""
    ok("variables", "set", "acme-web", "Acme.Theme", "dark", "--tenant", "Acme Corp", "--new", home=w.prod)
    assert _complete("bundlekit deploy acme-web 1.4.0 --environment Production --tenant Ac", w.prod) == ["Acme\\\\ Corp"]
    assert _complete("bundlekit lifecycle show acme-web --tenant ", w.prod) == ["Acme\\\\ Corp"]
    assert _complete("bundlekit variables list ", w.prod) == ["acme-web"]


def test_trusted_zones_complete_after_to_and_trust_set(w: World) -> None:
    """Finding 15.1: `--to ` completed nothing though the trusted zones are in the state."""
    assert _complete("bundlekit deployments receipt Deployments-1 --to ", w.prod) == ["dev"]
    assert _complete("bundlekit export release.toml --to p", w.dev) == ["prod"]
    assert _complete("bundlekit trust set ", w.prod) == ["dev"]
    assert _complete("bundlekit trust remove d", w.prod) == ["dev"]
    assert _complete("bundlekit zone migrate-state --to ", w.prod) == []  # a database URL there, not a zone


#: A bash session as a user's: click's completion script installed as the README says, TAB on
#: ``--environment PREFIX`` (the script's function, as bash calls it), then each candidate put on
#: the line and read by bash as Enter would (``eval "set -- CANDIDATE"``): words and their text.
_BASH_TAB = r"""
eval "$(_BUNDLEKIT_COMPLETE=bash_source bundlekit)"
COMP_WORDS=(bundlekit deploy acme-web 1.4.0 --environment "$1")
COMP_CWORD=5
_bundlekit_completion bundlekit
for reply in "${COMPREPLY[@]}"; do
  eval "set -- $reply"
  printf '%s|%s\n' "$#" "$1"
done
"""


@pytest.mark.parametrize("name", ["Staging$(touch {mark})", "Prod East", "it's `x`", 'say "hi"; touch {mark}',
                                  "Producción #1", "a:b=c", "glob*[x]?"])
def test_bash_puts_each_candidate_on_the_line_as_the_one_name_and_runs_nothing(w: World, tmp_path: Path,
                                                                               name: str) -> None:
    """Reviews v33-15a F5 and w33-15: a candidate went onto bash's line as it was, so TAB then
    Enter on an environment named 'Staging$(touch ...)' ran the command and 'Prod East' became
    two words; escaping it once was not enough, as click's script reads candidates with `read`,
    which takes one level of backslashes away. This runs that very script in a real bash."""
    mark = tmp_path / "ran"
    name = name.format(mark=mark)
    ok("targets", "add", f"t{abs(hash(name)) % 10**6}", "--environment", name, "--new", "--role", "web", "--root",
       tmp_path / "t", home=w.prod)
    env = {**os.environ, "BUNDLEKIT_HOME": str(w.prod), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", _BASH_TAB, "_", name[:2]], capture_output=True,
                       text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    read_back = [line.partition("|") for line in r.stdout.splitlines()]
    assert read_back and all(words == "1" for words, _, _ in read_back), r.stdout
    assert name in [value for _, _, value in read_back], r.stdout
    assert not mark.exists()
    # zsh's compadd quotes what it inserts itself: it is given the name (click may escape a ':')
    zsh = _complete(f"bundlekit deploy acme-web 1.4.0 --environment {name[:2]}", w.prod, shell="zsh")
    assert name in [c.replace("\\:", ":") for c in zsh], zsh


def test_spaces_steps_variable_names_and_zones_of_outputs_complete(w: World) -> None:
    """Review v33-15u F10: --space, a step, a variable name and `outputs --zone` completed nothing."""
    assert _complete("bundlekit deploy acme-web 1.4.0 --space ", w.prod) == ["Default"]
    steps = _complete("bundlekit steps disable acme-web ", w.prod)
    assert steps and "Deploy\\\\ web" in steps, steps
    names = _complete("bundlekit variables set acme-web Acme.Db", w.prod)
    assert "Acme.Db.Name" in names and "Acme.Db.Password" in names, names
    assert _complete("bundlekit variables unset acme-web acme.db.n", w.prod) == ["Acme.Db.Name"]
    assert _complete("bundlekit outputs acme-web --zone ", w.dev) == ["prod"]


def test_phases_and_steps_complete_in_their_own_order(w: World, tmp_path: Path) -> None:
    """Review v33-15u F10: phases came alphabetically (Development, Production, Staging)."""
    shutil.copytree(FIXTURES / "acme", tmp_path / "acme")
    release = tmp_path / "acme" / "release-1.5.0.toml"
    release.write_text(release.read_text().replace('name = "Acme Web"', 'name = "Phase Order"', 1))
    ok("releases", "create", release, home=w.prod)
    assert _complete("bundlekit lifecycle waive phase-order --phase ", w.prod) == ["Development", "Staging",
                                                                                    "Production"]
    steps = _complete("bundlekit steps enable acme-web ", w.prod)
    release = (w.root / "release" / "release.toml").read_text()
    at = [release.index(f'name = "{s.replace(chr(92), "")}"') for s in steps]
    assert at == sorted(at), steps


def test_a_tab_against_a_locked_state_completes_nothing_instead_of_waiting(w: World, monkeypatch: pytest.MonkeyPatch,
                                                                         ) -> None:
    """Review v33-15a F13: a TAB waited SQLite's whole busy timeout behind a writer. Here the
    writer never lets go while the test holds it, and the timeout is an hour: without the
    completion's own deadline this test would hang, not pass."""
    import sqlite3

    from bundlekit.cli import completion
    from bundlekit.zone import sqlite as backend

    monkeypatch.setattr(backend, "BUSY_TIMEOUT", 3600.0)
    monkeypatch.setattr(completion, "DEADLINE", 0.5)
    holder = sqlite3.connect(str(w.prod / "state.db"), isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        assert _complete("bundlekit deploy ", w.prod) == []
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "acme-web" in _complete("bundlekit deploy ", w.prod)  # the lock gone, the zone completes again
