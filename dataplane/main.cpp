// stacks-relay-dataplane — the relay's fast half (dataplane_main.hpp), relaying with the
// shipping fanout: our forward hashed while the push arrives, signed once, the same
// bytes to every peer.
#include "dataplane/dataplane_main.hpp"

int main(int argc, char** argv) {
  return relay::dp::dataplane_main<relay::dp::SignOnce>(
      argc, argv,
      {"stacks-relay-dataplane", "stacks-relay-dataplane: relays Stacks p2p pushes (started by `stacks-relay run`)", nullptr,
       nullptr});
}
