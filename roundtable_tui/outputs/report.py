"""`roundtable report`: one self-contained HTML page for a saved session.

A header (problem, shape, model, machine, dates, wall time), the best GFLOPS over the
iterations against naive, rayon, OpenBLAS and the machine's peak, a roofline placing every
passed kernel, the leaderboard with every verdict, and the winning kernel's source. Charts
are PNGs in data URIs and every style is inline, so the file travels alone. Everything the
model wrote (titles, parameters, reasons, code) is untrusted and escaped.
"""

from __future__ import annotations

import base64
import html
import io
import math
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roundtable_tui.core.events import Kind
from roundtable_tui.core.record import SessionRecord, load, winner
from roundtable_tui.core.state import Entry
from roundtable_tui.kernels.problems import Problem, Shape
from roundtable_tui.outputs.export import one_line, percent

BASELINES = (("naive", "naive"), ("rayon", "rayon"), ("openblas", "OpenBLAS"))
CAUGHT = {"wrong_result", "impossible"}
"""Verdicts of kernels that claimed more than they did: caught, not merely failed."""


def intensity(problem: Problem, shape: Shape) -> float:
    """Arithmetic intensity (FLOP per byte) of the least traffic any kernel can have: every
    input read once and every output written once (and read once more where it accumulates,
    as matmul_backward's gradients do); f32 elements are 4 bytes, binary_gemm's B is bits."""
    s = shape
    if problem.name in ("sgemm", "binary_gemm"):
        m, n, k = s["m"], s["n"], s["k"]
        b_bytes = 4 * k * n if problem.name == "sgemm" else 8 * k * math.ceil(n / 64)
        traffic = 4 * m * k + b_bytes + 4 * m * n
    else:
        bt, c, oc = s["b"] * s["t"], s["c"], s["oc"]
        if problem.name == "matmul_forward":
            traffic = 4 * (bt * c + oc * c + oc + bt * oc)
        else:  # matmul_backward: dout, inp, weight in; dinp, dweight, dbias accumulate
            traffic = 4 * (bt * oc + bt * c + oc * c) + 8 * (bt * c + oc * c + oc)
    return problem.flops(shape) / traffic


# ----------------------------------------------------------------------------- figures


@dataclass
class Figures:
    """What the charts show, gathered from the recorded checks."""

    shape: Shape
    intensity: float
    """FLOP/byte at the session's shape."""
    baselines: dict[str, float] = field(default_factory=dict)
    """Median GFLOPS of each baseline over the session's checks."""
    peak: float | None = None
    """The highest machine peak any check measured."""
    passed: list[tuple[Entry, float, float]] = field(default_factory=list)
    """Every passed kernel with its arithmetic intensity and GFLOPS."""


def _value(value: object) -> float | None:
    """A recorded figure if it is a positive finite number (fields may be missing)."""
    if isinstance(value, int | float) and math.isfinite(value) and value > 0:
        return float(value)
    return None


def _shape(value: object, problem: Problem) -> Shape | None:
    if isinstance(value, dict) and all(isinstance(value.get(d), int) for d in problem.dims):
        return {d: int(value[d]) for d in problem.dims}
    return None


def figures(loaded: SessionRecord) -> Figures:
    problem = loaded.problem
    checks = {
        (ev.iteration, int(ev.data.get("number", -1))): ev.data
        for ev in loaded.events
        if ev.kind is Kind.CHECK_RESULT
    }
    shape = _shape(loaded.meta.get("shape"), problem) or next(
        (s for s in (_shape(c.get("shape"), problem) for c in checks.values()) if s),
        dict(problem.default_shape),
    )
    runs: dict[str, list[float]] = {}
    peaks: list[float] = []
    for c in checks.values():
        for name, b in (c.get("baselines") or {}).items():
            g = _value(b.get("gflops")) if isinstance(b, dict) else None
            if g is not None:
                runs.setdefault(str(name), []).append(g)
        peak = _value(c.get("peak_gflops"))
        if peak is not None:
            peaks.append(peak)
    fig = Figures(
        shape,
        intensity(problem, shape),
        {k: statistics.median(v) for k, v in runs.items()},
        max(peaks, default=None),
    )
    for e in loaded.state.entries:
        g = _value(e.gflops)
        if e.verdict == "passed" and g is not None:
            own = _shape(checks.get((e.iteration, e.number), {}).get("shape"), problem)
            fig.passed.append((e, intensity(problem, own) if own else fig.intensity, g))
    return fig


