#include "services/bookkeeping/publisher.h"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "services/bookkeeping/retry_policy.h"

namespace aso::bookkeeping {
namespace {

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

class WebhookCatalog final : public ExternalCatalog {
 public:
  WebhookCatalog(std::string url, std::string token, absl::Duration timeout)
      : url_(std::move(url)), token_(std::move(token)), timeout_(timeout) {}

  absl::Status Publish(int64_t transfer_id, const std::string& entry_json) override {
    CURL* curl = curl_easy_init();
    if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, absl::StrCat("Idempotency-Key: aso-transfer-", transfer_id).c_str());
    if (!token_.empty())
      headers = curl_slist_append(headers, absl::StrCat("Authorization: Bearer ", token_).c_str());
    curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, entry_json.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(entry_json.size()));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(timeout_)));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Discard);
    const CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) return absl::UnavailableError(absl::StrCat(url_, ": ", curl_easy_strerror(rc)));
    if (status < 200 || status > 299)
      return absl::UnavailableError(absl::StrCat(url_, " answered HTTP ", status));
    return absl::OkStatus();
  }

 private:
  std::string url_, token_;
  absl::Duration timeout_;
};

}  // namespace

std::unique_ptr<ExternalCatalog> NewWebhookCatalog(const std::string& url, const std::string& bearer_token,
                                                   absl::Duration timeout) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  return std::make_unique<WebhookCatalog>(url, bearer_token, timeout);
}

Publisher::Publisher(db::PublicationRepository& repo, ExternalCatalog* external, Clock& clock,
                     PublisherConfig config, metrics::Metrics& metrics)
    : repo_(repo),
      external_(external),
      clock_(clock),
      config_(config),
      published_(
          metrics.AddCounter("aso_bookkeeping_published_total", "Files entered in the file catalog.", {})),
      deliveries_(metrics.AddCounter("aso_bookkeeping_publication_deliveries_total",
                                     "Deliveries of catalog entries to the external catalog, by result.",
                                     {"result"})) {
  // Every series exists from the start (at 0), so rate() and the dashboards see it before the first event.
  published_.Inc({}, 0);
  for (const char* r : {"delivered", "retry"}) deliveries_.Inc({r}, 0);
}

absl::StatusOr<int> Publisher::RunOnce() {
  const absl::Time now = clock_.Now();
  auto catalogued = repo_.PublishPending(config_.batch, config_.block_max_files, external_ != nullptr, now);
  if (!catalogued.ok()) return catalogued.status();
  if (*catalogued > 0) published_.Inc({}, *catalogued);
  if (auto closed = repo_.CloseIdleBlocks(config_.block_idle, now); !closed.ok()) return closed.status();
  int delivered = 0;
  if (external_ != nullptr) {
    auto due = repo_.TakeOutbox(config_.batch, config_.hold, now);
    if (!due.ok()) return due.status();
    std::vector<db::Delivery> results;
    for (const db::OutboxItem& item : *due) {
      db::Delivery d;
      d.transfer_id = item.transfer_id;
      absl::Status s = external_->Publish(item.transfer_id, item.payload);
      d.delivered = s.ok();
      if (!s.ok()) {
        d.error = std::string(s.message());
        d.retry_at =
            clock_.Now() + DoublingDelay(config_.retry_delay, item.attempts, config_.max_retry_delay);
        ASO_LOG(WARNING, "publication of transfer=", item.transfer_id, " not delivered: ", s.message());
      }
      deliveries_.Inc({s.ok() ? "delivered" : "retry"});
      delivered += s.ok() ? 1 : 0;
      results.push_back(std::move(d));
    }
    if (absl::Status s = repo_.RecordDeliveries(results, clock_.Now()); !s.ok()) return s;
  }
  return *catalogued + delivered;
}

}  // namespace aso::bookkeeping
