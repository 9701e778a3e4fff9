/*
 * net/ipv4_frag.c - IPv4 reassembly (RFC 791 3.2 "Fragmentation and reassembly", RFC 1122
 * 3.3.2), bounded: IPV4_FRAG_SLOTS slots of static storage, IPV4_FRAG_MAX_DATA bytes each, a
 * fixed timer per datagram. The rules and their counters are in net/ipv4_frag.h and
 * docs/network.md ("Fragments").
 *
 * A slot holds the data of one datagram at its final place (the fragment offset from
 * DATA_OFF), a bitmap of the 8-byte blocks held, a second bitmap of the blocks where a held
 * fragment starts (what tells an exact duplicate from an overlap), and the first fragment's
 * IPv4 header. Held fragments never overlap (an overlap drops the datagram), so the bytes held
 * add up to the datagram's length exactly when it is complete. The complete datagram goes up
 * in the slot itself, wrapped in the slot's struct netbuf; netbuf_free on it calls
 * slot_release, which frees the slot. A dropped datagram keeps its slot (no data) until its
 * timer runs out, so the fragments of it still on their way are dropped too (RFC 5722 asks
 * that of fragments "not yet received"); such a slot is the first to be reused.
 */
#include "kernel/string.h"
#include "kernel/time.h"
#include "net/checksum.h"
#include "net/ethernet.h"
#include "net/icmp.h"
#include "net/ipv4.h"
#include "net/ipv4_frag.h"
#include "net/udp.h"

#define BLOCK 8                                   /* fragment offsets count 8-byte blocks */
#define BLOCKS (IPV4_FRAG_MAX_DATA / BLOCK)
#define DATA_OFF (NETBUF_HEADROOM + IPV4_MAX_HLEN) /* the header goes right in front of it */
_Static_assert(IPV4_FRAG_MAX_DATA % BLOCK == 0, "whole blocks");
_Static_assert(DATA_OFF + IPV4_FRAG_MAX_DATA + IPV4_MAX_HLEN <= 0xffff, "netbuf offsets are u16");

enum slot_state {
	SLOT_FREE,
	SLOT_ASSEMBLING, /* fragments being collected */
	SLOT_DROPPED,    /* the datagram was dropped: its late fragments are too, until the timer */
	SLOT_DELIVERED,  /* the whole datagram is up the stack, until netbuf_free */
};

struct frag_slot {
	enum slot_state state;
	be32 saddr, daddr; /* the key (RFC 791 3.2): source, destination, id, protocol */
	be16 id;
	u8 protocol;
	bool have_last;      /* the fragment without MF came: total is known */
	bool link_multicast; /* some fragment came in a link-layer group frame */
	u8 hlen;             /* the first fragment's header length, 0 until it came */
	u16 first_len;       /* and its data bytes */
	u32 total;           /* data bytes of the whole datagram, once have_last */
	u32 held;            /* data bytes held */
	u32 max_end;         /* end of the furthest data held */
	u32 last_start;      /* block where the last fragment starts */
	u64 started_ns;      /* the first fragment's arrival: the oldest is evicted */
	u8 have[BLOCKS / 8];
	u8 starts[BLOCKS / 8];
	u8 hdr[IPV4_MAX_HLEN];
	struct timer timer;
	struct netbuf nb;    /* the complete datagram, handed up */
	u8 mem[DATA_OFF + IPV4_FRAG_MAX_DATA];
};

static struct frag_slot slots[IPV4_FRAG_SLOTS];
static bool timers_ready;

static bool bit(const u8 *map, unsigned i) { return map[i / 8] & (1u << (i % 8)); }
static void set_bit(u8 *map, unsigned i) { map[i / 8] |= (u8)(1u << (i % 8)); }

static void slot_free(struct frag_slot *s)
{
	timer_cancel(&s->timer);
	s->state = SLOT_FREE;
}

static void slot_timeout(struct timer *t)
{
	struct frag_slot *s = container_of(t, struct frag_slot, timer);

	/* RFC 1122 3.3.2: a datagram not complete in time is dropped, and when its first
	 * fragment came, the sender hears of it: time exceeded, code 1 (RFC 792), quoting that
	 * fragment (its header in front of its data, where slot_deliver would put it). */
	if (s->state == SLOT_ASSEMBLING) {
		ipv4_stats.rx_frag_timeout++;
		if (s->hlen) {
			u8 *ip = s->mem + DATA_OFF - s->hlen;

			memcpy(ip, s->hdr, s->hlen);
			icmp_send_reasm_timeout(ip, s->hlen + s->first_len, s->link_multicast);
		}
	}
	if (s->state != SLOT_DELIVERED)
		slot_free(s);
}

