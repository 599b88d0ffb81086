// bench/micro/bench_data.hpp — the committed test vectors and real data, for benchmarks.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

#include "relay/base/hex.hpp"

namespace relay::bench {

inline std::string read_file(const std::string& rel) {
  std::ifstream f(std::string(RELAY_BENCH_DATA_DIR) + "/" + rel);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Column `col` (0-based) of the first data row whose first column starts with `key`
// (or of the first data row when key is empty), from a TSV with a header row.
inline Bytes tsv_hex(const std::string& rel, const std::string& key, std::size_t col) {
  std::istringstream in(read_file(rel));
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (!key.empty() && line.rfind(key, 0) != 0) continue;
    std::size_t start = 0;
    for (std::size_t c = 0; c < col; ++c) start = line.find('\t', start) + 1;
    std::string cell = line.substr(start, line.find('\t', start) - start);
    return from_hex(cell).value_or(Bytes{});
  }
  return {};
}

inline Bytes named_vector(const std::string& id) {
  std::istringstream in(read_file("vectors/named.tsv"));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(id + "\t", 0) == 0) return from_hex(line.substr(id.size() + 1)).value_or(Bytes{});
  return {};
}

}  // namespace relay::bench
