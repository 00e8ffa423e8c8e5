"""The py-evm adapter: executes blocks of messages on a Prague EVM with zero gas price and no balances.

This module and node/execution/native.py (revm beside py-evm, over the same state) are the only ones that
import an EVM, and the only places where Keccak is used (inside the EVM's own structures: the state trie,
code hashes, function selectors). The state trie is persistent: executing on a parent root only ever adds
nodes to the node store, so every earlier root stays readable. Beside the trie nodes the store keeps the
preimage of every account address and storage slot written (``db[keccak(x)] = x``), so a state can be
listed key by key (the native engine loads whole states into revm that way).

Per message the engine skips Ethereum's transaction envelope (no signature, nonce, fee or balance): it
charges intrinsic gas, applies the message to the contract, applies refunds and the EIP-7623 calldata floor,
clears EIP-161 empty accounts and transient storage, and reverts the message's changes when it fails.
Block-level system calls (beacon roots, EIP-2935 history, withdrawals, requests) do not exist here.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any, Final

import rlp
from eth import constants as _evm_constants
from eth.db import account as _evm_account, atomic as _evm_atomic
from eth.db.account import AccountDB as _AccountDB
from eth.db.backends import memory as _evm_memory
from eth.db.cache import CacheDB as _CacheDB
from eth.db.journal import JournalDB as _JournalDB
from eth.db.storage import AccountStorageDB as _AccountStorageDB, StorageLookup as _StorageLookup
from eth.exceptions import OutOfGas, PyEVMError, Revert
from eth.vm import execution_context as _evm_execution_context, message as _evm_message
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.forks.prague.state import PragueState
from eth.vm.forks.spurious_dragon._utils import collect_touched_accounts
from eth_abi.abi import decode as abi_decode, encode as abi_encode
from eth_hash import auto as _eth_hash_auto
from eth_hash.auto import keccak
from eth_typing import Address, Hash32
from trie import hexary as _trie_hexary

from node.execution.batch_trie import update_trie
from node.execution.precompiles import XINLIAN_PRECOMPILES
from node.execution.types import AccountProof, BlockContext, ExecutionResult, Message, StorageProof
from node.genesis import (
    GENESIS_SENDER,
    GOVERNANCE_ADDRESS,
    GenesisSpec,
    encode_contract_name,
    encode_trust_calls,
)
from sdk.errors import ExecutionError
from sdk.types import Log, Receipt

# --- gas schedule (Prague: EIP-2028 calldata, EIP-7623 floor, EIP-3529 refund cap) --------------------
TX_BASE_GAS: Final = 21_000
CALLDATA_ZERO_BYTE_GAS: Final = 4
CALLDATA_NONZERO_BYTE_GAS: Final = 16
CALLDATA_FLOOR_GAS_PER_TOKEN: Final = 10
NONZERO_BYTE_TOKENS: Final = 4
REFUND_QUOTIENT: Final = 5

ERROR_STRING_SELECTOR: Final = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR: Final = bytes.fromhex("4e487b71")  # Panic(uint256)
ZERO_HASH32: Final = bytes(32)
BLANK_ROOT_HASH: Final[bytes] = _evm_constants.BLANK_ROOT_HASH  # Keccak root of the empty trie
EMPTY_CODE_HASH: Final[bytes] = _evm_constants.EMPTY_SHA3

# py-evm's own annotations use NewTypes (Address, Hash32 ...): the boundary is typed Any on purpose.
AccountDB: Any = _evm_account.AccountDB
AtomicDB: Any = _evm_atomic.AtomicDB
MemoryDB: Any = _evm_memory.MemoryDB
ExecutionContext: Any = _evm_execution_context.ExecutionContext
EVMMessage: Any = _evm_message.Message
HexaryTrie: Any = _trie_hexary.HexaryTrie

GOVERNANCE_INITIALIZE_TYPES: Final = (
    "address[]",
    "uint256",
    "(string,string)[]",
    "(address,string)[]",
    "(address,bytes32,bytes32)[]",
    "(bytes32,bytes32)[]",
    "bytes[]",
    "(bytes32,address)[]",
)
GOVERNANCE_INITIALIZE_SIGNATURE: Final = f"initialize({','.join(GOVERNANCE_INITIALIZE_TYPES)})"
GOVERNANCE_INITIALIZE_SELECTOR: Final = keccak(GOVERNANCE_INITIALIZE_SIGNATURE.encode())[:4]


KECCAK_OF_EMPTY: Final = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
JUMPDEST_CACHE_SIZE: Final = 256


def _use_fast_keccak() -> None:
    # eth-hash prefers pycryptodome, whose per-call set-up dominates the EVM's many 32-64 byte hashes;
    # safe-pysha3 (C) gives identical digests several times faster. Process-wide, checked by a known answer.
    try:
        from sha3 import keccak_256
    except ImportError:  # optional: keep eth-hash's own choice
        return

    def keccak256(in_data: bytes | bytearray) -> bytes:
        return bytes(keccak_256(in_data).digest())

    if keccak256(b"") == KECCAK_OF_EMPTY:
        _eth_hash_auto.keccak.hasher = keccak256


_use_fast_keccak()

# code bytes -> (valid, invalid) JUMP target positions; both are pure functions of the code, so every
# computation running the same code can share (and extend) the same sets instead of re-scanning.
_jumpdest_cache: dict[bytes, tuple[set[int], set[int]]] = {}


# Prague's precompiles plus SM3 and SM2 verification; py-evm also treats these addresses as warm (EIP-2929).
_PRECOMPILES: Final[dict[Any, Any]] = {**PragueComputation.get_precompiles(), **XINLIAN_PRECOMPILES}
PRECOMPILE_ADDRESSES: Final[frozenset[bytes]] = frozenset(bytes(address) for address in _PRECOMPILES)


class _XinlianComputation(PragueComputation):
    """Prague computation with the GM precompiles (SM3 at 0x…0a01, SM2 verify at 0x…0a02, see
    node/execution/precompiles.py) that shares JUMPDEST analysis across messages running the same code."""

    _precompiles = _PRECOMPILES

    def __init__(self, state: Any, message: Any, transaction_context: Any) -> None:
        super().__init__(state, message, transaction_context)
        code = bytes(message.code)
        positions = _jumpdest_cache.get(code)
        if positions is None:
            if len(_jumpdest_cache) >= JUMPDEST_CACHE_SIZE:
                _jumpdest_cache.clear()
            positions = _jumpdest_cache[code] = (set(), set())
        stream: Any = self.code
        stream.valid_positions, stream.invalid_positions = positions


def _update_into(batch: Any, root: bytes, changes: dict[bytes, bytes | None]) -> bytes:
    """``update_trie`` over the nodes ``batch`` reads, its new nodes written into ``batch``; the new root."""
    new_root, nodes = update_trie(batch.__getitem__, root, changes)
    for node_hash, encoded in nodes.items():
        batch[node_hash] = encoded
    return new_root


class _BatchedStorageLookup(_StorageLookup):
    """py-evm's storage lookup with its trie writes held back and applied together (``update_trie``) when
    the storage root is asked for, the trie committed or cleared: one encoding per final node instead of
    one per node per slot written. Reads see the held-back writes first."""

    def _initialize_to_root_hash(self, root_hash: Hash32) -> None:
        super()._initialize_to_root_hash(root_hash)
        self._held: dict[bytes, bytes | None] = {}

    def __getitem__(self, key: bytes) -> bytes:
        hashed = self._decode_key(key)
        if hashed in self._held:
            value = self._held[hashed]
            return b"" if value is None else value  # a missing slot reads as b"", as in HexaryTrie
        return super().__getitem__(key)

    def _exists(self, key: bytes) -> bool:
        hashed = self._decode_key(key)
        if hashed in self._held:
            return self._held[hashed] is not None
        return super()._exists(key)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._get_write_trie()  # the trie now counts as changed (has_changed_root)
        self._held[self._decode_key(key)] = value

    def __delitem__(self, key: bytes) -> None:
        self._get_write_trie()
        self._held[self._decode_key(key)] = None

    def _apply_held(self) -> None:
        """Apply the held-back writes to the write trie (its nodes into the pending batch). Writes are held
        only after ``_get_write_trie``, so the trie and its batch exist when there is anything to apply."""
        if not self._held:
            return
        batch = self._trie_nodes_batch
        root = _update_into(batch, self._write_trie.root_hash, self._held)
        self._write_trie = _trie_hexary.HexaryTrie(batch, root_hash=root, prune=True)
        self._held = {}

    def get_changed_root(self) -> Hash32:
        self._apply_held()
        return super().get_changed_root()

    def commit_to(self, db: Any) -> None:
        self._apply_held()
        super().commit_to(db)

    def new_trie(self) -> int:
        self._apply_held()
        return super().new_trie()

    def rollback_trie(self, trie_index: int) -> None:
        # What was held back was written to the trie that the rollback drops (kept when py-evm refuses the
        # rollback, as its own trie is then).
        super().rollback_trie(trie_index)
        self._held = {}


class _BatchedAccountStorageDB(_AccountStorageDB):
    """py-evm's account storage on ``_BatchedStorageLookup`` (the same pipe of caches and journals)."""

    def __init__(self, db: Any, storage_root: Hash32, address: Address) -> None:
        super().__init__(db, storage_root, address)
        self._storage_lookup = _BatchedStorageLookup(db, storage_root, address)
        self._storage_cache = _CacheDB(self._storage_lookup)
        self._locked_changes = _JournalDB(self._storage_cache)
        self._journal_storage = _JournalDB(self._locked_changes)


