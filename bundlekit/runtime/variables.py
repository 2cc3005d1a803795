"""The variables of one step run, as the runner evaluates them on the target.

This module owns what the zone and the runner must agree on about a run's variables: the
values a script's ``get_octopusvariable`` sees (:func:`evaluated_values`), which rendered
tokens carry a secret (:func:`token_secrets`), and the names of the variables a package
step adds (:data:`CURRENT_INSTALL_DIR`, :data:`INSTALL_DIR_OUTPUT`).
Shipped to targets: Python 3.8 or newer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from bundlekit.substitution import SubstitutionError, VariableDictionary, evaluate, render
from bundlekit.substitution.parser import ParseFailure, parse_template
from bundlekit.substitution.syntax import Each, If, Node, Subst

__all__ = ["evaluated_values", "token_secrets", "INSTALL_DIR_OUTPUT", "CURRENT_INSTALL_DIR", "dictionary_from"]

#: The output a package step sets: where its package was installed.
INSTALL_DIR_OUTPUT = "Package.InstallationDirectoryPath"
#: The same folder, for the package step's own files and scripts.
CURRENT_INSTALL_DIR = "Octopus.Action.Package.InstallationDirectoryPath"


def dictionary_from(entries: Iterable[Sequence[object]]) -> VariableDictionary:
    """A dictionary from ``[name, value, sensitive]`` entries (the wire form, in order set)."""
    dictionary = VariableDictionary()
    for name, value, sensitive in entries:
        dictionary.set(str(name), str(value), bool(sensitive))
    return dictionary


def evaluated_values(dictionary: VariableDictionary, now: Optional[datetime]) -> Tuple[Dict[str, str], List[str]]:
    """Every variable's evaluated value (for ``get_octopusvariable``) and those that read a secret.

    A variable that cannot be evaluated (a cycle) is passed as written: it is only an error
    when a template the step runs refers to it.
    """
    values: dict[str, str] = {}
    secrets: list[str] = []
    for name in dictionary.names():
        try:
            result = evaluate(name, dictionary, now=now)
            text, sensitive = result.text, result.sensitive
        except SubstitutionError:
            text, sensitive = dictionary.get_raw(name) or "", dictionary.is_sensitive(name)
        values[name] = text
        if sensitive:
            secrets.append(text)
    return values, secrets


def _substs(nodes: Sequence[Node]) -> Iterable[Subst]:
    for node in nodes:
        if isinstance(node, Subst):
            yield node
        elif isinstance(node, If):
            yield from _substs(node.then)
            yield from _substs(node.otherwise)
        elif isinstance(node, Each):
            yield from _substs(node.body)


def token_secrets(template: str, dictionary: VariableDictionary, now: Optional[datetime]) -> List[str]:
    """What each ``#{...}`` token of ``template`` renders to, when it reads a sensitive value.

    A token may transform a secret (``#{Password | ToBase64}``): the transformed text is as
    secret as the value, so it is masked too.
    """
    try:
        nodes = parse_template(template, recover=True)
    except ParseFailure:
        return []
    out: list[str] = []
    for node in _substs(nodes):
        try:
            result = render(node.source, dictionary, now=now)
        except SubstitutionError:
            continue
        if result.sensitive:
            out.append(result.text)
    return out