static void slot_release(struct netbuf *nb)
{
	struct frag_slot *s = container_of(nb, struct frag_slot, nb);

	if (s->state == SLOT_DELIVERED)
		s->state = SLOT_FREE;
}

static void init_timers(void)
{
	if (timers_ready)
		return;
	for (unsigned i = 0; i < IPV4_FRAG_SLOTS; i++)
		timer_setup(&slots[i].timer, slot_timeout);
	timers_ready = true;
}

static struct frag_slot *slot_find(const struct iphdr *ip)
{
	for (unsigned i = 0; i < IPV4_FRAG_SLOTS; i++) {
		struct frag_slot *s = &slots[i];

		if ((s->state == SLOT_ASSEMBLING || s->state == SLOT_DROPPED) && s->saddr == ip->saddr &&
		    s->daddr == ip->daddr && s->id == ip->id && s->protocol == ip->protocol)
			return s;
	}
	return NULL;
}

/* Which slot a new datagram takes: a free one, else the oldest dropped one (it holds
 * nothing), else -- when evict -- the oldest in progress. Slots up the stack are never taken. */
static int slot_rank(enum slot_state st, bool evict)
{
	return st == SLOT_FREE ? 0 : st == SLOT_DROPPED ? 1 : st == SLOT_ASSEMBLING && evict ? 2 : -1;
}

/* A slot for a new datagram (an eviction counted), its timer started; NULL when none. */
static struct frag_slot *slot_take(const struct iphdr *ip, bool evict)
{
	struct frag_slot *s = NULL;
	int best = -1;

	for (unsigned i = 0; i < IPV4_FRAG_SLOTS; i++) {
		struct frag_slot *c = &slots[i];
		int r = slot_rank(c->state, evict);

		if (r >= 0 && (!s || r < best || (r == best && c->started_ns < s->started_ns))) {
			s = c;
			best = r;
		}
	}
	if (!s)
		return NULL;
	if (s->state == SLOT_ASSEMBLING)
		ipv4_stats.rx_frag_evicted++;
	slot_free(s);
	s->state = SLOT_ASSEMBLING;
	s->saddr = ip->saddr;
	s->daddr = ip->daddr;
	s->id = ip->id;
	s->protocol = ip->protocol;
	s->have_last = s->link_multicast = false;
	s->hlen = 0;
	s->total = s->held = s->max_end = s->last_start = 0;
	s->started_ns = now_ns();
	memset(s->have, 0, sizeof(s->have));
	memset(s->starts, 0, sizeof(s->starts));
	timer_arm(&s->timer, IPV4_FRAG_TIMEOUT_NS); /* fixed, not from the TTL (RFC 1122 3.3.2) */
	return s;
}

/* The header the upper layer needs whole in the first fragment (RFC 1858's tiny-fragment
 * concern; ours are 8 bytes each). */
static unsigned l4_header_len(u8 protocol)
{
	return protocol == IPPROTO_UDP ? UDP_HLEN : protocol == IPPROTO_ICMP ? ICMP_HLEN : 0;
}

/* The rules one fragment is held to by itself (nothing held needed); the counter, or NULL. */
static u64 *frag_check_alone(const struct iphdr *ip, unsigned off, unsigned len, bool mf)
{
	unsigned hlen = ip_hdrlen(ip);

	if (off + len > IPV4_FRAG_MAX_DATA)
		return &ipv4_stats.rx_frag_too_big;
	if (mf && off == 0 && len < l4_header_len(ip->protocol))
		return &ipv4_stats.rx_frag_short_first;
	if (mf && len % BLOCK)
		return &ipv4_stats.rx_frag_bad_len;
	/* RFC 791 3.2: every link carries 68 bytes, and a fragment is cut as large as its link
	 * allows, so a non-last fragment holds at least the whole blocks that fit in 68 bytes
	 * after its header (48 with a 20-byte header). Smaller never came over a conforming path. */
	if (mf && len < ((IPV4_MIN_MTU - hlen) & ~(BLOCK - 1u)))
		return &ipv4_stats.rx_frag_tiny;
	return NULL;
}

/* The rules against what the slot holds; the counter, NULL to keep the fragment, or
 * &ipv4_stats.rx_frag_duplicate for an exact duplicate (ignored). */
