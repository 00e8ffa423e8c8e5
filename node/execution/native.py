"""The native execution engine: py-evm's state and trie, with a native VM running every message it runs
exactly and py-evm running the others over the same state. The VM is Rust revm through pyrevm (``vm="revm"``,
the default) or evmone through libxevm (``vm="evmone"``, node/execution/evmone.py), which also has the GM
precompiles: with it the messages that hash or verify with SM3/SM2 run natively too.

Why: py-evm interpreting the Vyper contracts is ≈ 90 % of a node's in-process time; revm runs the same
bytecode more than ten times faster. py-evm stays the reference: its state trie is the node's state (roots,
proofs, views), and whatever revm cannot be shown to run exactly runs on py-evm.

How (docs/execution.md): a *mirror* holds a complete copy of the state at one root inside the VM's
in-memory database (below for revm; ``_EvmoneMirror`` for evmone, whose library reports a message's changes
itself), loaded by walking the trie (the store keeps the preimages of its keys, see
``PreimageAccountDB``). Each message runs in pyrevm under a journal checkpoint; the engine reads what the
message changed from revm's journal (``journal_str``, a debug dump: its format is pinned by
``PYREVM_VERSION`` and checked by tests/unit/node/test_native_journal.py), reverts the checkpoint and writes
each change back twice: into the mirror, as committed values (so the next message meets fresh original
values and cold slots, as in py-evm), and into py-evm's state, whose trie gives the state root.

The exactness rule. A message keeps its native result only when it succeeded in revm and the journal shows
nothing revm could get wrong: no precompile (the SM3/SM2 ones, and Prague's BLS ones, exist only in
py-evm), no account whose nonce, balance or code changed (only storage is written back), and no code but
the system contracts of this build (``compute_trusted_code``). Those contracts never catch a failed call
and hold no opcode whose value differs between the two set-ups (BLOCKHASH, COINBASE, blob opcodes) or that
creates or destroys accounts — tests/unit/node/test_native_journal.py checks both. That makes a success
conclusive: revm forgets what a failed frame touched, but a sub-call failure in trusted code fails the
whole message, so a successful message had no failed frame and its journal is complete. Every other
message — one that reverts or runs out of gas in revm, or that breaks the rule — runs on py-evm over the
same state; the engine counts it by reason (``counts``) and logs the first of each reason.
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import pyrevm
import rlp
from eth_hash.auto import keccak
from trie.iter import NodeIterator

from node.execution.engine import (
    BLANK_ROOT_HASH,
    EMPTY_CODE_HASH,
    PRECOMPILE_ADDRESSES,
    ExecutionEngine,
    HexaryTrie,
    compute_floor_gas,
)
from node.execution.evmone import ACCOUNT_CHANGED, OTHER_PRECOMPILE, UNTRUSTED_CODE, Xevm, fits, load_library
from node.execution.types import BlockContext, ExecutionResult, Message
from node.genesis import BUILD_DIR, DOMAIN_CONTRACTS, load_runtime_code
from sdk.errors import ExecutionError
from sdk.types import Log, Receipt

log = logging.getLogger("xinlian.execution")

#: The pyrevm release whose journal dump this module parses (revm 8.0.0 inside).
PYREVM_VERSION: Final = "0.3.7"
#: revm's fork: Cancun has every opcode of py-evm's Prague; Prague's EIP-7623 calldata floor is applied here.
#: pyrevm maps any name it does not know to LATEST, so the spelling matters.
REVM_SPEC: Final = "Cancun"
#: Executed blocks whose change sets the mirror keeps, to move between their roots without a reload.
MIRROR_LINKS: Final = 64
#: The native VMs (``NativeExecutionEngine(vm=...)``).
NATIVE_VMS: Final = ("revm", "evmone")

_EMPTY_ACCOUNT: Final = (0, 0, EMPTY_CODE_HASH)
_ACCOUNT_HEAD: Final = ": Account { info: AccountInfo { balance: "
_ACCOUNT_INFO = re.compile(
    r": Account \{ info: AccountInfo \{ balance: (\d+), nonce: (\d+), code_hash: 0x([0-9a-f]{64}), "
)
_STORAGE_OPEN: Final = ", storage: {"
_STORAGE_CLOSE: Final = "}, status: AccountStatus("
_STATE_END: Final = "}, transient_storage: {"
# A slot key follows "{" or ", " in the storage map; the look-behind keeps digits inside numbers from starting
# a match.
_SLOT = re.compile(
    r"(?<=[{ ])(\d+): StorageSlot \{ previous_or_original_value: (\d+), present_value: (\d+) \}"
)
# pyrevm's AccountInfo takes a balance; its type stub does not say so.
_AccountInfo: Any = pyrevm.AccountInfo


class Fallback(StrEnum):
    """Why a message ran on py-evm instead of revm (the keys of ``NativeExecutionEngine.counts``)."""

    FAILED = "failed natively"  # reverted, out of gas or refused natively: its frames' accesses are unknown
    PRECOMPILE = "precompile"  # touched a precompile (revm: any; evmone: any but SM3/SM2)
    ACCOUNT = "account change"  # changed a nonce, a balance or code, or created or destroyed an account
    CODE = "untrusted code"  # ran code other than the system contracts of this build
    JOURNAL = "journal unreadable"  # the journal dump is not as pyrevm 0.3.7 prints it
    NO_MIRROR = "no mirror"  # the state could not be loaded into revm (see NativeExecutionEngine.disabled)
    RANGE = "out of range"  # evmone: a block number, time or gas limit beyond 2^63 - 1


NATIVE: Final = "native"


@dataclass(frozen=True, slots=True)
class JournalAccount:
    """One account of revm's journal after a message (pre-message values are what the mirror held)."""

    nonce: int
    balance: int
    code_hash: bytes
    slots: tuple[tuple[int, int, int], ...]  # (slot, value before the message, value after) of each slot read


