// control/http/relay_api.hpp — the relay's HTTP endpoints (PROTOCOL.md §8 where they
// overlap with a node's):
//   GET|HEAD /v3/blocks/{block_id}          a stored Nakamoto block (octet-stream); one the
//                                          store lacks is read back from the Gaia bucket
//                                          when [gaia] is set (control/gaia/read_back.hpp)
//   GET|HEAD /v3/tenures/{block_id}[?stop=] stored blocks of that tenure, newest first,
//                                          concatenated, as a node serves them
//   GET /v3/tenures/info                    the newest tenure the store holds whole from its
//                                          start, and its parent's start (JSON, as a node's)
//   GET|HEAD /v2/blocks/{index_block_hash}  a stored 2.x block
//   GET|HEAD /v2/microblocks/{tail_index_hash}, /v2/microblocks/confirmed/{child_index_block_hash}
//                                          a stored 2.x microblock stream (u32 count, newest first)
//   GET /v2/microblocks/unconfirmed/{parent_index_block_hash}/{start_seq}
//                                          stored microblocks of that stream from start_seq up
//   GET /v2/info                            the relay's view (JSON)
//   GET /v2/neighbors                       bootstrap peers, the sample GetNeighbors gets,
//                                          and the inbound and outbound sessions (JSON)
//   GET /status                             sessions, burn view, store, counters (JSON)
//   GET /metrics                            Prometheus text format
//   POST /v2/transactions                   a transaction (octet-stream, or JSON {"tx":hex}):
//                                          decoded, signatures checked, then relayed to peers
//   POST /v3/blocks/upload[/]               a Nakamoto block (octet-stream): decoded, signer
//                                          signatures checked, then relayed (and stored)
//   GET /relay/v1/log?from=SEQ[&limit=N]    the store's log from SEQ on (JSON), and
//   GET /relay/v1/push/{id}                 a stored block as the push that carries it: for
//                                          a pair partner's catch-up only (control/pair/
//                                          catch_up.hpp), signed by its key (pair_auth.hpp)
// Blocks by id never change: strong ETag (the id), a year of Cache-Control, 304 on a
// matching If-None-Match, so a CDN can front the endpoint.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "control/engine/control_engine.hpp"
#include "control/http/server.hpp"
#include "control/gaia/mirror.hpp"
#include "control/gaia/read_back.hpp"
#include "control/inv/sortition_fetcher.hpp"
#include "control/pair/catch_up.hpp"
#include "control/store/block_store.hpp"
#include "relay/link/link.hpp"

namespace relay::http {

// StatusBoard: what the control loop last published, for the HTTP thread.
class StatusBoard {
 public:
  struct Snapshot {
    ctl::BurnView view;
    std::size_t sessions = 0;
    std::size_t authenticated = 0;
    ctl::ControlStats stats;
    frontier::FrontierStats frontier;
    std::vector<ctl::PairView> pairs;
    std::vector<pair::CatchUpView> catch_up;
    std::optional<gaia::MirrorView> gaia;  // the Gaia mirror, when [gaia] is set
  };
  void publish(const Snapshot& s) {
    std::lock_guard<std::mutex> g(mu_);
    snap_ = s;
  }
  Snapshot read() const {
    std::lock_guard<std::mutex> g(mu_);
    return snap_;
  }
  void publish_neighbors(ctl::NeighborsView v) {
    std::lock_guard<std::mutex> g(mu_);
    neighbors_ = std::move(v);
  }
  ctl::NeighborsView neighbors() const {
    std::lock_guard<std::mutex> g(mu_);
    return neighbors_;
  }

 private:
  mutable std::mutex mu_;
  Snapshot snap_;
  ctl::NeighborsView neighbors_;
};

struct ApiContext {
  // Identity and network (copied: the HTTP thread owns its copy).
  codec::PubKey33 public_key{};
  std::uint32_t network_id = 1;
  std::uint32_t peer_version = 0;
  std::uint16_t p2p_port = 0;
  store::BlockStore* store = nullptr;       // may be null (store disabled)
  const link::DpCounters* dp = nullptr;     // the dataplane's counters (shared region)
  const void* ring_dp_to_ctl = nullptr;     // the link's rings (occupancy in /metrics and /status)
  std::size_t ring_dp_to_ctl_sz = 0;        // and their mapped sizes
  const void* ring_ctl_to_dp = nullptr;
  std::size_t ring_ctl_to_dp_sz = 0;
  const StatusBoard* board = nullptr;
  const ServerStats* server = nullptr;      // set once the server runs
  // check_signers: an uploaded block's signer signatures against the reward sets the
  // relay holds now (called on the HTTP thread; must be thread-safe). Unset: refused.
  std::function<validate::SignerCheck(const codec::NakamotoBlock&)> check_signers;
  // originate: hand a validated push (type byte + body) to the control loop, which has
  // the dataplane relay it. Called on the HTTP thread; must be thread-safe.
  std::function<void(Bytes payload)> originate;
  // The relay's pair partners ([pair] peers): the keys the catch-up routes (/relay/v1/*)
  // answer (none: those routes do not exist). `wall`: unix seconds (nullptr: time()).
  std::vector<codec::PubKey33> pair_keys;
  std::int64_t (*wall)() = nullptr;
  // reader: Nakamoto blocks the store lacks, read back from the Gaia bucket ([gaia]); the
  // request is answered when the reader is done (null: a miss is a 404).
  gaia::GaiaReader* reader = nullptr;
  // The reward cycle of the signer set the relay holds (for /v3/tenures/info; null: 0).
  const std::atomic<std::uint64_t>* reward_cycle = nullptr;
  // The Nakamoto inventory's source, for /status and /metrics (null: none).
  const inv::SortitionFetcher* inventory = nullptr;
};

Handler make_relay_api(const ApiContext* ctx);

}  // namespace relay::http
