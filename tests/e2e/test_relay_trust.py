"""Who may relay a release, and which receipts a relay may carry back, through the real CLI
(spec/relay.md §4 step 6, §7; decisions 905 and 906).

Four zones: dev -> staging -> pay -> prod. prod trusts staging and dev in space Default (dev's
releases only through staging) and pay only in space Payments. pay re-seals the release's
secret for prod as every relay does, so it could put any value there: prod must refuse the
release because pay is not trusted for the space it enters (or its policy does not admit the
project or an environment), and leave its home byte-identical.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bundlekit.format import codec, crypto
from bundlekit.format.card import parse_card
from bundlekit.format.container import BundleFile
from bundlekit.format.relay import relay_seal_ad
from tests.conftest import FIXTURES, cli_in_process, run_cli, snapshot
from tests.e2e.test_relay import Chain, ok, refused
from tests.e2e.world import json_of
from tests.refusals.forge import resign
from tests.relayforge import edit_last_hop, origin_and_hops

ATTACKER_VALUE = "value-chosen-by-the-relay"


def _setup(*args: object, home: Path) -> None:
    r = cli_in_process(*map(str, args), home=home)  # set-up in process (decision 129)
    assert r.returncode == 0, f"bundlekit {' '.join(map(str, args))}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"


def build(root: Path) -> Chain:
    c = Chain(root)
    for name in ("dev", "staging", "pay", "prod"):
        c.zone(name)
    c.trust("dev", "staging", "pay", "prod")
    c.trust("staging", "dev", "pay", "prod")
    c.trust("pay", "dev", "staging", "prod")
    c.trust("prod", "staging")
    c.trust("prod", "dev", via=("staging",))
    c.setup("spaces", "add", "Payments", home="prod")
    c.setup("trust", "add", c.card("pay"), "--space", "Payments", home="prod")
    c.targets("prod", root / "targets")
    return c


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    c = build(tmp_path_factory.mktemp("relay-trust"))
    to_staging = c.export("staging", "acme.bundle")
    c.relay(to_staging, "staging", "pay", "acme.pay.bundle")
    c.relay(c.media / "acme.pay.bundle", "pay", "prod", "acme.prod.bundle")
    return c


def substituted(c: Chain, out: Path) -> Path:
    """What a hostile pay would send: the relayed release with the password pay re-sealed for prod
    replaced by a value of pay's choosing, countersigned by pay's own key."""
    relayed = c.media / "acme.prod.bundle"
    prod_card = parse_card(c.card("prod").read_bytes(), "prod.card")
    with BundleFile(relayed) as b:
        bundle_id = codec.decode(b.manifest_bytes)["bundle_id"]

    def swap(record: dict) -> None:  # type: ignore[type-arg]
        entry = record["sealed"][0]
        ad = relay_seal_ad(bundle_id, prod_card.sealing_key_id, entry["label"])
        entry["sealed"] = crypto.b64(crypto.seal(prod_card.sealing_key, ATTACKER_VALUE.encode(), ad))

    return edit_last_hop(relayed, out, c.home("pay"), swap)


def prod_copy(c: Chain, tmp_path: Path, *trust: object) -> Path:
    """A copy of prod whose trust rule for pay is replaced by ``trust add pay.card *trust``."""
    prod = tmp_path / "prod"
    shutil.copytree(c.home("prod"), prod)
    if trust:
        _setup("trust", "remove", "pay", home=prod)
        _setup("trust", "add", c.card("pay"), *trust, home=prod)
    return prod


def test_a_relay_trusted_only_for_another_space_cannot_relay_a_release_even_with_a_value_of_its_choosing(
        net: Chain, tmp_path: Path) -> None:
    prod = prod_copy(net, tmp_path)
    forged = substituted(net, tmp_path / "substituted.bundle")
    for bundle in (forged, net.media / "acme.prod.bundle"):
        refused("untrusted_relay", "verify", bundle, home=prod)
        refused("untrusted_relay", "import", bundle, home=prod)
    r = run_cli("import", forged, "--json", home=prod)
    error = json_of(r.stdout)["error"]
    assert "pay" in error["message"] and "Payments" in error["message"] and "Default" in error["message"]
    r = run_cli("import", forged, "--space", "Payments", "--json", home=prod)
    assert r.returncode == 3, r.stdout + r.stderr  # the source is trusted in Default: never enters Payments


@pytest.mark.parametrize("policy", [("--projects", "billing-*"), ("--environments", "Staging"),
                                    ("--spaces", "Payments")])
def test_a_relay_whose_policy_does_not_admit_the_release_cannot_relay_it(net: Chain, tmp_path: Path,
                                                                         policy: tuple[str, str]) -> None:
    prod = prod_copy(net, tmp_path, *policy)
    refused("untrusted_relay", "import", net.media / "acme.prod.bundle", home=prod)


def test_a_relay_trusted_for_the_release_relays_it_and_prod_deploys_what_it_sealed(net: Chain,
                                                                                   tmp_path: Path) -> None:
    """The control: pay trusted in Default with a policy admitting Acme Web. A relay trusted for the
    release is believed, its re-sealed value included (the rule is about who is trusted, not a
    check of the value: decision 905)."""
    prod = prod_copy(net, tmp_path, "--projects", "acme-*", "--environments", "Production")
    imported = json_of(ok("import", net.media / "acme.prod.bundle", "--json", home=prod))
    assert imported["relayed_by"] == ["staging", "pay"] and imported["source"] == "dev"


@pytest.fixture(scope="module")
def back(net: Chain) -> Chain:
    """pay imports the release staging relayed to it and deploys it; its receipt goes to dev. dev
    then exports 1.4.1 to staging, which never relays it: pay never receives 1.4.1."""
    c = net
    c.cli("import", c.media / "acme.pay.bundle", home="pay")
    c.targets("pay", c.root / "pay-targets")
    c.setup("variables", "set", "acme-web", "Acme.ApiKey", "pay-api-key", "--sensitive", home="pay")
    c.setup("egress", "set", FIXTURES / "acme" / "egress.toml", home="pay")
    c.cli("deploy", "acme-web", "1.4.0", "--environment", "Production", "--receipt-out",
          c.media / "pay-receipt.bundle", home="pay")
    c.newer = c.export("staging", "acme-1.4.1.bundle", version="1.4.1")  # type: ignore[attr-defined]
    return c


def claims_newer(c: Chain, out: Path, *, keep_hops: bool) -> Path:
    """pay's receipt with its entry saying it deployed 1.4.1 (which pay never received), signed by
    pay. ``keep_hops``: the entry keeps the relay hops of 1.4.0, which did reach pay."""
    with BundleFile(c.newer) as b:  # type: ignore[attr-defined]
        newer = codec.decode(b.manifest_bytes)
        digest = b.digest

    def claim(doc: dict) -> None:  # type: ignore[type-arg]
        entry = doc["receipts"][0]
        hops = entry["release_bundle"].get("relay_hops")
        assert hops or not keep_hops  # pay says how 1.4.0 reached it
        entry["release_bundle"] = {"bundle_id": newer["bundle_id"], "digest": digest, "sequence": newer["sequence"],
                                   **({"relay_hops": hops} if keep_hops else {})}
        entry["release"] = "1.4.1"
        entry.pop("release_digest", None)

    return resign(c.media / "pay-receipt.bundle", out, c.home("pay"), mutate=claim)


def test_a_receipt_for_a_release_its_signer_never_received_is_refused_also_when_a_relay_carries_it(
        back: Chain, tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    shutil.copytree(back.home("dev"), dev)
    for keep_hops in (False, True):
        forged = claims_newer(back, tmp_path / f"forged-{keep_hops}.bundle", keep_hops=keep_hops)
        relayed = tmp_path / f"forged-{keep_hops}.dev.bundle"
        ok("relay", forged, "--to", "dev", "-o", relayed, home=back.home("staging"))  # staging checks signatures only
        refused("unknown_bundle", "import", relayed, home=dev)
        refused("unknown_bundle", "import", forged, home=dev)
    r = run_cli("import", relayed, "--json", home=dev)
    assert "never exported to 'pay'" in json_of(r.stdout)["error"]["message"]


def test_a_receipt_for_a_release_relayed_to_its_signer_is_accepted_relayed_or_direct(back: Chain,
                                                                                     tmp_path: Path) -> None:
    """The control: pay's own receipt names 1.4.0, which dev exported to staging and staging relayed
    to pay; the hops pay carries back prove it, whichever way the receipt comes."""
    receipt = back.media / "pay-receipt.bundle"
    shown = json_of(ok("inspect", receipt, "--json"))
    assert shown["format_version"] == "1.8", shown["format_version"]  # the entry carries its relay hops
    with BundleFile(receipt) as b:
        carried = codec.decode(b.manifest_bytes)["receipts"][0]["release_bundle"]["relay_hops"]
    assert crypto.unb64(carried, "relay_hops") == origin_and_hops(back.media / "acme.pay.bundle")[1]
    relayed = tmp_path / "pay-receipt.dev.bundle"
    ok("relay", receipt, "--to", "dev", "-o", relayed, home=back.home("staging"))
    for bundle in (relayed, receipt):
        dev = tmp_path / f"dev-{bundle.stem}"
        shutil.copytree(back.home("dev"), dev)
        done = json_of(ok("import", bundle, "--json", home=dev))
        assert done["source"] == "pay" and len(done["recorded"]) == 1
        assert done["relayed_by"] == (["staging"] if bundle == relayed else [])


def test_a_zone_does_not_relay_as_verified_a_release_it_would_refuse_for_its_space(net: Chain,
                                                                                    tmp_path: Path) -> None:
    """prod trusts pay only in space Payments; a release of pay naming space Default is refused by
    prod's import (space_denied), so prod must not countersign it as ``verified`` either."""
    bundle, pay, release = tmp_path / "pay-default.bundle", tmp_path / "pay", tmp_path / "release"
    shutil.copytree(net.home("pay"), pay)  # a project of pay's own, whatever the module's pay holds
    shutil.copytree(FIXTURES / "acme", release)
    toml = release / "release.toml"
    toml.write_text(toml.read_text().replace('name = "Acme Web"', 'name = "Pay Web"', 1))
    ok("export", toml, "--to", "prod", "-o", bundle, home=pay)
    prod, out = tmp_path / "prod", tmp_path / "out" / "relayed.bundle"
    shutil.copytree(net.home("prod"), prod)
    refused("space_denied", "import", bundle, "--space", "Payments", home=prod)
    before = snapshot(prod, out.parent)
    r = run_cli("relay", bundle, "--to", "staging", "-o", out, "--json", home=prod)
    assert r.returncode == 3 and json_of(r.stdout)["error"]["code"] == "space_denied", r.stdout + r.stderr
    assert snapshot(prod, out.parent) == before


