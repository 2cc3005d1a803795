"""A release keeps what it was created with, and a waiver leaves a lasting record (review of
issues 10 and 15, findings 10.1, 10.4, 10.8, 10.9, 10.13).

The zones of ``promotion_world``: dev makes releases, staging and prod deploy them. Every
command a test is about runs through the real CLI in a subprocess.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from tests.conftest import run_cli, snapshot
from tests.dashboard.dom import grid_cells, parse
from tests.e2e.promotion_world import LIFECYCLE_RELEASE, Promo, make_promo, ok, okj


def _bind(home: Path) -> None:
    ok("variables", "set", "acme-web", "Acme.ApiKey", "k-zone", "--sensitive", home=home)


def _in_prod(w: Promo) -> None:
    """1.5.0 deployed to Development in dev, exported to prod and imported, targets in Production."""
    release = w.release_dir / LIFECYCLE_RELEASE
    ok("releases", "create", release, home=w.dev)
    _bind(w.dev)
    w.targets(w.dev, "Development")
    ok("deploy", "acme-web", "1.5.0", "--environment", "Development", home=w.dev)
    ok("import", w.export(release, "prod", "prod.bundle"), home=w.prod)
    _bind(w.prod)
    w.targets(w.prod, "Production")


def test_export_refuses_to_replace_a_release_the_zone_created_with_other_content(tmp_path: Path) -> None:
    """10.1: an edited release file of an existing version was exported silently, the release's
    variables changed under its deployments and its Development phase fell back to 0/1."""
    w = make_promo(tmp_path / "w")
    release = w.release_dir / LIFECYCLE_RELEASE
    ok("releases", "create", release, home=w.dev)
    _bind(w.dev)
    w.targets(w.dev, "Development")
    ok("deploy", "acme-web", "1.5.0", "--environment", "Development", home=w.dev)
    edited = w.release(LIFECYCLE_RELEASE, ('value = "acme_dev"', 'value = "acme_dev2"'))
    out = w.root / "media" / "edited.bundle"
    out.parent.mkdir(parents=True, exist_ok=True)
    before = snapshot(w.dev)
    r = run_cli("export", edited, "--to", "prod", "-o", out, "--json", home=w.dev)
    assert r.returncode == 4, r.stdout + r.stderr
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "release_exists" and "--replace" in err["message"] and str(edited) in err["message"]
    assert snapshot(w.dev) == before and not out.exists()
    show = okj("lifecycle", "show", "acme-web", "1.5.0", home=w.dev)
    assert show["lifecycle"]["phases"][0]["succeeded"] == ["Development"]
    # The same content exports as often as wanted; --replace is the explicit way to change it.
    assert run_cli("export", release, "--to", "prod", "-o", out, home=w.dev).returncode == 0
    # (to a new file: --replace is about the release, --overwrite about a file at -o, decision 942)
    r = run_cli("export", edited, "--to", "prod", "-o", out.with_name("replaced.bundle"), "--replace", "--json",
                home=w.dev)
    assert r.returncode == 0, r.stderr
    assert "--replace" in run_cli("export", "--help").stdout


def test_a_deployment_keeps_the_waiver_it_relied_on_after_the_waiver_is_withdrawn(tmp_path: Path) -> None:
    """10.4: the waiver's reason, author and time live in the deployment record, its receipt and
    the source's dashboard; `lifecycle waivers` lists the zone's waivers."""
    w = make_promo(tmp_path / "w")
    _in_prod(w)
    ok("lifecycle", "waive", "acme-web", "--phase", "Staging", "--release", "1.5.0", "--reason", "CAB-1234",
       home=w.prod)
    listed = json.loads(run_cli("lifecycle", "waivers", "--json", home=w.prod).stdout)["waivers"]
    assert [(x["project"], x["phase"], x["release"], x["reason"]) for x in listed] == \
        [("Acme Web", "Staging", "1.5.0", "CAB-1234")]
    author = listed[0]["author"]
    assert author
    text = run_cli("lifecycle", "waivers", "acme-web", home=w.prod).stdout
    assert "Staging (1.5.0): CAB-1234" in text and f"by {author}" in text
    dep = okj("deploy", "acme-web", "1.5.0", "--environment", "Production", home=w.prod)
    assert dep["waived"] == ["Staging"] and dep["waivers"][0]["reason"] == "CAB-1234"
    ok("lifecycle", "unwaive", "acme-web", "--phase", "Staging", "--release", "1.5.0", home=w.prod)

    shown = json.loads(run_cli("deployments", "show", dep["deployment_id"], "--json", home=w.prod).stdout)
    assert [(x["phase"], x["release"], x["reason"], x["author"]) for x in shown["waivers"]] == \
        [("Staging", "1.5.0", "CAB-1234", author)]
    assert "relied on a waiver of lifecycle phase Staging (1.5.0): CAB-1234" in \
        run_cli("deployments", "show", dep["deployment_id"], home=w.prod).stdout
    life = okj("lifecycle", "show", "acme-web", "1.5.0", home=w.prod)
    assert life["waivers"] == []
    assert [(d["deployment_id"], d["waivers"][0]["reason"], d["waivers"][0]["withdrawn"])
            for d in life["relied_on"]] == [(dep["deployment_id"], "CAB-1234", True)]
    assert "relied on a waiver of Staging: CAB-1234" in run_cli("lifecycle", "show", "acme-web", "1.5.0",
                                                                 home=w.prod).stdout
    # 10.1: the zone's list keeps a withdrawn waiver a deployment relied on, marked withdrawn
    listed = json.loads(run_cli("lifecycle", "waivers", "--json", home=w.prod).stdout)["waivers"]
    assert [(x["phase"], x["release"], x["reason"], x["author"], x["created"], x["withdrawn"], x["relied_on"])
            for x in listed] == [("Staging", "1.5.0", "CAB-1234", author, shown["waivers"][0]["created"], True,
                                  [dep["deployment_id"]])]
    text = run_cli("lifecycle", "waivers", home=w.prod).stdout
    assert "Staging (1.5.0): CAB-1234" in text and f"relied on by {dep['deployment_id']}; since withdrawn" in text

    ok("outbox", "pack", "-o", w.root / "media" / "r.bundle", home=w.prod)
    ok("import", w.root / "media" / "r.bundle", home=w.dev)
    board = okj("dashboard", home=w.dev)
    deps = [d for d in board["deployments"] if d["zone"] == "prod" and d["environment"] == "Production"]
    # 10.2: fields, with the waiver's time, not a preformatted text; the grid marks the waived run
    assert [d["waivers"] for d in deps] == [[{"phase": "Staging", "release": "1.5.0", "reason": "CAB-1234",
                                              "author": author, "created": shown["waivers"][0]["created"]}]]
    assert "waived: Staging" in run_cli("dashboard", home=w.dev, env={"COLUMNS": "250"}).stdout


def test_unknown_names_are_answered_with_the_closest_known_ones(tmp_path: Path) -> None:
    """10.8, 10.13: a phase, a project slug and a version that do not exist name the closest
    ones, by slug, and versions in version order."""
    w = make_promo(tmp_path / "w")
    _in_prod(w)
    for version in ("1.10.0", "1.9.0"):
        ok("releases", "create", w.release(LIFECYCLE_RELEASE, version=version), home=w.dev)
    r = run_cli("lifecycle", "waive", "acme-web", "--phase", "Stagng", "--reason", "x", "--json", home=w.prod)
    err = json.loads(r.stdout)["error"]
    assert (r.returncode, err["code"], err["details"]["suggestions"]) == (1, "unknown_phase", ["Staging"])
    assert "Did you mean 'Staging'?" in err["message"]
    r = run_cli("deploy", "acme-wb", "1.5.0", "--environment", "Production", "--json", home=w.prod)
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "unknown_project" and err["details"]["suggestions"] == ["acme-web"]
    assert "Did you mean 'acme-web'?" in err["message"] and "acme-web (Acme Web)" in err["message"]
    r = run_cli("lifecycle", "show", "acme-web", "1.9.1", "--json", home=w.dev)
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "unknown_release" and err["details"]["known"] == ["1.5.0", "1.9.0", "1.10.0"]
    rows = okj("releases", "list", home=w.dev)["releases"]
    assert [x["version"] for x in rows] == ["1.5.0", "1.9.0", "1.10.0"]


def test_a_phase_of_several_environments_counts_environments(tmp_path: Path) -> None:
    """10.9: `minimum_successful = 2` counts distinct environments, and the refusal says so."""
    w = make_promo(tmp_path / "w")
    two = w.release(LIFECYCLE_RELEASE, ('environments = ["Staging"]',
                                        'environments = ["Staging-A", "Staging-B"]\nminimum_successful = 2'),
                    ('scope = { environment = ["Staging"] }', 'scope = { environment = ["Staging-A"] }'))
    ok("releases", "create", two, home=w.dev)
    _bind(w.dev)
    w.targets(w.dev, "Development", "Staging-A", "Production")
    ok("deploy", "acme-web", "1.5.0", "--environment", "Development", home=w.dev)
    ok("deploy", "acme-web", "1.5.0", "--environment", "Staging-A", home=w.dev)
    ok("deploy", "acme-web", "1.5.0", "--environment", "Staging-A", home=w.dev)
    r = run_cli("deploy", "acme-web", "1.5.0", "--environment", "Production", "--json", home=w.dev)
    err = json.loads(r.stdout)["error"]
    assert (r.returncode, err["code"]) == (5, "lifecycle_violation")
    assert "successful deployments of this release to 2 of its environments (Staging-A, Staging-B) and has 1 " \
           "(Staging-A)" in err["message"]


def test_an_export_awaiting_its_receipt_never_replaces_what_ran_there(tmp_path: Path) -> None:
    """10.3: re-exporting 1.5.0 after its Production success was reported made the prod/Production
    cell read "awaiting receipt" and the success vanished from the grid; a release sent and never
    deployed showed as the latest in every environment of that zone."""
    w = make_promo(tmp_path / "w")
    _in_prod(w)
    ok("lifecycle", "waive", "acme-web", "--phase", "Staging", "--reason", "CAB-1", home=w.prod)
    ok("deploy", "acme-web", "1.5.0", "--environment", "Production", home=w.prod)
    ok("outbox", "pack", "-o", w.root / "media" / "r.bundle", home=w.prod)
    ok("import", w.root / "media" / "r.bundle", home=w.dev)
    w.export(w.release_dir / LIFECYCLE_RELEASE, "prod", "again.bundle")  # unchanged: exported again
    w.export(w.release(LIFECYCLE_RELEASE, version="1.6.0"), "staging", "new.bundle")  # never imported

    view = json.loads(run_cli("dashboard", "--json", home=w.dev).stdout)
    cols = [tuple(c) for c in view["columns"]]
    assert cols == [("dev", "Development"), ("prod", "Production"), ("prod", "(awaiting)"),
                    ("staging", "(awaiting)")]
    (row,) = view["projects"]
    cells = dict(zip(cols, row["cells"]))
    assert (cells["prod", "Production"]["latest"]["state"], cells["prod", "Production"]["latest"]["release"]) == \
        ("succeeded", "1.5.0")
    assert (cells["prod", "(awaiting)"]["latest"]["state"], cells["prod", "(awaiting)"]["latest"]["release"]) == \
        ("exported", "1.5.0")
    assert (cells["staging", "(awaiting)"]["latest"]["state"],
            cells["staging", "(awaiting)"]["latest"]["release"]) == ("exported", "1.6.0")
    assert cells["dev", "Development"]["latest"]["release"] == "1.5.0"
    text = run_cli("dashboard", home=w.dev, env={"COLUMNS": "300"}).stdout
    assert "2 export(s) awaiting a receipt" in text and "1.5.0 succeeded" in text and "1.6.0 exported" in text
    piped = run_cli("dashboard", home=w.dev, env={"COLUMNS": ""}).stdout  # 10.5: piped, nothing is cut
    assert "…" not in piped and "more column(s) not shown" not in piped and "1.6.0 exported" in piped
    html = w.root / "d.html"
    ok("dashboard", "--html", html, home=w.dev)
    shown = grid_cells(parse(html.read_text()))
    assert shown[("acme-web", "prod", "Production")].attrs["data-state"] == "succeeded"
    assert shown[("acme-web", "prod", "(awaiting)")].attrs["data-state"] == "exported"


def test_the_authoring_zone_gives_signed_proof_of_a_deployment_made_after_the_export(tmp_path: Path) -> None:
    """10.2: 1.5.0 exported to staging before dev deployed it could never prove its Development
    phase there, and the refusal did not say how. Now the refusal names re-exporting and dev's
    receipt; `deployments receipt` writes that receipt; staging accepts it as evidence, and
    refuses it altered (exit 3) or for another release (exit 3)."""
    w = make_promo(tmp_path / "w")
    release = w.release_dir / LIFECYCLE_RELEASE
    ok("import", w.export(release, "staging", "early.bundle"), home=w.staging)
    _bind(w.staging)
    w.targets(w.staging, "Staging")
    _bind(w.dev)
    w.targets(w.dev, "Development")
    dep = okj("deploy", "acme-web", "1.5.0", "--environment", "Development", home=w.dev)["deployment_id"]
    r = run_cli("deploy", "acme-web", "1.5.0", "--environment", "Staging", "--json", home=w.staging)
    err = json.loads(r.stdout)["error"]
    assert (r.returncode, err["code"]) == (5, "lifecycle_violation")
    assert "export the release from there again" in err["message"]
    assert "(there, `bundlekit deployments receipt DEPLOYMENT-ID --to ZONE -o FILE`)" in err["message"]
    r = run_cli("deploy", "acme-web", "1.5.0", "--environment", "Development", "--receipt-out",
                w.root / "x.bundle", home=w.dev)
    assert r.returncode == 2 and "bundlekit deployments receipt" in r.stderr

    proof = w.root / "media" / "dev-proof.bundle"
    made = okj("deployments", "receipt", dep, "--to", "staging", "-o", proof, home=w.dev)
    assert made["deployments"] == [dep]
    forged = w.root / "media" / "forged.bundle"
    data = bytearray(proof.read_bytes())
    data[-40] ^= 1
    forged.write_bytes(bytes(data))
    before = snapshot(w.staging)
    r = run_cli("deploy", "acme-web", "1.5.0", "--environment", "Staging", "--evidence", forged, home=w.staging)
    assert r.returncode == 3, r.stderr
    assert snapshot(w.staging) == before
    ok("deploy", "acme-web", "1.5.0", "--environment", "Staging", "--evidence", proof, home=w.staging)
    life = okj("lifecycle", "show", "acme-web", "1.5.0", home=w.staging)
    assert life["lifecycle"]["phases"][0]["succeeded"] == ["Development"]

    # proof of another release of the project does not count for this one
    other = w.release(LIFECYCLE_RELEASE, version="1.6.0")
    ok("releases", "create", other, home=w.dev)
    ok("import", w.export(other, "staging", "other.bundle"), home=w.staging)
    dep2 = okj("deploy", "acme-web", "1.6.0", "--environment", "Development", home=w.dev)["deployment_id"]
    r = run_cli("deployments", "receipt", dep2, "--to", "prod", "-o", w.root / "p.bundle", "--json", home=w.dev)
    assert json.loads(r.stdout)["error"]["code"] == "not_exported"
    wrong = w.root / "media" / "wrong.bundle"
    ok("deployments", "receipt", dep2, "--to", "staging", "-o", wrong, home=w.dev)
    r = run_cli("deploy", "acme-web", "1.5.0", "--environment", "Staging", "--evidence", wrong, "--json",
                home=w.staging)
    assert (r.returncode, json.loads(r.stdout)["error"]["code"]) == (3, "evidence_mismatch")


def test_inspect_shows_what_a_receipt_reports_and_a_release_lifecycle_and_proof(tmp_path: Path) -> None:
    """10.6: `inspect` of a receipt showed only its header; of a release, neither its lifecycle
    nor the attested deployments it carries. 15.3: sizes read as people read them."""
    w = make_promo(tmp_path / "w")
    _in_prod(w)
    bundle = w.root / "media" / "prod.bundle"
    info = json.loads(run_cli("inspect", bundle, "--json").stdout)
    assert [p["name"] for p in info["lifecycle"]["phases"]] == ["Development", "Staging", "Production"]
    assert [a["environment"] for a in info["attestations"]] == ["Development"]
    text = run_cli("inspect", bundle).stdout
    assert "lifecycle Development (Development) > Staging (Staging) > Production (Production)" in text
    assert "succeeded in Development in zone dev" in text and "710 bytes sha256 " in text  # a size people read
    ok("lifecycle", "waive", "acme-web", "--phase", "Staging", "--reason", "CAB-7", home=w.prod)
    dep = okj("deploy", "acme-web", "1.5.0", "--environment", "Production", home=w.prod)["deployment_id"]
    receipt = w.root / "media" / "r.bundle"
    ok("outbox", "pack", "-o", receipt, home=w.prod)
    info = json.loads(run_cli("inspect", receipt, "--json").stdout)
    assert [(d["deployment_id"], d["environment"], d["state"], d["waived"]) for d in info["deployments"]] == \
        [(dep, "Production", "Success", ["Staging"])]
    text = run_cli("inspect", receipt).stdout
    assert f"deployment {dep}: Acme Web 1.5.0 to Production: Success" in text
    # 10.4: what the receipt carries of the waiver, and (10.3) --json times in whole seconds
    author = info["deployments"][0]["waivers"][0]["author"]
    assert f"relied on a waiver of phase Staging (every release): CAB-7 (waived by {author}, " in text
    shown = okj("deployments", "show", dep, home=w.prod)
    assert info["deployments"][0]["ended"] == shown["record"]["ended"] and "ended_ms" not in info["deployments"][0]
    assert info["deployments"][0]["waivers"] == [{"phase": "Staging", "release": "*", "reason": "CAB-7",
                                                  "author": author, "created": shown["waivers"][0]["created"]}]
    # 10.5: a phase's optional and minimum_successful in the text, as in the JSON
    other = w.release(LIFECYCLE_RELEASE, ('environments = ["Staging"]',
                                          'environments = ["Staging-A", "Staging-B"]\nminimum_successful = 2'),
                      ('name = "Development"\nenvironments = ["Development"]',
                       'name = "Development"\nenvironments = ["Development"]\noptional = true'),
                      # the staging value follows the phase's environments (lint: no value outside the lifecycle)
                      ('scope = { environment = ["Staging"] }', 'scope = { environment = ["Staging-A", "Staging-B"] }'),
                      version="1.6.0")
    text = run_cli("inspect", w.export(other, "prod", "p16.bundle")).stdout
    assert ("lifecycle Development (Development; optional) > Staging (2 of Staging-A, Staging-B) > "
            "Production (Production)") in text


def test_dashboard_json_gives_every_time_as_the_commands_that_keep_it_do(tmp_path: Path) -> None:
    """Decision 480 (finding 10.3): a time in --json is Unix seconds, an int where the zone keeps
    whole seconds. The dashboard gave a receipt's arrival and an export's time as floats
    (``1796113474.0``); its deployment and step times must read as `deployments show` gives them."""
    w = make_promo(tmp_path / "w")
    _in_prod(w)
    ok("lifecycle", "waive", "acme-web", "--phase", "Staging", "--reason", "CAB-9", home=w.prod)
    dep = okj("deploy", "acme-web", "1.5.0", "--environment", "Production", home=w.prod)["deployment_id"]
    receipt = w.root / "media" / "r.bundle"
    ok("outbox", "pack", "-o", receipt, home=w.prod)
    ok("import", receipt, home=w.dev)
    w.export(w.release_dir / LIFECYCLE_RELEASE, "staging", "s.bundle")  # awaits staging's receipt
    r = run_cli("dashboard", "--json", home=w.dev)
    assert r.returncode == 0, r.stderr
    view = json.loads(r.stdout)
    shown = okj("deployments", "show", dep, home=w.prod)
    mine = next(d for d in view["deployments"] if d["zone"] == "prod")
    assert (mine["started"], mine["ended"]) == (shown["record"]["started"], shown["record"]["ended"])
    assert [(s["started"], s["ended"]) for s in mine["steps"]] == \
        [(run["started"], run["ended"]) for run in shown["record"]["runs"]]
    assert type(mine["receipt_received"]) is int
    assert mine["waivers"][0]["created"] == shown["waivers"][0]["created"]
    assert type(mine["waivers"][0]["created"]) is int
    awaiting = [c for p in view["projects"] for c in p["cells"] if c and c["exported_at"] is not None]
    assert [(c["zone"], type(c["exported_at"])) for c in awaiting] == [("staging", int)], awaiting
    assert type(view["generated"]) is int
    for name in ("receipt_received", "exported_at", "generated", "created"):
        assert not re.search(rf'"{name}": \d+\.0\b', r.stdout), name


def test_a_re_export_of_an_older_release_held_unchanged_changes_nothing_of_its_project(tmp_path: Path) -> None:
    """10.11: re-importing a re-export of unchanged 1.5.0 after 1.6.0 planned "update variable"
    (it diffed against the project's newest release) and set the project back to 1.5.0's values."""
    w = make_promo(tmp_path / "w")
    release = w.release_dir / LIFECYCLE_RELEASE
    ok("import", w.export(release, "prod", "a.bundle"), home=w.prod)
    newer = w.release(LIFECYCLE_RELEASE, ('value = "acme_prod"', 'value = "acme_prod_v2"'), version="1.6.0")
    ok("import", w.export(newer, "prod", "b.bundle"), home=w.prod)
    again = w.export(release, "prod", "again.bundle")
    plan = json.loads(run_cli("import", again, "--dry-run", "--json", home=w.prod).stdout)
    assert plan["merge"]["changes"] == [] and not plan["replaces_release"]
    assert run_cli("import", again, home=w.prod).returncode == 0
    values = {(v["name"], tuple(v["scope"].get("environment", []))): v["value"]
              for v in okj("variables", "list", "acme-web", home=w.prod)["variables"]}
    assert values[("Acme.Db.Name", ("Production",))] == "acme_prod_v2"  # the project's newest release's


def test_a_deployments_warnings_print_once_before_its_steps_and_stay_in_its_record(tmp_path: Path) -> None:
    """15.6: "WARNING: no separate worker user..." printed on every deploy, sometimes twice, in the
    middle of the steps' output. Each warning the record keeps prints once, before any step."""
    w = make_promo(tmp_path / "w")
    ok("releases", "create", w.release_dir / LIFECYCLE_RELEASE, home=w.dev)
    _bind(w.dev)
    w.targets(w.dev, "Development")
    r = run_cli("deploy", "acme-web", "1.5.0", "--environment", "Development", home=w.dev)
    assert r.returncode == 0, r.stderr
    record = okj("deployments", "show", "Deployments-1", home=w.dev)["record"]
    lines = r.stderr.splitlines()
    first_step = next(i for i, line in enumerate(lines) if line.startswith("  > "))
    here = f" --home {shlex.quote(str(w.dev))}"  # printed for this zone, kept without it (decision 973)
    for warning in record["warnings"]:
        assert here not in warning, warning
        shown = [i for i, line in enumerate(lines) if line.replace(here, "") == warning]
        assert len(shown) == 1 and shown[0] < first_step, (warning, r.stderr)


def test_the_authoring_zone_hint_is_given_only_for_a_phase_that_zone_may_prove(tmp_path: Path) -> None:
    """10.6: every lifecycle_violation ended with "when it succeeded in the zone that authored the
    release, export ... from there again", also when the open phase (Staging) is run by another
    zone, whose word the authoring zone's proof cannot replace (the hint where it applies:
    test_the_authoring_zone_gives_signed_proof_of_a_deployment_made_after_the_export)."""
    w = make_promo(tmp_path / "w")
    ok("import", w.export(w.release_dir / LIFECYCLE_RELEASE, "prod", "p.bundle"), home=w.prod)
    r = run_cli("deploy", "acme-web", "1.5.0", "--environment", "Production", "--json", home=w.prod)
    err = json.loads(r.stdout)["error"]
    assert (r.returncode, err["code"], err["details"]["blocking_phase"]) == (5, "lifecycle_violation", "Staging")
    assert "authored" not in err["message"] and "export the release from there" not in err["message"]
    assert "--evidence RECEIPT.bundle" in err["message"]
