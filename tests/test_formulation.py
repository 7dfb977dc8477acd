"""Bilinear block schemes: the classic ones verify, every kind of wrong one is caught with the
failing C block named, blocks do not commute, and the parser is tolerant of spelling but
strict about meaning."""

import copy
import json
from fractions import Fraction

import pytest
import sympy

from roundtable_tui.core.formulation import (
    FormulationError,
    describe,
    naive,
    parse_formulation,
    strassen,
    verify,
    winograd,
)


def check(scheme):
    return verify(parse_formulation(scheme))


def product(scheme, name):
    return next(p for p in scheme["products"] if p["name"] == name)


def side(expr, which="a"):
    """The parsed combination for `expr` used as M1's a (or b) in the naive 2x2 scheme."""
    scheme = naive()
    scheme["products"][0][which] = expr
    first = parse_formulation(scheme).products[0]
    return dict(first.a if which == "a" else first.b)


def error_of(scheme):
    with pytest.raises(FormulationError) as info:
        parse_formulation(scheme)
    message = str(info.value)
    assert "\n" not in message
    return message


def scalar_valid(scheme):
    """Whether the scheme is right for 1x1 blocks (commuting scalars)."""
    f = parse_formulation(scheme)
    p, q, r = f.blocks
    s = {}

    def sym(name):
        return s.setdefault(name, sympy.Symbol(name))

    def comb(combo):
        return sum(sympy.Rational(k.numerator, k.denominator) * sym(n) for n, k in combo.items())

    value = {pr.name: comb(pr.a) * comb(pr.b) for pr in f.products}
    for i in range(1, p + 1):
        for j in range(1, r + 1):
            got = sum(
                sympy.Rational(k.numerator, k.denominator) * value[m]
                for m, k in f.c[f"C{i}{j}"].items()
            )
            want = sum(sym(f"A{i}{k}") * sym(f"B{k}{j}") for k in range(1, q + 1))
            if sympy.expand(got - want) != 0:
                return False
    return True


# ----------------------------------------------------------------------------------------------
# Correct schemes


def test_strassen_verifies_with_7_products_and_18_additions():
    result = check(strassen())
    assert result.ok, result.detail
    assert result.failing_entry is None
    assert (result.products, result.additions) == (7, 18)
    assert describe(parse_formulation(strassen())) == "7 products, 18 additions, 2x2x2 blocks"


def test_winograd_verifies_with_7_products_and_15_additions():
    result = check(winograd())
    assert result.ok, result.detail
    assert (result.products, result.additions) == (7, 15)


def test_winograd_written_flat_verifies_but_costs_more_additions():
    flat = parse_formulation(winograd()).to_dict()
    assert "sums" not in flat
    result = check(flat)
    assert result.ok, result.detail
    assert (result.products, result.additions) == (7, 24)


def test_naive_2x2x2_verifies_with_8_products():
    result = check(naive())
    assert result.ok, result.detail
    assert (result.products, result.additions) == (8, 4)


def test_naive_2x3x2_verifies():
    scheme = naive([2, 3, 2])
    assert scheme["blocks"] == [2, 3, 2]
    result = check(scheme)
    assert result.ok, result.detail
    assert result.products == 12
    assert parse_formulation(scheme).blocks == (2, 3, 2)


def test_rectangular_blocks_use_the_right_inner_dimension():
    # For 2x3x2 the schoolbook sum has three terms; leaving out the k = 3 term must fail.
    scheme = naive([2, 3, 2])
    scheme["c"]["C21"] = " + ".join(scheme["c"]["C21"].split(" + ")[:2])
    result = check(scheme)
    assert not result.ok
    assert result.failing_entry == "C21"
    assert "A23*B31" in result.detail


def test_unused_products_are_reported_but_not_wrong():
    scheme = strassen()
    scheme["products"].append({"name": "M8", "a": "A11", "b": "B11"})
    result = check(scheme)
    assert result.ok
    assert result.unused == ("M8",)
    assert "M8 unused" in describe(parse_formulation(scheme))


