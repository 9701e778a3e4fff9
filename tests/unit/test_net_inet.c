/*
 * tests/unit/test_net_inet.c - checksum (RFC 1071 vectors, RFC 1624 incremental update),
 * address parsing and formatting, masks, and the ip=/gw= configuration parser.
 */
#include <stdlib.h>

#include "tests/unit/kernel_harness.h"
#include "tests/unit/net_harness.h"
#include "tests/unit/unit.h"
#include "net/net_stats.h"

static void test_rfc1071_example(void)
{
	/* RFC 1071 section 3: these bytes sum to 0xddf2 (one's complement), checksum 0x220d. */
	static const u8 data[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };

	/* a partial sum may be returned folded or not: both are the same modulo 0xffff */
	CHECK_EQ(inet_csum_add(0, data, sizeof(data)) % 0xffff, 0x2ddf0 % 0xffff);
	CHECK_EQ(inet_csum_fold(0x2ddf0), 0x220d);
	CHECK_EQ(inet_csum(data, sizeof(data)), 0x220d);
	/* summing in two pieces (the first even) gives the same */
	CHECK_EQ(inet_csum_fold(inet_csum_add(inet_csum_add(0, data, 4), data + 4, 4)), 0x220d);
}

static void test_ipv4_header_vector(void)
{
	/* A classic example header (192.168.0.1 -> 192.168.0.199, UDP, 115 bytes): 0xb861. */
	u8 h[20] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
		     0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 };

	CHECK_EQ(inet_csum(h, 20), 0xb861);
	h[10] = 0xb8;
	h[11] = 0x61;
	CHECK_EQ(inet_csum(h, 20), 0); /* verifying a correct header gives 0 */
	h[15] ^= 1;
	CHECK(inet_csum(h, 20) != 0);
}

static void test_odd_length(void)
{
	static const u8 odd[] = { 0x12, 0x34, 0x56 };

	/* the last byte is the high half of a zero-padded word */
	CHECK_EQ(inet_csum_add(0, odd, 3), 0x1234 + 0x5600);
	CHECK_EQ(inet_csum(odd, 3), (u16)~(0x1234 + 0x5600));
	CHECK_EQ(inet_csum(odd, 0), 0xffff);
}

/* The straightforward RFC 1071 loop, big-endian 16-bit words one at a time: the reference
 * the word-at-a-time implementation must agree with. */
static u16 reference_csum(const u8 *p, size_t len)
{
	u64 acc = 0;

	for (; len >= 2; p += 2, len -= 2)
		acc += (u32)(p[0] << 8 | p[1]);
	if (len)
		acc += (u32)p[0] << 8;
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (u16)~acc;
}

static void test_matches_reference_at_every_length_and_offset(void)
{
	static u8 buf[320];
	unsigned bad = 0;

	srand(1071);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (u8)rand();
	for (size_t off = 0; off < 8; off++) {
		for (size_t len = 0; len + off <= 300; len++) {
			u16 want = reference_csum(buf + off, len);
			size_t half = len / 2 & ~(size_t)1; /* split at an even offset */

			bad += inet_csum(buf + off, len) != want;
			bad += inet_csum_fold(inet_csum_add(inet_csum_add(0, buf + off, half), buf + off + half,
							    len - half)) != want;
		}
	}
	CHECK_EQ(bad, 0);
	memset(buf, 0xff, sizeof(buf)); /* all ones: the carries must wrap correctly */
	CHECK_EQ(inet_csum(buf, 301), reference_csum(buf, 301));
}

static void test_large_sum_folds(void)
{
	static u8 ff[65536];

	memset(ff, 0xff, sizeof(ff));
	CHECK_EQ(inet_csum(ff, sizeof(ff)), 0); /* all ones sums to -0: complement 0 */
}

