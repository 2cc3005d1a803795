"""Releases relayed through intermediate zones, and receipts back, through the real CLI (spec/relay.md).

dev -> staging -> prod: staging imports dev's release and relays it (its countersignature, a relay
record, the secret sealed again for prod in memory); prod demands that path (`trust add dev.card
--via staging`), deploys, and its receipt goes back to dev relayed by staging. Then the attacks:
a release that skipped staging, one relayed by a zone prod does not trust, hops altered or forged,
a relay that cannot open the secrets, and a scan of the relaying zone for the secrets in clear.
"""

from __future__ import annotations

import base64
import shlex
import shutil
from pathlib import Path

import pytest

from bundlekit.format import crypto
from bundlekit.format.card import parse_card
from bundlekit.format.container import BundleFile
from tests.conftest import CANARY, FIXTURES, cli_in_process, raises_code, run_cli, snapshot
from tests.e2e.world import json_of
from tests.refusals.forge import resign
from tests.relayforge import edit_last_hop, origin_and_hops
from tests.reported import unchanged_or_reported

API_KEY = "prod-relay-api-key-canary"
TOKEN = f"tok-{CANARY}"


def ok(*args: object, home: Path | None = None) -> str:
    r = run_cli(*args, home=home)  # type: ignore[arg-type]
    assert r.returncode == 0, f"bundlekit {' '.join(map(str, args))}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def refused(code: str, *args: object, home: Path) -> None:
    """The command exits 3 with ``code`` and leaves ``home`` byte-identical, but for the refusal entry
    an import of an authentic release queues for its source (decision 968)."""
    before = snapshot(home)
    r = run_cli(*args, "--json", home=home)  # type: ignore[arg-type]
    assert r.returncode == 3, r.stdout + r.stderr
    assert json_of(r.stdout)["error"]["code"] == code, r.stdout
    unchanged_or_reported(home, before, code)


class Chain:
    def __init__(self, root: Path) -> None:
        self.root, self.media = root, root / "media"
        self.release = root / "release"
        shutil.copytree(FIXTURES / "acme", self.release)
        self.outputs: list[str] = []
        self.version = "1.4.0"

    def home(self, name: str) -> Path:
        return self.root / name

    def card(self, name: str) -> Path:
        return self.root / f"{name}.card"

    def cli(self, *args: object, home: str) -> str:
        out = ok(*args, home=self.home(home))
        self.outputs.append(out)
        return out

    def setup(self, *args: object, home: str) -> None:
        """A set-up command, run in this process (decision 129: a process of its own proves nothing
        more for what the test does not check); the commands under test run in subprocesses."""
        r = cli_in_process(*map(str, args), home=self.home(home))
        assert r.returncode == 0, f"bundlekit {' '.join(map(str, args))}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"

    def zone(self, name: str) -> None:
        self.setup("init", "--zone", name, home=name)
        self.setup("identity", "-o", self.card(name), home=name)

    def targets(self, home: str, folder: Path) -> None:
        """The Production targets the acme release deploys to (db-01, web-01), under ``folder``."""
        for name, role in (("db-01", "db"), ("web-01", "web")):
            self.setup("targets", "add", name, "--environment", "Production", "--role", role, "--root", folder / name,
                       home=home)

    def trust(self, home: str, *names: str, via: tuple[str, ...] = ()) -> None:
        for name in names:
            self.setup("trust", "add", self.card(name), *[a for v in via for a in ("--via", v)], home=home)

    def export(self, to: str, name: str, version: str | None = None) -> Path:
        if version is not None:
            path = self.release / "release.toml"
            marker = f'version = "{self.version}"\nchannel'
            assert marker in path.read_text()
            path.write_text(path.read_text().replace(marker, f'version = "{version}"\nchannel', 1))
            self.version = version
        out = self.media / name
        self.cli("export", self.release / "release.toml", "--to", to, "-o", out, home="dev")
        return out

    def relay(self, bundle: Path, at: str, to: str, name: str) -> dict:  # type: ignore[type-arg]
        out = self.media / name
        return json_of(self.cli("relay", bundle, "--to", to, "-o", out, "--json", home=at))


