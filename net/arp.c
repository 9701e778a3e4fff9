/*
 * net/arp.c - ARP (RFC 826) for IPv4 over Ethernet: the cache, answering requests for our
 * address, resolving next hops with a bounded queue per entry and timed retries, keeping
 * entries fresh without stalling traffic, and address conflict detection (RFC 5227).
 *
 * Receive follows RFC 826's "Packet Reception" algorithm: an existing entry for the sender is
 * refreshed whoever the target is ("merge"); a new entry is made only when we are the target;
 * a request for our address is answered by turning the received buffer into the reply.
 *
 * Freshness (RFC 1122 2.3.2.1, "unicast poll"): an entry is REACHABLE for the reachable time
 * after the last ARP packet from its owner, then STALE. A stale entry is still used; the first
 * packet sent through it also starts POLLING: a request unicast to the known MAC, repeated
 * ARP_RETRY_NS apart; any ARP packet from the owner makes it REACHABLE again, and after
 * ARP_MAX_TRIES unanswered polls the entry goes (entries_expired). Packets never wait on a
 * stale or polling entry: only an unknown next hop (INCOMPLETE) queues.
 *
 * Address conflict detection (RFC 5227): arp_probe() checks an address before it is used
 * (2.1.1: PROBE_NUM probes with sender 0.0.0.0, then ANNOUNCE_WAIT of listening); a set
 * address is announced ANNOUNCE_NUM times (2.3); and it is defended (2.4): an ARP packet from
 * another MAC with our address as sender gets one announcement in reply, at most one per
 * DEFEND_INTERVAL. A claim within that interval is logged and the address kept (2.4 (c)),
 * unless the configuring agent registered a handler to give it up (2.4 (b)).
 */
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "kernel/timeline.h"
#include "net/arp.h"
#include "net/ethernet.h"
#include "net/inet.h"
#include "net/inet_addr.h"

struct arp_stats arp_stats;
#define ARP_STAT(f) NET_STAT(struct arp_stats, f)
static const struct net_stat_desc arp_stat_desc[] = { ARP_STATS(ARP_STAT) };
static struct arp_entry cache[ARP_CACHE_SIZE];
static bool cache_ready;
static u64 reachable_ns = ARP_REACHABLE_NS;

static void arp_timer_fn(struct timer *t);

/* arp_reachable_ms=N on the kernel command line (ARP_REACHABLE_MIN_MS..ARP_REACHABLE_MAX_MS):
 * how long an answer counts as fresh; the default is ARP_REACHABLE_NS. */
static void read_config(void)
{
	const char *v = cmdline_get("arp_reachable_ms");
	u64 ms = 0;

	reachable_ns = ARP_REACHABLE_NS;
	if (!v)
		return;
	for (const char *p = v; *p && ms <= ARP_REACHABLE_MAX_MS; p++)
		ms = *p >= '0' && *p <= '9' ? ms * 10 + (u64)(*p - '0') : ARP_REACHABLE_MAX_MS + 1;
	if (!*v || ms < ARP_REACHABLE_MIN_MS || ms > ARP_REACHABLE_MAX_MS) {
		printk("arp: arp_reachable_ms=%s ignored: expected %u..%u\n", v, ARP_REACHABLE_MIN_MS,
		       ARP_REACHABLE_MAX_MS);
		return;
	}
	reachable_ns = ms * NSEC_PER_MSEC;
}

static void cache_init(void)
{
	if (cache_ready)
		return;
	for (unsigned i = 0; i < ARP_CACHE_SIZE; i++) {
		netbuf_queue_init(&cache[i].pending, ARP_QUEUE_LEN);
		timer_setup(&cache[i].timer, arp_timer_fn);
	}
	read_config();
	cache_ready = true;
}

/* The MAC is known: the packet goes out at once. */
static bool entry_complete(const struct arp_entry *e)
{
	return e->state == ARP_REACHABLE || e->state == ARP_STALE || e->state == ARP_POLLING;
}

