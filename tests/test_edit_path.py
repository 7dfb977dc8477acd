"""The Coder's edit path with a scripted model: blocks that do not apply go back as repairs,
a repair after a failed build edits the last version, and the edited kernel builds and
passes the real checker."""

from __future__ import annotations

import threading

from roundtable_tui.core import edits
from roundtable_tui.core.agents import Talk
from roundtable_tui.core.events import Agent, Kind
from roundtable_tui.kernels import templates
from roundtable_tui.kernels.checker import Checker
from roundtable_tui.llm.scripted import ScriptedBackend

from .scripted import SGEMM, SMALL

MACHINE = {"cores": 2, "simd": "AVX2"}
PROPOSAL = {
    "title": "unroll k by 2 by hand",
    "kind": "code",
    "region": "micro kernel",  # a near miss of the name: the closest region is taken
    "idea": "two explicit rank-1 updates per step",
}
# what a small model writes: SEARCH lines that are not quite the region's
MISSED = """<<<<<<< SEARCH
        for u in 0..KU {
            rank1(&mut acc, a_u[u], b_u[u]);
        }
=======
        rank1(&mut acc, &a_u[0], &b_u[0]);
>>>>>>> REPLACE
"""
# and then, told the nearest line, a block that applies (indentation off by four)
APPLIES = """<<<<<<< SEARCH
    for u in 0..KU {
        rank1(&mut acc, &a_u[u], &b_u[u]);
    }
=======
    for (av, bv) in a_u.iter().zip(b_u) {
        rank1(&mut acc, av, bv);
    }
>>>>>>> REPLACE
"""


def best() -> str:
    family = next(f for f in templates.families("sgemm") if f.name == "blis")
    return family.instantiate({"unroll_k": 2})


def coder(*texts: str) -> tuple[ScriptedBackend, Talk, list]:
    backend = ScriptedBackend([{"tag": "coder", "text": t} for t in texts])
    events: list = []
    return backend, Talk(backend, events.append, Agent.CODER, 1), events


def test_a_block_that_does_not_apply_goes_back_with_the_nearest_line_then_applies():
    code = best()
    backend, talk, _ = coder(MISSED, APPLIES)
    writer = edits.EditCoder(SGEMM, MACHINE)
    first = writer.write(talk, threading.Event(), PROPOSAL, code, [])
    assert writer.region == "micro_kernel"
    assert first.code is None
    assert "block 1: SEARCH is not in the region" in first.error
    assert "rank1(&mut acc, &a_u[u], &b_u[u]);" in first.error  # the nearest line
    prompt = backend.calls[0][1][-1].content
    assert edits.find_region(code, "micro_kernel").text(code).rstrip() in prompt
    assert "fn pack_a(" in prompt and "col[i] = rows[i][kk];" not in prompt

    second = writer.repair(talk, threading.Event(), first.error)
    assert backend.calls[1][1][-1].content == first.error
    assert second.code is not None and second.applied is not None
    assert second.applied.matches == ["whitespace"]
    assert "        for (av, bv) in a_u.iter().zip(b_u) {\n" in second.code
    verdict = edits.check(code, second.code, "micro_kernel", SGEMM)
    assert verdict["ok"], verdict["detail"]


def test_a_repair_after_a_failed_build_edits_the_last_version():
    code = best()
    broken = APPLIES.replace("av, bv);", "av, bw);")  # a typo the compiler refuses
    fix = (
        "<<<<<<< SEARCH\n        rank1(&mut acc, av, bw);\n=======\n"
        "        rank1(&mut acc, av, bv);\n>>>>>>> REPLACE\n"
    )
    backend, talk, _ = coder(broken, fix)
    writer = edits.EditCoder(SGEMM, MACHINE)
    first = writer.write(talk, threading.Event(), PROPOSAL, code, [])
    assert first.code is not None and "av, bw" in first.code
    second = writer.repair_failure(
        talk, threading.Event(), "build_failed", "cannot find value `bw`", "error[E0425]"
    )
    sent = backend.calls[1][1][-1].content
    assert "cannot find value `bw`" in sent and "rank1(&mut acc, av, bw);" in sent
    assert second.code is not None and "av, bw" not in second.code
    assert edits.check(code, second.code, "micro_kernel", SGEMM)["ok"]


