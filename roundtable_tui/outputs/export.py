"""`roundtable sessions export`: a session's winning kernel as a standalone Cargo crate.

The crate holds the kernel as its library (verbatim, under the kernel contract's exact
signature), a correctness test against an f64 reference on the problem's awkward shapes
(the checker's own list: 1x1x1, primes, 2^k±1, a reduction of length 1), a timing example
at the problem's default shape and a README saying where the kernel came from.

Which kernel: the fastest passed kernel the agents wrote. The naive starting point
(iteration 0) is exported only when none of theirs passed, and the README says so; a
session where nothing passed at all is an error.

The crate is an ordinary crates.io crate. A kernel that uses rayon needs the crate source,
so export asks the checker's own `Builder` which one works here: when crates.io is
unreachable it falls back to Debian's sources (`librust-rayon-dev`), and then the crate's
`.cargo/config.toml` carries that replacement and its README says how to drop it.
"""

from __future__ import annotations

import html
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roundtable_tui.config import Settings, settings
from roundtable_tui.core.record import SessionRecord, load, winner
from roundtable_tui.core.state import Entry
from roundtable_tui.kernels.problems import Problem

DEFAULT_RUSTFLAGS = "-C target-cpu=native"


class ExportError(Exception):
    """A session that cannot be exported (nothing passed, a kernel file missing, …)."""


# ----------------------------------------------------------------------------- the session


def one_line(text: object, limit: int = 200) -> str:
    """Model-written text on one line (newlines could end a Rust comment), shortened."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# ----------------------------------------------------------------------------- Rust per problem


@dataclass(frozen=True)
class RustParts:
    test: str
    """The body of the correctness test (inside the `for &[dims] in SHAPES` loop)."""
    setup: str
    """The benchmark's inputs and outputs (dims are in scope, `rng` is a Rng)."""
    call: str
    flops: str


