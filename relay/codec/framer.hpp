// relay/codec/framer.hpp — incremental framing of the p2p byte stream with both digests
// computed while the bytes arrive (ARCHITECTURE.md §3.1–3.2).
//
// The framer takes bytes in any chunking. After 165 bytes it decodes and checks the
// preamble (PROTOCOL.md §1.3) and learns how many body bytes follow. Every body byte
// goes into the *verify* digest H(preamble with zero signature ‖ body). Once the
// relayers vector has arrived, and if a forward template is set, it also feeds the
// *forward* digest of the message we would send on: H(our preamble ‖ relayers ++ [us] ‖
// payload), so when the last byte lands only the two ECDSA operations remain, whatever
// the message size.
//
// Hot path: no allocation once the body buffer has grown to the largest message seen
// (it keeps its capacity across messages); no syscalls.
#pragma once

#include <cstdint>
#include <optional>

#include "relay/base/bytes.hpp"
#include "relay/codec/message.hpp"
#include "relay/crypto/hash.hpp"
#include "relay/crypto/hash_many.hpp"

namespace relay::codec {

// What we put in front of a message we forward: our preamble fields (payload_len and
// signature are filled in by the framer) and our own relayer entry.
struct ForwardTemplate {
  Preamble preamble;  // peer_version, network_id, seq, burn view, additional_data
  RelayData self;
  // hide_addresses: the upstream relayer entries go on with the any-network address and
  // port 0 (private mode: nothing we send names a clearnet address). Their key hashes,
  // what loop detection reads, and their seqs stay.
  bool hide_addresses = false;
};

// Encoders into caller memory (no allocation), shared by the framer and by the relay's
// forwards built after the fact (a push handed back by the control plane, a re-sign).
void write_preamble_to(std::uint8_t* out, const Preamble& p) noexcept;        // kPreambleSize bytes
void write_relay_data_to(std::uint8_t* out, const RelayData& d) noexcept;     // kRelayDataSize bytes
// write_forward_to: preamble165 ‖ relayer count + 1 ‖ the body's relayers ‖ self ‖ the
// body's payload, into exactly kPreambleSize + body.size() + kRelayDataSize bytes.
// `body` is a received body (relayers ‖ payload) with `relayer_count` relayers; with
// `hide_addresses` their addresses are hidden (hide_relayer_addresses).
void write_forward_to(std::span<std::uint8_t> out, ByteSpan preamble165, ByteSpan body,
                      std::uint32_t relayer_count, const RelayData& self, bool hide_addresses = false) noexcept;
// hide_relayer_addresses: in `count` encoded relayer entries, each address becomes the
// any-network address (::ffff:0.0.0.0) and each port 0; key hashes and seqs are kept.
void hide_relayer_addresses(std::uint8_t* entries, std::uint32_t count) noexcept;

// BodySource: where a framer keeps bodies larger than its own buffer (the dataplane
// lends slots of a receive pool made at start-up, or heap within its receive budget).
// lease() returns empty bytes when it has nothing that large to give; the framer then
// waits (State::kWaiting) until its owner finds it a home (find_body_home()).
struct BodyLease {
  std::span<std::uint8_t> bytes;
  void* handle = nullptr;
};
class BodySource {
 public:
  virtual BodyLease lease(std::size_t n) noexcept = 0;
  virtual void release(const BodyLease& l) noexcept = 0;

 protected:
  ~BodySource() = default;
};

class Framer {
 public:
  // kWaiting: the preamble is in, but the body has no home yet (larger than the body
  // limit, or the source had nothing that large): feed() takes nothing until
  // find_body_home() succeeds.
  enum class State : std::uint8_t { kPreamble, kWaiting, kBody, kDone, kError };

  // max_payload_len: refuse larger messages before buffering them (≤ MAX_MESSAGE_LEN-1).
  explicit Framer(std::uint32_t max_payload_len = kMaxMessageLen - 1) noexcept;
  ~Framer();  // returns a lease still held
  Framer(const Framer&) = delete;
  Framer& operator=(const Framer&) = delete;

  // set_forward: compute the forward digest for messages started from now on; `tmpl`
  // is copied (set a fresh random seq in it for every message: PROTOCOL.md §3).
  void set_forward(const ForwardTemplate& tmpl) noexcept;
  void clear_forward() noexcept { fwd_enabled_ = false; }
  // set_body_source: keep bodies up to `own_capacity` bytes in the framer's own buffer
  // (reserved now, never grown) and larger ones in leases from `src`; a body neither can
  // hold waits. nullptr: no source, the own buffer grows to fit (tools and tests).
  void set_body_source(BodySource* src, std::size_t own_capacity);
  // set_body_limit: bodies longer than `n` wait (kWaiting) instead of being read, until
  // the limit is raised and find_body_home() called — e.g. a session that has not shown
  // who it is gets handshake-sized messages only. Applies from the next preamble, and
  // to a waiting one at find_body_home().
  void set_body_limit(std::size_t n) noexcept { body_limit_ = n; }
  std::size_t body_limit() const noexcept { return body_limit_; }
  // find_body_home: in kWaiting, try again (the limit was raised, or the source may have
  // room now); true once the body can be read (kBody).
  bool find_body_home() noexcept;
  // body_grows: messages for which the own buffer had to grow (only without a source).
  std::uint64_t body_grows() const noexcept { return grows_; }
  // forward_template: the template the current message's forward digest was started with.
  const ForwardTemplate& forward_template() const noexcept { return fwd_used_; }

