"""``@record`` behaves as ``@dataclass(frozen=True, slots=True)`` and defines for free."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import subprocess
import sys
import textwrap
import weakref
from dataclasses import field

import pytest

from spe_host import LocalProtocolError, SessionInfo
from spe_host._records import record
from spe_host.wire import Hello, ListSessions, Stop


@record(kw_only=True)
class Point:
    """A record for these tests."""

    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)
    secret: str = field(default="s", repr=False)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DataPoint:
    """Point's twin made by dataclasses, to compare against."""

    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)
    secret: str = field(default="s", repr=False)


@record
class Pair:
    """A record with positional fields."""

    a: int
    b: str = "b"


@record(kw_only=True)
class Labelled(Pair):
    """A record that adds a field to its base's."""

    label: str


def test_a_record_reprs_compares_and_hashes_as_its_dataclass_twin() -> None:
    one, twin = Point(x=1, y=2, tags=["t"]), DataPoint(x=1, y=2, tags=["t"])
    assert repr(one) == repr(twin).replace("DataPoint", "Point")
    assert "secret" not in repr(one)
    assert one == Point(x=1, y=2, tags=["t"])
    assert one != Point(x=1, y=3, tags=["t"])
    assert one != twin  # type: ignore[comparison-overlap]  # another class: never equal
    assert hash(Pair(1)) == hash(Pair(1, "b"))
    assert len({Pair(1), Pair(1), Pair(2)}) == 2


def test_a_record_is_frozen_with_the_dataclass_sentences() -> None:
    one = Point(x=1)
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'x'"):
        one.x = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot delete field 'x'"):
        del one.x
    with pytest.raises(AttributeError):
        one.other = 1  # type: ignore[attr-defined]
    assert not hasattr(one, "__dict__")


def test_a_record_builds_as_its_dataclass_twin() -> None:
    assert Point(x=1).tags is not Point(x=1).tags  # a fresh list each time
    assert Pair(1).b == "b"
    assert Labelled(1, label="l") == Labelled(a=1, b="b", label="l")
    for build in (lambda: Point(1), lambda: Point(), lambda: Pair(1, "b", 3)):  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            build()
    with pytest.raises(LocalProtocolError, match="version"):
        Hello(version="one")  # __post_init__ checks the fields


def test_the_dataclasses_functions_work_on_records() -> None:
    one = Point(x=1, tags=["t"])
    assert dataclasses.is_dataclass(one)
    assert [f.name for f in dataclasses.fields(Labelled)] == ["a", "b", "label"]
    assert dataclasses.replace(one, y=5) == Point(x=1, y=5, tags=["t"])
    assert dataclasses.asdict(one) == {"x": 1, "y": 0, "tags": ["t"], "secret": "s"}
    assert Pair.__match_args__ == ("a", "b")


def test_records_pickle_copy_and_take_weak_references_where_asked() -> None:
    stop = Stop(id=3, targets=["s"], reason="why")
    assert pickle.loads(pickle.dumps(stop)) == stop
    assert copy.copy(stop) == stop
    assert copy.deepcopy(Point(x=1, tags=["t"])) == Point(x=1, tags=["t"])
    assert "__weakref__" in vars(SessionInfo)["__slots__"]  # weakref_slot=True
    assert "__weakref__" not in vars(ListSessions)["__slots__"]
    with pytest.raises(TypeError):
        weakref.ref(stop)


def test_a_default_before_a_required_positional_field_is_refused_at_once() -> None:
    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):

        @record
        class Wrong:
            """Not a valid record."""

            a: int = 0
            b: int  # type: ignore[misc]


def test_what_a_record_cannot_build_is_refused_at_once() -> None:
    with pytest.raises(TypeError, match=r"Hidden\.b: a record has no field\(init=False\)"):

        @record
        class Hidden:
            """Would lack b."""

            a: int
            b: int = field(init=False, default=0)

    with pytest.raises(TypeError, match=r"Passed\.b: a record has no InitVar"):

        @record
        class Passed:
            """Would take b and drop it."""

            a: int
            b: dataclasses.InitVar[int]


def test_a_record_is_a_frozen_dataclass_to_subclasses_and_hashes_as_one() -> None:
    @record
    class Base:
        """A record to build on."""

        a: int
        tag: str = field(default="", hash=False)

    @dataclasses.dataclass(frozen=True)
    class Frozen(Base):
        b: int = 0

    @record
    class Again(Base):
        """A record over a record."""

        b: int = 0

    @record
    class OwnEq:
        """Equal by a alone, and still hashable, as a frozen dataclass would be."""

        a: int

        def __eq__(self, other: object) -> bool:
            return isinstance(other, OwnEq) and other.a == self.a

    @record
    class Named:
        """A field called self."""

        self: int

    assert Base.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert Frozen(1, b=2) == Frozen(1, b=2)
    assert Again(1, b=2).b == 2
    assert hash(Base(1, "x")) == hash(Base(1, "y"))  # tag takes no part in the hash
    assert hash(OwnEq(3)) == hash((3,))
    assert Named(self=4).self == 4


def test_defining_records_compiles_no_method_and_the_first_build_compiles_its_init() -> None:
    # Start-up pays for no record's methods: only a class that is built compiles one.
    # (Python 3.13's dataclasses compiles one empty function per class whatever it is
    # asked for, so this counts the methods compiled, not the compiles.)
    script = textwrap.dedent(
        """
        import re, sys
        from spe_host._records import record
        methods = []
        def hook(event, args):
            if event == "compile":
                source = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
                methods.extend(re.findall(r"def (__(?!create_fn)[a-z_]+__)", source))
        sys.addaudithook(hook)

        @record(kw_only=True)
        class One:
            '''A record.'''
            x: int
            y: str = "y"

        defined = len(methods)
        One(x=1)
        One(x=2)
        print(defined, methods[defined:])
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split(" ", 1) == ["0", "['__init__']\n"]