/* A reachable entry past its reachable time becomes stale (still used, see above). */
static void entry_age(struct arp_entry *e)
{
	if (e->state == ARP_REACHABLE && now_ns() - e->updated_ns >= reachable_ns)
		e->state = ARP_STALE;
}

static void entry_release(struct arp_entry *e, u64 *drop_counter)
{
	struct netbuf *nb;

	timer_cancel(&e->timer);
	while ((nb = netbuf_dequeue(&e->pending))) {
		(*drop_counter)++;
		netbuf_free(nb);
	}
	e->state = ARP_FREE;
	e->ip = 0;
	e->tries = 0;
}

static struct arp_entry *cache_find(be32 ip)
{
	cache_init();
	for (unsigned i = 0; i < ARP_CACHE_SIZE; i++) {
		struct arp_entry *e = &cache[i];

		if (e->state == ARP_FREE || e->ip != ip)
			continue;
		entry_age(e);
		return e;
	}
	return NULL;
}

/* A slot for a new entry: a free one, else the least recently confirmed complete one
 * (reachable, stale or polling). Incomplete entries are never evicted (their queues are
 * waiting); NULL when all are. */
static struct arp_entry *cache_slot(void)
{
	struct arp_entry *victim = NULL;

	cache_init();
	for (unsigned i = 0; i < ARP_CACHE_SIZE; i++) {
		struct arp_entry *e = &cache[i];

		if (e->state == ARP_FREE)
			return e;
		if (entry_complete(e) && (!victim || e->updated_ns < victim->updated_ns))
			victim = e;
	}
	if (victim) {
		arp_stats.entries_evicted++;
		entry_release(victim, &arp_stats.resolve_failed);
	}
	return victim;
}

