// Owning pointers for the OpenSSL objects libs/auth uses.
#ifndef ASO_LIBS_AUTH_INTERNAL_OPENSSL_PTR_H_
#define ASO_LIBS_AUTH_INTERNAL_OPENSSL_PTR_H_

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>

namespace aso::auth::internal {

template <typename T, void (*Free)(T*)>
struct OpensslFree {
  void operator()(T* p) const { Free(p); }
};

inline void FreeBio(BIO* p) { BIO_free(p); }

using PkeyPtr = std::unique_ptr<EVP_PKEY, OpensslFree<EVP_PKEY, EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, OpensslFree<BIO, FreeBio>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, OpensslFree<EVP_MD_CTX, EVP_MD_CTX_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, OpensslFree<ECDSA_SIG, ECDSA_SIG_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, OpensslFree<BIGNUM, BN_free>>;
using X509Ptr = std::unique_ptr<X509, OpensslFree<X509, X509_free>>;

}  // namespace aso::auth::internal

#endif  // ASO_LIBS_AUTH_INTERNAL_OPENSSL_PTR_H_