static void test_incremental_update_matches_recompute(void)
{
	u8 buf[64];
	unsigned seed = 1;

	for (int round = 0; round < 2000; round++) {
		unsigned w;
		u16 before, old, neu;

		for (unsigned i = 0; i < sizeof(buf); i++)
			buf[i] = (u8)(rand_r(&seed));
		w = (unsigned)rand_r(&seed) % 32;
		before = inet_csum(buf, sizeof(buf));
		old = get_be16(buf + 2 * w);
		neu = (u16)rand_r(&seed);
		if (round % 7 == 0)
			neu = 0; /* the case RFC 1624 was written for */
		put_be16(buf + 2 * w, neu);
		/* equal as one's complement numbers: 0 and 0xffff are both zero */
		u16 inc = inet_csum_update16(before, old, neu), full = inet_csum(buf, sizeof(buf));

		CHECK(inc == full || (inc == 0xffff && full == 0) || (inc == 0 && full == 0xffff));
	}
	/* the echo case: type 8 -> 0 */
	CHECK_EQ(inet_csum_update16(0xf7ff, 0x0800, 0x0000), 0xffff);
}

static void test_pseudo_header(void)
{
	be32 s = IPV4(10, 0, 2, 2), d = IPV4(10, 0, 2, 15);

	CHECK_EQ(inet_pseudo_sum(s, d, 17, 12), 0x0a00 + 0x0202 + 0x0a00 + 0x020f + 17 + 12);
}

static void test_byte_order(void)
{
	u8 b[4];

	CHECK_EQ(htons(0x1234), 0x3412);
	CHECK_EQ(ntohl(htonl(0x01020304)), 0x01020304);
	CHECK_EQ(IPV4(10, 0, 2, 15), 0x0f02000a);
	put_be32(b, 0xc0a80001);
	CHECK(b[0] == 0xc0 && b[3] == 0x01);
	CHECK_EQ(get_be32(b), 0xc0a80001);
	put_be16(b, 0xabcd);
	CHECK_EQ(get_be16(b), 0xabcd);
}

static void test_parse_addr(void)
{
	static const char *const bad[] = { "", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1..2.3", "1.2.3.4 ",
					   " 1.2.3.4", "a.b.c.d", "1.2.3.-4", "1234.1.1.1", "1.2.3.4/", "0x1.2.3.4" };
	char buf[INET_ADDRSTRLEN];
	be32 a = 0;

	CHECK_EQ(inet_parse_addr("10.0.2.15", &a), 0);
	CHECK_EQ(a, IPV4(10, 0, 2, 15));
	CHECK_EQ(inet_parse_addr("255.255.255.255", &a), 0);
	CHECK_EQ(a, 0xffffffffu);
	CHECK_EQ(inet_parse_addr("0.0.0.0", &a), 0);
	CHECK_EQ(a, 0);
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++)
		CHECK_EQ(inet_parse_addr(bad[i], &a), -EINVAL);
	CHECK_EQ(inet_parse_addr(NULL, &a), -EINVAL);
	CHECK_STR(inet_fmt(buf, IPV4(192, 168, 100, 255)), "192.168.100.255");
	CHECK_STR(inet_fmt(buf, 0), "0.0.0.0");
}

static void test_parse_cidr_and_masks(void)
{
	be32 a, m;
	bool given;

	CHECK_EQ(inet_parse_cidr("10.1.2.3/8", &a, &m, &given), 0);
	CHECK(given && a == IPV4(10, 1, 2, 3) && m == IPV4(255, 0, 0, 0));
	CHECK_EQ(inet_parse_cidr("10.1.2.3", &a, &m, &given), 0);
	CHECK(!given && m == IPV4(255, 255, 255, 0));
	CHECK_EQ(inet_parse_cidr("10.1.2.3/32", &a, &m, &given), 0);
	CHECK_EQ(m, 0xffffffffu);
	CHECK_EQ(inet_parse_cidr("10.1.2.3/0", &a, &m, &given), 0);
	CHECK_EQ(m, 0);
	CHECK_EQ(inet_parse_cidr("10.1.2.3/33", &a, &m, &given), -EINVAL);
	CHECK_EQ(inet_parse_cidr("10.1.2.3/", &a, &m, &given), -EINVAL);
	CHECK_EQ(inet_parse_cidr("10.1.2.3/2x", &a, &m, &given), -EINVAL);
	CHECK_EQ(inet_parse_cidr("10.1.2/24", &a, &m, &given), -EINVAL);
	CHECK_EQ(inet_parse_cidr("10.100.200.255.1/24", &a, &m, &given), -EINVAL);
	CHECK_EQ(inet_mask_to_prefix(IPV4(255, 255, 255, 0)), 24);
	CHECK_EQ(inet_mask_to_prefix(IPV4(255, 255, 255, 252)), 30);
	CHECK_EQ(inet_mask_to_prefix(0), 0);
	CHECK_EQ(inet_mask_to_prefix(IPV4(255, 0, 255, 0)), -1);
	for (unsigned p = 0; p <= 32; p++)
		CHECK_EQ(inet_mask_to_prefix(inet_prefix_to_mask(p)), p);
}

