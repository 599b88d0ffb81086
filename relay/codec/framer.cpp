#include "relay/codec/framer.hpp"

#include <algorithm>
#include <cstring>

namespace relay::codec {

namespace {
// SpanWriter: a Writer that encodes into caller memory (sized by the caller).
struct SpanWriter {
  std::uint8_t* at;
  Writer w;
  explicit SpanWriter(std::uint8_t* dst) noexcept
      : at(dst), w([](void* ctx, const std::uint8_t* src, std::size_t n) noexcept {
          auto* self = static_cast<SpanWriter*>(ctx);
          std::memcpy(self->at, src, n);
          self->at += n;
        }, this) {}
};
}  // namespace

void write_preamble_to(std::uint8_t* out, const Preamble& p) noexcept {
  SpanWriter sw(out);
  write_preamble(sw.w, p);
}

void write_relay_data_to(std::uint8_t* out, const RelayData& d) noexcept {
  SpanWriter sw(out);
  write_neighbor_address(sw.w, d.peer);
  sw.w.u32(d.seq);
}

void hide_relayer_addresses(std::uint8_t* entries, std::uint32_t count) noexcept {
  // An entry: address (16) ‖ port (2) ‖ key hash (20) ‖ seq (4).
  static constexpr std::uint8_t kAnyNetwork[18] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0};
  for (std::uint32_t i = 0; i < count; ++i) std::memcpy(entries + std::size_t{i} * kRelayDataSize, kAnyNetwork, sizeof kAnyNetwork);
}

void write_forward_to(std::span<std::uint8_t> out, ByteSpan preamble165, ByteSpan body,
                      std::uint32_t relayer_count, const RelayData& self, bool hide_addresses) noexcept {
  std::uint8_t* p = out.data();
  std::memcpy(p, preamble165.data(), kPreambleSize);
  p += kPreambleSize;
  store_be32(p, relayer_count + 1);
  p += 4;
  const std::size_t upstream = std::size_t{relayer_count} * kRelayDataSize;
  std::memcpy(p, body.data() + 4, upstream);
  if (hide_addresses) hide_relayer_addresses(p, relayer_count);
  p += upstream;
  write_relay_data_to(p, self);
  p += kRelayDataSize;
  std::memcpy(p, body.data() + 4 + upstream, body.size() - 4 - upstream);
}

// write_self: our relayer entry (kRelayDataSize bytes) as the message started with.
void Framer::write_self(std::uint8_t* out) const noexcept { write_relay_data_to(out, fwd_used_.self); }

namespace {
constexpr std::uint8_t kZeroSig[65] = {};
}

Framer::Framer(std::uint32_t max_payload_len) noexcept
    : max_payload_len_(std::min<std::uint32_t>(max_payload_len, kMaxMessageLen - 1)) {}

void Framer::set_forward(const ForwardTemplate& tmpl) noexcept {
  fwd_ = tmpl;
  fwd_enabled_ = true;
}

Framer::~Framer() {
  if (lease_.handle != nullptr) source_->release(lease_);
}

void Framer::set_body_source(BodySource* src, std::size_t own_capacity) {
  source_ = src;
  own_.reserve(own_capacity);
}

void Framer::next() noexcept {
  state_ = State::kPreamble;
  err_ = Error{};
  pre_have_ = 0;
  if (lease_.handle != nullptr) source_->release(lease_);
  lease_ = BodyLease{};
  buf_ = nullptr;
  have_ = 0;
  relayer_cnt_ = 0;
  relayers_known_ = false;
  fwd_active_ = false;
  sink_ = nullptr;
  forward_digest_.reset();
  digests_.reset();
}

void Framer::fail(Errc c, std::uint32_t off, const char* why) noexcept {
  state_ = State::kError;
  err_ = Error{c, off, why};
}

void Framer::on_preamble() noexcept {
  auto p = decode_preamble(ByteSpan(pre_raw_, kPreambleSize));
  if (!p.ok()) return fail(p.error().code, p.error().offset, p.error().reason);
  pre_ = *p;
  if (pre_.payload_len > max_payload_len_)
    return fail(Errc::kLimit, static_cast<std::uint32_t>(kPreamblePayloadLenOffset), "message larger than allowed");
  digests_.update(kVerify, pre_raw_, kPreambleSignatureOffset);
  digests_.update(kVerify, kZeroSig, sizeof kZeroSig);
  digests_.update(kVerify, pre_raw_ + kPreamblePayloadLenOffset, 4);
  if (!place_body()) state_ = State::kWaiting;
}

// place_body: the body's home: the own buffer when it fits (no allocation: its capacity
// is kept), else a lease; without a source, the own buffer grown. False: none yet.
bool Framer::place_body() noexcept {
  const std::size_t len = pre_.payload_len;
  if (len > body_limit_) return false;
  if (len <= own_.capacity() || source_ == nullptr) {
    if (len > own_.capacity()) ++grows_;
    own_.resize(len);  // no allocation once the capacity is there
    buf_ = own_.data();
  } else {
    lease_ = source_->lease(len);
    if (lease_.bytes.size() < len) {
      if (lease_.handle != nullptr) source_->release(lease_);
      lease_ = BodyLease{};
      return false;
    }
    buf_ = lease_.bytes.data();
  }
  state_ = State::kBody;
  return true;
}