static u64 *frag_check_held(const struct frag_slot *s, const u8 *data, unsigned off, unsigned len, bool mf)
{
	unsigned end = off + len, a = off / BLOCK, b = (end + BLOCK - 1) / BLOCK, inside = 0;

	if (s->have_last ? (mf ? end > s->total : end != s->total) : (!mf && end < s->max_end))
		return &ipv4_stats.rx_frag_bad_end;
	for (unsigned i = a; i < b; i++)
		inside += bit(s->have, i);
	if (!inside)
		return NULL;
	/* RFC 5722 (for IPv6; here for IPv4 too): an overlap drops the datagram. The exception is
	 * an exact duplicate: the same blocks as one fragment held (it starts at a, no held
	 * fragment starts inside, and the one held does not go on past b), the same bytes, and
	 * the same place in the datagram (last or not; with equal ends the lengths are equal). */
	if (inside == b - a && bit(s->starts, a) && !(b < BLOCKS && bit(s->have, b) && !bit(s->starts, b)) &&
	    mf == !(s->have_last && a == s->last_start) && memcmp(s->mem + DATA_OFF + off, data, len) == 0) {
		for (unsigned i = a + 1; i < b; i++)
			if (bit(s->starts, i))
				return &ipv4_stats.rx_frag_overlap;
		return &ipv4_stats.rx_frag_duplicate;
	}
	return &ipv4_stats.rx_frag_overlap;
}

/* The whole datagram: the first fragment's header in front of the data, fixed up. */
static struct netbuf *slot_deliver(struct frag_slot *s, struct net_device *dev)
{
	struct netbuf *nb = &s->nb;
	struct iphdr *ip = (void *)(s->mem + DATA_OFF - s->hlen);

	timer_cancel(&s->timer);
	s->state = SLOT_DELIVERED;
	memcpy(ip, s->hdr, s->hlen);
	ip->tot_len = htons((u16)(s->hlen + s->total));
	ip->frag_off &= htons(IP_DF); /* neither MF nor an offset now */
	ip->check = 0;
	ip->check = htons(inet_csum(ip, s->hlen));
	memset(nb, 0, sizeof(*nb));
	nb->head = s->mem;
	nb->end = s->mem + sizeof(s->mem);
	nb->data = (u8 *)ip;
	nb->tail = s->mem + DATA_OFF + s->total;
	nb->dev = dev;
	nb->protocol = ETH_P_IP;
	nb->in_use = true;
	nb->link_multicast = s->link_multicast;
	nb->release = slot_release;
	ipv4_stats.rx_frag_reassembled++;
	return nb;
}

struct netbuf *ipv4_frag_input(struct netbuf *nb)
{
	const struct iphdr *ip = (const void *)nb->data;
	unsigned hlen = ip_hdrlen(ip), fo = ntohs(ip->frag_off);
	unsigned off = (fo & IP_OFFSET) * BLOCK, len = netbuf_len(nb) - hlen, end = off + len;
	const u8 *data = nb->data + hlen;
	bool mf = fo & IP_MF;
	struct frag_slot *s;
	u64 *bad;

	init_timers();
	s = slot_find(ip);
	if (s && s->state == SLOT_DROPPED) {
		ipv4_stats.rx_frag_after_drop++;
		goto out;
	}
	bad = frag_check_alone(ip, off, len, mf);
	if (bad) {
		/* The datagram is dropped, and remembered so that the rest of it is too -- in a
		 * slot of its own only if that costs no datagram in progress. */
		(*bad)++;
		if (!s)
			s = slot_take(ip, false);
		if (s)
			s->state = SLOT_DROPPED;
		goto out;
	}
	if (!s) {
		s = slot_take(ip, true);
		if (!s) {
			ipv4_stats.rx_frag_no_slot++;
			goto out;
		}
	}
	bad = frag_check_held(s, data, off, len, mf);
	if (bad == &ipv4_stats.rx_frag_duplicate) {
		ipv4_stats.rx_frag_duplicate++;
		goto out;
	}
	if (bad) {
		(*bad)++;
		s->state = SLOT_DROPPED; /* keeps its key and its timer */
		goto out;
	}
	memcpy(s->mem + DATA_OFF + off, data, len);
	for (unsigned i = off / BLOCK; i < (end + BLOCK - 1) / BLOCK; i++)
		set_bit(s->have, i);
	if (len)
		set_bit(s->starts, off / BLOCK);
	s->held += len;
	s->max_end = MAX(s->max_end, end);
	s->link_multicast |= nb->link_multicast;
	if (off == 0) {
		s->hlen = (u8)hlen;
		s->first_len = (u16)len;
		memcpy(s->hdr, ip, hlen);
	}
	if (!mf) {
		s->have_last = true;
		s->total = end;
		s->last_start = off / BLOCK;
	}
	if (s->have_last && s->held == s->total && s->hlen) {
		struct net_device *dev = nb->dev;

		netbuf_free(nb);
		return slot_deliver(s, dev);
	}
out:
	netbuf_free(nb);
	return NULL;
}

unsigned ipv4_frag_in_progress(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < IPV4_FRAG_SLOTS; i++)
		n += slots[i].state == SLOT_ASSEMBLING;
	return n;
}

void ipv4_frag_reset(void)
{
	init_timers();
	for (unsigned i = 0; i < IPV4_FRAG_SLOTS; i++)
		slot_free(&slots[i]);
}
