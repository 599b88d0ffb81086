// stacks-relay-bench-reference — the benchmark's stacks-core baseline as a dataplane
// process (stacks_core_fanout.hpp). stacks-relay-bench runs it under `stacks-relay run`
// in place of stacks-relay-dataplane; it takes the same options.
#include "bench/reference/stacks_core_fanout.hpp"
#include "dataplane/dataplane_main.hpp"

int main(int argc, char** argv) {
  return relay::dp::dataplane_main<relay::bench::StacksCoreFanout>(
      argc, argv,
      {"stacks-relay-dataplane", "stacks-relay-bench-reference: the benchmark's stacks-core baseline dataplane",
       "REFERENCE ALGORITHM (a benchmark baseline): every forward is hashed and signed per recipient after the whole "
       "push arrived, as stacks-core does; not for production",
       relay::bench::reference_options});
}