# ----------------------------------------------------------------------------- charts


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _finish(ax: Any, title: str) -> None:
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.set_title(title)


def _no_kernel(ax: Any) -> None:
    ax.text(0.5, 0.5, "no kernel passed", transform=ax.transAxes, ha="center", color="#57606a")


def progress_chart(loaded: SessionRecord, data: Figures) -> str:
    """Best GFLOPS so far per iteration, every kernel as a point, the anchors as lines."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(8, 4.2))
    ax = fig.add_subplot()
    entries = loaded.state.entries
    last = max([loaded.state.iteration, *(e.iteration for e in entries)], default=0)
    passed = [(e.iteration, g) for e, _, g in data.passed]
    steps_x, steps_y, best = [], [], 0.0
    for it in range(last + 1):
        best = max([best, *(g for i, g in passed if i == it)])
        if best:
            steps_x.append(it)
            steps_y.append(best)
    if steps_x:
        ax.step(steps_x, steps_y, where="post", color="#1f6feb", linewidth=2.2, label="best so far")
        ax.scatter(
            [i for i, _ in passed],
            [g for _, g in passed],
            color="#1f6feb",
            s=22,
            zorder=3,
            label="passed",
        )
    else:
        _no_kernel(ax)
    failed = [e.iteration for e in entries if e.verdict != "passed"]
    if failed:
        ax.scatter(
            failed,
            [0.0] * len(failed),
            marker="x",
            color="#cf222e",
            s=30,
            zorder=3,
            clip_on=False,
            label="not passed",
        )
    colours = {"naive": "#8c959f", "rayon": "#bf8700", "openblas": "#1a7f37"}
    for key, label in BASELINES:
        if key in data.baselines:
            value = data.baselines[key]
            ax.axhline(
                value,
                color=colours[key],
                linestyle="--",
                linewidth=1.2,
                label=f"{label} {value:.1f}",
            )
    if data.peak:
        ax.axhline(
            data.peak,
            color="#6e40c9",
            linestyle=":",
            linewidth=1.4,
            label=f"machine peak {data.peak:.1f}",
        )
    ax.set_xlabel("iteration")
    ax.set_ylabel("GFLOPS")
    ax.set_xlim(-0.3, max(last, 1) + 0.3)
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _finish(ax, "best GFLOPS over iterations")
    return _png(fig)


def roofline_chart(data: Figures, bandwidth: float | None, best: Entry | None) -> str:
    """Log-log roofline: the compute roof at the measured peak, the memory roof at
    `bandwidth` GB/s, and every passed kernel at its arithmetic intensity."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.2))
    ax = fig.add_subplot()
    ridge = data.peak / bandwidth if data.peak and bandwidth else None
    xs = [data.intensity, *(ai for _, ai, _ in data.passed), *([ridge] if ridge else [])]
    lo_x, hi_x = min(xs) / 20, max(xs) * 20
    grid = [lo_x * (hi_x / lo_x) ** (i / 200) for i in range(201)]
    ys = [*(g for _, _, g in data.passed), *data.baselines.values()]
    ys += [data.peak] if data.peak else []
    if data.peak and ridge:
        roof = [min(data.peak, x * data.peak / ridge) for x in grid]
        ax.plot(grid, roof, color="#24292f", linewidth=2.2, label="attainable")
        ax.axvline(ridge, color="#8c959f", linestyle=":", linewidth=1)
    if data.peak:
        ax.axhline(
            data.peak,
            color="#6e40c9",
            linestyle="--",
            linewidth=1,
            label=f"compute roof (measured peak) {data.peak:.1f} GFLOPS",
        )
    if bandwidth:
        ax.plot(
            grid,
            [bandwidth * x for x in grid],
            color="#0969da",
            linestyle="--",
            linewidth=1,
            label=f"memory roof {bandwidth:.1f} GB/s",
        )
        ys.append(bandwidth * lo_x)
    markers = {"naive": "s", "rayon": "D", "openblas": "^"}
    for key, label in BASELINES:
        if key in data.baselines:
            ax.scatter(
                [data.intensity],
                [data.baselines[key]],
                marker=markers[key],
                facecolors="none",
                edgecolors="#57606a",
                s=60,
                zorder=3,
                label=label,
            )
    others = [(ai, g) for e, ai, g in data.passed if e is not best]
    if others:
        ax.scatter(
            [ai for ai, _ in others],
            [g for _, g in others],
            color="#1f6feb",
            s=24,
            zorder=4,
            label="passed kernels",
        )
    for e, ai, g in data.passed:
        if e is best:
            ax.scatter(
                [ai],
                [g],
                marker="*",
                color="#d4a72c",
                edgecolors="#24292f",
                s=220,
                zorder=5,
                label=f"winner #{e.number}",
            )
    if not data.passed:
        _no_kernel(ax)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo_x, hi_x)
    if ys:
        ax.set_ylim(min(ys) / 3, max(ys) * 3)
    ax.set_xlabel("arithmetic intensity (FLOP/byte)")
    ax.set_ylabel("GFLOPS")
    _finish(ax, "roofline")
    return _png(fig)


