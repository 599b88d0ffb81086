/* dataplane/transport/dpdk/lwip/lwip_hooks.h — the hooks lwIP calls into the relay
 * (dataplane/transport/dpdk/lwip_sys.cpp): randomness, and RFC 6528 initial sequence
 * numbers (lwIP's own just count up, which lets an off-path attacker guess them); and
 * (dpdk_transport.cpp) the admission of SYNs, against SYN floods. */
#ifndef RELAY_LWIP_HOOKS_H
#define RELAY_LWIP_HOOKS_H

#include "lwip/arch.h"
#include "lwip/ip_addr.h"

#ifdef __cplusplus
extern "C" {
#endif
u32_t relay_lwip_tcp_isn(const ip_addr_t* local_ip, u16_t local_port, const ip_addr_t* remote_ip, u16_t remote_port);
struct tcp_pcb;
struct tcp_hdr;
struct pbuf;
/* Every TCP segment that matched a pcb, before lwIP handles it: SYNs to a listener are
 * admitted here (dpdk_transport.cpp: the half-open limits); anything else passes. */
signed char relay_lwip_tcp_inpacket(struct tcp_pcb* pcb, struct tcp_hdr* hdr, u16_t optlen, u16_t opt1len, u8_t* opt2,
                                    struct pbuf* p);
#ifdef __cplusplus
}
#endif

#endif /* RELAY_LWIP_HOOKS_H */
