"""Every command that takes an environment name checks it against the zone's environments the
same way (findings 10.12, 15.4, decision 394), and every refusal of an unknown name says what
to do (10.8). Through the real CLI, on copies of the refusal table's zones
(``tests/refusals/world.py``: prod holds acme-web 1.4.0 and targets in Production).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from tests.conftest import run_cli, snapshot
from tests.refusals.world import Ctx, build_base


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_base(tmp_path_factory.mktemp("env-names-base"))


@pytest.fixture
def ctx(base: Path, tmp_path: Path) -> Ctx:
    return Ctx(base, tmp_path)


def _error(*args: object, home: Path) -> tuple[int, dict[str, object]]:
    r = run_cli(*args, "--json", home=home)
    return r.returncode, json.loads(r.stdout)["error"]


def test_a_target_in_another_case_joins_the_known_environment(ctx: Ctx) -> None:
    """10.12: `targets add p2 --environment production` beside Production made a second spelling."""
    r = run_cli("targets", "add", "p2", "--environment", "production", "--role", "web", "--root", ctx.path("p2"),
                "--json", home=ctx.prod)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["environment"] == "Production"
    envs = {t["environment"] for t in json.loads(run_cli("targets", "list", "--json", home=ctx.prod).stdout)["targets"]}
    assert envs == {"Production"}


def test_a_typo_of_a_known_environment_is_refused_with_the_closest_name_everywhere(ctx: Ctx) -> None:
    """15.4: `retention set --environment Prodction` was accepted silently; so was a target's."""
    before = snapshot(ctx.prod)
    for args in (["retention", "set", "--keep", "1", "--environment", "Prodction"],
                 ["targets", "add", "p3", "--environment", "Prodction", "--role", "web", "--root", ctx.path("p3")],
                 ["variables", "set", "acme-web", "Acme.Db.Name", "x", "--environment", "Prodction"]):
        code, err = _error(*args, home=ctx.prod)
        assert code == 1 and err["code"] in ("unknown_environment", "unknown_scope_value"), (args, err)
        assert "'Production'" in str(err["message"]) and "--new" in str(err["message"]), args
    assert snapshot(ctx.prod) == before
    # a new environment whose name is close to a known one is said to be new
    r = run_cli("retention", "set", "--keep", "1", "--environment", "Prodction", "--new", "--json", home=ctx.prod)
    assert r.returncode == 0 and json.loads(r.stdout)["environment"] == "Prodction"
    # a name close to nothing is simply new
    r = run_cli("retention", "set", "--keep", "2", "--environment", "Staging", "--json", home=ctx.prod)
    assert r.returncode == 0 and json.loads(r.stdout)["environment"] == "Staging"
    r = run_cli("retention", "set", "--keep", "3", "--environment", "PRODUCTION", "--json", home=ctx.prod)
    assert json.loads(r.stdout)["environment"] == "Production"


def test_refusals_of_unknown_names_say_what_exists_and_what_to_do(ctx: Ctx) -> None:
    """10.8: `variables unset shop Nope` said "with scope unscoped; see `bundlekit variables list`"
    (no project), and `deploy --force` pointed nowhere near a lifecycle waiver."""
    code, err = _error("variables", "unset", "acme-web", "Acme.Db.Nmae", home=ctx.prod)
    assert (code, err["code"]) == (1, "unknown_variable")
    assert "Did you mean 'Acme.Db.Name'?" in str(err["message"])
    assert f"`bundlekit variables list acme-web --home {shlex.quote(str(ctx.prod))}`" in str(err["message"]) and "unscoped" not in str(err["message"])
    code, err = _error("variables", "unset", "acme-web", "Acme.Db.Name", "--environment", "Staging", home=ctx.prod)
    assert "It has values of that name with no scope; --environment Production: give the same scope options" in \
        str(err["message"])
    r = run_cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--force", home=ctx.prod)
    assert r.returncode == 2 and "bundlekit lifecycle waive" in r.stderr
