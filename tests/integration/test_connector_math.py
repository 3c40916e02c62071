"""The math connector: safe expressions, statistics and matrices, with hostile inputs refused."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from connector_support import keyword_callers
from pydantic import ValidationError

from flowforge.connectors.math import connector

run, refused, invalid = keyword_callers(connector)


# -- evaluate


@pytest.mark.parametrize(
    ("expression", "variables", "expected"),
    [
        ("1 + 2 * 3", {}, 7),
        ("(1 + 2) * 3", {}, 9),
        ("7 // 2 + 7 % 2", {}, 4),
        ("2 ** 10", {}, 1024),
        ("-x + +y", {"x": 3, "y": 5}, 2),
        ("sqrt(x**2 + y**2)", {"x": 3, "y": 4}, 5.0),
        ("round(price * (1 + rate / 100), 2)", {"price": 19.99, "rate": 20}, 23.99),
        ("min(4, 2, 8) + max(1, 9) + abs(-3)", {}, 14),
        ("min(5)", {}, 5),
        ("log(e) + log(8, 2) + exp(0)", {}, 5.0),
        ("floor(2.7) + ceil(2.1) + factorial(5)", {}, 125),
        ("2 ** -1", {}, 0.5),
    ],
)
def test_evaluate_computes_arithmetic(
    expression: str, variables: dict[str, Any], expected: float
) -> None:
    result = run("evaluate", expression=expression, variables=variables)["result"]
    assert result == pytest.approx(expected)
    assert type(result) is type(expected)


def test_evaluate_trigonometry_and_constants() -> None:
    assert run("evaluate", expression="sin(pi / 2) + cos(0)")["result"] == pytest.approx(2.0)
    assert run("evaluate", expression="tau / pi")["result"] == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("__import__('os')", "'__import__' is not an allowed function"),
        ("__import__('os').system('true')", "Attribute is not allowed"),
        ("(1).__class__", "Attribute is not allowed"),
        ("x.real", "Attribute is not allowed"),
        ("open('/etc/passwd')", "'open' is not an allowed function"),
        ("os", "unknown name 'os'"),
        ("'a' * 3", "'a' is not a number"),
        ("[1, 2]", "List is not allowed"),
        ("lambda: 1", "Lambda is not allowed"),
        ("1 if 1 else 2", "IfExp is not allowed"),
        ("1 < 2", "Compare is not allowed"),
        ("1 << 5000", "BinOp is not allowed"),
        ("True + 1", "True is not a number"),
        ("sqrt(x=4)", "keyword arguments are not allowed"),
        ("sqrt(1, 2)", "sqrt takes 1 to 1 arguments, not 2"),
        ("1 +", "not valid arithmetic"),
        ("x = 1", "not valid arithmetic"),
    ],
)
def test_evaluate_refuses_everything_outside_the_whitelist(expression: str, reason: str) -> None:
    error = refused("evaluate", expression=expression, variables={"x": 2})
    assert error.type == "ExpressionError"
    assert str(error).startswith("expression: ")
    assert reason in str(error)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("9**9**9", "would have more than 1024 bits"),
        ("10 ** 400", "would have more than 1024 bits"),
        ("(10**300) * (10**300)", "more than 1024 bits"),
        ("2.0 ** 5000", "overflows"),
        ("exp(1000)", "exp(1000)"),
        ("1e308 * 10", "not a finite number"),
        ("factorial(100000)", "an integer from 0 to 170"),
        ("round(1.5, 10**9)", "digits must be an integer"),
        ("(-8) ** (1/3)", "complex number"),
        ("1 / 0", "division by zero"),
        ("5 % 0", "division by zero"),
        ("sqrt(-1)", "sqrt(-1)"),
    ],
)
def test_evaluate_refuses_huge_and_undefined_results_fast(expression: str, reason: str) -> None:
    started = time.monotonic()
    error = refused("evaluate", expression=expression)
    assert time.monotonic() - started < 1.0
    assert reason in str(error)


def test_evaluate_refuses_an_integer_too_large_for_a_float() -> None:
    error = refused("evaluate", expression="n + 0.5", variables={"n": 2**1024 - 1})
    assert "too large for a float" in str(error)


def test_evaluate_bounds_length_and_nesting() -> None:
    assert "at most 1000 characters" in invalid("evaluate", expression="1+" * 600 + "1")
    assert run("evaluate", expression="+".join(["1"] * 500))["result"] == 500
    error = refused("evaluate", expression="-" * 900 + "1")
    assert "nested more than" in str(error)
    error = refused("evaluate", expression="(" * 300 + "1" + ")" * 300)
    assert "expression:" in str(error)


def test_evaluate_checks_variables() -> None:
    assert "finite" in invalid("evaluate", expression="x", variables={"x": math.nan})
    assert "finite" in invalid("evaluate", expression="x", variables={"x": math.inf})
    assert "1024 bits" in invalid("evaluate", expression="x", variables={"x": 2**2000})
    assert "is not a name" in invalid("evaluate", expression="x", variables={"__class__": 1})
    assert "name of a function" in invalid("evaluate", expression="x", variables={"sqrt": 1})
    assert "valid number" in invalid("evaluate", expression="x", variables={"x": "os"})
    assert run("evaluate", expression="pi", variables={"pi": 3})["result"] == 3


# -- statistics


def test_statistics_describe_values() -> None:
    out = run("statistics", values=[2, 4, 4, 4, 5, 5, 7, 9], percentiles=[0, 50, 90, 100])
    assert out["count"] == 8
    assert out["sum"] == 40
    assert out["mean"] == 5
    assert out["median"] == 4.5
    assert (out["mode"], out["mode_count"]) == (4, 3)
    assert (out["min"], out["max"]) == (2, 9)
    assert out["variance"] == pytest.approx(32 / 7)
    assert out["std_dev"] == pytest.approx(math.sqrt(32 / 7))
    assert [p["value"] for p in out["percentiles"]] == pytest.approx([2, 4.5, 7.6, 9])
    assert out["regression"] is None
    population = run("statistics", values=[2, 4, 4, 4, 5, 5, 7, 9], population=True)
    assert population["std_dev"] == pytest.approx(2.0)


def test_statistics_one_value_has_no_sample_variance_and_ties_pick_the_smallest_mode() -> None:
    assert run("statistics", values=[3])["variance"] is None
    out = run("statistics", values=[3, 1, 3, 1, 2])
    assert (out["mode"], out["mode_count"]) == (1, 2)


def test_statistics_correlation_and_regression() -> None:
    out = run("statistics", x=[1, 2, 3, 4, 5], y=[3, 5, 7, 9, 11])
    regression = out["regression"]
    assert regression["slope"] == pytest.approx(2)
    assert regression["intercept"] == pytest.approx(1)
    assert regression["r"] == pytest.approx(1)
    assert regression["r_squared"] == pytest.approx(1)
    assert out["mean"] is None
    negative = run("statistics", x=[1, 2, 3, 4], y=[8, 6, 5, 1])["regression"]
    assert -1 < negative["r"] < -0.9
    flat = run("statistics", x=[1, 2, 3], y=[4, 4, 4])["regression"]
    assert (flat["slope"], flat["r"]) == (0, None)
    error = refused("statistics", x=[2, 2, 2], y=[1, 2, 3])
    assert "x: all values are equal" in str(error)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"values": [1, math.nan, 3]}, "values[1] is nan"),
        ({"values": [1, 2, math.inf]}, "values[2] is inf"),
        ({"x": [1, -math.inf], "y": [1, 2]}, "x[1] is -inf"),
        ({"x": [1, 2], "y": [math.nan, 2]}, "y[0] is nan"),
        ({"values": []}, "values: give at least one number"),
        ({}, "give 'values', or 'x' and 'y'"),
        ({"x": [1, 2]}, "give both 'x' and 'y'"),
        ({"x": [1, 2, 3], "y": [1, 2]}, "'x' has 3 numbers and 'y' 2"),
        ({"x": [1], "y": [1]}, "at least two"),
        ({"values": [1], "percentiles": [101]}, "less than or equal to 100"),
        ({"values": ["a"]}, "valid number"),
    ],
)
def test_statistics_refuses_bad_input_naming_the_field(
    params: dict[str, Any], message: str
) -> None:
    assert message in invalid("statistics", **params)


def test_statistics_refuses_too_many_values_without_reading_them() -> None:
    started = time.monotonic()
    message = invalid("statistics", values=[0.0] * 1_000_001)
    assert "at most 1,000,000 numbers" in message
    assert time.monotonic() - started < 1.0


def test_statistics_overflow_is_a_clear_error() -> None:
    error = refused("statistics", values=[1e308, 1e308])
    assert error.type == "Overflow"


def test_statistics_handles_a_million_values() -> None:
    out = run("statistics", values=[float(i % 100) for i in range(1_000_000)])
    assert out["count"] == 1_000_000
    assert out["mean"] == pytest.approx(49.5)


# -- matrix


def test_matrix_multiply_and_transpose() -> None:
    out = run("matrix", operation="multiply", a=[[1, 2], [3, 4]], b=[[5, 6], [7, 8]])
    assert out["result"] == [[19, 22], [43, 50]]
    assert run("matrix", operation="multiply", a=[[1, 2, 3]], b=[[1], [1], [1]])["result"] == [[6]]
    assert run("matrix", operation="transpose", a=[[1, 2, 3], [4, 5, 6]])["result"] == [
        [1, 4],
        [2, 5],
        [3, 6],
    ]
    error = refused("matrix", operation="multiply", a=[[1, 2]], b=[[1, 2]])
    assert "a is 1 x 2 and b is 1 x 2" in str(error)
    assert "needs a matrix" in str(refused("matrix", operation="multiply", a=[[1]], b=[1]))


def test_matrix_inverse_determinant_and_solve() -> None:
    inverse = run("matrix", operation="inverse", a=[[4, 7], [2, 6]])["result"]
    assert inverse == [pytest.approx([0.6, -0.7]), pytest.approx([-0.2, 0.4])]
    det = run("matrix", operation="determinant", a=[[4, 7], [2, 6]])
    assert det["result"] == pytest.approx(10)
    assert det["sign"] == 1
    assert det["log_abs_determinant"] == pytest.approx(math.log(10))
    x = run("matrix", operation="solve", a=[[3, 1], [1, 2]], b=[9, 8])["result"]
    assert x == pytest.approx([2, 3])
    xs = run("matrix", operation="solve", a=[[3, 1], [1, 2]], b=[[9, 1], [8, 2]])["result"]
    assert [row[0] for row in xs] == pytest.approx([2, 3])
    error = refused("matrix", operation="solve", a=[[3, 1], [1, 2]], b=[1, 2, 3])
    assert "b has 3 rows" in str(error)


def test_matrix_singular_is_a_clear_error() -> None:
    singular = [[1, 2], [2, 4]]
    for operation in ("inverse", "solve"):
        extra = {"b": [1, 2]} if operation == "solve" else {}
        error = refused("matrix", operation=operation, a=singular, **extra)
        assert error.type == "SingularMatrix"
        assert "a is singular" in str(error)
    det = run("matrix", operation="determinant", a=singular)
    assert (det["result"], det["sign"], det["log_abs_determinant"]) == (0, 0, None)
    nearly = [[1, 1], [1, 1 + 1e-17]]
    assert refused("matrix", operation="inverse", a=nearly).type == "SingularMatrix"


def test_matrix_eigenvalues_real_and_complex() -> None:
    assert run("matrix", operation="eigenvalues", a=[[2, 1], [1, 2]])["result"] == pytest.approx(
        [1, 3]
    )
    rotation = run("matrix", operation="eigenvalues", a=[[0, -1], [1, 0]])["result"]
    assert sorted((v["real"], v["imag"]) for v in rotation) == [
        pytest.approx((0, -1)),
        pytest.approx((0, 1)),
    ]
    triangular = run("matrix", operation="eigenvalues", a=[[1, 5], [0, 3]])["result"]
    assert sorted(triangular) == pytest.approx([1, 3])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"operation": "transpose", "a": [[1, 2], [3]]}, "not rectangular: row 1 has 1"),
        ({"operation": "transpose", "a": []}, "at least one row"),
        ({"operation": "transpose", "a": [[]]}, "at least one column"),
        ({"operation": "transpose", "a": [1, 2]}, "row 0 is not a list"),
        ({"operation": "transpose", "a": [[1, math.nan]]}, "a[0][1] is nan"),
        ({"operation": "solve", "a": [[1]], "b": [math.inf]}, "b[0] is inf"),
        ({"operation": "multiply", "a": [[1]]}, "multiply needs 'b'"),
        ({"operation": "inverse", "a": [[1]], "b": [[1]]}, "inverse takes no 'b'"),
        ({"operation": "power", "a": [[1]]}, "Input should be"),
        ({"operation": "transpose", "a": [[0.0] * 1001]}, "at most 1,000 columns"),
        ({"operation": "solve", "a": [[1]], "b": [0.0] * 1001}, "at most 1,000 numbers"),
        ({"operation": "solve", "a": [[1]], "b": [[1], 2]}, "row 1 is not a list"),
    ],
)
def test_matrix_refuses_malformed_input(params: dict[str, Any], message: str) -> None:
    assert message in invalid("matrix", **params)


def test_matrix_non_square_is_refused() -> None:
    for operation in ("inverse", "determinant", "eigenvalues"):
        error = refused("matrix", operation=operation, a=[[1, 2, 3], [4, 5, 6]])
        assert "needs a square matrix, not 2 x 3" in str(error)


def test_a_10000_by_10000_matrix_is_refused_before_any_work() -> None:
    row = [0.0] * 10_000
    huge = [row] * 10_000  # one shared row: cheap to build, 100 million cells to validate
    started = time.monotonic()
    with pytest.raises(ValidationError) as info:
        run("matrix", operation="transpose", a=huge)
    text = str(info.value)  # the input is not printed, so this is fast too
    assert time.monotonic() - started < 1.0
    assert "at most 1,000 rows are allowed, not 10,000" in text
    started = time.monotonic()
    with pytest.raises(ValidationError):
        run("matrix", operation="multiply", a=[[1.0]], b=huge)
    with pytest.raises(ValidationError):
        run("matrix", operation="solve", a=[[1.0]], b=[[0.0] * 1000] * 1_000_000)
    assert time.monotonic() - started < 1.0


def test_matrix_overflow_is_a_clear_error() -> None:
    error = refused("matrix", operation="multiply", a=[[1e200]], b=[[1e200]])
    assert error.type == "Overflow"
