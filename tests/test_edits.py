"""Edits to the best kernel: regions, search/replace blocks, the region and gate checks."""

from __future__ import annotations

import re

import pytest

from roundtable_tui.config import PROJECT_ROOT
from roundtable_tui.core import edits
from roundtable_tui.core.edits import Block, Edit, EditError, RegionError
from roundtable_tui.kernels import problems, templates

SGEMM = problems.get("sgemm")


def sgemm_template() -> str:
    return next(f for f in templates.families("sgemm") if f.name == "blis").instantiate({})


def block(search: str, replace: str, number: int = 1) -> Block:
    return Block(number, search, replace)


@pytest.mark.parametrize(
    "family",
    [
        f
        for p in ("sgemm", "matmul_forward", "matmul_backward", "binary_gemm")
        for f in templates.families(p)
    ],
    ids=lambda f: f.id,
)
def test_every_template_marks_its_regions_and_keeps_the_signature_outside(family):
    code = family.instantiate({})
    found = edits.regions(code)
    assert {"loop_nest", "micro_kernel", "packing"} <= {r.name for r in found}
    if family.name != "strassen":  # its threading is one parallel region per product
        assert {r.name for r in found} == {"threading", "loop_nest", "micro_kernel", "packing"}
    lines = code.splitlines()
    sig = next(n for n, line in enumerate(lines) if f"pub fn {family.problem}(" in line)
    for r in found:
        assert r.marked
        assert not r.start <= sig < r.end, f"{r.name} contains the public signature"
    spans = sorted((r.start, r.end) for r in found)
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False)), "regions overlap"


def test_a_kernel_without_markers_has_one_region_per_function_body():
    naive = problems.naive_kernel_path(SGEMM, PROJECT_ROOT / "rust_workspace").read_text()
    best = (PROJECT_ROOT / "bench" / "best" / "sgemm.rs").read_text()
    assert "@region" not in best
    names = [r.name for r in edits.regions(best)]
    assert names[:2] == ["sgemm", "gemm_rows"] and "micro_kernel" in names and "pack_a" in names
    (only,) = edits.regions(naive)
    assert only.name == "sgemm" and not only.marked
    lines = naive.splitlines()
    # the body only: neither the signature nor the closing brace
    assert "fn sgemm" not in "".join(lines[only.start : only.end])
    assert lines[only.end].strip() == "}"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("// @region a\n// @region b\n// @endregion\n", "do not nest"),
        ("// @region a\nfn f() {}\n", "has no `// @endregion`"),
        ("fn f() {}\n// @endregion\n", "without a region"),
        ("// @region a\n// @endregion\n// @region a\n// @endregion\n", "marked twice"),
    ],
)
def test_broken_markers_are_refused_with_the_line(text, says):
    with pytest.raises(RegionError, match=says):
        edits.regions(text)


def test_parse_reads_blocks_in_order_and_refuses_a_truncated_one():
    reply = (
        "Here:\n<<<<<<< SEARCH\n    a();\n=======\n    b();\n>>>>>>> REPLACE\n"
        "```rust\n<<<<<<< SEARCH\nc();\n=======\n>>>>>>> REPLACE\n```\n"
    )
    edit = edits.parse_edit(reply, "micro_kernel")
    assert [(b.number, b.search, b.replace) for b in edit.blocks] == [
        (1, "    a();\n", "    b();\n"),
        (2, "c();\n", ""),
    ]
    with pytest.raises(EditError, match=r"block 2: .*REPLACE"):
        edits.parse_edit(reply.split("```rust")[0] + "<<<<<<< SEARCH\nx\n=======\ny\n", "r")
    with pytest.raises(EditError, match="no `<<<<<<< SEARCH`"):
        edits.parse_edit("I would unroll the loop.", "r")
    whole = edits.parse_edit("```rust\nfn f() {}\n```", "micro_kernel")
    assert whole.whole == "fn f() {}\n" and not whole.blocks


