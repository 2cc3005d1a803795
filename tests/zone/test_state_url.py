"""State URLs: every malformed URL is a refusal naming its origin, and no message shows a password.

Any part of a URL may be, or hold, the password (a '/' left unencoded in it makes libpq read
its first half as the port), so a refusal quotes nothing of the text and the masked form is
rebuilt from the parsed parts.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bundlekit.errors import BundleError
from bundlekit.zone.location import parse_state_url
from bundlekit.zone.state_url import split_state_url
from tests.conftest import raises_code

SETTING = "BUNDLEKIT_STATE in /srv/prod/bundlekit.conf, line 2"

MALFORMED = [
    "postgresql://[::1/db",  # the attacker's: an IPv6 address never closed
    "postgresql://u:pw@[::1/db",
    "postgresql://[zz::q]/db",
    "postgresql://[::1]x/db",
    "postgresql://u@[fe80::1%25eth0]/db",
    "postgresql://u@h:0/db", "postgresql://u@h:65536/db", "postgresql://u@h:5x/db", "postgresql://u@h:/db",
    "postgresql://u@h1,h2/db",
    "postgresql://u@/db", "postgresql:///db", "postgresql://u@h", "postgresql://u@h/", "postgresql://u@h?sslmode=x",
    "postgresql://u@ho$t/db",
    "postgresql://u:p@ss@h/db",
    "postgresql://u:pa/ss@h/db",  # a '/' in the password: "pa" would be the port
    "postgresql://u:12/ss@h/db",  # ... and a port that parses: the '@' after the host gives it away
    "postgresql://u:p%zzw@127.0.0.1/db", "postgresql://u:p%zzw%41@127.0.0.1/db", "postgresql://u:p%4@h/db",
    "postgresql://u:%ff%fe@h/db", "postgresql://u:a%00b@h/db", "postgresql://u:a%0ab@h/db",
    "postgresql://u@h/d%zzb", "postgresql://u%zz@h/db",
    "postgresql://u@h/db?password=p%zzw", "postgresql://u@h/db?sslmode", "postgresql://u@h/db?a-b=1",
    "postgresql://u@h/db?sslmode=a&sslmode=b", "postgresql://u@h/db?host=other", "postgresql://u@h/db?dbname=x",
    "postgresql://u:one@h/db?password=two",
    "postgresql://u@h/db name", "postgresql://u@h/db\nx",
    "mysql://u@h/db", "postgresql:/u@h/db", "u:pw@h/db", "", "   ",
]


@pytest.mark.parametrize("text", MALFORMED)
def test_every_malformed_state_url_is_refused_naming_where_it_came_from(text: str) -> None:
    with raises_code("invalid_state_url") as cli:
        parse_state_url(text, where="--state", allow_password=True)
    assert cli.value.message.startswith("--state: not a PostgreSQL state URL: ")
    with raises_code("invalid_node_settings") as home:
        parse_state_url(text, where=SETTING, allow_password=True, setting=True)
    assert home.value.message.startswith(SETTING) and "correct it in that file" in home.value.message


@pytest.mark.parametrize("text", ["postgresql://u:p%zzw%41@127.0.0.1/db", "postgresql://u:p%zzw@127.0.0.1/db",
                                  "postgresql://u@127.0.0.1/db?password=p%zzw", "postgresql://u:zzw/x@h/db",
                                  "postgresql://u:12/zzw@h/db"])
def test_a_password_the_parser_refuses_is_not_quoted_in_the_refusal(text: str) -> None:
    for setting, code in ((False, "invalid_state_url"), (True, "invalid_node_settings")):
        with raises_code(code) as info:
            parse_state_url(text, where="w", allow_password=True, setting=setting)
        assert "zzw" not in info.value.message, info.value.message


# Letters that no message, mask or URL part of bundlekit's own ever contains, so any of them (or
# its percent-encoding) in an output came from the password.
_MARK = "αβγ"
_PASSWORDS = st.lists(st.sampled_from(list(_MARK) + list("%@:/?#&=[]+ z41") + ["%CE%B1", "%25", "%2F"]),
                      min_size=1, max_size=14).map("".join).filter(lambda p: any(c in p for c in _MARK) or "%CE%B1" in p)


def _shows_the_mark(text: str) -> bool:
    return any(c in text for c in _MARK) or any(quote(c).lower() in text.lower() for c in _MARK)


@settings(max_examples=400, deadline=None)
@given(password=_PASSWORDS, form=st.sampled_from(["postgresql://bk:{}@127.0.0.1:5432/prod",
                                                   "postgresql://bk:{}@[::1]/prod?sslmode=require",
                                                   "postgresql://bk@db1/prod?password={}&sslmode=require",
                                                   "postgres://:{}@db1:1/prod"]))
def test_no_password_however_written_shows_in_a_refusal_or_in_the_masked_url(password: str, form: str) -> None:
    text = form.format(password)
    for setting in (False, True):
        try:
            url = parse_state_url(text, where="w", allow_password=setting, setting=setting)
        except BundleError as error:
            assert not _shows_the_mark(error.message), error.message
        else:
            assert not _shows_the_mark(url.masked) and not _shows_the_mark(repr(url)), url.masked


def test_a_url_is_read_as_libpq_reads_it_and_shown_masked() -> None:
    url = split_state_url(" postgresql://bk%40corp:p%40ss%3Aw%2Fo%25rd#?@[::1]:6432/pro%20d?sslmode=require&"
                          "application_name=node%20a&sslpassword=k%26y ")
    assert (url.user, url.password, url.host, url.port, url.dbname) == ("bk@corp", "p@ss:w/o%rd#?", "::1", 6432,
                                                                        "pro d")
    assert url.parameters() == {"host": "::1", "port": "6432", "dbname": "pro d", "user": "bk@corp",
                                "sslmode": "require", "application_name": "node a", "password": "p@ss:w/o%rd#?",
                                "sslpassword": "k&y"}
    assert url.parameters("from-the-home")["password"] == "from-the-home"
    assert url.masked == ("postgresql://bk%40corp:********@[::1]:6432/pro%20d?sslmode=require&application_name=node%20a"
                          "&sslpassword=********")
    assert str(url) == url.masked and "p@ss" not in repr(url) and "k&y" not in repr(url)
    plain = split_state_url("postgres://db1.example/prod")
    assert (plain.user, plain.port, plain.password, plain.masked) == (None, None, None, "postgres://db1.example/prod")


@pytest.mark.parametrize("text", ["postgresql://u:hunter2@h/db", "postgresql://u@h/db?password=hunter2",
                                  "postgresql://u@h/db?sslpassword=hunter2"])
def test_a_secret_in_a_url_on_the_command_line_is_refused_and_not_echoed(text: str) -> None:
    with raises_code("password_in_url") as info:
        parse_state_url(text, where="--state", allow_password=False)
    assert "hunter2" not in info.value.message and "***" in info.value.message
    assert "--state-password-file" in info.value.message


def test_a_driver_message_holding_the_password_in_any_form_is_withheld() -> None:
    url = split_state_url("postgresql://bk:s%65cret@h/db")
    for leaked in ('invalid token "s%65cret"', 'bad value "secret"', "home password: from-file!"):
        assert url.withhold(leaked, "from-file!") == "the driver's message is withheld: it contained the password"
    assert url.withhold('connection to server at "h" failed', "from-file!") == 'connection to server at "h" failed'
