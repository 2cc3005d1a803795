"""Octostache's own test suite, as data: one row per template evaluation it asserts.

Every test of Octostache's test project (its ``*Fixture`` classes) is here, fixture by
fixture and test by test, re-expressed with our own names and values: the fact each test
proves carries over, not its code. A row gives a template, the variables and what
Octostache produces; ``test_octostache_agreement.py`` renders every applicable row with
bundlekit in allow-missing mode (Octostache's behaviour) and computes how many agree.

``check`` says how agreement is judged:

- ``text``: the exact output;
- ``unquoted``: the output with ``"`` removed (Octostache's test compares that way, because
  it re-quotes filter options when it leaves a token in place);
- ``one_of``: the output is one of ``alternatives``;
- ``cycle``: rendering is refused as a cycle, and ``expect`` is the loop, ``->``-joined;
- ``syntax``: strict parsing refuses the template (Octostache's parser returns failure);
- ``yaml``: the output, read as YAML, has key ``Key`` equal to ``expect``;
- ``evaluate``: ``template`` is a variable name; its evaluated value is ``expect``;
- ``references``: the names found in the template include every name of ``alternatives``
  and none of ``excluded``.

``reports`` (when not None) is what Octostache's test asserts about its error output: True
when it must name unresolved tokens, False when it must be empty. bundlekit agrees when it
lists something in ``missing``/``problems`` exactly when Octostache reports.

``not_applicable`` gives the reason a row cannot be judged against bundlekit's syntax: a
.NET API with no counterpart, a result that is a .NET ``null``, an expectation that
depends on the test machine's culture, or a test xUnit never runs. Such rows stay in the
table so that nothing of the suite is silently left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

#: The reference time for NowDate rows (Octostache reads the clock; bundlekit is given the time).
NOW = datetime(2031, 11, 3, 14, 7, 9, 500000, tzinfo=timezone(timedelta(hours=1)))


@dataclass(frozen=True)
class Row:
    id: str
    template: str
    variables: dict[str, str]
    expect: str | None = None
    check: str = "text"
    reports: bool | None = None
    alternatives: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    not_applicable: str | None = None


ROWS: list[Row] = []
_counts: dict[str, int] = {}


def row(source: str, template: str, variables: dict[str, str] | None = None, expect: str | None = None,
        **kw: object) -> None:
    """Add one row; its id is the Octostache test it comes from plus a running number."""
    _counts[source] = _counts.get(source, 0) + 1
    ROWS.append(Row(f"{source}#{_counts[source]}", template, dict(variables or {}), expect, **kw))  # type: ignore[arg-type]


def na(source: str, reason: str) -> None:
    row(source, "", {}, None, not_applicable=reason)


API = "a .NET API of Octostache's VariableDictionary with no counterpart in a template"

# =========================================================================================
# UsageFixture
# =========================================================================================
U = "UsageFixture."
row(U + "HowToUseTheDictionary", "InstallPath", {"InstallPath": "D:\\#{Folder}", "Folder": "Releases"},
    "D:\\Releases", check="evaluate")
na(U + "HowToUseTheDictionary", API + " (GetRaw, GetFlag, GetInt32)")
na(U + "UseDictionaryWithCollectionInitializer", "the same facts as HowToUseTheDictionary through a .NET "
   "collection initializer")

B = U + "BasicExamples"
row(B, "#{Colour}", {"Colour": "Teal"}, "Teal", reports=False)
row(B, "#{Colour}", {"colour": "Teal"}, "Teal", reports=False)
row(B, "#{Greeting}", {"Greeting": "#{Word}", "Word": "hello"}, "hello", reports=False)
row(B, "#{Token}", {"Token": "#{Secret | ToBase64}", "Secret": "Kiwi"}, "S2l3aQ==", reports=False)
row(B, "#{Token}", {"Token": "#{Secret | ToBase64 unicode}", "Secret": "Kiwi"}, "SwBpAHcAaQA=", reports=False)
row(B, "#{Plain}", {"Plain": "#{Enc | FromBase64}", "Enc": "S2l3aQ=="}, "Kiwi", reports=False)
row(B, "#{Plain}", {"Plain": "#{Enc | FromBase64 unicode}", "Enc": "SwBpAHcAaQA="}, "Kiwi", reports=False)
row(B, "#{Low}", {"Low": "#{Word | ToLower}", "Word": "MiXeD"}, "mixed", reports=False)
row(B, "#{Primary Data Centre}", {"Primary Data Centre": "Sydney"}, "Sydney", reports=False)
row(B, "#{Shout|ToUpper}", {"Shout": "#{Word | ToLower}", "Word": "MiXeD"}, "MIXED", reports=False)
row(B, "#{Word | ToUpper}", {"Word": "quiet"}, "QUIET", reports=False)
row(B, "##{Colour}", {"colour": "Teal"}, "#{Colour}", reports=False)

M = U + "MissingTokenErrorExamples"
row(M, "#{Region}", {}, "#{Region}", reports=True)
row(M, "#{Region}#{Zone}", {"Region": "#{R2}", "R2": "eu"}, "eu#{Zone}", reports=True)
row(M, "#{each s in Service}#{s.Port}#{/each}", {"Service[api].Host": "h1", "Service[web].Host": "h2"},
    "#{s.Port}#{s.Port}", reports=True)

P = U + "ParseErrorExamples"
row(P, "#{Region", {"Region": "eu"}, "#{Region", reports=True)
row(P, "#{Re[gion}", {"Region": "eu", "Re[gion]": "us"}, "#{Re[gion}", reports=True)
row(P, "#{each s in Service}", {"Service[a]": "one"}, "#{each s in Service}", reports=True)

A = U + "AwkwardCharacters"
row(A, "#{x/y}", {"x/y": "slash"}, "slash")
row(A, "#{p~q}", {"p~q": "tilde"}, "tilde")
row(A, "#{(grp)}", {"(grp)": "parens"}, "parens")
row(A, "#{@id}", {"@id": "at-start"}, "at-start")
row(A, "#{mail@host}", {"mail@host": "at-inside"}, "at-inside")

E = U + "EmptyValuesAreEchoed"
row(E, "#{ }", {"Colour": "Teal", " ": "blank"}, "#{ }")
row(E, "#{}", {"Colour": "Teal", "": "blank"}, "#{}")

R = U + "MaximumRecursionLimitException"
row(R, "#{Loop}", {"Loop": "#{Loop}"}, "Loop -> Loop", check="cycle")
row(R, "#{A}", {"A": "#{B}", "B": "#{C}", "C": "#{D}", "D": "#{A}"}, "A -> B -> C -> D -> A", check="cycle")

_JS_IN = ('window.cfg=function(n){"use strict";var d="dev",p=n?"prod":d;var is=function(v){return"#{"===v.substr(0,2)'
          '?void 0:v},root="#{Api.Root}";log(root);var auth="#{Auth.Host}";var site="#{Site.Url[B]}",u=is(site)||'
          '"http://localhost/app";n.URL=u;n.headers=function(h){return h||(h=new Headers),h.append("X-Mode",p),h}}')
_JS_OUT = ('window.cfg=function(n){"use strict";var d="dev",p=n?"prod":d;var is=function(v){return"#{"===v.substr(0,2)'
           '?void 0:v},root="https://api.example";log(root);var auth="login.example";var site="https://b.example",u=is(site)||'
           '"http://localhost/app";n.URL=u;n.headers=function(h){return h||(h=new Headers),h.append("X-Mode",p),h}}')
_JS_VARS = {"Api.Root": "https://api.example", "Auth.Host": "login.example", "Site.Url[B]": "https://b.example"}
row(U + "AbleToContinueWhenAParsingErrorIsHit", _JS_IN, _JS_VARS, _JS_OUT)
row(U + "AbleToContinueWhenAParsingErrorIsHitAtEndOfString",
    'root="#{Api.Root}";log(root);var auth="#{Auth.Host}"\n  ;is=function(v){return"#{',
    _JS_VARS, 'root="https://api.example";log(root);var auth="login.example"\n  ;is=function(v){return"#{')
na(U + "Required", API + " (Require)")
na(U + "Performance", "a timing test of the .NET implementation")
row(U + "NamedIndexersAreSupported", "#{Octopus.Action[Restore db].Name}",
    {"Octopus.Action[Restore db].Name": "RestoreDb"}, "RestoreDb")
row(U + "VariableIndexersAreSupported", "#{Octopus.Action[#{Which}].Name}",
    {"Which": "Restore db", "Octopus.Action[Restore db].Name": "RestoreDb"}, "RestoreDb")
row(U + "NestedIndexersAreSupported", "#{Octopus.Action.Package[sidecars[1].image].Registry}",
    {"Octopus.Action.Package[sidecars[1].image].Registry": "registry.local"}, "registry.local")
row(U + "MultipleNestedIndexersAreSupported", "#{Octopus.Action.Package[map[k].sidecars[2].image].Registry}",
    {"Octopus.Action.Package[map[k].sidecars[2].image].Registry": "quay.local"}, "quay.local")
row(U + "JsonEscapeShouldBeSupported", "#{Octopus.Action.Package[web].ExtractedPath | JsonEscape}",
    {"Octopus.Action.Package[web].ExtractedPath": "E:\\Work\\Deploy Root\\7\\web"},
    "E:\\\\Work\\\\Deploy Root\\\\7\\\\web")
row(U + "MissingVariableIndexersFailToEvaluateGracefully", "#{Octopus.Action[#{Which}].Name}",
    {"Octopus.Action[Restore db].Name": "RestoreDb"}, "#{Octopus.Action[#{Which}].Name}")
row(U + "MissingIndexedVariableWhenTheIndexerIsAValidVariableAndTheVariableNameIsTheSameAsTheIndexedVariableName",
    "#{SELF}", {"SELF": "#{SELF[#{key}]}", "key": "k1"}, "#{SELF[#{key}]}")

_COOL = {"Outcome": "Chilled", "Site.IsCold": "true", "Site.State": "Chilled", "Site.Rating": "Chilled"}
C = U + "ConditionalsAreSupported"
row(C, "#{if Site.IsCold}#{Outcome}#{/if}", _COOL, "Chilled")
row(C, '#{if Site.State == "Chilled"}#{Outcome}#{/if}', _COOL, "Chilled")
row(C, '#{if Site.State != "Warm"}#{Outcome}#{/if}', _COOL, "Chilled")
row(C, '#{unless Site.State == "Warm"}#{Outcome}#{/unless}', _COOL, "Chilled")
row(C, "#{if Site.Rating == Site.State}#{Outcome}#{/if}", _COOL, "Chilled")

_FCOOL = {"Outcome": "Chilled", "Site.State": "Chilled", "Site.Rating": " Chilled "}
F = U + "FiltersInConditionalsAreSupported"
row(F, '#{if Site.State | ToUpper == "CHILLED"}#{Outcome}#{/if}', _FCOOL, "Chilled")
row(F, '#{if Site.State | ToUpper | ToLower == "chilled"}#{Outcome}#{/if}', _FCOOL, "Chilled")
row(F, '#{if "chilled" == Site.State | ToLower}#{Outcome}#{/if}', _FCOOL, "Chilled")
row(F, "#{if Site.State | ToLower == Site.Rating | ToLower | Trim }#{Outcome}#{/if}", _FCOOL, "Chilled")
row(F, "#{if Site.Rating | ToLower | Contains #{Site.State | ToLower} }#{Outcome}#{/if}", _FCOOL, "Chilled")

row(U + "IterationOverAnEmptyCollectionIsFine", "Done#{each x in absent}#{x}#{/each}", {}, "Done")
row(U + "NestedIterationIsSupported", "#{each s in Octopus.Action}#{each r in s.TargetRoles}#{s.Name}#{r}#{/each}#{/each}",
    {"Octopus.Action[Web].Name": "W", "Octopus.Action[Web].TargetRoles": "x,y",
     "Octopus.Action[Db].Name": "D", "Octopus.Action[Db].TargetRoles": "z"}, "WxWyDz")
row(U + "RecursiveIterationIsSupported", "#{each s in Octopus.Action}#{s.Name}#{/each}",
    {"WebName": "W", "DbName": "D", "Octopus.Action[Web].Name": "#{WebName}", "Octopus.Action[Db].Name": "#{DbName}"},
    "WD")
_STEPS = {"Octopus.Action[First].StepName": "Stage 1", "Octopus.Action[Second].StepName": "Stage 2",
          "Octopus.Step[Stage 1].Details": "one done", "Octopus.Step[Stage 2].Details": "two done",
          "Octopus.Step[Stage 1].Status": "Skipped", "Octopus.Step[Stage 2].Status": "Running"}
_SCOPED = ('#{each a in Octopus.Action}#{if Octopus.Step[#{a.StepName}].Status != "Skipped"}'
           "#{Octopus.Step[#{a.StepName}].Details}#{/if}#{/each}")
row(U + "ScopedSymbolIndexerInIterationIsSupported", _SCOPED, _STEPS, "two done")
row(U + "IndexWithUnknownVariableDoesntFail", "#{Capital[#{Country}]}", {}, "#{Capital[#{Country}]}")
row(U + "IndexWithUnknownVariableDoesntFail", "#{Capital[#{Country}]}", {"Capital[Chile]": "Santiago"},
    "#{Capital[#{Country}]}")
row(U + "IndexWithUnknownVariableDoesntFail", "#{Capital[#{Country}]}",
    {"Capital[Chile]": "Santiago", "Country": "Chile"}, "Santiago")
row(U + "UnscopedIndexerInIterationIsSupported",
    '#{each a in Octopus.Action}#{if Octopus.Step[#{Other}].Status == "Skipped"}#{Octopus.Step[#{Other}].Details}'
    "#{/if}#{/each}",
    {"Octopus.Action[First].StepName": "Stage 1", "Octopus.Action[Second].StepName": "Stage 2",
     "Octopus.Step[Elsewhere].Details": "late", "Octopus.Step[Elsewhere].Status": "Skipped", "Other": "Elsewhere"},
    "latelate")
row(U + "IndexingWithASymbolIsSupported", "#{Phase[#{run.StepName}]}",
    {"run.StepName": "Stage 1", "Phase[Stage 1]": "Busy"}, "Busy")
row(U + "NestedIndexingWithASymbolIsSupported", "#{Phase[#{run.StepName}]}",
    {"run.StepName": "Stages[#{n}].stage", "n": "3", "Phase[Stages[3].stage]": "Third"}, "Third")
row(U + "IndexingIsSupportedWithWildcards", "#{Octopus.Action[*].Name}",
    {"Octopus.Action[Web].Name": "P", "Octopus.Action[Db].Name": "Q", "Octopus.Action[Img[0]].Name": "R",
     "Octopus.Action[Img[1].Registry].Name": "S", "Octopus.Action[m[k].Img[0].Registry].Name": "T"},
    check="one_of", alternatives=("P", "Q", "R", "S", "T"))
row(U + "IteratorsResolveToTheIndexedExpression", "#{each s in Octopus.Action}#{s};#{/each}",
    {"Octopus.Action[Web].Name": "W", "Octopus.Action[Db].Name": "D"}, "Web;Db;")
row(U + "UnmatchedSubstitutionsAreEchoed", "#{nothing}", {}, "#{nothing}")
row(U + "DoubleHashEscapesToken", "##{name}", {"name": "Bob"}, "#{name}")
row(U + "TripleHashResolvesToSinglePlusToken", "###{name}", {"name": "Bob"}, "#Bob")
row(U + "StandaloneHashesAreText", "# ## ###", {}, "# ## ###")
row(U + "EvenBlockHashesAreText", "###### heading", {}, "###### heading")
row(U + "OddBlockHashesAreText", "####### heading", {}, "####### heading")
_DOC = {"Host": "App07", "Port": "8443", "Url": "https://#{Host | ToLower}:#{Port}", "Scheme": "#{Proto}"}
row(U + "DocumentationIntroduction", "Url", _DOC, "https://app07:8443", check="evaluate")
row(U + "DocumentationIntroduction", "#{Url}/health", _DOC, "https://app07:8443/health")
row(U + "DocumentationIntroduction", "Scheme", _DOC, "#{Proto}", check="evaluate", reports=True)
na(U + "DocumentationIntroduction", API + " (GetRaw)")
na(U + "ShouldSupportRoundTripping", API + " (saving and reloading a variables file)")
na(U + "ShouldSaveAsString", API + " (SaveAsString)")
V = U + "VariablesThatResolveToUnresolvableReturnError"
row(V, "#{Test.Sizes.Small.Price}",
    {"Test": '{Sizes: {Small: "#{Test.Sizes.Large.Price}", Large: "15"}}", Desc: "Monkey", Value: 12}'},
    "#{Test.Sizes.Small.Price}", reports=True)
row(V, "#{Test}", {"Test": "#{Test.Something}"}, "#{Test.Something}", reports=True)
for _t in ("ShouldEvaluateTrueToTrue", "ShouldEvaluateFalseToFalse", "ShouldEvaluateMissingToFalse",
           "ShouldEvaluateExistsToTrue"):
    na(U + _t, API + " (EvaluateTruthy)")
na(U + "CanGetIndexes", API + " (GetIndexes)")

# =========================================================================================
# ConditionalsFixture
# =========================================================================================
K = "ConditionalsFixture."
_T = {"Answer": "yes", "Flag": "true"}
row(K + "ConditionalIsSupported", "#{if Flag}#{Answer}#{/if}", _T, "yes")
for _tpl in ("#{ if Flag}#{Answer}#{/if}", "#{  if Flag}#{Answer}#{/if}", "#{if Flag }#{Answer}#{/if}",
             "#{ if Flag  }#{Answer}#{/if}", "#{if  Flag}#{Answer}#{/if}", "#{if Flag}#{ Answer}#{/if}",
             "#{if Flag}#{  Answer}#{/if}", "#{if Flag}#{Answer }#{/if}", "#{if Flag}#{Answer  }#{/if}",
             '#{if Flag  == "true"}#{Answer}#{/if}', '#{if Flag  != "false"}#{Answer}#{/if}',
             '#{if Flag  |  ToLower  != "false"}#{Answer}#{/if}'):
    row(K + "ConditionalIgnoresWhitespacesCorrectly", _tpl, _T, "yes")
row(K + "ConditionalIgnoresWhitespacesCorrectly", "#{  if Flag}#{Answer}#{/if}", _T, "yes")
row(K + "ConditionalUnlessIsSupported", "#{unless Flag}#{Answer}#{/unless}", {"Answer": "yes", "Flag": "false"},
    "yes")
row(K + "UnknownVariablesAreTreatedAsFalsy", "#{if Undefined}shown#{/if}", {}, "")
row(K + "UnknownVariablesAreTreatedAsFalsy", "#{unless Undefined}shown#{/unless}", {}, "shown")
row(K + "UnknownVariablesOnBothSidesAreTreatedAsEqual", "#{if NopeA == NopeB}same#{/if}", {}, "same")
row(K + "ConditionalToOtherDictValueIsSupported", "#{if Left == Right}#{Answer}#{/if}",
    {"Answer": "yes", "Left": "squid", "Right": "squid"}, "yes")
row(K + "ConditionalToStringIsSupportedWhenStringIsOnTheRightHandSide", '#{if Left == "squid"}#{Answer}#{/if}',
    {"Answer": "yes", "Left": "squid"}, "yes")
row(K + "ConditionalToStringIsSupportedWhenStringIsOnTheLeftHandSide", '#{if "squid" == Left }#{Answer}#{/if}',
    {"Answer": "yes", "Left": "squid"}, "yes")
row(K + "ConditionalNegationIsSupportedWhenStringIsOnTheLeftHandSide", '#{if "cuttlefish" != Left}#{Answer}#{/if}',
    {"Answer": "yes", "Left": "nautilus"}, "yes")
row(K + "ConditionalNegationIsSupportedWhenStringIsOnTheRightHandSide", '#{if Left != "cuttlefish"}#{Answer}#{/if}',
    {"Answer": "yes", "Left": "nautilus"}, "yes")
row(K + "NestedConditionalsAreSupported", '#{if Flag}#{if Kind=="b"}#{Answer}#{/if}#{/if}',
    {"Answer": "yes", "Flag": "true", "Kind": "b"}, "yes")
N = K + "ConditionalsWithNestedNullShouldReturnCorrect"
_NV = {"Answer": "yes", "Other": "no"}
row(N, "#{if Flag}#{Answer}#{else}#{ | null }#{/if}", {**_NV, "Flag": "true"}, "yes")
na(N, "the whole result is a .NET null (the 'null' filter), which has no text form")
na(N, "the whole result is a .NET null (the 'null' filter), which has no text form")
row(N, "#{if Flag}#{ | null }#{else}#{Other}#{/if}", {**_NV, "Flag": "false"}, "no")
_ELSE = {"Answer": "yes", "Other": "no"}
row(K + "ElseIsSupportedTrue", "#{if Flag}#{Answer}#{else}#{Other}#{/if}", {**_ELSE, "Flag": "true"}, "yes")
row(K + "ElseIsSupportedFalse", "#{if Flag}#{Answer}#{else}#{Other}#{/if}", {**_ELSE, "Flag": "false"}, "no")
row(K + "NestIfInElse", '#{if Flag}#{Answer}#{else}#{if Kind=="b"}#{Other}#{/if}#{/if}',
    {**_ELSE, "Kind": "b", "Flag": "false"}, "no")
_EI = "#{if P}#{RP}#{elseif Q}#{RQ}#{else}#{RE}#{/if}"
_EIV = {"RP": "p", "RQ": "q", "RE": "e"}
row(K + "ElseIfIsSupportedWhenTheElseIfBranchIsTaken", _EI, {**_EIV, "P": "false", "Q": "true"}, "q")
row(K + "ElseIfIsSkippedWhenTheIfBranchIsTaken", _EI, {**_EIV, "P": "true", "Q": "true"}, "p")
row(K + "ElseIfFallsThroughToElseWhenNothingMatches", _EI, {**_EIV, "P": "false", "Q": "false"}, "e")
_CHAIN = ('#{if Stage == "Alpha"}a#{elseif Stage == "Beta"}b#{elseif Stage == "Gamma"}g'
          '#{elseif Stage == "Delta"}d#{else}z#{/if}')
for _stage, _out in (("Alpha", "a"), ("Beta", "b"), ("Gamma", "g"), ("Delta", "d"), ("Omega", "z")):
    row(K + "ChainedElseIfClausesOnlyRenderTheFirstMatchingBranch", _CHAIN, {"Stage": _stage}, _out)
row(K + "ElseIfWithNoElseRendersNothingWhenNothingMatches", "#{if P}#{RP}#{elseif Q}#{RQ}#{elseif S}#{RS}#{/if}",
    {"RP": "p", "RQ": "q", "RS": "s", "P": "false", "Q": "false", "S": "false"}, "")
_EIS = {"P": "false", "Q": "false", "S": "true", "Animal": "squid", "Same": "squid"}
for _tpl, _out in (('#{if P}1#{elseif Animal == "squid"}2#{else}3#{/if}', "2"),
                   ('#{if P}1#{elseif Animal != "squid"}2#{else}3#{/if}', "3"),
                   ('#{if P}1#{elseif "squid" == Animal}2#{else}3#{/if}', "2"),
                   ("#{if P}1#{elseif Animal == Same}2#{else}3#{/if}", "2"),
                   ("#{if P}1#{elseif Q}2#{else}3#{/if}", "3"),
                   ("#{if P}1#{elseif S}2#{else}3#{/if}", "2"),
                   ('#{if P}1#{elseif Animal | ToUpper == "SQUID"}2#{/if}', "2")):
    row(K + "ElseIfSupportsTheSameConditionsAsIf", _tpl, _EIS, _out)
for _tpl in ("#{if P}1#{elseif  Q}2#{/if}", "#{if P}1#{elseif Q }2#{/if}", "#{if P}1#{elseif  Q  }2#{/if}",
             '#{if P}1#{elseif Q  ==  "true"}2#{/if}'):
    row(K + "ElseIfIgnoresWhitespacesCorrectly", _tpl, {"P": "false", "Q": "true"}, "2")
row(K + "NestedConditionalsInsideAnElseIfBranchAreSupported",
    '#{if P}1#{elseif Q}#{if Kind == "b"}inner#{else}outer#{/if}#{else}3#{/if}',
    {"P": "false", "Q": "true", "Kind": "b"}, "inner")
row(K + "NestedElseIfChainsInsideAnElseIfBranchAreSupported",
    "#{if P}1#{elseif Q}#{if S}s#{elseif T}t#{else}none#{/if}#{else}3#{/if}",
    {"P": "false", "Q": "true", "S": "false", "T": "true"}, "t")
_ML = ('#{if Octopus.Environment.Name == "Dev"}dev\n#{elseif Octopus.Environment.Name == "Test"}test\n'
       "#{else}other\n#{/if}")
for _env, _out in (("Dev", "dev\n"), ("Test", "test\n"), ("Live", "other\n")):
    row(K + "ElseIfIsSupportedAcrossMultipleLines", _ML, {"Octopus.Environment.Name": _env}, _out)
row(K + "ElseIfIsSupportedWhenNotHaltingOnErrors", "#{if P}1#{elseif Q}2#{else}3#{/if}", {"P": "false", "Q": "true"},
    "2")
row(K + "ElseIfIsNotSupportedInsideUnless", '#{unless P}1#{elseif Q == "x"}2#{/unless}', {}, check="syntax")
na(K + "ElseIfDesugarsToNestedConditionals", "converts Octostache's parse tree back to text (.NET ToString)")
row(K + "ArgumentNamesAreExtractedFromElseIfConditionsAndBranches",
    '#{if one}#{oneOut}#{elseif two == "v"}#{twoOut}#{elseif three}#{threeOut}#{else}#{elseOut}#{/if}', {},
    check="references", alternatives=("one", "oneOut", "two", "twoOut", "three", "threeOut", "elseOut"))
row(K + "FunctionCallIsSupported", '#{if Shout | Contains "O" }#{Answer}#{/if}', {"Shout": "HOLA", "Answer": "yes"},
    "yes")
row(K + "FunctionCallIsSupportedWithStringOnTheRightHandSide", '#{if Shout | ToLower == "hola"}#{Answer}#{/if}',
    {"Shout": "HOLA", "Answer": "yes"}, "yes")
row(K + "FunctionCallIsSupportedWithStringOnTheLeftHandSide", '#{if "hola" == Shout | ToLower }#{Answer}#{/if}',
    {"Shout": "HOLA", "Answer": "yes"}, "yes")
row(K + "FunctionCallIsSupportedOnBothSide", "#{if Soft | ToLower == Shout | ToLower }#{Answer}#{/if}",
    {"Soft": "Hola", "Shout": "HOLA", "Answer": "yes"}, "yes")
row(K + "ChainedFunctionCallIsSupported",
    "#{if Soft | Trim | ToUpper | ToLower == Shout | ToBase64 | FromBase64 | Trim | ToLower }#{Answer}#{/if}",
    {"Soft": " Hola ", "Shout": "  HOLA ", "Answer": "yes"}, "yes")
row(K + "UnknownFunctionsAreEchoed", "#{if Soft | NoSuchFilter}#{Answer}#{/if}", {"Soft": "Hola", "Answer": "yes"},
    "#{if Soft | NoSuchFilter}#{Answer}#{/if}")
row(K + "UnknownVariablesAsFunctionArgumentsAreEchoed", "#{if Soft | ToUppr}#{Answer}#{/if}",
    {"Answer": "yes", "Other": "x"}, "#{if Soft | ToUppr}#{Answer}#{/if}")

# =========================================================================================
# IterationFixture
# =========================================================================================
I = "IterationFixture."
row(I + "IterationOverAnEmptyCollectionIsFine", "Done#{each x in absent}#{x}#{/each}", {}, "Done")
_IT = {"Octopus.Action[Web].Name": "W", "Octopus.Action[Db].Name": "D", "Octopus.Action[].Name": "Unnamed"}
row(I + "SimpleIterationIsSupported", "#{each s in Octopus.Action}#{s}=#{s.Name}#{/each}", _IT, "Web=WDb=D=Unnamed")
for _tpl in ("#{ each s in Octopus.Action}#{s}=#{s.Name}#{/each}", "#{  each s in Octopus.Action}#{s}=#{s.Name}#{/each}",
             "#{each  s in Octopus.Action}#{s}=#{s.Name}#{/each}", "#{each s  in Octopus.Action}#{s}=#{s.Name}#{/each}",
             "#{each s in  Octopus.Action}#{s}=#{s.Name}#{/each}", "#{each s in Octopus.Action }#{s}=#{s.Name}#{/each}",
             "#{each s in Octopus.Action  }#{s}=#{s.Name}#{/each}", "#{each s in Octopus.Action}#{ s}=#{s.Name}#{/each}",
             "#{each s in Octopus.Action}#{  s}=#{s.Name}#{/each}", "#{each s in Octopus.Action}#{s }=#{s.Name}#{/each}",
             "#{each s in Octopus.Action}#{s  }=#{s.Name}#{/each}"):
    row(I + "IterationIgnoresWhitespacesCorrectly", _tpl, _IT, "Web=WDb=D=Unnamed")
row(I + "NestedIterationIsSupported", "#{each s in Octopus.Action}#{each r in s.TargetRoles}#{s.Name}#{r}#{/each}#{/each}",
    {"Octopus.Action[Web].Name": "W", "Octopus.Action[Web].TargetRoles": "x,y", "Octopus.Action[Db].Name": "D",
     "Octopus.Action[Db].TargetRoles": "z", "Octopus.Action[].Name": "U", "Octopus.Action[].TargetRoles": "v"},
    "WxWyDzUv")
row(I + "RecursiveIterationIsSupported", "#{each s in Octopus.Action}#{s.Name}#{/each}",
    {"WebName": "W", "DbName": "D", "NoName": "U", "Octopus.Action[Web].Name": "#{WebName}",
     "Octopus.Action[Db].Name": "#{DbName}", "Octopus.Action[].Name": "#{NoName}"}, "WDU")
row(I + "ScopedSymbolIndexerInIterationIsSupported", _SCOPED, _STEPS, "two done")
row(I + "IterationSpecialVariablesAreSupported",
    "#{each n in Letters}#{n} f=#{Octopus.Template.Each.First} l=#{Octopus.Template.Each.Last} "
    "i=#{Octopus.Template.Each.Index}; #{/each}", {"Letters": "X,Y,Z"},
    "X f=True l=False i=0; Y f=False l=False i=1; Z f=False l=True i=2; ")
row(I + "NestedIndexIterationIsSupported", "#{each p in Octopus.Action.Package}#{p}/#{p.Name} #{/each}",
    {"Octopus.Action.Package[sidecar[0]].Name": "P", "Octopus.Action.Package[sidecar[1]].Name": "Q",
     "Octopus.Action.Package[sidecar[2]].Name": "R"}, "sidecar[0]/P sidecar[1]/Q sidecar[2]/R ")

# =========================================================================================
# JsonFixture
# =========================================================================================
J = "JsonFixture."
_JX = {"Box.Colour": "defined wins", "Box": '{"Colour": "red", "Size": "L", "Lid" : {"Hinge": 3}}',
       "Box[Size]": "indexed wins", "Box.Lid.Hinge": "deep wins"}
row(J + "JsonDoesNotOverrideExisting", "#{Box.Colour}", _JX, "defined wins")
row(J + "JsonDoesNotOverrideExisting", "#{Box[Size]}", _JX, "indexed wins")
row(J + "JsonDoesNotOverrideExisting", "#{Box.Lid.Hinge}", _JX, "deep wins")
_JV = {"Key": "Colour", "Val": "blue", "Obj": '{#{Key}: "#{Val}"}'}
row(J + "JsonSupportsVariableInVariable", "#{Obj[Colour]}", _JV, "blue")
row(J + "JsonSupportsVariableInVariable", "#{Obj.Colour}", _JV, "blue")
row(J + "JsonSupportsVariableInVariable", "#{Obj[#{Key}]}", _JV, "blue")
S = J + "SuccessfulJsonParsing"
row(S, "#{Obj[Colour]}", {"Obj": '{"Colour": "red"}'}, "red")
row(S, "#{Obj.Colour}", {"Obj": '{"Colour": "red"}'}, "red")
row(S, "#{Obj[a][b][c][d]}", {"Obj": '{"a": {"b": {"c": {"d": 42 }}}}'}, "42")
_LIST = '{"Rows": [{"Label": "first"}, {"Label": "second"}]}'
row(S, "#{Obj.Rows[1].Label}", {"Obj": _LIST}, "second")
row(S, "#{Obj.Rows[0].Label}", {"Obj": _LIST}, "first")
row(S, "#{Obj.Inner}", {"Obj": '{"Inner": {"Depth":"2"}}'}, '{"Depth":"2"}')
row(S, "#{Obj.Label}", {"Obj": '{Label: "#{Obj.Count}", Note: "x", Count: 7}'}, "7")
row(S, "#{Obj.@kind}", {"Obj": '{"@kind": "Gadget"}'}, "Gadget")
row(S, "#{Obj[@kind]}", {"Obj": '{"@kind": "Gadget"}'}, "Gadget")
row(J + "JsonInvalidDoesNotReplace", "#{Obj.Label}", {"Obj": "{Label: Unquoted}"}, "#{Obj.Label}")
row(J + "JsonArraySupportsIterator",
    '#{each n in Primes}#{n}#{if Octopus.Template.Each.Last == "False"}+#{/if}#{/each}', {"Primes": "[3,5,7,11]"},
    "3+5+7+11")
row(J + "JsonArraySafeguardedFromNullValues", "<#{each n in Obj.Gone}#{n}#{/each}>", {"Obj": "{Gone: null}"}, "<>")
row(J + "JsonArrayOutsideOfBounds", "Ba#{Primes[4]}na", {"Primes": "[3,5,7,11]"}, "Bana")
row(J + "JsonObjectSupportsIterator", "#{each w in Shop.Widths}#{w}=#{w.Value};#{/each}",
    {"Shop.Widths": '{"Narrow": "9.5",  Wide: 31.75}'}, "Narrow=9.5;Wide=31.75;")
row(J + "JsonEvaluatesConditionalsWithEscapes", '{"Flag":"#{if Mode == \\"dry run\\"}on#{/if}"}', {"Mode": "dry run"},
    '{"Flag":"on"}')
row(J + "JsonObjectSupportsIteratorWithInnerSelection", "#{each w in Shop.Widths}#{w.Key}: #{w.Value.Stock}#{/each}",
    {"Shop.Widths": '{"XX-Wide": {"Stock": "Sold out"}}'}, "XX-Wide: Sold out")
row(J + "NullJsonPropertyTreatedAsEmptyString", "Ba#{Obj.Gone}na", {"Obj": "{Gone: null}"}, "Bana")
row(J + "MissingJsonPropertyTreatedAsEmptyString", "Ba#{Obj.Other}na", {"Obj": '{Here: "x"}'}, "Bana")

# =========================================================================================
# ParserFixture
# =========================================================================================
_NAMES = ('\n  #{plain}\n  #{piped | Format #{opt}}\n  #{outer[#{inner}]}\n  #{if cond}#{unless cond2}dbg#{/unless}#{/if}\n'
          '  #{if cmp != "value"}t#{/if}\n  #{each item in Coll}\n    #{item.Address}\n  #{/each}\n  ##{escaped}\n')
row("ParserFixture.AListOfVariablesCanBeExtracted", _NAMES, {}, check="references",
    alternatives=("plain", "piped", "opt", "outer", "inner", "cond", "cond2", "cmp", "Coll"),
    excluded=("escaped", "item", "item.Address"))
na("ParserFixture.ParsedTemplateIsConvertibleBackToString", "converts Octostache's parse tree back to text (.NET ToString)")
na("ParserFixture.TryParseWithHaltOnError", "a protected method, which xUnit does not run")
na("ParserFixture.TryParseWithHaltOnError", "a protected method, which xUnit does not run")
na("ParserFixture.EvaluateLotsOfTimesWithSet", "a protected timing method, which xUnit does not run")

# =========================================================================================
# ExtensionFixture and ItemCacheFixture
# =========================================================================================
na("ExtensionFixture.TestCustomBuiltInExtension", API + " (AddExtension registers a .NET function as a filter)")
na("ExtensionFixture.TestCustomExtension", API + " (AddExtension registers a .NET function as a filter)")
for _t in ("GetWithNullReturnsNull", "GetOrAddWithNullReturnsNull", "GetOrAddWillAddNullOnce", "GetWithItemReturnsItem",
           "GetOrAddWithItemReturnsItem", "GetOrAddWillAddItemOnce"):
    na("ItemCacheFixture." + _t, "Octostache's internal parse cache (and a protected method xUnit does not run)")

from .octostache_filters import add_filter_rows  # noqa: E402  (the FiltersFixture half of the table)
from .octostache_calc import add_calc_and_version_rows  # noqa: E402

add_filter_rows(row, na)
add_calc_and_version_rows(row)