class PreimageAccountDB(_AccountDB):
    """py-evm's account database that also stores the preimage of every account address and storage slot
    written through it, ``db[keccak(x)] = x``, content-addressed like trie nodes and code.

    The state trie is keyed by Keccak hashes: without the preimages nobody can list which accounts and slots
    a state holds. ``written_slots`` and ``written_accounts`` list what was written since the last persist,
    in order and with repeats (reverted writes included), so a caller can see what one message touched.
    """

    def __init__(self, db: Any, state_root: Hash32 = _evm_constants.BLANK_ROOT_HASH) -> None:
        super().__init__(db, state_root)
        self.written_slots: list[tuple[Address, int]] = []
        self.written_accounts: list[Address] = []

    def set_storage(self, address: Address, slot: int, value: int) -> None:
        super().set_storage(address, slot, value)
        self.written_slots.append((address, slot))

    def _apply_account_diff_without_proof(self, diff: Any, trie: Any) -> None:
        # py-evm's writes each changed account into the account trie (a HashTrie over HexaryTrie) one at a
        # time; the same changes applied together give the same trie (update_trie).
        changes: dict[bytes, bytes | None] = {keccak(key): None for key in diff.deleted_keys()}
        changes.update((keccak(key), value) for key, value in diff.pending_items())
        hexary = trie._db
        hexary.root_hash = _update_into(self._batchtrie, hexary.root_hash, changes)

    def _get_address_store(self, address: Address) -> Any:
        # py-evm's, with the storage tries updated a block's writes at a time (_BatchedStorageLookup).
        store = self._account_stores.get(address)
        if store is None:
            store = _BatchedAccountStorageDB(self._raw_store_db, self._get_storage_root(address), address)
            self._account_stores[address] = store
        return store

    def delete_account(self, address: Address) -> None:
        super().delete_account(address)
        self.written_accounts.append(address)

    def _set_account(self, address: Address, account: Any) -> None:
        super()._set_account(address, account)
        self.written_accounts.append(address)

    def persist(self) -> Any:
        # Stored like code (through the journal db), so they reach the node store with the trie nodes.
        keys = {slot.to_bytes(32, "big") for _, slot in self.written_slots}
        keys.update(address for address, _ in self.written_slots)
        keys.update(self.written_accounts)
        for key in keys:
            self._journaldb[keccak(key)] = key
        witness = super().persist()
        self.written_slots, self.written_accounts = [], []
        return witness


