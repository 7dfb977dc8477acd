"""Code proposals as edits to the best kernel: editable regions and search/replace blocks.

A small model rarely writes a whole GEMM kernel that builds and passes; it does much better
changing a few lines of one that works. So the code path works on the current best kernel:

- **Regions.** A kernel names the parts a code proposal may change with whole-line markers,
  ``// @region NAME`` … ``// @endregion`` (the templates mark ``threading``, ``loop_nest``,
  ``micro_kernel`` and ``packing``). A kernel without markers (a hand-written one on the
  leaderboard) gets one region per top-level function: its body, without the signature and
  the braces, named after the function. Inside a marked region of several functions, each
  function's body is also a part of its own, ``REGION.FUNCTION`` (`parts`): a small model
  rewrites a 5–20 line body whole far more reliably than a 35–80 line region.
- **Edits.** The Coder replies with the part's complete new text in one fenced block (what
  a 1.5B model writes when left free), or with one or more blocks::

      <<<<<<< SEARCH
      lines copied from the region
      =======
      the lines that replace them
      >>>>>>> REPLACE

  Each block is applied inside the named region only: exactly first, then ignoring
  indentation, inner spacing and blank lines, and in both cases only when the match is
  unique. A block that does not apply raises `EditError` with the block's number and the
  nearest line of the region, which goes back to the Coder as a repair.
- **Fragments.** A fenced block that is a piece of the part, not all of it (its braces do
  not balance as the part's, or it lacks the part's first line), is put in where it stands
  (`_splice`): from the line equal to its first to the matching end. The embedded model sent
  a rewritten `else` branch alone; refused, it came back the same. A piece that could stand
  in two places alike still goes back as a repair.
- **Line edits** (`FORMATS`: "lines"). The part is shown with its lines numbered, and the
  Coder replies with blocks that name lines instead of copying them::

      REPLACE 4-5
      the lines that replace lines 4 to 5 of the part
      END

  A small model copying SEARCH lines wrote the whole part into them until its token limit
  (bench/RESULTS.md, 2026-11-29); a line range costs a few tokens and always matches.
  `LINES_GRAMMAR` holds a llama.cpp reply to this format. The embedded 1.5B model does not
  address lines (it copied an example's numbers, or replaced lines 1-3 with most of the
  part: 0 of 6 edits applied, against 5 of 6 free replies; bench/RESULTS.md, 2026-11-30),
  so "blocks" is the default.
- **Checks.** `outside_change` says whether an edited file changed anything outside the
  region (the Verifier refuses such an edit before the static gate and the build).

Line numbers in messages are 1-based lines of the kernel file the edit was made against.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from roundtable_tui.kernels import policy

_START = re.compile(r"^\s*//\s*@region\s+(?P<name>[A-Za-z_][\w-]*)\s*$")
_END = re.compile(r"^\s*//\s*@endregion\b.*$")
_SEARCH = re.compile(r"^\s*<{5,9}\s*SEARCH\s*$")
_DIVIDER = re.compile(r"^\s*={5,9}\s*$")
_REPLACE = re.compile(r"^\s*>{5,9}\s*REPLACE\s*$")
_FENCE = re.compile(r"^\s*```")
_LINES = re.compile(r"^\s*REPLACE(?:\s+LINES?)?\s+(?P<a>\d+)\s*(?:-\s*(?P<b>\d+))?\s*:?\s*$")
_LINES_END = re.compile(r"^\s*END\s*$")
_NUMBERED = re.compile(r"^\s*\d+\s*\|\s?")

FORMATS = ("blocks", "lines")
"""The Coder's edit formats: "blocks" (the part's new text, or SEARCH/REPLACE blocks) and
"lines" (REPLACE a-b … END blocks against the part's numbered lines)."""


class RegionError(ValueError):
    """Region markers that do not pair up (unclosed, nested, stray or repeated)."""


class EditError(ValueError):
    """An edit that cannot be applied. `block` is the failing block's number (1-based), or
    None for the reply as a whole; `nearest` is (line, text) of the region line closest to
    what the block was looking for, when there is one."""

    def __init__(
        self, reason: str, block: int | None = None, nearest: tuple[int, str] | None = None
    ) -> None:
        self.reason, self.block, self.nearest = reason, block, nearest
        where = f"block {block}: " if block is not None else ""
        near = (
            f" Nearest line in the region: line {nearest[0]}: `{nearest[1].strip()}`"
            if nearest
            else ""
        )
        super().__init__(f"{where}{reason}.{near}")


class Unchanged(EditError):
    """An edit whose result is the text it edits: the model wrote its part back as it was."""

    def __init__(self) -> None:
        super().__init__("the edit changes nothing (its new lines equal the old ones)")


@dataclass(frozen=True)
class Region:
    """Lines ``start`` … ``end - 1`` (0-based, end exclusive) of a kernel file."""

    name: str
    start: int
    end: int
    marked: bool
    """True for a ``// @region`` span, False for a function body found without markers."""
    function: str = ""
    """The top-level function the region starts in ('' when it starts outside any)."""
    within: str = ""
    """For one function's body inside a marked region of several functions (a part): that
    region's name."""

    def text(self, source: str) -> str:
        return "".join(source.splitlines(keepends=True)[self.start : self.end])

    def describe(self) -> str:
        """`micro_kernel.rank1 (5)`: the name and its lines, for the Proposer's list (a
        part's name says which function's body it is)."""
        return f"{self.name} ({self.end - self.start})"

    @property
    def lines(self) -> str:
        """1-based, inclusive, as shown to people: 'lines 12-40'."""
        return f"lines {self.start + 1}-{self.end}"


@dataclass(frozen=True)
class Function:
    name: str
    first: int
    """0-based line of the `fn` keyword."""
    open: int
    """0-based line of the body's opening brace."""
    close: int
    """0-based line of the body's closing brace."""


def functions(source: str) -> list[Function]:
    """The top-level functions of a Rust file, found on tokens (comments and strings skipped).
    An unreadable file gives an empty list."""
    try:
        tokens = policy.tokenize(source)
    except policy.TokenizeError:
        return []
    found: list[Function] = []
    depth = 0
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.text == "{":
            depth += 1
        elif tok.text == "}":
            depth -= 1
        elif (
            depth == 0
            and tok.kind == "ident"
            and tok.text == "fn"
            and i + 1 < len(tokens)
            and tokens[i + 1].kind == "ident"
        ):
            name = tokens[i + 1].text
            j, nest = i + 2, 0
            while j < len(tokens):  # the body's `{`: the first one outside (…) and […]
                t = tokens[j].text
                if t in "([":
                    nest += 1
                elif t in ")]":
                    nest -= 1
                elif t == ";" and nest == 0:
                    break  # a declaration without a body
                elif t == "{" and nest == 0:
                    break
                j += 1
            if j >= len(tokens) or tokens[j].text != "{":
                i = j + 1
                continue
            k, level = j, 0
            while k < len(tokens):
                if tokens[k].text == "{":
                    level += 1
                elif tokens[k].text == "}":
                    level -= 1
                    if level == 0:
                        break
                k += 1
            if k >= len(tokens):
                return found  # unbalanced braces: what was found so far
            found.append(Function(name, tok.line - 1, tokens[j].line - 1, tokens[k].line - 1))
            i = k + 1
            continue
        i += 1
    return found


def regions(source: str) -> list[Region]:
    """The editable regions of a kernel: its ``// @region`` spans if it has any, else one per
    top-level function body (only functions whose body has lines of its own).
    Raises RegionError for markers that do not pair up."""
    lines = source.splitlines()
    fns = functions(source)

    def owner(line: int) -> str:
        return next((f.name for f in fns if f.first <= line <= f.close), "")

    found: list[Region] = []
    open_name: str | None = None
    open_at = 0
    for n, line in enumerate(lines):
        if m := _START.match(line):
            if open_name is not None:
                raise RegionError(
                    f"line {n + 1}: region {m['name']!r} starts inside region {open_name!r} "
                    f"(line {open_at}); regions do not nest"
                )
            open_name, open_at = m["name"], n + 1
        elif _END.match(line):
            if open_name is None:
                raise RegionError(f"line {n + 1}: `// @endregion` without a region to close")
            if any(r.name == open_name for r in found):
                raise RegionError(f"line {open_at}: region {open_name!r} is marked twice")
            found.append(Region(open_name, open_at, n, True, owner(open_at)))
            open_name = None
    if open_name is not None:
        raise RegionError(f"line {open_at}: region {open_name!r} has no `// @endregion`")
    if found:
        return found
    return [Region(f.name, f.open + 1, f.close, False, f.name) for f in fns if f.close > f.open + 1]


def parts(source: str) -> list[Region]:
    """What a code proposal may edit: every region (`regions`), then, inside a marked region
    that holds several functions, each of those functions' bodies on its own, named
    `REGION.FUNCTION` (`micro_kernel.rank1`): a small model rewrites a 10-line body whole far
    more reliably than a 50-line region. Raises RegionError as `regions` does."""
    found = regions(source)
    fns = functions(source)
    for r in [r for r in found if r.marked]:
        inside = [f for f in fns if r.start <= f.first and f.close < r.end]
        if len(inside) < 2:
            continue
        for f in inside:
            if f.close > f.open + 1:
                found.append(
                    Region(f"{r.name}.{f.name}", f.open + 1, f.close, False, f.name, r.name)
                )
    return found


def targets(source: str) -> list[Region]:
    """The parts offered to the Proposer: every function part (`REGION.FUNCTION`) and the
    regions that hold no such parts. A region with parts is still editable when named, but
    not offered: named whole (35 lines of micro-kernel), the embedded model rewrote it
    unchanged three times in a row. Raises RegionError as `regions` does."""
    found = parts(source)
    split = {r.within for r in found if r.within}
    return [r for r in found if r.name not in split]


@dataclass(frozen=True)
class Recipe:
    """A code change known to fit a part of a BLIS-style kernel (Goto & van de Geijn 2008;
    Low et al. 2016, both in REFERENCES.md): offered to the Proposer on the code path, so
    that a small model picks a change its Coder can carry out. Left to its own ideas, the
    embedded 1.5B model proposed "reorder to reduce cache misses" on a 23-line part and its
    Coder wrote the part back unchanged, iteration after iteration."""

    functions: tuple[str, ...]
    """The functions it edits (a part is `REGION.FUNCTION`), or a region without parts."""
    title: str
    idea: str
    """What to change, in the kernel's own terms: one sentence a Coder can follow."""
    dead: str = ""
    """A pattern that, found in a kernel, says the code this recipe changes does not run
    there (a template's `@param` constant choosing another branch): not offered then. The
    embedded model's "unroll k by 4" changed the KU > 1 loop of a KU = 1 kernel, and both
    threading recipes the `Split` arm of a `Blocks` kernel; they passed, changing nothing
    that ran."""
    example: str = ""
    """The change made on another loop (its own variables: `xs`, `t`, `step`; the kernel's
    constants MR, NR, KU, which the embedded model copied when the example had its own),
    shown to the Coder under the idea: how the Rust of such a change reads. Without
    one, the embedded model's "two accumulator sets" added two arrays with `+` (which Rust
    arrays lack) and returned a tile it never summed; its "unroll k by 4" made four calls
    per group of two steps (an index out of bounds); its "edge panel without a branch" came
    back unchanged. A name the example shares with the kernel must mean the same there:
    given `rows` for the valid rows, the model used sgemm's own `rows`, an array."""

    def named_in(self, text: str) -> bool:
        """Whether `text` (a proposal's title and idea) names this recipe: its title, or the
        start of its idea (the embedded model copied an idea under another title)."""
        said = re.sub(r"\s+", " ", text.lower())
        return self.title in said or self.idea[:40].lower() in said


_SINGLE_STEP = r"(?ms)\A(?=.*^const KU: usize = 1;)(?=.*\bif KU == 1\b)"
"""A template kernel that takes one k step at a time in a branch of its own (sgemm's
`if KU == 1`): its loop over groups of KU steps (the one the embedded model edited for the
micro-kernel's recipes) never runs. A kernel with one loop over groups (matmul_backward's)
runs it at every KU, so the recipes stay live there."""
_NOT_SPLIT = r"(?m)^const PAR: Par = Par::(?!Split\b)"
"""A template kernel parallel otherwise than by `Split`: its `Split` arm never runs."""

_TWO_SETS = """\
// before: every step of every group into one tile `t`
for (xg, yg) in x_groups.zip(y_groups) {
    for u in 0..KU {
        step(&mut t, &xg[u], &yg[u]);
    }
}
// after: even steps into `t`, odd steps into a second tile `t2` (counted across groups, so
// it works for any KU); then `t2` is added into `t` element by element (Rust arrays have no
// `+`), and `t` is returned as before
let mut t2 = [[0.0f32; NR]; MR];
let mut s = 0;
for (xg, yg) in x_groups.zip(y_groups) {
    for u in 0..KU {
        if s % 2 == 0 {
            step(&mut t, &xg[u], &yg[u]);
        } else {
            step(&mut t2, &xg[u], &yg[u]);
        }
        s += 1;
    }
}
for r in 0..MR {
    for c in 0..NR {
        t[r][c] += t2[r][c];
    }
}
"""

_UNROLL_4 = """\
// before: groups of KU steps, KU calls per group, then the last steps one by one
let x_groups = xs.chunks_exact(KU);
let y_groups = ys.chunks_exact(KU);
let (x_tail, y_tail) = (x_groups.remainder(), y_groups.remainder());
for (xg, yg) in x_groups.zip(y_groups) {
    for u in 0..KU {
        step(&mut t, &xg[u], &yg[u]);
    }
}
for (x, y) in x_tail.iter().zip(y_tail) {
    step(&mut t, x, y);
}
// after: groups of exactly four steps (4 in both chunks_exact calls), four calls per group
let x_groups = xs.chunks_exact(4);
let y_groups = ys.chunks_exact(4);
let (x_tail, y_tail) = (x_groups.remainder(), y_groups.remainder());
for (xg, yg) in x_groups.zip(y_groups) {
    step(&mut t, &xg[0], &yg[0]);
    step(&mut t, &xg[1], &yg[1]);
    step(&mut t, &xg[2], &yg[2]);
    step(&mut t, &xg[3], &yg[3]);
}
for (x, y) in x_tail.iter().zip(y_tail) {
    step(&mut t, x, y);
}
"""

_EDGE_FILL = """\
// before: a test for every element of every column (`h`: the valid rows, below MR)
for (k, col) in cols.iter_mut().enumerate() {
    for r in 0..MR {
        col[r] = if r < h { src[r * ld + k] } else { 0.0 };
    }
}
// after: the valid rows copied, the rest of the column zero-filled, no test per element
for (k, col) in cols.iter_mut().enumerate() {
    for r in 0..h {
        col[r] = src[r * ld + k];
    }
    col[h..].fill(0.0);
}
"""

# No recipe hoists the broadcast of a[i] out of the loop over j: LLVM keeps it in a register
# already (a kernel with the hoist compiles to the template's instructions), and the embedded
# model's two tries of it on sgemm dropped the loop over i.
RECIPES = (
    Recipe(
        ("micro_kernel",),
        "two accumulator sets",
        "keep a second accumulator tile, put every other k step into it, and add it into "
        "the first tile element by element before returning (two independent FMA chains per "
        "register)",
        _SINGLE_STEP,
        example=_TWO_SETS,
    ),
    Recipe(
        ("micro_kernel",),
        "unroll k by 4",
        "take the packed panels in groups of exactly four k steps (chunks_exact(4)) with four "
        "explicit rank-1 calls per group, then the remaining steps one by one",
        _SINGLE_STEP,
        example=_UNROLL_4,
    ),
    Recipe(
        ("threading",),
        "tasks from the thread count",
        "in the Split arm use one task per rayon thread (rayon::current_num_threads()), at "
        "least SPLIT_TASKS",
        _NOT_SPLIT,
    ),
    Recipe(
        ("threading",),
        "at least 4 tasks",
        "in the Split arm use at least 4 tasks (SPLIT_TASKS.max(4)), so a core that finishes "
        "early takes another task",
        _NOT_SPLIT,
    ),
    Recipe(
        ("pack_a", "pack_a_rows"),
        "edge panel without a branch",
        "in the last, partial micro-panel copy the valid rows as the full case does and fill "
        "the rows past the edge with zeros, instead of testing i < h for every element",
        example=_EDGE_FILL,
    ),
)


RECIPE_TRIES = 2
"""Proposals of a recipe after which it is no longer offered: in a 20-iteration session the
embedded model's Coder never carried out the two hardest recipes, proposed 13 times in turn,
while its own ideas had passed three times in an earlier session."""


def recipes(
    source: str, proposed: Sequence[str], passed: Sequence[str] = (), limit: int = 3
) -> list[tuple[str, Recipe]]:
    """Up to `limit` (part, recipe) pairs of RECIPES whose function is a part of `source`,
    the least tried first (by the proposals in `proposed`, title and idea of each; RECIPES'
    order among equals), leaving out those whose title is in `passed` (kernels that passed:
    the change is made), those proposed RECIPE_TRIES times, and those whose code does not run
    in `source` (`Recipe.dead`); [] when `source` has no parts or broken markers."""
    try:
        found = {r.name.rsplit(".", 1)[-1]: r.name for r in targets(source)}
    except RegionError:
        return []
    done = {t.strip().lower() for t in passed}
    out = []
    for recipe in RECIPES:
        part = next((found[f] for f in recipe.functions if f in found), None)
        if recipe.dead and re.search(recipe.dead, source):
            continue  # it would change code that does not run
        if part is not None and recipe.title not in done:
            tries = sum(recipe.named_in(text) for text in proposed)
            if tries < RECIPE_TRIES:
                out.append((tries, part, recipe))
    out.sort(key=lambda t: t[0])  # stable: RECIPES' order among equals
    return [(part, recipe) for _tries, part, recipe in out[:limit]]


def find_region(source: str, name: str) -> Region:
    """The region or part called `name` (`parts`); EditError naming them otherwise."""
    try:
        found = parts(source)
    except RegionError as exc:
        raise EditError(f"the kernel's region markers are broken: {exc}") from None
    for r in found:
        if r.name == name:
            return r
    names = ", ".join(r.name for r in found) or "none"
    raise EditError(f"the kernel has no region {name!r} (its regions: {names})")


# --------------------------------------------------------------------------- edits
@dataclass(frozen=True)
class Block:
    number: int
    """1-based, in the order of the reply."""
    search: str
    replace: str
    span: tuple[int, int] | None = None
    """A line edit's first and last line (1-based, inclusive, of the part as shown);
    `search` is then unused."""


@dataclass(frozen=True)
class Edit:
    region: str
    blocks: tuple[Block, ...] = ()
    whole: str | None = None
    """The region's complete new text, when the reply gave that instead of blocks."""


def _strip_fences(text: str) -> str:
    lines = [ln for ln in text.splitlines(keepends=True) if not _FENCE.match(ln)]
    return "".join(lines)


def parse_edit(text: str, region: str) -> Edit:
    """The edit in a model's reply: its SEARCH/REPLACE blocks; failing those, one fenced
    Rust block taken as the region's complete new text. Raises EditError when the reply has
    neither, or a block is not closed."""
    lines = text.splitlines(keepends=True)
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        if not _SEARCH.match(lines[i]):
            i += 1
            continue
        number = len(blocks) + 1
        j = i + 1
        while j < len(lines) and not _DIVIDER.match(lines[j]):
            if _SEARCH.match(lines[j]) or _REPLACE.match(lines[j]):
                raise EditError("SEARCH has no `=======` line before the next marker", number)
            j += 1
        if j >= len(lines):
            raise EditError("SEARCH is never followed by a `=======` line", number)
        k = j + 1
        while k < len(lines) and not _REPLACE.match(lines[k]):
            if _SEARCH.match(lines[k]):
                raise EditError("the block has no `>>>>>>> REPLACE` line", number)
            k += 1
        if k >= len(lines):
            raise EditError("the block has no `>>>>>>> REPLACE` line (truncated?)", number)
        search = _strip_fences("".join(lines[i + 1 : j]))
        replace = _strip_fences("".join(lines[j + 1 : k]))
        blocks.append(Block(number, search, replace))
        i = k + 1
    if blocks:
        return Edit(region, tuple(blocks))
    spans = _line_blocks(lines)
    if spans:
        return Edit(region, tuple(spans))
    fenced = re.findall(r"```[ \t]*(?:rust|rs)?[^\n]*\n(.*?)(?:```|\Z)", text, re.S)
    fenced = [f for f in fenced if f.strip()]
    if len(fenced) == 1:
        if _DIAGNOSTIC.match(fenced[0]):
            # asked to fix a build error, the embedded model sent the error back as its code
            raise EditError(
                "the code block is the compiler's message, not code; reply with the part's "
                "corrected lines"
            )
        return Edit(region, whole=fenced[0])
    raise EditError(
        "the reply has no `<<<<<<< SEARCH` / `=======` / `>>>>>>> REPLACE` block"
        + (" (and more than one code block)" if fenced else "")
    )


_DIAGNOSTIC = re.compile(r"\s*(error|warning)(\[E\d{4}\])?: ")
"""The first line of a compiler diagnostic (`error[E0308]: mismatched types`)."""


def _line_blocks(lines: list[str]) -> list[Block]:
    """The `REPLACE a-b` … `END` blocks of a reply (see the module's docstring); a missing
    `b` means the one line `a`. Raises EditError for a block without its END."""
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _LINES.match(lines[i])
        if not m:
            i += 1
            continue
        number = len(blocks) + 1
        j = i + 1
        # a block ends at its END, or where the next REPLACE starts (an END left out)
        while j < len(lines) and not _LINES_END.match(lines[j]) and not _LINES.match(lines[j]):
            j += 1
        if j >= len(lines):
            raise EditError("the block has no `END` line (truncated?)", number)
        new = [ln for ln in lines[i + 1 : j] if not _FENCE.match(ln)]
        if new and all(_NUMBERED.match(ln) for ln in new if ln.strip()):
            new = [_NUMBERED.sub("", ln, count=1) for ln in new]  # numbers copied as shown
        a = int(m["a"])
        b = int(m["b"]) if m["b"] else a
        blocks.append(Block(number, "", "".join(new), (a, b)))
        i = j + 1 if _LINES_END.match(lines[j]) else j
    return blocks


def numbered(text: str) -> str:
    """`text` with its lines numbered from 1 (`  4| …`), as the line format shows a part."""
    rows = text.rstrip("\n").split("\n")
    width = len(str(len(rows)))
    return "\n".join(f"{n:>{width}}| {line}" for n, line in enumerate(rows, 1))


def _apply_spans(lines: list[str], start: int, end: int, blocks: list[Block]) -> list[str]:
    """`lines` with the line edits applied inside lines[start:end]; their numbers are of
    the part as shown (before any of them), so they apply from the last up. EditError for a
    range outside the part or ranges that overlap."""
    size = end - start
    taken: list[tuple[int, int, int]] = []
    for block in blocks:
        a, b = block.span or (0, 0)
        if not 1 <= a <= b <= size:
            raise EditError(
                f"REPLACE {a}-{b} is outside the part's lines 1-{size} (the first number is "
                "the first line replaced, the second the last)",
                block.number,
            )
        for a2, b2, n2 in taken:
            if a <= b2 and a2 <= b:
                raise EditError(f"lines {a}-{b} overlap block {n2}'s lines {a2}-{b2}", block.number)
        taken.append((a, b, block.number))
    for block in sorted(blocks, key=lambda x: -(x.span or (0, 0))[0]):
        a, b = block.span or (0, 0)
        first, last = start + a - 1, start + b - 1
        new = block.replace
        if new and not new.endswith("\n"):
            new += "\n"
        got = next((ln for ln in new.splitlines() if ln.strip()), "")
        have = next((ln for ln in lines[first : last + 1] if ln.strip()), lines[first])
        if got and not _indent(got) and _indent(have):  # written flush left: indent as before
            new = _reindent(new, "", _indent(have))
        lines = lines[:first] + new.splitlines(keepends=True) + lines[last + 1 :]
    return lines


def _norm(line: str) -> str:
    """A line for tolerant matching: without any whitespace (a small model often changes
    spacing and indentation when it copies code)."""
    return "".join(line.split())


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _reindent(text: str, old: str, new: str) -> str:
    """`text` with the leading `old` indentation of each line replaced by `new`."""
    out = []
    for line in text.splitlines(keepends=True):
        if line.strip() and line.startswith(old):
            line = new + line[len(old) :]
        elif line.strip() and not old and new:
            line = new + line
        out.append(line)
    return "".join(out)


@dataclass
class Applied:
    """An edit applied to a kernel: the new source and how each block matched."""

    code: str
    region: Region
    """The edited region in the *new* source."""
    matches: list[str] = field(default_factory=list)
    """Per block: 'exact' or 'whitespace' (matched ignoring indentation and spacing)."""

    def to_dict(self) -> dict[str, Any]:
        return {"region": self.region.name, "matches": list(self.matches)}


def _nearest(lines: list[str], start: int, end: int, wanted: list[str]) -> tuple[int, str] | None:
    """The region line closest to the first wanted line the region does not contain."""
    have = {_norm(lines[n]) for n in range(start, end)}
    missing = next((w for w in wanted if _norm(w) and _norm(w) not in have), None)
    probe = _norm(missing if missing is not None else next((w for w in wanted if w.strip()), ""))
    best, best_ratio = None, 0.0
    for n in range(start, end):
        if not lines[n].strip():
            continue
        ratio = difflib.SequenceMatcher(None, probe, _norm(lines[n])).ratio()
        if ratio > best_ratio:
            best, best_ratio = n, ratio
    return (best + 1, lines[best].rstrip("\n")) if best is not None else None


def _apply_block(lines: list[str], start: int, end: int, block: Block) -> tuple[list[str], str]:
    """`lines` with the block applied inside lines[start:end]; (new lines, how it matched)."""
    search = block.search.splitlines(keepends=True)
    while search and not search[0].strip():
        search.pop(0)
    while search and not search[-1].strip():
        search.pop()
    replace = block.replace.splitlines(keepends=True)
    replace = [ln if ln.endswith("\n") else ln + "\n" for ln in replace]
    if not search:
        if any(ln.strip() for ln in lines[start:end]):
            raise EditError(
                "SEARCH is empty; copy the lines to replace from the region", block.number
            )
        return lines[:start] + replace + lines[end:], "exact"

    # exact: the search lines, byte for byte (a missing final newline does not matter)
    want = [ln.rstrip("\n") for ln in search]
    size = len(want)
    exact = [
        n
        for n in range(start, end - size + 1)
        if [ln.rstrip("\n") for ln in lines[n : n + size]] == want
    ]
    if len(exact) == 1:
        n = exact[0]
        return lines[:n] + replace + lines[n + size :], "exact"
    if len(exact) > 1:
        where = ", ".join(str(n + 1) for n in exact)
        raise EditError(
            f"SEARCH occurs {len(exact)} times in the region (lines {where}); add lines "
            "around it so it matches once",
            block.number,
        )

    # tolerant: the same non-blank lines, ignoring indentation, inner spacing and blank lines
    wanted = [_norm(ln) for ln in search if ln.strip()]
    body = [(n, _norm(lines[n])) for n in range(start, end) if lines[n].strip()]
    spans = [
        (body[p][0], body[p + len(wanted) - 1][0])
        for p in range(len(body) - len(wanted) + 1)
        if [t for _, t in body[p : p + len(wanted)]] == wanted
    ]
    if len(spans) == 1:
        first, last = spans[0]
        src_indent = _indent(next(ln for ln in search if ln.strip()))
        new = _reindent("".join(replace), src_indent, _indent(lines[first]))
        return lines[:first] + new.splitlines(keepends=True) + lines[last + 1 :], "whitespace"
    if len(spans) > 1:
        where = ", ".join(str(a + 1) for a, _ in spans)
        raise EditError(
            f"SEARCH occurs {len(spans)} times in the region (lines {where}); add lines "
            "around it so it matches once",
            block.number,
        )
    # not in the region: outside it, or nowhere
    all_body = [(n, _norm(lines[n])) for n in range(len(lines)) if lines[n].strip()]
    for p in range(len(all_body) - len(wanted) + 1):
        if [t for _, t in all_body[p : p + len(wanted)]] == wanted:
            n = all_body[p][0]
            raise EditError(
                f"SEARCH matches line {n + 1}, outside the region (lines {start + 1}-{end}); "
                "edit only the region's lines",
                block.number,
            )
    raise EditError(
        "SEARCH is not in the region (copy its lines exactly)",
        block.number,
        _nearest(lines, start, end, search),
    )


def apply_edit(source: str, edit: Edit) -> Applied:
    """Applies `edit` to `source` (the best kernel) inside its region, block after block.
    Raises EditError with the failing block and the reason."""
    region = find_region(source, edit.region)
    lines = source.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    start, end = region.start, region.end
    matches: list[str] = []
    if edit.whole is not None:
        new = edit.whole if edit.whole.endswith("\n") or not edit.whole else edit.whole + "\n"
        old = region.text(source)
        if region.function and (region.within or not region.marked):
            new = _unwrapped(new, old, region.function)
        whole_file = _whole_file(lines, region, new)
        problem = whole_file or _unbalanced(region, source, new)
        if problem and _excerpt(new, old):
            # a piece of the part copied as it is (the embedded model sent the `else`
            # branch it was asked to change, unchanged, three times in a row)
            raise Unchanged
        # a piece of the part, changed, sent alone: put in where its first line stands
        spliced = None if whole_file or not _fragment(old, new, problem) else _splice(old, new)
        if spliced is not None:
            new, problem = spliced, None
        if problem:
            raise EditError(problem)
        lines = lines[:start] + new.splitlines(keepends=True) + lines[end:]
        end = start + len(new.splitlines())
        matches.append("whole" if spliced is None else "splice")
    spans = [b for b in edit.blocks if b.span is not None]
    if spans:
        before = len(lines)
        lines = _apply_spans(lines, start, end, spans)
        end += len(lines) - before
        matches.extend("lines" for _ in spans)
    for block in edit.blocks:
        if block.span is not None:
            continue
        before = len(lines)
        lines, how = _apply_block(lines, start, end, block)
        end += len(lines) - before
        matches.append(how)
    code = "".join(lines)
    if code == source or code == source + "\n":
        raise Unchanged
    if _same_code(region.text(source), "".join(lines[start:end])):
        # the part re-indented and nothing else (the embedded model's "parallelize with
        # rayon" moved the threading region's match flush left; it passed, changing nothing)
        raise Unchanged
    if edit.blocks:  # a whole new text was checked above
        was = _brace_balance(region.text(source))
        now = _brace_balance("".join(lines[start:end]))
        if now != was:
            more = "`{`" if now > was else "`}`"
            raise EditError(
                f"the edit leaves {abs(now - was)} unmatched {more} in the region; open and "
                "close every block within the new lines"
            )
    return Applied(code, Region(region.name, start, end, region.marked, region.function), matches)


def _code_lines(text: str) -> list[str]:
    """`text`'s non-blank lines, each without its whitespace (`_norm`)."""
    return [_norm(x) for x in text.splitlines() if x.strip()]


def _same_code(old: str, new: str) -> bool:
    """Whether `new` is `old` up to whitespace: the same lines, each the same but for its
    spaces (blank lines aside)."""
    return _code_lines(old) == _code_lines(new)


def _excerpt(new: str, text: str) -> bool:
    """Whether `new`'s lines are a run of `text`'s lines, as they are (indentation aside)."""
    want, have = _code_lines(new), _code_lines(text)
    return bool(want) and any(
        have[i : i + len(want)] == want for i in range(len(have) - len(want) + 1)
    )


def _unwrapped(new: str, old: str, function: str) -> str:
    """`new`, the reply for the body `old` of `function`, without the function's own lines
    around it when the reply wrote them too: its `fn` line(s) up to the body's `{`, and the
    closing `}` lines that leave the braces short of balancing as `old`'s do (the embedded
    model sent `macro_block`'s body with the function's closing `}` three times in a row).
    `new` as it is unless the result balances as `old` does and never closes a brace it
    did not open."""
    lines = new.splitlines(keepends=True)
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    head = rf"\s*(pub(\([^)]*\))?\s+)?fn\s+{re.escape(function)}\b"
    if first is not None and re.match(head, lines[first]):
        brace = next((i for i in range(first, len(lines)) if lines[i].rstrip().endswith("{")), None)
        if brace is not None:
            lines = lines[brace + 1 :]
    want = _brace_balance(old)
    while _brace_balance("".join(lines)) < want:
        last = max((i for i, ln in enumerate(lines) if ln.strip()), default=None)
        if last is None or lines[last].strip() != "}":
            break
        del lines[last]
    out = "".join(lines)
    depths = itertools.accumulate(_brace_balance(ln) for ln in lines)
    nested = all(d >= 0 for d in depths)  # a body never closes more than it opened
    return out if out != new and nested and _brace_balance(out) == want else new


def _fragment(old: str, new: str, problem: str | None) -> bool:
    """Whether `new`, sent as the whole of the part `old`, is rather a piece of it: its
    braces do not balance as the part's do (`problem`), or it lacks the part's first line
    of code."""
    head = next((ln for ln in old.splitlines() if ln.strip() and not _is_comment(ln)), "")
    return problem is not None or _norm(head) not in {_norm(x) for x in new.splitlines()}


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("//")


def _splice(old: str, new: str) -> str | None:
    """The part `old` with the fragment `new` put in place of the lines it stands for.

    A place starts at a line equal to the fragment's first and ends at the first line after
    it that equals the fragment's last, with the braces between as unbalanced as the
    fragment's (lines compared as `_norm` does). Of several places, the one most like the
    fragment (`difflib` ratio) is taken; None when two are alike within SPLICE_TIE, when
    there is none, when the fragment's first line has no word in it (`}` stands anywhere),
    or when the result's braces do not balance as the part's do. The fragment takes the
    indentation of the line it starts at."""
    have = old.splitlines(keepends=True)
    want = new.splitlines(keepends=True)
    while want and not want[0].strip():
        want.pop(0)
    while want and not want[-1].strip():
        want.pop()
    if len(want) < 2 or not re.search(r"\w", want[0]):
        return None  # a first line of braces alone stands anywhere
    key = [_norm(x) for x in have]
    wanted = [_norm(x) for x in want]
    balance = _brace_balance("".join(want))
    places = []
    for a in (i for i, k in enumerate(key) if k == wanted[0]):
        b = next(
            (
                j
                for j in range(a, len(have))
                if key[j] == wanted[-1] and _brace_balance("".join(have[a : j + 1])) == balance
            ),
            None,
        )
        if b is not None:
            like = difflib.SequenceMatcher(
                None, "\n".join(key[a : b + 1]), "\n".join(wanted), autojunk=False
            ).ratio()
            places.append((like, a, b))
    places.sort(reverse=True)
    if not places or (len(places) > 1 and places[0][0] - places[1][0] < SPLICE_TIE):
        return None
    _like, a, b = places[0]
    body = _reindent("".join(want), _indent(want[0]), _indent(have[a]))
    body += "" if body.endswith("\n") else "\n"
    out = "".join(have[:a]) + body + "".join(have[b + 1 :])
    return out if _brace_balance(out) == _brace_balance(old) else None


SPLICE_TIE = 0.1
"""Places for a fragment whose likeness to it (the share of characters in common, spaces
aside) differs by less than this are a tie: the fragment is refused rather than put in at a
guess."""


def _whole_file(lines: list[str], region: Region, new: str) -> str | None:
    """Why a region's replacement text looks like a whole file instead (None if it does not)."""
    outside = [
        ln for ln in lines[: region.start] if ln.strip() and not ln.lstrip().startswith("//")
    ]
    head = next((ln for ln in reversed(outside) if re.search(r"\bfn\s+\w+", ln)), None)
    if head is not None and _norm(head) in {_norm(x) for x in new.splitlines()}:
        return (
            "the code block repeats lines from outside the region (the whole file?); reply "
            "with SEARCH/REPLACE blocks, or with the region's lines only"
        )
    return None


_LITERALS = re.compile(r'//[^\n]*|"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)\'')


def _brace_balance(text: str) -> int:
    """`{` minus `}` outside comments, strings and char literals."""
    code = _LITERALS.sub("", text)
    return code.count("{") - code.count("}")


def _unbalanced(region: Region, source: str, new: str) -> str | None:
    """Why a region's replacement text cannot be all of it (None if its braces balance as
    the old text's do): a fragment of a body the model sent instead of the whole, which
    would only reach the compiler as `unexpected closing delimiter`."""
    want, got = _brace_balance(region.text(source)), _brace_balance(new)
    if want == got:
        return None
    more = "`}`" if got < want else "`{`"
    return (
        f"the new text of `{region.name}` has {abs(got - want)} more {more} than it can have "
        "(a fragment, not the whole of it); reply with all of its lines, or with "
        "SEARCH/REPLACE blocks"
    )


def outside_change(before: str, after: str, region: Region) -> str | None:
    """Where `after` differs from `before` outside `region` (a region of `before`), as a
    sentence; None when every line before and after the region is unchanged."""
    old = before.splitlines()
    new = after.splitlines()
    head, tail = old[: region.start], old[region.end :]
    for n, line in enumerate(head):
        if n >= len(new) or new[n] != line:
            return f"line {n + 1} (before the region) changed"
    if len(new) - len(head) < len(tail):
        return f"lines after the region (from line {region.end + 1}) were removed"
    for n, (was, now) in enumerate(zip(tail, new[len(new) - len(tail) :], strict=True)):
        if was != now:
            return f"line {region.end + n + 1} (after the region) changed"
    return None


def check(
    before: str, after: str, region_name: str, problem: Any, allow_unsafe: bool = False
) -> dict[str, Any]:
    """The Verifier's check of an edited kernel: inside the named region of `before`, and
    through the static gate. {'ok', 'kind': 'edit', 'region', 'detail', 'gate'}."""
    try:
        region = find_region(before, region_name)
    except EditError as exc:
        return {"ok": False, "kind": "edit", "region": region_name, "detail": str(exc)}
    out = outside_change(before, after, region)
    if out:
        return {
            "ok": False,
            "kind": "edit",
            "region": region_name,
            "detail": f"the edit leaves region {region_name!r} ({region.lines}): {out}",
        }
    gate = policy.gate(after, problem, allow_unsafe)
    return {
        "ok": gate.ok,
        "kind": "edit",
        "region": region_name,
        "detail": gate.reason or f"inside region {region_name!r}; passes the static gate",
        "gate": gate.to_dict(),
    }


def unified_diff(before: str, after: str, name: str = "kernel.rs", context: int = 3) -> str:
    """A unified diff of two kernel files ('' when equal)."""
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            f"best/{name}",
            f"edit/{name}",
            n=context,
        )
    )


