"""Structured configuration warnings are written to the run's log, masked like every log line.

Two kinds: one the preflight finds (an XPath that selects nothing because the document's
elements are in a default namespace: that variable never reaches the target), and one the
target finds while it applies a value (a value holding a character XML cannot hold, so the node
is kept). Both used to be dropped: the deploy went ahead without a word in the record.
"""

from __future__ import annotations

from pathlib import Path

from bundlekit.format.manifest import Step
from tests.deploy.test_plan import deploy, package_zip, request_for, var, web_db

SECRET = "hunter2-\x01-value"


def test_a_preflight_and_a_target_structured_config_warning_are_both_in_the_runs_log(tmp_path: Path) -> None:
    package = package_zip(tmp_path / "store" / "Acme.Web.1.0.0.zip", {
        "web.config": "<configuration xmlns='urn:app'>\n  <add key='Port' value='80'/>\n</configuration>\n",
        "other.config": "<configuration>\n  <add key='Token' value='x'/>\n</configuration>\n"})
    step = Step(name="Deploy", type="package", roles=("web",), package="Acme.Web",
                structured_config=("web.config", "other.config"))
    variables = [var("/configuration/add[@key='Port']/@value", "8080"),
                 var("/configuration/add[@key='Token']/@value", SECRET, sensitive=True)]
    record = deploy(request_for([step], variables, targets=web_db(tmp_path), packages=(package,)))
    assert record.state == "Success", record.runs
    log = next(r for r in record.runs if r.step == "Deploy").log
    assert ("[bundlekit] structured configuration warning: web.config: /configuration/add[@key='Port']/@value: "
            "selects nothing; this document's elements are in the default namespace") in log
    assert ("[bundlekit] structured configuration warning: other.config: /configuration/add[@key='Token']/@value: "
            "the value holds the character U+0001") in log
    assert "hunter2" not in log
    root = tmp_path / "web-01" / "Acme.Web" / "1.0.0"
    assert "value='x'" in (root / "other.config").read_text()  # kept, as the warning says