def test_an_exact_block_changes_only_its_region_and_passes_the_gate():
    code = sgemm_template()
    edit = Edit(
        "micro_kernel",
        (
            block(
                "        for u in 0..KU {\n            rank1(&mut acc, &a_u[u], &b_u[u]);\n",
                "        for (av, bv) in a_u.iter().zip(b_u) {\n"
                "            rank1(&mut acc, av, bv);\n",
            ),
        ),
    )
    applied = edits.apply_edit(code, edit)
    assert applied.matches == ["exact"]
    assert "a_u.iter().zip(b_u)" in applied.code
    before = edits.find_region(code, "micro_kernel")
    assert edits.outside_change(code, applied.code, before) is None
    verdict = edits.check(code, applied.code, "micro_kernel", SGEMM)
    assert verdict["ok"], verdict["detail"]
    diff = edits.unified_diff(code, applied.code)
    body = diff.splitlines()[2:]  # after the ---/+++ header
    assert sum(ln.startswith("-") for ln in body) == 2
    assert sum(ln.startswith("+") for ln in body) == 2


def test_a_block_with_other_indentation_and_spacing_applies_reindented():
    code = sgemm_template()
    edit = Edit(
        "micro_kernel",
        (
            block(
                "for u in 0..KU {\nrank1(&mut acc,&a_u[u], &b_u[u]);\n}\n",
                "for u in 0..KU {\n    rank1(&mut acc, &a_u[u], &b_u[u]); // unrolled\n}\n",
            ),
        ),
    )
    applied = edits.apply_edit(code, edit)
    assert applied.matches == ["whitespace"]
    assert "            rank1(&mut acc, &a_u[u], &b_u[u]); // unrolled\n" in applied.code
    assert "        for u in 0..KU {\n" in applied.code


def test_an_ambiguous_block_names_every_place_it_matches():
    code = sgemm_template()
    region = edits.find_region(code, "micro_kernel")
    with pytest.raises(EditError) as err:
        edits.apply_edit(code, Edit("micro_kernel", (block("rank1(&mut acc, av, bv);", "x();"),)))
    assert err.value.block == 1
    assert "occurs 2 times" in str(err.value)
    lines = [
        n
        for n in range(region.start, region.end)
        if "rank1(&mut acc, av, bv);" in code.splitlines()[n]
    ]
    assert all(f"{n + 1}" in str(err.value) for n in lines)


def test_a_block_outside_the_region_is_refused_with_its_line():
    code = sgemm_template()
    line = next(n for n, t in enumerate(code.splitlines()) if "col[i] = rows[i][kk];" in t)
    with pytest.raises(EditError, match=rf"block 1: SEARCH matches line {line + 1}, outside"):
        edits.apply_edit(
            code, Edit("micro_kernel", (block("col[i] = rows[i][kk];", "col[0] = rows[i][kk];"),))
        )


def test_a_block_that_is_nowhere_reports_the_nearest_region_line():
    code = sgemm_template()
    second = Block(2, "let mut acc = [[0.0f64; NR]; MR];\n", "let mut acc = [[1.0f32; NR]; MR];\n")
    first = block("    if KU == 1 {\n", "    if KU == 1 && kc > 0 {\n")
    with pytest.raises(EditError) as err:
        edits.apply_edit(code, Edit("micro_kernel", (first, second)))
    assert err.value.block == 2
    assert err.value.nearest is not None
    number, text = err.value.nearest
    assert "let mut acc = [[0.0f32; NR]; MR];" in text
    assert code.splitlines()[number - 1] == text


def test_an_unknown_region_lists_the_regions_there_are():
    with pytest.raises(EditError, match="its regions: threading, loop_nest, micro_kernel, packing"):
        edits.apply_edit(sgemm_template(), Edit("epilogue", (block("a", "b"),)))


