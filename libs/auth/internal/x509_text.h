// Reading certificates from PEM text and naming them the grid way, shared by the authenticator and the
// delegation code.
#ifndef ASO_LIBS_AUTH_INTERNAL_X509_TEXT_H_
#define ASO_LIBS_AUTH_INTERNAL_X509_TEXT_H_

#include <openssl/x509.h>

#include <string>
#include <vector>

#include "libs/auth/internal/openssl_ptr.h"

namespace aso::auth::internal {

// Every certificate in `pem`, in order (other blocks, such as a private key, are skipped).
std::vector<X509Ptr> ParsePemCertificates(const std::string& pem);

// The grid form of an X.509 name: "/DC=org/DC=example/CN=Alice" (UTF-8).
std::string GridDn(const X509_NAME* name);

}  // namespace aso::auth::internal

#endif  // ASO_LIBS_AUTH_INTERNAL_X509_TEXT_H_
