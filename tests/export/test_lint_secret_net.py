"""The net that hides a finding quoting a sensitive value (decision 810) hides only a real quote:
a password made of ordinary words, or one that is a word lint itself uses, leaves every other
finding its text and its fix; a finding that does quote the secret (whole, a long run of it, a
short secret as a token, its hex or base64) is still hidden, under the right variable's name.
"""

from __future__ import annotations

import base64
from pathlib import Path

from bundlekit.export.lint import _redacted, lint_release
from bundlekit.export.lint_model import ERROR, Finding

RELEASE = '''[project]
name = "V30"
space = "Default"

[release]
version = "1.0.0"
channel = "Default"

[[steps]]
name = "First"
type = "script"
syntax = "bash"
roles = ["web"]
script = \'\'\'
echo "#{Octopus.Action[#{Sec}].Output.X}"
echo "#{Octopus.Action[#{SecP}].Output.X}"
echo "#{Knwn[#{Sec}]}"
echo "#{Octopus.Action[#{Plain}].Output.X}"
\'\'\'

[[variables]]
name = "Sec"
value = "SECRET"
sensitive = true

[[variables]]
name = "SecP"
sensitive = true
placeholder = true

[[variables]]
name = "Plain"
value = "Frist"

[[variables]]
name = "Known"
value = "k"
'''
HIDDEN = "finding that would quote part of the sensitive value"


def _lint(tmp_path: Path, secret: str) -> list[Finding]:
    path = tmp_path / "r.toml"
    path.write_text(RELEASE.replace("SECRET", secret))
    return list(lint_release(path).findings)


def _by_line(findings: list[Finding], needle: str) -> Finding:
    [found] = [f for f in findings if f.line == 1 + RELEASE.splitlines().index(needle)]
    return found


def test_a_password_of_ordinary_words_leaves_the_other_findings_their_text_and_fix(tmp_path: Path) -> None:
    findings = _lint(tmp_path, "my secret pw")
    assert [f.code for f in findings] == ["unknown_output_step", "unknown_output_step", "undefined_variable",
                                          "unknown_output_step"]
    assert not [f for f in findings if HIDDEN in f.message]
    assert not [f for f in findings if "my secret pw" in f"{f.message} {f.suggestion}".casefold()]
    placeholder = _by_line(findings, 'echo "#{Octopus.Action[#{SecP}].Output.X}"')
    assert "unless the secret is written in the release as a step's name" in placeholder.message
    plain = _by_line(findings, 'echo "#{Octopus.Action[#{Plain}].Output.X}"')
    assert plain.suggestion is not None and plain.suggestion.startswith("did you mean 'First'?")
    assert _by_line(findings, 'echo "#{Knwn[#{Sec}]}"').suggestion == "did you mean 'Known'?"


def test_a_secret_that_is_a_word_lint_uses_leaves_unrelated_findings_alone(tmp_path: Path) -> None:
    findings = _lint(tmp_path, "step")
    assert not [f for f in findings if HIDDEN in f.message]
    plain = _by_line(findings, 'echo "#{Octopus.Action[#{Plain}].Output.X}"')
    assert "names step 'Frist', and the release has no such step" in plain.message
    assert plain.suggestion is not None and plain.suggestion.startswith("did you mean 'First'?")


TEXT = ('[[variables]]\nname = "Sec"\nvalue = "my secret pw"\nsensitive = true\n\n'
        '[[variables]]\nname = "Short"\nvalue = "pw1"\nsensitive = true\n\n'
        '[[variables]]\nname = "Word"\nvalue = "step"\nsensitive = true\n\n'
        '[[variables]]\nname = "Plain"\nvalue = "Frist"\n')
DOC = {"variables": [{"name": "Sec", "value": "my secret pw", "sensitive": True},
                     {"name": "Short", "value": "pw1", "sensitive": True},
                     {"name": "Word", "value": "step", "sensitive": True},
                     {"name": "Plain", "value": "Frist"}]}


def _finding(message: str, suggestion: str = "fix it", code: str = "unknown_output_step") -> Finding:
    return Finding(ERROR, code, message, "r.toml", "steps[0].script", 9, 3, suggestion)


def _hidden(finding: Finding, owner: str) -> Finding:
    article = "an" if finding.code[0] in "aeiou" else "a"
    return Finding(finding.severity, finding.code, f"{article} {finding.code} {HIDDEN} of {owner!r} (not shown)",
                   finding.file, finding.path, finding.line, finding.column,
                   "look at the line and column given, in the file named")


def test_a_finding_that_quotes_a_secret_is_hidden_under_that_secrets_name() -> None:
    quotes = {
        "Sec": [_finding("member 'my secret pw' is not there"),  # the whole value
                _finding("member 'MY SECRET PW' is not there"),  # case aside
                _finding("no step named 'a secret pwd'"),  # a run of 8 of it ("secret p")
                _finding("x", "did you mean 'secret'?", code="some_check"),  # a word of it, quoted
                _finding(f"reads {b'my secret pw'.hex()}"),
                _finding(f"reads {base64.b64encode(b'my secret pw').decode()}")],
        "Short": [_finding("member 'pw1' is not there"), _finding("did you mean pw1?")],
        "Word": [_finding("member 'step' is not there"), _finding("x", "did you mean 'step'?")],
    }
    for owner, findings in quotes.items():
        assert _redacted(findings, DOC, TEXT) == [_hidden(f, owner) for f in findings], owner


def test_a_finding_that_only_shares_lint_wording_or_public_text_with_a_secret_keeps_its_text() -> None:
    kept = [_finding("#{Octopus.Action[#{Plain}].Output.X} reads Octopus.Action[Frist].Output.X: #{Plain} names "
                     "step 'Frist', and the release has no such step (a deploy refuses it: there is no step named "
                     "so)", "did you mean 'First'? Make #{Plain} name an earlier step"),
            _finding("the name computed (Octopus.Action[********]...) is no step's unless the secret is written in "
                     "the release as a step's name"),
            _finding("member 'pw12' is not there"),  # a short secret counts as a whole token only
            _finding("value 'Frist' of Plain")]
    assert _redacted(kept, DOC, TEXT) == kept


def test_of_two_secrets_the_one_quoted_is_named() -> None:
    doc = {"variables": [{"name": "A", "value": "alpha-common", "sensitive": True},
                         {"name": "B", "value": "bravo-common-longer-part", "sensitive": True}]}
    text = ('[[variables]]\nname = "A"\nvalue = "alpha-common"\nsensitive = true\n\n'
            '[[variables]]\nname = "B"\nvalue = "bravo-common-longer-part"\nsensitive = true\n')
    about_b = _finding("member 'common-longer' is not there")  # "common" is in both, the run only in B
    about_a = _finding("member 'alpha' is not there")
    assert _redacted([about_b, about_a], doc, text) == [_hidden(about_b, "B"), _hidden(about_a, "A")]
