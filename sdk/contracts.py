"""Contract ABI bindings: load the ABIs shipped in sdk/abi/ and encode calls, decode outputs and logs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from eth_abi.abi import decode as abi_decode, encode as abi_encode
from eth_abi.exceptions import DecodingError, EncodingError as AbiEncodingError
from eth_utils.abi import collapse_if_tuple, event_abi_to_log_topic, function_abi_to_4byte_selector
from eth_utils.crypto import keccak

from sdk.encoding import readable_repr
from sdk.errors import EncodingError
from sdk.types import Log

if TYPE_CHECKING:
    from sdk.answers import LogEntry

#: The ABI copies shipped with the SDK (one ``<ContractName>.json`` per contract, a JSON list).
ABI_DIR: Path = Path(__file__).resolve().parent / "abi"

AbiEntry = dict[str, Any]


def render_abi(abi: Sequence[Mapping[str, Any]]) -> str:
    """Return the deterministic text of an ABI file in sdk/abi/ (sorted keys, indent 2, trailing newline)."""
    return json.dumps(list(abi), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_sdk_abis(artifacts: Mapping[str, Mapping[str, Any]], abi_dir: Path = ABI_DIR) -> list[Path]:
    """Copy each build artifact's ``abi`` into ``abi_dir/<name>.json``; returns the files that changed.

    Takes: contract name -> artifact dict (as scripts/build_contracts.py writes them) and the target folder.
    Called by the contract build so the light SDK install ships ABIs without contracts/build.
    """
    abi_dir.mkdir(parents=True, exist_ok=True)
    changed: list[Path] = []
    for name, artifact in sorted(artifacts.items()):
        target = abi_dir / f"{name}.json"
        text = render_abi(artifact["abi"])
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            changed.append(target)
    return changed


@cache
def load_abi(name: str, abi_dir: Path = ABI_DIR) -> tuple[AbiEntry, ...]:
    """Return the ABI of contract ``name`` from sdk/abi/.

    Raises EncodingError (code ``unknown_contract``) when no such ABI ships with the SDK.
    """
    path = abi_dir / f"{name}.json"
    if not name.isidentifier() or not path.is_file():
        raise EncodingError(
            f"no ABI for contract {name!r} in {abi_dir}", code="unknown_contract", contract=name
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EncodingError(f"ABI file {path} is unreadable", code="unknown_contract") from exc
    if isinstance(data, dict):  # tolerate a full build artifact
        data = data.get("abi", [])
    return tuple(data)


@readable_repr
@dataclass(frozen=True, slots=True)
class DecodedEvent:
    """A log decoded with its contract's ABI. Indexed dynamic values (string, bytes) stay as their hash."""

    name: str
    args: dict[str, Any]
    address: bytes


@readable_repr
@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """A decoded event and where its log is on the chain: the base of the domains' event records."""

    name: str
    args: dict[str, Any]
    height: int
    tx_hash: bytes
    tx_index: int
    log_index: int

    @classmethod
    def from_entry(cls, contract: Contract, entry: LogEntry) -> Self | None:
        """Return the event of a committed log, or None when the log is none of ``contract``'s events."""
        decoded = contract.try_decode_log(entry.log)
        if decoded is None:
            return None
        return cls(decoded.name, decoded.args, entry.height, entry.tx_hash, entry.tx_index, entry.log_index)


def _types(params: Sequence[Mapping[str, Any]]) -> list[str]:
    return [collapse_if_tuple(dict(p)) for p in params]


def _to_python(param: Mapping[str, Any], value: Any) -> Any:
    """Make decoded values plain: addresses as 20 bytes, structs as dicts by field name."""
    kind = str(param["type"])
    if kind.endswith("]"):
        inner = dict(param)
        inner["type"] = kind[: kind.rindex("[")]
        return [_to_python(inner, v) for v in value]
    if kind == "address":
        return bytes.fromhex(str(value)[2:])
    if kind == "tuple":
        components = param.get("components", [])
        return {c["name"]: _to_python(c, v) for c, v in zip(components, value, strict=True)}
    return value


