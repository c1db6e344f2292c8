#include "libs/auth/jwt_verifier.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <optional>
#include <utility>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "libs/auth/internal/openssl_ptr.h"
#include "libs/common/status_macros.h"

namespace aso::auth {
namespace {

using ::aso::auth::internal::BignumPtr;
using ::aso::auth::internal::BioPtr;
using ::aso::auth::internal::EcdsaSigPtr;
using ::aso::auth::internal::MdCtxPtr;
using ::aso::auth::internal::PkeyPtr;

using google::protobuf::Struct;
using google::protobuf::Value;

struct FileCloser {
  void operator()(FILE* p) const { std::fclose(p); }
};

enum class KeyType { kRsa, kEcP256 };

struct Algorithm {
  absl::string_view name;
  KeyType key_type;
  const EVP_MD* (*digest)();
};

// HS* is absent on purpose: with public keys as the only secrets, accepting HMAC would let anyone who
// holds a public key mint tokens.
constexpr Algorithm kAlgorithms[] = {
    {"RS256", KeyType::kRsa, &EVP_sha256},
    {"RS384", KeyType::kRsa, &EVP_sha384},
    {"RS512", KeyType::kRsa, &EVP_sha512},
    {"ES256", KeyType::kEcP256, &EVP_sha256},
};

// Real tokens with many groups stay well under this; the bound keeps hostile input cheap to refuse.
constexpr size_t kMaxTokenBytes = 64 * 1024;
constexpr size_t kEs256CoordinateBytes = 32;
constexpr int kMinRsaBits = 2048;
// NumericDate values beyond the year 9999 are nonsense and would overflow time arithmetic.
constexpr double kMaxNumericDate = 253402300799.0;
// Keeps claims copied into error messages short.
constexpr size_t kMaxQuotedBytes = 128;
constexpr size_t kMaxListedAudiences = 8;

const Algorithm* FindAlgorithm(absl::string_view name) {
  for (const Algorithm& a : kAlgorithms) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

// Token contents are attacker-controlled, so they are escaped and truncated before they reach messages
// that end up in logs.
std::string Quoted(absl::string_view s) {
  if (s.size() > kMaxQuotedBytes) {
    return absl::StrCat("\"", absl::CHexEscape(s.substr(0, kMaxQuotedBytes)), "\"...");
  }
  return absl::StrCat("\"", absl::CHexEscape(s), "\"");
}

// UTC written with "Z"; absl's RFC3339 formats would write "+00:00".
std::string Rfc3339Utc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

absl::Status Malformed(absl::string_view why) {
  return absl::UnauthenticatedError(absl::StrCat("malformed token: ", why));
}

// absl's decoder also takes padding and whitespace; JWS allows neither, so the alphabet is checked first.
absl::StatusOr<std::string> DecodePart(absl::string_view part, absl::string_view what) {
  if (part.empty()) return Malformed(absl::StrCat(what, " is empty"));
  for (char c : part) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return Malformed(absl::StrCat(what, " is not base64url without padding"));
    }
  }
  std::string out;
  if (part.size() % 4 == 1 || !absl::WebSafeBase64Unescape(part, &out)) {
    return Malformed(absl::StrCat(what, " is not base64url without padding"));
  }
  return out;
}

absl::StatusOr<Struct> ParseJsonObject(const std::string& json, absl::string_view what) {
  Struct out;
  if (!google::protobuf::util::JsonStringToMessage(json, &out).ok()) {
    return Malformed(absl::StrCat(what, " is not a JSON object"));
  }
  return out;
}

const Value* FindClaim(const Struct& s, const std::string& name) {
  auto it = s.fields().find(name);
  return it == s.fields().end() ? nullptr : &it->second;
}

// A NumericDate claim (seconds since the epoch, possibly fractional), or nullopt if absent.
absl::StatusOr<std::optional<absl::Time>> FindTimeClaim(const Struct& s, const std::string& name) {
  const Value* v = FindClaim(s, name);
  if (v == nullptr) return std::nullopt;
  if (v->kind_case() != Value::kNumberValue) {
    return Malformed(absl::StrCat("claim \"", name, "\" is not a number"));
  }
  double seconds = v->number_value();
  if (!(seconds >= 0 && seconds <= kMaxNumericDate)) {
    return Malformed(absl::StrCat("claim \"", name, "\" is out of range"));
  }
  return absl::UnixEpoch() + absl::Seconds(seconds);
}

// A string claim, or nullopt if absent.
absl::StatusOr<std::optional<std::string>> FindStringClaim(const Struct& s, const std::string& name) {
  const Value* v = FindClaim(s, name);
  if (v == nullptr) return std::nullopt;
  if (v->kind_case() != Value::kStringValue) {
    return Malformed(absl::StrCat("claim \"", name, "\" is not a string"));
  }
  return v->string_value();
}

absl::StatusOr<std::vector<std::string>> StringArray(const Value& v, absl::string_view name) {
  if (v.kind_case() != Value::kListValue) {
    return Malformed(absl::StrCat("claim \"", name, "\" is not an array of strings"));
  }
  std::vector<std::string> out;
  out.reserve(v.list_value().values_size());
  for (const Value& item : v.list_value().values()) {
    if (item.kind_case() != Value::kStringValue) {
      return Malformed(absl::StrCat("claim \"", name, "\" is not an array of strings"));
    }
    out.push_back(item.string_value());
  }
  return out;
}

// JWT carries ECDSA signatures as fixed-width r||s (RFC 7518 section 3.4); OpenSSL verifies DER.
absl::StatusOr<std::string> RawEcdsaToDer(absl::string_view raw) {
  if (raw.size() != 2 * kEs256CoordinateBytes) {
    return Malformed(absl::StrCat("an ES256 signature is 64 bytes, not ", raw.size()));
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  BignumPtr r(BN_bin2bn(bytes, kEs256CoordinateBytes, nullptr));
  BignumPtr s(BN_bin2bn(bytes + kEs256CoordinateBytes, kEs256CoordinateBytes, nullptr));
  EcdsaSigPtr sig(ECDSA_SIG_new());
  if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    ERR_clear_error();
    return absl::ResourceExhaustedError("out of memory converting an ES256 signature");
  }
  // ECDSA_SIG_set0 took ownership.
  r.release();
  s.release();
  int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) {
    ERR_clear_error();
    return absl::InternalError("cannot DER-encode an ES256 signature");
  }
  std::string der(static_cast<size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &p) != len) {
    ERR_clear_error();
    return absl::InternalError("cannot DER-encode an ES256 signature");
  }
  return der;
}

