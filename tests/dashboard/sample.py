"""A realistic dashboard view for the renderer tests: the dev zone's view of two zones.

Columns: dev/Development, prod/Staging, prod/Production. Three projects:

* Acme Web: succeeded everywhere but Production, where 1.4.0 was exported 3 h ago and the
  receipt has not come back (previous success 1.3.0); its deploy step set a port and a
  sensitive database password as output variables;
* Billing API: 2.1.0 failed in Staging (the migration step exited 1, later steps skipped);
  2.0.3 is partial in Production (web-02 failed, web-01 succeeded);
* Reports: 0.9.0 running in Development, never sent to prod.
"""

from __future__ import annotations

from bundlekit.dashboard.view import (
    MASK,
    CellView,
    DashboardView,
    DeploymentView,
    OutputView,
    ProjectRow,
    StepView,
)

NOW = 1_714_564_800.0  # 2024-05-01 12:00 UTC
H = 3600.0
D = 86400.0
SECRET = "hunter2-db-password"  # what a careless builder might pass; must never be rendered
COLUMNS = (("dev", "Development"), ("prod", "Staging"), ("prod", "Production"))


def _ok(step: str, target: str | None, t0: float, secs: float, log: str,
        outputs: tuple[OutputView, ...] = ()) -> StepView:
    return StepView(step, target, "Success", t0, t0 + secs, 0, log, outputs, None)


def acme_steps(t0: float) -> tuple[StepView, ...]:
    outputs = (OutputView("Port", "8080", False), OutputView("DbPassword", MASK, True))
    return (
        _ok("Deploy web", "web-01", t0, 12.4, "Extracting acme-web 1.3.0\nStarting service on port 8080\n", outputs),
        _ok("Deploy web", "web-02", t0, 13.1, "Extracting acme-web 1.3.0\nStarting service on port 8080\n", outputs),
        _ok("Smoke test", None, t0 + 14, 3.2, "GET /health -> 200 OK\n"),
    )


def _dep(dep_id: str, project: str, slug: str, release: str, zone: str, env: str, state: str,
         started: float | None, ended: float | None, steps: tuple[StepView, ...] = (),
         receipt: float | None = None) -> DeploymentView:
    return DeploymentView(dep_id, project, slug, release, zone, env, state, started, ended, steps, receipt)


