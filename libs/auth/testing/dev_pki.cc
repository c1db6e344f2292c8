#include "libs/auth/testing/dev_pki.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace aso::auth::testing {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string CertsDir() {
  const char* dir = std::getenv("ASO_TEST_CERTS");
  return dir != nullptr ? dir : "";
}

std::string ReadCert(const std::string& name) { return ReadFile(CertsDir() + "/" + name); }

absl::StatusOr<DelegatedProxy> DelegatedProxyOf(const std::string& certs, const std::string& user,
                                                absl::Duration lifetime) {
  auto request = NewDelegationRequest();
  if (!request.ok()) return request.status();
  auto chain = SignProxy(request->csr_pem,
                         ReadFile(certs + "/" + user + ".pem") + ReadFile(certs + "/" + user + ".key"),
                         lifetime, absl::Now());
  if (!chain.ok()) return chain.status();
  return AssembleDelegatedProxy(*chain, request->key_pem);
}

}  // namespace aso::auth::testing
