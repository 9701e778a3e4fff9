/*
 * tests/unit/test_net_ipv4.c - IPv4 receive validation (one test per drop branch), options,
 * link padding, destinations we accept, and output: header fields, routing on-link vs the
 * gateway, MTU and address checks.
 */
#include "tests/unit/kernel_harness.h"
#include "tests/unit/net_harness.h"
#include "tests/unit/unit.h"

static u8 pkt[2048];

/* A UDP datagram to the discard port, as a whole IPv4 packet in pkt; returns its length. */
static unsigned discard_packet(be32 src, be32 dst)
{
	u8 seg[16];
	unsigned n = h_udp(seg, src, dst, 1234, UDP_PORT_DISCARD, "hello", 5, true);

	return h_ipv4(pkt, src, dst, IPPROTO_UDP, seg, n);
}

static void inject_pkt(unsigned len) { h_inject(h_frame(h_our_mac, h_peer_mac, ETH_P_IP, pkt, len)); }

static void fix_csum(void)
{
	struct iphdr *ip = (void *)pkt;

	ip->check = 0;
	ip->check = htons(inet_csum(ip, ip_hdrlen(ip)));
}

static void test_delivers_valid(void)
{
	h_setup(NULL, NULL);
	inject_pkt(discard_packet(h_peer_ip, h_our_ip));
	CHECK_EQ(ipv4_stats.rx_delivered, 1);
	CHECK_EQ(udp_stats.discard_packets, 1);
	CHECK_EQ(udp_stats.discard_bytes, 5);
	CHECK_EQ(h_leaked(), 0);
}

static void test_header_drops(void)
{
	struct iphdr *ip = (void *)pkt;
	unsigned n;

	h_setup(NULL, NULL);
	n = discard_packet(h_peer_ip, h_our_ip);
	inject_pkt(19);
	CHECK_EQ(ipv4_stats.rx_runt, 1);
	ip->ver_ihl = 0x65;
	fix_csum();
	inject_pkt(n);
	CHECK_EQ(ipv4_stats.rx_bad_version, 1);
	ip->ver_ihl = 0x44; /* IHL 4 words: less than the header */
	inject_pkt(n);
	ip->ver_ihl = 0x4f; /* 60 bytes of header in a 33-byte packet */
	inject_pkt(n);
	CHECK_EQ(ipv4_stats.rx_bad_ihl, 2);
	n = discard_packet(h_peer_ip, h_our_ip);
	ip->tot_len = htons(19);
	fix_csum();
	inject_pkt(n);
	CHECK_EQ(ipv4_stats.rx_bad_len, 1);
	ip->tot_len = htons((u16)(n + 1));
	fix_csum();
	inject_pkt(n);
	CHECK_EQ(ipv4_stats.rx_truncated, 1);
	n = discard_packet(h_peer_ip, h_our_ip);
	ip->check ^= htons(1);
	inject_pkt(n);
	CHECK_EQ(ipv4_stats.rx_bad_csum, 1);
	CHECK_EQ(ipv4_stats.rx_delivered, 0);
	CHECK_EQ(udp_stats.discard_packets, 0);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(h_leaked(), 0);
}

/* A fragment is not delivered on its own: it goes to reassembly (test_net_ipfrag.c); these
 * two never complete a datagram (the first is not a multiple of 8 bytes long, the second has
 * no first part). DF alone is not a fragment. */
static void test_fragments_dropped(void)
{
	struct iphdr *ip = (void *)pkt;
	unsigned n;

	h_setup(NULL, NULL);
	n = discard_packet(h_peer_ip, h_our_ip);
	ip->frag_off = htons(IP_MF);
	fix_csum();
	inject_pkt(n);
	ip->frag_off = htons(185); /* a later fragment */
	fix_csum();
	inject_pkt(n);
	CHECK_EQ(ipv4_stats.rx_fragments, 2);
	ip->frag_off = htons(IP_DF); /* DF alone is not a fragment */
	fix_csum();
	inject_pkt(n);
	CHECK_EQ(udp_stats.discard_packets, 1);
	CHECK_EQ(h_leaked(), 0);
}

