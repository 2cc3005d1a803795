"""`bundlekit render` driven through a real subprocess: exit codes, stdout bytes, stderr."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bundlekit.runtime.files import substitute_file
from bundlekit.substitution import VariableDictionary, render


def run(*args: str, stdin: bytes = b"", cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "bundlekit", "render", *args], input=stdin, capture_output=True,
                          cwd=cwd, timeout=60, check=False)


def test_renders_a_file_exactly_with_vars(tmp_path: Path) -> None:
    template = tmp_path / "web.config"
    template.write_bytes(b"<add key=\"Db\" value=\"#{Db.Host}:#{Port}\"/>\r\n#{Name | ToUpper}")
    done = run(str(template), "--var", "Db.Host=db01", "--var", "Port=5432", "--var", "Name=app=1")
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"<add key=\"Db\" value=\"db01:5432\"/>\r\nAPP=1"  # CRLF kept, no newline added
    assert done.stderr == b""


def test_reads_stdin_with_dash_and_without_argument() -> None:
    assert run("-", "--var", "A=1", stdin=b"a=#{A}").stdout == b"a=1"
    assert run("--var", "A=2", stdin=b"a=#{A}").stdout == b"a=2"


def test_unresolved_names_exit_1_naming_every_one(tmp_path: Path) -> None:
    template = tmp_path / "t.txt"
    template.write_text("#{Known} #{Missing.One} #{Two} #{Missing.One}", encoding="utf-8")
    done = run(str(template), "--var", "Known=k")
    assert done.returncode == 1
    assert done.stdout == b""
    err = done.stderr.decode()
    assert "unresolved_variables" in err and "Missing.One" in err and "Two" in err


def test_allow_missing_leaves_tokens_in_place(tmp_path: Path) -> None:
    template = tmp_path / "t.txt"
    template.write_text("#{Known} #{Missing}", encoding="utf-8")
    done = run(str(template), "--var", "Known=k", "--allow-missing")
    assert done.returncode == 0
    assert done.stdout == b"k #{Missing}"
    assert b"Missing" in done.stderr  # a warning, not an error


def test_variables_file_with_json_values_and_var_override(tmp_path: Path) -> None:
    variables = tmp_path / "vars.json"
    variables.write_text(json.dumps({"Config": {"Db": {"Port": 5432}}, "Servers": [{"Name": "web01"}],
                                     "Retries": 3, "Flag": True, "Env": "Test"}), encoding="utf-8")
    template = "#{Config.Db.Port} #{Servers[0].Name} #{Retries} #{if Flag}on#{/if} #{Env}"
    done = run("--variables", str(variables), "--var", "Env=Production", stdin=template.encode())
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"5432 web01 3 on Production"


def test_invalid_variables_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "vars.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    done = run("--variables", str(bad), stdin=b"x")
    assert done.returncode == 2 and b"invalid_variables_file" in done.stderr and b"vars.json" in done.stderr
    bad.write_text("{nope", encoding="utf-8")
    done = run("--variables", str(bad), stdin=b"x")
    assert done.returncode == 2 and b"line 1" in done.stderr


def test_var_without_equals_is_a_usage_error() -> None:
    done = run("--var", "NoEquals", stdin=b"x")
    assert done.returncode == 2 and b"invalid_var" in done.stderr


def test_syntax_error_exits_1_with_line_and_column() -> None:
    done = run(stdin=b"ok\n  #{if A}never closed")
    assert done.returncode == 1
    assert b"template_syntax" in done.stderr and b"line 2, column 3" in done.stderr


def test_missing_file_and_non_utf8_are_refused(tmp_path: Path) -> None:
    done = run(str(tmp_path / "absent.txt"))
    assert done.returncode == 1 and b"file_not_found" in done.stderr
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"caf\xe9 #{A}")
    done = run(str(latin), "--var", "A=1")
    assert done.returncode == 1 and b"not_utf8" in done.stderr


def test_sensitive_output_is_flagged_on_stderr() -> None:
    done = run("--var", "Db.Password=hunter22", "--sensitive", "Db.Password", stdin=b"pw=#{Db.Password}")
    assert done.returncode == 0 and done.stdout == b"pw=hunter22"
    assert b"sensitive" in done.stderr and b"hunter22" not in done.stderr


def test_nowdate_uses_the_current_time() -> None:
    done = run(stdin=b"#{ | NowDateUtc yyyy-MM-dd}")
    assert done.returncode == 0 and re.fullmatch(rb"\d{4}-\d{2}-\d{2}", done.stdout)


def test_help_has_an_example() -> None:
    done = run("--help")
    assert done.returncode == 0 and b"Example:" in done.stdout and b"bundlekit render" in done.stdout


ENCODED = [
    ("utf-8 with BOM", b"\xef\xbb\xbf", "utf-8"),
    ("utf-16 LE", b"\xff\xfe", "utf-16-le"),
    ("utf-16 BE", b"\xfe\xff", "utf-16-be"),
    ("utf-32 LE", b"\xff\xfe\x00\x00", "utf-32-le"),
    ("utf-32 BE", b"\x00\x00\xfe\xff", "utf-32-be"),
]


@pytest.mark.parametrize("label, bom, codec", ENCODED, ids=[e[0] for e in ENCODED])
def test_a_file_in_its_own_encoding_renders_as_a_deploy_writes_it(tmp_path: Path, label: str, bom: bytes,
                                                                   codec: str) -> None:
    """`render` prints the bytes a deploy writes for the same file: encoding and byte order mark kept."""
    text = "<add value=\"#{Db}\"/>\r\nwört ☃ #{Name | ToUpper}\n"
    template = tmp_path / "web.config"
    template.write_bytes(bom + text.encode(codec))
    done = run(str(template), "--var", "Db=db01", "--var", "Name=süd")
    assert done.returncode == 0, done.stderr
    expected = bom + "<add value=\"db01\"/>\r\nwört ☃ SÜD\n".encode(codec)
    assert done.stdout == expected
    deployed = tmp_path / "deployed.config"
    deployed.write_bytes(template.read_bytes())
    variables = VariableDictionary({"Db": "db01", "Name": "süd"})
    substitute_file(deployed, lambda t: render(t, variables, allow_missing=False).text)
    assert deployed.read_bytes() == done.stdout


def test_a_file_without_a_byte_order_mark_that_is_not_utf8_is_refused_naming_the_encodings(tmp_path: Path) -> None:
    template = tmp_path / "t.txt"
    template.write_bytes("#{A}".encode("utf-16-le"))
    done = run(str(template), "--var", "A=1")
    assert done.returncode == 1 and b"not_utf8" in done.stderr and b"UTF-16/UTF-32 with a byte order mark" in \
        done.stderr and done.stdout == b""


def test_a_step_name_with_braces_is_blamed_at_the_same_column_strict_or_lenient() -> None:
    template = b"v=#{Octopus.Action[Deploy {web}].Output.Version}"
    strict = run(stdin=template)
    lenient = run("--allow-missing", stdin=template)
    assert strict.returncode == 1 and lenient.returncode == 0 and lenient.stdout == template
    for done in (strict, lenient):
        assert b"unterminated" not in done.stderr and b"cannot contain braces" in done.stderr
        assert b"line 1, column 27" in done.stderr


def test_var_names_that_differ_only_in_case_are_refused() -> None:
    done = run("--var", "Port=1", "--var", "PORT=2", stdin=b"#{port}")
    assert done.returncode == 2 and done.stdout == b"" and b"invalid_var" in done.stderr
    assert b"differ only in case" in done.stderr
