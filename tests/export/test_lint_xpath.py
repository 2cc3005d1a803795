"""The XPath lint suggests for a file with a default namespace (decision 811) is one to copy for
the usual Octopus forms (an attribute, a predicate, text(), //), selects in the file what the
written XPath meant to, and is not offered for a file whose root element the path cannot match.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from bundlekit.export.lint_xpath import local_name_xpath, root_name
from tests.export.test_lint import line_of
from tests.export.test_lint_config_variables import _configured, _lint

WEB = ('<?xml version="1.0"?>\n<!-- <nothing/> -->\n<configuration xmlns="urn:c">\n  <appSettings>\n'
       '    <add key="a" value="1">one</add>\n    <add key="b" value="2">two</add>\n  </appSettings>\n'
       '</configuration>\n')
PLAIN = '<q>\n  <b>old</b>\n</q>\n'
FORMS = {
    "/configuration/appSettings/add[@key='a']/@value":
        "/*[local-name()='configuration']/*[local-name()='appSettings']/*[local-name()='add'][@key='a']/@value",
    "/configuration/appSettings/add/@value":
        "/*[local-name()='configuration']/*[local-name()='appSettings']/*[local-name()='add']/@value",
    "/configuration/appSettings/add/text()":
        "/*[local-name()='configuration']/*[local-name()='appSettings']/*[local-name()='add']/text()",
    "//add[@key='a']": "//*[local-name()='add'][@key='a']",
    "//add[@key='a']/@value": "//*[local-name()='add'][@key='a']/@value",
    "/configuration/appSettings/add[2]": "/*[local-name()='configuration']/*[local-name()='appSettings']"
                                         "/*[local-name()='add'][2]",
}


@pytest.mark.parametrize("written", sorted(FORMS))
def test_each_usual_form_is_rewritten_and_selects_what_it_would_without_the_namespace(written: str) -> None:
    rewritten = local_name_xpath(written, root_name(WEB))
    assert rewritten == FORMS[written]
    with_ns = etree.fromstring(WEB.split("\n", 1)[1].encode())
    without_ns = etree.fromstring(WEB.split("\n", 1)[1].replace(' xmlns="urn:c"', "").encode())
    assert with_ns.xpath(written) == []  # the problem: selects nothing
    meant = without_ns.xpath(written)
    got = with_ns.xpath(rewritten)
    assert meant and [str(x) if isinstance(x, str) else x.get("key") for x in got] == \
        [str(x) if isinstance(x, str) else x.get("key") for x in meant]


def test_paths_it_cannot_rewrite_faithfully_get_no_rewrite() -> None:
    for path in ("/configuration/appSettings/add[key='a']",  # an element named in a predicate
                 "/c:configuration/appSettings",  # a prefix
                 "/configuration/child::appSettings",  # an axis
                 "/configuration/a | /configuration/b",
                 "/configuration/appSettings/@value/x"):  # an attribute midway
        assert local_name_xpath(path, "configuration") is None, path
    assert local_name_xpath("/q/b", "configuration") is None  # the root cannot be q
    assert local_name_xpath("/q/b", "q") == "/*[local-name()='q']/*[local-name()='b']"
    assert local_name_xpath("//b", "configuration") == "//*[local-name()='b']"  # any depth: root irrelevant
    assert root_name('<?xml version="1.0"?>\n<!DOCTYPE c [<!ELEMENT c ANY>]>\n<!-- <x> -->\n<p:c xmlns:p="u"/>') == "c"


def test_lint_suggests_the_rewrite_for_an_attribute_path_and_none_for_a_file_whose_root_cannot_match(
        release_dir: Path) -> None:
    path = _configured(release_dir, {"web.config": WEB, "plain.config": PLAIN.replace("<q>", '<q xmlns="urn:p">')},
                       '\n[[variables]]\nname = "/configuration/appSettings/add[@key=\'a\']/@value"\nvalue = "9"\n'
                       '\n[[variables]]\nname = "/q/b"\nvalue = "new"\n')
    code, findings = _lint(path)
    assert code == 0
    by = {(f["message"].split(" in ", 1)[0], f["path"]): f for f in findings}
    assert sorted(by) == [("plain.config", "variables[5].name"), ("plain.config", "variables[6].name"),
                          ("web.config", "variables[5].name"), ("web.config", "variables[6].name")]
    assert by["plain.config", "variables[6].name"]["suggestion"] == (
        "write the XPath as /*[local-name()='q']/*[local-name()='b'], or give the namespace a prefix in the file and "
        "use it")  # the file it is meant for
    written = "/configuration/appSettings/add[@key='a']/@value"
    web = by["web.config", "variables[5].name"]
    assert (web["line"], web["column"]) == line_of(path, written + '"')  # at the string
    assert web["suggestion"] == (f"write the XPath as {FORMS[written]}, or give the namespace a prefix in the file "
                                 "and use it")
    plain = by["plain.config", "variables[5].name"]  # meant for web.config: its root can be q
    assert plain["suggestion"].startswith("this file's root element is 'q', which the XPath's first step")
    misplaced = by["web.config", "variables[6].name"]  # /q/b is meant for plain.config
    assert "local-name()" not in misplaced["suggestion"]
    assert misplaced["suggestion"].startswith("this file's root element is 'configuration', which the XPath's first")
    for f in findings:  # the suggestion does not say again what the message says
        assert "*[local-name()='name']" not in f["suggestion"]
