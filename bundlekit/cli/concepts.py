"""Where a concept lives, for options a user expects but a command does not have.

Octopus users bring their habits: ``deploy --channel``, ``export --environment``,
``variables set --tenant``. Where bundlekit keeps that concept somewhere else (the release
file, the project's variables, the environment's targets), the unknown option is answered
with where to find it instead of click's "Did you mean '--help'?". Keys are the command
path without ``bundlekit`` (``"deploy"``, ``"variables set"``) or ``"*"`` for every command.
A suggested command ends in ``{home}``: :func:`concept_hint` puts the operator's --home there.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["concept_hint", "home_typed", "HINTS", "SPACE_COMMANDS"]

_CHANNEL = ("a release's channel is part of the release: it is set in the release file ([release] channel) "
            "and `bundlekit show PROJECT VERSION{home}` shows it; deploy picks the release by its VERSION argument")
_TARGETS = ("a deployment runs on every target of --environment that has a role a step names; see them with "
            "`bundlekit targets list{home}`, leave one out with `bundlekit targets remove NAME{home}`, or leave a step "
            "out with `bundlekit steps disable PROJECT STEP{home}`")
_VARIABLES = ("deploy-time values are the zone's copy of the project's variables: set them first with "
              "`bundlekit variables set PROJECT NAME VALUE --environment ENV{home}`, a sensitive value from stdin, "
              "never on the command line: `bundlekit variables set PROJECT NAME - --sensitive{home} < FILE`")
_PACKAGES = "a release's packages are listed in its release file ([[packages]]) and travel with it"
_STEPS = "leave a step out of this zone's deployments with `bundlekit steps disable PROJECT STEP{home}`"
_VERSION = "give the release version as the second argument: `bundlekit deploy PROJECT VERSION --environment ENV{home}`"
_PROJECT = "give the project (name or slug) as the first argument"
#: The commands that take --space (tests/cli/test_space_option_hint.py checks the list against the CLI).
SPACE_COMMANDS = ("import", "deploy", "deployments list/show", "variables", "steps", "releases", "show", "lifecycle",
                  "targets (but ssh-key and scan-host-key)", "outputs", "retention", "trust add/set/list", "dashboard",
                  "serve", "audit")
_TAKES_SPACE = (f"The commands that work in one space take --space NAME ({', '.join(SPACE_COMMANDS)}); "
                "`bundlekit spaces list{home}` shows the spaces")
_WHOLE_ZONE = "it works on the whole zone, every space at once"
#: Why a command has no --space (review newuser finding 12), by command path; others: _WHOLE_ZONE.
_NO_SPACE = {
    "spaces list": "it shows every space, with what belongs to each",
    "spaces add": "it adds the space its argument names (`bundlekit spaces add NAME{home}`)",
    "export-self": ("it sends bundlekit itself, which serves every space of the zone that installs it: its releases "
                    "belong to space Default there"),
    "self-update": ("it installs bundlekit for the whole zone, every space: bundlekit's own releases belong to space "
                    "Default and are accepted only from a source trusted there for the project bundlekit (a team space "
                    "never replaces the zone's bundlekit)"),
    "relay": "it passes a bundle on unchanged; the zone it is addressed to chooses the space it enters",
    "verify": ("it checks a bundle whatever space it will enter: the space is chosen when it is imported "
               "(`bundlekit import BUNDLE --space NAME{home}`), where only a space its source is trusted in takes it"),
    "inspect": "it shows what a bundle holds, the space its release file names included",
    "sign": "it adds an approver's signature to a bundle, whatever space it will enter",
    "lint": "it checks a release file, which names its own space ([project] space)",
    "render": "it renders a release file's templates; the file names its own space ([project] space)",
    "render-config": "it renders a release file's configuration; the file names its own space ([project] space)",
    "outbox list": "it lists the receipts waiting for every trusted zone, whatever their projects' space",
    "outbox pack": "it packs every receipt waiting for the zone --to names, of each space that zone answers for",
    "deployments receipt": "it names a deployment by its id, which is unique in the zone",
    "trust remove": "it names the trusted zone, which is trusted in one space (`bundlekit trust list{home}` shows it)",
    "trust add-signer": "it adds an approver to the trusted zone --for names, whichever space it is trusted in",
    "trust revoke": "it refuses a signing key in every space",
    "targets ssh-key": "it prints the zone's own SSH key, the same for every space",
    "targets scan-host-key": "it reads a host's key over the network; `targets add --space NAME` pins it in a space",
    "prune": ("it judges each space's releases by that space's retention policy (`bundlekit retention set --space "
              "NAME{home}`)"),
}


def _space_hint(command_path: str) -> str:
    """Why ``command_path`` has no --space, and which commands do (review newuser finding 12)."""
    return f"bundlekit {command_path} takes no --space: {_NO_SPACE.get(command_path, _WHOLE_ZONE)}. {_TAKES_SPACE}"
_LIFECYCLE = ("a release's lifecycle comes with it from its release file ([lifecycle]); deploy names the "
              "environment (--environment) and the lifecycle decides whether it is open yet; phases are "
              "waived with `bundlekit lifecycle waive PROJECT --phase PHASE --reason TEXT{home}`")
_TENANT = ("a tenant is chosen when deploying (`bundlekit deploy PROJECT VERSION --environment ENV --tenant "
           "NAME{home}`) and scopes values (`bundlekit variables set PROJECT NAME VALUE --tenant NAME{home}`)")
_RELEASE_FIELDS = ("set in the release file: [project] name, slug and space, [release] version, channel and "
                   "notes (see spec/release-file.md)")
_ENV_AT_DEPLOY = ("a bundle is not tied to an environment: the zone that imports it chooses one when it "
                  "deploys (`bundlekit deploy PROJECT VERSION --environment ENV{home}`)")
_SCOPES = ("bundlekit scopes variables by --environment, --role, --machine, --tenant, --channel and --step "
           "(repeatable); an action or tenant-tag scope is not supported")

_UPDATE_VARIABLES = ("a release's variables are refreshed from this zone's current values before a deployment with "
                     "`bundlekit releases update-variables PROJECT VERSION{home}` (`--dry-run` shows the changes first); "
                     "deploy then uses them")
_WINDOW = ("a rolling deployment is set per step in the release file ([[steps]] window_size = N: at most N "
           "targets run that step at once); --max-parallel caps every step of this deployment")
_GUIDED_FAILURE = ("bundlekit has no guided failure: after a failed run no new target of that step starts, later "
                   "steps run only if their condition says so (condition = \"failure\" or \"always\" in the "
                   "release file), and the deployment is recorded Failed; fix the cause and run the same deploy "
                   "command again")
_SCHEDULE = ("bundlekit deploys when the command runs; to deploy later, run it from a scheduler (cron, a systemd "
             "timer) at that time")
_TIMEOUT = ("a step's time limit is set in the release file ([[steps]] timeout = SECONDS); --wait is how long deploy "
            "queues behind another deployment")
_WAITS = "deploy runs the deployment and returns when it has ended, with its state as the exit code"

#: (command path, option) -> where the concept lives.
HINTS: dict[tuple[str, str], str] = {
    **{("deploy", o): _CHANNEL for o in ("--channel",)},
    **{("deploy", o): _TARGETS for o in ("--target", "--targets", "--machine", "--machines", "--role",
                                         "--roles", "--specific-machines", "--exclude-machines",
                                         "--exclude-target")},
    **{("deploy", o): _VARIABLES for o in ("--variable", "--var", "--variables", "--prompted-variable")},
    **{("deploy", o): _PACKAGES for o in ("--package", "--packages", "--package-version")},
    **{("deploy", o): _STEPS for o in ("--skip", "--skip-step", "--exclude-step", "--step")},
    **{("deploy", o): _VERSION for o in ("--version", "--release", "--release-number")},
    ("deploy", "--project"): _PROJECT,
    ("deploy", "--force"): ("there is no --force: deploying a version again needs no option (run the same command "
                            "again), and a lifecycle phase still to pass is waived, on the record, with "
                            "`bundlekit lifecycle waive PROJECT --phase PHASE --reason TEXT{home}`"),
    **{("deploy", o): _LIFECYCLE for o in ("--lifecycle", "--phase")},
    ("deploy", "--env"): "the option is --environment",
    **{("deploy", o): _UPDATE_VARIABLES for o in ("--update-variables", "--updatevariables")},
    **{("deploy", o): _WINDOW for o in ("--window-size", "--window", "--rolling", "--parallel")},
    **{("deploy", o): _GUIDED_FAILURE for o in ("--guided-failure", "--guidedfailure", "--retry",
                                                 "--ignore-failure", "--continue-on-error")},
    **{("deploy", o): _SCHEDULE for o in ("--deploy-at", "--when", "--at", "--schedule", "--no-deploy-after")},
    **{("deploy", o): _TIMEOUT for o in ("--timeout", "--deployment-timeout", "--step-timeout")},
    **{("deploy", o): _WAITS for o in ("--wait-for-deployment", "--progress", "--follow")},
    **{("deploy", o): _PACKAGES for o in ("--force-package-download", "--skip-package-download")},
    **{("export", o): _RELEASE_FIELDS for o in ("--channel", "--version", "--release", "--project", "--space",
                                                 "--notes", "--release-notes")},
    **{("export", o): _ENV_AT_DEPLOY for o in ("--environment", "--env")},
    **{("export", o): _PACKAGES for o in ("--package", "--packages")},
    **{("import", o): _ENV_AT_DEPLOY for o in ("--environment", "--env")},
    ("import", "--channel"): _CHANNEL.replace("; deploy picks the release by its VERSION argument", ""),
    **{(c, o): _SCOPES for c in ("variables set", "variables unset")
       for o in ("--action", "--target", "--tenant-tag", "--scope")},
    **{(c, "--env"): "the option is --environment" for c in ("variables set", "variables unset", "targets add")},
    ("*", "--tenant"): _TENANT,
}


def concept_hint(command_path: str, option: str, home: str = "") -> str | None:
    """Where the concept behind ``option`` lives for ``command_path`` (``"deploy"``), or None. A
    command without --space says why, and which commands take it. ``home``: the `` --home DIR``
    the operator gave (:func:`bundlekit.core.hints.home_flag`), put where a command says
    ``{home}``, so each runs as printed (decision 973)."""
    found = HINTS.get((command_path, option)) or HINTS.get(("*", option))
    if found is None and option == "--space":
        found = _space_hint(command_path)
    return None if found is None else found.replace("{home}", home)


def home_typed(args: list[str]) -> str | None:
    """The value of the last ``--home`` in ``args`` (``~`` expanded), or None: for a hint printed
    when parsing failed, before click has read it."""
    found = None
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--home" and i + 1 < len(args):
            found = args[i + 1]
        elif arg.startswith("--home="):
            found = arg[len("--home="):]
    return str(Path(found).expanduser()) if found else None
