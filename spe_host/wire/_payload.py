"""Reading frames for :class:`~spe_host.wire.Connection`: JSON lines and output payloads.

A frame is one JSON line; :func:`load_frame` turns it into a value or a sentence.
Binary output (protocol 1.5) adds one shape: an ``output`` header with ``"bytes": N``
and no ``"text"``, followed by exactly N raw bytes of the session's output.
:func:`payload_size` checks such a header when it is read (the header and its
payload count as one frame against the limit, so an oversized one is refused before
its bytes are buffered), and :func:`take_payload` makes the message once the
payload is in, decoding it as :func:`~spe_host._model.decode_output` does, so the
client gets the same :class:`~spe_host.wire.Output` a JSON frame would have given.
"""

from __future__ import annotations

import json

from spe_host._errors import RemoteProtocolError
from spe_host._rules import decode_output

from ._codec import id_in, message_from_json
from ._decoding import loads
from ._events import Message

__all__ = ["load_frame", "payload_size", "take_payload", "too_large"]


def too_large(limit: int) -> RemoteProtocolError:
    """The error of a frame longer than ``limit`` bytes."""
    return RemoteProtocolError(
        f"a frame is longer than the limit of {limit} bytes", error_code="too_large"
    )


def load_frame(line: bytearray) -> object:
    """The JSON value of one frame (without its newline).

    Raises:
        RemoteProtocolError: It is not UTF-8, not JSON, or not acceptable JSON.
    """
    try:
        return loads(line)
    except UnicodeDecodeError:
        raise RemoteProtocolError("the frame is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise RemoteProtocolError(
            f"the frame is not valid JSON ({exc.msg} at character {exc.pos})"
        ) from None
    except (ValueError, RecursionError) as exc:
        # ValueError: NaN/Infinity or an integer too long to convert; RecursionError:
        # arrays nested thousands deep.
        raise RemoteProtocolError(
            f"the frame is not acceptable JSON ({type(exc).__name__})"
        ) from None


def payload_size(obj: dict[str, object], length: int, limit: int, *, binary: bool) -> int | None:
    """The payload length an output header of ``length`` bytes announces, checked.

    Args:
        obj: A received frame with a ``"bytes"`` key.
        length: The header's length in bytes.
        limit: The frame limit, for the header and its payload together.
        binary: Whether this connection asked for binary output.

    Returns:
        The payload's length, or None if ``obj`` is not an ``output`` event (the key
        is then unknown to it, and ignored like any).

    Raises:
        RemoteProtocolError: The payload was not asked for, its length is not a
            non-negative integer, the header carries ``text`` too, or the frame is
            longer than the limit (``too_large``).
    """
    if obj.get("type") != "output":
        return None
    request_id = id_in(obj)
    if not binary:
        raise RemoteProtocolError(
            "the server sent an output payload ('bytes'), which this client did not "
            "ask for in its hello",
            request_id=request_id,
        )
    size = obj["bytes"]
    if type(size) is not int or size < 0:
        raise RemoteProtocolError(
            "the output header's 'bytes' must be a non-negative integer, the length "
            "of the payload that follows it",
            request_id=request_id,
        )
    if "text" in obj:
        raise RemoteProtocolError(
            "an output header with a payload ('bytes') must not carry 'text' too",
            request_id=request_id,
        )
    if length + size > limit:
        raise RemoteProtocolError(
            f"an output frame (a header of {length} bytes and a payload of {size}) is "
            f"longer than the limit of {limit} bytes",
            error_code="too_large",
            request_id=request_id,
        )
    return size


def take_payload(
    buffer: bytearray, header: dict[str, object], size: int, *, eof: bool
) -> Message | None:
    """The message of an output header once its payload is at the front of ``buffer``
    (which loses it), else None.

    Raises:
        RemoteProtocolError: The peer closed (``eof``) before the payload was all in.
    """
    if len(buffer) < size:
        if eof:
            raise RemoteProtocolError(
                f"the connection closed in the middle of an output payload "
                f"({len(buffer)} of its {size} bytes came)",
                request_id=id_in(header),
            )
        return None
    # Decoded from a view of the buffer: the payload is copied once, into the text.
    with memoryview(buffer) as view, view[:size] as payload:
        header["text"] = decode_output(payload)
    del buffer[:size]
    return message_from_json(header)
