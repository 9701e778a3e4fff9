/*
 * net/dns.c - the DNS stub resolver (net/dns.h): names, the query, the response parser that
 * trusts nothing, the queries in flight with their retries, and the cache.
 *
 * Message layout (RFC 1035 4.1): a 12-byte header (id, flags, four counts), the question
 * (name, type, class), then resource records (name, type, class, TTL, data length, data).
 * A name is a run of labels, each a length byte and that many bytes, ending with a zero byte
 * or a compression pointer (two bytes, top bits 11, the offset of the rest of the name in the
 * message; RFC 1035 4.1.4).
 */
#include "kernel/errno.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "kernel/time.h"
#include "net/dns.h"
#include "net/inet.h"
#include "net/inet_addr.h"
#include "net/netdev.h"
#include "net/udp.h"

struct dns_stats dns_stats;
#define DNS_STAT(f) NET_STAT(struct dns_stats, f)
static const struct net_stat_desc dns_stat_desc[] = { DNS_STATS(DNS_STAT) };

/* ---- names ------------------------------------------------------------------------------- */

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int dns_normalize(const char *name, char *out)
{
	size_t len = strlen(name);
	unsigned label = 0;

	if (len && name[len - 1] == '.')
		len--; /* the root's dot: "example.org." is "example.org" */
	if (len == 0 || len > DNS_MAX_NAME)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = lower(name[i]);

		if (c == '.') {
			if (label == 0)
				return -EINVAL; /* an empty label */
			label = 0;
		} else if (!name_char(c) || ++label > DNS_MAX_LABEL) {
			return -EINVAL;
		}
		out[i] = c;
	}
	if (label == 0)
		return -EINVAL;
	out[len] = '\0';
	return 0;
}

int dns_build_query(u8 *out, unsigned cap, u16 id, const char *name)
{
	size_t len = strlen(name);
	unsigned n = DNS_HLEN, start = 0;

	if (cap < DNS_HLEN + len + 2 + 4)
		return -EINVAL;
	memset(out, 0, DNS_HLEN);
	put_be16(out, id);
	put_be16(out + 2, DNS_FLAG_RD); /* a query, opcode 0, recursion desired */
	put_be16(out + 4, 1);           /* one question */
	for (size_t i = 0; i <= len; i++) {
		if (i == len || name[i] == '.') {
			out[n++] = (u8)(i - start);
			memcpy(out + n, name + start, i - start);
			n += (unsigned)(i - start);
			start = (unsigned)i + 1;
		}
	}
	out[n++] = 0;
	put_be16(out + n, DNS_TYPE_A);
	put_be16(out + n + 2, DNS_CLASS_IN);
	return (int)(n + 4);
}

/* The name at off in msg, in normal form (lower case, dots) into out (DNS_MAX_NAME + 1 bytes),
 * and where the bytes after it start (*after: past its first pointer, or its zero byte).
 * Every pointer must go below the lowest place read so far, so a chain of them cannot come
 * back (a loop) and ends; at most DNS_MAX_JUMPS. -EPROTO for anything off: past the end, a
 * label type other than 00 and 11 (RFC 1035 4.1.4; RFC 6891's 01 is not ours), a label with
 * a dot or a NUL, more than DNS_MAX_NAME bytes. */
static int read_name(const u8 *msg, unsigned len, unsigned off, char *out, unsigned *after)
{
	unsigned pos = off, lowest = off, n = 0, jumps = 0;
	bool jumped = false;

	for (;;) {
		unsigned c;

		if (pos >= len)
			return -EPROTO;
		c = msg[pos];
		if ((c & 0xc0) == 0xc0) {
			unsigned target;

			if (pos + 1 >= len)
				return -EPROTO;
			target = (c & 0x3f) << 8 | msg[pos + 1];
			if (!jumped)
				*after = pos + 2;
			if (target >= lowest || ++jumps > DNS_MAX_JUMPS)
				return -EPROTO;
			jumped = true;
			pos = lowest = target;
			continue;
		}
		if (c & 0xc0)
			return -EPROTO;
		if (c == 0)
			break;
		if (pos + 1 + c > len || n + (n ? 1 : 0) + c > DNS_MAX_NAME)
			return -EPROTO;
		if (n)
			out[n++] = '.';
		for (unsigned i = 0; i < c; i++) {
			char ch = lower((char)msg[pos + 1 + i]);

			if (ch == '.' || ch == '\0')
				return -EPROTO;
			out[n++] = ch;
		}
		pos += 1 + c;
	}
	if (!jumped)
		*after = pos + 1;
	out[n] = '\0';
	return 0;
}

