// The server every service runs: health checking, reflection, RPC metrics, drain.
#include "libs/server/grpc_server.h"

#include "aso/monitoring/v1/monitoring.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/unknown_field_set.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"

namespace aso::server {
namespace {
using ::testing::Contains;
using ::testing::HasSubstr;

// Asks grpc.reflection.v1alpha for the service list with a generic stub (raw protobuf bytes), so the test
// needs no generated reflection client.
std::vector<std::string> ReflectedServices(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto call = stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag;
  bool ok;
  auto step = [&](intptr_t want) {
    EXPECT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(reinterpret_cast<intptr_t>(tag), want);
    return ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  step(1);
  const std::string request("\x3a\x00", 2);  // field 7 (list_services) = ""
  grpc::Slice slice(request);
  grpc::ByteBuffer out(&slice, 1);
  call->Write(out, reinterpret_cast<void*>(2));
  step(2);
  call->WritesDone(reinterpret_cast<void*>(3));
  step(3);
  grpc::ByteBuffer in;
  call->Read(&in, reinterpret_cast<void*>(4));
  std::vector<std::string> names;
  if (step(4)) {
    std::vector<grpc::Slice> slices;
    (void)in.Dump(&slices);
    std::string bytes;
    for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    google::protobuf::UnknownFieldSet response;
    EXPECT_TRUE(response.ParseFromString(bytes));
    for (int i = 0; i < response.field_count(); ++i) {
      if (response.field(i).number() != 6) continue;  // list_services_response
      google::protobuf::UnknownFieldSet list;
      EXPECT_TRUE(list.ParseFromString(response.field(i).length_delimited()));
      for (int j = 0; j < list.field_count(); ++j) {
        google::protobuf::UnknownFieldSet service;
        EXPECT_TRUE(service.ParseFromString(list.field(j).length_delimited()));
        if (service.field_count() > 0) names.push_back(service.field(0).length_delimited());
      }
    }
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  step(5);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return names;
}

ServerOptions Options() {
  ServerOptions options;
  options.service_name = "aso.monitoring.v1.Monitoring";
  options.listen = "127.0.0.1:0";
  options.max_threads = 4;
  options.drain_timeout = absl::Seconds(2);
  return options;
}

TEST(GrpcServerTest, HealthReflectionAndRpcMetrics) {
  auto metrics = metrics::Metrics::Start("test", "");
  ASSERT_TRUE(metrics.ok());
  aso::monitoring::v1::Monitoring::Service service;  // every method UNIMPLEMENTED
  ServerOptions options = Options();
  auto server = GrpcServer::Start(options, {&service}, **metrics);
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*server)->port()), grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  for (const std::string name : {"", "aso.monitoring.v1.Monitoring"}) {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(name);
    grpc::health::v1::HealthCheckResponse resp;
    ASSERT_TRUE(health->Check(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING) << name;
  }
  auto services = ReflectedServices(channel);
  EXPECT_THAT(services, Contains("aso.monitoring.v1.Monitoring"));
  EXPECT_THAT(services, Contains("grpc.health.v1.Health"));

  auto monitoring = aso::monitoring::v1::Monitoring::NewStub(channel);
  grpc::ClientContext ctx;
  aso::monitoring::v1::GetSiteStatsResponse resp;
  EXPECT_EQ(monitoring->GetSiteStats(&ctx, {}, &resp).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  const std::string text = (*metrics)->Serialize();
  EXPECT_THAT(
      text,
      HasSubstr(
          "aso_grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"/grpc.health.v1.Health/Check\"} 2"));
  EXPECT_THAT(text, HasSubstr("aso_grpc_server_handled_total{grpc_code=\"UNIMPLEMENTED\",grpc_method=\"/"
                              "aso.monitoring.v1.Monitoring/GetSiteStats\"} 1"));
  EXPECT_THAT(text, HasSubstr("aso_grpc_server_handling_seconds_count{grpc_method=\"/"
                              "aso.monitoring.v1.Monitoring/GetSiteStats\"} 1"));
  EXPECT_THAT(text, HasSubstr("aso_build_info{"));
  EXPECT_THAT(text, HasSubstr("process_resident_memory_bytes"));

  (*server)->Shutdown();
  grpc::ClientContext after;
  after.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  grpc::health::v1::HealthCheckResponse gone;
  EXPECT_FALSE(health->Check(&after, {}, &gone).ok());
}

// Kubernetes' gRPC probes cannot speak TLS: a plaintext port serves the health service alone, with the main
// port's status, and nothing else.
TEST(GrpcServerTest, PlaintextHealthPortForProbes) {
  auto metrics = metrics::Metrics::Start("test", "");
  ASSERT_TRUE(metrics.ok());
  aso::monitoring::v1::Monitoring::Service service;
  ServerOptions options = Options();
  options.health_listen = "127.0.0.1:0";
  auto server = GrpcServer::Start(options, {&service}, **metrics);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_NE((*server)->health_port(), 0);
  ASSERT_NE((*server)->health_port(), (*server)->port());
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*server)->health_port()),
                                     grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  for (const std::string name : {"", "aso.monitoring.v1.Monitoring"}) {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(name);
    grpc::health::v1::HealthCheckResponse resp;
    ASSERT_TRUE(health->Check(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING) << name;
  }
  // The service's own methods are not there.
  auto monitoring = aso::monitoring::v1::Monitoring::NewStub(channel);
  grpc::ClientContext ctx;
  aso::monitoring::v1::GetSiteStatsResponse resp;
  EXPECT_EQ(monitoring->GetSiteStats(&ctx, {}, &resp).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  (*server)->Shutdown();
  grpc::ClientContext after;
  after.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  grpc::health::v1::HealthCheckResponse gone;
  EXPECT_FALSE(health->Check(&after, {}, &gone).ok());
  // A port that cannot be bound is refused.
  ServerOptions taken = options;
  taken.health_listen = "256.0.0.1:1";
  EXPECT_TRUE(absl::IsUnavailable(GrpcServer::Start(taken, {&service}, **metrics).status()));
}

// One caller cannot make the server take an oversized request or oversized headers: both are refused
// before any handler runs, and the server goes on answering others.
TEST(GrpcServerTest, OversizedRequestsAndHeadersAreRefused) {
  auto metrics = metrics::Metrics::Start("test", "");
  ASSERT_TRUE(metrics.ok());
  aso::monitoring::v1::Monitoring::Service service;
  ServerOptions options = Options();
  options.max_message_bytes = 64 << 10;
  options.max_metadata_bytes = 4 << 10;
  auto server = GrpcServer::Start(options, {&service}, **metrics);
  ASSERT_TRUE(server.ok()) << server.status();
  // The service's methods are unimplemented here: UNIMPLEMENTED means the call reached its handler. Each
  // call has a connection of its own: oversized headers end the connection they came on.
  auto call = [&](int request_bytes, int header_bytes) {
    grpc::ChannelArguments own;
    own.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection not shared with another call's
    auto monitoring = aso::monitoring::v1::Monitoring::NewStub(grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", (*server)->port()), grpc::InsecureChannelCredentials(), own));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (header_bytes > 0) ctx.AddMetadata("x-padding", std::string(header_bytes, 'h'));
    aso::monitoring::v1::GetSiteStatsRequest req;
    req.set_site(std::string(request_bytes, 's'));
    aso::monitoring::v1::GetSiteStatsResponse resp;
    return monitoring->GetSiteStats(&ctx, req, &resp);
  };
  grpc::Status big = call(100 << 10, 0);
  EXPECT_EQ(big.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << big.error_message();
  EXPECT_THAT(big.error_message(), HasSubstr("larger than max"));
  grpc::Status headers = call(10, 8 << 10);
  EXPECT_FALSE(headers.ok());
  EXPECT_NE(headers.error_code(), grpc::StatusCode::UNIMPLEMENTED) << headers.error_message();
  // Under the limits, the server goes on serving.
  grpc::Status near = call(60 << 10, 2 << 10);
  EXPECT_EQ(near.error_code(), grpc::StatusCode::UNIMPLEMENTED) << near.error_message();
}

}  // namespace
}  // namespace aso::server
