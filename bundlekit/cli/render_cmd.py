"""``bundlekit render`` and ``render-config``: apply variables to a file and print the result.

``render`` substitutes ``#{...}`` tokens into a template (or stdin); ``render-config``
applies structured configuration variables to a JSON, YAML, XML or properties file.

A thin command over :mod:`bundlekit.substitution`: it reads the template and the
variables, passes the current time for ``NowDate``, and writes the text to stdout
unchanged (no newline added). Unresolved names are an error (exit 1, code
``unresolved_variables``) unless ``--allow-missing``. It needs no zone home.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

import click

from bundlekit.cli import cli
from bundlekit.cli.common import echo, emit_json, json_option, stdin_bytes
from bundlekit.core import clock
from bundlekit.core.files import read_limited, read_user_file
from bundlekit.errors import BundleError, InputError, UsageError
from bundlekit.runtime.structured import FORMATS, MAX_CONFIG_BYTES, ConfigEdit, ConfigParseError, apply_config, \
    formats_for
from bundlekit.package.textfiles import decode_text, rewrite_text
from bundlekit.substitution import RenderResult, SubstitutionError, VariableDictionary, evaluate, render

__all__ = ["render_command"]

MAX_TEMPLATE_BYTES = 16 * 1024 * 1024  # a template is read whole; bigger files are refused
MAX_VARIABLES_BYTES = 64 * 1024 * 1024

_EXAMPLE = """\
bundlekit render web.config --var Db.Host=db01 > web.prod.config
bundlekit render app.json --variables prod.json --sensitive Db.Password
echo '#{Name | ToUpper}' | bundlekit render - --allow-missing"""


def _local_now() -> datetime:
    """The command's one reading of the clock, in the local time zone (Octopus's date filters
    show the server's local time)."""
    return clock.to_datetime(clock.now()).astimezone()


def _decode(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{what} is not UTF-8 text (byte {exc.start} is invalid); save it as UTF-8",
            code="not_utf8",
        ) from None


def _read_template(source: str) -> bytes:
    if source == "-":
        return read_limited(stdin_bytes(), MAX_TEMPLATE_BYTES, "standard input",
                            fix="check what is piped or redirected into the command")
    return read_user_file(source, what=f"template {source}", limit=MAX_TEMPLATE_BYTES)


def _not_text(what: str, error: UnicodeDecodeError, code: str,
              family: type[BundleError] = InputError) -> BundleError:
    return family(f"{what} is not text (UTF-8, or UTF-16/UTF-32 with a byte order mark): byte {error.start} is "
                  "invalid; save it in one of those encodings", code=code)


def _load_variables_file(source: str, into: dict[str, str]) -> None:
    data = read_user_file(source, what=f"variables file {source}", limit=MAX_VARIABLES_BYTES)
    try:
        parsed = json.loads(_decode(data, f"variables file {source}"))
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"variables file {source} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            'expected an object like {"Name": "value"}',
            code="invalid_variables_file",
        ) from None
    if not isinstance(parsed, dict):
        raise UsageError(
            f'variables file {source} must hold a JSON object of name -> value, like {{"Name": "value"}}, '
            f"not a {type(parsed).__name__}",
            code="invalid_variables_file",
        )
    seen: dict[str, str] = {}
    for name, value in parsed.items():
        if not name.strip():
            raise UsageError(f"variables file {source} has an empty variable name", code="invalid_variables_file")
        first = seen.setdefault(name.casefold(), name)
        if first != name:
            raise UsageError(f"variables file {source} defines {first!r} and {name!r}, which are one variable "
                             "(variable names are case-insensitive, as in Octopus); keep one of them",
                             code="invalid_variables_file")
        # A non-string value is kept as its JSON text, so objects and arrays can be indexed.
        into[name] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _set_vars(pairs: list[tuple[str, str]], into: dict[str, str]) -> None:
    """``--var`` pairs over the ``--variables`` file's values: a ``--var`` replaces the file's variable
    of the same name in any case; two ``--var`` of one name (in any case) are refused (``invalid_var``)."""
    given: dict[str, str] = {}
    for name, value in pairs:
        folded = name.casefold()
        if folded in given:
            same = "the same name twice" if given[folded] == name else "names that differ only in case"
            raise UsageError(f"--var {given[folded]}=... and --var {name}=... are {same}, which is one variable "
                             "(variable names are case-insensitive, as in Octopus); give it once",
                             code="invalid_var")
        given[folded] = name
        for old in [n for n in into if n.casefold() == folded]:
            del into[old]
        into[name] = value