def test_the_applied_edit_builds_and_passes_the_checker():
    code = best()
    backend, talk, events = coder(APPLIES)
    attempt = edits.EditCoder(SGEMM, MACHINE).write(talk, threading.Event(), PROPOSAL, code, [])
    assert attempt.code is not None
    assert any(e.kind is Kind.MESSAGE for e in events)
    result = Checker().check(attempt.code, SGEMM, SMALL, threading.Event())
    assert str(result.verdict) == "passed", result.reason


# --------------------------------------------------------------------------- through the Manager
def run_session(tmp_path, replies, gate=None, iterations=1, backend=None, knowledge=None, **cfg):
    from roundtable_tui.core.manager import Manager, RunConfig
    from roundtable_tui.core.review import AutoPolicy
    from roundtable_tui.core.session import Session

    backend = backend or ScriptedBackend(replies)
    session = Session.create(tmp_path, {"problem": "sgemm", "model": "scripted"}, "e")
    events: list = []
    config = RunConfig(
        iterations=iterations,
        strategy="code",
        check=SMALL,
        start=best(),
        start_title="blis best",
        **cfg,
    )
    manager = Manager(
        session,
        backend,
        SGEMM,
        gate or AutoPolicy(),
        config,
        on_event=events.append,
        machine=MACHINE,
        knowledge=knowledge,
    )
    reason = manager.run(threading.Event())
    session.close()
    return events, reason, backend


def proposer_reply() -> dict:
    import json

    return {"tag": "proposer", "text": json.dumps({**PROPOSAL, "rationale": "fewer loop steps"})}


def test_the_manager_edits_the_best_kernel_repairs_a_missed_block_and_checks_the_edit(tmp_path):
    replies = [
        proposer_reply(),
        {"tag": "coder", "text": MISSED},
        {"tag": "coder", "text": APPLIES},
    ]
    events, reason, backend = run_session(tmp_path, replies)
    assert "iteration budget" in reason
    of = lambda kind: [e for e in events if e.kind is kind and e.iteration == 1]  # noqa: E731
    # the Proposer was told the regions, the Coder saw only the region
    assert "micro_kernel" in backend.calls[0][1][-1].content
    errors = [e.data["message"] for e in of(Kind.ERROR)]
    assert any("block 1: SEARCH is not in the region" in m for m in errors), errors
    gate = [e for e in of(Kind.VERIFICATION) if e.data.get("stage") == "code"]
    assert gate and gate[-1].data["ok"]
    (kernel,) = of(Kind.KERNEL)
    assert kernel.data["region"] == "micro_kernel"
    start = next(e.data["code"] for e in events if e.kind is Kind.KERNEL and e.iteration == 0)
    assert (
        edits.outside_change(start, kernel.data["code"], edits.find_region(start, "micro_kernel"))
        is None
    )
    (result,) = of(Kind.CHECK_RESULT)
    assert result.data["verdict"] == "passed", result.data["reason"]
    assert result.data["region"] == "micro_kernel"


