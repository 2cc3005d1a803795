"""UTS #39 confusable skeletons from the table shipped in the package (core/confusables.py, decision 943)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bundlekit.core import confusables
from bundlekit.core.confusables import confusable, data_version, skeleton

ROOT = Path(__file__).resolve().parents[2]


def test_latin_cyrillic_and_greek_capital_a_have_one_skeleton() -> None:
    assert skeleton("A") == skeleton("\u0410") == skeleton("\u0391") == "A"
    assert confusable("Payments", "Paym\u0435nts") and not confusable("Payments", "Billing")


def test_the_standard_s_own_multi_letter_prototypes_hold() -> None:
    assert skeleton("m") == "rn" and skeleton("0") == "O" and skeleton("I") == skeleton("1") == "l"


def test_default_ignorable_characters_vanish_from_a_skeleton() -> None:
    assert skeleton("Pay\u200bments") == skeleton("Payments")


def test_the_whole_table_loads_and_plain_latin_letters_read_as_themselves() -> None:
    table = confusables._load()
    assert len(table) == 6312 and data_version() == "15.1.0"
    assert [c for c in "abcdefghijklnopqrstuvwxyzABCDEFGHJKLMNOPQRSTUVWXYZ" if skeleton(c) != c] == []


def test_the_shipped_table_is_read_from_the_package_and_names_its_source() -> None:
    head = (ROOT / "bundlekit" / "core" / "confusables.txt").read_text("utf-8").splitlines()[:6]
    assert any("Version: 15.1.0" in line for line in head) and any("SHA-256" in line for line in head)


def test_the_generator_refuses_a_file_that_is_not_unicode_s_confusables(tmp_path: Path) -> None:
    bogus = tmp_path / "confusables.txt"
    bogus.write_text("0041 ;\t0061 ;\tMA\t# no header\n")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_confusables.py"), str(bogus), "--check"],
                          capture_output=True, text=True)
    assert done.returncode != 0 and "not Unicode's confusables.txt" in done.stderr


def test_small_capitals_fold_to_the_small_letter_of_their_name() -> None:
    """Review atk35 #3: UTS #39 leaves ``ᴘᴀʏᴍᴇɴᴛꜱ`` alone, yet it reads as PAYMENTS (decision 960)."""
    from bundlekit.core.confusables import small_capitals_folded
    assert small_capitals_folded("\u1d18\u1d00\u028f\u1d0d\u1d07\u0274\u1d1b\ua731") == "payments"
    assert small_capitals_folded("\ua7ae\u1da6\u1d19") == "ii\u1d19"  # capital of ɪ; modifier ɪ; REVERSED R kept


def test_the_small_capital_table_is_every_small_capital_unicodedata_names(tmp_path: Path) -> None:
    """The shipped table is what the generator makes from the running Python's character names
    (same Unicode version), and every row is a small capital mapped to a small letter of its name."""
    import unicodedata
    table = (ROOT / "bundlekit" / "core" / "smallcapitals.txt").read_text("utf-8")
    rows = [line.split(" # ")[0].split(";") for line in table.splitlines() if not line.startswith("#")]
    assert len(rows) >= 60
    for source, target in rows:
        name, plain = unicodedata.name(chr(int(source, 16))), unicodedata.name(chr(int(target, 16)))
        assert "SMALL CAPITAL" in name and "SMALL" in plain and "CAPITAL" not in plain, (name, plain)
    assert f"Unicode {unicodedata.unidata_version}" in table  # else: regenerate with this Python
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_confusables.py"), "--small-capitals", "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
