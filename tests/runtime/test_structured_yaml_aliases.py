"""A YAML variable aimed at a path through an alias changes that path only (decision 647)."""

from __future__ import annotations

from ruamel.yaml import YAML

from bundlekit.runtime.structured.yamlfile import apply_yaml


def _load(text: str) -> object:
    return YAML(typ="safe", pure=True).load(text)


def test_a_variable_under_an_alias_changes_only_that_path_not_the_anchored_original_or_other_aliases() -> None:
    text = "base: &b\n  port: 1\n  host: h\na: *b\nc: *b\n"
    edit = apply_yaml(text, {"a:port": "2"})
    assert edit.replaced == (("a:port", "a:port"),)
    assert edit.text is not None
    assert _load(edit.text) == {"base": {"port": 1, "host": "h"}, "a": {"port": 2, "host": "h"},
                                "c": {"port": 1, "host": "h"}}
    assert "c: *b" in edit.text  # the untouched alias stays an alias


def test_a_variable_at_the_anchored_original_still_changes_what_its_aliases_refer_to() -> None:
    edit = apply_yaml("base: &b\n  port: 1\na: *b\n", {"base:port": "3"})
    assert edit.text is not None and _load(edit.text) == {"base": {"port": 3}, "a": {"port": 3}}
    assert "a: *b" in edit.text


def test_a_nested_anchor_inside_the_copied_alias_is_not_written_twice() -> None:
    text = "base: &b\n  inner: &i\n    port: 1\na: *b\nd: *i\n"
    edit = apply_yaml(text, {"a:inner:port": "2"})
    assert edit.text is not None and edit.text.count("&i") == 1
    assert _load(edit.text) == {"base": {"inner": {"port": 1}}, "a": {"inner": {"port": 2}}, "d": {"port": 1}}


def test_aliased_sequences_are_copied_the_same_way() -> None:
    edit = apply_yaml("list: &l [1, 2]\nother: *l\n", {"other:1": "9"})
    assert edit.text is not None and _load(edit.text) == {"list": [1, 2], "other": [1, 9]}