/* ---- the response ---------------------------------------------------------------------- */

struct rr {
	char owner[DNS_MAX_NAME + 1];
	u16 type, class;
	u32 ttl;
	unsigned rdata, rdlen; /* offset and length of the data */
};

/* The resource record at *off, *off moved past it. */
static int read_rr(const u8 *msg, unsigned len, unsigned *off, struct rr *r)
{
	unsigned p;

	if (read_name(msg, len, *off, r->owner, &p) || p + 10 > len)
		return -EPROTO;
	r->type = get_be16(msg + p);
	r->class = get_be16(msg + p + 2);
	r->ttl = get_be32(msg + p + 4);
	r->rdlen = get_be16(msg + p + 8);
	r->rdata = p + 10;
	if (r->rdata + r->rdlen > len)
		return -EPROTO;
	*off = r->rdata + r->rdlen;
	return 0;
}

/* RFC 2181 8: a TTL with the top bit set is taken as 0; ours are also cut to a day. */
static u32 ttl_of(u32 ttl) { return ttl & 0x80000000u ? 0 : MIN(ttl, (u32)DNS_MAX_TTL_S); }

static int rcode_error(unsigned rcode)
{
	switch (rcode) {
	case 0:
		return 0;
	case DNS_RCODE_NXDOMAIN:
		return -ENOENT;
	case DNS_RCODE_SERVFAIL:
		return -EAGAIN;
	case DNS_RCODE_REFUSED:
		return -ECONNREFUSED;
	default:
		return -EIO;
	}
}

int dns_parse_response(const u8 *msg, unsigned len, u16 id, const char *name, struct dns_answer *ans)
{
	static char qname[DNS_MAX_NAME + 1], cur[DNS_MAX_NAME + 1];
	static struct rr r;
	unsigned flags, ancount, off, answers;
	u32 ttl = DNS_MAX_TTL_S;
	int err;

	if (len < DNS_HLEN)
		return -EPROTO;
	flags = get_be16(msg + 2);
	/* the header and the question must be ours (RFC 5452 9.1: id, question, source) */
	if (get_be16(msg) != id || !(flags & DNS_FLAG_QR) || (flags >> 11 & 0xf) != 0 || get_be16(msg + 4) != 1)
		return -ENOMSG;
	if (read_name(msg, len, DNS_HLEN, qname, &off) || off + 4 > len)
		return -EPROTO;
	if (strcmp(qname, name) != 0 || get_be16(msg + off) != DNS_TYPE_A || get_be16(msg + off + 2) != DNS_CLASS_IN)
		return -ENOMSG;
	off += 4;
	if (flags & DNS_FLAG_TC)
		return -EMSGSIZE;
	err = rcode_error(flags & 0xf);
	if (err)
		return err;
	/* Every answer record must be whole, whatever it is; then the chain is followed from the
	 * name asked: an A record of the current name ends it, a CNAME of it moves it on. */
	ancount = get_be16(msg + 6);
	answers = off;
	for (unsigned i = 0; i < ancount; i++)
		if (read_rr(msg, len, &off, &r))
			return -EPROTO;
	memcpy(cur, name, strlen(name) + 1);
	for (unsigned links = 0; links <= DNS_MAX_CNAMES; links++) {
		bool moved = false;

		off = answers;
		for (unsigned i = 0; i < ancount && !moved; i++) {
			unsigned after;

			read_rr(msg, len, &off, &r); /* checked above */
			if (r.class != DNS_CLASS_IN || strcmp(r.owner, cur) != 0)
				continue;
			if (r.type == DNS_TYPE_A && r.rdlen == 4) {
				memcpy(&ans->addr, msg + r.rdata, 4);
				ans->ttl = MIN(ttl, ttl_of(r.ttl));
				return 0;
			}
			if (r.type == DNS_TYPE_CNAME) {
				if (read_name(msg, r.rdata + r.rdlen, r.rdata, cur, &after) || after != r.rdata + r.rdlen)
					return -EPROTO;
				ttl = MIN(ttl, ttl_of(r.ttl));
				moved = true;
			}
		}
		if (!moved)
			break;
	}
	return -ENODATA;
}

/* ---- the cache ------------------------------------------------------------------------------ */