absl::StatusOr<KeyType> ClassifyKey(EVP_PKEY* pkey, absl::string_view label) {
  if (EVP_PKEY_is_a(pkey, "RSA")) {
    int bits = EVP_PKEY_get_bits(pkey);
    if (bits < kMinRsaBits) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, " is a ", bits, "-bit RSA key; at least ", kMinRsaBits, " bits are required"));
    }
    return KeyType::kRsa;
  }
  if (EVP_PKEY_is_a(pkey, "EC")) {
    char group[64] = {};
    size_t group_len = 0;
    if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &group_len) != 1) {
      ERR_clear_error();
      return absl::InvalidArgumentError(absl::StrCat(label, " is an EC key on an unnamed curve"));
    }
    absl::string_view curve(group, group_len);
    if (curve != "prime256v1" && curve != "P-256") {
      return absl::InvalidArgumentError(
          absl::StrCat(label, " is an EC key on curve ", curve, "; only P-256 (ES256) is supported"));
    }
    return KeyType::kEcP256;
  }
  const char* type = EVP_PKEY_get0_type_name(pkey);
  return absl::InvalidArgumentError(absl::StrCat(label, " has unsupported key type ", type ? type : "unknown",
                                                 "; RSA and EC P-256 are supported"));
}

}  // namespace

struct JwtVerifier::Key {
  KeyType type;
  PkeyPtr pkey;
};

