"""The HTML page: hostile text stays text, secrets never appear, hooks on every cell, and
nothing is loaded from anywhere."""

from __future__ import annotations

import re
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from bundlekit.dashboard.html import CSP, LOG_TAIL_CHARS, deployment_anchor, render_html
from bundlekit.core.text import MASK
from bundlekit.dashboard.view import CellView, DashboardView, DeploymentView, OutputView, ProjectRow, StepView

from .dom import Node, age, columns, earlier_failures, find_cell, grid_cells, line, parse, release, tenant_cells
from .sample import EXPECTED_CELLS, NOW, SECRET, sample_view

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>"\'&amp;'
ATTR_BREAK = '" onmouseover="alert(1)" x="'


def hostile_view() -> DashboardView:
    step = StepView(HOSTILE, HOSTILE, "Failed", NOW - 60, NOW - 50, 2, f"line 1\n{HOSTILE}\n</pre><u>bold</u>\n",
                    (OutputView(HOSTILE, HOSTILE, False), OutputView("Token", SECRET, True)), HOSTILE)
    dep = DeploymentView(HOSTILE, HOSTILE, ATTR_BREAK, HOSTILE, HOSTILE, ATTR_BREAK, "failed", NOW - 60, NOW - 50,
                         (step,), None)
    cell = CellView(HOSTILE, ATTR_BREAK, dep, replace(dep, deployment_id="other", release=HOSTILE), NOW - 70)
    return DashboardView(HOSTILE, HOSTILE, NOW, ((HOSTILE, ATTR_BREAK),),
                         (ProjectRow(HOSTILE, ATTR_BREAK, (cell,)),), (dep,))


def test_hostile_strings_are_escaped_everywhere() -> None:
    page = render_html(hostile_view(), NOW)
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert "<u>" not in page
    doc = parse(page)
    assert not doc.by_tag("script") and not doc.by_tag("img") and not doc.by_tag("u")
    assert [b.text() for b in doc.by_tag("b")] == [HOSTILE]  # the one release, as text
    assert all(not k.startswith("on") for n in doc.iter() for k in n.attrs), "an event handler attribute leaked"
    assert doc.by_class("pname")[0].text() == HOSTILE
    assert HOSTILE in doc.by_tag("pre")[0].text()
    assert "</pre><u>bold</u>" in doc.by_tag("pre")[0].text()
    assert doc.by_tag("title")[0].text() == f"Deployments \u00b7 zone {HOSTILE}"


def test_attribute_values_cannot_be_broken_out_of() -> None:
    doc = parse(render_html(hostile_view(), NOW))
    assert list(grid_cells(doc)) == [(ATTR_BREAK, HOSTILE, ATTR_BREAK)]  # found by the row's and column's hooks
    (table,) = doc.by_class("grid")
    assert table.attrs["data-zone"] == HOSTILE and columns(table) == [None, (HOSTILE, ATTR_BREAK)]
    (row,) = [tr for tr in table.by_tag("tr") if "data-project" in tr.attrs]
    assert row.attrs["data-project"] == ATTR_BREAK
    assert not any("onmouseover" in n.attrs for n in doc.iter())


def test_a_withheld_output_is_named_as_withheld_by_its_zone_and_shows_no_value() -> None:
    step = StepView("Migrate", "db-01", "Success", NOW - 60, NOW - 50, 0, "",
                    (OutputView("ApiToken", SECRET, True, withheld=True), OutputView("Port", "8080", False)), None)
    dep = DeploymentView("Deployments-4", "Acme", "acme", "1.4.0", "prod", "Production", "succeeded", NOW - 60,
                         NOW - 50, (step,), NOW - 10)
    row = ProjectRow("Acme", "acme", (CellView("prod", "Production", dep, None, None),))
    page = render_html(DashboardView("dev", "dev", NOW, (("prod", "Production"),), (row,), (dep,)), NOW)
    assert SECRET not in page
    items = [li.text() for li in parse(page).by_class("outputs")[0].by_tag("li")]
    assert items == ["ApiToken withheld by zone prod", "Port = 8080"]