static void test_host_address_classes(void)
{
	CHECK(ipv4_is_valid_host(IPV4(10, 0, 2, 15)));
	CHECK(!ipv4_is_valid_host(IPV4(0, 1, 2, 3)));
	CHECK(!ipv4_is_valid_host(IPV4(127, 0, 0, 1)));
	CHECK(!ipv4_is_valid_host(IPV4(224, 0, 0, 1)));
	CHECK(!ipv4_is_valid_host(IPV4(240, 0, 0, 1)));
	CHECK(!ipv4_is_valid_host(0xffffffffu));
	CHECK(ipv4_is_multicast(IPV4(239, 255, 255, 250)));
	CHECK(ipv4_is_reserved(IPV4(250, 1, 1, 1)) && !ipv4_is_reserved(0xffffffffu));
}

static void test_parse_config(void)
{
	be32 a, m, g;
	bool dhcp_on;

	CHECK_EQ(inet_parse_config(NULL, NULL, &a, &m, &g, &dhcp_on), 0);
	CHECK(!dhcp_on && a == IPV4(10, 0, 2, 15) && m == IPV4(255, 255, 255, 0) && g == IPV4(10, 0, 2, 2));
	CHECK_EQ(inet_parse_config("dhcp", "10.0.2.2", &a, &m, &g, &dhcp_on), 0);
	CHECK(dhcp_on && a == 0);
	CHECK_EQ(inet_parse_config("192.168.7.9/16", "192.168.0.1", &a, &m, &g, &dhcp_on), 0);
	CHECK(a == IPV4(192, 168, 7, 9) && m == IPV4(255, 255, 0, 0) && g == IPV4(192, 168, 0, 1));
	/* an explicit ip= without gw= has no default route */
	CHECK_EQ(inet_parse_config("192.168.7.9/24", NULL, &a, &m, &g, &dhcp_on), 0);
	CHECK_EQ(g, 0);
	/* a gateway off the network, or not an address, is refused (address kept) */
	CHECK_EQ(inet_parse_config("192.168.7.9/24", "10.0.0.1", &a, &m, &g, &dhcp_on), 0);
	CHECK(a == IPV4(192, 168, 7, 9) && g == 0);
	CHECK_EQ(inet_parse_config("192.168.7.9/24", "x", &a, &m, &g, &dhcp_on), 0);
	CHECK_EQ(g, 0);
	CHECK_EQ(inet_parse_config("192.168.7.9/24", "192.168.7.9", &a, &m, &g, &dhcp_on), 0);
	CHECK_EQ(g, 0);
	CHECK_EQ(inet_parse_config("10.0.2.15/24", "none", &a, &m, &g, &dhcp_on), 0);
	CHECK_EQ(g, 0);
	CHECK_EQ(inet_parse_config("garbage", NULL, &a, &m, &g, &dhcp_on), -EINVAL);
	CHECK_EQ(inet_parse_config("127.0.0.1/8", NULL, &a, &m, &g, &dhcp_on), -EINVAL);
	CHECK_EQ(inet_parse_config("224.0.0.1/8", NULL, &a, &m, &g, &dhcp_on), -EINVAL);
}

/* A static address must name a host: not its network's own address (host part all zeros)
 * nor its broadcast address (all ones). A /31 and a /32 have neither (RFC 3021). */
