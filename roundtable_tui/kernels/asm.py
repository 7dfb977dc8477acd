"""What the compiler made of a kernel: per function, how many FMA instructions of each width
its assembly holds. A micro-kernel meant for packed FMA should show zmm (or ymm) FMAs; scalar
`vfmadd...ss` ones mean the vectoriser gave up."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

_LABEL = re.compile(r"^(_ZN[\w$.]+|_R[\w$]+|[A-Za-z_][\w$.]*):")
_COMMENT = re.compile(r"(^|\s)#(\s.*)?$")
_DATA = re.compile(
    r"\.(long|quad|byte|short|word|hword|octa|zero|float|double|ascii|asciz|string)\b"
)
_LINE_DATA = re.compile(r"\.data\.rel\.ro|gcc_except_table|debug")
"""Sections whose data hold source line numbers (panic locations, unwinding tables). On
macOS those are in `__DATA,__const`, kept: an edit that moves a line is then never the same
code there (a no-op edit goes unsaid; different code is never called the same)."""
_FMA = re.compile(r"^\s*v(?:fn?m(?:add|sub)(?:sub|add)?)(?:132|213|231)(ps|ss|pd|sd)\s+(.*)$")


@dataclass
class FunctionAsm:
    name: str
    fma: Counter[str] = field(default_factory=Counter)
    """Counts by width: zmm, ymm, xmm (packed) and scalar."""
    instructions: int = 0
    stack_refs: int = 0
    """Instructions touching the stack: in a micro-kernel's loop they mean spilled registers."""

    @property
    def packed_fma(self) -> int:
        return self.fma["zmm"] + self.fma["ymm"] + self.fma["xmm"]

    def summary(self) -> str:
        parts = [f"{self.fma[w]} {w}" for w in ("zmm", "ymm", "xmm", "scalar") if self.fma[w]]
        return (
            f"{self.name}: {', '.join(parts) or 'no'} FMA, {self.stack_refs} stack accesses "
            f"in {self.instructions} instructions"
        )


def demangle(symbol: str) -> str:
    """`_ZN9candidate6kernel12micro_kernel17h0123…E` → `candidate::kernel::micro_kernel`
    (legacy Rust mangling; other names are returned unchanged)."""
    if not symbol.startswith("_ZN"):
        return symbol
    body, parts, i = symbol[3:], [], 0
    while i < len(body) and body[i].isdigit():
        j = i
        while body[j].isdigit():
            j += 1
        size = int(body[i:j])
        part = body[j : j + size]
        i = j + size
        if re.fullmatch(r"h[0-9a-f]{16}", part):
            break
        parts.append(part.replace("$LT$", "<").replace("$GT$", ">").replace("$u20$", " "))
    return "::".join(parts) or symbol


def analyse(assembly: str) -> dict[str, FunctionAsm]:
    """FMA counts per function symbol (demangled) of an assembly listing."""
    funcs: dict[str, FunctionAsm] = {}
    current: FunctionAsm | None = None
    for line in assembly.splitlines():
        label = _LABEL.match(line)
        if label and not line.startswith(".L"):
            name = demangle(label.group(1))
            current = funcs.setdefault(name, FunctionAsm(name))
            continue
        if current is None or not line.startswith(("\t", " ")) or line.lstrip().startswith("."):
            continue
        current.instructions += 1
        current.stack_refs += "(%rsp)" in line
        m = _FMA.match(line)
        if m:
            kind, operands = m.groups()
            if kind in ("ss", "sd"):
                current.fma["scalar"] += 1
            else:
                width = re.search(r"%([xyz]mm)\d+", operands)
                current.fma[width.group(1) if width else "xmm"] += 1
    return {k: v for k, v in funcs.items() if v.instructions}


def kernel_functions(assembly: str) -> list[FunctionAsm]:
    """The kernel file's own functions (those in `candidate::kernel`), most FMAs first."""
    mine = [f for n, f in analyse(assembly).items() if n.startswith("candidate::kernel::")]
    return sorted(mine, key=lambda f: -sum(f.fma.values()))


def instructions(assembly: str) -> list[str]:
    """What a listing's machine code does, in order: its instructions and symbol labels, and
    the values of its constant data (a float a vector is loaded with lives in a data
    section, `.long 0x3f800000`), each value with its section's name. Left out: the other
    directives, local labels, comments, and the data of panic locations and unwinding
    tables (`.data.rel.ro…`, `.gcc_except_table…`), which hold source line numbers, so any
    edit that moves a line changes them. Two kernels whose lists are equal run the same
    code on the same constants."""
    out = []
    section = ""
    for line in assembly.splitlines():
        # an x86 comment, `# ...`; never an AArch64 immediate, `#4`, which is an operand
        text = _COMMENT.sub("", line).strip()
        if not text:
            continue
        if text.startswith((".section", ".text", ".data", ".bss")):
            section = " ".join(text.split()).split(",")[0]
        elif not text.startswith("."):
            out.append(" ".join(text.split()))
        elif _DATA.match(text) and not _LINE_DATA.search(section):
            out.append(f"{section}: {' '.join(text.split())}")
    return out