def test_sensitive_output_values_never_appear_even_if_the_model_was_given_one() -> None:
    page = render_html(hostile_view(), NOW)
    assert SECRET not in page
    doc = parse(page)
    masked = doc.by_class("sensitive")
    assert masked and all(m.text() == MASK for m in masked)


def test_non_sensitive_outputs_are_shown() -> None:
    doc = parse(render_html(sample_view(), NOW))
    texts = [li.text() for ul in doc.by_class("outputs") for li in ul.by_tag("li")]
    assert "Port = 8080" in texts
    assert f"DbPassword = {MASK}" in texts


def test_every_grid_cell_has_its_state_and_release_and_is_found_by_its_row_and_column() -> None:
    doc = parse(render_html(sample_view(), NOW))
    cells = grid_cells(doc)
    assert set(cells) == set(EXPECTED_CELLS)
    for key, (state, shown) in EXPECTED_CELLS.items():
        cell = cells[key]
        assert cell.attrs["data-state"] == state, key
        assert release(cell) == shown, key
    # One table per zone, its caption naming it; the zone and environment are on the headers, not the cells.
    assert [(t.attrs["data-zone"], t.by_tag("caption")[0].text()) for t in doc.by_class("grid")] == [
        ("dev", "zone dev"), ("prod", "zone prod")]
    assert not [n for n in doc.by_tag("td") if {"data-project", "data-zone", "data-environment"} & set(n.attrs)]


def test_state_is_written_as_text_not_only_colour() -> None:
    cells = grid_cells(parse(render_html(sample_view(), NOW)))
    words = {"succeeded": "Succeeded", "failed": "Failed", "partial": "Partial", "exported": "Awaiting receipt",
             "running": "Running", "none": "Not deployed"}
    for key, (state, _release) in EXPECTED_CELLS.items():
        assert line(cells[key]).partition(",")[0] == words[state], key


def test_cells_show_their_age_a_failure_its_last_success_and_a_section_the_previous_release() -> None:
    doc = parse(render_html(sample_view(), NOW))
    cells = grid_cells(doc)
    exported = cells[("acme-web", "prod", "Production")]
    assert line(exported) == "Awaiting receipt, exported 3h ago" and age(exported) == "exported 3h ago"
    assert not exported.by_class("prev")  # beside a failure only: its section says it
    section = doc.by_id(deployment_anchor("dep-0005", "prod"))
    assert section is not None and "Previous success1.3.0 (dep-0004, ended 2024-04-23 12:00 UTC)" in section.text()
    failed = cells[("billing-api", "prod", "Staging")]
    assert age(failed) == "3h ago"
    assert failed.by_class("prev")[0].text() == "last success: 2.0.3"
    failed_section = doc.by_id(deployment_anchor("dep-0007", "prod"))
    assert failed_section is not None and "Last success2.0.3 (dep-0008" in failed_section.text()
    dev = doc.by_id(deployment_anchor("dep-0001", "dev"))
    assert dev is not None and "Previous" not in dev.text()  # previous is the latest itself


def test_every_cell_links_to_its_deployment_section() -> None:
    doc = parse(render_html(sample_view(), NOW))
    links = [a for cell in grid_cells(doc).values() for a in cell.by_tag("a")]
    assert len(links) == 7
    for a in links:
        target = doc.by_id((a.attrs["href"] or "")[1:])
        assert target is not None and target.tag == "section"


def test_odd_deployment_ids_get_a_safe_anchor_that_still_links() -> None:
    doc = parse(render_html(hostile_view(), NOW))
    anchor = deployment_anchor(HOSTILE, HOSTILE)
    assert re.fullmatch(r"deployment-h[0-9a-f]{16}", anchor)
    assert grid_cells(doc).popitem()[1].by_tag("a")[0].attrs["href"] == "#" + anchor
    assert doc.by_id(anchor) is not None


_EXTERNAL = re.compile(r"""\b(?:src|href|action|poster|srcset|data|formaction)\s*=\s*(?!["']?#)""", re.I)


def test_page_is_self_contained() -> None:
    page = render_html(sample_view(), NOW)
    assert not _EXTERNAL.findall(page), "an attribute loads or links something outside the page"
    assert not re.search(r"https?://|//[a-z]|url\(|@import|@font-face", page, re.I)
    for tag in ("<script", "<link", "<img", "<iframe", "<object", "<embed", "<base"):
        assert tag not in page.lower()
    meta = [m for m in parse(page).by_tag("meta") if m.attrs.get("http-equiv") == "Content-Security-Policy"]
    assert meta and meta[0].attrs["content"] == CSP


