// Clarity value validation. The reference node deserializes values untyped, building
// each value's type signature bottom-up; building a type fails when it would describe a
// value larger than MAX_VALUE_SIZE, and a list fails when its elements have no least
// common supertype. We rebuild the same type signatures (sizes only, in a flat arena)
// so that exactly the same values are refused (clarity-types signatures.rs rules:
// inner_size, type_size, least_supertype_v2_1).
#include "relay/codec/clarity.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <span>
#include <vector>

#include "relay/codec/limits.hpp"
#include "relay/codec/strings.hpp"

namespace relay::codec {

namespace {

enum class Kind : std::uint8_t {
  kNoType, kInt, kUInt, kBool, kPrincipal, kBuffer, kAscii, kUtf8, kOptional, kResponse, kList, kTuple,
};

constexpr std::uint32_t kErr = ~std::uint32_t{0};
constexpr std::uint64_t kMax = kClarityMaxValueSize;
constexpr std::uint64_t kPrincipalSize = 148;  // 20 + 128

// 24 bytes; a size is stored only after it was checked against MAX_VALUE_SIZE (or is a
// leaf size, at most 4 + 4·2^18), so 32 bits suffice.
struct TypeNode {
  Kind kind = Kind::kNoType;
  std::uint32_t len = 0;        // buffer/string length, list max_len
  std::uint32_t a = 0, b = 0;   // optional: a; response: a (ok), b (err); list: a (entry);
                                // tuple: fields [a, a + b)
  std::uint32_t size = 0;       // TypeSignature::size()
  std::uint32_t type_size = 0;  // TypeSignature::type_size()
};
static_assert(sizeof(TypeNode) == 24);

struct Field {
  ByteSpan name;
  std::uint32_t type;
};

class TypeArena {
 public:
  // Fixed-size kinds are interned at known indexes, so a list of a million ints
  // allocates no nodes.
  static constexpr std::uint32_t kNoTypeIdx = 0, kIntIdx = 1, kUIntIdx = 2, kBoolIdx = 3,
                                 kPrincipalIdx = 4, kNoneIdx = 5;

  // reserve: grow to the sizes reset() keeps, so ordinary values never allocate.
  void reserve() {
    nodes_.reserve(1u << 16);
    fields_.reserve(1u << 16);
    open_.reserve(1u << 12);
  }

  // reset: empty the arena for the next top-level value, returning memory a huge value
  // made it grow to; `budget` is the decode's memory budget, charged as the arena grows.
  void reset(std::size_t* budget) {
    budget_ = budget;
    charged_ = 0;
    over_budget_ = false;
    if (nodes_.capacity() > (1u << 16)) std::vector<TypeNode>().swap(nodes_);
    if (fields_.capacity() > (1u << 16)) std::vector<Field>().swap(fields_);
    if (open_.capacity() > (1u << 16)) std::vector<Field>().swap(open_);
    nodes_.clear();
    fields_.clear();
    open_.clear();
    push(make(Kind::kNoType, 1, 1));
    push(make(Kind::kInt, 16, 1));
    push(make(Kind::kUInt, 16, 1));
    push(make(Kind::kBool, 1, 1));
    push(make(Kind::kPrincipal, kPrincipalSize, 1));
    TypeNode none = make(Kind::kOptional, 2, 2);  // (optional NoType)
    none.a = kNoTypeIdx;
    push(none);
  }

  // sized: (buff len), (string-ascii len) or (string-utf8 len).
  std::uint32_t sized(Kind k, std::uint32_t len) {
    std::uint64_t size = k == Kind::kUtf8 ? 4 + 4 * std::uint64_t{len} : 4 + std::uint64_t{len};
    TypeNode n = make(k, size, 5);
    n.len = len;
    return push(n);
  }

  std::uint32_t option(std::uint32_t inner) {
    if (inner == kNoTypeIdx) return kNoneIdx;
    const TypeNode& in = nodes_[inner];
    std::uint64_t size = std::uint64_t{in.size} + 1;
    if (size > kMax) return kErr;
    TypeNode n = make(Kind::kOptional, size, std::uint64_t{in.type_size} + 1);
    n.a = inner;
    return push(n);
  }

