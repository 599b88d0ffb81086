// tests/support/nginx.hpp — nginx (Debian's, installed by ./deploy/dev.sh deps) started by
// a test with one of deploy/'s http{}-level snippets, its @PLACEHOLDERS@ filled in; and
// the small HTTP helpers those tests share.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <thread>

#include "tests/support/launch/netns.hpp"
#include "tests/support/loopback.hpp"

namespace relay::test {

inline std::string http_get_close(std::uint16_t port, const std::string& path) {
  return http_exchange(port, "GET " + path + " HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n");
}
inline std::string header_of(const std::string& response, const std::string& name) {
  const auto at = response.find("\r\n" + name + ": ");
  if (at == std::string::npos) return "";
  const auto from = at + name.size() + 4;
  return response.substr(from, response.find("\r\n", from) - from);
}
inline std::string body_of(const std::string& response) {
  const auto at = response.find("\r\n\r\n");
  return at == std::string::npos ? std::string() : response.substr(at + 4);
}

// Nginx: one nginx (a master and one worker) in `dir`, serving the deploy/ snippet at
// `snippet_path` with `fill`'s placeholders replaced; on 127.0.0.1:port() (@LISTEN@ is
// filled in here). Stopped (SIGTERM, by its PID) when destroyed.
class Nginx {
 public:
  // (`port`: where it listens; 0: a free one.)
  Nginx(const std::string& dir, const std::string& snippet_path, std::map<std::string, std::string> fill, std::uint16_t port = 0)
      : dir_(dir) {
    port_ = port != 0 ? port : free_port();
    std::ifstream tf(snippet_path);
    std::string snippet((std::istreambuf_iterator<char>(tf)), std::istreambuf_iterator<char>());
    EXPECT_FALSE(snippet.empty()) << snippet_path;
    fill["LISTEN"] = "127.0.0.1:" + std::to_string(port_);
    fill["CACHE"] = dir + "/cache";
    for (const auto& [k, v] : fill) snippet = std::regex_replace(snippet, std::regex("@" + k + "@"), v);
    EXPECT_EQ(snippet.find('@'), std::string::npos) << "a placeholder left: " << snippet;
    (void)std::system(("mkdir -p " + dir + "/cache " + dir + "/tmp && chmod 0777 " + dir + "/cache " + dir + "/tmp").c_str());
    std::ofstream(dir + "/snippet.conf") << snippet;
    std::ofstream(dir + "/nginx.conf") << "daemon off;\nworker_processes 1;\npid " << dir << "/nginx.pid;\nerror_log " << dir
                                       << "/error.log;\nevents { worker_connections 512; }\nhttp {\n  access_log off;\n"
                                       << "  client_body_temp_path " << dir << "/tmp; proxy_temp_path " << dir << "/tmp;\n"
                                       << "  include " << dir << "/snippet.conf;\n}\n";
    ok_ = child_.start({{"/usr/sbin/nginx", "-c", dir + "/nginx.conf", "-p", dir}, "", dir + "/nginx.stderr"});
  }
  ~Nginx() {
    if (child_.running()) (void)child_.terminate();
  }
  Nginx(const Nginx&) = delete;
  Nginx& operator=(const Nginx&) = delete;

  std::uint16_t port() const { return port_; }
  // wait_listening: true once it accepts connections (within `ms`).
  bool wait_listening(int ms) {
    for (int waited = 0; ok_ && waited < ms; waited += 20) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port_);
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      ::close(fd);
      if (up) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  std::string logs() const { return launch::file_text(dir_ + "/nginx.stderr") + launch::file_text(dir_ + "/error.log"); }
  int stop() { return child_.terminate(); }

 private:
  std::string dir_;
  std::uint16_t port_ = 0;
  bool ok_ = false;
  launch::Child child_;
};

}  // namespace relay::test
