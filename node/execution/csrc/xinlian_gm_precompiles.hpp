// Xinlian's GM precompiles inside evmone's state library: SM3 at 0x…0a01 and SM2 verification at 0x…0a02,
// with the gas, input and output of node/execution/precompiles.py (py-evm's, the reference).
#pragma once
#include <evmc/evmc.hpp>
#include <cstddef>
#include <cstdint>

namespace evmone::state::xinlian
{
/// 0x…0a01 or 0x…0a02.
bool is_gm_precompile(const evmc::address& addr) noexcept;
/// Charge the gas, then answer: the SM3 digest, or a 32-byte word 1 (valid) / 0 (anything else).
evmc::Result call_gm_precompile(const evmc_message& msg) noexcept;

/// Called for every other precompile: the engine keeps no result of a message that reached one.
void note_other_precompile() noexcept;
/// Whether a precompile other than the GM ones ran since the last reset (this thread); then reset it.
bool take_other_precompile() noexcept;

/// out: 32 bytes. False only when OpenSSL has no SM3.
bool sm3(const uint8_t* data, size_t size, uint8_t* out) noexcept;
/// data = public key x‖y (64) ‖ r‖s (64) ‖ message: whether it is a valid SM2 signature (default user ID).
bool sm2_verify_input(const uint8_t* data, size_t size) noexcept;
}  // namespace evmone::state::xinlian
