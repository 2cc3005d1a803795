"""Structured configuration variables in YAML, XML and Java properties files, and the choice of format.

Each test proves a rule a release engineer relies on: only matched values change, the rest of
the file (comments, order, quoting, spacing, line endings) is kept as written, and hostile or
broken files are refused with the format and position named.
"""

from __future__ import annotations

import pytest

from bundlekit.runtime.structured import ConfigParseError, apply_config, formats_for
from bundlekit.runtime.structured.propertiesfile import apply_properties, read_properties
from bundlekit.runtime.structured.xmlfile import apply_xml
from bundlekit.runtime.structured.yamlfile import apply_yaml

VALUES_YAML = """\
# service settings
service:
  port: 8080   # public port
  host: "localhost"
  debug: false
  ratio: 0.5
replicas:
  - name: a
    weight: 1
  - name: b
    weight: 2
logging: {level: info}
"""


def test_yaml_values_are_replaced_by_path_keeping_comments_order_and_quotes() -> None:
    edit = apply_yaml(VALUES_YAML, {"Service:Port": "9090", "service:host": "db.prod", "service:debug": "True",
                                    "replicas:1:weight": "5", "Octopus.Environment.Name": "x"})
    assert edit.text == VALUES_YAML.replace("8080", "9090").replace('"localhost"', '"db.prod"') \
        .replace("debug: false", "debug: true").replace("weight: 2", "weight: 5")
    assert [where for _, where in edit.replaced] == ["service:port", "service:host", "service:debug",
                                                     "replicas:1:weight"]


def test_yaml_text_that_is_not_the_old_type_becomes_a_string_and_structures_are_replaced_whole() -> None:
    edit = apply_yaml(VALUES_YAML, {"service:port": "eighty", "logging": "{level: warn, file: app.log}"})
    assert edit.text is not None
    assert "port: eighty" in edit.text and "# public port" in edit.text
    assert "logging: {level: warn, file: app.log}" in edit.text  # flow, as the file writes it


def test_yaml_top_level_keys_and_every_document_of_a_stream() -> None:
    edit = apply_yaml("---\nmode: dev\n---\nmode: dev\nother: 1\n", {"mode": "prod"})
    assert edit.text == "---\nmode: prod\n---\nmode: prod\nother: 1\n"


def test_yaml_with_nothing_matching_is_left_alone() -> None:
    assert apply_yaml(VALUES_YAML, {"service:missing": "x"}).text is None


def test_yaml_keeps_crlf_line_endings_and_four_space_indent() -> None:
    text = "a:\r\n    b: 1\r\n    c: 2\r\n"
    assert apply_yaml(text, {"a:b": "3"}).text == "a:\r\n    b: 3\r\n    c: 2\r\n"


MIXED = "a: 1\r\nb: 2\nc:\r\n  - x\n  - y\r\nd: |\n  lit\r\ne: 5\n"


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("a", "7", MIXED.replace("a: 1", "a: 7")),  # written in place
    # dumped again (a block scalar, a sequence): every line the dump left keeps its own ending
    ("d", "new", "a: 1\r\nb: 2\nc:\r\n  - x\n  - y\r\nd: |-\n  new\r\ne: 5\n"),
    ("c", "[p, q, r]", "a: 1\r\nb: 2\nc:\r\n  - p\n  - q\r\n  - r\r\nd: |\n  lit\r\ne: 5\n"),
])
def test_yaml_with_mixed_line_endings_keeps_each_untouched_line_ending_byte_for_byte(name: str, value: str,
                                                                                   expected: str) -> None:
    assert apply_yaml(MIXED, {name: value}).text == expected