class _XinlianState(PragueState):
    """Prague state without the fork's system contracts (no beacon roots, no EIP-2935 history), on an
    account database that keeps preimages."""

    computation_class = _XinlianComputation
    account_db_class = PreimageAccountDB

    @property
    def account_db(self) -> PreimageAccountDB:
        """The state's account database (what it wrote since the last persist)."""
        db = self._account_db
        assert isinstance(db, PreimageAccountDB)
        return db

    def set_system_contracts(self) -> None:
        return None


class _SlotBySlotAccountDB(PreimageAccountDB):
    """``PreimageAccountDB`` on py-evm's own tries: one ``HexaryTrie`` write per slot and per account."""

    _get_address_store = _AccountDB._get_address_store
    _apply_account_diff_without_proof = _AccountDB._apply_account_diff_without_proof


class _SlotBySlotState(_XinlianState):
    account_db_class = _SlotBySlotAccountDB


_TRANSACTION_CONTEXT_CLASS: Final[Any] = _XinlianState.get_transaction_context_class()


# --- pure helpers -----------------------------------------------------------------------------------
def compute_intrinsic_gas(data: bytes) -> int:
    """Return the gas a message costs before any code runs (21000 + EIP-2028 calldata)."""
    zeros = data.count(0)
    return TX_BASE_GAS + CALLDATA_ZERO_BYTE_GAS * zeros + CALLDATA_NONZERO_BYTE_GAS * (len(data) - zeros)


