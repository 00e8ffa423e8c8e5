// Xinlian's GM precompiles through OpenSSL 3 (libcrypto's SM3 and SM2). See xinlian_gm_precompiles.hpp.
#include "xinlian_gm_precompiles.hpp"
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <cstring>

namespace evmone::state::xinlian
{
namespace
{
// As node/execution/precompiles.py.
constexpr int64_t SM3_BASE_GAS = 60, SM3_WORD_GAS = 12;
constexpr int64_t SM2_VERIFY_BASE_GAS = 3000, SM2_VERIFY_WORD_GAS = 12;
constexpr size_t SM2_KEY_BYTES = 64, SM2_SIGNATURE_BYTES = 64;
constexpr char DEFAULT_USER_ID[] = "1234567812345678";  // GB/T 32918 default ID (Z_A)

thread_local bool other_precompile = false;

int64_t words(size_t n) noexcept { return static_cast<int64_t>((n + 31) / 32); }

const EVP_MD* sm3_md() noexcept
{
    static EVP_MD* const md = EVP_MD_fetch(nullptr, "SM3", nullptr);
    return md;
}

/// The SM2 public key x‖y, or null when it is not a point of the curve.
EVP_PKEY* sm2_public_key(const uint8_t* xy) noexcept
{
    uint8_t point[1 + SM2_KEY_BYTES];
    point[0] = 0x04;  // uncompressed
    std::memcpy(point + 1, xy, SM2_KEY_BYTES);
    EVP_PKEY* pkey = nullptr;
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM* params = nullptr;
    EVP_PKEY_CTX* ctx = nullptr;
    if (bld != nullptr &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "SM2", 0) == 1 &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)) == 1 &&
        (params = OSSL_PARAM_BLD_to_param(bld)) != nullptr &&
        (ctx = EVP_PKEY_CTX_new_from_name(nullptr, "SM2", nullptr)) != nullptr &&
        EVP_PKEY_fromdata_init(ctx) > 0 &&
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = nullptr;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    if (pkey != nullptr)
    {
        EVP_PKEY_CTX* check = EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr);
        const bool on_curve = check != nullptr && EVP_PKEY_public_check(check) == 1;
        EVP_PKEY_CTX_free(check);
        if (!on_curve)
        {
            EVP_PKEY_free(pkey);
            pkey = nullptr;
        }
    }
    return pkey;
}
}  // namespace

bool is_gm_precompile(const evmc::address& addr) noexcept
{
    for (size_t i = 0; i < 18; ++i)
        if (addr.bytes[i] != 0)
            return false;
    return addr.bytes[18] == 0x0a && (addr.bytes[19] == 0x01 || addr.bytes[19] == 0x02);
}

void note_other_precompile() noexcept { other_precompile = true; }

bool take_other_precompile() noexcept
{
    const bool seen = other_precompile;
    other_precompile = false;
    return seen;
}

bool sm3(const uint8_t* data, size_t size, uint8_t* out) noexcept
{
    unsigned int length = 0;
    return sm3_md() != nullptr && EVP_Digest(data, size, out, &length, sm3_md(), nullptr) == 1 &&
           length == 32;
}

bool sm2_verify_input(const uint8_t* data, size_t size) noexcept
{
    if (size < SM2_KEY_BYTES + SM2_SIGNATURE_BYTES)
        return false;
    EVP_PKEY* pkey = sm2_public_key(data);
    if (pkey == nullptr)
    {
        ERR_clear_error();
        return false;
    }
    bool valid = false;
    ECDSA_SIG* sig = ECDSA_SIG_new();
    BIGNUM* r = BN_bin2bn(data + SM2_KEY_BYTES, 32, nullptr);
    BIGNUM* s = BN_bin2bn(data + SM2_KEY_BYTES + 32, 32, nullptr);
    unsigned char* der = nullptr;
    int der_length = -1;
    if (sig != nullptr && r != nullptr && s != nullptr && ECDSA_SIG_set0(sig, r, s) == 1)
    {
        r = s = nullptr;  // owned by sig now
        der_length = i2d_ECDSA_SIG(sig, &der);
    }
    if (der_length > 0)
    {
        EVP_MD_CTX* mctx = EVP_MD_CTX_new();
        EVP_PKEY_CTX* pctx = EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr);
        if (mctx != nullptr && pctx != nullptr &&
            EVP_PKEY_CTX_set1_id(pctx, DEFAULT_USER_ID, sizeof(DEFAULT_USER_ID) - 1) > 0)
        {
            EVP_MD_CTX_set_pkey_ctx(mctx, pctx);
            // OpenSSL refuses r or s outside [1, n-1] as the SDK's verifiers do.
            if (EVP_DigestVerifyInit(mctx, nullptr, sm3_md(), nullptr, pkey) == 1)
                valid = EVP_DigestVerify(mctx, der, static_cast<size_t>(der_length),
                            data + SM2_KEY_BYTES + SM2_SIGNATURE_BYTES,
                            size - SM2_KEY_BYTES - SM2_SIGNATURE_BYTES) == 1;
        }
        EVP_MD_CTX_free(mctx);
        EVP_PKEY_CTX_free(pctx);  // EVP_MD_CTX_set_pkey_ctx does not take it over
    }
    OPENSSL_free(der);
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    EVP_PKEY_free(pkey);
    ERR_clear_error();  // a refused key or signature leaves errors on this thread's queue
    return valid;
}

evmc::Result call_gm_precompile(const evmc_message& msg) noexcept
{
    const bool is_sm3 = msg.code_address.bytes[19] == 0x01;
    const int64_t cost = is_sm3 ? SM3_BASE_GAS + SM3_WORD_GAS * words(msg.input_size) :
                                  SM2_VERIFY_BASE_GAS + SM2_VERIFY_WORD_GAS * words(msg.input_size);
    const int64_t gas_left = msg.gas - cost;
    if (gas_left < 0)
        return evmc::Result{EVMC_OUT_OF_GAS};
    uint8_t out[32]{};
    if (is_sm3)
    {
        if (!sm3(msg.input_data, msg.input_size, out))
        {
            note_other_precompile();  // no SM3 in this OpenSSL: the engine runs the message on py-evm
            return evmc::Result{EVMC_PRECOMPILE_FAILURE};
        }
    }
    else
        out[31] = sm2_verify_input(msg.input_data, msg.input_size) ? 1 : 0;
    return evmc::Result{EVMC_SUCCESS, gas_left, 0, out, sizeof(out)};
}
}  // namespace evmone::state::xinlian