static const char *mac_fmt(char buf[18], const u8 *m)
{
	snprintk(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
	return buf;
}

/* Build an ARP packet in nb (empty, headroom reserved) and send it. */
static int arp_send(struct net_device *dev, struct netbuf *nb, u16 op, const u8 *eth_dest,
		    be32 spa, const u8 *tha, be32 tpa)
{
	struct arphdr_eth *ah = netbuf_put(nb, sizeof(*ah));

	if (!ah) {
		netbuf_free(nb);
		arp_stats.tx_errors++;
		return -EMSGSIZE;
	}
	ah->ar_hrd = htons(ARPHRD_ETHER);
	ah->ar_pro = htons(ETH_P_IP);
	ah->ar_hln = ETH_ALEN;
	ah->ar_pln = 4;
	ah->ar_op = htons(op);
	memcpy(ah->ar_sha, dev->mac, ETH_ALEN);
	ah->ar_spa = spa;
	memcpy(ah->ar_tha, tha, ETH_ALEN);
	ah->ar_tpa = tpa;
	return eth_output(dev, nb, eth_dest, ETH_P_ARP);
}

static const u8 zero_mac[ETH_ALEN];

/* A request of ours in a new buffer, counted in *counter: to resolve (broadcast, sender our
 * address), to poll (unicast to the known MAC), a probe (broadcast, sender 0.0.0.0) or an
 * announcement (broadcast, sender = target = our address; RFC 5227 2.1.1 and 2.3). */
static int arp_send_request(struct net_device *dev, const u8 *eth_dest, be32 spa, be32 tpa, u64 *counter)
{
	struct netbuf *nb = netbuf_alloc();

	if (!nb) {
		arp_stats.tx_errors++;
		return -ENOBUFS;
	}
	(*counter)++;
	return arp_send(dev, nb, ARPOP_REQUEST, eth_dest, spa, zero_mac, tpa);
}

/* RFC 5227 2.3: the announcements of a newly set address, ANNOUNCE_INTERVAL apart. */
static void announce_timer_fn(struct timer *t);
static struct {
	struct net_device *dev;
	be32 addr;
	unsigned left;          /* still to send */
	struct timer timer;
} announce = { .timer = { .fn = announce_timer_fn } };

static void announce_timer_fn(struct timer *t)
{
	/* only while the address is still ours and the link up: a later set or link-up starts
	 * a sequence of its own */
	if (!announce.left || !announce.dev->carrier || !inet_configured() || inet_addr() != announce.addr)
		return;
	announce.left--;
	arp_send_request(announce.dev, eth_broadcast_addr, announce.addr, announce.addr, &arp_stats.tx_announces);
	if (announce.left)
		timer_arm(&announce.timer, ARP_ANNOUNCE_INTERVAL_NS);
}

void arp_announce_stop(void)
{
	timer_cancel(&announce.timer);
	announce.left = 0;
}

int arp_announce(struct net_device *dev, be32 addr)
{
	int err;

	if (!dev || !dev->carrier || !addr)
		return -ENETDOWN;
	announce.dev = dev;
	announce.addr = addr;
	announce.left = ARP_ANNOUNCE_NUM - 1;
	err = arp_send_request(dev, eth_broadcast_addr, addr, addr, &arp_stats.tx_announces);
	timer_arm(&announce.timer, ARP_ANNOUNCE_INTERVAL_NS);
	return err;
}

/* The answer came: send everything that waited for it, in order. */
static void entry_resolved(struct arp_entry *e, const u8 *mac)
{
	struct net_device *dev = inet_dev();
	struct netbuf *nb;

	if (e->state == ARP_STALE || e->state == ARP_POLLING)
		arp_stats.reconfirmed++;
	memcpy(e->mac, mac, ETH_ALEN);
	e->state = ARP_REACHABLE;
	e->updated_ns = now_ns();
	e->tries = 0;
	timer_cancel(&e->timer);
	while ((nb = netbuf_dequeue(&e->pending)))
		eth_output(dev, nb, e->mac, ETH_P_IP);
}

/* Retries: broadcast requests while incomplete, unicast polls while polling; after
 * ARP_MAX_TRIES unanswered ones the entry goes (with the packets waiting on it, if any). */
static void arp_timer_fn(struct timer *t)
{
	struct arp_entry *e = container_of(t, struct arp_entry, timer);

	if (e->state != ARP_INCOMPLETE && e->state != ARP_POLLING)
		return;
	if (e->tries >= ARP_MAX_TRIES || !inet_dev()) {
		if (e->state == ARP_POLLING)
			arp_stats.entries_expired++;
		entry_release(e, &arp_stats.resolve_failed);
		return;
	}
	e->tries++;
	if (e->state == ARP_POLLING)
		arp_send_request(inet_dev(), e->mac, inet_addr(), e->ip, &arp_stats.tx_polls);
	else
		arp_send_request(inet_dev(), eth_broadcast_addr, inet_addr(), e->ip, &arp_stats.tx_requests);
	timer_arm(&e->timer, ARP_RETRY_NS);
}

static unsigned incomplete_entries(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < ARP_CACHE_SIZE; i++)
		n += cache[i].state == ARP_INCOMPLETE;
	return n;
}

