"""A formulation proposal end to end with a recorded (scripted) model: Proposer → Verifier
(proved) → Coder (the sgemm/strassen template, no model) → review → Tester (passed, with the
trusted side's accounting); a wrong scheme is vetoed naming the block before any code."""

from __future__ import annotations

import json
import threading

import pytest

from roundtable_tui.core import formulation
from roundtable_tui.core.events import Kind
from roundtable_tui.core.manager import Manager, RunConfig
from roundtable_tui.core.review import Action, ReviewDecision
from roundtable_tui.core.session import Session
from roundtable_tui.llm.scripted import ScriptedBackend

from .scripted import SGEMM, SMALL, proposal


class Gate:
    """Approves every kernel and keeps what the reviewer was shown."""

    def __init__(self) -> None:
        self.requests = []

    def review(self, request, cancel):
        self.requests.append(request)
        return ReviewDecision(Action.APPROVE)


def run(tmp_path, replies):
    backend = ScriptedBackend(replies)
    session = Session.create(tmp_path, {"problem": "sgemm", "model": "scripted"}, "f")
    events = []
    gate = Gate()
    m = Manager(
        session,
        backend,
        SGEMM,
        gate,
        RunConfig(iterations=1, check=SMALL),
        on_event=events.append,
        machine={"cores": 2, "simd": "AVX2"},
    )
    m.run(threading.Event())
    session.close()
    return events, backend, gate


def of(events, kind):
    return [e for e in events if e.kind is kind]


@pytest.mark.slow
def test_a_named_formulation_flows_to_a_passed_check_without_the_model_writing_code(tmp_path):
    # the benchmark shape 64x48x40 with cut-off 16: one Strassen level (blocks 32x24x20)
    replies = [
        proposal(
            "One Strassen level",
            kind="formulation",
            formulation={"use": "strassen", "levels": 1, "cutoff": 16},
        )
    ]
    events, backend, gate = run(tmp_path, replies)
    proved = [e.data for e in of(events, Kind.VERIFICATION) if e.data["stage"] == "proposal"]
    assert proved[-1]["ok"], proved
    assert proved[-1]["detail"].startswith("verified symbolically")
    assert "C22 = M1 - M2 + M3 + M6" in proved[-1]["equations"]
    assert not [c for c in backend.calls if c[0] == "coder"], "no model writes the kernel"
    kernel = of(events, Kind.KERNEL)[-1].data
    assert kernel["template"] == "sgemm/strassen"
    assert kernel["parameters"]["levels"] == 1
    # the reviewer saw the kernel and the scheme before the Tester ran it
    (request,) = gate.requests
    assert request.verification["equations"] and "Prod { a:" in request.code
    review = of(events, Kind.REVIEW)[-1]
    check = of(events, Kind.CHECK_RESULT)[-1]
    assert events.index(review) < events.index(check)
    assert check.data["verdict"] == "passed", check.data["reason"]
    assert check.data["flags"]["scheme"].startswith("strassen x1 at 64x48x40: 0.875")


@pytest.mark.slow
def test_a_wrong_formulation_is_vetoed_naming_the_block_and_what_it_computes(tmp_path):
    bad = formulation.strassen()
    bad["c"]["C12"] = "M3 - M5"
    events, backend, gate = run(
        tmp_path, [proposal("Strassen", kind="formulation", formulation=bad)]
    )
    veto = [e.data for e in of(events, Kind.VERIFICATION) if e.data["stage"] == "proposal"][-1]
    assert veto["ok"] is False and veto["failing_entry"] == "C12"
    assert "C12: scheme gives A11*B12 - 2*A11*B22 - A12*B22" in veto["detail"]
    assert "expected A11*B12 + A12*B22" in veto["detail"]
    assert not [e for e in of(events, Kind.KERNEL) if e.iteration == 1] and not gate.requests
    assert not [c for c in backend.calls if c[0] == "coder"]
    assert of(events, Kind.ITERATION_FINISHED)[-1].data["verdict"] == "vetoed"


def test_the_mixed_schema_and_prompt_offer_formulations_for_sgemm():
    from roundtable_tui.core import prompts
    from roundtable_tui.kernels import templates

    blis = templates.family("sgemm/blis")
    schema = prompts.proposal_schema(blis, "mixed")
    # one object per kind: a scheme cannot ride along with a parameter change
    kinds = [v["properties"]["kind"]["enum"] for v in schema["anyOf"]]
    assert kinds == [["parameters"], ["code"], ["formulation"]]
    formulation = prompts.kind_schema(schema, "formulation")
    assert set(formulation["properties"]) == {"kind", "formulation", "idea"}
    assert formulation["properties"]["formulation"]["properties"]["use"]["enum"] == [
        "strassen",
        "winograd",
    ]
    assert "formulation" not in prompts.kind_schema(schema, "parameters")["properties"]
    only = prompts.proposal_schema(blis, "parameters")
    assert prompts.kind_schema(only, "formulation") is None
    assert "formulation" not in only["properties"]
    role = prompts.template_role(blis, "mixed")
    assert 'kind "formulation"' in role and "7/8 of the multiplications" in role


def test_the_formulation_schema_has_no_length_limits_that_blow_up_a_grammar():
    from roundtable_tui.core.scheme_coder import formulation_schema

    text = json.dumps(formulation_schema())
    assert "maxLength" not in text and "maxItems" not in text


def test_the_mixed_template_schema_offers_only_named_schemes():
    # a written scheme under a grammar samples slowly and outgrows a small model's reply
    from roundtable_tui.core.prompts import kind_schema, proposal_schema
    from roundtable_tui.kernels import templates

    family = templates.family("sgemm/blis")
    mixed = kind_schema(proposal_schema(family, "mixed"), "formulation")["properties"]
    mixed = mixed["formulation"]["properties"]
    assert set(mixed) == {"use", "levels", "cutoff"}
    code = proposal_schema(family, "code")["properties"]["formulation"]["properties"]
    assert {"blocks", "products", "c"} <= set(code)
