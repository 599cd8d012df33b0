"""The wire protocol, sans-IO: typed messages, their codec, and the Connection.

It imports no trio and does no I/O: the server, the client and the tests drive
:class:`Connection` the same way (h11's design). The modules, from the bottom up:

* ``_fields`` and ``_schema``: the field types, and the wire schema of a record
  derived from its field annotations; ``_compiled``: the encoder and decoder each
  record class gets, generated from that schema;
* ``_events``: the protocol's constants, the :class:`Message` and :class:`Request`
  bases, and what a server sends; ``_requests``: what a client sends;
* ``_encoded``: each live record's JSON text, made once, for listings;
* ``_text``: a long string's JSON text (an output frame's) in whole-buffer passes;
* ``_codec``: JSON <-> typed values, frames, versions and error codes;
* ``_lifecycle``: the requests in flight and the rules about them;
* ``_connection``: :class:`Connection`, framing, the handshake and the lifecycle.
"""

from ._codec import (
    EncodedArray,
    check_version,
    encode_message,
    encode_records,
    error_for,
    exception_for,
    from_json,
    from_json_list,
    message_from_json,
    request_id_of,
    to_json,
)
from ._connection import CLOSED, HANDSHAKE_MAX_FRAME, MAX_IN_FLIGHT, NEED_DATA, Connection
from ._events import (
    DEFAULT_MAX_FRAME,
    ERROR_CODES,
    EXECUTION_STATUSES,
    OPERATOR_REQUESTS,
    PROTOCOL_VERSION,
    ROLES,
    SESSION_STATES,
    Done,
    Error,
    InputRequest,
    Message,
    Output,
    Progress,
    Refused,
    Request,
    Result,
    StateChanged,
    Welcome,
)
from ._requests import (
    MAX_STOP_REASON,
    MAX_TICKET_ID,
    Cancel,
    Complete,
    Execute,
    Hello,
    InputReply,
    ListSessions,
    Receive,
    Remove,
    SignatureAt,
    Start,
    Stop,
    Subscribe,
    Ticket,
    Tickets,
    Wait,
    Watch,
)
from ._schema import JSON

__all__ = [
    "CLOSED",
    "DEFAULT_MAX_FRAME",
    "ERROR_CODES",
    "EXECUTION_STATUSES",
    "HANDSHAKE_MAX_FRAME",
    "JSON",
    "MAX_IN_FLIGHT",
    "MAX_STOP_REASON",
    "MAX_TICKET_ID",
    "NEED_DATA",
    "OPERATOR_REQUESTS",
    "PROTOCOL_VERSION",
    "ROLES",
    "SESSION_STATES",
    "Cancel",
    "Complete",
    "Connection",
    "Done",
    "EncodedArray",
    "Error",
    "Execute",
    "Hello",
    "InputReply",
    "InputRequest",
    "ListSessions",
    "Message",
    "Output",
    "Progress",
    "Receive",
    "Refused",
    "Remove",
    "Request",
    "Result",
    "SignatureAt",
    "Start",
    "StateChanged",
    "Stop",
    "Subscribe",
    "Ticket",
    "Tickets",
    "Wait",
    "Watch",
    "Welcome",
    "check_version",
    "encode_message",
    "encode_records",
    "error_for",
    "exception_for",
    "from_json",
    "from_json_list",
    "message_from_json",
    "request_id_of",
    "to_json",
]
