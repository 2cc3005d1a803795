"""No command writes its output inside a zone's home, or over a file it was not told to replace
(decision 942), through the real CLI.

Review relayatk F6: `relay -o staging/keys/signing.key` exited 0 and every later command of the
zone failed (`invalid_zone_key`); `relay -o staging/state.db` and `export -o dev/state.db` did the
same to the state (`state_damaged`), the export after recording itself; and any existing file at
`-o` was replaced silently. Each refusal here is checked to leave every zone's home (and the
media) byte-identical: the hash of every file before and after.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from tests.conftest import cli_in_process, run_cli, snapshot
from tests.e2e.test_relay import Chain, build
from tests.e2e.world import json_of


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    c = build(tmp_path_factory.mktemp("outputs"))
    to_staging = c.export("staging", "acme.bundle")
    c.relay(to_staging, "staging", "prod", "acme.prod.bundle")
    c.cli("import", c.media / "acme.prod.bundle", home="prod")
    return c


def _refused(r: Any, code: str, exit_status: int) -> dict[str, Any]:
    err = json_of(r.stdout)["error"]
    assert r.returncode == exit_status and err["code"] == code, r.stdout + r.stderr
    return err  # type: ignore[no-any-return]


@pytest.mark.parametrize("inside", ["keys/signing.key", "state.db"])
def test_relay_over_its_own_key_or_state_is_refused_and_the_zone_still_works(chain: Chain, inside: str) -> None:
    """The review's example: the relayed bundle replaced staging's signing key or state database."""
    staging = chain.home("staging")
    before = snapshot(chain.root)
    r = run_cli("relay", chain.media / "acme.bundle", "--to", "prod", "-o", staging / inside, "--json", home=staging)
    err = _refused(r, "output_in_home", 2)
    assert err["aliases"] == ["usage"] and err["details"] == {"path": str(staging / inside), "home": str(staging)}
    assert f"-o {staging / inside}: lies inside zone staging's home {staging}" in err["message"], err
    assert "Nothing was written. Give a path outside it" in err["message"], err
    assert snapshot(chain.root) == before
    assert run_cli("trust", "list", home=staging).returncode == 0
    assert run_cli("identity", "-o", "-", home=staging).returncode == 0


def test_export_over_its_own_state_is_refused_before_anything_is_recorded(chain: Chain) -> None:
    dev = chain.home("dev")
    before = snapshot(chain.root)
    r = run_cli("export", chain.release / "release.toml", "--to", "staging", "-o", dev / "state.db", "--json", home=dev)
    err = _refused(r, "output_in_home", 2)
    assert f"lies inside zone dev's home {dev}" in err["message"], err
    assert snapshot(chain.root) == before


def test_relay_into_another_zones_home_is_refused(chain: Chain) -> None:
    """`relay -o dev/state.db --home staging`: the home of a zone the command does not run in."""
    dev, staging = chain.home("dev"), chain.home("staging")
    before = snapshot(chain.root)
    r = run_cli("relay", chain.media / "acme.bundle", "--to", "prod", "-o", dev / "state.db", "--json", home=staging)
    err = _refused(r, "output_in_home", 2)
    assert f"lies inside a zone's home {dev}" in err["message"], err
    assert snapshot(chain.root) == before


#: Every command that writes a file or folder its user names: (its words, the zone it runs in or
#: None), each naming a path inside a zone's home (``{dev}`` etc. are the homes, ``{media}`` the media).
INSIDE: list[tuple[str, str | None]] = [
    ("export {release} --to staging -o {dev}/outbox/acme.bundle", "dev"),
    ("export-self --to staging -o {dev}/bundlekit.bundle", "dev"),
    ("relay {media}/acme.bundle --to prod -o {staging}/packages/acme.bundle", "staging"),
    ("identity -o {dev}/zone.json", "dev"),
    ("identity -o {prod}/dev.card", "dev"),
    ("targets export-inventory -o {prod}/inventory.json", "prod"),
    ("dashboard --html {dev}/dashboard.html", "dev"),
    ("outbox pack -o {prod}/outbox/receipt.bundle", "prod"),
    ("deployments receipt Deployments-1 --to staging -o {dev}/proof.bundle", "dev"),
    ("deploy acme-web 1.4.0 --environment Production --receipt-out {prod}/receipt.bundle", "prod"),
    ("zone backup -o {prod}/prod.zbak", "prod"),
    ("keys new --name alice -o {dev}/keys/alice", None),
    ("sign {dev}/outbox/acme.bundle --key {media}/alice.key", None),  # sign rewrites the bundle it is given
    ("media split {media}/acme.bundle --out {dev}/volumes", None),
    ("media join {media} -o {staging}/acme.bundle", None),
    ("diode send {media}/acme.bundle --spool {prod}/spool", None),
    ("diode receive --spool {media} --out {prod}", None),
]


@pytest.mark.parametrize("words, zone", INSIDE, ids=[w.split(" -")[0].split(" {")[0] + f"-{i}"
                                                     for i, (w, _) in enumerate(INSIDE)])
def test_every_command_writing_a_named_output_refuses_a_zones_home(chain: Chain, words: str, zone: str | None) -> None:
    names = {"release": chain.release / "release.toml", "media": chain.media,
             **{z: chain.home(z) for z in ("dev", "staging", "prod")}}
    args = [w.format(**names) for w in words.split(" ")]
    before = snapshot(chain.root)
    r = cli_in_process(*args, "--json", home=chain.home(zone) if zone else None)
    err = _refused(r, "output_in_home", 2)
    assert "Nothing was written" in err["message"] and "decision 942" in err["message"], err
    assert snapshot(chain.root) == before


def _volumes(c: Chain) -> Path:
    """The volumes of the media's bundle, split once (media join's input)."""
    volumes = c.root / "volumes"
    if not volumes.exists():
        assert cli_in_process("media", "split", c.media / "acme.bundle", "--out", volumes).returncode == 0
    return volumes


def _media_join(c: Chain, out: Path, *flags: str) -> Any:
    return cli_in_process("media", "join", _volumes(c), "-o", out, *flags, "--json")


#: Each command that may replace its output when told (--overwrite), writing at ``out``.
REPLACEABLE: dict[str, Callable[[Chain, Path, tuple[str, ...]], Any]] = {
    "export": lambda c, out, flags: cli_in_process("export", c.release / "release.toml", "--to", "staging", "-o", out,
                                                   *flags, "--json", home=c.home("dev")),
    "relay": lambda c, out, flags: cli_in_process("relay", c.media / "acme.bundle", "--to", "prod", "-o", out, *flags,
                                                  "--json", home=c.home("staging")),
    "identity": lambda c, out, flags: cli_in_process("identity", "-o", out, *flags, "--json", home=c.home("dev")),
    "export-inventory": lambda c, out, flags: cli_in_process("targets", "export-inventory", "-o", out, *flags,
                                                             "--json", home=c.home("prod")),
    "dashboard": lambda c, out, flags: cli_in_process("dashboard", "--html", out, *flags, "--json",
                                                      home=c.home("dev")),
    "media-join": lambda c, out, flags: _media_join(c, out, *flags),
}


@pytest.mark.parametrize("command", list(REPLACEABLE))
def test_an_existing_file_is_replaced_only_with_overwrite(chain: Chain, tmp_path: Path, command: str) -> None:
    out = tmp_path / "earlier.file"
    out.write_bytes(b"a file not carried yet")
    _volumes(chain)
    before = snapshot(chain.root, tmp_path)
    err = _refused(REPLACEABLE[command](chain, out, ()), "file_exists", 1)
    assert f"{out}: a file is already there" in err["message"] and "add --overwrite to replace it" in err["message"]
    assert snapshot(chain.root, tmp_path) == before
    r = REPLACEABLE[command](chain, out, ("--overwrite",))
    assert r.returncode == 0, r.stdout + r.stderr
    assert out.read_bytes() != b"a file not carried yet"


@pytest.mark.parametrize("words", ["dashboard --overwrite", "targets export-inventory --overwrite"])
def test_overwrite_without_the_file_it_would_replace_is_refused_not_ignored(chain: Chain, words: str) -> None:
    """`dashboard --overwrite` without --html printed the terminal table as if nothing were wrong:
    the user believed a page was replaced."""
    before = snapshot(chain.root)
    err = _refused(cli_in_process(*words.split(), "--json", home=chain.home("dev")), "usage", 2)
    option = "--html" if words.startswith("dashboard") else "-o"
    assert f"add {option} FILE, or drop --overwrite" in err["message"], err
    assert snapshot(chain.root) == before
