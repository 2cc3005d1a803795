"""Masker: every secret region is hidden, short values are not, and it stays fast."""

from __future__ import annotations

import base64
import json
import urllib.parse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bundlekit.core.text import MASK
from bundlekit.runtime.masking import LineMasker, Masker, encoded_forms


def test_every_occurrence_of_a_secret_is_masked() -> None:
    masker = Masker(["hunter22"])
    assert masker.mask("a hunter22 b hunter22") == f"a {MASK} b {MASK}"


def test_values_of_three_characters_or_fewer_are_not_masked() -> None:
    masker = Masker(["abc", "1", ""])
    assert masker.mask("abc 1 abcd") == "abc 1 abcd"
    assert masker.secret_count == 0


def test_four_character_values_are_masked() -> None:
    assert Masker(["abcd"]).mask("xabcdx") == f"x{MASK}x"


def test_a_shorter_secret_inside_a_longer_one_does_not_leak_its_suffix() -> None:
    masker = Masker(["pass", "password123"])
    assert masker.mask("pw=password123;") == f"pw={MASK};"


def test_secrets_overlapping_at_different_offsets_leave_no_fragment() -> None:
    masker = Masker(["abcdef", "defghi"])
    masked = masker.mask("xxabcdefghiyy")
    assert masked == f"xx{MASK}yy"
    for fragment in ("abc", "def", "ghi"):
        assert fragment not in masked


def test_secret_added_later_is_masked_from_then_on() -> None:
    masker = Masker()
    assert masker.mask("token-12345") == "token-12345"
    masker.add("token-12345")
    assert masker.mask("token-12345") == MASK


def test_each_long_line_of_a_multiline_secret_is_masked_on_its_own() -> None:
    pem = "-----BEGIN KEY-----\nMIIEvQIBADANBgkq\nab\n-----END KEY-----"
    masker = Masker([pem])
    log = "line1\nMIIEvQIBADANBgkq\nab\n"
    assert masker.mask(log) == f"line1\n{MASK}\nab\n"
    assert masker.mask("  MIIEvQIBADANBgkq  ") == f"  {MASK}  "
    assert masker.mask(pem) == MASK


def test_unicode_secrets_are_masked_in_text_and_in_utf8_bytes() -> None:
    masker = Masker(["mötörhead-ü"])
    assert masker.mask("x mötörhead-ü y") == f"x {MASK} y"
    data = "é mötörhead-ü é".encode()
    assert masker.mask_bytes(data) == f"é {MASK} é".encode()


def test_mask_bytes_handles_overlaps_and_leaves_other_bytes_alone() -> None:
    masker = Masker(["abcdef", "defghi"])
    assert masker.mask_bytes(b"\xff\x00abcdefghi\xfe") == b"\xff\x00" + MASK.encode() + b"\xfe"
    assert Masker().mask_bytes(b"\xffabcdef") == b"\xffabcdef"


def test_regex_metacharacters_in_secrets_are_literal() -> None:
    masker = Masker(["a.b*c(d)"])
    assert masker.mask("aXbbbc(d) a.b*c(d)") == f"aXbbbc(d) {MASK}"


def test_megabytes_of_log_with_many_secrets_are_masked_completely() -> None:
    secrets = [f"secret-value-{i:04d}" for i in range(200)]
    masker = Masker(secrets)
    line = "INFO nothing to see here, just a long ordinary log line 0123456789\n"
    log = line * 30_000 + " ".join(secrets) + "\n" + line * 1000
    masked = masker.mask(log)
    assert not any(secret in masked for secret in secrets)
    assert masked.count(MASK) == len(secrets)
    assert masked.startswith(line * 30_000)
    assert masked.endswith(line * 1000)


@given(
    secret=st.text(min_size=4, max_size=12),
    before=st.text(max_size=20),
    after=st.text(max_size=20),
)
def test_a_secret_never_survives_masking(secret: str, before: str, after: str) -> None:
    masked = Masker([secret]).mask(before + secret + after)
    assert secret not in masked


@pytest.mark.parametrize("prefix", [b"", b"a", b"ab", b"abc"])
def test_key_bytes_inside_a_longer_base64_text_are_masked_at_any_alignment(prefix: bytes) -> None:
    key = bytes(range(7, 39))  # 32 bytes
    masker = Masker(forms=encoded_forms(key))
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(prefix + key + b"tail").decode()
        masked = masker.mask(text)
        assert MASK in masked
        # At most the three-character groups shared with the surrounding bytes survive: under two
        # bytes of the key on each side.
        assert len(masked.replace(MASK, "")) <= len(text) - 4 * (len(key) - 4) // 3


def test_key_text_is_masked_wrapped_hex_url_and_json_encoded() -> None:
    pem = "-----BEGIN KEY-----\n" + base64.b64encode(bytes(range(200))).decode() + "\n-----END KEY-----\n"
    masker = Masker(forms=encoded_forms(pem.encode()))
    wrapped = base64.encodebytes(pem.encode()).decode()  # 76 columns, as base64(1) prints it
    for line in wrapped.splitlines():
        assert len(line) < 16 or masker.mask(line) == MASK
    for shown in (pem.encode().hex(), pem.encode().hex().upper(), urllib.parse.quote(pem, safe=""),
                  json.dumps({"k": pem})):
        assert pem.strip() not in masker.mask(shown) and "ABAgMEBQYHCAkKCwwNDg8Q" not in masker.mask(shown)
        assert MASK in masker.mask(shown)