def test_the_proposer_is_offered_recipes_least_tried_first_and_repeats_are_replaced(tmp_path):
    """The Proposer on the code path sees concrete changes that fit the kernel's parts, the
    least tried first, and the iterations that gave no kernel; a proposal that names a recipe
    gets its part and idea (the embedded model named `rank1` with the micro-kernel's "unroll
    k by 4", or copied a recipe's idea under another title); one that repeats an earlier
    title gets the least tried recipe; a Coder reply that writes its part back unchanged ends
    the attempt at once (no repair: the embedded model repeated such parts twice more)."""
    import json

    code = best()
    micro = edits.find_region(code, "micro_kernel.micro_kernel")
    rank1 = edits.find_region(code, "micro_kernel.rank1")
    unchanged = {"tag": "coder", "text": f"```rust\n{micro.text(code)}```"}
    unchanged_rank1 = {"tag": "coder", "text": f"```rust\n{rank1.text(code)}```"}
    pack_a = edits.find_region(code, "packing.pack_a")
    unchanged_pack_a = {"tag": "coder", "text": f"```rust\n{pack_a.text(code)}```"}
    pick = {
        "title": "micro_kernel.rank1",
        "kind": "code",
        "region": "micro_kernel.rank1",
        "idea": "Unroll k by 4",
        "rationale": "fewer loop steps",
    }
    # the idea of another recipe, copied under a part's name
    two_sets = next(r for r in edits.RECIPES if r.title == "two accumulator sets")
    copied = {**pick, "idea": "use a single accumulator set (" + two_sets.idea + ")"}
    own = {**pick, "title": "Register blocking with fixed arrays", "idea": "blocks"}
    replies = [
        {"tag": "proposer", "text": json.dumps(pick)},
        unchanged,
        {"tag": "proposer", "text": json.dumps(own)},
        unchanged_rank1,
        {"tag": "proposer", "text": json.dumps(own)},  # the same title again
        unchanged,
        {"tag": "proposer", "text": json.dumps(copied)},
        unchanged_pack_a,
    ]
    events, reason, backend = run_session(tmp_path, replies, iterations=4, repairs=2)
    assert "iteration budget" in reason
    prompts = [c[1][-1].content for c in backend.calls]
    assert len(prompts) == 8  # four proposals, one Coder reply each: no repair asked
    offered = [p.split("Code changes known to fit this kernel")[1] for p in prompts[::2]]
    assert offered[0].index("two accumulator sets") < offered[0].index("unroll k by 4")
    # tried once: after the two untried ones
    assert offered[1].index("unroll k by 4") > offered[1].index("edge panel without a branch")
    assert offered[1].index("unroll k by 4") > offered[1].index("two accumulator sets")
    assert "- unroll k by 4: no kernel (the Coder wrote" in prompts[2]
    assert "Region `micro_kernel.micro_kernel`" in prompts[1]
    assert "Idea: take the packed panels in groups of exactly four k steps" in prompts[1]
    proposals = [e.data for e in events if e.kind is Kind.PROPOSAL and e.iteration > 0]
    assert [p["title"] for p in proposals] == [
        "unroll k by 4",
        "Register blocking with fixed arrays",
        "two accumulator sets",  # the repeated title, replaced by the least tried recipe
        "edge panel without a branch",  # a recipe named by its idea, tried: the least tried
    ]
    assert [p["region"] for p in proposals] == [
        "micro_kernel.micro_kernel",
        "micro_kernel.rank1",
        "micro_kernel.micro_kernel",
        "packing.pack_a",
    ]
    errors = [e.data for e in events if e.kind is Kind.ERROR and e.data.get("step") == "code"]
    assert len(errors) == 4
    assert all("back unchanged" in e["message"] and not e["recoverable"] for e in errors)
    assert not [e for e in events if e.kind is Kind.KERNEL and e.iteration > 0]


def test_a_recipe_is_picked_by_its_title_and_takes_its_part_and_idea(tmp_path):
    """On the code path the Proposer may answer `{"recipe": TITLE}` (~10 tokens, where a
    proposal written out was 90-160); the schema offers only the listed titles, and the
    code path's schema asks no rationale."""
    import json

    schemas: list = []

    class Capturing(ScriptedBackend):
        def complete(self, messages, **kwargs):
            if kwargs.get("json_schema"):
                schemas.append(kwargs["json_schema"])
            return super().complete(messages, **kwargs)

    code = best()
    micro = edits.find_region(code, "micro_kernel.micro_kernel").text(code)
    unrolled = micro.replace("rank1(&mut acc, av, bv);\n", "rank1(&mut acc, av, bv); // x\n", 1)
    assert unrolled != micro
    replies = [
        {"tag": "proposer", "text": json.dumps({"recipe": "unroll k by 4"})},
        {"tag": "coder", "text": f"```rust\n{unrolled}```"},
    ]
    backend = Capturing(replies)
    events, _reason, _ = run_session(tmp_path, replies, backend=backend)
    (proposal,) = [e.data for e in events if e.kind is Kind.PROPOSAL and e.iteration == 1]
    assert proposal["title"] == "unroll k by 4"
    assert proposal["region"] == "micro_kernel.micro_kernel"
    assert proposal["idea"].startswith("take the packed panels in groups of exactly four")
    # the Coder sees how such a change reads on another loop, below the idea
    coder_prompt = backend.calls[1][1][-1].content
    assert "How such a change reads on another loop" in coder_prompt
    assert "xs.chunks_exact(4)" in coder_prompt
    (schema,) = schemas
    pick, written = schema["anyOf"]
    offered = pick["properties"]["recipe"]["enum"]
    assert "unroll k by 4" in offered and len(offered) == 3
    assert "rationale" not in written["properties"] and "rationale" not in written["required"]
    assert written["properties"]["kind"]["enum"] == ["code", "formulation"]  # no template
    prompt = backend.calls[0][1][-1].content
    assert 'answer {"recipe": "<its title>"}' in prompt
    assert [e for e in events if e.kind is Kind.KERNEL and e.iteration == 1]


