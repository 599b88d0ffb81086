/* dataplane/transport/dpdk/lwip/arch/cc.h — lwIP's platform header for the DPDK
 * backend: Linux, glibc's integer types and errno, a failed lwIP assertion logged and
 * fatal (an internal invariant, never reachable from a peer's bytes). */
#ifndef RELAY_LWIP_ARCH_CC_H
#define RELAY_LWIP_ARCH_CC_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>

#define LWIP_ERRNO_STDINCLUDE 1
#define LWIP_TIMEVAL_PRIVATE 0

#ifdef __cplusplus
extern "C" {
#endif
void relay_lwip_assert(const char* msg, int line, const char* file);
uint32_t relay_lwip_rand(void);
#ifdef __cplusplus
}
#endif

#define LWIP_PLATFORM_DIAG(x) do { (void)0; } while (0)
#define LWIP_PLATFORM_ASSERT(x) relay_lwip_assert((x), __LINE__, __FILE__)

#endif /* RELAY_LWIP_ARCH_CC_H */
