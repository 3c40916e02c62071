"""The math connector: safe arithmetic expressions, descriptive statistics and regression, and
matrix algebra on NumPy.

Every input is bounded before any work starts: expressions by length, nesting and the size of
the numbers they may make; lists and matrices by their length and shape, checked before pydantic
looks at a single element, so a 10,000 x 10,000 matrix is refused without being read.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, Self, TypeAlias

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from flowforge.connectors.sdk import ActionError, Connector, Context

__all__ = ["connector"]

connector = Connector(
    "math",
    name="Math",
    description="Evaluate arithmetic expressions, compute statistics and regressions, and "
    "multiply, invert and solve matrices.",
    category="Data",
    icon="calculator",
)

MAX_EXPRESSION = 1_000  # characters
MAX_DEPTH = 600  # nesting of the expression tree (1+1+... of 1,000 characters is 500)
MAX_VARIABLES = 100
MAX_INT_BITS = 1_024  # about the range of a float: 1.8e308
MAX_ROUND_DIGITS = 308
MAX_FACTORIAL = 170  # the largest whose result is a finite float
MAX_VALUES = 1_000_000
MAX_PERCENTILES = 100
MAX_DIM = 1_000
MAX_CELLS = 1_000_000
SINGULAR_CONDITION = 1 / float(np.finfo(np.float64).eps)

Number: TypeAlias = int | float


class _Params(BaseModel):
    # Inputs may be huge lists: a validation error must not print them (that alone takes seconds).
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


def _invalid(message: str, type: str = "InvalidInput") -> ActionError:
    return ActionError(message, retryable=False, type=type)


# -- evaluate


class _Refused(Exception):
    """An expression the evaluator will not run; the message says why."""


def _check_number(value: Any) -> Number:
    """``value`` if it is a finite real number within the size bound."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        if value.bit_length() > MAX_INT_BITS:
            raise _Refused(f"a result has more than {MAX_INT_BITS} bits (about 1.8e308)")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Refused("a result is not a finite number (overflow or an undefined value)")
        return value
    if isinstance(value, complex):
        raise _Refused(
            "a result is a complex number (for example a fractional power of a negative)"
        )
    raise _Refused(f"a result is not a number: {type(value).__name__}")


def _power(base: Number, exponent: Number) -> Number:
    # Estimate the size of an integer power before computing it: 9**9**9 would take minutes.
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and abs(base) > 1
        and exponent * math.log2(abs(base)) > MAX_INT_BITS
    ):
        raise _Refused(f"{base} ** {exponent} would have more than {MAX_INT_BITS} bits")
    try:
        result: Number = base**exponent
    except OverflowError:
        raise _Refused(f"{base} ** {exponent} overflows") from None
    return result


def _round(value: Number, digits: Number = 0) -> Number:
    if not isinstance(digits, int) or abs(digits) > MAX_ROUND_DIGITS:
        raise _Refused(f"round: the digits must be an integer within +-{MAX_ROUND_DIGITS}")
    return round(value, digits) if digits else round(value)


def _factorial(value: Number) -> Number:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= MAX_FACTORIAL:
        raise _Refused(f"factorial: the argument must be an integer from 0 to {MAX_FACTORIAL}")
    return math.factorial(value)


_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: _power,
}
_UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
# name -> (function, fewest arguments, most arguments)
_FUNCTIONS: dict[str, tuple[Callable[..., Number], int, int]] = {
    "abs": (abs, 1, 1),
    "round": (_round, 1, 2),
    "min": (lambda *args: min(args), 1, 100),
    "max": (lambda *args: max(args), 1, 100),
    "sqrt": (math.sqrt, 1, 1),
    "exp": (math.exp, 1, 1),
    "log": (math.log, 1, 2),
    "log10": (math.log10, 1, 1),
    "log2": (math.log2, 1, 1),
    "sin": (math.sin, 1, 1),
    "cos": (math.cos, 1, 1),
    "tan": (math.tan, 1, 1),
    "asin": (math.asin, 1, 1),
    "acos": (math.acos, 1, 1),
    "atan": (math.atan, 1, 1),
    "atan2": (math.atan2, 2, 2),
    "sinh": (math.sinh, 1, 1),
    "cosh": (math.cosh, 1, 1),
    "tanh": (math.tanh, 1, 1),
    "degrees": (math.degrees, 1, 1),
    "radians": (math.radians, 1, 1),
    "floor": (math.floor, 1, 1),
    "ceil": (math.ceil, 1, 1),
    "trunc": (math.trunc, 1, 1),
    "hypot": (math.hypot, 1, 100),
    "factorial": (_factorial, 1, 1),
}
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


