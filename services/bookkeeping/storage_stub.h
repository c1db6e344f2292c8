// How bookkeeping deletes storage files: through aso-fts-adapter's DeleteFiles, which holds the storage
// credentials and speaks the storage protocols.
#ifndef ASO_SERVICES_BOOKKEEPING_STORAGE_STUB_H_
#define ASO_SERVICES_BOOKKEEPING_STORAGE_STUB_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/auth/credentials.h"

namespace aso::bookkeeping {

class StorageStub {
 public:
  virtual ~StorageStub() = default;
  // Deletes `urls`, each as its owner (`owners`, same order: the adapter uses their proxies when it moves
  // files as their owners): one status per URL, in order (OK, NOT_FOUND when already gone, or the
  // storage's error). An error for the whole call (the adapter unreachable) leaves every file as it was.
  virtual absl::StatusOr<std::vector<absl::Status>> DeleteFiles(const std::vector<std::string>& urls,
                                                                const std::vector<std::string>& owners) = 0;
};

std::unique_ptr<StorageStub> MakeGrpcStorageStub(std::shared_ptr<auth::ClientAuth> auth,
                                                 const std::string& adapter, absl::Duration deadline);

}  // namespace aso::bookkeeping

#endif  // ASO_SERVICES_BOOKKEEPING_STORAGE_STUB_H_