@pytest.mark.parametrize("text", [
    "a:\n- 1\n- 2\nb:\n  - x\n  - y\nz: 0\n",  # each sequence keeps its own indentation
    "a:\nb: ~\nz: 0   \n",  # '~' and trailing blanks
    "a: this is\n  continued  # folded plain scalar\nz: 0\n",
    "# top\n\n# another\na: 1  # end\n\n\n# before z\nz: 0\n# tail\n",
    "a: 0o17\nb: 0x1F\nc: 1e3\nd: 2024-01-01\nz: 0\n",
    "a: |\n  echo 1\nb: >\n  folded\n  text\nz: 0\n",
    "base: &b\n  x: 1\nprod:\n  <<: *b\n  y: 3\nz: 0\n",
    "%YAML 1.2\n---\na: {b: [1, 2]}\nz: 0\n",
    "a: 1\r\nb:\r\n    - x\r\nz: 0\r\n",
    "a: 1\nz: 0",
])
def test_yaml_everything_but_the_replaced_scalar_stays_byte_for_byte(text: str) -> None:
    assert apply_yaml(text, {"z": "9"}).text == text.replace("z: 0", "z: 9")


@pytest.mark.parametrize(("text", "value", "expected"), [
    ("port: 8080      # public\n", "65535", "port: 65535      # public\n"),
    ('host: "localhost"  # q\n', 'db "prod"', 'host: "db \\"prod\\""  # q\n'),
    ("host: 'localhost'\n", "it's", "host: 'it''s'\n"),
    ("flag: true # c\n", "False", "flag: false # c\n"),
    ("name: abc\n", "123", "name: '123'\n"),  # a string stays a string
    ("name: abc\n", "#x: y", "name: '#x: y'\n"),
    ("list:\n  - a\n  - b   # two\n", "c", "list:\n  - a\n  - c   # two\n"),
])
def test_yaml_a_replaced_scalar_is_written_in_place_as_yaml_reads_it_back(text: str, value: str,
                                                                         expected: str) -> None:
    name = "list:1" if text.startswith("list") else text.split(":")[0]
    assert apply_yaml(text, {name: value}).text == expected


def test_yaml_block_scalars_aliases_and_structures_fall_back_to_the_round_trip_dump() -> None:
    assert apply_yaml("a: |\n  x\nb: 1\n", {"a": "y"}).text == "a: |-\n  y\nb: 1\n"
    assert apply_yaml("base: &b 1\nother: *b\n", {"other": "2"}).text == "base: &b 1\nother: 2\n"
    assert apply_yaml("m:\n  k: v\n", {"m": "{x: 1}"}).text == "m:\n  x: 1\n"


@pytest.mark.parametrize("text, value, expected", [
    ("a:\n  list:\n    - x\n", '["p", "yes", "1"]', "a:\n  list:\n    - p\n    - yes\n    - '1'\n"),
    # the nested sequence takes the file's sequence indent (none here)
    ("a:\n  m:\n    k: 1\n", '{"k": 2, "n": [1, {"z": true}]}', "a:\n  m:\n    k: 2\n    n:\n    - 1\n    - z: true\n"),
    ("a: [x]\nb: {k: 1}\n", None, None),
])
def test_yaml_a_structure_is_written_in_the_style_the_replaced_one_had(text: str, value: str | None,
                                                                       expected: str | None) -> None:
    if value is None:  # flow stays flow, whatever the value's notation
        edit = apply_yaml(text, {"a": "- p\n- q", "b": "k: 2"})
        assert edit.text == "a: [p, q]\nb: {k: 2}\n"
        return
    assert apply_yaml(text, {text.split(":")[0] + ":" + text.split("\n")[1].strip().rstrip(":"): value}).text == \
        expected


def test_broken_yaml_names_the_line_and_column() -> None:
    with pytest.raises(ConfigParseError, match="^not valid YAML at line 2") as caught:
        apply_yaml("a: [1, 2\nb: 3\n", {"a": "x"})
    assert caught.value.format == "yaml" and caught.value.line == 2