def test_the_builtin_2x2_schemes_verify():
    # how long a proof takes is a benchmark's business, not a test's
    for build in (naive, strassen, winograd):
        assert verify(parse_formulation(build())).ok


# ----------------------------------------------------------------------------------------------
# Wrong schemes


def test_a_sign_flipped_in_a_product_fails_on_a_block_using_it():
    scheme = strassen()
    product(scheme, "M1")["b"] = "B11 - B22"
    f = parse_formulation(scheme)
    result = verify(f)
    assert not result.ok
    users = {key for key, combo in f.c.items() if "M1" in combo}
    assert users == {"C11", "C22"}
    assert result.failing_entry == "C11"  # the first one in row-major order
    assert "difference" in result.detail and result.detail.startswith("C11: ")
    assert "A11*B22" in result.detail


def test_a_sign_flipped_in_the_recombination_of_c22_fails_on_c22():
    scheme = strassen()
    scheme["c"]["C22"] = "M1 - M2 + M3 - M6"
    result = check(scheme)
    assert not result.ok
    assert result.failing_entry == "C22"
    assert "expected A21*B12 + A22*B22" in result.detail


def test_dropping_a_product_from_c12_fails_on_c12():
    scheme = strassen()
    scheme["c"]["C12"] = "M3"
    result = check(scheme)
    assert not result.ok
    assert result.failing_entry == "C12"
    # M5 = (A11 + A12)*B22 is missing
    assert "A12*B22" in result.detail.split("difference")[1]


def test_a_wrong_rational_coefficient_fails():
    scheme = naive()
    scheme["c"]["C21"] = "M5 + 1/2*M6"
    result = check(scheme)
    assert not result.ok
    assert result.failing_entry == "C21"


def test_blocks_do_not_commute_swapped_factors_fail():
    # M2 = B21*A12 instead of A12*B21: right for scalars, wrong for matrices.
    scheme = naive()
    m2 = product(scheme, "M2")
    m2["a"], m2["b"] = "B21", "A12"
    assert scalar_valid(scheme)
    result = check(scheme)
    assert not result.ok
    assert result.failing_entry == "C11"
    assert "B21*A12" in result.detail
    assert "B*A is not A*B" in result.detail


def test_strassen_with_one_product_written_b_times_a_fails():
    scheme = strassen()
    m3 = product(scheme, "M3")
    m3["a"], m3["b"] = "B12 - B22", "A11"
    assert scalar_valid(scheme)
    result = check(scheme)
    assert not result.ok
    assert result.failing_entry == "C12"  # C12 = M3 + M5 is the first block using M3


def test_a_b_times_a_product_fails_even_when_unused():
    scheme = strassen()
    scheme["products"].append({"name": "M8", "a": "B11", "b": "A11"})
    result = check(scheme)
    assert not result.ok
    assert result.failing_entry is None
    assert "M8" in result.detail


def test_a_factor_mixing_a_and_b_blocks_is_rejected():
    # Winograd's 1968 inner-product trick, (x1 + y2)(x2 + y1) - x1 x2 - y1 y2, needs this.
    scheme = naive()
    product(scheme, "M1")["a"] = "A11 + B21"
    message = error_of(scheme)
    assert "M1" in message and "mixes A blocks" in message


# ----------------------------------------------------------------------------------------------
# Parser tolerance


def test_unicode_minus_and_lowercase_names():
    scheme = strassen()
    for p in scheme["products"]:
        p["a"] = p["a"].replace("-", "\u2212").lower()
        p["b"] = p["b"].replace("-", "\u2013").lower()
    scheme["c"] = {k.lower(): v.replace("-", "\u2212").lower() for k, v in scheme["c"].items()}
    result = check(scheme)
    assert result.ok, result.detail
    assert result.additions == 18