def test_steps_table_has_one_row_per_step_and_target() -> None:
    doc = parse(render_html(sample_view(), NOW))
    section = doc.by_id(deployment_anchor("dep-0010", "prod"))  # Billing 2.0.3 partial in Production
    assert section is not None
    rows = [r for r in section.by_tag("tr") if "step" in (r.attrs.get("class") or "").split()]
    cols = [[td.text() for td in r.by_tag("td")][:5] for r in rows]
    assert cols[0] == ["Deploy API", "web-01", "Success", "44s", "0"]
    assert cols[1][:4] == ["Deploy API", "web-02", "Timed outtimed out after 90 s", "1m 30s"]
    assert cols[1][4] == ""
    headers = [th.text() for th in section.by_tag("th")]
    assert headers[:5] == ["Step", "Target", "State", "Duration", "Exit code"]
    assert all(th.attrs.get("scope") == "col" for th in section.by_tag("th"))


def test_failed_step_logs_are_open_and_others_collapsed() -> None:
    doc = parse(render_html(sample_view(), NOW))
    section = doc.by_id(deployment_anchor("dep-0007", "prod"))
    assert section is not None
    (details,) = section.by_tag("details")
    assert "open" in details.attrs
    assert "already exists" in details.by_tag("pre")[0].text()
    ok = doc.by_id(deployment_anchor("dep-0006", "dev"))
    assert ok is not None and all("open" not in d.attrs for d in ok.by_tag("details"))


def test_exported_deployment_says_it_awaits_the_receipt() -> None:
    section = parse(render_html(sample_view(), NOW)).by_id(deployment_anchor("dep-0005", "prod"))
    assert section is not None
    assert "awaiting the signed receipt from zone prod" in section.text()
    assert "Exported2024-05-01 09:00 UTC (3h ago)" in section.text()


def test_huge_log_shows_its_tail_and_says_what_was_left_out() -> None:
    log = "first line\n" + "x" * (LOG_TAIL_CHARS * 3) + "\nthe error at the end\n"
    step = StepView("Big", None, "Failed", NOW - 9, NOW, 1, log, (), None)
    dep = DeploymentView("d1", "P", "p", "1.0", "prod", "Production", "failed", NOW - 9, NOW, (step,), None)
    view = DashboardView("dev", "z", NOW, (("prod", "Production"),),
                         (ProjectRow("P", "p", (CellView("prod", "Production", dep, None, None),)),), (dep,))
    page = render_html(view, NOW)
    assert "the error at the end" in page and "first line" not in page
    assert len(page) < LOG_TAIL_CHARS + 50_000
    assert f"{len(log) - LOG_TAIL_CHARS:,} earlier characters not shown" in page


def test_terminal_control_bytes_in_logs_are_shown_escaped() -> None:
    log = "\x1b[31mred\x1b[0m done\r\nprogress 10%\rprogress 100%\nnul\x00byte lone\udc80surrogate\n"
    step = StepView("S", None, "Failed", None, None, 1, log, (), None)
    dep = DeploymentView("d1", "P", "p", "1.0", "prod", "Production", "failed", None, None, (step,), None)
    view = DashboardView("dev", "z", NOW, (("prod", "Production"),),
                         (ProjectRow("P", "p", (CellView("prod", "Production", dep, None, None),)),), (dep,))
    page = render_html(view, NOW)
    page.encode("utf-8")  # a lone surrogate would make this raise
    pre = parse(page).by_tag("pre")[0].text()
    assert pre == ("\\x1b[31mred\\x1b[0m done\nprogress 10%\nprogress 100%\nnul\\x00byte lone\\udc80surrogate\n")
    assert "\x1b" not in page and "\x00" not in page


def test_empty_dashboard_page_explains_what_to_do() -> None:
    page = render_html(DashboardView("dev", "z-1", NOW, (), (), ()), NOW)
    doc = parse(page)
    assert not grid_cells(doc)
    assert "bundlekit export" in doc.by_class("empty")[0].text()


