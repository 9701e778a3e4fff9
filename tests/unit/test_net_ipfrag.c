/*
 * tests/unit/test_net_ipfrag.c - IPv4 fragments both ways (net/ipv4_frag.c, net/ipv4.c):
 * reassembly in order, in reverse and interleaved; every drop rule with its counter (overlap,
 * a non-last fragment not a multiple of 8 or smaller than a 68-byte MTU allows, a first
 * fragment without the UDP/ICMP header, too large, ends that disagree, fragments after a drop);
 * exact duplicates; eviction of the oldest; the timeout on the simulated clock; the
 * reassembled buffer (a slot, not a pool buffer); fragmentation of what we send, reassembled
 * here byte for byte; a pool that runs dry.
 */
#include <stdlib.h>

#include "net/ipv4_frag.h"
#include "tests/unit/kernel_harness.h"
#include "tests/unit/net_harness.h"
#include "tests/unit/unit.h"

static u8 dgram[IPV4_FRAG_MAX_DATA + 64]; /* what goes above IPv4: a UDP or ICMP message */
static u8 payload[IPV4_FRAG_MAX_DATA];
static u8 pkt[2048];
static u8 got[IP_MAX_TOTAL];              /* what we sent, reassembled by the test */

static void learn_peer(void)
{
	h_inject(h_frame(h_our_mac, h_peer_mac, ETH_P_ARP, pkt,
			 h_arp(pkt, ARPOP_REQUEST, h_peer_mac, h_peer_ip, (const u8[6]){ 0 }, h_our_ip)));
	h_clear_tx();
}

static void fill(u8 *p, unsigned n, unsigned seed)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (u8)(i * 7 + seed + (i >> 8));
}

/* A UDP datagram from the peer to us in dgram; returns its length. */
static unsigned udp_dgram(u16 dport, unsigned len, unsigned seed)
{
	fill(payload, len, seed);
	return h_udp(dgram, h_peer_ip, h_our_ip, 4321, dport, payload, len, true);
}

/* One fragment of data (bytes [off, off + len)), with options of olen bytes (NOPs), to dst
 * in a frame to dmac; MF as given. */
static void inject_frag_full(const u8 *dmac, be32 src, be32 dst, u16 id, u8 proto, const u8 *data, unsigned off,
			     unsigned len, bool mf, unsigned olen)
{
	struct iphdr *ip = (void *)pkt;
	unsigned hlen = IPV4_HLEN + olen;

	h_ipv4(pkt, src, dst, proto, NULL, 0);
	memset(pkt + IPV4_HLEN, 1, olen); /* NOP options */
	memcpy(pkt + hlen, data + off, len);
	ip->ver_ihl = (u8)(0x40 | hlen / 4);
	ip->tot_len = htons((u16)(hlen + len));
	ip->id = htons(id);
	ip->frag_off = htons((u16)((mf ? IP_MF : 0) | off / 8));
	ip->check = 0;
	ip->check = htons(inet_csum(ip, hlen));
	h_inject(h_frame(dmac, h_peer_mac, ETH_P_IP, pkt, hlen + len));
}

static void inject_frag(u16 id, u8 proto, const u8 *data, unsigned off, unsigned len, bool mf)
{
	inject_frag_full(h_our_mac, h_peer_ip, h_our_ip, id, proto, data, off, len, mf, 0);
}

/* Every fragment of data[0, n) in pieces of step bytes, first to last or last to first. */
static void inject_all(u16 id, u8 proto, const u8 *data, unsigned n, unsigned step, bool reverse)
{
	unsigned count = (n + step - 1) / step;

	for (unsigned k = 0; k < count; k++) {
		unsigned i = reverse ? count - 1 - k : k, off = i * step;

		inject_frag(id, proto, data, off, MIN(step, n - off), off + step < n);
	}
}

/* Reassemble the captured frames h_tx[first..] as a receiver would, checking every fragment
 * on the way (RFC 791 3.2): ours to the peer, one id, DF clear, TTL 64, header checksum, at
 * most the MTU, a multiple of 8 bytes but the last, MF on all but the last, no gap, no
 * overlap. Returns the datagram's length above IPv4 (into got), or 0 when something is off. */
static unsigned reassemble_sent(unsigned first, u8 *proto)
{
	unsigned total = 0, held = 0, id = 0;

	for (unsigned i = first; i < h_ntx; i++) {
		const struct iphdr *ip = h_ip(i);
		unsigned fo = ntohs(ip->frag_off), off = (fo & IP_OFFSET) * 8u, len = ntohs(ip->tot_len) - IPV4_HLEN;

		CHECK_EQ(ip->ver_ihl, 0x45);
		CHECK_EQ(inet_csum(ip, IPV4_HLEN), 0);
		CHECK_EQ(ip->saddr, h_our_ip);
		CHECK_EQ(ip->daddr, h_peer_ip);
		CHECK_EQ(ip->ttl, IP_DEFAULT_TTL);
		CHECK_EQ(fo & IP_DF, 0);
		CHECK(ntohs(ip->tot_len) <= ETH_DATA_LEN);
		CHECK(h_len(i) >= ETH_HLEN + (unsigned)ntohs(ip->tot_len));
		if (i == first) {
			id = ntohs(ip->id);
			*proto = ip->protocol;
		}
		if (ntohs(ip->id) != id || ip->protocol != *proto || off + len > sizeof(got))
			return 0;
		if (fo & IP_MF) {
			if (len % 8)
				return 0;
		} else {
			if (total)
				return 0; /* two last fragments */
			total = off + len;
		}
		memcpy(got + off, h_l4(i), len);
		held += len;
	}
	return total && held == total ? total : 0;
}