# ----------------------------------------------------------------------------- HTML


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _num(value: object, spec: str = ".1f", suffix: str = "") -> str:
    return "—" if _value(value) is None else f"{value:{spec}}{suffix}"


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "—"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s"


def wall_time(loaded: SessionRecord) -> float:
    """Seconds the session ran: each run (started, or resumed) from its first event to its
    last, so the pauses between runs do not count."""
    total, start, last = 0.0, None, None
    for ev in loaded.events:
        if ev.kind in (Kind.SESSION_STARTED, Kind.SESSION_RESUMED) and start is not None:
            total += (last or start) - start
            start = None
        if start is None:
            start = ev.ts
        last = ev.ts
    if start is not None and last is not None:
        total += last - start
    return total


def _proposals(loaded: SessionRecord) -> dict[int, dict[str, Any]]:
    """The proposal each iteration worked on (repairs share it)."""
    found: dict[int, dict[str, Any]] = {}
    for ev in loaded.events:
        if ev.kind is Kind.PROPOSAL:
            found[ev.iteration] = ev.data
    return found


def origin(entry: Entry, proposal: dict[str, Any]) -> str:
    """HTML: "template NAME" with its parameters, "formulation", "free-form" or "naive start".
    The check records the template and its validated parameters; older sessions only have
    the proposal's."""
    if entry.iteration == 0:
        return "naive start"
    kind = entry.kind or str(proposal.get("kind", ""))
    name = entry.template or proposal.get("template")
    params = entry.parameters or proposal.get("parameters")
    if entry.template or kind == "parameters":
        head = f"template {_e(name)}" if isinstance(name, str) and name else "template"
        if entry.proposed_by:
            head += f" · proposed by the {_e(entry.proposed_by)}"
        if isinstance(params, dict) and params:
            items = ", ".join(f"{_e(k)}={_e(v)}" for k, v in params.items())
            return f'{head}<br><span class="params">{items}</span>'
        return head
    return "formulation" if kind == "formulation" else "free-form"


STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #24292f;
       max-width: 1180px; margin: 24px auto; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; }