def test_a_zone_given_a_bundle_it_relayed_itself_is_told_so(net: Chain, tmp_path: Path) -> None:
    """staging relayed the release to pay; the relayed bundle carried back to staging is refused
    (its own hop is no trusted zone's), with a message that says staging relayed it, not advice
    to trust a card."""
    staging = tmp_path / "staging"
    shutil.copytree(net.home("staging"), staging)
    relayed = net.media / "acme.pay.bundle"
    for args in (("relay", relayed, "--to", "prod", "-o", tmp_path / "again.bundle"), ("import", relayed)):
        refused("untrusted_relay", *args, home=staging)
        message = json_of(run_cli(*args, "--json", home=staging).stdout)["error"]["message"]
        assert "says this zone relayed the bundle" in message and "trust add" not in message, message
    assert not (tmp_path / "again.bundle").exists()


def test_a_via_rule_naming_a_relay_of_another_space_is_refused_as_it_could_never_be_met(net: Chain,
                                                                                       tmp_path: Path) -> None:
    """Review w33-11 NEW-2: `trust set dev --via pay` was accepted while pay, trusted only in
    Payments, can never relay dev's releases into Default (decision 905)."""
    prod = prod_copy(net, tmp_path)
    before = snapshot(prod)
    for args in (("trust", "set", "dev", "--via", "pay"), ("trust", "set", "dev", "--via", "staging", "--via", "pay")):
        r = run_cli(*args, "--json", home=prod)
        error = json_of(r.stdout)["error"]
        assert r.returncode == 2 and error["code"] == "invalid_policy", r.stdout
        assert "Payments" in error["message"] and "Default" in error["message"], error
    assert snapshot(prod) == before
    _setup("trust", "set", "dev", "--via", "staging", home=prod)  # a relay of dev's space is still fine