RUST: dict[str, RustParts] = {
    "sgemm": RustParts(
        test="""\
        let a = rng.values(m * k + pad);
        let b = rng.values(k * n + pad);
        let mut c = vec![f32::NAN; m * n + pad]; // poisoned: C must be overwritten
        sgemm(m, n, k, &a, &b, &mut c);
        let (want, bound) = reference(
            m,
            n,
            k,
            |i, l| a[i * k + l] as f64,
            |l, j| b[l * n + j] as f64,
            |_, _| 0.0,
        );
        assert_close(&format!("sgemm {m}x{n}x{k} (pad {pad})"), &c[..m * n], &want, &bound);
""",
        setup="""\
    let a = rng.values(m * k);
    let b = rng.values(k * n);
    let mut c = vec![0.0f32; m * n];
""",
        call="sgemm(m, n, k, black_box(&a), black_box(&b), black_box(&mut c))",
        flops="2.0 * (m * n * k) as f64",
    ),
    "matmul_forward": RustParts(
        test="""\
        for with_bias in [true, false] {
            let inp = rng.values(b * t * c + pad);
            let weight = rng.values(oc * c + pad);
            let bias = rng.values(oc + pad);
            let mut out = vec![f32::NAN; b * t * oc + pad]; // poisoned: out must be overwritten
            matmul_forward(&mut out, &inp, &weight, with_bias.then_some(&bias[..]), b, t, c, oc);
            let (want, bound) = reference(
                b * t,
                oc,
                c,
                |r, l| inp[r * c + l] as f64,
                |l, o| weight[o * c + l] as f64,
                |_, o| if with_bias { bias[o] as f64 } else { 0.0 },
            );
            let what = format!("matmul_forward b={b} t={t} c={c} oc={oc} bias={with_bias}");
            assert_close(&what, &out[..b * t * oc], &want, &bound);
        }
""",
        setup="""\
    let inp = rng.values(b * t * c);
    let weight = rng.values(oc * c);
    let bias = rng.values(oc);
    let mut out = vec![0.0f32; b * t * oc];
""",
        call="matmul_forward(black_box(&mut out), black_box(&inp), black_box(&weight), "
        "Some(black_box(&bias[..])), b, t, c, oc)",
        flops="2.0 * (b * t * c * oc) as f64",
    ),
    "matmul_backward": RustParts(
        test="""\
        for with_bias in [true, false] {
            let bt = b * t;
            let dout = rng.values(bt * oc + pad);
            let inp = rng.values(bt * c + pad);
            let weight = rng.values(oc * c + pad);
            // gradients accumulate: they start from nonzero values
            let dinp0 = rng.values(bt * c + pad);
            let dweight0 = rng.values(oc * c + pad);
            let dbias0 = rng.values(oc + pad);
            let mut dinp = dinp0.clone();
            let mut dweight = dweight0.clone();
            let mut dbias = dbias0.clone();
            let dbias_arg = if with_bias { Some(&mut dbias[..]) } else { None };
            matmul_backward(&mut dinp, &mut dweight, dbias_arg, &dout, &inp, &weight, b, t, c, oc);
            let what = format!("matmul_backward b={b} t={t} c={c} oc={oc} bias={with_bias}");
            let (want, bound) = reference(
                bt,
                c,
                oc,
                |r, o| dout[r * oc + o] as f64,
                |o, i| weight[o * c + i] as f64,
                |r, i| dinp0[r * c + i] as f64,
            );
            assert_close(&format!("{what}: dinp"), &dinp[..bt * c], &want, &bound);
            let (want, bound) = reference(
                oc,
                c,
                bt,
                |o, r| dout[r * oc + o] as f64,
                |r, i| inp[r * c + i] as f64,
                |o, i| dweight0[o * c + i] as f64,
            );
            assert_close(&format!("{what}: dweight"), &dweight[..oc * c], &want, &bound);
            if with_bias {
                let (want, bound) = reference(
                    1,
                    oc,
                    bt,
                    |_, _| 1.0,
                    |r, o| dout[r * oc + o] as f64,
                    |_, o| dbias0[o] as f64,
                );
                assert_close(&format!("{what}: dbias"), &dbias[..oc], &want, &bound);
            }
        }
""",
        setup="""\
    let dout = rng.values(b * t * oc);
    let inp = rng.values(b * t * c);
    let weight = rng.values(oc * c);
    let mut dinp = vec![0.0f32; b * t * c];
    let mut dweight = vec![0.0f32; oc * c];
    let mut dbias = vec![0.0f32; oc];
""",
        call="matmul_backward(black_box(&mut dinp), black_box(&mut dweight), "
        "Some(black_box(&mut dbias[..])), black_box(&dout), black_box(&inp), "
        "black_box(&weight), b, t, c, oc)",
        flops="4.0 * (b * t * c * oc) as f64 + (b * t * oc) as f64",
    ),
    "binary_gemm": RustParts(
        test="""\
        let words = n.div_ceil(64);
        let a = rng.values(m * k + pad);
        let b = rng.signs(k, n, pad);
        let mut c = vec![f32::NAN; m * n + pad]; // poisoned: C must be overwritten
        binary_gemm(m, n, k, &a, &b, &mut c);
        let sign = |l: usize, j: usize| {
            if (b[l * words + j / 64] >> (j % 64)) & 1 == 1 { 1.0 } else { -1.0 }
        };
        let (want, bound) = reference(m, n, k, |i, l| a[i * k + l] as f64, sign, |_, _| 0.0);
        assert_close(&format!("binary_gemm {m}x{n}x{k} (pad {pad})"), &c[..m * n], &want, &bound);
""",
        setup="""\
    let a = rng.values(m * k);
    let b = rng.signs(k, n, 0);
    let mut c = vec![0.0f32; m * n];
""",
        call="binary_gemm(m, n, k, black_box(&a), black_box(&b), black_box(&mut c))",
        flops="2.0 * (m * n * k) as f64",
    ),
}

RNG = """\
/// splitmix64: small and deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `len` values uniform in [-1, 1).
    fn values(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| (self.next() >> 40) as f32 / 8_388_608.0 - 1.0).collect()
    }

    /// A k x n matrix of ±1 packed as bits (LSB first, unused high bits zero), `pad` words more.
    #[allow(dead_code)]
    fn signs(&mut self, k: usize, n: usize, pad: usize) -> Vec<u64> {
        let words = n.div_ceil(64);
        let mut bits = vec![0u64; k * words + pad];
        for (idx, word) in bits.iter_mut().enumerate() {
            let used = if idx < k * words { (n - (idx % words) * 64).min(64) } else { 64 };
            let mask = if used == 64 { u64::MAX } else { (1u64 << used) - 1 };
            *word = self.next() & mask;
        }
        bits
    }
}
"""

