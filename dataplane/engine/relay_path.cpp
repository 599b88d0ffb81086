#include "dataplane/engine/relay_path.hpp"

#include <algorithm>
#include <cstring>

#include "relay/crypto/fast_random.hpp"
#include "relay/crypto/hash.hpp"

namespace relay::dp {

RelayPath::RelayPath(Identity id, std::size_t dedup_depth, std::uint64_t dedup_seed,
                     validate::PushCheck::Reserve reserve)
    : id_(std::move(id)), check_(reserve), dedup_(dedup_depth, dedup_seed) {
  auto pk = id_.key.public_key().compressed();
  our_pkh_ = crypto::hash160(ByteSpan(pk.data(), pk.size()));
  self_.peer.addrbytes = id_.addrbytes;
  self_.peer.port = id_.port;
  self_.peer.public_key_hash = our_pkh_;
  self_.seq = 0;  // as stacks-core's sign_relay
  relayers_.reserve(codec::kMaxRelayersLen);
}

RelayPath::Decision RelayPath::examine(const Push& p) {
  using Check = validate::PushCheck::Verdict;
  Decision d;
  PushFacts f;
  Reader rr(p.body, static_cast<std::uint32_t>(codec::kPreambleSize));
  codec::read_relayers(rr, relayers_);
  f.relayers_decode = rr.ok() && !rr.at_end();
  if (!f.relayers_decode) {
    f.signature_ok = p.sender == nullptr || p.sender->verdict();
    d.verdict = decide(f);
    return d;
  }
  d.payload = p.body.subspan(rr.pos());
  const auto prio = policy::push_priority(static_cast<codec::MsgId>(d.payload[0]), id_.relay_2x);
  f.header = header_verdict(prio, policy::check_relayers(relayers_, our_pkh_), policy::can_append_self(relayers_),
                            view_.height != 0);
  // The contents' signatures are checked only for what we would forward; the decode is
  // always whole. A stream that passed every check is the verdict; otherwise the whole
  // payload is checked now, as it would have been anyway.
  const bool stream_passed = p.stream != nullptr && p.stream->state() == validate::NakamotoStream::State::kPassed;
  const auto out = stream_passed ? check_.accept_streamed(p.stream->ids(), &dedup_)
                                 : check_.check(d.payload, static_cast<std::uint32_t>(codec::kPreambleSize + rr.pos()),
                                                f.header == Verdict::kForward, &dedup_);
  f.check = out.verdict;
  f.new_ids = out.new_ids;
  d.signature_checks = out.signature_checks;
  d.chunk_signer_checked = out.chunk_signer_checked;
  // Sign once, while the sender's signature may still be being checked (a signature
  // nobody receives costs nothing but its time).
  const bool will_forward = f.header == Verdict::kForward && out.verdict == Check::kValid && out.new_ids != 0;
  if (will_forward && p.forward_digest != nullptr) d.signature = id_.key.sign(*p.forward_digest);
  f.signature_ok = p.sender == nullptr || p.sender->verdict();
  d.verdict = decide(f);
  if (p.stream != nullptr) d.stream = stream_passed ? Decision::Stream::kPassed : Decision::Stream::kGaveUp;
  if (d.verdict != Verdict::kForward) return d;
  d.priority = *prio;
  for (const auto& id : check_.ids()) dedup_.insert(id);
  return d;
}

codec::Preamble RelayPath::our_preamble() const noexcept {
  codec::Preamble p;
  p.peer_version = id_.net.peer_version;
  p.network_id = id_.net.network_id;
  p.seq = crypto::thread_random_u32();  // a fresh seq per message, no syscall
  p.burn_block_height = view_.height;
  p.burn_block_hash = view_.hash;
  p.burn_stable_block_height = view_.stable_height;
  p.burn_stable_block_hash = view_.stable_hash;
  return p;
}

codec::ForwardTemplate RelayPath::forward_template() const noexcept {
  codec::ForwardTemplate ft;
  ft.preamble = our_preamble();
  ft.self = self_;
  ft.hide_addresses = id_.hide_relayer_addresses;
  return ft;
}

// sign_in_place: `msg` is a whole message whose signature bytes are zero, so its digest
// (PROTOCOL.md §2) is the hash of exactly these bytes.
void RelayPath::sign_in_place(std::span<std::uint8_t> msg) const {
  const codec::Sig65 sig = id_.key.sign(crypto::sha512_256(ByteSpan(msg.data(), msg.size())));
  std::memcpy(msg.data() + codec::kPreambleSignatureOffset, sig.data(), sig.size());
}

void RelayPath::write_forward_after(std::span<std::uint8_t> out, ByteSpan body, std::uint32_t relayer_count) const {
  codec::Preamble p = our_preamble();
  p.payload_len = static_cast<std::uint32_t>(body.size() + codec::kRelayDataSize);
  std::uint8_t pre[codec::kPreambleSize];
  codec::write_preamble_to(pre, p);  // signature zero
  codec::write_forward_to(out, ByteSpan(pre, sizeof pre), body, relayer_count, self_, id_.hide_relayer_addresses);
  sign_in_place(out);
}

bool RelayPath::resign(ByteSpan old, std::span<std::uint8_t> out) const {
  auto pre = codec::decode_preamble(old.first(std::min(old.size(), codec::kPreambleSize)));
  if (!pre.ok() || old.size() != codec::kPreambleSize + pre->payload_len || out.size() != old.size()) return false;
  codec::Preamble p = *pre;
  p.burn_block_height = view_.height;
  p.burn_block_hash = view_.hash;
  p.burn_stable_block_height = view_.stable_height;
  p.burn_stable_block_hash = view_.stable_hash;
  p.signature.fill(0);
  codec::write_preamble_to(out.data(), p);
  std::memcpy(out.data() + codec::kPreambleSize, old.data() + codec::kPreambleSize, pre->payload_len);
  sign_in_place(out);
  return true;
}

}  // namespace relay::dp