def test_a_receipt_relayed_by_an_untrusted_zone_is_refused_without_talk_of_secrets(back: Chain,
                                                                                   tmp_path: Path) -> None:
    """A receipt's hop re-seals nothing: the refusal must not say a relay re-seals secrets."""
    rogue, dev = tmp_path / "rogue", tmp_path / "dev"
    shutil.copytree(back.home("dev"), dev)
    for args in (("init", "--zone", "rogue"), ("trust", "add", back.card("pay")), ("trust", "add", back.card("dev"))):
        _setup(*args, home=rogue)
    relayed = tmp_path / "pay-receipt.rogue.bundle"
    ok("relay", back.media / "pay-receipt.bundle", "--to", "dev", "-o", relayed, home=rogue)
    refused("untrusted_relay", "import", relayed, home=dev)
    message = json_of(run_cli("import", relayed, "--json", home=dev).stdout)["error"]["message"]
    assert "secret" not in message and "belongs to no zone trusted here" in message, message


def test_a_relayed_release_short_of_approvals_says_to_sign_the_origin_before_the_relay(net: Chain,
                                                                                      tmp_path: Path) -> None:
    prod = prod_copy(net, tmp_path, "--projects", "acme-*")
    _setup("trust", "remove", "dev", home=prod)
    _setup("trust", "add", net.card("dev"), "--threshold", "2", "--via", "staging", home=prod)
    r = run_cli("import", net.media / "acme.prod.bundle", "--json", home=prod)  # reported back: not "unchanged"
    assert r.returncode == 3 and json_of(r.stdout)["error"]["code"] == "threshold_not_met", r.stdout + r.stderr
    assert "before it is relayed" in json_of(r.stdout)["error"]["message"], r.stdout
