#include "libs/auth/delegation.h"

#include <openssl/conf.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/auth/internal/openssl_ptr.h"
#include "libs/auth/internal/x509_text.h"

namespace aso::auth {
namespace {
using internal::BioPtr;
using internal::GridDn;
using internal::ParsePemCertificates;
using internal::PkeyPtr;
using internal::X509Ptr;
using ReqPtr = std::unique_ptr<X509_REQ, internal::OpensslFree<X509_REQ, X509_REQ_free>>;
using NamePtr = std::unique_ptr<X509_NAME, internal::OpensslFree<X509_NAME, X509_NAME_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, internal::OpensslFree<X509_EXTENSION, X509_EXTENSION_free>>;

BioPtr ReadBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

PkeyPtr PrivateKey(const std::string& pem) {
  BioPtr bio = ReadBio(pem);
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  return key;
}

std::string Pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

absl::Time NotAfter(const X509* cert) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return absl::InfinitePast();
  return absl::FromTimeT(timegm(&tm));
}

bool AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  // An empty configuration: proxyCertInfo's parser asks for one even when the value names no section.
  std::unique_ptr<CONF, internal::OpensslFree<CONF, NCONF_free>> conf(NCONF_new(nullptr));
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509V3_set_nconf(&ctx, conf.get());
  ExtPtr ext(X509V3_EXT_nconf_nid(conf.get(), &ctx, nid, value));
  return ext != nullptr && X509_add_ext(cert, ext.get(), -1) == 1;
}

}  // namespace

absl::StatusOr<DelegationRequest> NewDelegationRequest() {
  PkeyPtr key(EVP_RSA_gen(2048));
  ReqPtr req(X509_REQ_new());
  NamePtr name(X509_NAME_new());
  if (key == nullptr || req == nullptr || name == nullptr ||
      X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>("proxy"), -1, -1, 0) != 1 ||
      X509_REQ_set_version(req.get(), 0) != 1 || X509_REQ_set_subject_name(req.get(), name.get()) != 1 ||
      X509_REQ_set_pubkey(req.get(), key.get()) != 1 ||
      X509_REQ_sign(req.get(), key.get(), EVP_sha256()) <= 0) {
    ERR_clear_error();
    return absl::InternalError("could not make a key pair and certificate request");
  }
  BioPtr csr(BIO_new(BIO_s_mem())), pkcs8(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_REQ(csr.get(), req.get());
  PEM_write_bio_PrivateKey(pkcs8.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  DelegationRequest out;
  long n = BIO_get_mem_data(csr.get(), &data);
  out.csr_pem.assign(data, static_cast<size_t>(n));
  n = BIO_get_mem_data(pkcs8.get(), &data);
  out.key_pem.assign(data, static_cast<size_t>(n));
  OPENSSL_cleanse(data, static_cast<size_t>(n));
  return out;
}

absl::StatusOr<std::string> SignProxy(const std::string& csr_pem, const std::string& issuer_pem,
                                      absl::Duration lifetime, absl::Time now) {
  BioPtr csr_bio = ReadBio(csr_pem);
  ReqPtr req(PEM_read_bio_X509_REQ(csr_bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (req == nullptr) return absl::InvalidArgumentError("the certificate request is not a PEM CSR");
  EVP_PKEY* req_key = X509_REQ_get0_pubkey(req.get());
  if (req_key == nullptr || X509_REQ_verify(req.get(), req_key) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the certificate request's signature does not verify");
  }
  std::vector<X509Ptr> chain = ParsePemCertificates(issuer_pem);
  if (chain.empty()) return absl::InvalidArgumentError("the proxy file holds no certificate");
  PkeyPtr key = PrivateKey(issuer_pem);
  if (key == nullptr) return absl::InvalidArgumentError("the proxy file holds no private key");
  X509* issuer = chain.front().get();
  if (X509_check_private_key(issuer, key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the proxy file's key is not its first certificate's");
  }
  if (NotAfter(issuer) <= now) {
    return absl::InvalidArgumentError(absl::StrCat("the proxy file's certificate expired at ",
                                                   absl::FormatTime(NotAfter(issuer), absl::UTCTimeZone())));
  }
  uint64_t serial = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof serial) != 1)
    return absl::InternalError("no random serial number");
  serial &= 0x7fffffffffffffffULL;
  X509Ptr cert(X509_new());
  NamePtr subject(X509_NAME_dup(X509_get_subject_name(issuer)));
  const std::string cn = absl::StrCat(serial);
  const absl::Time not_after = std::min(now + lifetime, NotAfter(issuer));
  const char* failed = nullptr;
  if (cert == nullptr || subject == nullptr || X509_set_version(cert.get(), 2) != 1 ||
      ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert.get()), serial) != 1) {
    failed = "set its version and serial";
  } else if (X509_NAME_add_entry_by_txt(subject.get(), "CN", MBSTRING_ASC,
                                        reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0) != 1 ||
             X509_set_subject_name(cert.get(), subject.get()) != 1 ||
             X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer)) != 1) {
    failed = "set its names";
  } else if (ASN1_TIME_set(X509_getm_notBefore(cert.get()), absl::ToTimeT(now - absl::Minutes(5))) ==
                 nullptr ||
             ASN1_TIME_set(X509_getm_notAfter(cert.get()), absl::ToTimeT(not_after)) == nullptr ||
             X509_set_pubkey(cert.get(), req_key) != 1) {
    failed = "set its validity and key";
  } else if (!AddExtension(cert.get(), issuer, NID_proxyCertInfo, "critical,language:id-ppl-inheritAll") ||
             !AddExtension(cert.get(), issuer, NID_key_usage, "critical,digitalSignature,keyEncipherment")) {
    failed = "add its extensions";
  } else if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) {
    failed = "sign it";
  }
  if (failed != nullptr) {
    const unsigned long e = ERR_peek_error();
    char reason[256] = "";
    if (e != 0) ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    return absl::InternalError(
        absl::StrCat("could not make the proxy certificate: ", failed, " (", reason, ")"));
  }
  std::string out = Pem(cert.get());
  for (const X509Ptr& c : chain) out += Pem(c.get());
  return out;
}