@cli.command("render", epilog=_EXAMPLE)
@click.argument("source", metavar="[FILE|-]", required=False, default="-")
@click.option("--var", "var_pairs", multiple=True, metavar="NAME=VALUE",
              help="Define a variable (repeatable; wins over --variables).")
@click.option("--variables", "variables_file", metavar="FILE.json",
              help="A JSON object of name -> value; non-string values are stored as their JSON text.")
@click.option("--allow-missing", is_flag=True,
              help="Leave unresolved #{...} tokens in place instead of failing (as Octopus does).")
@click.option("--sensitive", "sensitive_names", multiple=True, metavar="NAME",
              help="Mark a variable as sensitive (repeatable); a warning is printed if the output contains one.")
@json_option
def render_command(
    source: str, var_pairs: tuple[str, ...], variables_file: str | None, allow_missing: bool,
    sensitive_names: tuple[str, ...], as_json: bool,
) -> None:
    """Substitute #{...} variables into FILE (or stdin with '-' or no FILE) and print the result.

    The syntax is Octopus Deploy's (Octostache): #{Name}, filters such as #{Name | ToUpper},
    #{if}/#{unless}/#{each} blocks, and ##{ for a literal #{. See spec/substitution.md.
    """
    values: dict[str, str] = {}
    if variables_file is not None:
        _load_variables_file(variables_file, values)
    pairs = []
    for pair in var_pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--var {pair!r} must look like NAME=VALUE", code="invalid_var")
        pairs.append((name, value))
    _set_vars(pairs, values)
    variables = VariableDictionary(values, sensitive=sensitive_names)
    data = _read_template(source)
    results: list[RenderResult] = []

    def change(text: str) -> str:
        results.append(render(text, variables, allow_missing=allow_missing, now=_local_now()))
        return results[-1].text

    try:  # the deploy's own path: the file's encoding and byte order mark are kept
        rendered = rewrite_text(data, change)
    except UnicodeDecodeError as exc:
        raise _not_text("standard input" if source == "-" else f"template {source}", exc, "not_utf8") from None
    result = results[0]
    if as_json:
        emit_json({"text": result.text, "missing": list(result.shown_missing), "problems": list(result.problems),
                   "sensitive": bool(result.sensitive)})
        return
    out = sys.stdout.buffer  # bytes, so line endings are written exactly as rendered
    out.write(rendered if rendered is not None else data)
    out.flush()
    if result.missing:
        echo(f"warning: left in place (undefined): {', '.join(result.shown_missing)}", err=True)
    for problem in result.problems:
        echo(f"warning: {problem}", err=True)
    if result.sensitive:
        echo("warning: the output contains sensitive values; do not log or share it", err=True)


_CONFIG_EXAMPLE = """\
bundlekit render-config appsettings.json --var Logging:LogLevel:Default=Warning
bundlekit render-config values.yaml --variables prod.json > values.prod.yaml
bundlekit render-config web.config --var "//add[@key='Port']/@value=8080"
bundlekit render-config app.settings --format properties --var db.url=jdbc:pg://db01/shop"""