def sample_view(now: float = NOW) -> DashboardView:
    # Acme Web
    acme_dev = _dep("dep-0001", "Acme Web", "acme-web", "1.4.0", "dev", "Development", "succeeded",
                    now - 2 * D, now - 2 * D + 30, acme_steps(now - 2 * D))
    acme_stg_prev = _dep("dep-0002", "Acme Web", "acme-web", "1.3.0", "prod", "Staging", "succeeded",
                         now - 9 * D, now - 9 * D + 40, acme_steps(now - 9 * D), receipt=now - 8 * D)
    acme_stg = _dep("dep-0003", "Acme Web", "acme-web", "1.4.0", "prod", "Staging", "succeeded",
                    now - 26 * H, now - 26 * H + 35, acme_steps(now - 26 * H), receipt=now - 20 * H)
    acme_prod_prev = _dep("dep-0004", "Acme Web", "acme-web", "1.3.0", "prod", "Production", "succeeded",
                          now - 8 * D, now - 8 * D + 45, acme_steps(now - 8 * D), receipt=now - 7 * D)
    acme_prod = _dep("dep-0005", "Acme Web", "acme-web", "1.4.0", "prod", "Production", "exported",
                     None, None)

    # Billing API
    bill_dev = _dep("dep-0006", "Billing API", "billing-api", "2.1.0", "dev", "Development", "succeeded",
                    now - 5 * H, now - 5 * H + 61, (
                        _ok("Run migrations", "db-01", now - 5 * H, 41.0, "Applying 0042_invoices.sql\nDone\n"),
                        _ok("Deploy API", "api-01", now - 5 * H + 42, 19.0, "Service restarted\n"),
                    ))
    fail_log = ("Applying 0043_currency.sql\n"
                "ERROR:  column \"currency\" of relation \"invoices\" already exists\n"
                "migration 0043 failed, rolling back\n")
    bill_stg = _dep("dep-0007", "Billing API", "billing-api", "2.1.0", "prod", "Staging", "failed",
                    now - 3 * H, now - 3 * H + 8, (
                        StepView("Run migrations", "db-01", "Failed", now - 3 * H, now - 3 * H + 7.5, 1,
                                 fail_log, (), "script exited with code 1"),
                        StepView("Deploy API", "api-01", "Skipped", None, None, None, "", (),
                                 "an earlier step failed"),
                    ), receipt=now - 2 * H)
    bill_stg_prev = _dep("dep-0008", "Billing API", "billing-api", "2.0.3", "prod", "Staging", "succeeded",
                         now - 6 * D, now - 6 * D + 50, (), receipt=now - 6 * D + 3600)
    bill_prod_prev = _dep("dep-0009", "Billing API", "billing-api", "2.0.2", "prod", "Production", "succeeded",
                          now - 20 * D, now - 20 * D + 55, (), receipt=now - 19 * D)
    bill_prod = _dep("dep-0010", "Billing API", "billing-api", "2.0.3", "prod", "Production", "partial",
                     now - 4 * D, now - 4 * D + 95, (
                         _ok("Deploy API", "web-01", now - 4 * D, 44.0, "Service restarted\n"),
                         StepView("Deploy API", "web-02", "TimedOut", now - 4 * D, now - 4 * D + 90, None,
                                  "Waiting for health check...\nWaiting for health check...\n", (),
                                  "timed out after 90 s"),
                     ), receipt=now - 3 * D)

    # Reports
    rep_dev = _dep("dep-0011", "Reports", "reports", "0.9.0", "dev", "Development", "running",
                   now - 4 * 60, None, (
                       _ok("Build index", None, now - 4 * 60, 70.0, "Indexed 1204 documents\n"),
                       StepView("Publish", None, "Pending", None, None, None, "", (), None),
                   ))

    projects = (
        ProjectRow("Acme Web", "acme-web", (
            CellView("dev", "Development", acme_dev, acme_dev, now - 2 * D - 60),
            CellView("prod", "Staging", acme_stg, acme_stg_prev, now - 30 * H),
            CellView("prod", "Production", acme_prod, acme_prod_prev, now - 3 * H),
        )),
        ProjectRow("Billing API", "billing-api", (
            CellView("dev", "Development", bill_dev, None, now - 5 * H - 60),
            CellView("prod", "Staging", bill_stg, bill_stg_prev, now - 4 * H),
            CellView("prod", "Production", bill_prod, bill_prod_prev, now - 5 * D),
        )),
        ProjectRow("Reports", "reports", (
            CellView("dev", "Development", rep_dev, None, None),
            None,
            None,
        )),
    )
    deployments = (acme_prod, bill_stg, bill_prod, rep_dev, bill_dev, acme_stg, acme_dev,
                   acme_prod_prev, acme_stg_prev, bill_stg_prev, bill_prod_prev)
    return DashboardView("dev", "z-7f3a9c2e", now, COLUMNS, projects, deployments)


#: What each grid cell must show: (slug, zone, environment) -> (state, release or None).
EXPECTED_CELLS = {
    ("acme-web", "dev", "Development"): ("succeeded", "1.4.0"),
    ("acme-web", "prod", "Staging"): ("succeeded", "1.4.0"),
    ("acme-web", "prod", "Production"): ("exported", "1.4.0"),
    ("billing-api", "dev", "Development"): ("succeeded", "2.1.0"),
    ("billing-api", "prod", "Staging"): ("failed", "2.1.0"),
    ("billing-api", "prod", "Production"): ("partial", "2.0.3"),
    ("reports", "dev", "Development"): ("running", "0.9.0"),
    ("reports", "prod", "Staging"): ("none", None),
    ("reports", "prod", "Production"): ("none", None),
}
