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

/* A BOOTREPLY with opts (END appended) sent by the server to the broadcast address. */
static void inject_reply(u32 xid, be32 yiaddr, const u8 *chaddr)
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
	n = h_udp(seg, server, INADDR_BROADCAST_BE, UDP_PORT_BOOTPS, UDP_PORT_BOOTPC, msg, DHCP_FIXED_LEN + nopts + 1,
		  true);
	h_inject_ip(server, INADDR_BROADCAST_BE, IPPROTO_UDP, seg, n);
}

static u32 xid_of(unsigned i) { return ntohl(sent_msg(i)->xid); }

/* Start with ip=dhcp and let the first DISCOVER out. */
static void start_dhcp(void)
{
	h_setup("dhcp", NULL);
	h_advance_ns(0);
}

/* Run the exchange up to BOUND with lease seconds; returns the xid. */
static u32 get_bound(u32 lease)
{
	u32 xid;

	start_dhcp();
	xid = xid_of(0);
	std_opts(DHCPOFFER, lease);
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
	std_opts(DHCPACK, lease);
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
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
	CHECK_EQ(dhcp.state, DHCP_BOUND);
	CHECK(inet_configured());
	CHECK_EQ(inet_if.addr, IPV4(10, 0, 2, 100));
	CHECK_EQ(inet_if.mask, IPV4(255, 255, 255, 0));
	CHECK_EQ(inet_if.gw, IPV4(10, 0, 2, 2));
	CHECK_EQ(inet_if.source, INET_SRC_DHCP);
	CHECK(strstr(host_log, "net: ready ip=10.0.2.100 mac=52:54:00:12:34:56\n"));
	CHECK(strstr(host_log, "dhcp: bound to 10.0.2.100/24 gw 10.0.2.2, lease 120 s (renew 60 s, rebind 105 s)"));
	CHECK_EQ(h_ntx, 1); /* the gratuitous ARP */
	CHECK_EQ(ntohs(h_eth(0)->h_proto), ETH_P_ARP);
	h_clear_tx();
	host_log_clear();
	inet_describe(&h_dev);
	CHECK(strstr(host_log, "dhcp: bound, server 10.0.2.2, lease 120 s, renew in 60 s rebind in 105 s expires in 120 s"));
	CHECK_EQ(dhcp_stats.offers, 1);
	CHECK_EQ(dhcp_stats.acks, 1);
	CHECK_EQ(h_leaked(), 0);
}