def test_grouped_coefficients_and_parentheses():
    assert side("2*(A11 - A12)") == {"A11": 2, "A12": -2}
    assert side("(A11 + A12)") == {"A11": 1, "A12": 1}
    assert side("-(A21 - A11)") == {"A11": 1, "A21": -1}
    assert side("  A11   +A22 ") == {"A11": 1, "A22": 1}
    assert side("-B12 + 2*B22".replace("B", "A")) == {"A12": -1, "A22": 2}
    assert side("3 A11 - A11*2") == {"A11": 1}
    assert side("A_12 + A[2][1] + A_{2,2}") == {"A12": 1, "A21": 1, "A22": 1}


def test_decimal_coefficients_become_exact_rationals():
    combo = side("0.5*A11 + 1/3*A12 + A12/6")
    assert combo == {"A11": Fraction(1, 2), "A12": Fraction(1, 2)}
    assert all(isinstance(v, Fraction) for v in combo.values())
    assert side({"A11": 0.1, "A22": "-1/2"}) == {"A11": Fraction(1, 10), "A22": Fraction(-1, 2)}
    # Halving a product and doubling it back is exact.
    scheme = naive()
    product(scheme, "M1")["a"] = "0.5*A11"
    scheme["c"]["C11"] = "2*M1 + M2"
    assert check(scheme).ok


def test_dict_and_list_forms():
    scheme = strassen()
    product(scheme, "M1")["a"] = {"A11": 1, "a22": 1}
    product(scheme, "M6")["a"] = ["A21", "-A11"]
    product(scheme, "M7")["b"] = [["B21", 1], [1, "B22"]]
    scheme["c"]["C11"] = {"M1": 1, "M4": 1, "M5": -1, "M7": 1}
    scheme["c"]["C22"] = ["M1", "-M2", {"M3": 1}, "M6"]
    result = check(scheme)
    assert result.ok, result.detail
    assert result.additions == 18


def test_products_and_c_in_other_container_shapes():
    scheme = strassen()
    scheme["products"] = {p["name"]: {"a": p["a"], "b": p["b"]} for p in scheme["products"]}
    scheme["c"] = [f"{k} = {v}" for k, v in scheme["c"].items()]
    assert check(scheme).ok


def test_json_text_input_with_or_without_a_code_fence():
    text = json.dumps(strassen())
    assert check(text).ok
    assert check(f"Here is the scheme:\n```json\n{text}\n```\n").ok
    assert check(text.encode()).ok


def test_blocks_default_to_2x2x2():
    scheme = strassen()
    del scheme["blocks"]
    assert parse_formulation(scheme).blocks == (2, 2, 2)
    assert check(scheme).ok


def test_product_names_are_free_identifiers_and_matched_loosely():
    scheme = strassen()
    for p in scheme["products"]:
        p["name"] = p["name"].replace("M", "m_")
    assert check(scheme).ok  # c still says M1..M7
    assert parse_formulation(scheme).products[0].name == "m_1"


def test_to_dict_round_trips():
    f = parse_formulation(strassen())
    again = parse_formulation(f.to_dict())
    assert again == f


# ----------------------------------------------------------------------------------------------
# Malformed input


@pytest.mark.parametrize(
    ("expr", "words"),
    [
        ("(A11 + A22", "unbalanced parentheses"),
        ("A11 + A22)", "unbalanced parentheses"),
        ("A11 +", "ends after '+'"),
        ("", "empty expression"),
        ("  ", "empty expression"),
        ({}, "empty expression"),
        ([], "empty expression"),
        ("A11*A22", "linear"),
        ("A11 + 3", "plain number"),
        ("A11 ^ 2", "'^'"),
        ("x*A11", "unknown name 'x'"),
        ("A11 - A11", "zero"),
        ("M2", "refers to a product"),
        ({"A11": "two"}, "non-numeric coefficient 'two'"),
        ({"A11": None}, "non-numeric coefficient"),
        ([["A11", "x"]], "non-numeric coefficient 'x'"),
    ],
)
def test_malformed_factor_is_named(expr, words):
    scheme = naive()
    product(scheme, "M1")["a"] = expr
    message = error_of(scheme)
    assert message.startswith("product M1, a:"), message
    assert words in message


