"""Guards for what the native engine relies on in pyrevm and in the contracts (node/execution/native.py).

The engine reads each message's storage changes from pyrevm's ``journal_str``, a debug dump with no format
promise: these tests fail loudly when the installed pyrevm is not the pinned one, when the dump's shape
changes, or when revm stops returning its journal to an empty state after a message. They also hold the
premises of the exactness rule: revm runs Cancun, and the code it may run (the system contracts) never
catches a failed call and holds no opcode whose value differs between revm and the py-evm engine.
"""

from __future__ import annotations

import importlib.metadata
import re
import secrets
from pathlib import Path

import pytest
import vyper
from eth_utils import keccak
from vyper.compiler.input_bundle import FilesystemInputBundle

from node.execution import BlockContext, Message
from node.execution.engine import PRECOMPILE_ADDRESSES
from node.execution.native import (
    PYREVM_VERSION,
    Fallback,
    compute_trusted_code,
    parse_journal,
)
from node.execution.precompiles import SM2_VERIFY_PRECOMPILE_ADDRESS, SM3_PRECOMPILE_ADDRESS
from node.genesis import DOMAIN_CONTRACTS, GOVERNANCE_ADDRESS, ROLE_IDS, load_runtime_code
from sdk.errors import ExecutionError
from tests.contracts.worlds import governance as world

ROOT = Path(__file__).resolve().parents[3]
CTX = BlockContext(height=5, timestamp_ms=5_000, gas_limit=30_000_000, proposer=world.M1)
SYSTEM_CONTRACTS = ("Governance", *DOMAIN_CONTRACTS)
#: Opcodes whose values differ between revm in the native engine and the py-evm engine (BLOCKHASH: revm's
#: empty database answers keccak(n), py-evm 0; the blob opcodes: not shown equal), that no system contract
#: needs (COINBASE: both see the proposer, but nothing in a contract may depend on who proposed), or that
#: create or destroy accounts.
UNSAFE_OPCODES = {
    0x40: "BLOCKHASH",
    0x41: "COINBASE",
    0x49: "BLOBHASH",
    0x4A: "BLOBBASEFEE",
    0xF0: "CREATE",
    0xF5: "CREATE2",
    0xFF: "SELFDESTRUCT",
}
TERMINATORS = {0x00, 0x56, 0xF3, 0xFD, 0xFE, 0xFF}  # STOP JUMP RETURN REVERT INVALID SELFDESTRUCT


def find_unsafe_opcodes(code: bytes) -> set[str]:
    """The opcodes of UNSAFE_OPCODES that ``code`` can execute.

    Walks the code as the EVM does (PUSH data is not code) and skips what follows a terminator up to the next
    JUMPDEST: a byte runs only after its predecessor or as a jump's JUMPDEST target, so trailing data (Vyper's
    jump tables) is not read as code. Over-approximates: may name an opcode that never runs (data that
    happens to follow a JUMPDEST byte, as in a code-size build's selector tables), never misses one.
    """
    found: set[str] = set()
    live = True
    position = 0
    while position < len(code):
        opcode = code[position]
        live = live or opcode == 0x5B
        if live and opcode in UNSAFE_OPCODES:
            found.add(UNSAFE_OPCODES[opcode])
        live = live and opcode not in TERMINATORS
        position += 1 + (opcode - 0x5F if 0x60 <= opcode <= 0x7F else 0)
    return found


def compile_instructions(name: str) -> set[str]:
    """The instruction names of contracts/<name>.vy as the compiler assembles it (the committed artifact is
    this source's build: tests/unit/test_contract_artifacts.py). Its data sections are hex there, never
    instructions."""
    source = (ROOT / "contracts" / f"{name}.vy").read_text(encoding="utf-8")
    bundle = FilesystemInputBundle([ROOT / "contracts"])
    out = vyper.compile_code(source, contract_path=f"{name}.vy", output_formats=["asm"], input_bundle=bundle)
    return set(out["asm"].split())


def test_pyrevm_is_the_pinned_version() -> None:
    installed = importlib.metadata.version("pyrevm")
    assert installed == PYREVM_VERSION, (
        f"pyrevm {installed} is installed, the native engine parses the journal dump of {PYREVM_VERSION}: "
        "check this file's tests against the new version, then move the pins (native.py, pyproject.toml)"
    )


@pytest.fixture(scope="module")
def chain() -> world.Chain:
    return world.make_chain()


def grant(scope: bytes) -> Message:
    data = world.calldata("grant_role", world.MEMBER, ROLE_IDS["AUDITOR"], scope)
    return Message(world.AUDIT_BODY, GOVERNANCE_ADDRESS, data, 300_000, secrets.token_bytes(32))


def test_revm_runs_cancun(chain: world.Chain) -> None:
    # pyrevm maps a spec name it does not know to LATEST without a word
    mirror = chain.engine._get_mirror(chain.root, CTX)
    assert mirror is not None
    assert "HandlerCfg { spec_id: CANCUN }" in str(mirror.evm).split("db:")[-1]