# --------------------------------------------------------------------------- the prompt
EDIT_ROLE = (
    "Your role: Coder. Change ONLY the region of the current best kernel shown below, to "
    "implement the proposal. Reply in one of two ways and nothing else: the region's "
    "complete new text in one ```rust block (every line of it, changed as the proposal "
    "says), or one or more edit blocks:\n"
    "<<<<<<< SEARCH\n"
    "lines copied exactly from the region\n"
    "=======\n"
    "the new lines\n"
    ">>>>>>> REPLACE\n"
    "SEARCH must match the region's lines exactly (same order, a few lines, enough to be "
    "unique). The result must differ from the region as shown. Keep every name the rest "
    "of the file uses. Safe Rust only."
)


_ITEM = re.compile(r"^\s*(pub(\(\w+\))?\s+)?(const|static|use|type)\b")


def context_of(source: str, region: Region) -> list[str]:
    """What the model needs besides the region, outside it: `use` and `const` lines, enum
    and struct names, and the one-line signatures of the other functions."""
    lines = source.splitlines()
    inside = range(region.start, region.end)
    out: list[str] = []
    for n, line in enumerate(lines):
        if n in inside:
            continue
        if _ITEM.match(line):
            out.append(line.split("//")[0].rstrip() if "@param" in line else line.rstrip())
        elif m := re.match(r"^\s*(pub\s+)?(enum|struct)\s+(\w+)", line):
            out.append(f"{m[2]} {m[3]} {{ … }}")
    for f in functions(source):
        if f.first in inside:
            continue
        sig = " ".join(ln.strip() for ln in lines[f.first : f.open + 1])
        sig = sig.split("{")[0].strip().rstrip(",")
        sig = re.sub(r"\(\s+", "(", re.sub(r",\s*\)", ")", sig))
        out.append(sig + ";")
    return out


