// control/i2p/sam_session.hpp — the relay's I2P session on a SAM v3.1 bridge (Bitcoin
// Core's sequence, src/i2p.cpp): HELLO, a destination made once with DEST GENERATE
// SIGNATURE_TYPE=7 and kept in the data dir (i2p_private_key: the relay's .b32.i2p
// address survives restarts), SESSION CREATE STYLE=STREAM with it. The session lives as
// long as this connection: the dataplane's streams (STREAM CONNECT to I2P peers, STREAM
// ACCEPT for inbound, relay/net/sam.hpp) name it by its ID. When the bridge goes away,
// the session is made again with a new ID.
//
// SESSION CREATE takes i2pd tens of seconds (its tunnels are built first): it runs on a
// thread of its own, and the control loop only reads state().
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "relay/net/peer_address.hpp"

namespace relay::i2p {

struct SamOptions {
  net::PeerAddress bridge;      // the SAM bridge (an IP and port)
  std::string key_path;         // the destination's private key (I2P base64)
  std::string address_path;     // its .b32.i2p address, for `stacks-relay status` ("": nowhere)
  std::function<void(const std::string&)> log;
  std::uint32_t tunnel_length = 3;            // hops, inbound and outbound (1..7)
  std::uint32_t io_timeout_ms = 15'000;       // a reply to HELLO, DEST GENERATE
  std::uint32_t create_timeout_ms = 180'000;  // SESSION CREATE (i2pd 2.45: 20 s at least)
  std::uint32_t retry_max_ms = 60'000;
};

class SamSession {
 public:
  struct State {
    bool up = false;
    std::string id;        // the session's ID (for STREAM CONNECT / ACCEPT)
    std::string address;   // ours, "<52>.b32.i2p"
    std::uint64_t generation = 0;  // +1 each time the session (re)appears or goes
  };
  explicit SamSession(SamOptions o);
  ~SamSession();
  SamSession(const SamSession&) = delete;
  SamSession& operator=(const SamSession&) = delete;
  void start();
  State state() const;

 private:
  void run();
  bool session(std::string& why);  // false with `why` when it failed before being up
  void set(bool up, const std::string& id, const std::string& address);
  void say(const std::string& line);
  std::function<bool()> stopping();

  SamOptions opts_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  State state_;
  std::string last_said_;
};

}  // namespace relay::i2p