def test_header_names_the_zone_and_generation_time() -> None:
    doc = parse(render_html(sample_view(), NOW))
    header: Node = doc.by_tag("header")[0]
    assert "zone dev" in header.text()
    assert "2024-05-01 12:00 UTC" in header.text()
    # every attempt counts, not only the latest of each cell: a later success hides no failure
    assert [li.text().strip() for li in header.by_tag("li")] == [
        "\u2716 1 failed", "\u25d1 1 partial", "\u25b6 1 running", "\u25f7 1 awaiting receipt", "\u2714 7 succeeded"]
    assert [a.attrs["href"] for li in header.by_tag("li") for a in li.by_tag("a")] == ["#failures", "#failures"]


# Text the page shows as typed: no controls, bidi controls or line/paragraph separators (the page
# shows those escaped, bundlekit.core.text; test_text covers that).
plain_text = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"),
                                   blacklist_characters="\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                                                        "\u2066\u2067\u2068\u2069"),
                     min_size=1, max_size=40)


@settings(max_examples=80, deadline=None)
@given(plain_text, plain_text)
def test_any_project_name_and_log_come_back_as_the_same_text(name: str, log: str) -> None:
    step = StepView("S", None, "Failed", None, None, 1, log, (), None)
    dep = DeploymentView("d1", name, "p", "1.0", "prod", "Production", "failed", None, None, (step,), None)
    view = DashboardView("dev", "z", NOW, (("prod", "Production"),),
                         (ProjectRow(name, "p", (CellView("prod", "Production", dep, None, None),)),), (dep,))
    doc = parse(render_html(view, NOW))
    assert doc.by_class("pname")[0].text() == name
    assert doc.by_tag("pre")[0].text() == log
    assert not doc.by_tag("script")


def _one_cell(latest: DeploymentView, prev: DeploymentView | None, failures: tuple[DeploymentView, ...] = ()
              ) -> DashboardView:
    cell = CellView("prod", "Production", latest, prev, NOW - 60, failures)
    deps = tuple(d for d in (latest, prev, *failures) if d is not None)
    return DashboardView("dev", "z", NOW, (("prod", "Production"),), (ProjectRow("P", "p", (cell,)),), deps)


def _dep(dep_id: str, release: str, state: str, t: float) -> DeploymentView:
    return DeploymentView(dep_id, "P", "p", release, "prod", "Production", state, t, t + 5, (), None)


def test_a_re_export_of_the_release_that_last_succeeded_does_not_call_itself_previous() -> None:
    again = _dep("export-p-2.3.1", "2.3.1", "exported", NOW - 60)
    page = parse(render_html(_one_cell(again, _dep("d1", "2.3.1", "succeeded", NOW - 600)), NOW))
    assert not grid_cells(page)[("p", "prod", "Production")].by_class("prev")
    section = page.by_id(deployment_anchor("d1", "prod"))
    assert section is not None and "Previous" not in page.text()


def test_a_failed_latest_shows_the_last_success_and_earlier_failures_as_links() -> None:
    failed = _dep("d3", "2.4.0", "failed", NOW - 60)
    earlier = _dep("d2", "2.4.0", "partial", NOW - 300)
    doc = parse(render_html(_one_cell(failed, _dep("d1", "2.3.1", "succeeded", NOW - 900), (earlier,)), NOW))
    cell = grid_cells(doc)[("p", "prod", "Production")]
    assert cell.by_class("prev")[0].text() == "last success: 2.3.1"
    assert earlier_failures(cell) == ["2.4.0 partial"]
    hrefs = [a.attrs["href"] for a in cell.by_tag("a")]
    assert hrefs == ["#" + deployment_anchor("d3", "prod"), "#" + deployment_anchor("d2", "prod")]
    assert all(doc.by_id((h or "")[1:]) is not None for h in hrefs)
    listed = [a.attrs["href"] for a in doc.by_id("failures").by_tag("a")]  # type: ignore[union-attr]
    assert sorted(listed) == sorted(hrefs)