static void test_parse_config_refuses_network_and_broadcast(void)
{
	static const struct {
		const char *ip;
		int want;
	} cases[] = {
		{ "10.0.2.0/24", -EINVAL }, { "10.0.2.255/24", -EINVAL }, { "10.0.2.1/24", 0 },
		{ "10.0.2.254/24", 0 },     { "192.168.1.255", -EINVAL }, /* no /N: /24 */
		{ "10.0.0.4/30", -EINVAL }, { "10.0.0.7/30", -EINVAL },   { "10.0.0.5/30", 0 },
		{ "10.0.0.6/30", 0 },       { "10.0.0.4/31", 0 },         { "10.0.0.5/31", 0 },
		{ "10.0.0.255/32", 0 },     { "10.0.0.0/32", 0 },         { "172.16.0.255/16", 0 },
		{ "172.16.0.0/16", -EINVAL }, { "172.16.255.255/16", -EINVAL }, { "10.255.255.255/8", -EINVAL },
	};
	be32 a, m, g;
	bool dhcp_on;

	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		int got = inet_parse_config(cases[i].ip, NULL, &a, &m, &g, &dhcp_on);

		if (got != cases[i].want)
			printf("#   ip=%s\n", cases[i].ip);
		CHECK_EQ(got, cases[i].want);
	}
	host_log_clear();
	inet_parse_config("10.0.2.0/24", NULL, &a, &m, &g, &dhcp_on);
	inet_parse_config("10.0.2.255/24", "10.0.2.2", &a, &m, &g, &dhcp_on);
	CHECK(strstr(host_log, "net: ip=10.0.2.0/24 is the network address of 10.0.2.0/24, not a host's; no address\n"));
	CHECK(strstr(host_log, "net: ip=10.0.2.255/24 is the broadcast address of 10.0.2.0/24, not a host's; no address\n"));
	/* booted with one: no address at all, rather than answering for the whole network */
	h_setup("10.0.2.255/24", "10.0.2.2");
	CHECK(!inet_configured());
	CHECK_EQ(inet_set_address(IPV4(10, 0, 2, 255), IPV4(255, 255, 255, 0), 0, INET_SRC_STATIC), -EINVAL);
	CHECK_EQ(inet_set_address(IPV4(10, 0, 2, 0), IPV4(255, 255, 255, 0), 0, INET_SRC_STATIC), -EINVAL);
	CHECK(!inet_configured());
	CHECK_EQ(inet_set_address(IPV4(10, 0, 2, 255), IPV4(255, 255, 255, 254), 0, INET_SRC_STATIC), 0);
	h_clear_tx();
}

static void test_setup_prints_ready_once(void)
{
	host_log_clear();
	h_setup("10.0.2.15/24", "10.0.2.2");
	CHECK(strstr(host_log, "net: ready ip=10.0.2.15 mac=52:54:00:12:34:56\n") != NULL);
	host_log_clear();
	CHECK_EQ(inet_set_address(IPV4(10, 0, 2, 16), IPV4(255, 255, 255, 0), 0, INET_SRC_STATIC), 0);
	CHECK(strstr(host_log, "net: ready") == NULL);
	CHECK_EQ(inet_set_address(IPV4(127, 0, 0, 1), IPV4(255, 0, 0, 0), 0, INET_SRC_STATIC), -EINVAL);
	CHECK_EQ(inet_set_address(IPV4(10, 0, 2, 1), IPV4(255, 0, 255, 0), 0, INET_SRC_STATIC), -EINVAL);
	CHECK_EQ(inet_subnet_broadcast(), IPV4(10, 0, 2, 255));
	CHECK(inet_on_link(IPV4(10, 0, 2, 200)) && !inet_on_link(IPV4(10, 0, 3, 1)));
}

static void test_describe_and_stats_print(void)
{
	h_setup(NULL, NULL);
	host_log_clear();
	inet_describe(&h_dev);
	CHECK(strstr(host_log, "inet 10.0.2.15/24 netmask 255.255.255.0 broadcast 10.0.2.255 gateway 10.0.2.2 (static)"));
	host_log_clear();
	eth_stats.rx_runt = 7;
	inet_print_stats();
	CHECK(strstr(host_log, "eth: rx_frames 0 rx_ip 0 rx_arp 0 rx_runt 7 "));
	CHECK(strstr(host_log, "\narp: ") && strstr(host_log, "\nip: ") && strstr(host_log, "\nicmp: ") &&
	      strstr(host_log, "\nudp: ") && strstr(host_log, "\ndhcp: "));
	inet_zero_stats();
	CHECK_EQ(eth_stats.rx_runt, 0);
}

