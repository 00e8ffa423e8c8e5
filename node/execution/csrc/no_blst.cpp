// libxevm is built without blst: the BLS12-381 (0x0b…0x11) and KZG point evaluation (0x0a) precompiles
// fail here. No Xinlian contract calls them, and a message that reaches any precompile other than the GM
// ones is run on py-evm by the engine (note_other_precompile), so these answers are never kept.
#include <evmone_precompiles/bls.hpp>
#include <evmone_precompiles/kzg.hpp>

namespace evmone::crypto
{
bool kzg_verify_proof(const std::byte*, const std::byte*, const std::byte*, const std::byte*,
    const std::byte*) noexcept
{
    return false;
}
}  // namespace evmone::crypto

namespace evmone::crypto::bls
{
bool g1_add(uint8_t*, uint8_t*, const uint8_t*, const uint8_t*, const uint8_t*, const uint8_t*) noexcept
{
    return false;
}
bool g1_mul(uint8_t*, uint8_t*, const uint8_t*, const uint8_t*, const uint8_t*) noexcept { return false; }
bool g2_add(uint8_t*, uint8_t*, const uint8_t*, const uint8_t*, const uint8_t*, const uint8_t*) noexcept
{
    return false;
}
bool g2_mul(uint8_t*, uint8_t*, const uint8_t*, const uint8_t*, const uint8_t*) noexcept { return false; }
bool g1_msm(uint8_t*, uint8_t*, const uint8_t*, size_t) noexcept { return false; }
bool g2_msm(uint8_t*, uint8_t*, const uint8_t*, size_t) noexcept { return false; }
bool map_fp_to_g1(uint8_t*, uint8_t*, const uint8_t*) noexcept { return false; }
bool map_fp2_to_g2(uint8_t*, uint8_t*, const uint8_t*) noexcept { return false; }
bool pairing_check(uint8_t*, const uint8_t*, size_t) noexcept { return false; }
}  // namespace evmone::crypto::bls
