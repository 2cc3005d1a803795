"""A replaced ``.properties`` value is written exactly as Java's ``Properties.store`` writes it.

One case per character the rule names (``#``, ``!``, ``=``, ``:``, a leading space, a
backslash, the four control escapes, characters outside printable ASCII, one outside the Basic
Multilingual Plane), each checked three ways: against the text the rule gives, against what
``read_properties`` reads back, and against the line a real ``java.util.Properties.store``
(OpenJDK, compiled here from a ten-line program) writes for the same value.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bundlekit.runtime.structured.propertiesfile import apply_properties, read_properties

CASES = [
    (":", "\\:"),
    ("=", "\\="),
    ("#", "\\#"),
    ("!", "\\!"),
    ("a:b=c#d!e", "a\\:b\\=c\\#d\\!e"),
    (" a b ", "\\ a b "),  # only the first space: the ones after it are no longer leading
    ("  x", "\\  x"),
    ("\\", "\\\\"),
    ("C:\\apps", "C\\:\\\\apps"),
    ("\t\n\r\f", "\\t\\n\\r\\f"),
    ("caf\u00e9", "caf\\u00E9"),  # Latin-1 too: store(OutputStream) writes ISO-8859-1 with \u escapes
    ("\u2603", "\\u2603"),
    ("\U0001F600", "\\uD83D\\uDE00"),  # one escape per UTF-16 code unit
    ("\x01\x7f", "\\u0001\\u007F"),
    ("plain text 1.0", "plain text 1.0"),
]

JAVA = r"""
import java.io.*;
import java.util.*;
public class Store {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
        for (String line; (line = in.readLine()) != null; ) {
            StringBuilder value = new StringBuilder();
            for (String unit : line.trim().split(" ")) if (!unit.isEmpty()) value.append((char) Integer.parseInt(unit, 16));
            Properties p = new Properties();
            p.setProperty("k", value.toString());
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            p.store(out, null);
            String[] written = out.toString("ISO-8859-1").split("\n");
            System.out.println(written[written.length - 1].replace("\r", ""));
        }
    }
}
"""


@pytest.mark.parametrize(("value", "written"), CASES)
def test_each_character_the_store_rule_names_is_written_as_the_rule_says_and_reads_back(value: str,
                                                                                        written: str) -> None:
    edit = apply_properties("k=old\n", {"k": value})
    assert edit.text == f"k={written}\n"
    assert read_properties(edit.text) == {"k": value}


def test_every_case_is_written_as_a_real_java_properties_store_writes_it(tmp_path: Path) -> None:
    assert shutil.which("javac") and shutil.which("java"), "the machine's JDK (machines/python.md lists it)"
    (tmp_path / "Store.java").write_text(JAVA)
    subprocess.run(["javac", "Store.java"], cwd=tmp_path, check=True, capture_output=True)
    units = []
    for value, _ in CASES:
        raw = value.encode("utf-16-be")
        units.append(" ".join(raw[i:i + 2].hex() for i in range(0, len(raw), 2)))
    done = subprocess.run(["java", "-cp", str(tmp_path), "Store"], input="\n".join(units) + "\n", text=True,
                          capture_output=True, check=True)
    java = done.stdout.splitlines()
    ours = [apply_properties("k=old\n", {"k": value}).text.rstrip("\n") for value, _ in CASES]
    assert ours == java