def test_the_region_check_catches_a_change_outside_and_the_gate_catches_unsafe():
    code = sgemm_template()
    moved = re.sub(r"const KC: usize = \d+;", "const KC: usize = 8;", code)
    assert moved != code
    verdict = edits.check(code, moved, "micro_kernel", SGEMM)
    assert not verdict["ok"] and "before the region" in verdict["detail"]
    tail = code.replace("fn pack_a(a: &[f32]", "fn pack_a(a: &[f32] ")
    verdict = edits.check(code, tail, "micro_kernel", SGEMM)
    assert not verdict["ok"] and "after the region" in verdict["detail"]
    bad = edits.apply_edit(
        code,
        Edit(
            "micro_kernel",
            (
                block(
                    "    let mut acc = [[0.0f32; NR]; MR];\n",
                    "    let mut acc = unsafe { std::mem::zeroed() };\n",
                ),
            ),
        ),
    )
    verdict = edits.check(code, bad.code, "micro_kernel", SGEMM)
    assert not verdict["ok"] and "unsafe" in verdict["detail"]


def test_a_whole_region_reply_replaces_the_region_but_a_whole_file_is_refused():
    naive = problems.naive_kernel_path(SGEMM, PROJECT_ROOT / "rust_workspace").read_text()
    body = (
        "    c[..m * n].fill(0.0);\n"
        "    for i in 0..m {\n"
        "        for p in 0..k {\n"
        "            for j in 0..n {\n"
        "                c[i * n + j] += a[i * k + p] * b[p * n + j];\n"
        "            }\n"
        "        }\n"
        "    }\n"
    )
    applied = edits.apply_edit(naive, edits.parse_edit(f"```rust\n{body}```", "sgemm"))
    assert applied.matches == ["whole"] and body in applied.code
    with pytest.raises(EditError, match="whole file"):
        edits.apply_edit(naive, edits.parse_edit(f"```rust\n{naive}```", "sgemm"))


def test_the_edit_prompt_holds_the_region_and_an_outline_not_the_other_bodies():
    code = sgemm_template()
    region = edits.find_region(code, "micro_kernel")
    (system, user) = edits.edit_messages(
        "PRE\n", {"title": "unroll", "idea": "by 4"}, code, region, []
    )
    assert system[1].startswith("PRE\n") and "SEARCH" in system[1]
    text = user[1]
    assert region.text(code).rstrip() in text
    assert "fn pack_a(a: &[f32], lda: usize, mc: usize, kc: usize, out: &mut [f32]);" in text
    assert "col[i] = rows[i][kk];" not in text  # pack_a's body is not shown
    assert len(text) < len(code) * 0.6


def test_the_proposer_is_offered_parts_not_the_regions_that_hold_them():
    code = sgemm_template()
    offered = [r.name for r in edits.targets(code)]
    # a region of several functions is offered as its functions; one without stays whole
    assert "micro_kernel" not in offered and "loop_nest" not in offered
    assert {"micro_kernel.rank1", "micro_kernel.micro_kernel", "threading"} <= set(offered)
    # still editable when a proposal names it
    assert edits.choose_region(code, "micro_kernel") == "micro_kernel"
    # no region given, one named in the title (the embedded model's reply in a real run)
    said = "Loop nest.gemm_rows: use rayon over rows. Replace the inner loop"
    assert edits.choose_region(code, None, said) == "loop_nest.gemm_rows"
    assert edits.choose_region(code, "", "unroll the micro kernel") == "micro_kernel"


def test_a_fragment_sent_as_a_parts_whole_text_goes_back_before_any_build():
    """The embedded model's repair in a real run: the tail of a loop nest, two `}` too many,
    sent as the whole of `loop_nest.macro_block`; it would reach the compiler only as
    `unexpected closing delimiter`."""
    code = sgemm_template()
    fragment = "```rust\n        tile(c, ir, jr);\n    }\n} else {\n    x();\n}\n```"
    with pytest.raises(edits.EditError, match="more `}` than it can have"):
        edits.apply_edit(code, edits.parse_edit(fragment, "loop_nest.macro_block"))
    # braces in strings, chars and comments do not count
    part = edits.find_region(code, "micro_kernel.rank1")
    body = part.text(code) + '    let _s = "{"; // }\n'
    applied = edits.apply_edit(code, edits.parse_edit(f"```rust\n{body}```", part.name))
    assert '"{"' in applied.code