int arp_output(struct net_device *dev, struct netbuf *nb, be32 next_hop)
{
	struct arp_entry *e = cache_find(next_hop);

	if (e && entry_complete(e)) {
		int err = eth_output(dev, nb, e->mac, ETH_P_IP);

		if (e->state == ARP_STALE) { /* used again: confirm it, without holding anything */
			e->state = ARP_POLLING;
			e->tries = 0;
			arp_timer_fn(&e->timer); /* first poll now, the rest from the timer */
		}
		return err;
	}
	if (!e) {
		/* Answers to a flood of (spoofed) senders that never reply must not take the whole
		 * cache: past ARP_MAX_INCOMPLETE, new resolutions fail until some finish. */
		if (incomplete_entries() >= ARP_MAX_INCOMPLETE) {
			arp_stats.resolve_incomplete_limit++;
			netbuf_free(nb);
			return -ENOBUFS;
		}
		e = cache_slot();
		if (!e) {
			arp_stats.resolve_cache_full++;
			netbuf_free(nb);
			return -ENOBUFS;
		}
		e->ip = next_hop;
		e->state = ARP_INCOMPLETE;
		e->tries = 0;
		e->updated_ns = now_ns();
		if (!netbuf_enqueue(&e->pending, nb)) { /* cannot happen: the queue is empty */
			arp_stats.resolve_queue_full++;
			netbuf_free(nb);
			return -ENOBUFS;
		}
		arp_stats.resolve_queued++;
		arp_timer_fn(&e->timer); /* first request now, retries from the timer */
		return 0;
	}
	if (!netbuf_enqueue(&e->pending, nb)) {
		arp_stats.resolve_queue_full++;
		netbuf_free(nb);
		return -ENOBUFS;
	}
	arp_stats.resolve_queued++;
	return 0;
}

bool arp_lookup(be32 ip, u8 mac[ETH_ALEN])
{
	struct arp_entry *e = cache_find(ip);

	if (!e || !entry_complete(e))
		return false;
	memcpy(mac, e->mac, ETH_ALEN);
	return true;
}

/* ---- RFC 5227 2.1.1: probing an address before use ---------------------------------------- */

static void probe_timer_fn(struct timer *t);
static struct {
	struct net_device *dev;
	be32 addr;
	arp_probe_done_t done;  /* NULL: no probe running */
	unsigned sent;          /* probes sent in this round */
	unsigned conflicts;     /* probes ended by a conflict since the last clean one */
	bool attempted;         /* last_attempt_ns is set */
	u64 last_attempt_ns;    /* when the last probe's first packet went out */
	struct timer timer;
} probe = { .timer = { .fn = probe_timer_fn } };
static u32 rng;

/* xorshift32, seeded with our MAC and the time (RFC 5227 2.1.1 asks for a seed that differs
 * between hosts, such as the hardware address, so that hosts starting together spread out). */
static u32 arp_random(const u8 *mac)
{
	u32 x = rng;

	if (!x) {
		x = (u32)now_ns() ^ 0x9e3779b9u;
		for (unsigned i = 0; i < ETH_ALEN; i++)
			x = (x ^ mac[i]) * 16777619u;
		x |= 1;
	}
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	rng = x;
	return x;
}

/* Uniform in [min, max], in whole milliseconds. */
static u64 random_ns(u64 min, u64 max)
{
	u64 steps = (max - min) / NSEC_PER_MSEC + 1;

	return min + arp_random(probe.dev->mac) % steps * NSEC_PER_MSEC;
}

/* The first probe: after a random 0..PROBE_WAIT, and, once MAX_CONFLICTS probes in a row
 * found a conflict, no sooner than RATE_LIMIT_INTERVAL after the last attempt. */
static void probe_schedule_first(void)
{
	u64 wait = random_ns(0, ARP_PROBE_WAIT_NS);

	if (probe.conflicts >= ARP_MAX_CONFLICTS && probe.attempted) {
		u64 next = probe.last_attempt_ns + ARP_RATE_LIMIT_INTERVAL_NS, now = now_ns();

		if (now + wait < next)
			wait = next - now;
	}
	probe.sent = 0;
	timer_arm(&probe.timer, wait);
}

static void probe_finish(bool conflict)
{
	arp_probe_done_t done = probe.done;
	be32 addr = probe.addr;

	timer_cancel(&probe.timer);
	probe.done = NULL; /* first: done() may start another probe */
	if (!conflict) {
		arp_stats.probes_clear++;
		probe.conflicts = 0;
	} else if (++probe.conflicts == ARP_MAX_CONFLICTS) {
		printk("arp: %u address conflicts in a row: probing at most once per %llu s (RFC 5227 2.1.1)\n",
		       probe.conflicts, ARP_RATE_LIMIT_INTERVAL_NS / NSEC_PER_SEC);
	}
	done(addr, conflict);
}

