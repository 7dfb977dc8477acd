"""`roundtable check` as a library: static gate → build → correctness → benchmark → verdict.

The parent owns everything that decides the verdict: the seeds, the shapes, the limits, the
clock of the phases and the final judgement. The child (the harness with the kernel linked
in) only reports, on a private pipe, lines stamped with a nonce it was told at start.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import signal
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from roundtable_tui.config import Settings, settings
from roundtable_tui.kernels import inputs, machine, policy, problems, protections
from roundtable_tui.kernels.build import Builder, BuildFailed
from roundtable_tui.kernels.problems import Problem, Shape
from roundtable_tui.kernels.sandbox import Limits, RunOutcome, run_jailed, scrubbed_env
from roundtable_tui.kernels.verdict import Baseline, Check, CheckResult, Stats, Verdict

IMPOSSIBLE_MARGIN = 1.15
"""A kernel faster than this times the best measured FMA peak cannot be real."""
PROBES = 48


@dataclass
class Options:
    shape: Shape | None = None
    allow_unsafe: bool = False
    baselines: bool = True
    """Time OpenBLAS (interleaved) and naive in the same run, for the ratios."""
    bench_budget_ms: float = 1500.0
    min_samples: int = 5
    max_samples: int = 30
    seed: int | None = None
    """Master seed; random (unpredictable to the kernel) unless given."""


@dataclass
class Report:
    """What the child said, parsed."""

    checks: list[tuple[str, float, float, float]] = field(default_factory=list)
    failure: tuple[str, str] | None = None
    samples: dict[str, list[float]] = field(default_factory=dict)
    probes: dict[int, list[tuple[int, int, float]]] = field(default_factory=dict)
    peaks: dict[int, float] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    jail: str = ""
    done: bool = False
    running: str = ""
    """The case (shape) the kernel was last called on."""


def parse_report(outcome: RunOutcome) -> Report:
    rep = Report()
    for at, line in outcome.lines:
        word, _, rest = line.partition(" ")
        parts = rest.split()
        try:
            if word == "check" and len(parts) >= 5 and parts[1] == "ok":
                rep.checks.append((parts[0], float(parts[2]), float(parts[3]), float(parts[4])))
            elif word == "verdict":
                verdict, _, detail = rest.partition(" ")
                rep.failure = (verdict, detail)
            elif word == "sample":
                rep.samples.setdefault(parts[0], []).append(float(parts[1]))
            elif word == "probe":
                call, slot, idx = int(parts[0]), int(parts[1]), int(parts[2])
                value = struct.unpack("<f", int(parts[3], 16).to_bytes(4, "little"))[0]
                rep.probes.setdefault(call, []).append((slot, idx, value))
            elif word == "peak":
                rep.peaks[int(parts[0])] = float(parts[1])
            elif word == "phase":
                rep.phases[parts[0]] = at
            elif word == "running":
                rep.running = rest
            elif word == "jail":
                rep.jail = rest
            elif word == "done":
                rep.done = True
        except (ValueError, IndexError):
            continue
    return rep


def _crash_reason(outcome: RunOutcome) -> str:
    err = outcome.stderr_tail
    if "has overflowed its stack" in err:
        return "overflowed its stack"
    for line in err.splitlines():
        if "panicked at" in line:
            detail = err.split(line, 1)[1].strip().splitlines()
            where = re.sub(r"^thread '[^']*'( \(\d+\))? panicked at ", "", line.strip())
            where = where.replace("candidate/src/kernel.rs", "kernel.rs").rstrip(":")
            return f"panicked at {where}" + (f": {detail[0]}" if detail else "")
    sig = outcome.signal
    if sig == signal.SIGXFSZ:
        return "wrote more output than the limit allows"
    if sig is not None:
        try:
            return f"killed by signal {signal.Signals(sig).name}"
        except ValueError:
            return f"killed by signal {sig}"
    return f"exited before finishing (exit status {outcome.returncode})"


class Checker:
    """Checks kernels; keeps one builder (and its caches) across checks."""

    def __init__(self, cfg: Settings | None = None) -> None:
        self.cfg = cfg or settings()
        self.builder = Builder(self.cfg)
        self._peak_measured = False

    def check(
        self,
        source: str,
        problem: Problem | str,
        options: Options | None = None,
        cancel: threading.Event | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> CheckResult:
        problem = problems.get(problem) if isinstance(problem, str) else problem
        opt = options or Options()
        shape = opt.shape or problem.shape()
        say = progress or (lambda _phase: None)
        t0 = time.monotonic()
        result = CheckResult(
            verdict=Verdict.PASSED,
            reason="",
            problem=problem.name,
            shape=shape,
            kernel_sha256=hashlib.sha256(source.encode()).hexdigest(),
            flags={
                "rustflags": self.cfg.rustflags,
                "allow_unsafe": str(opt.allow_unsafe),
                "openblas": str(self.builder.openblas),
                "threads": str(self.cfg.n_threads),
            },
        )

        missing = protections.require(self.cfg)  # refuses off Linux unless opted in
        if missing:
            result.flags["unprotected"] = ", ".join(missing)

        def finish(verdict: Verdict, reason: str) -> CheckResult:
            result.verdict, result.reason = verdict, reason
            result.timings["total_s"] = time.monotonic() - t0
            return result

        say("gate")
        gate = policy.gate(source, problem, opt.allow_unsafe)
        result.gate = gate.to_dict()
        result.timings["static_s"] = time.monotonic() - t0
        result.checks.append(Check("static gate", gate.ok, gate.reason or "nothing banned"))
        if not gate.ok:
            return finish(Verdict.REJECTED, gate.reason)

        say("build")
        try:
            built = self.builder.build(source, problem, opt.allow_unsafe, cancel)
        except BuildFailed as exc:
            result.timings["build_s"] = time.monotonic() - t0 - result.timings["static_s"]
            result.compiler_output = exc.compiler_output
            result.checks.append(Check("build", False, str(exc)))
            return finish(Verdict.BUILD_FAILED, str(exc))
        result.timings["build_s"] = built.seconds
        result.checks.append(
            Check(
                "build",
                True,
                "cached"
                if built.cached
                else f"built in {built.seconds:.1f} s, {built.warnings} warnings",
            )
        )

        master = opt.seed if opt.seed is not None else secrets.randbits(63)
        nonce = secrets.token_hex(16)
        orders, bench_seed, probe_at = self._orders(problem, shape, opt, master, nonce)
        limits = Limits(wall_s=self.cfg.timeout_s, memory_bytes=self.cfg.memory_limit_mb << 20)
        say("correctness")

        def on_line(line: str) -> None:
            if line.startswith("phase "):
                say(line.split()[1])

        run_start = time.monotonic()
        outcome = run_jailed(
            [str(built.binary)],
            orders,
            nonce,
            limits,
            scrubbed_env(self.cfg.n_threads),
            cancel,
            on_line,
        )
        rep = parse_report(outcome)
        self._phase_timings(result, rep, outcome, run_start)
        if rep.done and rep.failure is None:
            say("baselines")
            t = time.monotonic()
            self._baselines(problem, shape, opt, master, rep, result, cancel)
            result.timings["baselines_s"] = time.monotonic() - t
        result.kernel_output = (outcome.stdout_tail[-2000:] + outcome.stderr_tail[-2000:]).strip()
        result.flags["sandbox"] = rep.jail
        for label, err, _bound, ratio in rep.checks:
            result.checks.append(
                Check(f"correct {label}", True, f"max error {err:.2e}, {ratio:.1%} of its bound")
            )
        if rep.checks:
            worst = max(rep.checks, key=lambda c: c[1])
            result.max_abs_error, result.error_bound = worst[1], worst[2]
        if outcome.forged_lines:
            result.checks.append(
                Check("report channel", True, f"ignored {outcome.forged_lines} unsigned lines")
            )

        if outcome.timed_out:
            return finish(
                Verdict.TIMEOUT,
                f"ran longer than the {limits.wall_s:.0f} s wall-clock "
                f"limit (in {self._last_phase(rep)})",
            )
        if outcome.signal == signal.SIGXCPU:
            return finish(Verdict.TIMEOUT, f"used more than {limits.cpu_s} s of CPU time")
        if "memory allocation of" in outcome.stderr_tail:
            return finish(
                Verdict.OUT_OF_MEMORY,
                f"exceeded the memory limit of {self.cfg.memory_limit_mb} MiB",
            )
        if rep.failure is not None:
            verdict, detail = rep.failure
            result.checks.append(Check("correct", False, detail))
            if verdict == Verdict.WRONG_RESULT:
                return finish(Verdict.WRONG_RESULT, detail)
            return finish(Verdict.CRASHED, f"harness error: {detail}")
        if not rep.done:
            reason = _crash_reason(outcome)
            result.checks.append(Check("ran to the end", False, reason))
            return finish(Verdict.CRASHED, f"{reason} (in {self._last_phase(rep)})")

        return self._judge(result, rep, problem, shape, bench_seed, probe_at, finish)

    # ----------------------------------------------------------------- pieces
    def _baselines(
        self,
        problem: Problem,
        shape: Shape,
        opt: Options,
        master: int,
        rep: Report,
        result: CheckResult,
        cancel: threading.Event | None,
    ) -> None:
        """Times OpenBLAS (twice, around naive) and measures the peak in a trusted process,
        after the kernel's process has exited: nothing of the kernel can run beside them (it
        could otherwise leave threads spinning to slow an interleaved anchor)."""
        coretype = machine.openblas_coretype(machine.current(self.cfg))
        if coretype and opt.baselines and self.builder.openblas:
            result.flags["openblas_coretype"] = coretype
        dims = ",".join(map(str, problem.dims_of(shape)))
        orders = []
        blas = f"baseline name=openblas dims={dims} max=12 budget_ms=400"
        if opt.baselines and self.builder.openblas:
            orders.append(f"{blas} seed={inputs.derive(master, 30_000)}")
        if opt.baselines:
            orders.append(
                f"baseline name=naive dims={dims} seed={inputs.derive(master, 20_000)}"
                " max=3 budget_ms=1000 warmup=0"
            )
            orders.append(
                f"baseline name=rayon dims={dims} seed={inputs.derive(master, 20_001)}"
                " max=2 budget_ms=300 warmup=0"
            )
        if opt.baselines and self.builder.openblas:
            orders.append(f"{blas} seed={inputs.derive(master, 30_001)}")
        # the peak once per checker (a session's loop measures it once), or when unknown
        if (opt.baselines and not self._peak_measured) or machine.best_peak(
            self.cfg.n_threads, None
        ) is None:
            self._peak_measured = True
            threads = self.cfg.n_threads
            orders += ["peak threads=1 budget_ms=60", f"peak threads={threads} budget_ms=60"]
        if not orders:
            return
        try:
            trusted = self.run_trusted(problem, orders, cancel)
        except RuntimeError as exc:  # not the kernel's fault: no ratios, same verdict
            result.flags["baselines"] = str(exc)
            return
        for name, times in trusted.samples.items():
            rep.samples.setdefault(name, []).extend(times)
        rep.peaks.update(trusted.peaks)

    def run_trusted(
        self, problem: Problem, orders: list[str], cancel: threading.Event | None = None
    ) -> Report:
        """Runs baseline/peak orders in a process that holds no candidate code (the runner
        built around the naive kernel)."""
        naive = problems.naive_kernel_path(problem, self.cfg.rust_workspace).read_text()
        built = self.builder.build(naive, problem, cancel=cancel)
        nonce = secrets.token_hex(16)
        limits = Limits(
            wall_s=max(self.cfg.timeout_s, 120.0), memory_bytes=self.cfg.memory_limit_mb << 20
        )
        text = "\n".join([f"nonce {nonce}", *orders]) + "\n"
        env = scrubbed_env(self.cfg.n_threads)
        coretype = machine.openblas_coretype(machine.current(self.cfg))
        if coretype:  # built for a lesser ISA: the OpenBLAS anchor runs on that ISA too
            env["OPENBLAS_CORETYPE"] = coretype
        out = run_jailed([str(built.binary)], text, nonce, limits, env, cancel)
        rep = parse_report(out)
        if rep.failure or not rep.done:
            detail = rep.failure[1] if rep.failure else _crash_reason(out)
            raise RuntimeError(f"the trusted baselines failed: {detail}")
        return rep

    def _orders(
        self, problem: Problem, shape: Shape, opt: Options, master: int, nonce: str
    ) -> tuple[str, int, list[tuple[int, int]]]:
        rng = np.random.default_rng(master)
        lines = [f"nonce {nonce}", "phase correctness"]
        cases: list[tuple[str, tuple[int, ...], int, int]] = []
        for n, dims in enumerate(problem.correctness_shapes):
            bias = (n % 2) if problem.has_bias else 1
            cases.append(("x".join(map(str, dims)), dims, bias, 7 if n % 3 == 2 else 0))
        # shapes drawn afresh each run: no kernel can special-case them
        for n in range(2):
            if len(problem.dims) == 3:
                dims = tuple(int(x) for x in rng.integers(1, 160, size=3))
            else:
                dims = (
                    int(rng.integers(1, 4)),
                    int(rng.integers(1, 40)),
                    int(rng.integers(1, 150)),
                    int(rng.integers(1, 150)),
                )
            cases.append((f"random{n}-" + "x".join(map(str, dims)), dims, n % 2, 3))
        # the same shape again with fresh values: a result cache returns stale outputs
        label, dims, bias, _ = cases[len(cases) // 2]
        cases.append((f"repeat-{label}", dims, bias, 0))
        # both bias and no bias on a mid-sized shape
        if problem.has_bias:
            cases.append((f"nobias-{label}", dims, 0, 0))
        for n, (label, dims, bias, slack) in enumerate(cases):
            lines.append(
                f"case label={label} dims={','.join(map(str, dims))} "
                f"seed={inputs.derive(master, n)} bias={bias} slack={slack}"
            )
        dims = problem.dims_of(shape)
        bench_seed = inputs.derive(master, 10_000)
        probe_at = inputs.probe_indices(problem, dims, True, master, PROBES)
        # probed calls: the first and two timed ones the kernel cannot predict (and the last)
        probe_calls = sorted({0, *(int(c) for c in rng.integers(1, opt.min_samples + 1, 2))})
        lines.append("phase benchmark")
        lines.append(
            f"bench dims={','.join(map(str, dims))} seed={bench_seed} bias=1 warmup=1 "
            f"min={opt.min_samples} max={opt.max_samples} budget_ms={opt.bench_budget_ms} "
            f"secret={secrets.randbits(63)} probe_calls={','.join(map(str, probe_calls))} "
            f"probes={','.join(f'{s}:{i}' for s, i in probe_at)}"
        )
        lines.append("phase end")
        return "\n".join(lines) + "\n", bench_seed, probe_at

    @staticmethod
    def _last_phase(rep: Report) -> str:
        if rep.running:
            shape = rep.running.split("-", 1)[-1] if "-" in rep.running else rep.running
            return f"the call at shape {shape}"
        return max(rep.phases, key=lambda p: rep.phases[p]) if rep.phases else "start-up"

    @staticmethod
    def _phase_timings(
        result: CheckResult, rep: Report, outcome: RunOutcome, run_start: float
    ) -> None:
        marks = sorted(rep.phases.items(), key=lambda kv: kv[1]) + [("_end", outcome.wall_s)]
        for (name, at), (_next, until) in zip(marks, marks[1:], strict=False):
            if name != "end":
                result.timings[f"{name}_s"] = until - at
        result.timings["run_s"] = outcome.wall_s

    def _judge(
        self,
        result: CheckResult,
        rep: Report,
        problem: Problem,
        shape: Shape,
        bench_seed: int,
        probe_at: list[tuple[int, int]],
        finish: Callable[[Verdict, str], CheckResult],
    ) -> CheckResult:
        kernel = Stats.of(rep.samples.get("kernel", []))
        if kernel is None:
            return finish(Verdict.CRASHED, "the benchmark produced no timed call")
        calls = sorted(rep.probes)
        dims = problem.dims_of(shape)
        result.checks.append(
            Check(
                "benchmark shape",
                True,
                f"{problem.format_shape(shape)}: {kernel.samples} timed calls, each on fresh "
                "inputs and verified (randomised check of every row, every element finite)",
            )
        )
        for call in calls:
            errors = inputs.recheck(
                problem, dims, inputs.derive(bench_seed, call), True, rep.probes[call]
            )
            if errors:
                detail = f"independent re-check of call {call}: " + "; ".join(errors[:3])
                result.checks.append(Check("independent re-check", False, detail))
                return finish(Verdict.WRONG_RESULT, detail)
        n_probes = sum(len(p) for p in rep.probes.values())
        if n_probes < len(probe_at):
            return finish(Verdict.CRASHED, "the harness did not report every probed element")
        result.checks.append(
            Check(
                "independent re-check",
                True,
                f"{n_probes} elements recomputed in Python from the seeds",
            )
        )
        flops = problem.flops(shape)
        result.gflops = flops / kernel.median_s / 1e9
        result.median_s, result.mad_s, result.ci95_s = kernel.median_s, kernel.mad_s, kernel.ci95_s
        result.samples = kernel.samples
        for name, times in rep.samples.items():
            if name != "kernel" and (st := Stats.of(times)):
                result.baselines[name] = Baseline(
                    name, flops / st.median_s / 1e9, st.median_s, st.samples
                )
        if "openblas" in result.baselines:
            result.fraction_of_openblas = result.gflops / result.baselines["openblas"].gflops
        if "naive" in result.baselines:
            result.speedup_vs_naive = result.baselines["naive"].median_s / kernel.median_s
        threads = self.cfg.n_threads
        peak = machine.best_peak(threads, rep.peaks.get(threads))
        result.peak_gflops = peak
        if peak:
            result.fraction_of_peak = result.gflops / peak
            if result.gflops > IMPOSSIBLE_MARGIN * peak:
                detail = (
                    f"{result.gflops:.1f} GFLOPS is above this machine's measured peak of "
                    f"{peak:.1f} GFLOPS ({threads} threads)"
                )
                result.checks.append(Check("speed is physically possible", False, detail))
                return finish(Verdict.IMPOSSIBLE, detail)
            result.checks.append(
                Check(
                    "speed is physically possible",
                    True,
                    f"{result.fraction_of_peak:.0%} of the measured peak",
                )
            )
        return finish(Verdict.PASSED, "did the whole job on every check")
