#include "libs/auth/testing/jwt_signer.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "libs/auth/internal/openssl_ptr.h"

namespace aso::auth::testing {
namespace {

using ::aso::auth::internal::BioPtr;
using ::aso::auth::internal::EcdsaSigPtr;
using ::aso::auth::internal::MdCtxPtr;
using ::aso::auth::internal::PkeyPtr;

constexpr int kEs256CoordinateBytes = 32;

// A test helper that cannot do its job has no useful way to report it; the test dies with the reason.
[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "jwt_signer: %s\n", what);
  ERR_print_errors_fp(stderr);
  std::abort();
}

std::string ToPem(EVP_PKEY* pkey, bool private_key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) Die("BIO_new failed");
  int ok = private_key ? PEM_write_bio_PrivateKey(bio.get(), pkey, nullptr, nullptr, 0, nullptr, nullptr)
                       : PEM_write_bio_PUBKEY(bio.get(), pkey);
  if (ok != 1) Die("cannot write a PEM key");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0) Die("empty PEM output");
  return std::string(data, static_cast<size_t>(len));
}

TestKey FromPkey(EVP_PKEY* pkey, const char* alg) {
  if (pkey == nullptr) Die("key generation failed");
  PkeyPtr owned(pkey);
  return TestKey{ToPem(pkey, true), ToPem(pkey, false), alg};
}

const EVP_MD* DigestFor(const std::string& alg) {
  if (alg == "RS256" || alg == "ES256") return EVP_sha256();
  if (alg == "RS384") return EVP_sha384();
  if (alg == "RS512") return EVP_sha512();
  Die("SignJwt supports RS256, RS384, RS512 and ES256 only");
}

// OpenSSL produces DER; JWS wants r and s as fixed-width big-endian halves (RFC 7518 section 3.4).
std::string DerEcdsaToRaw(const std::vector<unsigned char>& der) {
  const unsigned char* p = der.data();
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig) Die("cannot decode an ECDSA signature");
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string raw(2 * kEs256CoordinateBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (BN_bn2binpad(r, out, kEs256CoordinateBytes) != kEs256CoordinateBytes ||
      BN_bn2binpad(s, out + kEs256CoordinateBytes, kEs256CoordinateBytes) != kEs256CoordinateBytes) {
    Die("ECDSA signature component does not fit 32 bytes");
  }
  return raw;
}

}  // namespace

TestKey GenerateRsaKey() {
  return FromPkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)), "RS256");
}

TestKey GenerateEcKey() { return FromPkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), "ES256"); }

std::string SignJwt(const TestKey& key, const std::string& payload_json, const std::string& extra_header) {
  const EVP_MD* md = DigestFor(key.alg);
  std::string header = absl::StrCat(R"({"alg":")", key.alg, R"(","typ":"JWT")",
                                    extra_header.empty() ? "" : ",", extra_header, "}");
  std::string signed_part = absl::StrCat(Base64Url(header), ".", Base64Url(payload_json));

  BioPtr bio(BIO_new_mem_buf(key.private_pem.data(), static_cast<int>(key.private_pem.size())));
  if (!bio) Die("BIO_new_mem_buf failed");
  PkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!pkey) Die("cannot parse the private key PEM");
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) Die("EVP_MD_CTX_new failed");
  if (EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, pkey.get()) != 1) Die("EVP_DigestSignInit failed");
  const auto* data = reinterpret_cast<const unsigned char*>(signed_part.data());
  size_t sig_len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &sig_len, data, signed_part.size()) != 1) {
    Die("EVP_DigestSign (size) failed");
  }
  std::vector<unsigned char> sig(sig_len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &sig_len, data, signed_part.size()) != 1) {
    Die("EVP_DigestSign failed");
  }
  sig.resize(sig_len);
  std::string signature = key.alg == "ES256" ? DerEcdsaToRaw(sig) : std::string(sig.begin(), sig.end());
  return absl::StrCat(signed_part, ".", Base64Url(signature));
}

std::string Base64Url(absl::string_view bytes) { return absl::WebSafeBase64Escape(bytes); }

}  // namespace aso::auth::testing