absl::StatusOr<DelegatedProxy> AssembleDelegatedProxy(const std::string& chain_pem,
                                                      const std::string& key_pem) {
  std::vector<X509Ptr> chain = ParsePemCertificates(chain_pem);
  if (chain.empty()) return absl::InvalidArgumentError("the delegated chain holds no PEM certificate");
  PkeyPtr key = PrivateKey(key_pem);
  if (key == nullptr) return absl::InternalError("the delegation's private key could not be read");
  X509* leaf = chain.front().get();
  if (X509_check_private_key(leaf, key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        "the delegated certificate is not for this delegation's key (sign the request this delegation "
        "issued)");
  }
  if ((X509_get_extension_flags(leaf) & EXFLAG_PROXY) == 0) {
    return absl::InvalidArgumentError("the delegated certificate is not an RFC 3820 proxy certificate");
  }
  DelegatedProxy out;
  out.subject = GridDn(X509_get_subject_name(leaf));
  out.not_after = absl::InfiniteFuture();
  out.proxy_pem = Pem(leaf) + key_pem;
  for (size_t i = 0; i < chain.size(); ++i) {
    out.not_after = std::min(out.not_after, NotAfter(chain[i].get()));
    if (i > 0) out.proxy_pem += Pem(chain[i].get());
  }
  return out;
}

absl::StatusOr<absl::Time> EarliestExpiry(const std::string& pem) {
  std::vector<X509Ptr> chain = ParsePemCertificates(pem);
  if (chain.empty()) return absl::InvalidArgumentError("no PEM certificate");
  absl::Time t = absl::InfiniteFuture();
  for (const X509Ptr& c : chain) t = std::min(t, NotAfter(c.get()));
  return t;
}

}  // namespace aso::auth
