"""Packages belong to who sent them (issue 20, decision 290): a trusted source cannot use, or learn
about, the packages another source delivered.

Three zones: ``dev`` (source A, trusted for Acme Web), ``dev-b`` (source B, trusted for Billing)
and ``prod``. B delivers its package; A then tries to reach it by hash (listed by reference, as
a delta's base, as a delta whose result has B's bytes) and must be refused with nothing
changed but the refusal queued for A. A receipt to A lists only A's packages. The zone's policy
can share B's packages with A (``trust set dev-b --share-packages-with dev``), one way.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any, Iterator

import pytest

from bundlekit.errors import BundleError
from bundlekit.export.exporter import export_release
from bundlekit.format.card import parse_card
from bundlekit.format.container import BundleFile
from bundlekit.format.manifest import parse_manifest
from bundlekit.importer.importer import import_bundle
from bundlekit.receipt.build import write_receipt
from bundlekit.trust.policy import SourcePolicy
from bundlekit.zone import truststore
from bundlekit.zone.home import Zone, init_zone, open_zone
from tests.conftest import FIXTURES, make_zones, own_state, raises_code, run_cli, snapshot
from tests.importer.helpers import only_the_refusal_changed
from tests.refusals.forge import resign

#: Their state tests run on both engines (decision 772).
pytestmark = pytest.mark.usefixtures("state_engine")


BILLING = """
[project]
name = "Billing"
space = "Default"

[release]
version = "1.0.0"
channel = "Default"
notes = "B's release"

[[packages]]
id = "Billing.App"
version = "1.0.0"
file = "Billing.App.1.0.0.zip"

[[steps]]
name = "Install"
type = "package"
package = "Billing.App"
roles = ["web"]
"""


class World:
    """prod trusting dev (A, Acme Web only) and dev-b (B, Billing only); B's package imported.
    Built once per module (:meth:`build`), copied for each test (:meth:`clone`)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.dev, self.dev_b, self.prod = (open_zone(tmp / name) for name in ("dev", "dev-b", "prod"))
        self.b_package = (tmp / "billing" / "Billing.App.1.0.0.zip").read_bytes()
        self.b_sha = hashlib.sha256(self.b_package).hexdigest()
        self.a_bundle = tmp / "a.bundle"

    @classmethod
    def build(cls, tmp: Path) -> None:
        now = int(time.time())
        z = make_zones(tmp, policy=SourcePolicy(projects=("Acme Web",)))
        dev_b = init_zone(tmp / "dev-b", "dev-b", now)
        truststore.add_zone(dev_b, parse_card(z.prod.card_bytes(), "prod.card"), SourcePolicy(), now)
        truststore.add_zone(z.prod, parse_card(dev_b.card_bytes(), "dev-b.card"), SourcePolicy(projects=("Billing",)),
                            now)
        folder = tmp / "billing"
        folder.mkdir()
        with zipfile.ZipFile(folder / "Billing.App.1.0.0.zip", "w") as zf:
            zf.writestr("secret-config.json", '{"billing": "only B and prod may read this"}')
        (folder / "release.toml").write_text(BILLING)
        for zone, release, name in ((dev_b, folder / "release.toml", "b.bundle"),
                                    (z.dev, FIXTURES / "acme" / "release.toml", "a.bundle")):
            export_release(zone, release, "prod", tmp / name, now=now)
            import_bundle(z.prod, tmp / name, now=now)
        z.close()
        dev_b.close()

    def clone(self, dest: Path) -> "World":
        shutil.copytree(self.tmp, dest, symlinks=True)
        own_state(*(p.parent for p in dest.glob("*/bundlekit.conf")))
        return World(dest)

    def close(self) -> None:
        for zone in (self.dev, self.dev_b, self.prod):
            zone.close()

    def export(self, zone: Zone, release: Path, name: str) -> Path:
        out = self.tmp / name
        export_release(zone, release, "prod", out, now=int(time.time()))
        return out

    def acme(self, version: str, extra: str = "") -> Path:
        """A copy of the fixture release as ``version``, with ``extra`` appended to its release file."""
        folder = self.tmp / f"acme-{version}"
        if not folder.exists():
            folder.mkdir()
            (folder / "packages").mkdir()
            (folder / "packages" / "Acme.Web.1.4.0.zip").write_bytes(
                (FIXTURES / "acme" / "packages" / "Acme.Web.1.4.0.zip").read_bytes())
        text = (FIXTURES / "acme" / "release.toml").read_text().replace('version = "1.4.0"\nchannel',
                                                                        f'version = "{version}"\nchannel')
        (folder / "release.toml").write_text(text + extra)
        return folder / "release.toml"

    def by_reference_to_b(self, version: str) -> Path:
        """A's release listing B's package by reference (its SHA-256 and size, as a source can learn them)."""
        extra = (f'\n[[packages]]\nid = "Billing.App"\nversion = "1.0.0"\nsha256 = "{self.b_sha}"\n'
                 f"size = {len(self.b_package)}\n")
        return self.export(self.dev, self.acme(version, extra), f"a-{version}.bundle")

    def receipt_inventory(self, dest: Zone, name: str) -> list[tuple[str, str]]:
        out = self.tmp / name
        write_receipt(self.prod, dest.zone_id, [], out, now=int(time.time()))
        with BundleFile(out) as bf:
            m = parse_manifest(bf.manifest_bytes)
        return [(i["id"], i["version"]) for i in m.inventory]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, state_engine: str) -> Iterator[World]:
    root = tmp_path_factory.mktemp("ownership") / "base"
    World.build(root)
    w = World(root)
    yield w
    w.close()


