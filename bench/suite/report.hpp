// bench/suite/report.hpp — a run's results as one JSON file and one self-contained HTML
// report (tables, pass/fail targets, SVG charts; no scripts, no external resources).
#pragma once

#include <string>

#include "bench/suite/scenarios.hpp"

namespace relay::bench {

std::string to_json(const SuiteResult& r);
std::string to_html(const SuiteResult& r);

}  // namespace relay::bench