def compute_floor_gas(data: bytes) -> int:
    """Return the EIP-7623 minimum gas a message is charged, from its calldata tokens."""
    zeros = data.count(0)
    tokens = zeros + NONZERO_BYTE_TOKENS * (len(data) - zeros)
    return TX_BASE_GAS + CALLDATA_FLOOR_GAS_PER_TOKEN * tokens


def compute_revert_reason(output: bytes) -> bytes:
    """Decode REVERT data: Error(string) → its UTF-8 text, Panic(uint256) → b"panic 0x..", else raw bytes."""
    if output[:4] == ERROR_STRING_SELECTOR:
        try:
            (text,) = abi_decode(["string"], output[4:])
            return str(text).encode("utf-8")
        except Exception:  # malformed Error(string): keep the raw bytes
            return output
    if output[:4] == PANIC_SELECTOR and len(output) == 36:
        return f"panic 0x{int.from_bytes(output[4:], 'big'):02x}".encode()
    return output


def _get_failure_reason(computation: Any) -> bytes:
    error = computation.error
    if isinstance(error, Revert):
        return compute_revert_reason(bytes(computation.output))
    if isinstance(error, OutOfGas):
        return b"out of gas"
    return f"{type(error).__name__}: {error}".encode()


def _to_logs(computation: Any) -> tuple[Log, ...]:
    return tuple(
        Log(address=bytes(address), topics=tuple(t.to_bytes(32, "big") for t in topics), data=bytes(data))
        for address, topics, data in computation.get_log_entries()
    )


def _encode_proof(nodes: Sequence[Any]) -> tuple[bytes, ...]:
    # As eth_getProof: the root plus every node stored by hash; nodes under 32 bytes live inside their parent.
    encoded = (rlp.encode(node) for node in nodes)
    return tuple(e for i, e in enumerate(encoded) if i == 0 or len(e) >= 32)


