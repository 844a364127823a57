// libcrypto (OpenSSL 3) for Swift: RSA key loading and RSA-SHA-2 signing, which libssh2 1.10 cannot do.
// libssh2 already links this library; it is its own system-library target because it is its own C library.
#ifndef CLOUDTASK_CCRYPTO_SHIM_H
#define CLOUDTASK_CCRYPTO_SHIM_H
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

// BN_num_bytes is a macro.
static inline int ct_bn_num_bytes(const BIGNUM *bn) { return BN_num_bytes(bn); }
// BN_mod is a macro over BN_div.
static inline int ct_bn_mod(BIGNUM *rem, const BIGNUM *a, const BIGNUM *m, BN_CTX *ctx) { return BN_mod(rem, a, m, ctx); }
// EVP_PKEY_KEYPAIR is a macro of or-ed selection bits.
static inline int ct_evp_pkey_keypair(void) { return EVP_PKEY_KEYPAIR; }
#endif
