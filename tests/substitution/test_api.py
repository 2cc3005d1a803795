"""The Python API others build on: VariableDictionary, RenderResult bookkeeping, errors,
evaluate(), references() and the engine's resource limits."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bundlekit.errors import BundleError, InputError
from bundlekit.substitution import (
    RenderResult,
    VariableDictionary,
    evaluate,
    references,
    render,
    render_strict,
)
from tests.conftest import raises_code


def test_spec_worked_example_renders_as_documented() -> None:
    variables = VariableDictionary({
        "Server": "Web01", "Port": "10933", "Url": "http://#{Server | ToLower}:#{Port}",
        "Octopus.Action[Deploy web].Output.Build": "1.4.2", "Servers": '[{"Name": "a"}, {"Name": "b"}]',
    })
    template = ("#{Url}/api  build #{Octopus.Action[deploy WEB].Output.Build | Truncate 3}\n"
                "#{each s in Servers}#{s.Name}#{unless Octopus.Template.Each.Last},#{/unless}#{/each} "
                "##{not substituted}")
    assert render_strict(template, variables) == "http://web01:10933/api  build 1.4...\na,b #{not substituted}"


# -- VariableDictionary -------------------------------------------------------------------------
def test_names_are_case_insensitive_and_keep_first_spelling_and_order() -> None:
    v = VariableDictionary({"Foo.Bar": "1", "Zed": "z"})
    v.set("FOO.BAR", "2")
    assert v.get_raw("foo.bar") == "2"
    assert v.names() == ["Foo.Bar", "Zed"]
    assert "fOO.bAR" in v and "nope" not in v
    assert len(v) == 2


def test_get_raw_does_not_evaluate() -> None:
    v = VariableDictionary({"InstallPath": "C:\\#{Directory}", "Directory": "MyDirectory"})
    assert v.get_raw("InstallPath") == "C:\\#{Directory}"
    assert evaluate("InstallPath", v).text == "C:\\MyDirectory"
    assert v.get_raw("Undefined") is None


def test_sensitivity_from_constructor_and_set() -> None:
    v = VariableDictionary({"Db.Password": "pw", "Db.User": "u"}, sensitive=["db.password"])
    assert v.is_sensitive("DB.PASSWORD") and not v.is_sensitive("Db.User")
    v.set("Token", "t", sensitive=True)
    assert v.is_sensitive("token")
    v.set("Token", "t2")  # a later set states sensitivity again
    assert not v.is_sensitive("Token")
    assert not v.is_sensitive("Undefined")


@pytest.mark.parametrize("name", ["", "   ", None, 5])
def test_empty_or_non_text_name_is_refused(name: object) -> None:
    with raises_code("invalid_variable") as info:
        VariableDictionary().set(name, "x")  # type: ignore[arg-type]
    assert isinstance(info.value, InputError)


def test_non_text_value_is_refused_with_the_name() -> None:
    with raises_code("invalid_variable") as info:
        VariableDictionary({"Port": 5432})  # type: ignore[dict-item]
    assert "Port" in info.value.message


def test_name_that_is_not_a_path_is_stored_but_not_referenceable() -> None:
    v = VariableDictionary({"a$b": "x"})
    assert v.get_raw("A$B") == "x"
    assert evaluate("a$b", v).text == "x"
    with raises_code("template_syntax"):
        render_strict("#{a$b}", v)


# -- RenderResult bookkeeping ---------------------------------------------------------------------
def test_used_lists_names_reached_directly_and_through_recursion() -> None:
    v = VariableDictionary({"Url": "http://#{Host}:#{Port}", "Host": "h", "Port": "1", "Other": "o"})
    result = render("#{URL}", v)
    assert result.used == {"url", "host", "port"}
    assert result.missing == () and not result.sensitive


def test_used_includes_missing_json_roots_and_collections() -> None:
    v = VariableDictionary({"Cfg": '{"a": 1}', "Items[x].Name": "n"})
    result = render("#{Cfg.a}#{Nope}#{each i in Items}#{i.Name}#{/each}", v)
    assert {"cfg", "cfg.a", "nope", "items", "items[x].name"} <= result.used


def test_sensitive_when_a_sensitive_value_reaches_the_text() -> None:
    v = VariableDictionary({"Secret": "s3cret", "Conn": "pw=#{Secret}", "Plain": "p"}, sensitive=["Secret"])
    assert render("#{Secret}", v).sensitive
    assert render("#{Conn}", v).sensitive  # not transitive for the variable, but the text contains it
    assert render("#{Secret | ToBase64}", v).sensitive
    assert render("#{Plain}[#{Secret}]", v).sensitive
    assert not render("#{Plain}", v).sensitive
    assert not v.is_sensitive("Conn")


def test_sensitive_through_json_root_and_index_key() -> None:
    v = VariableDictionary({"Cfg": '{"pw": "x"}', "Who": "bob", "P[bob]": "x"}, sensitive=["Cfg", "Who"])
    assert render("#{Cfg.pw}", v).sensitive
    assert render("#{P[#{Who}]}", v).sensitive


def test_sensitive_when_a_condition_reads_a_secret() -> None:
    # Conservative on purpose: the branch taken reveals something about the secret.
    v = VariableDictionary({"Secret": "x"}, sensitive=["Secret"])
    assert render("#{if Secret}set#{/if}", v).sensitive


def test_token_left_in_place_exactly_as_written() -> None:
    template = "a #{ foo  |ToUpper } b #{X|Truncate   z}"
    result = render(template, VariableDictionary({"X": "x"}))
    assert result.text == template
    assert result.missing == ("foo",)
    assert len(result.problems) == 1 and "Truncate" in result.problems[0]


def test_problem_names_the_position_of_the_filter() -> None:
    result = render("line one\n  #{A | ToBazooka}", VariableDictionary({"A": "a"}))
    assert result.problems and "line 2, column 7" in result.problems[0]
    assert "ToBazooka" in result.problems[0]


def test_problem_inside_a_value_names_the_variable() -> None:
    result = render("#{A}", VariableDictionary({"A": "#{B | Nope}", "B": "b"}))
    assert result.text == "#{B | Nope}"
    assert "value of A" in result.problems[0]


def test_result_is_frozen() -> None:
    result = render("x", VariableDictionary())
    assert isinstance(result, RenderResult)
    with pytest.raises(AttributeError, match="cannot assign to field 'text'"):
        result.text = "y"  # type: ignore[misc]


# -- strict mode and error details ------------------------------------------------------------------
def test_render_strict_names_every_missing_name_in_order() -> None:
    v = VariableDictionary({"A": "#{B} #{C}"})
    with raises_code("unresolved_variables") as info:
        render_strict("#{Z} #{A} #{Z} #{P[#{Q}]}", v)
    err = info.value
    assert err.details == ["Z", "B", "C", "Q"]
    for name in ("Z", "B", "C", "Q"):
        assert name in err.message
    assert isinstance(err, BundleError) and err.exit_code == 1


def test_render_strict_returns_text() -> None:
    assert render_strict("#{A}!", VariableDictionary({"a": "hi"})) == "hi!"


def test_syntax_error_gives_line_and_column() -> None:
    with raises_code("template_syntax") as info:
        render("first\nab #{Foo", VariableDictionary(), allow_missing=False)
    err = info.value
    assert err.details["line"] == 2 and err.details["column"] == 4
    assert "line 2, column 4" in err.message


def test_unclosed_block_error_points_at_the_opener() -> None:
    with raises_code("template_syntax") as info:
        render_strict("x\n  #{if A}\nbody\n", VariableDictionary())
    assert info.value.details["line"] == 2 and info.value.details["column"] == 3
    assert "#{/if}" in info.value.message


def test_cycle_error_names_the_cycle() -> None:
    v = VariableDictionary({"Foo": "#{Fox}", "Fox": "#{Fax}", "Fax": "#{Foo}"})
    with raises_code("variable_cycle") as info:
        render("#{Foo}", v)
    assert info.value.details == ["Foo", "Fox", "Fax", "Foo"]
    assert "Foo -> Fox -> Fax -> Foo" in info.value.message


def test_strict_mode_says_when_a_json_member_refers_back_into_its_own_value() -> None:
    v = VariableDictionary({"Cfg": '{"a": "#{Cfg}", "b": "#{Cfg.b}"}', "X": "#{X.Y}"})
    with raises_code("unresolved_variables") as info:
        render_strict("#{Cfg.a} #{Cfg.b} #{X} #{Gone}", v)
    assert info.value.details == ["Cfg.a", "Cfg.b", "X.Y", "Gone"]
    assert "Cfg.a, Cfg.b, X.Y refer(s) back into the value it is read from" in info.value.message
    assert "Gone refer" not in info.value.message


def test_template_must_be_text() -> None:
    with raises_code("template_syntax"):
        render(b"#{A}", VariableDictionary())  # type: ignore[arg-type]


def test_rendering_without_a_clock_does_not_need_one() -> None:
    assert render_strict("#{A}", VariableDictionary({"A": "a"}), now=None) == "a"


def test_now_is_the_only_time_source() -> None:
    moment = datetime(1999, 12, 31, 23, 59, tzinfo=timezone.utc)
    assert render_strict("#{ | NowDateUtc yyyy}", VariableDictionary(), now=moment) == "1999"


# -- evaluate -----------------------------------------------------------------------------------------
def test_evaluate_defined_undefined_and_json_path() -> None:
    v = VariableDictionary({"A": "#{B}!", "B": "b", "Cfg": '{"x": {"y": 2}}', "Secret": "s"}, sensitive=["Secret"])
    assert evaluate("a", v).text == "b!"
    assert evaluate("a", v).used == {"a", "b"}
    undefined = evaluate("Nope", v)
    assert undefined.text == "" and undefined.missing == ("Nope",)
    assert evaluate("Cfg.x.y", v).text == "2"
    assert evaluate("Secret", v).sensitive


def test_evaluate_leaves_inner_missing_in_place() -> None:
    result = evaluate("A", VariableDictionary({"A": "x#{B}"}))
    assert result.text == "x#{B}" and result.missing == ("B",)


# -- references ------------------------------------------------------------------------------------
def test_references_found_without_values() -> None:
    template = """
        #{var}
        #{filter | Format #{option}}
        #{nestedParent[#{nestedChild}]}
        #{if ifvar}#{unless ifnested}debug#{/unless}#{/if}
        #{if comparison != "value"}true#{/if}
        #{if left == right}x#{/if}
        #{each item in List}
           #{item.Address} #{Octopus.Template.Each.Index}
        #{/each}
        ##{ignored}
        #{Octopus.Action[Step A].Output.X}
    """
    found = references(template)
    assert {"var", "filter", "option", "nestedParent", "nestedChild", "ifvar", "ifnested", "comparison", "left",
            "right", "List", "Octopus.Action[Step A].Output.X"} == found


def test_references_dedupes_case_insensitively_and_skips_malformed() -> None:
    found = references("#{Foo} #{FOO} #{foo.bar} #{Broken")
    assert {n.casefold() for n in found} == {"foo", "foo.bar"}
    assert len(found) == 2


def test_references_inside_nested_each_and_values_are_not_followed() -> None:
    found = references("#{each a in A}#{each b in a.Kids}#{b.Name}#{G}#{/each}#{/each}")
    assert found == {"A", "G"}


# -- limits: refusals, never crashes -----------------------------------------------------------------
def test_long_chain_is_refused_not_a_recursion_error() -> None:
    v = VariableDictionary({f"V{i}": f"#{{V{i + 1}}}" for i in range(200)} | {"V200": "end"})
    with raises_code("substitution_too_deep"):
        render("#{V0}", v)


def test_moderate_chain_is_fine() -> None:
    v = VariableDictionary({f"V{i}": f"#{{V{i + 1}}}" for i in range(30)} | {"V30": "end"})
    assert render_strict("#{V0}", v) == "end"


def test_deeply_nested_blocks_are_a_syntax_error_in_strict_mode() -> None:
    template = "#{if A}" * 500 + "x" + "#{/if}" * 500
    with raises_code("template_syntax") as info:
        render(template, VariableDictionary({"A": "1"}), allow_missing=False)
    assert "nesting" in info.value.message


def test_deeply_nested_blocks_do_not_crash_allow_missing_mode() -> None:
    template = "#{if A}" * 300 + "x" + "#{/if}" * 300
    result = render(template, VariableDictionary({"A": "1"}))
    assert "x" in result.text and result.problems


def test_exponential_expansion_is_refused() -> None:
    v = VariableDictionary({f"L{i}": f"#{{L{i + 1}}}#{{L{i + 1}}}" for i in range(40)} | {"L40": "ab"})
    with raises_code("substitution_too_large"):
        render("#{L0}", v)


def test_deep_json_is_plain_text_not_a_crash() -> None:
    deep = "[" * 5000 + "]" * 5000
    result = render("#{J[0]}", VariableDictionary({"J": deep}))
    assert result.text == "#{J[0]}" and result.missing == ("J[0]",)
