/* dataplane/transport/dpdk/lwip/lwip_hooks.h — the hooks lwIP calls into the relay
 * (dataplane/transport/dpdk/lwip_sys.cpp): randomness, and RFC 6528 initial sequence
 * numbers (lwIP's own just count up, which lets an off-path attacker guess them). */
#ifndef RELAY_LWIP_HOOKS_H
#define RELAY_LWIP_HOOKS_H

#include "lwip/arch.h"
#include "lwip/ip_addr.h"

#ifdef __cplusplus
extern "C" {
#endif
u32_t relay_lwip_tcp_isn(const ip_addr_t* local_ip, u16_t local_port, const ip_addr_t* remote_ip, u16_t remote_port);
#ifdef __cplusplus
}
#endif

#endif /* RELAY_LWIP_HOOKS_H */