def test_the_edit_paths_notes_stay_the_same_while_the_knowledge_base_grows(tmp_path):
    """The notes open the Proposer's prompt: retrieved anew each iteration (the knowledge
    base grows by every attempt), they broke llama.cpp's cached prefix right after the
    system prompt."""
    import json

    class Growing:
        def __init__(self) -> None:
            self.attempts, self.queries = 0, []

        def context(self, problem, query, budget_tokens):
            self.queries.append(query)
            return [{"id": f"a{i}", "text": f"past attempt {i}"} for i in range(self.attempts + 1)]

        def record(self, attempt):
            self.attempts += 1

    code = best()
    micro = edits.find_region(code, "micro_kernel.micro_kernel").text(code)
    new_text = micro.replace("rank1(&mut acc, av, bv);\n", "rank1(&mut acc, av, bv); // x\n", 1)
    changed = {"tag": "coder", "text": f"```rust\n{new_text}```"}
    replies = [
        {"tag": "proposer", "text": json.dumps({"recipe": "unroll k by 4"})},
        changed,
        {"tag": "proposer", "text": json.dumps({"recipe": "two accumulator sets"})},
        changed,
    ]
    memory = Growing()
    _events, _reason, backend = run_session(tmp_path, replies, iterations=2, knowledge=memory)
    assert memory.attempts >= 1 and len(memory.queries) == 1
    first, second = (c[1][-1].content for c in backend.calls if c[0] == "proposer")
    notes = first.split("\n\n")[0]
    assert "past attempt 0" in notes and notes == second.split("\n\n")[0]


def test_a_repeated_idea_with_no_recipe_left_is_asked_again_not_coded_again(tmp_path, monkeypatch):
    """With every recipe retired, the embedded model proposed one title for iterations 8-12
    and its Coder wrote the same part back each time; a repeat now goes back to the Proposer
    (a short reply) instead of to the Coder."""
    import json

    monkeypatch.setattr(edits, "RECIPES", ())
    code = best()
    rank1 = edits.find_region(code, "micro_kernel.rank1").text(code)
    unchanged = {"tag": "coder", "text": f"```rust\n{rank1}```"}
    own = {"title": "Avoid bounds checks", "kind": "code", "region": "micro_kernel.rank1"}
    replies = [
        {"tag": "proposer", "text": json.dumps({**own, "idea": "use iterators"})},
        unchanged,
        {"tag": "proposer", "text": json.dumps({**own, "idea": "use iterators again"})},
        {"tag": "proposer", "text": json.dumps({**own, "title": "Zip rows", "idea": "zip"})},
        unchanged,
    ]
    # the second answer names kind "parameters", which the code path has no template for
    replies[3]["text"] = replies[3]["text"].replace('"code"', '"parameters"')
    events, _reason, backend = run_session(tmp_path, replies, iterations=2)
    proposals = [e.data for e in events if e.kind is Kind.PROPOSAL and e.iteration > 0]
    assert [p["title"] for p in proposals] == ["Avoid bounds checks", "Zip rows"]
    assert [p["kind"] for p in proposals] == ["code", "code"]
    assert [p["region"] for p in proposals] == ["micro_kernel.rank1"] * 2
    asked = [c[1][-1].content for c in backend.calls if c[0] == "proposer"]
    assert asked[-1].startswith("Refused: 'Avoid bounds checks' was proposed already")
    assert [c[0] for c in backend.calls] == ["proposer", "coder", "proposer", "proposer", "coder"]