JwtVerifier::JwtVerifier(JwtConfig config, std::vector<Key> keys)
    : config_(std::move(config)), keys_(std::move(keys)) {}

JwtVerifier::~JwtVerifier() = default;

absl::StatusOr<std::unique_ptr<JwtVerifier>> JwtVerifier::Create(JwtConfig config) {
  if (config.issuers.empty()) return absl::InvalidArgumentError("JWT config has no accepted issuers");
  for (size_t i = 0; i < config.issuers.size(); ++i) {
    if (config.issuers[i].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("JWT config issuers[", i, "] is empty"));
    }
  }
  if (config.audience.empty()) return absl::InvalidArgumentError("JWT config audience is empty");
  if (config.username_claim.empty()) return absl::InvalidArgumentError("JWT config username_claim is empty");
  if (config.leeway < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("JWT config leeway is negative");
  }
  if (config.public_key_pems.empty()) return absl::InvalidArgumentError("JWT config has no public keys");

  std::vector<Key> keys;
  for (size_t i = 0; i < config.public_key_pems.size(); ++i) {
    const std::string& pem = config.public_key_pems[i];
    std::string label = absl::StrCat("public_key_pems[", i, "]");
    if (pem.size() > static_cast<size_t>(INT_MAX)) {
      return absl::InvalidArgumentError(absl::StrCat(label, " is too large"));
    }
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return absl::ResourceExhaustedError("out of memory reading public keys");
    for (int found = 0;; ++found) {
      // The reader cannot tell "no more keys" from "a broken key" by its error, so look for another
      // PEM block in what is left before trying to read one.
      char* rest = nullptr;
      long rest_len = BIO_get_mem_data(bio.get(), &rest);
      if (found > 0 &&
          (rest_len <= 0 || absl::string_view(rest, static_cast<size_t>(rest_len)).find("-----BEGIN ") ==
                                absl::string_view::npos)) {
        break;
      }
      std::string key_label = found == 0 ? label : absl::StrCat(label, " (key ", found + 1, ")");
      PkeyPtr pkey(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
      if (!pkey) {
        ERR_clear_error();
        return absl::InvalidArgumentError(absl::StrCat(key_label, " is not a parsable PEM public key"));
      }
      ASO_ASSIGN_OR_RETURN(KeyType type, ClassifyKey(pkey.get(), key_label));
      keys.push_back(Key{type, std::move(pkey)});
    }
  }
  return std::unique_ptr<JwtVerifier>(new JwtVerifier(std::move(config), std::move(keys)));
}

absl::Status JwtVerifier::VerifySignature(absl::string_view alg, absl::string_view signed_part,
                                          absl::string_view signature) const {
  const Algorithm* algorithm = FindAlgorithm(alg);
  if (algorithm == nullptr) {
    return absl::UnauthenticatedError(
        absl::StrCat("token algorithm ", absl::CHexEscape(alg), " is not accepted"));
  }
  std::string der;
  absl::string_view to_check = signature;
  if (algorithm->key_type == KeyType::kEcP256) {
    ASO_ASSIGN_OR_RETURN(der, RawEcdsaToDer(signature));
    to_check = der;
  }
  bool any_key_of_type = false;
  bool verified = false;
  for (const Key& key : keys_) {
    if (key.type != algorithm->key_type) continue;
    any_key_of_type = true;
    // A context per attempt: contexts are mutable, the shared keys are only read.
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx) {
      ERR_clear_error();
      return absl::ResourceExhaustedError("out of memory verifying a token");
    }
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, algorithm->digest(), nullptr, key.pkey.get()) == 1 &&
        EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(to_check.data()), to_check.size(),
                         reinterpret_cast<const unsigned char*>(signed_part.data()),
                         signed_part.size()) == 1) {
      verified = true;
      break;
    }
  }
  // Failed attempts leave errors on this thread's queue, where other OpenSSL users (TLS) would find them.
  ERR_clear_error();
  if (verified) return absl::OkStatus();
  if (!any_key_of_type) {
    return absl::UnauthenticatedError(absl::StrCat(
        "token signature does not verify with any configured key: no ", alg, "-capable key is configured"));
  }
  return absl::UnauthenticatedError("token signature does not verify with any configured key");
}