.sub { color: #57606a; margin-top: 0; }
table { border-collapse: collapse; } td, th { padding: 4px 8px; vertical-align: top; }
table.facts td:first-child { color: #57606a; }
table.board { width: 100%; font-size: 13px; }
table.board th { text-align: left; border-bottom: 2px solid #d0d7de; }
table.board td { border-bottom: 1px solid #eaeef2; }
table.board td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.winner td { background: #fff8c5; font-weight: 600; }
.v-passed { color: #1a7f37; font-weight: 600; } .v-failed { color: #cf222e; }
.v-caught { color: #bc4c00; font-weight: 600; }
.reason { color: #57606a; max-width: 420px; } .params { font-family: monospace; font-size: 12px; }
.charts img { max-width: 100%; } .note { color: #57606a; font-size: 13px; }
.source { border: 1px solid #d0d7de; border-radius: 6px; overflow-x: auto; }
.source pre { margin: 0; padding: 12px; font-size: 13px; }
"""


def versus(entry: Entry) -> str:
    """HTML: the comparison with the best the kernel met (`kernels.confirm`): its outcome and
    speed ratio with the 95% interval of interleaved rounds, or "one check"."""
    c = entry.confirmation
    if c is None or c.against is None:
        return ""
    how = f"{c.rounds} rounds" if c.rounds else "one check"
    if c.candidate_fraction:
        how += f", {c.candidate_fraction:.0%} of OpenBLAS over them"
    return f'{_e(c.outcome)} {_e(c.interval())}<br><span class="note">{how}</span>'


def _verdict_class(verdict: str) -> str:
    if verdict == "passed":
        return "v-passed"
    return "v-caught" if verdict in CAUGHT else "v-failed"


def leaderboard_html(loaded: SessionRecord, best: Entry | None) -> str:
    proposals = _proposals(loaded)
    rows = []
    for rank, e in enumerate(loaded.state.leaderboard(), start=1):
        reason = "" if e.verdict == "passed" else one_line(e.reason, 400)
        short = one_line(reason, 160)
        number = str(e.number) if e.number or e.iteration == 0 else ""
        rows.append(
            f'<tr class="{"winner" if e is best else "entry"}">'
            f'<td class="num">{rank}{" ★" if e is best else ""}</td>'
            f'<td class="num">{e.iteration}</td><td class="num">{number}</td>'
            f"<td>{_e(one_line(e.title, 120))}</td>"
            f"<td>{origin(e, proposals.get(e.iteration, {}))}</td>"
            f'<td class="{_verdict_class(e.verdict)}">{_e(e.verdict)}</td>'
            f'<td class="num">{_num(e.gflops)}</td>'
            f'<td class="num">{_num(e.speedup_vs_naive, ".2f", "×")}</td>'
            f'<td class="num">{percent(e.fraction_of_openblas)}</td>'
            f'<td class="num">{percent(e.fraction_of_peak)}</td>'
            f"<td>{versus(e)}</td>"
            f'<td class="reason" title="{_e(reason)}">{_e(short)}</td></tr>'
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "rank",
            "it",
            "#",
            "title",
            "from",
            "verdict",
            "GFLOPS",
            "vs naive",
            "of OpenBLAS",
            "of peak",
            "vs best (95% CI)",
            "reason",
        )
    )
    body = "\n".join(rows) or '<tr><td colspan="12">no kernels</td></tr>'
    return f'<table class="board"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>'


def source_html(loaded: SessionRecord, best: Entry | None) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import RustLexer

    if best is None:
        return '<p class="note">No kernel passed, so there is no winner to show.</p>'
    try:
        source = loaded.source_of(best)
    except Exception as exc:  # a missing kernel file still leaves a useful report
        return f'<p class="note">The winning kernel\'s source is missing: {_e(exc)}</p>'
    code = highlight(source, RustLexer(), HtmlFormatter(noclasses=True, style="default"))
    seed = (
        " No kernel written by the agents passed, so this is the naive starting point."
        if best.iteration == 0
        else ""
    )
    return (
        f"<p>Kernel #{best.number} (iteration {best.iteration}): "
        f"<strong>{_e(one_line(best.title, 160))}</strong> · {_num(best.gflops)} GFLOPS · "
        f"{percent(best.fraction_of_openblas)} of OpenBLAS · {percent(best.fraction_of_peak)} of "
        f'peak.{seed}</p>\n<div class="source">{code}</div>'
    )


def build(loaded: SessionRecord, bandwidth: float | None = None, bandwidth_note: str = "") -> str:
    """The report as one HTML string. `bandwidth` (GB/s) draws the memory roof."""
    problem = loaded.problem
    meta, state = loaded.meta, loaded.state
    started = next((ev for ev in loaded.events if ev.kind is Kind.SESSION_STARTED), None)
    machine = meta.get("machine") or (started.data.get("machine") if started else None)
    machine = machine if isinstance(machine, dict) else {}
    fig_data = figures(loaded)
    best = winner(state)
    first = loaded.events[0].ts if loaded.events else None
    last = loaded.events[-1].ts if loaded.events else None
    verdicts = Counter(e.verdict for e in state.entries)
    facts = [
        ("problem", f"{_e(problem.name)} · <code>{_e(problem.signature)}</code>"),
        ("shape", _e(problem.format_shape(fig_data.shape))),
        ("session", f"<code>{_e(loaded.id)}</code>"),
        ("model", _e(meta.get("model") or state.model or "?")),
        (
            "machine",
            f"{_e(machine.get('cpu', '?'))} · {_e(machine.get('cores', '?'))} cores · "
            f"{_e(machine.get('simd', '?'))} · {_e(machine.get('rustc', '?'))} · "
            f"RUSTFLAGS <code>{_e(machine.get('rustflags', '?'))}</code>",
        ),
        ("created", _when(_value(meta.get("created")) or first)),
        ("last event", _when(last)),
        (
            "iterations",
            f"{state.finished_iterations} finished · {_e(state.finished or 'not finished')}",
        ),
        ("wall time", _duration(wall_time(loaded))),
        ("kernels", " · ".join(f"{n} {_e(v)}" for v, n in verdicts.most_common()) or "none"),
    ]
    anchors = " · ".join(
        f"{label} {fig_data.baselines[key]:.1f}"
        for key, label in BASELINES
        if key in fig_data.baselines
    )
    if fig_data.peak:
        anchors += f"{' · ' if anchors else ''}machine peak {fig_data.peak:.1f}"
    ai = fig_data.intensity
    roof = [
        f"Arithmetic intensity at {_e(problem.format_shape(fig_data.shape))}: {ai:.1f} FLOP/byte "
        "(the least traffic: every input read once, every output written once and, if it "
        "accumulates, read once)."
    ]
    if bandwidth:
        roof.append(f"Memory roof: {bandwidth:.1f} GB/s, {_e(bandwidth_note)}.")
    else:
        roof.append("No memory bandwidth figure, so no memory roof.")
    if fig_data.peak and bandwidth:
        roof.append(f"Ridge point: {fig_data.peak / bandwidth:.1f} FLOP/byte.")
    elif not fig_data.peak:
        roof.append("No peak was recorded, so no compute roof.")
    roof_note = " ".join(roof)
    facts_html = "\n".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in facts)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>roundtable report · {_e(loaded.id)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>roundtable · {_e(problem.name)} · {_e(loaded.id)}</h1>
<p class="sub">{_e(problem.summary)}</p>
<table class="facts">
{facts_html}
</table>

<h2>Best GFLOPS over iterations</h2>
<div class="charts"><img alt="best GFLOPS over iterations"
 src="data:image/png;base64,{progress_chart(loaded, fig_data)}"></div>
<p class="note">Baselines (medians over the session's checks) and peak, GFLOPS:
{anchors or "none recorded"}.</p>

<h2>Roofline</h2>
<div class="charts"><img alt="roofline"
 src="data:image/png;base64,{roofline_chart(fig_data, bandwidth, best)}"></div>
<p class="note">{roof_note}</p>

<h2>Leaderboard</h2>
<p class="note">Every kernel the session produced. <span class="v-caught">wrong_result</span> and
<span class="v-caught">impossible</span> are kernels that claimed more than they did, caught by
the checker. ★ marks the winner: the fastest passed kernel the agents wrote (the naive starting
point only when none of theirs passed).</p>
{leaderboard_html(loaded, best)}

<h2>Winning kernel</h2>
{source_html(loaded, best)}

<p class="note">Written by <code>roundtable report</code> at {_when(time.time())}.</p>
</body>
</html>
"""


def memory_roof(loaded: SessionRecord) -> tuple[float | None, str]:
    """This machine's memory bandwidth (measured once, cached) and where it comes from."""
    from roundtable_tui.kernels import machine

    bandwidth = machine.memory_bandwidth()
    note = "one thread copying an array four times the last-level cache, measured on this machine"
    recorded_machine = loaded.meta.get("machine")
    recorded = recorded_machine.get("cpu") if isinstance(recorded_machine, dict) else None
    if recorded and recorded != machine.cpu_model():
        note += f" ({machine.cpu_model()}), not on the session's ({recorded})"
    return bandwidth, note


def write(session: Path, out: Path | None = None, bandwidth: float | None = None) -> Path:
    """Writes the report of the session at `session` to `out` (default
    `<session>/report.html`) and returns its path. Without `bandwidth` (GB/s) the memory roof
    uses this machine's, measured once and cached."""
    loaded = load(session)
    note = "as given"
    if bandwidth is None:
        bandwidth, note = memory_roof(loaded)
    target = out or session / "report.html"
    text = build(loaded, bandwidth, note)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target
