/*
 * tests/unit/test_net_udp.c - UDP: the bind/unbind/sendto API and its errors, checksums
 * generated and verified (zero accepted), length checks, delivery to handlers, port
 * unreachable, and the echo (in place, exact) and discard services; the application API:
 * udp_bind(0), more than 16 ports, udp_connect's filter and udp_send, ICMP errors to the
 * port's error handler, loopback to our own address, the typed address.
 */
#include <stdlib.h>

#include "tests/unit/kernel_harness.h"
#include "tests/unit/net_harness.h"
#include "tests/unit/unit.h"

static void learn_peer(void)
{
	u8 a[28];

	h_inject(h_frame(h_our_mac, h_peer_mac, ETH_P_ARP, a,
			 h_arp(a, ARPOP_REQUEST, h_peer_mac, h_peer_ip, (const u8[6]){ 0 }, h_our_ip)));
	h_clear_tx();
}

static struct {
	int calls;
	unsigned len;
	u8 data[IPV4_MAX_SEND];
	struct udp_meta m;
	void *ctx;
} got;

static void record(void *ctx, struct netbuf *nb, const struct udp_meta *m)
{
	got.calls++;
	got.len = netbuf_len(nb);
	memcpy(got.data, nb->data, got.len);
	got.m = *m;
	got.ctx = ctx;
	netbuf_free(nb);
}

static bool udp_csum_ok(unsigned i)
{
	const struct iphdr *ip = h_ip(i);
	unsigned len = ntohs(ip->tot_len) - 20;

	return inet_csum_fold(inet_csum_add(inet_pseudo_sum(ip->saddr, ip->daddr, IPPROTO_UDP, (u16)len), h_l4(i), len)) == 0;
}

static void test_bind_api(void)
{
	int ctx;

	h_setup(NULL, NULL);
	CHECK_EQ(udp_bind(5000, NULL, NULL), -EINVAL);
	CHECK_EQ(udp_bind(5000, record, &ctx), 5000);
	CHECK_EQ(udp_bind(5000, record, NULL), -EADDRINUSE);
	CHECK_EQ(udp_bind(UDP_PORT_ECHO, record, NULL), -EADDRINUSE); /* echo is on by default */
	CHECK(udp_port_bound(UDP_PORT_DISCARD));
	for (u16 p = 5001; p < 5001 + UDP_MAX_BINDINGS - 3; p++)
		CHECK_EQ(udp_bind(p, record, NULL), p);
	CHECK_EQ(udp_bind(6000, record, NULL), -ENOSPC);
	CHECK_EQ(udp_unbind(0), -EINVAL);
	CHECK_EQ(udp_unbind(6000), -ENOENT);
	CHECK_EQ(udp_unbind(5000), 0);
	CHECK_EQ(udp_unbind(5000), -ENOENT);
	CHECK_EQ(udp_bind(6000, record, NULL), 6000);
	u16 e = udp_ephemeral_port();
	CHECK(e >= UDP_EPHEMERAL_FIRST);
	CHECK(udp_ephemeral_port() != e);
}

