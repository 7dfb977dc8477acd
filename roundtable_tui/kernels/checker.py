"""`roundtable check` as a library: static gate → build → correctness → benchmark → verdict.

The parent owns everything that decides the verdict, and the kernel's process holds nothing
that could: the parent makes every input from a generator that never leaves it, keeps its
own copy, writes each call's arguments into shared memory just before the call (while the
kernel's process is stopped), times each call on its own clock around a start/done exchange,
reads the child's CPU time from the OS, and afterwards checks the outputs, the guard zones
after them and the inputs itself, choosing what to check only then. The child (the harness
with the kernel linked in) is a thin caller: it answers `done N`, and anything else it says
ends the run (see sandbox.Server and inputs.py).
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from roundtable_tui.config import Settings, settings
from roundtable_tui.kernels import inputs, machine, peak, policy, problems, protections
from roundtable_tui.kernels.build import Builder, BuildFailed
from roundtable_tui.kernels.problems import Problem, Shape
from roundtable_tui.kernels.sandbox import (
    ChildFailed,
    Limits,
    RunOutcome,
    Server,
    run_jailed,
    scrubbed_env,
)
from roundtable_tui.kernels.verdict import Baseline, Check, CheckResult, Stats, Verdict

IMPOSSIBLE_MARGIN = 1.15
"""A kernel faster than this times the machine's peak (see peak.peak_for_judging) cannot be
real."""
LINES_CHECKED = 16
"""Random whole rows and columns of every output compared element by element per timed call."""
SKETCHES = 2
"""Random-vector (Freivalds) checks of every row per timed call."""
FULL_CHECKS = 3
"""Timed calls with visible inputs (every operand "away", see inputs.VISIBLE) compared in
full (every element), drawn uniformly from all such calls of a check by reservoir sampling;
one more is drawn from the other timed calls, and the warm-up call is compared in full as
well. A dropped product term |a·b| is under its element's bound for ~80% of elements when an
operand has per-element scales 2⁻²⁴…2²⁴ ("mixed"), for ~5% with the other distributions, and
never with visible inputs at K ≤ 4096: a kernel dropping one term in one element from its
third call on escaped a CI check (1 wrong call of 2, its inputs mixed) ~30% of the time before
the full comparisons were drawn from visible calls."""
FULL_OTHER = 1
"""Timed calls without visible inputs compared in full as well (drawn the same way)."""
OVERHEAD_PROBES = 9
"""Empty exchanges timed to measure the parent's per-call overhead."""


@dataclass
class Options:
    shape: Shape | None = None
    allow_unsafe: bool = False
    baselines: bool = True
    """Time OpenBLAS (interleaved) and naive in the same run, for the ratios."""
    anchor: bool = False
    """Time OpenBLAS alone (interleaved) without the other baselines or the peak: the
    fraction of OpenBLAS of a short check (a confirmation round's)."""
    bench_budget_ms: float = 1500.0
    min_samples: int = 5
    max_samples: int = 30
    cases: bool = True
    """Run the correctness cases before the benchmark. False only for a kernel that passed a
    whole check already and is timed again (a confirmation round): its benchmark calls are
    still verified as in any check."""
    seed: int | None = None
    """Master seed of the parent's generator; random unless given. It never leaves the parent."""
    refuse_soundness_holes: bool = True
    """The static gate's named refusal of known rustc soundness-hole patterns (policy.py). Off
    only to show that the parent's own checks hold without it."""
    scheme: str = ""
    """The verified block scheme roundtable instantiated this kernel from ("strassen x2"), set
    only by the trusted side (core.formulation verified it, kernels.schemes rendered it);
    never read from the kernel file. Empty for every other kernel."""
    mult_fraction: float = 1.0
    """That scheme's real multiplications over 2·m·n·k at the benchmark shape ((7/8)^levels
    for Strassen): GFLOPS stay effective (2·m·n·k / time), and `impossible` compares
    GFLOPS·mult_fraction with the peak. Clamped to [0.1, 1]."""
    error_growth: float = 1.0
    """That scheme's factor on the classical error bound (kernels.schemes.accounting: Higham's
    (g/q²)^levels, 3 per Strassen level, 4.5 per Winograd level)."""


