"""Every integer a manifest states has a range a reader can hold, and a recipe has one limit.

A signed manifest is hostile input too (a compromised or buggy source): an integer beyond what
a file offset, a SQLite column or a calendar holds must be refused by name before anything
uses it, never end in an ``OverflowError``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import jsonschema
import pytest

from bundlekit.format import codec
from bundlekit.format.delta import MAX_BYTES, MAX_RECIPE_OPS, BaseRef, DeltaRef
from bundlekit.format.container import HEADER_SIZE
from bundlekit.format.recipe import MAX_TEXT, Recipe
from bundlekit.format.relay import RELAY_KIND
from bundlekit.format.manifest import MAX_SECONDS, MAX_SEQUENCE, manifest_schema, parse_manifest
from tests.conftest import raises_code
from tests.refusals.forge import parts

VECTORS = Path(__file__).resolve().parents[2] / "fixtures" / "vectors"
VALID = sorted(VECTORS.glob("valid-*.bundle"))


def _schema_integers(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if node.get("type") == "integer":
            yield path, node
        for k, v in node.items():
            yield from _schema_integers(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _schema_integers(v, f"{path}[{i}]")


def test_every_integer_in_the_manifest_schema_has_a_range_a_reader_can_hold() -> None:
    found = dict(_schema_integers(manifest_schema()))
    assert len(found) >= 20
    for path, node in found.items():
        assert "minimum" in node and "maximum" in node, path
        assert -(2**31) <= node["minimum"] <= node["maximum"] <= MAX_BYTES, path
    times = [p for p in found if p.rsplit("/", 1)[-1] in ("created", "expires", "issued")]
    assert len(times) == 3 and all(found[p]["maximum"] == MAX_SECONDS for p in times)
    assert all(found[p]["maximum"] == MAX_SECONDS * 1000 + 999 for p in found if p.endswith("_ms"))
    assert found["/properties/sequence"]["maximum"] == MAX_SEQUENCE == MAX_BYTES


def _integer_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k != "zz_future_field":  # an unknown field: ignored by readers, whatever it holds
                yield from _integer_paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _integer_paths(v, (*path, i))
    elif type(value) is int:
        yield path


def _set(doc: Any, path: tuple[Any, ...], value: int) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def _names(path: tuple[Any, ...]) -> tuple[str, str]:
    """The path as the schema's findings print it (``packages.0.size``) and as the recipe check
    does (``packages[0].delta.recipe[1][1]``)."""
    dotted = ".".join(str(p) for p in path)
    bracketed = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return dotted, bracketed


def _manifest_bytes(data: bytes) -> bytes:
    """The signed manifest of a bundle; of a relayed one (kind 3), its origin's (spec/relay.md §1)."""
    if data[12] == RELAY_KIND:
        origin_length = int.from_bytes(data[16:24], "big")
        data = data[HEADER_SIZE:HEADER_SIZE + origin_length]
    return parts(data)[2]


CASES = [(vector, path) for vector in VALID
         for path in _integer_paths(codec.decode(_manifest_bytes(vector.read_bytes())))]
RELAYED = [v for v in VALID if v.read_bytes()[12] == RELAY_KIND]


def test_the_relayed_vectors_are_checked_through_their_origin_manifests() -> None:
    assert len(RELAYED) >= 2
    assert {v for v, _ in CASES} >= set(RELAYED)


@pytest.mark.parametrize("big", [2**53, 2**63, 2**64 - 1])
@pytest.mark.parametrize(("vector", "path"), CASES, ids=[f"{v.stem}:{'.'.join(map(str, p))}" for v, p in CASES])
def test_an_integer_past_its_range_in_a_signed_manifest_is_refused_by_name(vector: Path, path: tuple[Any, ...],
                                                                        big: int) -> None:
    manifest = codec.decode(_manifest_bytes(vector.read_bytes()))
    _set(manifest, path, big)
    # A recipe's operations are checked by the reader's own pass, everything else by the schema.
    with raises_code("invalid_delta" if "recipe" in path else "invalid_manifest") as info:
        parse_manifest(codec.encode(manifest), "m.bundle")
    assert info.value.exit_code == 3
    assert any(name in info.value.message for name in _names(path)), info.value.message


def _delta(recipe: Any, base_size: int = 1000) -> DeltaRef:
    return DeltaRef(BaseRef("P", "1", "ab" * 32, base_size), "cd" * 32, recipe)