def test_a_function_of_a_region_is_a_part_of_its_own_and_an_edit_stays_in_it():
    code = sgemm_template()
    names = [r.name for r in edits.parts(code)]
    assert names[:4] == ["threading", "loop_nest", "micro_kernel", "packing"]
    assert {"micro_kernel.rank1", "micro_kernel.micro_kernel", "packing.pack_a"} <= set(names)
    assert edits.choose_region(code, "rank1") == "micro_kernel.rank1"
    assert edits.choose_region(code, "`packing.pack_a (15)`") == "packing.pack_a"
    rank1 = edits.find_region(code, "micro_kernel.rank1")
    assert rank1.describe() == "micro_kernel.rank1 (5)" and rank1.function == "rank1"
    body = rank1.text(code)
    assert "mul_add" in body and "fn rank1" not in body and "fn micro_kernel" not in body
    # the whole body rewritten: applied inside it; the same change to the other function of
    # the region is outside the part and refused
    new = body.replace("for i in 0..MR {", "for i in (0..MR).rev() {")
    applied = edits.apply_edit(code, edits.parse_edit(f"```rust\n{new}```", rank1.name))
    assert edits.check(code, applied.code, rank1.name, SGEMM)["ok"]
    other = code.replace("let mut acc = [[0.0f32; NR]; MR];", "let mut acc = [[0.0; NR]; MR];")
    assert not edits.check(code, other, rank1.name, SGEMM)["ok"]
    # the reply may write the part out whole: its budget covers a long region, never less
    # than the floor
    assert edits.budget(body) == edits.EditCoder.MAX_TOKENS
    assert edits.budget("x" * 7000) > 2000


def test_the_grammar_is_valid_gbnf():
    llama_cpp = pytest.importorskip("llama_cpp")
    grammar = llama_cpp.LlamaGrammar.from_string(edits.GRAMMAR, verbose=False)
    assert grammar is not None


def test_every_kernel_on_record_has_regions_to_edit():
    """Kernels the loop kept (example sessions, bench/best) parse into regions, markers or not."""
    files = sorted(
        [
            *PROJECT_ROOT.glob("sessions/examples/*/kernels/*.rs"),
            *PROJECT_ROOT.glob("bench/best/*.rs"),
        ]
    )
    assert len(files) > 20
    for path in files:
        assert edits.regions(path.read_text()), path


def test_a_reply_that_writes_its_part_back_unchanged_is_refused_as_unchanged():
    code = sgemm_template()
    part = edits.find_region(code, "micro_kernel.rank1")
    whole = f"```rust\n{part.text(code)}```"
    with pytest.raises(edits.Unchanged, match="changes nothing"):
        edits.apply_edit(code, edits.parse_edit(whole, part.name))


def test_a_part_only_reindented_is_unchanged():
    """The embedded model's threading "edit" moved the region's lines flush left and passed:
    nothing that runs had changed. A change of a comment still counts."""
    code = sgemm_template()
    part = edits.find_region(code, "threading")
    flush = "".join(ln.lstrip() + "\n" for ln in part.text(code).splitlines())
    with pytest.raises(edits.Unchanged):
        edits.apply_edit(code, edits.parse_edit(f"```rust\n{flush}```", part.name))
    spaced = part.text(code).replace("SPLIT_TASKS.max(1)", "SPLIT_TASKS.max( 1 )")
    with pytest.raises(edits.Unchanged):
        edits.apply_edit(code, edits.parse_edit(f"```rust\n{spaced}```", part.name))
    noted = part.text(code).replace("match PAR {", "match PAR { // by PAR", 1)
    applied = edits.apply_edit(code, edits.parse_edit(f"```rust\n{noted}```", part.name))
    assert "// by PAR" in applied.code


