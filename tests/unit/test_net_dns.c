/*
 * tests/unit/test_net_dns.c - the DNS stub resolver (net/dns.c): names, the query on the
 * wire, the response parser against hostile answers (wrong id or question, compression
 * loops, pointers forward, too many jumps, names too long, records past the end, poisoned
 * extra records, CNAME loops, odd TTLs), and dns_resolve end to end on the fake device:
 * a random port and id, answers only from the server's port 53, retries and the timeout,
 * the cache and its TTL, the server from dns= and from DHCP option 6.
 */
#include "net/dns.h"
#include "tests/unit/kernel_harness.h"
#include "tests/unit/net_harness.h"
#include "tests/unit/unit.h"

#define SEC NSEC_PER_SEC

static u8 msg[1024];
static unsigned mlen;

/* ---- building answers ------------------------------------------------------------------- */

static void put16(u16 v)
{
	put_be16(msg + mlen, v);
	mlen += 2;
}

static void put32(u32 v)
{
	put_be32(msg + mlen, v);
	mlen += 4;
}

static void put_name(const char *name)
{
	unsigned start = mlen++;

	for (const char *p = name;; p++) {
		if (*p == '.' || *p == '\0') {
			msg[start] = (u8)(mlen - start - 1);
			if (*p == '\0')
				break;
			start = mlen++;
		} else {
			msg[mlen++] = (u8)*p;
		}
	}
	if (msg[start] != 0)
		msg[mlen++] = 0;
}

/* A header alone: one question, ancount answers, nothing else; the question is the caller's. */
static void header(u16 id, u16 flags, unsigned ancount)
{
	mlen = 0;
	put16(id);
	put16(flags);
	put16(1);
	put16((u16)ancount);
	put16(0);
	put16(0);
}

/* Header (flags, one question, ancount answers) and the question for name, type A, class IN. */
static void begin(u16 id, u16 flags, unsigned ancount, const char *name)
{
	header(id, flags, ancount);
	put_name(name);
	put16(DNS_TYPE_A);
	put16(DNS_CLASS_IN);
}

/* A record: owner at a pointer to offset ptr (0: the question's name, offset 12). */
static void rr_a(unsigned ptr, u32 ttl, u8 a, u8 b, u8 c, u8 d)
{
	put16((u16)(0xc000 | (ptr ? ptr : DNS_HLEN)));
	put16(DNS_TYPE_A);
	put16(DNS_CLASS_IN);
	put32(ttl);
	put16(4);
	msg[mlen++] = a;
	msg[mlen++] = b;
	msg[mlen++] = c;
	msg[mlen++] = d;
}

/* CNAME record, owner at a pointer; returns the offset of its target name. */
static unsigned rr_cname(unsigned ptr, u32 ttl, const char *target)
{
	unsigned rdlen_at, start;

	put16((u16)(0xc000 | (ptr ? ptr : DNS_HLEN)));
	put16(DNS_TYPE_CNAME);
	put16(DNS_CLASS_IN);
	put32(ttl);
	rdlen_at = mlen;
	put16(0);
	start = mlen;
	put_name(target);
	put_be16(msg + rdlen_at, (u16)(mlen - start));
	return start;
}

static int parse(u16 id, const char *name, struct dns_answer *a) { return dns_parse_response(msg, mlen, id, name, a); }

#define RESP (DNS_FLAG_QR | DNS_FLAG_RD | 0x0080)

/* ---- names and the query ---------------------------------------------------------------- */

static void test_names(void)
{
	static const char *const bad[] = { "", ".", "a..b", ".a", "a b", "a/b", "ex ample.org", "a.b..",
					   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.org" };
	char out[DNS_MAX_NAME + 1], longname[300];

	CHECK_EQ(dns_normalize("WWW.Example.ORG.", out), 0);
	CHECK(strcmp(out, "www.example.org") == 0);
	CHECK_EQ(dns_normalize("_srv-1.a", out), 0);
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++)
		CHECK_EQ(dns_normalize(bad[i], out), -EINVAL);
	/* 63-byte labels are the limit; 253 bytes in all */
	memset(longname, 'a', sizeof(longname));
	for (unsigned i = 63; i < sizeof(longname); i += 64)
		longname[i] = '.';
	longname[253] = '\0';
	CHECK_EQ(dns_normalize(longname, out), 0);
	longname[253] = 'a';
	longname[254] = '\0';
	CHECK_EQ(dns_normalize(longname, out), -EINVAL);
}

