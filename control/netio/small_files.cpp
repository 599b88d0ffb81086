#include "control/netio/small_files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

namespace relay::netio {

std::string read_small_file(const std::string& path, std::size_t max, bool& ok) {
  ok = false;
  std::ifstream f(path, std::ios::binary);
  if (!f) return {};
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (s.size() > max) return {};
  ok = true;
  return s;
}

bool write_private_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  const bool wrote = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!wrote || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

}  // namespace relay::netio
