"""The exit statuses of the `xinlian` command, in one table: scripts branch on them, so they are a contract.

docs/cli.md prints the same table (tests/unit/sdk/test_cli_conventions.py reads it back and compares), and
``exit_code_for`` is the one place that decides which status a typed failure (sdk.errors) ends a command with.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from sdk.errors import (
    AccessDenied,
    AuthenticationError,
    CheckFailed,
    ClientError,
    ConfigError,
    CryptoError,
    DomainError,
    EncodingError,
    ExecutionError,
    IdentifierError,
    InputError,
    InvalidTransaction,
    OutputError,
    UsageError,
    VerificationError,
    XinlianError,
)

__all__ = ["MEANINGS", "ExitCode", "exit_code_for"]


class ExitCode(IntEnum):
    """How a `xinlian` command ended (MEANINGS says what each one promises)."""

    OK = 0
    NOT_VERIFIED = 1
    USAGE = 2
    INPUT = 3
    UNREACHABLE = 4
    NODE_ERROR = 5
    OUTPUT = 6
    INTERNAL = 70
    INTERRUPTED = 130


MEANINGS: Final[dict[ExitCode, str]] = {
    ExitCode.OK: "done; a check came out positive (verified, VALID, authentic)",
    ExitCode.NOT_VERIFIED: (
        "not verified or refused: a bundle that does not verify, a licence that is not VALID, a drug code "
        "that is not authentic or is held, a failed self-test, a request a rule refuses"
    ),
    ExitCode.USAGE: (
        "the command was called wrongly: unknown or missing arguments, an output that exists without "
        "--force, an empty environment variable, a bad XINLIAN_TZ, a command that needs xinlian[node]"
    ),
    ExitCode.INPUT: (
        "an input cannot be read: a missing or unreadable file, a malformed bundle, trust file, QR payload, "
        "key, node config, identifier or code"
    ),
    ExitCode.UNREACHABLE: "the node cannot be reached: connection refused, DNS, TLS certificate, timeout",
    ExitCode.NODE_ERROR: "the node answered with an error (HTTP 4xx/5xx) or an answer that does not parse",
    ExitCode.OUTPUT: "a file the command was asked to write cannot be written",
    ExitCode.INTERNAL: (
        "an unexpected failure: a bug (traceback on stderr) or a node's fatal internal fault "
        "(`xinlian node run`; its supervisor restarts it)"
    ),
    ExitCode.INTERRUPTED: "interrupted by Ctrl-C (SIGINT)",
}

#: ClientError codes the SDK's client gives a request that never got an answer (sdk/client.py).
_NO_ANSWER_CODES: Final = frozenset({"unreachable", "timeout"})

#: A transaction the chain committed and the contract's rules reverted: the request was refused (1), not a
#: failure of the node's execution machinery (70).
_REFUSED_EXECUTION_CODES: Final = frozenset({"execution_reverted"})

#: Typed failures raised before or without asking a node, first match wins.
_BY_CLASS: Final[tuple[tuple[type[XinlianError], ExitCode], ...]] = (
    (UsageError, ExitCode.USAGE),
    (OutputError, ExitCode.OUTPUT),
    (InputError, ExitCode.INPUT),
    (ConfigError, ExitCode.INPUT),
    (EncodingError, ExitCode.INPUT),
    (IdentifierError, ExitCode.INPUT),
    (CryptoError, ExitCode.INPUT),
    (VerificationError, ExitCode.NOT_VERIFIED),
    (CheckFailed, ExitCode.NOT_VERIFIED),
    (DomainError, ExitCode.NOT_VERIFIED),
    (AccessDenied, ExitCode.NOT_VERIFIED),
    (AuthenticationError, ExitCode.NOT_VERIFIED),
    (InvalidTransaction, ExitCode.NOT_VERIFIED),
)


def exit_code_for(error: XinlianError) -> ExitCode:
    """The status a command that failed with ``error`` exits with.

    A node's answer (any error carrying ``http_status``) is NODE_ERROR whatever its class: a script must
    tell "the node said no to this request" from "the fact is negative", which commands that ask a node
    decide themselves (they raise CheckFailed). Errors of the node's own machinery (storage, consensus,
    execution) are INTERNAL.
    """
    if "http_status" in error.detail:
        return ExitCode.NODE_ERROR
    if isinstance(error, ClientError):
        return ExitCode.UNREACHABLE if error.code in _NO_ANSWER_CODES else ExitCode.NODE_ERROR
    if isinstance(error, ExecutionError) and error.code in _REFUSED_EXECUTION_CODES:
        return ExitCode.NOT_VERIFIED
    for cls, code in _BY_CLASS:
        if isinstance(error, cls):
            return code
    return ExitCode.INTERNAL
