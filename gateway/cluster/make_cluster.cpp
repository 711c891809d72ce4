// make_cluster() in a build with cluster mode (TIDEGATE_CLUSTER;
// gateway/CMakeLists.txt picks this file or make_single_gateway.cpp).
#include "gateway/cluster/cluster.hpp"
#include "gateway/cluster/cluster_link.hpp"
#include "gateway/config/config.hpp"

namespace tidegate {

std::unique_ptr<Cluster> make_cluster(const Config& config, Ingest& ingest, cache::QueueCache& cache,
                                      SessionRegistry& registry) {
  if (!config.cluster) return std::make_unique<SingleGateway>();
  auto link = std::make_unique<ClusterLink>(*config.cluster, ingest, cache, registry);
  // Every publish goes through the shared stream first (cluster_replication.hpp).
  ingest.set_replicator(link.get());
  return link;
}

}  // namespace tidegate
