"""The root group that imports a command's module only when that command is used.

Every ``bundlekit`` run used to import all command modules, and with them every workflow layer
(export, import, deploy, the zone's audit trail, ...), before doing anything: most of a quick
command's time. :class:`LazyGroup` knows each top-level command by a registry entry instead
(``bundlekit/cli/__init__.py``, :data:`~bundlekit.cli.COMMANDS`): its name, the module(s) under
``bundlekit/cli/`` that define it, and its short help. ``bundlekit --help`` lists the commands
from the registry alone; ``bundlekit CMD ...`` (``--help`` included) imports that command's
modules, which add the command to the group as they always did (``@cli.command``).

The group's ``commands`` mapping stays a complete view for code that walks it (tests, the
documentation checks): iterating it loads every registered command first, and looking one up
loads that one (:class:`_Commands`). click itself goes through :meth:`LazyGroup.get_command`
and :meth:`LazyGroup.list_commands`, which load only what is asked for.
"""

from __future__ import annotations

import importlib
from typing import Any, Iterator, Mapping

import click

from bundlekit.cli.common import BundleGroup

__all__ = ["LazyGroup", "Entry"]

#: A registry entry: the module names under ``bundlekit.cli`` that define the command, separated
#: by spaces (the first defines it; later ones add subcommands to it), and its short help.
Entry = tuple[str, str]


class _Commands(dict):  # type: ignore[type-arg]
    """The group's commands by name: complete whenever it is read as a whole.

    Iterating, ``len``, ``keys``/``values``/``items`` load every registered command; ``get`` and
    ``[name]`` load the one named; ``name in`` answers from the registry without loading.
    Storing (``@cli.command`` while a module is imported) is a plain dict store.
    """

    def __init__(self, group: LazyGroup) -> None:
        super().__init__()
        self._group = group

    def __getitem__(self, name: str) -> click.Command:
        self._group.load(name)
        return super().__getitem__(name)

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        self._group.load(name)
        return super().get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._group.registry or super().__contains__(name)

    def __iter__(self) -> Iterator[str]:
        self._group.load_all()
        return super().__iter__()

    def __len__(self) -> int:
        self._group.load_all()
        return super().__len__()

    def keys(self) -> Any:
        self._group.load_all()
        return super().keys()

    def values(self) -> Any:
        self._group.load_all()
        return super().values()

    def items(self) -> Any:
        self._group.load_all()
        return super().items()


class LazyGroup(BundleGroup):
    """A :class:`~bundlekit.cli.common.BundleGroup` whose commands are imported on first use.

    ``registry`` maps a command name to an :data:`Entry`. Loading a command imports its modules
    (idempotent) and attaches the zone's shell completers to it (``cli/completion.py``). A name
    the registry lists whose modules do not define it is a bug in the registry: loading it
    raises :class:`LookupError` (``tests/cli/test_lazy_commands.py`` checks every entry).
    """

    def __init__(self, *args: Any, registry: Mapping[str, Entry], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.registry: dict[str, Entry] = dict(registry)
        self._ready: set[str] = set()
        self.commands = _Commands(self)

    def load(self, name: str) -> None:
        """Import the modules of the registered command ``name`` (nothing for another name)."""
        if name in self._ready or name not in self.registry:
            return
        for module in self.registry[name][0].split():
            importlib.import_module(f"bundlekit.cli.{module}")
        command = dict.get(self.commands, name)
        if command is None:
            raise LookupError(f"bundlekit/cli/__init__.py registers the command {name!r} in "
                              f"{self.registry[name][0]!r}, which do not define it: fix its COMMANDS entry")
        from bundlekit.cli.completion import attach

        attach(name, command)
        self._ready.add(name)

    def load_all(self) -> None:
        """Import every registered command's modules."""
        for name in self.registry:
            self.load(name)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self.commands.get(cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.registry) | set(dict.keys(self.commands)))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``--help``: a registered command by its registry help, without
        importing it; the short help is cut to the width as click cuts a command's help."""
        rows: list[tuple[str, click.Command]] = []
        for name in self.list_commands(ctx):
            cmd = click.Command(name, help=self.registry[name][1]) if name in self.registry \
                else self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd))
        if not rows:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in rows)
        with formatter.section("Commands"):
            formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in rows])
