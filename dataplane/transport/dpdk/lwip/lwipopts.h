/* dataplane/transport/dpdk/lwip/lwipopts.h — how lwIP 2.1.3 is built for the DPDK
 * backend (issue 19). lwIP comes from Debian's source package (deploy/dev.sh fetches it
 * into a cache outside the tree); this file, arch/cc.h and lwip_hooks.h are ours.
 *
 * One stack instance, driven by one poll-mode thread: no OS layer, the raw API only,
 * no locking. Windows scaled for 2 MiB blocks over 100 ms paths (4 MiB each way per
 * connection); every pool is static (memp) or in lwIP's own heap, reserved at start:
 * relaying allocates nothing from the system. Received frames stay in their mbufs
 * (custom pbufs, dpdk_transport.cpp); sends reference the relay's shared buffers
 * (tcp_write without a copy). */
#ifndef RELAY_LWIPOPTS_H
#define RELAY_LWIPOPTS_H

/* ---- system: bare metal, one thread ---- */
#define NO_SYS                          1
#define SYS_LIGHTWEIGHT_PROT            0
#define LWIP_TIMERS                     1
#define LWIP_NETCONN                    0
#define LWIP_SOCKET                     0
#define LWIP_NETIF_API                  0
#define LWIP_TCPIP_CORE_LOCKING         0

/* ---- memory: lwIP's own heap (headers, ARP queue) and static pools ---- */
#define MEM_LIBC_MALLOC                 0
#define MEMP_MEM_MALLOC                 0
#define MEM_ALIGNMENT                   8
#define MEM_SIZE                        (24 * 1024 * 1024)
#define MEMP_NUM_TCP_PCB                6144   /* connections (max_conns ≤ 4096), half-open (≤ 1024) and closing ones */
#define MEMP_NUM_TCP_PCB_LISTEN         8
#define MEMP_NUM_TCP_SEG                65535  /* segments queued or unacked, every connection (memp counts in u16) */
#define MEMP_NUM_PBUF                   65535  /* PBUF_REF: the payload of every such segment */
#define MEMP_NUM_ARP_QUEUE              1024
#define MEMP_NUM_UDP_PCB                1
#define MEMP_NUM_RAW_PCB                1
#define MEMP_NUM_SYS_TIMEOUT            (LWIP_NUM_SYS_TIMEOUT_INTERNAL + 2)
#define PBUF_POOL_SIZE                  64     /* lwIP's own pool: unused (frames are mbufs) */
#define PBUF_POOL_BUFSIZE               1536
/* lwIP checks TCP_WND against its own pbuf pool; received frames live in mbufs here, so
 * that check does not apply (the mbuf pool is sized for the windows: mbufs_for()). */
#define LWIP_DISABLE_TCP_SANITY_CHECKS  1
#define LWIP_SUPPORT_CUSTOM_PBUF        1      /* received frames stay in their mbufs */
/* A frame waiting for ARP is copied unless its bytes are lwIP's own: a send's payload
 * (a PBUF_ROM over a shared buffer) may be freed while the query is pending. */
#define PBUF_NEEDS_COPY(p) (((p)->type_internal & PBUF_TYPE_FLAG_STRUCT_DATA_CONTIGUOUS) == 0)
#define PBUF_LINK_HLEN                  14
#define ETH_PAD_SIZE                    0

/* ---- link and IP: IPv4 on one Ethernet port ---- */
#define LWIP_ARP                        1
#define ARP_TABLE_SIZE                  512
#define ARP_QUEUEING                    1
#define ARP_QUEUE_LEN                   64
#define ETHARP_SUPPORT_STATIC_ENTRIES   0
#define LWIP_ETHERNET                   1
#define LWIP_IPV4                       1
#define LWIP_IPV6                       0
#define IP_FORWARD                      0
#define IP_REASSEMBLY                   0      /* TCP from Linux sets DF: fragments are an attack surface only */
#define IP_FRAG                         0      /* TCP never sends more than the MSS */
#define LWIP_ICMP                       1      /* echo requests to the relay's address are answered */
#define LWIP_RAW                        0
#define LWIP_UDP                        0
#define LWIP_DHCP                       0
#define LWIP_AUTOIP                     0
#define LWIP_IGMP                       0
#define LWIP_DNS                        0
#define LWIP_NETIF_STATUS_CALLBACK      0
#define LWIP_NETIF_LINK_CALLBACK        0
#define LWIP_SINGLE_NETIF               1
#define LWIP_NETIF_TX_SINGLE_PBUF       0

