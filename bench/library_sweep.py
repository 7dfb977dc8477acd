"""Every kernel of tests/kernels/ checked N times, each with a fresh seed, as the library test
checks it (`tests/test_kernel_library.options_for`): a wrong kernel that escapes one check in
twenty fails CI now and then; this finds it first. Prints each kernel's verdicts, ESCAPE when
any differs from its header's, and a count of the kernels that escaped.

    .venv/bin/python bench/library_sweep.py [--checks 20] [--seconds 60] [--all] [NAME ...]

NAME keeps the kernels whose `problem/stem` contains it. By default only the kernels expected
not to pass are checked (those a flaky check lets through); `--all` checks every kernel.
`--seconds` caps the checks of one kernel (at least 5 are made).
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

from roundtable_tui.kernels.checker import Checker
from roundtable_tui.kernels.verdict import Verdict

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.test_kernel_library import CASES, header, options_for  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--checks", type=int, default=20, help="checks per kernel")
    ap.add_argument("--seconds", type=float, default=60.0, help="time cap per kernel")
    ap.add_argument("--all", action="store_true", help="the kernels that must pass too")
    ap.add_argument("names", nargs="*", help="keep kernels whose problem/stem contains one")
    args = ap.parse_args()
    checker = Checker()
    escaped = 0
    for path in CASES:
        name = f"{path.parent.name}/{path.stem}"
        source, expected, flags = header(path)
        if (expected is Verdict.PASSED and not args.all) or (
            args.names and not any(n in name for n in args.names)
        ):
            continue
        got: collections.Counter[str] = collections.Counter()
        start = time.monotonic()
        for n in range(args.checks):
            options = options_for(path, expected, flags)
            got[str(checker.check(source, path.parent.name, options).verdict)] += 1
            if n >= 4 and time.monotonic() - start > args.seconds:
                break
        bad = sum(v for k, v in got.items() if k != str(expected))
        escaped += bool(bad)
        mark = "ESCAPE" if bad else "ok    "
        print(f"{mark} {name}: expected {expected}, got {dict(got)}", flush=True)
    print(f"{escaped} kernel(s) escaped")
    return 1 if escaped else 0


if __name__ == "__main__":
    sys.exit(main())