static void test_query_bytes(void)
{
	static const u8 want[] = { 0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'w', 'w', 7, 'e', 'x', 'a',
				   'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0, 0, 1, 0, 1 };
	u8 out[DNS_MAX_MSG];

	CHECK_EQ(dns_build_query(out, sizeof(out), 0xbeef, "www.example.org"), (int)sizeof(want));
	CHECK_MEM(out, want, sizeof(want));
	CHECK_EQ(dns_build_query(out, 20, 1, "www.example.org"), -EINVAL);
}

/* ---- the parser ---------------------------------------------------------------------------- */

static void test_parse_answers(void)
{
	struct dns_answer a;
	unsigned t;

	begin(0x1234, RESP, 1, "host.test");
	rr_a(0, 300, 10, 0, 2, 99);
	CHECK_EQ(parse(0x1234, "host.test", &a), 0);
	CHECK_EQ(a.addr, IPV4(10, 0, 2, 99));
	CHECK_EQ(a.ttl, 300);
	/* the question's case may differ (RFC 4343; 0x20 randomisation) */
	begin(0x1234, RESP, 1, "HoSt.TeSt");
	rr_a(0, 300, 10, 0, 2, 99);
	CHECK_EQ(parse(0x1234, "host.test", &a), 0);
	/* a CNAME chain, the TTL the smallest along it */
	begin(7, RESP, 3, "www.test");
	t = rr_cname(0, 100, "mid.test");
	t = rr_cname(t, 50, "end.test");
	rr_a(t, 400, 1, 2, 3, 4);
	CHECK_EQ(parse(7, "www.test", &a), 0);
	CHECK_EQ(a.addr, IPV4(1, 2, 3, 4));
	CHECK_EQ(a.ttl, 50);
	/* the A before the CNAME that leads to it */
	begin(7, RESP, 2, "www.test");
	{
		unsigned owner = mlen; /* an A for end.test, its name written out in full */

		put_name("end.test");
		put16(DNS_TYPE_A);
		put16(DNS_CLASS_IN);
		put32(60);
		put16(4);
		put32(0x05060708);
		put16(0xc000 | DNS_HLEN);
		put16(DNS_TYPE_CNAME);
		put16(DNS_CLASS_IN);
		put32(60);
		put16(2);
		put16((u16)(0xc000 | owner));
	}
	CHECK_EQ(parse(7, "www.test", &a), 0);
	CHECK_EQ(a.addr, IPV4(5, 6, 7, 8));
	/* TTLs: the top bit means 0 (RFC 2181 8); more than a day is a day */
	begin(8, RESP, 1, "t.test");
	rr_a(0, 0x80000005u, 1, 1, 1, 1);
	CHECK_EQ(parse(8, "t.test", &a), 0);
	CHECK_EQ(a.ttl, 0);
	begin(8, RESP, 1, "t.test");
	rr_a(0, 7 * 86400, 1, 1, 1, 1);
	CHECK_EQ(parse(8, "t.test", &a), 0);
	CHECK_EQ(a.ttl, DNS_MAX_TTL_S);
}

/* Answers that are not to our question, or that say no. */
static void test_parse_not_ours_and_errors(void)
{
	struct dns_answer a;

	begin(0x1234, RESP, 1, "host.test");
	rr_a(0, 300, 10, 0, 2, 99);
	CHECK_EQ(parse(0x1235, "host.test", &a), -ENOMSG);  /* another id */
	CHECK_EQ(parse(0x1234, "other.test", &a), -ENOMSG); /* another question */
	CHECK_EQ(parse(0x1234, "host.test.x", &a), -ENOMSG);
	put_be16(msg + 2, DNS_FLAG_RD); /* a query, not a response */
	CHECK_EQ(parse(0x1234, "host.test", &a), -ENOMSG);
	put_be16(msg + 2, RESP | 1 << 11); /* opcode IQUERY */
	CHECK_EQ(parse(0x1234, "host.test", &a), -ENOMSG);
	put_be16(msg + 2, RESP);
	put_be16(msg + 4, 2); /* two questions */
	CHECK_EQ(parse(0x1234, "host.test", &a), -ENOMSG);
	put_be16(msg + 4, 0);
	CHECK_EQ(parse(0x1234, "host.test", &a), -ENOMSG);
	put_be16(msg + 4, 1);
	put_be16(msg + 23, 28); /* the question's type: AAAA */
	CHECK_EQ(parse(0x1234, "host.test", &a), -ENOMSG);
	put_be16(msg + 23, DNS_TYPE_A);
	put_be16(msg + 25, 3); /* class CH */
	CHECK_EQ(parse(0x1234, "host.test", &a), -ENOMSG);
	put_be16(msg + 25, DNS_CLASS_IN);
	CHECK_EQ(parse(0x1234, "host.test", &a), 0);
	/* the codes */
	put_be16(msg + 2, RESP | DNS_FLAG_TC);
	CHECK_EQ(parse(0x1234, "host.test", &a), -EMSGSIZE);
	put_be16(msg + 2, RESP | DNS_RCODE_NXDOMAIN);
	CHECK_EQ(parse(0x1234, "host.test", &a), -ENOENT);
	put_be16(msg + 2, RESP | DNS_RCODE_SERVFAIL);
	CHECK_EQ(parse(0x1234, "host.test", &a), -EAGAIN);
	put_be16(msg + 2, RESP | DNS_RCODE_REFUSED);
	CHECK_EQ(parse(0x1234, "host.test", &a), -ECONNREFUSED);
	put_be16(msg + 2, RESP | 4);
	CHECK_EQ(parse(0x1234, "host.test", &a), -EIO);
	/* NOERROR without an A record for the name */
	begin(1, RESP, 0, "host.test");
	CHECK_EQ(parse(1, "host.test", &a), -ENODATA);
	/* poison: an A record for another name (RFC 5452's "additional" trick), a wrong class, a
	 * 5-byte A: none is an answer */
	begin(1, RESP, 3, "host.test");
	{
		put_name("victim.test");
		put16(DNS_TYPE_A);
		put16(DNS_CLASS_IN);
		put32(60);
		put16(4);
		put32(0x01020304);
	}
	put16(0xc000 | DNS_HLEN);
	put16(DNS_TYPE_A);
	put16(3);
	put32(60);
	put16(4);
	put32(0x01020304);
	put16(0xc000 | DNS_HLEN);
	put16(DNS_TYPE_A);
	put16(DNS_CLASS_IN);
	put32(60);
	put16(5);
	put32(0x01020304);
	msg[mlen++] = 9;
	CHECK_EQ(parse(1, "host.test", &a), -ENODATA);
	CHECK_EQ(parse(1, "victim.test", &a), -ENOMSG);
}

/* Hostile encodings: every one is -EPROTO (or no answer), none loops or reads past the end. */
static void test_parse_hostile(void)
{
	struct dns_answer a;
	unsigned t, at;

	/* a pointer to itself, as the answer's owner */
	begin(2, RESP, 1, "h.test");
	at = mlen;
	put16((u16)(0xc000 | at));
	CHECK_EQ(parse(2, "h.test", &a), -EPROTO);
	/* a pointer forward */
	begin(2, RESP, 1, "h.test");
	put16((u16)(0xc000 | (mlen + 2)));
	rr_a(0, 1, 1, 1, 1, 1);
	CHECK_EQ(parse(2, "h.test", &a), -EPROTO);
	/* two pointers to each other: the second goes up again */
	begin(2, RESP, 1, "h.test");
	at = mlen;
	put16((u16)(0xc000 | (at + 2)));
	put16((u16)(0xc000 | at));
	CHECK_EQ(parse(2, "h.test", &a), -EPROTO);
	/* the question's name a pointer into the header */
	header(2, RESP, 0);
	put16(0xc000 | 4);
	put16(DNS_TYPE_A);
	put16(DNS_CLASS_IN);
	CHECK(parse(2, "h.test", &a) < 0);
	/* pointers in a row, each going down: 16 jumps are allowed, 17 are too many. The chain
	 * sits in the data of a record of an unknown type; the next record's owner enters it. */
	for (unsigned links = 15; links <= 16; links++) {
		begin(2, RESP, 2, "h.test");
		put16(0xc000 | DNS_HLEN);
		put16(99);
		put16(DNS_CLASS_IN);
		put32(1);
		put16((u16)(1 + 2 * links));
		at = mlen;
		msg[mlen++] = 0; /* the root, at the bottom */
		for (unsigned i = 0; i < links; i++)
			put16((u16)(0xc000 | (i ? mlen - 2 : at)));
		put16((u16)(0xc000 | (mlen - 2))); /* the owner: one more jump */
		put16(DNS_TYPE_A);
		put16(DNS_CLASS_IN);
		put32(1);
		put16(4);
		put32(1);
		CHECK_EQ(parse(2, "h.test", &a), links + 1 <= DNS_MAX_JUMPS ? -ENODATA : -EPROTO);
	}
	/* a name over 253 bytes made of pointers between 63-byte labels: 3 labels are 191 bytes,
	 * 5 are 319 */
	for (unsigned labels = 3; labels <= 5; labels += 2) {
		begin(2, RESP, 2, "h.test");
		put16(0xc000 | DNS_HLEN);
		put16(99);
		put16(DNS_CLASS_IN);
		put32(1);
		put16((u16)(65 + 66 * (labels - 1)));
		at = mlen;
		msg[mlen++] = 63;
		memset(msg + mlen, 'x', 63);
		mlen += 63;
		msg[mlen++] = 0;
		for (unsigned i = 1; i < labels; i++) {
			unsigned below = at;

			at = mlen;
			msg[mlen++] = 63;
			memset(msg + mlen, 'y', 63);
			mlen += 63;
			put16((u16)(0xc000 | below));
		}
		put16((u16)(0xc000 | at));
		put16(DNS_TYPE_A);
		put16(DNS_CLASS_IN);
		put32(1);
		put16(4);
		put32(1);
		CHECK_EQ(parse(2, "h.test", &a), labels == 3 ? -ENODATA : -EPROTO);
	}
	/* label types 01 and 10 */
	begin(2, RESP, 1, "h.test");
	msg[mlen++] = 0x41;
	CHECK_EQ(parse(2, "h.test", &a), -EPROTO);
	msg[mlen - 1] = 0x81;
	CHECK_EQ(parse(2, "h.test", &a), -EPROTO);
	/* a label with a dot in it: "h.test" spelt as one label must not match */
	header(2, RESP, 0);
	msg[mlen++] = 6;
	memcpy(msg + mlen, "h.test", 6);
	mlen += 6;
	msg[mlen++] = 0;
	put16(DNS_TYPE_A);
	put16(DNS_CLASS_IN);
	CHECK_EQ(parse(2, "h.test", &a), -EPROTO);
	/* records cut short: every length from the header to one byte before the end */
	begin(2, RESP, 2, "h.test");
	t = rr_cname(0, 10, "z.test");
	rr_a(t, 10, 9, 9, 9, 9);
	CHECK_EQ(parse(2, "h.test", &a), 0);
	for (unsigned n = 0; n + 1 < mlen; n++)
		CHECK(dns_parse_response(msg, n, 2, "h.test", &a) < 0);
	/* rdlength past the end */
	begin(2, RESP, 1, "h.test");
	rr_a(0, 1, 1, 1, 1, 1);
	put_be16(msg + mlen - 6, 5);
	CHECK_EQ(parse(2, "h.test", &a), -EPROTO);
	/* a CNAME whose name runs past its rdata */
	begin(2, RESP, 1, "h.test");
	rr_cname(0, 10, "zz.test");
	put_be16(msg + mlen - 11, 3); /* its 9 bytes said to be 3: the record ends inside the name */
	CHECK_EQ(parse(2, "h.test", &a), -EPROTO);
	/* a CNAME loop (a -> b -> a) and a chain longer than DNS_MAX_CNAMES: no answer */
	begin(2, RESP, 2, "a.test");
	t = rr_cname(0, 10, "b.test");
	rr_cname(t, 10, "a.test");
	CHECK_EQ(parse(2, "a.test", &a), -ENODATA);
	begin(2, RESP, DNS_MAX_CNAMES + 2, "c0.test");
	t = 0;
	for (unsigned i = 1; i <= DNS_MAX_CNAMES + 1; i++) {
		char next[16] = "c0.test";

		next[1] = (char)('0' + i);
		t = rr_cname(t, 10, next);
	}
	rr_a(t, 10, 1, 1, 1, 1);
	CHECK_EQ(parse(2, "c0.test", &a), -ENODATA);
	/* one link fewer is followed to the end */
	begin(2, RESP, DNS_MAX_CNAMES + 1, "c0.test");
	t = 0;
	for (unsigned i = 1; i <= DNS_MAX_CNAMES; i++) {
		char next[16] = "c0.test";

		next[1] = (char)('0' + i);
		t = rr_cname(t, 10, next);
	}
	rr_a(t, 10, 1, 1, 1, 1);
	CHECK_EQ(parse(2, "c0.test", &a), 0);
}

/* ---- dns_resolve on the fake device -------------------------------------------------------- */

static struct {
	unsigned calls;
	int err;
	be32 addr;
	char name[DNS_MAX_NAME + 1];
} got;

static void on_answer(void *ctx, const char *name, int err, be32 addr)
{
	got.calls++;
	got.err = err;
	got.addr = addr;
	memcpy(got.name, name, strlen(name) + 1);
}

static void learn_peer(void)
{
	u8 a[28];

	h_inject(h_frame(h_our_mac, h_peer_mac, ETH_P_ARP, a,
			 h_arp(a, ARPOP_REQUEST, h_peer_mac, h_peer_ip, (const u8[6]){ 0 }, h_our_ip)));
	h_clear_tx();
}

/* The query in captured frame i: checks it goes to the server's port 53; returns its id and
 * source port. */
static bool sent_query(unsigned i, const char *name, u16 *id, u16 *port)
{
	u8 want[DNS_MAX_MSG];
	const u8 *udp;
	int n;

	if (i >= h_ntx || h_ip(i)->protocol != IPPROTO_UDP)
		return false;
	udp = h_l4(i);
	*port = get_be16(udp);
	*id = get_be16(udp + 8);
	n = dns_build_query(want, sizeof(want), *id, name);
	CHECK_EQ(h_ip(i)->daddr, h_peer_ip);
	CHECK_EQ(get_be16(udp + 2), DNS_PORT);
	CHECK_EQ(get_be16(udp + 4), UDP_HLEN + n);
	CHECK(*port >= UDP_EPHEMERAL_FIRST);
	return n > 0 && memcmp(udp + 8, want, (size_t)n) == 0;
}

static void test_resolve_and_cache(void)
{
	u16 id, port, id2, port2;

	h_set_cmdline("dns", "10.0.2.2");
	h_setup(NULL, NULL);
	h_set_cmdline("dns", NULL);
	CHECK_EQ(dns_server(), h_peer_ip);
	learn_peer();
	memset(&got, 0, sizeof(got));
	CHECK_EQ(dns_resolve("Host.Test", on_answer, NULL), 0);
	CHECK_EQ(got.calls, 0);
	CHECK_EQ(h_ntx, 1);
	CHECK(sent_query(0, "host.test", &id, &port));
	CHECK(udp_port_bound(port));
	h_clear_tx();
	begin(id, RESP, 1, "host.test");
	rr_a(0, 30, 10, 0, 2, 77);
	h_inject_udp(DNS_PORT, port, msg, mlen);
	CHECK_EQ(got.calls, 1);
	CHECK_EQ(got.err, 0);
	CHECK_EQ(got.addr, IPV4(10, 0, 2, 77));
	CHECK(strcmp(got.name, "host.test") == 0);
	CHECK(!udp_port_bound(port));
	CHECK_EQ(dns_pending(), 0);
	/* from the cache, at once, until the TTL runs out */
	h_advance_ns(29 * SEC);
	CHECK_EQ(dns_resolve("host.test.", on_answer, NULL), 0);
	CHECK_EQ(got.calls, 2);
	CHECK_EQ(got.addr, IPV4(10, 0, 2, 77));
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(dns_stats.cache_hits, 1);
	h_advance_ns(SEC);
	CHECK_EQ(dns_resolve("host.test", on_answer, NULL), 0);
	CHECK_EQ(got.calls, 2);
	CHECK_EQ(h_ntx, 1);
	CHECK(sent_query(0, "host.test", &id2, &port2));
	CHECK(id2 != id || port2 != port); /* a fresh id and port for each query */
	h_clear_tx();
	/* TTL 0: the answer is given, not kept (RFC 1035 3.2.1) */
	CHECK_EQ(dns_resolve("zero.test", on_answer, &got), 0);
	CHECK(sent_query(0, "zero.test", &id, &port));
	begin(id, RESP, 1, "zero.test");
	rr_a(0, 0, 10, 0, 2, 78);
	h_inject_udp(DNS_PORT, port, msg, mlen);
	CHECK_EQ(got.calls, 3);
	CHECK_EQ(got.addr, IPV4(10, 0, 2, 78));
	CHECK_EQ(dns_resolve("zero.test", on_answer, &got), 0);
	CHECK_EQ(got.calls, 3);
	CHECK_EQ(h_ntx, 2); /* asked again */
	dns_cancel(on_answer, &got);
	CHECK_EQ(dns_pending(), 1); /* host.test's, started with another ctx */
	h_clear_tx();
	/* NXDOMAIN: said, and not cached */
	begin(id2, RESP | DNS_RCODE_NXDOMAIN, 0, "host.test");
	h_inject_udp(DNS_PORT, port2, msg, mlen);
	CHECK_EQ(got.calls, 4);
	CHECK_EQ(got.err, -ENOENT);
	CHECK_EQ(dns_stats.nxdomain, 1);
	CHECK_EQ(dns_resolve("host.test", on_answer, NULL), 0);
	CHECK_EQ(h_ntx, 1);
	dns_reset();
	CHECK_EQ(dns_pending(), 0);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* Forged answers: another source address, another source port, another id, another
 * question, a malformed message -- each counted, the query still waiting; then the real one. */
static void test_forged_answers_ignored(void)
{
	u16 id, port;
	u8 seg[600], pkt[700];
	unsigned n;

	h_set_cmdline("dns", "10.0.2.2");
	h_setup(NULL, NULL);
	h_set_cmdline("dns", NULL);
	learn_peer();
	memset(&got, 0, sizeof(got));
	CHECK_EQ(dns_resolve("bank.test", on_answer, NULL), 0);
	CHECK(sent_query(0, "bank.test", &id, &port));
	h_clear_tx();
	begin(id, RESP, 1, "bank.test");
	rr_a(0, 60, 6, 6, 6, 6);
	/* from 10.0.2.66, port 53 */
	n = h_udp(seg, IPV4(10, 0, 2, 66), h_our_ip, DNS_PORT, port, msg, mlen, true);
	n = h_ipv4(pkt, IPV4(10, 0, 2, 66), h_our_ip, IPPROTO_UDP, seg, n);
	h_inject(h_frame(h_our_mac, h_peer_mac, ETH_P_IP, pkt, n));
	h_inject_udp(5353, port, msg, mlen); /* the server, another port */
	put_be16(msg, (u16)(id + 1));
	h_inject_udp(DNS_PORT, port, msg, mlen); /* another id */
	begin(id, RESP, 1, "bank.tesu");
	rr_a(0, 60, 6, 6, 6, 6);
	h_inject_udp(DNS_PORT, port, msg, mlen); /* another question */
	begin(id, RESP, 1, "bank.test");
	rr_a(0, 60, 6, 6, 6, 6);
	put_be16(msg + mlen - 6, 40); /* rdata past the end */
	h_inject_udp(DNS_PORT, port, msg, mlen);
	CHECK_EQ(got.calls, 0);
	CHECK_EQ(dns_stats.rx_wrong_source, 2);
	CHECK_EQ(dns_stats.rx_mismatch, 2);
	CHECK_EQ(dns_stats.rx_malformed, 1);
	CHECK_EQ(dns_pending(), 1);
	begin(id, RESP, 1, "bank.test");
	rr_a(0, 60, 10, 0, 2, 50);
	h_inject_udp(DNS_PORT, port, msg, mlen);
	CHECK_EQ(got.calls, 1);
	CHECK_EQ(got.err, 0);
	CHECK_EQ(got.addr, IPV4(10, 0, 2, 50));
	/* a late answer to a finished query: its port is closed (ICMP port unreachable) */
	h_inject_udp(DNS_PORT, port, msg, mlen);
	CHECK_EQ(got.calls, 1);
	CHECK_EQ(udp_stats.rx_no_port, 1);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* No answer: DNS_TRIES queries, 1 s then 2 s apart, the same id and port; -ETIMEDOUT 4 s
 * after the last. */
static void test_retries_and_timeout(void)
{
	u16 id, port, id2, port2;
	u64 t0;

	h_set_cmdline("dns", "10.0.2.2");
	h_setup(NULL, NULL);
	h_set_cmdline("dns", NULL);
	learn_peer();
	memset(&got, 0, sizeof(got));
	t0 = host_now_ns;
	CHECK_EQ(dns_resolve("gone.test", on_answer, NULL), 0);
	CHECK(sent_query(0, "gone.test", &id, &port));
	h_clear_tx();
	h_advance_ns(SEC - 1);
	CHECK_EQ(h_ntx, 0);
	h_advance_ns(1);
	CHECK_EQ(h_ntx, 1);
	CHECK(sent_query(0, "gone.test", &id2, &port2));
	CHECK_EQ(id2, id);
	CHECK_EQ(port2, port);
	h_clear_tx();
	h_advance_ns(2 * SEC);
	CHECK_EQ(h_ntx, 1);
	h_clear_tx();
	h_advance_ns(4 * SEC - 1);
	CHECK_EQ(got.calls, 0);
	h_advance_ns(1);
	CHECK_EQ(got.calls, 1);
	CHECK_EQ(got.err, -ETIMEDOUT);
	CHECK_EQ(host_now_ns - t0, 7 * SEC);
	CHECK_EQ(dns_stats.queries, 1);
	CHECK_EQ(dns_stats.retransmits, 2);
	CHECK_EQ(dns_stats.timeouts, 1);
	CHECK(!udp_port_bound(port));
	CHECK_EQ(h_ntx, 0);
	CHECK_EQ(h_leaked(), 0);
}

static void test_resolve_refusals(void)
{
	h_setup(NULL, NULL);
	memset(&got, 0, sizeof(got));
	CHECK_EQ(dns_resolve("a.test", on_answer, NULL), -EDESTADDRREQ);
	dns_set_server(h_peer_ip, DNS_SRC_CMDLINE);
	CHECK_EQ(dns_resolve("a..test", on_answer, NULL), -EINVAL);
	CHECK_EQ(dns_resolve("a.test", NULL, NULL), -EINVAL);
	learn_peer();
	for (unsigned i = 0; i < DNS_MAX_PENDING; i++)
		CHECK_EQ(dns_resolve("a.test", on_answer, NULL), 0);
	CHECK_EQ(dns_resolve("a.test", on_answer, NULL), -EBUSY);
	dns_cancel(on_answer, NULL);
	CHECK_EQ(dns_pending(), 0);
	h_advance_ns(10 * SEC);
	CHECK_EQ(got.calls, 0); /* cancelled: never called */
	h_clear_tx();
	h_setup("dhcp", NULL);
	dns_set_server(h_peer_ip, DNS_SRC_CMDLINE);
	CHECK_EQ(dns_resolve("a.test", on_answer, NULL), -ENETDOWN);
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

/* The server: DHCP option 6 (its first address), requested in the parameter list; dns= on
 * the command line wins; the lease's end takes DHCP's away. */
static void test_server_from_dhcp(void)
{
	static u8 rep[600], seg[700], pkt[800];
	struct dhcp_msg *m = (void *)rep;
	u8 *o;
	unsigned n;
	u32 xid;

	for (int with_cmdline = 0; with_cmdline < 2; with_cmdline++) {
		h_set_cmdline("dns", with_cmdline ? "10.0.2.9" : NULL);
		h_setup("dhcp", NULL);
		h_advance_ns(0);
		CHECK_EQ(h_ntx, 1);
		xid = ntohl(((const struct dhcp_msg *)(h_l4(0) + UDP_HLEN))->xid);
		{
			const u8 *p = h_l4(0) + UDP_HLEN + DHCP_FIXED_LEN;
			bool asks = false;

			while (*p != DHO_END) {
				if (*p == DHO_PARAM_REQ)
					asks = memchr(p + 2, DHO_DNS, p[1]) != NULL;
				p += 2 + p[1];
			}
			CHECK(asks);
		}
		h_clear_tx();
		for (int step = 0; step < 2; step++) { /* OFFER, then ACK */
			memset(rep, 0, sizeof(rep));
			m->op = BOOTREPLY;
			m->htype = 1;
			m->hlen = 6;
			m->xid = htonl(xid);
			m->yiaddr = IPV4(10, 0, 2, 15);
			memcpy(m->chaddr, h_our_mac, 6);
			m->magic = htonl(DHCP_MAGIC);
			o = m->options;
			*o++ = DHO_MSG_TYPE;
			*o++ = 1;
			*o++ = step ? DHCPACK : DHCPOFFER;
			*o++ = DHO_SERVER_ID;
			*o++ = 4;
			memcpy(o, &h_peer_ip, 4);
			o += 4;
			*o++ = DHO_SUBNET_MASK;
			*o++ = 4;
			put_be32(o, 0xffffff00);
			o += 4;
			*o++ = DHO_DNS;
			*o++ = 8;
			put_be32(o, 0x0a000203);
			put_be32(o + 4, 0x0a000204);
			o += 8;
			*o++ = DHO_END;
			n = h_udp(seg, h_peer_ip, INADDR_BROADCAST_BE, UDP_PORT_BOOTPS, UDP_PORT_BOOTPC, rep, 300, true);
			n = h_ipv4(pkt, h_peer_ip, INADDR_BROADCAST_BE, IPPROTO_UDP, seg, n);
			h_inject(h_frame(eth_broadcast_addr, h_peer_mac, ETH_P_IP, pkt, n));
		}
		for (u64 end = host_now_ns + 10 * SEC; dhcp.state == DHCP_CHECKING && host_now_ns < end;)
			h_advance_ns(100000000);
		CHECK_EQ(dhcp.state, DHCP_BOUND);
		CHECK_EQ(dns_server(), with_cmdline ? IPV4(10, 0, 2, 9) : IPV4(10, 0, 2, 3));
		dhcp_release();
		for (u64 end = host_now_ns + 5 * SEC; dhcp.state == DHCP_RELEASING && host_now_ns < end;)
			h_advance_ns(100000000);
		CHECK_EQ(dns_server(), with_cmdline ? IPV4(10, 0, 2, 9) : 0);
		h_clear_tx();
	}
	h_set_cmdline("dns", "no.such");
	host_log_clear();
	h_setup(NULL, NULL);
	CHECK_EQ(dns_server(), 0);
	CHECK(strstr(host_log, "net: dns=no.such is not an address"));
	h_set_cmdline("dns", NULL);
	CHECK_EQ(h_leaked(), 0);
}

/* Names in a response (RFC 1035 2.3.4, 4.1.4): a name of DNS_MAX_NAME (253) characters is a
 * name, one more is not; a label type other than 00 (a length) or 11 (a pointer) is not ours
 * to read (RFC 6891 5: 01 is extended, 10 reserved); a question cut short after its name has
 * no type and class. */
static void test_parse_name_limits(void)
{
	char name[DNS_MAX_NAME + 2];
	struct dns_answer a;

	/* 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 */
	memset(name, 'a', sizeof(name));
	name[63] = name[127] = name[191] = '.';
	name[253] = '\0';
	begin(0x4321, RESP, 1, name);
	rr_a(0, 300, 10, 0, 2, 5);
	CHECK_EQ(parse(0x4321, name, &a), 0);
	CHECK_EQ(a.addr, IPV4(10, 0, 2, 5));
	name[253] = 'a'; /* 254 */
	name[254] = '\0';
	begin(0x4321, RESP, 1, name);
	rr_a(0, 300, 10, 0, 2, 5);
	CHECK_EQ(parse(0x4321, name, &a), -EPROTO);
	/* an extended label type (01xxxxxx) where the question's first label starts */
	begin(0x4321, RESP, 1, "host.test");
	rr_a(0, 300, 10, 0, 2, 5);
	msg[DNS_HLEN] = 0x44;
	CHECK_EQ(parse(0x4321, "host.test", &a), -EPROTO);
	msg[DNS_HLEN] = 0x84; /* 10xxxxxx: reserved */
	CHECK_EQ(parse(0x4321, "host.test", &a), -EPROTO);
	/* the question's name and nothing after it */
	header(0x4321, RESP, 0);
	put_name("host.test");
	CHECK_EQ(parse(0x4321, "host.test", &a), -EPROTO);
	put16(DNS_TYPE_A); /* half of the rest */
	CHECK_EQ(parse(0x4321, "host.test", &a), -EPROTO);
}

/* ifconfig's dns line counts the names cached, until their TTL is over: at exactly the TTL
 * the name is gone (as a lookup then finds it gone). */
static void test_describe_counts_cached(void)
{
	u16 id, port;

	h_set_cmdline("dns", "10.0.2.2");
	h_setup(NULL, NULL);
	h_set_cmdline("dns", NULL);
	learn_peer();
	memset(&got, 0, sizeof(got));
	CHECK_EQ(dns_resolve("host.test", on_answer, NULL), 0);
	CHECK(sent_query(0, "host.test", &id, &port));
	h_clear_tx();
	host_log_clear();
	dns_describe();
	CHECK_STR(host_log, "  dns: server 10.0.2.2 (dns=), 0 names cached, 1 queries in flight\n");
	begin(id, RESP, 1, "host.test");
	rr_a(0, 30, 10, 0, 2, 77);
	h_inject_udp(DNS_PORT, port, msg, mlen);
	CHECK_EQ(got.calls, 1);
	host_log_clear();
	dns_describe();
	CHECK_STR(host_log, "  dns: server 10.0.2.2 (dns=), 1 names cached, 0 queries in flight\n");
	h_advance_ns(30 * SEC);
	host_log_clear();
	dns_describe();
	CHECK_STR(host_log, "  dns: server 10.0.2.2 (dns=), 0 names cached, 0 queries in flight\n");
	CHECK_EQ(dns_resolve("host.test", on_answer, NULL), 0);
	CHECK_EQ(h_ntx, 1); /* asked again, not from the cache */
	dns_reset();
	h_clear_tx();
	CHECK_EQ(h_leaked(), 0);
}

int main(void)
{
	RUN(test_names);
	RUN(test_query_bytes);
	RUN(test_parse_answers);
	RUN(test_parse_not_ours_and_errors);
	RUN(test_parse_hostile);
	RUN(test_resolve_and_cache);
	RUN(test_forged_answers_ignored);
	RUN(test_retries_and_timeout);
	RUN(test_resolve_refusals);
	RUN(test_server_from_dhcp);
	RUN(test_parse_name_limits);
	RUN(test_describe_counts_cached);
	return unit_summary("net_dns");
}