def test_encoded_forms_of_short_or_empty_values_mask_nothing_common() -> None:
    assert encoded_forms(b"") == set()
    assert all(len(form) >= 4 for form in encoded_forms(b"ab"))
    assert Masker(forms=encoded_forms(bytes(32))).mask("hello world") == "hello world"


# ------------------------------------------------- a sensitive value in the encodings scripts make of it

SECRET = "pa55:w/rd+\"é&x"  # a character of every kind the URL and JSON encodings change


def _core(text: str, before: int, length: int) -> str:
    """The characters of base64 ``text`` whose six bits all come from the ``length`` bytes that
    start ``before`` bytes into the encoded data (the ones that do not depend on their neighbours)."""
    first, end = 8 * before, 8 * (before + length)
    return "".join(c for i, c in enumerate(text) if 6 * i >= first and 6 * i + 6 <= end)


@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
@pytest.mark.parametrize("prefix", [b"", b"a", b"ab", b"abc", b"abcd"])
def test_a_secret_inside_a_longer_base64_text_is_masked_at_each_of_the_three_alignments(encode, prefix: bytes) -> None:
    masker = Masker([SECRET])
    raw = SECRET.encode()
    text = encode(prefix + raw + b"--tail of other bytes").decode()
    core = _core(text, len(prefix), len(raw))
    assert len(core) >= (8 * len(raw) - 10) // 6  # all but the two characters shared with neighbours
    masked = masker.mask(text)
    assert core not in masked and MASK in masked
    # What survives around the mask: the prefix's and the tail's own characters and at most one
    # shared character on each side (under six bits of the secret each).
    assert len(masked) - len(MASK) <= len(text) - len(core)


@pytest.mark.parametrize("shown", [
    base64.b64encode(SECRET.encode()).decode(),
    base64.b64encode(SECRET.encode()).decode().rstrip("="),
    base64.urlsafe_b64encode(SECRET.encode()).decode(),
    SECRET.encode().hex(),
    SECRET.encode().hex().upper(),
    urllib.parse.quote(SECRET, safe=""),
    urllib.parse.quote(SECRET),
    urllib.parse.quote_plus(SECRET),
    urllib.parse.quote(SECRET, safe="").lower(),  # some encoders write %2f, not %2F
    json.dumps(SECRET)[1:-1],
    json.dumps(SECRET, ensure_ascii=False)[1:-1],
    json.dumps(SECRET).replace("/", "\\/")[1:-1],  # encoders that escape the slash
], ids=["b64", "b64-unpadded", "b64url", "hex", "HEX", "url", "url-keep-slash", "url-plus", "url-lower", "json",
        "json-utf8", "json-slash"])
def test_a_sensitive_value_is_masked_in_every_encoding_a_script_makes(shown: str) -> None:
    assert shown != SECRET
    line = f"connecting with {shown} now"
    assert Masker([SECRET]).mask(line) == f"connecting with {MASK} now"


def test_a_value_added_later_is_masked_in_its_encodings_too() -> None:
    masker = Masker()
    token = "late-token-5521"
    assert masker.mask(token.encode().hex()) == token.encode().hex()
    masker.add(token)
    assert masker.mask(token.encode().hex()) == MASK
    assert masker.hides("x" + base64.b64encode(token.encode()).decode())
    assert not masker.hides("nothing secret here")


def test_encodings_of_short_values_are_not_masked_and_forms_are_masked_as_given() -> None:
    masker = Masker(["abc"])
    assert masker.secret_count == 0 and masker.mask(b"abc".hex() + " YWJj") == "616263 YWJj"
    literal = Masker(forms=["6b6579"])  # a form is masked as it is, never encoded again
    assert literal.mask("6b6579") == MASK and literal.secret_count == 1


@settings(deadline=None)  # the first example compiles the masker; no timing is tested
@given(secret=st.text(min_size=4, max_size=24), prefix=st.binary(max_size=5), suffix=st.binary(max_size=5),
       url=st.booleans())
def test_no_base64_core_of_a_secret_survives_masking(secret: str, prefix: bytes, suffix: bytes, url: bool) -> None:
    encode = base64.urlsafe_b64encode if url else base64.b64encode
    raw = secret.encode("utf-8", "surrogatepass")
    text = encode(prefix + raw + suffix).decode()
    masked = Masker([secret]).mask(text)
    core = _core(text, len(prefix), len(raw))
    assert core not in masked


def test_many_secrets_with_their_encodings_mask_megabytes_completely() -> None:
    secrets = [f"secret-value-{i:04d}" for i in range(200)]
    masker = Masker(secrets)
    line = "INFO 0123456789abcdef ordinary log text dGhpcyBpcyBiYXNlNjQ= 4f6b\n"
    shown = [base64.b64encode(s.encode()).decode() for s in secrets[:100]] + [s.encode().hex() for s in secrets[100:]]
    log = line * 20_000 + " ".join(shown) + "\n" + line * 1000
    masked = masker.mask(log)
    assert not any(form in masked for form in shown)
    assert masked.count(MASK) == len(secrets)
    assert masked.startswith(line * 20_000) and masked.endswith(line * 1000)


