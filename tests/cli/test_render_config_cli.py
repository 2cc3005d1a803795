"""`bundlekit render-config` through the real CLI: every format, the choice of format, refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def run(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "bundlekit", "render-config", *args], capture_output=True,
                          timeout=60, check=False)


def test_json_top_level_and_nested_keys_keep_types_and_the_file_is_not_changed(tmp_path: Path) -> None:
    config = tmp_path / "appsettings.json"
    config.write_text('{\n  "port": 80,\n  "Logging": {"Level": "Info"}\n}\n')
    before = config.read_bytes()
    done = run(str(config), "--var", "Port=8443", "--var", "logging:level=Warning")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"port": 8443, "Logging": {"Level": "Warning"}}
    assert b"json: replaced port, Logging:Level" in done.stderr
    assert config.read_bytes() == before


def test_yaml_keeps_comments_and_values_are_evaluated_as_templates(tmp_path: Path) -> None:
    config = tmp_path / "values.yaml"
    config.write_text("# chart\nimage:\n  tag: latest # pin me\n")
    variables = tmp_path / "vars.json"
    variables.write_text(json.dumps({"image:tag": "#{Version}", "Version": "1.4.0"}))
    done = run(str(config), "--variables", str(variables))
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"# chart\nimage:\n  tag: 1.4.0 # pin me\n"  # only the value changes (decision 521)


def test_xml_by_xpath_and_properties_by_key(tmp_path: Path) -> None:
    web = tmp_path / "web.config"
    web.write_text("<configuration><add key='Port' value='80'/></configuration>")
    done = run(str(web), "--var", "/configuration/add[@key='Port']/@value=8080")
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"<configuration><add key='Port' value='8080'/></configuration>"
    props = tmp_path / "app.settings"
    props.write_text("# db\ndb.url = jdbc:dev\n")
    done = run(str(props), "--format", "properties", "--var", "db.url=jdbc:prod")
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"# db\ndb.url = jdbc\\:prod\n"


def test_utf16_file_is_printed_in_utf16(tmp_path: Path) -> None:
    config = tmp_path / "settings.json"
    config.write_bytes(b"\xff\xfe" + '{"a": "x"}'.encode("utf-16-le"))
    done = run(str(config), "--var", "a=y")
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"\xff\xfe" + '{"a": "y"}'.encode("utf-16-le")


def test_a_file_that_does_not_parse_exits_2_naming_the_format_and_position(tmp_path: Path) -> None:
    config = tmp_path / "values.yaml"
    config.write_text("a: [1, 2\nb: 3\n")
    done = run(str(config), "--format", "yaml", "--var", "a=1")
    assert done.returncode == 2
    err = done.stderr.decode()
    assert "invalid_config_file" in err and "YAML" in err and "line 2" in err
    assert done.stdout == b""
    broken = tmp_path / "broken.json"
    broken.write_text('{"a": 1,,}')
    done = run(str(broken), "--var", "a=2")
    assert done.returncode == 2 and b"JSON at line 1" in done.stderr


def test_a_broken_web_config_exits_2_naming_xml_and_the_position(tmp_path: Path) -> None:
    web = tmp_path / "web.config"
    web.write_text("<configuration>\n  <add key='Port' value='80'></ad>\n</configuration>\n")
    done = run(str(web), "--var", "/configuration/add/@value=8080")
    assert done.returncode == 2 and done.stdout == b""
    assert b"web.config is not valid XML at line 2, column" in done.stderr and b"invalid_config_file" in done.stderr


def test_a_bad_escape_in_a_properties_file_exits_2_naming_its_line_and_column(tmp_path: Path) -> None:
    props = tmp_path / "app.properties"
    props.write_text("# db\nurl = x\\u00zz\n")
    done = run(str(props), "--var", "url=y")
    assert done.returncode == 2
    assert b"app.properties is not valid Java properties at line 2, column 8" in done.stderr


def test_nothing_matching_prints_the_file_unchanged_with_a_warning(tmp_path: Path) -> None:
    config = tmp_path / "app.properties"
    config.write_bytes(b"a=1\r\n")
    done = run(str(config), "--var", "b=2")
    assert done.returncode == 0 and done.stdout == b"a=1\r\n"
    assert b"no variable matched" in done.stderr


def test_a_missing_file_and_a_bad_var_are_refused(tmp_path: Path) -> None:
    assert run(str(tmp_path / "absent.json")).returncode == 1
    config = tmp_path / "a.json"
    config.write_text("{}")
    done = run(str(config), "--var", "novalue")
    assert done.returncode == 2 and b"invalid_var" in done.stderr



def test_a_yaml_alias_bomb_is_refused_with_exit_2_at_once(tmp_path: Path) -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + [f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 10) + "]"
                                                          for n in range(1, 9)]
    bomb = tmp_path / "values.yaml"
    bomb.write_text("\n".join(levels + ["port: 1", ""]))
    done = run(str(bomb), "--var", "port=2")
    assert done.returncode == 2 and b"aliases expand it to" in done.stderr and b"Traceback" not in done.stderr


def test_a_list_from_a_variables_file_replaces_a_block_sequence_in_block_style(tmp_path: Path) -> None:
    config = tmp_path / "values.yaml"
    config.write_text("a:\n  b: 1\n  hosts:\n    - x\n")
    variables = tmp_path / "vars.json"
    variables.write_text(json.dumps({"a:hosts": ["web-01", "web-02"], "a:b": 2}))
    done = run(str(config), "--variables", str(variables))
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"a:\n  b: 2\n  hosts:\n    - web-01\n    - web-02\n"


def test_a_properties_value_outside_ascii_is_escaped_as_java_stores_it(tmp_path: Path) -> None:
    props = tmp_path / "app.properties"
    props.write_text("k=v\nname=x\n", encoding="utf-8")
    done = run(str(props), "--var", "name=h\u00e9llo \u2603\u0001")
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"k=v\nname=h\\u00E9llo \\u2603\\u0001\n"


def test_var_names_that_differ_only_in_case_are_refused_not_won_by_the_last(tmp_path: Path) -> None:
    props = tmp_path / "app.properties"
    props.write_text("name=x\n")
    done = run(str(props), "--var", "Name=1", "--var", "name=2")
    assert done.returncode == 2 and done.stdout == b""
    assert b"invalid_var" in done.stderr and b"differ only in case" in done.stderr and b"--var Name=" in done.stderr
    variables = tmp_path / "vars.json"
    variables.write_text(json.dumps({"name": "1", "NAME": "2"}))
    done = run(str(props), "--variables", str(variables))
    assert done.returncode == 2 and b"invalid_variables_file" in done.stderr and b"'name' and 'NAME'" in done.stderr
    variables.write_text(json.dumps({"NAME": "1"}))
    done = run(str(props), "--variables", str(variables), "--var", "name=2")  # --var wins over the file
    assert done.returncode == 0 and done.stdout == b"name=2\n"


def test_json_with_comments_prints_as_a_deploy_writes_it_and_help_says_so(tmp_path: Path) -> None:
    config = tmp_path / "appsettings.json"
    text = '{\n  // dev database\n  "Db": {"Host": "dev", "Ports": [1,2]},\n  "Level": "Debug", /* noisy */\n}\n'
    config.write_text(text)
    done = run(str(config), "--var", "Db:Host=prod", "--var", "level=Info")
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == text.replace('"dev"', '"prod"').replace('"Debug"', '"Info"')
    help_text = run("--help").stdout.decode()
    assert "only the replaced values change" in " ".join(help_text.split())
    assert "Json.NET" in help_text