LINES_ROLE = (
    "Your role: Coder. Change ONLY the region of the current best kernel shown below, to "
    "implement the proposal. Its lines are numbered. Reply with one to three edit blocks and "
    "nothing else, each: a line `REPLACE first-last` (the numbers, as shown, of the first "
    "and the last line the block replaces: find the lines the change needs), the new lines "
    "that take their place (without numbers or fences), and a line `END`. To add lines, "
    "replace a line with itself plus the new ones. The "
    "result must differ from the region as shown. Keep every name the rest of the file "
    "uses. Safe Rust only."
)


def show(text: str, fmt: str) -> str:
    """A part's text as the Coder sees it in format `fmt` (`FORMATS`): numbered lines for
    "lines", else as it is; fenced as Rust."""
    body = numbered(text) if fmt == "lines" else text.rstrip()
    return f"```rust\n{body}\n```"


def edit_messages(
    preamble: str,
    proposal: dict[str, Any],
    source: str,
    region: Region,
    feedback: list[str],
    fmt: str = "blocks",
) -> list[tuple[str, str]]:
    """The Coder's messages for an edit in format `fmt` (`FORMATS`): the file's outline and
    the region's text (first: the same for every edit of that region of the same best
    kernel, so llama.cpp reuses the processed prefix), then the proposal."""
    where = f" (inside fn {region.function})" if region.function else ""
    if region.within:
        where = f" (the body of fn {region.function}, in region `{region.within}`)"
    lines = [
        "The rest of the file (read-only):\n" + "\n".join(context_of(source, region)),
        f"Region `{region.name}`{where}, the only lines you may change:\n"
        + show(region.text(source), fmt),
        f"Proposal: {proposal.get('title', '')}",
        f"Idea: {proposal.get('idea', '')}",
    ]
    recipe = next((r for r in RECIPES if r.title == proposal.get("title")), None)
    if recipe is not None and recipe.example:
        lines.append(
            "How such a change reads on another loop (other names; change the region's own "
            f"lines the same way):\n```rust\n{recipe.example.rstrip()}\n```"
        )
    if feedback:
        lines.append("Reviewer feedback: " + " ".join(feedback[-2:]))
    lines.append(
        "Reply with REPLACE a-b … END blocks for the numbered lines."
        if fmt == "lines"
        else "Reply with the region's complete new text in one ```rust block, or with "
        "SEARCH/REPLACE blocks for it."
    )
    role = LINES_ROLE if fmt == "lines" else EDIT_ROLE
    return [("system", preamble + role), ("user", "\n\n".join(lines))]


