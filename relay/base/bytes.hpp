// relay/base/bytes.hpp — bounds-checked big-endian reader and an appending writer.
//
// Reader uses a sticky error: the first failure records (code, offset, reason) and
// every later read returns zeros without touching memory, so a decoder can read a
// whole structure and check ok() once at the end. Callers must still check ok()
// before using a read length to allocate or index; count() does that check itself
// and never returns a count that could not fit in the remaining input.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "relay/base/result.hpp"

namespace relay {

using Bytes = std::vector<std::uint8_t>;
using ByteSpan = std::span<const std::uint8_t>;

template <std::size_t N>
using ByteArray = std::array<std::uint8_t, N>;

// kDecodeMemoryBudget: heap bytes one top-level decode may allocate for the structures
// it builds. Decoded structures are larger than their encodings (a 62-byte minimal
// transaction becomes a ~1.2 kB struct), so without a budget a 16 MiB message of tiny
// objects could cost gigabytes. A real maximal message (16 MiB of ≥ 180-byte
// transactions) needs about 110 MiB.
inline constexpr std::size_t kDecodeMemoryBudget = std::size_t{256} << 20;

class Reader {
 public:
  explicit Reader(ByteSpan in, std::uint32_t base_off = 0) noexcept
      : in_(in), base_off_(base_off) {}
  // A sub-reader (a bounded view of a parent's input) that draws on the parent's budget
  // and reads in the parent's mode.
  Reader(ByteSpan in, std::uint32_t base_off, Reader& parent) noexcept
      : in_(in), base_off_(base_off), shared_(&parent.limits()), skim_(parent.skim_) {}

  // Skim mode: the decode checks everything a full decode checks and computes every
  // derived id, but does not copy variable-length contents (strings, Clarity values,
  // contract code, chunk data, post-conditions, contract-call arguments, the
  // transactions of blocks) into the objects it fills. The relay's hot path reads pushes
  // this way: it needs ids and signatures, never contents, and must not allocate.
  void set_skim(bool on) noexcept { skim_ = on; }
  bool skimming() const noexcept { return skim_; }

  bool ok() const noexcept { return err_.code == Errc::kOk; }
  const Error& error() const noexcept { return err_; }
  std::size_t pos() const noexcept { return pos_; }
  std::size_t remaining() const noexcept { return in_.size() - pos_; }
  bool at_end() const noexcept { return pos_ == in_.size(); }
  ByteSpan input() const noexcept { return in_; }
  // Absolute offset (for error messages) of the current position.
  std::uint32_t abs_pos() const noexcept { return base_off_ + static_cast<std::uint32_t>(pos_); }

  // fail: record the first error at the current position (later errors are ignored).
  void fail(Errc code, const char* reason) noexcept { fail_at(pos_, code, reason); }
  void fail_at(std::size_t pos, Errc code, const char* reason) noexcept {
    if (err_.code == Errc::kOk) err_ = Error{code, base_off_ + static_cast<std::uint32_t>(pos), reason};
    pos_ = in_.size();  // stop all further reads
  }

  // take: a view of the next n bytes, or an empty span (and an error) if short.
  ByteSpan take(std::size_t n, const char* what = "unexpected end of input") noexcept {
    if (!ok()) return {};
    if (n > remaining()) [[unlikely]] {
      fail(Errc::kTruncated, what);
      return {};
    }
    ByteSpan s = in_.subspan(pos_, n);
    pos_ += n;
    return s;
  }

  std::uint8_t u8() noexcept {
    ByteSpan s = take(1);
    return s.empty() ? 0 : s[0];
  }
  std::uint16_t u16() noexcept {
    ByteSpan s = take(2);
    return s.empty() ? 0 : static_cast<std::uint16_t>((s[0] << 8) | s[1]);
  }
  std::uint32_t u32() noexcept {
    ByteSpan s = take(4);
    if (s.empty()) return 0;
    return (std::uint32_t{s[0]} << 24) | (std::uint32_t{s[1]} << 16) | (std::uint32_t{s[2]} << 8) |
           std::uint32_t{s[3]};
  }
  std::uint64_t u64() noexcept {
    std::uint64_t hi = u32();
    std::uint64_t lo = u32();
    return (hi << 32) | lo;
  }
  template <std::size_t N>
  void array(ByteArray<N>& out) noexcept {
    ByteSpan s = take(N);
    if (s.empty()) out.fill(0);
    else std::memcpy(out.data(), s.data(), N);
  }
  template <std::size_t N>
  ByteArray<N> array() noexcept {
    ByteArray<N> a;
    array(a);
    return a;
  }

  // count: a u32 element count for a Vec<T>, checked against `max_cnt` and against the
  // bytes left (each element needs at least `min_elem_sz` bytes), so the caller may
  // reserve() the result safely. Returns 0 on error.
  std::uint32_t count(std::uint32_t max_cnt, std::size_t min_elem_sz, const char* what) noexcept {
    std::size_t at = pos_;
    std::uint32_t n = u32();
    if (!ok()) return 0;
    if (n > max_cnt) [[unlikely]] {
      fail_at(at, Errc::kLimit, what);
      return 0;
    }
    if (min_elem_sz != 0 && n > remaining() / min_elem_sz) [[unlikely]] {
      fail_at(at, Errc::kTruncated, what);
      return 0;
    }
    return n;
  }

