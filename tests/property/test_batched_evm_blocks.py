"""Real EVM messages on the batched engine (``ExecutionEngine``) and on py-evm's slot-by-slot tries
(``ReferenceExecutionEngine``): SSTOREs read back by SLOAD in later messages of the same block, writes that
revert, slots zeroed, and a factory that CREATE2s a child which writes storage and self-destructs in the same
message (EIP-6780: the account and its storage go). Outputs, receipts and every block's state root agree."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings, strategies as st

from node.execution import BlockContext, Message
from node.execution.engine import BLANK_ROOT_HASH, ExecutionEngine, ReferenceExecutionEngine

# store(slot, value), then return SLOAD(read); reverts when the third word is not zero.
STORE_CODE = bytes.fromhex(
    "602035600035"  # value, slot
    "55"  # SSTORE
    "606035546000"
    "52"  # mem[0] = SLOAD(read)
    "604035601957"  # if word 2: jump to 0x19
    "60206000f3"  # return mem[0:32]
    "5b60206000fd"  # 0x19: JUMPDEST; revert with mem[0:32]
)
# Child init code: SSTORE(0, 1); SSTORE(1, 2); SELFDESTRUCT(0).
CHILD_INIT = bytes.fromhex("600160005560026001556000ff")
# CREATE2(salt = word 0) of the child, SSTORE(salt, child address); reverts afterwards when word 1 is set.
FACTORY_CODE = bytes.fromhex(
    "6c" + CHILD_INIT.hex() + "600052"  # PUSH13 init; MSTORE at 0: init at mem[19:32]
    "600035600d60136000f5"  # CREATE2(value 0, offset 19, size 13, salt)
    "60003555"  # SSTORE(salt, child)
    "602035"
    "15602b57"  # if word 1 == 0: jump to 0x2b
    "60006000fd"  # revert
    "5b00"  # 0x2b: JUMPDEST; STOP
)
STORES = (b"\x51" * 20, b"\x52" * 20)
FACTORY = b"\x53" * 20
SENDER = b"\x99" * 20
CTX = BlockContext(height=1, timestamp_ms=0, gas_limit=30_000_000, proposer=bytes(20))
GAS = 1_000_000


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


slots = st.sampled_from((0, 1, 2, 7, 2**255))
store_calls = st.builds(
    lambda to, slot, value, revert, read: Message(
        SENDER, to, _word(slot) + _word(value) + _word(revert) + _word(read), GAS, bytes(32)
    ),
    st.sampled_from(STORES),
    slots,
    st.sampled_from((0, 0, 1, 5, 2**256 - 1)),
    st.sampled_from((0, 0, 0, 1)),
    slots,
)
factory_calls = st.builds(
    lambda salt, revert: Message(SENDER, FACTORY, _word(salt) + _word(revert), GAS, bytes(32)),
    st.integers(0, 2),
    st.sampled_from((0, 0, 1)),
)
MESSAGES = st.one_of(store_calls, store_calls, store_calls, factory_calls)


def genesis(engine: Any) -> bytes:
    state = engine._get_state(BLANK_ROOT_HASH, CTX)
    for address, code in [(STORES[0], STORE_CODE), (STORES[1], STORE_CODE), (FACTORY, FACTORY_CODE)]:
        state.set_code(address, code)
        state.set_nonce(address, 1)
    state.lock_changes()
    return engine._persist(state)


def run_block(engine: Any, root: bytes, messages: list[Message]) -> tuple[bytes, list[Any]]:
    state = engine._get_state(root, CTX)
    results = [engine._apply_message(state, message) for message in messages]
    return engine._persist(state), results


@settings(max_examples=60, deadline=None)
@given(blocks=st.lists(st.lists(MESSAGES, min_size=1, max_size=12), min_size=1, max_size=4))
def test_blocks_of_evm_messages_give_the_same_roots(blocks: list[list[Message]]) -> None:
    batched, reference = ExecutionEngine({}, 1), ReferenceExecutionEngine({}, 1)
    roots = genesis(batched), genesis(reference)
    assert roots[0] == roots[1]
    for messages in blocks:
        got, expected = run_block(batched, roots[0], messages), run_block(reference, roots[1], messages)
        assert got == expected
        roots = got[0], expected[0]
        for address in STORES:
            for slot in (0, 1, 2, 7, 2**255):
                assert batched.get_storage(roots[0], address, slot) == reference.get_storage(
                    roots[1], address, slot
                )


def test_the_contracts_do_what_the_tests_say() -> None:
    engine = ExecutionEngine({}, 1)
    root = genesis(engine)
    write = Message(SENDER, STORES[0], _word(3) + _word(9) + _word(0) + _word(3), GAS, bytes(32))
    reverted = Message(SENDER, STORES[0], _word(4) + _word(9) + _word(1) + _word(3), GAS, bytes(32))
    read = Message(SENDER, STORES[0], _word(5) + _word(0) + _word(0) + _word(3), GAS, bytes(32))
    create = Message(SENDER, FACTORY, _word(1) + _word(0), GAS, bytes(32))
    new_root, results = run_block(engine, root, [write, reverted, read, create])
    assert results[0][1] == _word(9)
    assert results[1][0].status == 0
    assert results[2][1] == _word(9)
    assert results[3][0].status == 1
    assert engine.get_storage(new_root, STORES[0], 3) == 9
    assert engine.get_storage(new_root, STORES[0], 4) == 0
    child = engine.get_storage(new_root, FACTORY, 1).to_bytes(20, "big")
    assert child != bytes(20)
    assert engine.get_code(new_root, child) == b""  # created and self-destructed in one message
    again, results = run_block(
        engine, new_root, [Message(SENDER, FACTORY, _word(2) + _word(1), GAS, bytes(32))]
    )
    assert results[0][0].status == 0
    assert again == new_root