def test_a_run_whose_proposer_only_repeats_itself_stops_with_the_reason(tmp_path, monkeypatch):
    """Three iterations in a row vetoed as repeats end the run (the embedded model repeated
    one idea for 15 of 20 iterations); a vetoed repeat costs two Proposer replies each."""
    import json

    from roundtable_tui.core.manager import STALE_REPEATS

    monkeypatch.setattr(edits, "RECIPES", ())
    code = best()
    rank1 = edits.find_region(code, "micro_kernel.rank1").text(code)
    own = {"title": "Avoid bounds checks", "kind": "code", "region": "micro_kernel.rank1"}
    again = {"tag": "proposer", "text": json.dumps({**own, "idea": "use iterators"})}
    replies = [again, {"tag": "coder", "text": f"```rust\n{rank1}```"}]
    replies += [again] * (2 * STALE_REPEATS)
    events, reason, backend = run_session(tmp_path, replies, iterations=STALE_REPEATS + 4)
    assert reason.startswith("out of new ideas") and f"last {STALE_REPEATS} proposals" in reason
    finished = [e for e in events if e.kind is Kind.ITERATION_FINISHED and e.iteration > 0]
    assert len(finished) == 1 + STALE_REPEATS
    assert [e.data["verdict"] for e in finished[1:]] == ["vetoed"] * STALE_REPEATS
    assert len(backend.calls) == len(replies)


def test_an_edit_the_reviewer_changes_is_recorded_as_the_reviewers(tmp_path):
    from roundtable_tui.core.review import Action, ReviewDecision

    class Reviewer:
        def review(self, request, cancel):
            assert "a_u.iter().zip(b_u)" in request.code  # the model's edit, under review
            assert request.region == "micro_kernel"
            from roundtable_tui.tui.review import ReviewScreen

            title = ReviewScreen(request)._diff_title()
            assert title == "The edit of region micro_kernel against the current best"
            return ReviewDecision(Action.EDIT, code=request.code + "\n// reviewed\n")

    replies = [proposer_reply(), {"tag": "coder", "text": APPLIES}]
    events, _, _ = run_session(tmp_path, replies, gate=Reviewer())
    (reviewed,) = [e for e in events if e.kind is Kind.REVIEW]
    assert reviewed.data["edited"] and reviewed.data["code"].endswith("// reviewed\n")
    (result,) = [e for e in events if e.kind is Kind.CHECK_RESULT and e.iteration == 1]
    assert result.data["author"] == "human" and "region" not in result.data


def test_with_a_grammar_the_coder_asks_the_backend_for_constrained_replies():
    seen: list = []

    class Capturing(ScriptedBackend):
        def complete(self, messages, **kwargs):
            seen.append(kwargs.get("grammar"))
            return super().complete(messages, **kwargs)

    backend = Capturing([{"tag": "coder", "text": APPLIES}])
    talk = Talk(backend, lambda _e: None, Agent.CODER, 1)
    attempt = edits.EditCoder(SGEMM, MACHINE, edits.GRAMMAR).write(
        talk, threading.Event(), PROPOSAL, best(), []
    )
    assert attempt.code is not None
    assert seen == [edits.GRAMMAR]