def _how_to_fix(fmt: str) -> str:
    if fmt == "lines":
        return "Fix it with REPLACE a-b … END blocks against these numbered lines."
    return "Fix it with SEARCH/REPLACE blocks against these lines."


def repair_message(error: EditError | str, region: str, fmt: str = "blocks") -> str:
    """The Coder's next prompt after an edit that did not apply or did not pass a check."""
    again = (
        f"Reply again with REPLACE a-b … END blocks for region `{region}`'s numbered lines."
        if fmt == "lines"
        else f"Reply again with region `{region}`'s complete new text in one ```rust block, "
        "or with SEARCH/REPLACE blocks whose SEARCH lines are copied exactly from it."
    )
    return f"That edit could not be used: {error}\n{again}"


GRAMMAR = r"""
root    ::= block (blank block){0,3}
blank   ::= "\n"?
block   ::= "<<<<<<< SEARCH\n" line+ "=======\n" line* ">>>>>>> REPLACE\n"
line    ::= ( [ \t]* [^<=> \t\n] [^\n]* )? "\n"
"""
"""GBNF for a reply of one to four SEARCH/REPLACE blocks and nothing else (llama.cpp
grammars; a code line may not start with <, = or > after its indentation)."""

LINES_GRAMMAR = r"""
root    ::= block block? block?
block   ::= "REPLACE " num "-" num "\n" line* "END\n"
num     ::= [1-9] [0-9]? [0-9]?
line    ::= ( [ \t]+ [^`\n] [^\n]* | [^ER` \t\n] [^\n]* )? "\n"
"""
"""GBNF for a reply of one to three line edits (`REPLACE a-b` … `END`) and nothing else; a
new line may not start with E or R unless indented (so only END ends a block, and a block
cannot swallow the next one's header), nor be a code fence."""


