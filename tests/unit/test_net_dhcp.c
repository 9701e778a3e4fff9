/*
 * tests/unit/test_net_dhcp.c - the DHCP client (RFC 2131): the messages it sends, the whole
 * DISCOVER/OFFER/REQUEST/ACK exchange, renewal at T1 and rebinding at T2, expiry, NAK,
 * retransmission backoff, and option parsing against malformed and hostile input.
 */
#include "tests/unit/kernel_harness.h"
#include "tests/unit/net_harness.h"
#include "tests/unit/unit.h"

#define SEC 1000000000ull

static const be32 server = 0x0202000a; /* 10.0.2.2 */

static const struct dhcp_msg *sent_msg(unsigned i) { return (const void *)(h_l4(i) + UDP_HLEN); }

/* Find option code in a message we sent; returns its value and length, or NULL. */
static const u8 *sent_opt(unsigned i, u8 code, unsigned *len)
{
	const struct dhcp_msg *m = sent_msg(i);
	const u8 *p = m->options, *end = (const u8 *)m + get_be16(h_l4(i) + 4) - UDP_HLEN;

	while (p < end && *p != DHO_END) {
		if (*p == DHO_PAD) {
			p++;
			continue;
		}
		if (p[0] == code) {
			*len = p[1];
			return p + 2;
		}
		p += 2 + p[1];
	}
	return NULL;
}

static u8 sent_type(unsigned i)
{
	unsigned len;
	const u8 *v = sent_opt(i, DHO_MSG_TYPE, &len);

	return v && len == 1 ? v[0] : 0;
}

static u8 opts[512];
static unsigned nopts;

static void opt(u8 code, unsigned len, const void *v)
{
	opts[nopts++] = code;
	opts[nopts++] = (u8)len;
	memcpy(opts + nopts, v, len);
	nopts += len;
}

static void opt_u32(u8 code, u32 v)
{
	u8 b[4];

	put_be32(b, v);
	opt(code, 4, b);
}

/* The usual server options for a message type: mask /24, router, lease, server id. */
static void std_opts(u8 type, u32 lease)
{
	nopts = 0;
	opt(DHO_MSG_TYPE, 1, &type);
	opt(DHO_SERVER_ID, 4, &server);
	opt(DHO_SUBNET_MASK, 4, (const u8[]){ 255, 255, 255, 0 });
	opt(DHO_ROUTER, 4, (const u8[]){ 10, 0, 2, 2 });
	opt_u32(DHO_LEASE_TIME, lease);
}

/* A BOOTREPLY with opts (END appended) sent from IP address src to the broadcast address. */
static void inject_reply_from(be32 src, u32 xid, be32 yiaddr, const u8 *chaddr)
{
	static u8 msg[1024], seg[1100];
	struct dhcp_msg *m = (void *)msg;
	unsigned n;

	memset(msg, 0, sizeof(msg));
	m->op = BOOTREPLY;
	m->htype = 1;
	m->hlen = 6;
	m->xid = htonl(xid);
	m->yiaddr = yiaddr;
	memcpy(m->chaddr, chaddr, 6);
	m->magic = htonl(DHCP_MAGIC);
	memcpy(m->options, opts, nopts);
	m->options[nopts] = DHO_END;
	n = h_udp(seg, src, INADDR_BROADCAST_BE, UDP_PORT_BOOTPS, UDP_PORT_BOOTPC, msg, DHCP_FIXED_LEN + nopts + 1,
		  true);
	h_inject_ip(src, INADDR_BROADCAST_BE, IPPROTO_UDP, seg, n);
}

/* The same from the server, 10.0.2.2. */
static void inject_reply(u32 xid, be32 yiaddr, const u8 *chaddr) { inject_reply_from(server, xid, yiaddr, chaddr); }

/* An ARP reply from the server to us: its MAC is known, so a unicast to it leaves at once
 * (and a REQUEST waiting for the server's MAC goes out). */
static void server_arp(void)
{
	u8 a[28];

	h_inject(h_frame(h_our_mac, h_peer_mac, ETH_P_ARP, a,
			 h_arp(a, ARPOP_REPLY, h_peer_mac, server, h_our_mac, IPV4(10, 0, 2, 15))));
}

/* Move the clock to the next timer's deadline (whatever timer it is) and fire it. */
static void next_timer(void)
{
	u64 next = timers_next_ns();

	CHECK(next != UINT64_MAX);
	if (next != UINT64_MAX)
		h_advance_ns(next > host_now_ns ? next - host_now_ns : 0);
}

/* Run timers until the client transmits (counted in dhcp_stats.discovers + requests), at
 * most limit_ns from now. True when something was sent; the clock stands at that moment. */
static bool next_dhcp_tx(u64 limit_ns)
{
	u64 before = dhcp_stats.discovers + dhcp_stats.requests, end = host_now_ns + limit_ns;

	while (timers_next_ns() <= end) {
		next_timer();
		if (dhcp_stats.discovers + dhcp_stats.requests != before)
			return true;
	}
	return false;
}

/* The index of the last captured DHCP message of this type, or -1. */
static int find_sent(u8 type)
{
	for (int i = (int)h_ntx - 1; i >= 0; i--)
		if (ntohs(h_eth((unsigned)i)->h_proto) == ETH_P_IP && h_ip((unsigned)i)->protocol == IPPROTO_UDP &&
		    get_be16(h_l4((unsigned)i) + 2) == UDP_PORT_BOOTPS && sent_type((unsigned)i) == type)
			return i;
	return -1;
}

/* Captured DHCP messages (ARP announcements and probes aside). */
static unsigned count_dhcp(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < h_ntx; i++)
		n += ntohs(h_eth(i)->h_proto) == ETH_P_IP && h_ip(i)->protocol == IPPROTO_UDP &&
		     get_be16(h_l4(i) + 2) == UDP_PORT_BOOTPS;
	return n;
}

/* Run timers until the address check (an RFC 5227 probe by net/arp.c) has ended, at most
 * 10 s; returns the probes it sent (captured frames are freed). */
static unsigned finish_check(void)
{
	u64 end = host_now_ns + 10 * SEC;
	unsigned probes = 0;

	while (dhcp.state == DHCP_CHECKING && timers_next_ns() <= end) {
		next_timer();
		for (unsigned i = 0; i < h_ntx; i++) /* a probe: ARP from sender address 0 */
			probes += ntohs(h_eth(i)->h_proto) == ETH_P_ARP &&
				  ((const struct arphdr_eth *)(h_eth(i) + 1))->ar_spa == 0;
		h_clear_tx();
	}
	return probes;
}

static u32 xid_of(unsigned i) { return ntohl(sent_msg(i)->xid); }

/* Start with ip=dhcp and let the first DISCOVER out. */
static void start_dhcp(void)
{
	h_setup("dhcp", NULL);
	h_advance_ns(0);
}

/* Start, and answer the DISCOVER with an OFFER of 10.0.2.15 for lease seconds: REQUESTING.
 * Returns the xid. */
static u32 start_and_offer(u32 lease)
{
	u32 xid;

	start_dhcp();
	xid = xid_of(0);
	std_opts(DHCPOFFER, lease);
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
	return xid;
}

/* Run the exchange up to BOUND with lease seconds (the address check included: the clock
 * then stands 4 to 7 s after the REQUEST); returns the xid. */
static u32 get_bound(u32 lease)
{
	u32 xid;

	xid = start_and_offer(lease);
	std_opts(DHCPACK, lease);
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
	finish_check();
	CHECK_EQ(dhcp.state, DHCP_BOUND);
	h_clear_tx();
	return xid;
}

