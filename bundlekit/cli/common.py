"""Reusable click options, the one way commands print, and where errors become exit codes.

Every command takes ``--home`` (default ``$BUNDLEKIT_HOME``, else ``~/.bundlekit``);
commands with machine-readable output take ``--json``. :class:`BundleGroup` catches
:class:`~bundlekit.errors.BundleError` for every subcommand, prints it (as
``{"error": {...}}`` on stdout under ``--json``, else on stderr) and exits with the
family's code. Nothing else in the CLI catches errors. The usage errors click finds while
parsing (a missing argument, an unknown option, a bad choice) are reported there too: under
``--json`` as the same error object, code ``usage`` (decision 127).

Commands print through :func:`echo`, :func:`echo_text` and :func:`emit_json`, never
``click.echo`` directly: text in a line can come from a bundle, a receipt or a script, and
these show its control characters and escape sequences escaped
(:mod:`bundlekit.core.text`), so nothing printed can steer the operator's terminal.
"""

from __future__ import annotations

import io
import os
import re
import sys
from pathlib import Path
from typing import Any, BinaryIO, Callable, NoReturn, TypeVar

import click

from bundlekit.cli.concepts import concept_hint, home_typed
from bundlekit.core.hints import given_home, home_flag
from bundlekit.core.text import dumps, size_text, terminal_text
from bundlekit.core.files import read_limited, unusable_path
from bundlekit.errors import BundleError, InputError, UsageError, exit_code_for

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_HOME = "~/.bundlekit"


def resolve_home(value: str | None) -> Path:
    raw = value or os.environ.get("BUNDLEKIT_HOME") or DEFAULT_HOME
    return Path(raw).expanduser()


def home_option(f: F) -> F:
    return click.option(
        "--home",
        "home",
        type=click.Path(file_okay=False, path_type=str),
        default=None,
        help="The zone's home folder (default: $BUNDLEKIT_HOME, else ~/.bundlekit).",
    )(f)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")(f)


def quiet_option(f: F) -> F:
    return click.option("--quiet", "-q", is_flag=True, help="No progress output on stderr.")(f)


def overwrite_option(f: F) -> F:
    """``--overwrite``: replace a file already at the command's output path (decision 942)."""
    return click.option("--overwrite", "overwrite", is_flag=True,
                        help="Replace a file already at the output path (without it, an existing file is refused).")(f)


def overwrite_needs(output: object, option: str, overwrite: bool) -> None:
    """``UsageError`` ``usage`` when ``--overwrite`` is given without the option ``option`` that
    names the file it would replace (``output`` None): it would be ignored, and the user believes
    a file was replaced."""
    if overwrite and output is None:
        raise UsageError(f"--overwrite lets {option} replace a file an earlier run wrote; without {option} this "
                         f"command writes no file: add {option} FILE, or drop --overwrite", code="usage")


def emit_json(obj: Any) -> None:
    """Print ``obj`` as JSON on stdout: exact, with unsafe characters and ``<>&`` as ``\\u`` escapes."""
    click.echo(dumps(obj, indent=2, sort_keys=True))


def echo(line: str = "", *, err: bool = False) -> None:
    """Print one line for a person (stdout, or stderr with ``err``). Everything unsafe in it,
    line feeds included, is shown escaped: a value cannot forge another line of output."""
    click.echo(terminal_text(line), err=err)


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and the noun in the number it takes: ``1 row``, ``0 rows``, ``2 rows``."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def echo_field(label: str, text: str, *, indent: str = "") -> None:
    """``label: text`` on one line, or ``label:`` and the text indented below it when the text
    has several lines (release notes)."""
    body = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    if "\n" in body:
        echo(f"{indent}{label}:")
        echo_text(body, indent=indent + "  ")
    else:
        echo(f"{indent}{label}: {body}")


def echo_text(text: str, *, indent: str = "", err: bool = False) -> None:
    """Print multi-line untrusted text (notes, logs), each line after ``indent``; line feeds
    and tabs are kept, everything else unsafe is shown escaped."""
    lines = terminal_text(text, multiline=True).rstrip("\n").split("\n")
    click.echo("\n".join(indent + line for line in lines), err=err)


def wants_json(ctx: click.Context) -> bool:
    c: click.Context | None = ctx
    while c is not None:
        if c.params.get("as_json"):
            return True
        c = c.parent
    return False


def report_error(ctx: click.Context | None, err: BundleError) -> int:
    if ctx is not None and wants_json(ctx):
        emit_json({"error": err.to_dict()})
    else:
        click.echo(f"error [{err.code}]: {terminal_text(err.message, multiline=True)}", err=True)
    return exit_code_for(err)


_WORDS = "bundlekit.words"