def _alias_bomb(depth: int) -> str:
    """About 40 bytes a level: each level a list of ten aliases of the one before (10^depth values)."""
    lines = ["a0: &a0 [" + ", ".join(["x"] * 10) + "]"]
    lines += [f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 10) + "]" for n in range(1, depth + 1)]
    return "\n".join(lines + ["port: 1", ""])


def test_yaml_whose_aliases_expand_past_a_million_values_is_refused_before_it_is_walked() -> None:
    with pytest.raises(ConfigParseError, match=r"aliases expand it to \d{10} values, more than 1000000"):
        apply_yaml(_alias_bomb(8), {"port": "2"})  # 10^9 paths: walking them took minutes and 24 GB


def test_yaml_with_a_few_aliases_is_still_replaced() -> None:
    edit = apply_yaml(_alias_bomb(3), {"port": "2"})
    assert edit.text is not None and edit.text.endswith("port: 2\n")


def test_yaml_with_a_mapping_as_a_key_is_a_parse_error_not_a_crash() -> None:
    with pytest.raises(ConfigParseError, match="^not valid YAML: a key that is not a scalar"):
        apply_yaml("? [{}]\n: 1\n", {"port": "2"})


WEB_CONFIG = """<?xml version="1.0" encoding="utf-8"?>
<!-- deployed by bundlekit -->
<configuration xmlns:db="urn:example:db">
  <appSettings>
    <add key='Port'   value='80' />
    <add key="Mode" value="dev"/>
  </appSettings>
  <db:connection timeout="30">Server=dev;Database=shop</db:connection>
  <script><![CDATA[if (a < b) go();]]></script>
  <empty/>
  <!-- note -->
</configuration>
"""


def test_xml_xpath_variables_replace_attributes_text_cdata_and_comments_leaving_the_rest_as_written() -> None:
    edit = apply_xml(WEB_CONFIG, {
        "/configuration/appSettings/add[@key='Port']/@value": "8080",
        "//db:connection": "Server=prod;Database=shop",
        "//db:connection/@timeout": "60",
        "/configuration/script": "if (a > b) stop();",
        "//empty": "filled & safe",
        "/configuration/comment()": " replaced ",
        "Mode": "ignored: not an XPath", "Octopus.Action.Name": "ignored",
    })
    assert edit.text == WEB_CONFIG.replace("value='80'", "value='8080'") \
        .replace("Server=dev;Database=shop", "Server=prod;Database=shop").replace('timeout="30"', 'timeout="60"') \
        .replace("if (a < b) go();", "if (a > b) stop();").replace("<empty/>", "<empty>filled &amp; safe</empty>") \
        .replace("<!-- note -->", "<!-- replaced -->")


def test_xml_crlf_standalone_declaration_and_nodes_before_the_root_stay_as_written() -> None:
    # What a parse-and-serialise round trip loses here (ElementTree, minidom and lxml each lose
    # some): standalone, CRLF, the nodes before the root, quote styles, '></add>', the blank in
    # the root's start tag, and the offsets after a non-ASCII character.
    text = ("<?xml version='1.0' encoding='utf-8' standalone=\"yes\"?>\r\n<!-- caf\u00e9 -->\r\n<?hint keep?>\r\n"
            "<configuration xmlns:x=\"urn:x\" >\r\n  <add key='Name' value=\"caf\u00e9 &amp; bar\"></add>\r\n"
            "  <x:port>80</x:port>\r\n</configuration>\r\n")
    edit = apply_xml(text, {"//add/@value": "th\u00e9 & co", "/configuration/x:port": "8080"})
    assert edit.text == text.replace("caf\u00e9 &amp; bar", "th\u00e9 &amp; co").replace(">80<", ">8080<")


def test_xml_element_with_children_takes_a_fragment_and_keeps_its_content_when_the_value_is_not_one() -> None:
    text = "<a><b><c>1</c></b></a>"
    assert apply_xml(text, {"/a/b": "<c>2</c><d/>"}).text == "<a><b><c>2</c><d/></b></a>"
    edit = apply_xml(text, {"/a/b": "<c>unclosed"})
    assert edit.text is None and "not an XML fragment" in edit.warnings[0]


