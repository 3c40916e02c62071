"""Sandboxed ``{{ }}`` expressions, on Jinja2's immutable sandbox.

A string that is one expression and nothing else evaluates to the native value; a string mixing
text and expressions renders to text (objects and lists as JSON). Only ``{{ }}`` is special:
``{%`` and ``{#`` are plain text, and each expression is compiled alone, so no statement can run.

Hostile input must fail with ExpressionError, never run code, never exhaust the machine:
- attributes: only keys of mappings and a short list of methods of str, list and dict are
  reachable; nothing starting with ``_``, nothing of a type, function or module;
- work is bounded by budgets counted in the sandbox's hooks (attribute and item access, calls,
  operators, every filter and test) and checked *before* an operation that could allocate a lot
  (``'a' * 10**10``, ``'x'.center(10**9)``, ``2 ** 10**10``, format widths, ``batch``, ``slice``);
- the result's size and depth are measured after evaluation.
Budgets count operations and bytes, not seconds: the pure scheduler evaluates ``for_each`` and
``output`` and may replay a run, so an evaluation must give the same outcome every time it runs.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from string import Formatter
from typing import Any, cast

from jinja2 import ChainableUndefined, TemplateError, Undefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import TemplateExpression
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.meta import find_undeclared_variables
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing
from markupsafe import Markup

from flowforge.errors import FlowForgeError

__all__ = [
    "DEFAULT_LIMITS",
    "GLOBAL_NAMES",
    "ExpressionError",
    "Limits",
    "check_syntax",
    "contains_expression",
    "evaluate",
    "find_errors",
    "is_expression",
    "names_used",
    "render",
]


class ExpressionError(FlowForgeError):
    """An expression that cannot be compiled or evaluated, with the reason."""

    def __init__(self, expression: str, reason: str) -> None:
        shown = expression if len(expression) <= 120 else expression[:117] + "..."
        super().__init__(f"expression {shown!r}: {reason}")
        self.expression = expression
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Limits:
    """What one evaluation may use."""

    max_source_chars: int = 10_000
    max_ops: int = 200_000
    max_result_bytes: int = 10 * 1024 * 1024
    max_string_bytes: int = 1024 * 1024  # any one string or list an operation builds
    max_total_bytes: int = 64 * 1024 * 1024  # all that the operations of one evaluation build
    max_int_bits: int = 32_768
    max_depth: int = 100
    max_range: int = 100_000


DEFAULT_LIMITS = Limits()
GLOBAL_NAMES = frozenset({"range", "dict"})

_STR_METHODS = frozenset(
    [
        "capitalize",
        "casefold",
        "center",
        "count",
        "endswith",
        "find",
        "format",
        "index",
        "isalnum",
        "isalpha",
        "isdigit",
        "islower",
        "isnumeric",
        "isspace",
        "istitle",
        "isupper",
        "join",
        "ljust",
        "lower",
        "lstrip",
        "partition",
        "removeprefix",
        "removesuffix",
        "replace",
        "rfind",
        "rindex",
        "rjust",
        "rpartition",
        "rsplit",
        "rstrip",
        "split",
        "splitlines",
        "startswith",
        "strip",
        "swapcase",
        "title",
        "upper",
        "zfill",
        "expandtabs",
    ]
)
_LIST_METHODS = frozenset({"count", "index"})
_DICT_METHODS = frozenset({"get", "items", "keys", "values"})
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})
_DROPPED_FILTERS = ("random", "urlize", "xmlattr", "pprint")


class _Budget:
    __slots__ = ("bytes", "limits", "ops", "source")

    def __init__(self, limits: Limits, source: str) -> None:
        self.limits, self.source, self.ops, self.bytes = limits, source, 0, 0

    def tick(self) -> None:
        self.ops += 1
        if self.ops > self.limits.max_ops:
            raise _Stop(f"too much work (more than {self.limits.max_ops} operations)")

    def size(self, n: int) -> None:
        """Check one value an operation is about to build, and charge it."""
        if n > self.limits.max_string_bytes:
            raise _Stop(
                f"a value would hold {n} characters or items (limit {self.limits.max_string_bytes})"
            )
        self.bytes += n
        if self.bytes > self.limits.max_total_bytes:
            raise _Stop(f"evaluation builds more than {self.limits.max_total_bytes} bytes")


class _Stop(Exception):
    """A budget ran out; becomes ExpressionError."""


_budget: ContextVar[_Budget] = ContextVar("flowforge_expression_budget")


def _charge(value: Any) -> Any:
    if isinstance(value, str | list | tuple | dict | bytes):
        _budget.get().size(len(value))
    elif isinstance(value, int) and value.bit_length() > _budget.get().limits.max_int_bits:
        raise _Stop(f"an integer would be larger than {_budget.get().limits.max_int_bits} bits")
    return value


def _length(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple | dict) else 1


class _Undefined(ChainableUndefined):
    """Absent names and keys: test as undefined and false, chain (``nodes.x.output is defined``),
    but fail with a message naming them when their value is used."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        name = self._undefined_name
        obj = self._undefined_obj
        if obj is missing:
            return f"{name!r} is not defined"
        if type(obj).__name__ == "NodesScope":
            done = ", ".join(obj) or "none yet"
            return f"node {name!r} has not completed (completed: {done})"
        if isinstance(obj, Undefined):
            return f"{name!r} of an undefined value"
        kind = type(obj).__name__
        return f"{kind} value has no attribute or key {name!r}"

    def __str__(self) -> str:
        self._fail_with_undefined_error()

    def __iter__(self) -> Iterator[Any]:
        self._fail_with_undefined_error()

    def __len__(self) -> int:
        self._fail_with_undefined_error()