def _validate_address(value: bytes, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != 20:
        raise ExecutionError(f"{what} must be 20 bytes", code="bad_address", value=repr(value))


def _encode_governance_initialize(spec: GenesisSpec) -> bytes:
    registry = [(encode_contract_name("Governance"), GOVERNANCE_ADDRESS)] + [
        (encode_contract_name(c.name), c.address) for c in spec.system_contracts
    ]
    args = (
        list(spec.committee),
        spec.threshold,
        [(o.uscc, o.name) for o in spec.organisations],
        [(a.address, a.uscc) for a in spec.accounts],
        [(r.address, r.role, r.scope) for r in spec.roles],
        [(role, admin) for role, admin in spec.role_admins],
        list(spec.validators),
        registry,
    )
    try:
        return GOVERNANCE_INITIALIZE_SELECTOR + abi_encode(GOVERNANCE_INITIALIZE_TYPES, args)
    except Exception as exc:  # eth-abi raises several encoding error types
        raise ExecutionError(f"cannot encode genesis: {exc}", code="bad_genesis") from exc


class ExecutionEngine:
    """Executes messages against EVM state stored in a key-value node store.

    ``db`` maps trie-node hashes (and code hashes) to their bytes; the engine only ever adds entries.
    ``chain_id`` is visible to contracts through CHAINID.
    """

    #: The py-evm state the engine runs on: storage tries updated a block's writes at a time.
    state_class: Any = _XinlianState

    def __init__(self, db: MutableMapping[bytes, bytes], chain_id: int) -> None:
        self._db: Any = AtomicDB(MemoryDB(db))  # MemoryDB only needs the mapping protocol
        self.chain_id = chain_id

    # --- state construction ---------------------------------------------------------------------
    def _validate_root(self, state_root: bytes) -> None:
        if state_root != BLANK_ROOT_HASH and state_root not in self._db:
            raise ExecutionError("unknown state root", code="unknown_state_root", state_root=state_root.hex())

    def _get_state(self, state_root: bytes, ctx: BlockContext) -> Any:
        self._validate_root(state_root)
        _validate_address(ctx.proposer, "proposer")
        execution_context = ExecutionContext(
            coinbase=ctx.proposer,
            timestamp=ctx.timestamp_ms // 1000,
            block_number=ctx.height,
            difficulty=0,
            mix_hash=ZERO_HASH32,
            gas_limit=ctx.gas_limit,
            prev_hashes=(),
            chain_id=self.chain_id,
            base_fee_per_gas=0,
            excess_blob_gas=0,
        )
        return self.state_class(self._db, execution_context, state_root)

    # --- the per-message transition -----------------------------------------------------------------
    def _check_message(self, state: Any, message: Message) -> Receipt | None:
        """The receipt of a message that fails before any code runs (too little gas for its calldata, no
        contract at ``to``), else None. Raises ExecutionError for malformed addresses."""
        _validate_address(message.sender, "sender")
        _validate_address(message.to, "to")
        intrinsic_gas = compute_intrinsic_gas(message.data)
        floor_gas = compute_floor_gas(message.data)
        if message.gas_limit < max(intrinsic_gas, floor_gas):
            return self._make_failed_receipt(message, message.gas_limit, b"intrinsic gas too low")
        if state.get_code_hash(message.to) == EMPTY_CODE_HASH:
            gas_used = max(intrinsic_gas, floor_gas)
            return self._make_failed_receipt(message, gas_used, b"no contract at target address")
        return None

    def _apply_message(self, state: Any, message: Message) -> tuple[Receipt, bytes]:
        """Apply one message to ``state``; returns its receipt and the call's return data."""
        refused = self._check_message(state, message)
        if refused is not None:
            return refused, b""
        intrinsic_gas = compute_intrinsic_gas(message.data)
        floor_gas = compute_floor_gas(message.data)
        evm_message = EVMMessage(
            gas=message.gas_limit - intrinsic_gas,
            to=message.to,
            sender=message.sender,
            value=0,
            data=message.data,
            code=state.get_code(message.to),
        )
        state.mark_address_warm(message.sender)  # EIP-2929: origin and target start warm
        state.mark_address_warm(message.to)
        transaction_context = _TRANSACTION_CONTEXT_CLASS(gas_price=0, origin=message.sender)
        try:
            # apply_message snapshots and reverts the message's own changes when it fails
            computation = state.computation_class.apply_message(state, evm_message, transaction_context)
            self._apply_account_cleanup(state, computation)
        except PyEVMError as exc:
            raise ExecutionError(f"EVM failure: {exc!r}", code="evm_failure") from exc
        state.lock_changes()  # end of message: reset warm sets, no revert across messages
        state.clear_transient_storage()  # EIP-1153

        gas_used = message.gas_limit - computation.get_gas_remaining()
        gas_used -= min(computation.get_gas_refund(), gas_used // REFUND_QUOTIENT)
        gas_used = max(gas_used, floor_gas)
        if computation.is_error:
            return self._make_failed_receipt(message, gas_used, _get_failure_reason(computation)), b""
        receipt = Receipt(
            tx_hash=message.tx_hash,
            status=1,
            gas_used=gas_used,
            logs=_to_logs(computation),
            revert_reason=b"",
        )
        return receipt, bytes(computation.output)

    @staticmethod
    def _apply_account_cleanup(state: Any, computation: Any) -> None:
        # SELFDESTRUCT of accounts created in this message (EIP-6780), then EIP-161 empty-account clearing
        for address in computation.get_accounts_for_deletion():
            state.delete_account(address)
        for address in collect_touched_accounts(computation):
            if state.account_exists(address) and state.account_is_empty(address):
                state.delete_account(address)

    @staticmethod
    def _make_failed_receipt(message: Message, gas_used: int, reason: bytes) -> Receipt:
        return Receipt(tx_hash=message.tx_hash, status=0, gas_used=gas_used, logs=(), revert_reason=reason)

    # --- public API ---------------------------------------------------------------------------------
    def execute_block(
        self, parent_state_root: bytes, ctx: BlockContext, messages: Sequence[Message]
    ) -> ExecutionResult:
        """Execute ``messages`` in order on the state at ``parent_state_root``.

        A failing message (revert, out of gas, no contract, intrinsic gas too low) gets a status-0 receipt
        with its reason and leaves no state change. New trie nodes are written to the node store; the parent
        state stays readable unchanged. Block gas is reported, not enforced (the ledger packs blocks).
        Raises ExecutionError for an unknown parent root, malformed addresses or an internal EVM failure.
        """
        state = self._get_state(parent_state_root, ctx)
        receipts = tuple(self._apply_message(state, m)[0] for m in messages)
        state_root = self._persist(state)
        return ExecutionResult(
            state_root=state_root, receipts=receipts, gas_used=sum(r.gas_used for r in receipts)
        )

    def apply_system_step(
        self,
        state_root: bytes,
        ctx: BlockContext,
        message: Message | None,
        *,
        install: tuple[bytes, bytes] | None = None,
    ) -> tuple[bytes, Receipt | None]:
        """The ledger's own step before a block's transactions (a contract upgrade): install code
        ``install = (address, runtime code)`` at an existing contract account, outside the EVM, then apply
        ``message``; always on py-evm (both engines give the same state).

        All or nothing: when the message fails, neither the code nor the message's changes are kept and the
        result is ``(state_root, failed receipt)``; otherwise ``(new state root, receipt or None)``.
        Raises ExecutionError for an unknown root, malformed addresses, or code for an address without it.
        """
        state = self._get_state(state_root, ctx)
        if install is not None:
            address, code = install
            _validate_address(address, "upgrade target")
            if not code or state.get_code_hash(address) == EMPTY_CODE_HASH:
                raise ExecutionError(
                    "code is installed only over an existing contract",
                    code="bad_upgrade",
                    address=address.hex(),
                )
            state.set_code(address, code)
            state.lock_changes()
        receipt = None
        if message is not None:
            receipt, _ = self._apply_message(state, message)
            if receipt.status != 1:
                return state_root, receipt
        return self._persist(state), receipt

    def get_code_hash(self, state_root: bytes, address: bytes) -> bytes:
        """Return the Keccak-256 code hash of ``address`` (of b"" for none). Raises ExecutionError for an
        unknown root."""
        self._validate_root(state_root)
        _validate_address(address, "address")
        return bytes(AccountDB(self._db, state_root).get_code_hash(address))

    def create_genesis(self, genesis: GenesisSpec) -> bytes:
        """Build the genesis state: install system contract code at fixed addresses, run
        ``Governance.initialize`` and each system contract's ``init_data``; returns the state root.

        Deterministic: the same spec always gives the same root. Raises ExecutionError when an
        initialisation call reverts (with its reason) or the spec cannot be encoded.
        """
        ctx = BlockContext(
            height=0, timestamp_ms=genesis.timestamp_ms, gas_limit=genesis.gas_limit, proposer=bytes(20)
        )
        state = self._get_state(BLANK_ROOT_HASH, ctx)
        installed = [(GOVERNANCE_ADDRESS, genesis.governance_code)] + [
            (c.address, c.runtime_code) for c in genesis.system_contracts
        ]
        for address, code in installed:
            _validate_address(address, "system contract address")
            if not code or state.get_code(address):
                raise ExecutionError(
                    "empty or duplicate system contract", code="bad_genesis", address=address.hex()
                )
            state.set_code(address, code)
            state.set_nonce(address, 1)  # as if created (EIP-161): a contract account is never "empty"
        state.lock_changes()

        calls = [(GOVERNANCE_ADDRESS, _encode_governance_initialize(genesis), "Governance.initialize")]
        calls += [
            (GOVERNANCE_ADDRESS, data, "Governance.initialize_trust") for data in encode_trust_calls(genesis)
        ]
        calls += [
            (c.address, c.init_data, f"{c.name} initialisation")
            for c in genesis.system_contracts
            if c.init_data
        ]
        for to, data, what in calls:
            message = Message(
                sender=GENESIS_SENDER, to=to, data=data, gas_limit=genesis.gas_limit, tx_hash=ZERO_HASH32
            )
            receipt, _ = self._apply_message(state, message)
            if receipt.status != 1:
                reason = receipt.revert_reason.decode("utf-8", "replace")
                raise ExecutionError(f"{what} failed: {reason}", code="bad_genesis", reason=reason)
        return self._persist(state)

    def call(
        self,
        state_root: bytes,
        sender: bytes,
        to: bytes,
        data: bytes,
        gas_limit: int,
        *,
        ctx: BlockContext | None = None,
    ) -> bytes:
        """Read-only call (eth_call) at ``state_root``; returns the return data. Nothing is persisted.

        ``ctx`` sets block.number / block.timestamp seen by the code (default: height 0, time 0).
        Raises ExecutionError (code "reverted", detail ``revert_reason``) when the call fails.
        """
        block = ctx or BlockContext(height=0, timestamp_ms=0, gas_limit=max(gas_limit, 1), proposer=bytes(20))
        state = self._get_state(state_root, block)
        message = Message(sender=sender, to=to, data=data, gas_limit=gas_limit, tx_hash=ZERO_HASH32)
        receipt, output = self._apply_message(state, message)
        if receipt.status != 1:
            reason = receipt.revert_reason.decode("utf-8", "replace")
            raise ExecutionError(
                f"call reverted: {reason}", code="reverted", revert_reason=reason, gas_used=receipt.gas_used
            )
        return output

    def get_code(self, state_root: bytes, address: bytes) -> bytes:
        """Return the code at ``address`` (b"" for none). Raises ExecutionError for an unknown root."""
        self._validate_root(state_root)
        _validate_address(address, "address")
        return bytes(AccountDB(self._db, state_root).get_code(address))

    def get_storage(self, state_root: bytes, address: bytes, slot: int) -> int:
        """Return storage word ``slot`` of ``address``. Raises ExecutionError for an unknown root."""
        self._validate_root(state_root)
        _validate_address(address, "address")
        return int(AccountDB(self._db, state_root).get_storage(address, slot))

    def get_proof(self, state_root: bytes, address: bytes, slots: Sequence[int]) -> AccountProof:
        """Return eth_getProof data for ``address`` and ``slots`` against ``state_root``.

        Proof nodes are RLP-encoded, root first; an absent account or slot is proven absent (zero values).
        Raises ExecutionError for an unknown root.
        """
        self._validate_root(state_root)
        _validate_address(address, "address")
        account_trie = HexaryTrie(self._db, state_root)
        account_key = keccak(address)
        encoded_account = account_trie.get(account_key)
        if encoded_account:
            nonce_raw, balance_raw, storage_hash, code_hash = rlp.decode(encoded_account)
            nonce, balance = int.from_bytes(nonce_raw, "big"), int.from_bytes(balance_raw, "big")
        else:
            nonce, balance, storage_hash, code_hash = 0, 0, BLANK_ROOT_HASH, EMPTY_CODE_HASH
        storage_trie = HexaryTrie(self._db, storage_hash)
        storage_proofs = []
        for slot in slots:
            slot_key = keccak(slot.to_bytes(32, "big"))
            encoded_value = storage_trie.get(slot_key)
            value = int.from_bytes(rlp.decode(encoded_value), "big") if encoded_value else 0
            storage_proofs.append(
                StorageProof(key=slot, value=value, proof=_encode_proof(storage_trie.get_proof(slot_key)))
            )
        return AccountProof(
            address=address,
            balance=balance,
            code_hash=bytes(code_hash),
            nonce=nonce,
            storage_hash=bytes(storage_hash),
            account_proof=_encode_proof(account_trie.get_proof(account_key)),
            storage_proof=tuple(storage_proofs),
        )

    @staticmethod
    def _persist(state: Any) -> bytes:
        state.persist()
        return bytes(state.state_root)


class ReferenceExecutionEngine(ExecutionEngine):
    """The py-evm engine on py-evm's own storage tries, written one slot at a time: the reference the
    batched trie update (``ExecutionEngine``'s) is checked against, by the execution audit and the tests.
    Same results, slower blocks."""

    state_class = _SlotBySlotState
