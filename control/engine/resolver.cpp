#include "control/engine/resolver.hpp"

#include "relay/net/address.hpp"

#include <arpa/inet.h>
#include <netdb.h>

#include <cstring>

namespace relay::ctl {

namespace {
std::optional<codec::Addr16> lookup(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_INET6;
  hints.ai_flags = AI_V4MAPPED | AI_ALL;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) return std::nullopt;
  codec::Addr16 a{};
  std::memcpy(a.data(), &reinterpret_cast<const sockaddr_in6*>(res->ai_addr)->sin6_addr, 16);
  ::freeaddrinfo(res);
  return a;
}
}  // namespace

Resolver::~Resolver() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void Resolver::request(const std::string& host) {
  {
    std::lock_guard<std::mutex> g(mu_);
    if (!in_flight_.insert(host).second) return;
    if (auto a = net::parse_addr(host)) {
      in_flight_.erase(host);
      done_.push_back(Answer{host, a});
      return;
    }
    queue_.push_back(host);
    if (!worker_.joinable()) worker_ = std::thread([this] { run(); });
  }
  cv_.notify_one();
}

bool Resolver::pending(const std::string& host) const {
  std::lock_guard<std::mutex> g(mu_);
  return in_flight_.count(host) != 0;
}

std::vector<Resolver::Answer> Resolver::take() {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<Answer> out;
  out.swap(done_);
  return out;
}

void Resolver::run() {
  std::unique_lock<std::mutex> lk(mu_);
  while (true) {
    cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    std::string host = std::move(queue_.front());
    queue_.pop_front();
    lk.unlock();
    auto a = lookup(host);
    lk.lock();
    in_flight_.erase(host);
    done_.push_back(Answer{std::move(host), a});
  }
}

}  // namespace relay::ctl
