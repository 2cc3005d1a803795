"""The reliability campaign (not a test): hundreds of SIGKILLs and dozens of concurrent runs.

    .venv/bin/python scripts/kill_campaign.py [--kills 300] [--runs 50] [--per-run 3]
                                              [--engine sqlite|postgresql] [--seed 19] [--only kills|imports|races]

Builds two throwaway zones (dev exports, prod imports and deploys to local folder targets) under
a temporary folder, then drives the real `bundlekit` CLI in processes of their own:

* kills: 60 % deploys, 25 % imports of a new release, 15 % imports of a receipt, each SIGKILLed
  (with its runners) at a random point of the time that command takes, followed by the next
  command and the checks of ``tests/reliability/campaign.py`` (nothing left ``Executing``, one
  receipt entry per deployment, no half-made package folder, no secret in any file, a clean
  ``integrity_check``), and a retry that must succeed and leave no temporary folder;
* races: ``--runs`` rounds of ``--per-run`` imports (one bundle twice at once) and as many
  deploys (two of them of one project to one environment) started together: no traceback, every
  command ends in success or a registered code, every deployment recorded and queued once.

Prints the figures as JSON (and a one-line summary on stderr; one line per kill and run as it
goes); exits 1 if any check failed. Ctrl-C stops it and prints what was done, marked so.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.reliability import campaign  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=300, help="SIGKILLs in all (default 300)")
    ap.add_argument("--runs", type=int, default=50, help="concurrent runs (default 50)")
    ap.add_argument("--per-run", type=int, default=3, help="imports and deploys started together per run (default 3)")
    ap.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--files", type=int, default=300, help="files in the package (2 KiB each; default 300)")
    ap.add_argument("--only", choices=("kills", "imports", "races"),
                    help="run one part of the campaign (imports: only the kills of imports and receipt imports)")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    tally = campaign.Tally()
    tally.log = sys.stderr
    server = None
    began = time.monotonic()
    # A command still running when Ctrl-C came may write on while the folder goes: never mind.
    with tempfile.TemporaryDirectory(prefix="bundlekit-kills-", ignore_cleanup_errors=True) as tmp:
        if args.engine == "postgresql":
            from tests.pgserver import start_server

            server = start_server()
        stopped = False
        try:
            w = campaign.make_world(Path(tmp), pg=server, files=args.files)
            deploys = round(args.kills * 0.60)
            imports = round(args.kills * 0.25)
            receipts = args.kills - deploys - imports
            if args.only == "imports":  # the import half alone: 60 % releases, 40 % receipts
                imports = round(args.kills * 0.6)
                must_deploy = campaign.PROJECTS[0]
                campaign.must("import", w.export(must_deploy, "1.0.0"), "--home", w.prod)
                campaign.kill_imports(w, tally, imports, rng)
                campaign.kill_receipt_imports(w, tally, args.kills - imports, rng)
            if args.only in (None, "kills"):
                campaign.kill_deploys(w, tally, deploys, rng)
                campaign.kill_imports(w, tally, imports, rng)
                campaign.kill_receipt_imports(w, tally, receipts, rng)
            if args.only in (None, "races"):
                campaign.prepare_races(w)
                for run in range(args.runs):
                    campaign.concurrent_run(w, tally, args.per_run, run)
        except KeyboardInterrupt:  # Ctrl-C: report what was done so far, said so
            stopped = True
        try:
            tally.deployments = len(campaign.deployments_listed(w.prod))
        finally:
            if server is not None:
                server.stop()
        figures = {"engine": args.engine, "seed": args.seed, "seconds": round(time.monotonic() - began),
                   "stopped_early": stopped, **tally.to_dict()}
        print(json.dumps(figures, indent=2, sort_keys=True), flush=True)
    print(f"{figures['kills_total']} kills ({tally.finished_first} commands ended before their kill), "
          f"{tally.runs} concurrent runs of {tally.commands} commands, {tally.deployments} deployments: "
          f"{len(tally.problems)} problem(s)", file=sys.stderr)
    return 1 if tally.problems else 0


if __name__ == "__main__":
    sys.exit(main())