def test_a_block_outside_the_split_names_the_block():
    scheme = naive()
    product(scheme, "M3")["a"] = "A13"
    message = error_of(scheme)
    assert "A13" in message and "M3" in message
    # ... while the same reference is fine once A has three block columns
    assert check(naive([2, 3, 2])).ok
    scheme = naive()
    product(scheme, "M1")["b"] = "b31"
    assert "B31" in error_of(scheme)


def test_unknown_product_in_c():
    scheme = strassen()
    scheme["c"]["C12"] = "M3 + M9"
    message = error_of(scheme)
    assert "C12" in message and "M9" in message


def test_missing_c_entry():
    scheme = strassen()
    del scheme["c"]["C21"]
    message = error_of(scheme)
    assert "missing C21" in message


def test_c_entry_outside_the_split():
    scheme = strassen()
    scheme["c"]["C31"] = "M1"
    assert "C31" in error_of(scheme)


def test_c_entry_given_twice():
    scheme = strassen()
    scheme["c"]["c11"] = scheme["c"]["C11"]
    assert "C11 is given twice" in error_of(scheme)


def test_c_must_combine_products_not_blocks():
    scheme = naive()
    scheme["c"]["C11"] = "A11*B11 + M2"
    assert "C11" in error_of(scheme)
    scheme["c"]["C11"] = "M1 + A12"
    assert "mixes products" in error_of(scheme)


def test_duplicate_product_names():
    scheme = strassen()
    product(scheme, "M2")["name"] = "M1"
    assert "duplicate product name 'M1'" in error_of(scheme)
    scheme = strassen()
    product(scheme, "M2")["name"] = "m1"
    assert "duplicate product name 'm1'" in error_of(scheme)


def test_missing_side_and_missing_sections():
    scheme = strassen()
    del product(scheme, "M4")["b"]
    assert "product M4: missing 'b'" in error_of(scheme)
    assert "missing 'products'" in error_of({"c": {"C11": "M1"}})
    assert "missing 'c'" in error_of({"products": strassen()["products"]})


def test_bad_json_and_bad_blocks():
    assert "not valid JSON" in error_of('{"blocks": [2, 2, 2], "products": [')
    assert "JSON object" in error_of("[1, 2, 3]")
    scheme = strassen()
    scheme["blocks"] = [2, 2]
    assert "blocks" in error_of(scheme)
    scheme["blocks"] = [2, 2, "two"]
    assert "blocks" in error_of(scheme)


def test_sums_are_checked():
    scheme = copy.deepcopy(winograd())
    scheme["sums"]["S2"] = "S4 - A11"  # S4 = A12 - S2: a cycle
    assert "refers to itself" in error_of(scheme)
    scheme = winograd()
    scheme["sums"]["S1"] = "A21 + B22"
    assert "sum S1" in error_of(scheme)
    scheme = winograd()
    scheme["sums"]["U2"] = "M1 + A11"
    assert "mixes products" in error_of(scheme)
    scheme = winograd()
    scheme["sums"]["T3"] = "B22 + B12"  # a wrong sign inside a shared sum
    result = check(scheme)
    assert not result.ok
    assert result.failing_entry == "C21"  # C21 = U3 - M4 and U3 uses M7 = S3*T3


# ----------------------------------------------------------------------------------------------
# Bounded parsing: degenerate model output gives a one-line veto, never an exception


def nested(depth):
    """Case 14 of the public reports: A11 inside `depth` pairs of parentheses."""
    return {
        "blocks": [2, 2, 2],
        "products": [{"name": "M1", "a": "(" * depth + "A11" + ")" * depth, "b": "B11"}],
        "c": {"C11": "M1", "C12": "M1", "C21": "M1", "C22": "M1"},
    }


def test_400_nested_parentheses_are_a_one_line_veto_as_dict_and_as_text():
    for given in (nested(400), json.dumps(nested(400))):
        message = error_of(given)
        assert message.startswith("product M1, a: nested more than 16 deep"), message
    assert "nested more than 16 deep" in error_of({**nested(0), "c": {"C11": "-" * 300 + "M1"}})