class _CodeGenerator(CodeGenerator):
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # ``a ~ b ~ c`` goes through the budget like every other operator
        self.write("environment.flowforge_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Environment(ImmutableSandboxedEnvironment):
    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "-", "%", "/", "//"})
    intercepted_unops = frozenset({"-", "+"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr.startswith("_"):
            return False
        if isinstance(obj, str):
            return attr in _STR_METHODS
        if isinstance(obj, list | tuple):
            return attr in _LIST_METHODS
        if isinstance(obj, Mapping):
            return attr in _DICT_METHODS
        return False

    def getattr(self, obj: Any, attribute: str) -> Any:
        _budget.get().tick()
        if isinstance(obj, Mapping):  # data first: trigger.items is the key, not dict.items
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        if isinstance(obj, Undefined):
            return obj  # keeps naming the first missing name along the chain
        try:
            value = getattr(obj, attribute)
        except AttributeError:
            return self.undefined(obj=obj, name=attribute)
        except Exception:  # a property raising: treat as absent
            return self.undefined(obj=obj, name=attribute)
        if self.is_safe_attribute(obj, attribute, value):
            if attribute in ("format", "format_map"):
                _check_format_spec(obj)
                return self.wrap_str_format(value)  # fields resolve through this sandbox
            return value
        raise SecurityError(
            f"access to attribute {attribute!r} of a {type(obj).__name__} is not allowed"
        )

    def getitem(self, obj: Any, argument: Any) -> Any:
        _budget.get().tick()
        if isinstance(obj, Undefined):
            return obj
        try:
            return obj[argument]
        except (TypeError, LookupError):
            if isinstance(argument, str):
                return self.getattr(obj, argument)
        return self.undefined(obj=obj, name=str(argument))

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _budget.get()
        budget.tick()
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if isinstance(owner, str):
            _check_str_call(owner, name, args, kwargs)
        return _charge(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _budget.get().tick()
        _check_binop(operator, left, right)
        return _charge(super().call_binop(context, operator, left, right))

    def call_unop(self, context: Any, operator: str, arg: Any) -> Any:
        _budget.get().tick()
        return super().call_unop(context, operator, arg)

    def flowforge_concat(self, parts: tuple[Any, ...]) -> str:
        budget = _budget.get()
        budget.tick()
        texts = []
        total = 0
        for part in parts:
            text = _to_text(part)
            total += len(text)
            budget.size(total)
            texts.append(text)
        return "".join(texts)


def _check_str_call(s: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    budget = _budget.get()
    cap = budget.limits.max_string_bytes
    if name in _WIDTH_METHODS and args and isinstance(args[0], int) and args[0] > cap:
        raise _Stop(f"{name}() width {args[0]} is over the limit of {cap}")
    if name == "expandtabs":
        size = args[0] if args and isinstance(args[0], int) else 8
        budget.size(len(s) + s.count("\t") * max(0, size))
    elif (
        name == "replace"
        and len(args) >= 2
        and isinstance(args[0], str)
        and isinstance(args[1], str)
    ):
        occurrences = s.count(args[0])
        if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
            occurrences = min(occurrences, args[2])
        budget.size(len(s) + occurrences * len(args[1]))
    elif name == "join" and args:
        items = list(args[0])
        budget.size(len(s) * max(0, len(items) - 1) + sum(_length(i) for i in items))


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_NUMBER = re.compile(r"\d+")


def _check_format_spec(template: str) -> None:
    cap = _budget.get().limits.max_string_bytes
    try:
        fields = list(Formatter().parse(template))
    except ValueError as exc:
        raise _Stop(f"bad format string: {exc}") from None
    for _, _, spec, _ in fields:
        if spec and ("{" in spec or any(int(n) > cap for n in _NUMBER.findall(spec))):
            raise _Stop(f"format spec {spec!r} is over the width limit of {cap}")


def _check_percent(template: str) -> None:
    cap = _budget.get().limits.max_string_bytes
    for match in _PERCENT_SPEC.finditer(template):
        for group in match.groups():
            if group == "*" or (group is not None and int(group) > cap):
                raise _Stop(f"%-format width {group!r} is over the limit of {cap}")


def _check_binop(operator: str, left: Any, right: Any) -> None:
    limits = _budget.get().limits
    seq = (str, list, tuple)
    if operator == "*":
        if isinstance(left, seq) and isinstance(right, int):
            _budget.get().size(len(left) * max(0, right))
        elif isinstance(right, seq) and isinstance(left, int):
            _budget.get().size(len(right) * max(0, left))
        elif (
            isinstance(left, int)
            and isinstance(right, int)
            and abs(left).bit_length() + abs(right).bit_length() > limits.max_int_bits
        ):
            raise _Stop(f"an integer would be larger than {limits.max_int_bits} bits")
    elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
        if abs(left) > 1 and abs(left).bit_length() * right > limits.max_int_bits:
            raise _Stop(f"an integer would be larger than {limits.max_int_bits} bits")
    elif operator == "+" and isinstance(left, seq) and isinstance(right, seq):
        _budget.get().size(len(left) + len(right))
    elif operator == "%" and isinstance(left, str):
        _check_percent(left)


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Undefined):
        return str(value)  # raises, naming what is missing
    if value is None or isinstance(value, bool | dict | list | tuple | Mapping):
        return json.dumps(_finalize(value), ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, int | float):
        return str(value)
    return str(_finalize(value))


def _wrap(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        budget = _budget.get()
        budget.tick()
        _check_filter(name, args, kwargs)
        return _charge(fn(*args, **kwargs))

    return wrapper


def _check_filter(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    # args may start with the context or eval context that jinja passes; the value follows
    values = [a for a in args if not _is_jinja_context(a)]
    cap = _budget.get().limits.max_string_bytes
    if name in ("center", "indent", "wordwrap", "truncate", "batch", "slice"):
        for n in [*values[1:], *kwargs.values()]:
            if isinstance(n, int) and not isinstance(n, bool) and n > min(cap, 100_000):
                raise _Stop(f"{name} argument {n} is over the limit")
    if name == "format" and values and isinstance(values[0], str):
        _check_percent(values[0])
    if name == "join" and values:
        sep = values[1] if len(values) > 1 and isinstance(values[1], str) else kwargs.get("d", "")
        if isinstance(sep, str) and isinstance(values[0], list | tuple | str):
            _budget.get().size(len(sep) * max(0, len(values[0]) - 1))
    if name == "replace" and len(values) >= 3 and all(isinstance(v, str) for v in values[:3]):
        _budget.get().size(len(values[0]) + values[0].count(values[1]) * len(values[2]))


def _is_jinja_context(value: Any) -> bool:
    return type(value).__name__ in ("Context", "EvalContext")


def _safe_range(*args: Any) -> range:
    _budget.get().tick()
    result = range(*args)
    if len(result) > _budget.get().limits.max_range:
        raise _Stop(
            f"range of {len(result)} items is over the limit of {_budget.get().limits.max_range}"
        )
    return result


def _make_environment() -> _Environment:
    env = _Environment(undefined=_Undefined, autoescape=False)
    for name in _DROPPED_FILTERS:
        env.filters.pop(name, None)
    env.filters = {
        name: _wrap(cast(Callable[..., Any], fn), name) for name, fn in env.filters.items()
    }
    env.tests = {
        name: _wrap(cast(Callable[..., Any], fn), f"test {name}") for name, fn in env.tests.items()
    }
    env.globals = {"range": _safe_range, "dict": dict}
    return env


_ENV = _make_environment()


# --------------------------------------------------------------------------- parsing


def is_expression(value: object) -> bool:
    """True for a string that holds ``{{``."""
    return isinstance(value, str) and "{{" in value


def contains_expression(value: object) -> bool:
    """True if any string in a nested structure holds an expression."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if "{{" in v:
                return True
        elif isinstance(v, Mapping):
            stack.extend(v.values())
        elif isinstance(v, list | tuple):
            stack.extend(v)
    return False


@dataclass(frozen=True, slots=True)
class _Expr:
    source: str
    compiled: TemplateExpression


@dataclass(frozen=True, slots=True)
class _Template:
    parts: tuple[str | _Expr, ...]  # literal text or compiled expression
    single: bool  # one expression and nothing else: gives the native value


@functools.lru_cache(maxsize=4096)
def _parse(source: str, max_chars: int) -> _Template:
    if len(source) > max_chars:
        raise ExpressionError(source, f"longer than {max_chars} characters")
    parts: list[str | _Expr] = []
    pos = 0
    while True:
        start = source.find("{{", pos)
        if start < 0:
            break
        end = _closing(source, start + 2)
        if end < 0:
            raise ExpressionError(source, f"'{{{{' at position {start} is never closed with '}}}}'")
        if start > pos:
            parts.append(source[pos:start])
        parts.append(_compile(source[start + 2 : end].strip(), source))
        pos = end + 2
    if pos < len(source):
        parts.append(source[pos:])
    single = len(parts) == 1 and not isinstance(parts[0], str)
    return _Template(tuple(parts), single)


def _closing(source: str, pos: int) -> int:
    """Where the ``}}`` that closes an expression starts, skipping string literals."""
    quote = ""
    i = pos
    while i < len(source):
        ch = source[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif source.startswith("}}", i):
            return i
        i += 1
    return -1


def _compile(expression: str, source: str) -> _Expr:
    if not expression:
        raise ExpressionError(source, "empty expression '{{ }}'")
    depth = deepest = 0
    for ch in expression:
        if ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth -= 1
    operators = sum(expression.count(c) for c in ".|[(~+-*")
    if deepest > 50 or operators > 1000:
        raise ExpressionError(source, "expression is nested too deeply")
    try:
        compiled = _ENV.compile_expression(expression, undefined_to_none=False)
    except TemplateError as exc:
        raise ExpressionError(source, f"syntax error: {exc.message}") from None
    except (RecursionError, MemoryError, SystemError):
        raise ExpressionError(source, "expression is nested too deeply") from None
    return _Expr(expression, compiled)


def check_syntax(source: str, limits: Limits = DEFAULT_LIMITS) -> None:
    """Raise ExpressionError if the string's expressions cannot be compiled."""
    if "{{" in source:
        _parse(source, limits.max_source_chars)


def find_errors(value: object, path: str = "") -> list[tuple[str, str]]:
    """(JSON path, message) for every string in a structure whose expressions do not compile."""
    found = []
    stack: list[tuple[str, object]] = [(path, value)]
    while stack:
        where, v = stack.pop()
        if isinstance(v, str):
            if "{{" in v:
                try:
                    check_syntax(v)
                except ExpressionError as exc:
                    found.append((where or "$", str(exc)))
        elif isinstance(v, Mapping):
            stack.extend((f"{where}.{k}" if where else str(k), x) for k, x in v.items())
        elif isinstance(v, list | tuple):
            stack.extend((f"{where}[{i}]", x) for i, x in enumerate(v))
    found.reverse()
    return found


@functools.lru_cache(maxsize=4096)
def names_used(source: str) -> frozenset[str]:
    """The top-level names a string's expressions read, such as ``{"trigger", "nodes"}``."""
    names: set[str] = set()
    for part in _parse(source, DEFAULT_LIMITS.max_source_chars).parts:
        if isinstance(part, _Expr):
            names |= find_undeclared_variables(_ENV.parse("{{ " + part.source + " }}"))
    return frozenset(names)


def nodes_read(value: object) -> frozenset[str] | None:
    """The ids under ``nodes`` that a structure's expressions read (``nodes.x``,
    ``nodes['x']``); None when one reads ``nodes`` in a way that names no id (``nodes[k]``,
    ``nodes | list``): it may read any of them."""
    found: set[str] = set()
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if "{{" in v:
                ids = _nodes_read(v)
                if ids is None:
                    return None
                found |= ids
        elif isinstance(v, Mapping):
            stack.extend(v.values())
        elif isinstance(v, list | tuple):
            stack.extend(v)
    return frozenset(found)


@functools.lru_cache(maxsize=4096)
def _nodes_read(source: str) -> frozenset[str] | None:
    ids: set[str] = set()
    for part in _parse(source, DEFAULT_LIMITS.max_source_chars).parts:
        if not isinstance(part, _Expr):
            continue
        tree = _ENV.parse("{{ " + part.source + " }}")
        uses = sum(1 for n in tree.find_all(nodes.Name) if n.name == "nodes")
        named = 0
        for n in tree.find_all((nodes.Getattr, nodes.Getitem)):
            target = n.node  # type: ignore[attr-defined]
            if not (isinstance(target, nodes.Name) and target.name == "nodes"):
                continue
            if isinstance(n, nodes.Getattr):
                ids.add(n.attr)
                named += 1
            elif isinstance(n, nodes.Getitem):
                arg = n.arg
                if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                    ids.add(arg.value)
                    named += 1
        if named != uses:
            return None
    return frozenset(ids)


# --------------------------------------------------------------------------- evaluation


def evaluate(source: str, scope: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> Any:
    """The value of one string: native for a lone expression, else text."""
    if "{{" not in source:
        return source
    template = _parse(source, limits.max_source_chars)
    token = _budget.set(_Budget(limits, source))
    try:
        if template.single:
            value = _finalize(_call(template.parts[0], scope), limits)  # type: ignore[arg-type]
        else:
            pieces = []
            total = 0
            for part in template.parts:
                text = part if isinstance(part, str) else _to_text(_call(part, scope))
                total += len(text)
                if total > limits.max_result_bytes:
                    raise _Stop(f"result is larger than {limits.max_result_bytes} bytes")
                pieces.append(text)
            value = "".join(pieces)
    except _Stop as exc:
        raise ExpressionError(source, str(exc)) from None
    except UndefinedError as exc:
        raise ExpressionError(source, exc.message or "undefined value") from None
    except SecurityError as exc:
        raise ExpressionError(source, str(exc)) from None
    except (RecursionError, MemoryError):
        raise ExpressionError(source, "too deep or too large to evaluate") from None
    except ExpressionError:
        raise
    except Exception as exc:  # any error of the expression's own making
        raise ExpressionError(source, f"{type(exc).__name__}: {exc}") from exc
    finally:
        _budget.reset(token)
    return value


def _call(expression: _Expr, scope: Mapping[str, Any]) -> Any:
    return expression.compiled(**scope)


def render(value: Any, scope: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> Any:
    """Every string of a nested structure evaluated; tuples become lists; keys stay as they are."""
    if isinstance(value, str):
        return evaluate(value, scope, limits) if "{{" in value else value
    if isinstance(value, Mapping):
        return {k: render(v, scope, limits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render(v, scope, limits) for v in value]
    return value


def _finalize(value: Any, limits: Limits = DEFAULT_LIMITS) -> Any:
    """The value as plain JSON-like data, within the size and depth limits."""
    budget = [limits.max_result_bytes]

    def spend(n: int) -> None:
        budget[0] -= n
        if budget[0] < 0:
            raise _Stop(f"result is larger than {limits.max_result_bytes} bytes")

    def convert(v: Any, depth: int) -> Any:
        if depth > limits.max_depth:
            raise _Stop(f"result is nested deeper than {limits.max_depth} levels")
        if v is None or isinstance(v, bool):
            spend(4)
            return v
        if isinstance(v, Markup):
            v = str(v)
        if isinstance(v, str):
            spend(len(v) + 2)
            return v
        if isinstance(v, int | float):
            spend(8)
            return v
        if isinstance(v, Undefined):
            str(v)  # raises, naming what is missing
        if isinstance(v, Mapping):
            spend(2)
            out = {}
            for k, x in v.items():
                if not isinstance(k, str | int | float | bool) and k is not None:
                    raise _Stop(f"an object key of type {type(k).__name__} is not data")
                spend(len(str(k)) + 2)
                out[k if isinstance(k, str) else json.dumps(k)] = convert(x, depth + 1)
            return out
        if isinstance(v, list | tuple | range) or _is_iterable_data(v):
            spend(2)
            out_list = []
            for x in v:
                _budget.get().tick()
                out_list.append(convert(x, depth + 1))
            return out_list
        raise _Stop(f"the result is a {type(v).__name__}, not data")

    return convert(value, 0)


def _is_iterable_data(value: Any) -> bool:
    """Views and generators (``d.keys()``, ``x | map(...)``) are data once listed."""
    return type(value).__name__ in ("dict_keys", "dict_values", "dict_items", "generator")
