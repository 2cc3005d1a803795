"""Which wheels export-self packs: the closure of bundlekit's requirements for the destination,
from the wheelhouse alone, and a refusal that names what is missing and the pip command."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from bundlekit.export.releasefile import load_release
from bundlekit.selfupdate.export_self import self_release
from bundlekit.selfupdate.wheels import Target, resolve
from tests.conftest import raises_code

LINUX = Target((3, 11), ("manylinux_2_17_x86_64",))


def wheel(folder: Path, name: str, version: str, tag: str = "py3-none-any", requires: tuple[str, ...] = (),
          python: str | None = None) -> Path:
    """A minimal wheel: its dist-info METADATA says what it requires (and which Python, ``python``)."""
    path = folder / f"{name}-{version}-{tag}.whl"
    meta = "".join(f"Requires-Dist: {r}\n" for r in requires) + (f"Requires-Python: {python}\n" if python else "")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name}-{version}.dist-info/METADATA",
                    f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{meta}")
    return path


def names(wheels: list) -> list[str]:  # type: ignore[type-arg]
    return [w.path.name for w in wheels]


def test_the_closure_follows_requirements_markers_and_extras(tmp_path: Path) -> None:
    wheel(tmp_path, "bundlekit", "0.2.0", requires=("click>=8", "psycopg[binary]>=3.1",
                                                    "pywin32>=300; sys_platform == 'win32'"))
    wheel(tmp_path, "click", "8.1.0")
    wheel(tmp_path, "click", "7.0.0")  # too old for bundlekit
    wheel(tmp_path, "psycopg", "3.2.0", requires=("psycopg-binary==3.2.0; extra == 'binary'",
                                                  "typing-extensions>=4"))
    wheel(tmp_path, "psycopg_binary", "3.2.0", "cp311-cp311-manylinux_2_17_x86_64")
    wheel(tmp_path, "typing_extensions", "4.12.0")
    got = names(resolve(tmp_path, LINUX))
    assert got == ["bundlekit-0.2.0-py3-none-any.whl", "click-8.1.0-py3-none-any.whl",
                   "psycopg-3.2.0-py3-none-any.whl", "psycopg_binary-3.2.0-cp311-cp311-manylinux_2_17_x86_64.whl",
                   "typing_extensions-4.12.0-py3-none-any.whl"]  # no pywin32: not for linux


def test_the_newest_bundlekit_and_the_newest_fitting_dependency_are_packed(tmp_path: Path) -> None:
    wheel(tmp_path, "bundlekit", "0.1.0", requires=("click>=8",))
    wheel(tmp_path, "bundlekit", "0.2.0", requires=("click>=8,<8.2",))
    wheel(tmp_path, "click", "8.1.0")
    wheel(tmp_path, "click", "8.3.0")
    assert names(resolve(tmp_path, LINUX)) == ["bundlekit-0.2.0-py3-none-any.whl", "click-8.1.0-py3-none-any.whl"]


def test_a_wheel_for_another_platform_is_refused_naming_the_dependency_and_the_pip_command(tmp_path: Path) -> None:
    wheel(tmp_path, "bundlekit", "0.2.0", requires=("zstandard>=0.22",))
    wheel(tmp_path, "zstandard", "0.25.0", "cp311-cp311-macosx_11_0_arm64")  # the source's Mac, not the destination
    with raises_code("wheel_missing") as info:
        resolve(tmp_path, LINUX)
    msg = info.value.message
    assert "'zstandard>=0.22' (needed by bundlekit 0.2.0)" in msg
    assert (f"pip download --only-binary=:all: --dest {tmp_path} --python-version 3.11 "
            "--platform manylinux_2_17_x86_64 'zstandard>=0.22'") in msg


def test_a_manylinux_destination_takes_wheels_for_older_glibc(tmp_path: Path) -> None:
    wheel(tmp_path, "bundlekit", "0.2.0", requires=("msgpack",))
    wheel(tmp_path, "msgpack", "1.2.4", "cp311-cp311-manylinux2014_x86_64")
    assert len(resolve(tmp_path, Target((3, 11), ("manylinux_2_28_x86_64",)))) == 2
    with raises_code("wheel_missing"):  # a glibc older than the wheel needs: refused, not packed
        resolve(tmp_path, Target((3, 11), ("manylinux_2_12_x86_64",)))


PY310 = Target((3, 10), ("manylinux_2_17_x86_64",))


def test_a_bundlekit_that_does_not_support_the_destination_python_is_refused_at_the_source(tmp_path: Path) -> None:
    """Finding 9: the wheel says Requires-Python >=3.11, the bundle was made for 3.10 and would only
    fail on the far side."""
    wheel(tmp_path, "bundlekit", "0.2.0", python=">=3.11", requires=("click",))
    wheel(tmp_path, "click", "8.1.0")
    with raises_code("unsupported_python") as info:
        resolve(tmp_path, PY310)
    msg = info.value.message
    assert "bundlekit 0.2.0 requires Python >=3.11 (the wheel's Requires-Python)" in msg
    assert "the destination runs Python 3.10" in msg
    assert len(resolve(tmp_path, LINUX)) == 2  # 3.11: packed


def test_an_older_bundlekit_that_supports_the_destination_python_is_the_newest_that_installs_there(
        tmp_path: Path) -> None:
    wheel(tmp_path, "bundlekit", "0.2.0", python=">=3.11")
    wheel(tmp_path, "bundlekit", "0.1.0", python=">=3.9")
    assert names(resolve(tmp_path, PY310)) == ["bundlekit-0.1.0-py3-none-any.whl"]


def test_a_dependency_whose_newest_wheel_excludes_the_destination_python_takes_one_that_supports_it(
        tmp_path: Path) -> None:
    wheel(tmp_path, "bundlekit", "0.2.0", requires=("click>=8",))
    wheel(tmp_path, "click", "8.3.0", python=">=3.11")
    wheel(tmp_path, "click", "8.1.0", python=">=3.8")
    assert names(resolve(tmp_path, PY310))[1] == "click-8.1.0-py3-none-any.whl"  # as pip would install there
    assert names(resolve(tmp_path, LINUX))[1] == "click-8.3.0-py3-none-any.whl"


def test_a_dependency_no_wheel_of_which_supports_the_destination_python_is_missing_saying_why(
        tmp_path: Path) -> None:
    wheel(tmp_path, "bundlekit", "0.2.0", requires=("cryptography>=42",))
    wheel(tmp_path, "cryptography", "44.0.0", "cp37-abi3-manylinux_2_17_x86_64", python=">=3.11")
    with raises_code("wheel_missing") as info:
        resolve(tmp_path, PY310)
    assert ("'cryptography>=42' (needed by bundlekit 0.2.0): cryptography-44.0.0-cp37-abi3-manylinux_2_17_x86_64.whl "
            "requires Python >=3.11") in info.value.message


def test_every_missing_wheel_is_named_in_one_refusal_with_one_pip_command_fetching_them_all(tmp_path: Path) -> None:
    """Finding 10: a wheelhouse for a new platform took 14 rounds of export-self and pip download."""
    wheel(tmp_path, "bundlekit", "0.2.0", requires=("click>=8", "msgpack>=1", "psycopg[binary]>=3.1",
                                                    "zstandard>=0.22"))
    wheel(tmp_path, "click", "8.1.0")
    wheel(tmp_path, "zstandard", "0.25.0", "cp311-cp311-macosx_11_0_arm64")
    with raises_code("wheel_missing") as info:
        resolve(tmp_path, LINUX)
    msg = info.value.message
    assert "3 wheel(s) the destination needs are missing for Python 3.11 on manylinux_2_17_x86_64" in msg
    assert "'msgpack>=1' (needed by bundlekit 0.2.0): no wheel of it" in msg
    assert "'psycopg[binary]>=3.1' (needed by bundlekit 0.2.0): no wheel of it" in msg
    assert ("'zstandard>=0.22' (needed by bundlekit 0.2.0): zstandard-0.25.0-cp311-cp311-macosx_11_0_arm64.whl is "
            "for another platform") in msg
    command = (f"pip download --only-binary=:all: --dest {tmp_path} --python-version 3.11 --platform "
               "manylinux_2_17_x86_64 'msgpack>=1' 'psycopg[binary]>=3.1' 'zstandard>=0.22'")
    assert f"Fetch them all with `{command}`" in msg
    assert info.value.details["pip"] == command
    assert [m["requirement"] for m in info.value.details["missing"]] == ["msgpack>=1", "psycopg[binary]>=3.1",
                                                                        "zstandard>=0.22"]


def test_a_wheelhouse_without_bundlekit_says_how_to_build_its_wheel(tmp_path: Path) -> None:
    wheel(tmp_path, "click", "8.1.0")
    with raises_code("wheel_missing", match="pip wheel --no-deps -w"):
        resolve(tmp_path, LINUX)



def test_a_wheelhouse_that_does_not_exist_says_how_to_make_and_fill_it(tmp_path: Path) -> None:
    """New-user review 38: the default HOME/wheelhouse does not exist after init; the refusal gives
    the commands, not a pointer to --help."""
    house = tmp_path / "my wheels"
    with raises_code("invalid_wheelhouse", match="pip wheel --no-deps -w") as caught:
        resolve(house, LINUX)
    assert f"mkdir -p '{house}' && pip wheel --no-deps -w '{house}' PATH-TO-BUNDLEKIT-SOURCE" in caught.value.message
    assert not house.exists()

@pytest.mark.parametrize("bad", ["junk.whl", "bundlekit-0.2.0.whl"])
def test_a_file_that_is_not_a_wheel_is_refused_by_name(tmp_path: Path, bad: str) -> None:
    (tmp_path / bad).write_bytes(b"not a zip")
    with raises_code("invalid_wheel", match=bad):
        resolve(tmp_path, LINUX)


def test_a_broken_wheel_is_refused_naming_it(tmp_path: Path) -> None:
    (tmp_path / "bundlekit-0.2.0-py3-none-any.whl").write_bytes(b"not a zip")
    with raises_code("invalid_wheel", match="bundlekit-0.2.0-py3-none-any.whl"):
        resolve(tmp_path, LINUX)


def test_the_wheels_become_a_release_of_the_reserved_project(tmp_path: Path) -> None:
    wheel(tmp_path, "bundlekit", "0.2.0", requires=("click",))
    wheel(tmp_path, "click", "8.1.0")
    spec, wheels = self_release(tmp_path, LINUX)
    assert spec.project == {"name": "bundlekit", "slug": "bundlekit", "space": "Default"}
    assert spec.release["version"] == "0.2.0" and not spec.steps and not spec.variables
    assert [(p.id, p.version, p.file_name) for p in spec.packages] == [
        ("wheel.bundlekit", "0.2.0-py3-none-any", "bundlekit-0.2.0-py3-none-any.whl"),
        ("wheel.click", "8.1.0-py3-none-any", "click-8.1.0-py3-none-any.whl")]


def test_a_release_file_cannot_take_the_reserved_project(release_dir: Path) -> None:
    release = release_dir / "release.toml"
    release.write_text(release.read_text().replace('name = "Acme Web"', 'name = "Acme Web"\nslug = "bundlekit"', 1))
    with raises_code("invalid_release", match="reserved for bundlekit's own releases"):
        load_release(release)


def test_a_wheel_of_the_right_platform_for_another_python_says_so_not_another_platform(tmp_path: Path) -> None:
    """newuser35 finding 5: cp311 wheels of the asked-for platform, for a destination running 3.12,
    were said to be "for another platform"; the release engineer then checks the wrong option."""
    wheel(tmp_path, "bundlekit", "0.2.0", requires=("msgpack>=1", "zstandard>=0.22", "cffi>=1"))
    wheel(tmp_path, "msgpack", "1.2.4", "cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64")
    wheel(tmp_path, "zstandard", "0.25.0", "cp312-cp312-macosx_11_0_arm64")
    wheel(tmp_path, "cffi", "2.1.1", "cp311-cp311-macosx_11_0_arm64")
    with raises_code("wheel_missing") as info:
        resolve(tmp_path, Target((3, 12), ("manylinux_2_17_x86_64",)))
    msg = info.value.message
    assert ("msgpack-1.2.4-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl is for another Python "
            "(cp311; the destination runs 3.12)") in msg
    assert ("zstandard-0.25.0-cp312-cp312-macosx_11_0_arm64.whl is for another platform (macosx_11_0_arm64; the "
            "destination is manylinux_2_17_x86_64)") in msg
    assert ("cffi-2.1.1-cp311-cp311-macosx_11_0_arm64.whl is for another Python and platform (cp311 on "
            "macosx_11_0_arm64; the destination runs 3.12 on manylinux_2_17_x86_64)") in msg


def test_a_wheel_of_the_right_python_and_platform_for_another_abi_says_so(tmp_path: Path) -> None:
    wheel(tmp_path, "bundlekit", "0.2.0", requires=("msgpack>=1",))
    wheel(tmp_path, "msgpack", "1.2.4", "cp311-cp311d-manylinux_2_17_x86_64")  # a debug build's ABI
    with raises_code("wheel_missing") as info:
        resolve(tmp_path, LINUX)
    assert ("msgpack-1.2.4-cp311-cp311d-manylinux_2_17_x86_64.whl is for another ABI (cp311d; the destination's "
            "Python 3.11 takes abi3, cp311, none)") in info.value.message
