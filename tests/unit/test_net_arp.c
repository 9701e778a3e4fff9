/*
 * tests/unit/test_net_arp.c - ARP (RFC 826): replies for our address only (built in the
 * received buffer), the cache and its expiry, resolution with a bounded queue and timed
 * retries, gratuitous announcements, and every validation branch.
 */
#include "tests/unit/kernel_harness.h"
#include "tests/unit/net_harness.h"
#include "tests/unit/unit.h"

static const u8 zero_mac[6];
static const u8 host3_mac[6] = { 0x02, 0, 0, 0, 0, 0x03 };

static struct netbuf *arp_pkt(u16 op, const u8 *sha, be32 spa, be32 tpa, struct arphdr_eth **out)
{
	u8 a[28];
	struct netbuf *nb;

	h_arp(a, op, sha, spa, zero_mac, tpa);
	nb = h_frame(eth_broadcast_addr, sha, ETH_P_ARP, a, sizeof(a));
	if (out)
		*out = (void *)(nb->data + ETH_HLEN);
	return nb;
}

static void test_reply_in_place(void)
{
	struct netbuf *nb;
	const struct arphdr_eth *r;

	h_setup(NULL, NULL);
	nb = arp_pkt(ARPOP_REQUEST, h_peer_mac, h_peer_ip, h_our_ip, NULL);
	netbuf_put(nb, 18); /* link padding to 60 bytes */
	h_inject(nb);
	CHECK_EQ(h_ntx, 1);
	CHECK(h_tx[0] == nb); /* the request's own buffer carries the reply */
	CHECK_MEM(h_eth(0)->h_dest, h_peer_mac, 6);
	CHECK_EQ(ntohs(h_eth(0)->h_proto), ETH_P_ARP);
	r = (const void *)(h_tx[0]->data + ETH_HLEN);
	CHECK_EQ(ntohs(r->ar_op), ARPOP_REPLY);
	CHECK_EQ(ntohs(r->ar_hrd), 1);
	CHECK_EQ(ntohs(r->ar_pro), ETH_P_IP);
	CHECK(r->ar_hln == 6 && r->ar_pln == 4);
	CHECK_MEM(r->ar_sha, h_our_mac, 6);
	CHECK_EQ(r->ar_spa, h_our_ip);
	CHECK_MEM(r->ar_tha, h_peer_mac, 6);
	CHECK_EQ(r->ar_tpa, h_peer_ip);
	CHECK_EQ(h_len(0), ETH_ZLEN); /* padding trimmed, then padded again to the minimum */
	CHECK_EQ(arp_stats.tx_replies, 1);
	/* and the asker is now in the cache (RFC 826: we are the target) */
	u8 mac[6];
	CHECK(arp_lookup(h_peer_ip, mac));
	CHECK_MEM(mac, h_peer_mac, 6);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

static void test_not_for_us(void)
{
	u8 mac[6];

	h_setup(NULL, NULL);
	h_inject(arp_pkt(ARPOP_REQUEST, h_peer_mac, h_peer_ip, IPV4(10, 0, 2, 77), NULL));
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(arp_stats.rx_not_for_us, 1);
	CHECK(!arp_lookup(h_peer_ip, mac)); /* not the target: no new entry */
	/* but an existing entry is refreshed ("merge") even when we are not the target */
	h_inject(arp_pkt(ARPOP_REQUEST, h_peer_mac, h_peer_ip, h_our_ip, NULL));
	h_clear_tx();
	h_inject(arp_pkt(ARPOP_REQUEST, host3_mac, h_peer_ip, IPV4(10, 0, 2, 77), NULL));
	CHECK(arp_lookup(h_peer_ip, mac));
	CHECK_MEM(mac, host3_mac, 6);
	CHECK_EQ(h_leaked(), 0);
}

static void test_validation_branches(void)
{
	struct arphdr_eth *a;
	struct netbuf *nb;

	h_setup(NULL, NULL);
	nb = arp_pkt(ARPOP_REQUEST, h_peer_mac, h_peer_ip, h_our_ip, NULL);
	netbuf_trim(nb, ETH_HLEN + 27);
	h_inject(nb);
	CHECK_EQ(arp_stats.rx_runt, 1);
	nb = arp_pkt(ARPOP_REQUEST, h_peer_mac, h_peer_ip, h_our_ip, &a);
	a->ar_hrd = htons(6);
	h_inject(nb);
	CHECK_EQ(arp_stats.rx_bad_htype, 1);
	nb = arp_pkt(ARPOP_REQUEST, h_peer_mac, h_peer_ip, h_our_ip, &a);
	a->ar_pro = htons(0x86dd);
	h_inject(nb);
	CHECK_EQ(arp_stats.rx_bad_ptype, 1);
	nb = arp_pkt(ARPOP_REQUEST, h_peer_mac, h_peer_ip, h_our_ip, &a);
	a->ar_hln = 8;
	h_inject(nb);
	CHECK_EQ(arp_stats.rx_bad_hlen, 1);
	nb = arp_pkt(ARPOP_REQUEST, h_peer_mac, h_peer_ip, h_our_ip, &a);
	a->ar_pln = 16;
	h_inject(nb);
	CHECK_EQ(arp_stats.rx_bad_plen, 1);
	nb = arp_pkt(3, h_peer_mac, h_peer_ip, h_our_ip, NULL); /* RARP request */
	h_inject(nb);
	CHECK_EQ(arp_stats.rx_bad_op, 1);
	nb = arp_pkt(ARPOP_REQUEST, h_peer_mac, h_peer_ip, h_our_ip, &a);
	a->ar_sha[0] = 0x01; /* group MAC as sender */
	h_inject(nb);
	nb = arp_pkt(ARPOP_REQUEST, h_peer_mac, h_peer_ip, h_our_ip, &a);
	memset(a->ar_sha, 0, 6);
	h_inject(nb);
	h_inject(arp_pkt(ARPOP_REQUEST, h_peer_mac, INADDR_BROADCAST_BE, h_our_ip, NULL));
	h_inject(arp_pkt(ARPOP_REQUEST, h_peer_mac, IPV4(10, 0, 2, 255), h_our_ip, NULL));
	h_inject(arp_pkt(ARPOP_REQUEST, h_peer_mac, IPV4(224, 0, 0, 1), h_our_ip, NULL));
	CHECK_EQ(arp_stats.rx_bad_sender, 5);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(arp_stats.rx_packets, 11);
	CHECK_EQ(h_leaked(), 0);
}

static void test_conflict_and_probe(void)
{
	u8 mac[6];

	h_setup(NULL, NULL);
	h_inject(arp_pkt(ARPOP_REPLY, host3_mac, h_our_ip, h_our_ip, NULL));
	CHECK_EQ(arp_stats.rx_conflicts, 1);
	CHECK_EQ(h_ntx, 1); /* defended (RFC 5227 2.4) */
	CHECK_EQ(arp_stats.tx_defends, 1);
	h_clear_tx();
	/* an RFC 5227 probe (sender 0.0.0.0) for our address: answered, nothing cached */
	h_inject(arp_pkt(ARPOP_REQUEST, host3_mac, 0, h_our_ip, NULL));
	CHECK_EQ(h_ntx, 1);
	CHECK_EQ(ntohs(((const struct arphdr_eth *)(h_tx[0]->data + ETH_HLEN))->ar_op), ARPOP_REPLY);
	CHECK(!arp_lookup(0, mac));
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

static void test_unconfigured_ignores(void)
{
	h_setup("dhcp", NULL);
	h_clear_tx();
	h_inject(arp_pkt(ARPOP_REQUEST, h_peer_mac, h_peer_ip, 0, NULL));
	CHECK_EQ(arp_stats.rx_unconfigured, 1);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(h_leaked(), 0);
}

/* Send count UDP datagrams to dst; returns how many udp_sendto accepted. */
static int send_udp(be32 dst, int count)
{
	int ok = 0;

	for (int i = 0; i < count; i++) {
		u8 b = (u8)i;
		ok += udp_sendto(dst, 5000, 6000, &b, 1) == 0;
	}
	return ok;
}

static void test_resolve_queue_and_flush_in_order(void)
{
	const struct arphdr_eth *q;

	h_setup(NULL, NULL);
	CHECK_EQ(send_udp(IPV4(10, 0, 2, 3), ARP_QUEUE_LEN), ARP_QUEUE_LEN);
	CHECK_EQ(h_ntx, 1); /* one request, the datagrams wait */
	CHECK(eth_is_broadcast(h_eth(0)->h_dest));
	q = (const void *)(h_tx[0]->data + ETH_HLEN);
	CHECK_EQ(ntohs(q->ar_op), ARPOP_REQUEST);
	CHECK_EQ(q->ar_tpa, IPV4(10, 0, 2, 3));
	CHECK_EQ(q->ar_spa, h_our_ip);
	CHECK_EQ(arp_pending_total(), ARP_QUEUE_LEN);
	/* the queue is bounded: one more is dropped and counted */
	CHECK_EQ(send_udp(IPV4(10, 0, 2, 3), 1), 0);
	CHECK_EQ(arp_stats.resolve_queue_full, 1);
	h_clear_tx();
	h_inject(arp_pkt(ARPOP_REPLY, host3_mac, IPV4(10, 0, 2, 3), h_our_ip, NULL));
	CHECK_EQ(h_ntx, ARP_QUEUE_LEN);
	for (unsigned i = 0; i < h_ntx; i++) {
		CHECK_MEM(h_eth(i)->h_dest, host3_mac, 6);
		CHECK_EQ(h_l4(i)[UDP_HLEN], i); /* in order */
	}
	CHECK_EQ(arp_pending_total(), 0);
	h_clear_tx();
	/* now known: straight out */
	CHECK_EQ(send_udp(IPV4(10, 0, 2, 3), 1), 1);
	CHECK_EQ(h_ntx, 1);
	CHECK_EQ(ntohs(h_eth(0)->h_proto), ETH_P_IP);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

static void test_retries_then_counted_drop(void)
{
	h_setup(NULL, NULL);
	send_udp(IPV4(10, 0, 2, 4), 3);
	CHECK_EQ(arp_stats.tx_requests, 1);
	h_advance_ns(ARP_RETRY_NS - 1);
	CHECK_EQ(arp_stats.tx_requests, 1);
	h_advance_ns(1);
	CHECK_EQ(arp_stats.tx_requests, 2);
	h_advance_ns(ARP_RETRY_NS * 10);
	CHECK_EQ(arp_stats.tx_requests, ARP_MAX_TRIES);
	CHECK_EQ(arp_stats.resolve_failed, 3);
	CHECK_EQ(arp_pending_total(), 0);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* A fresh stack that has just learnt the peer (its request for us, our reply discarded). */
static void setup_knowing_peer(void)
{
	h_setup(NULL, NULL);
	h_inject(arp_pkt(ARPOP_REQUEST, h_peer_mac, h_peer_ip, h_our_ip, NULL));
	h_clear_tx();
}

/* A frame captured at index i is an ARP request to dst for tpa (sender us). */
static bool is_arp_request_to(unsigned i, const u8 *dst, be32 tpa)
{
	const struct arphdr_eth *q = (const void *)(h_tx[i]->data + ETH_HLEN);

	return ntohs(h_eth(i)->h_proto) == ETH_P_ARP && memcmp(h_eth(i)->h_dest, dst, 6) == 0 &&
	       ntohs(q->ar_op) == ARPOP_REQUEST && q->ar_tpa == tpa && q->ar_spa == h_our_ip &&
	       memcmp(q->ar_sha, h_our_mac, 6) == 0;
}

/* Issue 16: a steady flow to a peer across the end of its entry's reachable time. Every
 * datagram leaves at once to the known MAC (none waits on the entry, none is lost); the entry
 * is re-confirmed by a unicast request to that MAC (RFC 1122 2.3.2.1, "unicast poll"), never
 * by a broadcast. The peer answers each poll 50 ms later. */
static void test_steady_flow_across_expiry(void)
{
	unsigned sent = 0, polls = 0;
	u64 answer_at = 0;

	setup_knowing_peer();
	for (u64 t = 0; t < 3 * ARP_REACHABLE_NS + 5 * NSEC_PER_SEC; t += 100 * NSEC_PER_MSEC) {
		unsigned out = 0;

		CHECK_EQ(send_udp(h_peer_ip, 1), 1);
		sent++;
		for (unsigned i = 0; i < h_ntx; i++) {
			if (ntohs(h_eth(i)->h_proto) == ETH_P_IP) {
				CHECK_MEM(h_eth(i)->h_dest, h_peer_mac, 6);
				out++;
				continue;
			}
			CHECK(is_arp_request_to(i, h_peer_mac, h_peer_ip)); /* unicast */
			polls++;
			answer_at = host_now_ns + 50 * NSEC_PER_MSEC;
		}
		CHECK_EQ(out, 1); /* the datagram left at once */
		h_clear_tx();
		CHECK_EQ(arp_pending_total(), 0);
		h_advance_ns(50 * NSEC_PER_MSEC);
		if (answer_at && host_now_ns >= answer_at) {
			h_inject(arp_pkt(ARPOP_REPLY, h_peer_mac, h_peer_ip, h_our_ip, NULL));
			answer_at = 0;
		}
		h_advance_ns(50 * NSEC_PER_MSEC);
		polls += h_ntx; /* a poll repeated by the timer (none expected: each is answered) */
		h_clear_tx();
	}
	CHECK_EQ(polls, 3);
	CHECK_EQ(arp_stats.resolve_queued, 0);
	CHECK_EQ(arp_stats.tx_requests, 0); /* no broadcast */
	CHECK_EQ(arp_stats.resolve_failed, 0);
	CHECK_EQ(arp_stats.resolve_queue_full, 0);
	CHECK_EQ(udp_stats.tx_datagrams, sent);
	CHECK_EQ(h_leaked(), 0);
}

/* A stale entry nobody answers for: still used while it is polled, ARP_MAX_TRIES unicast
 * requests ARP_RETRY_NS apart, then it goes (counted) and the next packet resolves afresh
 * with a broadcast. Nothing was queued or dropped meanwhile. */
static void test_stale_entry_polled_then_removed(void)
{
	u8 mac[6];

	setup_knowing_peer();
	h_advance_ns(ARP_REACHABLE_NS);
	CHECK(arp_lookup(h_peer_ip, mac)); /* stale, still usable */
	CHECK_MEM(mac, h_peer_mac, 6);
	CHECK_EQ(send_udp(h_peer_ip, 1), 1);
	CHECK_EQ(h_ntx, 2); /* the datagram to the known MAC, then the first poll */
	CHECK_EQ(ntohs(h_eth(0)->h_proto), ETH_P_IP);
	CHECK_MEM(h_eth(0)->h_dest, h_peer_mac, 6);
	CHECK(is_arp_request_to(1, h_peer_mac, h_peer_ip));
	h_clear_tx();
	for (unsigned n = 2; n <= ARP_MAX_TRIES; n++) {
		h_advance_ns(ARP_RETRY_NS - 1);
		CHECK_EQ(h_ntx, 0);
		CHECK_EQ(send_udp(h_peer_ip, 1), 1); /* still sent at once while polling */
		CHECK_EQ(h_ntx, 1);
		CHECK_MEM(h_eth(0)->h_dest, h_peer_mac, 6);
		h_clear_tx();
		h_advance_ns(1);
		CHECK_EQ(h_ntx, 1);
		CHECK(is_arp_request_to(0, h_peer_mac, h_peer_ip));
		h_clear_tx();
	}
	CHECK(arp_lookup(h_peer_ip, mac));
	h_advance_ns(ARP_RETRY_NS);
	CHECK_EQ(h_ntx, 0);
	CHECK(!arp_lookup(h_peer_ip, mac));
	CHECK_EQ(arp_stats.entries_expired, 1);
	CHECK_EQ(arp_stats.resolve_queued, 0);
	CHECK_EQ(arp_stats.resolve_failed, 0);
	CHECK_EQ(arp_stats.tx_requests, 0);
	/* sending to it again asks again, by broadcast, and waits */
	send_udp(h_peer_ip, 1);
	CHECK_EQ(h_ntx, 1);
	CHECK(is_arp_request_to(0, eth_broadcast_addr, h_peer_ip));
	CHECK_EQ(arp_pending_total(), 1);
	h_clear_tx();
	arp_flush();
	CHECK_EQ(h_leaked(), 0);
}

/* The answer to a poll may carry a new MAC (the peer's NIC was replaced): it is taken. A stale
 * entry nobody sends to is not polled. */
static void test_poll_answer_takes_new_mac(void)
{
	u8 mac[6];

	setup_knowing_peer();
	h_advance_ns(5 * ARP_REACHABLE_NS);
	CHECK_EQ(h_ntx, 0);
	CHECK(arp_lookup(h_peer_ip, mac));
	send_udp(h_peer_ip, 1);
	CHECK_EQ(h_ntx, 2);
	h_clear_tx();
	h_inject(arp_pkt(ARPOP_REPLY, host3_mac, h_peer_ip, h_our_ip, NULL));
	CHECK(arp_lookup(h_peer_ip, mac));
	CHECK_MEM(mac, host3_mac, 6);
	h_advance_ns(ARP_MAX_TRIES * ARP_RETRY_NS);
	CHECK_EQ(h_ntx, 0); /* confirmed: no more polls */
	send_udp(h_peer_ip, 1);
	CHECK_EQ(h_ntx, 1);
	CHECK_MEM(h_eth(0)->h_dest, host3_mac, 6);
	h_clear_tx();
	CHECK_EQ(arp_stats.entries_expired, 0);
	CHECK_EQ(h_leaked(), 0);
}

/* REACHABLE for exactly the reachable time after the last ARP packet from the owner, then
 * STALE: still used, nothing sent until something is sent through it. arp_reachable_ms= sets
 * that time; a value out of range is refused with a message. */
static void test_reachable_then_stale(void)
{
	u8 mac[6];

	setup_knowing_peer();
	h_advance_ns(ARP_REACHABLE_NS - 1);
	host_log_clear();
	arp_print_cache();
	CHECK(strstr(host_log, "10.0.2.2        02:00:00:00:00:02 reachable expires 0s"));
	h_advance_ns(1);
	host_log_clear();
	arp_print_cache();
	CHECK(strstr(host_log, "10.0.2.2        02:00:00:00:00:02 stale tries 0"));
	CHECK(arp_lookup(h_peer_ip, mac));
	h_advance_ns(100 * ARP_REACHABLE_NS);
	CHECK_EQ(h_ntx, 0);
	CHECK(arp_lookup(h_peer_ip, mac));
	CHECK_EQ(arp_stats.entries_expired, 0);
	/* any ARP packet from the owner makes it reachable again, whoever it was for */
	h_inject(arp_pkt(ARPOP_REQUEST, h_peer_mac, h_peer_ip, IPV4(10, 0, 2, 77), NULL));
	host_log_clear();
	arp_print_cache();
	CHECK(strstr(host_log, "10.0.2.2        02:00:00:00:00:02 reachable expires 60s"));
	CHECK_EQ(arp_stats.reconfirmed, 1);

	h_set_cmdline("arp_reachable_ms", "1500");
	setup_knowing_peer();
	h_advance_ns(1499 * NSEC_PER_MSEC);
	send_udp(h_peer_ip, 1);
	CHECK_EQ(h_ntx, 1); /* fresh: no poll */
	h_clear_tx();
	h_advance_ns(NSEC_PER_MSEC);
	send_udp(h_peer_ip, 1);
	CHECK_EQ(h_ntx, 2); /* stale: the datagram and a poll */
	CHECK_EQ(arp_stats.tx_polls, 1);
	h_clear_tx();
	for (unsigned i = 0; i < 4; i++) {
		static const char *const bad[] = { "99", "3600001", "12x", "" };

		h_set_cmdline("arp_reachable_ms", bad[i]);
		host_log_clear();
		h_setup(NULL, NULL);
		CHECK(strstr(host_log, "ignored: expected 100..3600000"));
	}
	h_set_cmdline("arp_reachable_ms", NULL);
	setup_knowing_peer();
	h_advance_ns(ARP_REACHABLE_NS - 1);
	CHECK(arp_lookup(h_peer_ip, mac));
	send_udp(h_peer_ip, 1);
	CHECK_EQ(h_ntx, 1); /* the default again */
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

static void test_cache_full_evicts_oldest(void)
{
	u8 mac[6];

	h_setup("10.0.0.15/16", NULL);
	for (unsigned i = 0; i < ARP_CACHE_SIZE + 1; i++) {
		u8 m[6] = { 0x02, 0, 0, 0, 1, (u8)i };

		h_advance_ns(1000);
		h_inject(arp_pkt(ARPOP_REQUEST, m, IPV4(10, 0, 1, i + 1), IPV4(10, 0, 0, 15), NULL));
	}
	CHECK_EQ(arp_stats.entries_evicted, 1);
	CHECK(!arp_lookup(IPV4(10, 0, 1, 1), mac)); /* the oldest went */
	CHECK(arp_lookup(IPV4(10, 0, 1, ARP_CACHE_SIZE + 1), mac));
	h_clear_tx();
	arp_flush();
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* Every hardware/protocol length pair and every operation: only 6/4 and request/reply are
 * ARP for Ethernet/IPv4 (RFC 826); everything else is counted and changes nothing. */
static void test_lengths_and_ops_every_value(void)
{
	struct arphdr_eth *a;
	u64 answered = 0;
	u8 mac[6];

	h_setup(NULL, NULL);
	for (unsigned hl = 0; hl < 256; hl++) {
		for (unsigned pl = 0; pl < 256; pl += (pl < 16 ? 1 : 17)) {
			struct netbuf *nb = arp_pkt(ARPOP_REQUEST, h_peer_mac, h_peer_ip, h_our_ip, &a);

			a->ar_hln = (u8)hl;
			a->ar_pln = (u8)pl;
			h_inject(nb);
			answered += h_ntx;
			h_clear_tx();
			if (hl == 6 && pl == 4)
				arp_flush();
		}
	}
	CHECK_EQ(answered, 1);
	CHECK_EQ(arp_stats.rx_bad_hlen, 255 * 31);
	CHECK_EQ(arp_stats.rx_bad_plen, 30);
	for (unsigned op = 0; op < 65536; op++) {
		struct netbuf *nb = arp_pkt((u16)op, h_peer_mac, IPV4(10, 0, 2, 3), h_our_ip, &a);

		h_inject(nb);
		h_clear_tx();
	}
	CHECK_EQ(arp_stats.rx_bad_op, 65534);
	CHECK_EQ(arp_stats.tx_replies, 2);
	CHECK(arp_lookup(IPV4(10, 0, 2, 3), mac)); /* from the valid request and reply */
	arp_flush();
	CHECK_EQ(h_leaked(), 0);
}

/* Resolutions for senders that never answer (a spoofed flood) take at most half the cache:
 * past ARP_MAX_INCOMPLETE new ones fail and are counted, the reachable entries stay, and a
 * slot is always left for a peer that does answer. Incomplete entries are never evicted. */
static void test_incomplete_entries_bounded(void)
{
	u8 mac[6];

	h_setup("10.0.0.15/16", NULL);
	for (unsigned i = 0; i < ARP_CACHE_SIZE / 2; i++) {
		u8 m[6] = { 0x02, 0, 0, 0, 1, (u8)i };

		h_advance_ns(1000);
		h_inject(arp_pkt(ARPOP_REQUEST, m, IPV4(10, 0, 1, i + 1), IPV4(10, 0, 0, 15), NULL));
	}
	h_clear_tx();
	for (unsigned i = 0; i < ARP_MAX_INCOMPLETE; i++)
		CHECK_EQ(send_udp(IPV4(10, 0, 3, i + 1), 2), 2);
	CHECK_EQ(arp_pending_total(), 2 * ARP_MAX_INCOMPLETE);
	CHECK_EQ(send_udp(IPV4(10, 0, 4, 1), 1), 0);
	CHECK_EQ(arp_stats.resolve_incomplete_limit, 1);
	CHECK_EQ(arp_stats.entries_evicted, 0);
	for (unsigned i = 0; i < ARP_CACHE_SIZE / 2; i++)
		CHECK(arp_lookup(IPV4(10, 0, 1, i + 1), mac));
	/* known peers are still sent to at once */
	CHECK_EQ(send_udp(IPV4(10, 0, 1, 1), 1), 1);
	/* the unanswered ones give up after their retries; then resolving works again */
	h_advance_ns(ARP_MAX_TRIES * ARP_RETRY_NS + 1);
	CHECK_EQ(arp_stats.resolve_failed, 2 * ARP_MAX_INCOMPLETE);
	CHECK_EQ(arp_pending_total(), 0);
	CHECK_EQ(send_udp(IPV4(10, 0, 4, 1), 1), 1);
	arp_flush();
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* A request for our address from a sender outside our network is answered, but the sender
 * is not cached: we never send to it through ARP. */
static void test_off_link_sender_not_cached(void)
{
	const struct arphdr_eth *r;
	u8 mac[6];

	h_setup(NULL, NULL);
	h_inject(arp_pkt(ARPOP_REQUEST, host3_mac, IPV4(192, 168, 7, 7), h_our_ip, NULL));
	CHECK_EQ(h_ntx, 1);
	r = (const void *)(h_tx[0]->data + ETH_HLEN);
	CHECK_EQ(ntohs(r->ar_op), ARPOP_REPLY);
	CHECK_EQ(r->ar_tpa, IPV4(192, 168, 7, 7));
	CHECK_EQ(arp_stats.rx_sender_off_link, 1);
	CHECK(!arp_lookup(IPV4(192, 168, 7, 7), mac));
	/* an unsolicited reply (not for an entry we have) creates nothing either */
	h_inject(arp_pkt(ARPOP_REPLY, host3_mac, IPV4(10, 0, 2, 44), IPV4(10, 0, 2, 99), NULL));
	CHECK(!arp_lookup(IPV4(10, 0, 2, 44), mac));
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* /31 and /32 have no directed broadcast: a probe (sender 0.0.0.0) is still a probe. */
static void test_probe_on_point_to_point(void)
{
	h_setup("10.0.2.15/32", NULL);
	h_inject(arp_pkt(ARPOP_REQUEST, h_peer_mac, 0, h_our_ip, NULL));
	CHECK_EQ(arp_stats.rx_bad_sender, 0);
	CHECK_EQ(h_ntx, 1); /* answered, as RFC 5227 2.1.1 expects of the owner */
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* Frame i is an ARP announcement of addr (RFC 5227 2.3): a broadcast request from our MAC
 * with sender and target IP addr and a zero target MAC. */
static bool is_announcement(unsigned i, be32 addr)
{
	const struct arphdr_eth *g = (const void *)(h_tx[i]->data + ETH_HLEN);

	return ntohs(h_eth(i)->h_proto) == ETH_P_ARP && eth_is_broadcast(h_eth(i)->h_dest) &&
	       ntohs(g->ar_op) == ARPOP_REQUEST && memcmp(g->ar_sha, h_our_mac, 6) == 0 &&
	       g->ar_spa == addr && g->ar_tpa == addr && memcmp(g->ar_tha, zero_mac, 6) == 0 &&
	       h_len(i) == ETH_ZLEN;
}

/* ANNOUNCE_NUM announcements ANNOUNCE_INTERVAL apart (RFC 5227 2.3) when an address is set
 * and whenever the link comes up; one that is due after the address changed or went, or
 * while the link is down, is not sent. */
static void test_gratuitous_on_address_and_link_up(void)
{
	be32 a20 = IPV4(10, 0, 2, 20);

	h_setup(NULL, NULL);
	inet_set_address(a20, IPV4(255, 255, 255, 0), 0, INET_SRC_STATIC);
	CHECK_EQ(h_ntx, 1);
	CHECK(is_announcement(0, a20));
	h_clear_tx();
	h_advance_ns(ARP_ANNOUNCE_INTERVAL_NS - 1);
	CHECK_EQ(h_ntx, 0);
	h_advance_ns(1);
	CHECK_EQ(h_ntx, 1);
	CHECK(is_announcement(0, a20));
	h_clear_tx();
	h_advance_ns(60 * NSEC_PER_SEC);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(arp_stats.tx_announces, ARP_ANNOUNCE_NUM);
	h_dev.carrier = false;
	netif_carrier_on(&h_dev);
	CHECK_EQ(h_ntx, 1);
	CHECK(is_announcement(0, a20));
	h_clear_tx();
	h_advance_ns(ARP_ANNOUNCE_INTERVAL_NS);
	CHECK_EQ(h_ntx, 1);
	CHECK_EQ(arp_stats.tx_announces, 2 * ARP_ANNOUNCE_NUM);
	h_clear_tx();
	/* a new address before the second announcement of the old: only the new is announced */
	inet_set_address(h_our_ip, IPV4(255, 255, 255, 0), 0, INET_SRC_STATIC);
	inet_set_address(a20, IPV4(255, 255, 255, 0), 0, INET_SRC_STATIC);
	h_advance_ns(10 * NSEC_PER_SEC);
	CHECK_EQ(h_ntx, 3);
	CHECK(is_announcement(0, h_our_ip) && is_announcement(1, a20) && is_announcement(2, a20));
	h_clear_tx();
	/* the address gone, or the link down, before the second: not sent */
	inet_set_address(h_our_ip, IPV4(255, 255, 255, 0), 0, INET_SRC_STATIC);
	inet_clear_address();
	h_advance_ns(10 * NSEC_PER_SEC);
	CHECK_EQ(h_ntx, 1);
	h_clear_tx();
	inet_set_address(h_our_ip, IPV4(255, 255, 255, 0), 0, INET_SRC_STATIC);
	h_clear_tx();
	h_dev.carrier = false;
	h_advance_ns(10 * NSEC_PER_SEC);
	CHECK_EQ(h_ntx, 0);
	h_dev.carrier = true;
	/* link down flushes queued packets, counted */
	send_udp(IPV4(10, 0, 2, 9), 2);
	netif_carrier_off(&h_dev);
	CHECK_EQ(arp_stats.link_down_dropped, 2);
	CHECK_EQ(arp_announce(&h_dev, h_our_ip), -ENETDOWN);
	h_dev.carrier = true;
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* ---- RFC 5227 2.4: defending our address ----------------------------------------------------- */

static unsigned count_lines(const char *needle)
{
	unsigned n = 0;

	for (const char *p = host_log; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* Someone else claims our address (an ARP packet with our address as sender from another
 * MAC): we defend with one announcement, built in the received buffer, and a message; another
 * claim within DEFEND_INTERVAL of that defence is not answered (RFC 5227 2.4 (c): we cannot
 * give a configured address up, so we keep it and log, at most once per interval), and after
 * the interval we defend again. Every claim is counted. */
static void test_defend_once_per_interval(void)
{
	struct netbuf *nb;

	h_setup(NULL, NULL);
	host_log_clear();
	nb = arp_pkt(ARPOP_REQUEST, host3_mac, h_our_ip, IPV4(10, 0, 2, 2), NULL);
	h_inject(nb);
	CHECK_EQ(h_ntx, 1);
	CHECK(h_tx[0] == nb); /* in place */
	CHECK(is_announcement(0, h_our_ip));
	CHECK_EQ(arp_stats.rx_conflicts, 1);
	CHECK_EQ(arp_stats.tx_defends, 1);
	CHECK_EQ(arp_stats.tx_announces, 0);
	CHECK(strstr(host_log, "arp: address conflict: 10.0.2.15 claimed by 02:00:00:00:00:03; defending it (RFC 5227 2.4)"));
	h_clear_tx();
	host_log_clear();
	h_advance_ns(ARP_DEFEND_INTERVAL_NS / 2);
	for (unsigned i = 0; i < 1000; i++) /* a storm of claims: counted, one line */
		h_inject(arp_pkt(i & 1 ? ARPOP_REPLY : ARPOP_REQUEST, host3_mac, h_our_ip, h_our_ip, NULL));
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(arp_stats.rx_conflicts, 1001);
	CHECK_EQ(arp_stats.conflicts_undefended, 1000);
	CHECK_EQ(count_lines("arp: address conflict"), 1);
	CHECK(strstr(host_log, "arp: address conflict: 10.0.2.15 claimed by 02:00:00:00:00:03 again within 10 s; "
			       "keeping the address without defending it (RFC 5227 2.4 (c))"));
	CHECK(inet_configured() && inet_addr() == h_our_ip);
	h_advance_ns(ARP_DEFEND_INTERVAL_NS / 2 - 1);
	h_inject(arp_pkt(ARPOP_REPLY, host3_mac, h_our_ip, h_our_ip, NULL));
	CHECK_EQ(h_ntx, 0);
	h_advance_ns(1); /* DEFEND_INTERVAL since the defence */
	host_log_clear();
	h_inject(arp_pkt(ARPOP_REPLY, host3_mac, h_our_ip, h_our_ip, NULL));
	CHECK_EQ(h_ntx, 1);
	CHECK(is_announcement(0, h_our_ip));
	CHECK_EQ(arp_stats.tx_defends, 2);
	CHECK(strstr(host_log, "defending it"));
	h_clear_tx();
	h_inject(arp_pkt(ARPOP_REPLY, host3_mac, h_our_ip, h_our_ip, NULL));
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(arp_stats.conflicts_undefended, 1002);
	CHECK(strstr(host_log, "keeping the address"));
	/* no entry was made for the claimant, and the peer still gets our real MAC */
	CHECK_EQ(arp_stats.rx_conflicts, 1004);
	h_inject(arp_pkt(ARPOP_REQUEST, h_peer_mac, h_peer_ip, h_our_ip, NULL));
	CHECK_EQ(h_ntx, 1);
	CHECK_MEM(((const struct arphdr_eth *)(h_tx[0]->data + ETH_HLEN))->ar_sha, h_our_mac, 6);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* Our own MAC with our address (our announcement come back) is no conflict; without an
 * address there is nothing to defend. */
static void test_own_packets_and_no_address_not_conflicts(void)
{
	u8 a[28];

	h_setup(NULL, NULL);
	h_inject(h_frame(eth_broadcast_addr, host3_mac, ETH_P_ARP, a,
			 h_arp(a, ARPOP_REQUEST, h_our_mac, h_our_ip, zero_mac, h_our_ip)));
	CHECK_EQ(arp_stats.rx_conflicts, 0);
	CHECK_EQ(arp_stats.rx_looped, 1);
	CHECK_EQ(h_ntx, 0);
	inet_clear_address();
	h_clear_tx();
	h_inject(arp_pkt(ARPOP_REPLY, host3_mac, h_our_ip, h_our_ip, NULL));
	CHECK_EQ(arp_stats.rx_conflicts, 0);
	CHECK_EQ(arp_stats.rx_unconfigured, 1);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(h_leaked(), 0);
}

static be32 gave_up;
static void give_up(be32 addr) { gave_up = addr; }

/* With a conflict handler (the DHCP client's): the second claim within DEFEND_INTERVAL goes to
 * it, once per interval, as RFC 5227 2.4 (b) asks of a host that can give the address up. */
static void test_conflict_handler_gives_up(void)
{
	h_setup(NULL, NULL);
	arp_set_conflict_handler(give_up);
	gave_up = 0;
	h_inject(arp_pkt(ARPOP_REPLY, host3_mac, h_our_ip, h_our_ip, NULL));
	CHECK_EQ(h_ntx, 1);
	CHECK_EQ(gave_up, 0);
	h_clear_tx();
	host_log_clear();
	h_advance_ns(NSEC_PER_SEC);
	h_inject(arp_pkt(ARPOP_REPLY, host3_mac, h_our_ip, h_our_ip, NULL));
	CHECK_EQ(gave_up, h_our_ip);
	CHECK(strstr(host_log, "again within 10 s; giving it up (RFC 5227 2.4 (b))"));
	gave_up = 0;
	h_inject(arp_pkt(ARPOP_REPLY, host3_mac, h_our_ip, h_our_ip, NULL));
	CHECK_EQ(gave_up, 0); /* once per interval */
	CHECK_EQ(h_ntx, 0);
	/* inet_reset forgets the handler */
	h_setup(NULL, NULL);
	h_inject(arp_pkt(ARPOP_REPLY, host3_mac, h_our_ip, h_our_ip, NULL));
	h_inject(arp_pkt(ARPOP_REPLY, host3_mac, h_our_ip, h_our_ip, NULL));
	CHECK_EQ(gave_up, 0);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* ---- RFC 5227: probing an address before use ----------------------------------------------- */

static be32 probe_done_addr;
static int probe_done_calls, probe_done_conflict;

static void probe_done(be32 addr, bool conflict)
{
	probe_done_addr = addr;
	probe_done_calls++;
	probe_done_conflict = conflict;
}

static void probe_setup(void)
{
	h_setup(NULL, NULL);
	inet_clear_address(); /* as before DHCP has an address, or with acd=1 */
	probe_done_calls = probe_done_conflict = 0;
	probe_done_addr = 0;
}

/* Frame i is an ARP probe for addr (RFC 5227 2.1.1): a broadcast request from our MAC with
 * sender IP 0.0.0.0, target MAC zero, target IP addr. */
static bool is_probe(unsigned i, be32 addr)
{
	const struct arphdr_eth *q = (const void *)(h_tx[i]->data + ETH_HLEN);

	return ntohs(h_eth(i)->h_proto) == ETH_P_ARP && eth_is_broadcast(h_eth(i)->h_dest) &&
	       ntohs(q->ar_op) == ARPOP_REQUEST && memcmp(q->ar_sha, h_our_mac, 6) == 0 &&
	       q->ar_spa == 0 && memcmp(q->ar_tha, zero_mac, 6) == 0 && q->ar_tpa == addr;
}

/* Run the clock from deadline to deadline until the probe reports (at most 20 s); the times
 * of the probes sent, relative to now, in at[]. Returns how many were sent. */
static unsigned run_probe(be32 addr, u64 at[], unsigned max)
{
	u64 start = host_now_ns;
	unsigned n = 0;

	while (!probe_done_calls && host_now_ns - start < 20 * NSEC_PER_SEC &&
	       timers_next_ns() != UINT64_MAX) {
		h_advance_ns(timers_next_ns() > host_now_ns ? timers_next_ns() - host_now_ns : 0);
		for (unsigned i = 0; i < h_ntx; i++) {
			CHECK(is_probe(i, addr));
			if (n < max)
				at[n] = host_now_ns - start;
			n++;
		}
		h_clear_tx();
	}
	return n;
}

/* Step from deadline to deadline until a frame goes out (at most 2 minutes); its time. */
static u64 until_sent(void)
{
	u64 end = host_now_ns + 120 * NSEC_PER_SEC;

	while (!h_ntx && host_now_ns < end && timers_next_ns() != UINT64_MAX)
		h_advance_ns(timers_next_ns() > host_now_ns ? timers_next_ns() - host_now_ns : 0);
	return host_now_ns;
}

/* PROBE_NUM probes: the first after a random 0..PROBE_WAIT, then PROBE_MIN..PROBE_MAX apart,
 * and the answer "no conflict" ANNOUNCE_WAIT after the last (RFC 5227 2.1.1, 1.1). */
static void test_probe_timing_and_packets(void)
{
	be32 addr = IPV4(10, 0, 2, 33);
	u64 first_min = UINT64_MAX, first_max = 0, gap_min = UINT64_MAX, gap_max = 0;

	for (unsigned run = 0; run < 20; run++) {
		u64 at[ARP_PROBE_NUM + 1], start;

		probe_setup();
		start = host_now_ns;
		CHECK_EQ(arp_probe(&h_dev, addr, probe_done), 0);
		CHECK_EQ(run_probe(addr, at, ARP_PROBE_NUM + 1), ARP_PROBE_NUM);
		CHECK_EQ(probe_done_calls, 1);
		CHECK_EQ(probe_done_conflict, 0);
		CHECK_EQ(probe_done_addr, addr);
		CHECK(at[0] <= ARP_PROBE_WAIT_NS);
		first_min = at[0] < first_min ? at[0] : first_min;
		first_max = at[0] > first_max ? at[0] : first_max;
		for (unsigned i = 1; i < ARP_PROBE_NUM; i++) {
			u64 gap = at[i] - at[i - 1];

			CHECK(gap >= ARP_PROBE_MIN_NS && gap <= ARP_PROBE_MAX_NS);
			gap_min = gap < gap_min ? gap : gap_min;
			gap_max = gap > gap_max ? gap : gap_max;
		}
		CHECK_EQ(host_now_ns - start - at[ARP_PROBE_NUM - 1], ARP_ANNOUNCE_WAIT_NS);
		CHECK_EQ(arp_stats.tx_probes, ARP_PROBE_NUM);
		CHECK_EQ(arp_stats.probes_clear, 1);
		CHECK_EQ(arp_stats.probe_conflicts, 0);
		h_advance_ns(60 * NSEC_PER_SEC);
		CHECK_EQ(h_ntx, 0); /* nothing more: announcing is the caller's business */
		CHECK_EQ(probe_done_calls, 1);
	}
	/* random, not fixed: spread over most of the allowed ranges */
	CHECK(first_max - first_min > ARP_PROBE_WAIT_NS / 2);
	CHECK(gap_max - gap_min > (ARP_PROBE_MAX_NS - ARP_PROBE_MIN_NS) / 2);
	CHECK_EQ(h_leaked(), 0);
}

static void test_probe_arguments_busy_cancel(void)
{
	be32 addr = IPV4(10, 0, 2, 33);
	u64 at[4];

	probe_setup();
	CHECK_EQ(arp_probe(NULL, addr, probe_done), -EINVAL);
	CHECK_EQ(arp_probe(&h_dev, addr, NULL), -EINVAL);
	CHECK_EQ(arp_probe(&h_dev, 0, probe_done), -EINVAL);
	CHECK_EQ(arp_probe(&h_dev, INADDR_BROADCAST_BE, probe_done), -EINVAL);
	CHECK_EQ(arp_probe(&h_dev, IPV4(224, 0, 0, 1), probe_done), -EINVAL);
	CHECK_EQ(arp_probe(&h_dev, IPV4(127, 0, 0, 1), probe_done), -EINVAL);
	CHECK_EQ(arp_probe(&h_dev, addr, probe_done), 0);
	CHECK(arp_probing());
	CHECK_EQ(arp_probe(&h_dev, IPV4(10, 0, 2, 34), probe_done), -EBUSY);
	until_sent();
	CHECK_EQ(h_ntx, 1); /* the first probe */
	h_clear_tx();
	arp_probe_cancel();
	CHECK(!arp_probing());
	h_advance_ns(30 * NSEC_PER_SEC);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(probe_done_calls, 0); /* cancelled: never told */
	CHECK_EQ(arp_probe(&h_dev, addr, probe_done), 0);
	CHECK_EQ(run_probe(addr, at, 4), ARP_PROBE_NUM);
	CHECK_EQ(probe_done_calls, 1);
	/* inet_reset (h_setup) ends a probe too */
	CHECK_EQ(arp_probe(&h_dev, addr, probe_done), 0);
	probe_setup();
	CHECK(!arp_probing());
	h_advance_ns(30 * NSEC_PER_SEC);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(probe_done_calls, 0);
	CHECK_EQ(h_leaked(), 0);
}

/* Any ARP packet with the probed address as sender, request or reply, from the start until
 * ANNOUNCE_WAIT after the last probe, is a conflict; so is another host's probe for the same
 * address (RFC 5227 2.1.1). The caller hears it at once; nothing more is sent. */
static void test_probe_conflicts(void)
{
	be32 addr = IPV4(10, 0, 2, 33);
	u64 at[4];

	for (unsigned kind = 0; kind < 4; kind++) {
		probe_setup();
		host_log_clear();
		CHECK_EQ(arp_probe(&h_dev, addr, probe_done), 0);
		if (kind == 1) /* after the first probe */
			until_sent();
		if (kind == 3) { /* after the last probe, just inside ANNOUNCE_WAIT */
			while (arp_stats.tx_probes < ARP_PROBE_NUM) {
				h_clear_tx();
				until_sent();
			}
			h_advance_ns(ARP_ANNOUNCE_WAIT_NS - 1);
		}
		h_clear_tx();
		CHECK_EQ(probe_done_calls, 0);
		if (kind == 0 || kind == 3)
			h_inject(arp_pkt(ARPOP_REPLY, host3_mac, addr, IPV4(10, 0, 2, 2), NULL));
		else if (kind == 1)
			h_inject(arp_pkt(ARPOP_REQUEST, host3_mac, addr, IPV4(10, 0, 2, 2), NULL));
		else
			h_inject(arp_pkt(ARPOP_REQUEST, host3_mac, 0, addr, NULL)); /* its own probe */
		CHECK_EQ(probe_done_calls, 1);
		CHECK_EQ(probe_done_conflict, 1);
		CHECK_EQ(probe_done_addr, addr);
		CHECK_EQ(arp_stats.probe_conflicts, 1);
		CHECK(!arp_probing());
		CHECK(strstr(host_log, "arp: probe of 10.0.2.33: in use by 02:00:00:00:00:03"));
		h_advance_ns(20 * NSEC_PER_SEC);
		CHECK_EQ(h_ntx, 0);
		CHECK_EQ(probe_done_calls, 1);
		/* a conflicting packet after the end changes nothing */
		h_inject(arp_pkt(ARPOP_REPLY, host3_mac, addr, IPV4(10, 0, 2, 2), NULL));
		CHECK_EQ(probe_done_calls, 1);
	}
	/* not conflicts: our own probe come back (through a switch that rewrote the frame's
	 * source), a probe or a sender for another address */
	probe_setup();
	CHECK_EQ(arp_probe(&h_dev, addr, probe_done), 0);
	u8 a[28];
	h_inject(h_frame(eth_broadcast_addr, host3_mac, ETH_P_ARP, a,
			 h_arp(a, ARPOP_REQUEST, h_our_mac, 0, zero_mac, addr)));
	h_inject(arp_pkt(ARPOP_REQUEST, host3_mac, 0, IPV4(10, 0, 2, 34), NULL));
	h_inject(arp_pkt(ARPOP_REQUEST, host3_mac, IPV4(10, 0, 2, 34), addr, NULL));
	h_inject(arp_pkt(ARPOP_REPLY, host3_mac, IPV4(10, 0, 2, 34), IPV4(10, 0, 2, 2), NULL));
	CHECK_EQ(run_probe(addr, at, 4), ARP_PROBE_NUM);
	CHECK_EQ(probe_done_calls, 1);
	CHECK_EQ(probe_done_conflict, 0);
	CHECK_EQ(arp_stats.probe_conflicts, 0);
	CHECK_EQ(h_leaked(), 0);
}

/* After MAX_CONFLICTS conflicts, at most one probe attempt per RATE_LIMIT_INTERVAL: a probe's
 * first packet no sooner than that after the last one's (RFC 5227 2.1.1). A probe that ends
 * without conflict clears the count. */
static void test_probe_rate_limited_after_max_conflicts(void)
{
	u64 at[4], prev_first = 0;

	probe_setup();
	for (unsigned i = 0; i < ARP_MAX_CONFLICTS + 2; i++) {
		be32 addr = IPV4(10, 0, 2, 40 + i);
		u64 asked = host_now_ns, first;

		probe_done_calls = 0;
		CHECK_EQ(arp_probe(&h_dev, addr, probe_done), 0);
		first = until_sent();
		CHECK_EQ(h_ntx, 1);
		CHECK(is_probe(0, addr));
		if (i < ARP_MAX_CONFLICTS)
			CHECK(first - asked <= ARP_PROBE_WAIT_NS); /* not limited yet */
		else
			CHECK_EQ(first, prev_first + ARP_RATE_LIMIT_INTERVAL_NS);
		prev_first = first;
		h_clear_tx();
		h_inject(arp_pkt(ARPOP_REPLY, host3_mac, addr, IPV4(10, 0, 2, 2), NULL));
		CHECK_EQ(probe_done_calls, 1);
	}
	CHECK_EQ(arp_stats.probe_conflicts, ARP_MAX_CONFLICTS + 2);
	CHECK(strstr(host_log, "probing at most once per 60 s"));
	h_advance_ns(ARP_RATE_LIMIT_INTERVAL_NS);
	for (unsigned i = 0; i < 2; i++) { /* the first ends clean, so the second is not limited */
		be32 addr = IPV4(10, 0, 2, 60 + i);

		probe_done_calls = 0;
		CHECK_EQ(arp_probe(&h_dev, addr, probe_done), 0);
		CHECK_EQ(run_probe(addr, at, 4), ARP_PROBE_NUM);
		CHECK(at[0] <= ARP_PROBE_WAIT_NS);
		CHECK_EQ(probe_done_conflict, 0);
	}
	CHECK_EQ(h_leaked(), 0);
}

/* No probe goes out while the link is down (it would be lost, and silence would pass for "no
 * conflict"): the probe starts over once the link is back, all PROBE_NUM of them. */
static void test_probe_waits_for_link(void)
{
	be32 addr = IPV4(10, 0, 2, 33);
	u64 at[4];

	probe_setup();
	CHECK_EQ(arp_probe(&h_dev, addr, probe_done), 0);
	until_sent();
	CHECK_EQ(h_ntx, 1);
	h_clear_tx();
	netif_carrier_off(&h_dev);
	h_advance_ns(30 * NSEC_PER_SEC);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(probe_done_calls, 0);
	netif_carrier_on(&h_dev);
	h_clear_tx();
	CHECK_EQ(run_probe(addr, at, 4), ARP_PROBE_NUM);
	CHECK(at[0] <= ARP_PROBE_WAIT_NS);
	CHECK_EQ(probe_done_calls, 1);
	CHECK_EQ(probe_done_conflict, 0);
	CHECK_EQ(arp_stats.tx_probes, ARP_PROBE_NUM + 1);
	CHECK_EQ(h_leaked(), 0);
}

/* Step from deadline to deadline while the probe runs (at most 20 s); probes for addr seen. */
static unsigned probes_until_end(be32 addr)
{
	u64 end = host_now_ns + 20 * NSEC_PER_SEC;
	unsigned n = 0;

	while (arp_probing() && host_now_ns < end) {
		h_clear_tx();
		h_advance_ns(timers_next_ns() > host_now_ns ? timers_next_ns() - host_now_ns : 0);
		for (unsigned i = 0; i < h_ntx; i++)
			n += is_probe(i, addr);
	}
	return n;
}

/* acd=1: the static address is probed before it is set (RFC 5227 2.1.1), then announced;
 * when someone has it, it is not set at all (a message, probe_conflicts). Without acd=1 the
 * address is set at once, as before. */
static void test_acd_static_address(void)
{
	h_set_cmdline("acd", "1");
	host_log_clear();
	h_setup(NULL, NULL);
	CHECK(!inet_configured());
	CHECK(arp_probing());
	CHECK_EQ(probes_until_end(h_our_ip), ARP_PROBE_NUM);
	CHECK(inet_configured());
	CHECK_EQ(inet_addr(), h_our_ip);
	CHECK_EQ(inet_if.mask, IPV4(255, 255, 255, 0));
	CHECK_EQ(inet_if.gw, h_peer_ip);
	CHECK_EQ(h_ntx, 1); /* the first announcement, with the end of the probe */
	CHECK(is_announcement(0, h_our_ip));
	CHECK_EQ(count_lines("net: ready ip=10.0.2.15 "), 1);
	h_clear_tx();
	h_advance_ns(ARP_ANNOUNCE_INTERVAL_NS);
	CHECK_EQ(h_ntx, 1);
	CHECK(is_announcement(0, h_our_ip));
	h_clear_tx();
	CHECK_EQ(arp_stats.probes_clear, 1);

	host_log_clear();
	h_setup("10.0.2.15/24", "none");
	CHECK(arp_probing());
	h_advance_ns(ARP_PROBE_WAIT_NS + ARP_PROBE_MIN_NS); /* one or two probes out */
	h_inject(arp_pkt(ARPOP_REPLY, host3_mac, h_our_ip, IPV4(0, 0, 0, 0), NULL));
	CHECK(!arp_probing());
	CHECK(!inet_configured());
	CHECK(strstr(host_log, "net: 10.0.2.15 is in use on the link; no address (acd=1)"));
	CHECK(!strstr(host_log, "net: ready"));
	CHECK_EQ(arp_stats.probe_conflicts, 1);
	h_clear_tx();
	h_advance_ns(60 * NSEC_PER_SEC);
	CHECK_EQ(h_ntx, 0); /* no announcement, no more probes */
	h_inject(arp_pkt(ARPOP_REQUEST, h_peer_mac, h_peer_ip, h_our_ip, NULL));
	CHECK_EQ(h_ntx, 0); /* not ours: not answered */

	h_set_cmdline("acd", "0");
	h_setup(NULL, NULL);
	CHECK(inet_configured());
	CHECK(!arp_probing());
	h_set_cmdline("acd", NULL);
	h_setup(NULL, NULL);
	CHECK(inet_configured());
	CHECK(!arp_probing());
	CHECK_EQ(h_leaked(), 0);
}

static void test_print_cache(void)
{
	h_setup(NULL, NULL);
	h_inject(arp_pkt(ARPOP_REQUEST, h_peer_mac, h_peer_ip, h_our_ip, NULL));
	send_udp(IPV4(10, 0, 2, 9), 1);
	host_log_clear();
	arp_print_cache();
	CHECK(strstr(host_log, "10.0.2.2        02:00:00:00:00:02 reachable expires 60s"));
	CHECK(strstr(host_log, "10.0.2.9        (incomplete) tries 1 queued 1"));
	CHECK(strstr(host_log, "arp: 2 of 32 entries in use"));
	arp_flush();
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* Link up (RFC 5227 2.1: probe when the link state changes): with acd=1 the static address is
 * given up and probed again, then set and announced; a conflict then leaves no address.
 * Without acd=1 it stays and is announced again at once (2.3), no probe. */
static void test_link_up_reprobes_with_acd(void)
{
	h_set_cmdline("acd", "1");
	h_setup(NULL, NULL);
	probes_until_end(h_our_ip);
	h_advance_ns(ARP_ANNOUNCE_INTERVAL_NS);
	CHECK(inet_configured());
	h_clear_tx();
	host_log_clear();
	netif_carrier_off(&h_dev);
	netif_carrier_on(&h_dev);
	CHECK(!inet_configured());
	CHECK(arp_probing());
	CHECK(strstr(host_log, "net: link up; probing 10.0.2.15 again before use (acd=1)"));
	CHECK_EQ(probes_until_end(h_our_ip), ARP_PROBE_NUM);
	CHECK(inet_configured());
	CHECK_EQ(inet_if.gw, h_peer_ip);
	CHECK_EQ(h_ntx, 1);
	CHECK(is_announcement(0, h_our_ip));
	h_clear_tx();
	h_advance_ns(ARP_ANNOUNCE_INTERVAL_NS);
	h_clear_tx();
	/* again, and this time someone has it */
	netif_carrier_off(&h_dev);
	netif_carrier_on(&h_dev);
	h_advance_ns(ARP_PROBE_WAIT_NS + ARP_PROBE_MIN_NS);
	h_inject(arp_pkt(ARPOP_REPLY, host3_mac, h_our_ip, IPV4(0, 0, 0, 0), NULL));
	CHECK(!inet_configured());
	CHECK(!arp_probing());
	h_clear_tx();

	h_set_cmdline("acd", NULL);
	h_setup(NULL, NULL);
	h_clear_tx();
	netif_carrier_off(&h_dev);
	netif_carrier_on(&h_dev);
	CHECK(inet_configured());
	CHECK(!arp_probing());
	CHECK_EQ(h_ntx, 1);
	CHECK(is_announcement(0, h_our_ip));
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

int main(void)
{
	RUN(test_reply_in_place);
	RUN(test_not_for_us);
	RUN(test_validation_branches);
	RUN(test_conflict_and_probe);
	RUN(test_unconfigured_ignores);
	RUN(test_resolve_queue_and_flush_in_order);
	RUN(test_retries_then_counted_drop);
	RUN(test_reachable_then_stale);
	RUN(test_steady_flow_across_expiry);
	RUN(test_stale_entry_polled_then_removed);
	RUN(test_poll_answer_takes_new_mac);
	RUN(test_cache_full_evicts_oldest);
	RUN(test_lengths_and_ops_every_value);
	RUN(test_incomplete_entries_bounded);
	RUN(test_off_link_sender_not_cached);
	RUN(test_probe_on_point_to_point);
	RUN(test_gratuitous_on_address_and_link_up);
	RUN(test_defend_once_per_interval);
	RUN(test_own_packets_and_no_address_not_conflicts);
	RUN(test_conflict_handler_gives_up);
	RUN(test_print_cache);
	RUN(test_probe_timing_and_packets);
	RUN(test_probe_arguments_busy_cancel);
	RUN(test_probe_conflicts);
	RUN(test_probe_rate_limited_after_max_conflicts);
	RUN(test_probe_waits_for_link);
	RUN(test_acd_static_address);
	RUN(test_link_up_reprobes_with_acd);
	return unit_summary("net_arp");
}