  // charge: account `bytes` of heap the decoder is about to allocate; fails (kLimit)
  // once the decode's memory budget is spent.
  bool charge(std::size_t bytes, const char* what = "decoded object too large in memory") noexcept {
    std::size_t& b = budget();
    if (!ok()) return false;
    if (bytes > b) [[unlikely]] {
      fail(Errc::kLimit, what);
      return false;
    }
    b -= bytes;
    return true;
  }
  std::size_t& budget() noexcept { return limits().memory; }
  // set_budget: a tighter (or looser) budget for this decode, before reading.
  void set_budget(std::size_t bytes) noexcept { budget() = bytes; }

  // Point checks: a node parses each multisig public key while decoding (an invalid
  // point is a decode error), at ~6 us a key. A decode parses keys while its point
  // budget lasts (unlimited unless set; shared with sub-readers); past it, keys are read
  // but not parsed, and points_skipped() says so: the decoded object was not checked as
  // a node would check it, so it must not be passed on as checked.
  bool take_point_check() noexcept {
    Limits& l = limits();
    if (l.points == 0) {
      l.points_skipped = true;
      return false;
    }
    --l.points;
    return true;
  }
  std::size_t point_budget() noexcept { return limits().points; }
  void set_point_budget(std::size_t keys) noexcept { limits().points = keys; }
  bool points_skipped() noexcept { return limits().points_skipped; }

  // bounded: run fn(sub) on a sub-reader that sees at most `bound` more bytes (the
  // reference node's BoundReader), shares this reader's memory budget and reports
  // errors at absolute offsets; on success this reader advances past what sub consumed.
  template <typename Fn>
  void bounded(std::size_t bound, Fn&& fn) {
    if (!ok()) return;
    ByteSpan rest = in_.subspan(pos_, bound < remaining() ? bound : remaining());
    Reader sub(rest, abs_pos(), *this);
    fn(sub);
    if (!sub.ok()) {
      const Error& e = sub.error();
      fail_at(pos_ + (e.offset - abs_pos()), e.code, e.reason);
      return;
    }
    pos_ += sub.pos();
  }

  // expect_end: the input must be fully consumed.
  void expect_end(const char* what = "trailing bytes") noexcept {
    if (ok() && !at_end()) fail(Errc::kTrailingBytes, what);
  }

 private:
  ByteSpan in_;
  std::size_t pos_ = 0;
  std::uint32_t base_off_ = 0;
  Error err_{};
  struct Limits {
    std::size_t memory = kDecodeMemoryBudget;
    std::size_t points = SIZE_MAX;
    bool points_skipped = false;
  };
  Limits& limits() noexcept { return shared_ != nullptr ? *shared_ : own_; }
  Limits own_;
  Limits* shared_ = nullptr;
  bool skim_ = false;
};

// Writer: appends big-endian fields either to a byte vector or, through a small
// staging buffer, to a streaming sink (e.g. a hasher), so the same encoder can
// serialize an object or hash it without materialising the bytes.
class Writer {
 public:
  using SinkFn = void (*)(void* ctx, const std::uint8_t* p, std::size_t n) noexcept;

  explicit Writer(Bytes& out) noexcept : out_(&out) {}
  Writer(SinkFn fn, void* ctx) noexcept : sink_fn_(fn), sink_ctx_(ctx) {}
  ~Writer() { flush(); }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void u8(std::uint8_t v) { put(&v, 1); }
  void u16(std::uint16_t v) {
    std::uint8_t b[2] = {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
    put(b, 2);
  }
  void u32(std::uint32_t v) {
    std::uint8_t b[4];
    for (int i = 0; i < 4; ++i) b[i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
    put(b, 4);
  }
  void u64(std::uint64_t v) {
    std::uint8_t b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<std::uint8_t>(v >> (56 - 8 * i));
    put(b, 8);
  }
  void bytes(ByteSpan s) { put(s.data(), s.size()); }
  template <std::size_t N>
  void array(const ByteArray<N>& a) { put(a.data(), N); }
  // count: a Vec<T> length prefix.
  void count(std::size_t n) { u32(static_cast<std::uint32_t>(n)); }
  // size: bytes written so far (both modes).
  std::size_t size() const noexcept { return written_; }
  // flush: push staged bytes to the sink (no-op in vector mode).
  void flush() noexcept {
    if (stage_len_ != 0) {
      sink_fn_(sink_ctx_, stage_, stage_len_);
      stage_len_ = 0;
    }
  }

 private:
  void put(const std::uint8_t* p, std::size_t n) {
    written_ += n;
    if (out_ != nullptr) {
      out_->insert(out_->end(), p, p + n);
      return;
    }
    if (n > sizeof stage_ - stage_len_) {
      flush();
      if (n >= sizeof stage_) {
        sink_fn_(sink_ctx_, p, n);
        return;
      }
    }
    std::memcpy(stage_ + stage_len_, p, n);
    stage_len_ += n;
  }

  Bytes* out_ = nullptr;
  SinkFn sink_fn_ = nullptr;
  void* sink_ctx_ = nullptr;
  std::size_t written_ = 0;
  std::size_t stage_len_ = 0;
  std::uint8_t stage_[256];
};

inline void store_be32(std::uint8_t* p, std::uint32_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}
inline std::uint32_t load_be32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

}  // namespace relay