static void probe_timer_fn(struct timer *t)
{
	if (!probe.done)
		return;
	if (!probe.dev->carrier) { /* probes would be lost and silence taken for "free": */
		probe.sent = 0;         /* look again in PROBE_WAIT, and start the round over */
		timer_arm(&probe.timer, ARP_PROBE_WAIT_NS);
		return;
	}
	if (probe.sent == ARP_PROBE_NUM) { /* ANNOUNCE_WAIT after the last probe: nobody objected */
		probe_finish(false);
		return;
	}
	if (probe.sent == 0) {
		probe.attempted = true;
		probe.last_attempt_ns = now_ns();
	}
	if (arp_send_request(probe.dev, eth_broadcast_addr, 0, probe.addr, &arp_stats.tx_probes) == 0)
		probe.sent++; /* a probe that could not be sent is sent again later, not counted */
	timer_arm(&probe.timer, probe.sent < ARP_PROBE_NUM ? random_ns(ARP_PROBE_MIN_NS, ARP_PROBE_MAX_NS)
			  : ARP_ANNOUNCE_WAIT_NS);
}

int arp_probe(struct net_device *dev, be32 addr, arp_probe_done_t done)
{
	char ip[INET_ADDRSTRLEN];

	if (!dev || !done || !ipv4_is_valid_host(addr))
		return -EINVAL;
	if (probe.done)
		return -EBUSY;
	probe.dev = dev;
	probe.addr = addr;
	probe.done = done;
	printk("arp: probing %s before use (RFC 5227 2.1.1)\n", inet_fmt(ip, addr));
	probe_schedule_first();
	return 0;
}

void arp_probe_cancel(void)
{
	timer_cancel(&probe.timer);
	probe.done = NULL;
}

bool arp_probing(void) { return probe.done != NULL; }

/* During a probe: a packet from another MAC with the probed address as sender, or another
 * host's probe for it (RFC 5227 2.1.1). */
static void probe_check(const struct net_device *dev, const struct arphdr_eth *ah)
{
	char ip[INET_ADDRSTRLEN], mac[18];

	if (!probe.done || memcmp(ah->ar_sha, dev->mac, ETH_ALEN) == 0)
		return;
	if (ah->ar_spa != probe.addr &&
	    !(ah->ar_spa == 0 && ah->ar_tpa == probe.addr && ntohs(ah->ar_op) == ARPOP_REQUEST))
		return;
	arp_stats.probe_conflicts++;
	printk("arp: probe of %s: in use by %s (RFC 5227 2.1.1)\n", inet_fmt(ip, probe.addr),
	       mac_fmt(mac, ah->ar_sha));
	probe_finish(true);
}

/* ---- RFC 5227 2.4: defending our address --------------------------------------------------- */

static struct {
	bool defended;          /* defended_ns is set */
	u64 defended_ns;        /* our last defensive announcement */
	bool said;              /* the claims since then were reported (one line per interval) */
	void (*give_up)(be32 addr);
} defence;

void arp_set_conflict_handler(void (*handler)(be32 addr)) { defence.give_up = handler; }