static void test_source_and_destination_checks(void)
{
	be32 srcs[] = { IPV4(127, 0, 0, 1), INADDR_BROADCAST_BE, IPV4(10, 0, 2, 255), IPV4(224, 0, 0, 9),
			IPV4(240, 0, 0, 1) };

	h_setup(NULL, NULL);
	for (unsigned i = 0; i < ARRAY_SIZE(srcs); i++)
		inject_pkt(discard_packet(srcs[i], h_our_ip));
	CHECK_EQ(ipv4_stats.rx_bad_source, ARRAY_SIZE(srcs));
	inject_pkt(discard_packet(h_peer_ip, IPV4(239, 1, 1, 1)));
	CHECK_EQ(ipv4_stats.rx_multicast, 1);
	inject_pkt(discard_packet(h_peer_ip, IPV4(10, 0, 2, 99)));
	inject_pkt(discard_packet(h_peer_ip, IPV4(10, 0, 3, 255)));
	CHECK_EQ(ipv4_stats.rx_not_for_us, 2);
	CHECK_EQ(udp_stats.discard_packets, 0);
	/* accepted: limited broadcast, subnet broadcast, source 0.0.0.0 */
	inject_pkt(discard_packet(h_peer_ip, INADDR_BROADCAST_BE));
	inject_pkt(discard_packet(h_peer_ip, IPV4(10, 0, 2, 255)));
	inject_pkt(discard_packet(0, INADDR_BROADCAST_BE));
	CHECK_EQ(udp_stats.discard_packets, 3);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(h_leaked(), 0);
}

/* Our own address as a source is spoofed or looped back: dropped, never answered. */
static void test_own_source_dropped(void)
{
	h_setup(NULL, NULL);
	inject_pkt(discard_packet(h_our_ip, h_our_ip));
	inject_pkt(discard_packet(h_our_ip, INADDR_BROADCAST_BE));
	CHECK_EQ(ipv4_stats.rx_bad_source, 2);
	CHECK_EQ(udp_stats.discard_packets, 0);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(h_leaked(), 0);
}

/* /32 and /31 have no subnet broadcast (RFC 3021): 0.0.0.0 must not pass for one. */
static void test_no_subnet_broadcast_on_slash32(void)
{
	be32 hop;

	h_setup("10.0.2.15/32", NULL);
	inject_pkt(discard_packet(h_peer_ip, 0));
	CHECK_EQ(ipv4_stats.rx_not_for_us, 1);
	CHECK_EQ(udp_stats.discard_packets, 0);
	CHECK(!inet_is_subnet_broadcast(0));
	CHECK_EQ(ipv4_route(0, &hop), -ENETUNREACH);
	h_setup("10.0.2.15/24", NULL);
	CHECK(inet_is_subnet_broadcast(IPV4(10, 0, 2, 255)));
	CHECK(!inet_is_subnet_broadcast(0));
	CHECK_EQ(h_leaked(), 0);
}

/* The receive checks, restated independently of net/ipv4.c (RFC 791 3.1, RFC 1122 3.2.1). */
static bool reference_accepts(const u8 *p, unsigned len)
{
	unsigned ihl = (p[0] & 15) * 4u, tot = get_be16(p + 2);
	u32 src = get_be32(p + 12), dst = get_be32(p + 16);
	u32 me = ntohl(h_our_ip);

	if (len < 20 || p[0] >> 4 != 4 || ihl < 20 || ihl > len || tot < ihl || tot > len)
		return false;
	if (inet_csum(p, ihl) != 0 || (get_be16(p + 6) & 0x3fff) != 0)
		return false;
	if (src != 0 && (src >> 24 == 0 || src >> 24 == 127 || src >> 28 >= 0xe || src == (me | 0xff) || src == me))
		return false;
	return dst == me || dst == 0xffffffffu || dst == (me | 0xff);
}

/* Every value of every header byte, with the checksum left as it was and made right again:
 * the stack passes up (to a protocol, or to the protocol-unreachable answer) exactly what the
 * reference accepts, and nothing leaks. */