/* Checksums: made and checked in software (the virtual devices offload nothing; a
 * kernel peer on a veth must have its TX checksum offload off: MACHINE.md P2.7). */
#define CHECKSUM_GEN_IP                 1
#define CHECKSUM_GEN_TCP                1
#define CHECKSUM_GEN_ICMP               1
#define CHECKSUM_CHECK_IP               1
#define CHECKSUM_CHECK_TCP              1
#define CHECKSUM_CHECK_ICMP             1
#define LWIP_CHECKSUM_ON_COPY           0

/* ---- TCP ---- */
#define LWIP_TCP                        1
#define TCP_MSS                         1460
#define LWIP_WND_SCALE                  1
#define TCP_RCV_SCALE                   7      /* windows up to 8 MiB */
#define TCP_WND                         (4 * 1024 * 1024)
#define TCP_SND_BUF                     (4 * 1024 * 1024)
#define TCP_SND_QUEUELEN                (4 * TCP_SND_BUF / TCP_MSS)
#define TCP_SNDLOWAT                    (16 * TCP_MSS)
#define TCP_SNDQUEUELOWAT               (TCP_SND_QUEUELEN / 2)
#define TCP_WND_UPDATE_THRESHOLD        (16 * TCP_MSS)
#define TCP_QUEUE_OOSEQ                 1      /* keep what arrives past a loss */
#define TCP_OOSEQ_MAX_PBUFS             512    /* ... up to this much per connection (each is an mbuf) */
#define TCP_OOSEQ_MAX_BYTES             (512 * TCP_MSS)
#define LWIP_TCP_SACK_OUT               1      /* and say so (SACK blocks in our ACKs) */
#define LWIP_TCP_MAX_SACK_NUM           4
#define LWIP_TCP_TIMESTAMPS             1      /* RTT per segment on large windows (RFC 7323) */
#define LWIP_TCP_KEEPALIVE              1
/* No listen backlog: lwIP's counts half-open connections against at most 255 (a u8), and
 * a SYN flood of that many spoofed sources would shut the listener for the 20 s its
 * half-open pcbs live. The relay accepts every connection at once, and caps half-open
 * ones itself (LWIP_HOOK_TCP_INPACKET_PCB: oldest evicted first, a few per source). */
#define TCP_LISTEN_BACKLOG              0
#define TCP_MAXRTX                      12
#define TCP_SYNMAXRTX                   6
#define TCP_OVERSIZE                    0      /* sends never copy: nothing to grow into */
#define LWIP_TCP_PCB_NUM_EXT_ARGS       0
#define LWIP_CALLBACK_API               1
#define LWIP_EVENT_API                  0
/* The timer tick: delayed ACKs wait at most this (the transport also acknowledges what
 * each poll received at its end), retransmission timeouts count in twice this. */
#define TCP_TMR_INTERVAL                50
/* Random initial local ports; RFC 6528 initial sequence numbers (lwip_hooks.h). */
#define LWIP_RAND()                     relay_lwip_rand()
#define LWIP_HOOK_FILENAME              "lwip_hooks.h"
#define LWIP_HOOK_TCP_ISN(lip, lport, rip, rport) relay_lwip_tcp_isn((lip), (lport), (rip), (rport))
#define LWIP_HOOK_TCP_INPACKET_PCB(pcb, hdr, optlen, opt1len, opt2, p) \
  relay_lwip_tcp_inpacket((pcb), (hdr), (optlen), (opt1len), (opt2), (p))

/* ---- statistics (the transport reports them), no debugging output ---- */
#define LWIP_STATS                      1
#define LWIP_STATS_DISPLAY              0
#define LWIP_STATS_LARGE                1      /* 32-bit counters: u16 ones wrap within seconds */
#define LINK_STATS                      1
#define ETHARP_STATS                    1
#define IP_STATS                        1
#define IPFRAG_STATS                    1
#define ICMP_STATS                      1
#define TCP_STATS                       1
#define MEM_STATS                       1
#define MEMP_STATS                      1
#define SYS_STATS                       0
#define MIB2_STATS                      1      /* retransmitted segments */
#define UDP_STATS                       0
#define LWIP_DEBUG                      0

#endif /* RELAY_LWIPOPTS_H */