static void test_sendto_errors_and_limits(void)
{
	static u8 big[IPV4_MAX_SEND];

	h_setup(NULL, NULL);
	learn_peer();
	CHECK_EQ(udp_sendto(h_peer_ip, 0, 7, "x", 1), -EINVAL);
	CHECK_EQ(udp_sendto(h_peer_ip, 7, 0, "x", 1), -EINVAL);
	CHECK_EQ(udp_sendto(h_peer_ip, 7, 7, big, IPV4_MAX_SEND - UDP_HLEN + 1), -EMSGSIZE);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(udp_sendto(h_peer_ip, 7, 7, big, 1472), 0);
	CHECK_EQ(ntohs(h_ip(0)->tot_len), 1500);
	CHECK_EQ(udp_sendto(IPV4(127, 0, 0, 1), 7, 7, "x", 1), -EINVAL);
	CHECK_EQ(udp_sendto(h_peer_ip, 7, 7, "", 0), 0);
	CHECK_EQ(h_ntx, 2);
	CHECK_EQ(get_be16(h_l4(1) + 4), 8);
	h_clear_tx();
	h_setup("dhcp", NULL);
	CHECK_EQ(udp_sendto(h_peer_ip, 7, 7, "x", 1), -ENETDOWN);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

static void test_checksum_generated(void)
{
	unsigned seed = 7;
	u8 data[300];

	h_setup(NULL, NULL);
	learn_peer();
	for (int round = 0; round < 200; round++) {
		unsigned len = (unsigned)rand_r(&seed) % sizeof(data);

		for (unsigned i = 0; i < len; i++)
			data[i] = (u8)rand_r(&seed);
		CHECK_EQ(udp_sendto(h_peer_ip, 40000, 9999, data, len), 0);
		CHECK(udp_csum_ok(0));
		CHECK(get_be16(h_l4(0) + 6) != 0); /* never "no checksum" */
		CHECK_EQ(get_be16(h_l4(0)), 40000);
		CHECK_EQ(get_be16(h_l4(0) + 2), 9999);
		CHECK_EQ(get_be16(h_l4(0) + 4), UDP_HLEN + len);
		CHECK_MEM(h_l4(0) + UDP_HLEN, data, len);
		h_clear_tx();
	}
	CHECK_EQ(h_leaked(), 0);
}

static void test_receive_checks(void)
{
	static u8 seg[64];
	unsigned n;

	h_setup(NULL, NULL);
	udp_bind(5000, record, (void *)&got);
	memset(&got, 0, sizeof(got));
	/* good, with and without a checksum */
	h_inject_udp(1234, 5000, "hello", 5);
	CHECK_EQ(got.calls, 1);
	CHECK_EQ(got.len, 5);
	CHECK_MEM(got.data, "hello", 5);
	CHECK(got.ctx == &got);
	CHECK_EQ(got.m.sport, 1234);
	CHECK_EQ(got.m.dport, 5000);
	CHECK_EQ(got.m.saddr, h_peer_ip);
	CHECK_EQ(got.m.daddr, h_our_ip);
	CHECK_EQ(got.m.dest, IP_DEST_UNICAST);
	n = h_udp(seg, h_peer_ip, h_our_ip, 1234, 5000, "hi", 2, false);
	h_inject_ip(h_peer_ip, h_our_ip, IPPROTO_UDP, seg, n);
	CHECK_EQ(got.calls, 2);
	CHECK_EQ(udp_stats.rx_no_csum, 1);
	/* bad checksum */
	n = h_udp(seg, h_peer_ip, h_our_ip, 1234, 5000, "hello", 5, true);
	seg[9] ^= 1;
	h_inject_ip(h_peer_ip, h_our_ip, IPPROTO_UDP, seg, n);
	CHECK_EQ(udp_stats.rx_bad_csum, 1);
	/* runt, length field too small and too large */
	h_inject_ip(h_peer_ip, h_our_ip, IPPROTO_UDP, seg, 7);
	CHECK_EQ(udp_stats.rx_runt, 1);
	n = h_udp(seg, h_peer_ip, h_our_ip, 1234, 5000, "hello", 5, false);
	put_be16(seg + 4, 7);
	h_inject_ip(h_peer_ip, h_our_ip, IPPROTO_UDP, seg, n);
	put_be16(seg + 4, (u16)(n + 1));
	h_inject_ip(h_peer_ip, h_our_ip, IPPROTO_UDP, seg, n);
	CHECK_EQ(udp_stats.rx_bad_len, 2);
	/* a length shorter than the IP payload: the rest is not data */
	put_be16(seg + 4, 10);
	h_inject_ip(h_peer_ip, h_our_ip, IPPROTO_UDP, seg, n);
	CHECK_EQ(got.calls, 3);
	CHECK_EQ(got.len, 2);
	/* port 0 */
	n = h_udp(seg, h_peer_ip, h_our_ip, 1234, 0, "x", 1, true);
	h_inject_ip(h_peer_ip, h_our_ip, IPPROTO_UDP, seg, n);
	CHECK_EQ(udp_stats.rx_bad_port, 1);
	CHECK_EQ(got.calls, 3);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(h_leaked(), 0);
}

/* Every value of the length field, the IPv4 payload staying 8 + 20 bytes: below 8 or past
 * the payload is a lie (dropped, counted); anything else is trusted and trims the datagram. */
static void test_length_field_every_value(void)
{
	static u8 seg[64];
	unsigned n, bad = 0;

	h_setup(NULL, NULL);
	udp_bind(5000, record, (void *)&got);
	memset(&got, 0, sizeof(got));
	n = h_udp(seg, h_peer_ip, h_our_ip, 1234, 5000, "twenty bytes of data", 20, false);
	for (unsigned ulen = 0; ulen < 65536; ulen++) {
		unsigned calls = got.calls;

		put_be16(seg + 4, (u16)ulen);
		h_inject_ip(h_peer_ip, h_our_ip, IPPROTO_UDP, seg, n);
		if (ulen < UDP_HLEN || ulen > n) {
			bad++;
			CHECK_EQ(got.calls, calls);
		} else {
			CHECK_EQ(got.calls, calls + 1);
			CHECK_EQ(got.len, ulen - UDP_HLEN);
		}
	}
	CHECK_EQ(udp_stats.rx_bad_len, bad);
	CHECK_EQ(got.calls, n - UDP_HLEN + 1);
	CHECK_EQ(h_leaked(), 0);
}

static void test_unconfigured_only_dhcp_client(void)
{
	static u8 seg[64];
	unsigned n;

	h_setup("dhcp", NULL);
	h_clear_tx();
	n = h_udp(seg, h_peer_ip, IPV4(10, 0, 2, 99), 1234, UDP_PORT_ECHO, "x", 1, true);
	h_inject_ip(h_peer_ip, IPV4(10, 0, 2, 99), IPPROTO_UDP, seg, n);
	CHECK_EQ(udp_stats.rx_unconfigured, 1);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(h_leaked(), 0);
}

static void test_echo_in_place_exact(void)
{
	unsigned seed = 11;
	static u8 data[1472];

	h_setup(NULL, NULL);
	learn_peer();
	for (int round = 0; round < 100; round++) {
		unsigned len = round == 0 ? 0 : round == 1 ? 1472 : (unsigned)rand_r(&seed) % 1473;
		static u8 seg[1500], pkt[1600];
		struct netbuf *nb;
		unsigned n;

		for (unsigned i = 0; i < len; i++)
			data[i] = (u8)rand_r(&seed);
		n = h_udp(seg, h_peer_ip, h_our_ip, 33333, UDP_PORT_ECHO, data, len, round % 5 != 4);
		n = h_ipv4(pkt, h_peer_ip, h_our_ip, IPPROTO_UDP, seg, n);
		nb = h_frame(h_our_mac, h_peer_mac, ETH_P_IP, pkt, n);
		h_inject(nb);
		CHECK_EQ(h_ntx, 1);
		if (h_ntx != 1)
			return;
		CHECK(h_tx[0] == nb);
		CHECK_EQ(h_ip(0)->daddr, h_peer_ip);
		CHECK_EQ(get_be16(h_l4(0)), UDP_PORT_ECHO);
		CHECK_EQ(get_be16(h_l4(0) + 2), 33333);
		CHECK_EQ(get_be16(h_l4(0) + 4), UDP_HLEN + len);
		CHECK(udp_csum_ok(0));
		CHECK(get_be16(h_l4(0) + 6) != 0);
		CHECK_MEM(h_l4(0) + UDP_HLEN, data, len);
		h_clear_tx();
	}
	CHECK_EQ(udp_stats.echo_packets, 100);
	CHECK_EQ(h_leaked(), 0);
}

/* Handlers that answer with a payload of their own making, in the received buffer: one
 * rewrites it (upper case), one trims it to 3 bytes, one pulls 2 bytes off its front (each
 * says UDP_PAYLOAD_NEW). */
static void reply_upper(void *ctx, struct netbuf *nb, const struct udp_meta *m)
{
	for (unsigned i = 0; i < netbuf_len(nb); i++)
		if (nb->data[i] >= 'a' && nb->data[i] <= 'z')
			nb->data[i] = (u8)(nb->data[i] - 'a' + 'A');
	udp_reply(nb, m, UDP_PAYLOAD_NEW);
}

static void reply_trimmed(void *ctx, struct netbuf *nb, const struct udp_meta *m)
{
	netbuf_trim(nb, 3);
	udp_reply(nb, m, UDP_PAYLOAD_NEW);
}

static void reply_pulled(void *ctx, struct netbuf *nb, const struct udp_meta *m)
{
	netbuf_pull(nb, 2);
	udp_reply(nb, m, UDP_PAYLOAD_NEW);
}

/* Says "unchanged" but trimmed: the length gives it away, the checksum is computed anyway. */
static void reply_trimmed_claims_unchanged(void *ctx, struct netbuf *nb, const struct udp_meta *m)
{
	netbuf_trim(nb, 5);
	udp_reply(nb, m, UDP_PAYLOAD_UNCHANGED);
}

/* A reply whose payload is not what arrived gets a checksum of its own: reusing the received
 * one (right only for an unchanged payload) would send a datagram every receiver drops. */
static void test_reply_changed_payload_checksummed(void)
{
	h_setup(NULL, NULL);
	learn_peer();
	udp_bind(5001, reply_upper, NULL);
	udp_bind(5002, reply_trimmed, NULL);
	udp_bind(5003, reply_pulled, NULL);
	udp_bind(5004, reply_trimmed_claims_unchanged, NULL);
	for (unsigned i = 0; i < 4; i++)
		h_inject_udp((u16)(40001 + i), (u16)(5001 + i), "hello, world", 12);
	CHECK_EQ(h_ntx, 4);
	if (h_ntx != 4)
		return;
	for (unsigned i = 0; i < 4; i++) {
		CHECK(udp_csum_ok(i));
		CHECK_EQ(get_be16(h_l4(i)), 5001 + i);
		CHECK_EQ(get_be16(h_l4(i) + 2), 40001 + i);
	}
	CHECK_MEM(h_l4(0) + UDP_HLEN, "HELLO, WORLD", 12);
	CHECK_EQ(get_be16(h_l4(1) + 4), UDP_HLEN + 3);
	CHECK_MEM(h_l4(1) + UDP_HLEN, "hel", 3);
	CHECK_EQ(get_be16(h_l4(2) + 4), UDP_HLEN + 10);
	CHECK_MEM(h_l4(2) + UDP_HLEN, "llo, world", 10);
	CHECK_EQ(get_be16(h_l4(3) + 4), UDP_HLEN + 5);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

static void test_echo_ignores_broadcast(void)
{
	static u8 seg[64];
	unsigned n;

	h_setup(NULL, NULL);
	n = h_udp(seg, h_peer_ip, INADDR_BROADCAST_BE, 1, UDP_PORT_ECHO, "x", 1, true);
	h_inject_ip(h_peer_ip, INADDR_BROADCAST_BE, IPPROTO_UDP, seg, n);
	CHECK_EQ(udp_stats.echo_ignored, 1);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(h_leaked(), 0);
}

/* Two echo services (two guests on one link) would answer each other for ever from one
 * forged datagram whose source port is 7; likewise chargen (19), daytime (13) and time (37)
 * answering us. None of these is answered, each counted; a source port of 0 means "no reply
 * expected" (RFC 768) and is ignored as before. */
static void test_echo_refuses_loop_ports(void)
{
	static const u16 loop_ports[] = { 7, 13, 19, 37 };
	static const u16 clients[] = { 1, 6, 8, 9, 12, 14, 18, 20, 36, 38, 1024, 65535 };

	h_setup(NULL, NULL);
	learn_peer();
	for (unsigned i = 0; i < ARRAY_SIZE(loop_ports); i++)
		h_inject_udp(loop_ports[i], UDP_PORT_ECHO, "ping-pong", 9);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(udp_stats.echo_loop_refused, ARRAY_SIZE(loop_ports));
	CHECK_EQ(udp_stats.echo_packets, 0);
	h_inject_udp(0, UDP_PORT_ECHO, "x", 1);
	CHECK_EQ(udp_stats.echo_ignored, 1);
	CHECK_EQ(h_ntx, 0);
	/* their neighbours are ordinary clients, answered */
	for (unsigned i = 0; i < ARRAY_SIZE(clients); i++)
		h_inject_udp(clients[i], UDP_PORT_ECHO, "x", 1);
	CHECK_EQ(h_ntx, ARRAY_SIZE(clients));
	CHECK_EQ(udp_stats.echo_packets, ARRAY_SIZE(clients));
	CHECK_EQ(udp_stats.echo_loop_refused, ARRAY_SIZE(loop_ports));
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* A datagram to our own address in a link-layer broadcast frame is not echoed either
 * (RFC 1122 3.3.6: a host SHOULD discard it). */
static void test_echo_ignores_link_broadcast(void)
{
	static u8 seg[64], pkt[128];
	unsigned n;

	h_setup(NULL, NULL);
	learn_peer();
	n = h_udp(seg, h_peer_ip, h_our_ip, 5555, UDP_PORT_ECHO, "x", 1, true);
	n = h_ipv4(pkt, h_peer_ip, h_our_ip, IPPROTO_UDP, seg, n);
	h_inject(h_frame(eth_broadcast_addr, h_peer_mac, ETH_P_IP, pkt, n));
	CHECK_EQ(udp_stats.echo_ignored, 1);
	CHECK_EQ(udp_stats.echo_packets, 0);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(h_leaked(), 0);
}

static void test_discard_counts(void)
{
	h_setup(NULL, NULL);
	h_inject_udp(1, UDP_PORT_DISCARD, "abc", 3);
	h_inject_udp(1, UDP_PORT_DISCARD, "defgh", 5);
	CHECK_EQ(udp_stats.discard_packets, 2);
	CHECK_EQ(udp_stats.discard_bytes, 8);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(h_leaked(), 0);
}

static void test_closed_port(void)
{
	h_setup(NULL, NULL);
	learn_peer();
	h_inject_udp(1, 4444, "x", 1);
	CHECK_EQ(udp_stats.rx_no_port, 1);
	CHECK_EQ(icmp_stats.tx_dest_unreach, 1);
	CHECK_EQ(h_ntx, 1);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}


/* ---- the application API ------------------------------------------------------------------ */

/* The typed address: a host-order number or a be32 is not an ip4_addr (this file would not
 * compile if it were; docs/network.md shows the compiler's refusal). */
_Static_assert(!__builtin_types_compatible_p(ip4_addr, be32), "ip4_addr is not a plain integer");
_Static_assert(!__builtin_types_compatible_p(ip4_addr, u32), "nor a host-order one");
_Static_assert(__builtin_types_compatible_p(__typeof__(ip4_from_host(0)), ip4_addr), "made from a number by name");

static void test_bind_ephemeral_and_many(void)
{
	static u16 ports[UDP_MAX_BINDINGS];
	unsigned n = 0;
	int p;

	h_setup(NULL, NULL);
	CHECK(UDP_MAX_BINDINGS > 16);
	/* every free binding can be had, each on its own port of the dynamic range */
	while ((p = udp_bind(0, record, NULL)) > 0) {
		CHECK(p >= UDP_EPHEMERAL_FIRST && p <= 65535);
		CHECK(udp_port_bound((u16)p));
		for (unsigned i = 0; i < n; i++)
			CHECK(ports[i] != p);
		ports[n++] = (u16)p;
	}
	CHECK_EQ(p, -ENOSPC);
	CHECK_EQ(n, UDP_MAX_BINDINGS - 2); /* echo and discard hold two */
	/* not one after the other (RFC 6056): some two consecutive binds are far apart */
	{
		bool spread = false;

		for (unsigned i = 1; i < n; i++)
			spread |= ports[i] > ports[i - 1] + 1 || ports[i] < ports[i - 1];
		CHECK(spread);
	}
	CHECK_EQ(udp_unbind(ports[3]), 0);
	p = udp_bind(0, record, NULL);
	CHECK(p > 0);
	CHECK_EQ(h_leaked(), 0);
}

/* udp_connect: only the peer is heard; udp_send goes to it. */
static void test_connect_filters_and_send(void)
{
	u8 seg[64], pkt[128];
	unsigned n;
	int port;

	h_setup(NULL, NULL);
	learn_peer();
	port = udp_bind(0, record, NULL);
	CHECK_EQ(udp_send((u16)port, "x", 1), -ENOTCONN);
	CHECK_EQ(udp_send(4242, "x", 1), -ENOENT);
	CHECK_EQ(udp_connect(4242, IP4(10, 0, 2, 2), 9999), -ENOENT);
	CHECK_EQ(udp_connect((u16)port, IP4(10, 0, 2, 2), 0), -EINVAL);
	CHECK_EQ(udp_connect((u16)port, IP4(224, 0, 0, 1), 9999), -EINVAL);
	CHECK_EQ(udp_connect((u16)port, IP4(10, 0, 2, 2), 9999), 0);
	memset(&got, 0, sizeof(got));
	h_inject_udp(9999, (u16)port, "peer", 4);
	CHECK_EQ(got.calls, 1);
	h_inject_udp(9998, (u16)port, "other port", 10);
	n = h_udp(seg, IPV4(10, 0, 2, 66), h_our_ip, 9999, (u16)port, "other host", 10, true);
	n = h_ipv4(pkt, IPV4(10, 0, 2, 66), h_our_ip, IPPROTO_UDP, seg, n);
	h_inject(h_frame(h_our_mac, h_peer_mac, ETH_P_IP, pkt, n));
	CHECK_EQ(got.calls, 1);
	CHECK_EQ(udp_stats.rx_not_connected, 2);
	CHECK_EQ(h_ntx, 0); /* dropped quietly: the port exists */
	CHECK_EQ(udp_send((u16)port, "hello", 5), 0);
	CHECK_EQ(h_ntx, 1);
	CHECK_EQ(h_ip(0)->daddr, h_peer_ip);
	CHECK_EQ(get_be16(h_l4(0)), port);
	CHECK_EQ(get_be16(h_l4(0) + 2), 9999);
	CHECK_MEM(h_l4(0) + UDP_HLEN, "hello", 5);
	h_clear_tx();
	CHECK_EQ(udp_connect((u16)port, IP4_ANY, 0), 0); /* disconnected: anyone again */
	h_inject_udp(9998, (u16)port, "other port", 10);
	CHECK_EQ(got.calls, 2);
	CHECK_EQ(udp_send((u16)port, "x", 1), -ENOTCONN);
	/* destination port 0 is refused on every path */
	CHECK_EQ(udp_send_to((u16)port, IP4(10, 0, 2, 2), 0, "x", 1), -EINVAL);
	{
		struct netbuf *nb = netbuf_alloc();

		CHECK_EQ(udp_output(nb, h_our_ip, h_peer_ip, (u16)port, 0), -EINVAL);
	}
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(h_leaked(), 0);
}

static struct {
	unsigned calls;
	struct udp_error e;
	void *ctx;
} err_got;

static void on_error(void *ctx, const struct udp_error *e)
{
	err_got.calls++;
	err_got.e = *e;
	err_got.ctx = ctx;
}

/* An ICMP error from the peer quoting the datagram captured in h_tx[i]. */
static void inject_icmp_error(unsigned i, u8 type, u8 code, u16 mtu)
{
	u8 icmp[8 + 60 + 8];
	unsigned q = ip_hdrlen(h_ip(i)) + 8;

	memset(icmp, 0, 8);
	icmp[0] = type;
	icmp[1] = code;
	put_be16(icmp + 6, mtu);
	memcpy(icmp + 8, h_ip(i), q);
	put_be16(icmp + 2, inet_csum(icmp, 8 + q));
	h_inject_ip(h_peer_ip, h_our_ip, IPPROTO_ICMP, icmp, 8 + q);
}

/* RFC 1122 4.1.3.3: ICMP errors about what a port sent reach its error handler. */
static void test_icmp_errors_reach_the_port(void)
{
	int ctx, port, other;

	h_setup(NULL, NULL);
	learn_peer();
	port = udp_bind(0, record, &ctx);
	CHECK_EQ(udp_on_error((u16)port, on_error), 0);
	CHECK_EQ(udp_on_error(4242, on_error), -ENOENT);
	memset(&err_got, 0, sizeof(err_got));
	CHECK_EQ(udp_send_to((u16)port, IP4(10, 0, 2, 2), 7777, "knock", 5), 0);
	inject_icmp_error(0, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0);
	CHECK_EQ(err_got.calls, 1);
	CHECK_EQ(err_got.e.err, -ECONNREFUSED);
	CHECK(ip4_eq(err_got.e.dst, IP4(10, 0, 2, 2)));
	CHECK_EQ(err_got.e.dport, 7777);
	CHECK(err_got.ctx == &ctx);
	inject_icmp_error(0, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 1400);
	CHECK_EQ(err_got.e.err, -EMSGSIZE);
	CHECK_EQ(err_got.e.mtu, 1400);
	inject_icmp_error(0, ICMP_DEST_UNREACH, ICMP_HOST_UNREACH, 0);
	CHECK_EQ(err_got.e.err, -EHOSTUNREACH);
	inject_icmp_error(0, ICMP_TIME_EXCEEDED, ICMP_EXC_TTL, 0);
	CHECK_EQ(err_got.e.err, -EHOSTUNREACH);
	CHECK_EQ(err_got.e.type, ICMP_TIME_EXCEEDED);
	CHECK_EQ(err_got.calls, 4);
	/* connected elsewhere: an error about 10.0.2.2:7777 is not the port's business */
	CHECK_EQ(udp_connect((u16)port, IP4(10, 0, 2, 2), 8888), 0);
	inject_icmp_error(0, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0);
	CHECK_EQ(err_got.calls, 4);
	/* a port without a handler, and a quote too short to name a port: ignored, counted */
	other = udp_bind(0, record, NULL);
	h_clear_tx();
	CHECK_EQ(udp_send_to((u16)other, IP4(10, 0, 2, 2), 7777, "x", 1), 0);
	inject_icmp_error(0, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0);
	CHECK_EQ(udp_stats.rx_icmp_errors, 4);
	CHECK_EQ(udp_stats.rx_icmp_ignored, 2);
	CHECK_EQ(err_got.calls, 4);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* Our own address loops back: nothing on the wire, delivered from the event loop (a timer of
 * 0), the source our address; a closed port answers with port unreachable, which comes back
 * to the sender's error handler the same way. ping works too. */
static void test_loopback(void)
{
	static struct ping_session ps;
	int a, b;

	h_setup(NULL, NULL);
	a = udp_bind(0, record, NULL);
	b = udp_bind(0, record, NULL);
	CHECK_EQ(udp_on_error((u16)b, on_error), 0);
	memset(&got, 0, sizeof(got));
	memset(&err_got, 0, sizeof(err_got));
	CHECK_EQ(udp_send_to((u16)b, IP4(10, 0, 2, 15), (u16)a, "to myself", 9), 0);
	CHECK_EQ(got.calls, 0); /* not from inside the send */
	h_advance_ns(0);
	CHECK_EQ(got.calls, 1);
	CHECK_EQ(got.m.saddr, h_our_ip);
	CHECK_EQ(got.m.daddr, h_our_ip);
	CHECK_EQ(got.m.sport, b);
	CHECK_EQ(got.len, 9);
	CHECK_MEM(got.data, "to myself", 9);
	/* a big one, through the send buffer, whole (no fragments on loopback) */
	{
		static u8 big[IPV4_MAX_SEND - UDP_HLEN];

		for (unsigned i = 0; i < sizeof(big); i++)
			big[i] = (u8)(i * 3);
		CHECK_EQ(udp_send_to((u16)b, IP4(10, 0, 2, 15), (u16)a, big, sizeof(big)), 0);
		h_advance_ns(0);
		CHECK_EQ(got.calls, 2);
		CHECK_EQ(got.len, sizeof(big));
		CHECK_MEM(got.data, big, sizeof(big));
	}
	/* to a closed port of ours */
	CHECK_EQ(udp_unbind((u16)a), 0);
	CHECK_EQ(udp_send_to((u16)b, IP4(10, 0, 2, 15), (u16)a, "anyone?", 7), 0);
	h_advance_ns(0);
	CHECK_EQ(err_got.calls, 1);
	CHECK_EQ(err_got.e.err, -ECONNREFUSED);
	CHECK_EQ(err_got.e.dport, a);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(ipv4_stats.tx_loopback, 4); /* 2 datagrams, the datagram to the closed port, its error */
	CHECK_EQ(ipv4_stats.rx_loopback, 4);
	/* ping ourselves */
	CHECK_EQ(ping_begin(&ps, h_our_ip, 56), 0);
	ps.quiet = true;
	CHECK_EQ(ping_send_next(&ps), 0);
	h_advance_ns(0);
	CHECK_EQ(ps.received, 1);
	ping_end(&ps);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(h_leaked(), 0);
}

int main(void)
{
	RUN(test_bind_api);
	RUN(test_bind_ephemeral_and_many);
	RUN(test_connect_filters_and_send);
	RUN(test_icmp_errors_reach_the_port);
	RUN(test_loopback);
	RUN(test_sendto_errors_and_limits);
	RUN(test_checksum_generated);
	RUN(test_receive_checks);
	RUN(test_length_field_every_value);
	RUN(test_unconfigured_only_dhcp_client);
	RUN(test_echo_in_place_exact);
	RUN(test_reply_changed_payload_checksummed);
	RUN(test_echo_ignores_broadcast);
	RUN(test_echo_refuses_loop_ports);
	RUN(test_echo_ignores_link_broadcast);
	RUN(test_discard_counts);
	RUN(test_closed_port);
	return unit_summary("net_udp");
}
