"""Manifest models: encode -> parse is the identity, and a model that parses is valid."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bundlekit.format.manifest import (FORMAT_ID, MAX_SECONDS, Manifest, OutputRef, PackageRef, Placeholder, Step,
                                       Variable, ZoneRef, parse_manifest)
from tests.conftest import raises_code
from tests.strategies import labels as label
from tests.strategies import names, versions
hex32 = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)
sha = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
scope = st.dictionaries(st.sampled_from(["environment", "role", "machine", "step", "channel", "tenant"]),
                        st.lists(label, min_size=1, max_size=3, unique=True).map(lambda xs: tuple(sorted(xs))),
                        max_size=3)
variable = st.one_of(
    st.builds(lambda n, s, v: Variable(n, s, False, v, None), label, scope, st.text(max_size=30)),
    st.builds(lambda n, s, v: Variable(n, s, True, None, v), label, scope, st.text(min_size=1, max_size=30)),
)
step = st.builds(lambda n, r, c, e, sc: Step(n, "script", tuple(r), (), c, e, "bash", sc),
                 label, st.lists(label, max_size=3), st.sampled_from(["success", "failure", "always"]),
                 st.booleans(), st.text(max_size=50))


@st.composite
def manifests(draw: st.DrawFn) -> Manifest:
    steps = draw(st.lists(step, max_size=4, unique_by=lambda s: s.name.lower()))
    packages = draw(st.lists(st.builds(lambda i, v, h, n: PackageRef(i, v, f"{i}.zip", n, h, included=False),
                                       names, names, sha, st.integers(0, 2**40)),
                             max_size=3, unique_by=lambda p: (p.id.lower(), p.version.lower())))
    created = draw(st.integers(0, MAX_SECONDS - 2**32))
    return Manifest(
        kind="release", bundle_id=draw(hex32), source=ZoneRef(draw(hex32), draw(names), draw(hex32)),
        destination=ZoneRef(draw(hex32), draw(names), draw(hex32)), sequence=draw(st.integers(1, 2**53 - 1)),
        created=created, expires=created + draw(st.integers(1, 2**32)), blobs=(),
        project={"name": draw(label), "slug": "p-1", "space": draw(label)},
        release={"version": draw(versions), "channel": draw(label), "notes": draw(st.text(max_size=40))},
        steps=tuple(steps), variables=tuple(draw(st.lists(variable, max_size=5))),
        placeholders=tuple(draw(st.lists(st.builds(Placeholder, label, scope, st.booleans()), max_size=3))),
        output_refs=tuple(draw(st.lists(st.builds(lambda s, n: OutputRef(s, n, f"Octopus.Action[{s}].Output.{n}",
                                                                         ("x",)), label, label), max_size=2))),
        packages=tuple(packages), raw={"format": FORMAT_ID})


@settings(max_examples=150, deadline=None)
@given(manifests())
def test_manifest_encode_parse_round_trip(m: Manifest) -> None:
    data = m.encode()
    parsed = parse_manifest(data)
    assert parsed == m
    assert parsed.encode() == data


def test_unknown_major_format_named_in_the_message() -> None:
    from bundlekit.format import codec

    with raises_code("unsupported_version") as info:
        parse_manifest(codec.encode({"format": "bundlekit/2"}))
    assert "bundlekit/2" in info.value.message