def test_a_piece_of_the_part_sent_back_as_it_is_is_unchanged_not_a_fragment():
    """The embedded model, asked to change pack_a's edge case, sent that `else` branch back
    unchanged (one `}` too many for the part) three times; a changed fragment is put in
    where it stands."""
    code = sgemm_template()
    part = edits.find_region(code, "packing.pack_a")
    lines = part.text(code).splitlines(keepends=True)
    start = next(n for n, ln in enumerate(lines) if "} else {" in ln) + 1
    piece = "".join(lines[start:-1])  # the branch's loop and its closing `}`
    assert edits._brace_balance(piece) < 0
    with pytest.raises(edits.Unchanged):
        edits.apply_edit(code, edits.parse_edit(f"```rust\n{piece}```", part.name))
    changed = piece.replace("0.0", "0.0f32", 1)
    applied = edits.apply_edit(code, edits.parse_edit(f"```rust\n{changed}```", part.name))
    assert applied.matches == ["splice"]
    assert applied.region.text(applied.code) == part.text(code).replace("0.0", "0.0f32", 1)


def test_a_changed_fragment_is_put_in_where_its_first_line_stands():
    """Asked for "edge panel without a branch", the embedded model sent the new `else`
    branch alone. A fragment whose first line stands once in the part (or whose following
    lines single one place out) replaces the lines from there to its matching end; one that
    could stand in two places is still refused."""
    code = sgemm_template()
    part = edits.find_region(code, "packing.pack_a")
    old = part.text(code)
    branch = (
        "} else {\n"
        "    for (kk, col) in cols.iter_mut().enumerate() {\n"
        "        for i in 0..h {\n"
        "            col[i] = a[(i0 + i) * lda + kk];\n"
        "        }\n"
        "        col[h..].fill(0.0);\n"
        "    }\n"
        "}\n"
    )  # flush left, as the model sends it
    applied = edits.apply_edit(code, edits.parse_edit(f"```rust\n{branch}```", part.name))
    assert applied.matches == ["splice"]
    new = applied.region.text(applied.code)
    assert "col[h..].fill(0.0);" in new and "if i < h" not in new
    # the full-panel branch is kept, and the new one takes the old one's indentation
    assert "col[i] = rows[i][kk];" in new
    was = next(ln for ln in old.splitlines() if "} else {" in ln)
    assert next(ln for ln in new.splitlines() if "} else {" in ln) == was
    assert "\n" + was.replace("} else {", "    for (kk, col)") in new
    assert new.count("} else {") == 1 and edits._brace_balance(new) == edits._brace_balance(old)
    assert edits.check(code, applied.code, part.name, SGEMM)["ok"]
    # a balanced piece without the part's first line: the inner loop of the full branch
    inner = "for i in 0..MR {\n    col[i] = rows[i][kk] * 1.0;\n}\n"
    applied = edits.apply_edit(code, edits.parse_edit(f"```rust\n{inner}```", part.name))
    body = applied.region.text(applied.code)
    assert "rows[i][kk] * 1.0" in body and "if i < h" in body  # the edge branch untouched


def test_a_body_sent_with_its_functions_own_lines_is_taken_without_them():
    """The embedded model sent `macro_block`'s body with the function's closing `}` (three
    times in a row, each refused as a fragment); with its signature too, it read as a whole
    file. Both are the body: here unchanged, so the attempt ends at once."""
    code = sgemm_template()
    part = edits.find_region(code, "loop_nest.macro_block")
    body = part.text(code)
    with pytest.raises(edits.Unchanged):
        edits.apply_edit(code, edits.parse_edit(f"```rust\n{body}}}\n```", part.name))
    lines = code.splitlines(keepends=True)
    head = next(i for i in range(part.start, -1, -1) if "fn macro_block" in lines[i])
    whole = (
        "".join(lines[head : part.start])
        + body.replace("tile(c, ir, jr);", "tile(c, ir, jr); // x", 1)
        + "}\n"
    )
    applied = edits.apply_edit(code, edits.parse_edit(f"```rust\n{whole}```", part.name))
    assert applied.matches == ["whole"] and "// x" in applied.code
    assert applied.code.count("fn macro_block") == 1
    # a body whose braces are short for another reason (not a closing `}` at its end) is
    # still refused
    with pytest.raises(EditError, match="more `}`"):
        edits.apply_edit(code, edits.parse_edit(f"```rust\n    }}\n{body}```", part.name))