bool Framer::find_body_home() noexcept { return state_ == State::kWaiting && place_body(); }

// The relayers vector is complete: start the forward digest with our preamble, the
// grown count, the upstream entries and our own.
void Framer::on_relayers_known() noexcept {
  relayers_known_ = true;
  if (!fwd_enabled_ || relayer_cnt_ >= kMaxRelayersLen) return;
  fwd_used_ = fwd_;
  Preamble p = fwd_.preamble;
  p.payload_len = pre_.payload_len + static_cast<std::uint32_t>(kRelayDataSize);
  p.signature.fill(0);
  write_preamble_to(fwd_pre_raw_, p);  // fixed buffers: nothing here allocates
  digests_.update(kForward, fwd_pre_raw_, kPreambleSize);
  digests_.update_u32(kForward, relayer_cnt_ + 1);
  if (fwd_used_.hide_addresses) {
    std::uint8_t upstream[kMaxRelayersLen * kRelayDataSize];  // the received entries, addresses hidden
    std::memcpy(upstream, buf_ + 4, std::size_t{relayer_cnt_} * kRelayDataSize);
    hide_relayer_addresses(upstream, relayer_cnt_);
    digests_.update(kForward, upstream, std::size_t{relayer_cnt_} * kRelayDataSize);
  } else {
    digests_.update(kForward, buf_ + 4, std::size_t{relayer_cnt_} * kRelayDataSize);
  }
  std::uint8_t self[kRelayDataSize];
  write_self(self);
  digests_.update(kForward, self, kRelayDataSize);
  fwd_active_ = true;
}

std::size_t Framer::feed(ByteSpan in) noexcept {
  std::size_t used = 0;
  while (used < in.size() && (state_ == State::kPreamble || state_ == State::kBody)) {
    if (state_ == State::kPreamble) {
      std::size_t n = std::min(in.size() - used, kPreambleSize - pre_have_);
      std::memcpy(pre_raw_ + pre_have_, in.data() + used, n);
      pre_have_ += n;
      used += n;
      if (pre_have_ == kPreambleSize) on_preamble();
      continue;
    }
    std::size_t want = pre_.payload_len - have_;
    std::size_t n = std::min(in.size() - used, want);
    // Stop at the end of the relayers vector (or its count) so the forward digest
    // can start exactly there.
    if (!relayers_known_) {
      std::size_t mark = have_ < 4 ? 4 : 4 + std::size_t{relayer_cnt_} * kRelayDataSize;
      n = std::min(n, mark - have_);
    }
    const std::uint8_t* p = in.data() + used;
    std::memcpy(buf_ + have_, p, n);
    have_ += n;
    if (fwd_active_) digests_.update_both(p, n);
    else digests_.update(kVerify, p, n);
    if (sink_ != nullptr) std::memcpy(sink_ + kSinkShift + have_ - n, p, n);
    used += n;
    if (!relayers_known_) {
      if (have_ == 4 && relayer_cnt_ == 0) {
        relayer_cnt_ = load_be32(buf_);
        if (relayer_cnt_ > kMaxRelayersLen)
          return fail(Errc::kLimit, static_cast<std::uint32_t>(kPreambleSize), "more than 16 relayers"), used;
        if (4 + std::size_t{relayer_cnt_} * kRelayDataSize >= pre_.payload_len)
          return fail(Errc::kTruncated, static_cast<std::uint32_t>(kPreambleSize), "relayers exceed payload_len"), used;
      }
      if (have_ == 4 + std::size_t{relayer_cnt_} * kRelayDataSize) on_relayers_known();
    }
    if (have_ == pre_.payload_len) {
      verify_digest_ = digests_.finish(kVerify);
      if (fwd_active_) forward_digest_ = digests_.finish(kForward);
      state_ = State::kDone;
    }
  }
  return used;
}

bool Framer::set_forward_sink(std::span<std::uint8_t> out) noexcept {
  if (!fwd_active_ || out.size() != forward_total_size() || state_ == State::kError) return false;
  // The head and the payload so far (the relayers are in: every byte from here on is
  // payload, which sits one relayer entry further on in the forward).
  write_forward_to(out.first(kPreambleSize + have_ + kRelayDataSize), ByteSpan(fwd_pre_raw_, kPreambleSize),
                   ByteSpan(buf_, have_), relayer_cnt_, fwd_used_.self, fwd_used_.hide_addresses);
  sink_ = out.data();
  return true;
}

void Framer::write_forward(std::span<std::uint8_t> out, const Sig65& sig) const {
  // Our preamble (with `sig`) ‖ relayers ++ [us] ‖ the payload, written in place.
  write_forward_to(out, ByteSpan(fwd_pre_raw_, kPreambleSize), body(), relayer_cnt_, fwd_used_.self,
                   fwd_used_.hide_addresses);
  std::memcpy(out.data() + kPreambleSignatureOffset, sig.data(), sig.size());
}

void Framer::write_forward(Bytes& out, const Sig65& sig) const {
  const std::size_t at = out.size();
  out.resize(at + forward_size());
  write_forward(std::span<std::uint8_t>(out.data() + at, forward_size()), sig);
}

}  // namespace relay::codec