def parse_journal(text: str) -> dict[bytes, JournalAccount]:
    """Read the accounts of pyrevm's ``EVM.journal_str`` (the Debug dump of revm's JournaledState).

    Returns every account the journal holds, by 20-byte address. Raises ExecutionError (code
    "journal_format") when the dump's account list cannot be read as pyrevm 0.3.7 prints it.
    """
    end = text.rfind(_STATE_END)  # from the end: what follows the accounts is short (logs, journal entries)
    if not text.startswith("JournaledState { state: {") or end < 0:
        raise ExecutionError("the revm journal dump has an unknown format", code="journal_format")
    accounts: dict[bytes, JournalAccount] = {}
    position = 0
    while (head := text.find(_ACCOUNT_HEAD, position, end)) >= 0:
        info = _ACCOUNT_INFO.match(text, head)
        storage = text.find(_STORAGE_OPEN, head, end)
        storage_end = text.find(_STORAGE_CLOSE, storage, end)
        if info is None or min(storage, storage_end) < 0 or text[head - 42 : head - 40] != "0x":
            raise ExecutionError("an account of the revm journal dump is unreadable", code="journal_format")
        slots = tuple(
            (int(slot), int(before), int(after))
            for slot, before, after in _SLOT.findall(text, storage + len(_STORAGE_OPEN) - 1, storage_end)
        )
        accounts[bytes.fromhex(text[head - 40 : head])] = JournalAccount(
            nonce=int(info[2]),
            balance=int(info[1]),
            code_hash=bytes.fromhex(info[3]),
            slots=slots,
        )
        position = storage_end + len(_STORAGE_CLOSE)
    return accounts


def compute_trusted_code(build_dir: Path = BUILD_DIR) -> frozenset[bytes]:
    """The code hashes revm may run: Governance and the domain contracts as built in ``build_dir``.

    Code installed from elsewhere (a genesis file may carry any code) runs on py-evm.
    """
    names = ("Governance", *DOMAIN_CONTRACTS)
    return frozenset(
        keccak(load_runtime_code(name, build_dir)) for name in names if (build_dir / f"{name}.json").exists()
    )


def _hex(address: bytes) -> str:
    return "0x" + address.hex()


# (address, slot, value before, value after) of one storage write, in execution order.
Change = tuple[bytes, int, int, int]


@dataclass(frozen=True, slots=True)
class _NativeRun:
    """A message revm ran exactly: what its receipt needs and the storage it changed."""

    gas_used: int  # after refunds, before the calldata floor
    logs: tuple[Log, ...]
    changes: tuple[Change, ...]