def test_a_compiler_message_sent_as_code_is_refused_before_any_build():
    """Asked to fix a build error, the embedded model replied with the error itself in a
    Rust block; it reached the compiler as a kernel (`unknown start of token`)."""
    code = sgemm_template()
    reply = (
        "```rust\nerror[E0277]: the size for values of type `[f32]` cannot be known\n"
        "   --> kernel.rs:205:17\n```"
    )
    with pytest.raises(EditError, match="compiler's message"):
        edits.parse_edit(reply, "micro_kernel.rank1")
    with pytest.raises(EditError, match="compiler's message"):
        edits.parse_edit("```rust\nwarning: unused variable: `x`\n```", "micro_kernel.rank1")
    part = edits.find_region(code, "micro_kernel.rank1").text(code)
    ok = part.replace("for i in 0..MR", "for i in 0..MR  // error: none", 1)
    assert edits.parse_edit(f"```rust\n{ok}```", "micro_kernel.rank1").whole == ok


# ------------------------------------------------------------------ line edits
def test_a_line_edit_replaces_the_numbered_lines_of_its_part_only():
    code = sgemm_template()
    part = edits.find_region(code, "micro_kernel.micro_kernel")
    shown = edits.numbered(part.text(code)).splitlines()
    assert shown[0].startswith("1| ") or shown[0].startswith(" 1| ")
    old = part.text(code).splitlines()
    # a reply that copies the numbers and writes flush left: numbers dropped, indented as
    # the line it replaces
    reply = f"REPLACE 2-2\n2| {old[1].strip()}  // same\nEND\n"
    edit = edits.parse_edit(reply, part.name)
    assert edit.blocks[0].span == (2, 2)
    applied = edits.apply_edit(code, edit)
    new = applied.region.text(applied.code).splitlines()
    assert new[1] == old[1].rstrip() + "  // same" and applied.matches == ["lines"]
    assert len(new) == len(old) and new[0] == old[0] and new[2:] == old[2:]
    assert edits.check(code, applied.code, part.name, SGEMM)["ok"]


def test_several_line_edits_use_the_numbers_as_shown_not_as_shifted():
    code = sgemm_template()
    part = edits.find_region(code, "micro_kernel.rank1")  # 5 lines
    old = part.text(code).splitlines()
    # block 1 grows line 1 into three lines; block 2 still means the original line 3
    reply = (
        "REPLACE 1-1\n    // a\n    // b\n" + old[0] + "\nEND\n"
        "REPLACE 3\n            acc[i][j] = b[j].mul_add(a[i], acc[i][j]);\nEND\n"
    )
    applied = edits.apply_edit(code, edits.parse_edit(reply, part.name))
    new = applied.region.text(applied.code).splitlines()
    assert new[:3] == ["    // a", "    // b", old[0]]
    assert new[4].strip() == "acc[i][j] = b[j].mul_add(a[i], acc[i][j]);"
    assert new[3] == old[1] and new[5:] == old[3:]


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        ("REPLACE 4-9\nx;\nEND\n", "outside the part's lines 1-5"),
        ("REPLACE 3-2\nx;\nEND\n", "outside the part's lines 1-5"),
        ("REPLACE 1-3\nx;\nEND\nREPLACE 3-4\ny;\nEND\n", "overlap block 1"),
        ("REPLACE 3-3\nfor k in 0..NR {\nEND\n", "unmatched `{`"),
        ("REPLACE 1-1\nx;\n", "no `END` line"),
        # an END left out: the next header closes the block, and the ranges still count
        ("REPLACE 1-2\nx;\nREPLACE 2-3\ny;\nEND\n", "overlap block 1"),
    ],
)
def test_a_line_edit_that_cannot_be_right_goes_back_before_any_build(reply, says):
    code = sgemm_template()
    with pytest.raises(EditError, match=re.escape(says)):
        edits.apply_edit(code, edits.parse_edit(reply, "micro_kernel.rank1"))