class _Evaluator:
    """Walks a parsed expression, allowing only the whitelisted nodes."""

    def __init__(self, variables: dict[str, Number]) -> None:
        self.variables = variables

    def run(self, node: ast.AST, depth: int = 0) -> Number:
        if depth > MAX_DEPTH:
            raise _Refused(f"it is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, ast.Expression):
            return self.run(node.body, depth + 1)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise _Refused(f"{node.value!r} is not a number")
            return _check_number(node.value)
        if isinstance(node, ast.Name):
            if node.id in self.variables:
                return self.variables[node.id]
            if node.id in _CONSTANTS:
                return _CONSTANTS[node.id]
            raise _Refused(f"unknown name {node.id!r} (not a variable, constant or function)")
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left = self.run(node.left, depth + 1)
            right = self.run(node.right, depth + 1)
            return _check_number(_BINARY[type(node.op)](left, right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _check_number(_UNARY[type(node.op)](self.run(node.operand, depth + 1)))
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        raise _Refused(
            f"{type(node).__name__} is not allowed (only numbers, + - * / // % **, "
            "parentheses, variables and the listed functions)"
        )

    def call(self, node: ast.Call, depth: int) -> Number:
        if not isinstance(node.func, ast.Name):
            raise _Refused(
                f"{type(node.func).__name__} is not allowed (only the listed functions may be called)"
            )
        if node.func.id not in _FUNCTIONS:
            raise _Refused(
                f"{node.func.id!r} is not an allowed function; use one of {', '.join(_FUNCTIONS)}"
            )
        if node.keywords:
            raise _Refused(f"{node.func.id}: keyword arguments are not allowed")
        function, fewest, most = _FUNCTIONS[node.func.id]
        if not fewest <= len(node.args) <= most:
            raise _Refused(
                f"{node.func.id} takes {fewest} to {most} arguments, not {len(node.args)}"
            )
        args = [self.run(arg, depth + 1) for arg in node.args]
        try:
            return _check_number(function(*args))
        except (ValueError, OverflowError, TypeError) as exc:
            shown = ", ".join(str(arg) for arg in args)
            raise _Refused(f"{node.func.id}({shown}): {exc}") from None


def _variable_value(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise ValueError(f"integers are limited to {MAX_INT_BITS} bits")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("only finite numbers are allowed, not NaN or infinity")
    return value


VariableValue = Annotated[int | float, BeforeValidator(_variable_value)]


class EvaluateParams(_Params):
    expression: str = Field(
        min_length=1,
        max_length=MAX_EXPRESSION,
        description="Arithmetic: numbers, + - * / // % **, parentheses, variables, constants "
        "pi e tau, and functions " + ", ".join(_FUNCTIONS),
        examples=["sqrt(x**2 + y**2)", "round(price * (1 + rate / 100), 2)"],
    )
    variables: dict[str, VariableValue] = Field(
        default_factory=dict,
        max_length=MAX_VARIABLES,
        description="Numbers the expression may use by name",
    )

    @model_validator(mode="after")
    def _names(self) -> Self:
        for name in self.variables:
            if not _IDENTIFIER.match(name):
                raise ValueError(f"variables: {name!r} is not a name (letters, digits and _)")
            if name in _FUNCTIONS:
                raise ValueError(f"variables: {name!r} is the name of a function")
        return self


class EvaluateResult(BaseModel):
    result: int | float = Field(description="The value of the expression")


@connector.action("evaluate", input=EvaluateParams, output=EvaluateResult)
def evaluate(params: EvaluateParams, ctx: Context) -> EvaluateResult:
    """Evaluate an arithmetic expression with named variables, safely.

    Only numbers, arithmetic operators, parentheses, the given variables, the constants pi, e and
    tau and a fixed list of functions are allowed; integers are limited to 1,024 bits.
    """
    try:
        tree = ast.parse(params.expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise _invalid(f"expression: not valid arithmetic ({exc.msg})", "ExpressionError") from None
    except (RecursionError, MemoryError, ValueError):
        raise _invalid("expression: too deeply nested", "ExpressionError") from None
    try:
        value = _Evaluator(dict(params.variables)).run(tree)
    except _Refused as exc:
        raise _invalid(f"expression: {exc}", "ExpressionError") from None
    except ZeroDivisionError:
        raise _invalid("expression: division by zero", "ExpressionError") from None
    except OverflowError:
        raise _invalid("expression: a number is too large for a float", "ExpressionError") from None
    except RecursionError:
        raise _invalid("expression: too deeply nested", "ExpressionError") from None
    return EvaluateResult(result=value)


# -- shared checks for numeric lists and matrices


def _list_shape(limit: int) -> Callable[[Any], Any]:
    """A before-validator that refuses a list longer than ``limit`` without reading its items."""

    def check(value: Any) -> Any:
        if isinstance(value, list | tuple) and len(value) > limit:
            raise ValueError(f"at most {limit:,} numbers are allowed, not {len(value):,}")
        return value

    return check


def _matrix_shape(value: Any) -> Any:
    """Refuse a matrix that is too large or not rectangular before its cells are validated."""
    if not isinstance(value, list | tuple):
        return value  # pydantic says it is not a list
    if not value:
        raise ValueError("a matrix needs at least one row")
    if len(value) > MAX_DIM:
        raise ValueError(f"at most {MAX_DIM:,} rows are allowed, not {len(value):,}")
    width: int | None = None
    for i, row in enumerate(value):
        if not isinstance(row, list | tuple):
            raise ValueError(f"row {i} is not a list of numbers")
        if len(row) > MAX_DIM:
            raise ValueError(f"at most {MAX_DIM:,} columns are allowed, not {len(row):,}")
        if width is None:
            width = len(row)
            if width == 0:
                raise ValueError("a matrix needs at least one column")
        elif len(row) != width:
            raise ValueError(
                f"the matrix is not rectangular: row {i} has {len(row)} numbers, row 0 has {width}"
            )
    if len(value) * (width or 0) > MAX_CELLS:
        raise ValueError(f"at most {MAX_CELLS:,} cells are allowed")
    return value


def _finite(values: np.ndarray[Any, Any], field: str) -> None:
    """Refuse NaN and infinity with the position of the first one."""
    bad = ~np.isfinite(values)
    if bad.any():
        position = tuple(int(i) for i in np.argwhere(bad)[0])
        where = "".join(f"[{i}]" for i in position)
        raise ValueError(f"{field}{where} is {values[position]}: only finite numbers are allowed")


def _vector_or_matrix_shape(value: Any) -> Any:
    """Bound a vector like a matrix row before either reading of the union is tried."""
    if isinstance(value, list | tuple) and any(isinstance(row, list | tuple) for row in value):
        return _matrix_shape(value)
    if isinstance(value, list | tuple) and len(value) > MAX_DIM:
        raise ValueError(f"at most {MAX_DIM:,} numbers are allowed, not {len(value):,}")
    return value


NumberList = Annotated[list[float], BeforeValidator(_list_shape(MAX_VALUES))]
Matrix = Annotated[list[list[float]], BeforeValidator(_matrix_shape)]
VectorOrMatrix = Annotated[
    list[list[float]] | list[float], BeforeValidator(_vector_or_matrix_shape)
]


# -- statistics


class StatisticsParams(_Params):
    values: NumberList | None = Field(
        None, description=f"The numbers to describe (at most {MAX_VALUES:,})"
    )
    percentiles: list[Annotated[float, Field(ge=0, le=100)]] = Field(
        default_factory=lambda: [25.0, 50.0, 75.0],
        max_length=MAX_PERCENTILES,
        description="Percentiles of 'values' to give, each from 0 to 100",
    )
    population: bool = Field(
        False, description="Population variance and deviation (divide by n, not n - 1)"
    )
    x: NumberList | None = Field(None, description="Inputs for correlation and regression")
    y: NumberList | None = Field(None, description="Outputs, as many as 'x'")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.values is None and self.x is None and self.y is None:
            raise ValueError("give 'values', or 'x' and 'y', or both")
        if (self.x is None) != (self.y is None):
            raise ValueError("give both 'x' and 'y' for correlation and regression")
        for name in ("values", "x", "y"):
            data = getattr(self, name)
            if data is not None:
                if not data:
                    raise ValueError(f"{name}: give at least one number")
                _finite(np.asarray(data, dtype=np.float64), name)
        if self.x is not None and self.y is not None:
            if len(self.x) != len(self.y):
                raise ValueError(
                    f"'x' has {len(self.x):,} numbers and 'y' {len(self.y):,}: give as many of each"
                )
            if len(self.x) < 2:
                raise ValueError("correlation and regression need at least two (x, y) pairs")
        return self


class PercentileValue(BaseModel):
    percentile: float
    value: float


class Regression(BaseModel):
    slope: float = Field(description="y = slope * x + intercept, by least squares")
    intercept: float
    r: float | None = Field(description="Pearson correlation; null when 'y' is constant")
    r_squared: float | None


class StatisticsResult(BaseModel):
    count: int | None = None
    sum: float | None = None
    mean: float | None = None
    median: float | None = None
    mode: float | None = Field(None, description="The most frequent value (the smallest, on a tie)")
    mode_count: int | None = Field(None, description="How often the mode occurs")
    min: float | None = None
    max: float | None = None
    variance: float | None = Field(None, description="Null for one sample value")
    std_dev: float | None = None
    percentiles: list[PercentileValue] | None = None
    regression: Regression | None = None


def _describe(params: StatisticsParams, values: list[float]) -> dict[str, Any]:
    data = np.asarray(values, dtype=np.float64)
    ddof = 0 if params.population else 1
    uniques, counts = np.unique(data, return_counts=True)
    top = int(np.argmax(counts))  # the first, so the smallest, of the most frequent
    variance = float(np.var(data, ddof=ddof)) if data.size > ddof else None
    cuts: list[float] = (
        np.percentile(data, params.percentiles).tolist() if params.percentiles else []
    )
    return {
        "count": int(data.size),
        "sum": float(np.sum(data)),
        "mean": float(np.mean(data)),
        "median": float(np.median(data)),
        "mode": float(uniques[top]),
        "mode_count": int(counts[top]),
        "min": float(np.min(data)),
        "max": float(np.max(data)),
        "variance": variance,
        "std_dev": math.sqrt(variance) if variance is not None else None,
        "percentiles": [
            {"percentile": p, "value": v} for p, v in zip(params.percentiles, cuts, strict=True)
        ],
    }


def _regress(x_values: list[float], y_values: list[float]) -> dict[str, Any]:
    x = np.asarray(x_values, dtype=np.float64)
    y = np.asarray(y_values, dtype=np.float64)
    dx = x - x.mean()
    dy = y - y.mean()
    sxx = float(dx @ dx)
    if sxx == 0:
        raise _invalid("x: all values are equal, so there is no regression line or correlation")
    syy = float(dy @ dy)
    sxy = float(dx @ dy)
    slope = sxy / sxx
    r = None if syy == 0 else max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))
    return {
        "slope": slope,
        "intercept": float(y.mean() - slope * x.mean()),
        "r": r,
        "r_squared": None if r is None else r * r,
    }


def _all_finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_all_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_all_finite(v) for v in value)
    return True


@connector.action("statistics", input=StatisticsParams, output=StatisticsResult)
def statistics(params: StatisticsParams, ctx: Context) -> StatisticsResult:
    """Describe a list of numbers, and fit a line through x/y pairs.

    Gives count, sum, mean, median, mode, min, max, variance, standard deviation and percentiles
    of 'values'; and the slope, intercept and correlation of 'y' against 'x'.
    """
    out: dict[str, Any] = {}
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            if params.values is not None:
                out.update(_describe(params, params.values))
            if params.x is not None and params.y is not None:
                out["regression"] = _regress(params.x, params.y)
    except (FloatingPointError, OverflowError):
        raise _invalid("the numbers are too large to compute with (overflow)", "Overflow") from None
    if not _all_finite(out):
        raise _invalid("the numbers are too large to compute with (overflow)", "Overflow")
    return StatisticsResult.model_validate(out)


# -- matrices


class MatrixParams(_Params):
    operation: Literal[
        "multiply", "transpose", "inverse", "determinant", "solve", "eigenvalues"
    ] = Field(description="What to compute")
    a: Matrix = Field(
        description=f"The matrix, a list of rows (at most {MAX_DIM:,} x {MAX_DIM:,})",
        examples=[[[1, 2], [3, 4]]],
    )
    b: VectorOrMatrix | None = Field(
        None,
        description="multiply: the right-hand matrix; solve: the right-hand side, a vector or a "
        "matrix with as many rows as 'a'",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        _finite(np.asarray(self.a, dtype=np.float64), "a")
        if self.b is not None:
            _finite(np.asarray(self.b, dtype=np.float64), "b")
        if self.operation in ("multiply", "solve") and self.b is None:
            raise ValueError(f"{self.operation} needs 'b'")
        if self.operation not in ("multiply", "solve") and self.b is not None:
            raise ValueError(f"{self.operation} takes no 'b'")
        return self


class ComplexNumber(BaseModel):
    real: float
    imag: float


class MatrixResult(BaseModel):
    operation: str
    result: list[list[float]] | list[float] | list[float | ComplexNumber] | float | None = Field(
        description="multiply, transpose, inverse: a matrix; determinant: a number (null if it "
        "overflows); solve: x, shaped like 'b'; eigenvalues: a list, complex ones as {real, imag}"
    )
    sign: float | None = Field(None, description="determinant: its sign (1, -1 or 0)")
    log_abs_determinant: float | None = Field(
        None, description="determinant: the natural log of its absolute value (null when 0)"
    )


def _square(a: np.ndarray[Any, Any], operation: str) -> None:
    if a.shape[0] != a.shape[1]:
        raise _invalid(f"a: {operation} needs a square matrix, not {a.shape[0]} x {a.shape[1]}")


def _nonsingular(a: np.ndarray[Any, Any], operation: str) -> None:
    # LAPACK only notices exact zero pivots; a condition number past 1/eps is singular in floats.
    if a.shape[0] and float(np.linalg.cond(a)) > SINGULAR_CONDITION:
        raise _invalid(
            f"a is singular (or nearly so): {operation} has no unique answer", "SingularMatrix"
        )


def _eigenvalues(a: np.ndarray[Any, Any]) -> list[float | ComplexNumber]:
    if np.array_equal(a, a.T):
        return [float(v) for v in np.linalg.eigvalsh(a)]
    values = np.linalg.eigvals(a)
    scale = max(1.0, float(np.max(np.abs(values))))
    out: list[float | ComplexNumber] = []
    for v in values:
        if abs(v.imag) <= 1e-12 * scale:
            out.append(float(v.real))
        else:
            out.append(ComplexNumber(real=float(v.real), imag=float(v.imag)))
    return out


def _compute(params: MatrixParams) -> dict[str, Any]:
    a = np.asarray(params.a, dtype=np.float64)
    op = params.operation
    if op == "transpose":
        return {"result": a.T.tolist()}
    if op == "multiply":
        b = np.asarray(params.b, dtype=np.float64)
        if b.ndim != 2:
            raise _invalid("b: multiply needs a matrix (a list of rows)")
        if a.shape[1] != b.shape[0]:
            raise _invalid(
                f"a is {a.shape[0]} x {a.shape[1]} and b is {b.shape[0]} x {b.shape[1]}: "
                "a needs as many columns as b has rows"
            )
        return {"result": (a @ b).tolist()}
    _square(a, op)
    if op == "determinant":
        sign, log_abs = np.linalg.slogdet(a)
        det = float(np.linalg.det(a)) if sign != 0 else 0.0
        return {
            "result": det if math.isfinite(det) else None,
            "sign": float(sign),
            "log_abs_determinant": float(log_abs) if sign != 0 else None,
        }
    if op == "eigenvalues":
        return {"result": _eigenvalues(a)}
    _nonsingular(a, op)
    if op == "inverse":
        return {"result": np.linalg.inv(a).tolist()}
    b = np.asarray(params.b, dtype=np.float64)
    if b.shape[0] != a.shape[0]:
        raise _invalid(f"b has {b.shape[0]} rows; it needs as many as a, {a.shape[0]}")
    return {"result": np.linalg.solve(a, b).tolist()}


@connector.action("matrix", input=MatrixParams, output=MatrixResult)
def matrix(params: MatrixParams, ctx: Context) -> MatrixResult:
    """Multiply, transpose, invert or solve matrices; give determinants and eigenvalues.

    Matrices are lists of rows of at most 1,000 x 1,000; 'solve' finds x in a @ x = b.
    """
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            out = _compute(params)
    except np.linalg.LinAlgError as exc:
        raise _invalid(f"a: {exc}", "SingularMatrix") from None
    except FloatingPointError:
        raise _invalid("the numbers are too large to compute with (overflow)", "Overflow") from None
    if not _all_finite(out["result"]):
        raise _invalid("the result overflows the range of floating point numbers", "Overflow")
    return MatrixResult(operation=params.operation, **out)