# --------------------------------------------------------------------------- the Coder's edit path
def choose_region(source: str, wanted: str | None, text: str = "") -> str:
    """The region a proposal edits: the one it names (or the closest name), else one its
    `text` (title and idea) names (`Loop nest.gemm_rows: …` with no region given), else the
    micro-kernel's, else the first. EditError when the kernel has no regions."""
    try:
        names = [r.name for r in parts(source)]
    except RegionError as exc:
        raise EditError(f"the kernel's region markers are broken: {exc}") from None
    if not names:
        raise EditError("the kernel has no editable region (no function with a body)")
    if wanted:
        wanted = wanted.strip().strip("`").removeprefix("fn ").strip()
        if m := re.match(r"[A-Za-z_][\w.-]*", wanted):  # `x.rank1 (4 lines, …)` copied whole
            wanted = m[0]
        if wanted in names:
            return wanted
        # a function named without its region: `rank1` for `micro_kernel.rank1`
        by_function = [n for n in names if n.endswith("." + wanted)]
        if len(by_function) == 1:
            return by_function[0]
        close = difflib.get_close_matches(wanted, names, n=1, cutoff=0.5)
        if close:
            return close[0]
    said = re.sub(r"[\s-]+", "_", text.lower())
    named = [n for n in names if n.lower() in said]
    if named:  # the longest: `loop_nest.gemm_rows` before `loop_nest`
        return max(named, key=len)
    return "micro_kernel" if "micro_kernel" in names else names[0]


