// control/netio/small_files.hpp — the small files the control plane keeps in its data dir
// (an onion service's key, an I2P destination, their addresses): read whole with a size
// cap, written whole or not at all, private to the relay's user.
#pragma once

#include <cstddef>
#include <string>

namespace relay::netio {

// read_small_file: the file's bytes; `ok` false when it cannot be read or is over `max`.
std::string read_small_file(const std::string& path, std::size_t max, bool& ok);
// write_private_file: `text` into `path`, mode 0600, through a temporary file renamed
// over it (fsynced): a crash leaves the old file or the new one, never half of one.
bool write_private_file(const std::string& path, const std::string& text);

}  // namespace relay::netio