def test_deployments_of_two_zones_with_the_same_id_keep_their_own_sections() -> None:
    staging = replace(_dep("Deployments-1", "1.0", "failed", NOW - 60), zone="staging", environment="Staging")
    prod = _dep("Deployments-1", "1.0", "succeeded", NOW - 30)
    view = DashboardView("dev", "z", NOW, (("staging", "Staging"), ("prod", "Production")),
                         (ProjectRow("P", "p", (CellView("staging", "Staging", staging, None, None),
                                                CellView("prod", "Production", prod, None, None))),),
                         (staging, prod))
    doc = parse(render_html(view, NOW))
    sections = [s for s in doc.by_tag("section") if "deployment" in (s.attrs.get("class") or "")]
    assert len(sections) == 2 and {s.attrs["id"] for s in sections} == {
        deployment_anchor("Deployments-1", "staging"), deployment_anchor("Deployments-1", "prod")}


def test_a_tenants_row_is_told_apart_from_its_projects_by_data_tenant_and_found_by_row_and_column() -> None:
    mine = replace(_dep("d1", "1.0", "succeeded", NOW - 60), tenant="Acme Corp")
    theirs = _dep("d2", "1.1", "failed", NOW - 30)
    rows = (ProjectRow("P", "p", (CellView("prod", "Production", theirs, None, None),)),
            ProjectRow("P", "p", (CellView("prod", "Production", mine, None, None),), tenant="Acme Corp"))
    view = DashboardView("dev", "z", NOW, (("prod", "Production"),), rows, (mine, theirs))
    doc = parse(render_html(view, NOW))
    assert {k: release(c) for k, c in grid_cells(doc).items()} == {("p", "prod", "Production"): "1.1"}
    (cell,) = tenant_cells(doc).values()
    assert list(tenant_cells(doc)) == [("p", "Acme Corp", "prod", "Production")]
    assert release(cell) == "1.0" and cell.attrs["data-state"] == "succeeded"
    assert find_cell(doc, "p", "prod", "Production", tenant="Acme Corp") is cell


def test_a_refused_cell_reads_its_state_once_and_its_code_as_a_word_of_its_own() -> None:
    """Review v32-11: the cell's text ran 'Refused, refused just nowpolicy_denied'."""
    dep = DeploymentView("Refusals-2", "Acme Web", "acme-web", "0.9.2", "qa", "Production", "refused", NOW - 5,
                         NOW - 5, (), None, reason="[policy_denied] the zone's policy refused it")
    view = DashboardView("dev", "Default", NOW, (("qa", "Production"),),
                         (ProjectRow("Acme Web", "acme-web", (CellView("qa", "Production", dep, None, None),)),), (dep,))
    cell = find_cell(parse(render_html(view, NOW)), "acme-web", "qa", "Production")
    text = " ".join(cell.text().split())
    assert text == "0.9.2 Refused, just now policy_denied", text


def test_a_multi_line_reason_shows_its_line_breaks_and_still_escapes_every_other_control() -> None:
    """newuser36 finding 6: a preflight refusal's reason, one item per line, showed `\\x0a` on the page."""
    reason = ("[preflight_unresolved_variables] cannot be resolved (Acme.ApiKey). Nothing was run.\n"
              "  - Acme.ApiKey in step 'Deploy web' on web-01 <b>\x1b[31m\r")
    step = StepView("(preflight)", None, "Failed", NOW - 5, NOW - 5, None, "", (), reason)
    failed = DeploymentView("d1", "P", "p", "1.0", "prod", "Production", "failed", NOW - 5, NOW - 5, (step,), None)
    refused = DeploymentView("Refusals-1", "P", "p", "1.1", "prod", "Production", "refused", NOW - 4, NOW - 4, (), None,
                             reason=reason)
    view = DashboardView("dev", "z", NOW, (("prod", "Production"),),
                         (ProjectRow("P", "p", (CellView("prod", "Production", refused, None, None),)),),
                         (failed, refused))
    page = render_html(view, NOW)
    shown = ("Nothing was run.<br>  - Acme.ApiKey in step &#x27;Deploy web&#x27; on web-01 "
             "&lt;b&gt;\\x1b[31m\\x0d")
    assert page.count(shown) == 2, page
    assert "\\x0a" not in page and "\x1b" not in page and "\r" not in page