def _split_var(pair: str) -> tuple[str, str]:
    """NAME=VALUE where NAME may be an XPath: the first '=' outside ``[...]`` and quotes separates."""
    depth, quote = 0, ""
    for i, c in enumerate(pair):
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "[":
            depth += 1
        elif c == "]":
            depth = max(depth - 1, 0)
        elif c == "=" and depth == 0 and pair[:i].strip():
            return pair[:i], pair[i + 1:]
    raise UsageError(f"--var {pair!r} must look like NAME=VALUE (an XPath name may contain '=' inside [...])",
                     code="invalid_var")


@cli.command("render-config", epilog=_CONFIG_EXAMPLE)
@click.argument("file", metavar="FILE")
@click.option("--format", "fmt", type=click.Choice(FORMATS),
              help="The file's format; default: by extension, then the first of json, xml, yaml, properties "
                   "that parses (as Octopus chooses).")
@click.option("--variables", "variables_file", metavar="VARS.json",
              help="A JSON object of name -> value; non-string values are stored as their JSON text.")
@click.option("--var", "var_pairs", multiple=True, metavar="NAME=VALUE",
              help="Define a variable (repeatable; wins over --variables).")
@json_option
def render_config_command(file: str, fmt: str | None, variables_file: str | None, var_pairs: tuple[str, ...],
                          as_json: bool) -> None:
    """Print FILE with structured configuration variables applied (Octopus's Structured
    Configuration Variables): a variable named by a path replaces the value there, as a deploy
    does to the files of a step's structured_config. Paths are `A:B:0` for JSON and YAML, an
    XPath for XML, a key for Java properties. FILE itself is not changed. The output is what a
    deploy writes: only the replaced values change (comments, order, spacing, encoding and line
    endings stay; JSON is read as Json.NET reads it, comments and trailing commas included; a
    YAML block scalar or structure makes the document re-dumped, comments and order kept), a
    mapping or sequence replaced whole keeps the file's block or flow style, and .properties
    values are escaped as Java stores them. What was replaced is listed on stderr.
    """
    values: dict[str, str] = {}
    if variables_file is not None:
        _load_variables_file(variables_file, values)
    _set_vars([_split_var(pair) for pair in var_pairs], values)
    data = read_user_file(file, what=f"configuration file {file}", limit=MAX_CONFIG_BYTES)
    dictionary = VariableDictionary(values)
    evaluated: dict[str, str] = {}
    now = _local_now()
    for name in values:
        result = evaluate(name, dictionary, now=now)
        if result.missing:
            raise SubstitutionError(f"variable {name!r} refers to {', '.join(result.shown_missing)}, which is not "
                                    "defined", code="unresolved_variables", details=list(result.shown_missing))
        evaluated[name] = result.text
    applied: list[tuple[str, str, ConfigEdit]] = []

    def change(text: str) -> str | None:
        used, edit = apply_config(text, evaluated, formats_for(file, fmt))
        applied.append((text, used, edit))
        return edit.text

    try:  # the deploy's own path: the file's encoding and byte order mark are kept
        rewritten = rewrite_text(data, change)
    except UnicodeDecodeError as exc:
        raise _not_text(file, exc, "invalid_config_file", UsageError) from None
    except ConfigParseError as error:
        raise UsageError(f"{file} is {error}; check the file, or name its format with --format",
                         code="invalid_config_file",
                         details={"format": error.format, "line": error.line, "column": error.column}) from None
    text, used, edit = applied[0]
    if as_json:
        emit_json({"text": edit.text if edit.text is not None else text, "format": used,
                   "encoding": decode_text(data)[1].label,
                   "replaced": [where for _, where in edit.replaced], "warnings": list(edit.warnings)})
        return
    out = sys.stdout.buffer
    out.write(rewritten if rewritten is not None else data)
    out.flush()
    if edit.replaced:
        echo(f"{used}: replaced " + ", ".join(where for _, where in edit.replaced), err=True)
    else:
        echo(f"warning: {used}: no variable matched a path in {file}; printed unchanged", err=True)
    for warning in edit.warnings:
        echo(f"warning: {warning}", err=True)