  std::uint32_t response(std::uint32_t ok, std::uint32_t err) {
    const TypeNode& o = nodes_[ok];
    const TypeNode& e = nodes_[err];
    std::uint64_t size = std::uint64_t{std::max(o.size, e.size)} + 1;
    if (size > kMax) return kErr;
    TypeNode n = make(Kind::kResponse, size, std::uint64_t{o.type_size} + e.type_size + 1);
    n.a = ok;
    n.b = err;
    return push(n);
  }

  // list: (list max_len entry); `check` off only for the empty list, which the
  // reference builds without a size check.
  std::uint32_t list(std::uint32_t entry, std::uint32_t max_len, bool check = true) {
    const TypeNode& en = nodes_[entry];
    std::uint64_t type_size = std::uint64_t{en.type_size} + 5;
    std::uint64_t size = std::uint64_t{en.size} * max_len + type_size;
    if (check && (type_size > kMax || size > kMax)) return kErr;
    TypeNode n = make(Kind::kList, size, type_size);
    n.a = entry;
    n.len = max_len;
    return push(n);
  }

  // Fields of tuples being built are collected on one stack (nested tuples push and
  // pop above them), so building a tuple allocates nothing once the stack has grown.
  std::size_t open_mark() const noexcept { return open_.size(); }
  void open_push(const Field& f) { open_.push_back(f); }
  const Field* open_last(std::size_t mark) const noexcept { return open_.size() > mark ? &open_.back() : nullptr; }
  // close_tuple: the tuple of the fields pushed since `mark` (sorted by name), which
  // are popped.
  std::uint32_t close_tuple(std::size_t mark) {
    std::uint32_t t = tuple(std::span<const Field>(open_.data() + mark, open_.size() - mark));
    open_.resize(mark);
    return t;
  }

  // tuple: the fields are `fields` (sorted by name); copied into the arena.
  std::uint32_t tuple(std::span<const Field> fields) {
    const auto cnt = static_cast<std::uint32_t>(fields.size());
    std::uint64_t ts = 2ull * cnt;
    std::uint64_t sz = 2ull * cnt;
    for (const Field& f : fields) {
      ts += nodes_[f.type].type_size + f.name.size();
      sz += nodes_[f.type].size + f.name.size();
    }
    if (ts > kMax || sz + ts > kMax) return kErr;
    TypeNode n = make(Kind::kTuple, sz + ts, ts);
    n.a = static_cast<std::uint32_t>(fields_.size());
    n.b = cnt;
    fields_.insert(fields_.end(), fields.begin(), fields.end());
    return push(n);
  }

