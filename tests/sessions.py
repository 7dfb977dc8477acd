"""Saved sessions built event by event, for the report and export tests."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roundtable_tui.core.events import Agent, Event, Kind
from roundtable_tui.core.session import Session
from roundtable_tui.kernels import problems

from .conftest import ROOT

EXAMPLE = ROOT / "sessions" / "examples" / "example-sgemm-small"
MACHINE = {
    "cpu": "Test CPU",
    "cores": 2,
    "threads": 2,
    "simd": "AVX2+FMA",
    "rustc": "rustc 1.95.0",
    "rustflags": "-C target-cpu=native",
}


def copy_example(tmp_path: Path) -> Path:
    dest = tmp_path / "sessions" / EXAMPLE.name
    shutil.copytree(EXAMPLE, dest)
    return dest


@dataclass
class Attempt:
    """One kernel of a made-up session: its proposal, its code and the checker's verdict."""

    title: str
    code: str
    verdict: str = "passed"
    gflops: float | None = None
    kind: str = "code"
    parameters: dict[str, Any] = field(default_factory=dict)
    template: str = ""
    """Set when the kernel was filled in from a template (the check records it)."""
    reason: str = ""


def naive(problem: str) -> str:
    path = problems.naive_kernel_path(problems.get(problem), ROOT / "rust_workspace")
    return path.read_text()


def check_data(problem: str, attempt: Attempt, number: int, **extra: Any) -> dict[str, Any]:
    p = problems.get(problem)
    data: dict[str, Any] = {
        "verdict": attempt.verdict,
        "reason": attempt.reason or ("did the whole job on every check" if attempt.gflops else ""),
        "problem": problem,
        "shape": dict(p.default_shape),
        "number": number,
        "title": attempt.title,
        "kind": attempt.kind,
        "flags": {"rustflags": "-C target-cpu=native", "allow_unsafe": "False"},
    }
    if attempt.template:
        data |= {"template": attempt.template, "parameters": attempt.parameters}
    if attempt.gflops is not None:
        data |= {
            "gflops": attempt.gflops,
            "speedup_vs_naive": attempt.gflops / 10.0,
            "fraction_of_openblas": attempt.gflops / 100.0,
            "fraction_of_peak": attempt.gflops / 200.0,
            "peak_gflops": 200.0,
            "baselines": {
                "naive": {"name": "naive", "gflops": 10.0},
                "rayon": {"name": "rayon", "gflops": 18.0},
                "openblas": {"name": "openblas", "gflops": 100.0},
            },
        }
    return data | extra


def make_session(root: Path, problem: str, attempts: list[Attempt], sid: str = "s1") -> Path:
    """A finished session: attempts[0] is iteration 0 (the naive start), one iteration each
    after it, every attempt recorded as the manager records it (ts one minute apart)."""
    p = problems.get(problem)
    meta = {"problem": problem, "model": "small", "machine": MACHINE, "shape": p.default_shape}
    session = Session.create(root, meta, sid)
    ts = 1_700_000_000.0

    def add(kind: Kind, data: dict[str, Any], it: int, agent: Agent = Agent.MANAGER) -> None:
        nonlocal ts
        ts += 60.0
        session.append(Event(kind, data, agent, it, ts=ts))

    add(Kind.SESSION_STARTED, dict(session.meta), 0)
    for number, a in enumerate(attempts):
        add(Kind.ITERATION_STARTED, {}, number)
        proposal = {"title": a.title, "kind": a.kind, "idea": "", "parameters": a.parameters}
        add(Kind.PROPOSAL, proposal, number, Agent.PROPOSER)
        add(Kind.KERNEL, {"number": number, "attempt": 1, "code": a.code}, number, Agent.CODER)
        session.write_kernel(number, a.code)
        add(Kind.CHECK_RESULT, check_data(problem, a, number), number, Agent.TESTER)
        add(Kind.ITERATION_FINISHED, {"since_improvement": 0}, number)
    add(Kind.SESSION_FINISHED, {"reason": f"iteration budget reached ({len(attempts) - 1})"}, 0)
    session.close()
    return session.path
