"""The hyperparameter system as experiment authors and CLI users meet it."""

import pytest
from liveri.train.layers.linear import Linear

from liveri.params import Params, ParamsError, diff, parse_value


def make() -> Params:
    p = Params()
    p.Define("steps", 10, "Steps.")
    p.Define("rate", 0.5, "Rate.")
    p.Define("on", True, "Switch.")
    p.Define("name", "x", "Name.")
    p.Define("dims", [1, 2], "Dims.")
    p.Define("shape", (3, 4), "Shape.")
    p.Define("maybe", None, "Anything.")
    p.Define("opt_int", None, "Optional int.", type=int)
    inner = Params()
    inner.Define("depth", 2, "Depth.")
    inner.Define("layer", Linear.Params(), "A layer.")
    p.Define("inner", inner, "Nested.")
    return p


def test_text_round_trip_is_exact():
    p = make()
    p.SetKey("inner.layer.output_dims", 7)
    p.maybe = {"a": [1, "b"]}
    p.name = "it's \"quoted\" : colon"
    q = make().FromText(p.ToText())
    assert q.ToText() == p.ToText()
    assert q.Get("inner.layer.cls") is Linear
    assert q == p


def test_text_is_sorted_dotted_keys():
    lines = make().ToText().splitlines()
    keys = [line.split(" : ")[0] for line in lines]
    assert keys == sorted(keys)
    assert "inner.layer.input_dims" in keys


def test_freeze_refuses_assignment_and_copy_thaws():
    p = make().Freeze()
    with pytest.raises(ParamsError, match="frozen"):
        p.steps = 3
    with pytest.raises(ParamsError, match="frozen"):
        p.SetKey("inner.depth", 3)
    q = p.Copy()
    q.SetKey("inner.depth", 3)
    assert q.inner.depth == 3 and p.inner.depth == 2


@pytest.mark.parametrize(
    "key,text,expected",
    [
        ("steps", "42", 42),
        ("rate", "1e-3", 1e-3),
        ("rate", "3", 3.0),
        ("on", "false", False),
        ("on", "YES", True),
        ("name", "hello world", "hello world"),
        ("name", "'quoted'", "quoted"),
        ("dims", "[3, 4, 5]", [3, 4, 5]),
        ("shape", "(1, 2)", (1, 2)),
        ("shape", "[1, 2]", (1, 2)),
        ("maybe", "None", None),
        ("opt_int", "5", 5),
        ("opt_int", "None", None),
        ("inner.depth", "6", 6),
    ],
)
def test_override_parses_to_the_field_type(key, text, expected):
    p = make()
    p.Override(key, text)
    value = p.Get(key)
    assert value == expected and type(value) is type(expected)


def test_unknown_key_names_it_and_suggests_nearest():
    with pytest.raises(ParamsError, match=r"'inner.dept'.*inner.depth"):
        make().Override("inner.dept", "3")


@pytest.mark.parametrize(
    "key,text,expected_type",
    [("steps", "abc", "int"), ("rate", "fast", "float"), ("on", "maybe", "bool"),
     ("dims", "[1,", "list"), ("shape", "7", "tuple")],
)
def test_wrong_type_names_key_value_and_type(key, text, expected_type):
    with pytest.raises(ParamsError) as e:
        make().Override(key, text)
    assert key in str(e.value) and expected_type in str(e.value)


def test_assigning_wrong_type_in_code_is_refused():
    p = make()
    with pytest.raises(ParamsError, match="steps: expected int"):
        p.steps = "ten"
    with pytest.raises(ParamsError, match="section"):
        p.inner = 3


def test_define_twice_is_refused():
    p = make()
    with pytest.raises(ParamsError, match="already defined"):
        p.Define("steps", 1, "again")


def test_diff_lists_changed_keys():
    a, b = make(), make()
    b.SetKey("inner.depth", 9)
    b.rate = 0.25
    assert [row[0] for row in diff(a, b)] == ["inner.depth", "rate"]
    assert diff(a, a.Copy()) == []


def test_hash_changes_with_any_value():
    a, b = make(), make()
    assert a.Hash() == b.Hash()
    b.steps = 11
    assert a.Hash() != b.Hash()


def test_parse_class_value():
    assert parse_value("k", "@liveri.train.layers.linear.Linear", type) is Linear
    with pytest.raises(ParamsError, match="cannot import"):
        parse_value("k", "no.such.Module", type)