static void test_renew_rebind_expire(void)
{
	u32 xid = get_bound(100); /* T1 50 s, T2 87 s */
	u8 a[28];

	/* the server is on-link and known, so the unicast renewal leaves at once */
	h_inject(h_frame(h_our_mac, h_peer_mac, ETH_P_ARP, a,
			 h_arp(a, ARPOP_REQUEST, h_peer_mac, server, (const u8[6]){ 0 }, IPV4(10, 0, 2, 15))));
	h_clear_tx();
	h_advance_ns(50 * SEC - 1);
	CHECK_EQ(h_ntx, 0);
	h_advance_ns(1);
	CHECK_EQ(dhcp.state, DHCP_RENEWING);
	CHECK_EQ(h_ntx, 1);
	CHECK_EQ(sent_type(0), DHCPREQUEST);
	CHECK_EQ(h_ip(0)->daddr, server);
	CHECK_MEM(h_eth(0)->h_dest, h_peer_mac, 6);
	CHECK_EQ(sent_msg(0)->ciaddr, IPV4(10, 0, 2, 15));
	CHECK_EQ(ntohs(sent_msg(0)->flags), 0);
	unsigned len;
	CHECK(!sent_opt(0, DHO_SERVER_ID, &len) && !sent_opt(0, DHO_REQUESTED_IP, &len));
	h_clear_tx();
	/* no answer: one more try at T2 at the latest, then rebinding broadcasts */
	h_advance_ns(37 * SEC);
	CHECK_EQ(dhcp.state, DHCP_REBINDING);
	CHECK(h_ntx >= 1);
	CHECK(eth_is_broadcast(h_eth(h_ntx - 1)->h_dest));
	CHECK_EQ(h_ip(h_ntx - 1)->daddr, INADDR_BROADCAST_BE);
	CHECK_EQ(h_ip(h_ntx - 1)->saddr, IPV4(10, 0, 2, 15));
	h_clear_tx();
	/* an ACK while rebinding renews the lease */
	std_opts(DHCPACK, 100);
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
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
	std_opts(DHCPACK, 7200);
	host_log_clear();
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
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

static void test_backoff(void)
{
	static const unsigned expect_s[] = { 2, 4, 8, 16, 32, 32, 32 };
	u64 last = 0, sent_at[ARRAY_SIZE(expect_s) + 1];
	unsigned n = 0;

	start_dhcp();
	h_clear_tx();
	/* walk the clock in 10 ms steps and note when each DISCOVER leaves */
	for (u64 t = 0; t < 140 * SEC && n < ARRAY_SIZE(sent_at); t += SEC / 100) {
		h_advance_ns(SEC / 100);
		if (h_ntx) {
			CHECK_EQ(h_ntx, 1);
			CHECK_EQ(sent_type(0), DHCPDISCOVER);
			sent_at[n++] = t + SEC / 100;
			h_clear_tx();
		}
	}
	CHECK_EQ(n, ARRAY_SIZE(expect_s));
	for (unsigned i = 0; i < n; i++) {
		u64 gap = sent_at[i] - last;

		/* the nominal interval plus up to half a second of jitter (10 ms resolution) */
		CHECK(gap >= expect_s[i] * SEC && gap <= expect_s[i] * SEC + SEC / 2 + SEC / 100);
		last = sent_at[i];
	}
	CHECK_EQ(dhcp_stats.retransmits, n);
	CHECK_EQ(h_leaked(), 0);
}

static void test_request_gives_up_and_restarts(void)
{
	u32 xid;

	start_dhcp();
	xid = xid_of(0);
	std_opts(DHCPOFFER, 100);
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
	h_clear_tx();
	h_advance_ns(200 * SEC);
	CHECK_EQ(dhcp_stats.requests, DHCP_REQUEST_TRIES);
	CHECK(dhcp_stats.restarts >= 1);
	CHECK(dhcp.state == DHCP_SELECTING);
	CHECK(dhcp.xid != xid); /* a new transaction */
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

static void test_nak_restarts(void)
{
	u32 xid = get_bound(100);

	dhcp_renew_now();
	h_clear_tx();
	std_opts(DHCPNAK, 100);
	inject_reply(xid, 0, h_our_mac);
	CHECK(!inet_configured());
	CHECK_EQ(dhcp_stats.naks, 1);
	CHECK_EQ(dhcp.state, DHCP_INIT);
	h_advance_ns(SEC);
	CHECK_EQ(dhcp.state, DHCP_SELECTING);
	h_clear_tx();
	arp_flush();
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
	start_dhcp();
	xid = xid_of(0);
	std_opts(DHCPOFFER, 120);
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
	std_opts(DHCPACK, 120);
	opt_u32(DHO_T1, 10);
	opt_u32(DHO_T2, 20);
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
	CHECK_EQ(dhcp.t1_at - dhcp.request_sent_ns, 10 * SEC);
	CHECK_EQ(dhcp.t2_at - dhcp.request_sent_ns, 20 * SEC);
	/* absurd: T1 > T2 > lease, a 1-second lease -> minimum lease, defaults */
	start_dhcp();
	xid = xid_of(0);
	std_opts(DHCPOFFER, 1);
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
	std_opts(DHCPACK, 1);
	opt_u32(DHO_T1, 500);
	opt_u32(DHO_T2, 400);
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
	CHECK_EQ(dhcp.lease_s, DHCP_MIN_LEASE_S);
	CHECK(dhcp.t1_at < dhcp.t2_at && dhcp.t2_at < dhcp.expire_at);
	/* infinite lease: no timers */
	start_dhcp();
	xid = xid_of(0);
	std_opts(DHCPOFFER, 0xffffffffu);
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
	std_opts(DHCPACK, 0xffffffffu);
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
	CHECK_EQ(dhcp.expire_at, UINT64_MAX);
	CHECK(!dhcp.timer.pending);
	/* no mask: classful; an off-link router is dropped */
	start_dhcp();
	xid = xid_of(0);
	std_opts(DHCPOFFER, 100);
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
	nopts = 0;
	opt(DHO_MSG_TYPE, 1, (const u8[]){ DHCPACK });
	opt(DHO_ROUTER, 4, (const u8[]){ 192, 168, 0, 1 });
	inject_reply(xid, IPV4(10, 0, 2, 15), h_our_mac);
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
	RUN(test_nak_restarts);
	RUN(test_ignores_foreign_replies);
	RUN(test_bad_offers);
	RUN(test_option_parser_hostile);
	RUN(test_reply_parser);
	RUN(test_malformed_reply_counted);
	RUN(test_lease_time_repairs);
	return unit_summary("net_dhcp");
}
