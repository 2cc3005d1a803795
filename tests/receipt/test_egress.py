"""The egress policy: its file format, the decision per output and log, and what a receipt then carries.

Pure parts (``trust/egress.py``, ``receipt/egress.py``) on hand-made entries, and the format
checks of the 1.4 receipt fields (``format/manifest.py`` and the schema) on real manifests.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bundlekit.format.container import BlobRecord
from bundlekit.format.manifest import FORMAT_ID, Manifest, ZoneRef
from bundlekit.receipt.egress import apply_policy, contents, cut_log, uses_egress_fields
from bundlekit.trust.egress import DEFAULT_RULE, MIN_LOG_LIMIT, EgressPolicy, EgressRule, parse_policy
from tests.conftest import raises_code

SEALED_BLOB = "c2VhbGVkLXRvLXRoZS1zb3VyY2U="  # stands for a sealed value: never opened here
LOG = ("line one of a masked log\n" * 200).encode()
LOG_DIGEST = hashlib.sha256(LOG).hexdigest()


def entry(slug: str = "acme-web", name: str = "Acme Web") -> dict[str, Any]:
    return {
        "deployment_id": "Deployments-7", "project": {"name": name, "slug": slug, "space": "Default"},
        "release_bundle": {"bundle_id": "a" * 32, "digest": "b" * 64, "sequence": 1}, "release": "1.4.0",
        "environment": "Production", "state": "Success", "started_ms": 1_000_000, "ended_ms": 2_000_000,
        "runs": [{"step": "Run migrations", "target": "db-01", "state": "Success", "started_ms": 1_000_000,
                  "ended_ms": 1_500_000, "exit_code": 0, "log": LOG_DIGEST,
                  "outputs": [{"name": "SchemaVersion", "sensitive": False, "value": "42"},
                              {"name": "MigrationToken", "sensitive": True, "sealed": SEALED_BLOB},
                              {"name": "CallbackUrl", "sensitive": True, "sealed": SEALED_BLOB}]}],
    }


def read_log(digest: str) -> bytes:
    assert digest == LOG_DIGEST
    return LOG


def run_of(policy: EgressPolicy, e: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, bytes]]:
    entries, logs = apply_policy(policy, [e or entry()], read_log)
    return entries[0]["runs"][0], logs


def test_by_default_sensitive_outputs_are_withheld_by_name_and_plain_ones_and_the_log_leave() -> None:
    original = entry()
    run, logs = run_of(EgressPolicy(), original)
    assert run["outputs"] == [{"name": "SchemaVersion", "sensitive": False, "value": "42"}]
    assert run["withheld"] == ["MigrationToken", "CallbackUrl"]
    assert run["log"] == LOG_DIGEST and logs == {LOG_DIGEST: LOG}
    # nothing of a withheld output but its name: not its sealed value, not its length
    assert SEALED_BLOB not in json.dumps(run) and "sealed" not in json.dumps(run)
    assert original["runs"][0]["outputs"][1]["sealed"] == SEALED_BLOB  # the queued entry is not changed


def test_a_rule_lets_named_sensitive_outputs_go_back_sealed_and_withholds_any_output_by_name() -> None:
    policy = parse_policy('[[rule]]\nprojects = ["acme-*"]\nallow_sensitive = ["migrationTOKEN"]\n'
                          'withhold = ["SchemaVersion"]\n', "p.toml")
    run, _ = run_of(policy)
    assert run["outputs"] == [{"name": "MigrationToken", "sensitive": True, "sealed": SEALED_BLOB}]
    assert run["withheld"] == ["SchemaVersion", "CallbackUrl"]


def test_the_first_rule_matching_the_slug_or_the_name_decides_and_other_projects_get_the_defaults() -> None:
    policy = parse_policy('[[rule]]\nprojects = ["billing"]\nlogs = "withhold"\n\n'
                          '[[rule]]\nprojects = ["ACME WEB"]\nallow_sensitive = ["CallbackUrl"]\n\n'
                          '[[rule]]\nprojects = ["*"]\nallow_sensitive = ["MigrationToken"]\n', "p.toml")
    assert policy.rule_for("acme-web", "Acme Web").allow_sensitive == ("CallbackUrl",)
    run, _ = run_of(policy)
    assert [o["name"] for o in run["outputs"]] == ["SchemaVersion", "CallbackUrl"]
    run, logs = run_of(policy, entry("billing", "Billing"))
    assert "log" not in run and run["log_withheld"] is True and logs == {}
    assert EgressPolicy((policy.rules[0],)).rule_for("acme-web", "Acme Web") == DEFAULT_RULE


def test_a_name_set_twice_is_withheld_whole_when_one_of_its_values_is() -> None:
    e = entry()
    e["runs"][0]["outputs"].append({"name": "schemaversion", "sensitive": True, "sealed": SEALED_BLOB})
    run, _ = run_of(EgressPolicy(), e)
    assert run["outputs"] == [] and run["withheld"] == ["schemaversion", "MigrationToken", "CallbackUrl"]


def test_a_log_over_the_limit_is_cut_to_it_with_a_note_and_its_new_digest() -> None:
    policy = parse_policy(f'[[rule]]\nprojects = ["*"]\nlog_limit = {MIN_LOG_LIMIT}\n', "p.toml")
    run, logs = run_of(policy)
    data = logs[run["log"]]
    assert run["log"] == hashlib.sha256(data).hexdigest() != LOG_DIGEST
    head, tail = data.split(b"\n[bundlekit] ")[0], data.split(b"(log_limit 1024 bytes)\n")[1]
    assert len(data) <= MIN_LOG_LIMIT and run["log_omitted"] == len(LOG) - len(head) - len(tail)
    assert LOG.startswith(head) and LOG.endswith(tail) and len(head) > len(tail) > 0
    assert f"[bundlekit] {run['log_omitted']} bytes of this log were cut".encode() in data
    assert uses_egress_fields([{"runs": [run]}])


@settings(deadline=None)
@given(text=st.text(min_size=0, max_size=3000), limit=st.integers(MIN_LOG_LIMIT, 2048))
def test_a_cut_log_fits_its_limit_is_valid_utf8_and_counts_what_it_left_out(text: str, limit: int) -> None:
    data = text.encode("utf-8")
    out, omitted = cut_log(data, limit)
    if len(data) <= limit:
        assert (out, omitted) == (data, 0)
        return
    assert len(out) <= limit
    note_start = out.index(b"\n[bundlekit] ")
    note_end = out.index(b" bytes)\n", note_start) + len(b" bytes)\n")
    head, tail = out[:note_start], out[note_end:]
    assert data.startswith(head) and data.endswith(tail) and len(head) + omitted + len(tail) == len(data)
    assert head.decode("utf-8") + tail.decode("utf-8")  # whole characters on both sides of the cut


def test_the_listing_says_leaving_sealed_or_withheld_per_output_and_never_a_sealed_value() -> None:
    policy = parse_policy('[[rule]]\nprojects = ["*"]\nallow_sensitive = ["MigrationToken"]\n', "p.toml")
    entries, logs = apply_policy(policy, [entry()], read_log)
    listing = contents(entries, [], [{"id": "Acme.Web", "version": "1.4.0", "sha256": "c" * 64}], ["delta/1"],
                       {d: len(b) for d, b in logs.items()})
    run = listing["deployments"][0]["runs"][0]
    assert run["outputs"] == [{"name": "SchemaVersion", "status": "leaving", "value": "42"},
                              {"name": "MigrationToken", "status": "sealed"},
                              {"name": "CallbackUrl", "status": "withheld"}]
    assert run["log"] == {"status": "leaving", "bytes": len(LOG), "digest": LOG_DIGEST}
    assert listing["totals"] == {"deployments": 1, "refusals": 0, "runs": 1, "leaving": 1, "sealed": 1, "withheld": 1,
                                 "log_bytes": len(LOG), "packages": 1, "audit": 0}
    assert listing["deployments"][0]["ended"] == 2000 and run["started"] == 1000
    assert SEALED_BLOB not in json.dumps(listing)


def test_audit_entries_go_back_only_for_projects_whose_rule_sends_them() -> None:
    carried = [{"body": "Ym9keQ==", "signature": "c2ln"}]
    asked: list[str] = []

    def read_audit(deployment_id: str) -> list[dict[str, str]]:
        asked.append(deployment_id)
        return carried

    default, _ = apply_policy(parse_policy("", "p.toml"), [entry()], read_log, read_audit)
    assert "audit" not in default[0] and asked == []  # withheld by default: not even read
    policy = parse_policy('[[rule]]\nprojects = ["acme-*"]\naudit = "send"\n', "p.toml")
    sent, _ = apply_policy(policy, [entry()], read_log, read_audit)
    assert sent[0]["audit"] == carried and asked == [entry()["deployment_id"]]
    assert contents(sent, [], [], [], {})["totals"]["audit"] == 1
    # listed one by one; a body that is no audit entry is listed as such, never a traceback
    assert contents(sent, [], [], [], {})["deployments"][0]["audit_entries"] == [{"place": 1, "unreadable": True}]
    assert 'audit = "send"' in policy.to_toml() and parse_policy(policy.to_toml(), "again") == policy


@pytest.mark.parametrize("text, where", [
    ("[[rule]\n", "not valid TOML"),
    ('[[rule]]\nallow_sensitive = ["A"]\n', "'projects' is missing"),
    ('[[rule]]\nprojects = []\n', "the list is empty"),
    ('[[rule]]\nprojects = ["*"]\nlogs = "drop"\n', "rule[0].logs"),
    ('[[rule]]\nprojects = ["*"]\nlog_limit = 10\n', "rule[0].log_limit"),
    ('[[rule]]\nprojects = ["*"]\naudit = "yes"\n', "rule[0].audit"),
    ('[[rule]]\nprojects = ["*"]\nlog_limit = true\n', "rule[0].log_limit"),
    ('[[rule]]\nprojects = ["*"]\nlogs = "withhold"\nlog_limit = 4096\n', "this rule withholds them"),
    ('[[rule]]\nprojects = ["*"]\nallow_sensitive = ["Token"]\nwithhold = ["TOKEN"]\n', "both allowed and withheld"),
    ('[[rule]]\nprojects = ["*"]\nwithhold = ["a\\tb"]\n', "rule[0].withhold[0]"),
    ('[[rule]]\nprojects = ["*"]\nallow_sensitive = ["Migration*"]\n', "rule[0].allow_sensitive[0]: 'Migration*' looks"),
    ('[[rule]]\nprojects = ["*"]\nallow_sensitive = ["A", "Tok?n"]\n', "rule[0].allow_sensitive[1]"),
    ('[[rule]]\nprojects = ["*"]\nallow_sensitive = ["[Tt]oken"]\n', "looks like a glob"),
    ('[[rule]]\nprojects = ["*"]\nallow_sensitive = ["InternalToken"]\nwithhold = ["internal*"]\n',
     "'internaltoken' both allowed and withheld"),
    ('[[rule]]\nprojects = ["*"]\nallow = ["Token"]\n', "unknown key(s) 'allow'"),
    ('[defaults]\nlogs = "send"\n', "unknown key(s) 'defaults'"),
    ('[[rules]]\nprojects = ["payments-*"]\n', "unknown key(s) 'rules'"),  # review r12u R12U-12
])
def test_a_bad_policy_file_is_refused_naming_the_key(text: str, where: str) -> None:
    with raises_code("invalid_policy") as info:
        parse_policy(text, "egress.toml")
    assert "egress.toml" in info.value.message and where in info.value.message, info.value.message


def test_a_withhold_glob_keeps_every_output_it_matches_in_the_zone_instead_of_failing_open() -> None:
    """Review r12u R12U-6: `withhold = ["Internal*"]` was read as a name no output has, and
    InternalHost left in clear. A withhold entry is a glob, like `projects` (decision 672)."""
    rule = parse_policy('[[rule]]\nprojects = ["payments-*"]\nwithhold = ["Internal*", "*token", "Conn[0]"]\n',
                        "wglob.toml").rules[0]
    assert rule.output("InternalHost", False) == "withheld"
    assert rule.output("INTERNALHOST", False) == "withheld"
    assert rule.output("MigrationToken", True) == "withheld"
    assert rule.output("Conn[0]", False) == "withheld"  # a name with glob characters still matches itself
    assert rule.output("PublicHost", False) == "leaving"
    assert parse_policy(rule_toml := EgressPolicy((rule,)).to_toml(), "again").rules[0] == rule, rule_toml


def test_the_policy_reads_back_from_what_show_prints_and_from_its_stored_form() -> None:
    policy = parse_policy('[[rule]]\nprojects = ["acme-*", "Pay \\"ments\\""]\nallow_sensitive = ["A.B"]\n'
                          'withhold = ["C"]\nlog_limit = 65536\n\n[[rule]]\nprojects = ["*"]\nlogs = "withhold"\n',
                          "p.toml")
    assert parse_policy(policy.to_toml(), "shown") == policy
    assert parse_policy(json.loads(json.dumps(policy.to_dict())), "stored") == policy
    assert parse_policy("", "empty") == EgressPolicy()


def _receipt(run_extra: dict[str, Any], outputs: list[dict[str, Any]] | None = None) -> Manifest:
    e = entry()
    run = e["runs"][0]
    del run["log"]
    run["outputs"] = outputs if outputs is not None else [{"name": "SchemaVersion", "sensitive": False, "value": "42"}]
    run.update(run_extra)
    blobs = (BlobRecord(run["log"], 10, 0, 10, "f" * 64),) if "log" in run else ()
    return Manifest(kind="receipt", bundle_id="d" * 32, source=ZoneRef("1" * 32, "prod", "3" * 32),
                    destination=ZoneRef("2" * 32, "dev", "4" * 32), sequence=1, created=1000, expires=2000, blobs=blobs,
                    receipts=(e,), raw={"format": FORMAT_ID})


def test_a_receipt_with_withheld_outputs_and_a_withheld_or_cut_log_is_a_valid_manifest() -> None:
    _receipt({"withheld": ["MigrationToken", "CallbackUrl"], "log_withheld": True}).checked_bytes("r")
    _receipt({"withheld": ["MigrationToken"], "log": "e" * 64, "log_omitted": 5000}).checked_bytes("r")


@pytest.mark.parametrize("extra, outputs, found", [
    ({"withheld": ["SchemaVersion"]}, None, "withheld output variable twice, or among"),
    ({"withheld": ["Token", "TOKEN"]}, [], "withheld output variable twice"),
    ({"withheld": ["bad\tname"]}, [], "receipts.0.runs.0.withheld.0"),
    ({"log_withheld": False}, [], "receipts.0.runs.0.log_withheld"),
    ({"log_omitted": 10}, [], "receipts.0.runs.0: 'log' is a dependency of 'log_omitted'"),
    ({"log_withheld": True, "log": "e" * 64}, [], "receipts.0.runs.0: "),
    ({"log_omitted": 0, "log": "e" * 64}, [], "receipts.0.runs.0.log_omitted"),
], ids=["carried-and-withheld", "twice", "bad-label", "log-withheld-false", "omitted-without-log",
        "log-and-withheld", "omitted-zero"])
def test_a_receipt_whose_withheld_fields_contradict_themselves_is_refused(
        extra: dict[str, Any], outputs: list[dict[str, Any]] | None, found: str) -> None:
    with raises_code("invalid_manifest") as info:
        _receipt(extra, outputs).checked_bytes("r")
    assert found in info.value.message, info.value.message


NAMES = st.sampled_from(["Token", "token", "Url", "Schema", "Key.Hex", "A b"])


@settings(deadline=None)
@given(outputs=st.lists(st.tuples(NAMES, st.booleans()), max_size=8),
       allow=st.lists(NAMES, max_size=3), withhold=st.lists(NAMES, max_size=3))
def test_no_withheld_value_leaves_and_every_output_is_either_carried_or_named(
        outputs: list[tuple[str, bool]], allow: list[str], withhold: list[str]) -> None:
    allow = [a for a in allow if a.casefold() not in {w.casefold() for w in withhold}]
    e = entry()
    values = [f"value-{i}-of-a-run" for i in range(len(outputs))]  # each one findable in the result
    e["runs"][0]["outputs"] = [{"name": n, "sensitive": True, "sealed": v} if s else
                               {"name": n, "sensitive": False, "value": v}
                               for (n, s), v in zip(outputs, values)]
    policy = EgressPolicy((EgressRule(("*",), tuple(allow), tuple(withhold)),))
    run, _ = run_of(policy, e)
    carried = {o["name"].casefold() for o in run["outputs"]}
    held = [n.casefold() for n in run.get("withheld", [])]
    assert len(held) == len(set(held)) and not carried & set(held)
    assert carried | set(held) == {n.casefold() for n, _ in outputs}
    text = json.dumps(run)
    for (name, sensitive), value in zip(outputs, values):
        rule_withholds = name.casefold() in {w.casefold() for w in withhold} or (
            sensitive and name.casefold() not in {a.casefold() for a in allow})
        if rule_withholds:  # this value, and every value of its name, stays in the zone
            assert name.casefold() in held and value not in text
        elif name.casefold() not in held:
            assert value in text
