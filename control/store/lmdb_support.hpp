// control/store/lmdb_support.hpp — the small pieces every LMDB user in the control plane
// needs (the block store, the Gaia outbox): values over memory, big-endian u64 keys that
// sort as numbers, an error from an LMDB return code, and a write transaction that aborts
// unless committed.
#pragma once

#include <lmdb.h>

#include <cstddef>
#include <cstdint>

#include "relay/base/result.hpp"

namespace relay::store::lmdb {

inline Error error(int rc) { return make_error(Errc::kIo, mdb_strerror(rc), static_cast<std::uint32_t>(rc)); }

inline MDB_val val(const void* p, std::size_t n) {
  MDB_val v;
  v.mv_size = n;
  v.mv_data = const_cast<void*>(p);
  return v;
}

inline void put_u64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (56 - 8 * i));
}
inline std::uint64_t get_u64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

// TxnGuard: aborts its transaction unless committed.
struct TxnGuard {
  MDB_txn* txn = nullptr;
  TxnGuard() = default;
  TxnGuard(const TxnGuard&) = delete;
  TxnGuard& operator=(const TxnGuard&) = delete;
  ~TxnGuard() {
    if (txn != nullptr) mdb_txn_abort(txn);
  }
  int commit() {
    int rc = mdb_txn_commit(txn);
    txn = nullptr;
    return rc;
  }
};

}  // namespace relay::store::lmdb
