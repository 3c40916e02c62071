"""The expression sandbox: semantics, and hostile input that must fail cleanly and fast."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowforge.engine.expr import (
    ExpressionError,
    Limits,
    check_syntax,
    contains_expression,
    evaluate,
    find_errors,
    names_used,
    render,
)

SCOPE: dict[str, Any] = {
    "trigger": {
        "amount": 250,
        "id": "A-1",
        "items": [1, 2, 3],
        "tags": {"vip": True},
        "none": None,
    },
    "input": {"x": 1, "name": "ada"},
    "vars": {"threshold": 100},
    "nodes": {"done": {"output": {"ok": True}}},
    "execution": {"id": "e", "attempt": 1},
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ trigger.amount > vars.threshold }}", True),
        ("{{ trigger.amount }}", 250),
        ("{{trigger.items}}", [1, 2, 3]),
        ("{{ trigger['tags'] }}", {"vip": True}),
        ("{{ trigger.items }}", [1, 2, 3]),  # the key, not dict.items
        ("{{ trigger.none }}", None),
        ('{{ "123" }}', "123"),  # a string stays a string
        ('{{ "}}" }}', "}}"),
        ("{{ input.x + 1 }}", 2),
        ("{{ input.name | title }}", "Ada"),
        ("{{ trigger.items | map('string') | join('-') }}", "1-2-3"),
        ("{{ trigger.items | map('string') }}", ["1", "2", "3"]),
        ("{{ trigger.keys() | list }}", ["amount", "id", "items", "tags", "none"]),
        ("{{ trigger.missing is defined }}", False),
        ("{{ trigger.missing | default(5) }}", 5),
        ("{{ nodes.absent is defined }}", False),
        ("{{ nodes.absent.output is defined }}", False),
        ("{{ 'yes' if nodes.absent else 'no' }}", "no"),
        ("{{ nodes.done.output.ok }}", True),
        ("{{ range(3) | list }}", [0, 1, 2]),
        ("{{ dict(a=1) }}", {"a": 1}),
        ("{{ '{} is {x}'.format(1, x=2) }}", "1 is 2"),
        ("{{ '%05d' % 42 }}", "00042"),
        ("{{ 2 ** 10 }}", 1024),
        ("no expression at all", "no expression at all"),
    ],
)
def test_values(source: str, expected: Any) -> None:
    assert evaluate(source, SCOPE) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("Order {{ trigger.id }}: {{ trigger.amount }}", "Order A-1: 250"),
        ("{{ trigger.tags }} and {{ trigger.none }}", '{"vip":true} and null'),
        ("{{ trigger.items }}!", "[1,2,3]!"),
        ("{% if x %}{{ input.x }}{# c #}", "{% if x %}1{# c #}"),  # only {{ }} is special
        ("{{ 1 }}{{ 2 }}", "12"),
        (" {{ 1 }}", " 1"),
        ("{{ input.name ~ '!' }}", "ada!"),
    ],
)
def test_text(source: str, expected: str) -> None:
    assert evaluate(source, SCOPE) == expected


def test_render_walks_structures_and_leaves_keys() -> None:
    params = {
        "{{ k }}": ["{{ input.x }}", {"n": "{{ trigger.amount * 2 }}"}, 3, None],
        "t": ("{{ 1 }}",),
    }
    assert render(params, SCOPE) == {"{{ k }}": [1, {"n": 500}, 3, None], "t": [1]}
    assert contains_expression(params) and not contains_expression({"a": ["b", 1]})


def test_names_and_syntax_checks() -> None:
    assert names_used("{{ trigger.a }} and {{ nodes.x.output + input | length }}") == {
        "trigger",
        "nodes",
        "input",
    }
    check_syntax("plain {{ 1 }}")
    errors = find_errors({"a": ["ok", "{{ 1 + }}"], "b": {"c": "{{ unclosed"}}, "params")
    assert [path for path, _ in errors] == ["params.a[1]", "params.b.c"]
    assert "never closed" in errors[1][1]


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{{ trigger.missing }}", "dict value has no attribute or key 'missing'"),
        ("{{ trigger.missing.deeper }}", "'missing'"),
        ("{{ nodes.absent.output }}", "'absent'"),
        ("{{ unknown }}", "'unknown' is not defined"),
        ("{{ trigger.missing ~ 'x' }}", "'missing'"),
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{{ 1 + 'a' }}", "TypeError"),
        ("{{ 1 + }}", "syntax error"),
        ("{{ }}", "empty expression"),
        ("{{ 1", "never closed"),
        ("{{ trigger.items | nosuchfilter }}", "syntax error"),
        ("{{ range }}", "not data"),
        ("{{ input.name.upper }}", "not data"),
    ],
)
def test_errors_name_the_reason(source: str, reason: str) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate(source, SCOPE)
    assert reason in str(info.value)
    assert info.value.expression == source


HOSTILE = [
    # dunders and private attributes in every spelling
    "{{ trigger.__class__ }}",
    "{{ trigger['__class__'] }}",
    "{{ input.name.__class__ }}",
    "{{ trigger | attr('__class__') }}",
    "{{ trigger | attr('__cla' ~ 'ss__') }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''['__class__'] }}",
    "{{ (1).__class__ }}",
    "{{ dict.__base__ }}",
    "{{ dict.mro() }}",
    "{{ range.__self__ }}",
    "{{ range.__globals__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ joiner }}",
    "{{ namespace() }}",
    "{{ self._TemplateReference__context }}",
    "{{ config }}",
    "{{ request }}",
    "{{ '{0.__class__}'.format(trigger) }}",
    "{{ '{0[__class__]}'.format(trigger) }}",
    "{{ '{a.__class__}'.format_map(trigger) }}",
    "{{ trigger.items | map(attribute='__class__') | list }}",
    "{{ [trigger] | selectattr('__class__') | list }}",
    "{{ [trigger] | sort(attribute='__class__') }}",
    "{{ [trigger] | groupby('__class__') }}",
    "{{ trigger.get.__self__ }}",
    "{{ input.name.format.__globals__ }}",
    # exhausting the machine
    "{{ range(10**9) }}",
    "{{ range(10**9) | list }}",
    "{{ 'a' * 10**10 }}",
    "{{ [1] * 10**9 }}",
    "{{ 'a' * 10**6 * 10**6 }}",
    "{{ 2 ** (10**10) }}",
    "{{ 10 ** (10 ** 10) }}",
    "{{ 9 ** (9 ** 9) }}",
    "{{ '%999999999d' % 1 }}",
    "{{ '%*d' % (999999999, 1) }}",
    "{{ '{:999999999}'.format(1) }}",
    "{{ '{:{}}'.format(1, 999999999) }}",
    "{{ 'x'.center(10**9) }}",
    "{{ 'x'.ljust(10**9) }}",
    "{{ 'x'.zfill(10**9) }}",
    "{{ ('a\t' * 100000).expandtabs(10**9) }}",
    "{{ 'x' | center(10**9) }}",
    "{{ 'x' | indent(10**9) }}",
    "{{ '%999999999s' | format('x') }}",
    "{{ [1] | batch(10**9, 0) | list }}",
    "{{ [1] | slice(10**9) | list }}",
    "{{ ('a' * 100000).replace('', 'x' * 100000) }}",
    "{{ ('x' * 100000) | replace('x', 'y' * 100000) }}",
    "{{ ('x' * 1000000).join(range(100000) | map('string')) }}",
    "{{ range(100000) | map('string') | join('x' * 1000) }}",
    "{{ ('a' * 1000000) ~ ('a' * 1000000) }}",
    "{{ [range(100000) | list] * 100 }}",
    "{{ range(100000) | map('string') | map('center', 100000) | list }}",
    "{{ " + "[" * 100_000 + "]" * 100_000 + " }}",
    "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",
    "{{ " + "x." * 50_000 + "y }}",
    "{{ " + "1 + " * 20_000 + "1 }}",
    "x" * 20_000 + "{{ 1 }}",
    # deep within the length limit
    "{{ " + "[" * 3000 + "]" * 3000 + " }}",
    "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}",
    "{{ " + "x." * 4000 + "y }}",
    "{{ " + "-" * 5000 + "1 }}",
    "{{ " + "1 + " * 2000 + "1 }}",
]


@pytest.mark.parametrize("source", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_input_fails_cleanly(source: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(source, SCOPE)


def test_work_is_bounded_by_the_operation_budget() -> None:
    small = Limits(max_ops=1000)
    with pytest.raises(ExpressionError, match="too much work"):
        evaluate("{{ range(100000) | map('string') | list }}", SCOPE, small)
    assert len(evaluate("{{ range(100) | map('string') | list }}", SCOPE, small)) == 100


def test_results_are_bounded_in_size_and_depth() -> None:
    with pytest.raises(ExpressionError, match="larger than"):
        evaluate("{{ big }}", {"big": "x" * 11 * 1024 * 1024})
    deep: Any = []
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(ExpressionError, match="nested deeper"):
        evaluate("{{ deep }}", {"deep": deep})
    with pytest.raises(ExpressionError, match="nested deeper"):
        evaluate("as text: {{ deep }}", {"deep": deep})
    assert evaluate("{{ deep | length }}", {"deep": deep}) == 1


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200).filter(lambda s: "{{" not in s))
def test_text_without_expressions_is_returned_unchanged(text: str) -> None:
    assert evaluate(text, SCOPE) == text
    assert render({"a": [text]}, SCOPE) == {"a": [text]}


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_a_lone_expression_gives_the_native_value(value: Any) -> None:
    assert evaluate("{{ v }}", {"v": value}) == value


TOKENS = [
    ".",
    "[",
    "]",
    "(",
    ")",
    "_",
    "__class__",
    "'",
    '"',
    "~",
    "*",
    "**",
    "|",
    "attr",
    "0",
    "9",
    "10",
    "trigger",
    "input",
    "items",
    "mro",
    "format",
    "'{0}'",
    ",",
    " ",
    "+",
    "range",
    "dict",
    "map",
    "join",
    "__globals__",
    "lipsum",
    "-",
    "%",
    "{",
    "}",
    "=",
    "if",
    "else",
    "not",
]


def _is_data(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list):
        return all(_is_data(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_data(v) for k, v in value.items())
    return False


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=14))
def test_random_token_soup_evaluates_to_data_or_fails_cleanly(tokens: list[str]) -> None:
    source = "{{ " + "".join(tokens) + " }}"
    try:
        value = evaluate(source, SCOPE)
    except ExpressionError:
        return
    assert _is_data(value), (source, value)
