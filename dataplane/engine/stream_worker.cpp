#include "dataplane/engine/stream_worker.hpp"

#include <pthread.h>
#include <sched.h>

#include <cerrno>

namespace relay::dp {

namespace {
inline void cpu_relax() noexcept { __builtin_ia32_pause(); }
}  // namespace

StreamWorker::StreamWorker(std::size_t slots, bool threaded, bool reserve)
    : check_(reserve ? validate::PushCheck::Reserve::kSignerChecks : validate::PushCheck::Reserve::kOnDemand),
      board_(threaded ? &epoch_ : nullptr) {
  for (std::size_t i = 0; i < slots; ++i) slots_.push_back(std::make_unique<Slot>());
  if (threaded) {
    worker_ = std::thread([this] { run(); });
    ::pthread_setname_np(worker_.native_handle(), "dp-stream");
  }
}

int pin_thread(pthread_t t, unsigned cpu) noexcept {
  if (cpu >= CPU_SETSIZE) return EINVAL;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return ::pthread_setaffinity_np(t, sizeof set, &set);
}

int StreamWorker::pin(unsigned cpu) noexcept {
  if (!threaded()) return ESRCH;
  return pin_thread(worker_.native_handle(), cpu);
}

StreamWorker::~StreamWorker() {
  stop_.store(true);
  epoch_.fetch_add(1);
  epoch_.notify_one();
  if (worker_.joinable()) worker_.join();
}

void StreamWorker::set_reward_set(std::span<const validate::RewardSetSigner> current,
                                  std::span<const validate::RewardSetSigner> previous) {
  std::lock_guard<std::mutex> g(check_mu_);
  check_.set_reward_set(current, previous);
}

StreamWorker::Slot* StreamWorker::acquire(const std::uint8_t* base, std::size_t size) noexcept {
  for (auto& sp : slots_) {
    Slot& s = *sp;
    if (s.in_use) continue;
    s.in_use = true;
    s.base = base;
    s.stream.begin(size);
    s.have.store(0, std::memory_order_relaxed);
    s.seen.store(0, std::memory_order_relaxed);
    s.active.store(true, std::memory_order_release);  // publishes base and the stream's start
    return &s;
  }
  return nullptr;
}

void StreamWorker::advance(Slot& s, std::size_t have) noexcept {
  std::lock_guard<std::mutex> g(check_mu_);
  s.stream.advance(ByteSpan(s.base, have), check_);
}

void StreamWorker::publish(Slot* s, std::size_t have) noexcept {
  if (!threaded()) {
    advance(*s, have);
    s->seen.store(have, std::memory_order_relaxed);
    return;
  }
  s->have.store(have, std::memory_order_release);
  epoch_.fetch_add(1, std::memory_order_release);
  epoch_.notify_one();
}

const validate::NakamotoStream& StreamWorker::finish(Slot* s) noexcept {
  const std::size_t want = s->have.load(std::memory_order_relaxed);
  if (!threaded()) return s->stream;
  for (;;) {
    if (s->seen.load(std::memory_order_acquire) == want) return s->stream;
    if (take(*s, kOwner)) {  // the worker is not at it: read the rest here
      if (s->seen.load(std::memory_order_relaxed) != want) {
        advance(*s, want);
        s->seen.store(want, std::memory_order_relaxed);
      }
      drop(*s);
      return s->stream;
    }
    cpu_relax();  // the worker is reading it now
  }
}

void StreamWorker::release(Slot* s) noexcept {
  s->active.store(false, std::memory_order_release);
  if (threaded())
    while (!take(*s, kOwner)) cpu_relax();  // the worker is out of the slot from here on
  s->stream.reset();
  drop(*s);
  s->in_use = false;
}

void StreamWorker::run() noexcept {
  // This thread decodes too: its decode scratch is reserved before the first block.
  codec::reserve_decode_scratch();
  while (!stop_.load(std::memory_order_acquire)) {
    const std::uint64_t e = epoch_.load(std::memory_order_acquire);
    bool progressed = board_.help();
    for (auto& sp : slots_) {
      Slot& s = *sp;
      if (!s.active.load(std::memory_order_acquire) || !take(s, kWorker)) continue;
      // Held: active is read again (a slot released meanwhile is left alone; one
      // acquired meanwhile has its base and stream set before active).
      if (s.active.load(std::memory_order_acquire)) {
        const std::size_t have = s.have.load(std::memory_order_acquire);
        if (have != s.seen.load(std::memory_order_relaxed)) {
          advance(s, have);
          s.seen.store(have, std::memory_order_release);
          progressed = true;
        }
      }
      drop(s);
      board_.help();  // what was posted while that stream's bytes were read
    }
    if (!progressed) epoch_.wait(e, std::memory_order_acquire);
  }
}

}  // namespace relay::dp
