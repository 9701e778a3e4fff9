/*
 * net/arp.h - the Address Resolution Protocol for IPv4 over Ethernet (RFC 826), with IPv4
 * address conflict detection (RFC 5227).
 *
 * The cache is a fixed table: ARP_CACHE_SIZE entries. Resolving an address queues at most
 * ARP_QUEUE_LEN packets on its entry and asks ARP_MAX_TRIES times, ARP_RETRY_NS apart
 * (RFC 1122 2.3.2.1: at most one request per second per address); when no answer comes the
 * queued packets are dropped and counted. An answer is fresh (REACHABLE) for ARP_REACHABLE_NS
 * (arp_reachable_ms= on the command line); after that the entry is STALE but still used, and
 * its next use re-confirms it with requests unicast to the known MAC (POLLING, RFC 1122
 * 2.3.2.1 "unicast poll"); only ARP_MAX_TRIES unanswered polls remove it.
 *
 * Address conflict detection, RFC 5227: arp_probe() below (2.1.1); announcements
 * (arp_announce, 2.3); defence of our address (2.4, arp_set_conflict_handler).
 */
#ifndef NET_ARP_H
#define NET_ARP_H

#include "kernel/time.h"
#include "net/byteorder.h"
#include "net/net_stats.h"
#include "net/netdev.h"

#define ARPHRD_ETHER 1
#define ARPOP_REQUEST 1
#define ARPOP_REPLY 2

#define ARP_CACHE_SIZE 32
#define ARP_MAX_INCOMPLETE (ARP_CACHE_SIZE / 2) /* resolutions in progress at once */
#define ARP_QUEUE_LEN 8
#define ARP_MAX_TRIES 3
#define ARP_RETRY_NS (1000ull * 1000 * 1000)
#define ARP_REACHABLE_NS (60ull * 1000 * 1000 * 1000)
#define ARP_REACHABLE_MIN_MS 100u     /* the range arp_reachable_ms= accepts */
#define ARP_REACHABLE_MAX_MS 3600000u

/* RFC 5227 1.1's constants */
#define ARP_PROBE_WAIT_NS (1 * NSEC_PER_SEC)        /* initial random delay */
#define ARP_PROBE_NUM 3                              /* number of probe packets */
#define ARP_PROBE_MIN_NS (1 * NSEC_PER_SEC)         /* minimum delay until repeated probe */
#define ARP_PROBE_MAX_NS (2 * NSEC_PER_SEC)         /* maximum delay until repeated probe */
#define ARP_ANNOUNCE_WAIT_NS (2 * NSEC_PER_SEC)     /* delay before announcing */
#define ARP_ANNOUNCE_NUM 2                           /* number of announcement packets */
#define ARP_ANNOUNCE_INTERVAL_NS (2 * NSEC_PER_SEC) /* time between announcement packets */
#define ARP_MAX_CONFLICTS 10                         /* before rate limiting */
#define ARP_RATE_LIMIT_INTERVAL_NS (60 * NSEC_PER_SEC) /* delay between successive attempts */
#define ARP_DEFEND_INTERVAL_NS (10 * NSEC_PER_SEC)  /* minimum interval between defensive ARPs */

/* RFC 826 "Packet format", for Ethernet hardware and IPv4 protocol addresses. */
struct arphdr_eth {
	be16 ar_hrd;           /* hardware type: 1 = Ethernet */
	be16 ar_pro;           /* protocol type: 0x0800 = IPv4 */
	u8 ar_hln;             /* hardware address length: 6 */
	u8 ar_pln;             /* protocol address length: 4 */
	be16 ar_op;            /* 1 request, 2 reply */
	u8 ar_sha[ETH_ALEN];   /* sender hardware address */
	be32 ar_spa;           /* sender protocol address */
	u8 ar_tha[ETH_ALEN];   /* target hardware address */
	be32 ar_tpa;           /* target protocol address */
} __packed;
_Static_assert(sizeof(struct arphdr_eth) == 28, "ARP for Ethernet/IPv4 is 28 bytes");

/* INCOMPLETE: asking by broadcast, packets wait. REACHABLE: answered within the reachable
 * time. STALE: older, still used. POLLING: stale and in use, asking the known MAC. */
enum arp_state { ARP_FREE, ARP_INCOMPLETE, ARP_REACHABLE, ARP_STALE, ARP_POLLING };

struct arp_entry {
	be32 ip;
	u8 mac[ETH_ALEN];
	u8 state;              /* enum arp_state */
	u8 tries;              /* requests sent while incomplete, polls sent while polling */
	u64 updated_ns;        /* last ARP packet from the owner, or creation (incomplete) */
	struct netbuf_queue pending; /* packets (IPv4 header first) waiting for the answer */
	struct timer timer;    /* retry while incomplete or polling */
};

