"""`keys protect`, `keys unprotect`, `keys status` and `doctor`: the zone's private keys at rest.

The work is in ``zone/keyfiles.py`` (:func:`change_protection`, :func:`key_states`); these
commands read the passphrases (``cli/passphrase.py``) and report. Each command function does
one zone operation and returns what it printed as a dict, so a caller that records operations
can wrap it.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any

from bundlekit.core.hints import home_flag
from bundlekit.cli import cli
from bundlekit.cli.common import echo, emit_json, home_option, json_option, resolve_home
from bundlekit.cli.passphrase import ENV, new_passphrase, passphrase_file_option
from bundlekit.cli.zone_cmds import keys
from bundlekit.cli.zones import open_home, other_installation
from bundlekit.errors import FAMILIES, BundleError
from bundlekit.selfupdate.wayback import remake_hint
from bundlekit.zone import audit as trail
from bundlekit.zone.keyfiles import SWAP, change_protection, key_states, opened_by
from bundlekit.zone.backup import leftover_message, restore_leftovers
from bundlekit.zone.installations import not_from_its_folder
from bundlekit.zone.owned_keys import file_problems, recorded
from bundlekit.core.text import shell_word, terminal_text

__all__ = ["protect_keys", "unprotect_keys", "doctor_findings"]


def protect_keys(home: Path, passphrase_file: Path | None) -> dict[str, Any]:
    """Protect (or re-protect under a new passphrase) every private key of the zone at ``home``;
    when they are all protected by that passphrase already, change and record nothing
    (``unchanged`` true)."""
    with open_home(home) as z:
        z.check_key_files()  # another zone's key is never protected as this zone's
        before = key_states(z.home)
        new = new_passphrase(passphrase_file, f"the keys of zone {z.name}")
        # The passphrase they have already: nothing to change, nothing to record; unless a killed
        # change left keys.swap (it may have swapped the keys in unrecorded): then it is done again.
        if opened_by(z.home, new) and not os.path.lexists(z.home / SWAP):
            return {"zone": z.name, "home": str(z.home), "changed_passphrase": False, "unchanged": True,
                    "keys": [{"path": s.path, "protected": s.protected} for s in before],
                    "other_nodes": z.settings.state is not None}
        _open_keys(z)
        after = change_protection(z.home, new)
        trail.note(z, "keys", {"protected": True, "changed_passphrase": all(s.protected for s in before)})
        return {"zone": z.name, "home": str(z.home), "changed_passphrase": all(s.protected for s in before),
                "unchanged": False, "keys": [{"path": s.path, "protected": s.protected} for s in after],
                "other_nodes": z.settings.state is not None}


def _open_keys(z: Any) -> None:
    """Read the zone's keys (current passphrase) before their files change: the audit entry of the
    change is signed with them afterwards, without asking for the new passphrase."""
    z.signing_key()
    z.auditor.digest_key


def unprotect_keys(home: Path) -> dict[str, Any]:
    """Write every private key of the zone at ``home`` raw again (the current passphrase opens them)."""
    with open_home(home) as z:
        z.check_key_files()
        _open_keys(z)
        after = change_protection(z.home, None)
        trail.note(z, "keys", {"protected": False})
        return {"zone": z.name, "home": str(z.home),
                "keys": [{"path": s.path, "protected": s.protected} for s in after]}


@keys.command("protect", epilog="bundlekit keys protect --passphrase-file /run/secrets/prod.pass --home ./prod")
@passphrase_file_option("A file holding the new passphrase on one line (else BUNDLEKIT_PASSPHRASE_FILE, else it is "
                        "asked twice on the terminal). Never put a passphrase on the command line.")
@home_option
@json_option
def keys_protect(passphrase_file: Path | None, home: str | None, as_json: bool) -> None:
    """Protect the zone's private keys with a passphrase (scrypt; or change it).

    Commands that need a private key then read the passphrase from the file named by
    BUNDLEKIT_PASSPHRASE_FILE, or ask for it on a terminal. To change the passphrase, give the
    current one that way and the new one with --passphrase-file. All keys change at once.
    """
    info = protect_keys(resolve_home(home), passphrase_file)
    if as_json:
        emit_json(info)
    elif info["unchanged"]:
        echo(f"the {len(info['keys'])} private key(s) of zone {info['zone']} are already protected by that "
             "passphrase: nothing changed. To change it, give the current one through BUNDLEKIT_PASSPHRASE_FILE "
             "(or the prompt) and the new one with --passphrase-file")
    else:
        verb = "now under the new passphrase" if info["changed_passphrase"] else "now protected by the passphrase"
        echo(f"{len(info['keys'])} private key(s) of zone {info['zone']} {verb}. Keep the passphrase safe: "
             "without it the keys cannot be used. Commands read it from BUNDLEKIT_PASSPHRASE_FILE or a prompt.")
        if info["other_nodes"]:
            echo("note: this changed this node's key files only; every node of the zone keeps its own copy: run "
                 f"`bundlekit keys protect{home_flag()}` on each", err=True)


@keys.command("unprotect", epilog="bundlekit keys unprotect --home ./prod")
@home_option
@json_option
def keys_unprotect(home: str | None, as_json: bool) -> None:
    """Remove the passphrase from the zone's private keys (they are stored raw, 0600, again)."""
    info = unprotect_keys(resolve_home(home))
    if as_json:
        emit_json(info)
    else:
        echo(f"{len(info['keys'])} private key(s) of zone {info['zone']} are no longer protected by a passphrase")