def build_repair_message(
    verdict: str, reason: str, detail: str, region: str, now: str, fmt: str = "blocks"
) -> str:
    """The Coder's next prompt after an applied edit failed to build or gave wrong results:
    the failure, and the region as it now reads (the next blocks apply to that text)."""
    detail = detail.strip()
    if len(detail) > 1200:
        detail = detail[:1200] + "\n…"
    head = f"The edited kernel failed ({verdict}): {reason}\n" + (f"{detail}\n" if detail else "")
    return head + region_now(region, now, fmt)


def region_now(region: str, now: str, fmt: str = "blocks") -> str:
    """The tail of a repair prompt: the region as it now reads (the next edit applies to that
    text, shown in format `fmt`) and how to reply."""
    return f"Region `{region}` now reads:\n{show(now, fmt)}\n" + _how_to_fix(fmt)


@dataclass
class Attempt:
    """One reply of the Coder on the edit path: the edited kernel, or why there is none."""

    code: str | None
    error: str = ""
    """A repair prompt for the model when the edit did not apply."""
    applied: Applied | None = None
    whole_file: bool = False
    """The reply was a complete kernel file instead of an edit (taken as it is)."""
    unchanged: bool = False
    """The reply wrote its part back as it was."""


def budget(region_text: str, fmt: str = "blocks") -> int:
    """Tokens a reply may use: enough to write `region_text` out whole with room to change it
    (about 3.5 characters a token for Rust, plus half again), never below
    EditCoder.MAX_TOKENS. A reply cut at its limit dropped helper functions in the
    measurements of 2026-11-29. Line edits rewrite a few lines: EditCoder.LINES_TOKENS."""
    if fmt == "lines":
        return EditCoder.LINES_TOKENS
    return max(EditCoder.MAX_TOKENS, int(len(region_text) / 3.5 * 1.5) + 64)