#: The exit status of a command stopped by Ctrl-C (SIGINT), as shells report a process a signal
#: ended (128 + 2); spec/errors.md, "Exit codes".
EXIT_INTERRUPTED = 130
#: ``ctx.meta`` key: what a command left when interrupted, in its own words (``interrupted_note``).
_INTERRUPTED = "bundlekit.interrupted"
#: What any command leaves when interrupted, unless it says more (decision 886: writes are one
#: transaction or one atomic rename, and what a stopped writer leaves is swept by the next).
INTERRUPTED_DEFAULT = ("any change under way was made whole or not at all (each is one transaction or one atomic "
                       "rename; what it left half-written is swept by the next command); run the command again to "
                       "finish what it was doing")


def interrupted_note(note: str) -> None:
    """Say what the running command leaves if Ctrl-C stops it (printed after ``interrupted:``)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.find_root().meta[_INTERRUPTED] = note


def report_interrupt(ctx: click.Context | None) -> int:
    """Print what an interrupted command left (one line on stderr) and return
    :data:`EXIT_INTERRUPTED`: the one rule for Ctrl-C in every command."""
    note = ctx.find_root().meta.get(_INTERRUPTED, INTERRUPTED_DEFAULT) if ctx is not None else INTERRUPTED_DEFAULT
    try:
        click.echo(f"\ninterrupted: {terminal_text(note)}", err=True)
    except OSError:
        pass
    return EXIT_INTERRUPTED


def json_requested(words: list[str]) -> bool:
    """Whether the words typed ask for ``--json`` (before a ``--`` that ends the options), even
    when they do not parse: a usage error stops click before any option has a value."""
    return "--json" in (words[:words.index("--")] if "--" in words else words)


def usage_error(err: click.ClickException) -> UsageError:
    """A click usage error as the registered ``usage`` error: click's message, the usage line
    and where to read more."""
    ctx = getattr(err, "ctx", None)
    message = err.format_message()
    details: dict[str, Any] = {}
    if ctx is not None:
        details = {"command": ctx.command_path, "usage": ctx.get_usage()}
        stop = "" if message.endswith((".", "?", "!")) else "."
        message = f"{message}{stop} {ctx.get_usage()}; see `{ctx.command_path} --help`"
    param = getattr(err, "param", None)
    if param is not None and param.name:
        details["parameter"] = param.name
    option = getattr(err, "option_name", None)
    if option:
        details["option"] = option
    return UsageError(message, code="usage", details=details or None)


def _coded(error: OSError | UnicodeError) -> BundleError:
    if isinstance(error, UnicodeError):
        return InputError("a value given to this command (on the command line, on standard input or in a file it "
                          "read) is not valid UTF-8 text; give it as UTF-8", code="not_utf8")
    where = error.filename if error.filename is not None else "a file or folder it uses"
    return unusable_path(where, error, "the command could not use")


class _JsonUsage(click.ClickException):
    """A click usage error that shows itself as the ``--json`` error object on stdout."""

    def __init__(self, err: click.ClickException) -> None:
        self.error = usage_error(err)
        super().__init__(self.error.message)
        self.exit_code = err.exit_code  # type: ignore[misc]  # click declares it a class variable

    def show(self, file: Any = None) -> None:
        emit_json({"error": self.error.to_dict()})


class BundleGroup(click.Group):
    """A click group whose subcommands' BundleErrors become clean messages and exit codes.

    The root group keeps the words typed (``ctx.meta``), so a usage error click raises while
    parsing any command can be shown as the ``--json`` error object when ``--json`` was asked for.
    """

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        if parent is not None:
            return super().make_context(info_name, args, parent=parent, **extra)
        _last_ctx.clear()  # a new command line (several can run in one process, as in tests)
        try:
            ctx = super().make_context(info_name, list(args), parent=parent, **extra)
        except click.ClickException as err:
            raise _as_json(err, list(args)) from None
        except KeyboardInterrupt:
            sys.exit(report_interrupt(None))
        ctx.meta[_WORDS] = list(args)
        return ctx

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _home_to_the_end(args))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BundleError as err:
            leaf = _deepest_context(ctx)
            sys.exit(report_error(leaf, err))
        except KeyboardInterrupt:  # Ctrl-C: one rule for every command, not click's "Aborted!" and exit 1
            sys.exit(report_interrupt(ctx))
        except click.ClickException as err:
            raise _as_json(err, ctx.meta.get(_WORDS, [])) from None
        except BrokenPipeError:
            raise
        except (OSError, UnicodeError) as error:
            # The last line of defence (decision 413): a path the system refuses, or text that is
            # not UTF-8, that no check before named, still ends as a coded error, never a traceback.
            sys.exit(report_error(_deepest_context(ctx), _coded(error)))

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        write_examples(formatter, self.epilog, heading="Example:")


def _home_to_the_end(args: list[str]) -> list[str]:
    """``--home DIR`` given before a subcommand (``bundlekit deployments --home ./dev list``) moved
    after it, where every command that uses a zone takes it (finding 15.1: one place to learn)."""
    moved: list[str] = []
    rest = list(args)
    i = 0
    while i < len(rest) and rest[i].startswith("-") and rest[i] != "--":
        if rest[i] == "--home" and i + 1 < len(rest):
            moved += rest[i:i + 2]
            del rest[i:i + 2]
        elif rest[i].startswith("--home="):
            moved.append(rest.pop(i))
        else:
            i += 1
    if not moved:
        return list(args)
    if i >= len(rest) or {"-h", "--help"} & set(rest[:i]):
        return rest  # no subcommand follows: click says what is missing, or shows the help
    return rest + moved


def _drop_home(ctx: click.Context, args: list[str]) -> list[str]:
    """``--home`` on a command that uses no zone (``inspect``, ``media``, ``diode``, ...) is
    ignored with a note on stderr, instead of "No such option" (every command accepts it)."""
    out, i, dropped = [], 0, False
    while i < len(args):
        if args[i] == "--":
            out += args[i:]
            break
        if args[i] == "--home" and i + 1 < len(args):
            i, dropped = i + 2, True
            continue
        if args[i].startswith("--home="):
            i, dropped = i + 1, True
            continue
        out.append(args[i])
        i += 1
    if dropped:
        click.echo(f"note: `{ctx.command_path}` works on files and uses no zone: --home is ignored", err=True)
    return out


def write_examples(formatter: click.HelpFormatter, epilog: str | None, *, heading: str | None) -> None:
    """Write a command's example lines into its ``--help`` verbatim: one command a line, never
    wrapped or broken at a hyphen whatever the terminal's width (click would rewrap them, so a
    line copied from the help would not run). Blank lines separate groups of examples."""
    if not epilog:
        return
    formatter.write_paragraph()
    if heading:
        formatter.write_text(heading)
    with formatter.indentation():
        for line in epilog.strip("\n").splitlines():
            if line.strip():
                formatter.write(f"{'':>{formatter.current_indent}}{line.rstrip()}\n")
            else:
                formatter.write_paragraph()


def _as_json(err: click.ClickException, words: list[str]) -> click.ClickException:
    if isinstance(err, _JsonUsage) or not json_requested(words):
        return err
    return _JsonUsage(err)


_last_ctx: list[click.Context] = []


def _deepest_context(ctx: click.Context) -> click.Context:
    return _last_ctx[-1] if _last_ctx else ctx


class BundleCommand(click.Command):
    """A command that records its context (for --json error output) and prints examples verbatim.

    An option the command does not have, but that names a concept bundlekit keeps elsewhere
    (``deploy --channel``), is answered with where that concept lives (``cli/concepts.py``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = {p.name for p in self.params}
        if "home" in names and "passphrase_file" not in names:
            # Every command that works in a zone may need its keys' passphrase (decision 791).
            self.params.append(click.Option(
                ["--passphrase-file", "zone_passphrase_file"], type=click.Path(dir_okay=False, path_type=Path),
                default=None, expose_value=False, callback=_zone_passphrase_file,
                help="A file holding the passphrase of the zone's protected keys on one line, if it needs it "
                     "(else $BUNDLEKIT_PASSPHRASE_FILE, else asked on a terminal)."))

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not any(p.name == "home" for p in self.params):
            args = _drop_home(ctx, args)
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as err:
            path = ctx.command_path.split(" ", 1)[1] if " " in ctx.command_path else ctx.command_path
            with given_home(home_typed(args)):  # parsing failed, so only the words say which --home was given
                hint = concept_hint(path, err.option_name, home_flag())
            if hint is None:
                raise
            raise click.NoSuchOption(err.option_name, message=f"{err.option_name}: {hint}", ctx=ctx) from None

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command with its audit context (``zone/audit.py``): every change it commits
        is recorded naming it and its object; a refusal after a change is recorded too."""
        from bundlekit.core.atomic import tell_swept
        from bundlekit.zone.audit import acting  # the audit trail loads with the first command run, not for --help

        _last_ctx.append(ctx)
        tell_swept(_swept)
        given = ctx.params.get("home") if any(p.name == "home" for p in self.params) else None
        with given_home(str(Path(given).expanduser()) if given else None), acting(ctx.command_path.partition(" ")[2] or ctx.command_path, audited_object(ctx)) as current:
            try:
                return super().invoke(ctx)
            except BundleError as err:
                current.refused(err.code)
                raise
            except click.exceptions.Exit:
                if ctx.meta.get(_REFUSED):
                    current.refused(ctx.meta[_REFUSED])
                raise
            finally:
                tell_swept(None)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        write_examples(formatter, self.epilog, heading="Example:")


_REFUSED = "bundlekit.refused"


def _swept(path: Path, size: int) -> None:
    """Name on stderr a leftover a writer removed from a user's folder before writing there
    (``core/atomic.py`` ``sweep_leftovers``, decision 886): the user's folder changed."""
    echo(f"removed {path} ({size_text(size)}): a temporary file a killed bundlekit command left there", err=True)


def _zone_passphrase_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    from bundlekit.cli.passphrase import use_zone_passphrase_file  # it prints through this module
    use_zone_passphrase_file(value)


def exit_refused(err: BundleError) -> NoReturn:
    """End the command with ``err``'s exit code when its output already says why (a ``--json``
    document holding the error object): the refusal is recorded as if ``err`` had been raised."""
    ctx = click.get_current_context()
    ctx.meta[_REFUSED] = err.code
    ctx.exit(err.exit_code)


#: Options that, with a command's arguments, name what it acts on: its audit entries record them.
OBJECT_OPTIONS = frozenset({"environment", "tenant", "role", "roles", "machine", "channel", "step", "to", "phase",
                            "release", "source", "zone_name", "name", "sensitive", "space"})
#: Options that say how a policy is set (`retention set`): recorded so its entry says what was set;
#: numbers and flags, never a secret.
SETTING_OPTIONS = frozenset({"keep_releases", "keep_days", "keep_all", "auto_prune"})
#: Arguments that carry a value rather than name an object: never recorded.
VALUE_ARGUMENTS = frozenset({"value"})


def audited_object(ctx: click.Context) -> dict[str, Any]:
    """What the command names, for its audit entries: its arguments (but :data:`VALUE_ARGUMENTS`)
    and the :data:`OBJECT_OPTIONS` and :data:`SETTING_OPTIONS` given, as text, lists of text or
    flags; never a value. An empty text names nothing and is left out, as is an unset flag (but a
    flag turned off that has no default, ``--no-auto-prune``)."""
    out: dict[str, Any] = {}
    for param in ctx.command.params:
        name = param.name or ""
        if (isinstance(param, click.Argument) and name not in VALUE_ARGUMENTS or name in OBJECT_OPTIONS
                or name in SETTING_OPTIONS):
            value = ctx.params.get(name)
            if value is None or value == () or value == "" or value is False and param.default is not None:
                continue
            out[name] = value if isinstance(value, bool) else (
                [str(v) for v in value] if isinstance(value, (list, tuple)) else str(value))
    return out


BundleGroup.command_class = BundleCommand
BundleGroup.group_class = BundleGroup


_WHOLE = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")


def _python_reads(kind: Callable[[str], Any], value: str) -> bool:
    """Whether Python would read ``value`` as a number (then only our rule refuses it; text that
    is no number at all gets click's own message)."""
    try:
        kind(value)
    except ValueError:
        return False
    return True


class AsciiIntRange(click.IntRange):
    """``click.IntRange`` that takes ASCII digits only: Python's ``int`` also reads other
    scripts' digits (``٢٢`` is 22), underscores (``1_0``) and spaces, so a number a user did
    not mean, or cannot see, would be used (decision 413)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not _WHOLE.fullmatch(value) and _python_reads(int, value):
            self.fail(f"{value!r} is not a whole number written with the digits 0-9", param, ctx)
        return super().convert(value, param, ctx)

    def _describe_range(self) -> str:
        # click prints "x<=None" for a range with no bounds; such an option states its own limits.
        return "" if self.min is None and self.max is None else super()._describe_range()


class AsciiFloatRange(click.FloatRange):
    """``click.FloatRange`` that takes ASCII digits (and one ``.``) only, for the same reason."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not _DECIMAL.fullmatch(value) and _python_reads(float, value):
            self.fail(f"{value!r} is not a number written with the digits 0-9 (and a '.')", param, ctx)
        return super().convert(value, param, ctx)


#: A whole-number option type: ASCII digits only, any value.
ASCII_INT = AsciiIntRange()


def stdin_bytes() -> BinaryIO:
    """Standard input as bytes; an empty stream when the command was started with it closed
    (``<&-``: Python then has no ``sys.stdin`` at all), so a reader sees no input, never a
    traceback."""
    return sys.stdin.buffer if sys.stdin is not None else io.BytesIO(b"")


def stdin_text(what: str, limit: int) -> str:
    """Standard input, read whole (at most ``limit`` bytes) as UTF-8 text. ``InputError``
    ``not_utf8`` naming ``what`` when it is not UTF-8 (the text is never quoted: it may be a
    secret), ``input_too_large`` when it is longer."""
    data = read_limited(stdin_bytes(), limit, what, fix="check what is piped or redirected into the command")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} is not UTF-8 text (byte {exc.start} is invalid); the value must be UTF-8",
                         code="not_utf8") from None