@keys.command("status", epilog="bundlekit keys status --home ./prod --json")
@home_option
@json_option
def keys_status(home: str | None, as_json: bool) -> None:
    """Show which of the zone's private key files are protected by a passphrase (asks for none)."""
    with open_home(home) as z:
        states = key_states(z.home)
    if as_json:
        emit_json({"keys": [{"path": s.path, "kind": s.kind, "protected": s.protected} for s in states]})
        return
    for s in states:
        echo(f"{s.path:<40} {s.kind:<8} {'protected' if s.protected else 'NOT protected'}")


def doctor_findings(home: Path) -> list[dict[str, str]]:
    """What `doctor` reports about the zone at ``home``: ``{"level", "code", "message"}`` each.
    Reads no secret and asks for no passphrase."""
    found: list[dict[str, str]] = []
    with open_home(home, name_leftovers=False) as z:
        states = key_states(z.home)
        plain = [s.path for s in states if not s.protected]
        if plain:
            found.append({"level": "warning", "code": "keys_unprotected",
                          "message": f"{', '.join(plain)} not protected by a passphrase: whoever copies the home can "
                                     f"sign and unseal as zone {z.name}. Run `bundlekit keys protect --home {shell_word(str(z.home))}`"})
        found += _foreign_keys(z)
        unsigned = trail.unsigned_head(z.db)
        if unsigned is not None:
            found.append({"level": "warning", "code": "audit_head_unsigned",
                          "message": f"the audit trail's head (entry {unsigned.seq}) is not signed yet, as in a zone "
                                     f"last changed by a bundlekit from before signed heads: `bundlekit audit --verify{home_flag()}` "
                                     "fails until it is. The zone's next change signs it; to sign it now: "
                                     f"`bundlekit audit --sign-head --home {shell_word(str(z.home))}` (add --head SEQ:HASH, a head "
                                     "noted earlier, which the trail must hold)"})
        for path, marked in restore_leftovers(z.home):
            found.append({"level": "warning", "code": "restore_left",
                          "message": leftover_message(path, marked, z.home)})
        if os.path.lexists(z.home / SWAP):
            found.append({"level": "warning", "code": "keys_swap_left",
                          "message": f"{z.home / SWAP} was left by a stopped `keys protect`/`unprotect` and may hold "
                                     "old copies of the keys; run the same command again (it removes the folder)"})
        named = os.environ.get(ENV)
        if named and os.path.exists(named) and stat.S_IMODE(os.stat(named).st_mode) & 0o077:
            found.append({"level": "warning", "code": "passphrase_file_open",
                          "message": f"{ENV} names {named}, which other users may read or write: whoever reads it "
                                     f"can use the zone's keys. `chmod 600` it"})
        mode = stat.S_IMODE(os.stat(z.home).st_mode)
        if mode & 0o077:
            found.append({"level": "warning", "code": "home_open",
                          "message": f"{z.home} has mode {mode:04o}: other users may enter it. `chmod 700` it"})
        found += _self_findings(z)
        other = other_installation(z.home)
        if other is not None:
            found.append({"level": "warning", "code": "self_not_running", "message": other})
    return found


def _self_findings(zone: Any) -> list[dict[str, str]]:
    """``HOME/self/current`` (an error: the zone's bundlekit there does not start, or runs another
    home's) or ``previous`` (a warning: ``--rollback`` is refused) naming an installation that does
    not run from its own folder, as a moved or copied home leaves them (decision 953); what to do
    leads somewhere that works: the bundle it came from only while self-update would accept it,
    else a new export from its source (decision 978)."""
    found: list[dict[str, str]] = []
    root = zone.home / "self"
    for name, level in (("current", "error"), ("previous", "warning")):
        link = root / name
        why = not_from_its_folder(link) if os.path.islink(link) else None
        if why is None:
            continue
        named = terminal_text(f"{link} names {os.readlink(link)}, which {why}")  # a launcher's bytes, shown
        again = remake_hint(zone, root, os.readlink(link))
        if name == "current":
            message = (f"{named}: {link / 'bin' / 'bundlekit'} does not run this zone's bundlekit. Make the installation "
                       f"again here with {again}; an installation that does not run from its own folder is made again "
                       "in place")
        else:
            message = (f"{named}: bundlekit self-update --rollback is refused. To go back to that release, install "
                       f"it again here with {again}")
        found.append({"level": level, "code": f"self_{name}_not_here", "message": message})
    return found


def _foreign_keys(z: Any) -> list[dict[str, str]]:
    """Key files that are not the zone's own (public parts against the state's record), or unreadable."""
    try:
        owned = recorded(z.db, z.zone_id)
        if owned is None:
            return [{"level": "warning", "code": "zone_keys_unrecorded",
                     "message": f"zone {z.name}'s state does not record its public keys yet (made by an older "
                                "bundlekit): its next change records them, so swapped key files can be detected"}]
        problems = [message for _, message in file_problems(z.home, owned, z.name)]
    except BundleError as error:
        problems = [error.message]
    return [{"level": "error", "code": "invalid_zone_key", "message": m} for m in problems]


@cli.command(epilog="bundlekit doctor --home ./prod\nbundlekit doctor --home ./prod --json")
@home_option
@json_option
def doctor(home: str | None, as_json: bool) -> None:
    """Check the zone's home for risky settings (unprotected keys, an open home folder); changes nothing.

    Exit 0 when it found nothing or warnings only, 1 when it found an error (a key file that is
    not the zone's own, a HOME/self/current that does not run from its own folder, ...), so a
    script or monitor can act on the status."""
    found = doctor_findings(resolve_home(home))
    if as_json:
        emit_json({"findings": found})
    else:
        for f in found:
            echo(f"{f['level']}: {f['message']}")
        if not found:
            echo("no problems found")
    if any(f["level"] == "error" for f in found):
        sys.exit(FAMILIES["state"][0])
