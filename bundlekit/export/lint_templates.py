"""Lint of the ``#{...}`` templates a release carries: do they parse, and is every name they use defined?

Templates are step scripts, variable values and the files a package step substitutes. A
template that does not parse is reported at each token that fails (recovering parsing, so
one bad token hides no other, not even a problem of the block around it: see
:func:`syntax_failures`). Every name a template refers to must be a variable or placeholder
of the release, a system variable a deploy defines (:data:`SYSTEM_VARIABLES`,
``spec/deploy.md``), or an output of a step that has run by then; an unknown name gets
"did you mean" suggestions (closest known names, case-insensitively). A step name that
``#{Octopus.Action[...]}`` cannot name is reported as such, and a reference to it is
blamed on the name rather than on the brackets it breaks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from bundlekit.core.text import closest
from bundlekit.export.lint_model import ERROR, WARNING, Finding, NameSet, line_column
from bundlekit.export.releasefile import OUTPUT_REF
from bundlekit.substitution.errors import SubstitutionError
from bundlekit.substitution.engine import render
from bundlekit.substitution.parser import ParseFailure, parse_template
from bundlekit.substitution.variables import VariableDictionary
from bundlekit.substitution.filters import is_filter, unknown_filter_hint
from bundlekit.substitution.references import filter_uses, plain_references, references

__all__ = ["Template", "SYSTEM_VARIABLES", "UNREFERENCEABLE", "check_templates", "step_name_findings", "used_names",
           "referenced_steps", "disabled_step_outputs", "hide_secret", "syntax_failures", "TENANT_NAME",
           "untenanted_tenant_name"]

#: The ``Octopus.*`` variables a deploy defines (``spec/deploy.md``, "System variables").
SYSTEM_VARIABLES = (
    "Octopus.Deployment.Id", "Octopus.Project.Name", "Octopus.Project.Slug", "Octopus.Space.Name",
    "Octopus.Release.Number", "Octopus.Release.Channel", "Octopus.Release.Channel.Name",
    "Octopus.Environment.Name", "Octopus.Deployment.Tenant.Name", "Octopus.Action.Name", "Octopus.Step.Name",
    "Octopus.Machine.Name", "Octopus.Machine.Roles", "Octopus.Action.Package.PackageId",
    "Octopus.Action.Package.PackageVersion", "Octopus.Action.Package.InstallationDirectoryPath",
)
#: The system variable only a deployment for a tenant defines (``spec/deploy.md``, "System variables").
TENANT_NAME = "Octopus.Deployment.Tenant.Name"
#: Characters that make a step name impossible to write inside ``Octopus.Action[...]``.
UNREFERENCEABLE = "[]{}"


@dataclass(frozen=True, slots=True)
class Template:
    """One template: its text, where it is (``file``, key ``path``), the offset in ``file_text``
    of each of its characters, then of its end, when known (``offsets``, from
    :func:`~bundlekit.export.toml_strings.value_offsets`: an escape or a line continuation in
    the release file makes a template's characters and the file's differ), the index of the
    step it belongs to (None: a variable value, used by any step)
    and whether a token that does not parse is an error (scripts, values) or stays text."""

    text: str
    file: str
    path: str
    file_text: str | None = None
    offsets: tuple[int, ...] | None = None
    step: int | None = None
    strict: bool = True
    #: The variable whose sensitive value this is: its findings then quote nothing of the text
    #: (no name, token or reason taken from it), only the variable's name and the position.
    secret: str | None = None

    def position(self, offset: int) -> tuple[int, int]:
        """File line and column of ``offset`` in the template."""
        if self.file_text is not None and self.offsets is not None:
            return line_column(self.file_text, self.offsets[min(offset, len(self.offsets) - 1)])
        return line_column(self.text, offset)


class _Names:
    def __init__(self, variables: Iterable[str]) -> None:
        self.spelled = list(dict.fromkeys(list(variables) + list(SYSTEM_VARIABLES)))
        self.known = NameSet(self.spelled).covers

    def suggest(self, name: str) -> list[str]:
        return closest(name, self.spelled, n=3, cutoff=0.75)


_ACTION = "octopus.action["


def _attempts(t: Template, steps: list[str]) -> list[tuple[int, str]]:
    """(offset, step) of every ``Octopus.Action[`` followed by a step name that contains
    ``[``, ``]``, ``{`` or ``}``: the reference that name makes impossible."""
    bad = sorted((s for s in steps if any(c in s for c in UNREFERENCEABLE)), key=len, reverse=True)
    if not bad:
        return []
    folded = t.text.casefold()
    out = []
    at = folded.find(_ACTION)
    while at >= 0:
        rest = folded[at + len(_ACTION):]
        step = next((s for s in bad if rest.startswith(s.casefold())), None)
        if step is not None:
            out.append((at, step))
        at = folded.find(_ACTION, at + 1)
    return out


def _usable_part(step: str) -> str:
    """The start of a step name up to its first character ``Octopus.Action[...]`` cannot hold."""
    cut = min((step.index(c) for c in UNREFERENCEABLE if c in step), default=len(step))
    return step[:cut]


def referenced_steps(templates: list[Template], steps: list[str]) -> set[str]:
    """The (casefolded) unreferenceable step names some template tries to reference."""
    return {step.casefold() for t in templates for _, step in _attempts(t, steps)}


#: For a sensitive value: what each finding says instead of quoting the value, and what to do.
_SECRET_TEXT = {
    "template_syntax": ("has a #{...} token that does not parse", "fix the token at this position, or write ##{ "
                        "for a literal #{ in the value"),
    "undefined_variable": ("refers to a name no variable, placeholder, system variable or output defines",
                           "fix the reference at this position, or define the name in [[variables]]"),
    "unknown_output_step": ("reads an output of a step the release does not have",
                            "fix the step name in the reference at this position"),
    "output_not_yet_set": ("reads an output of a step that does not run before it is used",
                           "read outputs of earlier steps only"),
    "unreferenceable_step_name": ("refers to a step whose name #{Octopus.Action[...]} cannot hold",
                                  "rename the step without '[', ']', '{' or '}'"),
    "computed_output_step": ("reads an output of a step named by a value only a deployment knows",
                             "write the step's name in the brackets at this position"),
    "unknown_filter": ("uses a filter bundlekit does not have", "fix the filter name at this position "
                       "(spec/substitution.md, section 6, lists the filters)"),
    "json_member_missing": ("reads a member a JSON value does not have, so that part renders empty",
                            "check the member names the value reads at this position against that JSON value"),
}


def hide_secret(t: Template, findings: list[Finding]) -> list[Finding]:
    """``findings`` of a sensitive value ``t``, saying nothing of the value's text."""
    if t.secret is None:
        return findings
    out = []
    for f in findings:
        said, fix = _SECRET_TEXT.get(f.code, ("has a problem", "check the value at this position"))
        out.append(Finding(f.severity, f.code, f"the sensitive value of {t.secret!r} {said} (the value is not "
                           "shown)", f.file, f.path, f.line, f.column, fix))
    return out


def check_templates(templates: list[Template], variables: list[str], steps: list[str]) -> list[Finding]:
    """Every parse failure and unknown name in ``templates``; ``steps`` are the step names in order.
    Findings in a sensitive value (``Template.secret``) quote nothing of it."""
    names = _Names(variables)
    step_index = {s.casefold(): i for i, s in enumerate(steps)}
    out: list[Finding] = []
    for t in templates:
        out.extend(hide_secret(t, _check_one(t, names, step_index, steps)))
    return out


def disabled_step_outputs(templates: list[Template], steps: list[str], disabled: set[int]) -> list[Finding]:
    """Every reference to an output of a disabled step (``disabled``: indexes into ``steps``) from
    a template that runs: the step never runs, so the deploy finds the output unset. A reference
    from a disabled step is left out (it never runs either). A reference to a disabled step that
    would also run later is reported here and as ``output_not_yet_set``: each is a fix to make."""
    step_index = {s.casefold(): i for i, s in enumerate(steps)}
    out: list[Finding] = []
    for t in templates if disabled else []:
        if t.step in disabled:
            continue
        found = []
        for name in sorted(references(t.text), key=str.casefold):
            ref = OUTPUT_REF.match(name)
            where = step_index.get(ref.group("step").casefold()) if ref else None
            if where is None or where not in disabled:
                continue
            at = _first_offset(t, name)
            line, column = t.position(at) if at is not None else (None, None)
            found.append(Finding(ERROR, "output_of_disabled_step", f"#{{{name}}} reads an output of step "
                                 f"{steps[where]!r}, which is disabled (enabled = false): it never runs, so the "
                                 "output is never set and the deploy refuses the reference", t.file, t.path, line,
                                 column, "enable the step, or stop reading its output"))
        out.extend(hide_secret(t, found))
    return out


def _check_one(t: Template, names: _Names, step_index: dict[str, int], steps: list[str]) -> list[Finding]:
    out: list[Finding] = []
    attempts = _attempts(t, steps)
    for at, step in attempts:
        line, column = t.position(at)
        bad = "".join(c for c in UNREFERENCEABLE if c in step)
        out.append(Finding(ERROR, "unreferenceable_step_name",
                           f"refers to an output of step {step!r}, whose name contains {bad!r}: "
                           "#{Octopus.Action[...]} cannot name it", t.file, t.path, line, column,
                           f"rename the step without {' '.join(repr(c) for c in bad)}"))
    failures, repaired = syntax_failures(t.text)
    for failure in failures:
        # A token broken by such a step name is that name's fault, reported above.
        if any(0 <= at - failure.pos <= 2 for at, _ in attempts):
            continue
        line, column = t.position(failure.pos)
        severity = ERROR if t.strict else WARNING
        kept = "" if t.strict else " (kept as text when substituted)"
        out.append(Finding(severity, "template_syntax", f"template does not parse: {failure.reason}{kept}",
                           t.file, t.path, line, column,
                           "fix the token, or write ##{ for a literal #{"))
    out.extend(_filter_findings(t))
    broken = {_ACTION + _usable_part(step).casefold() for _, step in attempts}
    # A name with a computed part (X[#{Y}]) is lint_computed's, named as written, not as its prefix X.
    for name in sorted(plain_references(repaired), key=str.casefold):
        if any(name.casefold().startswith(b) for b in broken):
            continue  # what is left of an impossible reference after ']'
        out.extend(_check_name(t, name, names, step_index, steps))
    return out


_ROUNDS = 20  # blocks nested in blocks, each broken by a token inside it, found in one lint run


def syntax_failures(text: str) -> tuple[list[ParseFailure], str]:
    """Every token of ``text`` that does not parse, once, at its own place, in text order; and
    ``text`` with each token that broke a block around it blanked (its ``#{`` as two spaces, so
    offsets stay). A block (``#{if}``, ``#{each}``) left as text because of a token inside it is
    that token's finding, not a second one at the block's start; the text is then parsed again
    without the token, so a problem of the block itself (never closed) is found in the same run,
    and the names a block makes local (an ``#{each}`` item) stay local."""
    removed: list[ParseFailure] = []  # the tokens blanked; what else a round found may be a block's echo
    for _ in range(_ROUNDS):
        skipped: list[ParseFailure] = []
        parse_template(text, recover=True, skipped=skipped)
        innermost: dict[tuple[int, str], ParseFailure] = {}
        for f in skipped:
            key = (f.failed, f.reason)
            if key not in innermost or f.pos > innermost[key].pos:
                innermost[key] = f
        blanked = text
        for f in innermost.values():
            # A closing or else tag is the block's own: without it the block would be "never closed".
            if any(g.failed == f.failed and g.pos < f.pos for g in skipped) and text.startswith("#{", f.pos) \
                    and not text.startswith(("#{/", "#{else"), f.pos):
                blanked = blanked[:f.pos] + "  " + blanked[f.pos + 2:]
                removed.append(f)
        if blanked == text:
            break
        text = blanked
    return sorted(removed + list(innermost.values()), key=lambda f: f.pos), text


def _filter_findings(t: Template) -> list[Finding]:
    """Every filter the template applies that bundlekit does not have: an error where the
    deploy would fail on it (scripts, values), a warning where the token stays text (files)."""
    out = []
    for name, pos in filter_uses(t.text):
        if is_filter(name):
            continue
        line, column = t.position(pos)
        kept = "" if t.strict else " (the token is kept as text when substituted)"
        out.append(Finding(ERROR if t.strict else WARNING, "unknown_filter", f"unknown filter {name!r}{kept}",
                           t.file, t.path, line, column, unknown_filter_hint(name)))
    return out


def untenanted_tenant_name(templates: list[Template], tenants: bool) -> list[Finding]:
    """A warning for each template that needs :data:`TENANT_NAME` outside an ``#{if}`` that tests it,
    when the release scopes nothing to a tenant (``tenants`` False): a deployment has that value
    only when it is for a tenant, and an untenanted one refuses the reference. A warning, not an
    error: the deploying zone may name tenants in its own scopes (decision 724)."""
    out: list[Finding] = []
    for t in templates if not tenants else []:
        if TENANT_NAME.casefold() not in t.text.casefold():
            continue
        try:
            missing = render(t.text, VariableDictionary({}), allow_missing=True).missing
        except SubstitutionError:
            continue  # a template that does not parse is reported as such
        if not any(m.casefold() == TENANT_NAME.casefold() for m in missing):
            continue  # only inside #{if Octopus.Deployment.Tenant.Name}: an untenanted deployment skips it
        at = _first_offset(t, TENANT_NAME)
        line, column = t.position(at) if at is not None else (None, None)
        out.extend(hide_secret(t, [Finding(
            WARNING, "tenant_name_without_tenants", f"#{{{TENANT_NAME}}} has a value only in a deployment for a "
            "tenant, and this release scopes nothing to a tenant: an untenanted deployment refuses it "
            "(preflight_unresolved_variables)", t.file, t.path, line, column,
            f"deploy with --tenant NAME, or write #{{if {TENANT_NAME}}}...#{{/if}} around it")]))
    return out


def _first_offset(t: Template, name: str) -> int | None:
    folded = t.text.casefold()
    at = folded.find(name.casefold())
    return at if at >= 0 else None


def _check_name(t: Template, name: str, names: _Names, step_index: dict[str, int],
                steps: list[str]) -> list[Finding]:
    def place() -> tuple[int | None, int | None]:
        at = _first_offset(t, name)
        return t.position(at) if at is not None else (None, None)

    ref = OUTPUT_REF.match(name)
    if ref is not None:
        step = ref.group("step")
        where = step_index.get(step.casefold())
        if where is None:
            near = closest(step, [s for s in steps if not any(c in s for c in UNREFERENCEABLE)])
            line, column = place()
            return [Finding(ERROR, "unknown_output_step", f"#{{{name}}} names step {step!r}, which is not in "
                            "[[steps]]", t.file, t.path, line, column,
                            f"did you mean {' or '.join(repr(n) for n in near)}?" if near else
                            "name a step of this release")]
        if t.step is not None and where >= t.step:
            line, column = place()
            when = "is this step itself" if where == t.step else "runs after this one"
            return [Finding(ERROR, "output_not_yet_set", f"#{{{name}}} reads an output of step {steps[where]!r}, "
                            f"which {when}: the output is not set yet", t.file, t.path, line, column,
                            "read outputs of earlier steps only, or move the step")]
        return []
    if names.known(name):
        return []
    near = names.suggest(name)
    line, column = place()
    return [Finding(ERROR, "undefined_variable", f"#{{{name}}} is not defined: no variable, placeholder, system "
                    "variable or output has this name", t.file, t.path, line, column,
                    f"did you mean {' or '.join(repr(n) for n in near)}?" if near else
                    "define it in [[variables]] (placeholder = true for a value the destination supplies)")]


def step_name_findings(steps: list[str], file: str, positions: list[tuple[int | None, int | None]],
                       referenced: set[str]) -> list[Finding]:
    """A step name ``#{Octopus.Action[...]}`` cannot name: an error when something tries to
    (``referenced``, folded names), else a warning (its outputs can never be read)."""
    out = []
    for i, step in enumerate(steps):
        bad = "".join(c for c in UNREFERENCEABLE if c in step)
        if not bad:
            continue
        severity = ERROR if step.casefold() in referenced else WARNING
        line, column = positions[i]
        out.append(Finding(severity, "unreferenceable_step_name",
                           f"step name {step!r} contains {bad!r}, so #{{Octopus.Action[...]}} cannot name it "
                           "and its output variables cannot be read", file, f"steps[{i}].name", line, column,
                           f"rename the step without {' '.join(repr(c) for c in bad)}"))
    return out


def used_names(templates: list[Template]) -> set[str]:
    """Every name the templates refer to, casefolded."""
    return {n.casefold() for t in templates for n in references(t.text)}