def test_an_unbalanced_search_replace_block_is_refused_too():
    code = sgemm_template()
    line = "            acc[i][j] = a[i].mul_add(b[j], acc[i][j]);\n"
    reply = f"<<<<<<< SEARCH\n{line}=======\n{line}        }}\n>>>>>>> REPLACE\n"
    with pytest.raises(EditError, match="unmatched"):
        edits.apply_edit(code, edits.parse_edit(reply, "micro_kernel.rank1"))


def test_the_line_format_prompt_numbers_the_part_and_its_grammar_is_valid():
    code = sgemm_template()
    part = edits.find_region(code, "micro_kernel.rank1")
    system, user = edits.edit_messages(
        "pre\n", {"title": "t", "idea": "i"}, code, part, [], "lines"
    )
    assert "REPLACE first-last" in system[1] and "SEARCH" not in system[1]
    assert "3|             acc[i][j]" in user[1] and "REPLACE a-b" in user[1]
    again = edits.repair_message(EditError("x"), part.name, "lines")
    assert "REPLACE a-b" in again and "SEARCH" not in again
    assert edits.budget(part.text(code), "lines") == edits.EditCoder.LINES_TOKENS
    llama_cpp = pytest.importorskip("llama_cpp")
    assert llama_cpp.LlamaGrammar.from_string(edits.LINES_GRAMMAR, verbose=False) is not None


def test_recipes_come_least_tried_first_and_retire_when_made_or_tried_twice():
    family = next(f for f in templates.families("sgemm") if f.name == "blis")
    code = family.instantiate({"unroll_k": 2, "parallel": "split"})
    first = [r.title for _part, r in edits.recipes(code, [], limit=10)]
    assert first == [r.title for r in edits.RECIPES]  # every recipe fits the template
    once = ["unroll k by 4 (four rank-1 calls)", "x two accumulator sets"]
    again = [r.title for _part, r in edits.recipes(code, once, limit=10)]
    assert again[-2:] == ["two accumulator sets", "unroll k by 4"]
    made = ["at least 4 tasks", "tasks from the thread count"]
    tried = [r.title for _part, r in edits.recipes(code, once * 2, made, 10)]
    assert tried == ["edge panel without a branch"]
    parts = dict((r.title, part) for part, r in edits.recipes(code, [], limit=10))
    assert parts["two accumulator sets"] == "micro_kernel.micro_kernel"
    assert parts["at least 4 tasks"] == "threading"
    assert edits.recipes("fn f() {\n    // @region x\n}\n", []) == []  # broken markers


def test_recipes_whose_code_does_not_run_in_the_kernel_are_not_offered():
    """At the template's defaults here (one k step at a time, parallel by blocks) the loop
    over KU steps and the Split arm never run: an edit there passes and changes nothing."""
    family = next(f for f in templates.families("sgemm") if f.name == "blis")
    offered = {r.title for _p, r in edits.recipes(sgemm_template(), [], limit=10)}
    assert offered == {"edge panel without a branch"}
    unrolled = {r.title for _p, r in edits.recipes(family.instantiate({"unroll_k": 2}), [], [], 9)}
    assert {"unroll k by 4", "two accumulator sets"} <= unrolled
    assert not {"at least 4 tasks", "tasks from the thread count"} & unrolled
    for problem in ("matmul_forward", "matmul_backward", "binary_gemm"):
        # one loop over groups of KU steps, no branch for KU = 1: it runs at every KU
        fam = templates.families(problem)[0]
        code = fam.instantiate({"unroll_k": 1})
        assert "const KU: usize = 1;" in code and "if KU == 1" not in code, problem
        titles = {r.title for _p, r in edits.recipes(code, [], limit=10)}
        assert {"unroll k by 4", "two accumulator sets"} <= titles, problem
        assert "at least 4 tasks" not in titles, problem