static void test_discover_format(void)
{
	const struct dhcp_msg *m;
	unsigned len;
	const u8 *v;

	start_dhcp();
	CHECK_EQ(h_ntx, 1);
	CHECK(eth_is_broadcast(h_eth(0)->h_dest));
	CHECK_EQ(h_ip(0)->saddr, 0);
	CHECK_EQ(h_ip(0)->daddr, INADDR_BROADCAST_BE);
	CHECK_EQ(get_be16(h_l4(0)), 68);
	CHECK_EQ(get_be16(h_l4(0) + 2), 67);
	CHECK_EQ(get_be16(h_l4(0) + 4), UDP_HLEN + DHCP_MIN_MSG_LEN);
	m = sent_msg(0);
	CHECK_EQ(m->op, BOOTREQUEST);
	CHECK(m->htype == 1 && m->hlen == 6);
	CHECK_EQ(ntohs(m->flags), DHCP_FLAG_BROADCAST);
	CHECK_EQ(m->ciaddr, 0);
	CHECK_MEM(m->chaddr, h_our_mac, 6);
	CHECK_EQ(ntohl(m->magic), DHCP_MAGIC);
	CHECK_EQ(sent_type(0), DHCPDISCOVER);
	v = sent_opt(0, DHO_CLIENT_ID, &len);
	CHECK(v && len == 7 && v[0] == 1 && memcmp(v + 1, h_our_mac, 6) == 0);
	v = sent_opt(0, DHO_PARAM_REQ, &len);
	CHECK(v && len >= 4 && memchr(v, DHO_SUBNET_MASK, len) && memchr(v, DHO_ROUTER, len) &&
	      memchr(v, DHO_LEASE_TIME, len));
	CHECK(!sent_opt(0, DHO_REQUESTED_IP, &len));
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

static void test_full_exchange(void)
{
	char line[160];
	unsigned len;
	const u8 *v;
	u32 xid;

	start_dhcp();
	xid = xid_of(0);
	h_clear_tx();
	std_opts(DHCPOFFER, 120);
	inject_reply(xid, IPV4(10, 0, 2, 100), h_our_mac);
	CHECK_EQ(dhcp.state, DHCP_REQUESTING);
	CHECK_EQ(h_ntx, 1);
	CHECK_EQ(sent_type(0), DHCPREQUEST);
	CHECK_EQ(xid_of(0), xid);
	v = sent_opt(0, DHO_REQUESTED_IP, &len);
	CHECK(v && len == 4 && get_be32(v) == 0x0a000264);
	v = sent_opt(0, DHO_SERVER_ID, &len);
	CHECK(v && len == 4 && get_be32(v) == 0x0a000202);
	CHECK(eth_is_broadcast(h_eth(0)->h_dest));
	h_clear_tx();
	host_log_clear();
	std_opts(DHCPACK, 120);
	inject_reply(xid, IPV4(10, 0, 2, 100), h_our_mac);
	CHECK_EQ(dhcp.state, DHCP_CHECKING); /* probed first: test_check_before_use */
	CHECK(!inet_configured());
	finish_check();
	CHECK_EQ(dhcp.state, DHCP_BOUND);
	CHECK(inet_configured());
	CHECK_EQ(inet_if.addr, IPV4(10, 0, 2, 100));
	CHECK_EQ(inet_if.mask, IPV4(255, 255, 255, 0));
	CHECK_EQ(inet_if.gw, IPV4(10, 0, 2, 2));
	CHECK_EQ(inet_if.source, INET_SRC_DHCP);
	CHECK(strstr(host_log, "net: ready ip=10.0.2.100 mac=52:54:00:12:34:56\n"));
	CHECK(strstr(host_log, "dhcp: bound to 10.0.2.100/24 gw 10.0.2.2, lease 120 s (renew 60 s, rebind 105 s)"));
	CHECK(arp_stats.tx_announces >= 1); /* the gratuitous ARP */
	h_clear_tx();
	host_log_clear();
	inet_describe(&h_dev);
	snprintf(line, sizeof(line), "dhcp: bound, server 10.0.2.2, lease 120 s, renew in %llu s rebind in %llu s expires in %llu s",
		 (dhcp.t1_at - host_now_ns) / SEC, (dhcp.t2_at - host_now_ns) / SEC, (dhcp.expire_at - host_now_ns) / SEC);
	CHECK(strstr(host_log, line));
	CHECK_EQ(dhcp_stats.offers, 1);
	CHECK_EQ(dhcp_stats.acks, 1);
	CHECK_EQ(h_leaked(), 0);
}

static void test_renew_rebind_expire(void)
{
	u32 xid = get_bound(100); /* T1 50 s, T2 87 s */
	u8 a[28];
	int i;

	/* the server is on-link and known, so the unicast renewal leaves at once */
	h_inject(h_frame(h_our_mac, h_peer_mac, ETH_P_ARP, a,
			 h_arp(a, ARPOP_REQUEST, h_peer_mac, server, (const u8[6]){ 0 }, IPV4(10, 0, 2, 15))));
	h_clear_tx();
	h_advance_ns(dhcp.t1_at - 1 - host_now_ns);
	CHECK_EQ(count_dhcp(), 0);
	h_advance_ns(1);
	CHECK_EQ(dhcp.state, DHCP_RENEWING);
	CHECK_EQ(count_dhcp(), 1);
	i = find_sent(DHCPREQUEST);
	CHECK(i >= 0);
	if (i >= 0) {
		unsigned n = (unsigned)i, len;

		CHECK_EQ(h_ip(n)->daddr, server);
		CHECK_MEM(h_eth(n)->h_dest, h_peer_mac, 6);
		CHECK_EQ(sent_msg(n)->ciaddr, IPV4(10, 0, 2, 15));
		CHECK_EQ(ntohs(sent_msg(n)->flags), 0);
		CHECK(!sent_opt(n, DHO_SERVER_ID, &len) && !sent_opt(n, DHO_REQUESTED_IP, &len));
	}
	h_clear_tx();
	/* no answer: one more try at T2 at the latest, then rebinding broadcasts */
	h_advance_ns(37 * SEC);
	CHECK_EQ(dhcp.state, DHCP_REBINDING);
	i = find_sent(DHCPREQUEST);
	CHECK(i >= 0);
	if (i >= 0) {
		CHECK(eth_is_broadcast(h_eth((unsigned)i)->h_dest));
		CHECK_EQ(h_ip((unsigned)i)->daddr, INADDR_BROADCAST_BE);
		CHECK_EQ(h_ip((unsigned)i)->saddr, IPV4(10, 0, 2, 15));
	}
	h_clear_tx();
	/* an ACK while rebinding (to the rebinding's own transaction) renews the lease */
	CHECK(dhcp.xid != xid);
	std_opts(DHCPACK, 100);
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac); /* the acquisition's xid: not ours now */
	CHECK_EQ(dhcp.state, DHCP_REBINDING);
	inject_reply(dhcp.xid, IPV4(10, 0, 2, 15), h_our_mac);
	CHECK_EQ(dhcp.state, DHCP_BOUND);
	CHECK(inet_configured());
	h_clear_tx();
	/* now let it run out */
	h_advance_ns(101 * SEC);
	CHECK(!inet_configured());
	CHECK_EQ(dhcp_stats.expiries, 1);
	CHECK(dhcp.state == DHCP_SELECTING);
	CHECK_EQ(sent_type(h_ntx - 1), DHCPDISCOVER);
	CHECK(dhcp_stats.renewals >= 2 && dhcp_stats.rebinds >= 2);
	h_clear_tx();
	arp_flush();
	CHECK_EQ(h_leaked(), 0);
}