  // supertype: least_supertype_v2_1, for the arms reachable from deserialized values.
  std::uint32_t supertype(std::uint32_t a, std::uint32_t b) {
    const TypeNode A = nodes_[a];  // copies: recursion may grow nodes_
    const TypeNode B = nodes_[b];
    if (A.kind == Kind::kTuple && B.kind == Kind::kTuple) {
      // The result has A's keys, each of which must exist in B; keys only in B are
      // ignored (a quirk of the reference implementation, reproduced). Collected on
      // the open-field stack: the recursive calls build nested tuples above them.
      const std::size_t mark = open_mark();
      // Both key lists are sorted: one merge pass (the reference does a map lookup per
      // key; a scan per key would be quadratic in the tuple width).
      std::uint32_t j = 0;
      for (std::uint32_t i = 0; i < A.b; ++i) {
        const Field fa = fields_[A.a + i];
        auto before = [&](const Field& fb) {
          return std::lexicographical_compare(fb.name.begin(), fb.name.end(), fa.name.begin(), fa.name.end());
        };
        while (j < B.b && before(fields_[B.a + j])) ++j;
        if (j == B.b) return kErr;
        const Field& fb = fields_[B.a + j];
        if (!std::equal(fa.name.begin(), fa.name.end(), fb.name.begin(), fb.name.end())) return kErr;
        std::uint32_t t = supertype(fa.type, fb.type);
        if (t == kErr) return kErr;
        open_push(Field{fa.name, t});
        ++j;
      }
      return close_tuple(mark);
    }
    if (A.kind == Kind::kList && B.kind == Kind::kList) {
      std::uint32_t entry = A.len == 0 ? B.a : (B.len == 0 ? A.a : supertype(A.a, B.a));
      if (entry == kErr) return kErr;
      return list(entry, std::max(A.len, B.len));
    }
    if (A.kind == Kind::kResponse && B.kind == Kind::kResponse) {
      std::uint32_t ok = factor_out_no_type(A.a, B.a);
      if (ok == kErr) return kErr;
      std::uint32_t err = factor_out_no_type(A.b, B.b);
      if (err == kErr) return kErr;
      return response(ok, err);
    }
    if (A.kind == Kind::kOptional && B.kind == Kind::kOptional) {
      std::uint32_t some = factor_out_no_type(A.a, B.a);
      return some == kErr ? kErr : option(some);
    }
    if (A.kind == B.kind && (A.kind == Kind::kBuffer || A.kind == Kind::kAscii || A.kind == Kind::kUtf8))
      return A.len >= B.len ? a : b;
    if (A.kind == Kind::kNoType) return b;
    if (B.kind == Kind::kNoType) return a;
    if (A.kind == B.kind && (A.kind == Kind::kInt || A.kind == Kind::kUInt || A.kind == Kind::kBool ||
                             A.kind == Kind::kPrincipal))
      return a;
    return kErr;
  }

 private:
  std::uint32_t factor_out_no_type(std::uint32_t a, std::uint32_t b) {
    if (nodes_[a].kind == Kind::kNoType) return b;
    if (nodes_[b].kind == Kind::kNoType) return a;
    return supertype(a, b);
  }
  static TypeNode make(Kind k, std::uint64_t size, std::uint64_t type_size) {
    TypeNode n;
    n.kind = k;
    n.size = static_cast<std::uint32_t>(size);
    n.type_size = static_cast<std::uint32_t>(type_size);
    return n;
  }
  std::uint32_t push(const TypeNode& n) {
    if (budget_ != nullptr && nodes_.size() >= kFixedNodes) {
      if (*budget_ < sizeof(TypeNode)) {
        over_budget_ = true;
        return kErr;
      }
      *budget_ -= sizeof(TypeNode);
      charged_ += sizeof(TypeNode);
    }
    nodes_.push_back(n);
    return static_cast<std::uint32_t>(nodes_.size() - 1);
  }

  static constexpr std::size_t kFixedNodes = 6;
  std::vector<TypeNode> nodes_;
  std::vector<Field> fields_;
  std::vector<Field> open_;
  std::size_t* budget_ = nullptr;
  std::size_t charged_ = 0;
  bool over_budget_ = false;