@dataclass(frozen=True, slots=True)
class _Link:
    """How an executed block's state root relates to its parent's, for moving the mirror between them."""

    parent: bytes
    changes: tuple[Change, ...]


class _Mirror:
    """A complete copy of the state at ``root`` inside one pyrevm EVM (revm's in-memory database).

    Beside the EVM it knows each existing account's (nonce, balance, code hash): what revm must still show
    after a message. Accounts it does not hold read as empty in revm, as absent accounts do in py-evm.
    ``trusted_code`` holds the code hashes revm may run (``compute_trusted_code``).
    """

    def __init__(self, chain_id: int, gas_limit: int, trusted_code: frozenset[bytes]) -> None:
        # GASLIMIT reads the EVM's own gas_limit, not the block environment's: one mirror per block gas limit.
        self.evm: Any = pyrevm.EVM(
            env=pyrevm.Env(cfg=pyrevm.CfgEnv(chain_id=chain_id)), gas_limit=gas_limit, spec_id=REVM_SPEC
        )
        self.gas_limit = gas_limit
        self.root = BLANK_ROOT_HASH
        self.accounts: dict[bytes, tuple[int, int, bytes]] = {}
        self.trusted_code = trusted_code | {EMPTY_CODE_HASH}

    def add_account(self, address: bytes, nonce: int, balance: int, code_hash: bytes, code: bytes) -> None:
        """Install an account (its storage comes through ``write``)."""
        info = _AccountInfo(balance=balance, nonce=nonce, code=code or None)
        self.evm.insert_account_info(_hex(address), info)
        self.accounts[address] = (nonce, balance, code_hash)

    def write(self, address: bytes, slot: int, value: int) -> None:
        """Set a storage word as committed state: original and present value of later messages."""
        # Outside a checkpoint pyrevm would keep the account loaded in the journal, and later writes would
        # become journaled SSTOREs with a stale original value: load, write, and unload it again.
        evm = self.evm
        checkpoint = evm.snapshot()
        evm.insert_account_storage(_hex(address), slot, value)
        evm.revert(checkpoint)

    def read(self, address: bytes, slot: int) -> int:
        """A storage word of the mirrored state."""
        evm = self.evm
        checkpoint = evm.snapshot()
        value = int(evm.storage(_hex(address), slot))
        evm.revert(checkpoint)
        return value

    def set_block(self, ctx: BlockContext) -> None:
        self.evm.set_block_env(
            pyrevm.BlockEnv(
                number=ctx.height,
                # the proposer, as py-evm's block has it: revm warms it (EIP-3651), and so does py-evm
                coinbase=_hex(ctx.proposer),
                timestamp=ctx.timestamp_ms // 1000,
                difficulty=0,
                prevrandao=bytes(32),
                basefee=0,
                excess_blob_gas=0,
            )
        )

    def run(self, message: Message) -> _NativeRun | Fallback:
        """Run ``message`` in revm and undo it; its result when exact, else why it must run on py-evm."""
        evm = self.evm
        checkpoint = evm.snapshot()
        try:  # the return data is not kept: a receipt has none
            evm.message_call(_hex(message.sender), _hex(message.to), message.data, gas=message.gas_limit)
        except RuntimeError:  # a revert or halt (pyrevm raises for both), or revm refused the call
            evm.revert(checkpoint)
            return Fallback.FAILED
        result = evm.result
        journal = evm.journal_str
        evm.revert(checkpoint)
        try:
            accounts = parse_journal(journal)
        except ExecutionError:
            return Fallback.JOURNAL
        fallback = self._check(message, accounts)
        if fallback is not None:
            return fallback
        logs = []
        for entry in result.logs:
            topics, data = entry.data
            logs.append(Log(address=bytes.fromhex(entry.address[2:]), topics=tuple(topics), data=bytes(data)))
        changes = tuple(
            (address, slot, before, after)
            for address, account in accounts.items()
            for slot, before, after in account.slots
            if before != after
        )
        return _NativeRun(int(result.gas_used), tuple(logs), changes)

    def _check(self, message: Message, accounts: dict[bytes, JournalAccount]) -> Fallback | None:
        """Why the message's native result cannot be kept (see the module docstring), or None."""
        if message.to not in accounts:  # revm always loads the target: the dump was misread
            return Fallback.JOURNAL
        # py-evm's Prague set with Xinlian's SM3/SM2 covers revm's Cancun set (0x01 … 0x0a)
        if not PRECOMPILE_ADDRESSES.isdisjoint(accounts):
            return Fallback.PRECOMPILE
        for address, account in accounts.items():
            after = (account.nonce, account.balance, account.code_hash)
            if after != self.accounts.get(address, _EMPTY_ACCOUNT):
                return Fallback.ACCOUNT
        if any(account.code_hash not in self.trusted_code for account in accounts.values()):
            return Fallback.CODE
        return None


