"""The problem catalogue: the one place for each problem's signature, shapes and FLOPs.

Everything the Rust side needs (the harness's `Entry` types, the candidate crate's glue,
the runner's main) is generated from here; `python -m roundtable_tui.kernels.problems`
rewrites the committed copies and a test checks they are current.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

Shape = dict[str, int]


@dataclass(frozen=True)
class Param:
    name: str
    rust_type: str


@dataclass(frozen=True)
class Problem:
    name: str
    variant: str
    summary: str
    params: tuple[Param, ...]
    dims: tuple[str, ...]
    """Shape dimensions, in the order the harness takes them."""
    default_shape: Shape
    flops_of: Callable[[Shape, bool], float] = field(compare=False)
    has_bias: bool
    """Whether the signature has an optional bias (`bias` / `dbias`)."""
    correctness_shapes: tuple[tuple[int, ...], ...]
    """Shapes every kernel must get right: 1, primes, 2^k±1, m≠n≠k, k=1."""

    @property
    def signature(self) -> str:
        args = ", ".join(f"{p.name}: {p.rust_type}" for p in self.params)
        return f"pub fn {self.name}({args})"

    @property
    def param_types(self) -> tuple[str, ...]:
        return tuple(p.rust_type for p in self.params)

    @property
    def fn_type(self) -> str:
        return f"fn({', '.join(self.param_types)})"

    def shape(self, values: tuple[int, ...] | list[int] | None = None) -> Shape:
        if values is None:
            return dict(self.default_shape)
        if len(values) != len(self.dims):
            raise ValueError(
                f"{self.name} takes {len(self.dims)} dimensions "
                f"({', '.join(self.dims)}), got {len(values)}"
            )
        if any(v < 1 for v in values):
            raise ValueError(f"every dimension of a {self.name} shape must be at least 1")
        return dict(zip(self.dims, values, strict=True))

    def dims_of(self, shape: Shape) -> tuple[int, ...]:
        return tuple(shape[d] for d in self.dims)

    def flops(self, shape: Shape, with_bias: bool = True) -> float:
        return self.flops_of(shape, with_bias)

    def format_shape(self, shape: Shape) -> str:
        return "x".join(str(shape[d]) for d in self.dims)

    def parse_shape(self, text: str) -> Shape:
        """`1024x1024x1024` or `m=1024,n=1024,k=1024` → a shape."""
        text = text.strip()
        if "=" in text:
            pairs = dict(part.split("=", 1) for part in text.replace(" ", "").split(","))
            unknown = set(pairs) - set(self.dims)
            if unknown or set(pairs) != set(self.dims):
                raise ValueError(f"{self.name} shapes name {', '.join(self.dims)}; got {text!r}")
            return self.shape([int(pairs[d]) for d in self.dims])
        try:
            return self.shape([int(v) for v in text.lower().replace(",", "x").split("x")])
        except ValueError as exc:
            raise ValueError(f"bad {self.name} shape {text!r}: {exc}") from None


CONTRACT_RULES = (
    "All matrices are dense, row-major, contiguous f32 slices. Slices may be longer than "
    "needed (callers pass sub-slices of bigger buffers): only the leading elements count, and "
    "a kernel must neither write nor depend on anything after them.",
    "Inputs may hold any f32 value, of any magnitude and sign, including NaN, ±Inf, ±0 and "
    "subnormals. Finite inputs must give finite outputs within the error bound of the "
    "classical product (a verified Strassen-like scheme is held to its own documented bound).",
    "A NaN or ±Inf that enters a product must make every output it feeds non-finite (so 0·NaN "
    "counts: skipping zeros is wrong); in such a case other outputs may be non-finite too (a "
    "Strassen-like scheme spreads them); the order of summation is free.",
)
"""The rules every problem shares (shared/design/KERNELS.md), as `roundtable problems` prints
them; the checker tests each (inputs.py)."""

# llm.c's matmuls (b, t, c, oc): reductions of length 1 (c or oc), primes, 2^k±1
_LLMC_SHAPES = (
    (1, 1, 1, 1),
    (1, 1, 3, 1),
    (2, 3, 5, 7),
    (1, 13, 17, 19),
    (3, 7, 33, 65),
    (2, 5, 64, 63),
    (1, 31, 127, 129),
    (4, 16, 96, 80),
    (1, 1, 257, 3),
)

_F32 = "&[f32]"
_MUT = "&mut [f32]"
_US = "usize"

PROBLEMS: dict[str, Problem] = {
    p.name: p
    for p in (
        Problem(
            name="sgemm",
            variant="Sgemm",
            summary="C (m×n) = A (m×k) · B (k×n), row-major f32; C is overwritten.",
            params=(
                Param("m", _US),
                Param("n", _US),
                Param("k", _US),
                Param("a", _F32),
                Param("b", _F32),
                Param("c", _MUT),
            ),
            dims=("m", "n", "k"),
            default_shape={"m": 1024, "n": 1024, "k": 1024},
            flops_of=lambda s, _b: 2.0 * s["m"] * s["n"] * s["k"],
            has_bias=False,
            correctness_shapes=(
                (1, 1, 1),
                (2, 3, 1),
                (1, 7, 5),
                (7, 1, 3),
                (3, 5, 1),
                (13, 17, 19),
                (31, 1, 33),
                (17, 31, 13),
                (33, 63, 65),
                (64, 64, 64),
                (127, 129, 65),
                (129, 127, 255),
                (1, 257, 129),
                (256, 17, 257),
            ),
        ),
        Problem(
            name="matmul_forward",
            variant="MatmulForward",
            summary="out[b,t,o] = bias[o] + Σ_i inp[b,t,i]·weight[o,i] (llm.c); out overwritten.",
            params=(
                Param("out", _MUT),
                Param("inp", _F32),
                Param("weight", _F32),
                Param("bias", "Option<&[f32]>"),
                Param("b", _US),
                Param("t", _US),
                Param("c", _US),
                Param("oc", _US),
            ),
            dims=("b", "t", "c", "oc"),
            default_shape={"b": 4, "t": 1024, "c": 768, "oc": 768},
            flops_of=lambda s, _b: 2.0 * s["b"] * s["t"] * s["c"] * s["oc"],
            has_bias=True,
            correctness_shapes=_LLMC_SHAPES,
        ),
        Problem(
            name="matmul_backward",
            variant="MatmulBackward",
            summary="dinp += dout·weight, dweight += doutᵀ·inp, dbias += Σ dout (llm.c); "
            "gradients accumulate.",
            params=(
                Param("dinp", _MUT),
                Param("dweight", _MUT),
                Param("dbias", "Option<&mut [f32]>"),
                Param("dout", _F32),
                Param("inp", _F32),
                Param("weight", _F32),
                Param("b", _US),
                Param("t", _US),
                Param("c", _US),
                Param("oc", _US),
            ),
            dims=("b", "t", "c", "oc"),
            default_shape={"b": 4, "t": 1024, "c": 768, "oc": 768},
            flops_of=lambda s, with_bias: (
                4.0 * s["b"] * s["t"] * s["c"] * s["oc"]
                + (s["b"] * s["t"] * s["oc"] if with_bias else 0)
            ),
            has_bias=True,
            correctness_shapes=_LLMC_SHAPES,
        ),
        Problem(
            name="binary_gemm",
            variant="BinaryGemm",
            summary="C (m×n) = A (m×k) · B (k×n of ±1 packed as bits, LSB first); "
            "C is overwritten.",
            params=(
                Param("m", _US),
                Param("n", _US),
                Param("k", _US),
                Param("a", _F32),
                Param("b", "&[u64]"),
                Param("c", _MUT),
            ),
            dims=("m", "n", "k"),
            default_shape={"m": 32, "n": 3072, "k": 3072},
            flops_of=lambda s, _b: 2.0 * s["m"] * s["n"] * s["k"],
            has_bias=False,
            correctness_shapes=(
                (1, 1, 1),
                (1, 64, 3),
                (2, 65, 1),
                (3, 63, 5),
                (5, 127, 17),
                (7, 128, 33),
                (32, 129, 65),
                (17, 200, 191),
                (1, 1000, 13),
                (4, 192, 64),
            ),
        ),
    )
}


def get(name: str) -> Problem:
    try:
        return PROBLEMS[name]
    except KeyError:
        raise ValueError(f"unknown problem {name!r}; choose one of {', '.join(PROBLEMS)}") from None


# ----------------------------------------------------------------------------- Rust glue

GENERATED = (
    "// Generated by roundtable_tui/kernels/problems.py from the problem catalogue; do not edit.\n"
)


def rust_entry() -> str:
    """harness/src/entry.rs: the typed entry points of every problem."""
    lines = [GENERATED]
    for p in PROBLEMS.values():
        lines.append(f"pub type {p.variant}Fn = {p.fn_type};")
    lines.append("")
    lines.append("/// The kernel under test, typed by its problem's exact signature.")
    lines.append("pub enum Entry {")
    lines.extend(f"    {p.variant}({p.variant}Fn)," for p in PROBLEMS.values())
    lines.append("}")
    return "\n".join(lines) + "\n"


def rust_candidate_lib(problem: Problem, allow_unsafe: bool = False) -> str:
    """candidate/src/lib.rs: the kernel file as a module, re-exported under its name."""
    guard = "" if allow_unsafe else "#![forbid(unsafe_code)]\n"
    return f"{GENERATED}{guard}mod kernel;\npub use kernel::{problem.name};\n"


def rust_runner_main(problem: Problem) -> str:
    """runner/src/main.rs: the harness called with the candidate."""
    return (
        f"{GENERATED}fn main() {{\n"
        f"    harness::main(harness::Entry::{problem.variant}(candidate::{problem.name}));\n"
        f"}}\n"
    )


def naive_kernel_path(problem: Problem, workspace: Path) -> Path:
    """The naive kernel (a valid kernel file): the starting point of every search."""
    return workspace / "baselines" / "src" / "naive" / f"{problem.name}.rs"


def committed_files(workspace: Path) -> dict[Path, str]:
    """The generated files as committed in the repository (shown for sgemm)."""
    sgemm = PROBLEMS["sgemm"]
    return {
        workspace / "harness" / "src" / "entry.rs": rust_entry(),
        workspace / "candidate" / "src" / "lib.rs": rust_candidate_lib(sgemm),
        workspace / "runner" / "src" / "main.rs": rust_runner_main(sgemm),
    }


def main() -> None:
    from roundtable_tui.config import settings

    workspace = settings().rust_workspace
    for path, text in committed_files(workspace).items():
        path.write_text(text)
        print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