static u16 udp_sum_ok(const u8 *seg, unsigned len, be32 src, be32 dst)
{
	return inet_csum_fold(inet_csum_add(inet_pseudo_sum(src, dst, IPPROTO_UDP, (u16)len), seg, len));
}

/* ---- reassembly, and the echo of what was reassembled, fragmented on the way out ---- */

static void test_in_order_udp_echo_4000(void)
{
	unsigned n, m;
	u8 proto = 0;

	h_setup(NULL, NULL);
	learn_peer();
	n = udp_dgram(UDP_PORT_ECHO, 4000, 1);
	inject_all(0x100, IPPROTO_UDP, dgram, n, 1480, false);
	CHECK_EQ(ipv4_stats.rx_fragments, 3);
	CHECK_EQ(ipv4_stats.rx_frag_reassembled, 1);
	CHECK_EQ(ipv4_stats.rx_delivered, 1);
	CHECK_EQ(udp_stats.echo_packets, 1);
	CHECK_EQ(udp_stats.echo_bytes, 4000);
	CHECK_EQ(ipv4_frag_in_progress(), 0);
	CHECK_EQ(h_ntx, 3); /* 4008 bytes of UDP: 1480 + 1480 + 1048 */
	CHECK_EQ(ipv4_stats.tx_fragments, 3);
	m = reassemble_sent(0, &proto);
	CHECK_EQ(m, n);
	CHECK_EQ(proto, IPPROTO_UDP);
	CHECK_EQ(get_be16(got), UDP_PORT_ECHO);
	CHECK_EQ(get_be16(got + 2), 4321);
	CHECK_EQ(get_be16(got + 4), n);
	CHECK_MEM(got + UDP_HLEN, payload, 4000);
	CHECK_EQ(udp_sum_ok(got, n, h_our_ip, h_peer_ip), 0);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

static void test_reverse_order_icmp_echo(void)
{
	unsigned n, m;
	u8 proto = 0;

	h_setup(NULL, NULL);
	learn_peer();
	fill(payload, 4000, 9);
	n = h_icmp_echo(dgram, ICMP_ECHO, 0x77, 5, payload, 4000);
	inject_all(0x200, IPPROTO_ICMP, dgram, n, 1480, true);
	CHECK_EQ(ipv4_stats.rx_frag_reassembled, 1);
	CHECK_EQ(icmp_stats.rx_echo_requests, 1);
	CHECK_EQ(icmp_stats.tx_echo_replies, 1);
	CHECK_EQ(h_ntx, 3);
	m = reassemble_sent(0, &proto);
	CHECK_EQ(m, n);
	CHECK_EQ(proto, IPPROTO_ICMP);
	CHECK_EQ(got[0], ICMP_ECHOREPLY);
	CHECK_EQ(get_be16(got + 4), 0x77);
	CHECK_EQ(get_be16(got + 6), 5);
	CHECK_MEM(got + ICMP_HLEN, payload, 4000);
	CHECK_EQ(inet_csum(got, n), 0);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* Fragments of four datagrams shuffled together; the key is source, destination, id and
 * protocol (RFC 791 3.2): same id from another source, or of another protocol, is another
 * datagram. The largest datagram (16 KiB above IPv4) fits. */
static void test_interleaved_datagrams_and_the_key(void)
{
	static u8 a[IPV4_FRAG_MAX_DATA], b[3000], c[3000], d[3000];
	unsigned na, nb, nc, nd, step = 1024;
	be32 other = IPV4(10, 0, 2, 3);

	h_setup(NULL, NULL);
	fill(payload, sizeof(a) - UDP_HLEN, 3);
	na = h_udp(a, h_peer_ip, h_our_ip, 1, UDP_PORT_DISCARD, payload, sizeof(a) - UDP_HLEN, true);
	nb = h_udp(b, h_peer_ip, h_our_ip, 2, UDP_PORT_DISCARD, payload, 2000, true);
	nc = h_udp(c, other, h_our_ip, 3, UDP_PORT_DISCARD, payload + 1, 2500, true);
	fill(payload, 2000, 4);
	nd = h_icmp_echo(d, ICMP_ECHOREPLY, 1, 1, payload, 2000); /* nobody pings: counted, dropped */
	CHECK_EQ(na, IPV4_FRAG_MAX_DATA);
	for (unsigned off = 0; off < na; off += step) {
		inject_frag(7, IPPROTO_UDP, a, off, MIN(step, na - off), off + step < na);
		if (off < nb)
			inject_frag(7 + 1, IPPROTO_UDP, b, off, MIN(step, nb - off), off + step < nb);
		if (off < nc)
			inject_frag_full(h_our_mac, other, h_our_ip, 7, IPPROTO_UDP, c, off, MIN(step, nc - off),
					 off + step < nc, 0);
		if (off < nd)
			inject_frag(7, IPPROTO_ICMP, d, off, MIN(step, nd - off), off + step < nd);
	}
	CHECK_EQ(ipv4_stats.rx_frag_reassembled, 4);
	CHECK_EQ(udp_stats.discard_packets, 3);
	CHECK_EQ(udp_stats.discard_bytes, (na - UDP_HLEN) + 2000 + 2500);
	CHECK_EQ(icmp_stats.rx_echo_replies, 1);
	CHECK_EQ(ipv4_stats.rx_frag_evicted, 0);
	CHECK_EQ(ipv4_frag_in_progress(), 0);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(h_leaked(), 0);
}

/* ---- the drop rules --------------------------------------------------------------------- */

/* RFC 5722's rule: a fragment overlapping one held drops the whole datagram, and the rest of
 * it that arrives later is dropped too; an exact duplicate is only ignored. */
static void test_overlap_drops_the_datagram(void)
{
	unsigned n;

	h_setup(NULL, NULL);
	n = udp_dgram(UDP_PORT_DISCARD, 3000, 5); /* 3008: 1480 + 1480 + 48 */
	inject_frag(1, IPPROTO_UDP, dgram, 0, 1480, true);
	inject_frag(1, IPPROTO_UDP, dgram, 1472, 1480, true); /* 8 bytes over the first */
	CHECK_EQ(ipv4_stats.rx_frag_overlap, 1);
	inject_frag(1, IPPROTO_UDP, dgram, 1480, 1480, true);
	inject_frag(1, IPPROTO_UDP, dgram, 2960, n - 2960, false);
	CHECK_EQ(ipv4_stats.rx_frag_after_drop, 2);
	/* inside one held, same bytes but not the same fragment: an overlap */
	inject_frag(2, IPPROTO_UDP, dgram, 0, 1480, true);
	inject_frag(2, IPPROTO_UDP, dgram, 8, 480, true);
	/* the same range with other bytes */
	inject_frag(3, IPPROTO_UDP, dgram, 0, 1480, true);
	dgram[100] ^= 0xff;
	inject_frag(3, IPPROTO_UDP, dgram, 0, 1480, true);
	dgram[100] ^= 0xff;
	/* a fragment spanning two held ones */
	inject_frag(4, IPPROTO_UDP, dgram, 0, 1480, true);
	inject_frag(4, IPPROTO_UDP, dgram, 1480, 1480, true);
	inject_frag(4, IPPROTO_UDP, dgram, 1400, 160, true);
	CHECK_EQ(ipv4_stats.rx_frag_overlap, 4);
	CHECK_EQ(ipv4_stats.rx_frag_reassembled, 0);
	CHECK_EQ(udp_stats.rx_datagrams, 0);
	CHECK_EQ(h_leaked(), 0);
}

static void test_exact_duplicates_ignored(void)
{
	unsigned n;

	h_setup(NULL, NULL);
	n = udp_dgram(UDP_PORT_DISCARD, 3000, 6);
	inject_frag(9, IPPROTO_UDP, dgram, 1480, 1480, true);
	inject_frag(9, IPPROTO_UDP, dgram, 1480, 1480, true);
	inject_frag(9, IPPROTO_UDP, dgram, 2960, n - 2960, false);
	inject_frag(9, IPPROTO_UDP, dgram, 2960, n - 2960, false);
	inject_frag(9, IPPROTO_UDP, dgram, 0, 1480, true);
	CHECK_EQ(ipv4_stats.rx_frag_duplicate, 2);
	CHECK_EQ(ipv4_stats.rx_frag_overlap, 0);
	CHECK_EQ(ipv4_stats.rx_frag_reassembled, 1);
	CHECK_EQ(udp_stats.discard_packets, 1);
	CHECK_EQ(udp_stats.discard_bytes, 3000);
	/* a duplicate after completion starts a new datagram, which never completes */
	inject_frag(9, IPPROTO_UDP, dgram, 0, 1480, true);
	CHECK_EQ(ipv4_frag_in_progress(), 1);
	CHECK_EQ(udp_stats.discard_packets, 1);
	CHECK_EQ(h_leaked(), 0);
}

static void test_length_rules(void)
{
	u16 id = 20;

	h_setup(NULL, NULL);
	udp_dgram(UDP_PORT_DISCARD, 6000, 7);
	/* a first fragment without the whole UDP header */
	inject_frag(id++, IPPROTO_UDP, dgram, 0, 4, true);
	CHECK_EQ(ipv4_stats.rx_frag_short_first, 1);
	/* a non-last fragment whose data is not a multiple of 8 */
	inject_frag(id++, IPPROTO_UDP, dgram, 0, 100, true);
	inject_frag(id++, IPPROTO_UDP, dgram, 800, 1479, true);
	CHECK_EQ(ipv4_stats.rx_frag_bad_len, 2);
	/* non-last fragments smaller than a 68-byte MTU allows: 20 + 40 < 68; empty */
	inject_frag(id++, IPPROTO_UDP, dgram, 0, 40, true);
	inject_frag(id++, IPPROTO_UDP, dgram, 800, 0, true);
	CHECK_EQ(ipv4_stats.rx_frag_tiny, 2);
	/* with 4 bytes of options 40 is what a 68-byte MTU allows: held */
	inject_frag_full(h_our_mac, h_peer_ip, h_our_ip, id++, IPPROTO_UDP, dgram, 0, 40, true, 4);
	CHECK_EQ(ipv4_stats.rx_frag_tiny, 2);
	CHECK_EQ(ipv4_frag_in_progress(), 1);
	/* beyond IPV4_FRAG_MAX_DATA, and beyond 65535 */
	inject_frag(id++, IPPROTO_UDP, dgram, IPV4_FRAG_MAX_DATA - 8, 16, false);
	inject_frag(id++, IPPROTO_UDP, dgram, 0x1fff * 8, 16, false);
	CHECK_EQ(ipv4_stats.rx_frag_too_big, 2);
	/* ends that disagree: two last fragments, a non-last one past the end, a last one
	 * before data already held */
	inject_frag(id, IPPROTO_UDP, dgram, 1480, 100, false);
	inject_frag(id++, IPPROTO_UDP, dgram, 2960, 100, false);
	inject_frag(id, IPPROTO_UDP, dgram, 1480, 100, false);
	inject_frag(id++, IPPROTO_UDP, dgram, 2960, 1480, true);
	inject_frag(id, IPPROTO_UDP, dgram, 2960, 1480, true);
	inject_frag(id++, IPPROTO_UDP, dgram, 1480, 100, false);
	CHECK_EQ(ipv4_stats.rx_frag_bad_end, 3);
	/* the rest of a dropped datagram is dropped too */
	inject_frag(id - 1, IPPROTO_UDP, dgram, 4440, 100, false);
	CHECK_EQ(ipv4_stats.rx_frag_after_drop, 1);
	CHECK_EQ(ipv4_stats.rx_frag_reassembled, 0);
	CHECK_EQ(ipv4_stats.rx_frag_evicted, 0); /* dropped datagrams made room first */
	CHECK_EQ(udp_stats.rx_datagrams, 0);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(h_leaked(), 0);
}

/* ---- bounds: slots and time ------------------------------------------------------------- */

static void test_oldest_evicted_when_full(void)
{
	unsigned n;

	h_setup(NULL, NULL);
	n = udp_dgram(UDP_PORT_DISCARD, 2000, 8);
	for (u16 id = 1; id <= IPV4_FRAG_SLOTS + 1; id++) {
		inject_frag(id, IPPROTO_UDP, dgram, 0, 1480, true);
		h_advance_ns(NSEC_PER_SEC);
	}
	CHECK_EQ(ipv4_stats.rx_frag_evicted, 1);
	CHECK_EQ(ipv4_frag_in_progress(), IPV4_FRAG_SLOTS);
	for (u16 id = 2; id <= IPV4_FRAG_SLOTS + 1; id++)
		inject_frag(id, IPPROTO_UDP, dgram, 1480, n - 1480, false);
	CHECK_EQ(ipv4_stats.rx_frag_reassembled, IPV4_FRAG_SLOTS);
	CHECK_EQ(ipv4_frag_in_progress(), 0);
	inject_frag(1, IPPROTO_UDP, dgram, 1480, n - 1480, false); /* the evicted one: starts anew */
	CHECK_EQ(ipv4_stats.rx_frag_reassembled, IPV4_FRAG_SLOTS);
	CHECK_EQ(ipv4_frag_in_progress(), 1);
	CHECK_EQ(udp_stats.discard_packets, IPV4_FRAG_SLOTS);
	CHECK_EQ(h_leaked(), 0);
}

/* The oldest by its first fragment's time, wherever its slot: with the first slot taken again
 * by the youngest datagram, a new one evicts the second-oldest (id 2), not the youngest. */
static void test_evicts_oldest_not_first_slot(void)
{
	unsigned n;
	u64 evicted;

	h_setup(NULL, NULL);
	evicted = ipv4_stats.rx_frag_evicted;
	n = udp_dgram(UDP_PORT_DISCARD, 2000, 8);
	for (u16 id = 1; id <= IPV4_FRAG_SLOTS; id++) {
		inject_frag(id, IPPROTO_UDP, dgram, 0, 1480, true);
		h_advance_ns(NSEC_PER_SEC);
	}
	inject_frag(1, IPPROTO_UDP, dgram, 1480, n - 1480, false); /* id 1 done: its slot is free */
	inject_frag(100, IPPROTO_UDP, dgram, 0, 1480, true);        /* takes it: the youngest */
	h_advance_ns(NSEC_PER_SEC);
	inject_frag(101, IPPROTO_UDP, dgram, 0, 1480, true);        /* evicts one */
	CHECK_EQ(ipv4_stats.rx_frag_evicted, evicted + 1);
	inject_frag(100, IPPROTO_UDP, dgram, 1480, n - 1480, false);
	CHECK_EQ(ipv4_stats.rx_frag_reassembled, 2);                /* id 100 was kept */
	inject_frag(2, IPPROTO_UDP, dgram, 1480, n - 1480, false);
	CHECK_EQ(ipv4_stats.rx_frag_reassembled, 2);                /* id 2 was the one evicted */
	h_advance_ns(60 * NSEC_PER_SEC);                            /* the rest time out */
	CHECK_EQ(ipv4_frag_in_progress(), 0);
	CHECK_EQ(h_leaked(), 0);
}

/* The timer runs from the first fragment and is not restarted by later ones. */
static void test_timeout(void)
{
	unsigned n;

	h_setup(NULL, NULL);
	n = udp_dgram(UDP_PORT_DISCARD, 4000, 10);
	inject_frag(5, IPPROTO_UDP, dgram, 0, 1480, true);
	h_advance_ns(IPV4_FRAG_TIMEOUT_NS / 2);
	inject_frag(5, IPPROTO_UDP, dgram, 1480, 1480, true);
	h_advance_ns(IPV4_FRAG_TIMEOUT_NS / 2 - 1);
	CHECK_EQ(ipv4_frag_in_progress(), 1);
	CHECK_EQ(ipv4_stats.rx_frag_timeout, 0);
	h_advance_ns(1);
	CHECK_EQ(ipv4_stats.rx_frag_timeout, 1);
	CHECK_EQ(ipv4_frag_in_progress(), 0);
	inject_frag(5, IPPROTO_UDP, dgram, 2960, n - 2960, false); /* too late: alone */
	CHECK_EQ(ipv4_stats.rx_frag_reassembled, 0);
	h_advance_ns(IPV4_FRAG_TIMEOUT_NS);
	CHECK_EQ(ipv4_stats.rx_frag_timeout, 2);
	/* a dropped datagram is remembered for the same time, then forgotten without a count */
	inject_frag(6, IPPROTO_UDP, dgram, 0, 100, true);
	CHECK_EQ(ipv4_stats.rx_frag_bad_len, 1);
	CHECK_EQ(ipv4_frag_in_progress(), 0);
	h_advance_ns(IPV4_FRAG_TIMEOUT_NS - 1);
	inject_frag(6, IPPROTO_UDP, dgram, 1480, 1480, true);
	CHECK_EQ(ipv4_stats.rx_frag_after_drop, 1);
	h_advance_ns(1);
	CHECK_EQ(ipv4_stats.rx_frag_timeout, 2);
	inject_frag(6, IPPROTO_UDP, dgram, 1480, 1480, true); /* now a datagram of its own */
	CHECK_EQ(ipv4_stats.rx_frag_after_drop, 1);
	CHECK_EQ(ipv4_frag_in_progress(), 1);
	CHECK_EQ(udp_stats.rx_datagrams, 0);
	CHECK_EQ(h_leaked(), 0);
}

/* ---- the reassembled buffer ------------------------------------------------------------- */

static struct netbuf_stats seen_pool;
static unsigned seen_headroom, seen_len;
static bool seen_slot;

static void keep_handler(void *ctx, struct netbuf *nb, const struct udp_meta *m)
{
	netbuf_get_stats(&seen_pool);
	seen_slot = nb->release != NULL;
	seen_headroom = netbuf_headroom(nb);
	seen_len = netbuf_len(nb);
	netbuf_free(nb);
}

static void test_reassembled_buffer_is_a_slot(void)
{
	struct netbuf_stats before;
	unsigned n;

	h_setup(NULL, NULL);
	CHECK_EQ(udp_bind(5000, keep_handler, NULL), 5000);
	netbuf_get_stats(&before);
	n = udp_dgram(5000, IPV4_FRAG_MAX_DATA - UDP_HLEN, 11);
	inject_all(1, IPPROTO_UDP, dgram, n, 1480, false);
	CHECK(seen_slot);
	CHECK_EQ(seen_len, IPV4_FRAG_MAX_DATA - UDP_HLEN);
	CHECK(seen_headroom >= NETBUF_HEADROOM + IPV4_HLEN + UDP_HLEN);
	CHECK_EQ(seen_pool.in_use, before.in_use); /* no pool buffer held for it */
	CHECK_EQ(ipv4_frag_in_progress(), 0);
	/* every slot came back: as many datagrams at once as there are slots */
	for (u16 id = 10; id < 10 + IPV4_FRAG_SLOTS; id++)
		inject_frag(id, IPPROTO_UDP, dgram, 0, 1480, true);
	for (u16 id = 10; id < 10 + IPV4_FRAG_SLOTS; id++)
		inject_all(id, IPPROTO_UDP, dgram, n, 1480, false);
	CHECK_EQ(ipv4_stats.rx_frag_reassembled, 1 + IPV4_FRAG_SLOTS);
	CHECK_EQ(ipv4_stats.rx_frag_evicted, 0);
	netbuf_get_stats(&before);
	CHECK_EQ(before.bad_frees, 0);
	udp_unbind(5000);
	CHECK_EQ(h_leaked(), 0);
}

/* A reply that fits the MTU leaves in a pool buffer (a copy): the slot never reaches the
 * device and is back before ipv4_output returns. Small fragments (48 bytes: a 68-byte MTU). */
static void test_small_reply_from_slot_is_copied(void)
{
	unsigned n;

	h_setup(NULL, NULL);
	learn_peer();
	n = udp_dgram(UDP_PORT_ECHO, 200, 12);
	inject_all(3, IPPROTO_UDP, dgram, n, 48, false);
	CHECK_EQ(ipv4_stats.rx_fragments, 5);
	CHECK_EQ(udp_stats.echo_packets, 1);
	CHECK_EQ(h_ntx, 1);
	CHECK(h_tx[0]->release == NULL);
	CHECK_EQ(ntohs(h_ip(0)->frag_off), 0);
	CHECK_EQ(ntohs(h_ip(0)->tot_len), IPV4_HLEN + n);
	CHECK_MEM(h_l4(0) + UDP_HLEN, payload, 200);
	CHECK_EQ(ipv4_frag_in_progress(), 0);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* The whole datagram passes the checks of any other: a source that is not a host is dropped
 * after reassembly; an unknown protocol gets protocol unreachable quoting the datagram; one
 * that came in link-layer broadcasts is not echoed. */
static void test_reassembled_checked_like_any_datagram(void)
{
	const struct icmphdr *ic;
	unsigned n;

	h_setup(NULL, NULL);
	learn_peer();
	n = udp_dgram(UDP_PORT_ECHO, 2000, 13);
	inject_frag_full(h_our_mac, h_our_ip, h_our_ip, 1, IPPROTO_UDP, dgram, 0, 1480, true, 0);
	inject_frag_full(h_our_mac, h_our_ip, h_our_ip, 1, IPPROTO_UDP, dgram, 1480, n - 1480, false, 0);
	CHECK_EQ(ipv4_stats.rx_frag_reassembled, 1);
	CHECK_EQ(ipv4_stats.rx_bad_source, 1);
	CHECK_EQ(udp_stats.rx_datagrams, 0);
	inject_all(2, 6 /* TCP */, dgram, n, 1480, false);
	CHECK_EQ(ipv4_stats.rx_unknown_proto, 1);
	CHECK_EQ(h_ntx, 1);
	ic = (const void *)h_l4(0);
	CHECK_EQ(ic->type, ICMP_DEST_UNREACH);
	CHECK_EQ(ic->code, ICMP_PROT_UNREACH);
	CHECK_EQ(ntohs(h_ip(0)->tot_len), ICMP_ERROR_MAX_TOTAL);
	CHECK_EQ(ntohs(((const struct iphdr *)(ic + 1))->tot_len), IPV4_HLEN + n); /* the whole one */
	CHECK_MEM((const u8 *)(ic + 1) + IPV4_HLEN, dgram, ICMP_ERROR_MAX_TOTAL - 2 * IPV4_HLEN - ICMP_HLEN);
	h_clear_tx();
	inject_frag_full(eth_broadcast_addr, h_peer_ip, h_our_ip, 3, IPPROTO_UDP, dgram, 0, 1480, true, 0);
	inject_frag(3, IPPROTO_UDP, dgram, 1480, n - 1480, false);
	CHECK_EQ(ipv4_stats.rx_frag_reassembled, 3);
	CHECK_EQ(udp_stats.echo_ignored, 1);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(h_leaked(), 0);
}

/* ---- fragmentation of what we send ------------------------------------------------------ */

static u8 big_store[NETBUF_HEADROOM + IP_MAX_TOTAL];
static unsigned big_released;

static void big_release(struct netbuf *nb) { big_released++; }

/* A buffer that is not the pool's, holding len bytes of data. */
static struct netbuf *big_buffer(struct netbuf *nb, unsigned len, unsigned seed)
{
	memset(nb, 0, sizeof(*nb));
	nb->head = big_store;
	nb->end = big_store + sizeof(big_store);
	nb->data = big_store + NETBUF_HEADROOM;
	nb->tail = nb->data + len;
	nb->release = big_release;
	fill(nb->data, len, seed);
	return nb;
}

static void test_fragmented_output_exact(void)
{
	static const unsigned sizes[] = { 1480, 1481, 2960, 2961, 10000, IP_MAX_TOTAL - IPV4_HLEN };
	struct netbuf nb;
	u8 proto = 0;

	h_setup(NULL, NULL);
	learn_peer();
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
		unsigned len = sizes[i], frames = (len + 1479) / 1480;

		big_released = 0;
		CHECK_EQ(ipv4_output(big_buffer(&nb, len, i), h_our_ip, h_peer_ip, IPPROTO_UDP), 0);
		CHECK_EQ(big_released, 1);
		CHECK_EQ(h_ntx, frames);
		CHECK_EQ(reassemble_sent(0, &proto), len);
		CHECK_EQ(proto, IPPROTO_UDP);
		CHECK_MEM(got, big_store + NETBUF_HEADROOM, len);
		if (frames == 1)
			CHECK_EQ(ntohs(h_ip(0)->frag_off), 0);
		h_clear_tx();
	}
	CHECK_EQ(ipv4_stats.tx_packets, ARRAY_SIZE(sizes));
	/* one byte more than the total length field can say */
	big_released = 0;
	CHECK_EQ(ipv4_output(big_buffer(&nb, IP_MAX_TOTAL - IPV4_HLEN + 1, 0), h_our_ip, h_peer_ip, IPPROTO_UDP),
		 -EMSGSIZE);
	CHECK_EQ(ipv4_stats.tx_too_big, 1);
	CHECK_EQ(big_released, 1);
	/* the ids of consecutive datagrams differ; the fragments of one share it */
	ipv4_output(big_buffer(&nb, 3000, 1), h_our_ip, h_peer_ip, IPPROTO_UDP);
	ipv4_output(big_buffer(&nb, 3000, 1), h_our_ip, h_peer_ip, IPPROTO_UDP);
	CHECK_EQ(h_ntx, 6);
	CHECK_EQ(h_ip(0)->id, h_ip(2)->id);
	CHECK(h_ip(2)->id != h_ip(3)->id);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* A smaller MTU makes smaller fragments, still multiples of 8. */
static void test_fragments_follow_the_mtu(void)
{
	struct netbuf nb;
	u8 proto = 0;

	h_setup(NULL, NULL);
	learn_peer();
	h_dev.mtu = 576;
	CHECK_EQ(ipv4_output(big_buffer(&nb, 2000, 2), h_our_ip, h_peer_ip, IPPROTO_ICMP), 0);
	CHECK_EQ(h_ntx, 4); /* 552 + 552 + 552 + 344 */
	CHECK_EQ(ntohs(h_ip(0)->tot_len), IPV4_HLEN + 552);
	CHECK_EQ(reassemble_sent(0, &proto), 2000);
	CHECK_MEM(got, big_store + NETBUF_HEADROOM, 2000);
	h_dev.mtu = ETH_DATA_LEN;
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* No pool buffer for every fragment: the datagram is dropped whole, nothing sent. */
static void test_pool_dry_drops_the_datagram(void)
{
	static struct netbuf *held[NETBUF_MAX];
	struct netbuf_stats st;
	struct netbuf nb;
	unsigned n = 0;

	h_setup(NULL, NULL);
	learn_peer();
	netbuf_get_stats(&st);
	while (st.free > 3 && (held[n] = netbuf_alloc())) {
		n++;
		st.free--;
	}
	big_released = 0;
	CHECK_EQ(ipv4_output(big_buffer(&nb, 10000, 3), h_our_ip, h_peer_ip, IPPROTO_UDP), -ENOBUFS);
	CHECK_EQ(ipv4_stats.tx_frag_no_buffers, 1);
	CHECK_EQ(big_released, 1);
	CHECK_EQ(h_ntx, 0);
	netbuf_get_stats(&st);
	CHECK_EQ(st.free, 3);
	while (n)
		netbuf_free(held[--n]);
	CHECK_EQ(h_leaked(), 0);
}


/* RFC 1122 3.3.2 / RFC 792: a datagram whose first fragment came and that times out gets
 * time exceeded, code 1, quoting that fragment; one whose first fragment never came, or that
 * came in a link-layer broadcast, gets nothing. */
static void test_timeout_sends_time_exceeded(void)
{
	const struct icmphdr *ic;
	const struct iphdr *q;
	unsigned k = 0, ip_frames = 0;

	h_setup(NULL, NULL);
	learn_peer();
	udp_dgram(UDP_PORT_DISCARD, 4000, 11);
	inject_frag(7, IPPROTO_UDP, dgram, 0, 1480, true);
	inject_frag(8, IPPROTO_UDP, dgram, 1480, 1480, true); /* no first fragment */
	inject_frag_full(eth_broadcast_addr, h_peer_ip, h_our_ip, 9, IPPROTO_UDP, dgram, 0, 1480, true, 0);
	CHECK_EQ(h_ntx, 0);
	h_advance_ns(IPV4_FRAG_TIMEOUT_NS);
	CHECK_EQ(ipv4_stats.rx_frag_timeout, 3);
	CHECK_EQ(icmp_stats.tx_time_exceeded, 1);
	CHECK_EQ(icmp_stats.tx_error_link_bcast, 1);
	/* besides it, at most ARP's poll of the peer, whose entry went stale meanwhile */
	for (unsigned i = 0; i < h_ntx; i++)
		if (ntohs(h_eth(i)->h_proto) == ETH_P_IP) {
			k = i;
			ip_frames++;
		}
	CHECK_EQ(ip_frames, 1);
	if (ip_frames != 1)
		return;
	CHECK_EQ(h_ip(k)->protocol, IPPROTO_ICMP);
	CHECK_EQ(h_ip(k)->daddr, h_peer_ip);
	ic = (const void *)h_l4(k);
	CHECK_EQ(ic->type, ICMP_TIME_EXCEEDED);
	CHECK_EQ(ic->code, ICMP_EXC_FRAGTIME);
	CHECK_EQ(inet_csum(ic, ntohs(h_ip(k)->tot_len) - IPV4_HLEN), 0);
	q = (const void *)(ic + 1);
	CHECK_EQ(ntohs(q->id), 7);
	CHECK_EQ(ntohs(q->frag_off), IP_MF);
	CHECK_EQ(q->saddr, h_peer_ip);
	/* as much of the first fragment as fits in 576 bytes: header, then its data */
	CHECK_EQ(ntohs(h_ip(k)->tot_len), ICMP_ERROR_MAX_TOTAL);
	CHECK_MEM((const u8 *)(q + 1), dgram, ICMP_ERROR_MAX_TOTAL - 2 * IPV4_HLEN - ICMP_HLEN);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* Options on a datagram sent in fragments (RFC 791 3.1): all in the first, the copied ones
 * (type bit 7: a source route) in every other, non-copied ones (record route) only first. */
static void test_options_in_fragments(void)
{
	static const u8 rr[8] = { IPOPT_RR, 7, 4, 0, 0, 0, 0, IPOPT_END };
	static const u8 mixed[12] = { IPOPT_RR, 3, 4, IPOPT_NOP, IPOPT_LSRR, 7, 8, 10, 0, 2, 2, IPOPT_END };
	struct ip_tx tx = { .saddr = h_our_ip, .daddr = h_peer_ip, .protocol = IPPROTO_UDP };
	struct netbuf nb;

	h_setup(NULL, NULL);
	learn_peer();
	tx.opts = rr;
	tx.optlen = sizeof(rr);
	CHECK_EQ(ipv4_output_opts(big_buffer(&nb, 3000, 4), &tx), 0);
	CHECK_EQ(h_ntx, 3); /* 1472 + 1480 + 48 */
	CHECK_EQ(ip_hdrlen(h_ip(0)), 28);
	CHECK_MEM((const u8 *)(h_ip(0) + 1), rr, sizeof(rr));
	CHECK_EQ(inet_csum(h_ip(0), 28), 0);
	CHECK_EQ(ntohs(h_ip(0)->tot_len), 1500);
	CHECK_EQ(ip_hdrlen(h_ip(1)), 20);
	CHECK_EQ(ntohs(h_ip(1)->frag_off) & IP_OFFSET, 1472 / 8);
	CHECK_EQ(ip_hdrlen(h_ip(2)), 20);
	CHECK_EQ(ntohs(h_ip(2)->tot_len), IPV4_HLEN + 48);
	CHECK_MEM(h_l4(1), big_store + NETBUF_HEADROOM + 1472, 1480);
	h_clear_tx();
	tx.opts = mixed;
	tx.optlen = sizeof(mixed);
	CHECK_EQ(ipv4_output_opts(big_buffer(&nb, 2000, 5), &tx), 0);
	CHECK_EQ(h_ntx, 2);
	CHECK_EQ(ip_hdrlen(h_ip(0)), 32);
	CHECK_EQ(ip_hdrlen(h_ip(1)), 28);
	CHECK_MEM((const u8 *)(h_ip(1) + 1), mixed + 4, 7); /* the source route alone, padded */
	CHECK_EQ(((const u8 *)(h_ip(1) + 1))[7], IPOPT_END);
	CHECK_EQ(inet_csum(h_ip(1), 28), 0);
	h_clear_tx();
	/* options that are not whole words, or too many */
	tx.optlen = 6;
	CHECK_EQ(ipv4_output_opts(big_buffer(&nb, 100, 5), &tx), -EINVAL);
	tx.optlen = 44;
	CHECK_EQ(ipv4_output_opts(big_buffer(&nb, 100, 5), &tx), -EINVAL);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(h_leaked(), 0);
}

/* udp_sendto and ping of more than the MTU go out in fragments, through the one big send
 * buffer, which comes back each time; IPV4_MAX_SEND is the limit. */
static void test_sendto_and_ping_fragmented(void)
{
	static struct ping_session ps;
	u8 proto = 0;

	h_setup(NULL, NULL);
	learn_peer();
	fill(payload, 4000, 12);
	for (int round = 0; round < 2; round++) {
		CHECK_EQ(udp_sendto(h_peer_ip, 5555, 6666, payload, 4000), 0);
		CHECK_EQ(h_ntx, 3);
		CHECK_EQ(reassemble_sent(0, &proto), 4008);
		CHECK_EQ(proto, IPPROTO_UDP);
		CHECK_EQ(get_be16(got + 4), 4008);
		CHECK_EQ(udp_sum_ok(got, 4008, h_our_ip, h_peer_ip), 0);
		CHECK_MEM(got + UDP_HLEN, payload, 4000);
		h_clear_tx();
	}
	CHECK_EQ(udp_sendto(h_peer_ip, 5555, 6666, payload, IPV4_MAX_SEND - UDP_HLEN), 0);
	CHECK_EQ(h_ntx, 12);
	CHECK_EQ(reassemble_sent(0, &proto), IPV4_MAX_SEND);
	h_clear_tx();
	CHECK_EQ(ping_begin(&ps, h_peer_ip, 4000), 0);
	ps.quiet = true;
	CHECK_EQ(ping_send_next(&ps), 0);
	CHECK_EQ(reassemble_sent(0, &proto), 4008);
	CHECK_EQ(proto, IPPROTO_ICMP);
	CHECK_EQ(got[0], ICMP_ECHO);
	CHECK_EQ(inet_csum(got, 4008), 0);
	CHECK_EQ(got[8 + 3999], (u8)(1 + 3999));
	h_clear_tx();
	ping_end(&ps);
	CHECK_EQ(h_leaked(), 0);
}

int main(void)
{
	RUN(test_in_order_udp_echo_4000);
	RUN(test_reverse_order_icmp_echo);
	RUN(test_interleaved_datagrams_and_the_key);
	RUN(test_overlap_drops_the_datagram);
	RUN(test_exact_duplicates_ignored);
	RUN(test_length_rules);
	RUN(test_oldest_evicted_when_full);
	RUN(test_evicts_oldest_not_first_slot);
	RUN(test_timeout);
	RUN(test_reassembled_buffer_is_a_slot);
	RUN(test_small_reply_from_slot_is_copied);
	RUN(test_reassembled_checked_like_any_datagram);
	RUN(test_fragmented_output_exact);
	RUN(test_fragments_follow_the_mtu);
	RUN(test_pool_dry_drops_the_datagram);
	RUN(test_timeout_sends_time_exceeded);
	RUN(test_options_in_fragments);
	RUN(test_sendto_and_ping_fragmented);
	return unit_summary("net_ipfrag");
}