def test_xml_attribute_values_are_escaped_for_their_quote() -> None:
    text = "<a x='1' y=\"2\"/>"
    edit = apply_xml(text, {"/a/@x": "it's <b>", "/a/@y": 'say "hi"'})
    assert edit.text == "<a x='it&apos;s &lt;b&gt;' y=\"say &quot;hi&quot;\"/>"


def test_xml_attribute_is_found_by_its_namespace_not_by_a_look_alike_local_name() -> None:
    text = '<r xmlns:a="urn:a" xmlns:b="urn:b"><e xmlns:v="urn:v" a:v="1" b:v="2" v="3" xml:lang="en"/></r>'
    assert apply_xml(text, {"/r/e/@b:v": "B"}).text == text.replace('b:v="2"', 'b:v="B"')
    # No prefix: the attribute in no namespace, neither a prefixed one nor the xmlns:v declaration.
    assert apply_xml(text, {"/r/e/@v": "N"}).text == text.replace(' v="3"', ' v="N"')
    assert apply_xml(text, {"/r/e/@xml:lang": "de"}).text == text.replace('"en"', '"de"')


def test_xml_default_namespace_needs_local_name_and_a_plain_path_says_why_it_matched_nothing() -> None:
    pom = '<project xmlns="http://maven.apache.org/POM/4.0.0">\n  <version>1.0</version>\n</project>\n'
    missed = apply_xml(pom, {"/project/version": "2.0"})
    assert missed.text is None
    assert "default namespace http://maven.apache.org/POM/4.0.0" in missed.warnings[0]
    assert "*[local-name()='name']" in missed.warnings[0]
    edit = apply_xml(pom, {"/*[local-name()='project']/*[local-name()='version']": "2.0"})
    assert edit.text == pom.replace("1.0", "2.0") and edit.warnings == ()


def test_xml_a_prefix_declared_for_two_namespaces_means_the_first_with_a_warning() -> None:
    text = '<r xmlns:p="urn:one"><p:a>1</p:a><s xmlns:p="urn:two"><p:a>2</p:a></s></r>'
    edit = apply_xml(text, {"//p:a": "x"})
    assert edit.text == '<r xmlns:p="urn:one"><p:a>x</p:a><s xmlns:p="urn:two"><p:a>2</p:a></s></r>'
    assert edit.warnings == ("the prefix 'p:' is declared for urn:one and again for urn:two; an XPath's 'p:' means "
                             "urn:one: give each namespace its own prefix",)


@pytest.mark.parametrize("document", [
    '<!DOCTYPE a [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><a>&lol2;</a>',
    '<!DOCTYPE a [<!ENTITY secret SYSTEM "file:///etc/passwd">]><a>&secret;</a>',
    '<!DOCTYPE a SYSTEM "http://example.invalid/a.dtd"><a>&ext;</a>',
])
def test_xml_entity_tricks_are_refused_and_nothing_is_fetched_or_expanded(document: str) -> None:
    with pytest.raises(ConfigParseError, match="^not valid XML") as caught:
        apply_xml(document, {"/a": "x"})
    assert caught.value.format == "xml"


def test_broken_xml_names_the_line_and_column() -> None:
    with pytest.raises(ConfigParseError, match="^not valid XML at line 2") as caught:
        apply_xml("<a>\n  <b></c>\n</a>", {"/a": "x"})
    assert caught.value.format == "xml" and caught.value.line == 2


PROPERTIES = "# database\r\ndb.url = jdbc:pg://dev/shop\r\n! legacy\r\nretries:3\r\npath=C:\\\\apps\\\\\\\r\n    shop\r\n"


