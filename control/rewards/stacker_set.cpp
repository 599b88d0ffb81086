#include "control/rewards/stacker_set.hpp"

#include <cstdint>
#include <nlohmann/json.hpp>

#include "relay/base/hex.hpp"

namespace relay::rewards {

std::optional<Signers> parse_stacker_set(std::string_view json, std::string& err) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return err = "not a JSON object", std::nullopt;
  auto ss = j.find("stacker_set");
  if (ss == j.end() || !ss->is_object()) return err = "no stacker_set", std::nullopt;
  auto sg = ss->find("signers");
  if (sg == ss->end() || !sg->is_array()) return err = "no stacker_set.signers", std::nullopt;
  Signers out;
  for (const auto& s : *sg) {
    if (!s.is_object() || !s.contains("signing_key") || !s["signing_key"].is_string() || !s.contains("weight") ||
        !s["weight"].is_number_unsigned())
      return err = "a signer without signing_key (hex) and weight", std::nullopt;
    std::string k = s["signing_key"].get<std::string>();
    if (k.rfind("0x", 0) == 0) k = k.substr(2);
    auto key = array_from_hex<33>(k);
    const auto w = s["weight"].get<std::uint64_t>();
    if (!key || w == 0 || w > UINT32_MAX) return err = "a signer with a bad signing_key or weight", std::nullopt;
    out.push_back({*key, static_cast<std::uint32_t>(w)});
  }
  if (out.empty()) return err = "the stacker set is empty", std::nullopt;
  return out;
}

}  // namespace relay::rewards