def build(root: Path) -> Chain:
    c = Chain(root)
    for name in ("dev", "staging", "prod"):
        c.zone(name)
    c.trust("dev", "staging", "prod")
    c.trust("staging", "dev", "prod")
    c.trust("prod", "staging")
    c.trust("prod", "dev", via=("staging",))
    c.targets("prod", root / "targets")
    return c


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    c = build(tmp_path_factory.mktemp("relay"))
    to_staging = c.export("staging", "acme-1.4.0.bundle")
    c.cli("import", to_staging, home="staging")
    c.record = c.relay(to_staging, "staging", "prod", "acme-1.4.0.prod.bundle")  # type: ignore[attr-defined]
    c.imported = json_of(c.cli("import", c.media / "acme-1.4.0.prod.bundle", "--json", home="prod"))  # type: ignore[attr-defined]
    c.cli("variables", "set", "acme-web", "Acme.ApiKey", API_KEY, "--sensitive", home="prod")
    c.cli("egress", "set", FIXTURES / "acme" / "egress.toml", home="prod")
    c.deployed = json_of(c.cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--json",  # type: ignore[attr-defined]
                               "--receipt-out", c.media / "receipt-1.bundle", home="prod"))
    c.receipt_relay = c.relay(c.media / "receipt-1.bundle", "staging", "dev", "receipt-1.dev.bundle")  # type: ignore[attr-defined]
    c.receipt = json_of(c.cli("import", c.media / "receipt-1.dev.bundle", "--json", home="dev"))  # type: ignore[attr-defined]
    return c


def test_three_zone_round_trip_dev_staging_prod_and_the_receipt_back(chain: Chain) -> None:
    record = chain.record  # type: ignore[attr-defined]
    assert [(h["zone"], h["to"]) for h in record["hops"]] == [("staging", "prod")]
    assert record["checks"] == ["imported", "opened", "verified"] and record["sealed_values"] == 1
    assert chain.deployed["state"] == "Success"  # type: ignore[attr-defined]
    receipt = chain.receipt  # type: ignore[attr-defined]
    assert receipt["source"] == "prod" and receipt["recorded"] == ["Deployments-1"]
    assert receipt["relayed_by"] == ["staging"] and chain.imported["relayed_by"] == ["staging"]  # type: ignore[attr-defined]
    assert [(h["zone"], h["to"]) for h in chain.receipt_relay["hops"]] == [("staging", "dev")]  # type: ignore[attr-defined]
    assert chain.receipt_relay["sealed_values"] == 0  # type: ignore[attr-defined]
    # The secret dev sealed for staging reached prod's deployment (opened there from the relay's copy:
    # the migration step's token is made of it), and prod's sealed output reached dev, where only dev
    # can open it.
    revealed = json_of(ok("outputs", "acme-web", "--zone", "prod", "--reveal", "--json", home=chain.home("dev")))
    assert {o["name"]: o["value"] for o in revealed["outputs"]}["MigrationToken"] == TOKEN


def test_the_relayed_release_is_byte_for_byte_the_one_dev_signed(chain: Chain) -> None:
    origin, hops, digest = origin_and_hops(chain.media / "acme-1.4.0.prod.bundle")
    assert origin == (chain.media / "acme-1.4.0.bundle").read_bytes()
    assert chain.imported["digest"] == digest and chain.imported["source"] == "dev"  # type: ignore[attr-defined]
    shown = json_of(ok("verify", chain.media / "acme-1.4.0.prod.bundle", "--json", home=chain.home("prod")))
    assert shown["source"] == "dev" and [h["zone"] for h in shown["relay_hops"]] == ["staging"]


