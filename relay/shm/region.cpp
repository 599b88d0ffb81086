#include "relay/shm/region.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace relay::shm {

namespace {
thread_local int g_last_errno = 0;

Result<Region> fail(const char* why) noexcept {
  g_last_errno = errno;
  return make_error(Errc::kIo, why);
}
}  // namespace

int Region::last_errno() noexcept { return g_last_errno; }

Region::Region(Region&& o) noexcept : base_(o.base_), size_(o.size_), populated_(o.populated_) {
  o.base_ = nullptr;
  o.size_ = 0;
  o.populated_ = false;
}

Region& Region::operator=(Region&& o) noexcept {
  if (this != &o) {
    if (base_ != nullptr) ::munmap(base_, size_);
    base_ = o.base_;
    size_ = o.size_;
    populated_ = o.populated_;
    o.base_ = nullptr;
    o.size_ = 0;
    o.populated_ = false;
  }
  return *this;
}

Region::~Region() {
  if (base_ != nullptr) ::munmap(base_, size_);
}

Result<Region> Region::create(const std::string& path, std::size_t size) noexcept {
  if (size == 0) return make_error(Errc::kBadValue, "region size is 0");
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return fail("cannot create region file");
  // Reserve every page now: on tmpfs a sparse file would turn "out of space" into a
  // SIGBUS at first touch, in whichever process touched it.
  if (int e = ::posix_fallocate(fd, 0, static_cast<off_t>(size)); e != 0) {
    errno = e;
    auto r = fail("cannot reserve space for the region file");
    ::close(fd);
    ::unlink(path.c_str());
    return r;
  }
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) {
    auto r = fail("cannot map region file");
    ::unlink(path.c_str());
    return r;
  }
  Region reg;
  reg.base_ = p;
  reg.size_ = size;
  return reg;
}

Result<Region> Region::open(const std::string& path, Touch touch) noexcept {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return fail("cannot open region file");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size <= 0) {
    auto r = fail("region file is empty or unreadable");
    ::close(fd);
    return r;
  }
  auto size = static_cast<std::size_t>(st.st_size);
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return fail("cannot map region file");
  Region reg;
  reg.base_ = p;
  reg.size_ = size;
  if (touch == Touch::kPopulate) {
    reg.populated_ = ::madvise(p, size, MADV_POPULATE_WRITE) == 0;
    if (!reg.populated_) g_last_errno = errno;  // (the caller logs it; the mapping works lazily)
  }
  return reg;
}

Result<Region> Region::anonymous(std::size_t size) noexcept {
  if (size == 0) return make_error(Errc::kBadValue, "region size is 0");
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return fail("cannot map anonymous shared memory");
  Region reg;
  reg.base_ = p;
  reg.size_ = size;
  return reg;
}

Status Region::remove(const std::string& path) noexcept {
  if (::unlink(path.c_str()) != 0) {
    g_last_errno = errno;
    return make_error(Errc::kIo, "cannot remove region file");
  }
  return Ok{};
}

}  // namespace relay::shm