struct cache_entry {
	char name[DNS_MAX_NAME + 1]; /* "" : empty */
	be32 addr;
	u64 expires_ns;
};
static struct cache_entry cache[DNS_CACHE_SIZE];

static struct cache_entry *cache_find(const char *name)
{
	u64 now = now_ns();

	for (unsigned i = 0; i < DNS_CACHE_SIZE; i++)
		if (cache[i].name[0] && now < cache[i].expires_ns && strcmp(cache[i].name, name) == 0)
			return &cache[i];
	return NULL;
}

/* The entry for name if there is one, else an empty or expired one, else the one that
 * expires first. */
static void cache_put(const char *name, be32 addr, u32 ttl)
{
	struct cache_entry *e = NULL;
	u64 now = now_ns();

	if (ttl == 0)
		return; /* RFC 1035 3.2.1: TTL 0, use for this transaction only */
	for (unsigned i = 0; i < DNS_CACHE_SIZE && !e; i++)
		if (strcmp(cache[i].name, name) == 0)
			e = &cache[i];
	for (unsigned i = 0; i < DNS_CACHE_SIZE && !e; i++)
		if (!cache[i].name[0] || now >= cache[i].expires_ns)
			e = &cache[i];
	if (!e) {
		e = &cache[0];
		for (unsigned i = 1; i < DNS_CACHE_SIZE; i++)
			if (cache[i].expires_ns < e->expires_ns)
				e = &cache[i];
	}
	memcpy(e->name, name, strlen(name) + 1);
	e->addr = addr;
	e->expires_ns = now + (u64)ttl * NSEC_PER_SEC;
}

static void cache_flush(void) { memset(cache, 0, sizeof(cache)); }

/* ---- queries in flight ---------------------------------------------------------------------- */

struct dns_query {
	bool used;
	char name[DNS_MAX_NAME + 1];
	u16 id, port;
	be32 server;
	unsigned tries;
	u64 wait_ns;
	struct timer timer;
	dns_callback_t cb;
	void *ctx;
};
static struct dns_query queries[DNS_MAX_PENDING];
static bool timers_ready;
static be32 server;
static enum dns_source server_src;

static void finish(struct dns_query *q, int err, be32 addr)
{
	char name[DNS_MAX_NAME + 1];
	dns_callback_t cb = q->cb;
	void *ctx = q->ctx;

	timer_cancel(&q->timer);
	udp_unbind(q->port);
	q->used = false;
	memcpy(name, q->name, sizeof(name));
	cb(ctx, name, err, addr); /* last: it may start another query in this slot */
}

static int send_query(struct dns_query *q)
{
	u8 msg[DNS_MAX_MSG];
	int len = dns_build_query(msg, sizeof(msg), q->id, q->name);
	int err = len < 0 ? len : udp_sendto(q->server, q->port, DNS_PORT, msg, (size_t)len);

	if (err)
		dns_stats.tx_errors++;
	return err;
}

static void query_timer(struct timer *t)
{
	struct dns_query *q = container_of(t, struct dns_query, timer);

	if (!q->used)
		return;
	if (!inet_configured()) {
		finish(q, -ENETDOWN, 0);
		return;
	}
	if (q->tries >= DNS_TRIES) {
		dns_stats.timeouts++;
		finish(q, -ETIMEDOUT, 0);
		return;
	}
	q->tries++;
	dns_stats.retransmits++;
	send_query(q); /* a failed send is a lost one: the next try covers it */
	q->wait_ns *= 2;
	timer_arm(&q->timer, q->wait_ns);
}

/* A datagram to a query's port. Only the server's port 53 may answer, and only with this
 * query's id and question; anything else is counted and the query goes on waiting, so a
 * forger must guess the port and the id before the real answer comes (RFC 5452). */
static void dns_input(void *ctx, struct netbuf *nb, const struct udp_meta *m)
{
	struct dns_query *q = ctx;
	struct dns_answer ans;
	int err;

	if (m->saddr != q->server || m->sport != DNS_PORT || m->link_multicast) {
		dns_stats.rx_wrong_source++;
		netbuf_free(nb);
		return;
	}
	err = dns_parse_response(nb->data, netbuf_len(nb), q->id, q->name, &ans);
	netbuf_free(nb);
	switch (err) {
	case -ENOMSG:
		dns_stats.rx_mismatch++;
		return;
	case -EPROTO:
		dns_stats.rx_malformed++;
		return;
	case 0:
		dns_stats.answers++;
		cache_put(q->name, ans.addr, ans.ttl);
		finish(q, 0, ans.addr);
		return;
	case -ENOENT:
		dns_stats.nxdomain++;
		break;
	case -ENODATA:
		dns_stats.nodata++;
		break;
	case -EMSGSIZE:
		dns_stats.truncated++;
		break;
	default:
		dns_stats.server_errors++;
	}
	finish(q, err, 0);
}