def test_modest_nesting_is_still_read():
    f = parse_formulation(nested(10))
    assert dict(f.products[0].a) == {"A11": 1}


def test_size_limits_are_one_line_vetoes():
    long_expr = " + ".join(["A11"] * 2000)
    assert "characters (at most" in error_of({**nested(0), "c": {"C11": long_expr}})
    many = naive()
    many["products"] = [{"a": "A11", "b": "B11"}] * 800
    assert error_of(many).startswith("800 products (at most")
    chain = {f"S{i}": f"S{i + 1} + A11" for i in range(1, 100)} | {"S100": "A12"}
    scheme = {**nested(0), "sums": chain}
    scheme["products"] = [{"name": "M1", "a": "S1", "b": "B11"}]
    assert "sums nested more than 32 deep" in error_of(scheme)
    assert "nested too deeply" in error_of("[" * 50_000 + "]" * 50_000)
    assert "characters (at most" in error_of("{" + " " * 300_000 + "}")


def test_a_scheme_too_large_to_prove_is_vetoed_not_expanded():
    from roundtable_tui.core import formulation

    big = naive((9, 9, 9))
    dense = " + ".join(f"A{i}{j}" for i in range(1, 10) for j in range(1, 10))
    for prod in big["products"][:40]:
        prod["a"] = dense
        prod["b"] = dense.replace("A", "B")
    result = verify(parse_formulation(big))
    assert not result.ok and "too large to prove here" in result.detail
    assert formulation.MAX_PROOF_TERMS < 40 * 81 * 81


def test_equations_show_the_scheme_line_by_line():
    from roundtable_tui.core.formulation import equations

    lines = equations(parse_formulation(strassen()))
    assert lines[0] == "M1 = (A11 + A22)·(B11 + B22)"
    assert "C22 = M1 - M2 + M3 + M6" in lines
    assert len(lines) == 7 + 4
    assert equations(parse_formulation(winograd()))[0] == "S1 = A21 + A22"


def test_the_crossover_note_reports_measured_ratios_and_only_clear_wins(tmp_path):
    from roundtable_tui.core.formulation import crossover_note

    def note(rows):
        path = tmp_path / "sweep.json"
        path.write_text(json.dumps({"machine": "m", "date": "d", "rows": rows}))
        return crossover_note(str(path))

    row = {"variant": "strassen", "levels": 1, "gflops": 1.0}
    lost = note([{**row, "shape": 1024, "ratio": 0.7}, {**row, "shape": 4096, "ratio": 1.05}])
    assert "strassen x1: 0.70x/1.05x (at 1024³/4096³)" in lost and "No formulation beat" in lost
    won = note([{**row, "shape": 1024, "ratio": 0.7}, {**row, "shape": 4096, "ratio": 1.2}])
    assert "paid from 4096³ up" in won
    assert crossover_note(str(tmp_path / "missing.json")) == ""
    assert note([{"shape": 1}]) == ""


def test_a_scheme_named_only_in_the_idea_is_applied_and_proved():
    # the embedded model's own words in sessions/examples/formulation-sgemm-embedded
    from roundtable_tui.core.scheme_coder import named_in_text, prove

    idea = "Apply Strassen's 2x2x2 scheme with 7 products for 1 level above size 1024, e.g. {"
    assert named_in_text(idea) == {"use": "strassen", "levels": 1, "cutoff": 1024}
    proof = prove(None, None, idea)
    assert proof.ok and (proof.levels, proof.cutoff) == (1, 1024)
    assert "7 products instead of 8" in proof.detail
    assert named_in_text("use Winograd's variant, 2 levels, cutoff 512") == {
        "use": "winograd",
        "levels": 2,
        "cutoff": 512,
    }
    # prose that names no scheme is still a one-line veto, never an exception
    assert named_in_text("tile the loops better") is None
    assert not prove(None, None, "tile the loops better").ok