def test_inspect_names_the_relay_envelope_and_each_hops_countersigning_key(chain: Chain) -> None:
    """Review v33-11u F4: inspect said only the origin's format and dev's signer."""
    relayed = chain.media / "acme-1.4.0.prod.bundle"
    info = json_of(ok("inspect", relayed, "--json", home=chain.home("prod")))
    staging_key = json_of(ok("identity", "-o", "-", "--json", home=chain.home("staging")))["signing_key_id"]
    assert info["relay_version"] == "1.6" and [h["key_id"] for h in info["relay_hops"]] == [staging_key]
    human = ok("inspect", relayed, home=chain.home("prod")).splitlines()
    assert human[0].startswith("relayed release bundle, format 1.6 (origin format 1.")
    assert any(line.strip().startswith("relay   1: staging -> prod") and line.endswith(f"countersigned by {staging_key}")
               for line in human)
    plain = ok("inspect", chain.media / "acme-1.4.0.bundle", home=chain.home("prod")).splitlines()[0]
    assert plain.startswith("release bundle, format 1.") and "relay" not in plain
    assert "relay_version" not in json_of(ok("inspect", chain.media / "acme-1.4.0.bundle", "--json",
                                             home=chain.home("prod")))


def test_a_release_that_skipped_the_required_relay_is_refused_and_prod_is_unchanged(chain: Chain,
                                                                                       tmp_path: Path) -> None:
    prod = tmp_path / "prod"
    shutil.copytree(chain.home("prod"), prod)
    direct = tmp_path / "direct.bundle"
    ok("export", chain.release / "release.toml", "--to", "prod", "-o", direct, "--sequence", "50",
       home=chain.home("dev"))
    refused("relay_required", "import", direct, home=prod)
    refused("relay_required", "verify", direct, home=prod)


def test_a_release_relayed_by_a_zone_prod_does_not_trust_is_refused(chain: Chain, tmp_path: Path) -> None:
    dev, prod, rogue = tmp_path / "dev", tmp_path / "prod", tmp_path / "rogue"
    shutil.copytree(chain.home("dev"), dev)
    shutil.copytree(chain.home("prod"), prod)
    for args, home in ((("init", "--zone", "rogue"), rogue), (("identity", "-o", tmp_path / "rogue.card"), rogue),
                       (("trust", "add", tmp_path / "rogue.card"), dev), (("trust", "add", chain.card("dev")), rogue),
                       (("trust", "add", chain.card("prod")), rogue)):
        assert cli_in_process(*args, home=home).returncode == 0  # set-up in process (decision 129)
    to_rogue, relayed = tmp_path / "to-rogue.bundle", tmp_path / "relayed.bundle"
    ok("export", chain.release / "release.toml", "--to", "rogue", "-o", to_rogue, "--sequence", "60", home=dev)
    ok("relay", to_rogue, "--to", "prod", "-o", relayed, home=rogue)
    refused("untrusted_relay", "import", relayed, home=prod)


def test_a_relay_record_altered_after_it_was_countersigned_is_refused(chain: Chain, tmp_path: Path) -> None:
    prod = tmp_path / "prod"
    shutil.copytree(chain.home("prod"), prod)
    relayed = chain.media / "acme-1.4.0.prod.bundle"

    def checks(record: dict) -> None:  # type: ignore[type-arg]
        record["checks"] = ["imported", "opened", "verified"][1:]

    altered = edit_last_hop(relayed, tmp_path / "altered.bundle", chain.home("staging"), checks, resign=False)
    refused("invalid_signature", "import", altered, home=prod)

    def moved(record: dict) -> None:  # type: ignore[type-arg]
        record["hop"] = 1

    forged = edit_last_hop(relayed, tmp_path / "forged.bundle", chain.home("staging"), moved)
    refused("invalid_relay", "import", forged, home=prod)


