"""JSON Schema (2020-12, as OpenAPI 3.1 uses it) from the API's dataclasses and annotations.

Theory of operation
-------------------
The HTTP API's bodies are the :mod:`spe_host._model` snapshots and the frozen
dataclasses of :mod:`spe_host.http._types`; :func:`spe_host.http._encode.to_json`
turns them into JSON field by field. So their schemas are read off the same classes,
never written by hand: :class:`Schemas` walks a type's annotations
(:func:`typing.get_type_hints`, which resolves ``from __future__ import annotations``)
and maps each one:

* ``str``, ``int``, ``float``, ``bool``, ``None`` to their JSON types; a ``float``
  field whose name is one of the encoder's time fields to an ISO 8601 string
  (``format: date-time``), as the encoder writes it;
* a :class:`enum.StrEnum` and a ``Literal`` of strings to an ``enum``;
* ``list``, ``tuple`` and ``Sequence`` to arrays, ``dict`` and ``Mapping`` to objects;
* ``X | None`` to ``anyOf`` (or a type list for plain types);
* a dataclass or an enum to a ``$ref`` into ``components/schemas``, registered
  once under its class name, with its fields' descriptions taken from the class's
  Google-style ``Attributes:`` section, so ``/api/docs`` explains each field.

A field is required unless it has a default: what a request body may leave out is
exactly what the dataclass would fill in.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["JsonSchema", "Schemas", "describe"]

#: One JSON Schema object, as the OpenAPI document carries it.
JsonSchema = dict[str, Any]

_PLAIN: Mapping[object, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
}
_DATE_TIME: JsonSchema = {"type": "string", "format": "date-time"}
# "name: text" at the start of an entry of a Google-style Attributes section.
# A Sphinx cross-reference: :class:`~spe_host._model.SessionInfo`, :meth:`Host.follow`.
_ROLE = re.compile(r":\w+:`(~?)([\w.]+)[^`]*`")
_ENTRY = re.compile(r"^(\w+)(?: \([^)]*\))?:\s*(.*)$")


class Schemas:
    """Builds schemas for annotations, collecting the named ones as components.

    Args:
        time_fields: The float fields the encoder writes as ISO 8601 strings.
        prefix: Where a ``$ref`` points: the document's component schemas.

    Attributes:
        components: The schemas of the dataclasses and enums met so far, by class name.
    """

    def __init__(self, time_fields: frozenset[str], prefix: str = "#/components/schemas/") -> None:
        self._time_fields = time_fields
        self._prefix = prefix
        self.components: dict[str, JsonSchema] = {}
        self._classes: dict[str, type] = {}

    def of(self, annotation: object, field: str | None = None) -> JsonSchema:
        """The schema of ``annotation`` (the type of the field named ``field``, if any).

        Raises:
            TypeError: The annotation is not one the encoder writes (say, a set).
        """
        if annotation is Any or annotation is object:
            return {}
        if annotation is float and field in self._time_fields:
            return dict(_DATE_TIME)
        plain = _PLAIN.get(annotation)
        if plain is not None:
            return {"type": plain}
        if isinstance(annotation, type) and (
            dataclasses.is_dataclass(annotation) or issubclass(annotation, enum.Enum)
        ):
            return {"$ref": self.ref(annotation)}
        origin = typing.get_origin(annotation)
        arguments = typing.get_args(annotation)
        if origin is typing.Literal:
            return {"enum": list(arguments)}
        if origin in (types.UnionType, typing.Union):
            return self._union([self.of(a, field) for a in arguments])
        if origin in (list, tuple, Sequence) or (
            isinstance(origin, type) and issubclass(origin, Sequence) and origin is not str
        ):
            if origin is tuple and not (len(arguments) == 2 and arguments[1] is Ellipsis):
                items = [self.of(a, field) for a in arguments]
                return {"type": "array", "prefixItems": items, "items": False}
            return {"type": "array", "items": self.of(arguments[0] if arguments else Any)}
        if origin in (dict, Mapping) or (isinstance(origin, type) and issubclass(origin, Mapping)):
            values = arguments[1] if len(arguments) == 2 else Any
            return {"type": "object", "additionalProperties": self.of(values)}
        raise TypeError(
            f"the HTTP API cannot describe the annotation {annotation!r}"
            + (f" of field {field!r}" if field else "")
            + "; use str, int, float, bool, None, a StrEnum, a dataclass, or lists and "
            "dicts of those"
        )

    def ref(self, cls: type) -> str:
        """The ``$ref`` of the dataclass or enum ``cls``, registering its schema once."""
        name = cls.__name__
        known = self._classes.setdefault(name, cls)
        if known is not cls:
            raise TypeError(
                f"two API types are both named {name!r} ({_qualified(known)} and "
                f"{_qualified(cls)}); rename one: the document names schemas by class"
            )
        if name not in self.components:
            # Registered before its fields are walked, so a type that refers to itself ends.
            self.components[name] = schema = {}
            schema.update(self._enum(cls) if issubclass(cls, enum.Enum) else self._object(cls))
        return self._prefix + name

    def _enum(self, cls: type[enum.Enum]) -> JsonSchema:
        schema: JsonSchema = {"type": "string", "enum": [str(m.value) for m in cls]}
        return schema | describe(cls)

    def _object(self, cls: type) -> JsonSchema:
        hints = typing.get_type_hints(cls)
        documented = _attributes(cls)
        properties: dict[str, JsonSchema] = {}
        required: list[str] = []
        for field in dataclasses.fields(cls):
            schema = self.of(hints[field.name], field.name)
            if field.name in documented:
                text = documented[field.name]
                if field.name in self._time_fields:
                    # The model says how it keeps the time; the API writes it as text.
                    text = text.replace("(Unix time, seconds)", "(ISO 8601, UTC)")
                # Beside a $ref too: JSON Schema 2020-12 keeps the sibling keywords.
                schema = schema | {"description": text}
            properties[field.name] = schema
            if (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            ):
                required.append(field.name)
        schema = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return schema | describe(cls)

    @staticmethod
    def _union(choices: list[JsonSchema]) -> JsonSchema:
        plain = [c["type"] for c in choices if set(c) == {"type"} and isinstance(c["type"], str)]
        if len(plain) == len(choices):
            return {"type": plain}
        return {"anyOf": choices}


def describe(cls: type) -> JsonSchema:
    """``{"description": ...}`` from the first paragraph of ``cls``'s docstring (or nothing)."""
    # The class's own docstring: not an inherited one, nor the signature a dataclass
    # without one is given.
    doc = inspect.cleandoc(cls.__doc__ or "")
    if not doc or doc.startswith(f"{cls.__name__}("):
        return {}
    return {"description": _plain(doc.split("\n\n", 1)[0])}


def _attributes(cls: type) -> dict[str, str]:
    """The field descriptions of a Google-style ``Attributes:`` section of ``cls``."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    found: dict[str, str] = {}
    inside = False
    current: str | None = None
    for line in doc.splitlines():
        if not line.startswith(" "):
            inside = line.strip() == "Attributes:"
            current = None
            continue
        if not inside:
            continue
        text = line.strip()
        entry = (
            _ENTRY.match(text) if line.startswith("    ") and not line.startswith("     ") else None
        )
        if entry is not None:
            current = entry.group(1)
            found[current] = entry.group(2)
        elif current is not None and text:
            found[current] += " " + text
    return {name: _plain(text) for name, text in found.items()}


def _plain(text: str) -> str:
    """Docstring markup as plain text: ``:class:`~a.B``` is `B`, double backquotes single."""

    def name(role: re.Match[str]) -> str:
        shown = role.group(2).rsplit(".", 1)[-1] if role.group(1) else role.group(2)
        return f"`{shown}`"

    return _ROLE.sub(name, text).replace("``", "`").replace("\n", " ")


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