class Contract:
    """The ABI of one contract: encode calls, decode return data and logs.

    ``Contract("Governance")`` loads sdk/abi/Governance.json; ``Contract.from_abi(abi)`` takes any ABI.
    """

    def __init__(self, name: str, abi: Sequence[Mapping[str, Any]] | None = None) -> None:
        self.name = name
        self.abi: tuple[AbiEntry, ...] = tuple(dict(e) for e in abi) if abi is not None else load_abi(name)
        self._functions: dict[str, list[AbiEntry]] = {}
        self._events: dict[str, AbiEntry] = {}
        self._events_by_topic: dict[bytes, AbiEntry] = {}
        for entry in self.abi:
            if entry.get("type") == "function":
                self._functions.setdefault(str(entry["name"]), []).append(entry)
            elif entry.get("type") == "event":
                self._events[str(entry["name"])] = entry
                if not entry.get("anonymous"):
                    self._events_by_topic[event_abi_to_log_topic(entry)] = entry  # type: ignore[arg-type]

    @classmethod
    def from_abi(cls, name: str, abi: Sequence[Mapping[str, Any]]) -> Contract:
        """Return a binding for an ABI that does not ship with the SDK."""
        return cls(name, abi)

    def get_function(self, name: str, arg_count: int | None = None) -> AbiEntry:
        """Return the ABI entry of function ``name`` (the overload taking ``arg_count`` arguments).

        Raises EncodingError (code ``unknown_function``).
        """
        overloads = self._functions.get(name)
        if not overloads:
            raise EncodingError(
                f"{self.name} has no function {name!r}", code="unknown_function", function=name
            )
        if arg_count is None:
            return overloads[0]
        for entry in overloads:
            if len(entry.get("inputs", [])) == arg_count:
                return entry
        raise EncodingError(
            f"{self.name}.{name} takes no {arg_count} arguments", code="unknown_function", function=name
        )

    def get_event(self, name: str) -> AbiEntry:
        """Return the ABI entry of event ``name``; raises EncodingError (code ``unknown_event``)."""
        entry = self._events.get(name)
        if entry is None:
            raise EncodingError(f"{self.name} has no event {name!r}", code="unknown_event", event=name)
        return entry

    def selector(self, name: str, arg_count: int | None = None) -> bytes:
        """Return the 4-byte selector of function ``name``."""
        return function_abi_to_4byte_selector(self.get_function(name, arg_count))  # type: ignore[arg-type]

    def encode_call(self, name: str, args: Sequence[Any] = ()) -> bytes:
        """Return call data: selector + ABI-encoded ``args``.

        Addresses may be 20 bytes or hex; bytes32 values 32 bytes. Raises EncodingError on a wrong argument
        count or a value the ABI type does not accept.
        """
        entry = self.get_function(name, len(args))
        try:
            encoded = abi_encode(_types(entry.get("inputs", [])), list(args))
        except (AbiEncodingError, TypeError, ValueError, OverflowError) as exc:
            raise EncodingError(
                f"arguments do not fit {self.name}.{name}: {exc}", code="bad_arguments", function=name
            ) from exc
        return function_abi_to_4byte_selector(entry) + encoded  # type: ignore[arg-type]

    def decode_call(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """The function and named arguments of call data to this contract (``encode_call``'s inverse).

        Raises EncodingError (code ``unknown_function`` for an unknown selector, ``bad_arguments`` for
        arguments that do not decode).
        """
        selector = bytes(data[:4])
        for overloads in self._functions.values():
            for entry in overloads:
                if function_abi_to_4byte_selector(entry) != selector:  # type: ignore[arg-type]
                    continue
                inputs = entry.get("inputs", [])
                try:
                    values = abi_decode(_types(inputs), bytes(data[4:]))
                except (DecodingError, ValueError, OverflowError) as exc:
                    raise EncodingError(
                        f"call data of {self.name}.{entry['name']} does not decode", code="bad_arguments"
                    ) from exc
                args = {str(p["name"]): _to_python(p, v) for p, v in zip(inputs, values, strict=True)}
                return str(entry["name"]), args
        raise EncodingError(
            f"call data names no function of {self.name}", code="unknown_function", selector=selector.hex()
        )

    def read(self, call: Callable[[bytes, bytes], bytes], to: bytes, name: str, *args: Any) -> Any:
        """Run function ``name`` of the contract at ``to`` read-only through ``call(to, data)`` (a node
        client's or a ledger's) and return its decoded output.

        Raises what ``call`` raises, and EncodingError for bad arguments or an output that does not decode.
        """
        return self.decode_output(name, call(to, self.encode_call(name, list(args))))

    def decode_output(self, name: str, data: bytes, arg_count: int | None = None) -> Any:
        """Decode the return data of ``name``: one output as its value, several as a tuple, structs as dicts.

        Raises EncodingError (code ``bad_output``) when ``data`` does not decode.
        """
        entry = self.get_function(name, arg_count)
        outputs = entry.get("outputs", [])
        try:
            values = abi_decode(_types(outputs), data)
        except (DecodingError, ValueError, OverflowError) as exc:
            raise EncodingError(
                f"return data of {self.name}.{name} does not decode", code="bad_output", function=name
            ) from exc
        converted = tuple(_to_python(p, v) for p, v in zip(outputs, values, strict=True))
        if len(converted) == 1:
            return converted[0]
        return converted if converted else None

    def event_topic(self, name: str) -> bytes:
        """Return topic0 of event ``name`` (Keccak-256 of its signature, the EVM rule)."""
        return event_abi_to_log_topic(self.get_event(name))  # type: ignore[arg-type]

    def encode_topic(self, event: str, arg: str, value: Any) -> bytes:
        """Return the topic that an indexed argument ``arg`` of ``event`` has for ``value``.

        Dynamic types (string, bytes) are hashed as the EVM does. Raises EncodingError.
        """
        for param in self.get_event(event).get("inputs", []):
            if param["name"] == arg and param.get("indexed"):
                kind = str(param["type"])
                if kind == "string":
                    return keccak(text=str(value))
                if kind == "bytes":
                    return keccak(bytes(value))
                try:
                    return abi_encode([kind], [value])
                except (AbiEncodingError, TypeError, ValueError) as exc:
                    raise EncodingError(f"{value!r} is not a {kind}", code="bad_arguments") from exc
        raise EncodingError(f"{self.name}.{event} has no indexed argument {arg!r}", code="unknown_event")

    def decode_log(self, log: Log) -> DecodedEvent:
        """Decode one of this contract's logs into its event name and arguments.

        Raises EncodingError (code ``unknown_event``) when topic0 is no event of this contract, or
        ``bad_log`` when the topics or data do not fit the event.
        """
        if not log.topics or log.topics[0] not in self._events_by_topic:
            raise EncodingError(f"log is not an event of {self.name}", code="unknown_event")
        entry = self._events_by_topic[log.topics[0]]
        inputs = entry.get("inputs", [])
        indexed = [p for p in inputs if p.get("indexed")]
        plain = [p for p in inputs if not p.get("indexed")]
        if len(log.topics) != len(indexed) + 1:
            raise EncodingError(f"log topics do not fit {entry['name']}", code="bad_log")
        args: dict[str, Any] = {}
        try:
            for param, topic in zip(indexed, log.topics[1:], strict=True):
                kind = str(param["type"])
                if kind in ("string", "bytes") or kind.endswith("]") or kind == "tuple":
                    args[param["name"]] = topic
                else:
                    args[param["name"]] = _to_python(param, abi_decode([kind], topic)[0])
            values = abi_decode(_types(plain), log.data)
        except (DecodingError, ValueError, OverflowError) as exc:
            raise EncodingError(f"log data does not fit {entry['name']}", code="bad_log") from exc
        for param, value in zip(plain, values, strict=True):
            args[param["name"]] = _to_python(param, value)
        ordered = {p["name"]: args[p["name"]] for p in inputs}
        return DecodedEvent(name=str(entry["name"]), args=ordered, address=log.address)

    def try_decode_log(self, log: Log) -> DecodedEvent | None:
        """Return the decoded log, or None when it is not one of this contract's events."""
        try:
            return self.decode_log(log)
        except EncodingError:
            return None

    def events_in(self, logs: Iterable[Log], address: bytes) -> list[DecodedEvent]:
        """Return this contract's events (deployed at ``address``) among ``logs`` (a receipt's), in order."""
        return [e for log in logs if log.address == address if (e := self.try_decode_log(log)) is not None]
