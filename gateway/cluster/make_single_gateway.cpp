// make_cluster() in a build without cluster mode (TIDEGATE_CLUSTER=OFF: no
// libnats). The config refuses a cluster section in such a build.
#include "gateway/cluster/cluster.hpp"

namespace tidegate {

std::unique_ptr<Cluster> make_cluster(const Config&, Ingest&, cache::QueueCache&, SessionRegistry&) {
  return std::make_unique<SingleGateway>();
}

}  // namespace tidegate
