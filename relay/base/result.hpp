// relay/base/result.hpp — errors as values for every untrusted-input path.
//
// Error is three words: a small code, the byte offset in the input where decoding
// stopped, and a short static reason. Result<T> holds either a T or an Error; it is
// [[nodiscard]] so an ignored failure is a compile warning. No exceptions anywhere on
// this path (see STYLE.md §4).
#pragma once

#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

namespace relay {

enum class Errc : std::uint16_t {
  kOk = 0,
  kTruncated,       // input ended before the structure did
  kTrailingBytes,   // bytes left over where the structure must end exactly
  kLimit,           // a length or count above its protocol limit
  kBadValue,        // a field holds a value the protocol does not allow
  kUnknownType,     // unknown message / payload / enum id
  kNonCanonical,    // would not re-encode to the same bytes (PROTOCOL.md §7.9)
  kDuplicate,       // duplicate item where uniqueness is required
  kMerkleMismatch,  // tx Merkle root does not match the header
  kBadSignature,    // signature fails to parse, recover or verify
  kDepth,           // nesting deeper than allowed
  kCrypto,          // the crypto library failed (environment, not input)
  kIo,              // file / stream error
};

// errc_name: stable lower-case name of an Errc, for logs, JSON and counters.
constexpr const char* errc_name(Errc e) noexcept {
  switch (e) {
    case Errc::kOk: return "ok";
    case Errc::kTruncated: return "truncated";
    case Errc::kTrailingBytes: return "trailing_bytes";
    case Errc::kLimit: return "limit";
    case Errc::kBadValue: return "bad_value";
    case Errc::kUnknownType: return "unknown_type";
    case Errc::kNonCanonical: return "non_canonical";
    case Errc::kDuplicate: return "duplicate";
    case Errc::kMerkleMismatch: return "merkle_mismatch";
    case Errc::kBadSignature: return "bad_signature";
    case Errc::kDepth: return "depth";
    case Errc::kCrypto: return "crypto";
    case Errc::kIo: return "io";
  }
  return "unknown";
}

struct Error {
  Errc code = Errc::kOk;
  std::uint32_t offset = 0;        // byte offset into the outermost input (kIo: errno)
  const char* reason = "";         // static string, never owned
};

// Result<T>: a T or an Error. Access value() only after checking ok().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T v) noexcept(std::is_nothrow_move_constructible_v<T>)  // NOLINT(google-explicit-constructor)
      : ok_(true) {
    ::new (&storage_.value) T(std::move(v));
  }
  Result(Error e) noexcept : ok_(false) {  // NOLINT(google-explicit-constructor)
    ::new (&storage_.error) Error(e);
  }
  Result(const Result& o) : ok_(o.ok_) {
    if (ok_) ::new (&storage_.value) T(o.storage_.value);
    else ::new (&storage_.error) Error(o.storage_.error);
  }
  Result(Result&& o) noexcept(std::is_nothrow_move_constructible_v<T>) : ok_(o.ok_) {
    if (ok_) ::new (&storage_.value) T(std::move(o.storage_.value));
    else ::new (&storage_.error) Error(o.storage_.error);
  }
  Result& operator=(Result o) noexcept(std::is_nothrow_move_constructible_v<T>) {
    this->~Result();
    ::new (this) Result(std::move(o));
    return *this;
  }
  ~Result() {
    if (ok_) storage_.value.~T();
  }

  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  T& value() & noexcept { return storage_.value; }
  const T& value() const& noexcept { return storage_.value; }
  T&& value() && noexcept { return std::move(storage_.value); }
  T* operator->() noexcept { return &storage_.value; }
  const T* operator->() const noexcept { return &storage_.value; }
  T& operator*() & noexcept { return storage_.value; }
  const T& operator*() const& noexcept { return storage_.value; }
  const Error& error() const noexcept { return storage_.error; }

 private:
  union Storage {
    Storage() {}
    ~Storage() {}
    T value;
    Error error;
  } storage_;
  bool ok_;
};

// Status: a Result with no value.
struct Ok {};
using Status = Result<Ok>;

inline Error make_error(Errc code, const char* reason, std::uint32_t offset = 0) noexcept {
  return Error{code, offset, reason};
}

}  // namespace relay

// RELAY_TRY(expr): evaluate a Result/Status; on error return its Error from the caller.
#define RELAY_TRY(expr)                                   \
  do {                                                    \
    auto&& relay_try_r_ = (expr);                         \
    if (!relay_try_r_.ok()) return relay_try_r_.error();  \
  } while (0)
