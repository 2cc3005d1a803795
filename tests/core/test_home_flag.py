"""The --home a suggested command carries (decision 964): the one the running command was given,
quoted for the shell, and nothing without one."""

from __future__ import annotations

from bundlekit.core.hints import given_home, here_flags, home_flag, without_home


def test_home_flag_is_the_given_home_quoted_for_the_shell() -> None:
    with given_home("/tmp/a b/prod"):
        assert home_flag() == " --home '/tmp/a b/prod'"
        assert here_flags("Team A") == " --space 'Team A' --home '/tmp/a b/prod'"
        assert here_flags("Default") == " --home '/tmp/a b/prod'"


def test_no_home_given_no_flag_and_the_outer_command_s_home_comes_back() -> None:
    assert home_flag() == ""
    with given_home(None):
        assert home_flag() == ""
    with given_home("/x"):
        with given_home("/y $(rm -rf ~)"):
            assert home_flag() == " --home '/y $(rm -rf ~)'"
        assert home_flag() == " --home /x"
    assert home_flag() == ""


def test_a_recorded_message_keeps_no_home() -> None:
    with given_home("/tmp/a b/prod"):
        text = f"bind it: `bundlekit variables set web Key{home_flag()} - --sensitive`"
        assert without_home(text) == "bind it: `bundlekit variables set web Key - --sensitive`"
    assert without_home("`bundlekit x`") == "`bundlekit x`"
