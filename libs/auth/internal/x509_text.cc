#include "libs/auth/internal/x509_text.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include "absl/strings/str_cat.h"

namespace aso::auth::internal {

std::vector<X509Ptr> ParsePemCertificates(const std::string& pem) {
  std::vector<X509Ptr> out;
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(cert);
  ERR_clear_error();  // the end of the input reads as an error
  return out;
}

std::string GridDn(const X509_NAME* name) {
  std::string dn;
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    const int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(entry));
    unsigned char* utf8 = nullptr;
    const int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
    if (len < 0) continue;
    absl::StrAppend(&dn, "/", nid == NID_undef ? "?" : OBJ_nid2sn(nid), "=",
                    absl::string_view(reinterpret_cast<char*>(utf8), len));
    OPENSSL_free(utf8);
  }
  return dn;
}

}  // namespace aso::auth::internal