@pytest.fixture
def world(built: World, tmp_path: Path) -> Iterator[World]:
    w = built.clone(tmp_path / "w")
    yield w
    w.close()


def _refused(w: World, bundle: Path, code: str) -> BundleError:
    before = snapshot(w.prod.home)
    with raises_code(code) as info:
        import_bundle(w.prod, bundle, now=int(time.time()))
    assert info.value.exit_code == 3
    only_the_refusal_changed(w.prod, before, snapshot(w.prod.home), code)
    return info.value


def _delta_to(w: World, *, base: tuple[str, str, str, int], sha: str, size: int, recipe: list[list[int]],
              name: str) -> Path:
    """A's 1.4.0 bundle re-signed by A with its package as a 1.4.1 delta (no data blob)."""
    def edit(m: dict[str, Any]) -> None:
        m["blobs"] = []
        m["release"]["version"] = "1.4.1"
        m["sequence"] += 1  # so the bundle id is derived afresh (spec §6.2 step 18) ...
        # ... and the sealed values, bound to the old id (spec §8), cannot come along.
        m["variables"] = [v for v in m["variables"] if not v["sensitive"]]
        m["packages"][0].update(version="1.4.1", file="Acme.Web.1.4.1.zip", size=size, sha256=sha, included=False,
                                delta={"base": dict(zip(("id", "version", "sha256", "size"), base)),
                                       "recipe": recipe})

    return resign(w.a_bundle, w.tmp / name, w.dev.home, mutate=edit, blobs=b"")


def test_a_source_cannot_list_another_sources_package_by_reference(world: World) -> None:
    err = _refused(world, world.by_reference_to_b("1.4.1"), "package_not_shared")
    assert "Billing.App 1.0.0 is listed by reference" in err.message and "zone 'dev'" in err.message
    assert "dev-b" not in err.message  # the refusal travels back to A: it names no other source


def _said(err: BundleError) -> str:
    """What a refusal says after the bundle's path, its refusal id (this zone's counter, the same
    news whichever package was refused) made ``Refusals-N``."""
    return re.sub(r"Refusals-[0-9]+", "Refusals-N", err.message.split(": ", 1)[1])

def test_the_refusal_says_the_same_whether_or_not_another_source_sent_the_bytes(world: World) -> None:
    """A must not learn from the answer which packages the zone holds from other sources."""
    held = _refused(world, world.by_reference_to_b("1.4.1"), "package_not_shared")
    extra = f'\n[[packages]]\nid = "Billing.App"\nversion = "9.9.9"\nsha256 = "{"cd" * 32}"\nsize = 10\n'
    unknown = _refused(world, world.export(world.dev, world.acme("1.4.2", extra), "a-unknown.bundle"),
                       "package_not_shared")
    assert _said(held).replace(world.b_sha[:16], "X").replace("1.0.0", "V") == \
        _said(unknown).replace("cd" * 8, "X").replace("9.9.9", "V")


def test_a_delta_based_on_another_sources_package_is_refused(world: World) -> None:
    forged = _delta_to(world, base=("Billing.App", "1.0.0", world.b_sha, len(world.b_package)), sha="ab" * 32,
                       size=len(world.b_package), recipe=[[0, 0, len(world.b_package)]], name="delta-b.bundle")
    err = _refused(world, forged, "package_not_shared")
    assert "travelled as changes to Billing.App 1.0.0" in err.message
    r = run_cli("verify", forged, "--json", home=world.prod.home)  # verify and import agree
    assert r.returncode == 3 and '"package_not_shared"' in r.stdout


