// libxevm: evmone and its state library behind a small C API, for node/execution/evmone.py (ctypes).
//
// One handle holds a complete copy of the node's state (accounts, code, storage) and runs one message at a
// time as node/execution/engine.py's ExecutionEngine._apply_message does: no transaction envelope (no nonce,
// fee or balance), intrinsic gas 21000 + EIP-2028, sender, target and coinbase warm, the refund
// capped at a fifth and kept only on success, the EIP-7623 calldata floor, transient storage per message.
// xe_run does not change the copy: it reports what the message would change, and the engine writes back what
// it keeps (xe_set_storage), exactly as it does for py-evm's state.
#include "xinlian_gm_precompiles.hpp"
#include <evmc/evmc.hpp>
#include <evmone/evmone.h>
#include <evmone_precompiles/keccak.hpp>
#include <intx/intx.hpp>
#include <state/host.hpp>
#include <state/state.hpp>
#include <state/state_view.hpp>
#include <algorithm>
#include <cstring>
#include <unordered_map>
#include <unordered_set>
#include <vector>

using namespace evmone::state;
using evmc::address;
using evmc::bytes;
using evmc::bytes32;

namespace
{
const bytes32 EMPTY_CODE_HASH = std::bit_cast<bytes32>(ethash::keccak256(nullptr, 0));

struct StoredAccount
{
    uint64_t nonce = 0;
    intx::uint256 balance;
    bytes code;
    bytes32 code_hash = EMPTY_CODE_HASH;
    std::unordered_map<bytes32, bytes32> storage;
};

/// The committed state messages start from. Notes every account it hands out whose code is not trusted.
class StoredState : public StateView
{
public:
    std::unordered_map<address, StoredAccount> accounts;
    std::unordered_set<bytes32> trusted_code;
    mutable bool untrusted_seen = false;