class _EvmoneMirror:
    """A complete copy of the state at ``root`` inside libxevm, answering as ``_Mirror`` does.

    The exactness rule is revm's but for the GM precompiles, which evmone has: libxevm flags a message that
    read an account whose code is not trusted, ran any other precompile, or changed an account, and a message
    that failed is run on py-evm (its revert reason is py-evm's to give).
    """

    def __init__(self, chain_id: int, gas_limit: int, trusted_code: frozenset[bytes]) -> None:
        self.vm = Xevm(chain_id, trusted_code)
        self.gas_limit = gas_limit
        self.root = BLANK_ROOT_HASH
        self.accounts: dict[bytes, tuple[int, int, bytes]] = {}
        self.in_range = True  # the block's numbers fit the library's 64-bit fields

    def add_account(self, address: bytes, nonce: int, balance: int, code_hash: bytes, code: bytes) -> None:
        """Install an account (its storage comes through ``write``)."""
        self.vm.set_account(address, nonce, balance, code)
        self.accounts[address] = (nonce, balance, code_hash)

    def write(self, address: bytes, slot: int, value: int) -> None:
        """Set a storage word as committed state."""
        self.vm.set_storage(address, slot, value)

    def read(self, address: bytes, slot: int) -> int:
        """A storage word of the mirrored state."""
        return self.vm.get_storage(address, slot)

    def set_block(self, ctx: BlockContext) -> None:
        # py-evm's block: the proposer is the coinbase (warm, EIP-3651), no previous hashes, PREVRANDAO and
        # base fee 0. A block whose numbers the library cannot hold runs on py-evm.
        self.in_range = fits(ctx.height, ctx.timestamp_ms // 1000, ctx.gas_limit)
        if self.in_range:
            self.vm.set_block(ctx.height, ctx.timestamp_ms // 1000, ctx.gas_limit, ctx.proposer)

    def run(self, message: Message) -> _NativeRun | Fallback:
        """Run ``message`` in evmone without changing the copy; its result when exact, else why it must run on
        py-evm."""
        if not self.in_range or not fits(message.gas_limit):
            return Fallback.RANGE
        answer = self.vm.run(message.sender, message.to, message.data, message.gas_limit)
        if not answer.succeeded:
            return Fallback.FAILED
        if answer.flags & OTHER_PRECOMPILE:
            return Fallback.PRECOMPILE
        if answer.flags & ACCOUNT_CHANGED:
            return Fallback.ACCOUNT
        if answer.flags & UNTRUSTED_CODE:
            return Fallback.CODE
        return _NativeRun(answer.gas_used, answer.logs, answer.changes)


#: Either mirror (``NativeExecutionEngine.vm``).
_AnyMirror = _Mirror | _EvmoneMirror


class NativeExecutionEngine(ExecutionEngine):
    """ExecutionEngine whose blocks run on a native VM wherever it is exact (module docstring), else py-evm.

    Everything but ``execute_block`` is py-evm's (genesis, read-only calls, code, storage, proofs), and every
    result — receipts, gas, logs, revert reasons, state roots — is what ``ExecutionEngine`` gives. ``counts``
    tells how many messages ran natively ("native") and how many ran on py-evm, by ``Fallback`` reason.
    Thread-safe: one block executes at a time.

    ``vm``: "revm" (pyrevm) or "evmone" (libxevm). Raises ExecutionError (code "native_engine_unavailable")
    when the installed pyrevm is not ``PYREVM_VERSION`` (its journal dump is what this engine parses) or
    libxevm is not built; ("bad_config") for another ``vm``.
    """

    def __init__(self, db: MutableMapping[bytes, bytes], chain_id: int, *, vm: str = "revm") -> None:
        if vm not in NATIVE_VMS:
            raise ExecutionError(f"the native VM is one of {list(NATIVE_VMS)}, not {vm!r}", code="bad_config")
        if vm == "revm":
            installed = importlib.metadata.version("pyrevm")
            if installed != PYREVM_VERSION:
                raise ExecutionError(
                    f"the native engine needs pyrevm {PYREVM_VERSION}, found {installed}",
                    code="native_engine_unavailable",
                    installed=installed,
                )
        else:
            if not 0 <= chain_id < 2**64:
                raise ExecutionError("the evmone engine takes chain ids below 2^64", code="bad_config")
            load_library()
        super().__init__(db, chain_id)
        self.vm = vm
        self.trusted_code = compute_trusted_code()
        self.counts: Counter[str] = Counter()
        #: Why the native path is off for good (a state that cannot be loaded), or "" while it is on.
        self.disabled = ""
        self._mirror: _AnyMirror | None = None
        self._links: OrderedDict[bytes, _Link] = OrderedDict()
        self._lock = threading.Lock()

    # --- blocks ---------------------------------------------------------------------------------------
    def execute_block(
        self, parent_state_root: bytes, ctx: BlockContext, messages: Sequence[Message]
    ) -> ExecutionResult:
        """As ``ExecutionEngine.execute_block``: the same receipts and state root, faster."""
        with self._lock:
            state = self._get_state(parent_state_root, ctx)
            mirror = self._get_mirror(parent_state_root, ctx) if messages else None
            changes: list[Change] = []
            receipts = []
            try:
                for message in messages:
                    receipt = None if mirror is None else self._run_native(mirror, state, message, changes)
                    if receipt is None:
                        receipt = self._run_reference(state, message, mirror, changes)
                        if mirror is not None and mirror is not self._mirror:
                            mirror = None  # the message changed accounts: the mirror was dropped
                    receipts.append(receipt)
                state_root = self._persist(state)
            except BaseException:
                self._mirror = None  # stopped half-way through the block: its copy of the state is unknown
                raise
            if mirror is not None:
                self._remember(mirror, parent_state_root, state_root, changes)
            return ExecutionResult(
                state_root=state_root, receipts=tuple(receipts), gas_used=sum(r.gas_used for r in receipts)
            )

    def _run_native(
        self, mirror: _AnyMirror, state: Any, message: Message, changes: list[Change]
    ) -> Receipt | None:
        """The message's receipt when revm ran it exactly, its changes written back; else None (counted)."""
        refused = self._check_message(state, message)
        if refused is not None:
            self.counts[NATIVE] += 1  # no code runs: nothing for either EVM to do
            return refused
        run = mirror.run(message)
        if isinstance(run, Fallback):
            self._count(run, message)
            return None
        for address, slot, _, after in run.changes:
            mirror.write(address, slot, after)
            state.set_storage(address, slot, after)
        changes.extend(run.changes)
        self.counts[NATIVE] += 1
        return Receipt(
            tx_hash=message.tx_hash,
            status=1,
            gas_used=max(run.gas_used, compute_floor_gas(message.data)),
            logs=run.logs,
            revert_reason=b"",
        )

    def _run_reference(
        self, state: Any, message: Message, mirror: _AnyMirror | None, changes: list[Change]
    ) -> Receipt:
        """Run the message on py-evm and bring the mirror up to date with what it wrote."""
        state.lock_changes()  # earlier native writes become this message's original values (EIP-2200)
        written = state.account_db
        first_slot, first_account = len(written.written_slots), len(written.written_accounts)
        receipt, _ = self._apply_message(state, message)
        if mirror is None:
            self.counts[Fallback.NO_MIRROR] += 1
            return receipt
        for address in dict.fromkeys(written.written_accounts[first_account:]):
            account = (
                (state.get_nonce(address), state.get_balance(address), bytes(state.get_code_hash(address)))
                if state.account_exists(address)
                else _EMPTY_ACCOUNT
            )
            if account != mirror.accounts.get(address, _EMPTY_ACCOUNT):
                # Accounts come and go only through code the native path refuses; reload rather than patch.
                log.info("a message changed account %s: the revm mirror is reloaded", address.hex())
                self._mirror = None
                return receipt
        for address, slot in dict.fromkeys(written.written_slots[first_slot:]):
            after = int(state.get_storage(address, slot))
            before = mirror.read(address, slot)
            if after != before:
                mirror.write(address, slot, after)
                changes.append((address, slot, before, after))
        return receipt

    def _count(self, reason: Fallback, message: Message) -> None:
        self.counts[reason] += 1
        level = logging.INFO if self.counts[reason] == 1 else logging.DEBUG
        log.log(level, "message %s runs on py-evm: %s", message.tx_hash.hex(), reason.value)

    # --- the mirror's root ----------------------------------------------------------------------------
    def _get_mirror(self, root: bytes, ctx: BlockContext) -> _AnyMirror | None:
        """The mirror at ``root`` for a block of ``ctx``: moved along remembered blocks, else reloaded."""
        if self.disabled:
            return None
        mirror = self._mirror
        if mirror is None or mirror.gas_limit != ctx.gas_limit or not self._move(mirror, root):
            mirror = self._mirror = self._load(root, ctx.gas_limit)
            self._links.clear()
        if mirror is not None:
            mirror.set_block(ctx)
        return mirror

    def _remember(self, mirror: _AnyMirror, parent: bytes, root: bytes, changes: list[Change]) -> None:
        mirror.root = root
        if root != parent:
            self._links[root] = _Link(parent, tuple(changes))
            self._links.move_to_end(root)
            while len(self._links) > MIRROR_LINKS:
                self._links.popitem(last=False)

    def _ancestry(self, root: bytes) -> Iterator[bytes]:
        """``root``, its parent, …, as far as remembered blocks go (each root once)."""
        seen: set[bytes] = set()
        while root not in seen:
            yield root
            seen.add(root)
            link = self._links.get(root)
            if link is None:
                return
            root = link.parent

    def _move(self, mirror: _AnyMirror, target: bytes) -> bool:
        """Undo and redo remembered blocks to bring the mirror to ``target``; False when no path is known."""
        if mirror.root == target:
            return True
        up = list(self._ancestry(mirror.root))
        down: list[bytes] = []
        for common in self._ancestry(target):
            if common in up:
                break
            down.append(common)
        else:
            return False
        for root in up[: up.index(common)]:
            for address, slot, before, _ in reversed(self._links[root].changes):
                mirror.write(address, slot, before)
        for root in reversed(down):
            for address, slot, _, after in self._links[root].changes:
                mirror.write(address, slot, after)
        mirror.root = target
        return True

    def _load(self, root: bytes, gas_limit: int) -> _AnyMirror | None:
        """A mirror of the whole state at ``root``, read from the trie and the stored preimages.

        Returns None (and turns the native path off, logged) when a preimage is missing: a store written
        before the engine kept them cannot be listed.
        """
        mirror: _AnyMirror = (_Mirror if self.vm == "revm" else _EvmoneMirror)(
            self.chain_id, gas_limit, self.trusted_code
        )
        try:
            for address, (nonce, balance, storage_root, code_hash) in self._walk(root, 20):
                code = b"" if code_hash == EMPTY_CODE_HASH else bytes(self._db[code_hash])
                mirror.add_account(
                    address, int.from_bytes(nonce, "big"), int.from_bytes(balance, "big"), code_hash, code
                )
                for slot, value in self._walk(storage_root, 32):
                    mirror.write(address, int.from_bytes(slot, "big"), int.from_bytes(value, "big"))
        except KeyError as exc:
            self.disabled = f"the state at {root.hex()} lacks the preimage of key {exc}"
            log.error("native execution is off, every message runs on py-evm: %s", self.disabled)
            return None
        mirror.root = root
        return mirror

    def _walk(self, root: bytes, key_bytes: int) -> Iterator[tuple[bytes, Any]]:
        """(preimage, decoded RLP value) of every leaf of the trie at ``root``. Raises KeyError for a missing
        preimage or one of the wrong length."""
        for key, encoded in NodeIterator(HexaryTrie(self._db, root)).items():
            preimage = bytes(self._db[key])
            if len(preimage) != key_bytes:
                raise KeyError(key.hex())
            yield preimage, rlp.decode(encoded)