static void test_renew_now_and_ack(void)
{
	u32 xid = get_bound(3600);

	CHECK_EQ(dhcp_renew_now(), 0);
	CHECK_EQ(dhcp.state, DHCP_RENEWING);
	CHECK(dhcp.xid != xid); /* a renewal is an exchange of its own */
	std_opts(DHCPACK, 7200);
	host_log_clear();
	inject_reply(dhcp.xid, IPV4(10, 0, 2, 15), h_our_mac);
	CHECK_EQ(dhcp.state, DHCP_BOUND);
	CHECK_EQ(dhcp.lease_s, 7200);
	CHECK(strstr(host_log, "net: ready") == NULL); /* the marker only once */
	CHECK(strstr(host_log, "dhcp: bound") == NULL); /* nothing changed: quiet */
	h_setup("dhcp", NULL);
	CHECK_EQ(dhcp_renew_now(), -EINVAL); /* nothing to renew yet */
	arp_flush();
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* RFC 2131 4.1: "the delay before the first retransmission SHOULD be 4 seconds randomized by
 * the value of a uniform random number chosen from the range -1 to +1 ... The retransmission
 * delay SHOULD be doubled with subsequent retransmissions up to a maximum of 64 seconds."
 * Eight acquisitions (eight seeds): every gap within +-1 s of 4, 8, 16, 32, 64, 64, 64, and
 * the jitter spread over both halves of its range. A fixed interval fails, and so does the
 * old 2..32 s schedule. */
static void test_backoff(void)
{
	static const unsigned expect_s[] = { 4, 8, 16, 32, 64, 64, 64 };
	s64 jmin = INT64_MAX, jmax = INT64_MIN;

	for (unsigned round = 0; round < 8; round++) {
		u64 last;

		start_dhcp(); /* the clock has moved on: another seed */
		CHECK_EQ(h_ntx, 1);
		last = host_now_ns;
		h_clear_tx();
		for (unsigned i = 0; i < ARRAY_SIZE(expect_s); i++) {
			s64 jitter;

			CHECK(next_dhcp_tx(70 * SEC));
			CHECK_EQ(h_ntx, 1);
			CHECK_EQ(sent_type(0), DHCPDISCOVER);
			jitter = (s64)(host_now_ns - last) - (s64)(expect_s[i] * SEC);
			CHECK(jitter >= -(s64)SEC && jitter <= (s64)SEC);
			jmin = MIN(jmin, jitter);
			jmax = MAX(jmax, jitter);
			last = host_now_ns;
			h_clear_tx();
		}
		CHECK_EQ(dhcp_stats.retransmits, ARRAY_SIZE(expect_s));
		CHECK_EQ(dhcp_stats.discovers, ARRAY_SIZE(expect_s) + 1);
	}
	CHECK(jmin < -(s64)SEC / 2 && jmax > (s64)SEC / 2);
	CHECK_EQ(h_leaked(), 0);
}

/* REQUESTING retransmits on the same schedule (3.1 step 5: "according to the retransmission
 * algorithm in section 4.1"), four REQUESTs after 4, 8, 16 s, and starts over with a new
 * DISCOVER (and xid) when the fourth has gone unanswered for 32 s: 60 s in all, the example
 * 3.1 gives. */
static void test_request_gives_up_and_restarts(void)
{
	static const unsigned expect_s[] = { 4, 8, 16, 32 };
	u64 last;
	u32 xid;

	xid = start_and_offer(100);
	CHECK_EQ(dhcp_stats.requests, 1);
	last = host_now_ns;
	h_clear_tx();
	for (unsigned i = 0; i < ARRAY_SIZE(expect_s); i++) {
		s64 off;

		CHECK(next_dhcp_tx(70 * SEC));
		CHECK_EQ(h_ntx, 1);
		off = (s64)(host_now_ns - last) - (s64)(expect_s[i] * SEC);
		CHECK(off >= -(s64)SEC && off <= (s64)SEC);
		CHECK_EQ(sent_type(0), i + 1 < ARRAY_SIZE(expect_s) ? DHCPREQUEST : DHCPDISCOVER);
		last = host_now_ns;
		h_clear_tx();
	}
	CHECK_EQ(dhcp_stats.requests, DHCP_REQUEST_TRIES);
	CHECK_EQ(dhcp_stats.restarts, 1);
	CHECK(dhcp.state == DHCP_SELECTING);
	CHECK(dhcp.xid != xid); /* a new transaction */
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* RFC 2131 section 2, table 1: 'secs' is the time "elapsed since client began address
 * acquisition or renewal process"; 3.1 step 3: the REQUEST "MUST use the same value in the
 * DHCP message header's 'secs' field ... as the original DHCPDISCOVER message" and table 5
 * its xid is the OFFER's (the DISCOVER's). 4.4.5: each renewal is a new exchange with an xid
 * of its own (4.1 leaves retransmissions to the client: ours keep theirs). The renewal a day
 * after boot must not carry the boot's 65535. */
static void test_secs_and_xid(void)
{
	u32 xid, renew_xid, rebind_xid;
	u64 t0, bound_at;
	unsigned secs1;
	int i;

	start_dhcp();
	t0 = host_now_ns;
	xid = xid_of(0);
	CHECK_EQ(ntohs(sent_msg(0)->secs), 0);
	h_clear_tx();
	/* no offer yet: the DISCOVER is repeated, same xid, secs counting from the first one */
	CHECK(next_dhcp_tx(10 * SEC));
	CHECK_EQ(sent_type(0), DHCPDISCOVER);
	CHECK_EQ(xid_of(0), xid);
	secs1 = (unsigned)((host_now_ns - t0) / SEC);
	CHECK(secs1 >= 3);
	CHECK_EQ(ntohs(sent_msg(0)->secs), secs1);
	h_clear_tx();
	/* the offer comes 1.5 s later: the REQUEST has the DISCOVER's secs and xid */
	h_advance_ns(SEC * 3 / 2);
	std_opts(DHCPOFFER, 2 * 86400);
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
	i = find_sent(DHCPREQUEST);
	CHECK(i >= 0);
	if (i >= 0) {
		CHECK_EQ(xid_of((unsigned)i), xid);
		CHECK_EQ(ntohs(sent_msg((unsigned)i)->secs), secs1);
	}
	h_clear_tx();
	/* a retransmitted REQUEST repeats it too */
	CHECK(next_dhcp_tx(10 * SEC));
	CHECK_EQ(sent_type(0), DHCPREQUEST);
	CHECK_EQ(xid_of(0), xid);
	CHECK_EQ(ntohs(sent_msg(0)->secs), secs1);
	h_clear_tx();
	std_opts(DHCPACK, 2 * 86400); /* T1 a day, T2 1.75 days */
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
	finish_check();
	CHECK_EQ(dhcp.state, DHCP_BOUND);
	bound_at = dhcp.request_sent_ns;
	h_clear_tx();
	/* T1, a day later: a new xid, secs 0 */
	h_advance_ns(bound_at + 86400 * SEC - 1 - host_now_ns);
	server_arp();
	h_advance_ns(1);
	CHECK_EQ(dhcp.state, DHCP_RENEWING);
	i = find_sent(DHCPREQUEST);
	CHECK(i >= 0);
	renew_xid = dhcp.xid;
	if (i >= 0) {
		CHECK_EQ(ntohs(sent_msg((unsigned)i)->secs), 0);
		CHECK_EQ(xid_of((unsigned)i), renew_xid);
	}
	CHECK(renew_xid != xid);
	h_clear_tx();
	/* its retransmission, half way to T2 (9 h later): same xid, secs since T1 */
	CHECK(next_dhcp_tx(86400 * SEC));
	CHECK_EQ(host_now_ns - bound_at, (86400 + 64800 / 2) * SEC);
	server_arp();
	i = find_sent(DHCPREQUEST);
	CHECK(i >= 0);
	if (i >= 0) {
		CHECK_EQ(xid_of((unsigned)i), renew_xid);
		CHECK_EQ(ntohs(sent_msg((unsigned)i)->secs), 32400);
	}
	h_clear_tx();
	/* T2: rebinding is a new exchange (new xid); secs still counts from T1 */
	h_advance_ns(bound_at + 151200 * SEC - host_now_ns);
	CHECK_EQ(dhcp.state, DHCP_REBINDING);
	i = find_sent(DHCPREQUEST);
	CHECK(i >= 0);
	rebind_xid = dhcp.xid;
	CHECK(rebind_xid != renew_xid && rebind_xid != xid);
	if (i >= 0) {
		CHECK_EQ(xid_of((unsigned)i), rebind_xid);
		CHECK_EQ(ntohs(sent_msg((unsigned)i)->secs), 151200 - 86400);
	}
	h_clear_tx();
	/* an ACK: bound again; the next renewal starts from 0 with yet another xid */
	std_opts(DHCPACK, 2 * 86400);
	inject_reply(rebind_xid, IPV4(10, 0, 2, 15), h_our_mac);
	CHECK_EQ(dhcp.state, DHCP_BOUND);
	h_clear_tx();
	CHECK(next_dhcp_tx(2 * 86400 * SEC));
	CHECK_EQ(dhcp.state, DHCP_RENEWING);
	CHECK(dhcp.xid != rebind_xid && dhcp.xid != renew_xid && dhcp.xid != xid);
	server_arp();
	i = find_sent(DHCPREQUEST);
	CHECK(i >= 0);
	if (i >= 0) {
		CHECK_EQ(ntohs(sent_msg((unsigned)i)->secs), 0);
		CHECK_EQ(xid_of((unsigned)i), dhcp.xid);
	}
	h_clear_tx();
	arp_flush();
	CHECK_EQ(h_leaked(), 0);
}

/* RFC 2131 4.4.5: "In both RENEWING and REBINDING states, if the client receives no response
 * to its DHCPREQUEST message, the client SHOULD wait one-half of the remaining time until T2
 * (in RENEWING state) and one-half of the remaining lease time (in REBINDING state), down to
 * a minimum of 60 seconds, before retransmitting". A 3600 s lease: T1 1800 s, T2 3150 s.
 * Every REQUEST's time, exactly: a fixed interval, or a wait under 60 s, fails. */
static void test_renew_rebind_waits(void)
{
	/* seconds after the REQUEST that got the lease, in 1/1000 s */
	static const u64 renew_ms[] = { 1800000, 2475000, 2812500, 2981250, 3065625, 3125625 };
	static const u64 rebind_ms[] = { 3150000, 3375000, 3487500, 3547500 };
	u64 base;

	get_bound(3600);
	base = dhcp.request_sent_ns;
	CHECK_EQ(dhcp.t1_at - base, 1800 * SEC);
	CHECK_EQ(dhcp.t2_at - base, 3150 * SEC);
	for (unsigned i = 0; i < ARRAY_SIZE(renew_ms); i++) {
		CHECK(next_dhcp_tx(3600 * SEC));
		CHECK_EQ(dhcp.state, DHCP_RENEWING);
		CHECK_EQ(host_now_ns - base, renew_ms[i] * NSEC_PER_MSEC);
		h_clear_tx();
	}
	for (unsigned i = 0; i < ARRAY_SIZE(rebind_ms); i++) {
		CHECK(next_dhcp_tx(3600 * SEC));
		CHECK_EQ(dhcp.state, DHCP_REBINDING);
		CHECK_EQ(host_now_ns - base, rebind_ms[i] * NSEC_PER_MSEC);
		h_clear_tx();
	}
	/* the lease ends: address gone, a DISCOVER at once */
	CHECK(next_dhcp_tx(3600 * SEC));
	CHECK_EQ(host_now_ns - base, 3600 * SEC);
	CHECK(!inet_configured());
	CHECK_EQ(dhcp.state, DHCP_SELECTING);
	CHECK_EQ(dhcp_stats.requests, 1 + ARRAY_SIZE(renew_ms) + ARRAY_SIZE(rebind_ms));
	CHECK_EQ(dhcp_stats.expiries, 1);
	h_clear_tx();
	arp_flush();
	CHECK_EQ(h_leaked(), 0);
}

/* Who may say NAK. RENEWING: the REQUEST went to our server alone (4.4.5), so only its NAK
 * counts -- identified by its server identifier (option 54, which table 3 makes a MUST in a
 * NAK), or by the IP source where a server leaves option 54 out (QEMU's does). REQUESTING:
 * only the server we chose (3.1 step 4). REBINDING: the REQUEST was broadcast to "any server"
 * (4.4.5), and figure 5 takes a NAK there to INIT, whoever sent it. */
static void test_nak_only_from_our_server(void)
{
	static const be32 other = 0x0302000a; /* 10.0.2.3 */
	u32 xid;

	/* RENEWING */
	get_bound(3600);
	CHECK_EQ(dhcp_renew_now(), 0);
	xid = dhcp.xid;
	h_clear_tx();
	nopts = 0;
	opt(DHO_MSG_TYPE, 1, (const u8[]){ DHCPNAK });
	opt(DHO_SERVER_ID, 4, &other);
	inject_reply(xid, 0, h_our_mac);        /* another server's id, from our server's address */
	inject_reply_from(other, xid, 0, h_our_mac);
	nopts = 0;
	opt(DHO_MSG_TYPE, 1, (const u8[]){ DHCPNAK });
	inject_reply_from(other, xid, 0, h_our_mac); /* no id, from another address */
	CHECK_EQ(dhcp.state, DHCP_RENEWING);
	CHECK(inet_configured());
	CHECK_EQ(dhcp_stats.naks, 0);
	CHECK_EQ(dhcp_stats.naks_ignored, 3);
	inject_reply(xid, 0, h_our_mac); /* no id, from our server: taken */
	CHECK_EQ(dhcp_stats.naks, 1);
	CHECK(!inet_configured());
	CHECK_EQ(dhcp.state, DHCP_INIT);
	h_clear_tx();

	/* RENEWING, the NAK naming our server */
	get_bound(3600);
	dhcp_renew_now();
	std_opts(DHCPNAK, 0);
	inject_reply_from(other, dhcp.xid, 0, h_our_mac);
	CHECK_EQ(dhcp_stats.naks, 1);
	CHECK_EQ(dhcp.state, DHCP_INIT);
	h_clear_tx();

	/* REBINDING: any server */
	get_bound(100);
	h_advance_ns(dhcp.t2_at - host_now_ns);
	CHECK_EQ(dhcp.state, DHCP_REBINDING);
	nopts = 0;
	opt(DHO_MSG_TYPE, 1, (const u8[]){ DHCPNAK });
	opt(DHO_SERVER_ID, 4, &other);
	inject_reply_from(other, dhcp.xid, 0, h_our_mac);
	CHECK_EQ(dhcp_stats.naks, 1);
	CHECK_EQ(dhcp_stats.naks_ignored, 0);
	CHECK(!inet_configured());
	CHECK_EQ(dhcp.state, DHCP_INIT);
	h_clear_tx();

	/* REQUESTING: only the server we chose */
	xid = start_and_offer(100);
	CHECK_EQ(dhcp.state, DHCP_REQUESTING);
	nopts = 0;
	opt(DHO_MSG_TYPE, 1, (const u8[]){ DHCPNAK });
	opt(DHO_SERVER_ID, 4, &other);
	inject_reply(xid, 0, h_our_mac);
	nopts = 0;
	opt(DHO_MSG_TYPE, 1, (const u8[]){ DHCPNAK });
	inject_reply_from(other, xid, 0, h_our_mac);
	CHECK_EQ(dhcp.state, DHCP_REQUESTING);
	CHECK_EQ(dhcp_stats.naks_ignored, 2);
	std_opts(DHCPNAK, 0);
	inject_reply(xid, 0, h_our_mac);
	CHECK_EQ(dhcp_stats.naks, 1);
	CHECK_EQ(dhcp.state, DHCP_INIT);
	h_clear_tx();
	arp_flush();
	CHECK_EQ(h_leaked(), 0);
}

static void test_nak_restarts(void)
{
	u32 xid = get_bound(100);

	dhcp_renew_now();
	h_clear_tx();
	std_opts(DHCPNAK, 100);
	inject_reply(xid, 0, h_our_mac); /* the acquisition's transaction: not this one */
	CHECK_EQ(dhcp_stats.naks, 0);
	inject_reply(dhcp.xid, 0, h_our_mac);
	CHECK(!inet_configured());
	CHECK_EQ(dhcp_stats.naks, 1);
	CHECK_EQ(dhcp.state, DHCP_INIT);
	h_advance_ns(SEC);
	CHECK_EQ(dhcp.state, DHCP_SELECTING);
	h_clear_tx();
	arp_flush();
	CHECK_EQ(h_leaked(), 0);
}

/* RFC 2131 4.4.6 / 3.1 step 6: DHCPRELEASE "to the server" -- unicast (4.4.4), fields and
 * options of table 5: a new xid, secs 0, ciaddr our address, the server identifier (MUST),
 * the same client identifier as the lease's (3.1 step 6), no requested address, parameter
 * list or message size. Then the address is given up and the client stays quiet until told
 * to start again. */
static void test_release(void)
{
	u32 xid = get_bound(3600);
	const struct dhcp_msg *m;
	unsigned len;
	const u8 *v;

	server_arp(); /* the server's MAC is known: the RELEASE leaves at once */
	h_clear_tx();
	host_log_clear();
	CHECK_EQ(dhcp_release(), 0);
	CHECK_EQ(h_ntx, 1);
	CHECK_EQ(find_sent(DHCPRELEASE), 0);
	CHECK_MEM(h_eth(0)->h_dest, h_peer_mac, 6);
	CHECK_EQ(h_ip(0)->saddr, IPV4(10, 0, 2, 15));
	CHECK_EQ(h_ip(0)->daddr, server);
	m = sent_msg(0);
	CHECK_EQ(m->ciaddr, IPV4(10, 0, 2, 15));
	CHECK_EQ(m->yiaddr, 0);
	CHECK_EQ(ntohs(m->secs), 0);
	CHECK_EQ(ntohs(m->flags), 0);
	CHECK(xid_of(0) != xid);
	v = sent_opt(0, DHO_SERVER_ID, &len);
	CHECK(v && len == 4 && memcmp(v, &server, 4) == 0);
	v = sent_opt(0, DHO_CLIENT_ID, &len);
	CHECK(v && len == 7 && v[0] == 1 && memcmp(v + 1, h_our_mac, 6) == 0);
	CHECK(!sent_opt(0, DHO_REQUESTED_IP, &len) && !sent_opt(0, DHO_PARAM_REQ, &len) &&
	      !sent_opt(0, DHO_MAX_MSG_SIZE, &len) && !sent_opt(0, DHO_LEASE_TIME, &len));
	CHECK(!inet_configured());
	CHECK_EQ(dhcp.state, DHCP_RELEASED);
	CHECK_EQ(dhcp_stats.releases, 1);
	CHECK(strstr(host_log, "dhcp: released 10.0.2.15 to 10.0.2.2\n"));
	h_clear_tx();
	/* quiet from now on: no timer, no DISCOVER, a late ACK changes nothing */
	CHECK(!dhcp.timer.pending);
	std_opts(DHCPACK, 3600);
	inject_reply(dhcp.xid, IPV4(10, 0, 2, 15), h_our_mac);
	h_advance_ns(86400 * SEC);
	CHECK_EQ(h_ntx, 0);
	CHECK(!inet_configured());
	CHECK_EQ(dhcp_release(), -EINVAL); /* nothing left to release */
	CHECK_EQ(dhcp_renew_now(), -EINVAL);
	/* dhcp_restart: a new acquisition at once, a new transaction, secs from 0 */
	CHECK_EQ(dhcp_restart(), 0);
	CHECK_EQ(dhcp.state, DHCP_SELECTING);
	CHECK_EQ(h_ntx, 1);
	CHECK_EQ(sent_type(0), DHCPDISCOVER);
	CHECK_EQ(ntohs(sent_msg(0)->secs), 0);
	CHECK_EQ(dhcp_restart(), -EINVAL); /* only after a release */
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* The server's MAC is not known: the RELEASE waits for ARP with the address still ours (the
 * ARP reply is for that address), and the address goes when it has left -- or when ARP gave
 * up on the server (3 requests, 1 s apart): a lost RELEASE costs nothing (4.4.6: "the correct
 * operation of DHCP does not depend on the transmission of DHCPRELEASE messages"). */
static void test_release_waits_for_arp(void)
{
	int i;

	get_bound(3600);
	arp_flush();
	h_clear_tx();
	CHECK_EQ(dhcp_release(), 0);
	CHECK_EQ(h_ntx, 1);
	CHECK_EQ(ntohs(h_eth(0)->h_proto), ETH_P_ARP);
	CHECK_EQ(dhcp.state, DHCP_RELEASING);
	CHECK(inet_configured());
	CHECK_EQ(dhcp_release(), -EINVAL); /* already under way */
	h_advance_ns(SEC / 2);
	CHECK(inet_configured());
	server_arp();
	i = find_sent(DHCPRELEASE);
	CHECK(i >= 0);
	if (i >= 0)
		CHECK_MEM(h_eth((unsigned)i)->h_dest, h_peer_mac, 6);
	h_advance_ns(SEC / 10);
	CHECK_EQ(dhcp.state, DHCP_RELEASED);
	CHECK(!inet_configured());
	h_clear_tx();

	/* nobody answers ARP */
	get_bound(3600);
	arp_flush();
	h_clear_tx();
	CHECK_EQ(dhcp_release(), 0);
	h_advance_ns(ARP_MAX_TRIES * ARP_RETRY_NS + SEC / 2);
	CHECK_EQ(dhcp.state, DHCP_RELEASED);
	CHECK(!inet_configured());
	CHECK_EQ(find_sent(DHCPRELEASE), -1);
	CHECK_EQ(dhcp_stats.releases, 1);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* Take the link down and up, as a cable pulled and put back (config.c's link handler). */
static void link_flap(void)
{
	netif_carrier_off(&h_dev);
	netif_carrier_on(&h_dev);
	h_advance_ns(0); /* what the link change armed */
}

/* INIT-REBOOT (RFC 2131 3.2, 4.4.2, 3.7 "after a disconnection from the local network"):
 * with a lease still valid, the link coming back sends a REQUEST with a new xid, broadcast
 * from 0.0.0.0 (4.1), ciaddr 0, the address as 'requested IP address' (MUST) and no server
 * identifier (MUST NOT); the address stays in use meanwhile (3.7). An ACK from any server
 * binds again, the lease counting from that REQUEST. */
static void test_init_reboot_ack(void)
{
	u32 xid = get_bound(3600);
	const struct dhcp_msg *m;
	unsigned len;
	const u8 *v;
	u64 sent_at;
	int i;

	h_advance_ns(100 * SEC);
	h_clear_tx();
	host_log_clear();
	link_flap();
	CHECK_EQ(dhcp.state, DHCP_REBOOTING);
	CHECK_EQ(dhcp_stats.reboots, 1);
	CHECK(inet_configured());
	sent_at = host_now_ns;
	i = find_sent(DHCPREQUEST);
	CHECK(i >= 0);
	if (i >= 0) {
		unsigned n = (unsigned)i;

		CHECK(eth_is_broadcast(h_eth(n)->h_dest));
		CHECK_EQ(h_ip(n)->saddr, 0);
		CHECK_EQ(h_ip(n)->daddr, INADDR_BROADCAST_BE);
		m = sent_msg(n);
		CHECK_EQ(m->ciaddr, 0);
		CHECK_EQ(ntohs(m->flags), DHCP_FLAG_BROADCAST);
		CHECK_EQ(ntohs(m->secs), 0);
		CHECK(xid_of(n) != xid && xid_of(n) == dhcp.xid);
		v = sent_opt(n, DHO_REQUESTED_IP, &len);
		CHECK(v && len == 4 && get_be32(v) == 0x0a00020f);
		CHECK(!sent_opt(n, DHO_SERVER_ID, &len));
		CHECK(sent_opt(n, DHO_PARAM_REQ, &len)); /* 4.4.1: the list goes in every message */
	}
	CHECK(strstr(host_log, "dhcp: link up; confirming 10.0.2.15 (INIT-REBOOT)\n"));
	h_clear_tx();
	/* an ACK, from another server even: bound again, the lease from the REQUEST */
	h_advance_ns(SEC / 4);
	std_opts(DHCPACK, 3600);
	opt(DHO_SERVER_ID, 4, (const u8[]){ 10, 0, 2, 3 }); /* the first server id wins: 10.0.2.2 */
	inject_reply_from(IPV4(10, 0, 2, 3), xid, IPV4(10, 0, 2, 15), h_our_mac); /* old xid */
	CHECK_EQ(dhcp.state, DHCP_REBOOTING);
	inject_reply_from(IPV4(10, 0, 2, 3), dhcp.xid, IPV4(10, 0, 2, 15), h_our_mac);
	CHECK_EQ(dhcp.state, DHCP_BOUND);
	CHECK_EQ(dhcp.t1_at, sent_at + 1800 * SEC);
	CHECK_EQ(dhcp.expire_at, sent_at + 3600 * SEC);
	CHECK(inet_configured());
	CHECK(!strstr(host_log, "dhcp: bound")); /* nothing changed */
	h_clear_tx();
	arp_flush();
	CHECK_EQ(h_leaked(), 0);
}

/* A move (live migration: the device asks us to announce ourselves, net/config.c's event
 * handler) confirms the lease by INIT-REBOOT, as a link that comes back does; the device's
 * further requests while that runs start nothing new. */
static void test_moved_init_reboot(void)
{
	get_bound(3600);
	h_advance_ns(100 * SEC);
	h_clear_tx();
	host_log_clear();
	netdev_notify_peers(&h_dev);
	h_advance_ns(0);
	CHECK_EQ(dhcp.state, DHCP_REBOOTING);
	CHECK_EQ(dhcp_stats.reboots, 1);
	CHECK(find_sent(DHCPREQUEST) >= 0);
	CHECK(strstr(host_log, "dhcp: moved to another host; confirming 10.0.2.15 (INIT-REBOOT)\n"));
	netdev_notify_peers(&h_dev);
	h_advance_ns(0);
	CHECK_EQ(dhcp_stats.reboots, 1);
	h_clear_tx();
	arp_flush();
	CHECK_EQ(h_leaked(), 0);
}

/* 3.2 step 3 / figure 5: a NAK to INIT-REBOOT (from any server: it says we are on the wrong
 * network) means the address cannot be reused: it goes, and DISCOVER starts over. */
static void test_init_reboot_nak(void)
{
	get_bound(3600);
	link_flap();
	CHECK_EQ(dhcp.state, DHCP_REBOOTING);
	nopts = 0;
	opt(DHO_MSG_TYPE, 1, (const u8[]){ DHCPNAK });
	opt(DHO_SERVER_ID, 4, (const u8[]){ 10, 0, 2, 3 });
	inject_reply_from(IPV4(10, 0, 2, 3), dhcp.xid, 0, h_our_mac);
	CHECK_EQ(dhcp_stats.naks, 1);
	CHECK(!inet_configured());
	CHECK_EQ(dhcp.state, DHCP_INIT);
	h_clear_tx();
	CHECK(next_dhcp_tx(2 * SEC));
	CHECK_EQ(sent_type(0), DHCPDISCOVER);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* 3.2 step 3: no answer after the retransmissions of 4.1 (REQUESTs after 4, 8, 16 s, +-1 s;
 * 60 s in all) -- the client "MAY choose to use the previously allocated network address ...
 * for the remainder of the unexpired lease", i.e. BOUND with its old T1, T2 and end. */
static void test_init_reboot_unanswered(void)
{
	static const unsigned expect_s[] = { 4, 8, 16 };
	u64 base, last;

	get_bound(3600);
	base = dhcp.request_sent_ns;
	h_advance_ns(100 * SEC);
	link_flap();
	last = host_now_ns;
	h_clear_tx();
	host_log_clear();
	for (unsigned i = 0; i < ARRAY_SIZE(expect_s); i++) {
		s64 off;

		CHECK(next_dhcp_tx(70 * SEC));
		off = (s64)(host_now_ns - last) - (s64)(expect_s[i] * SEC);
		CHECK(off >= -(s64)SEC && off <= (s64)SEC);
		CHECK(find_sent(DHCPREQUEST) >= 0);
		last = host_now_ns;
		h_clear_tx();
	}
	CHECK_EQ(dhcp.state, DHCP_REBOOTING);
	while (dhcp.state == DHCP_REBOOTING && timers_next_ns() <= last + 40 * SEC) /* bounded */
		next_timer();
	CHECK((s64)(host_now_ns - last) - (s64)(32 * SEC) >= -(s64)SEC &&
	      (s64)(host_now_ns - last) - (s64)(32 * SEC) <= (s64)SEC);
	CHECK_EQ(dhcp.state, DHCP_BOUND);
	CHECK(inet_configured());
	CHECK_EQ(dhcp_stats.reboot_timeouts, 1);
	CHECK_EQ(dhcp_stats.requests, 1 + DHCP_REQUEST_TRIES);
	CHECK(strstr(host_log, "dhcp: no answer to INIT-REBOOT; keeping 10.0.2.15 until the lease ends\n"));
	CHECK_EQ(count_dhcp(), 0);
	/* the old lease's T1 */
	CHECK(next_dhcp_tx(3600 * SEC));
	CHECK_EQ(dhcp.state, DHCP_RENEWING);
	CHECK_EQ(host_now_ns - base, 1800 * SEC);
	h_clear_tx();
	arp_flush();
	CHECK_EQ(h_leaked(), 0);
}

/* A lease that ends during INIT-REBOOT ends on time (3.7: "If the lease expires before the
 * client can contact a DHCP server, the client must immediately discontinue use"). */
static void test_init_reboot_lease_ends(void)
{
	u64 base;
	u32 xid;

	xid = start_and_offer(100);
	std_opts(DHCPACK, 100);
	opt_u32(DHO_T1, 90);
	opt_u32(DHO_T2, 95);
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
	finish_check();
	base = dhcp.request_sent_ns;
	h_advance_ns(base + 80 * SEC - host_now_ns);
	link_flap();
	CHECK_EQ(dhcp.state, DHCP_REBOOTING);
	while (inet_configured() && timers_next_ns() <= base + 200 * SEC) /* bounded */
		next_timer();
	CHECK_EQ(host_now_ns - base, 100 * SEC);
	CHECK_EQ(dhcp_stats.expiries, 1);
	CHECK_EQ(dhcp.state, DHCP_SELECTING);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* The link coming back without a lease: a new acquisition at once (SELECTING, REQUESTING);
 * after a release: nothing. */
static void test_link_up_without_lease(void)
{
	u32 xid;

	start_dhcp();
	xid = xid_of(0);
	h_clear_tx();
	link_flap();
	CHECK_EQ(dhcp.state, DHCP_SELECTING);
	CHECK_EQ(h_ntx, 1);
	CHECK_EQ(sent_type(0), DHCPDISCOVER);
	CHECK(xid_of(0) != xid);
	CHECK_EQ(dhcp_stats.reboots, 0);
	h_clear_tx();
	get_bound(3600);
	server_arp();
	dhcp_release();
	h_clear_tx();
	link_flap();
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(dhcp.state, DHCP_RELEASED);
	CHECK_EQ(h_leaked(), 0);
}

/* RFC 2131 3.1 step 5 and 4.4.1: the client SHOULD check the ACKed address is not in use
 * before using it; RFC 5227 2.1.1 says how (net/arp.c's arp_probe: 3 probes, then 2 s of
 * listening). The address is configured only then; the lease still counts from the REQUEST
 * (4.4.1); replies meanwhile change nothing. */
static void test_check_before_use(void)
{
	u64 acked_at, base;
	unsigned probes;
	u32 xid;

	xid = start_and_offer(3600);
	base = dhcp.request_sent_ns;
	h_clear_tx();
	host_log_clear();
	std_opts(DHCPACK, 3600);
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
	acked_at = host_now_ns;
	CHECK_EQ(dhcp.state, DHCP_CHECKING);
	CHECK(arp_probing());
	CHECK(!inet_configured());
	CHECK(!strstr(host_log, "dhcp: bound"));
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac); /* a second ACK: ignored */
	CHECK_EQ(dhcp_stats.acks, 1);
	probes = finish_check();
	CHECK_EQ(probes, ARP_PROBE_NUM);
	CHECK_EQ(dhcp.state, DHCP_BOUND);
	CHECK(inet_configured());
	CHECK_EQ(inet_if.addr, IPV4(10, 0, 2, 15));
	CHECK(host_now_ns - acked_at >= ARP_PROBE_NUM * ARP_PROBE_MIN_NS - ARP_PROBE_MIN_NS + ARP_ANNOUNCE_WAIT_NS);
	CHECK(host_now_ns - acked_at <= ARP_PROBE_WAIT_NS + (ARP_PROBE_NUM - 1) * ARP_PROBE_MAX_NS + ARP_ANNOUNCE_WAIT_NS);
	CHECK(strstr(host_log, "dhcp: bound to 10.0.2.15/24"));
	CHECK_EQ(dhcp.t1_at, base + 1800 * SEC);
	CHECK_EQ(dhcp_stats.declines, 0);
	h_clear_tx();
	arp_flush();
	CHECK_EQ(h_leaked(), 0);
}

/* Someone answers the probe: RFC 2131 3.1 step 5 / 4.4.1 "the client MUST send a DHCPDECLINE
 * message to the server" -- broadcast (4.4.4), a new xid, secs 0, ciaddr 0, flags 0, the
 * address as 'requested IP address' and the server identifier (both MUST, table 5) -- and
 * starts over, after "a minimum of ten seconds" (3.1 step 5). The address is never set. */
static void test_decline_when_in_use(void)
{
	static const u8 squatter[6] = { 2, 0, 0, 0, 0, 0x77 };
	const struct dhcp_msg *m;
	u8 a[28];
	unsigned len;
	const u8 *v;
	u64 declined_at;
	u32 xid;
	int i;

	xid = start_and_offer(3600);
	std_opts(DHCPACK, 3600);
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
	h_clear_tx();
	host_log_clear();
	for (u64 end = host_now_ns + 10 * SEC; !h_ntx && dhcp.state == DHCP_CHECKING && timers_next_ns() <= end;)
		next_timer(); /* the first probe */
	CHECK_EQ(h_ntx, 1);
	CHECK_EQ(ntohs(h_eth(0)->h_proto), ETH_P_ARP);
	h_clear_tx();
	/* the owner of 10.0.2.15 answers */
	h_inject(h_frame(h_our_mac, squatter, ETH_P_ARP, a,
			 h_arp(a, ARPOP_REPLY, squatter, IPV4(10, 0, 2, 15), h_our_mac, 0)));
	declined_at = host_now_ns;
	CHECK_EQ(dhcp_stats.declines, 1);
	CHECK(!inet_configured());
	CHECK_EQ(dhcp.state, DHCP_INIT);
	CHECK(strstr(host_log, "dhcp: 10.0.2.15 is in use; declined, starting over in 10 s\n"));
	i = find_sent(DHCPDECLINE);
	CHECK_EQ(i, 0);
	CHECK_EQ(h_ntx, 1);
	if (i == 0) {
		CHECK(eth_is_broadcast(h_eth(0)->h_dest));
		CHECK_EQ(h_ip(0)->saddr, 0);
		CHECK_EQ(h_ip(0)->daddr, INADDR_BROADCAST_BE);
		m = sent_msg(0);
		CHECK_EQ(m->ciaddr, 0);
		CHECK_EQ(ntohs(m->secs), 0);
		CHECK_EQ(ntohs(m->flags), 0);
		CHECK(xid_of(0) != xid);
		v = sent_opt(0, DHO_REQUESTED_IP, &len);
		CHECK(v && len == 4 && get_be32(v) == 0x0a00020f);
		v = sent_opt(0, DHO_SERVER_ID, &len);
		CHECK(v && len == 4 && memcmp(v, &server, 4) == 0);
		CHECK(!sent_opt(0, DHO_PARAM_REQ, &len) && !sent_opt(0, DHO_MAX_MSG_SIZE, &len) &&
		      !sent_opt(0, DHO_LEASE_TIME, &len));
	}
	h_clear_tx();
	/* ten seconds of quiet, then a new acquisition */
	CHECK(next_dhcp_tx(20 * SEC));
	CHECK_EQ(host_now_ns - declined_at, 10 * SEC);
	CHECK_EQ(sent_type(0), DHCPDISCOVER);
	CHECK(xid_of(0) != xid);
	CHECK_EQ(ntohs(sent_msg(0)->secs), 0);
	CHECK(!inet_configured());
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}


/* Bound, another host claims 10.0.2.15: the first claim is defended (one announcement, the
 * address kept); a second within DEFEND_INTERVAL makes net/arp.c call the DHCP client's
 * conflict handler (RFC 5227 2.4 (b)): the address goes, a DECLINE is broadcast from 0.0.0.0,
 * and a new acquisition starts ten seconds later (RFC 2131 3.1 step 5). A static address
 * under the same attack is kept (2.4 (c)): no handler. */
static void test_conflict_when_bound_declines(void)
{
	static const u8 squatter[6] = { 2, 0, 0, 0, 0, 0x78 };
	u64 declined_at;
	u32 xid = get_bound(3600);
	u8 a[28];
	int i;

	host_log_clear();
	h_inject(h_frame(eth_broadcast_addr, squatter, ETH_P_ARP, a,
			 h_arp(a, ARPOP_REQUEST, squatter, IPV4(10, 0, 2, 15), (const u8[6]){ 0 }, IPV4(10, 0, 2, 15))));
	CHECK_EQ(arp_stats.tx_defends, 1);
	CHECK(inet_configured());
	CHECK_EQ(dhcp.state, DHCP_BOUND);
	CHECK_EQ(count_dhcp(), 0);
	h_clear_tx();
	h_advance_ns(SEC);
	h_inject(h_frame(eth_broadcast_addr, squatter, ETH_P_ARP, a,
			 h_arp(a, ARPOP_REQUEST, squatter, IPV4(10, 0, 2, 15), (const u8[6]){ 0 }, IPV4(10, 0, 2, 15))));
	declined_at = host_now_ns;
	CHECK_EQ(dhcp_stats.conflicts, 1);
	CHECK_EQ(dhcp_stats.declines, 1);
	CHECK(!inet_configured());
	CHECK_EQ(dhcp.state, DHCP_INIT);
	CHECK(strstr(host_log, "dhcp: 10.0.2.15 is in use by another host; declined, starting over in 10 s\n"));
	i = find_sent(DHCPDECLINE);
	CHECK_EQ(count_dhcp(), 1);
	CHECK(i >= 0);
	if (i >= 0) {
		CHECK_EQ(h_ip((unsigned)i)->saddr, 0);
		CHECK_EQ(h_ip((unsigned)i)->daddr, INADDR_BROADCAST_BE);
		CHECK_EQ(sent_msg((unsigned)i)->ciaddr, 0);
		CHECK(xid_of((unsigned)i) != xid);
	}
	h_clear_tx();
	CHECK(next_dhcp_tx(20 * SEC));
	CHECK_EQ(host_now_ns - declined_at, 10 * SEC);
	CHECK_EQ(sent_type(0), DHCPDISCOVER);
	h_clear_tx();
	/* dhcp_stop (inet_reset) takes the handler away: a static address is kept */
	h_setup(NULL, NULL);
	h_clear_tx();
	for (int k = 0; k < 2; k++)
		h_inject(h_frame(eth_broadcast_addr, squatter, ETH_P_ARP, a,
				 h_arp(a, ARPOP_REQUEST, squatter, IPV4(10, 0, 2, 15), (const u8[6]){ 0 },
				       IPV4(10, 0, 2, 15))));
	CHECK_EQ(arp_stats.conflicts_undefended, 1);
	CHECK(inet_configured());
	CHECK_EQ(dhcp_stats.conflicts, 0);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* The link goes down during the check: the probe waits for it (net/arp.c), but not beyond
 * the lease, which ends on time: the check is given up and DISCOVER starts over. */
static void test_check_ends_with_the_lease(void)
{
	u64 base;
	u32 xid;

	xid = start_and_offer(DHCP_MIN_LEASE_S);
	base = dhcp.request_sent_ns;
	std_opts(DHCPACK, DHCP_MIN_LEASE_S);
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
	CHECK_EQ(dhcp.state, DHCP_CHECKING);
	netif_carrier_off(&h_dev);
	while (dhcp.state == DHCP_CHECKING && timers_next_ns() <= base + 20 * SEC) /* bounded */
		next_timer();
	CHECK_EQ(host_now_ns - base, DHCP_MIN_LEASE_S * SEC);
	CHECK(!arp_probing());
	CHECK(!inet_configured());
	CHECK_EQ(dhcp_stats.expiries, 1);
	CHECK_EQ(dhcp_stats.declines, 0);
	CHECK_EQ(dhcp.state, DHCP_SELECTING);
	netif_carrier_on(&h_dev);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

static void test_ignores_foreign_replies(void)
{
	static const u8 other[6] = { 2, 0, 0, 0, 0, 0x42 };
	u32 xid;

	start_dhcp();
	xid = xid_of(0);
	h_clear_tx();
	std_opts(DHCPOFFER, 100);
	inject_reply(xid + 1, IPV4(10, 0, 2, 15), h_our_mac); /* another transaction */
	inject_reply(xid, IPV4(10, 0, 2, 15), other);        /* another client */
	std_opts(DHCPACK, 100);
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac); /* an ACK while selecting */
	CHECK_EQ(dhcp_stats.rx_ignored, 3);
	CHECK_EQ(dhcp.state, DHCP_SELECTING);
	/* after the offer, only the chosen server may answer */
	std_opts(DHCPOFFER, 100);
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
	nopts = 0;
	opt(DHO_MSG_TYPE, 1, (const u8[]){ DHCPACK });
	opt(DHO_SERVER_ID, 4, (const u8[]){ 10, 0, 2, 3 });
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
	CHECK_EQ(dhcp_stats.rx_ignored, 4);
	CHECK_EQ(dhcp.state, DHCP_REQUESTING);
	CHECK_EQ(h_ntx, 1); /* just our REQUEST */
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

static void test_bad_offers(void)
{
	u32 xid;

	start_dhcp();
	xid = xid_of(0);
	std_opts(DHCPOFFER, 100);
	inject_reply(xid, 0, h_our_mac);
	inject_reply(xid, IPV4(127, 0, 0, 1), h_our_mac);
	inject_reply(xid, IPV4(224, 0, 0, 1), h_our_mac);
	CHECK_EQ(dhcp_stats.rx_bad_offer, 3);
	CHECK_EQ(dhcp.state, DHCP_SELECTING);
	/* an ACK for the network or broadcast address of its own mask is refused */
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
	std_opts(DHCPACK, 100);
	inject_reply(xid, IPV4(10, 0, 2, 255), h_our_mac);
	inject_reply(xid, IPV4(10, 0, 2, 0), h_our_mac);
	CHECK_EQ(dhcp_stats.rx_bad_offer, 5);
	CHECK(!inet_configured());
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

static void test_option_parser_hostile(void)
{
	struct dhcp_options o;

	/* an option whose length runs past the end */
	memset(&o, 0, sizeof(o));
	CHECK_EQ(dhcp_parse_options((const u8[]){ DHO_MSG_TYPE, 1, 2, DHO_ROUTER, 8, 1, 2, 3, 4 }, 9, &o, true), -EINVAL);
	/* a code with no length byte */
	memset(&o, 0, sizeof(o));
	CHECK_EQ(dhcp_parse_options((const u8[]){ DHO_PAD, DHO_PAD, DHO_ROUTER }, 3, &o, true), -EINVAL);
	/* wrong lengths for known options are counted and ignored */
	memset(&o, 0, sizeof(o));
	CHECK_EQ(dhcp_parse_options((const u8[]){ DHO_SUBNET_MASK, 3, 255, 255, 255, DHO_LEASE_TIME, 2, 0, 1,
						   DHO_MSG_TYPE, 2, 5, 5, DHO_ROUTER, 5, 1, 1, 1, 1, 1,
						   DHO_SERVER_ID, 0, DHO_END },
					 23, &o, true),
		 0);
	CHECK_EQ(o.bad_options, 5);
	CHECK(!o.have_mask && !o.have_lease && !o.msg_type && !o.have_router && !o.have_server_id);
	/* a non-contiguous mask is refused; the first valid occurrence wins */
	memset(&o, 0, sizeof(o));
	CHECK_EQ(dhcp_parse_options((const u8[]){ DHO_SUBNET_MASK, 4, 255, 0, 255, 0, DHO_SUBNET_MASK, 4, 255, 255, 0,
						   0, DHO_SUBNET_MASK, 4, 255, 255, 255, 0 },
					 18, &o, true),
		 0);
	CHECK(o.have_mask && o.mask == IPV4(255, 255, 0, 0));
	CHECK_EQ(o.bad_options, 1);
	/* everything after END is ignored, unknown options skipped, no END tolerated */
	memset(&o, 0, sizeof(o));
	CHECK_EQ(dhcp_parse_options((const u8[]){ 200, 2, 9, 9, DHO_MSG_TYPE, 1, 5, DHO_END, DHO_ROUTER, 99 }, 10, &o, true), 0);
	CHECK(o.msg_type == 5 && !o.have_router);
	memset(&o, 0, sizeof(o));
	CHECK_EQ(dhcp_parse_options((const u8[]){ DHO_MSG_TYPE, 1, 2 }, 3, &o, true), 0);
	CHECK_EQ(o.msg_type, 2);
	/* overload is refused where it may not appear and with bad values */
	memset(&o, 0, sizeof(o));
	dhcp_parse_options((const u8[]){ DHO_OVERLOAD, 1, 3 }, 3, &o, false);
	dhcp_parse_options((const u8[]){ DHO_OVERLOAD, 1, 4 }, 3, &o, true);
	CHECK_EQ(o.overload, 0);
	CHECK_EQ(o.bad_options, 2);
}

static void test_reply_parser(void)
{
	static u8 buf[600];
	struct dhcp_msg *m = (void *)buf;
	struct dhcp_options o;

	memset(buf, 0, sizeof(buf));
	m->op = BOOTREPLY;
	m->htype = 1;
	m->hlen = 6;
	m->magic = htonl(DHCP_MAGIC);
	/* options overloaded into file (then sname): the type lives in file, the router in sname */
	memcpy(m->options, (const u8[]){ DHO_OVERLOAD, 1, 3, DHO_END }, 4);
	memcpy(m->file, (const u8[]){ DHO_MSG_TYPE, 1, DHCPOFFER, DHO_END }, 4);
	memcpy(m->sname, (const u8[]){ DHO_ROUTER, 4, 10, 0, 2, 2, DHO_END }, 7);
	CHECK_EQ(dhcp_parse_reply(buf, DHCP_FIXED_LEN + 4, &o), 0);
	CHECK_EQ(o.msg_type, DHCPOFFER);
	CHECK(o.have_router && o.router == IPV4(10, 0, 2, 2));
	/* a malformed overloaded area spoils the message */
	memcpy(m->sname, (const u8[]){ DHO_ROUTER, 200 }, 2);
	CHECK_EQ(dhcp_parse_reply(buf, DHCP_FIXED_LEN + 4, &o), -EINVAL);
	memcpy(m->sname, (const u8[]){ DHO_END }, 1);
	/* fixed-part checks */
	CHECK_EQ(dhcp_parse_reply(buf, DHCP_FIXED_LEN - 1, &o), -EINVAL);
	m->magic = 0;
	CHECK_EQ(dhcp_parse_reply(buf, DHCP_FIXED_LEN + 4, &o), -EINVAL);
	m->magic = htonl(DHCP_MAGIC);
	m->op = BOOTREQUEST;
	CHECK_EQ(dhcp_parse_reply(buf, DHCP_FIXED_LEN + 4, &o), -EINVAL);
	m->op = BOOTREPLY;
	m->hlen = 16;
	CHECK_EQ(dhcp_parse_reply(buf, DHCP_FIXED_LEN + 4, &o), -EINVAL);
	m->hlen = 6;
	m->htype = 6;
	CHECK_EQ(dhcp_parse_reply(buf, DHCP_FIXED_LEN + 4, &o), -EINVAL);
	m->htype = 1;
	/* no message type at all */
	memcpy(m->options, (const u8[]){ DHO_END }, 1);
	CHECK_EQ(dhcp_parse_reply(buf, DHCP_FIXED_LEN + 1, &o), -EINVAL);
}

static void test_malformed_reply_counted(void)
{
	u32 xid;

	start_dhcp();
	xid = xid_of(0);
	nopts = 0;
	opt(DHO_MSG_TYPE, 1, (const u8[]){ DHCPOFFER });
	opts[nopts++] = DHO_ROUTER;
	opts[nopts++] = 250; /* runs past the message */
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
	CHECK_EQ(dhcp_stats.rx_malformed, 1);
	CHECK_EQ(dhcp.state, DHCP_SELECTING);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

static void test_lease_time_repairs(void)
{
	u32 xid;

	/* T1/T2 given and sane: used */
	xid = start_and_offer(120);
	std_opts(DHCPACK, 120);
	opt_u32(DHO_T1, 10);
	opt_u32(DHO_T2, 20);
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
	CHECK_EQ(dhcp.t1_at - dhcp.request_sent_ns, 10 * SEC);
	CHECK_EQ(dhcp.t2_at - dhcp.request_sent_ns, 20 * SEC);
	/* absurd: T1 > T2 > lease, a 1-second lease -> minimum lease, defaults */
	xid = start_and_offer(1);
	std_opts(DHCPACK, 1);
	opt_u32(DHO_T1, 500);
	opt_u32(DHO_T2, 400);
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
	CHECK_EQ(dhcp.lease_s, DHCP_MIN_LEASE_S);
	CHECK(dhcp.t1_at < dhcp.t2_at && dhcp.t2_at < dhcp.expire_at);
	/* infinite lease: no timers */
	xid = start_and_offer(0xffffffffu);
	std_opts(DHCPACK, 0xffffffffu);
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
	CHECK_EQ(dhcp.expire_at, UINT64_MAX);
	CHECK(!dhcp.timer.pending);
	finish_check();
	CHECK_EQ(dhcp.state, DHCP_BOUND);
	CHECK(!dhcp.timer.pending);
	/* no mask: classful; an off-link router is dropped */
	xid = start_and_offer(100);
	nopts = 0;
	opt(DHO_MSG_TYPE, 1, (const u8[]){ DHCPACK });
	opt(DHO_ROUTER, 4, (const u8[]){ 192, 168, 0, 1 });
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
	finish_check();
	CHECK_EQ(inet_if.mask, IPV4(255, 0, 0, 0));
	CHECK_EQ(inet_if.gw, 0);
	CHECK_EQ(dhcp.lease_s, DHCP_DEFAULT_LEASE_S);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

int main(void)
{
	RUN(test_discover_format);
	RUN(test_full_exchange);
	RUN(test_renew_rebind_expire);
	RUN(test_renew_now_and_ack);
	RUN(test_backoff);
	RUN(test_request_gives_up_and_restarts);
	RUN(test_secs_and_xid);
	RUN(test_renew_rebind_waits);
	RUN(test_nak_only_from_our_server);
	RUN(test_release);
	RUN(test_release_waits_for_arp);
	RUN(test_init_reboot_ack);
	RUN(test_moved_init_reboot);
	RUN(test_init_reboot_nak);
	RUN(test_init_reboot_unanswered);
	RUN(test_init_reboot_lease_ends);
	RUN(test_link_up_without_lease);
	RUN(test_check_before_use);
	RUN(test_decline_when_in_use);
	RUN(test_conflict_when_bound_declines);
	RUN(test_check_ends_with_the_lease);
	RUN(test_nak_restarts);
	RUN(test_ignores_foreign_replies);
	RUN(test_bad_offers);
	RUN(test_option_parser_hostile);
	RUN(test_reply_parser);
	RUN(test_malformed_reply_counted);
	RUN(test_lease_time_repairs);
	return unit_summary("net_dhcp");
}