/* Someone else claims our address. Consumes nb: it becomes the defence when one is due. */
static void arp_conflict(struct net_device *dev, struct netbuf *nb, struct arphdr_eth *ah)
{
	char ip[INET_ADDRSTRLEN], mac[18];
	be32 addr = inet_addr();

	arp_stats.rx_conflicts++;
	inet_fmt(ip, addr);
	mac_fmt(mac, ah->ar_sha);
	if (!defence.defended || now_ns() - defence.defended_ns >= ARP_DEFEND_INTERVAL_NS) {
		defence.defended = true;
		defence.defended_ns = now_ns();
		defence.said = false;
		printk("arp: address conflict: %s claimed by %s; defending it (RFC 5227 2.4)\n", ip, mac);
		/* one announcement (sender and target IP ours, target MAC zero), built in place */
		netbuf_trim(nb, sizeof(*ah));
		ah->ar_op = htons(ARPOP_REQUEST);
		memcpy(ah->ar_sha, dev->mac, ETH_ALEN);
		ah->ar_spa = addr;
		memset(ah->ar_tha, 0, ETH_ALEN);
		ah->ar_tpa = addr;
		arp_stats.tx_defends++;
		eth_output(dev, nb, eth_broadcast_addr, ETH_P_ARP);
		return;
	}
	arp_stats.conflicts_undefended++;
	netbuf_free(nb);
	if (defence.said)
		return;
	defence.said = true;
	printk("arp: address conflict: %s claimed by %s again within %llu s; %s\n", ip, mac,
	       ARP_DEFEND_INTERVAL_NS / NSEC_PER_SEC,
	       defence.give_up ? "giving it up (RFC 5227 2.4 (b))"
			       : "keeping the address without defending it (RFC 5227 2.4 (c))");
	if (defence.give_up)
		defence.give_up(addr);
}

/* Check the fixed fields; returns the counter to bump when the packet is malformed. */
static u64 *arp_validate(const struct netbuf *nb, const struct arphdr_eth *ah)
{
	u16 op;

	if (netbuf_len(nb) < sizeof(*ah))
		return &arp_stats.rx_runt;
	if (ntohs(ah->ar_hrd) != ARPHRD_ETHER)
		return &arp_stats.rx_bad_htype;
	if (ntohs(ah->ar_pro) != ETH_P_IP)
		return &arp_stats.rx_bad_ptype;
	if (ah->ar_hln != ETH_ALEN)
		return &arp_stats.rx_bad_hlen;
	if (ah->ar_pln != 4)
		return &arp_stats.rx_bad_plen;
	op = ntohs(ah->ar_op);
	if (op != ARPOP_REQUEST && op != ARPOP_REPLY)
		return &arp_stats.rx_bad_op;
	/* Nobody owns a group MAC, the zero MAC, or a broadcast/multicast IPv4 address. */
	if (eth_is_multicast(ah->ar_sha) || eth_is_zero(ah->ar_sha) ||
	    ipv4_is_multicast(ah->ar_spa) || ipv4_is_limited_broadcast(ah->ar_spa) ||
	    inet_is_subnet_broadcast(ah->ar_spa))
		return &arp_stats.rx_bad_sender;
	return NULL;
}

/* Turn the received request into our reply in the same buffer (no allocation, no copy of
 * anything but the addresses) and send it to the asker. */
static void arp_reply_in_place(struct net_device *dev, struct netbuf *nb, struct arphdr_eth *ah)
{
	/* LAB:SOLUTION stage6 arp_reply_in_place */
	be32 asker_ip = ah->ar_spa;

	netbuf_trim(nb, sizeof(*ah)); /* drop link padding */
	ah->ar_op = htons(ARPOP_REPLY);
	memcpy(ah->ar_tha, ah->ar_sha, ETH_ALEN);
	ah->ar_tpa = asker_ip;
	memcpy(ah->ar_sha, dev->mac, ETH_ALEN);
	ah->ar_spa = inet_addr();
	arp_stats.tx_replies++;
	timeline_mark("first ARP reply");
	eth_output(dev, nb, ah->ar_tha, ETH_P_ARP);
	/* LAB:END */
}