TEST = """\
//! The kernel against an f64 reference on the problem's awkward shapes, with exact-length and
//! longer slices. Written by `roundtable sessions export`.

use __LIB__::__FN__;

/// The checker's correctness shapes (__DIMS__): 1, primes, 2^k±1, a reduction of length 1.
const SHAPES: &[[usize; __NDIMS__]] = &[
__SHAPES__];

/// f32's unit roundoff.
const U: f64 = 1.0 / 16_777_216.0;

__RNG__
/// `init + P·Q` in f64 for a rows x cols output with reduction length `depth`, and the error
/// each element may have, as `roundtable check` bounds it: u·(4√K+16)·(|init| + ‖P_i‖‖Q_j‖ + ρ),
/// where ρ (rms row norm of P times rms column norm of Q) admits one Strassen-like level.
fn reference(
    rows: usize,
    cols: usize,
    depth: usize,
    p: impl Fn(usize, usize) -> f64,
    q: impl Fn(usize, usize) -> f64,
    init: impl Fn(usize, usize) -> f64,
) -> (Vec<f64>, Vec<f64>) {
    let norm = |v: &mut dyn Iterator<Item = f64>| v.map(|x| x * x).sum::<f64>().sqrt();
    let p_norms: Vec<f64> = (0..rows).map(|i| norm(&mut (0..depth).map(|l| p(i, l)))).collect();
    let q_norms: Vec<f64> = (0..cols).map(|j| norm(&mut (0..depth).map(|l| q(l, j)))).collect();
    let rms = |v: &[f64]| (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt();
    let rho = rms(&p_norms) * rms(&q_norms);
    let scale = U * (4.0 * (depth as f64).sqrt() + 16.0);
    let mut want = vec![0.0; rows * cols];
    let mut bound = vec![0.0; rows * cols];
    for i in 0..rows {
        for j in 0..cols {
            let start = init(i, j);
            want[i * cols + j] = start + (0..depth).map(|l| p(i, l) * q(l, j)).sum::<f64>();
            bound[i * cols + j] = scale * (start.abs() + p_norms[i] * q_norms[j] + rho);
        }
    }
    (want, bound)
}

fn assert_close(what: &str, got: &[f32], want: &[f64], bound: &[f64]) {
    for (idx, ((&g, &w), &b)) in got.iter().zip(want).zip(bound).enumerate() {
        let err = (g as f64 - w).abs();
        // NaN fails too: an element the kernel did not write still holds the poison
        assert!(err <= b, "{what}: element {idx} is {g}, expected {w} (error {err:e} > {b:e})");
    }
}

#[test]
fn __FN___matches_an_f64_reference() {
    let mut rng = Rng(0x726F_756E_6474_6162);
    for pad in [0, 3] {
        for &[__DIMS__] in SHAPES {
__BODY__        }
    }
}
"""

BENCH = """\
//! Times the kernel at the problem's default shape (or the one given) and prints GFLOPS.
//! Written by `roundtable sessions export`.
//!
//!     cargo run --release --example bench                      # __DEFAULT__
//!     cargo run --release --example bench -- __DIMS_USAGE__

use std::hint::black_box;
use std::time::{Duration, Instant};

use __LIB__::__FN__;

const DEFAULT: [usize; __NDIMS__] = [__DEFAULT_LIST__];
/// Timed calls: at least MIN_SAMPLES, then more until BUDGET has passed (at most MAX_SAMPLES).
const MIN_SAMPLES: usize = 5;
const MAX_SAMPLES: usize = 50;
const BUDGET: Duration = Duration::from_secs(1);

__RNG__
fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("dimensions are positive integers"))
        .collect();
    let dims: [usize; __NDIMS__] = if args.is_empty() {
        DEFAULT
    } else {
        args.try_into().expect("give all __NDIMS__ dimensions: __DIMS_USAGE__")
    };
    let [__DIMS__] = dims;
    let mut rng = Rng(1);
__SETUP__
    let flops = __FLOPS__;
    let mut run = || __CALL__;
    run(); // warm-up
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < MIN_SAMPLES || (start.elapsed() < BUDGET && samples.len() < MAX_SAMPLES) {
        let t0 = Instant::now();
        run();
        samples.push(t0.elapsed().as_secs_f64());
    }
    samples.sort_by(f64::total_cmp);
    let median = samples[samples.len() / 2];
    println!(
        "__FN__ __DIMS_FMT__: median {:.3} ms over {} calls, {:.1} GFLOPS",
        median * 1e3,
        samples.len(),
        flops / median / 1e9
    );
}
"""