absl::StatusOr<JwtIdentity> JwtVerifier::Verify(absl::string_view token, absl::Time now) const {
  return VerifyToken(token, now, /*check_audience=*/true);
}

absl::StatusOr<JwtIdentity> JwtVerifier::VerifyAnyAudience(absl::string_view token, absl::Time now) const {
  return VerifyToken(token, now, /*check_audience=*/false);
}

absl::StatusOr<JwtIdentity> JwtVerifier::VerifyToken(absl::string_view token, absl::Time now,
                                                     bool check_audience) const {
  if (token.size() > kMaxTokenBytes) {
    return Malformed(absl::StrCat("longer than ", kMaxTokenBytes, " bytes"));
  }
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) {
    return Malformed(absl::StrCat("expected 3 dot-separated parts, found ", parts.size()));
  }

  ASO_ASSIGN_OR_RETURN(std::string header_json, DecodePart(parts[0], "header"));
  ASO_ASSIGN_OR_RETURN(Struct header, ParseJsonObject(header_json, "header"));
  const Value* alg = FindClaim(header, "alg");
  if (alg == nullptr || alg->kind_case() != Value::kStringValue) {
    return Malformed("header has no \"alg\" string");
  }
  if (FindAlgorithm(alg->string_value()) == nullptr) {
    return absl::UnauthenticatedError(
        absl::StrCat("token algorithm ", absl::CHexEscape(alg->string_value().substr(0, kMaxQuotedBytes)),
                     " is not accepted"));
  }
  // RFC 7515 section 4.1.11: extensions marked critical must be understood, and none are.
  if (FindClaim(header, "crit") != nullptr) {
    return absl::UnauthenticatedError("token header lists critical extensions, none of which are supported");
  }
  // "kid" is ignored: keys are configured without ids, so every key of the right type is tried.

  // The signature is checked before the payload is parsed, so unsigned JSON never reaches the parser.
  ASO_ASSIGN_OR_RETURN(std::string signature, DecodePart(parts[2], "signature"));
  absl::string_view signed_part = token.substr(0, parts[0].size() + 1 + parts[1].size());
  ASO_RETURN_IF_ERROR(VerifySignature(alg->string_value(), signed_part, signature));

  ASO_ASSIGN_OR_RETURN(std::string payload_json, DecodePart(parts[1], "payload"));
  ASO_ASSIGN_OR_RETURN(Struct claims, ParseJsonObject(payload_json, "payload"));

  JwtIdentity identity;
  ASO_ASSIGN_OR_RETURN(std::optional<std::string> issuer, FindStringClaim(claims, "iss"));
  if (!issuer.has_value()) return absl::UnauthenticatedError("token has no \"iss\" claim");
  bool issuer_accepted = false;
  for (const std::string& accepted : config_.issuers) issuer_accepted |= (accepted == *issuer);
  if (!issuer_accepted) {
    return absl::UnauthenticatedError(absl::StrCat("token issuer ", Quoted(*issuer), " is not accepted"));
  }
  identity.issuer = *std::move(issuer);

  ASO_ASSIGN_OR_RETURN(std::optional<absl::Time> expires, FindTimeClaim(claims, "exp"));
  if (!expires.has_value()) return absl::UnauthenticatedError("token has no \"exp\" claim");
  // Said in every time refusal so a skewed clock on either side is easy to spot.
  const std::string when =
      absl::StrCat(" (now ", Rfc3339Utc(now), ", leeway ", absl::FormatDuration(config_.leeway), ")");
  if (now > *expires + config_.leeway) {
    return absl::UnauthenticatedError(absl::StrCat("token expired at ", Rfc3339Utc(*expires), when));
  }
  identity.expires = *expires;
  ASO_ASSIGN_OR_RETURN(std::optional<absl::Time> not_before, FindTimeClaim(claims, "nbf"));
  if (not_before.has_value() && now < *not_before - config_.leeway) {
    return absl::UnauthenticatedError(
        absl::StrCat("token is not valid before ", Rfc3339Utc(*not_before), when));
  }
  ASO_ASSIGN_OR_RETURN(std::optional<absl::Time> issued_at, FindTimeClaim(claims, "iat"));
  if (issued_at.has_value() && now < *issued_at - config_.leeway) {
    return absl::UnauthenticatedError(
        absl::StrCat("token was issued in the future, at ", Rfc3339Utc(*issued_at), when));
  }

  const Value* aud = FindClaim(claims, "aud");
  if (aud == nullptr) return absl::UnauthenticatedError("token has no \"aud\" claim");
  std::vector<std::string> audiences;
  if (aud->kind_case() == Value::kStringValue) {
    audiences.push_back(aud->string_value());
  } else {
    ASO_ASSIGN_OR_RETURN(audiences, StringArray(*aud, "aud"));
  }
  bool audience_included = false;
  for (const std::string& a : audiences) audience_included |= (a == config_.audience);
  if (check_audience && !audience_included) {
    std::vector<std::string> quoted;
    for (size_t i = 0; i < audiences.size() && i < kMaxListedAudiences; ++i) {
      quoted.push_back(Quoted(audiences[i]));
    }
    if (audiences.size() > kMaxListedAudiences) quoted.push_back("...");
    return absl::UnauthenticatedError(absl::StrCat("token audience [", absl::StrJoin(quoted, ", "),
                                                   "] does not include ", Quoted(config_.audience)));
  }

  const Value* username = FindClaim(claims, config_.username_claim);
  if (username == nullptr) {
    return absl::UnauthenticatedError(absl::StrCat("token has no \"", config_.username_claim, "\" claim"));
  }
  if (username->kind_case() != Value::kStringValue || username->string_value().empty()) {
    return absl::UnauthenticatedError(
        absl::StrCat("token claim \"", config_.username_claim, "\" is not a non-empty string"));
  }
  identity.username = username->string_value();

  ASO_ASSIGN_OR_RETURN(std::optional<std::string> subject, FindStringClaim(claims, "sub"));
  identity.subject = subject.value_or("");

  // WLCG profile tokens say "wlcg.groups"; other issuers (e.g. INDIGO IAM access tokens) say "groups".
  for (const char* name : {"wlcg.groups", "groups"}) {
    if (const Value* groups = FindClaim(claims, name)) {
      ASO_ASSIGN_OR_RETURN(identity.groups, StringArray(*groups, name));
      break;
    }
  }

  ASO_ASSIGN_OR_RETURN(std::optional<std::string> scope, FindStringClaim(claims, "scope"));
  if (scope.has_value()) identity.scopes = absl::StrSplit(*scope, ' ', absl::SkipEmpty());
  return identity;
}