def test_a_hop_whose_record_names_another_position_is_refused_in_one_numbering(chain: Chain, tmp_path: Path) -> None:
    """Review relayatk F4: staging re-signs its hop with `hop: 1`; the message said "relay hop 1:
    it says it is hop 1 ..., it is hop 0", counting from 1 and from 0 at once."""
    prod = tmp_path / "prod"
    shutil.copytree(chain.home("prod"), prod)

    def moved(record: dict) -> None:  # type: ignore[type-arg]
        record["hop"] = 1

    forged = edit_last_hop(chain.media / "acme-1.4.0.prod.bundle", tmp_path / "hopidx.bundle", chain.home("staging"),
                           moved)
    before = snapshot(prod)
    r = run_cli("import", forged, "--json", home=prod)
    err = json_of(r.stdout)["error"]
    assert r.returncode == 3 and err["code"] == "invalid_relay", r.stdout + r.stderr
    assert "relay hop 1: its record says `hop: 1`, but the record of the first hop must say `hop: 0` (records " \
           "count from 0)" in err["message"], err
    assert "is hop 0" not in err["message"] and "hop 1 of" not in err["message"], err
    assert snapshot(prod) == before


def test_every_byte_of_the_hops_is_covered(chain: Chain, tmp_path: Path) -> None:
    """Flip each byte of the hops section: the verification refuses every one (in process: one CLI
    process per byte would prove nothing more)."""
    from bundlekit.core.clock import now
    from bundlekit.importer.verify import check_bundle, verifier_for
    from bundlekit.zone.home import open_zone

    relayed = chain.media / "acme-1.4.0.prod.bundle"
    data = relayed.read_bytes()
    _, hops, _ = origin_and_hops(relayed)
    start = len(data) - len(hops)
    with open_zone(chain.home("prod")) as z:
        v = verifier_for(z, now())
    check_bundle(v, relayed, check_blobs=False)
    bad = tmp_path / "flipped.bundle"
    # A flipped byte of a length field makes the hops cut short or too long; any other byte breaks a
    # countersignature, or names a key no trusted zone holds.
    codes = ("invalid_signature", "truncated", "limit_exceeded", "untrusted_relay")
    for i in range(start, len(data)):
        bad.write_bytes(data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:])
        with raises_code(codes):
            check_bundle(v, bad, check_blobs=False)


