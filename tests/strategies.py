"""Hypothesis strategies shared by the test suite (one place, as attrs/httpx do)."""

from __future__ import annotations

from hypothesis import strategies as st

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**64 - 1),
                    st.text(max_size=40))
json_like = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=5),
                               st.dictionaries(st.text(max_size=10), children, max_size=5)),
    max_leaves=30,
)
#: Valid labels (bundlekit.core.names): printable text, no controls, no white space at either end.
labels = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF, blacklist_categories=("Cc",)),
                 min_size=1, max_size=30).filter(lambda s: s == s.strip())
#: Release versions: up to four numbers, then an optional pre-release and build part.
versions = st.from_regex(r"[0-9]{1,4}(\.[0-9]{1,4}){0,3}(-[0-9A-Za-z]{1,6}(\.[0-9A-Za-z-]{1,6}){0,2})?"
                         r"(\+[0-9A-Za-z]{1,6})?", fullmatch=True)
#: Valid names (tokens) as bundlekit.core.names defines them: zone, package id and version, slug.
names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._+@-]{0,19}", fullmatch=True).filter(
    lambda s: not s.endswith(".") and s.split(".", 1)[0].lower() not in
    {"con", "prn", "aux", "nul", *(f"{k}{d}" for k in ("com", "lpt") for d in "0123456789")})
