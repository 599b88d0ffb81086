// Any bytes, in any chunking, as a middleman's answers: a SOCKS5 proxy's (with and
// without a login), an I2P SAM bridge's (STREAM CONNECT and ACCEPT) and Tor's control
// port (the reply reader and its KEY=VALUE lines). Fed the way the transport feeds them:
// unconsumed bytes kept, capped at the dialogue's max_input. Never a crash or a hang; a
// step never consumes more than it was given nor asks to send more than a command; an
// accepted I2P stream names an I2P peer.
#include <cstdint>
#include <string>

#include "control/tor/tor_control.hpp"
#include "relay/net/dialogue.hpp"
#include "relay/net/sam.hpp"
#include "relay/net/socks5.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

using namespace relay;

void run_dialogue(net::Dialogue& d, const std::uint8_t* data, std::size_t size, std::size_t chunk) {
  Bytes first = d.opening();
  FUZZ_CHECK(first.size() <= 512);
  Bytes in;
  for (std::size_t at = 0; at < size; at += chunk) {
    in.insert(in.end(), data + at, data + std::min(size, at + chunk));
    for (;;) {
      const auto st = d.on_bytes(in);
      FUZZ_CHECK(st.consumed <= in.size());
      FUZZ_CHECK(st.send.size() <= 2048);
      in.erase(in.begin(), in.begin() + static_cast<long>(st.consumed));
      if (st.state == net::Dialogue::State::kFailed) {
        FUZZ_CHECK(net::is_dial_error(st.err));
        FUZZ_CHECK(!net::describe_dial_error(st.err).empty());
        return;
      }
      if (st.state == net::Dialogue::State::kDone) {
        if (d.inbound()) FUZZ_CHECK(d.peer() && d.peer()->kind() == net::HostKind::kI2p);
        return;
      }
      if (st.consumed == 0 || in.empty()) break;
    }
    if (in.size() > d.max_input()) return;  // the transport fails it: too long
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t chunk = 1 + data[1] % 64;
  std::string err;
  const auto onion = net::PeerAddress::parse("aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dyp3kead.onion:20444", err);
  const auto i2p = net::PeerAddress::parse("aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq.b32.i2p:0", err, true);
  FUZZ_CHECK(onion && i2p);
  switch (data[0] % 5) {
    case 0: {
      net::socks5::Client c(*onion, std::nullopt);
      run_dialogue(c, data + 2, size - 2, chunk);
      break;
    }
    case 1: {
      net::socks5::Client c(*onion, net::ProxyLogin{"stacks-relay-0123", "x"});
      run_dialogue(c, data + 2, size - 2, chunk);
      break;
    }
    case 2: {
      net::sam::Connect c("srl01", *i2p);
      run_dialogue(c, data + 2, size - 2, chunk);
      break;
    }
    case 3: {
      net::sam::Accept a("srl01");
      run_dialogue(a, data + 2, size - 2, chunk);
      break;
    }
    default: {
      tor::ReplyReader rr;
      for (std::size_t at = 2; at < size; at += chunk) {
        rr.feed(std::string_view(reinterpret_cast<const char*>(data + at), std::min(chunk, size - at)));
        while (auto r = rr.next()) {
          FUZZ_CHECK(r->code >= 0 && r->code <= 999);
          for (const auto& l : r->lines) (void)tor::parse_kv(l);
        }
        if (rr.bad()) break;
      }
      break;
    }
  }
  return 0;
}
