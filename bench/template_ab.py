"""A template family at a git revision against the working tree's, side by side.

Both are instantiated with the same parameter sets (JSON objects; missing parameters take
the defaults) and checked alternately with the full `Checker.check`, OpenBLAS timed in each
check, so a drift in load hits both alike; medians at the end.

    .venv/bin/python bench/template_ab.py sgemm/blis HEAD~1 '{}' '{"unroll_k":2}' --repeat 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from roundtable_tui.config import settings
from roundtable_tui.kernels import machine, templates
from roundtable_tui.kernels.checker import Checker, Options


def family_at(ident: str, rev: str, here: machine.Machine) -> templates.Family:
    """The family `ident` as its two files read at git revision `rev`."""
    tmp = Path(tempfile.mkdtemp(prefix="template-ab-"))
    for ext in ("rs", "json"):
        rel = f"rust_workspace/templates/{ident}.{ext}"
        text = subprocess.run(
            ["git", "show", f"{rev}:{rel}"],
            cwd=templates.PROJECT_ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        (tmp / f"{ident}.{ext}").parent.mkdir(parents=True, exist_ok=True)
        (tmp / f"{ident}.{ext}").write_text(text)
    saved = templates.TEMPLATES_DIR
    templates.TEMPLATES_DIR = tmp
    templates.families.cache_clear()  # type: ignore[attr-defined]
    try:
        return templates.family(ident, here)
    finally:
        templates.TEMPLATES_DIR = saved
        templates.families.cache_clear()  # type: ignore[attr-defined]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("family", help="template id, e.g. sgemm/blis")
    ap.add_argument("rev", help="the git revision to compare with (e.g. HEAD~1)")
    ap.add_argument("sets", nargs="*", default=["{}"], help="parameter sets as JSON objects")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    cfg = settings()
    here = machine.current(cfg)
    new = templates.family(args.family, here)
    old = family_at(args.family, args.rev, here)
    sources = []
    for text in args.sets:
        p = json.loads(text)
        sources += [(f"{args.rev} {text}", old.instantiate(p)), (f"now {text}", new.instantiate(p))]
    checker = Checker(cfg)
    rows: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in sources}
    for _ in range(args.repeat):
        for name, source in sources:
            r = checker.check(source, new.problem, Options())
            if not r.passed:
                print(f"{r.verdict} {name}: {r.reason}")
                continue
            rows[name].append((r.gflops or 0.0, r.fraction_of_openblas or 0.0))
            g, o = rows[name][-1]
            print(f"{g:7.1f} GFLOPS {o:5.0%}  {name}", flush=True)
    print("\nmedians:")
    for name, got in rows.items():
        if got:
            g = statistics.median(x for x, _ in got)
            o = statistics.median(y for _, y in got)
            print(f"{g:7.1f} GFLOPS {o:5.0%}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