def test_properties_keys_are_replaced_keeping_comments_separators_and_line_endings() -> None:
    edit = apply_properties(PROPERTIES, {"DB.URL": "jdbc:pg://prod/shop", "path": "D:\\apps", "Octopus.X": "y"})
    assert edit.text == ("# database\r\ndb.url = jdbc\\:pg\\://prod/shop\r\n! legacy\r\nretries:3\r\n"
                         "path=D\\:\\\\apps\r\n")
    assert [where for _, where in edit.replaced] == ["db.url", "path"]


def test_properties_values_are_escaped_so_java_reads_them_back() -> None:
    edit = apply_properties("greeting=hi\n", {"greeting": " line1\nline2 \u2603"})
    assert edit.text == "greeting=\\ line1\\nline2 \\u2603\n"
    assert read_properties(edit.text) == {"greeting": " line1\nline2 \u2603"}


@pytest.mark.parametrize(("line", "value", "expected"), [
    ("key value\n", "=abc", "key \\=abc\n"),  # after a blank separator '=' would be read as the separator
    ("key\told\n", ":x", "key\t\\:x\n"),
    ("key=old\n", "=abc", "key=\\=abc\n"),  # Properties.store escapes every '=', first or not
])
def test_properties_value_starting_with_a_separator_reads_back_as_written(line: str, value: str,
                                                                          expected: str) -> None:
    edit = apply_properties(line, {"key": value})
    assert edit.text == expected
    assert read_properties(edit.text) == {"key": value}


def test_properties_bad_unicode_escape_is_a_parse_error() -> None:
    with pytest.raises(ConfigParseError, match="^not valid Java properties at line 1") as caught:
        apply_properties("a=\\u12G4\n", {"a": "x"})
    assert caught.value.format == "properties" and (caught.value.line, caught.value.column) == (1, 3)
    with pytest.raises(ConfigParseError, match="^not valid Java properties at line 2, column 10"):
        apply_properties("# db\n  key = x\\u00zz\n", {"a": "x"})


@pytest.mark.parametrize("name, expected", [
    ("appsettings.json", ("json",)), ("values.YAML", ("json", "yaml")), ("chart/values.yml", ("json", "yaml")),
    ("web.xml", ("json", "xml")), ("app.properties", ("json", "properties")),
    ("web.config", ("json", "xml", "yaml", "properties")),
])
def test_formats_are_chosen_by_extension_then_tried_in_octopus_order(name: str, expected: tuple[str, ...]) -> None:
    assert formats_for(name) == expected


@pytest.mark.parametrize("text, fmt", [
    ('{"a": "1"}', "json"), ("<a>1</a>", "xml"), ("a: 1\n", "yaml"), ("a=1\nb=2\n", "properties"),
])
def test_a_file_without_a_known_extension_is_read_as_the_first_format_that_parses(text: str, fmt: str) -> None:
    used, edit = apply_config(text, {"a": "2", "/a": "2"}, formats_for("settings.conf"))
    assert used == fmt and edit.text is not None and "2" in edit.text


@pytest.mark.parametrize("text, fmt, line", [
    ("<configuration>\n  <add key='a'></ad>\n</configuration>\n", "xml", 2),
    ('{\n  "a": [1,\n}\n', "json", 3),
])
def test_a_broken_xml_or_json_file_of_unknown_name_is_refused_not_read_as_properties(text: str, fmt: str,
                                                                                     line: int) -> None:
    # Octopus would fall through to Java properties, which reads nearly anything, and leave the
    # file as it was without a word (decision 520).
    with pytest.raises(ConfigParseError, match=f"^not valid {fmt.upper()} at line {line}") as caught:
        apply_config(text, {"a": "2", "/configuration/add/@key": "b"}, formats_for("web.config"))
    assert (caught.value.format, caught.value.line) == (fmt, line)


def test_an_ini_style_file_of_unknown_name_is_still_read_as_properties() -> None:
    used, edit = apply_config("[server]\nport=80\n", {"port": "8080"}, formats_for("app.conf"))
    assert (used, edit.text) == ("properties", "[server]\nport=8080\n")