@pytest.mark.parametrize(("op", "named"), [
    ([0, 2**63, 10], "recipe[1][1] (offset)"),
    ([0, 2**64 - 1, 1], "recipe[1][1] (offset)"),
    ([0, -1, 10], "recipe[1][1] (offset)"),
    ([0, 0, 2**63], "recipe[1][2] (length)"),
    ([0, 0, 0], "recipe[1][2] (length)"),
    ([1, 2**53], "recipe[1][1] (length)"),
    ([1, -5], "recipe[1][1] (length)"),
    ([1, "5"], "recipe[1][1] (length)"),
    ([0, 990, 11], "recipe[1]: copies base bytes 990..1001"),
    ([2, 5], "recipe[1][0] (operation): 2 is not"),
    ([True, 5], "recipe[1][0] (operation): True is not"),
    ([2**63, 5, 5], "recipe[1][0] (operation)"),
    ([0, 5], "recipe[1]: [0, 5] is not"),
    ([1, 1, 1], "recipe[1]: [1, 1, 1] is not"),
    (7, "recipe[1]: 7 is not"),
])
def test_each_recipe_operation_is_range_checked_and_named(op: Any, named: str) -> None:
    with raises_code("invalid_delta") as info:
        DeltaRef.from_dict({"base": {"id": "P", "version": "1", "sha256": "ab" * 32, "size": 1000},
                            "data": "cd" * 32, "recipe": [[0, 0, 1], op]}, "m: packages[0].delta")
    assert info.value.message.startswith(f"m: packages[0].delta.{named}"), info.value.message


def test_recipe_limit_is_one_number_for_the_schema_the_decoder_and_the_model() -> None:
    packed_form, list_form = manifest_schema()["$defs"]["delta"]["properties"]["recipe"]["oneOf"]
    assert list_form["maxItems"] == codec.MAX_ITEMS == MAX_RECIPE_OPS == 2**20
    assert packed_form["maxLength"] == MAX_TEXT == len(Recipe.from_ops([[1, 1]] * MAX_RECIPE_OPS, 1).text())
    at_limit = [[1, 1]] * MAX_RECIPE_OPS
    assert _delta(at_limit).size == MAX_RECIPE_OPS
    assert _delta(Recipe.from_ops(at_limit, 1).text()).size == MAX_RECIPE_OPS
    with raises_code("malformed"):
        codec.decode(codec.encode([[1, 1]] * (MAX_RECIPE_OPS + 1)))
    with raises_code("invalid_delta") as info:
        _delta([[1, 1]] * (MAX_RECIPE_OPS + 1))
    assert f"1 to {MAX_RECIPE_OPS}" in info.value.message
    with raises_code("invalid_delta") as info:
        _delta(_packed_text([[1, 1]] * (MAX_RECIPE_OPS + 1)))
    assert f"1 to {MAX_RECIPE_OPS}" in info.value.message


def _packed_text(ops: list[list[int]]) -> str:
    """Packed base64 of ``ops`` built by hand (Recipe itself refuses more than the limit)."""
    import base64
    import struct
    mark = (1 << 64) - 1
    return base64.b64encode(b"".join(struct.pack("<QQ", *((mark, op[1]) if op[0] == 1 else op[1:])) for op in ops)).decode()


RECIPES = [
    [[0, 0, 10], [1, 5]],
    [[0, 0, 10], [1, 5], [0, 10, 990]],
    [[0, 0, 10], [1, MAX_BYTES + 1]],
    [[0, -1, 10]],
    [[0, 0, 10, 1]],
    [[1]],
    [[1, 5], 5],
    [[1, 5], [1, None]],
    [[1, 5], [1, "x"]],
    [],
]


@pytest.mark.parametrize("recipe", RECIPES, ids=[repr(r)[:40] for r in RECIPES])
def test_the_dedicated_recipe_check_and_the_published_schema_agree(recipe: Any) -> None:
    """The reader checks operations outside the general validator (for speed): what it accepts
    is what spec/schemas/manifest.schema.json accepts."""
    schema = manifest_schema()
    delta = {"base": {"id": "P", "version": "1", "sha256": "ab" * 32, "size": 1000}, "recipe": recipe}
    only_delta = {"$defs": schema["$defs"], "$ref": "#/$defs/delta"}
    by_schema = not list(jsonschema.Draft202012Validator(only_delta).iter_errors(delta))
    try:
        DeltaRef.from_dict(delta)
        by_reader = True
    except Exception as err:  # noqa: BLE001 - which error is checked below
        assert getattr(err, "code", None) == "invalid_delta", repr(err)
        by_reader = False
    assert by_schema == by_reader