 public:
  bool over_budget() const { return over_budget_; }
  // refund: the arena is scratch; give its charge back once the value is done.
  void refund() {
    if (budget_ != nullptr) *budget_ += charged_;
    charged_ = 0;
  }
};

bool ascii_char_ok(std::uint8_t c) {
  // Rust: is_ascii_alphanumeric || is_ascii_punctuation || is_ascii_whitespace
  return (c >= 0x20 && c <= 0x7e) || c == 0x09 || c == 0x0a || c == 0x0c || c == 0x0d;
}

// utf8_chars: number of code points of valid UTF-8 (Rust's rules: no overlongs, no
// surrogates, ≤ U+10FFFF), or -1.
long utf8_chars(ByteSpan s) {
  long n = 0;
  for (std::size_t i = 0; i < s.size(); ++n) {
    std::uint8_t c = s[i];
    if (c < 0x80) { ++i; continue; }
    std::size_t len;
    std::uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; }
    else return -1;
    if (i + len > s.size()) return -1;
    for (std::size_t k = 1; k < len; ++k) {
      std::uint8_t cc = s[i + k];
      if ((cc & 0xc0) != 0x80) return -1;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
      return -1;
    i += len;
  }
  return n;
}

constexpr int kMaxNested = kClarityMaxDepth - 1;  // containers around a leaf

std::uint32_t read_value(Reader& r, TypeArena& ta, int nested);

std::uint32_t read_len(Reader& r, std::uint32_t max, const char* what) {
  std::size_t at = r.pos();
  std::uint32_t n = r.u32();
  if (r.ok() && n > max) r.fail_at(at, Errc::kLimit, what);
  return r.ok() ? n : 0;
}

bool enter(Reader& r, std::size_t at, int nested) {
  if (nested + 1 > kMaxNested) {
    r.fail_at(at, Errc::kDepth, "Clarity value nested too deeply");
    return false;
  }
  return true;
}

std::uint32_t read_value(Reader& r, TypeArena& ta, int nested) {
  std::size_t at = r.pos();
  std::uint8_t prefix = r.u8();
  if (!r.ok()) return kErr;
  switch (prefix) {
    case 0x00:
    case 0x01:
      (void)r.take(16);
      return r.ok() ? (prefix == 0 ? TypeArena::kIntIdx : TypeArena::kUIntIdx) : kErr;
    case 0x02: {
      std::uint32_t n = read_len(r, kClarityMaxValueSize, "Clarity buffer longer than 1 MiB");
      (void)r.take(n);
      return r.ok() ? ta.sized(Kind::kBuffer, n) : kErr;
    }
    case 0x03:
    case 0x04: return TypeArena::kBoolIdx;
    case 0x05:
    case 0x06: {
      std::size_t vat = r.pos();
      std::uint8_t version = r.u8();
      if (r.ok() && version >= 32) r.fail_at(vat, Errc::kBadValue, "principal version >= 32");
      (void)r.take(20);
      if (prefix == 0x06) {
        std::string name;
        read_contract_name(r, name, kMaxContractNameLenInValue);
      }
      return r.ok() ? TypeArena::kPrincipalIdx : kErr;
    }
    case 0x07:
    case 0x08:
    case 0x0a: {
      if (!enter(r, at, nested)) return kErr;
      std::uint32_t inner = read_value(r, ta, nested + 1);
      if (inner == kErr) return kErr;
      std::uint32_t t;
      if (prefix == 0x0a) t = ta.option(inner);
      else if (prefix == 0x07) t = ta.response(inner, TypeArena::kNoTypeIdx);
      else t = ta.response(TypeArena::kNoTypeIdx, inner);
      if (t == kErr) r.fail_at(at, Errc::kLimit, "Clarity value too large");
      return t;
    }
    case 0x09: return TypeArena::kNoneIdx;
    case 0x0b: {
      std::size_t cat = r.pos();
      std::uint32_t n = read_len(r, kClarityMaxValueSize, "Clarity list longer than 1 Mi items");
      if (!r.ok()) return kErr;
      if (n > r.remaining()) {
        r.fail_at(cat, Errc::kTruncated, "Clarity list count exceeds input");
        return kErr;
      }
      if (n == 0) return ta.list(TypeArena::kNoTypeIdx, 0, false);
      if (!enter(r, at, nested)) return kErr;
      std::uint32_t entry = kErr;
      for (std::uint32_t i = 0; i < n; ++i) {
        std::uint32_t t = read_value(r, ta, nested + 1);
        if (t == kErr) return kErr;
        entry = (i == 0) ? t : ta.supertype(entry, t);
        if (entry == kErr) {
          r.fail_at(at, Errc::kBadValue, "Clarity list items have no common type");
          return kErr;
        }
      }
      std::uint32_t t = ta.list(entry, n);
      if (t == kErr) r.fail_at(at, Errc::kLimit, "Clarity list type too large");
      return t;
    }
    case 0x0c: {
      std::size_t cat = r.pos();
      std::uint32_t n = read_len(r, kClarityMaxValueSize, "Clarity tuple larger than 1 Mi fields");
      if (!r.ok()) return kErr;
      if (n == 0) {
        r.fail_at(cat, Errc::kBadValue, "empty Clarity tuple");
        return kErr;
      }
      if (n > r.remaining() / 2) {
        r.fail_at(cat, Errc::kTruncated, "Clarity tuple count exceeds input");
        return kErr;
      }
      if (!enter(r, at, nested)) return kErr;
      // Fields go on the arena's open-field stack: nested values build above them.
      const std::size_t mark = ta.open_mark();
      for (std::uint32_t i = 0; i < n; ++i) {
        std::size_t nat = r.pos();
        std::uint8_t len = r.u8();
        if (!r.ok()) return kErr;
        if (len > kMaxClarityNameLen) {
          r.fail_at(nat, Errc::kLimit, "Clarity name longer than 128");
          return kErr;
        }
        ByteSpan name = r.take(len);
        if (!r.ok()) return kErr;
        std::string_view nv(reinterpret_cast<const char*>(name.data()), name.size());
        if (!is_valid_clarity_name(nv)) {
          r.fail_at(nat, Errc::kBadValue, "invalid Clarity tuple key");
          return kErr;
        }
        if (const Field* last = ta.open_last(mark)) {
          ByteSpan prev = last->name;
          if (std::equal(prev.begin(), prev.end(), name.begin(), name.end())) {
            r.fail_at(nat, Errc::kDuplicate, "duplicate Clarity tuple key");
            return kErr;
          }
          if (!std::lexicographical_compare(prev.begin(), prev.end(), name.begin(), name.end())) {
            r.fail_at(nat, Errc::kNonCanonical, "Clarity tuple keys not in ascending order");
            return kErr;
          }
        }
        std::uint32_t t = read_value(r, ta, nested + 1);
        if (t == kErr) return kErr;
        ta.open_push(Field{name, t});
      }
      std::uint32_t t = ta.close_tuple(mark);
      if (t == kErr) r.fail_at(at, Errc::kLimit, "Clarity tuple type too large");
      return t;
    }
    case 0x0d: {
      std::uint32_t n = read_len(r, kClarityMaxValueSize, "Clarity string longer than 1 MiB");
      ByteSpan s = r.take(n);
      if (!r.ok()) return kErr;
      for (std::uint8_t c : s)
        if (!ascii_char_ok(c)) {
          r.fail_at(at, Errc::kBadValue, "invalid character in Clarity string-ascii");
          return kErr;
        }
      return ta.sized(Kind::kAscii, n);
    }
    case 0x0e: {
      std::uint32_t n = read_len(r, kClarityMaxValueSize, "Clarity string longer than 1 MiB");
      ByteSpan s = r.take(n);
      if (!r.ok()) return kErr;
      long chars = utf8_chars(s);
      if (chars < 0) {
        r.fail_at(at, Errc::kBadValue, "invalid UTF-8 in Clarity string-utf8");
        return kErr;
      }
      if (static_cast<std::uint64_t>(chars) * 4 > kMax) {
        r.fail_at(at, Errc::kLimit, "Clarity string-utf8 too long");
        return kErr;
      }
      return ta.sized(Kind::kUtf8, static_cast<std::uint32_t>(chars));
    }
    default: r.fail_at(at, Errc::kUnknownType, "unknown Clarity value type prefix"); return kErr;
  }
}


TypeArena& thread_arena() {
  thread_local TypeArena arena;
  return arena;
}

}  // namespace

void reserve_clarity_scratch() { thread_arena().reserve(); }

void read_clarity_value(Reader& r, ClarityValue& out) {
  TypeArena& arena = thread_arena();
  std::size_t start = r.pos();
  r.bounded(kClarityBoundValueSerializationBytes, [&](Reader& sub) {
    arena.reset(&sub.budget());
    if (read_value(sub, arena, 0) == kErr && sub.ok()) {
      if (arena.over_budget()) sub.fail_at(0, Errc::kLimit, "Clarity value needs too much memory to check");
      else sub.fail(Errc::kBadValue, "invalid Clarity value");
    }
    arena.refund();
  });
  if (!r.ok()) return;
  if (r.skimming()) return out.raw.clear();
  ByteSpan raw = r.input().subspan(start, r.pos() - start);
  out.raw.assign(raw.begin(), raw.end());
}

void write_clarity_value(Writer& w, const ClarityValue& v) { w.bytes(v.raw); }

// ---- rendering ----------------------------------------------------------------------

namespace {

struct Printer {
  Reader r;
  std::string out;
  std::size_t max_len;

