#include "libs/auth/credential_cipher.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace aso::auth {
namespace {
constexpr size_t kNonce = 12, kTag = 16;
constexpr absl::string_view kPrefix = "v1:";
struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;
}  // namespace

absl::StatusOr<CredentialCipher> CredentialCipher::FromKeyFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the credential key file ", path));
  std::stringstream s;
  s << in.rdbuf();
  auto c = FromKeyText(s.str());
  if (!c.ok())
    return absl::InvalidArgumentError(absl::StrCat("credential key file ", path, ": ", c.status().message()));
  return c;
}

absl::StatusOr<CredentialCipher> CredentialCipher::FromKeyText(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  std::string raw;
  if (text.size() == 64 &&
      std::all_of(text.begin(), text.end(), [](char c) { return absl::ascii_isxdigit(c); })) {
    raw = absl::HexStringToBytes(text);
  } else if (!absl::Base64Unescape(text, &raw)) {
    raw.clear();
  }
  if (raw.size() != 32) return absl::InvalidArgumentError("expected 32 bytes as 64 hex digits or base64");
  CredentialCipher c;
  std::copy(raw.begin(), raw.end(), c.key_.begin());
  OPENSSL_cleanse(raw.data(), raw.size());
  return c;
}

std::string CredentialCipher::Seal(absl::string_view plaintext, absl::string_view context) const {
  std::string out(kNonce + plaintext.size() + kTag, '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  RAND_bytes(nonce, kNonce);
  CtxPtr ctx(EVP_CIPHER_CTX_new());
  int n = 0;
  EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(), nonce);
  EVP_EncryptUpdate(ctx.get(), nullptr, &n, reinterpret_cast<const unsigned char*>(context.data()),
                    static_cast<int>(context.size()));
  EVP_EncryptUpdate(ctx.get(), nonce + kNonce, &n, reinterpret_cast<const unsigned char*>(plaintext.data()),
                    static_cast<int>(plaintext.size()));
  EVP_EncryptFinal_ex(ctx.get(), nonce + kNonce + n, &n);
  EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTag, nonce + kNonce + plaintext.size());
  return absl::StrCat(kPrefix, absl::Base64Escape(out));
}

absl::StatusOr<std::string> CredentialCipher::Open(absl::string_view sealed,
                                                   absl::string_view context) const {
  std::string raw;
  if (!absl::ConsumePrefix(&sealed, kPrefix) || !absl::Base64Unescape(sealed, &raw) ||
      raw.size() < kNonce + kTag)
    return absl::DataLossError("a stored credential is not a sealed value");
  auto* bytes = reinterpret_cast<unsigned char*>(raw.data());
  const size_t len = raw.size() - kNonce - kTag;
  std::string out(len, '\0');
  CtxPtr ctx(EVP_CIPHER_CTX_new());
  int n = 0;
  EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(), bytes);
  EVP_DecryptUpdate(ctx.get(), nullptr, &n, reinterpret_cast<const unsigned char*>(context.data()),
                    static_cast<int>(context.size()));
  EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &n, bytes + kNonce,
                    static_cast<int>(len));
  EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTag, bytes + kNonce + len);
  if (EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + n, &n) != 1) {
    OPENSSL_cleanse(out.data(), out.size());
    return absl::DataLossError("a stored credential does not open with this key (wrong key, or altered)");
  }
  return out;
}

}  // namespace aso::auth
