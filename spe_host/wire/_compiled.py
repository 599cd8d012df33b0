"""Per-class encoders and decoders, generated once from a record's wire schema.

Theory of operation
-------------------
Encoding or decoding a record field by field through its :class:`~._fields._Spec`
objects costs a few Python calls per field, and a listing of 10,000 sessions is
150,000 fields. So, as :mod:`dataclasses` writes ``__init__``, this module writes
two functions per class from its fields (``decode_lines`` and ``encode_expr`` of
each spec) and compiles them once:

* the encoder is one dict display: ``{'id': r.id, 'state': str(r.state), ...}``;
* the decoder reads every field, checks inline that each holds what ``json.loads``
  produces in the usual case (an exact ``str``, a finite ``float``, a known enum
  string...) and builds the record by setting its slots directly, as the generic
  path does for a :class:`~._schema.Checked` message. At the first doubt - a missing
  field (even one with a default), a wrong type, an ``int`` where a float goes, a
  failed check across fields - it hands the whole object to the generic decoder,
  which fills in defaults, converts what it can and words the error. So the
  result, or the error, is always the generic one: the generated code only decides
  sooner when nothing needs converting or a sentence;
* the list decoder is the same body in a loop over an array (a listing's 10,000
  records), which saves the calls around each record's decoding.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from ._fields import JSON, _Spec

__all__ = [
    "Decoder",
    "Encoder",
    "FieldPlan",
    "ListDecoder",
    "compile_decoder",
    "compile_encoder",
    "compile_list_decoder",
]

#: A generated decoder: ``decode(obj, what)`` -> the record (``what`` names it in errors).
Decoder = Callable[[object, str], object]
#: A generated list decoder: ``decode(objs, what)`` -> a record of each item of ``objs``.
ListDecoder = Callable[[Sequence[object], str], "list[object]"]
#: A generated encoder: the record -> its JSON-ready dict.
Encoder = Callable[[object], "dict[str, JSON]"]


class FieldPlan(Protocol):
    """What the generator needs to know of one field."""

    @property
    def name(self) -> str: ...

    @property
    def spec(self) -> _Spec: ...


class _Globals:
    """The globals of one generated function, each value under a name of its own."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def bind(self, value: object) -> str:
        name = f"_g{len(self.values)}"
        self.values[name] = value
        return name


def _compile(source: str, name: str, values: dict[str, object]) -> object:
    namespace = dict(values)
    exec(compile(source, f"<spe_host.wire {name}>", "exec"), namespace)
    return namespace[name]


def compile_encoder(cls: type, fields: Sequence[FieldPlan]) -> Encoder:
    """Generate the encoder of ``cls``: one dict of its fields' JSON forms."""
    names = _Globals()
    items = [f"{f.name!r}: {f.spec.encode_expr('r.' + f.name, names.bind)}" for f in fields]
    name = f"encode_{cls.__name__}"
    source = f"def {name}(r):\n    return {{{', '.join(items)}}}\n"
    return cast(Encoder, _compile(source, name, names.values))


def compile_decoder(
    cls: type, fields: Sequence[FieldPlan], *, slow: Decoder, checked: bool
) -> Decoder:
    """Generate the decoder of ``cls``.

    Args:
        cls: The record's class (a dataclass).
        fields: Its fields, in order.
        slow: The generic decoder of ``cls``, for whatever the fast path doubts.
        checked: ``cls`` is a :class:`~._schema.Checked` record: build it without
            ``__init__`` and run its check across fields (``_problem``).
    """
    names = _Globals()
    body = _body(cls, fields, names.bind, checked=checked, fail="return slow(obj, what)")
    name = f"decode_{cls.__name__}"
    source = f"def {name}(obj, what):\n" + "".join(f"    {line}\n" for line in body)
    values = {**names.values, "slow": slow}
    return cast(Decoder, _compile(source, name, values))


def compile_list_decoder(
    cls: type, fields: Sequence[FieldPlan], *, slow: Decoder, checked: bool
) -> ListDecoder:
    """Generate the decoder of an array of ``cls`` records (arguments as above)."""
    names = _Globals()
    # One line, so that it fits wherever the single decoder returns.
    fail = "append(slow(obj, what)); continue"
    body = _body(cls, fields, names.bind, checked=checked, fail=fail)
    body[-1] = "append(r)"  # _build's last line is "return r"
    name = f"decode_list_{cls.__name__}"
    source = (
        f"def {name}(objs, what):\n    out = []\n    append = out.append\n"
        "    for obj in objs:\n"
        + "".join(f"        {line}\n" for line in body)
        + "    return out\n"
    )
    values = {**names.values, "slow": slow}
    return cast(ListDecoder, _compile(source, name, values))


def _body(
    cls: type,
    fields: Sequence[FieldPlan],
    bind: Callable[[object], str],
    *,
    checked: bool,
    fail: str,
) -> list[str]:
    # A field that is absent (even one with a default) takes the slow way too: this
    # side always writes every field, so only an older or other peer leaves one out.
    body = ["if type(obj) is not dict:", f"    {fail}", "try:"]
    body += [f"    v{index} = obj[{f.name!r}]" for index, f in enumerate(fields)]
    body += ["except KeyError:", f"    {fail}"]
    for index, f in enumerate(fields):
        body += f.spec.decode_lines(f"v{index}", bind, fail)
    return body + _build(cls, fields, bind, checked=checked, fail=fail)


def _build(
    cls: type,
    fields: Sequence[FieldPlan],
    bind: Callable[[object], str],
    *,
    checked: bool,
    fail: str,
) -> list[str]:
    slots = [getattr(cls, f.name, None) for f in fields]
    direct = all(isinstance(slot, types.MemberDescriptorType) for slot in slots)
    if not checked and (not direct or hasattr(cls, "__post_init__")):
        # Not a plain slotted record: its __init__ does the building.
        arguments = ", ".join(f"{f.name}=v{index}" for index, f in enumerate(fields))
        return [f"r = {bind(cls)}({arguments})", "return r"]
    # A slot's descriptor sets it even on a frozen class, as object.__setattr__ does.
    lines = [f"r = {bind(object.__new__)}({bind(cls)})"]
    if direct:
        lines += [f"{bind(slot.__set__)}(r, v{i})" for i, slot in enumerate(slots)]  # type: ignore[union-attr]
    else:
        setattr_ = bind(object.__setattr__)
        lines += [f"{setattr_}(r, {f.name!r}, v{i})" for i, f in enumerate(fields)]
    if checked:
        lines += ["if r._problem() is not None:", f"    {fail}"]
    return [*lines, "return r"]