def test_journal_dump_shows_each_slot_before_and_after_and_the_accounts(chain: world.Chain) -> None:
    mirror = chain.engine._get_mirror(chain.root, CTX)
    assert mirror is not None
    message = grant(secrets.token_bytes(32))
    checkpoint = mirror.evm.snapshot()
    mirror.evm.message_call("0x" + message.sender.hex(), "0x" + message.to.hex(), message.data, gas=300_000)
    dump = mirror.evm.journal_str
    mirror.evm.revert(checkpoint)
    assert dump.startswith("JournaledState { state: {")
    assert re.search(r"StorageSlot \{ previous_or_original_value: \d+, present_value: \d+ \}", dump)
    accounts = parse_journal(dump)
    assert set(accounts) == {GOVERNANCE_ADDRESS, world.AUDIT_BODY, CTX.proposer}  # revm loads the coinbase
    governance = accounts[GOVERNANCE_ADDRESS]
    assert governance.nonce == 1 and governance.balance == 0
    changed = [(slot, before, after) for slot, before, after in governance.slots if before != after]
    assert len(changed) == 1 and changed[0][1:] == (0, 1)  # the new (account, role, scope) flag
    read = {slot: before for slot, before, _ in governance.slots}
    for slot, before in read.items():  # every pre-message value is the state's
        assert chain.engine.get_storage(chain.root, GOVERNANCE_ADDRESS, slot) == before

    result = chain.engine.execute_block(chain.root, CTX, [message])
    (slot, _, after) = changed[0]
    assert chain.engine.get_storage(result.state_root, GOVERNANCE_ADDRESS, slot) == after


def test_the_journal_is_empty_again_after_a_message(chain: world.Chain) -> None:
    # what makes the next message see cold accounts and slots and fresh original values
    engine = chain.engine
    result = engine.execute_block(chain.root, CTX, [grant(secrets.token_bytes(32)) for _ in range(3)])
    mirror = engine._get_mirror(result.state_root, CTX)
    assert mirror is not None and engine.counts["native"] >= 3
    dump = mirror.evm.journal_str
    assert set(parse_journal(dump)) == {CTX.proposer}  # revm preloads the coinbase (proposer), unjournaled
    assert "transient_storage: {}, logs: [], depth: 0, journal: [[]]" in dump


def test_a_dump_of_another_shape_is_refused() -> None:
    for text in ("", "State { accounts: {} }", "JournaledState { state: {0xab: Account { info: ? }"):
        with pytest.raises(ExecutionError) as err:
            parse_journal(text)
        assert err.value.code == "journal_format"


def test_the_opcode_walk_reads_code_not_push_data_or_trailing_data() -> None:
    assert find_unsafe_opcodes(bytes([0x60, 0x40, 0x00])) == set()  # PUSH1 0x40: data
    assert find_unsafe_opcodes(bytes([0x7F, *([0x41] * 32), 0x00])) == set()  # PUSH32 of COINBASE bytes
    assert find_unsafe_opcodes(bytes([0x00, 0x40])) == set()  # after STOP, not a JUMPDEST: never runs
    assert find_unsafe_opcodes(bytes([0x00, 0x5B, 0x40])) == {"BLOCKHASH"}  # reachable by a jump
    assert find_unsafe_opcodes(bytes([0x57, 0x41])) == {"COINBASE"}  # after JUMPI: falls through
    assert find_unsafe_opcodes(bytes([0x5F, 0xFF, 0x00, 0x5B, 0x41])) == {"SELFDESTRUCT", "COINBASE"}


def test_the_compilers_assembly_names_the_instructions_a_contract_holds() -> None:
    instructions = compile_instructions("DrugTrace")
    assert {"SLOAD", "SSTORE", "CALLDATALOAD", "STATICCALL"} <= instructions


def test_revm_may_run_exactly_the_system_contracts() -> None:
    assert compute_trusted_code() == {keccak(load_runtime_code(name)) for name in SYSTEM_CONTRACTS}


@pytest.mark.parametrize("name", SYSTEM_CONTRACTS)
def test_no_system_contract_holds_an_opcode_revm_would_answer_differently(name: str) -> None:
    # The byte walk over-approximates (a code-size build's selector tables read as code after a JUMPDEST
    # byte): what it finds must not be an instruction of the compiler's own assembly.
    assert not find_unsafe_opcodes(load_runtime_code(name)) & compile_instructions(name)


@pytest.mark.parametrize("name", SYSTEM_CONTRACTS)
def test_no_system_contract_catches_a_failed_call(name: str) -> None:
    # A native success proves the journal complete only because a failing sub-call fails the whole
    # message: revm forgets what a failed frame touched (a precompile call among them). In Vyper 0.4 a
    # call's failure is caught only with revert_on_failure=False.
    source = (ROOT / "contracts" / f"{name}.vy").read_text(encoding="utf-8")
    assert "revert_on_failure" not in source


def test_a_misread_journal_sends_the_message_to_pyevm(chain: world.Chain) -> None:
    # revm always loads the target account: a dump without it was not read as pyrevm 0.3.7 prints it
    mirror = chain.engine._get_mirror(chain.root, CTX)
    assert mirror is not None
    assert mirror._check(grant(bytes(32)), {}) == Fallback.JOURNAL


def test_every_precompile_of_revm_is_one_of_pyevm() -> None:
    # revm's Cancun precompiles are 0x01 … 0x0a; a message touching any of them runs on py-evm
    cancun = {address.to_bytes(20, "big") for address in range(1, 0x0B)}
    assert cancun <= PRECOMPILE_ADDRESSES
    assert {SM3_PRECOMPILE_ADDRESS, SM2_VERIFY_PRECOMPILE_ADDRESS} <= PRECOMPILE_ADDRESSES