void arp_input(struct netbuf *nb)
{
	struct arphdr_eth *ah = (void *)nb->data;
	struct net_device *dev = nb->dev;
	u64 *bad = arp_validate(nb, ah);
	struct arp_entry *e;
	bool for_us;

	arp_stats.rx_packets++;
	if (bad) {
		(*bad)++;
		netbuf_free(nb);
		return;
	}
	if (ntohs(ah->ar_op) == ARPOP_REQUEST)
		arp_stats.rx_requests++;
	else
		arp_stats.rx_replies++;
	probe_check(dev, ah);
	if (!inet_configured()) {
		arp_stats.rx_unconfigured++;
		netbuf_free(nb);
		return;
	}
	if (ah->ar_spa == inet_addr()) {
		if (memcmp(ah->ar_sha, dev->mac, ETH_ALEN) != 0) {
			arp_conflict(dev, nb, ah); /* someone else claims our address */
		} else {
			arp_stats.rx_looped++; /* our own packet came back */
			netbuf_free(nb);
		}
		return;
	}
	for_us = ah->ar_tpa == inet_addr();
	e = ah->ar_spa ? cache_find(ah->ar_spa) : NULL; /* spa 0: an RFC 5227 probe */
	if (e) {
		entry_resolved(e, ah->ar_sha);
	} else if (for_us && ah->ar_spa && !inet_on_link(ah->ar_spa)) {
		/* We only ever resolve on-link next hops, so an entry for anyone else would only
		 * take a slot (and could push out one we need): answer, but do not remember. */
		arp_stats.rx_sender_off_link++;
	} else if (for_us && ah->ar_spa && (e = cache_slot())) {
		e->ip = ah->ar_spa;
		entry_resolved(e, ah->ar_sha);
	}
	if (!for_us) {
		arp_stats.rx_not_for_us++;
		netbuf_free(nb);
		return;
	}
	if (ntohs(ah->ar_op) == ARPOP_REQUEST)
		arp_reply_in_place(dev, nb, ah);
	else
		netbuf_free(nb);
}

void arp_flush(void)
{
	cache_init();
	for (unsigned i = 0; i < ARP_CACHE_SIZE; i++)
		if (cache[i].state != ARP_FREE)
			entry_release(&cache[i], &arp_stats.link_down_dropped);
}

void arp_reset(void)
{
	arp_flush();
	arp_probe_cancel();
	probe.conflicts = 0;
	probe.attempted = false;
	memset(&defence, 0, sizeof(defence));
	arp_announce_stop();
	read_config();
}

unsigned arp_pending_total(void)
{
	unsigned n = 0;

	cache_init();
	for (unsigned i = 0; i < ARP_CACHE_SIZE; i++)
		n += cache[i].pending.len;
	return n;
}

void arp_print_cache(void)
{
	char ip[INET_ADDRSTRLEN];
	unsigned shown = 0;

	cache_init();
	for (unsigned i = 0; i < ARP_CACHE_SIZE; i++) {
		struct arp_entry *e = &cache[i];

		if (e->state == ARP_FREE)
			continue;
		entry_age(e);
		if (e->state == ARP_INCOMPLETE) {
			printk("%-15s (incomplete) tries %u queued %u\n", inet_fmt(ip, e->ip), e->tries,
			       e->pending.len);
		} else if (e->state == ARP_REACHABLE) {
			u64 left = (reachable_ns - (now_ns() - e->updated_ns)) / NSEC_PER_SEC;

			printk("%-15s %02x:%02x:%02x:%02x:%02x:%02x reachable expires %llus\n", inet_fmt(ip, e->ip),
			       e->mac[0], e->mac[1], e->mac[2], e->mac[3], e->mac[4], e->mac[5],
			       left);
		} else {
			printk("%-15s %02x:%02x:%02x:%02x:%02x:%02x %s tries %u\n", inet_fmt(ip, e->ip),
			       e->mac[0], e->mac[1], e->mac[2], e->mac[3], e->mac[4], e->mac[5],
			       e->state == ARP_STALE ? "stale" : "polling", e->tries);
		}
		shown++;
	}
	printk("arp: %u of %u entries in use\n", shown, ARP_CACHE_SIZE);
}

void arp_print_stats(void)
{
	net_stats_print_line("arp", arp_stat_desc, ARRAY_SIZE(arp_stat_desc), &arp_stats);
}

void arp_zero_stats(void) { memset(&arp_stats, 0, sizeof(arp_stats)); }