  // feed: consume bytes of the current message; returns how many were used (fewer than
  // offered when the message ends inside `in`). After kDone/kError call next().
  std::size_t feed(ByteSpan in) noexcept;
  // next: start the next message (keeps the buffer's capacity).
  void next() noexcept;
  // reset: as new, for a new connection (no forward template; the buffer kept).
  void reset() noexcept {
    next();
    clear_forward();
  }

  State state() const noexcept { return state_; }
  const Error& error() const noexcept { return err_; }

  // Valid from kBody on.
  const Preamble& preamble() const noexcept { return pre_; }
  ByteSpan preamble_bytes() const noexcept { return ByteSpan(pre_raw_, kPreambleSize); }
  // body: the body's bytes received so far (all of it in kDone).
  ByteSpan body() const noexcept { return ByteSpan(buf_, have_); }
  // relayers_known: the relayers vector has arrived (relayer_count() is final).
  bool relayers_known() const noexcept { return relayers_known_; }
  // Valid in kDone.
  const crypto::Hash32& verify_digest() const noexcept { return verify_digest_; }
  // forward_digest: present when a template was set and the message can be forwarded
  // (fewer than 16 relayers).
  const std::optional<crypto::Hash32>& forward_digest() const noexcept { return forward_digest_; }
  std::uint32_t relayer_count() const noexcept { return relayer_cnt_; }

  // Forward sink: the bytes write_forward would produce (signature left zero), written
  // into `out` while the message arrives — the head at once, each payload byte as it
  // lands — so a large push needs no copy after its last byte. Only once the forward
  // digest runs (forward_active()); `out` must be forward_total_size() bytes. Dropped by
  // next(). sink_complete(): kDone with a sink, every byte in place.
  bool forward_active() const noexcept { return fwd_active_; }
  std::size_t forward_total_size() const noexcept { return kPreambleSize + pre_.payload_len + kRelayDataSize; }
  bool set_forward_sink(std::span<std::uint8_t> out) noexcept;
  bool sink_complete() const noexcept { return sink_ != nullptr && state_ == State::kDone; }

  // write_forward: the forwarded message — our preamble carrying `sig`, relayers ++
  // [us], payload — appended to `out`. Only when forward_digest() is present.
  void write_forward(Bytes& out, const Sig65& sig) const;
  // forward_size: bytes write_forward produces (our preamble, the body, one more relayer).
  std::size_t forward_size() const noexcept { return kPreambleSize + have_ + kRelayDataSize; }
  // write_forward into exactly forward_size() bytes (e.g. a transport's send buffer).
  void write_forward(std::span<std::uint8_t> out, const Sig65& sig) const;

 private:
  void fail(Errc c, std::uint32_t off, const char* why) noexcept;
  void on_preamble() noexcept;
  bool place_body() noexcept;
  void on_relayers_known() noexcept;
  void write_self(std::uint8_t* out) const noexcept;

  std::uint32_t max_payload_len_;
  std::size_t body_limit_ = SIZE_MAX;
  State state_ = State::kPreamble;
  Error err_{};
  std::uint8_t pre_raw_[kPreambleSize];
  std::size_t pre_have_ = 0;
  Preamble pre_;
  Bytes own_;                    // the framer's own body buffer (keeps its capacity)
  BodySource* source_ = nullptr;
  BodyLease lease_;              // the current body, when larger than own_
  std::uint8_t* buf_ = nullptr;  // where the current body goes
  std::size_t have_ = 0;         // body bytes received
  std::uint64_t grows_ = 0;
  std::uint32_t relayer_cnt_ = 0;
  bool relayers_known_ = false;

  // The verify digest is stream 0, the forward digest stream 1: once the forward runs,
  // both take the same payload bytes, their blocks compressed side by side.
  static constexpr std::size_t kVerify = 0, kForward = 1;
  crypto::Sha512_256Pair digests_;
  bool fwd_enabled_ = false;
  bool fwd_active_ = false;
  ForwardTemplate fwd_;
  ForwardTemplate fwd_used_;
  std::uint8_t fwd_pre_raw_[kPreambleSize];
  std::uint8_t* sink_ = nullptr;  // forward sink: payload byte x of the body goes to sink_[x + kSinkShift]
  static constexpr std::size_t kSinkShift = kPreambleSize + kRelayDataSize;
  crypto::Hash32 verify_digest_{};
  std::optional<crypto::Hash32> forward_digest_;
};

}  // namespace relay::codec