int dns_resolve(const char *name, dns_callback_t cb, void *ctx)
{
	char norm[DNS_MAX_NAME + 1];
	struct cache_entry *e;
	struct dns_query *q = NULL;
	int err;

	if (!cb || dns_normalize(name, norm))
		return -EINVAL;
	e = cache_find(norm);
	if (e) {
		dns_stats.cache_hits++;
		cb(ctx, norm, 0, e->addr);
		return 0;
	}
	if (!server)
		return -EDESTADDRREQ;
	if (!inet_configured())
		return -ENETDOWN;
	if (!timers_ready) {
		for (unsigned i = 0; i < DNS_MAX_PENDING; i++)
			timer_setup(&queries[i].timer, query_timer);
		timers_ready = true;
	}
	for (unsigned i = 0; i < DNS_MAX_PENDING && !q; i++)
		if (!queries[i].used)
			q = &queries[i];
	if (!q)
		return -EBUSY;
	err = udp_bind(0, dns_input, q); /* a random port of 49152..65535, this query's alone */
	if (err < 0)
		return -ENOSPC;
	q->port = (u16)err;
	memcpy(q->name, norm, sizeof(norm));
	q->id = (u16)inet_random();
	q->server = server;
	q->tries = 1;
	q->wait_ns = DNS_RETRY_FIRST_NS;
	q->cb = cb;
	q->ctx = ctx;
	err = send_query(q);
	if (err) { /* no buffer, no route to the server: nothing to wait for */
		udp_unbind(q->port);
		return err;
	}
	q->used = true;
	dns_stats.queries++;
	timer_arm(&q->timer, q->wait_ns);
	return 0;
}

void dns_cancel(dns_callback_t cb, void *ctx)
{
	for (unsigned i = 0; i < DNS_MAX_PENDING; i++) {
		struct dns_query *q = &queries[i];

		if (q->used && q->cb == cb && q->ctx == ctx) {
			timer_cancel(&q->timer);
			udp_unbind(q->port);
			q->used = false;
		}
	}
}

unsigned dns_pending(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < DNS_MAX_PENDING; i++)
		n += queries[i].used;
	return n;
}

/* ---- configuration ----------------------------------------------------------------------- */

void dns_set_server(be32 addr, enum dns_source src)
{
	char ip[INET_ADDRSTRLEN];

	if (src == DNS_SRC_DHCP && server_src == DNS_SRC_CMDLINE)
		return; /* the command line's choice stands */
	if (addr != server)
		cache_flush();
	server = addr;
	server_src = addr ? src : DNS_SRC_NONE;
	if (addr)
		printk("dns: server %s (%s)\n", inet_fmt(ip, addr), src == DNS_SRC_DHCP ? "dhcp" : "dns=");
}

be32 dns_server(void) { return server; }

void dns_forget_dhcp_server(void)
{
	if (server_src == DNS_SRC_DHCP)
		dns_set_server(0, DNS_SRC_NONE);
}

void dns_reset(void)
{
	for (unsigned i = 0; i < DNS_MAX_PENDING; i++)
		if (queries[i].used)
			dns_cancel(queries[i].cb, queries[i].ctx);
	cache_flush();
	server = 0;
	server_src = DNS_SRC_NONE;
}

void dns_describe(void)
{
	char ip[INET_ADDRSTRLEN];
	unsigned cached = 0;

	if (!server)
		return;
	for (unsigned i = 0; i < DNS_CACHE_SIZE; i++)
		cached += cache[i].name[0] && now_ns() < cache[i].expires_ns;
	printk("  dns: server %s (%s), %u names cached, %u queries in flight\n", inet_fmt(ip, server),
	       server_src == DNS_SRC_DHCP ? "dhcp" : "dns=", cached, dns_pending());
}

void dns_print_stats(void)
{
	net_stats_print_line("dns", dns_stat_desc, ARRAY_SIZE(dns_stat_desc), &dns_stats);
}

void dns_zero_stats(void) { memset(&dns_stats, 0, sizeof(dns_stats)); }