static void test_every_header_byte_every_value(void)
{
	static u8 base[64];
	unsigned n, delivered = 0, expected = 0;

	h_setup(NULL, NULL);
	n = discard_packet(h_peer_ip, h_our_ip);
	memcpy(base, pkt, n);
	for (unsigned pos = 0; pos < IPV4_HLEN; pos++) {
		for (unsigned v = 0; v < 256; v++) {
			for (int fix = 0; fix < 2; fix++) {
				u64 before = ipv4_stats.rx_delivered + ipv4_stats.rx_unknown_proto;

				memcpy(pkt, base, n);
				pkt[pos] = (u8)v;
				if (fix && pos != 10 && pos != 11 && (pkt[0] & 15) >= 5 && (pkt[0] & 15) * 4u <= n)
					fix_csum();
				expected += reference_accepts(pkt, n);
				inject_pkt(n);
				delivered += ipv4_stats.rx_delivered + ipv4_stats.rx_unknown_proto - before;
				h_clear_tx();
			}
		}
	}
	CHECK_EQ(delivered, expected);
	CHECK(expected > 100); /* the sweep did reach past the checks */
	CHECK_EQ(h_leaked(), 0);
}

static void test_options_skipped_and_padding_trimmed(void)
{
	u8 seg[64];
	struct iphdr *ip = (void *)pkt;
	unsigned n = h_udp(seg, h_peer_ip, h_our_ip, 4321, UDP_PORT_ECHO, "ping!", 5, true);
	struct netbuf *nb;

	h_setup(NULL, NULL);
	h_inject(h_frame(h_our_mac, h_peer_mac, ETH_P_ARP, pkt, h_arp(pkt, ARPOP_REQUEST, h_peer_mac, h_peer_ip,
									     (const u8[6]){ 0 }, h_our_ip)));
	h_clear_tx();
	/* header with 8 bytes of options: NOP NOP NOP NOP then an unknown 4-byte option */
	h_ipv4(pkt, h_peer_ip, h_our_ip, IPPROTO_UDP, NULL, 0);
	ip->ver_ihl = 0x47;
	ip->tot_len = htons((u16)(28 + n));
	memcpy(pkt + 20, "\x01\x01\x01\x01\x88\x04\xaa\xbb", 8);
	memcpy(pkt + 28, seg, n);
	fix_csum();
	nb = h_frame(h_our_mac, h_peer_mac, ETH_P_IP, pkt, 28 + n);
	memset(netbuf_put(nb, 20), 0xee, 20); /* link padding after the datagram */
	h_inject(nb);
	CHECK_EQ(udp_stats.echo_packets, 1);
	CHECK_EQ(h_ntx, 1);
	CHECK_EQ(ip_hdrlen(h_ip(0)), 20); /* the reply carries no options */
	CHECK_EQ(ntohs(h_ip(0)->tot_len), 20 + n);
	CHECK_EQ(h_len(0), ETH_HLEN + 20 + n > 60 ? ETH_HLEN + 20 + n : 60);
	CHECK_MEM(h_l4(0) + UDP_HLEN, "ping!", 5);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

static void test_unknown_protocol_gets_unreachable(void)
{
	const struct icmphdr *ic;

	h_setup(NULL, NULL);
	h_inject_ip(h_peer_ip, h_our_ip, 6 /* TCP */, "abcdefgh", 8);
	CHECK_EQ(ipv4_stats.rx_unknown_proto, 1);
	/* the reply waits for ARP first: answer it */
	CHECK_EQ(h_ntx, 1);
	h_clear_tx();
	u8 a[28];
	h_inject(h_frame(h_our_mac, h_peer_mac, ETH_P_ARP, a,
			 h_arp(a, ARPOP_REPLY, h_peer_mac, h_peer_ip, h_our_mac, h_our_ip)));
	CHECK_EQ(h_ntx, 1);
	ic = (const void *)h_l4(0);
	CHECK_EQ(ic->type, ICMP_DEST_UNREACH);
	CHECK_EQ(ic->code, ICMP_PROT_UNREACH);
	h_clear_tx();
	/* to a broadcast: no error */
	h_inject_ip(h_peer_ip, INADDR_BROADCAST_BE, 6, "abcdefgh", 8);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(icmp_stats.tx_error_suppressed, 1);
	CHECK_EQ(h_leaked(), 0);
}

static void test_output_header_fields(void)
{
	const struct iphdr *ip;
	u16 id0;

	h_setup(NULL, NULL);
	h_inject(h_frame(h_our_mac, h_peer_mac, ETH_P_ARP, pkt,
			 h_arp(pkt, ARPOP_REQUEST, h_peer_mac, h_peer_ip, (const u8[6]){ 0 }, h_our_ip)));
	h_clear_tx();
	CHECK_EQ(udp_sendto(h_peer_ip, 1000, 2000, "xyz", 3), 0);
	CHECK_EQ(udp_sendto(h_peer_ip, 1000, 2000, "xyz", 3), 0);
	CHECK_EQ(h_ntx, 2);
	ip = h_ip(0);
	CHECK_EQ(ip->ver_ihl, 0x45);
	CHECK_EQ(ntohs(ip->tot_len), 31);
	CHECK_EQ(ntohs(ip->frag_off), 0); /* DF clear: routers may fragment (docs/network.md) */
	CHECK_EQ(ip->ttl, 64);
	CHECK_EQ(ip->protocol, IPPROTO_UDP);
	CHECK_EQ(ip->saddr, h_our_ip);
	CHECK_EQ(ip->daddr, h_peer_ip);
	CHECK_EQ(inet_csum(ip, 20), 0);
	id0 = ntohs(ip->id);
	CHECK_EQ(ntohs(h_ip(1)->id), (u16)(id0 + 1));
	CHECK_MEM(h_eth(0)->h_dest, h_peer_mac, 6);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

static void test_routing(void)
{
	const struct arphdr_eth *q;
	be32 hop;

	h_setup("10.0.2.15/24", "10.0.2.2");
	CHECK_EQ(ipv4_route(IPV4(10, 0, 2, 77), &hop), 0);
	CHECK_EQ(hop, IPV4(10, 0, 2, 77));
	CHECK_EQ(ipv4_route(IPV4(192, 0, 2, 1), &hop), 0);
	CHECK_EQ(hop, IPV4(10, 0, 2, 2));
	CHECK_EQ(ipv4_route(IPV4(10, 0, 2, 255), &hop), 0);
	CHECK_EQ(hop, INADDR_BROADCAST_BE);
	/* off-link traffic asks ARP for the gateway */
	udp_sendto(IPV4(192, 0, 2, 1), 1, 2, "a", 1);
	CHECK_EQ(h_ntx, 1);
	q = (const void *)(h_tx[0]->data + ETH_HLEN);
	CHECK_EQ(q->ar_tpa, IPV4(10, 0, 2, 2));
	arp_flush();
	h_clear_tx();
	/* broadcasts go straight to the broadcast MAC */
	CHECK_EQ(udp_sendto(IPV4(10, 0, 2, 255), 1, 2, "a", 1), 0);
	CHECK(eth_is_broadcast(h_eth(0)->h_dest));
	h_clear_tx();
	/* no gateway: off-link is unreachable */
	h_setup("10.0.2.15/24", "none");
	CHECK_EQ(ipv4_route(IPV4(192, 0, 2, 1), &hop), -ENETUNREACH);
	CHECK_EQ(udp_sendto(IPV4(192, 0, 2, 1), 1, 2, "a", 1), -ENETUNREACH);
	CHECK_EQ(ipv4_stats.tx_no_route, 1);
	CHECK_EQ(h_leaked(), 0);
}

static void test_output_refusals(void)
{
	struct netbuf *nb;

	h_setup(NULL, NULL);
	/* larger than the MTU is no refusal: it leaves in two fragments (test_net_ipfrag.c) */
	nb = netbuf_alloc();
	netbuf_put(nb, 1481);
	CHECK_EQ(ipv4_output(nb, h_our_ip, INADDR_BROADCAST_BE, IPPROTO_UDP), 0);
	CHECK_EQ(h_ntx, 2);
	CHECK_EQ(ipv4_stats.tx_too_big, 0);
	h_clear_tx();
	/* (our own address is no refusal either: it loops back, test_net_udp.c) */
	be32 bad_dst[] = { 0, IPV4(127, 0, 0, 1), IPV4(224, 0, 0, 1), IPV4(240, 0, 0, 1) };
	for (unsigned i = 0; i < ARRAY_SIZE(bad_dst); i++) {
		nb = netbuf_alloc();
		CHECK_EQ(ipv4_output(nb, h_our_ip, bad_dst[i], IPPROTO_UDP), -EINVAL);
	}
	CHECK_EQ(ipv4_stats.tx_bad_dest, ARRAY_SIZE(bad_dst));
	/* source 0.0.0.0 only for the limited broadcast; a foreign source never */
	nb = netbuf_alloc();
	CHECK_EQ(ipv4_output(nb, 0, h_peer_ip, IPPROTO_UDP), -EINVAL);
	nb = netbuf_alloc();
	CHECK_EQ(ipv4_output(nb, IPV4(10, 0, 2, 99), h_peer_ip, IPPROTO_UDP), -EINVAL);
	CHECK_EQ(ipv4_stats.tx_no_source, 2);
	nb = netbuf_alloc();
	CHECK_EQ(ipv4_output(nb, 0, INADDR_BROADCAST_BE, IPPROTO_UDP), 0);
	CHECK_EQ(h_ntx, 1);
	CHECK_EQ(h_ip(0)->saddr, 0);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* RFC 1122 3.2.1.7: a host MUST NOT discard a datagram just because its TTL is below 2, and
 * MUST NOT send one with TTL 0: TTL 0 and 1 are delivered and answered, and everything we
 * send carries IP_DEFAULT_TTL (fragments too: test_net_ipfrag.c). */
static void test_ttl_below_two_accepted(void)
{
	static u8 big[1000];
	u8 seg[64];
	struct iphdr *ip = (void *)pkt;
	unsigned n;

	h_setup(NULL, NULL);
	h_inject(h_frame(h_our_mac, h_peer_mac, ETH_P_ARP, pkt,
			 h_arp(pkt, ARPOP_REQUEST, h_peer_mac, h_peer_ip, (const u8[6]){ 0 }, h_our_ip)));
	h_clear_tx();
	for (u8 ttl = 0; ttl < 2; ttl++) {
		n = h_udp(seg, h_peer_ip, h_our_ip, 4321, UDP_PORT_ECHO, "ttl", 3, true);
		h_ipv4(pkt, h_peer_ip, h_our_ip, IPPROTO_UDP, seg, n);
		ip->ttl = ttl;
		fix_csum();
		inject_pkt(IPV4_HLEN + n);
		n = h_icmp_echo(seg, ICMP_ECHO, 1, ttl, "ttl", 3);
		h_ipv4(pkt, h_peer_ip, h_our_ip, IPPROTO_ICMP, seg, n);
		ip->ttl = ttl;
		fix_csum();
		inject_pkt(IPV4_HLEN + n);
	}
	CHECK_EQ(ipv4_stats.rx_delivered, 4);
	CHECK_EQ(udp_stats.echo_packets, 2);
	CHECK_EQ(icmp_stats.tx_echo_replies, 2);
	CHECK_EQ(udp_sendto(h_peer_ip, 1000, 2000, big, 1000), 0);
	CHECK_EQ(icmp_send_echo(h_peer_ip, 1, 1, 1000), 0);
	CHECK_EQ(h_ntx, 6);
	for (unsigned i = 0; i < h_ntx; i++)
		CHECK_EQ(h_ip(i)->ttl, IP_DEFAULT_TTL);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* An ICMP error built in the received buffer carries none of the receive side's checksum
 * marks: a frame the device handed over with NETBUF_CSUM_PARTIAL (virtio's NEEDS_CSUM) gets
 * a protocol unreachable whose own checksum is whole and which asks the driver for no
 * checksum offload (which would make the device write a sum at the old offsets). */
static void test_error_in_received_buffer_asks_no_offload(void)
{
	const struct icmphdr *ic;
	struct netbuf *nb;
	u8 a[28];
	unsigned n;

	h_setup(NULL, NULL);
	h_inject(h_frame(h_our_mac, h_peer_mac, ETH_P_ARP, a,
			 h_arp(a, ARPOP_REQUEST, h_peer_mac, h_peer_ip, (const u8[6]){ 0 }, h_our_ip)));
	h_clear_tx();
	n = h_ipv4(pkt, h_peer_ip, h_our_ip, 253 /* experimental (RFC 3692) */, "abcdefgh", 8);
	nb = h_frame(h_our_mac, h_peer_mac, ETH_P_IP, pkt, n);
	nb->ip_summed = NETBUF_CSUM_PARTIAL;
	nb->csum_start = NETBUF_HEADROOM + ETH_HLEN + IPV4_HLEN;
	nb->csum_offset = 6;
	h_inject(nb);
	CHECK_EQ(h_ntx, 1);
	if (h_ntx == 1) {
		ic = (const void *)h_l4(0);
		CHECK_EQ(ic->type, ICMP_DEST_UNREACH);
		CHECK_EQ(ic->code, ICMP_PROT_UNREACH);
		CHECK_EQ(inet_csum(ic, ntohs(h_ip(0)->tot_len) - IPV4_HLEN), 0);
		CHECK_EQ(h_tx[0]->ip_summed, NETBUF_CSUM_NONE);
	}
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* RFC 3168 5: a transport that does not do ECN sends Not-ECT (00), and we send DSCP 0: an echo
 * reply built over a request that came with TOS 0xbb (DSCP 46, ECN 11: CE) says 0. */
static void test_reply_tos_is_zero(void)
{
	u8 msg[ICMP_HLEN + 8], a[28];
	unsigned n;

	h_setup(NULL, NULL);
	h_inject(h_frame(h_our_mac, h_peer_mac, ETH_P_ARP, a,
			 h_arp(a, ARPOP_REQUEST, h_peer_mac, h_peer_ip, (const u8[6]){ 0 }, h_our_ip)));
	h_clear_tx();
	n = h_icmp_echo(msg, ICMP_ECHO, 7, 1, "12345678", 8);
	n = h_ipv4(pkt, h_peer_ip, h_our_ip, IPPROTO_ICMP, msg, n);
	pkt[1] = 0xbb;
	fix_csum();
	inject_pkt(n);
	CHECK_EQ(h_ntx, 1);
	if (h_ntx == 1) {
		CHECK_EQ(h_ip(0)->tos, 0);
		CHECK_EQ(inet_csum(h_ip(0), IPV4_HLEN), 0);
	}
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* A device that takes no frame (detached for a reset): ipv4_output says so, for a datagram
 * that leaves whole and for one that leaves in fragments alike. */
static void test_output_error_reported_for_fragments(void)
{
	struct netbuf *nb;

	h_setup(NULL, NULL);
	netif_device_detach(&h_dev);
	nb = netbuf_alloc();
	netbuf_put(nb, 100);
	CHECK_EQ(ipv4_output(nb, h_our_ip, INADDR_BROADCAST_BE, IPPROTO_UDP), -ENODEV);
	nb = netbuf_alloc();
	netbuf_put(nb, 1481);
	CHECK_EQ(ipv4_output(nb, h_our_ip, INADDR_BROADCAST_BE, IPPROTO_UDP), -ENODEV);
	netif_device_attach(&h_dev);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(h_leaked(), 0);
}

static unsigned lo_heard;

static void lo_handler(void *ctx, struct netbuf *nb, const struct udp_meta *m)
{
	lo_heard++;
	netbuf_free(nb);
}

/* Datagrams to our own address wait for the event loop; several sent before it runs are all
 * delivered, in order, none lost. */
static void test_loopback_queues_several(void)
{
	h_setup(NULL, NULL);
	lo_heard = 0;
	CHECK_EQ(udp_bind(4000, lo_handler, NULL), 4000);
	CHECK_EQ(udp_sendto(h_our_ip, 4001, 4000, "a", 1), 0);
	CHECK_EQ(udp_sendto(h_our_ip, 4001, 4000, "b", 1), 0);
	CHECK_EQ(udp_sendto(h_our_ip, 4001, 4000, "c", 1), 0);
	CHECK_EQ(lo_heard, 0);
	h_advance_ns(0);
	CHECK_EQ(lo_heard, 3);
	CHECK_EQ(ipv4_stats.rx_loopback, 3);
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(udp_unbind(4000), 0);
	CHECK_EQ(h_leaked(), 0);
}

int main(void)
{
	RUN(test_delivers_valid);
	RUN(test_header_drops);
	RUN(test_fragments_dropped);
	RUN(test_source_and_destination_checks);
	RUN(test_own_source_dropped);
	RUN(test_no_subnet_broadcast_on_slash32);
	RUN(test_every_header_byte_every_value);
	RUN(test_options_skipped_and_padding_trimmed);
	RUN(test_unknown_protocol_gets_unreachable);
	RUN(test_output_header_fields);
	RUN(test_routing);
	RUN(test_output_refusals);
	RUN(test_ttl_below_two_accepted);
	RUN(test_error_in_received_buffer_asks_no_offload);
	RUN(test_reply_tos_is_zero);
	RUN(test_output_error_reported_for_fragments);
	RUN(test_loopback_queues_several);
	return unit_summary("net_ipv4");
}