def test_a_delta_claiming_another_sources_bytes_is_rebuilt_not_taken_from_the_store(world: World) -> None:
    """A names B's package as what its delta rebuilds, from A's own package: the zone holds those
    bytes, but A must prove it has them, and a recipe from A's package cannot make them."""
    own = (FIXTURES / "acme" / "packages" / "Acme.Web.1.4.0.zip").read_bytes()
    forged = _delta_to(world, base=("Acme.Web", "1.4.0", hashlib.sha256(own).hexdigest(), len(own)), sha=world.b_sha,
                       size=len(world.b_package), recipe=[[0, 0, len(world.b_package)]], name="delta-claim.bundle")
    _refused(world, forged, "rebuilt_package_mismatch")


def _a_ships_as(w: World, name: str, package_id: str, version: str, data: bytes | None = None) -> Path:
    """A's release 1.4.x that also carries a package file of its own as ``package_id`` ``version``."""
    folder = w.tmp / name
    folder.mkdir()
    with zipfile.ZipFile(folder / "Other.zip", "w") as zf:
        zf.writestr("x.txt", "A's own bytes under B's package name")
    if data is not None:
        (folder / "Other.zip").write_bytes(data)
    (folder / "release.toml").write_text((FIXTURES / "acme" / "release.toml").read_text().replace(
        'version = "1.4.0"\nchannel', f'version = "1.4.{3 + len(list(w.tmp.glob("ships-*")))}"\nchannel')
        + f'\n[[packages]]\nid = "{package_id}"\nversion = "{version}"\nfile = "Other.zip"\n')
    (folder / "packages").mkdir()
    (folder / "packages" / "Acme.Web.1.4.0.zip").write_bytes(
        (FIXTURES / "acme" / "packages" / "Acme.Web.1.4.0.zip").read_bytes())
    return w.export(w.dev, folder / "release.toml", f"{name}.bundle")


def test_a_package_id_of_another_source_with_other_bytes_does_not_reveal_its_digest_or_versions(
        world: World) -> None:
    """Decision 472: the answer is the same for a version the zone holds from B and one it does not."""
    held = _refused(world, _a_ships_as(world, "ships-held", "Billing.App", "1.0.0"), "package_not_shared")
    unheld = _refused(world, _a_ships_as(world, "ships-unheld", "Billing.App", "7.0.0"), "package_not_shared")
    for err in (held, unheld):
        assert world.b_sha[:16] not in err.message and "dev-b" not in err.message
        assert "already holds" not in err.message and "belongs to the sources that delivered it" in err.message
    assert _said(held).replace("1.0.0", "V") == _said(unheld).replace("7.0.0", "V")


def test_a_source_cannot_take_another_sources_next_version_first(world: World) -> None:
    """A ships its own zip as B's next version (any case of the id): refused, and B's real release then imports."""
    _refused(world, _a_ships_as(world, "ships-next", "Billing.App", "1.0.1"), "package_not_shared")
    _refused(world, _a_ships_as(world, "ships-folded", "billing.app", "1.0.1"), "package_not_shared")
    folder = world.tmp / "billing-next"
    folder.mkdir()
    with zipfile.ZipFile(folder / "Billing.App.1.0.1.zip", "w") as zf:
        zf.writestr("secret-config.json", '{"billing": "B\'s real next version"}')
    (folder / "release.toml").write_text(BILLING.replace('"1.0.0"', '"1.0.1"').replace("1.0.0.zip", "1.0.1.zip"))
    plan = import_bundle(world.prod, world.export(world.dev_b, folder / "release.toml", "b-next.bundle"),
                         now=int(time.time()))
    assert not plan.noop and [(p.id, p.version) for p in plan.delivered] == [("Billing.App", "1.0.1")]


def test_the_same_bytes_under_another_sources_id_and_version_are_accepted(world: World) -> None:
    """Two sources shipping one third-party package: the second sends the same bytes and is not refused."""
    plan = import_bundle(world.prod, _a_ships_as(world, "ships-same", "Billing.App", "1.0.0", world.b_package),
                         now=int(time.time()))
    assert not plan.noop


