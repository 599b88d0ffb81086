#include <gtest/gtest.h>

#include "relay/codec/clarity.hpp"

#include <chrono>
#include <cstdio>
#include "tests/support/test_data.hpp"

namespace relay::codec {
namespace {

using namespace relay::test;

Errc clarity_error(const Bytes& b) {
  Reader r(b);
  ClarityValue v;
  read_clarity_value(r, v);
  r.expect_end();
  return r.ok() ? Errc::kOk : r.error().code;
}
Errc clarity_error(const std::string& h) { return clarity_error(hex(h)); }

std::string int_v(int v) {  // Clarity int
  Bytes b(17, v < 0 ? 0xff : 0);
  b[0] = 0;
  b[16] = static_cast<std::uint8_t>(v);
  return hx(b);
}
std::string uint_v(unsigned v) {
  Bytes b(17, 0);
  b[0] = 1;
  b[16] = static_cast<std::uint8_t>(v);
  return hx(b);
}
std::string u32h(std::uint32_t v) {
  Bytes b(4);
  store_be32(b.data(), v);
  return hx(b);
}
std::string list(std::initializer_list<std::string> items) {
  std::string s = "0b" + u32h(static_cast<std::uint32_t>(items.size()));
  for (auto& i : items) s += i;
  return s;
}
std::string buff(std::size_t n) { return "02" + u32h(static_cast<std::uint32_t>(n)) + std::string(2 * n, 'a'); }
std::string name(const std::string& n) {
  Bytes b{static_cast<std::uint8_t>(n.size())};
  b.insert(b.end(), n.begin(), n.end());
  return hx(b);
}
std::string tuple(std::initializer_list<std::pair<std::string, std::string>> fields) {
  std::string s = "0c" + u32h(static_cast<std::uint32_t>(fields.size()));
  for (auto& f : fields) s += name(f.first) + f.second;
  return s;
}

TEST(Clarity, SerializationVectorsJ) {
  int n = 0;
  for (auto& r : read_tsv("vectors/j-clarity.tsv")) {
    ++n;
    Bytes b = hex(r[0]);
    bool invalid = r[1].rfind("invalid", 0) == 0;
    Reader rd(b);
    ClarityValue v;
    read_clarity_value(rd, v);
    rd.expect_end();
    EXPECT_EQ(rd.ok(), !invalid) << r[0] << " " << r[1];
    if (!invalid) {
      EXPECT_EQ(hx(v.raw), r[0]);
    }
  }
  EXPECT_EQ(n, 15);
  EXPECT_EQ(clarity_error("0bffffffffffffffffffffffffff"), Errc::kLimit);  // "Illegal list type"
  EXPECT_EQ(clarity_error("0cffffffffffffffffffffffffff"), Errc::kLimit);  // "Illegal tuple type"
  EXPECT_EQ(clarity_repr(hex(list({int_v(1), int_v(2), int_v(3), int_v(-4)}))), "(list 1 2 3 -4)");
}

TEST(Clarity, TupleKeysMustBeCanonical) {
  EXPECT_EQ(clarity_error("0c000000020362617a0906666f6f62617203"), Errc::kOk);
  EXPECT_EQ(clarity_error("0c0000000206666f6f626172030362617a09"), Errc::kNonCanonical);  // unsorted
  EXPECT_EQ(clarity_error("0c000000020362617a090362617a09"), Errc::kDuplicate);
  EXPECT_EQ(clarity_error("0c00000000"), Errc::kBadValue);  // empty tuple
  EXPECT_EQ(clarity_error("0c00000001032e2e2e09"), Errc::kBadValue);  // key "..." is not a Clarity name
}

TEST(Clarity, ListsNeedACommonSupertype) {
  EXPECT_EQ(clarity_error(list({int_v(1), uint_v(1)})), Errc::kBadValue);
  EXPECT_EQ(clarity_error(list({"09", "0a" + int_v(1)})), Errc::kOk);  // (list none (some 1))
  EXPECT_EQ(clarity_error(list({"07" + int_v(1), "07" + uint_v(1)})), Errc::kBadValue);
  EXPECT_EQ(clarity_error(list({"07" + int_v(1), "08" + uint_v(1)})), Errc::kOk);  // (response int uint)
  EXPECT_EQ(clarity_error(list({buff(1), buff(5), buff(0)})), Errc::kOk);
  EXPECT_EQ(clarity_error(list({list({}), list({int_v(1)})})), Errc::kOk);
  EXPECT_EQ(clarity_error(list({list({int_v(1)}), list({uint_v(1)})})), Errc::kBadValue);
  EXPECT_EQ(clarity_error(list({"03", "04"})), Errc::kOk);
  EXPECT_EQ(clarity_error(list({"03", "0d00000000"})), Errc::kBadValue);  // bool vs string
  // Tuples: the first tuple's keys must all be found in the next one (the reference
  // node's quirk: extra keys in the later tuple are ignored).
  EXPECT_EQ(clarity_error(list({tuple({{"a", int_v(1)}}), tuple({{"a", int_v(1)}, {"b", int_v(2)}})})), Errc::kOk);
  EXPECT_EQ(clarity_error(list({tuple({{"a", int_v(1)}, {"b", int_v(2)}}), tuple({{"a", int_v(1)}})})),
            Errc::kBadValue);
  // Tuples nested in tuples: the supertype of the outer tuple must keep its own fields
  // together while the inner supertypes are built (regression: found by the stacks.js
  // cross-check).
  auto inner = [](int v) { return tuple({{"x", int_v(v)}, {"y", uint_v(1)}}); };
  auto outer = [&](int v) { return tuple({{"a", inner(v)}, {"b", "03"}, {"c", inner(v + 1)}}); };
  EXPECT_EQ(clarity_error(list({outer(1), outer(2), outer(3)})), Errc::kOk);
}

TEST(Clarity, WideTuplesInListsAreLinear) {
  // Four ~60k-field tuples in a list: the supertype walk must be linear in the width
  // (the review found a quadratic scan: ~10^10 comparisons before any signature check).
  auto wide = [](std::uint32_t n) {
    std::string s = "0c" + u32h(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      char nm[16];
      std::snprintf(nm, sizeof nm, "k%05u", i);
      s += name(nm) + "03";
    }
    return s;
  };
  std::string w = wide(60000);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(clarity_error(list({w, w, w, w})), Errc::kLimit);  // type too large, found fast
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(secs, 20.0);  // a bound for hangs, not a timing measurement
  EXPECT_EQ(clarity_error(list({wide(50), wide(50)})), Errc::kOk);
}

TEST(Clarity, DepthLimit) {
  auto nested = [](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += "0a";
    return s + "03";
  };
  EXPECT_EQ(clarity_error(nested(15)), Errc::kOk);
  EXPECT_EQ(clarity_error(nested(16)), Errc::kDepth);
  std::string lists = "03";
  for (int i = 0; i < 15; ++i) lists = "0b00000001" + lists;
  EXPECT_EQ(clarity_error(lists), Errc::kOk);
  EXPECT_EQ(clarity_error("0b00000001" + lists), Errc::kDepth);
}

TEST(Clarity, SizeLimits) {
  EXPECT_EQ(clarity_error(buff(1024 * 1024)), Errc::kOk);
  EXPECT_EQ(clarity_error("02" + u32h(1024 * 1024 + 1)), Errc::kLimit);
  // (some (buff 1MiB)): 4 + 2^20 + 1 > MAX_VALUE_SIZE.
  EXPECT_EQ(clarity_error("0a" + buff(1024 * 1024)), Errc::kLimit);
  // A list's type is max entry size × length: two buffers of 600 kB and 1 byte type as
  // (list 2 (buff 600000)), which is too large even though the bytes are ~600 kB.
  EXPECT_EQ(clarity_error(list({buff(600000), buff(1)})), Errc::kLimit);
  EXPECT_EQ(clarity_error(list({buff(300000), buff(1)})), Errc::kOk);
  // string-utf8: 4 bytes per character counted against MAX_VALUE_SIZE.
  EXPECT_EQ(clarity_error("0e" + u32h(262144) + std::string(2 * 262144, '6')), Errc::kOk);
  EXPECT_EQ(clarity_error("0e" + u32h(262145) + std::string(2 * 262145, '6')), Errc::kLimit);
  // Length prefix far beyond the input: refused without allocating.
  EXPECT_EQ(clarity_error("0d000fffff41"), Errc::kTruncated);
}

TEST(Clarity, StringsAndPrincipals) {
  EXPECT_EQ(clarity_error("0d000000030a0d20"), Errc::kOk);  // LF, CR, space
  EXPECT_EQ(clarity_error("0d000000010b"), Errc::kBadValue);  // VT
  EXPECT_EQ(clarity_error("0d0000000180"), Errc::kBadValue);
  EXPECT_EQ(clarity_error("0e00000002c3a9"), Errc::kOk);      // é
  EXPECT_EQ(clarity_error("0e00000002c080"), Errc::kBadValue);  // overlong
  EXPECT_EQ(clarity_error("0e00000003eda080"), Errc::kBadValue);  // surrogate
  EXPECT_EQ(clarity_error("0e00000004f4908080"), Errc::kBadValue);  // above U+10FFFF
  EXPECT_EQ(clarity_error("05" "20" + std::string(40, '1')), Errc::kBadValue);  // version 32
  EXPECT_EQ(clarity_error("06" "1a" + std::string(40, '1') + "80" + std::string(256, '6')), Errc::kOk);
  EXPECT_EQ(clarity_error("06" "1a" + std::string(40, '1') + "81" + std::string(258, '6')), Errc::kLimit);
  EXPECT_EQ(clarity_error("0f"), Errc::kUnknownType);
}

}  // namespace
}  // namespace relay::codec
