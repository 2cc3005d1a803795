"""New-user review 38, F6, through the real CLI: a source trusted in Default by mistake sends a
release naming space Payments; it enters Default and its project stays there for good
(decisions 660, 946). Moving the source's trust rule to Payments, as the import's note offered,
then refused the project's next release, and both refusals led nowhere: the first said "import it
with --space Payments", which the second refused without naming where the project is. Now each
refusal names the space that holds the project and the command that takes its releases in, the
note says what moving the rule costs, and following the refusal imports the release.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import snapshot
from tests.e2e.relayzones import PAY, Zones


def _space_denied(z: Zones, bundle: Path, *extra: str) -> dict[str, object]:
    before = snapshot(z.home("prod"))
    done = z.run("import", bundle, *extra, "--json", at="prod")
    assert done.returncode == 3, (done.stdout, done.stderr)
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "space_denied", error
    assert snapshot(z.home("prod")) == before or error["details"].get("refusal_queued")
    return error  # type: ignore[no-any-return]


def test_a_project_left_in_default_is_named_with_the_rule_that_takes_its_releases_again(tmp_path: Path) -> None:
    z = Zones(tmp_path, "paydev", "prod")
    for zone in ("paydev", "prod"):
        z.setup("spaces", "add", "Payments", home=z.home(zone))
    z.trust("paydev", "prod")
    z.trust("prod", "paydev")  # the slip: no --space Payments
    first, second = z.path("pay-1.bundle"), z.path("pay-2.bundle")
    z.ok("export", z.release(PAY, "1.0.0"), "--to", "prod", "-o", first, at="paydev")
    z.ok("export", z.release(PAY, "1.0.1"), "--to", "prod", "-o", second, at="paydev")

    noted = z.run("import", first, at="prod")
    assert noted.returncode == 0, noted.stderr
    note = " ".join((noted.stdout + noted.stderr).split())
    assert "its project stays in space Default" in note, note
    assert "this project's releases then cannot enter either space" in note, note

    z.ok("trust", "set", "paydev", "--space", "Payments", at="prod")
    way_back = "`bundlekit trust set paydev --space Default --home "
    plain = _space_denied(z, second)
    assert "Project Pay Web stays in space Default" in plain["message"] and way_back in plain["message"], plain
    assert "--space Payments`" not in plain["message"], plain  # the old advice, refused in turn
    typed = _space_denied(z, second, "--space", "Payments")
    assert typed["details"]["held_in"] == "Default", typed  # type: ignore[index]
    assert "belongs to space Default, not Payments" in typed["message"] and way_back in typed["message"], typed

    z.ok("trust", "set", "paydev", "--space", "Default", at="prod")  # as both refusals say
    z.ok("import", second, at="prod")
    listed = json.loads(z.ok("releases", "list", "--json", at="prod"))
    assert {(r["version"], r["in_space"]) for r in listed["releases"]} >= {("1.0.1", "Default")}, listed
