// bench/suite/format.hpp — one double through a printf format (the suite's tables, notes
// and targets; every format is a literal at its call).
#pragma once

#include <cstdio>
#include <string>

namespace relay::bench {

inline std::string fmt(const char* f, double v) {
  char b[64];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  std::snprintf(b, sizeof b, f, v);
#pragma GCC diagnostic pop
  return b;
}

}  // namespace relay::bench
