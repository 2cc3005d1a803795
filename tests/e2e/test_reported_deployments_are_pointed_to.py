"""A source zone whose deployments all ran elsewhere says where they are (review newuser35 finding 14).

dev deploys nothing itself; prod's deployment comes back in a receipt. `deployments list` in dev
said "no deployments yet" and `deployments show Deployments-1` was a bare unknown_deployment, while
the dashboard showed the deployment. Now both name the reporting zone and the commands that show it
(`dashboard`, `outputs PROJECT --zone ZONE`), and the command they name works as printed.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from tests.conftest import run_cli
from tests.e2e.world import API_KEY, make_world, ok


def test_deployments_of_a_source_zone_name_the_zones_that_reported_them(tmp_path: Path) -> None:
    w = make_world(tmp_path / "a b")
    ok("import", w.export("r.bundle"), home=w.prod)
    ok("variables", "set", "acme-web", "Acme.ApiKey", API_KEY, "--sensitive", home=w.prod)
    receipt = w.root / "receipt.bundle"
    ok("deploy", "acme-web", "1.4.0", "--environment", "Production", "--receipt-out", receipt, home=w.prod)
    ok("import", receipt, home=w.dev)
    at = f"--home {shlex.quote(str(w.dev))}"

    listed = ok("deployments", "list", home=w.dev).strip()
    assert listed.startswith("no deployments ran in this zone; other zones reported 1 in receipts "
                             "(prod: 1 of acme-web)"), listed
    assert f"`bundlekit dashboard {at}`" in listed
    [outputs] = re.findall(r"`(bundlekit outputs [^`]*)`", listed)
    assert outputs == f"bundlekit outputs acme-web --zone prod {at}"
    assert run_cli(*shlex.split(outputs)[1:]).returncode == 0
    assert json.loads(ok("deployments", "list", "--json", home=w.dev)) == {"deployments": []}  # unchanged

    shown = run_cli("deployments", "show", "Deployments-1", home=w.dev)
    assert shown.returncode != 0 and "error [unknown_deployment]" in shown.stderr
    assert ("no deployment 'Deployments-1' ran in this zone; zone prod (acme-web 1.4.0 to Production, Success) "
            f"reported one of that id in a receipt: `bundlekit dashboard {at}` shows it") in shown.stderr, shown.stderr
    # an id no zone reported is refused as before
    other = run_cli("deployments", "show", "Deployments-9", home=w.dev)
    assert "reported" not in other.stderr and "no deployment 'Deployments-9'; see" in other.stderr
