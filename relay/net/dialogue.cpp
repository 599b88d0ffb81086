#include "relay/net/dialogue.hpp"

#include <cstring>

#include "relay/net/sam.hpp"
#include "relay/net/socks5.hpp"

namespace relay::net {

std::string describe_dial_error(int err) {
  if (!is_dial_error(err)) return err == 0 ? std::string("closed") : std::string(std::strerror(err));
  const int source = (err - kDialErrBase) / 0x1000, code = (err - kDialErrBase) % 0x1000;
  switch (static_cast<DialErrSource>(source)) {
    case DialErrSource::kSocks5: return "SOCKS5 proxy: " + socks5::describe(code);
    case DialErrSource::kSam: return "I2P SAM bridge: " + sam::describe(code);
    case DialErrSource::kDialogue:
      switch (static_cast<DialogueFail>(code)) {
        case DialogueFail::kClosed: return "the proxy closed the connection during its handshake";
        case DialogueFail::kTooLong: return "the proxy's answer is longer than its protocol allows";
        case DialogueFail::kGarbled: return "the proxy's answer does not follow its protocol";
        case DialogueFail::kTimedOut: return "the proxy's handshake timed out";
      }
      break;
  }
  return "dial error " + std::to_string(err);
}

}  // namespace relay::net