class EditCoder:
    """The Coder writing search/replace edits to one region of the best kernel. Repairs go on
    from the last applied version, so a fix edits what the model last wrote."""

    MAX_TOKENS = 800
    """At least this many tokens per reply; more for a long region (`budget`)."""
    LINES_TOKENS = 320
    """A line-edit reply's limit: up to three blocks of a few lines (~45 s at 7 tokens/s)."""

    def __init__(
        self,
        problem: Any,
        machine: dict[str, Any],
        grammar: str | None = None,
        fmt: str = "blocks",
    ):
        if fmt not in FORMATS:
            raise ValueError(f"unknown edit format {fmt!r} (one of {FORMATS})")
        self.problem, self.machine, self.grammar, self.fmt = problem, machine, grammar, fmt
        self.history: list[Any] = []
        self.best = self.current = ""
        self.region = ""
        self.max_tokens = self.MAX_TOKENS

    def write(
        self,
        talk: Any,
        cancel: Any,
        proposal: dict[str, Any],
        best_code: str,
        feedback: list[str],
    ) -> Attempt:
        from roundtable_tui.core.prompts import preamble
        from roundtable_tui.llm.backend import Message

        self.best = self.current = best_code
        said = f"{proposal.get('title') or ''} {proposal.get('idea') or ''}"
        self.region = choose_region(best_code, proposal.get("region"), said)
        region = find_region(best_code, self.region)
        self.max_tokens = budget(region.text(best_code), self.fmt)
        pre = preamble(self.problem, self.machine)
        self.history = [
            Message(role, text)
            for role, text in edit_messages(pre, proposal, best_code, region, feedback, self.fmt)
        ]
        return self._ask(talk, cancel)

    def repair(self, talk: Any, cancel: Any, message: str) -> Attempt:
        """Another try after an edit that did not apply (`message` from `Attempt.error`)."""
        from roundtable_tui.llm.backend import Message

        self.history.append(Message("user", message))
        return self._ask(talk, cancel, temperature=0.6)

    def repair_failure(
        self, talk: Any, cancel: Any, verdict: str, reason: str, detail: str
    ) -> Attempt:
        """Another try after the edited kernel failed to build or gave wrong results."""
        now = find_region(self.current, self.region).text(self.current)
        return self.repair(
            talk, cancel, build_repair_message(verdict, reason, detail, self.region, now, self.fmt)
        )

    def _ask(self, talk: Any, cancel: Any, temperature: float = 0.2) -> Attempt:
        from roundtable_tui.llm.backend import Message

        extra = {"grammar": self.grammar} if self.grammar else {}
        done = talk(
            self.history, cancel, max_tokens=self.max_tokens, temperature=temperature, **extra
        )
        self.history.append(Message("assistant", done.text))
        if len(self.history) > 4:  # the first request and the latest exchange
            self.history = self.history[:2] + self.history[-2:]
        if not _SEARCH_ANYWHERE.search(done.text) and not _LINES_ANYWHERE.search(done.text):
            # a model that rewrites the whole file anyway: taken as a new kernel, not an edit
            from roundtable_tui.core.agents import extract_code, make_public

            name = self.problem.name
            whole = extract_code(done.text, name)
            if whole is not None and re.search(rf"\bfn\s+{re.escape(name)}\s*\(", whole):
                self.current = make_public(whole, name)
                return Attempt(self.current, whole_file=True)
        try:
            applied = apply_edit(self.current, parse_edit(done.text, self.region))
        except EditError as exc:
            message = repair_message(exc, self.region, self.fmt)
            if self.current != self.best:  # the blocks apply to the last version
                try:
                    now = find_region(self.current, self.region).text(self.current)
                    message += f"\nRegion `{self.region}` now reads:\n{show(now, self.fmt)}"
                except EditError:  # a whole file the model wrote has no such region
                    self.current = self.best
            return Attempt(None, message, unchanged=isinstance(exc, Unchanged))
        self.current = applied.code
        return Attempt(applied.code, applied=applied)


