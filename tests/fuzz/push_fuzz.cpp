// Any payload (type byte first): the relay's one-pass skim of a push (read_push, via
// PushCheck) refuses exactly what the full decode refuses, at the same offset with the
// same error, and when both succeed it reports the same object ids. NakamotoBlocks
// payloads also go through the stream checker (decode-only), whole and in reads of a
// size the input picks: given everything at once it passes exactly what decodes; read
// piece by piece it never passes what does not, and when it passes its ids are the same.
#include <cstdint>
#include <vector>

#include "relay/codec/message.hpp"
#include "relay/validate/nakamoto_stream.hpp"
#include "relay/validate/push_check.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {
using namespace relay;
using namespace relay::codec;

// The ids PushCheck reports, from the fully decoded payload.
std::vector<Hash32> full_ids(const Payload& p, ByteSpan payload) {
  std::vector<Hash32> ids;
  if (const auto* t = std::get_if<Transaction>(&p)) ids.push_back(t->tx.txid);
  if (const auto* nb = std::get_if<NakamotoBlocks>(&p))
    for (const auto& b : nb->blocks) ids.push_back(b.block_id);
  if (const auto* bs = std::get_if<Blocks>(&p))
    for (const auto& b : bs->blocks) ids.push_back(block_index_hash(b.block.block_hash, b.consensus_hash));
  if (const auto* ms = std::get_if<Microblocks>(&p))
    for (const auto& mb : ms->microblocks) ids.push_back(mb.block_hash);
  if (std::holds_alternative<StackerDBPushChunk>(p) || std::holds_alternative<BlocksAvailable>(p) ||
      std::holds_alternative<MicroblocksAvailable>(p))
    ids.push_back(crypto::sha512_256(payload));
  return ids;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static validate::PushCheck check;  // reused, as the dataplane does
  ByteSpan in(data, size);
  if (size == 0 || !is_push_id(static_cast<MsgId>(data[0]))) return 0;
  Reader r(in);
  Payload full;
  read_payload(r, full);
  r.expect_end("trailing bytes inside payload_len");
  if (static_cast<MsgId>(data[0]) == MsgId::kNakamotoBlocks) {
    static validate::NakamotoStream stream;
    using State = validate::NakamotoStream::State;
    stream.begin(size, false);
    stream.advance(in, check);
    FUZZ_CHECK((stream.state() == State::kPassed) == r.ok());
    if (r.ok()) {
      std::vector<Hash32> whole(stream.ids().begin(), stream.ids().end());
      auto ids = full_ids(full, in);
      FUZZ_CHECK(whole == ids);
    }
    const std::size_t step = 1 + std::size_t{size > 1 ? data[size - 1] : std::uint8_t{0}} * 7;
    stream.begin(size, false);
    for (std::size_t have = std::min(step, size);; have = std::min(have + step, size)) {
      stream.advance(in.first(have), check);
      if (have == size) break;
    }
    FUZZ_CHECK(stream.state() != State::kReading);
    if (stream.state() == State::kPassed) {
      FUZZ_CHECK(r.ok());
      auto ids = full_ids(full, in);
      FUZZ_CHECK(std::vector<Hash32>(stream.ids().begin(), stream.ids().end()) == ids);
    }
  }
  auto out = check.check(in, 0, false, nullptr);
  const bool skim_ok = out.verdict != validate::PushCheck::Verdict::kUndecodable;
  FUZZ_CHECK(skim_ok == r.ok());
  if (!r.ok()) {
    FUZZ_CHECK(out.error.code == r.error().code);
    FUZZ_CHECK(out.error.offset == r.error().offset);
    return 0;
  }
  auto ids = full_ids(full, in);
  FUZZ_CHECK(ids.size() == check.ids().size());
  for (std::size_t i = 0; i < ids.size(); ++i) FUZZ_CHECK(ids[i] == check.ids()[i]);
  return 0;
}