def test_a_source_sharing_its_packages_lets_the_other_deliver_new_versions_of_its_ids(world: World) -> None:
    truststore.share_packages(world.prod, "dev-b", ["dev"])
    plan = import_bundle(world.prod, _a_ships_as(world, "ships-shared", "Billing.App", "1.0.2"), now=int(time.time()))
    assert not plan.noop and ("Billing.App", "1.0.2") in [(p.id, p.version) for p in plan.delivered]


def test_a_by_reference_package_with_a_wrong_digest_says_nothing_of_the_version_held(world: World) -> None:
    """Listing B's Billing.App 1.0.0 by reference with a made-up SHA-256 answers exactly as a version
    the zone does not hold: not ``package_mismatch`` (which told A that B's version is here)."""
    extra = f'\n[[packages]]\nid = "Billing.App"\nversion = "1.0.0"\nsha256 = "{"cd" * 32}"\nsize = 10\n'
    held = _refused(world, world.export(world.dev, world.acme("1.4.1", extra), "a-wrong.bundle"),
                    "package_not_shared")
    extra = extra.replace('"1.0.0"', '"9.9.9"')
    unheld = _refused(world, world.export(world.dev, world.acme("1.4.2", extra), "a-wrong-2.bundle"),
                      "package_not_shared")
    assert _said(held).replace("1.0.0", "V") == _said(unheld).replace(
        "9.9.9", "V")


def test_a_receipt_lists_only_the_packages_its_destination_delivered(world: World) -> None:
    assert world.receipt_inventory(world.dev, "to-a.bundle") == [("Acme.Web", "1.4.0")]
    assert world.receipt_inventory(world.dev_b, "to-b.bundle") == [("Billing.App", "1.0.0")]


def test_a_source_that_shares_its_packages_lets_the_other_use_them_one_way(world: World) -> None:
    truststore.share_packages(world.prod, "dev-b", ["dev"])
    assert world.receipt_inventory(world.dev, "to-a.bundle") == [("Acme.Web", "1.4.0"), ("Billing.App", "1.0.0")]
    assert world.receipt_inventory(world.dev_b, "to-b.bundle") == [("Billing.App", "1.0.0")]  # one way
    plan = import_bundle(world.prod, world.by_reference_to_b("1.4.1"), now=int(time.time()))
    assert not plan.noop and [p.id for p in plan.delivered] == ["Acme.Web"]  # A delivered only its own
    truststore.share_packages(world.prod, "dev-b", [])  # sharing ended: B's package is B's again
    assert world.receipt_inventory(world.dev, "to-a-2.bundle") == [("Acme.Web", "1.4.0")]
    _refused(world, world.by_reference_to_b("1.4.2"), "package_not_shared")


def test_a_package_its_own_source_delivered_and_the_store_lost_is_missing_not_unshared(world: World) -> None:
    own = (FIXTURES / "acme" / "packages" / "Acme.Web.1.4.0.zip").read_bytes()
    sha = hashlib.sha256(own).hexdigest()
    release = world.acme("1.4.1")  # A lists its own package by reference, as after a receipt reported it
    release.write_text(release.read_text().replace('file = "packages/Acme.Web.1.4.0.zip"',
                                                   f'sha256 = "{sha}"\nsize = {len(own)}'))
    bundle = world.export(world.dev, release, "a-own.bundle")
    (world.prod.home / "packages" / "sha256" / sha[:2] / sha).unlink()  # removed by hand, or a disk replaced
    err = _refused(world, bundle, "package_missing")
    assert "no longer holds it" in err.message


def test_trust_set_names_only_trusted_zones_and_never_the_zone_itself(world: World, tmp_path: Path) -> None:
    before = snapshot(world.prod.home)
    for args, code in ((["trust", "set", "dev-b", "--share-packages-with", "nobody"], "unknown_zone"),
                       (["trust", "set", "dev-b", "--share-packages-with", "dev-b"], "invalid_policy"),
                       (["trust", "set", "dev-b"], "usage")):
        r = run_cli(*args, "--json", home=world.prod.home)
        assert f'"code": "{code}"' in r.stdout, (args, r.stdout, r.stderr)
    assert snapshot(world.prod.home) == before
    r = run_cli("trust", "set", "dev-b", "--share-packages-with", "DEV", home=world.prod.home)
    assert r.returncode == 0 and "may now be used by zone(s) dev" in r.stdout
    listed = run_cli("trust", "list", home=world.prod.home).stdout
    assert "shares its packages with dev" in listed
