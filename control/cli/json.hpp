// control/cli/json.hpp — a small streaming JSON writer for command output.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "relay/base/hex.hpp"

namespace relay::cli {

class Json {
 public:
  Json& begin_object();
  Json& end_object();
  Json& begin_array();
  Json& end_array();
  Json& key(std::string_view k);
  Json& str(std::string_view v);
  Json& num(std::uint64_t v);
  Json& real(double v);  // %.6g; NaN and infinities as null
  Json& boolean(bool v);
  Json& null();
  Json& hex(ByteSpan b) { return str(to_hex(b)); }
  template <std::size_t N>
  Json& hex(const ByteArray<N>& a) {
    return str(to_hex(a));
  }
  // kv helpers
  Json& kv(std::string_view k, std::string_view v) { return key(k).str(v); }
  Json& kv(std::string_view k, const char* v) { return key(k).str(v); }
  Json& kv(std::string_view k, std::uint64_t v) { return key(k).num(v); }
  Json& kv_bool(std::string_view k, bool v) { return key(k).boolean(v); }
  Json& kv_real(std::string_view k, double v) { return key(k).real(v); }
  template <std::size_t N>
  Json& kv_hex(std::string_view k, const ByteArray<N>& a) {
    return key(k).hex(a);
  }
  Json& kv_hex(std::string_view k, ByteSpan b) { return key(k).hex(b); }

  const std::string& text() const { return out_; }

 private:
  void comma();
  void quote(std::string_view v);
  std::string out_;
  std::vector<bool> first_;  // per open container: no element written yet
  bool after_key_ = false;
};

}  // namespace relay::cli