    std::optional<Account> get_account(const address& addr) const noexcept override
    {
        const auto it = accounts.find(addr);
        if (it == accounts.end())
            return std::nullopt;
        const auto& a = it->second;
        if (a.code_hash != EMPTY_CODE_HASH && !trusted_code.contains(a.code_hash))
            untrusted_seen = true;
        return Account{a.nonce, a.balance, a.code_hash, !a.storage.empty()};
    }
    bytes get_account_code(const address& addr) const noexcept override
    {
        const auto it = accounts.find(addr);
        return it == accounts.end() ? bytes{} : it->second.code;
    }
    bytes32 get_storage(const address& addr, const bytes32& key) const noexcept override
    {
        const auto it = accounts.find(addr);
        if (it == accounts.end())
            return {};
        const auto s = it->second.storage.find(key);
        return s == it->second.storage.end() ? bytes32{} : s->second;
    }
};

/// py-evm's engine passes no previous block hashes: BLOCKHASH is 0.
class NoBlockHashes : public BlockHashes
{
public:
    bytes32 get_block_hash(int64_t) const noexcept override { return {}; }
};

struct Handle
{
    evmc::VM vm{evmc_create_evmone()};
    StoredState state;
    NoBlockHashes hashes;
    BlockInfo block;
    uint64_t chain_id = 0;
    std::vector<uint8_t> out;  // the last answer, read with xe_result
};

void put_u32(std::vector<uint8_t>& o, uint32_t v)
{
    for (int i = 3; i >= 0; --i)
        o.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put_i64(std::vector<uint8_t>& o, int64_t v)
{
    for (int i = 7; i >= 0; --i)
        o.push_back(static_cast<uint8_t>(static_cast<uint64_t>(v) >> (8 * i)));
}
void put(std::vector<uint8_t>& o, const uint8_t* p, size_t n) { o.insert(o.end(), p, p + n); }

address to_address(const uint8_t* p)
{
    address a;
    std::memcpy(a.bytes, p, sizeof(a.bytes));
    return a;
}
bytes32 to_bytes32(const uint8_t* p)
{
    bytes32 b;
    std::memcpy(b.bytes, p, sizeof(b.bytes));
    return b;
}

// The first field of xe_run's answer.
enum : int32_t
{
    XE_SUCCESS = 1,
    XE_FAILED = 0,  // reverted, out of gas, any other halt, or refused before running (the reason is py-evm's)
};
// Its second field: why the answer may not be kept (the engine then runs the message on py-evm).
enum : uint32_t
{
    XE_UNTRUSTED_CODE = 1,     // an account with code outside the trusted set was read
    XE_OTHER_PRECOMPILE = 2,   // a precompile other than SM3/SM2 ran
    XE_ACCOUNT_CHANGED = 4,    // a nonce, balance or code changed, or an account came or went
};
}  // namespace

// The library is built with hidden visibility: only this API is exported.
#define XE_EXPORT __attribute__((visibility("default")))

extern "C" {

/// What this library was built from (the Makefile's BUILD_ID: a SHA-256 over the archive, the patch, this
/// folder's sources and the Makefile); node/execution/evmone.py refuses a library built from other sources.
XE_EXPORT const char* xe_build_id() { return XEVM_BUILD_ID; }

XE_EXPORT void* xe_new(uint64_t chain_id)
{
    auto* h = new Handle;
    h->chain_id = chain_id;
    h->block.blob_base_fee = 1;  // py-evm's BLOBBASEFEE with excess_blob_gas 0
    return h;
}

XE_EXPORT void xe_free(void* h) { delete static_cast<Handle*>(h); }

XE_EXPORT void xe_trust_code(void* h, const uint8_t* code_hash)
{
    static_cast<Handle*>(h)->state.trusted_code.insert(to_bytes32(code_hash));
}

XE_EXPORT void xe_set_account(void* h, const uint8_t* addr, uint64_t nonce, const uint8_t* balance_be32,
    const uint8_t* code, size_t code_size)
{
    auto& a = static_cast<Handle*>(h)->state.accounts[to_address(addr)];
    a.nonce = nonce;
    a.balance = intx::be::unsafe::load<intx::uint256>(balance_be32);
    a.code.assign(code, code + code_size);
    a.code_hash = std::bit_cast<bytes32>(ethash::keccak256(code, code_size));
}

XE_EXPORT void xe_set_storage(void* h, const uint8_t* addr, const uint8_t* key, const uint8_t* value)
{
    auto& a = static_cast<Handle*>(h)->state.accounts[to_address(addr)];
    const auto v = to_bytes32(value);
    if (evmc::is_zero(v))
        a.storage.erase(to_bytes32(key));
    else
        a.storage.insert_or_assign(to_bytes32(key), v);
}

XE_EXPORT void xe_get_storage(void* h, const uint8_t* addr, const uint8_t* key, uint8_t* value_out)
{
    const auto v = static_cast<Handle*>(h)->state.get_storage(to_address(addr), to_bytes32(key));
    std::memcpy(value_out, v.bytes, sizeof(v.bytes));
}

XE_EXPORT void xe_set_block(void* h, int64_t number, int64_t timestamp, int64_t gas_limit,
    const uint8_t* coinbase)
{
    auto& b = static_cast<Handle*>(h)->block;
    b.number = number;
    b.timestamp = timestamp;
    b.gas_limit = gas_limit;
    b.coinbase = to_address(coinbase);
    b.prev_randao = {};
    b.base_fee = 0;
    b.difficulty = 0;
}

/// Run one message against the stored state without changing it; returns the size of the answer (read it
/// with xe_result). Big-endian layout:
///   i32 outcome (XE_SUCCESS / XE_FAILED) | u32 flags (XE_UNTRUSTED_CODE …) | i64 gas used |
///   u32 nlogs { address 20 | u32 ntopics | topics 32 each | u32 size | data } |
///   u32 nchanges { address 20 | key 32 | value before 32 | value after 32 } (storage words that change).
XE_EXPORT size_t xe_run(void* handle, const uint8_t* sender_p, const uint8_t* to_p, const uint8_t* data,
    size_t data_size, int64_t gas_limit)
{
    auto& h = *static_cast<Handle*>(handle);
    auto& o = h.out;
    o.clear();
    const auto sender = to_address(sender_p);
    const auto to = to_address(to_p);
    const auto zeros = static_cast<int64_t>(std::count(data, data + data_size, uint8_t{0}));
    const auto nonzeros = static_cast<int64_t>(data_size) - zeros;
    const int64_t intrinsic = 21000 + 4 * zeros + 16 * nonzeros;
    const int64_t floor_gas = 21000 + 10 * (zeros + 4 * nonzeros);
    auto refused = [&] {  // the engine answers these itself, before any code runs
        put_u32(o, static_cast<uint32_t>(XE_FAILED));
        put_u32(o, 0);
        put_i64(o, 0);
        put_u32(o, 0);
        put_u32(o, 0);
        return o.size();
    };
    if (gas_limit < std::max(intrinsic, floor_gas))
        return refused();

    h.state.untrusted_seen = false;
    (void)evmone::state::xinlian::take_other_precompile();
    Transaction tx{};
    tx.type = Transaction::Type::legacy;
    tx.sender = sender;
    tx.to = to;
    tx.gas_limit = gas_limit;
    tx.chain_id = h.chain_id;
    tx.data.assign(data, data + data_size);

    State state{h.state};
    Host host{EVMC_PRAGUE, h.vm, state, h.block, h.hashes, tx};
    // EIP-2929: the origin and the target start warm (py-evm's mark_address_warm), and EIP-3651's coinbase
    // (py-evm's Shanghai computation warms it).
    Account empty_sender{};
    empty_sender.erase_if_empty = true;
    state.get_or_insert(sender, std::move(empty_sender)).access_status = EVMC_ACCESS_WARM;
    host.access_account(to);
    host.access_account(h.block.coinbase);
    const evmc_message msg{
        .kind = EVMC_CALL,
        .flags = 0,
        .depth = 0,
        .gas = gas_limit - intrinsic,
        .recipient = to,
        .sender = sender,
        .input_data = tx.data.data(),
        .input_size = tx.data.size(),
        .value = {},
        .create2_salt = {},
        .code_address = to,
        .code = nullptr,
        .code_size = 0,
    };
    const auto result = host.call(msg);
    int64_t gas_used = gas_limit - result.gas_left;
    if (result.status_code == EVMC_SUCCESS)
        gas_used -= std::min(result.gas_refund, gas_used / 5);
    gas_used = std::max(gas_used, floor_gas);

    uint32_t flags = 0;
    if (h.state.untrusted_seen)
        flags |= XE_UNTRUSTED_CODE;
    if (evmone::state::xinlian::take_other_precompile())
        flags |= XE_OTHER_PRECOMPILE;
    const auto diff = state.build_diff(EVMC_PRAGUE);
    for (const auto& m : diff.modified_accounts)
    {
        const auto it = h.state.accounts.find(m.addr);
        if (it == h.state.accounts.end() || it->second.nonce != m.nonce ||
            it->second.balance != m.balance || (m.code.has_value() && *m.code != it->second.code))
            flags |= XE_ACCOUNT_CHANGED;
    }
    for (const auto& a : diff.deleted_accounts)
        if (h.state.accounts.contains(a))
            flags |= XE_ACCOUNT_CHANGED;

    put_u32(o, static_cast<uint32_t>(result.status_code == EVMC_SUCCESS ? XE_SUCCESS : XE_FAILED));
    put_u32(o, flags);
    put_i64(o, gas_used);
    const auto logs = host.take_logs();
    put_u32(o, static_cast<uint32_t>(logs.size()));
    for (const auto& l : logs)
    {
        put(o, l.addr.bytes, sizeof(l.addr.bytes));
        put_u32(o, static_cast<uint32_t>(l.topics.size()));
        for (const auto& t : l.topics)
            put(o, t.bytes, sizeof(t.bytes));
        put_u32(o, static_cast<uint32_t>(l.data.size()));
        put(o, l.data.data(), l.data.size());
    }
    const auto count_at = o.size();
    put_u32(o, 0);
    uint32_t count = 0;
    for (const auto& m : diff.modified_accounts)
        for (const auto& [key, after] : m.modified_storage)
        {
            const auto before = h.state.get_storage(m.addr, key);
            if (before == after)
                continue;
            put(o, m.addr.bytes, sizeof(m.addr.bytes));
            put(o, key.bytes, sizeof(key.bytes));
            put(o, before.bytes, sizeof(before.bytes));
            put(o, after.bytes, sizeof(after.bytes));
            ++count;
        }
    for (size_t i = 0; i < 4; ++i)
        o[count_at + i] = static_cast<uint8_t>(count >> (8 * (3 - i)));
    return o.size();
}

XE_EXPORT const uint8_t* xe_result(void* h) { return static_cast<Handle*>(h)->out.data(); }

XE_EXPORT int xe_sm3(const uint8_t* data, size_t size, uint8_t* out)
{
    return evmone::state::xinlian::sm3(data, size, out) ? 1 : 0;
}

XE_EXPORT int xe_sm2_verify(const uint8_t* data, size_t size)
{
    return evmone::state::xinlian::sm2_verify_input(data, size) ? 1 : 0;
}
}
