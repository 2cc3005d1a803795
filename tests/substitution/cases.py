"""The substitution case table: template + variables -> expected text or error code.

Each case renders in allow-missing mode unless ``strict=True``. ``missing`` (when given)
is the exact :attr:`RenderResult.missing`. Expectations marked ``# O`` are taken from
Octostache's documented behaviour and its public test suite (facts, re-expressed);
``# B`` marks a bundlekit decision (see spec/substitution.md, "Differences").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

NOW = datetime(2030, 5, 22, 9, 5, 7, 123456, tzinfo=timezone(timedelta(hours=2)))

SYNTAX = "template_syntax"
UNRESOLVED = "unresolved_variables"
CYCLE = "variable_cycle"
FILTER = "filter_failed"


@dataclass(frozen=True)
class Case:
    id: str
    template: str
    variables: dict[str, str] = field(default_factory=dict)
    expect: str | None = None
    error: str | None = None
    strict: bool = False
    missing: tuple[str, ...] | None = None
    no_clock: bool = False
    absent: tuple[str, ...] | None = None


CASES: list[Case] = []


def c(id: str, template: str, variables: dict[str, str] | None = None, expect: str | None = None, **kw: object) -> None:
    CASES.append(Case(id, template, dict(variables or {}), expect, **kw))  # type: ignore[arg-type]


def err(id: str, template: str, variables: dict[str, str] | None, code: str, *, strict: bool = True) -> None:
    CASES.append(Case(id, template, dict(variables or {}), None, error=code, strict=strict))


OD = "Octopus Deploy"

# -- plain text and simple names ---------------------------------------------------------
c("plain-text", "hello world", {}, "hello world")
c("empty-template", "", {}, "")
c("simple", "#{Foo}", {"Foo": "Bar"}, "Bar")  # O
c("surrounded", "x#{Foo}y", {"Foo": "Bar"}, "xBary")
c("adjacent", "#{A}#{B}", {"A": "1", "B": "2"}, "12")
c("repeated", "#{A}-#{A}", {"A": "1"}, "1-1")
c("multiline-template", "a\n#{A}\nb", {"A": "x"}, "a\nx\nb")
c("crlf-preserved", "a\r\n#{A}\r\n", {"A": "x"}, "a\r\nx\r\n")
c("value-with-newline", "[#{A}]", {"A": "1\n2"}, "[1\n2]")
c("empty-value", "[#{A}]", {"A": ""}, "[]")
c("unicode-value", "#{A}", {"A": "héllo ☃ 我"}, "héllo ☃ 我")
c("unicode-name", "#{Größe}", {"Größe": "XL"}, "XL")
c("space-inside-braces", "#{ Foo }", {"Foo": "Bar"}, "Bar")  # O
c("leading-spaces", "#{  Foo}", {"Foo": "Bar"}, "Bar")  # O
c("trailing-spaces", "#{Foo  }", {"Foo": "Bar"}, "Bar")  # O
c("slash-name", "#{a/b}", {"a/b": "Foo"}, "Foo")  # O
c("tilde-name", "#{a~b}", {"a~b": "Foo"}, "Foo")  # O
c("paren-name", "#{(abc)}", {"(abc)": "Foo"}, "Foo")  # O
c("colon-dash-underscore-name", "#{a:b-c_d}", {"a:b-c_d": "v"}, "v")
c("digit-name", "#{1}", {"1": "one"}, "one")
c("value-with-brace", "#{A}", {"A": "}{"}, "}{")
c("value-with-hash", "#{A}", {"A": "#1 # two"}, "#1 # two")
c("value-with-literal-escape", "#{A}", {"A": "##{x}"}, "#{x}")
c("unknown-left-in-place", "#{Foo}", {}, "#{Foo}", missing=("Foo",))  # O
c("one-known-one-unknown", "#{Foo}#{Jazz}", {"Foo": "#{Bar}", "Bar": "Baz"}, "Baz#{Jazz}", missing=("Jazz",))  # O
c("unknown-spelling-kept", "#{ fOO }", {}, "#{ fOO }", missing=("fOO",))
c("missing-dedup-first-spelling", "#{ab}#{AB}#{Ab}", {}, "#{ab}#{AB}#{Ab}", missing=("ab",))
c("missing-order-of-first-use", "#{B}#{A}#{B}", {}, "#{B}#{A}#{B}", missing=("B", "A"))

# -- case-insensitivity ------------------------------------------------------------------
c("ci-lower-ref", "#{foo}", {"Foo": "Bar"}, "Bar")  # O
c("ci-upper-ref", "#{FOO}", {"foo": "Bar"}, "Bar")  # O
c("ci-dotted", "#{foo.BAR}", {"Foo.Bar": "v"}, "v")
c("ci-index-key", "#{Password[BOB]}", {"Password[bob]": "pw"}, "pw")
c("ci-output-var", "#{OCTOPUS.ACTION[STEP A].OUTPUT.X}", {"Octopus.Action[Step A].Output.X": "42"}, "42")
c("ci-filter-name", "#{Foo | tolower}", {"Foo": "ABC"}, "abc")
c("ci-filter-name-upper", "#{Foo|TOUPPER}", {"Foo": "abc"}, "ABC")
c("ci-each-name", "#{each X in L}#{x}#{/each}", {"L": "a,b"}, "ab")
c("ci-if-keyword", "#{IF A}y#{/IF}", {"A": "true"}, "y")

# -- spaces and dots in names ------------------------------------------------------------
c("spaces-in-name", "#{Foo Bar Jazz}", {"Foo Bar Jazz": "Bar"}, "Bar")  # O
c("spaces-and-dots", "#{My Var.Sub Name}", {"My Var.Sub Name": "v"}, "v")
c("padded-name-with-spaces", "#{  Foo Bar  }", {"Foo Bar": "v"}, "v")
c("inner-double-space-is-different", "#{Foo  Bar}", {"Foo Bar": "v"}, "#{Foo  Bar}", missing=("Foo  Bar",))
c("dotted-name", "#{Octopus.Environment.Name}", {"Octopus.Environment.Name": "Production"}, "Production")
c("space-around-dot", "#{Foo . Bar}", {"Foo.Bar": "v"}, "v")
c("name-defined-with-padding", "#{Foo}", {" Foo ": "v"}, "v")
c("dotted-prefix-not-a-value", "#{Foo}", {"Foo.Bar": "v"}, "#{Foo}", missing=("Foo",))

# -- recursion ---------------------------------------------------------------------------
c("recursive", "#{Foo}", {"Foo": "#{Bar}", "Bar": "Baz"}, "Baz")  # O
c("recursive-three-levels", "#{A}", {"A": "<#{B}>", "B": "(#{C})", "C": "c"}, "<(c)>")
c("recursive-filter-inside", "#{Foo}", {"Foo": "#{Bar | ToLower}", "Bar": "Baz"}, "baz")  # O
c("recursive-filter-both", "#{Foo|ToUpper}", {"Foo": "#{Bar | ToLower}", "Bar": "Baz"}, "BAZ")  # O
c("recursive-url", "#{Url}/foo", {"Server": "Web01", "Port": "10933", "Url": "http://#{Server | ToLower}:#{Port}"},
  "http://web01:10933/foo")  # O
c("recursive-inner-missing", "#{Protocol}", {"Protocol": "#{Proto}"}, "#{Proto}", missing=("Proto",))  # O
c("recursive-partial-missing", "#{A}", {"A": "x#{Nope}y"}, "x#{Nope}y", missing=("Nope",))
c("recursive-escape-not-reevaluated", "#{A}", {"A": "##{B}", "B": "no"}, "#{B}")
c("recursive-unparseable-value-verbatim", "#{A}", {"A": "ab#{cd", "cd": "x"}, "ab#{cd")  # O
c("recursive-unparseable-value-not-substituted", "#{A}", {"A": "#{B} and #{C", "B": "b"}, "#{B} and #{C")  # O
c("recursive-diamond-not-a-cycle", "#{A}", {"A": "#{B}#{C}", "B": "#{D}", "C": "#{D}", "D": "d"}, "dd")
c("recursive-twice-same", "#{A}#{A}", {"A": "#{B}", "B": "b"}, "bb")
c("recursive-value-with-if", "#{A}", {"A": "#{if F}on#{else}off#{/if}", "F": "yes"}, "on")
c("recursive-value-with-each", "#{A}", {"A": "#{each x in L}<#{x}>#{/each}", "L": "1,2"}, "<1><2>")
c("unused-cycle-is-harmless", "#{B}", {"A": "#{A}", "B": "x"}, "x")

# -- cycles ------------------------------------------------------------------------------
err("cycle-self", "#{Foo}", {"Foo": "#{Foo}"}, CYCLE)  # O
err("cycle-four", "#{Foo}", {"Foo": "#{Fox}", "Fox": "#{Fax}", "Fax": "#{Fix}", "Fix": "#{Foo}"}, CYCLE)  # O
err("cycle-in-allow-missing-mode", "#{Foo}", {"Foo": "#{Foo}"}, CYCLE, strict=False)
err("cycle-via-if", "#{if A}x#{/if}", {"A": "#{A}"}, CYCLE, strict=False)
err("cycle-via-index", "#{P[#{K}]}", {"K": "#{K}"}, CYCLE, strict=False)
err("cycle-via-filter-option", "#{B}", {"B": "#{X | Replace #{B} y}", "X": "x"}, CYCLE, strict=False)
c("json-member-refers-to-itself", "#{Cfg.a}", {"Cfg": '{"a": "#{Cfg.a}"}'}, "#{Cfg.a}", missing=("Cfg.a",))  # O
c("json-members-refer-to-each-other", "#{Cfg.a}", {"Cfg": '{"a": "<#{Cfg.b}>", "b": "#{Cfg.a}"}'}, "<#{Cfg.a}>",
  missing=("Cfg.a",))  # O
c("value-refers-to-own-member", "#{X}", {"X": "#{X.Y}"}, "#{X.Y}", missing=("X.Y",))  # O
c("value-refers-to-own-indexed-member", "#{V}", {"V": "#{V[#{k}]}", "k": "q"}, "#{V[#{k}]}", missing=("V[q]",))  # O
c("json-member-refers-to-whole-value", "#{Cfg.a}", {"Cfg": '{"a": "#{Cfg}"}'}, "#{Cfg.a}", missing=("Cfg.a",))  # O
err("json-whole-value-refers-to-itself", "#{Cfg}", {"Cfg": '{"a": "#{Cfg}"}'}, CYCLE, strict=False)  # O
c("json-member-through-variable-to-whole-value", "#{Cfg.a}", {"Cfg": '{"a": "#{B}"}', "B": "#{Cfg}"}, "#{Cfg.a}",
  missing=("Cfg.a",))  # O
err("json-whole-value-through-variable-to-itself", "#{Cfg}", {"Cfg": '{"a": "#{B}"}', "B": "#{Cfg}"}, CYCLE,
    strict=False)  # O
c("json-sibling-of-self-reference-still-read", "#{Cfg.a}", {"Cfg": '{"a": "1", "b": "#{Cfg}"}'}, "1")  # B
c("json-member-through-variable-back-to-whole", "#{A}", {"A": "#{Cfg.a}", "Cfg": '{"a": "#{A}"}'}, "#{Cfg.a}",
  missing=("Cfg.a",))  # O
c("json-member-escape-evaluated-once", "#{Cfg.a}", {"Cfg": '{"a": "##{B}"}', "B": "b"}, "#{B}")  # B
c("each-json-escape-evaluated-once", "#{each x in X}#{x.Value}#{/each}", {"X": '{"a": "##{B}"}', "B": "b"}, "#{B}")  # B
c("each-list-escape-evaluated-once", "#{each x in X}#{x};#{/each}", {"X": "##{B},c", "B": "b"}, "#{B};c;")  # B
c("each-indexed-escape-evaluated-once", "#{each x in X}#{x}#{/each}", {"X[1]": "##{B}", "B": "b"}, "#{B}")  # O
c("json-self-reference-then-plain-use", "#{Cfg.a}|#{Cfg.b}", {"Cfg": '{"a": "#{Cfg.a}", "b": "2"}'}, "#{Cfg.a}|2",
  missing=("Cfg.a",))  # O
err("cycle-through-json-leaf-to-variables", "#{Cfg.a}", {"Cfg": '{"a": "#{P}"}', "P": "#{Q}", "Q": "#{P}"}, CYCLE,
    strict=False)
err("cycle-case-insensitive", "#{a}", {"A": "#{b}", "B": "#{A}"}, CYCLE, strict=False)

# -- indexers ----------------------------------------------------------------------------
c("index-output-var", "#{Octopus.Action[Step Name].Output.X}", {"Octopus.Action[Step Name].Output.X": "7"}, "7")
c("index-per-machine", "#{Octopus.Action[Step].Output[web-01].X}", {"Octopus.Action[Step].Output[web-01].X": "w1"}, "w1")
c("index-named", "#{Octopus.Action[Package A].Name}", {"Octopus.Action[Package A].Name": "Package A"}, "Package A")  # O
c("index-nested", "#{Password[#{User}]}", {"User": "bob", "Password[bob]": "pw"}, "pw")
c("index-nested-missing-inner", "#{Password[#{User}]}", {"Password[bob]": "pw"}, "#{Password[#{User}]}",
  missing=("User",))
c("index-nested-missing-outer", "#{Password[#{User}]}", {"User": "eve", "Password[bob]": "pw"},
  "#{Password[#{User}]}", missing=("Password[eve]",))
c("index-symbol", "#{Octopus.Step[#{action.StepName}].Status.Code}",
  {"action.StepName": "Step 1", "Octopus.Step[Step 1].Status.Code": "Running"}, "Running")  # O
c("index-padded-key", "#{Password[ bob ]}", {"Password[bob]": "pw"}, "pw")
c("index-empty", "#{Octopus.Action[].Name}", {"Octopus.Action[].Name": "blank"}, "blank")
c("index-nested-brackets", "#{Pkg[container[0]].Name}", {"Pkg[container[0]].Name": "c0"}, "c0")
c("index-with-dots", "#{Cert[a.b.c]}", {"Cert[a.b.c]": "x"}, "x")
c("index-mixed-literal-and-symbol", "#{Server[web-#{N}].Ip}", {"N": "2", "Server[web-2].Ip": "10.0.0.2"}, "10.0.0.2")  # B
c("index-with-filter", "#{P[#{U | ToLower}]}", {"U": "BOB", "P[bob]": "ok"}, "ok")  # B
c("index-wildcard-first", "#{Octopus.Action[*].Name}",
  {"Octopus.Action[Package A].Name": "A", "Octopus.Action[Package B].Name": "B"}, "A")
c("index-double-nested", "#{A[#{B[#{C}]}]}", {"C": "c", "B[c]": "b", "A[b]": "a"}, "a")
c("index-then-filter", "#{P[#{U}] | ToUpper}", {"U": "u", "P[u]": "val"}, "VAL")
c("index-unterminated", "#{Foo[bar}", {"Foo[bar]": "x"}, "#{Foo[bar}")  # O
err("index-unterminated-strict", "#{Foo[bar}", {"Foo[bar]": "x"}, SYNTAX)
c("index-each-symbol-in-if", "#{each action in Octopus.Action}#{if Octopus.Step[#{action.StepName}].Status != "
  "\"Skipped\"}#{Octopus.Step[#{action.StepName}].Details}#{/if}#{/each}",
  {"Octopus.Action[Action 1].StepName": "Step 1", "Octopus.Action[Action 2].StepName": "Step 2",
   "Octopus.Step[Step 1].Details": "Step 1 Details", "Octopus.Step[Step 2].Details": "Step 2 Details",
   "Octopus.Step[Step 1].Status": "Skipped", "Octopus.Step[Step 2].Status": "Running"}, "Step 2 Details")  # O
c("index-unscoped-symbol-in-each", "#{each action in Octopus.Action}#{if Octopus.Step[#{Other}].Status == "
  "\"Skipped\"}#{Octopus.Step[#{Other}].Details}#{/if}#{/each}",
  {"Octopus.Action[Action 1].StepName": "Step 1", "Octopus.Action[Action 2].StepName": "Step 2",
   "Octopus.Step[OtherValue].Details": "Octopus", "Octopus.Step[OtherValue].Status": "Skipped",
   "Other": "OtherValue"}, "OctopusOctopus")  # O

# -- filters: case, trim, truncate, substring -------------------------------------------------
c("filter-toupper", "#{Foo | ToUpper}", {"Foo": "baz"}, "BAZ")  # O
c("filter-toupper-no-space", "#{Foo|ToUpper}", {"Foo": "baz"}, "BAZ")
c("filter-tolower", "#{Foo | ToLower}", {"Foo": "ABC"}, "abc")
c("filter-toupper-with-option-fails", "#{Foo | ToUpper x}", {"Foo": "a"}, "#{Foo | ToUpper x}")
c("filter-trim", "#{foo | Trim}", {"foo": " Octopus Deploy "}, OD)  # O
c("filter-trim-start", "#{foo | Trim start}", {"foo": " Octopus Deploy "}, "Octopus Deploy ")  # O
c("filter-trim-end", "#{foo | Trim End}", {"foo": " Octopus Deploy "}, " Octopus Deploy")  # O
c("filter-trim-invalid-option", "#{foo | Trim Both}", {"foo": OD}, "#{foo | Trim Both}")  # O
c("filter-trim-tabs-newlines", "[#{foo | Trim}]", {"foo": "\t x \n"}, "[x]")
c("filter-truncate", "#{foo | Truncate 7}", {"foo": OD}, "Octopus...")  # O
c("filter-truncate-longer", "#{foo | Truncate 50}", {"foo": OD}, OD)  # O
c("filter-truncate-exact-length", "#{foo | Truncate 14}", {"foo": OD}, OD)
c("filter-truncate-zero", "#{foo | Truncate 0}", {"foo": OD}, "...")
c("filter-truncate-plus-sign", "#{foo | Truncate +3}", {"foo": OD}, "Oct...")
c("filter-truncate-missing-length", "#{foo | Truncate}", {"foo": OD}, "#{foo | Truncate}")  # O
c("filter-truncate-non-numeric", "#{foo | Truncate a}", {"foo": OD}, "#{foo | Truncate a}")  # O
c("filter-truncate-negative", "#{foo | Truncate -1}", {"foo": OD}, "#{foo | Truncate -1}")  # O
c("filter-substring-length", "#{foo | Substring 7}", {"foo": OD}, "Octopus")  # O
c("filter-substring-start-length", "#{foo | Substring 8 6}", {"foo": OD}, "Deploy")  # O
c("filter-substring-none", "#{foo | Substring}", {"foo": "ababa"}, "#{foo | Substring}")  # O
c("filter-substring-too-many", "#{foo | Substring 1 2 3}", {"foo": "ababa"}, "#{foo | Substring 1 2 3}")  # O
c("filter-substring-non-numeric", "#{foo | Substring a}", {"foo": OD}, "#{foo | Substring a}")  # O
c("filter-substring-non-numeric-length", "#{foo | Substring 0 a}", {"foo": OD}, "#{foo | Substring 0 a}")  # O
c("filter-substring-length-past-end-truncates", "#{foo | Substring 20}", {"foo": OD}, OD)  # O
c("filter-substring-start-at-end-is-empty", "[#{foo | Substring 14 5}]", {"foo": OD}, "[]")  # O
c("filter-substring-start-past-end", "#{foo | Substring 20 5}", {"foo": OD}, "#{foo | Substring 20 5}")  # O
c("filter-substring-start-one-past-end", "#{foo | Substring 15 0}", {"foo": OD}, "#{foo | Substring 15 0}")  # O
err("filter-substring-start-past-end-strict", "#{foo | Substring 15 0}", {"foo": OD}, FILTER)
c("filter-substring-range-past-end-truncates", "#{foo | Substring 8 7}", {"foo": OD}, "Deploy")  # O
c("filter-substring-negative", "#{foo | Substring -1}", {"foo": OD}, "#{foo | Substring -1}")  # O
c("filter-substring-negative-length", "#{foo | Substring 0 -1}", {"foo": OD}, "#{foo | Substring 0 -1}")  # O
c("filter-substring-empty", "[#{foo | Substring 0 0}]", {"foo": OD}, "[]")
c("filter-substring-whole", "#{foo | Substring 14}", {"foo": OD}, OD)

# -- filters: Replace (.NET regex) ---------------------------------------------------------
c("replace", "#{foo | Replace abc def}", {"foo": "abc"}, "def")  # O
c("replace-with-empty", "#{foo | Replace a}", {"foo": "abc"}, "bc")  # O
c("replace-no-options", "#{foo | Replace}", {"foo": "abc"}, "#{foo | Replace}")  # O
c("replace-case-sensitive", "#{foo | Replace abc def}", {"foo": "ABC"}, "ABC")  # O
c("replace-quoted-spaces", '#{foo | Replace "ab c" "d ef"}', {"foo": "ab c"}, "d ef")  # O
c("replace-variable-options", "#{foo | Replace #{regex}#{replacement}}", {"foo": "abc", "regex": "b", "replacement": "x"},
  "axc")  # O
c("replace-double-quotes-via-variables", "#{foo | Replace #{regex}#{replacement}}",
  {"foo": 'a"b', "regex": 'a"', "replacement": '"c'}, '"cb')  # O
c("replace-single-quotes", "#{foo | Replace \"a'b\" \"d'e\"}", {"foo": "a'b"}, "d'e")  # O
c("replace-range", '#{foo | Replace "[a-z]+" 1}', {"foo": "a'b"}, "1'1")  # O
c("replace-escaped-special", '#{foo | Replace "a\\(b" "d(e"}', {"foo": "a(b"}, "d(e")  # O
c("replace-groups", '#{foo | Replace "o(.+)o([a-z]*)s" "o$2o$1s"}', {"foo": "opuocts"}, "octopus")  # O
c("replace-all-occurrences", '#{foo | Replace "a" x}', {"foo": "ababa"}, "xbxbx")  # O
c("replace-anchor-start", '#{foo | Replace "^a" x}', {"foo": "ababa"}, "xbaba")  # O
c("replace-anchor-end", '#{foo | Replace "a$" x}', {"foo": "ababa"}, "ababx")  # O
c("replace-named-group", '#{foo | Replace "(?<x>b)" "${x}${x}"}', {"foo": "abc"}, "abbc")
c("replace-dollar-dollar", '#{foo | Replace b "$$"}', {"foo": "abc"}, "a$c")
c("replace-whole-match", '#{foo | Replace b "[$&]"}', {"foo": "abc"}, "a[b]c")
c("replace-unknown-group-literal", '#{foo | Replace b "$9"}', {"foo": "abc"}, "a$9c")
c("replace-escaped-quote-options", '#{foo | Replace \\"a b\\" x}', {"foo": "a b c"}, "x c")
c("replace-brace-in-quoted-option", '#{foo | Replace "}" x}', {"foo": "a}b"}, "axb")  # B
c("replace-token-in-quotes-is-literal", '#{foo | Replace "#{bar}" x}', {"foo": "##{bar}!", "bar": "no"}, "x!")  # B
c("replace-invalid-regex", '#{foo | Replace "(" x}', {"foo": "abc"}, '#{foo | Replace "(" x}')
c("replace-too-many-options", "#{foo | Replace a b c}", {"foo": "abc"}, "#{foo | Replace a b c}")  # B
c("replace-backslash-digit-regex", '#{foo | Replace "\\d+" N}', {"foo": "a12b3"}, "aNbN")

# -- filters: encodings and escapes ----------------------------------------------------------
c("tobase64", "#{String | tobase64}", {"String": "Foo Bar"}, "Rm9vIEJhcg==")  # O
c("tobase64-utf8-option", "#{S | ToBase64 utf-8}", {"S": "é"}, "w6k=")
c("tobase64-unicode", "#{S | ToBase64 unicode}", {"S": "A"}, "QQA=")
c("tobase64-bad-encoding", "#{S | ToBase64 latin1}", {"S": "A"}, "#{S | ToBase64 latin1}")
c("tobase64-empty", "[#{S | ToBase64}]", {"S": ""}, "[]")
c("frombase64", "#{S | FromBase64}", {"S": "Rm9vIEJhcg=="}, "Foo Bar")
c("frombase64-unicode", "#{S | FromBase64 unicode}", {"S": "QQA="}, "A")
c("frombase64-invalid", "#{S | FromBase64}", {"S": "!!!"}, "#{S | FromBase64}")
c("base64-roundtrip-chained", "#{S | ToBase64 | FromBase64}", {"S": "päss wörd"}, "päss wörd")
c("htmlescape", "#{Foo | HtmlEscape}", {"Foo": "A&'bc"}, "A&amp;&apos;bc")  # O
c("htmlescape-tags-and-slash", "#{Foo | HtmlEscape}", {"Foo": '<a href="/x">'}, "&lt;a href=&quot;&#x2F;x&quot;&gt;")  # O
c("htmlescape-empty", "[#{Foo | HtmlEscape}]", {"Foo": ""}, "[]")  # O
c("htmlescape-with-option", "#{Foo | HtmlEscape x}", {"Foo": "a"}, "#{Foo | HtmlEscape x}")
c("htmlescape-missing", "#{Foo.Bar | HtmlEscape}", {}, "#{Foo.Bar | HtmlEscape}", missing=("Foo.Bar",))  # O
c("xmlescape", "#{Foo | XmlEscape}", {"Foo": "A&'bc"}, "A&amp;&apos;bc")  # O
c("xmlescape-keeps-slash", "#{Foo | XmlEscape}", {"Foo": '<x a="1"/>'}, "&lt;x a=&quot;1&quot;/&gt;")
c("jsonescape-quote", "#{Foo | JsonEscape}", {"Foo": 'Test"Test'}, 'Test\\"Test')  # O
c("jsonescape-cr", "#{Foo | JsonEscape}", {"Foo": "Test\rTest"}, "Test\\rTest")  # O
c("jsonescape-lf", "#{Foo | JsonEscape}", {"Foo": "Test\nTest"}, "Test\\nTest")  # O
c("jsonescape-tab", "#{Foo | JsonEscape}", {"Foo": "Test\tTest"}, "Test\\tTest")  # O
c("jsonescape-backslash", "#{Foo | JsonEscape}", {"Foo": "Test\\Test"}, "Test\\\\Test")  # O
c("uriescape", "#{Foo | UriEscape}", {"Foo": "A b:c+d/e"}, "A%20b:c+d/e")  # O
c("uriescape-unicode", "#{Foo | UriEscape}", {"Foo": "ü"}, "%C3%BC")
c("uridataescape", "#{Foo | UriDataEscape}", {"Foo": "A b:c+d/e"}, "A%20b%3Ac%2Bd%2Fe")  # O
c("uridataescape-unreserved-kept", "#{Foo | UriDataEscape}", {"Foo": "a-b_c.d~e"}, "a-b_c.d~e")
c("uridataescape-empty", "[#{Foo | UriDataEscape}]", {"Foo": ""}, "[]")  # O
c("yaml-single-quote", "#{Foo | YamlSingleQuoteEscape}", {"Foo": "single'quote"}, "single''quote")  # O
c("yaml-single-newlines", "#{Foo | YamlSingleQuoteEscape}", {"Foo": "a\n\tb"}, "a\n\n\tb")  # O
c("yaml-double-quote", "#{Foo | YamlDoubleQuoteEscape}", {"Foo": 'double"quote'}, 'double\\"quote')  # O
c("yaml-double-unicode", "#{Foo | YamlDoubleQuoteEscape}", {"Foo": "我叫章鱼"}, "\\u6211\\u53eb\\u7ae0\\u9c7c")  # O
c("properties-key", "#{Foo | PropertiesKeyEscape}", {"Foo": " a \n b "}, "\\ a\\ \\n\\ b\\ ")  # O
c("properties-key-colon", "#{Foo | PropertiesKeyEscape}", {"Foo": ":="}, "\\:\\=")  # O
c("properties-value", "#{Foo | PropertiesValueEscape}", {"Foo": " a \n b "}, "\\ a \\n b ")  # O
c("properties-value-latin1-kept", "#{Foo | PropertiesValueEscape}", {"Foo": "÷ü"}, "÷ü")  # O

# -- filters: Markdown (simple subset) -----------------------------------------------------
c("markdown-em", "#{Foo | Markdown}", {"Foo": "_yeah!_"}, "<p><em>yeah!</em></p>\n")  # O
c("markdown-to-html-alias", "#{Foo | MarkdownToHtml}", {"Foo": "*a*"}, "<p><em>a</em></p>\n")
c("markdown-link", "#{Foo | Markdown}", {"Foo": "[Some link](http://octopus.com)"},
  '<p><a href="http://octopus.com">Some link</a></p>\n')  # O
c("markdown-autolink", "#{Foo | Markdown}", {"Foo": "http://octopus.com"},
  '<p><a href="http://octopus.com">http://octopus.com</a></p>\n')  # O
c("markdown-strong", "#{Foo | Markdown}", {"Foo": "**b**"}, "<p><strong>b</strong></p>\n")
c("markdown-heading", "#{Foo | Markdown}", {"Foo": "# Title"}, "<h1>Title</h1>\n")
c("markdown-list", "#{Foo | Markdown}", {"Foo": "- a\n- b"}, "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n")
c("markdown-ordered-list", "#{Foo | Markdown}", {"Foo": "1. a\n2. b"}, "<ol>\n<li>a</li>\n<li>b</li>\n</ol>\n")
c("markdown-code-span", "#{Foo | Markdown}", {"Foo": "`x<y`"}, "<p><code>x&lt;y</code></p>\n")
c("markdown-escapes-html", "#{Foo | Markdown}", {"Foo": "<b>hi</b>"}, "<p>&lt;b&gt;hi&lt;/b&gt;</p>\n")
c("markdown-snake-case-untouched", "#{Foo | Markdown}", {"Foo": "snake_case_name"}, "<p>snake_case_name</p>\n")
c("markdown-two-paragraphs", "#{Foo | Markdown}", {"Foo": "a\n\nb"}, "<p>a</p>\n<p>b</p>\n")
c("markdown-fenced-code", "#{Foo | Markdown}", {"Foo": "```\nx < 1\n```"}, "<pre><code>x &lt; 1\n</code></pre>\n")

# -- filters: NowDate / NowDateUtc (.NET formats; NOW = 2030-05-22 09:05:07.123456 +02:00) ------
c("nowdate-default-roundtrip", "#{ | NowDate}", {}, "2030-05-22T09:05:07.1234560")
c("nowdate-year", "#{ | NowDate yyyy}", {}, "2030")  # O
c("nowdate-iso-like", '#{ | NowDate "yyyy-MM-dd HH:mm:ss"}', {}, "2030-05-22 09:05:07")
c("nowdate-slashes", "#{ | NowDate dd/MM/yyyy}", {}, "22/05/2030")
c("nowdate-month-abbrev", "#{ | NowDate MMM}", {}, "May")
c("nowdate-month-full", "#{ | NowDate MMMM}", {}, "May")
c("nowdate-day-names", '#{ | NowDate "ddd dddd"}', {}, "Wed Wednesday")
c("nowdate-12-hour", '#{ | NowDate "hh:mm tt"}', {}, "09:05 AM")
c("nowdate-short-forms", '#{ | NowDate "yy M d H m s"}', {}, "30 5 22 9 5 7")
c("nowdate-dots-quoted", '#{ | NowDate "yyyy.MM.dd"}', {}, "2030.05.22")
c("nowdate-literal-t", '#{ | NowDate "yyyy-MM-ddTHH:mm"}', {}, "2030-05-22T09:05")
c("nowdate-quoted-literal", "#{ | NowDate \"'Year' yyyy\"}", {}, "Year 2030")
c("nowdate-backslash-literal", '#{ | NowDate "\\h\\h HH"}', {}, "hh 09")
c("nowdate-offset-zzz", "#{ | NowDate zzz}", {}, "+02:00")
c("nowdate-offset-zz", "#{ | NowDate zz}", {}, "+02")
c("nowdate-fraction-f", "#{ | NowDate fff}", {}, "123")
c("nowdate-fraction-7", "#{ | NowDate fffffff}", {}, "1234560")
c("nowdate-fraction-F", '#{ | NowDate "ss.FFFFFF"}', {}, "07.123456")
c("nowdate-standard-s", "#{ | NowDate s}", {}, "2030-05-22T09:05:07")
c("nowdate-standard-d", "#{ | NowDate d}", {}, "05/22/2030")
c("nowdate-standard-D", "#{ | NowDate D}", {}, "Wednesday, 22 May 2030")
c("nowdate-standard-t", "#{ | NowDate t}", {}, "09:05")
c("nowdate-standard-T", "#{ | NowDate T}", {}, "09:05:07")
c("nowdate-chained", "#{ | NowDate MMM | ToUpper}", {}, "MAY")
c("nowdate-bad-standard-format", "#{ | NowDate x}", {}, "#{ | NowDate x}")
c("nowdate-two-options", "#{ | NowDate a b}", {}, "#{ | NowDate a b}")
c("nowdate-with-input-value", "#{Foo | NowDate}", {"Foo": "x"}, "#{Foo | NowDate}")
c("nowdate-without-reference-time", "#{ | NowDate}", {}, "#{ | NowDate}", no_clock=True)
c("nowdateutc-default", "#{ | NowDateUtc}", {}, "2030-05-22T07:05:07.1234560Z")
c("nowdateutc-time", "#{ | NowDateUtc HH:mm}", {}, "07:05")
c("nowdateutc-u", "#{ | NowDateUtc u}", {}, "2030-05-22 07:05:07Z")
c("nowdateutc-rfc1123", "#{ | NowDateUtc R}", {}, "Wed, 22 May 2030 07:05:07 GMT")
c("nowdateutc-kind", "#{ | NowDateUtc %K}", {}, "Z")
c("nowdate-kind-is-unspecified", "[#{ | NowDate %K}]", {}, "[]")
c("nowdate-single-K-is-not-a-standard-format", "#{ | NowDateUtc K}", {}, "#{ | NowDateUtc K}")
c("nowdate-percent-single-specifier", "#{ | NowDate %d}", {}, "22")
c("json-sibling-reference", "#{Test.Name}", {"Test": '{"Name": "#{Test.Value}", "Desc": "Monkey", "Value": 12}'},
  "12")  # O (with strict JSON)
c("nowdateutc-offset", "#{ | NowDateUtc zzz}", {}, "+00:00")
c("nowdate-format-from-variable", "#{ | NowDate #{Fmt}}", {"Fmt": "yyyyMMdd"}, "20300522")

# -- filters: chains and failures ---------------------------------------------------------------
c("chain-upper-truncate", "#{Name | ToUpper | Truncate 5}", {"Name": "octopus deploy"}, "OCTOP...")
c("chain-applied-in-order", "#{Foo|ToUpper|ToLower}", {"Foo": "Abc"}, "abc")  # O
c("chain-substring-trim", "#{foo | Substring 8 | Trim}", {"foo": OD}, "Octopus")  # O
c("chain-three", "#{foo | Trim | ToUpper | Replace O 0}", {"foo": " foo "}, "F00")
c("chain-middle-fails-leaves-token", "#{foo | Trim | Truncate x | ToUpper}", {"foo": "a"},
  "#{foo | Trim | Truncate x | ToUpper}")
c("unknown-filter", "#{Foo | ToBazooka}", {"Foo": "Abc"}, "#{Foo | ToBazooka}", missing=())  # O
c("unknown-filter-with-options", "#{Foo | ToBazooka 6}", {"Foo": "Abc"}, "#{Foo | ToBazooka 6}")  # O
c("unknown-variable-with-filter", "#{foo | ToUpper}", {}, "#{foo | ToUpper}", missing=("foo",))  # O
c("unknown-variable-unknown-filter", "#{foo | ToBazooka}", {}, "#{foo | ToBazooka}", missing=("foo",))
c("missing-variable-in-option", "#{Foo | Replace #{Missing} x}", {"Foo": "abc"}, "#{Foo | Replace #{Missing} x}",
  missing=("Missing",))
c("filter-without-value", "#{ | ToUpper}", {}, "#{ | ToUpper}", missing=())
c("filter-spacing-irrelevant", "#{Foo|Replace a   b}", {"Foo": "aa"}, "bb")

# -- filters: Append, Prepend, comparisons, hashes, Indent ---------------------------------------
c("append-without-value", "#{|Append foo}", {}, "foo")  # O
c("append-needs-option", "#{Foo | Append}", {"Foo": "bar"}, "#{Foo | Append}")  # O
c("append-empty-head-needs-option", "#{ | Append}", {}, "#{ | Append}")  # O
c("append-options-joined", '#{Foo | Append value1 " " value2}', {"Foo": "bar"}, "barvalue1 value2")  # O
c("append-nested-option", '#{Foo | Append " " #{Foo} " " value}', {"Foo": "bar"}, "bar bar value")  # O
c("append-undefined-named-head-is-missing", "#{Nope | Append x}", {}, "#{Nope | Append x}", missing=("Nope",))  # B
c("format-currency-invariant", "#{A | Format C}", {"A": "1234.5"}, "¤1,234.50")  # B (invariant culture)
c("format-fixed", "#{A | Format F3}", {"A": "2.5"}, "2.500")
c("format-fixed-rounds-half-away", "#{A | Format F0}", {"A": "2.5"}, "3")
c("format-number-grouping", "#{A | Format N1}", {"A": "-1234567.25"}, "-1,234,567.3")
c("format-percent", "#{A | Format P0}", {"A": "0.256"}, "26 %")
c("format-custom-zero-pad", '#{A | Format "0000.00"}', {"A": "3.14159"}, "0003.14")
c("format-custom-optional-digits", '#{A | Format "#,##0.##"}', {"A": "1234.5"}, "1,234.5")
c("format-custom-sections", '#{A | Format "0;(0);zero"}', {"A": "-7"}, "(7)")
c("format-custom-sections-zero", '#{A | Format "0;(0);zero"}', {"A": "0"}, "zero")
c("format-int-hex", "#{A | Format Int32 X4}", {"A": "255"}, "00FF")
c("format-int-decimal-pad", "#{A | Format Int D5}", {"A": "-42"}, "-00042")
c("format-int-rejects-fraction", "#{A | Format Int32 D}", {"A": "1.5"}, "#{A | Format Int32 D}")
c("format-decimal-rejects-hex", "#{A | Format Decimal X}", {"A": "1.5"}, "#{A | Format Decimal X}")
c("format-double-exponent", "#{A | Format Double E2}", {"A": "12345"}, "1.23E+004")
c("format-double-general", "#{A | Format Double G}", {"A": "0.1"}, "0.1")
c("format-date-iso", '#{D | Format "yyyy-MM-ddTHH:mm"}', {"D": "2031-02-14T18:40:00Z"}, "2031-02-14T18:40")
c("format-date-us-invariant", "#{D | Format DateTime yyyy-MM-dd}", {"D": "02/14/2031 6:40 PM"}, "2031-02-14")
c("format-datetimeoffset-keeps-offset", "#{D | Format DateTimeOffset o}", {"D": "2031-02-14T18:40:00-05:00"},
  "2031-02-14T18:40:00.0000000-05:00")
c("format-datetime-converts-to-local", '#{D | Format DateTime "HH:mm zzz"}', {"D": "2031-02-14T18:40:00Z"},
  "20:40 +02:00")  # B: "local" is the reference time's offset
c("format-unknown-type", "#{A | Format Money C}", {"A": "1"}, "#{A | Format Money C}")
c("format-not-a-date-or-number", "#{A | Format yyyy}", {"A": "soon"}, "#{A | Format yyyy}")
c("format-invalid-date-pattern", "#{D | Format Date %}", {"D": "2031-02-14"}, "#{D | Format Date %}")
c("addhours-utc-keeps-z", "#{D | AddHours 1}", {"D": "2031-02-14T23:30:00Z"}, "2031-02-15T00:30:00.0000000Z")
c("adddays-negative-fraction", '#{D | AddDays "-0.5"}', {"D": "2031-02-14 12:00"}, "2031-02-14T00:00:00.0000000")
c("addhours-invalid-date", "#{D | AddHours 1}", {"D": "2031-02-30"}, "#{D | AddHours 1}")
c("uripart-port-non-default", "#{U | UriPart Authority}|#{U | UriPart Port}|#{U | UriPart IsDefaultPort}",
  {"U": "http://Build.Example:8080/x"}, "build.example:8080|8080|false")
c("uripart-ipv4-loopback", "#{U | UriPart HostNameType}|#{U | UriPart IsLoopback}", {"U": "http://127.0.0.1/"},
  "IPv4|true")
c("uripart-ipv6", "#{U | UriPart Host}|#{U | UriPart DnsSafeHost}|#{U | UriPart HostNameType}",
  {"U": "https://[::1]:8443/"}, "[::1]|::1|IPv6")
c("uripart-path-unescaped", "#{U | UriPart Path}|#{U | UriPart AbsolutePath}", {"U": "https://h/a%20b"},
  "/a b|/a%20b")
c("uripart-relative-is-not-absolute", "#{U | UriPart IsAbsoluteUri}", {"U": "docs/page"}, "false")
c("uripart-not-a-uri-returned", "#{U | UriPart Host}", {"U": "http://bad port:x/"}, "http://bad port:x/")
c("uripart-needs-value", "#{Nope | UriPart Host}", {}, "#{Nope | UriPart Host}", missing=("Nope",))
c("version-whitespace-tolerated", "#{V | VersionMinor}", {"V": " 1. 2 .3"}, "2")
c("version-metadata-only", "#{V | VersionMetadata}|#{V | VersionPreRelease}", {"V": "1.0+build.5"}, "build.5|")
c("version-invalid", "#{V | VersionMajor}", {"V": "1.2.3%beta"}, "#{V | VersionMajor}")
c("version-space-before-prerelease", "#{V | VersionPreRelease}", {"V": "1.2.3 beta"}, "beta")
c("version-empty", "[#{V | VersionMajor}]", {"V": ""}, "[#{V | VersionMajor}]")
c("calc-division-by-zero-left-in-place", "#{calc 1/Zero}", {"Zero": "0"}, "#{calc 1/Zero}")
c("calc-not-a-number-left-in-place", "#{calc N+1}", {"N": "ten"}, "#{calc N+1}")
c("calc-value-is-template", "#{calc N*2}", {"N": "#{M}", "M": "21"}, "42")
c("calc-spaces", "#{calc  ( 1 + 2 ) * X }", {"X": "3"}, "9")
c("calc-negative-zero", "#{calc 0*-1}", {}, "#{calc 0*-1}")
c("calc-large-integral", "#{calc 1000000*1000000*1000}", {}, "1E+15")
c("calc-large-fraction", "#{calc 1234567890123456.5*10}", {}, "1.2345678901234564E+16")
c("calc-small", "#{calc 1/100000}", {}, "1E-05")
c("calc-keyword-case", "#{CALC 2*2}", {}, "4")
err("calc-unclosed", "#{calc (1+2}", {}, SYNTAX)
c("prepend", "#{Foo | Prepend x y}", {"Foo": "bar"}, "xybar")  # O
c("prepend-needs-option", "#{ | Prepend}", {}, "#{ | Prepend}")  # O
c("startswith-true", "#{Foo | StartsWith abc}", {"Foo": "abc def"}, "true")  # O
c("startswith-false", "#{Foo | StartsWith bc}", {"Foo": "abc def"}, "false")  # O
c("startswith-case-sensitive", "#{Foo | StartsWith ABC}", {"Foo": "abc def"}, "false")  # O
c("startswith-needs-one-option", "#{Foo | StartsWith a b}", {"Foo": "abc"}, "#{Foo | StartsWith a b}")  # O
c("endswith", '#{Foo | EndsWith "c def"}', {"Foo": "abc def"}, "true")  # O
c("contains-true", "#{Foo | Contains de}", {"Foo": "abc def"}, "true")  # O
c("contains-false", "#{Foo | Contains ed}", {"Foo": "abc def"}, "false")  # O
c("match-regex", '#{Foo | Match "[0-9]+"}', {"Foo": "abc def1"}, "true")  # O
c("match-escaped", '#{Foo | Match "c\\(d"}', {"Foo": "abc(def"}, "true")  # O
c("match-none", "#{Foo | Match cba}", {"Foo": "abc def"}, "false")  # O
c("match-variable-option", "#{Foo | Match #{regex}}", {"Foo": "abc def", "regex": "def"}, "true")  # O
c("md5-empty", "#{Foo | Md5}", {"Foo": ""}, "d41d8cd98f00b204e9800998ecf8427e")  # O
c("sha1", "#{Foo | Sha1}", {"Foo": "The quick brown fox jumps over the lazy dog"},
  "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12")  # O
c("sha256-size", "#{Foo | Sha256 4}", {"Foo": ""}, "e3b0c442")  # O
c("sha256-unicode", "#{Foo | Sha256 unicode}", {"Foo": "The quick brown fox jumps over the lazy dog"},
  "3b5b0eac46c8f0c16fa1b9c187abc8379cc936f6508892969d49234c6c540e58")  # O
c("sha1-size-then-encoding", "#{Foo | Sha1 2 utf8}", {"Foo": "The quick brown fox jumps over the lazy cog"}, "de9f")  # O
c("sha512-size", "#{Foo | Sha512 4}", {"Foo": ""}, "cf83e135")  # O
c("sha384-empty", "#{Foo | Sha384}", {"Foo": ""},
  "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b")  # O
c("md5-base64-input", "#{Foo | Md5 base64}", {"Foo": "VGhlIHF1aWNrIGJyb3duIGZveCBqdW1wcyBvdmVyIHRoZSBsYXp5IGRvZw=="},
  "9e107d9d372bb6826bd81d3542a419d6")  # O
c("md5-zero-size", "#{Foo | Md5 0}", {"Foo": "bar"}, "#{Foo | Md5 0}")  # O
c("md5-bad-option", "#{Foo | Md5 bar}", {"Foo": "bar"}, "#{Foo | Md5 bar}")  # O
c("md5-base64-invalid-input", "#{Foo | Md5 base64}", {"Foo": "bar"}, "#{Foo | Md5 base64}")  # O
c("indent-default", "#{foo | Indent}", {"foo": "a\nb"}, "    a\n    b")  # O
c("indent-subsequent-only", "#{foo | Indent /3}", {"foo": "a\nb"}, "a\n   b")  # O
c("indent-two-sizes", "#{foo | Indent 3/2}", {"foo": "a\nb"}, "   a\n  b")  # O
c("indent-custom-text", "#{foo | Indent //}", {"foo": "a\nb"}, "//a\n//b")  # O
c("indent-two-texts", '#{foo | Indent "/* " " * "}', {"foo": "a\nb"}, "/* a\n * b")  # O
c("indent-too-large-is-text", "#{foo | Indent 256}", {"foo": "a\nb"}, "256a\n256b")  # O
c("indent-empty-value", "[#{foo | Indent}]", {"foo": ""}, "[]")  # O
c("indent-too-many-options", "#{foo | Indent abc 123 def}", {"foo": "foo"}, "#{foo | Indent abc 123 def}")  # O

# -- conditionals and truthiness --------------------------------------------------------------
IF = "#{if X}T#{else}F#{/if}"
for label, value in [("true", "true"), ("True", "True"), ("one", "1"), ("yes", "yes"), ("word", "anything"),
                     ("space", " "), ("double-zero", "00"), ("zero-point-zero", "0.0"), ("minus-zero", "-0"),
                     ("falsey-word-inside", "not false")]:
    c(f"truthy-{label}", IF, {"X": value}, "T")
for label, value in [("empty", ""), ("false", "false"), ("False", "False"), ("FALSE", "FALSE"), ("No", "No"),
                     ("no", "no"), ("NO", "NO"), ("zero", "0"), ("padded-false", " false "), ("padded-no", "\tno\n")]:
    c(f"falsy-{label}", IF, {"X": value}, "F")
c("falsy-undefined", IF, {}, "F", missing=())
c("falsy-undefined-strict-is-not-an-error", IF, {}, "F", strict=True)
c("truthy-via-recursion", IF, {"X": "#{Y}", "Y": "True"}, "T")
c("falsy-via-recursion", IF, {"X": "#{Y}", "Y": "No"}, "F")
c("if-without-else-true", "#{if Truthy}#{Result}#{/if}", {"Result": "result", "Truthy": "true"}, "result")  # O
c("if-without-else-false", "[#{if Truthy}#{Result}#{/if}]", {"Result": "result", "Truthy": "false"}, "[]")
c("unless-false", "#{unless Truthy}#{Result}#{/unless}", {"Result": "result", "Truthy": "false"}, "result")  # O
c("unless-true", "[#{unless Truthy}x#{/unless}]", {"Truthy": "true"}, "[]")
c("unless-else", "#{unless A}u#{else}e#{/unless}", {"A": "1"}, "e")
c("unless-undefined", "#{unless A}u#{/unless}", {}, "u")
c("eq-literal-true", '#{if Octopus == "octopus"}#{Result}#{/if}', {"Result": "result", "Octopus": "octopus"}, "result")  # O
c("eq-literal-case-sensitive", '#{if A == "octopus"}y#{else}n#{/if}', {"A": "Octopus"}, "n")
c("eq-literal-spaces", '#{if A == "a b"}y#{else}n#{/if}', {"A": "a b"}, "y")
c("eq-literal-empty-undefined", '#{if A == ""}y#{else}n#{/if}', {}, "y")
c("eq-no-spaces", '#{if Fooey=="foo"}y#{/if}', {"Fooey": "foo"}, "y")  # O
c("neq-literal-undefined", '#{if Octopus != "software"}#{Result}#{/if}', {"Result": "result"}, "result")  # O
c("neq-literal-equal", '[#{if A != "x"}y#{/if}]', {"A": "x"}, "[]")
c("eq-variable", "#{if Octopus == Compare}#{Result}#{/if}", {"Result": "result", "Octopus": "octopus",
                                                              "Compare": "octopus"}, "result")  # O
c("eq-variable-different", "#{if A == B}y#{else}n#{/if}", {"A": "1", "B": "2"}, "n")
c("neq-variable", "#{if A != B}y#{else}n#{/if}", {"A": "1", "B": "2"}, "y")
c("eq-both-undefined", "#{if A == B}y#{else}n#{/if}", {}, "y")
c("eq-recursive-values", "#{if A == B}y#{else}n#{/if}", {"A": "#{C}", "B": "c", "C": "c"}, "y")
c("eq-escaped-quotes", '{"Bar":"#{if Foo == \\"test text\\"}Blaa#{/if}"}', {"Foo": "test text"}, '{"Bar":"Blaa"}')  # O
c("eq-padded", '#{if Truthy  == "true"}#{Result}#{/if}', {"Result": "result", "Truthy": "true"}, "result")  # O
c("neq-padded", '#{if Truthy  != "false"}#{Result}#{/if}', {"Result": "result", "Truthy": "true"}, "result")  # O
c("if-leading-space", "#{ if Truthy}#{Result}#{/if}", {"Result": "result", "Truthy": "true"}, "result")  # O
c("if-many-spaces", "#{  if  Truthy  }#{Result}#{/if}", {"Result": "result", "Truthy": "true"}, "result")  # O
c("if-name-with-spaces", '#{if My Flag == "on"}y#{/if}', {"My Flag": "on"}, "y")
c("if-dotted-indexed", "#{if Octopus.Step[S].Status}y#{/if}", {"Octopus.Step[S].Status": "Running"}, "y")
c("else-true", "#{if Truthy}#{Result}#{else}#{ElseResult}#{/if}", {"Result": "r", "ElseResult": "e", "Truthy": "true"}, "r")  # O
c("else-false", "#{if Truthy}#{Result}#{else}#{ElseResult}#{/if}", {"Result": "r", "ElseResult": "e", "Truthy": "false"}, "e")  # O
c("nested-if", '#{if Truthy}#{if Fooey=="foo"}#{Result}#{/if}#{/if}', {"Result": "result", "Truthy": "true",
                                                                      "Fooey": "foo"}, "result")  # O
c("if-in-else", '#{if Truthy}#{Result}#{else}#{if Fooey=="foo"}#{ElseResult}#{/if}#{/if}',
  {"Result": "r", "ElseResult": "e", "Fooey": "foo", "Truthy": "false"}, "e")  # O
c("if-around-each", "#{if A}#{each x in L}#{x}#{/each}#{/if}", {"A": "1", "L": "a,b"}, "ab")
c("if-missing-in-taken-branch", "#{if A}#{Nope}#{/if}", {"A": "1"}, "#{Nope}", missing=("Nope",))
c("if-missing-in-skipped-branch", "#{if A}#{Nope}#{/if}", {"A": "0"}, "", missing=())
c("if-on-json-member", "#{if Cfg.on}y#{else}n#{/if}", {"Cfg": '{"on": true}'}, "y")
c("if-on-json-false", "#{if Cfg.on}y#{else}n#{/if}", {"Cfg": '{"on": false}'}, "n")
c("if-block-spanning-lines", "#{if A}\nline\n#{/if}\n", {"A": "y"}, "\nline\n\n")
c("if-missing-index-inner-is-reported", "#{if P[#{U}]}y#{else}n#{/if}", {}, "n", missing=("U",))
c("if-variable-named-if", "#{if}", {"if": "v"}, "v")

# -- each --------------------------------------------------------------------------------------
c("each-csv", "#{each a in L}<#{a}>#{/each}", {"L": "A,B,C"}, "<A><B><C>")
c("each-csv-spaces-kept", "#{each a in L}[#{a}]#{/each}", {"L": "a, b"}, "[a][ b]")  # O
c("each-single", "#{each a in L}[#{a}]#{/each}", {"L": "one"}, "[one]")
c("each-undefined", "Ok#{each nothing in missing}#{nothing}#{/each}", {}, "Ok", missing=())  # O
c("each-undefined-strict-ok", "Ok#{each nothing in missing}#{nothing}#{/each}", {}, "Ok", strict=True)
c("each-empty-value", "[#{each a in L}x#{/each}]", {"L": ""}, "[]")  # B
c("each-specials", "#{each a in Numbers}#{a} First:#{Octopus.Template.Each.First} Last:#{Octopus.Template.Each.Last} "
  "Index:#{Octopus.Template.Each.Index}, #{/each}", {"Numbers": "A,B,C"},
  "A First:True Last:False Index:0, B First:False Last:False Index:1, C First:False Last:True Index:2, ")  # O
c("each-separator-with-last", '#{each n in L}#{n}#{unless Octopus.Template.Each.Last}, #{/unless}#{/each}',
  {"L": "a,b,c"}, "a, b, c")
c("each-specials-outside-are-missing", "#{Octopus.Template.Each.Index}", {}, "#{Octopus.Template.Each.Index}",
  missing=("Octopus.Template.Each.Index",))
c("each-indexed", "#{each a in Octopus.Action}#{a}-#{a.Name}#{/each}",
  {"Octopus.Action[Package A].Name": "A", "Octopus.Action[Package B].Name": "B", "Octopus.Action[].Name": "Blank"},
  "Package A-APackage B-B-Blank")  # O
c("each-indexed-items", "#{each e in Items}#{e.Name};#{/each}", {"Items[a].Name": "x", "Items[b].Name": "y"}, "x;y;")
c("each-indexed-key-item", "#{each e in Items}#{e}|#{/each}", {"Items[a].Name": "x", "Items[b].Name": "y"}, "a|b|")  # O
c("each-indexed-definition-order", "#{each e in Items}#{e}#{/each}", {"Items[z].N": "1", "Items[a].N": "2",
                                                                      "Items[z].M": "3"}, "za")
c("each-direct-values", "#{each x in Simple}[#{x}]#{/each}", {"Simple[a]": "5", "Simple[b]": "7"}, "[5][7]")  # O
c("each-key-direct", "#{each x in Simple}[#{x.Key}]#{/each}", {"Simple[a]": "5", "Simple[b]": "7"}, "[a][b]")  # O
c("each-key-subprops", "#{each x in NoDirect}[#{x.Key}]#{/each}", {"NoDirect[a].Name": "Alpha",
                                                                    "NoDirect[b].Name": "Beta"}, "[a][b]")  # O
c("each-cert-shape", "#{each x in Cert}[#{x.Key}=#{x.Thumbprint}]#{/each}",
  {"Cert[a]": "Certificate-1", "Cert[a].Thumbprint": "AAA", "Cert[b]": "Certificate-2", "Cert[b].Thumbprint": "BBB"},
  "[a=AAA][b=BBB]")  # O
c("each-cert-bare", "#{each x in Cert}[#{x}]#{/each}", {"Cert[a]": "Certificate-1", "Cert[a].Thumbprint": "AAA"},
  "[Certificate-1]")  # O
c("each-user-key-wins", "#{each x in Coll}[#{x.Key}]#{/each} #{Coll[a].Key}", {"Coll[a]": "val-a",
                                                                               "Coll[a].Key": "user-supplied"},
  "[user-supplied] user-supplied")  # O
c("each-missing-property", "#{each a in Action}#{a.Size}#{/each}", {"Action[x].Name": "Baz", "Action[y].Name": "Baz"},
  "#{a.Size}#{a.Size}", missing=("a.Size",))  # O
c("each-nested", "#{each a in Octopus.Action}#{each tr in a.TargetRoles}#{a.Name}#{tr}#{/each}#{/each}",
  {"Octopus.Action[Package A].Name": "A", "Octopus.Action[Package A].TargetRoles": "a,b",
   "Octopus.Action[Package B].Name": "B", "Octopus.Action[Package B].TargetRoles": "c",
   "Octopus.Action[].Name": "Z", "Octopus.Action[].TargetRoles": "y"}, "AaAbBcZy")  # O
c("each-nested-index", "#{each a in Octopus.Action.Package}#{a}: #{a.Name} #{/each}",
  {"Octopus.Action.Package[container[0]].Name": "A", "Octopus.Action.Package[container[1]].Name": "B",
   "Octopus.Action.Package[container[2]].Name": "C"}, "container[0]: A container[1]: B container[2]: C ")  # O
c("each-recursive-values", "#{each a in Octopus.Action}#{a.Name}#{/each}",
  {"PackageA_Name": "A", "PackageB_Name": "B", "Octopus.Action[Package A].Name": "#{PackageA_Name}",
   "Octopus.Action[Package B].Name": "#{PackageB_Name}"}, "AB")  # O
c("each-inner-specials-shadow", "#{each a in L}#{each b in M}#{Octopus.Template.Each.Index}#{/each};#{/each}",
  {"L": "x,y", "M": "p,q,r"}, "012;012;")
c("each-global-inside", "#{each a in L}#{a}=#{G} #{/each}", {"L": "1,2", "G": "g"}, "1=g 2=g ")
c("each-item-shadows-global", "#{each Name in L}#{Name}#{/each}|#{Name}", {"L": "a,b", "Name": "global"}, "ab|global")
c("each-fallback-to-global-path", "#{each a in L}#{a.Thing}#{/each}", {"L": "1", "a.Thing": "global"}, "global")
c("each-whitespace-variants", "#{ each  a  in  L }#{ a }#{/each}", {"L": "1,2"}, "12")  # O
c("each-value-sees-item", "#{each i in L}#{V}#{/each}", {"L": "a,b", "V": "<#{i}>"}, "<a><b>")
c("each-over-csv-of-item", "#{each a in Items}#{each r in a.Roles}#{r}#{/each}#{/each}",
  {"Items[x].Roles": "1,2", "Items[y].Roles": "3"}, "123")
c("each-json-array", "#{each number in Test}#{number}#{if Octopus.Template.Each.Last == \"False\"}-#{/if}#{/each}",
  {"Test": "[2,3,5,8]"}, "2-3-5-8")  # O
c("each-json-array-objects", "#{each s in Servers}#{s.Name}@#{s.Port} #{/each}",
  {"Servers": '[{"Name": "web01", "Port": 80}, {"Name": "web02", "Port": 8080}]'}, "web01@80 web02@8080 ")
c("each-json-object", "#{each size in Octopus.Sizes}#{size}:#{size.Value},#{/each}",
  {"Octopus.Sizes": '{"Small": "11.5",  "Large": 15.21}'}, "Small:11.5,Large:15.21,")  # O
c("each-json-object-inner", "#{each size in Octopus.Sizes}#{size.Key} - #{size.Value.Error}#{/each}",
  {"Octopus.Sizes": '{"X-Large": {"Error": "Not Stocked"}}'}, "X-Large - Not Stocked")  # O
c("each-json-key-value", "#{each x in Json}[#{x.Key}=#{x.Value}]#{/each}", {"Json": '{"a": "AAA", "b": "BBB"}'},
  "[a=AAA][b=BBB]")  # O
c("each-json-null", "Before:#{each number in Test.Blah}#{number}#{/each}:After", {"Test": '{"Blah": null}'},
  "Before::After")  # O
c("each-json-inner-array", "#{each i in Cfg.Items}#{i}#{/each}", {"Cfg": '{"Items": ["a", "b"]}'}, "ab")
c("each-json-nested-each", "#{each s in Servers}#{each r in s.Roles}#{s.Name}:#{r} #{/each}#{/each}",
  {"Servers": '[{"Name": "a", "Roles": ["web", "db"]}, {"Name": "b", "Roles": ["web"]}]'}, "a:web a:db b:web ")
c("each-json-missing-member", "#{each s in Servers}[#{s.Nope}]#{/each}", {"Servers": '[{"Name": "a"}]'}, "[]",
  missing=(), absent=("s.Nope",))
c("each-json-scalar-element-path", "#{each s in L}[#{s.x}]#{/each}", {"L": "[1]"}, "[#{s.x}]", missing=("s.x",))  # B
c("each-from-templated-value", "#{each a in L}#{a}#{/each}", {"L": "#{A},#{B}", "A": "1", "B": "2"}, "12")
c("each-first-last-single", "#{each a in L}#{Octopus.Template.Each.First}#{Octopus.Template.Each.Last}#{/each}",
  {"L": "x"}, "TrueTrue")
c("each-collection-from-index", "#{each a in Lists[#{Which}]}#{a}#{/each}", {"Which": "b", "Lists[b]": "1,2"}, "12")

# -- escapes -------------------------------------------------------------------------------------
c("escape-double-hash", "##{foo}", {"foo": "Abc"}, "#{foo}")  # O
c("escape-triple-hash", "###{foo}", {"foo": "Abc"}, "#Abc")  # O
c("escape-four-hashes", "####{foo}", {"foo": "Abc"}, "###{foo}")
c("escape-five-hashes", "#####{foo}", {"foo": "Abc"}, "###Abc")
c("hashes-alone", "# ## ###", {}, "# ## ###")  # O
c("hashes-even-block", "###### hello", {}, "###### hello")  # O
c("hashes-odd-block", "####### world", {}, "####### world")  # O
c("hash-at-end", "a#", {}, "a#")
c("hash-alone", "#", {}, "#")
c("hash-after-token", "#{A}#", {"A": "x"}, "x#")
c("escape-unterminated-is-fine", "x ##{ y", {}, "x #{ y")
c("escape-unterminated-strict-is-fine", "x ##{ y", {}, "x #{ y", strict=True)
c("escape-block-keyword", "##{if X}", {}, "#{if X}")
c("escape-next-to-token", "##{A}#{A}", {"A": "x"}, "#{A}x")
c("escape-in-strict-mode", "##{Unknown}", {}, "#{Unknown}", strict=True)
c("hash-before-brace-in-value", "#{A}", {"A": "x #{"}, "x #{")

# -- JSON values ------------------------------------------------------------------------------------
J = '{"Hello": "World", "Items": [{"Name": "Toast"}, {"Name": "Bread"}], "Foo": {"Bar": "11"}, "N": 15.21, ' \
    '"I": 12, "T": true, "F": false, "Z": null, "E": ""}'
c("json-index", "#{Test[Hello]}", {"Test": J}, "World")  # O
c("json-dot", "#{Test.Hello}", {"Test": J}, "World")  # O
c("json-deep", "#{Test[Hello][World][Foo][Bar]}", {"Test": '{"Hello": {"World": {"Foo": {"Bar": 12 }}}}'}, "12")  # O
c("json-array-1", "#{Test.Items[1].Name}", {"Test": J}, "Bread")  # O
c("json-array-0", "#{Test.Items[0].Name}", {"Test": J}, "Toast")  # O
c("json-raw-object", "#{Test.Foo}", {"Test": J}, '{"Bar":"11"}')  # O
c("json-raw-array", "#{Test.Items}", {"Test": J}, '[{"Name":"Toast"},{"Name":"Bread"}]')
c("json-number-as-written", "#{Test.N}/#{Test.I}", {"Test": J}, "15.21/12")
c("json-booleans", "#{Test.T}/#{Test.F}", {"Test": J}, "True/False")
c("json-null-empty", "Alpha#{Test.Z}bet", {"Test": J}, "Alphabet", missing=())  # O
c("json-empty-string", "[#{Test.E}]", {"Test": J}, "[]")
c("json-missing-member-empty", "Alpha#{Test.NotBar}bet", {"Test": J}, "Alphabet", missing=(), absent=("Test.NotBar",))  # O
c("json-out-of-bounds-empty", "Alpha#{Test[4]}bet", {"Test": "[2,3,5,8]"}, "Alphabet", missing=(), absent=("Test[4]",))  # O
c("json-missing-member-strict", "[#{Test.NotBar}]", {"Test": J}, "[]", strict=True, absent=("Test.NotBar",))  # B
c("json-top-level-array", "#{Servers[0].Name}", {"Servers": '[{"Name": "web01"}]'}, "web01")
c("json-config-port", "#{Config.Db.Port}", {"Config": '{"Db": {"Port": 5432}}'}, "5432")
c("json-case-insensitive-member", "#{Config.db.port}", {"Config": '{"Db": {"Port": 5432}}'}, "5432")  # B
c("json-explicit-wins", "#{Test.Hello}|#{Test[Foo]}|#{Test.Donkey.Kong}",
  {"Test.Hello": "Go Away", "Test": '{"Hello": "World", "Foo": "Bar", "Donkey" : {"Kong": 12}}', "Test[Foo]": "Nope",
   "Test.Donkey.Kong": "MARIO"}, "Go Away|Nope|MARIO")  # O
c("json-template-in-string", "#{Cfg.Url}", {"Cfg": '{"Url": "http://#{Host}/"}', "Host": "h1"}, "http://h1/")
c("json-built-by-template", "#{Test[Foo]}|#{Test.Foo}|#{Test[#{Prop}]}",
  {"Prop": "Foo", "Val": "Bar", "Test": '{"#{Prop}": "#{Val}"}'}, "Bar|Bar|Bar")  # O
c("json-invalid-left-in-place", "#{Test.Name}", {"Test": "{Name: NoComma}"}, "#{Test.Name}", missing=("Test.Name",))  # O
c("json-lax-unquoted-keys", "#{Test.Name}", {"Test": "{Name: \"x\"}"}, "x")  # O (Json.NET reads it)
c("json-lax-single-quotes-comments-trailing-comma", "#{T.a}|#{T.b[1]}",
  {"T": "{ 'a': 'one', // first\n b: [1, 2,], /* end */ }"}, "one|2")
c("json-lax-unquoted-value-is-not-json", "#{T.a}", {"T": "{a: one}"}, "#{T.a}", missing=("T.a",))
c("json-lax-nan-is-not-json", "#{T.a}", {"T": "{a: NaN}"}, "#{T.a}", missing=("T.a",))
c("json-with-filter", "#{Cfg.Name | ToUpper}", {"Cfg": '{"Name": "abc"}'}, "ABC")
c("json-null-with-filter", "Alpha#{Foo.Bar | ToUpper}bet", {"Foo": '{"Bar": null}'}, "Alphabet")  # O
c("json-array-of-arrays", "#{M[1][0]}", {"M": "[[1,2],[3,4]]"}, "3")
c("json-non-integer-array-index", "[#{M[x]}]", {"M": "[1]"}, "[#{M[x]}]", missing=("M[x]",))  # O
c("json-into-scalar", "[#{Cfg.a.b}]", {"Cfg": '{"a": 5}'}, "[#{Cfg.a.b}]", missing=("Cfg.a.b",))  # B
c("json-past-missing-member", "[#{Cfg.x.y}]", {"Cfg": '{"a": 5}'}, "[#{Cfg.x.y}]", missing=("Cfg.x.y",))  # O
c("json-past-null-member", "[#{Cfg.a.y}]", {"Cfg": '{"a": null}'}, "[#{Cfg.a.y}]", missing=("Cfg.a.y",))  # O
c("json-past-end-of-array", "[#{Cfg[3].y}]", {"Cfg": "[1]"}, "[#{Cfg[3].y}]", missing=("Cfg[3].y",))  # O
c("json-into-plain-string", "[#{Cfg.a.y}]", {"Cfg": '{"a": "text"}'}, "[#{Cfg.a.y}]", missing=("Cfg.a.y",))  # O
c("json-into-boolean", "[#{Cfg.a.y}]", {"Cfg": '{"a": true}'}, "[#{Cfg.a.y}]", missing=("Cfg.a.y",))  # O
c("json-string-holding-json-is-read", "#{Cfg.inner.a}|#{Cfg.inner.b}", {"Cfg": '{"inner": "{\\"a\\": 1}"}'}, "1|",
  absent=("Cfg.inner.b",))  # O
c("json-member-naming-a-json-variable", "#{Cfg.db.port}", {"Cfg": '{"db": "#{Db}"}', "Db": '{"port": 5}'}, "5")  # B
c("json-member-naming-a-missing-variable", "#{Cfg.db.port}", {"Cfg": '{"db": "#{Db}"}'}, "#{Cfg.db.port}",
  missing=("Db", "Cfg.db.port"))  # O
c("json-member-into-itself-deeper", "#{Cfg.a.x}", {"Cfg": '{"a": "#{Cfg.a.x}"}'}, "#{Cfg.a.x}", missing=("Cfg.a.x",))  # O
c("each-json-string-element-holding-json", "#{each e in L}#{e.a};#{/each}", {"L": '["{\\"a\\": 1}", {"a": 2}]'},
  "1;2;")  # O
c("json-whole-value", "#{Cfg}", {"Cfg": '{"a": 1}'}, '{"a": 1}')
c("json-unicode-kept", "#{Cfg.a}", {"Cfg": '{"a": "\\u00e9t\\u00e9"}'}, "été")
c("json-nested-variable-root", "#{Cfg.Db.Port}", {"Cfg": '{"Db": #{Db}}', "Db": '{"Port": 1}'}, "1")
c("json-if-comparison", '#{if Cfg.Env == "prod"}P#{/if}', {"Cfg": '{"Env": "prod"}'}, "P")

# -- malformed templates: strict -> template_syntax; allow-missing -> left as text ----------------------
MALFORMED = [
    ("unterminated", "#{Foo", {"Foo": "Bar"}),  # O
    ("unterminated-at-end", "x #{", {}),
    ("unclosed-if", "#{if X}a", {"X": "1"}),
    ("unclosed-each", "#{each a in Action}", {"Action[a]": "One"}),  # O
    ("unclosed-unless", "#{unless X}a", {}),
    ("mismatched-closer", "#{if X}a#{/each}", {"X": "1"}),
    ("stray-closer", "a#{/if}b", {}),
    ("stray-else", "a#{else}b", {}),
    ("double-else", "#{if X}a#{else}b#{else}c#{/if}", {"X": "1"}),
    ("empty-braces", "#{}", {"Foo": "Value"}),  # O
    ("blank-braces", "#{ }", {"Foo": "Value"}),  # O
    ("bracket-unclosed", "#{Fo[o}", {"Foo": "Bar", "Fo[o]": "Bar"}),  # O
    ("missing-filter-name", "#{Foo | }", {"Foo": "x"}),
    ("unterminated-quote", '#{Foo | Replace "abc}', {"Foo": "x"}),
    ("trailing-dot", "#{Foo.}", {"Foo": "x"}),
    ("leading-dot", "#{.Foo}", {"Foo": "x"}),
    ("each-without-in", "#{each a}x#{/each}", {}),
    ("if-without-name", "#{if }x#{/if}", {}),
    ("bad-name-char", "#{a$b}", {"a$b": "x"}),
    ("unknown-closer", "#{/for}", {}),
]
for label, template, variables in MALFORMED:
    c(f"malformed-{label}-kept", template, variables, template)
    err(f"malformed-{label}-strict", template, variables, SYNTAX)
c("malformed-rest-still-substituted", "#{Foo b #{X} #{/if}", {"X": "1"}, "#{Foo b 1 #{/if}")
c("malformed-javascript", 'a=function(e){return"#{"===e.substr(0,2)?void 0:e},i="#{Web.Root}";var l="#{Wsf.Host}"',
  {"Web.Root": "R", "Wsf.Host": "H"}, 'a=function(e){return"#{"===e.substr(0,2)?void 0:e},i="R";var l="H"')  # O
c("malformed-javascript-end", 'i="#{Web.Root}";a=function(e){return"#{', {"Web.Root": "R"},
  'i="R";a=function(e){return"#{')  # O
c("malformed-inner-block-keeps-outer-text", "#{if X}#{Foo#{/if}", {"X": "1"}, "#{if X}#{Foo#{/if}")
c("malformed-unclosed-if-body-substituted", "#{if X}#{A}", {"A": "a"}, "#{if X}a")

# -- strict mode ---------------------------------------------------------------------------------------
err("strict-missing", "#{Foo}", {}, UNRESOLVED)
err("strict-missing-among-known", "#{A} #{B}", {"A": "a"}, UNRESOLVED)
err("strict-missing-inside-value", "#{A}", {"A": "#{B}"}, UNRESOLVED)
err("strict-missing-in-option", "#{A | Replace #{R} x}", {"A": "a"}, UNRESOLVED)
err("strict-missing-index", "#{P[#{U}]}", {"P[u]": "x"}, UNRESOLVED)
err("strict-missing-in-each-body", "#{each a in L}#{a.Nope}#{/each}", {"L[x].Name": "n"}, UNRESOLVED)
err("strict-unknown-filter", "#{A | ToBazooka}", {"A": "a"}, FILTER)
err("strict-bad-filter-argument", "#{A | Truncate x}", {"A": "a"}, FILTER)
CASES.append(Case("strict-nowdate-without-clock", "#{ | NowDate}", {}, None, error=FILTER, strict=True, no_clock=True))
err("strict-syntax-before-missing", "#{Missing} #{", {}, SYNTAX)
c("strict-success", "#{A | ToUpper} #{if B}b#{/if}#{each x in L}#{x}#{/each}", {"A": "a", "B": "1", "L": "1,2"},
  "A b12", strict=True)
c("strict-missing-in-skipped-branch-ok", "#{if F}#{Nope}#{/if}ok", {"F": "false"}, "ok", strict=True)

# -- conditions with filters and literals, elseif ----------------------------------------------
c("if-filter-left", '#{if A | ToLower == "x"}y#{/if}', {"A": "X"}, "y")  # O
c("if-literal-left", '#{if "x" == A}y#{/if}', {"A": "x"}, "y")  # O
c("if-filter-both-sides", "#{if A | Trim == B | ToLower}y#{/if}", {"A": " x ", "B": "X"}, "y")  # O
c("if-filter-truthy", "#{if A | Contains b}y#{else}n#{/if}", {"A": "abc"}, "y")
c("if-spaces-around-pipes", '#{if A  |  ToUpper  ==  "X"}y#{/if}', {"A": "x"}, "y")  # O
c("if-escaped-literal", '#{if A == \\"a b\\"}y#{/if}', {"A": "a b"}, "y")  # O
c("pipe-after-newline", "#{Foo\n| ToUpper}", {"Foo": "a"}, "A")  # O (whitespace includes line breaks)
c("pipes-with-tabs", "#{ Foo\t|\tToUpper\t|Trim }", {"Foo": " a "}, "A")  # O
c("if-no-spaces-around-pipe-and-operator", '#{if Foo|ToUpper=="A"}y#{else}n#{/if}', {"Foo": "a"}, "y")  # O
c("if-literal-left-filter-chain-right", '#{if "a" == Foo | ToLower | Trim}y#{else}n#{/if}', {"Foo": " A "}, "y")  # O
c("if-literal-both-sides", '#{if "a" == "a"}y#{/if}', {}, "y")  # B (Octostache: no parse)
c("if-literal-with-hash-and-brace", '#{if A == "#1}"}y#{else}n#{/if}', {"A": "#1}"}, "y")  # B (Octostache: no parse)
c("if-filter-failure-leaves-block", "#{if A | Nope}y#{else}n#{/if}", {"A": "1"}, "#{if A | Nope}y#{else}n#{/if}")  # O
c("if-filter-on-missing-leaves-block", '#{if Gone | ToUpper == "X"}y#{/if}', {}, '#{if Gone | ToUpper == "X"}y#{/if}',
  missing=("Gone",))  # O
err("if-filter-failure-strict", "#{if A | Nope}y#{/if}", {"A": "1"}, FILTER)
c("elseif-chain", '#{if A == "1"}one#{elseif A == "2"}two#{elseif A == "3"}three#{else}many#{/if}', {"A": "3"},
  "three")  # O
c("elseif-with-spaces-in-tag", "#{if A}a#{ elseif B}b#{/if}", {"A": "no", "B": "yes"}, "b")
c("elseif-unknown-filter-leaves-chain", "#{if A}a#{elseif B | Nope}b#{/if}", {"A": "no", "B": "x"},
  "#{if A}a#{elseif B | Nope}b#{/if}")
c("elseif-outside-if-is-a-name", "#{elseif X}", {"elseif X": "v"}, "v")
err("elseif-in-unless-refused", '#{unless A}a#{elseif B == "x"}b#{/unless}', {}, SYNTAX)  # O
c("elseif-after-else-is-a-name", "#{if A}a#{else}b#{elseif C}c#{/if}", {"A": "no"}, "b#{elseif C}c",
  missing=("elseif C",))  # O
c("name-with-at-sign", "#{@type}|#{a@b}", {"@type": "t", "a@b": "x"}, "t|x")  # O
c("truncate-suffix", '#{A | Truncate 2 "~"}', {"A": "abcd"}, "ab~")  # O
c("truncate-empty-suffix", '#{A | Truncate 2 ""}', {"A": "abcd"}, "ab")  # O
