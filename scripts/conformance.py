"""Run an implementation's vector runner over every test vector and print the agreement.

    python scripts/conformance.py -- RUNNER [ARG...]
    python scripts/conformance.py --vectors DIR --jobs 2 -- python scripts/vector_runner.py

For each vector in the folder (default fixtures/vectors/): every `*.bundle` or `*.card` file with an
`.expect` file beside it, runs `RUNNER ARG... PATH`
and compares the first line it prints with the first line of the vector's `.expect` file
(without `expect: `): `ok` or `refuse <code>` (fixtures/vectors/README.md, "Runner contract").
With `--batch N` a runner that takes several paths gets up to N at once and answers one line per
path, in order (one start-up for N vectors). A runner that exits non-zero, prints nothing or runs
past --timeout seconds per vector disagrees (on every vector of that call). Prints
one line per disagreeing vector, then `agreement: A/N vectors`; exits 0 when all N agree,
1 otherwise, 2 on a usage error. Nothing is written.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def vectors_in(folder: Path) -> list[Path]:
    """The vectors of ``folder``, by file name: each ``.bundle`` or ``.card`` file with an
    ``.expect`` file beside it (the trusted ``vector-src.card``, the relays' ``vector-relay*.card``
    and the verifier's own ``vector-dst.card`` have none: they are inputs)."""
    return sorted(p for p in folder.iterdir() if p.suffix in (".bundle", ".card") and p.with_suffix(".expect").is_file())


def expected(vector: Path) -> str:
    """The vector's expected outcome: `ok` or `refuse <code>`."""
    first = vector.with_suffix(".expect").read_text("utf-8").splitlines()[0]
    if not first.startswith("expect: "):
        raise SystemExit(f"{vector.with_suffix('.expect')}: the first line must start with 'expect: '")
    return first[len("expect: "):].strip()


def outcomes(runner: list[str], vectors: list[Path], timeout: float) -> list[str]:
    """What the runner says about each of ``vectors`` (given to it in one call, in order), or why it
    said nothing usable: a failed call answers nothing usable for any of them."""
    try:
        done = subprocess.run([*runner, *map(str, vectors)], capture_output=True, text=True,
                              timeout=timeout * len(vectors), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return [f"(no answer within {timeout:g} s)"] * len(vectors)
    except OSError as err:
        return [f"(runner did not start: {err})"] * len(vectors)
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or [""]
        return [f"(runner exited {done.returncode}: {tail[0][:200]})"] * len(vectors)
    return [lines[i] if i < len(lines) else "(runner printed nothing)" for i in range(len(vectors))]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vectors", type=Path, default=ROOT / "fixtures" / "vectors",
                        help="the vector folder (default: fixtures/vectors)")
    parser.add_argument("--jobs", type=int, default=1, help="vectors checked at once (default 1)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds one vector may take (default 120)")
    parser.add_argument("--batch", type=int, default=1,
                        help="vectors given to one runner call, for a runner that takes several (default 1)")
    parser.add_argument("runner", nargs="+", help="the runner command and its arguments (after --)")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.batch < 1:
        parser.error("--jobs and --batch must be at least 1")
    vectors = vectors_in(args.vectors)
    if not vectors:
        print(f"{args.vectors}: no vectors (*.bundle or *.card files with an .expect beside them)", file=sys.stderr)
        return 2
    calls = [vectors[i:i + args.batch] for i in range(0, len(vectors), args.batch)]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        answers = [a for batch in pool.map(lambda c: outcomes(args.runner, c, args.timeout), calls) for a in batch]
    agree = 0
    for vector, answer in zip(vectors, answers):
        want = expected(vector)
        if answer == want:
            agree += 1
        else:
            print(f"DISAGREE {vector.stem}: expected {want!r}, runner said {answer!r}")
    print(f"agreement: {agree}/{len(vectors)} vectors")
    return 0 if agree == len(vectors) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
