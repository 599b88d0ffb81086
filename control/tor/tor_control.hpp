// control/tor/tor_control.hpp — the relay's onion service, published through Tor's
// control port (tor's control-spec.txt; the sequence Bitcoin Core's torcontrol uses):
//
//   PROTOCOLINFO 1                      which logins Tor accepts, and its cookie file
//   AUTHCHALLENGE SAFECOOKIE <nonce>    (SAFECOOKIE: both sides prove they know the cookie)
//   AUTHENTICATE <proof | cookie | "password">
//   ADD_ONION <key | NEW:ED25519-V3> Port=<p2p>,127.0.0.1:<onion listener> [Port=<http>,...]
//
// The service is ephemeral (it lives as long as the control connection), so the
// controller keeps the connection open, and when Tor goes away (a restart), logs in again
// and publishes the same service again: the key is kept in the data dir
// (onion_v3_private_key), so the address survives restarts of both the relay and Tor.
//
// The pure parts (the reply reader, key=value parsing, the SAFECOOKIE hashes) are free
// functions, tested on their own; TorController runs the dialogue on a thread of its own
// with blocking sockets, so a slow or absent Tor never holds up the control loop.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "control/netio/blocking_conn.hpp"
#include "relay/base/bytes.hpp"
#include "relay/net/peer_address.hpp"

namespace relay::tor {

// A reply: its status code and its lines' text (after "250-", "250 ", "250+"); a data
// block ("250+KEY=" ... ".") is folded into its line.
struct Reply {
  int code = 0;
  std::vector<std::string> lines;
  bool async() const noexcept { return code >= 600 && code < 700; }
};

// ReplyReader: bytes from the control connection in, whole replies out.
class ReplyReader {
 public:
  static constexpr std::size_t kMaxLine = 16 * 1024;
  static constexpr std::size_t kMaxReply = 256 * 1024;
  void feed(std::string_view bytes) { buf_.append(bytes); }
  // next: the next whole reply, if one is complete. `bad` is set (and stays set) when
  // the stream is not the control protocol (a line too long, a malformed status).
  std::optional<Reply> next();
  bool bad() const noexcept { return bad_; }

 private:
  std::string buf_;
  Reply cur_;
  Reply ev_;  // an event's lines that came amid another reply
  std::size_t cur_size_ = 0;
  bool in_data_ = false;
  bool bad_ = false;
};

// parse_kv: KEY=VALUE pairs of a reply line; values may be "quoted" with \-escapes.
// Words without '=' are kept with an empty value.
std::map<std::string, std::string> parse_kv(std::string_view line);
// quote: a string as a control-protocol quoted string.
std::string quote(std::string_view s);

// The SAFECOOKIE proofs (HMAC-SHA256 over cookie ‖ client nonce ‖ server nonce).
Bytes safecookie_server_hash(ByteSpan cookie, ByteSpan client_nonce, ByteSpan server_nonce);
Bytes safecookie_client_hash(ByteSpan cookie, ByteSpan client_nonce, ByteSpan server_nonce);

struct TorOptions {
  net::PeerAddress control;    // Tor's ControlPort (an IP and port)
  std::string password;        // for HASHEDPASSWORD, when there is no cookie to read
  std::string key_path;        // where the service's key is kept
  std::string address_path;    // where its address is written for `stacks-relay status` ("": nowhere)
  // The ports to publish: the onion's virtual port and the local port it forwards to (the
  // dataplane's onion listener; the HTTP endpoint). A target 0 is not known yet; a
  // function is asked again while publishing, and when it changes (a restarted
  // dataplane on another port) the service is published again.
  std::function<std::uint16_t()> p2p_virtual;
  std::function<std::uint16_t()> p2p_target;
  std::uint16_t http_virtual = 0;  // 0: no HTTP port on the service
  std::string http_target_host = "127.0.0.1";
  std::uint16_t http_target = 0;
  std::function<void(const std::string&)> log;
  std::uint32_t io_timeout_ms = 10'000;   // one reply
  std::uint32_t retry_max_ms = 30'000;    // reconnects back off to this
};

struct TorStats {
  std::atomic<std::uint64_t> connects{0}, publishes{0}, failures{0};
};

class TorController {
 public:
  explicit TorController(TorOptions o);
  ~TorController();
  TorController(const TorController&) = delete;
  TorController& operator=(const TorController&) = delete;

  void start();
  // onion: the service's address ("<56>.onion"), once published ("" before).
  std::string onion() const;
  bool published() const noexcept { return published_.load(); }
  const TorStats& stats() const noexcept { return stats_; }

 private:
  void run();
  // session: one control connection, from connect to its end; false with `why` set when
  // it failed before the service was up (else it ended with Tor going away, or stop).
  bool session(std::string& why);
  std::function<bool()> stopping();
  std::optional<Reply> read_reply(netio::BlockingConn& c, ReplyReader& rr, std::uint32_t timeout_ms);
  std::optional<Reply> command(netio::BlockingConn& c, ReplyReader& rr, const std::string& line, std::string& why);
  bool authenticate(netio::BlockingConn& c, ReplyReader& rr, std::string& why);
  bool publish(netio::BlockingConn& c, ReplyReader& rr, std::uint16_t target, std::string& why);
  void say(const std::string& line);

  TorOptions opts_;
  TorStats stats_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::string onion_;
  std::string service_id_;  // published on the current connection
  std::atomic<bool> published_{false};
  std::string last_said_;
};

}  // namespace relay::tor
