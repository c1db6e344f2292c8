// Delegation of a grid proxy, the way grid services take one (as FTS3 and VOMS-aware services do): the
// service makes a key pair and a certificate request; the user signs an RFC 3820 proxy certificate for
// that request with their own proxy (or certificate) and sends the certificate back; the private key never
// leaves the service. Everything is OpenSSL's; nothing here parses ASN.1 by hand.
#ifndef ASO_LIBS_AUTH_DELEGATION_H_
#define ASO_LIBS_AUTH_DELEGATION_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace aso::auth {

// Server side: a fresh 2048-bit RSA key and a PKCS#10 request for it.
struct DelegationRequest {
  std::string csr_pem;
  std::string key_pem;  // PKCS#8, unencrypted: store it sealed (credential_cipher.h)
};
absl::StatusOr<DelegationRequest> NewDelegationRequest();

// Client side: an RFC 3820 proxy certificate for the request `csr_pem`, signed by the certificate that
// starts `issuer_pem` with the private key in it (a proxy file: certificate, key, then its chain; or a
// certificate and key in one file). Its subject is the issuer's plus CN=<serial>, it is valid from 5 minutes
// before `now` for `lifetime` (never beyond the issuer). Returns the new certificate followed by the issuer's
// certificates: the chain to send back. INVALID_ARGUMENT naming what could not be read.
absl::StatusOr<std::string> SignProxy(const std::string& csr_pem, const std::string& issuer_pem,
                                      absl::Duration lifetime, absl::Time now);

// Server side: checks that the chain's first certificate is for the key of the pending request (so the
// service holds its private key) and is a proxy. INVALID_ARGUMENT naming the problem otherwise.
// The chain's trust and owner are the Authenticator's to check (VerifyChain).
struct DelegatedProxy {
  std::string proxy_pem;  // the proxy file: certificate, private key, then the rest of the chain
  absl::Time not_after;   // the earliest expiry in the chain
  std::string subject;    // the proxy certificate's subject, grid style
};
absl::StatusOr<DelegatedProxy> AssembleDelegatedProxy(const std::string& chain_pem,
                                                      const std::string& key_pem);

// The earliest notAfter of the certificates in `pem` (a proxy file or chain). INVALID_ARGUMENT if none.
absl::StatusOr<absl::Time> EarliestExpiry(const std::string& pem);

}  // namespace aso::auth

#endif  // ASO_LIBS_AUTH_DELEGATION_H_
