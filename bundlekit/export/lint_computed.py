"""Lint of names with a computed part: ``#{X[#{Y}]}``, ``#{Octopus.Action[#{Step}].Output.N}``.

:func:`~bundlekit.substitution.references.references` gives such a name as its static prefix
(``X``, ``Octopus.Action``), which says little: ``Octopus.Action`` is a system variable's
prefix, and ``X`` may be undefined while the name used is ``X[...]``. Here each is named as
written and, where the release's own values decide the computed part, computed as a deployment
computes it (the substitution engine, with the unscoped values, decision 732):

- a name whose prefix nothing defines is ``undefined_variable``, named as written
  (``#{X[#{Y}]}``), whatever its index gives;
- an output reference whose step name is computed: the step must be one of the release's, run
  before the reference, and not be disabled, as for a step written out (``unknown_output_step``,
  ``output_not_yet_set``, ``output_of_disabled_step``: the deploy's preflight refuses each). When
  the value that names the step is known only to a deployment (a placeholder, a scoped value, a
  system variable, an output, an ``#{each}`` item), the reference is a warning
  (``computed_output_step``): the deployment refuses it unless the value names an earlier step.
  A sensitive value that names the step is an error (``unknown_output_step``) even then: step
  names are written in the release, so a secret that is one is no secret, and one that is not
  one is refused;
- a name ``X[v]`` computed from settled values (every value read is unscoped and the release's
  own) that no value defines is ``undefined_variable``: strict rendering refuses it.

A part computed from a sensitive value is shown as ``********`` (decision 653), and its step
is never named (that would tell the secret).
"""

from __future__ import annotations

from typing import Any

from bundlekit.core.text import closest
from bundlekit.export.lint_model import ERROR, WARNING, Finding, NameSet, entries
from bundlekit.export.lint_templates import SYSTEM_VARIABLES, Template, hide_secret
from bundlekit.export.releasefile import OUTPUT_REF
from bundlekit.substitution import SubstitutionError, VariableDictionary, render
from bundlekit.substitution.references import computed_references, plain_references, references
from bundlekit.substitution.syntax import Ident, Index, Symbol

__all__ = ["check_computed_names"]


def _settled(doc: dict[str, Any]) -> tuple[VariableDictionary, set[str], set[str]]:
    """(the unscoped values, the casefolded names whose every value is one of them, every
    casefolded variable name)."""
    values = VariableDictionary()
    every: set[str] = set()
    unsettled: set[str] = set()
    for _, v in entries(doc, "variables"):
        name = v.get("name")
        if not isinstance(name, str):
            continue
        every.add(name.casefold())
        if isinstance(v.get("value"), str) and not v.get("scope") and not v.get("placeholder"):
            values.set(name, v["value"], v.get("sensitive") is True)
        else:
            unsettled.add(name.casefold())
    return values, every - unsettled, every


def _written(source: str) -> str:
    """The name of a token as written: ``#{X[#{Y | ToLower}] | ToUpper}`` -> ``X[#{Y | ToLower}]``."""
    body, depth = source[2:-1], 0
    for i, c in enumerate(body):
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        elif c == "|" and depth == 0:
            return body[:i].strip()
    return body.strip()


def _is_output(symbol: Symbol) -> bool:
    s = symbol.steps
    return (len(s) >= 4 and isinstance(s[0], Ident) and s[0].text.casefold() == "octopus"
            and isinstance(s[1], Ident) and s[1].text.casefold() == "action" and isinstance(s[2], Index)
            and s[2].literal is None and isinstance(s[3], Ident) and s[3].text.casefold() == "output")


def _related(name: str, other: str) -> bool:
    """Whether ``other`` is ``name``, a member of it or one it is a member of (both casefolded)."""
    return name == other or any(a.startswith(b) and a[len(b)] in ".[" for a, b in ((name, other), (other, name))
                                if len(a) > len(b))