# -- wrapped encodings (decision 670) ---------------------------------------------------------------

#: The canary and the config blob of the review (r12a F1): its base64, wrapped at 76 columns the
#: way coreutils ``base64`` wraps it, splits the canary's encoding between two lines.
CANARY = 'Can"ary é/Xy+Z=9876'
CONFIG = '{"user":"app","host":"db.internal.example1","pw":"%s","sslmode":"require"}' % CANARY


def _cores(secret: bytes, encode) -> list[str]:  # type: ignore[no-untyped-def]
    """The base64 characters that come from ``secret`` alone, at each of the three alignments."""
    cores = []
    for shift in range(3):
        text = encode(b"\0" * shift + secret + b"\0\0").decode()
        cores.append(text[-(-8 * shift // 6):(8 * shift + 8 * len(secret)) // 6].rstrip("="))
    return cores


def _wrap(text: str, width: int) -> str:
    return "\n".join(text[i:i + width] for i in range(0, len(text), width))


def test_a_secret_inside_a_config_blob_that_base64_wraps_at_76_columns_is_masked_on_both_lines() -> None:
    wrapped = base64.encodebytes(CONFIG.encode()).decode().rstrip("\n")  # what `base64` prints
    first, second = wrapped.split("\n")
    assert not any(core in first or core in second for core in _cores(CANARY.encode(), base64.b64encode))
    assert any(core in first + second for core in _cores(CANARY.encode(), base64.b64encode))  # split by the wrap
    masker = Masker([CANARY])
    masked = masker.mask(wrapped)
    assert masked == f"{first[:first.index('OiJ') + 3]}{MASK}\n{MASK}{second[second.index('iIs'):]}"
    assert masker.hides(wrapped) and not masker.hides(wrapped.replace("\n", " "))


@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode], ids=["base64", "base64url"])
@pytest.mark.parametrize("width", [60, 64, 76])
def test_a_secret_in_a_wrapped_base64_text_is_masked_at_every_offset_and_alignment(encode, width: int) -> None:
    secret = "Zq9+/x\"y\\z&w=é%k-31337"
    masker = Masker([secret])
    cores = _cores(secret.encode(), encode)
    for offset in range(width + 3):
        text = _wrap(encode(b"x" * offset + secret.encode() + b" trailing text of the blob").decode(), width)
        masked = masker.mask(f"begin\n{text}\r\nend")
        assert masked.count("\n") == text.count("\n") + 2 and masked.startswith("begin\n")
        joined = masked.replace("\r\n", "").replace("\n", "")
        assert not any(core in joined for core in cores), (offset, masked)
        assert masker.hides(text)


def test_a_secret_in_hex_that_xxd_wraps_at_60_columns_is_masked_on_every_line() -> None:
    secret = "PRODONLY-hex-canary-31337"
    text = _wrap(("a long prefix before it " + secret + " and after").encode().hex(), 60)
    masked = Masker([secret]).mask(text)
    assert secret.encode().hex() not in masked.replace("\n", "") and MASK in masked
    assert masked.count("\n") == text.count("\n")


def test_ordinary_lines_next_to_each_other_are_not_joined_into_a_false_match() -> None:
    masker = Masker(["hunter22"])
    text = "0123456789abcdef0123 hunt\ner22 is not the secret split by a line break"
    assert masker.mask(text) == text and not masker.hides(text)


def test_a_streamed_log_holds_back_only_lines_that_may_go_on_and_masks_across_them() -> None:
    wrapped = base64.encodebytes(CONFIG.encode()).decode().rstrip("\n")
    shown: list[str] = []
    lines = LineMasker(Masker([CANARY]), shown.append)
    lines.line("plain line")
    assert shown == ["plain line"]  # nothing held: on at once
    first, second = wrapped.split("\n")
    lines.line(first)
    assert shown == ["plain line"]  # may be the first line of a wrapped encoding: waits
    lines.line(second)
    lines.line("done")
    assert shown[1:] == Masker([CANARY]).mask(wrapped).split("\n") + ["done"] and MASK in shown[1] + shown[2]
    lines.line(first)
    lines.flush()
    assert shown[-1] == first  # the end of the log lets it go, masked as it is


def test_a_streamed_log_past_its_hold_limit_keeps_enough_lines_to_mask_the_longest_form() -> None:
    secret = "a-long-canary-" + "x" * 200
    text = _wrap(base64.b64encode(b"y" * 301 + secret.encode() + b"z" * 300).decode(), 64)
    shown: list[str] = []
    lines = LineMasker(Masker([secret]), shown.append, limit=200)
    for line in text.split("\n"):
        lines.line(line)
    lines.flush()
    assert shown == Masker([secret]).mask(text).split("\n")
    assert not any(core in "".join(shown) for core in _cores(secret.encode(), base64.b64encode))
