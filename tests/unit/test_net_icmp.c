/*
 * tests/unit/test_net_icmp.c - echo replies built in the received buffer (sizes 0..1472,
 * payload exact), input checks, destination unreachable (quote, suppression rules, token
 * bucket), and the ping session: matching, RTTs, duplicates, corruption, the summary.
 */
#include "tests/unit/kernel_harness.h"
#include "tests/unit/net_harness.h"
#include "tests/unit/unit.h"

static u8 msg[2048], payload[2048];

/* Let the peer be known so replies leave at once. */
static void learn_peer(void)
{
	u8 a[28];

	h_inject(h_frame(h_our_mac, h_peer_mac, ETH_P_ARP, a,
			 h_arp(a, ARPOP_REQUEST, h_peer_mac, h_peer_ip, (const u8[6]){ 0 }, h_our_ip)));
	h_clear_tx();
}

static struct netbuf *echo_frame(be32 dst, u16 id, u16 seq, unsigned size)
{
	static u8 pkt[2048];
	unsigned n;

	for (unsigned i = 0; i < size; i++)
		payload[i] = (u8)(i * 7 + seq);
	n = h_icmp_echo(msg, ICMP_ECHO, id, seq, payload, size);
	n = h_ipv4(pkt, h_peer_ip, dst, IPPROTO_ICMP, msg, n);
	return h_frame(h_our_mac, h_peer_mac, ETH_P_IP, pkt, n);
}

static void test_echo_reply_in_place_all_sizes(void)
{
	static const unsigned sizes[] = { 0, 1, 2, 55, 56, 57, 1000, 1471, 1472 };

	h_setup(NULL, NULL);
	learn_peer();
	for (unsigned k = 0; k < ARRAY_SIZE(sizes); k++) {
		unsigned size = sizes[k];
		struct netbuf *nb = echo_frame(h_our_ip, 0x4242, (u16)k, size);
		const struct icmphdr *ic;

		h_inject(nb);
		CHECK_EQ(h_ntx, 1);
		if (h_ntx != 1)
			return;
		CHECK(h_tx[0] == nb); /* the same buffer: no copy */
		CHECK_MEM(h_eth(0)->h_dest, h_peer_mac, 6);
		CHECK_EQ(h_ip(0)->saddr, h_our_ip);
		CHECK_EQ(h_ip(0)->daddr, h_peer_ip);
		CHECK_EQ(ntohs(h_ip(0)->tot_len), 28 + size);
		CHECK_EQ(inet_csum(h_ip(0), 20), 0);
		ic = (const void *)h_l4(0);
		CHECK_EQ(ic->type, ICMP_ECHOREPLY);
		CHECK_EQ(ic->code, 0);
		CHECK_EQ(ntohs(ic->id), 0x4242);
		CHECK_EQ(ntohs(ic->sequence), k);
		CHECK_EQ(inet_csum(ic, ICMP_HLEN + size), 0);
		CHECK_MEM(h_l4(0) + ICMP_HLEN, payload, size);
		h_clear_tx();
	}
	CHECK_EQ(icmp_stats.tx_echo_replies, ARRAY_SIZE(sizes));
	CHECK_EQ(h_leaked(), 0);
}