def test_a_recorded_model_reply_rewrites_the_region_and_its_build_error_goes_back():
    """The embedded model's real reply (bench/edit_reliability.py): the micro_kernel region
    rewritten in one fenced block, cut at the token limit, so the helper it calls is gone."""
    from pathlib import Path

    recorded = ScriptedBackend.from_file(
        Path(__file__).parent / "data" / "recorded_edit_sgemm.jsonl"
    )
    fix = {
        "tag": "coder",
        "text": "<<<<<<< SEARCH\n    acc_sum\n}\n=======\n    acc_sum\n}\n\n"
        "#[inline(always)]\n"
        "fn rank1(acc: &mut [[f32; NR]; MR], a: &[f32; MR], b: &[f32; NR]) {\n"
        "    for i in 0..MR {\n        for j in 0..NR {\n"
        "            acc[i][j] = a[i].mul_add(b[j], acc[i][j]);\n        }\n    }\n}\n"
        ">>>>>>> REPLACE\n",
    }
    recorded.queues["coder"].append(fix)
    code = next(f for f in templates.families("sgemm") if f.name == "blis").instantiate({})
    talk = Talk(recorded, lambda _e: None, Agent.CODER, 1)
    writer = edits.EditCoder(SGEMM, MACHINE)
    proposal = {
        "title": "two accumulator sets",
        "idea": "even and odd k steps",
        "region": "micro_kernel",
    }
    first = writer.write(talk, threading.Event(), proposal, code, [])
    assert first.code is not None and first.applied is not None
    assert first.applied.matches == ["whole"]
    assert edits.check(code, first.code, "micro_kernel", SGEMM)["ok"]
    result = Checker().check(first.code, SGEMM, SMALL, threading.Event())
    assert str(result.verdict) == "build_failed" and "rank1" in result.compiler_output
    second = writer.repair_failure(
        talk, threading.Event(), "build_failed", result.reason, result.compiler_output
    )
    sent = recorded.calls[-1][1][-1].content
    assert "rank1" in sent and "acc_even" in sent  # the error and the region as it now reads
    assert second.code is not None and "fn rank1(" in second.code
    assert edits.check(code, second.code, "micro_kernel", SGEMM)["ok"]


def test_a_line_edit_through_the_manager_is_constrained_applied_and_checked(tmp_path):
    import json

    seen: list = []

    class Capturing(ScriptedBackend):
        def complete(self, messages, **kwargs):
            seen.append((kwargs.get("tag"), kwargs.get("grammar"), messages[-1].content))
            return super().complete(messages, **kwargs)

    proposal = {**PROPOSAL, "region": "rank1", "idea": "b first in the fused multiply-add"}
    line = "            acc[i][j] = b[j].mul_add(a[i], acc[i][j]);"
    replies = [
        {"tag": "proposer", "text": json.dumps({**proposal, "rationale": "same work"})},
        {"tag": "coder", "text": f"REPLACE 3-3\n{line}\nEND\n"},
    ]
    from roundtable_tui.core.manager import Manager, RunConfig
    from roundtable_tui.core.review import AutoPolicy
    from roundtable_tui.core.session import Session

    backend = Capturing(replies)
    session = Session.create(tmp_path, {"problem": "sgemm", "model": "scripted"}, "l")
    events: list = []
    config = RunConfig(
        iterations=1, strategy="code", check=SMALL, start=best(), edit_format="lines"
    )
    Manager(
        session, backend, SGEMM, AutoPolicy(), config, on_event=events.append, machine=MACHINE
    ).run(threading.Event())
    session.close()
    (coder_call,) = [s for s in seen if s[0] == "coder"]
    assert coder_call[1] == edits.LINES_GRAMMAR
    assert "3|             acc[i][j] = a[i].mul_add(b[j], acc[i][j]);" in coder_call[2]
    (kernel,) = [e for e in events if e.kind is Kind.KERNEL and e.iteration == 1]
    assert kernel.data["region"] == "micro_kernel.rank1" and line in kernel.data["code"]
    (result,) = [e for e in events if e.kind is Kind.CHECK_RESULT and e.iteration == 1]
    assert result.data["verdict"] == "passed", result.data["reason"]


