"""The generated encoders and decoders give exactly what the field-by-field codec gives.

Every record class that crosses the wire - each ``_model`` value type and each
message - round-trips, and for any object at all (a valid record's JSON with a field
dropped, retyped or replaced) the generated decoder and the slow one agree: the same
value, or the same error sentence.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from support.client import session_info

from spe_host import _model
from spe_host._errors import LocalProtocolError, RemoteProtocolError
from spe_host.wire import _fields, _schema, from_json_list
from spe_host.wire._codec import MESSAGE_TYPES
from spe_host.wire._events import ERROR_CODES, ROLES, SESSION_STATES

MODEL_TYPES: list[type] = [
    _model.StopTicket,
    _model.Progress,
    _model.SessionInfo,
    _model.ExecutionResult,
    _model.Completion,
    _model.Signature,
    _model.OutputChunk,
    _model.ProgressReport,
    _model.StateChange,
]
RECORD_TYPES: list[type] = MODEL_TYPES + sorted(MESSAGE_TYPES.values(), key=lambda c: c.__name__)

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
# Lone surrogates too: a decoded "\ud800" escape is a str a record may hold.
_text = st.text(st.characters(codec=None), max_size=12)


def _values(spec: _fields._Spec) -> st.SearchStrategy[Any]:
    """What a field of this spec may hold, built in this process."""
    if isinstance(spec, _fields._Optional):
        return st.none() | _values(spec.inner)
    if isinstance(spec, _fields._Instance):
        return _text if spec.kind is str else st.booleans()
    if isinstance(spec, _fields._Count):
        return st.integers(min_value=0, max_value=2**63)
    if isinstance(spec, _fields._Number):
        return st.floats(allow_nan=False, allow_infinity=False)
    if isinstance(spec, _fields._Strings):
        return st.lists(_text, max_size=3)
    if isinstance(spec, _fields._Object):
        return st.dictionaries(_text, _json, max_size=3)
    if isinstance(spec, _fields._AnyJSON):
        return _json
    if isinstance(spec, _fields._Enum):
        return st.sampled_from(list(spec.kind))
    assert isinstance(spec, _schema._Record), spec
    return _records(spec.kind)


def _built(cls: type, values: dict[str, Any]) -> object:
    try:
        return cls(**values)
    except LocalProtocolError:
        assume(False)  # a message whose fields disagree cannot be built
        raise


# Fields whose messages check their values (``_problem``): drawn from what is allowed,
# so that most drawn messages can be built.
_ALLOWED: dict[tuple[str, str], st.SearchStrategy[Any]] = {
    ("Hello", "version"): st.sampled_from(["1.4", "1.0", "2.13"]),
    ("Welcome", "version"): st.sampled_from(["1.4", "1.0", "2.13"]),
    ("Welcome", "role"): st.sampled_from(ROLES),
    ("Error", "code"): st.sampled_from(sorted(ERROR_CODES)),
    ("ListSessions", "state"): st.none() | st.sampled_from(SESSION_STATES),
    ("Complete", "cursor"): st.just(0),
    ("SignatureAt", "cursor"): st.just(0),
    ("Receive", "run"): st.none(),
}


def _field_values(cls: type, field: _schema._Field) -> st.SearchStrategy[Any]:
    allowed = _ALLOWED.get((cls.__name__, field.name))
    return _values(field.spec) if allowed is None else allowed


def _records(cls: type) -> st.SearchStrategy[Any]:
    fields = {f.name: _field_values(cls, f) for f in _schema.schema(cls)}
    return st.fixed_dictionaries(fields).map(lambda values: _built(cls, values))


def _slow(cls: type, obj: object) -> object:
    return _schema._decode_slowly(cls, _schema.schema(cls), obj, "the record")


def _outcome(decode: Any, obj: object) -> tuple[str, object]:
    try:
        return "value", decode(obj)
    except _fields.Invalid as exc:
        return "error", str(exc)


def _by_hand(record: object) -> dict[str, Any]:
    # The field-by-field encoding the generated encoder replaces.
    return {f.name: f.spec.encode(getattr(record, f.name)) for f in _schema.schema(type(record))}


# Derandomized: the same examples on every run, so CI cannot draw an unlucky batch.
_settings = settings(
    max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.mark.parametrize("cls", RECORD_TYPES, ids=lambda cls: cls.__name__)
@_settings
@given(data=st.data())
def test_every_record_type_round_trips_and_encodes_as_field_by_field(
    cls: type, data: st.DataObject
) -> None:
    record = data.draw(_records(cls))
    encoded = _schema.encode(record)
    assert encoded == _by_hand(record)
    assert list(encoded) == [f.name for f in _schema.schema(cls)]
    through = json.loads(json.dumps(encoded))
    decoded = _schema.decode(cls, through, "the record")
    assert decoded == record
    assert type(decoded) is cls
    assert decoded == _slow(cls, through)


@st.composite
def _mutated(draw: st.DrawFn, cls: type) -> object:
    obj: Any = json.loads(json.dumps(_schema.encode(draw(_records(cls)))))
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from([f.name for f in _schema.schema(cls)]))
        change = draw(st.sampled_from(["drop", "replace", "int", "nan", "enum"]))
        if change == "drop":
            obj.pop(name, None)
        elif change == "replace":
            obj[name] = draw(_json)
        elif change == "int":
            obj[name] = draw(st.integers(-3, 3))
        elif change == "nan":
            obj[name] = draw(st.sampled_from([float("nan"), float("inf"), True, 1.5, -0.0]))
        else:
            obj[name] = draw(st.sampled_from(["idle", "completed", "Idle", "", "admin"]))
    return draw(st.sampled_from([obj, obj, obj, [obj], None, "text"]))


@pytest.mark.parametrize("cls", RECORD_TYPES, ids=lambda cls: cls.__name__)
@_settings
@given(data=st.data())
def test_for_any_object_the_generated_decoder_agrees_with_the_slow_one(
    cls: type, data: st.DataObject
) -> None:
    obj = data.draw(_mutated(cls))
    fast = _outcome(lambda o: _schema.decode(cls, o, "the record"), obj)
    slow = _outcome(lambda o: _slow(cls, o), obj)
    assert fast == slow


def test_an_int_for_a_float_and_an_absent_default_come_out_as_the_slow_path_makes_them() -> None:
    obj: dict[str, Any] = {
        "session": "s",
        "status": "completed",
        "value": None,
        "error": None,
        "output": "",
        "started_at": 1,
        "finished_at": 2.5,
    }
    result = _schema.decode(_model.ExecutionResult, obj, "the result")
    assert type(result.started_at) is float
    assert result.started_at == 1.0
    assert result.run == ""  # the default of a field an older host leaves out


def test_a_nested_records_error_names_the_nested_record() -> None:
    info = _schema.encode(session_info("s", _model.SessionState.IDLE))
    broken = {**info, "stop": {"id": 3}}
    with pytest.raises(_fields.Invalid, match="the 'id' field of the stop ticket must be a string"):
        _schema.decode(_model.SessionInfo, broken, "the session info")


def _each(cls: type, objs: list[object]) -> list[object]:
    return [_slow(cls, obj) for obj in objs]


# The list decoder is the single one's body in a loop: the model types (the arrays that
# travel) and two checked messages (its other way of building) are enough.
LIST_TYPES: list[type] = [*MODEL_TYPES, MESSAGE_TYPES["list"], MESSAGE_TYPES["error"]]


@pytest.mark.parametrize("cls", LIST_TYPES, ids=lambda cls: cls.__name__)
@_settings
@given(data=st.data())
def test_an_array_decodes_as_each_item_does_on_its_own(cls: type, data: st.DataObject) -> None:
    # The list decoder (a listing's path) gives each item's value, or the first bad
    # item's error, exactly as the field-by-field decoder does item by item.
    objs = data.draw(st.lists(_mutated(cls), max_size=3))
    fast = _outcome(lambda o: _schema.decode_list(cls, o, "the record"), objs)
    slow = _outcome(lambda o: _each(cls, o), objs)
    assert fast == slow
    if fast[0] == "value":
        assert [type(item) for item in fast[1]] == [cls] * len(objs)


def test_a_listings_records_decode_in_one_pass_without_the_per_record_call() -> None:
    infos = [session_info(f"s{index}", _model.SessionState.IDLE) for index in range(3)]
    objs = json.loads(json.dumps([_schema.encode(info) for info in infos]))
    assert from_json_list(_model.SessionInfo, objs) == infos
    with pytest.raises(RemoteProtocolError, match="the 'id' field of the SessionInfo must be"):
        from_json_list(_model.SessionInfo, [*objs, {**objs[0], "id": 7}])
