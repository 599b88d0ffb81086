// tests/support/test_data.hpp — loading the committed vectors and real-data files.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "relay/base/hex.hpp"

namespace relay::test {

inline std::string data_path(const std::string& rel) { return std::string(RELAY_TEST_DATA_DIR) + "/" + rel; }

inline std::string read_text(const std::string& rel) {
  std::ifstream f(data_path(rel));
  EXPECT_TRUE(f.good()) << "missing test data file " << rel;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// TSV rows; with `header` the first line is skipped.
inline std::vector<std::vector<std::string>> read_tsv(const std::string& rel, bool header = false) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(read_text(rel));
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (first && header) {
      first = false;
      continue;
    }
    first = false;
    std::vector<std::string> cells;
    std::size_t start = 0;
    for (;;) {
      std::size_t tab = line.find('\t', start);
      cells.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
      if (tab == std::string::npos) break;
      start = tab + 1;
    }
    rows.push_back(std::move(cells));
  }
  return rows;
}

// TSV with a header row, as maps column → value.
inline std::vector<std::map<std::string, std::string>> read_tsv_records(const std::string& rel) {
  auto rows = read_tsv(rel, false);
  std::vector<std::map<std::string, std::string>> out;
  if (rows.empty()) return out;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    std::map<std::string, std::string> rec;
    for (std::size_t c = 0; c < rows[0].size() && c < rows[i].size(); ++c) rec[rows[0][c]] = rows[i][c];
    out.push_back(std::move(rec));
  }
  return out;
}

inline Bytes hex(const std::string& s) {
  auto b = from_hex(s);
  EXPECT_TRUE(b.has_value()) << "bad hex in test data: " << s.substr(0, 40);
  return b.value_or(Bytes{});
}

// named vector from VECTORS.md (section id such as "B1", "H4").
inline Bytes vec(const std::string& id) {
  static const auto table = [] {
    std::map<std::string, std::string> m;
    for (auto& r : read_tsv("vectors/named.tsv")) m[r[0]] = r[1];
    return m;
  }();
  auto it = table.find(id);
  EXPECT_NE(it, table.end()) << "no vector " << id;
  return it == table.end() ? Bytes{} : hex(it->second);
}

template <std::size_t N>
ByteArray<N> arr(const std::string& s) {
  auto a = array_from_hex<N>(s);
  EXPECT_TRUE(a.has_value()) << "bad fixed hex " << s;
  return a.value_or(ByteArray<N>{});
}

// json_field: the value of "name" in one flat JSON line (string, number or bool), without
// std::regex (libstdc++'s recursive matcher overflows the stack on 30 kB lines).
inline std::string json_field(const std::string& line, const std::string& name) {
  std::string key = "\"" + name + "\":";
  std::size_t at = line.find(key);
  if (at == std::string::npos) return "";
  at += key.size();
  while (at < line.size() && line[at] == ' ') ++at;
  if (at < line.size() && line[at] == '"') {
    std::size_t end = line.find('"', at + 1);
    return line.substr(at + 1, end - at - 1);
  }
  std::size_t end = line.find_first_of(",}", at);
  return line.substr(at, end - at);
}

inline std::string hx(ByteSpan s) { return to_hex(s); }
template <std::size_t N>
std::string hx(const ByteArray<N>& a) {
  return to_hex(a);
}

}  // namespace relay::test