absl::Status LoadPublicKeyFiles(absl::string_view comma_separated_paths, JwtConfig& config) {
  std::vector<std::string> pems;
  for (absl::string_view path : absl::StrSplit(comma_separated_paths, ',', absl::SkipWhitespace())) {
    std::string name(absl::StripAsciiWhitespace(path));
    std::unique_ptr<FILE, FileCloser> f(std::fopen(name.c_str(), "rb"));
    if (!f) {
      int err = errno;
      if (err == ENOENT) return absl::NotFoundError(absl::StrCat("no such public key file: ", name));
      if (err == EACCES) {
        return absl::PermissionDeniedError(absl::StrCat("cannot read public key file ", name));
      }
      return absl::UnavailableError(
          absl::StrCat("cannot open public key file ", name, ": ", std::strerror(err)));
    }
    std::string contents;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f.get())) > 0) contents.append(buf, n);
    if (std::ferror(f.get())) {
      return absl::UnavailableError(absl::StrCat("read error on public key file ", name));
    }
    pems.push_back(std::move(contents));
  }
  if (pems.empty()) return absl::InvalidArgumentError("no public key file named");
  for (std::string& pem : pems) config.public_key_pems.push_back(std::move(pem));
  return absl::OkStatus();
}

}  // namespace aso::auth