_SEARCH_ANYWHERE = re.compile(r"^\s*<{5,9}\s*SEARCH\s*$", re.M)
_LINES_ANYWHERE = re.compile(_LINES.pattern, re.M)
_WHOLE_FILE_ASK = re.compile(r"\s*(Fix it\. )?Reply with the whole.*\Z", re.S)


class EditWriter:
    """The Manager's writer for code proposals (`agents.Writer`): an edit of one region of
    the best kernel. A reply that does not apply, and a kernel that fails its checks, go
    back as repairs phrased for the edit format. `failure` says why the last reply gave no
    kernel; `region` is the region the last kernel changed (None when the model rewrote the
    whole file instead, which is taken as a new kernel and repaired as one). `gave_up` says
    why no repair is worth asking for (the Manager ends the attempt): a reply that wrote its
    part back unchanged. Told so and shown the idea again, the embedded model repeated the
    part unchanged twice more, 25–140 s each, in most such iterations."""

    repairable = True

    def __init__(
        self,
        problem: Any,
        machine: dict[str, Any],
        grammar: str | None = None,
        whole_file: Any = None,
        fmt: str = "blocks",
    ):
        self.coder = EditCoder(problem, machine, grammar, fmt)
        self.whole_file = whole_file
        """The writer used instead when the best kernel has no region to edit."""
        self.failure = ""
        self.gave_up = ""
        self.region: str | None = None
        self._delegated = False
        self._rewrote = False

    def write(self, job: Any) -> Any:
        from roundtable_tui.core.agents import Draft

        proposal = job.proposal
        request = {"title": proposal.title, "idea": proposal.idea, "region": proposal.region}
        self._delegated, self.gave_up = False, ""
        try:
            attempt = self.coder.write(job.talk, job.cancel, request, job.best_code, job.feedback)
        except EditError as exc:  # the best kernel has no usable region
            self.region = None
            if self.whole_file is not None:
                self._delegated, self.failure = True, ""
                return self.whole_file.write(job)
            self.failure = f"no edit possible: {exc}"
            return Draft(None)
        self._note(attempt)
        return Draft(attempt.code, region=self.region)

    def repair(self, job: Any, message: str) -> str | None:
        if self._delegated:
            return self.whole_file.repair(job, message)
        if self.failure:  # the last reply did not apply: say exactly why
            attempt = self.coder.repair(job.talk, job.cancel, self.failure)
        elif self._rewrote:  # a whole file the model wrote: repaired as a whole file
            attempt = self.coder.repair(job.talk, job.cancel, message)
        else:  # the gate, the build or the checker refused the edited kernel
            why = _WHOLE_FILE_ASK.sub("", message).strip()
            now = find_region(self.coder.current, self.coder.region).text(self.coder.current)
            tail = region_now(self.coder.region, now, self.coder.fmt)
            attempt = self.coder.repair(job.talk, job.cancel, f"{why}\n{tail}")
        self._note(attempt)
        return attempt.code

    def _note(self, attempt: Attempt) -> None:
        self.failure = attempt.error
        if attempt.unchanged:
            self.gave_up = (
                f"the Coder wrote `{self.coder.region}` back unchanged: the idea was not "
                "carried out"
            )
        if attempt.code is not None:
            self._rewrote = attempt.whole_file
            self.region = None if attempt.whole_file else self.coder.region
