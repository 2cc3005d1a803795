"""`inspect` of a relayed bundle headlines where the file goes now, through which relays (new-user
review, finding 18): the origin's addressee is the first relay, not the zone to carry it to."""

from __future__ import annotations

import json
from pathlib import Path

from bundlekit.format.card import parse_card
from tests.e2e.relayzones import WIDGET, Zones


def test_inspect_headlines_a_relayed_bundle_from_its_source_via_its_relays_to_the_zone_it_goes_to(
        tmp_path: Path) -> None:
    names = ("dev", "staging", "dmz", "prod")
    z = Zones(tmp_path, *names)
    for zone in names:
        z.trust(zone, *(o for o in names if o != zone))
    release = z.release(WIDGET)
    z.ok("export", release, "--to", "staging", "-o", z.path("s.bundle"), at="dev")
    z.ok("relay", z.path("s.bundle"), "--to", "prod", "-o", z.path("p.bundle"), at="staging")
    ids = {n: parse_card(z.card(n).read_bytes(), n).zone_id for n in names}

    lines = z.ok("inspect", z.path("p.bundle"), at="prod").splitlines()
    assert lines[1] == f"  from dev ({ids['dev']}) via staging to prod ({ids['prod']})"
    shown = json.loads(z.ok("inspect", z.path("p.bundle"), "--json", at="prod"))
    assert shown["relayed_to"] == {"name": "prod", "zone_id": ids["prod"]}
    assert shown["relay_hops"][0]["to_zone_id"] == ids["prod"]
    # two relays, in the order they relayed it; a bundle not relayed keeps its one addressee
    z.ok("relay", z.path("s.bundle"), "--to", "dmz", "-o", z.path("d.bundle"), at="staging")
    z.ok("relay", z.path("d.bundle"), "--to", "prod", "-o", z.path("d2.bundle"), at="dmz")
    assert z.ok("inspect", z.path("d2.bundle"), at="prod").splitlines()[1] == \
        f"  from dev ({ids['dev']}) via staging then dmz to prod ({ids['prod']})"
    assert z.ok("inspect", z.path("s.bundle"), at="prod").splitlines()[1] == \
        f"  from dev ({ids['dev']}) to staging ({ids['staging']})"
    assert "relayed_to" not in json.loads(z.ok("inspect", z.path("s.bundle"), "--json", at="prod"))
