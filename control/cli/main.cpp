// stacks-relay — the operator's command. This milestone: decode, keygen.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "control/cli/decode.hpp"
#include "control/cli/supervisor.hpp"
#include "control/gaia/token.hpp"
#include "control/netio/http_get.hpp"
#include "relay/config/process_start.hpp"
#include "relay/base/hex.hpp"
#include "relay/codec/limits.hpp"
#include "relay/crypto/secp256k1.hpp"

namespace {

constexpr std::size_t kMaxInputBytes = 2 * std::size_t{relay::codec::kMaxMessageLen} + 4096;  // hex text

// read_all: at most `cap` bytes from a stream; false if there were more.
bool read_all(std::istream& in, std::string& out, std::size_t cap) {
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    out.append(buf, static_cast<std::size_t>(in.gcount()));
    if (out.size() > cap) return false;
  }
  return true;
}

int fail_usage(const std::string& msg) {
  std::cerr << "stacks-relay: " << msg << "\n";
  return 1;
}

int cmd_decode(const std::string& kind_s, const std::string& input, bool binary, const std::string& reward_set_file,
               const std::string& consensus_hash, const std::string& slot_owner) {
  auto kind = relay::cli::parse_decode_kind(kind_s);
  if (!kind)
    return fail_usage("decode: unknown KIND '" + kind_s +
                      "' (message, tx, block, microblock, nakamoto-block, stackerdb-chunk)");
  std::string text;
  if (input.empty() || input == "-") {
    if (!read_all(std::cin, text, kMaxInputBytes)) return fail_usage("decode: input larger than any valid object");
  } else {
    text = input;
  }
  relay::Bytes bytes;
  if (binary) {
    bytes.assign(text.begin(), text.end());
  } else {
    auto b = relay::from_hex(text);
    if (!b) return fail_usage("decode: input is not hex (use --bin for raw bytes on stdin)");
    bytes = std::move(*b);
  }
  relay::cli::DecodeOptions opts;
  if (!reward_set_file.empty()) {
    std::ifstream f(reward_set_file);
    if (!f) return fail_usage("decode: cannot read reward set file " + reward_set_file);
    std::string rs;
    if (!read_all(f, rs, 64 << 20)) return fail_usage("decode: reward set file too large");
    std::string err;
    opts.reward_set = relay::cli::parse_reward_set(rs, err);
    if (!opts.reward_set) return fail_usage("decode: reward set " + reward_set_file + ": " + err);
  }
  if (!consensus_hash.empty()) {
    opts.consensus_hash = relay::array_from_hex<20>(consensus_hash);
    if (!opts.consensus_hash) return fail_usage("decode: --consensus-hash needs 20 bytes of hex");
  }
  if (!slot_owner.empty()) {
    opts.slot_owner = relay::array_from_hex<20>(slot_owner);
    if (!opts.slot_owner) return fail_usage("decode: --slot-owner needs a 20-byte hash160 in hex");
  }
  auto r = relay::cli::decode_to_json(*kind, bytes, opts);
  if (r.status != 0) {
    std::cerr << "stacks-relay: decode " << kind_s << ": " << r.error << "\n";
    return r.status;
  }
  std::cout << r.json << "\n";
  return 0;
}

int cmd_keygen(const std::string& out_file) {
  auto key = relay::crypto::SecretKey::generate();
  if (!key) return fail_usage("keygen: the OS random source failed");
  auto pub = key->public_key().compressed();
  std::string priv = relay::to_hex(key->bytes());
  if (!out_file.empty()) {
    int fd = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) return fail_usage("keygen: cannot create " + out_file + " (exists, or no permission)");
    std::string line = priv + "\n";
    bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    ok &= ::close(fd) == 0;
    if (!ok) return fail_usage("keygen: write to " + out_file + " failed");
  }
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  if (out_file.empty()) j["private_key"] = priv;  // with --out the key only goes to the file
  j["public_key"] = relay::to_hex(pub);
  j["public_key_hash"] = relay::to_hex(relay::crypto::hash160(relay::ByteSpan(pub.data(), pub.size())));
  if (!out_file.empty()) j["written_to"] = out_file;  // a path that is not UTF-8: U+FFFD for its bad bytes
  std::cout << j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
  return 0;
}