def test_the_edit_format_is_a_run_option_and_an_unknown_one_is_refused():
    import pytest

    from roundtable_tui.cli.parser import build_parser
    from roundtable_tui.cli.run import spec_from
    from roundtable_tui.core.run import RunSpec

    args = build_parser().parse_args(["run", "--auto", "--edit-format", "lines"])
    assert spec_from(args).edit_format == "lines"
    assert spec_from(build_parser().parse_args(["run", "--auto"])).edit_format == "blocks"
    with pytest.raises(ValueError, match="unknown edit format 'diff' \\(one of blocks, lines\\)"):
        RunSpec(edit_format="diff")


# an edit that changes nothing that runs: LLVM keeps a[i] in a register already
HOIST = """<<<<<<< SEARCH
    for i in 0..MR {
        for j in 0..NR {
            acc[i][j] = a[i].mul_add(b[j], acc[i][j]);
=======
    for i in 0..MR {
        let ai = a[i];
        for j in 0..NR {
            acc[i][j] = ai.mul_add(b[j], acc[i][j]);
>>>>>>> REPLACE
"""
# and one that does: the tile updated column by column
SWAPPED = """<<<<<<< SEARCH
    for i in 0..MR {
        for j in 0..NR {
            acc[i][j] = a[i].mul_add(b[j], acc[i][j]);
        }
    }
=======
    for j in 0..NR {
        for i in 0..MR {
            acc[i][j] = a[i].mul_add(b[j], acc[i][j]);
        }
    }
>>>>>>> REPLACE
"""


def test_an_edit_that_compiles_to_the_best_kernels_instructions_is_reported_as_changing_nothing(
    tmp_path,
):
    """The embedded model's passing edits included a second tile it never read, which the
    compiler removed: such an edit is "within noise" without rounds, said to change nothing
    that runs, while an edit that changes the instructions is compared as usual."""
    replies = [
        proposer_reply(),
        {"tag": "coder", "text": HOIST},
        proposer_reply() | {"text": proposer_reply()["text"].replace("by hand", "by column")},
        {"tag": "coder", "text": SWAPPED},
    ]
    events, _, _ = run_session(tmp_path, replies, iterations=2)
    results = {e.iteration: e.data for e in events if e.kind is Kind.CHECK_RESULT}
    assert results[1]["verdict"] == results[2]["verdict"] == "passed"
    confirmed = {e.iteration: e.data for e in events if e.kind is Kind.CONFIRMATION}
    assert confirmed[1]["same_code"] is True and confirmed[1]["rounds"] == 0
    assert confirmed[1]["outcome"] == "within noise"
    assert "changes nothing that runs" in confirmed[1]["detail"]
    assert "same_code" not in confirmed[2]


def test_instructions_leave_out_the_data_and_directives_an_edit_moves():
    from roundtable_tui.kernels import asm

    def listing(line: int, op: str, one: str = "0x3f800000") -> str:
        return (
            '\t.section\t.rodata.cst4,"aM",@progbits,4\n'
            f".LCPI0_0:\n\t.long\t{one}\n"
            "\t.text\n"
            "_ZN9candidate6kernel5rank117h0123456789abcdefE:\n"
            f"\t.loc\t1 {line} 9\n"
            "\tvbroadcastss\t.LCPI0_0(%rip), %zmm1\n"
            f"\t{op}\t%zmm1, %zmm2, %zmm3   # kernel.rs:{line}\n"
            ".LBB0_2:\n\tret\n"
            '\t.section\t.data.rel.ro..Lanon.0,"aw",@progbits\n'
            f'\t.asciz\t"\\027\\000{line}"\n'
        )

    # a moved line changes only the panic location's data and the .loc directive
    assert asm.instructions(listing(40, "vfmadd231ps")) == asm.instructions(
        listing(41, "vfmadd231ps")
    )
    assert asm.instructions(listing(40, "vfmadd231ps")) != asm.instructions(
        listing(40, "vfmadd213ps")
    )
    # a constant the code loads is part of what it does: 1.0 and 2.0 differ
    assert asm.instructions(listing(40, "vfmadd231ps")) != asm.instructions(
        listing(40, "vfmadd231ps", one="0x40000000")
    )
    # an AArch64 immediate is an operand, not a comment (Apple silicon's listings)
    assert asm.instructions("\tmov x0, #4\n") != asm.instructions("\tmov x0, #8\n")