static void test_echo_all_zero_checksum(void)
{
	/* id 0, seq 0, no payload: the reply's words are all zero, so its checksum must be
	 * 0xffff (the RFC 1624 update alone would give 0x0000). */
	struct netbuf *nb;

	h_setup(NULL, NULL);
	learn_peer();
	nb = echo_frame(h_our_ip, 0, 0, 0);
	h_inject(nb);
	CHECK_EQ(h_ntx, 1);
	CHECK_EQ(inet_csum(h_l4(0), ICMP_HLEN), 0);
	CHECK_EQ(get_be16(h_l4(0) + 2), 0xffff);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

static void test_input_checks(void)
{
	struct netbuf *nb;

	h_setup(NULL, NULL);
	learn_peer();
	h_inject_ip(h_peer_ip, h_our_ip, IPPROTO_ICMP, "\x08\x00\xf7", 3);
	CHECK_EQ(icmp_stats.rx_runt, 1);
	nb = echo_frame(h_our_ip, 1, 1, 10);
	nb->data[ETH_HLEN + 20 + 9] ^= 0x40; /* a payload bit: the checksum no longer matches */
	h_inject(nb);
	CHECK_EQ(icmp_stats.rx_bad_csum, 1);
	h_inject(echo_frame(INADDR_BROADCAST_BE, 1, 1, 10));
	h_inject(echo_frame(IPV4(10, 0, 2, 255), 1, 1, 10));
	CHECK_EQ(icmp_stats.rx_echo_broadcast_ignored, 2);
	/* types we do not handle are counted */
	u8 m[8] = { 13, 0, 0, 0, 0, 0, 0, 0 }; /* timestamp request */
	put_be16(m + 2, inet_csum(m, 8));
	h_inject_ip(h_peer_ip, h_our_ip, IPPROTO_ICMP, m, 8);
	CHECK_EQ(icmp_stats.rx_other_types, 1);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(h_leaked(), 0);
}

static void test_unconfigured_no_echo(void)
{
	h_setup("dhcp", NULL);
	h_clear_tx();
	h_inject(echo_frame(h_our_ip, 1, 1, 10));
	CHECK_EQ(icmp_stats.rx_echo_unconfigured, 1);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(h_leaked(), 0);
}

static void test_port_unreachable_quote(void)
{
	static u8 data[600];
	const struct icmphdr *ic;
	const struct iphdr *quoted;

	h_setup(NULL, NULL);
	learn_peer();
	h_inject_udp(5555, 4444, "knock", 5);
	CHECK_EQ(h_ntx, 1);
	ic = (const void *)h_l4(0);
	CHECK_EQ(ic->type, ICMP_DEST_UNREACH);
	CHECK_EQ(ic->code, ICMP_PORT_UNREACH);
	CHECK_EQ(inet_csum(ic, ntohs(h_ip(0)->tot_len) - 20), 0);
	quoted = (const void *)(h_l4(0) + ICMP_HLEN);
	CHECK_EQ(quoted->saddr, h_peer_ip);
	CHECK_EQ(quoted->daddr, h_our_ip);
	CHECK_EQ(get_be16((const u8 *)quoted + 20), 5555);
	CHECK_EQ(get_be16((const u8 *)quoted + 22), 4444);
	CHECK_MEM((const u8 *)quoted + 28, "knock", 5);
	CHECK_EQ(ntohs(h_ip(0)->tot_len), 20 + 8 + 20 + 8 + 5);
	h_clear_tx();
	/* a long datagram is quoted up to 576 bytes in all */
	h_inject_udp(5555, 4444, data, sizeof(data));
	CHECK_EQ(ntohs(h_ip(0)->tot_len), ICMP_ERROR_MAX_TOTAL);
	h_clear_tx();
	/* below a 576-byte MTU the quote shrinks to fit: the error is still sent */
	h_dev.mtu = 296;
	h_inject_udp(5555, 4444, data, 400);
	CHECK_EQ(h_ntx, 1);
	CHECK_EQ(ntohs(h_ip(0)->tot_len), 296);
	CHECK_EQ(icmp_stats.tx_errors, 0);
	h_dev.mtu = ETH_DATA_LEN;
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

static void test_no_error_about_errors_or_broadcasts(void)
{
	u8 m[36];
	static u8 seg[64];
	unsigned n;

	h_setup(NULL, NULL);
	learn_peer();
	/* a UDP datagram to a closed port at the broadcast address */
	n = h_udp(seg, h_peer_ip, INADDR_BROADCAST_BE, 1, 4444, "x", 1, true);
	h_inject_ip(h_peer_ip, INADDR_BROADCAST_BE, IPPROTO_UDP, seg, n);
	/* an unknown protocol inside... an ICMP error about something: an ICMP error itself
	 * to an unknown protocol cannot be built, so: an ICMP error arriving is never answered */
	memset(m, 0, sizeof(m));
	m[0] = ICMP_DEST_UNREACH;
	m[1] = 1;
	put_be16(m + 2, inet_csum(m, sizeof(m)));
	h_inject_ip(h_peer_ip, h_our_ip, IPPROTO_ICMP, m, sizeof(m));
	CHECK_EQ(icmp_stats.rx_dest_unreach, 1);
	/* a datagram from 0.0.0.0 to a closed port */
	n = h_udp(seg, 0, h_our_ip, 1, 4444, "x", 1, true);
	h_inject_ip(0, h_our_ip, IPPROTO_UDP, seg, n);
	CHECK_EQ(icmp_stats.tx_error_suppressed, 2);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(h_leaked(), 0);
}

/* RFC 1122 3.2.2: no ICMP error about a datagram that came as a link-layer broadcast or
 * multicast; 3.3.6: nor an echo reply. The IPv4 destination is our own address each time,
 * so only the Ethernet destination tells. */
static void test_link_broadcast_gets_no_answer(void)
{
	static const u8 mcast_mac[ETH_ALEN] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb };
	const u8 *const group[] = { eth_broadcast_addr, mcast_mac };
	static u8 seg[64], pkt[128];
	unsigned n;

	h_setup(NULL, NULL);
	learn_peer();
	CHECK_EQ(eth_add_multicast(mcast_mac), 0);
	for (unsigned k = 0; k < ARRAY_SIZE(group); k++) {
		struct netbuf *nb = echo_frame(h_our_ip, 7, 1, 16);

		memcpy(nb->data, group[k], ETH_ALEN);
		h_inject(nb);
		n = h_udp(seg, h_peer_ip, h_our_ip, 5555, 4444, "x", 1, true); /* a closed port */
		n = h_ipv4(pkt, h_peer_ip, h_our_ip, IPPROTO_UDP, seg, n);
		h_inject(h_frame(group[k], h_peer_mac, ETH_P_IP, pkt, n));
		n = h_ipv4(pkt, h_peer_ip, h_our_ip, 99, "x", 1); /* an unknown protocol */
		h_inject(h_frame(group[k], h_peer_mac, ETH_P_IP, pkt, n));
	}
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(icmp_stats.rx_echo_requests, 2);
	CHECK_EQ(icmp_stats.rx_echo_link_bcast_ignored, 2);
	CHECK_EQ(udp_stats.rx_no_port, 2);
	CHECK_EQ(icmp_stats.tx_error_link_bcast, 4);
	CHECK_EQ(icmp_stats.tx_error_suppressed, 0);
	CHECK_EQ(icmp_stats.tx_echo_replies + icmp_stats.tx_dest_unreach, 0);
	/* the same three in unicast frames are answered */
	h_inject(echo_frame(h_our_ip, 7, 2, 16));
	h_inject_udp(5555, 4444, "x", 1);
	h_inject_ip(h_peer_ip, h_our_ip, 99, "x", 1);
	CHECK_EQ(h_ntx, 3);
	CHECK_EQ(icmp_stats.tx_echo_replies, 1);
	CHECK_EQ(icmp_stats.tx_dest_unreach, 2);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

static void test_rate_limit(void)
{
	h_setup(NULL, NULL);
	learn_peer();
	for (int i = 0; i < ICMP_RATE_BURST + 5; i++)
		h_inject_udp(1000, 4444, "x", 1);
	CHECK_EQ(h_ntx, ICMP_RATE_BURST);
	CHECK_EQ(icmp_stats.tx_rate_limited, 5);
	h_clear_tx();
	h_advance_ns(ICMP_RATE_INTERVAL_NS * 3);
	for (int i = 0; i < 5; i++)
		h_inject_udp(1000, 4444, "x", 1);
	CHECK_EQ(h_ntx, 3);
	h_clear_tx();
	/* a long quiet time refills only to the burst */
	h_advance_ns(ICMP_RATE_INTERVAL_NS * 1000);
	for (int i = 0; i < ICMP_RATE_BURST * 2; i++)
		h_inject_udp(1000, 4444, "x", 1);
	CHECK_EQ(h_ntx, ICMP_RATE_BURST);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* The peer answers every echo request captured since the last call, after delay_ns. */
static unsigned answer_requests(u64 delay_ns, bool corrupt)
{
	unsigned answered = 0;

	h_advance_ns(delay_ns);
	for (unsigned i = 0; i < h_ntx; i++) {
		const struct icmphdr *q = (const void *)h_l4(i);
		unsigned len = ntohs(h_ip(i)->tot_len) - 20;
		static u8 rep[2048], pkt[2048];
		unsigned n;

		if (h_ip(i)->protocol != IPPROTO_ICMP || q->type != ICMP_ECHO)
			continue;
		memcpy(rep, q, len);
		if (corrupt && len > ICMP_HLEN)
			rep[ICMP_HLEN] ^= 0xff;
		n = h_icmp_echo(rep, ICMP_ECHOREPLY, ntohs(q->id), ntohs(q->sequence), rep + ICMP_HLEN, len - ICMP_HLEN);
		n = h_ipv4(pkt, h_peer_ip, h_our_ip, IPPROTO_ICMP, rep, n);
		h_inject(h_frame(h_our_mac, h_peer_mac, ETH_P_IP, pkt, n));
		answered++;
	}
	return answered;
}

static void test_ping_session(void)
{
	static struct ping_session ps, other;

	h_setup(NULL, NULL);
	learn_peer();
	CHECK_EQ(ping_begin(&ps, h_peer_ip, 56), 0);
	CHECK_EQ(ping_begin(&other, h_peer_ip, 56), -EBUSY);
	CHECK_EQ(ping_send_next(&ps), 0);
	CHECK_EQ(h_ntx, 1);
	const struct icmphdr *q = (const void *)h_l4(0);
	CHECK_EQ(q->type, ICMP_ECHO);
	CHECK_EQ(ntohs(q->sequence), 1);
	CHECK_EQ(ntohs(h_ip(0)->tot_len), 84);
	CHECK_EQ(inet_csum(q, 64), 0);
	for (unsigned i = 0; i < 56; i++)
		CHECK_EQ(h_l4(0)[ICMP_HLEN + i], (u8)(1 + i));
	host_log_clear();
	CHECK_EQ(answer_requests(1500000, false), 1); /* 1.5 ms */
	CHECK(strstr(host_log, "64 bytes from 10.0.2.2: icmp_seq=1 ttl=64 time=1.500 ms\n"));
	CHECK(ping_done(&ps));
	/* a duplicate of the same reply */
	answer_requests(0, false);
	CHECK_EQ(ps.duplicates, 1);
	CHECK(strstr(host_log, "(DUP!)"));
	h_clear_tx();
	/* second request, answered with a damaged payload */
	ping_send_next(&ps);
	answer_requests(1000000, true);
	CHECK_EQ(ps.corrupted, 1);
	CHECK(strstr(host_log, "icmp_seq=2 wrong data"));
	h_clear_tx();
	/* third, 3.5 ms; fourth, never answered */
	ping_send_next(&ps);
	answer_requests(3500000, false);
	h_clear_tx();
	ping_send_next(&ps);
	h_clear_tx();
	CHECK_EQ(ps.transmitted, 4);
	CHECK_EQ(ps.received, 2);
	host_log_clear();
	ping_summary(&ps, 3005000000ull);
	CHECK(strstr(host_log, "--- 10.0.2.2 ping statistics ---\n"));
	CHECK(strstr(host_log, "4 packets transmitted, 2 received, +1 duplicates, +1 corrupted, 50% packet loss, time 3005ms\n"));
	CHECK(strstr(host_log, "rtt min/avg/max/mdev = 1.500/2.500/3.500/1.000 ms\n"));
	ping_end(&ps);
	/* replies after the end match nothing */
	CHECK_EQ(ping_begin(&other, h_peer_ip, 0), 0);
	ping_end(&other);
	CHECK_EQ(h_leaked(), 0);
}

static void test_ping_errors_and_limits(void)
{
	static struct ping_session ps;
	u8 err[8 + 20 + 8];
	const u8 *req;
	unsigned n;

	h_setup(NULL, NULL);
	learn_peer();
	CHECK_EQ(ping_begin(&ps, h_peer_ip, IPV4_MAX_SEND - ICMP_HLEN + 1), -EMSGSIZE);
	CHECK_EQ(ping_begin(&ps, IPV4(10, 0, 9, 9), 1472), 0);
	ps.quiet = true;
	ping_send_next(&ps); /* via the gateway 10.0.2.2, known */
	CHECK_EQ(h_ntx, 1);
	CHECK_EQ(ntohs(h_ip(0)->tot_len), 1500);
	/* the gateway says: host unreachable, quoting our request */
	req = h_tx[0]->data + ETH_HLEN;
	memset(err, 0, sizeof(err));
	err[0] = ICMP_DEST_UNREACH;
	err[1] = ICMP_HOST_UNREACH;
	memcpy(err + 8, req, 28);
	put_be16(err + 2, inet_csum(err, sizeof(err)));
	h_clear_tx();
	n = h_ipv4(msg, h_peer_ip, h_our_ip, IPPROTO_ICMP, err, sizeof(err));
	h_inject(h_frame(h_our_mac, h_peer_mac, ETH_P_IP, msg, n));
	CHECK_EQ(ps.errors, 1);
	CHECK(ping_done(&ps));
	ping_end(&ps);
	CHECK_EQ(h_leaked(), 0);
}


/* An echo request from src to us with olen bytes of IP options, 100 bytes of payload. */
static void inject_echo_opts(be32 src, const u8 *opts, unsigned olen)
{
	static u8 pkt[2048];
	struct iphdr *ip = (void *)pkt;
	unsigned n, hlen = IPV4_HLEN + olen;

	for (unsigned i = 0; i < 100; i++)
		payload[i] = (u8)(i * 3);
	n = h_icmp_echo(msg, ICMP_ECHO, 0x77, 5, payload, 100);
	h_ipv4(pkt, src, h_our_ip, IPPROTO_ICMP, NULL, 0);
	memcpy(pkt + IPV4_HLEN, opts, olen);
	memcpy(pkt + hlen, msg, n);
	ip->ver_ihl = (u8)(0x40 | hlen / 4);
	ip->tot_len = htons((u16)(hlen + n));
	ip->check = 0;
	ip->check = htons(inet_csum(ip, hlen));
	h_inject(h_frame(h_our_mac, h_peer_mac, ETH_P_IP, pkt, hlen + n));
}

/* The reply's options (after checking the reply is whole and right); NULL when no reply. */
static const u8 *reply_opts(unsigned hlen, be32 dst)
{
	const struct icmphdr *ic;

	CHECK_EQ(h_ntx, 1);
	if (h_ntx != 1)
		return NULL;
	CHECK_EQ(ip_hdrlen(h_ip(0)), hlen);
	CHECK_EQ(inet_csum(h_ip(0), hlen), 0);
	CHECK_EQ(h_ip(0)->saddr, h_our_ip);
	CHECK_EQ(h_ip(0)->daddr, dst);
	CHECK_EQ(ntohs(h_ip(0)->tot_len), hlen + ICMP_HLEN + 100);
	ic = (const void *)h_l4(0);
	CHECK_EQ(ic->type, ICMP_ECHOREPLY);
	CHECK_EQ(inet_csum(ic, ICMP_HLEN + 100), 0);
	CHECK_MEM(h_l4(0) + ICMP_HLEN, payload, 100);
	return (const u8 *)(h_ip(0) + 1);
}

/* RFC 1122 3.2.2.6: the request's options come back; record route and timestamp with our
 * entry (RFC 791 3.1), an option we do not know as it came. */
static void test_echo_reflects_options(void)
{
	u8 rr[12] = { IPOPT_RR, 11, 8, 10, 0, 2, 2, 0, 0, 0, 0, IPOPT_END }; /* one hop recorded */
	u8 rr_full[8] = { IPOPT_RR, 7, 8, 10, 0, 2, 2, IPOPT_END };
	u8 ts0[12] = { IPOPT_TS, 12, 5, 0 };
	u8 ts1[12] = { IPOPT_TS, 12, 5, 1 };
	u8 ts3[20] = { IPOPT_TS, 20, 5, 3, 10, 0, 2, 2, 0, 0, 0, 0, 10, 0, 2, 15 };
	u8 ts_full[8] = { IPOPT_TS, 8, 9, 0x20, 1, 2, 3, 4 };
	u8 other[4] = { 0x94, 4, 0, 0 }; /* router alert (RFC 2113): reflected untouched */
	const u8 *o;
	u32 t, want;

	h_setup(NULL, NULL);
	learn_peer();
	h_advance_ns(5 * NSEC_PER_SEC);
	want = 0x80000000u | (u32)(now_ns() / NSEC_PER_MSEC % 86400000u); /* the clock stands still */
	inject_echo_opts(h_peer_ip, rr, sizeof(rr));
	o = reply_opts(32, h_peer_ip);
	if (o) {
		CHECK_EQ(o[2], 12);
		CHECK_MEM(o + 3, rr + 3, 4);
		CHECK_MEM(o + 7, &h_our_ip, 4);
		CHECK_EQ(o[11], IPOPT_END);
	}
	h_clear_tx();
	inject_echo_opts(h_peer_ip, rr_full, sizeof(rr_full));
	o = reply_opts(28, h_peer_ip);
	if (o)
		CHECK_MEM(o, rr_full, sizeof(rr_full)); /* no room: as it came */
	h_clear_tx();
	inject_echo_opts(h_peer_ip, ts0, sizeof(ts0));
	o = reply_opts(32, h_peer_ip);
	if (o) {
		CHECK_EQ(o[2], 9);
		t = get_be32(o + 4);
		CHECK_EQ(t, want); /* not UT: the high bit, then ms (since boot) */
	}
	h_clear_tx();
	inject_echo_opts(h_peer_ip, ts1, sizeof(ts1));
	o = reply_opts(32, h_peer_ip);
	if (o) {
		CHECK_EQ(o[2], 13);
		CHECK_MEM(o + 4, &h_our_ip, 4);
		CHECK_EQ(get_be32(o + 8), want);
	}
	h_clear_tx();
	/* prespecified: the first address is not ours, so nothing is written */
	inject_echo_opts(h_peer_ip, ts3, sizeof(ts3));
	o = reply_opts(40, h_peer_ip);
	if (o)
		CHECK_MEM(o, ts3, sizeof(ts3));
	h_clear_tx();
	ts3[2] = 13; /* now the next one is ours */
	inject_echo_opts(h_peer_ip, ts3, sizeof(ts3));
	o = reply_opts(40, h_peer_ip);
	if (o) {
		CHECK_EQ(o[2], 21);
		CHECK_EQ(get_be32(o + 16), want);
	}
	h_clear_tx();
	inject_echo_opts(h_peer_ip, ts_full, sizeof(ts_full));
	o = reply_opts(28, h_peer_ip);
	if (o) {
		CHECK_EQ(o[3], 0x30); /* overflow counted */
		CHECK_EQ(o[2], 9);
	}
	h_clear_tx();
	inject_echo_opts(h_peer_ip, other, sizeof(other));
	o = reply_opts(24, h_peer_ip);
	if (o)
		CHECK_MEM(o, other, sizeof(other));
	h_clear_tx();
	CHECK_EQ(icmp_stats.tx_echo_options, 8);
	CHECK_EQ(icmp_stats.tx_echo_replies, 8);
	CHECK_EQ(h_leaked(), 0);
}

/* A complete source route is reversed (RFC 1122 3.2.2.6 MUST): the reply goes to the last
 * recorded hop, listing the others backwards and then the requester. Malformed options and
 * a route not complete (we would be a hop: RFC 1122 3.3.5) get no reply. */
static void test_echo_source_route_and_bad_options(void)
{
	be32 far = IPV4(10, 0, 9, 9);
	u8 lsrr[12] = { IPOPT_LSRR, 11, 12, 10, 0, 7, 1, 10, 0, 2, 2, IPOPT_END };
	u8 ssrr1[8] = { IPOPT_SSRR, 7, 8, 10, 0, 2, 2, IPOPT_END };
	u8 incomplete[8] = { IPOPT_LSRR, 7, 4, 10, 0, 2, 2, IPOPT_END };
	u8 two_routes[16] = { IPOPT_LSRR, 7, 8, 10, 0, 2, 2, IPOPT_SSRR, 7, 8, 10, 0, 2, 2, IPOPT_END };
	u8 bad_len[4] = { IPOPT_RR, 9, 4, 0 };
	u8 zero_len[4] = { 0x94, 0, 0, 0 };
	u8 bad_ptr[8] = { IPOPT_RR, 7, 2, 0, 0, 0, 0, IPOPT_END };
	static const u8 reversed[8] = { 10, 0, 7, 1, 10, 0, 9, 9 };
	const u8 *o;

	h_setup(NULL, NULL);
	learn_peer();
	inject_echo_opts(far, lsrr, sizeof(lsrr));
	o = reply_opts(32, h_peer_ip); /* to A2 = 10.0.2.2 */
	if (o) {
		CHECK_EQ(o[0], IPOPT_LSRR);
		CHECK_EQ(o[2], 4);
		CHECK_MEM(o + 3, reversed, 8);
	}
	h_clear_tx();
	inject_echo_opts(far, ssrr1, sizeof(ssrr1));
	o = reply_opts(28, h_peer_ip);
	if (o) {
		CHECK_EQ(o[2], 4);
		CHECK_MEM(o + 3, &far, 4);
	}
	h_clear_tx();
	inject_echo_opts(far, incomplete, sizeof(incomplete));
	inject_echo_opts(far, two_routes, sizeof(two_routes));
	inject_echo_opts(h_peer_ip, bad_len, sizeof(bad_len));
	inject_echo_opts(h_peer_ip, zero_len, sizeof(zero_len));
	inject_echo_opts(h_peer_ip, bad_ptr, sizeof(bad_ptr));
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(icmp_stats.rx_echo_bad_options, 5);
	CHECK_EQ(icmp_stats.tx_echo_replies, 2);
	CHECK_EQ(h_leaked(), 0);
}

/* Option edges (RFC 791 3.1): a record route of length 3 has no room at all (pointer 4, past
 * its end) and comes back as it came; a full timestamp's overflow count goes up by one, from
 * 14 to 15 too; at 15 the count itself would overflow, which makes the request one in error:
 * not answered, counted as bad options. */
static void test_echo_option_edges(void)
{
	u8 rr_empty[4] = { IPOPT_RR, 3, 4, IPOPT_END };
	u8 ts_full[8] = { IPOPT_TS, 8, 9, 0xe0, 1, 2, 3, 4 };
	u8 ts_overflowed[8] = { IPOPT_TS, 8, 9, 0xf0, 1, 2, 3, 4 };
	u64 bad;
	u8 rr40[40] = { IPOPT_RR, 39, 4 }; /* the longest header there is: 60 bytes */
	const u8 *o;

	h_setup(NULL, NULL);
	learn_peer();
	inject_echo_opts(h_peer_ip, rr_empty, sizeof(rr_empty));
	o = reply_opts(24, h_peer_ip);
	if (o)
		CHECK_MEM(o, rr_empty, sizeof(rr_empty));
	h_clear_tx();
	inject_echo_opts(h_peer_ip, ts_full, sizeof(ts_full));
	o = reply_opts(28, h_peer_ip);
	if (o) {
		CHECK_EQ(o[3], 0xf0); /* overflow 14 + 1, flag 0 */
		CHECK_MEM(o + 4, ts_full + 4, 4);
	}
	h_clear_tx();
	bad = icmp_stats.rx_echo_bad_options;
	inject_echo_opts(h_peer_ip, ts_overflowed, sizeof(ts_overflowed));
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(icmp_stats.rx_echo_bad_options, bad + 1);
	inject_echo_opts(h_peer_ip, rr40, sizeof(rr40));
	o = reply_opts(60, h_peer_ip);
	if (o) {
		CHECK_EQ(o[2], 8);
		CHECK_MEM(o + 3, &h_our_ip, 4);
	}
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* icmp_seq counts on past 65535 while the header's field wraps: a late reply to request
 * 65535 arriving after request 65538 (field 2) went out is still request 65535's. */
static void test_ping_sequence_past_16_bits(void)
{
	static struct ping_session ps;
	static u8 rep[ICMP_HLEN + 8], pkt[64];
	unsigned n;

	h_setup(NULL, NULL);
	learn_peer();
	CHECK_EQ(ping_begin(&ps, h_peer_ip, 8), 0);
	ps.quiet = true;
	for (unsigned i = 0; i < 65538; i++) {
		ping_send_next(&ps);
		if (h_ntx == H_MAX_TX)
			h_clear_tx();
	}
	h_clear_tx();
	CHECK_EQ(ps.transmitted, 65538);
	ps.quiet = false;
	host_log_clear();
	for (unsigned i = 0; i < 8; i++)
		payload[i] = (u8)(0xffff + i);
	n = h_icmp_echo(rep, ICMP_ECHOREPLY, ps.id, 0xffff, payload, 8);
	n = h_ipv4(pkt, h_peer_ip, h_our_ip, IPPROTO_ICMP, rep, n);
	h_inject(h_frame(h_our_mac, h_peer_mac, ETH_P_IP, pkt, n));
	CHECK_EQ(ps.received, 1);
	CHECK(strstr(host_log, "16 bytes from 10.0.2.2: icmp_seq=65535 ttl=64 time=") != NULL);
	ping_end(&ps);
	CHECK_EQ(h_leaked(), 0);
}

/* The summary without any reply has no rtt line (and divides by nothing); replies all equally
 * late have a deviation of 0. */
static void test_ping_summary_edges(void)
{
	static struct ping_session ps;

	h_setup(NULL, NULL);
	learn_peer();
	CHECK_EQ(ping_begin(&ps, h_peer_ip, 56), 0);
	ps.quiet = true;
	ping_send_next(&ps);
	h_clear_tx();
	host_log_clear();
	ping_summary(&ps, 1000000000ull);
	CHECK_STR(host_log, "--- 10.0.2.2 ping statistics ---\n"
			    "1 packets transmitted, 0 received, 100% packet loss, time 1000ms\n");
	ping_end(&ps);
	CHECK_EQ(ping_begin(&ps, h_peer_ip, 56), 0);
	ps.quiet = true;
	for (int i = 0; i < 3; i++) {
		ping_send_next(&ps);
		CHECK_EQ(answer_requests(2000000, false), 1);
		h_clear_tx();
	}
	host_log_clear();
	ping_summary(&ps, 3000000000ull);
	CHECK(strstr(host_log, "3 packets transmitted, 3 received, 0% packet loss, time 3000ms\n"));
	CHECK(strstr(host_log, "rtt min/avg/max/mdev = 2.000/2.000/2.000/0.000 ms\n"));
	ping_end(&ps);
	CHECK_EQ(h_leaked(), 0);
}

int main(void)
{
	RUN(test_echo_reply_in_place_all_sizes);
	RUN(test_echo_all_zero_checksum);
	RUN(test_input_checks);
	RUN(test_unconfigured_no_echo);
	RUN(test_port_unreachable_quote);
	RUN(test_no_error_about_errors_or_broadcasts);
	RUN(test_link_broadcast_gets_no_answer);
	RUN(test_rate_limit);
	RUN(test_ping_session);
	RUN(test_ping_errors_and_limits);
	RUN(test_echo_reflects_options);
	RUN(test_echo_source_route_and_bad_options);
	RUN(test_echo_option_edges);
	RUN(test_ping_sequence_past_16_bits);
	RUN(test_ping_summary_edges);
	return unit_summary("net_icmp");
}
