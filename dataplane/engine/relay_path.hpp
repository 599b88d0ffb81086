// dataplane/engine/relay_path.hpp — the relay path of ARCHITECTURE.md §3 on one push,
// free of transports and sessions: verify (the sender's signature, joined here), read
// the relayers, validate the contents, deduplicate, sign our forward once, and decide
// one Verdict (verdict.hpp). What to do with the verdict (count it, drop the sender,
// fan the forward out) is the caller's.
//
// It also holds what every forward is made from: our identity (key, relayer entry),
// the network, and the burn view our preambles carry. Nothing here allocates once
// built: the relayers, the decode scratch and the ids are sized at start-up.
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "dataplane/engine/task_board.hpp"
#include "dataplane/engine/verdict.hpp"
#include "relay/codec/framer.hpp"
#include "relay/crypto/secp256k1.hpp"
#include "relay/dedup/tag_cache.hpp"
#include "relay/policy/preamble.hpp"
#include "relay/validate/nakamoto_stream.hpp"
#include "relay/validate/push_check.hpp"

namespace relay::dp {

// SenderSignature: a message signature checked against the session's key, on the
// second thread when it is free (post()) while this one reads the payload; verdict()
// waits for the answer (or computes it here when nobody took it).
class SenderSignature {
 public:
  SenderSignature(TaskBoard& board, const codec::Hash32& digest, const codec::Sig65& sig, const crypto::PublicKey& key) noexcept
      : board_(board), check_{digest, sig, key}, job_(TaskBoard::Job::of(check_, 1)) {}
  SenderSignature(const SenderSignature&) = delete;
  SenderSignature& operator=(const SenderSignature&) = delete;
  ~SenderSignature() { board_.join(job_); }

  void post() noexcept { board_.post(job_); }
  bool verdict() noexcept {
    board_.join(job_);
    return check_.ok;
  }

 private:
  struct Check {
    const codec::Hash32& digest;
    const codec::Sig65& sig;
    const crypto::PublicKey& key;
    bool ok = false;
    void operator()(std::size_t) noexcept { ok = crypto::verify(digest, sig, key, crypto::LowS::kEnforce); }
  };
  TaskBoard& board_;
  Check check_;
  TaskBoard::Job job_;
};

class RelayPath {
 public:
  struct Identity {
    crypto::SecretKey key;         // signs every forward
    policy::NetworkParams net;     // network id, peer version (our preambles)
    codec::Addr16 addrbytes{};     // our relayer entry's address
    std::uint16_t port = 20444;    // and port
    bool relay_2x = false;         // relay 2.x blocks and microblocks (a 2.x network)
    bool hide_relayer_addresses = false;  // private mode: upstream relayer entries lose their addresses
  };
  RelayPath(Identity id, std::size_t dedup_depth, std::uint64_t dedup_seed,
            validate::PushCheck::Reserve reserve = validate::PushCheck::Reserve::kLargestPush);

  // One push as it reaches the relay path.
  struct Push {
    ByteSpan body;  // relayers ‖ payload, as received (or originated: no relayers)
    // checked while it arrived (nullptr: not streamed); only a kPassed stream is taken
    // as the contents' verdict, anything else is checked whole here.
    const validate::NakamotoStream* stream = nullptr;
    // our forward's digest, hashed while it arrived (nullptr: the forward is built and
    // hashed after the verdict, by write_forward_after()).
    const codec::Hash32* forward_digest = nullptr;
    // the sender's signature, being checked beside this (nullptr: checked already, or
    // a push we originate). Nothing is decided before its answer.
    SenderSignature* sender = nullptr;
  };
  struct Decision {
    Verdict verdict = Verdict::kUndecodable;
    policy::Priority priority = policy::Priority::kTransaction;  // kForward only
    ByteSpan payload;                                              // from its type byte (empty when undecodable)
    std::optional<codec::Sig65> signature;  // kForward with a streamed digest: our forward's signature
    // What the stream's checks came to (kNone: not streamed; counted only when the
    // sender's signature held).
    enum class Stream : std::uint8_t { kNone, kPassed, kGaveUp } stream = Stream::kNone;
    std::size_t signature_checks = 0;  // transaction signatures and multisig keys verified (its cost)
    bool chunk_signer_checked = false;  // a chunk checked against its slot's signer
  };
  // examine: the verdict on `p`. On kForward its objects are remembered (dedup) and,
  // when p.forward_digest was given, our forward is signed.
  Decision examine(const Push& p);
  // relayers: those of the push examine() last read (≤ 16): who may not receive it.
  std::span<const codec::RelayData> relayers() const noexcept { return relayers_; }

  // Our forwards. forward_template: what the framer hashes a forward with while a push
  // arrives (a fresh random seq, our burn view). write_forward_after: our forward of a
  // received body built after the fact, signed, into exactly forward_size(body) bytes.
  codec::ForwardTemplate forward_template() const noexcept;
  static std::size_t forward_size(ByteSpan body) noexcept { return codec::kPreambleSize + body.size() + codec::kRelayDataSize; }
  void write_forward_after(std::span<std::uint8_t> out, ByteSpan body, std::uint32_t relayer_count) const;
  // resign: a whole forward of ours (signature zero or stale) given our current burn
  // view and signed again, from `old` into `out` (same size); false if `old` is not one.
  bool resign(ByteSpan old, std::span<std::uint8_t> out) const;

  const policy::BurnView& view() const noexcept { return view_; }
  void set_view(const policy::BurnView& v) noexcept { view_ = v; }
  const policy::NetworkParams& net() const noexcept { return id_.net; }
  const codec::Hash20& our_pkh() const noexcept { return our_pkh_; }
  void set_reward_set(std::span<const validate::RewardSetSigner> current, std::span<const validate::RewardSetSigner> previous) {
    check_.set_reward_set(current, previous);
  }
  void set_slot_signers(validate::SlotSigners s) { check_.set_slot_signers(std::move(s)); }
  std::size_t reward_set_size() const noexcept { return check_.signer_set().signers().size(); }
  // set_parallel: where a block's signer signatures may be recovered side by side.
  void set_parallel(ParallelFor* par) noexcept { check_.set_parallel(par); }

 private:
  codec::Preamble our_preamble() const noexcept;  // fresh random seq, our burn view
  void sign_in_place(std::span<std::uint8_t> msg) const;

  Identity id_;
  codec::Hash20 our_pkh_{};
  codec::RelayData self_{};
  policy::BurnView view_;
  validate::PushCheck check_;
  dedup::TagCache dedup_;
  std::vector<codec::RelayData> relayers_;
};

}  // namespace relay::dp