/* What belongs to our interface and nothing else: the subnet broadcast exists only once an
 * address is set (and not on a /31 or /32, RFC 3021); another device's link going down flushes
 * nothing of ours and ifconfig prints no inet line for it; inet_reset ends a ping session
 * and refills ICMP's error allowance. */
static void test_interface_scope(void)
{
	static struct ping_session ps, ps2;
	struct net_device other;
	u8 a[28], mac[ETH_ALEN];

	h_setup(NULL, NULL);
	CHECK_EQ(inet_subnet_broadcast(), IPV4(10, 0, 2, 255));
	inet_reset();
	CHECK_EQ(inet_subnet_broadcast(), 0);
	h_setup("10.0.2.15/31", NULL);
	CHECK_EQ(inet_subnet_broadcast(), 0);
	h_setup(NULL, NULL);
	h_inject(h_frame(h_our_mac, h_peer_mac, ETH_P_ARP, a,
			 h_arp(a, ARPOP_REQUEST, h_peer_mac, h_peer_ip, (const u8[6]){ 0 }, h_our_ip)));
	h_clear_tx();
	CHECK(arp_lookup(h_peer_ip, mac));
	memset(&other, 0, sizeof(other));
	snprintf(other.name, sizeof(other.name), "eth9");
	other.carrier = true;
	netif_carrier_off(&other);
	CHECK(arp_lookup(h_peer_ip, mac)); /* not flushed */
	host_log_clear();
	inet_describe(&other);
	CHECK_STR(host_log, "");
	CHECK_EQ(ping_begin(&ps, h_peer_ip, 8), 0);
	CHECK_EQ(ping_begin(&ps2, h_peer_ip, 8), -EBUSY);
	inet_reset(); /* no interface now: the session is over, and a new one has nowhere to go */
	CHECK_EQ(ping_begin(&ps2, h_peer_ip, 8), -ENETDOWN);
	h_setup(NULL, NULL);
	CHECK_EQ(ping_begin(&ps2, h_peer_ip, 8), 0);
	ping_end(&ps2);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* inet_csum_add's running sum may be any 32-bit value: a carry out of 32 bits comes back in at
 * bit 0 (RFC 1071 ones' complement): 0xffffffff (two words 0xffff) plus the word 0x0002 is
 * 0x0002 in 16 bits, whose complement is 0xfffd. */
static void test_sum_carry_out_of_32_bits(void)
{
	static const u8 two[2] = { 0x00, 0x02 };

	CHECK_EQ(inet_csum_fold(inet_csum_add(0xffffffffu, two, 2)), 0xfffd);
	CHECK_EQ(inet_csum_fold(inet_csum_add(0xfffffffeu, two, 2)), 0xfffe); /* 0xfffe + 0xffff + 2 */
}

/* net_stats_print reads each value with its own size: a 32-bit gauge beside other fields, a
 * 64-bit counter above 2^32. */
struct mixed_stats {
	u32 gauge;
	u32 other;
	u64 counter;
};

static void test_stats_sizes(void)
{
	static const struct net_stat_desc desc[] = {
		NET_STAT(struct mixed_stats, gauge) NET_STAT(struct mixed_stats, counter)
	};
	struct mixed_stats m = { 5, 7, 0x200000001ull };

	host_log_clear();
	net_stats_print_line("mixed", desc, ARRAY_SIZE(desc), &m);
	CHECK_STR(host_log, "mixed: gauge 5 counter 8589934593\n");
}

int main(void)
{
	RUN(test_rfc1071_example);
	RUN(test_ipv4_header_vector);
	RUN(test_odd_length);
	RUN(test_large_sum_folds);
	RUN(test_matches_reference_at_every_length_and_offset);
	RUN(test_incremental_update_matches_recompute);
	RUN(test_pseudo_header);
	RUN(test_byte_order);
	RUN(test_parse_addr);
	RUN(test_parse_cidr_and_masks);
	RUN(test_host_address_classes);
	RUN(test_parse_config);
	RUN(test_parse_config_refuses_network_and_broadcast);
	RUN(test_setup_prints_ready_once);
	RUN(test_describe_and_stats_print);
	RUN(test_interface_scope);
	RUN(test_sum_carry_out_of_32_bits);
	RUN(test_stats_sizes);
	return unit_summary("net_inet");
}