def check_computed_names(templates: list[Template], doc: dict[str, Any], steps: list[str],
                         disabled: set[int]) -> list[Finding]:
    """Findings for the names with a computed part in ``templates`` (see the module docstring);
    ``steps`` are the step names in order, ``disabled`` the indexes of disabled steps."""
    values, settled, every = _settled(doc)
    known = NameSet(list(every) + list(SYSTEM_VARIABLES))
    spelled = [v["name"] for _, v in entries(doc, "variables") if isinstance(v.get("name"), str)]
    step_index = {s.casefold(): i for i, s in enumerate(steps)}
    sensitive = {v["name"].casefold() for _, v in entries(doc, "variables")
                 if isinstance(v.get("name"), str) and v.get("sensitive") is True}
    out: list[Finding] = []
    for t in templates:
        if "#{" not in t.text or "[" not in t.text:
            continue
        found: list[Finding] = []
        plain = {n.casefold() for n in plain_references(t.text)}
        seen: set[str] = set()
        for prefix, symbol, source, local in computed_references(t.text):
            written = _written(source) if source is not None else f"{prefix}[...]"
            if written.casefold() in seen:
                continue
            seen.add(written.casefold())
            inner = [n for n in references("#{" + written + "}") if n.casefold() != prefix.casefold()] \
                if source is not None else []
            if any(not known.covers(n) for n in inner if not local):
                continue  # an undefined name inside: reported at that name
            line, column = t.position(symbol.pos)
            by = " and ".join(f"#{{{n}}}" for n in sorted(inner, key=str.casefold)) or "a value"

            def finding(severity: str, code: str, message: str, fix: str) -> None:
                found.append(Finding(severity, code, f"#{{{written}}} {message}", t.file, t.path, line, column, fix))

            output = _is_output(symbol)
            if not output and not known.covers(prefix):
                if prefix.casefold() not in plain:  # written alone too: reported as that name
                    owners = list(dict.fromkeys(n.split("[")[0] for n in spelled if "[" in n))
                    near = closest(prefix, owners + spelled + list(SYSTEM_VARIABLES), n=3, cutoff=0.75)
                    finding(ERROR, "undefined_variable", f"is not defined: no variable, placeholder, system variable "
                            f"or output is {prefix} or a member of it ({prefix}[...]), whatever {by} gives",
                            f"did you mean {' or '.join(repr(n) for n in near)}?" if near else
                            f"define {prefix}[...] in [[variables]] for each value {by} can take")
                continue
            result = None
            if source is not None and not local:
                try:
                    result = render("#{" + written + "}", values, allow_missing=True)
                except SubstitutionError:
                    continue  # a cycle or a limit: lint_values reports it
            computed = None
            if result is not None and all(u in settled or u not in every for u in result.used):
                rest = [m for m in result.missing if not _related(m.casefold(), prefix.casefold())
                        or m.casefold() == prefix.casefold()]
                candidates = [m for m in result.missing if m not in rest]
                computed = candidates[0] if not rest and len(candidates) == 1 else None
                if not result.missing and not output:
                    continue  # it resolves
            if output:
                secret = sorted((n for n in inner if n.casefold() in sensitive), key=str.casefold)
                _output(finding, computed, result, by, step_index, steps, disabled, t, secret)
            elif computed is not None and not any(_related(computed.casefold(), n) for n in every - settled) \
                    and not any(_related(computed.casefold(), s.casefold()) for s in SYSTEM_VARIABLES):
                assert result is not None
                finding(ERROR, "undefined_variable", f"reads {result.shown(computed)}, which no variable, placeholder, "
                        "system variable or output defines: strict rendering, as a deploy does, refuses it",
                        f"define it in [[variables]], or make {by} give a name that is defined")
        out.extend(hide_secret(t, found))
    return out


def _output(finding: Any, computed: str | None, result: Any, by: str, step_index: dict[str, int], steps: list[str],
            disabled: set[int], t: Template, secret: list[str]) -> None:
    """The finding for an output reference whose step name is computed (``computed``: the name,
    when the release's own values decide it; ``secret``: the sensitive names it reads)."""
    if computed is None and secret:
        finding(ERROR, "unknown_output_step", f"names its step by the sensitive value #{{{secret[0]}}}, which only "
                "a deployment knows: step names are no secret, so the name computed "
                "(Octopus.Action[********]...) is no step's unless the secret is written in the release as a step's "
                "name, and a deploy refuses the reference (a name computed from a sensitive value)",
                "write the step's name in the brackets; a sensitive value cannot name a step")
        return
    if computed is None:
        finding(WARNING, "computed_output_step", f"names its step by {by}, whose value only a deployment knows (a "
                "placeholder, a scoped value, a system variable, an output or an #{each} item): the deployment "
                "refuses the reference unless that value is the name of a step that runs earlier",
                "write the step's name in the brackets, or make sure the value names an earlier step wherever the "
                "release is deployed")
        return
    ref = OUTPUT_REF.match(computed)
    shown = result.shown(computed)
    hidden = shown != computed
    if ref is None:
        return
    step = ref.group("step")
    where = step_index.get(step.casefold())
    named = "a step computed from a sensitive value (not shown)" if hidden else f"step {step!r}"
    if where is None:
        near = [] if hidden else closest(step, steps, n=3, cutoff=0.6)
        finding(ERROR, "unknown_output_step", f"reads {shown}: {by} names {named}, and the release has no such step "
                "(a deploy refuses it: there is no step named so)",
                f"did you mean {' or '.join(repr(n) for n in near)}? Make {by} name an earlier step" if near else
                f"make {by} the name of an earlier step, or write the step's name in the brackets")
    elif t.step is not None and where >= t.step:
        when = "this step itself" if where == t.step else "a step that runs after this one"
        finding(ERROR, "output_not_yet_set", f"reads {shown}: {by} names {when}, whose output is not set yet "
                "(a deploy refuses it)", "read outputs of earlier steps only")
    elif where in disabled and t.step not in disabled:
        finding(ERROR, "output_of_disabled_step", f"reads {shown}: {by} names {named}, which is disabled (enabled = "
                "false): it never runs, so the deploy refuses the reference", "enable the step, or name another one")