@dataclass
class Report:
    """What the trusted baselines' process said (`run_trusted`), parsed."""

    failure: tuple[str, str] | None = None
    samples: dict[str, list[float]] = field(default_factory=dict)
    peaks: dict[int, float] = field(default_factory=dict)
    done: bool = False


def parse_report(outcome: RunOutcome) -> Report:
    rep = Report()
    for _at, line in outcome.lines:
        word, _, rest = line.partition(" ")
        parts = rest.split()
        try:
            if word == "verdict":
                verdict, _, detail = rest.partition(" ")
                rep.failure = (verdict, detail)
            elif word == "sample":
                rep.samples.setdefault(parts[0], []).append(float(parts[1]))
            elif word == "peak":
                rep.peaks[int(parts[0])] = float(parts[1])
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
        gate = policy.gate(
            source, problem, opt.allow_unsafe, soundness_holes=opt.refuse_soundness_holes
        )
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
        rng = np.random.default_rng(master)
        cases = self._cases(problem, rng) if opt.cases else []
        limits = Limits(wall_s=self.cfg.timeout_s, memory_bytes=self.cfg.memory_limit_mb << 20)
        dims = problem.dims_of(shape)
        size = max(
            max((inputs.call_nbytes(problem, c.dims, True, c.slack) for c in cases), default=0),
            inputs.call_nbytes(problem, dims, True, BENCH_SLACK),
        )
        say("correctness")
        run = _Run(result)
        if opt.scheme:
            run.mult_fraction = min(max(opt.mult_fraction, 0.1), 1.0)
            run.error_growth = max(opt.error_growth, 1.0)
            result.flags["scheme"] = (
                f"{opt.scheme}: {run.mult_fraction:.4g} of the multiplications, error bound "
                f"x{run.error_growth:.4g}"
            )
        run_start = time.monotonic()
        server: Server | None = None
        try:
            server = Server(
                [str(built.binary)],
                secrets.token_hex(16),
                limits,
                scrubbed_env(self.cfg.n_threads),
                size,
                cancel,
            )
            result.flags["sandbox"] = next(
                (line.removeprefix("jail ") for _, line in server.outcome.lines), ""
            )
            t = time.monotonic()
            # the parent's numpy on one thread: BLAS worker threads that spin after a check
            # would take cores from the kernel's next timed call
            with threadpool_limits(1):
                failure = self._correctness(problem, cases, rng, server, run)
                result.timings["correctness_s"] = time.monotonic() - t
                if failure is None:
                    say("benchmark")
                    t = time.monotonic()
                    failure = self._benchmark(problem, dims, opt, rng, server, run)
                    result.timings["benchmark_s"] = time.monotonic() - t
            run.cpu_outside_s = server.cpu_outside_calls()
            outcome = server.close()
        except ChildFailed as exc:
            return self._child_failed(exc, run, limits, result, finish, run_start)
        finally:
            if server is not None:
                server.release()
        result.timings["run_s"] = time.monotonic() - run_start
        result.kernel_output = (outcome.stdout_tail[-2000:] + outcome.stderr_tail[-2000:]).strip()
        if failure is not None:
            result.checks.append(Check("correct", False, failure))
            return finish(Verdict.WRONG_RESULT, failure)
        say("baselines")
        rep = Report()
        t = time.monotonic()
        self._baselines(problem, shape, opt, master, rep, result, cancel)
        result.timings["baselines_s"] = time.monotonic() - t
        return self._judge(result, rep, run, problem, shape, finish)

    # ----------------------------------------------------------------- the run
    def _cases(self, problem: Problem, rng: np.random.Generator) -> list[Case]:
        """The correctness cases of one check, drawn afresh from the parent's generator:
        the catalogue's shapes with random distributions, every distribution crossed with a
        short and a long reduction, every special-value kind, shapes no kernel can know in
        advance (one with a reduction deeper than the benchmark's), huge against tiny values,
        a repeat with fresh values and updates, outputs holding garbage or zeros, the inputs
        as one buffer, bias/no bias; half of them with buffers starting off a 16-byte
        boundary."""
        shapes = list(problem.correctness_shapes)
        red = _reduction_index(problem)
        short = [d for d in shapes if d[red] <= 5] or shapes[:1]
        long = [d for d in shapes if d[red] >= 64] or shapes[-1:]
        dists = inputs.CASE_DISTRIBUTIONS

        def pick(options: list[tuple[int, ...]]) -> tuple[int, ...]:
            return options[int(rng.integers(len(options)))]

        def slack() -> int:
            return 0 if rng.random() < 0.2 else int(rng.integers(1, 40))

        cases: list[Case] = []
        offset = int(rng.integers(len(dists)))
        for n, dims in enumerate(shapes):
            d = dists[(offset + n) % len(dists)]
            cases.append(Case("x".join(map(str, dims)), dims, n % 2 == 0, slack(), (d,)))
        for d in dists:
            for kind, options in (("short-K", short), ("long-K", long)):
                dims = pick(options)
                other = str(rng.choice(dists))
                cases.append(
                    Case(f"{d}-{kind}", dims, bool(rng.random() < 0.5), slack(), (d, other))
                )
        mid = [d for d in shapes if 8 <= d[red] <= 260] or shapes
        # rows of different scales show a product that mixes rows (an unverified
        # Strassen-like level) only where such code runs: at the two shapes largest in
        # every GEMM dimension, both in every check (a random pick of the three largest by
        # volume drew 256x17x257 twice, where a one-level Strassen takes its plain loop)
        large = sorted(shapes, key=lambda d: (min(_gemm_dims(d)), math.prod(d)))[-2:]
        for kind in inputs.SPECIALS:
            for n in range(2):
                if kind == "scaled_rows":
                    dims = large[n % len(large)]
                else:
                    dims = pick(mid if n else shapes)
                # a zero times NaN (or Inf) also where zeros are most of A (a sparse path
                # skips zeros)
                zero_times = kind.startswith("zero_times_")
                drawn = ("sparse", "normal") if zero_times and n else ("normal",)
                cases.append(Case(f"{kind}-{n}", dims, bool(n % 2), slack(), drawn, (kind,)))
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
            cases.append(Case(f"random{n}-" + "x".join(map(str, dims)), dims, n % 2 == 0, slack()))
        base = cases[len(shapes) // 2]
        cases.append(Case(f"repeat-{base.label}", base.dims, base.bias, base.slack, base.dists))
        for how in inputs.UPDATES:  # a training step's next call: the buffers a little changed
            cases.append(
                Case(f"update-{how}-{base.label}", base.dims, base.bias, base.slack, update=how)
            )
        # and one input alone, each in turn: a cache keyed exactly on one input and loosely
        # on another (an order-blind digest, a tolerance) is stale only when the other changes
        names = [s.name for s in inputs.layout(problem, base.dims)[0]]
        for how, within in (("swap", "row"), ("swap", "column"), ("nudge", "")):
            for i, name in enumerate(names):
                if name != "bias" or (base.bias and problem.has_bias):
                    label = f"update-{how}{'-' + within if within else ''}-{name}-only-{base.label}"
                    cases.append(
                        Case(
                            label,
                            base.dims,
                            base.bias,
                            base.slack,
                            update=how,
                            only=i,
                            within=within,
                        )
                    )
        cases.append(Case(f"garbage-c-{base.label}", base.dims, True, slack(), garbage="large"))
        cases.append(Case(f"zeroed-c-{base.label}", base.dims, True, slack(), garbage="zeros"))
        # a reduction deeper than the benchmark's and any catalogue shape's (a K loop that
        # stops at a block count, a fixed-size accumulator), on few rows and columns
        deep = list(pick(short))
        # matmul_backward's longest reduction is dinp's, over oc
        deep_axis = 3 if problem.name == "matmul_backward" else red
        deep[deep_axis] = int(rng.integers(2049, 6145))
        cases.append(Case("deep-K-" + "x".join(map(str, deep)), tuple(deep), True, slack()))
        # and positive inputs over such a reduction, where a path gated on the data (all
        # positive, integer-valued, a long reduction) is wrong by a sum of thousands of terms
        for dist, (low, high) in inputs.DEEP_DISTRIBUTIONS.items():
            deep = list(pick(short))
            deep[deep_axis] = int(rng.integers(low, high + 1))
            label = f"long-K-{dist}-" + "x".join(map(str, deep))
            cases.append(Case(label, tuple(deep), False, slack(), (dist,)))
        # magnitudes whose squares overflow f32 against tiny ones: finite products, so the
        # outputs must be finite (row norms or scales computed in f32 overflow)
        dims = pick(mid)
        cases.append(
            Case("huge-tiny-" + "x".join(map(str, dims)), dims, True, slack(), ("huge", "tiny"))
        )
        if (same := _alias_dims(problem, rng)) is not None:
            label = "one-buffer-" + "x".join(map(str, same))
            cases.append(Case(label, same, False, slack(), alias=True))
        if problem.has_bias:
            cases.append(Case(f"nobias-{base.label}", base.dims, False, slack()))
        # a second C that looks cleared, at another shape and with its own large values: a
        # kernel that samples C to decide whether to clear it escapes one such case when a
        # large value sits where it samples (about 1 in 100 with three samples on 17x31: a
        # CI run passed one so); it escapes both about once in 10,000
        dims = pick(mid)
        label = "zeroed-c-again-" + "x".join(map(str, dims))
        cases.append(Case(label, dims, True, slack(), garbage="zeros"))
        # every input integers of 2^10 … 2^16 over a reduction of 8 or more: sums past 2^31
        # in many outputs, so a path that computes integer-looking inputs in wrapping i32
        # is wrong here in every check (the distributions' own cases pair such inputs only
        # now and then, and at a short reduction the sums may all fit: a red-team kernel
        # passed 1 check in 20 so)
        dims = pick(mid)
        label = "wide-integers-" + "x".join(map(str, dims))
        cases.append(Case(label, dims, True, slack(), ("wide_integers",)))
        for case in cases:  # callers pass sub-slices: half the cases start mid-line
            if not case.update and rng.random() < 0.5:
                case.shift = 8 * int(rng.integers(1, inputs.ALIGN // 8))
        return cases

    def _correctness(
        self,
        problem: Problem,
        cases: list[Case],
        rng: np.random.Generator,
        server: Server,
        run: _Run,
    ) -> str | None:
        """Every case checked in full (every element, guard zones, inputs); the first failure."""
        prev: inputs.Call | None = None
        for case in cases:
            run.running = f"the case {case.label}"
            if case.update and prev is not None:
                call = inputs.visible_update(
                    prev,
                    rng,
                    f"case {case.label}",
                    case.update,
                    run.error_growth,
                    case.only,
                    case.within,
                )
            else:
                call = inputs.make_call(
                    problem,
                    case.dims,
                    rng,
                    label=f"case {case.label}",
                    has_bias=case.bias,
                    slack=case.slack,
                    dists=case.dists or None,
                    specials=case.specials,
                    garbage_outputs=case.garbage,
                    shift=case.shift,
                    alias=case.alias,
                )
            prev = call
            t = time.monotonic()
            _timing, msg, outs = server.call(call, inputs.check_guards)
            if msg:
                return msg
            msg, worst = inputs.check_full(call, outs, run.error_growth)
            if msg:
                return msg
            run.worst.append((case.label, worst, time.monotonic() - t))
        return None

    def _benchmark(
        self,
        problem: Problem,
        dims: tuple[int, ...],
        opt: Options,
        rng: np.random.Generator,
        server: Server,
        run: _Run,
    ) -> str | None:
        """Fresh inputs on every call (random distribution per matrix), the parent's clock,
        every call verified after it returned: guard zones and inputs bit for bit, random rows,
        columns and sketches, and every element of the warm-up call, of FULL_CHECKS timed calls
        with visible inputs and FULL_OTHER others, drawn in secret, against a float64
        reference."""
        shape = "x".join(map(str, dims))
        run.running = f"the call at shape {shape}"
        run.overheads = [server.noop() for _ in range(OVERHEAD_PROBES)]
        warmup = 1
        spent, call_no = 0.0, 0
        budget = opt.bench_budget_ms / 1e3

        def enough() -> bool:
            n = len(run.samples)
            slow = n > 0 and spent / n > budget / opt.min_samples
            return n >= (min(opt.min_samples, 3) if slow else opt.min_samples)

        prev: inputs.Call | None = None
        deferred: list[tuple[str, inputs.Call, list]] = []
        # uniform samples of the timed calls with visible inputs and of the others
        kept = {True: _Reservoir(FULL_CHECKS, rng), False: _Reservoir(FULL_OTHER, rng)}
        # batches alternate, from a random phase, between visible inputs (every call of the
        # batch: updates keep their base's) and distributions drawn per matrix, so that of
        # any two batches one is compared in full at visible inputs with a good chance
        phase, batches = int(rng.integers(2)), 0
        in_slots, out_slots, _ = inputs.layout(problem, dims)
        pool = inputs.Pool(rng, max(s.length for s in (*in_slots, *out_slots)))
        while len(run.samples) < opt.max_samples and not (enough() and spent >= budget):
            # a batch of 1-3 calls back to back (as a training loop makes them), checked after
            # the batch; later calls of a batch are sometimes the previous inputs updated
            batch: list[inputs.Call] = []
            size = 1 if call_no == 0 else int(rng.integers(1, 4))
            visible = call_no == 0 or (batches + phase) % 2 == 0
            batches += 1
            if enough() or (run.samples and spent / len(run.samples) > budget / opt.min_samples):
                size = 1  # a slow kernel, or the last calls: no call beyond what is needed
            for b in range(min(size, opt.max_samples - len(run.samples))):
                n = call_no + b
                if b and prev is not None and rng.random() < 0.5:
                    # every input changed, or one alone (a cache keyed loosely on another)
                    ins = [i for i, a in enumerate(prev.inputs) if a is not None]
                    only = int(rng.choice(ins)) if ins and rng.random() < 0.5 else None
                    label = f"call {n} (an update of call {n - 1})"
                    call = inputs.updated_call(prev, rng, label, only=only)
                else:
                    slack = int(rng.integers(0, BENCH_SLACK + 1))
                    call = inputs.make_call(
                        problem,
                        dims,
                        rng,
                        label=f"call {n}",
                        slack=slack,
                        dists=(inputs.VISIBLE,) if visible else None,
                        pool=pool,
                    )
                batch.append(call)
                prev = call
            done = [(call, *server.call(call, inputs.check_guards)) for call in batch]
            for call, timing, msg, outs in done:
                when = "warm-up" if call_no < warmup else "timed"
                if msg is None:
                    msg, worst = inputs.check_sampled(
                        call, outs, rng, LINES_CHECKED, SKETCHES, run.error_growth
                    )
                    run.bench_worst.merge(worst.abs_err, worst.bound, worst.ratio)
                if msg:
                    return f"{when} {msg} at the benchmark shape"
                if call_no < warmup:
                    deferred.append((when, call, outs))
                else:
                    kept[inputs.is_visible(call)].offer((when, call, outs))
                if call_no >= warmup:
                    run.samples.append(timing.wall_s)
                    run.cpu_timed_s += timing.cpu_s
                    spent += timing.wall_s
                call_no += 1
        run.calls = call_no
        # every element of the warm-up call and of the timed calls drawn (in secret), after
        # the timed calls (so the parent's BLAS may use every core without slowing a timed call)
        with threadpool_limits(self.cfg.n_threads):
            for when, call, outs in deferred + kept[True].items + kept[False].items:
                msg, worst = inputs.check_full(call, outs, run.error_growth)
                run.full_checked += 1
                run.bench_worst.merge(worst.abs_err, worst.bound, worst.ratio)
                if msg:
                    return f"{when} {msg} at the benchmark shape"
        return None

    def _child_failed(
        self,
        exc: ChildFailed,
        run: _Run,
        limits: Limits,
        result: CheckResult,
        finish: Callable[[Verdict, str], CheckResult],
        run_start: float,
    ) -> CheckResult:
        outcome = exc.outcome
        result.timings["run_s"] = time.monotonic() - run_start
        result.kernel_output = (outcome.stdout_tail[-2000:] + outcome.stderr_tail[-2000:]).strip()
        where = run.running or "start-up"
        if exc.protocol:
            result.checks.append(Check("report channel", False, str(exc)))
            return finish(Verdict.CRASHED, f"{exc} (in {where})")
        if outcome.timed_out:
            return finish(
                Verdict.TIMEOUT,
                f"ran longer than the {limits.wall_s:.0f} s wall-clock limit (in {where})",
            )
        if outcome.signal == signal.SIGXCPU:
            return finish(Verdict.TIMEOUT, f"used more than {limits.cpu_s} s of CPU time")
        if "memory allocation of" in outcome.stderr_tail:
            return finish(
                Verdict.OUT_OF_MEMORY,
                f"exceeded the memory limit of {self.cfg.memory_limit_mb} MiB (in {where})",
            )
        if "harness error" in outcome.stderr_tail or "verdict error" in outcome.stderr_tail:
            return finish(Verdict.CRASHED, f"harness error (in {where})")
        reason = _crash_reason(outcome)
        result.checks.append(Check("ran to the end", False, reason))
        return finish(Verdict.CRASHED, f"{reason} (in {where})")

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
        anchor = (opt.baselines or opt.anchor) and self.builder.openblas
        if anchor:
            orders.append(f"{blas} seed={_baseline_seed(master, 0)}")
        if opt.baselines:
            orders.append(
                f"baseline name=naive dims={dims} seed={_baseline_seed(master, 1)}"
                " max=3 budget_ms=1000 warmup=0"
            )
            orders.append(
                f"baseline name=rayon dims={dims} seed={_baseline_seed(master, 2)}"
                " max=2 budget_ms=300 warmup=0"
            )
        if anchor:
            orders.append(f"{blas} seed={_baseline_seed(master, 3)}")
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

    def _judge(
        self,
        result: CheckResult,
        rep: Report,
        run: _Run,
        problem: Problem,
        shape: Shape,
        finish: Callable[[Verdict, str], CheckResult],
    ) -> CheckResult:
        for label, w, _secs in run.worst:
            result.checks.append(
                Check(
                    f"correct {label}",
                    True,
                    f"max error {w.abs_err:.2e}, {w.ratio:.1%} of its bound",
                )
            )
        if run.worst:
            worst = max(run.worst, key=lambda c: c[1].abs_err)[1]
            result.max_abs_error, result.error_bound = worst.abs_err, worst.bound
        samples = list(run.samples)
        threads = self.cfg.n_threads
        # work done outside the calls (the child is stopped between them, so only start-up
        # should show) is charged to the timed calls
        charge = 0.0
        if samples and run.cpu_outside_s > OUTSIDE_ALLOWANCE_S:
            charge = (run.cpu_outside_s - OUTSIDE_ALLOWANCE_S) / threads / len(samples)
            samples = [t + charge for t in samples]
        kernel = Stats.of(samples)
        if kernel is None:
            return finish(Verdict.CRASHED, "the benchmark produced no timed call")
        result.checks.append(
            Check(
                "benchmark shape",
                True,
                f"{problem.format_shape(shape)}: {kernel.samples} timed calls, each on fresh "
                "inputs the parent made and checked after the call (guard zones, inputs, "
                f"{LINES_CHECKED} random rows and columns, {SKETCHES} random-vector checks); "
                f"every element of {run.full_checked} calls against a float64 reference",
            )
        )
        overhead = float(np.median(run.overheads)) if run.overheads else 0.0
        result.timings["call_overhead_s"] = overhead
        cpu_detail = (
            f"{run.cpu_timed_s:.2f} s of CPU in the timed calls "
            f"({run.cpu_timed_s / max(sum(run.samples), 1e-9):.1f} cores busy on average), "
            f"{run.cpu_outside_s:.2f} s outside the calls"
        )
        if charge:
            cpu_detail += f"; {charge * 1e3:.2f} ms charged to every timed call"
        result.checks.append(
            Check(
                "timing owned by the parent",
                True,
                (
                    "the parent's clock around every call; per-call overhead "
                    f"{overhead * 1e6:.0f} µs ({overhead / kernel.median_s:.2%} of the median "
                    f"call); {cpu_detail}"
                ),
            )
        )
        flops = problem.flops(shape)
        result.gflops = flops / kernel.median_s / 1e9
        result.median_s, result.mad_s, result.ci95_s = kernel.median_s, kernel.mad_s, kernel.ci95_s
        result.samples = kernel.samples
        for name, times in rep.samples.items():
            if st := Stats.of(times):
                result.baselines[name] = Baseline(
                    name, flops / st.median_s / 1e9, st.median_s, st.samples
                )
        if "openblas" in result.baselines:
            result.fraction_of_openblas = result.gflops / result.baselines["openblas"].gflops
        if "naive" in result.baselines:
            result.speedup_vs_naive = result.baselines["naive"].median_s / kernel.median_s
        judged = peak.peak_for_judging(threads, rep.peaks)
        result.peak_gflops = judged.gflops if judged else None
        if judged:
            result.fraction_of_peak = result.gflops / judged.gflops
            # a verified scheme does fewer multiplications than the 2·m·n·k the GFLOPS count
            real = result.gflops * run.mult_fraction
            if real > IMPOSSIBLE_MARGIN * judged.gflops:
                what = f"{result.gflops:.1f} GFLOPS"
                if run.mult_fraction < 1.0:
                    what += f" effective ({real:.1f} GFLOPS of real multiplications)"
                detail = (
                    f"{what} is above this machine's peak of "
                    f"{judged.gflops:.1f} GFLOPS ({threads} threads; {judged.source})"
                )
                result.checks.append(Check("speed is physically possible", False, detail))
                return finish(Verdict.IMPOSSIBLE, detail)
            result.checks.append(
                Check(
                    "speed is physically possible",
                    True,
                    f"{result.fraction_of_peak:.0%} of the peak ({judged.source})"
                    + (
                        f"; effective GFLOPS (2·m·n·k / time) of a scheme doing "
                        f"{run.mult_fraction:.3g} of the multiplications: "
                        f"{real / judged.gflops:.0%} of the peak in real multiplications"
                        if run.mult_fraction < 1.0
                        else ""
                    ),
                )
            )
        return finish(Verdict.PASSED, "did the whole job on every check")


BENCH_SLACK = 64
"""Most elements after the used region of a benchmark call's buffers (guard zone)."""
OUTSIDE_ALLOWANCE_S = 0.5
"""CPU the child may use outside calls (process start-up) before it is charged to them."""


@dataclass
class Case:
    label: str
    dims: tuple[int, ...]
    bias: bool
    slack: int
    dists: tuple[str, ...] = ()
    specials: tuple[str, ...] = ()
    garbage: str = ""
    """What an overwritten output holds before the call instead of NaN (inputs.make_call)."""
    shift: int = 0
    """Bytes past a 64-byte boundary every buffer starts at (inputs.Call.shift)."""
    alias: bool = False
    """The second input is the first one's buffer (inputs.Call.alias)."""
    update: str = ""
    """The previous case's inputs changed this way (inputs.UPDATES, inputs.updated_call)."""
    only: int | None = None
    """The one input the update changes (all when None)."""
    within: str = ""
    """Where a swap update's two elements lie ("row", "column"; anywhere when empty)."""


@dataclass
class _Run:
    """What the parent measured and checked during one run of the kernel's process."""

    result: CheckResult
    running: str = ""
    worst: list[tuple[str, inputs.Worst, float]] = field(default_factory=list)
    bench_worst: inputs.Worst = field(default_factory=inputs.Worst)
    samples: list[float] = field(default_factory=list)
    overheads: list[float] = field(default_factory=list)
    cpu_timed_s: float = 0.0
    cpu_outside_s: float = 0.0
    full_checked: int = 0
    calls: int = 0
    mult_fraction: float = 1.0
    """Real multiplications / 2·m·n·k: below 1 only for a verified scheme (Options.scheme)."""
    error_growth: float = 1.0
    """Factor on the classical error bound: above 1 only for a verified scheme."""


class _Reservoir:
    """A uniform sample of at most `size` of the items offered (reservoir sampling): every
    item offered is equally likely to be kept, whatever their number."""

    def __init__(self, size: int, rng: np.random.Generator) -> None:
        self.size, self.rng, self.seen = size, rng, 0
        self.items: list = []

    def offer(self, item) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
        elif (slot := int(self.rng.integers(self.seen))) < self.size:
            self.items[slot] = item


def _gemm_dims(dims: tuple[int, ...]) -> tuple[int, ...]:
    """The (rows, reduction or columns, columns) of a problem's GEMM: (B·T, C, OC) for the
    matmul problems' (B, T, C, OC), the dims themselves for the three-dimensional ones."""
    return (dims[0] * dims[1], *dims[2:]) if len(dims) == 4 else dims


def _baseline_seed(master: int, n: int) -> int:
    """Seed `n` of a check's trusted baseline runs (their inputs are made in the trusted
    process from it, harness/src/rng.rs), fixed by the check's master seed."""
    return int(np.random.SeedSequence([master & (2**64 - 1), n]).generate_state(1, np.uint64)[0])


def _alias_dims(problem: Problem, rng: np.random.Generator) -> tuple[int, ...] | None:
    """A shape at which the problem's first two inputs have one length, so one buffer can
    be both (sgemm: A·A; forward: inp·inpᵀ; backward: dout and inp), or None (binary_gemm
    has one float input)."""
    if problem.name == "sgemm":
        s = int(rng.integers(2, 97))
        return (s, s, s)
    b, t = int(rng.integers(1, 4)), int(rng.integers(1, 40))
    c = int(rng.integers(1, 100))
    if problem.name == "matmul_forward":
        return (b, t, c, b * t)  # inp (b·t × c) and weight (oc × c)
    if problem.name == "matmul_backward":
        return (b, t, c, c)  # dout (b·t × oc) and inp (b·t × c)
    return None


def _reduction_index(problem: Problem) -> int:
    """Which dimension is the reduction length K (sgemm/binary_gemm: k; llm.c: c)."""
    return problem.dims.index("k") if "k" in problem.dims else problem.dims.index("c")