// stacks-relay gaia: the Gaia mirror's bucket (the address a hub's whitelist names) and,
// with --token, a write token from the hub's hub_info (to try the hub by hand with curl).
// The key is the one the relay uses: gaia.key_file, else <data_dir>/gaia.key (made here
// when missing, as the relay would).
int cmd_gaia(const relay::config::CommonArgs& args, bool want_token) {
  using namespace relay;
  std::string err;
  auto cfg = config::load_config(args, err);
  if (!cfg) {
    std::fprintf(stderr, "stacks-relay gaia: configuration: %s\n", err.c_str());
    return 2;
  }
  if (cfg->gaia_key_file.empty()) (void)config::make_dirs(cfg->data_dir);
  auto key = config::load_identity_key(cfg->gaia_key_path(), true, err);
  if (!key) {
    std::fprintf(stderr, "stacks-relay gaia: %s\n", err.c_str());
    return 2;
  }
  nlohmann::ordered_json j;
  j["hub_url"] = cfg->gaia_hub_url;
  j["key_file"] = cfg->gaia_key_path();
  j["public_key"] = to_hex(key->public_key().compressed());
  j["bucket"] = gaia::bucket_address(key->public_key());
  j["path_prefix"] = cfg->gaia_prefix;
  if (want_token) {
    if (cfg->gaia_hub_url.empty()) {
      std::fprintf(stderr, "stacks-relay gaia: --token needs gaia.hub_url\n");
      return 2;
    }
    netio::HttpGetOptions o;
    o.proxy = cfg->proxy;
    o.onion_proxy = cfg->onion_proxy;
    o.timeout_s = cfg->gaia_timeout_s;
    const auto r = netio::http_get(o, cfg->gaia_hub_url + "/hub_info");
    const auto info = nlohmann::json::parse(r.body, nullptr, false);
    if (r.status != 200 || !info.is_object() || !info.contains("challenge_text") || !info["challenge_text"].is_string()) {
      std::fprintf(stderr, "stacks-relay gaia: %s/hub_info: %s\n", cfg->gaia_hub_url.c_str(),
                   r.status == 0 ? r.error.c_str() : ("HTTP " + std::to_string(r.status) + ", no challenge_text").c_str());
      return 1;
    }
    gaia::TokenClaims c;
    c.challenge = info["challenge_text"].get<std::string>();
    c.hub_url = cfg->gaia_hub_url;
    c.iat = static_cast<std::int64_t>(::time(nullptr));
    c.exp = c.iat + 3600;
    crypto::fill_random(c.salt.data(), c.salt.size());
    if (info.contains("read_url_prefix") && info["read_url_prefix"].is_string())
      j["read_url"] = info["read_url_prefix"].get<std::string>() + j["bucket"].get<std::string>() + "/";
    j["token"] = gaia::make_token(*key, c);
    j["expires"] = c.exp;
  }
  std::cout << j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"stacks-relay: a relay appliance for the Stacks peer network"};
  app.set_version_flag("--version", "stacks-relay 0.1.0");
  app.require_subcommand(1);

  std::string kind, input, reward_set, consensus_hash, slot_owner;
  bool binary = false;
  auto* decode = app.add_subcommand("decode", "Decode a Stacks wire object and print it as JSON");
  decode->add_option("KIND", kind, "message | tx | block | microblock | nakamoto-block | stackerdb-chunk")->required();
  decode->add_option("INPUT", input, "hex bytes, or - (default) to read standard input");
  decode->add_flag("--bin", binary, "standard input holds raw bytes, not hex");
  decode->add_option("--reward-set", reward_set,
                     "nakamoto-block: check signer signatures against this reward set (node JSON or 'KEY WEIGHT' lines)");
  decode->add_option("--consensus-hash", consensus_hash, "block: compute the index block hash with this consensus hash");
  decode->add_option("--slot-owner", slot_owner, "stackerdb-chunk: hash160 the chunk signature must recover to");

  std::string key_out;
  auto* keygen = app.add_subcommand("keygen", "Create a new node identity key");
  keygen->add_option("--out", key_out, "also write the private key (hex) to this new file, mode 0600");

  relay::config::CommonArgs run_args;
  auto* run = app.add_subcommand("run", "Run the relay: start its two processes, restart one that dies, stop on SIGINT/SIGTERM");
  relay::config::add_common_options(*run, run_args);

  relay::config::CommonArgs shm_args;
  std::string shm_action;
  auto* shm_cmd = app.add_subcommand("shm", "Create or remove the shared region (when a service manager runs the two processes)");
  shm_cmd->add_option("ACTION", shm_action, "create | remove")->required()->check(CLI::IsMember({"create", "remove"}));
  relay::config::add_common_options(*shm_cmd, shm_args);

  relay::config::CommonArgs status_args;
  bool status_watch = false;
  auto* status = app.add_subcommand("status", "Print the running relay's dataplane counters");
  relay::config::add_common_options(*status, status_args);
  status->add_flag("--watch", status_watch, "print them again every --stats-interval seconds (default 10)");

  relay::config::CommonArgs gaia_args;
  bool gaia_token = false;
  auto* gaia_cmd = app.add_subcommand("gaia", "Print the Gaia mirror's bucket address (and with --token, a write token for the hub)");
  relay::config::add_common_options(*gaia_cmd, gaia_args);
  gaia_cmd->add_flag("--token", gaia_token, "ask the hub (gaia.hub_url) for its challenge and print a token valid for an hour");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }
  if (*decode) return cmd_decode(kind, input, binary, reward_set, consensus_hash, slot_owner);
  if (*keygen) return cmd_keygen(key_out);
  if (*run) return relay::cli::cmd_run(run_args);
  if (*shm_cmd) return relay::cli::cmd_shm(shm_args, shm_action == "create");
  if (*status) return relay::cli::cmd_status(status_args, status_watch);
  if (*gaia_cmd) return cmd_gaia(gaia_args, gaia_token);
  return 1;
}