def _fill(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        template = template.replace(f"__{key}__", value)
    return template


def rust_test(problem: Problem, lib: str) -> str:
    parts = RUST[problem.name]
    shapes = "".join(f"    [{', '.join(map(str, s))}],\n" for s in problem.correctness_shapes)
    body = "".join(f"    {line}\n" if line else "\n" for line in parts.test.splitlines())
    return _fill(
        TEST,
        {
            "LIB": lib,
            "FN": problem.name,
            "DIMS": ", ".join(problem.dims),
            "NDIMS": str(len(problem.dims)),
            "SHAPES": shapes,
            "RNG": RNG,
            "BODY": body,
        },
    )


def rust_bench(problem: Problem, lib: str) -> str:
    parts = RUST[problem.name]
    dims = problem.dims
    return _fill(
        BENCH,
        {
            "LIB": lib,
            "FN": problem.name,
            "DIMS_USAGE": " ".join(d.upper() for d in dims),
            "DIMS_FMT": " ".join(f"{d}={{{d}}}" for d in dims),
            "DEFAULT_LIST": ", ".join(str(problem.default_shape[d]) for d in dims),
            "DEFAULT": problem.format_shape(problem.default_shape),
            "DIMS": ", ".join(dims),
            "NDIMS": str(len(dims)),
            "RNG": RNG,
            "SETUP": parts.setup.rstrip("\n"),
            "FLOPS": parts.flops,
            "CALL": parts.call,
        },
    )


# ----------------------------------------------------------------------------- the crate


@dataclass
class Exported:
    path: Path
    entry: Entry
    seed_only: bool
    """Only the naive starting point passed, so that is what was exported."""
    uses_rayon: bool
    registry: str
    """Where rayon comes from: "crates.io", "debian (...)", "" without dependencies, or
    "unknown" when it could not be decided here (see `notes`)."""
    notes: list[str] = field(default_factory=list)


def uses_rayon(source: str) -> bool:
    from roundtable_tui.kernels.policy import TokenizeError, tokenize

    try:
        return any(t.text == "rayon" for t in tokenize(source))
    except TokenizeError:
        return "rayon" in source


def _toml_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def _choose_registry(crate: Path, cfg: Settings) -> tuple[str, str]:
    """(mode, the `.cargo/config.toml` text it needs): the checker's own decision, crates.io
    if `cargo generate-lockfile` reaches it, otherwise Debian's sources, made in the crate."""
    from roundtable_tui.kernels.build import Builder, choose_registry

    config = crate / ".cargo" / "config.toml"
    try:
        mode = choose_registry(crate, Builder(cfg).cargo, cfg.crate_registry)
        text = config.read_text() if config.exists() else ""
    finally:
        # a lock resolved against Debian's sources would not verify against crates.io
        (crate / "Cargo.lock").unlink(missing_ok=True)
        config.unlink(missing_ok=True)
    return mode, text


def cargo_toml(package: str, loaded: SessionRecord, rayon: bool) -> str:
    deps = 'rayon = "1"\n' if rayon else ""
    description = f"{loaded.problem.name} kernel from roundtable session {loaded.id}"
    return (
        "[package]\n"
        f'name = "{package}"\n'
        'version = "0.1.0"\n'
        'edition = "2024"\n'
        "publish = false\n"
        f"description = {_toml_str(description)}\n"
        "\n# its own workspace, even when exported into another one's directory\n"
        "[workspace]\n"
        "\n[dependencies]\n"
        f"{deps}"
        "\n[profile.release]\n"
        "opt-level = 3\n"
        "# one codegen unit: the kernel's loops are optimised as a whole (as the checker builds\n"
        "# it); no LTO, which would only inline the call into the kernel and slows every link\n"
        "codegen-units = 1\n"
        "debug = false\n"
    )


def cargo_config(rustflags: str, registry_text: str) -> str:
    flags = ", ".join(_toml_str(f) for f in shlex.split(rustflags))
    text = (
        "# The flags the kernel was measured with (RUSTFLAGS in the environment overrides them).\n"
        f"[build]\nrustflags = [{flags}]\n"
    )
    return text + ("\n" + registry_text if registry_text else "")


def lib_rs(source: str, loaded: SessionRecord, entry: Entry, allow_unsafe: bool) -> str:
    header = (
        f"// {loaded.problem.name} kernel #{entry.number} (iteration {entry.iteration}) of "
        f"roundtable session {one_line(loaded.id)}:\n"
        f"// {one_line(entry.title)}\n"
        "// Exported verbatim as it passed `roundtable check`.\n"
    )
    guard = "" if allow_unsafe else "#![forbid(unsafe_code)]\n"
    return header + guard + "\n" + source.rstrip() + "\n"


def _origin(entry: Entry) -> str:
    if entry.iteration == 0:
        return "the naive starting point"
    if entry.template:
        params = ", ".join(f"{k}={v}" for k, v in entry.parameters.items())
        return f"template {entry.template}" + (f" ({params})" if params else "")
    return "free-form code written by the Coder"


def _md(text: object, limit: int = 200) -> str:
    return html.escape(one_line(text, limit)).replace("|", "\\|")


def percent(value: object) -> str:
    """A fraction as a whole percentage, or a dash when there is none."""
    return f"{value * 100:.0f}%" if isinstance(value, int | float) else "—"


def readme(
    loaded: SessionRecord, ex: Exported, check: dict[str, Any], lib: str, rustflags: str
) -> str:
    problem, entry = loaded.problem, ex.entry
    shape = problem.format_shape(check.get("shape") or problem.default_shape)
    machine = loaded.meta.get("machine")
    machine = machine if isinstance(machine, dict) else {}
    baselines = check.get("baselines") or {}
    gflops = f"{entry.gflops:.1f} GFLOPS" if entry.gflops is not None else "—"
    anchors = ", ".join(
        f"{_md(name)} {b.get('gflops', 0.0):.1f}"
        for name, b in baselines.items()
        if isinstance(b, dict)
    )
    rows = [
        ("session", f"{_md(loaded.id)} ({_md(loaded.meta.get('model', '?'))} model)"),
        ("kernel", f"#{entry.number}, iteration {entry.iteration}: {_md(entry.title)}"),
        ("from", _md(_origin(entry))),
        ("verdict", f"{entry.verdict}: {_md(check.get('reason', ''))}"),
        (
            "speed",
            f"{gflops} at {shape} ({percent(entry.fraction_of_openblas)} of OpenBLAS, "
            f"{percent(entry.fraction_of_peak)} of the measured peak)",
        ),
        ("baselines, same check", f"{anchors} GFLOPS" if anchors else "—"),
        (
            "machine",
            f"{_md(machine.get('cpu', '?'))}, {machine.get('cores', '?')} cores, "
            f"{_md(machine.get('simd', '?'))}, {_md(machine.get('rustc', '?'))}",
        ),
        ("RUSTFLAGS", f"`{_md(rustflags)}`"),
    ]
    table = "| | |\n| --- | --- |\n" + "".join(f"| {k} | {v} |\n" for k, v in rows)
    seed = (
        "\n**No kernel written by the agents passed**, so this is the session's naive "
        "starting point.\n"
        if ex.seed_only
        else ""
    )
    args = ", ".join(p.name for p in problem.params)
    offline = ""
    if ex.registry.startswith("debian"):
        offline = (
            "\n## Crate sources\n\n"
            "crates.io was unreachable when this crate was exported, so `.cargo/config.toml`\n"
            "takes rayon from Debian's crate sources (`librust-rayon-dev`) through directory\n"
            "source replacement. With internet access, delete its `[source.*]` sections (and\n"
            "`Cargo.lock`) to build from crates.io.\n"
        )
    return f"""# {problem.name} kernel from roundtable

The fastest kernel that passed in a roundtable session, exported as a standalone crate by
`roundtable sessions export`. Its figures were measured by `roundtable check` on the session's
machine: every benchmarked call verified, OpenBLAS and the naive kernel timed in the same check.
{seed}
{table}
## Use

```rust
{lib}::{problem.name}({args});
```

`{problem.signature}`: {problem.summary}

## Test and benchmark

```sh
cargo test --release                      # against an f64 reference
cargo run --release --example bench       # {problem.format_shape(problem.default_shape)}
cargo run --release --example bench -- {" ".join(d.upper() for d in problem.dims)}
```

The test runs the checker's correctness shapes (1x1x1, primes, 2^k±1, a reduction of length
1) with exact-length and longer slices, outputs poisoned with NaN (gradients, which accumulate,
start from random values), and accepts each element within the error bound `roundtable check`
uses. `.cargo/config.toml` builds with
`{_md(rustflags)}`, the flags the kernel was measured with; the speed depends on the machine.
{offline}"""


def export(
    session: Path,
    dest: Path | None = None,
    force: bool = False,
    cfg: Settings | None = None,
) -> Exported:
    """Writes the session's winning kernel as a crate in `dest` (default
    `./<problem>-<session id>`)."""
    cfg = cfg or settings()
    loaded = load(session)
    problem = loaded.problem
    entry = winner(loaded.state)
    if entry is None:
        verdicts = sorted({e.verdict for e in loaded.state.entries}) or ["no kernels"]
        raise ExportError(
            f"session {loaded.id} has no passed kernel to export (verdicts: {', '.join(verdicts)})"
        )
    check = loaded.check_of(entry)
    source = loaded.source_of(entry)
    dest = dest or Path.cwd() / f"{problem.name}-{loaded.id}"
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())) and not force:
        raise ExportError(f"{dest} already exists and is not empty (choose another -o, or --force)")
    flags = check.get("flags") or {}
    recorded = flags.get("rustflags") if isinstance(flags, dict) else None
    rustflags = str(recorded or "").strip() or DEFAULT_RUSTFLAGS
    allow_unsafe = isinstance(flags, dict) and str(flags.get("allow_unsafe")) == "True"
    rayon = uses_rayon(source)
    package = "roundtable-" + problem.name.replace("_", "-")
    lib = package.replace("-", "_")
    ex = Exported(dest, entry, entry.iteration == 0, rayon, "")

    files = {
        "Cargo.toml": cargo_toml(package, loaded, rayon),
        ".gitignore": "/target\n",
        "src/lib.rs": lib_rs(source, loaded, entry, allow_unsafe),
        "tests/correctness.rs": rust_test(problem, lib),
        "examples/bench.rs": rust_bench(problem, lib),
    }
    for rel, text in files.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(text)
    registry_text = ""
    if rayon:  # the only dependency a kernel may have
        from roundtable_tui.kernels.build import BuildFailed, ToolMissing

        try:
            ex.registry, registry_text = _choose_registry(dest, cfg)
        except (BuildFailed, ToolMissing) as exc:
            ex.registry = "unknown"
            ex.notes.append(f"could not check where rayon comes from here ({exc})")
    (dest / ".cargo").mkdir(exist_ok=True)
    (dest / ".cargo" / "config.toml").write_text(cargo_config(rustflags, registry_text))
    (dest / "README.md").write_text(readme(loaded, ex, check, lib, rustflags))
    if ex.seed_only:
        ex.notes.append("no kernel written by the agents passed: exported the naive start")
    if ex.registry.startswith("debian"):
        ex.notes.append(
            "crates.io is unreachable: .cargo/config.toml takes rayon from Debian's sources "
            "(see the crate's README)"
        )
    return ex