  void put(std::string_view s) {
    if (out.size() < max_len) out.append(s.substr(0, max_len - out.size()));
  }
  void hex(ByteSpan s) {
    static constexpr char d[] = "0123456789abcdef";
    for (auto c : s) {
      char b[2] = {d[c >> 4], d[c & 15]};
      put(std::string_view(b, 2));
      if (out.size() >= max_len) return;
    }
  }
  void int128(ByteSpan s, bool is_signed) {
    __extension__ unsigned __int128 v = 0;
    for (auto c : s) v = (v << 8) | c;
    bool neg = is_signed && (s[0] & 0x80);
    if (neg) v = ~v + 1;
    char buf[48];
    int i = 47;
    buf[i] = '\0';
    do {
      buf[--i] = static_cast<char>('0' + static_cast<int>(v % 10));
      v /= 10;
    } while (v != 0);
    if (neg) buf[--i] = '-';
    if (!is_signed) put("u");
    put(buf + i);
  }
  void principal(bool contract) {
    std::uint8_t version = r.u8();
    ByteSpan h = r.take(20);
    char b[8];
    std::snprintf(b, sizeof b, "%u", version);
    put("'v");
    put(b);
    put(":");
    hex(h);
    if (contract) {
      ByteSpan n = r.take(r.u8());
      put(".");
      put(std::string_view(reinterpret_cast<const char*>(n.data()), n.size()));
    }
  }
  void value() {
    if (!r.ok() || out.size() >= max_len) return;
    std::uint8_t p = r.u8();
    switch (p) {
      case 0x00: case 0x01: int128(r.take(16), p == 0); break;
      case 0x02: put("0x"); hex(r.take(r.u32())); break;
      case 0x03: put("true"); break;
      case 0x04: put("false"); break;
      case 0x05: case 0x06: principal(p == 0x06); break;
      case 0x07: put("(ok "); value(); put(")"); break;
      case 0x08: put("(err "); value(); put(")"); break;
      case 0x09: put("none"); break;
      case 0x0a: put("(some "); value(); put(")"); break;
      case 0x0b: {
        std::uint32_t n = r.u32();
        put("(list");
        for (std::uint32_t i = 0; i < n && r.ok() && out.size() < max_len; ++i) {
          put(" ");
          value();
        }
        put(")");
        break;
      }
      case 0x0c: {
        std::uint32_t n = r.u32();
        put("(tuple");
        for (std::uint32_t i = 0; i < n && r.ok() && out.size() < max_len; ++i) {
          ByteSpan name = r.take(r.u8());
          put(" (");
          put(std::string_view(reinterpret_cast<const char*>(name.data()), name.size()));
          put(" ");
          value();
          put(")");
        }
        put(")");
        break;
      }
      case 0x0d: case 0x0e: {
        ByteSpan s = r.take(r.u32());
        put(p == 0x0e ? "u\"" : "\"");
        for (auto c : s) {
          if (c == '"' || c == '\\') { char e[2] = {'\\', static_cast<char>(c)}; put(std::string_view(e, 2)); }
          else if (c >= 0x20 && c != 0x7f) { char e = static_cast<char>(c); put(std::string_view(&e, 1)); }
          else { char e[8]; std::snprintf(e, sizeof e, "\\x%02x", c); put(e); }
        }
        put("\"");
        break;
      }
      default: put("?"); break;
    }
  }
};

}  // namespace

std::string clarity_repr(ByteSpan raw, std::size_t max_len) {
  Printer p{Reader(raw), {}, max_len};
  p.value();
  if (p.out.size() >= max_len) p.out += "…";
  return p.out;
}

}  // namespace relay::codec
