/* dataplane/transport/dpdk/xdp/relay_steer.bpf.c — the XDP program the DPDK backend
 * attaches to an AF_XDP port (issue 19): only the relay's own traffic leaves the kernel.
 *
 * A frame goes to the relay's AF_XDP socket on its queue when it is an IPv4 packet to
 * the relay's address (TCP, and ICMP: ping is answered by the relay) or an ARP packet
 * asking for or answering to that address. Everything else — the host's own address,
 * IPv6, other protocols — goes on to the kernel (XDP_PASS), so the host stays reachable
 * on the same NIC. Until the relay has written its address into `relay_addr` (or when no
 * socket is bound to the queue), every frame goes to the kernel.
 *
 * Built with clang -target bpf at build time, embedded in the dataplane, handed to
 * DPDK's net_af_xdp driver (its xdp_prog argument), which binds its socket in xsks_map. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_XSKMAP);
  __uint(max_entries, 64);
  __type(key, __u32);
  __type(value, __u32);
} xsks_map SEC(".maps");

/* relay_addr[0]: the relay's IPv4 address, network byte order (0: not yet). */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} relay_addr SEC(".maps");

struct arp_ipv4 {
  __be16 htype;
  __be16 ptype;
  __u8 hlen;
  __u8 plen;
  __be16 op;
  __u8 sha[ETH_ALEN];
  __be32 spa;
  __u8 tha[ETH_ALEN];
  __be32 tpa;
} __attribute__((packed));

SEC("xdp")
int relay_steer(struct xdp_md* ctx) {
  void* data = (void*)(long)ctx->data;
  void* end = (void*)(long)ctx->data_end;
  struct ethhdr* eth = data;
  if ((void*)(eth + 1) > end) return XDP_PASS;
  __u32 key = 0;
  __u32* mine = bpf_map_lookup_elem(&relay_addr, &key);
  if (mine == 0 || *mine == 0) return XDP_PASS;
  if (eth->h_proto == bpf_htons(ETH_P_IP)) {
    struct iphdr* ip = (void*)(eth + 1);
    if ((void*)(ip + 1) > end || ip->daddr != *mine) return XDP_PASS;
  } else if (eth->h_proto == bpf_htons(ETH_P_ARP)) {
    struct arp_ipv4* arp = (void*)(eth + 1);
    if ((void*)(arp + 1) > end || arp->ptype != bpf_htons(ETH_P_IP) || arp->tpa != *mine) return XDP_PASS;
  } else {
    return XDP_PASS;
  }
  return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "Dual BSD/GPL";