#define ARP_STATS(X)                                                                          \
	X(rx_packets) X(rx_requests) X(rx_replies) X(rx_runt) X(rx_bad_htype) X(rx_bad_ptype)   \
	X(rx_bad_hlen) X(rx_bad_plen) X(rx_bad_op) X(rx_bad_sender) X(rx_not_for_us)            \
	X(rx_unconfigured) X(rx_conflicts) X(rx_sender_off_link) X(tx_requests) X(tx_replies)   \
	X(tx_announces) X(tx_errors) X(resolve_queued) X(resolve_queue_full) X(resolve_failed)  \
	X(resolve_cache_full) X(resolve_incomplete_limit) X(entries_expired) X(entries_evicted) \
	X(link_down_dropped) X(tx_polls) X(reconfirmed) X(tx_probes) X(probes_clear)            \
	X(probe_conflicts) X(tx_defends) X(conflicts_undefended) X(rx_looped)
struct arp_stats { ARP_STATS(NET_STAT_FIELD) };
extern struct arp_stats arp_stats;

/* nb->data at the ARP header (Ethernet header pulled). Consumes nb; a request for our
 * address is answered in the same buffer. */
void arp_input(struct netbuf *nb);
/* Send an IPv4 packet (nb->data at its IP header) to next_hop on the link: at once when the
 * MAC is known, otherwise after resolution. Consumes nb. 0 or a negative errno (-ENOBUFS:
 * the entry's queue or the cache is full, the packet was dropped and counted). */
int arp_output(struct net_device *dev, struct netbuf *nb, be32 next_hop);
/* Announce our address (RFC 5227 2.3: ANNOUNCE_NUM ARP announcements, broadcast requests with
 * sender IP = target IP = addr and a zero target MAC, ANNOUNCE_INTERVAL apart; section 3 calls
 * this gratuitous ARP): the first now, the rest from a timer, each only while addr is still
 * our address and the link up. A new call starts the sequence again. 0 or a negative errno
 * for the first (-ENETDOWN: no device, link down or no address). */
int arp_announce(struct net_device *dev, be32 addr);
/* Send none of the announcements still to come (a test harness's fresh stack). */
void arp_announce_stop(void);
/*
 * RFC 5227 2.1.1: probe addr on dev before using it. After a random wait of up to PROBE_WAIT,
 * PROBE_NUM ARP probes (broadcast requests, sender IP 0.0.0.0, target IP addr) go out
 * PROBE_MIN..PROBE_MAX apart; from the call until ANNOUNCE_WAIT after the last probe, an ARP
 * packet from another MAC with addr as sender (request or reply), or another host's probe
 * for addr, is a conflict. done(addr, conflict) is called exactly once, from the event loop
 * (a timer, or the receive path): conflict true at once on the first conflicting packet,
 * false after ANNOUNCE_WAIT without one (about 4 to 7 s after the call). The caller then
 * sets the address (inet_set_address, which announces it) or declines it; nothing is
 * configured or announced here. While the link is down no probe goes out: the round starts
 * again (within PROBE_WAIT) when it is up; a probe that cannot be sent is not counted. After ARP_MAX_CONFLICTS conflicting probes in a row, a probe's first
 * packet waits until RATE_LIMIT_INTERVAL after the previous one's; a clean probe clears the
 * count. One probe at a time. Returns 0 (started), -EINVAL (no device or callback, addr not
 * a host address), -EBUSY (a probe is running). Counters: tx_probes, probes_clear,
 * probe_conflicts; console: "arp: probing A before use ...", "arp: probe of A: in use by M".
 */
typedef void (*arp_probe_done_t)(be32 addr, bool conflict);
int arp_probe(struct net_device *dev, be32 addr, arp_probe_done_t done);
/* Stop the running probe, if any; its done() is not called. */
void arp_probe_cancel(void);
bool arp_probing(void);

/*
 * RFC 5227 2.4: an ARP packet from another MAC with our address as sender is a conflict
 * (rx_conflicts). The first, and the first after DEFEND_INTERVAL since our last defence, gets
 * one announcement (tx_defends, "arp: address conflict: A claimed by M; defending it"). One
 * within DEFEND_INTERVAL of the defence (conflicts_undefended; one console line per interval):
 * with no handler the address is kept and nothing sent, 2.4 (c), as for a static address;
 * with a handler (the DHCP client, whose address may be given up) handler(addr) is called,
 * once per interval, and should stop using the address, 2.4 (b). NULL removes the handler;
 * inet_reset forgets it.
 */
void arp_set_conflict_handler(void (*handler)(be32 addr));

/* The cached MAC for ip, if known (reachable, stale or polling). */
bool arp_lookup(be32 ip, u8 mac[ETH_ALEN]);
/* Forget the cache; queued packets are dropped and counted (link down, a new address). */
void arp_flush(void);
/* arp_flush, cancel a probe, forget conflicts, and start again from the command line's
 * settings (inet_reset: tests). */
void arp_reset(void);
/* Packets waiting in all queues (leak accounting in tests and the fuzzer). */
unsigned arp_pending_total(void);

void arp_print_cache(void);
void arp_print_stats(void);
void arp_zero_stats(void);

#endif