def test_a_receipt_altered_on_the_way_back_is_refused(chain: Chain, tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    shutil.copytree(chain.home("dev"), dev)
    relayed = chain.media / "receipt-1.dev.bundle"
    with BundleFile(relayed) as b:
        manifest_at = b.origin_offset + 32 + b.header.blobs_length
    data = bytearray(relayed.read_bytes())
    data[manifest_at + 40] ^= 0x01
    (tmp_path / "altered.bundle").write_bytes(bytes(data))
    refused("invalid_signature", "import", tmp_path / "altered.bundle", home=dev)


def test_a_receipt_is_relayed_back_whatever_the_space_its_signer_is_trusted_in(chain: Chain, tmp_path: Path) -> None:
    """Decision 941: the space rule of a relay's --to zone is for releases, whose secrets it seals
    again; a receipt's stay sealed to its source. staging trusts prod in space S2 only, yet carries
    prod's receipt about a Default project back to dev."""
    staging = tmp_path / "staging"
    shutil.copytree(chain.home("staging"), staging)
    for args in (("spaces", "add", "S2"), ("trust", "remove", "prod"), ("trust", "add", chain.card("prod"), "--space",
                                                                          "S2")):
        assert cli_in_process(*map(str, args), home=staging).returncode == 0  # set-up in process (decision 129)
    out = tmp_path / "receipt.dev.bundle"
    relayed = json_of(ok("relay", chain.media / "receipt-1.bundle", "--to", "dev", "-o", out, "--json", home=staging))
    assert relayed["kind"] == "receipt" and relayed["to"] == "dev" and relayed["sealed_values"] == 0, relayed
    assert relayed["path"] == str(out.absolute()) and out.is_file(), relayed  # as export names it (newuser38 F2)


@pytest.mark.parametrize("zone, bundle, args, dest", [
    ("dev", "acme-1.4.0.bundle", ("relay", "--to", "prod", "-o", "OUT"), "staging"),
    ("dev", "acme-1.4.0.bundle", ("verify",), "staging"),
    ("dev", "acme-1.4.0.bundle", ("import",), "staging"),
    ("prod", "receipt-1.bundle", ("relay", "--to", "dev", "-o", "OUT"), "dev"),
])
def test_a_zone_given_a_bundle_it_wrote_itself_says_so_and_where_to_carry_it(chain: Chain, tmp_path: Path, zone: str,
                                                                           bundle: str, args: tuple[str, ...],
                                                                           dest: str) -> None:
    """Review relayatk F3: "no trusted zone signed this bundle ... `bundlekit trust add CARD`", and
    trusting its own card is refused (self_trust): advice that cannot work."""
    out = tmp_path / "out.bundle"
    command = [args[0], chain.media / bundle, *(out if a == "OUT" else a for a in args[1:])]
    before = snapshot(chain.home(zone), tmp_path)
    r = run_cli(*command, "--json", home=chain.home(zone))
    err = json_of(r.stdout)["error"]
    assert r.returncode == 3 and err["code"] == "untrusted", r.stdout + r.stderr
    assert f"this zone ({zone}) wrote itself" in err["message"], err
    assert f"carry it to zone {dest!r}, the zone it is addressed to" in err["message"], err
    assert "trust add" not in err["message"] and err["details"] == {"own_bundle": True, "destination": dest}, err
    assert snapshot(chain.home(zone), tmp_path) == before


def test_a_relay_that_cannot_open_the_sealed_values_refuses_and_writes_nothing(chain: Chain, tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    shutil.copytree(chain.home("staging"), staging)
    prod_card = parse_card(chain.card("prod").read_bytes(), "prod.card")

    def seal_for_prod(doc: dict) -> None:  # type: ignore[type-arg]
        """dev (a buggy dev) seals the password to prod's key: staging cannot open it."""
        var = next(v for v in doc["variables"] if v["sensitive"])
        label = crypto.seal_label("variable", var["name"], var["scope"])
        ad = crypto.seal_ad(doc["bundle_id"], doc["destination"]["key_id"], label)
        var["sealed"] = crypto.b64(crypto.seal(prod_card.sealing_key, b"not-for-staging", ad))

    bundle = resign(chain.media / "acme-1.4.0.bundle", tmp_path / "sealed-elsewhere.bundle", chain.home("dev"),
                    mutate=seal_for_prod)
    out = tmp_path / "out" / "relayed.bundle"
    before = snapshot(staging, out.parent)
    r = run_cli("relay", bundle, "--to", "prod", "-o", out, "--json", home=staging)
    assert r.returncode == 3 and json_of(r.stdout)["error"]["code"] == "invalid_seal", r.stdout + r.stderr
    assert snapshot(staging, out.parent) == before


def _flip_sealed(sealed: str) -> str:
    raw = bytearray(base64.b64decode(sealed))
    raw[-3] ^= 1
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("command", ["import", "verify", "relay"])
def test_a_sealed_value_that_does_not_open_names_who_sealed_it_and_what_to_ask(chain: Chain, tmp_path: Path,
                                                                              command: str) -> None:
    """Review relayatk F5: dev re-signs its export with one sealed byte flipped; staging's import
    said only "cannot be opened with this zone's sealing key (...)", while its relay said what to do."""
    staging = tmp_path / "staging"
    shutil.copytree(chain.home("staging"), staging)

    def flipped(doc: dict) -> None:  # type: ignore[type-arg]
        var = next(v for v in doc["variables"] if v["sensitive"])
        var["sealed"] = _flip_sealed(var["sealed"])

    bundle = resign(chain.media / "acme-1.4.0.bundle", tmp_path / "badseal.bundle", chain.home("dev"), mutate=flipped)
    out = tmp_path / "out" / "relayed.bundle"
    before = snapshot(staging, out.parent)
    extra = ("--to", "prod", "-o", out) if command == "relay" else ()
    r = run_cli(command, bundle, *extra, "--json", home=staging)
    err = json_of(r.stdout)["error"]
    assert r.returncode == 3 and err["code"] == "invalid_seal", r.stdout + r.stderr
    assert "variable 'Acme.Db.Password': cannot be opened with this zone's sealing key" in err["message"], err
    assert "Ask zone 'dev', which sealed it, to export the release again" in err["message"], err
    # import reports the refusal of an authentic release back to dev (decision 153); relay writes nothing
    queued = {"refusal_queued": "Refusals-1"} if command == "import" else {}
    assert err["details"] == {"variable": "Acme.Db.Password", "sealed_by": "dev", **queued}, err
    assert ("nothing was written" in err["message"]) == (command == "relay"), err
    if command != "import":  # import queues a refusal entry for dev (the documented exception)
        assert snapshot(staging, out.parent) == before


def test_a_relayed_copy_that_does_not_open_names_the_last_relay(chain: Chain, tmp_path: Path) -> None:
    prod = tmp_path / "prod"
    shutil.copytree(chain.home("prod"), prod)

    def flipped(record: dict) -> None:  # type: ignore[type-arg]
        record["sealed"][0]["sealed"] = _flip_sealed(record["sealed"][0]["sealed"])

    bundle = edit_last_hop(chain.media / "acme-1.4.0.prod.bundle", tmp_path / "badcopy.bundle", chain.home("staging"),
                           flipped)
    r = run_cli("verify", bundle, "--json", home=prod)
    err = json_of(r.stdout)["error"]
    assert r.returncode == 3 and err["code"] == "invalid_seal", r.stdout + r.stderr
    assert "Ask zone 'staging', the last relay, which sealed it again for this zone, to relay the bundle again" \
           in err["message"] and err["details"]["sealed_by"] == "staging", err


def test_no_secret_in_clear_in_any_file_of_the_relaying_zone_or_on_the_media(chain: Chain) -> None:
    texts = list(chain.outputs)
    for folder in (chain.home("staging"), chain.media):
        texts += [p.read_bytes().decode("latin-1") for p in folder.rglob("*") if p.is_file()]
    for secret in (CANARY, API_KEY, TOKEN):
        for form in (secret, secret.encode().hex(), base64.b64encode(secret.encode()).decode()):
            assert not any(form in t for t in texts), f"{secret!r} found as {form!r}"


def test_anti_rollback_counts_per_origin_and_project_across_relays(chain: Chain, tmp_path: Path) -> None:
    """An older release of dev, relayed after a newer one was imported, is refused (rollback); the
    refusal goes back to dev in prod's next receipt, relayed by staging."""
    c = Chain(tmp_path)
    for name in ("dev", "staging", "prod"):
        shutil.copytree(chain.home(name), c.home(name))
    shutil.copytree(chain.release, c.release, dirs_exist_ok=True)
    older, newer = c.export("staging", "older.bundle", version="1.4.1"), c.export("staging", "newer.bundle",
                                                                                   version="1.4.2")
    c.relay(older, "staging", "prod", "older.prod.bundle")
    c.relay(newer, "staging", "prod", "newer.prod.bundle")
    c.cli("import", c.media / "newer.prod.bundle", home="prod")
    r = run_cli("import", c.media / "older.prod.bundle", "--json", home=c.home("prod"))
    assert r.returncode == 3 and json_of(r.stdout)["error"]["code"] == "rollback", r.stdout
    c.cli("outbox", "pack", "--to", "dev", "-o", c.media / "receipt-2.bundle", home="prod")
    c.relay(c.media / "receipt-2.bundle", "staging", "dev", "receipt-2.dev.bundle")
    back = json_of(c.cli("import", c.media / "receipt-2.dev.bundle", "--json", home="dev"))
    assert [(x["release"], x["code"], x["new"]) for x in back["refusals"]] == [("1.4.1", "rollback", True)]


def test_a_chain_of_four_zones_each_hop_adds_its_record_and_the_order_is_enforced(tmp_path: Path) -> None:
    c = Chain(tmp_path)
    for name in ("dev", "staging", "dmz", "prod2"):
        c.zone(name)
    c.trust("dev", "staging")
    c.trust("staging", "dev", "dmz")
    c.trust("dmz", "dev", "staging", "prod2")
    c.trust("prod2", "staging", "dmz")
    c.trust("prod2", "dev", via=("staging", "dmz"))
    to_staging = c.export("staging", "a.bundle")
    c.relay(to_staging, "staging", "dmz", "a.dmz.bundle")
    last = c.relay(c.media / "a.dmz.bundle", "dmz", "prod2", "a.prod2.bundle")
    assert [(h["zone"], h["to"]) for h in last["hops"]] == [("staging", "dmz"), ("dmz", "prod2")]
    assert last["checks"] == ["opened", "verified"]  # dmz did not import it
    shown = json_of(ok("verify", c.media / "a.prod2.bundle", "--json", home=c.home("prod2")))
    assert [h["zone"] for h in shown["relay_hops"]] == ["staging", "dmz"]
    # The same path in the other order does not satisfy --via staging --via dmz.
    ok("trust", "set", "dev", "--via", "dmz", "--via", "staging", home=c.home("prod2"))
    refused("relay_required", "import", c.media / "a.prod2.bundle", home=c.home("prod2"))
    ok("trust", "set", "dev", "--via", "staging", "--via", "dmz", home=c.home("prod2"))
    imported = json_of(ok("import", c.media / "a.prod2.bundle", "--json", home=c.home("prod2")))
    assert imported["noop"] is False and imported["source"] == "dev"
    # A hop cannot be replayed on its own: the dmz copy of the bundle is addressed to dmz.
    r = run_cli("import", c.media / "a.dmz.bundle", "--json", home=c.home("prod2"))
    assert r.returncode == 3 and json_of(r.stdout)["error"]["code"] == "wrong_destination"


def test_relaying_changes_nothing_in_the_relaying_zone(chain: Chain, tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    shutil.copytree(chain.home("staging"), staging)
    before = snapshot(staging)
    ok("relay", chain.media / "acme-1.4.0.bundle", "--to", "prod", "-o", tmp_path / "again.bundle", home=staging)
    assert snapshot(staging) == before
    # Sealing is randomised, so the hops differ; the origin inside is the same bytes.
    again, _, _ = origin_and_hops(tmp_path / "again.bundle")
    assert again == (chain.media / "acme-1.4.0.bundle").read_bytes()


@pytest.mark.parametrize("relayed, said", [(2**53 - 1, "later than this zone's clock"),
                                           (0, "before the origin bundle was created")])
def test_a_hop_relayed_in_the_future_or_before_its_origin_existed_is_refused(chain: Chain, tmp_path: Path,
                                                                              relayed: int, said: str) -> None:
    """Review atk35 F1: staging countersigns its hop with `relayed` 285 million years ahead, or
    1970; prod verified and imported it, and dev's dashboard showed that time as the path's."""
    prod = tmp_path / "prod"
    shutil.copytree(chain.home("prod"), prod)
    forged = edit_last_hop(chain.media / "acme-1.4.0.prod.bundle", tmp_path / "when.bundle", chain.home("staging"),
                           lambda r: r.__setitem__("relayed", relayed))
    for command in ("verify", "import"):
        before = snapshot(prod)
        r = run_cli(command, forged, "--json", home=prod)
        err = json_of(r.stdout)["error"]
        assert r.returncode == 3 and err["code"] == "invalid_relay", r.stdout + r.stderr
        assert f"relay hop 1: its record says `relayed: {relayed}`" in err["message"] and said in err["message"], err
        assert "Zone 'staging' countersigned that time: check its clock" in err["message"], err
        assert err["details"] == {"hop": 1, "field": "relayed", "relayed": relayed}, err
        assert snapshot(prod) == before


def test_a_zone_does_not_relay_a_release_its_own_import_refuses_as_a_rollback(chain: Chain, tmp_path: Path) -> None:
    """Review atk35 F12: staging imported dev's newer export, refused the older one as a rollback,
    yet relayed that older one to prod with `checks: verified`, and prod (which requires staging on
    the path) imported it."""
    c = Chain(tmp_path)
    for name in ("dev", "staging", "prod"):
        shutil.copytree(chain.home(name), c.home(name))
    shutil.copytree(chain.release, c.release, dirs_exist_ok=True)
    older, newer = c.export("staging", "older.bundle"), c.export("staging", "newer.bundle")
    c.cli("import", newer, home="staging")
    out = tmp_path / "out" / "older.prod.bundle"
    out.parent.mkdir()
    before = snapshot(c.home("staging"), out.parent)
    r = run_cli("relay", older, "--to", "prod", "-o", out, "--json", home=c.home("staging"))
    err = json_of(r.stdout)["error"]
    assert r.returncode == 3 and err["code"] == "rollback", r.stdout + r.stderr
    assert "refusing a rollback or replay" in err["message"], err
    assert "This zone would refuse to import it, so it does not relay it either: nothing was written" \
           in err["message"], err
    assert snapshot(c.home("staging"), out.parent) == before
    # the newest, and one this zone imported itself, are relayed as before
    c.relay(newer, "staging", "prod", "newer.prod.bundle")
    c.relay(chain.media / "acme-1.4.0.bundle", "staging", "prod", "again.prod.bundle")


@pytest.mark.parametrize("record, said", [(b"\xc1\xc1\xc1", "byte 0 is 0xc1, which starts no msgpack value"),
                                          (b"\x91" * 200_000 + b"\xc0", "values nested too deep")])
def test_a_hop_record_that_is_not_msgpack_says_what_is_wrong_and_what_to_do(chain: Chain, tmp_path: Path,
                                                                            record: bytes, said: str) -> None:
    """Review atk35 F8: "relay hop 1: not valid msgpack ()", empty detail and no way forward."""
    from bundlekit.format.relay import frame_hop, hop_message
    from tests.relayforge import signing_key, write_relayed

    origin, _, digest = origin_and_hops(chain.media / "acme-1.4.0.bundle")
    key = signing_key(chain.home("staging"))
    signed = frame_hop(record)
    junk = write_relayed(tmp_path / "junk.bundle", origin, signed + crypto.raw_public(key)
                         + crypto.sign(key, "relay", hop_message(digest, signed)))
    before = snapshot(chain.home("prod"))
    r = run_cli("verify", junk, "--json", home=chain.home("prod"))
    err = json_of(r.stdout)["error"]
    assert r.returncode == 3 and err["code"] == "malformed", r.stdout + r.stderr
    assert "relay hop 1: not valid msgpack (" in err["message"] and said in err["message"], err
    assert "ask the relaying zone to relay the bundle again" in err["message"], err
    assert snapshot(chain.home("prod")) == before
    shown = run_cli("inspect", junk, home=chain.home("prod"))
    assert said in shown.stdout, shown.stdout + shown.stderr


@pytest.mark.parametrize("to", ["staging", "STAGING", "ID"])
def test_relay_to_the_relaying_zone_itself_says_so_and_names_the_zones_it_could_relay_to(chain: Chain, tmp_path: Path,
                                                                                      to: str) -> None:
    """Review atk35 F10: "no trusted zone named 'staging' in staging", as if it were a typo."""
    if to == "ID":
        to = json_of(ok("identity", "-o", "-", "--json", home=chain.home("staging")))["zone_id"]
    out = tmp_path / "out" / "x.bundle"
    out.parent.mkdir()
    before = snapshot(chain.home("staging"), out.parent)
    r = run_cli("relay", chain.media / "acme-1.4.0.bundle", "--to", to, "-o", out, "--json", home=chain.home("staging"))
    err = json_of(r.stdout)["error"]
    assert r.returncode == 2 and err["code"] == "usage", r.stdout + r.stderr
    assert f"--to {to}: that is this zone (staging) itself" in err["message"], err
    assert "a zone it trusts: dev, prod; name that zone with --to" in err["message"], err
    assert f"`bundlekit import BUNDLE --home {shlex.quote(str(chain.home('staging')))}`" in err["message"], err
    assert err["details"]["zones"] == ["dev", "prod"], err
    assert snapshot(chain.home("staging"), out.parent) == before
