"""A run that succeeds leaves no empty working folder on its target (decision 431); what a script
left there, and the folders of runs that failed, stay for prune."""

from __future__ import annotations

from pathlib import Path

from bundlekit.deploy.engine import execute
from bundlekit.deploy.plan import build_plan
from bundlekit.runtime.workdir import STEP_FOLDER, WorkFolder, step_folder_name
from tests.deploy.test_plan import request_for, script, web_db


def test_successful_runs_that_write_nothing_leave_no_folder_behind(tmp_path: Path) -> None:
    web, db = web_db(tmp_path)
    request = request_for([script("Quiet", "echo quiet", ("web", "db")), script("Also quiet", "true", ("web",))],
                          targets=(web, db), deployment_id="deployments-5")
    record = execute(build_plan(request), request)
    assert record.state == "Success" and len(record.runs) == 3
    for target in (web, db):
        # the step folders and the deployment's folder went; the work folder itself stays
        assert list((target.root / STEP_FOLDER).iterdir()) == [], target.name


def test_a_folder_a_script_wrote_in_stays_and_keeps_its_deployment_folder(tmp_path: Path) -> None:
    web, _ = web_db(tmp_path)
    request = request_for([script("Writes", "echo kept > report.txt", ("web",)), script("Quiet", "true", ("web",))],
                          targets=(web,), deployment_id="deployments-6")
    record = execute(build_plan(request), request)
    assert record.state == "Success"
    deployment = web.root / STEP_FOLDER / "deployments-6"
    assert sorted(p.name for p in deployment.iterdir()) == [step_folder_name("Writes")]  # "Quiet"'s went
    assert (deployment / step_folder_name("Writes") / "report.txt").read_text() == "kept\n"


def test_a_failed_run_keeps_its_empty_folder(tmp_path: Path) -> None:
    web, _ = web_db(tmp_path)
    request = request_for([script("Fails", "exit 3", ("web",))], targets=(web,), deployment_id="deployments-7")
    record = execute(build_plan(request), request)
    assert record.state == "Failed"
    kept = web.root / STEP_FOLDER / "deployments-7" / step_folder_name("Fails")
    assert kept.is_dir() and list(kept.iterdir()) == []


def test_dropping_removes_only_empty_folders_of_the_layout_and_never_through_a_link(tmp_path: Path) -> None:
    work = WorkFolder(tmp_path / "work")
    work.prepare()
    one = work.step_folder("deployments-8", "One")
    two = work.step_folder("deployments-8", "Two")
    assert work.drop_empty_step_folder(one) == [one]  # "Two" still there: the deployment's folder stays
    assert not one.exists() and two.is_dir()
    assert work.drop_empty_step_folder(two) == [two, two.parent]
    assert not (work.root / STEP_FOLDER / "deployments-8").exists() and (work.root / STEP_FOLDER).is_dir()
    # A folder that is not a step's folder of this work folder is never touched.
    elsewhere = tmp_path / "elsewhere" / "deployments-8" / "x"
    elsewhere.mkdir(parents=True)
    assert work.drop_empty_step_folder(elsewhere) == [] and elsewhere.is_dir()
    # A step's folder replaced by a link to an empty folder: neither the link nor its target goes.
    three = work.step_folder("deployments-9", "Three")
    three.rmdir()
    (tmp_path / "target").mkdir()
    three.symlink_to(tmp_path / "target")
    assert work.drop_empty_step_folder(three) == []
    assert three.is_symlink() and (tmp_path / "target").is_dir()


def test_a_later_step_gets_a_fresh_folder_after_its_deployment_folder_was_removed(tmp_path: Path) -> None:
    work = WorkFolder(tmp_path / "work")
    work.prepare()
    first = work.step_folder("deployments-10", "First")
    work.drop_empty_step_folder(first)  # the deployment's folder is gone with it
    again = work.step_folder("deployments-10", "Second")
    assert again.is_dir() and list(again.iterdir()) == []
