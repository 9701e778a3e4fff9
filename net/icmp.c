/*
 * net/icmp.c - ICMP for a host (RFC 792, RFC 1122 3.2.2): echo replies built in the received
 * buffer, destination-unreachable errors under a token bucket, and ping's request/reply
 * bookkeeping (the shell command that drives it is in net/stack_cmds.c).
 */
#include "kernel/errno.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "kernel/time.h"
#include "net/checksum.h"
#include "net/icmp.h"
#include "net/inet.h"
#include "net/inet_addr.h"
#include "net/ipv4.h"
#include "net/udp.h"

struct icmp_stats icmp_stats;
#define ICMP_STAT(f) NET_STAT(struct icmp_stats, f)
static const struct net_stat_desc icmp_stat_desc[] = { ICMP_STATS(ICMP_STAT) };
static struct ping_session *ping_active;

/* The error token bucket: tokens accrue one per interval up to the burst. */
static unsigned rate_tokens = ICMP_RATE_BURST;
static u64 rate_last_ns;

static bool rate_allow(void)
{
	u64 now = now_ns();
	u64 earned = (now - rate_last_ns) / ICMP_RATE_INTERVAL_NS;

	if (earned) {
		rate_tokens = (unsigned)MIN((u64)ICMP_RATE_BURST, rate_tokens + earned);
		rate_last_ns += earned * ICMP_RATE_INTERVAL_NS;
	}
	if (rate_tokens == ICMP_RATE_BURST)
		rate_last_ns = now; /* a full bucket does not bank time */
	if (!rate_tokens)
		return false;
	rate_tokens--;
	return true;
}

void icmp_reset(void)
{
	rate_tokens = ICMP_RATE_BURST;
	rate_last_ns = now_ns();
	ping_active = NULL;
}

static void icmp_drop(struct netbuf *nb, u64 *counter)
{
	(*counter)++;
	netbuf_free(nb);
}

/* The time an IP timestamp option records (RFC 791 3.1): milliseconds since midnight UT,
 * which we do not know -- so, as RFC 791 allows, another time with the high-order bit set:
 * milliseconds since boot, modulo a day. */
static u32 ip_timestamp(void)
{
	return (u32)(now_ns() / NSEC_PER_MSEC % (24ull * 3600 * 1000)) | 0x80000000u;
}

/* A source route received complete (pointer past its end) reversed for the reply (RFC 1122
 * 3.2.2.6 MUST, 3.2.1.8 (c)): it holds the addresses A1..An the routers recorded; the reply
 * goes to An, its option listing An-1 .. A1 and then the requester, pointer at the start. */
static bool reverse_source_route(u8 *o, unsigned olen, be32 requester, be32 *first_hop)
{
	unsigned n = (olen - 3) / 4;
	u8 addrs[IPV4_MAX_HLEN];

	if ((olen - 3) % 4 || n == 0 || o[2] <= olen)
		return false; /* malformed, or not complete: we are not a router (RFC 1122 3.3.5) */
	memcpy(addrs, o + 3, n * 4);
	memcpy(first_hop, addrs + (n - 1) * 4, 4);
	for (unsigned i = 0; i + 1 < n; i++)
		memcpy(o + 3 + i * 4, addrs + (n - 2 - i) * 4, 4);
	memcpy(o + 3 + (n - 1) * 4, &requester, 4);
	o[2] = 4;
	return true;
}

/* RFC 1122 3.2.2.6: the options of an echo request go back in the reply. Record route and
 * timestamp get our entry (RFC 791 3.1: at the pointer, the pointer moved on; no room: record
 * route is left as it is, timestamp counts an overflow, and a count already at 15 makes the
 * datagram one in error), so the route is the round trip's; a
 * complete source route is reversed and the reply goes to its last hop (*daddr). opts holds
 * optlen bytes, edited in place. False when an option is malformed or a source route is not
 * complete: such a request is not answered. */
static bool echo_reflect_options(u8 *opts, unsigned optlen, be32 *daddr)
{
	be32 me = inet_addr();
	bool routed = false;

	for (unsigned i = 0; i < optlen;) {
		u8 *o = opts + i, type = o[0];
		unsigned olen, ptr;

		if (type == IPOPT_END)
			break;
		if (type == IPOPT_NOP) {
			i++;
			continue;
		}
		if (optlen - i < 2 || o[1] < 2 || o[1] > optlen - i)
			return false;
		olen = o[1];
		ptr = olen >= 3 ? o[2] : 0;
		switch (type) {
		case IPOPT_RR:
			if (olen < 3 || ptr < 4)
				return false;
			if (ptr + 3 <= olen) { /* room for 4 bytes at ptr - 1 */
				memcpy(o + ptr - 1, &me, 4);
				o[2] = (u8)(ptr + 4);
			}
			break;
		case IPOPT_TS: {
			unsigned flag = olen >= 4 ? o[3] & 0x0f : 0, entry = flag == 0 ? 4 : 8;
			bool ours = true;

			if (olen < 4 || ptr < 5 || (flag != 0 && flag != 1 && flag != 3))
				return false;
			if (ptr + entry - 1 > olen) { /* full: count an overflow */
				if ((o[3] >> 4) == 15)
					return false; /* RFC 791: the count itself overflows: in error */
				o[3] = (u8)(o[3] + 0x10);
				break;
			}
			if (flag == 3) /* prespecified addresses: only when the next one is ours */
				ours = memcmp(o + ptr - 1, &me, 4) == 0;
			if (!ours)
				break;
			if (flag == 1)
				memcpy(o + ptr - 1, &me, 4);
			put_be32(o + ptr - 1 + entry - 4, ip_timestamp());
			o[2] = (u8)(ptr + entry);
			break;
		}
		case IPOPT_LSRR:
		case IPOPT_SSRR:
			if (routed || !reverse_source_route(o, olen, *daddr, daddr))
				return false; /* RFC 1122 3.2.1.8: at most one source route */
			routed = true;
			break;
		default:
			break; /* reflected as it came */
		}
		i += olen;
	}
	return true;
}

/* Where the reply to the echo request in nb goes and with which options: to its source with
 * its options reflected (echo_reflect_options, into opts). False when they are malformed. */
static bool echo_reply_header(const struct netbuf *nb, struct ip_tx *tx, u8 *opts)
{
	const struct iphdr *ip = ip_hdr(nb);

	tx->saddr = inet_addr();
	tx->daddr = ip->saddr;
	tx->protocol = IPPROTO_ICMP;
	tx->optlen = ip_hdrlen(ip) - IPV4_HLEN;
	tx->opts = tx->optlen ? opts : NULL;
	memcpy(opts, ip + 1, tx->optlen); /* the reply's header will be written over them */
	return echo_reflect_options(opts, tx->optlen, &tx->daddr);
}

/* Echo request -> echo reply in the same buffer. Only the type byte changes in the ICMP
 * message, so the checksum is updated (RFC 1624) instead of recomputed over the payload. tx
 * says where it goes, with the request's options (echo_reply_header). */
static void icmp_echo_reply(struct netbuf *nb, struct icmphdr *ic, const struct ip_tx *tx)
{
	/* LAB:SOLUTION stage6 icmp_echo_reply */
	u16 old_word = (u16)(ic->type << 8 | ic->code);

	if (ipv4_rx_dest(nb) != IP_DEST_UNICAST) {
		/* RFC 1122 3.2.2.6 lets a host ignore broadcast echo; we do (no amplification). */
		icmp_drop(nb, ipv4_rx_dest(nb) == IP_DEST_BROADCAST ? &icmp_stats.rx_echo_broadcast_ignored
								  : &icmp_stats.rx_echo_unconfigured);
		return;
	}
	if (nb->link_multicast) { /* RFC 1122 3.3.6: unicast in a link-layer broadcast: discard */
		icmp_drop(nb, &icmp_stats.rx_echo_link_bcast_ignored);
		return;
	}
	ic->type = ICMP_ECHOREPLY;
	ic->checksum = htons(inet_csum_update16(ntohs(ic->checksum), old_word, (u16)(ic->type << 8 | ic->code)));
	icmp_stats.tx_echo_replies++;
	if (ipv4_output_opts(nb, tx) < 0)
		icmp_stats.tx_errors++;
	/* LAB:END */
}

static void ping_on_reply(struct netbuf *nb, const struct icmphdr *ic);
static void ping_on_error(struct netbuf *nb, const struct icmphdr *ic);

void icmp_input(struct netbuf *nb)
{
	struct icmphdr *ic = (void *)nb->data;

	icmp_stats.rx_packets++;
	if (netbuf_len(nb) < ICMP_HLEN) {
		icmp_drop(nb, &icmp_stats.rx_runt);
		return;
	}
	if (inet_csum(nb->data, netbuf_len(nb)) != 0) {
		icmp_drop(nb, &icmp_stats.rx_bad_csum);
		return;
	}
	switch (ic->type) {
	case ICMP_ECHO: {
		u8 opts[IPV4_MAX_HLEN - IPV4_HLEN];
		struct ip_tx tx;

		icmp_stats.rx_echo_requests++;
		if (!echo_reply_header(nb, &tx, opts)) {
			icmp_drop(nb, &icmp_stats.rx_echo_bad_options);
			return;
		}
		if (tx.optlen && ipv4_rx_dest(nb) == IP_DEST_UNICAST && !nb->link_multicast)
			icmp_stats.tx_echo_options++;
		icmp_echo_reply(nb, ic, &tx);
		return;
	}
	case ICMP_ECHOREPLY:
		icmp_stats.rx_echo_replies++;
		ping_on_reply(nb, ic);
		break;
	case ICMP_DEST_UNREACH:
	case ICMP_TIME_EXCEEDED:
		if (ic->type == ICMP_DEST_UNREACH)
			icmp_stats.rx_dest_unreach++;
		else
			icmp_stats.rx_time_exceeded++;
		/* RFC 1122 3.2.2.1, 4.1.3.3: the transport hears of errors about what it sent */
		udp_icmp_error(nb->data + ICMP_HLEN, netbuf_len(nb) - ICMP_HLEN, ic->type, ic->code, ntohs(ic->sequence));
		ping_on_error(nb, ic);
		break;
	default:
		icmp_stats.rx_other_types++;
	}
	netbuf_free(nb);
}

/* RFC 1122 3.2.2: never answer an ICMP error, a datagram to an IPv4 broadcast or multicast
 * address or one that came as a link-layer broadcast or multicast, or a source that does not
 * name a single host. NULL when an error may be sent, else the counter saying why not (the
 * link-layer case only when nothing else forbids it). */
static u64 *error_refused(const struct netbuf *nb)
{
	const struct iphdr *ip = ip_hdr(nb);

	if (ipv4_rx_dest(nb) != IP_DEST_UNICAST || !ipv4_is_valid_host(ip->saddr))
		return &icmp_stats.tx_error_suppressed;
	if (ip->protocol == IPPROTO_ICMP) {
		const struct icmphdr *ic = (const void *)(nb->head + nb->transport_off);
		unsigned have = (unsigned)(nb->tail - (u8 *)ic);

		/* only echo and echo reply are queries we know; anything else counts as an error */
		if (have < 1 || (ic->type != ICMP_ECHO && ic->type != ICMP_ECHOREPLY))
			return &icmp_stats.tx_error_suppressed;
	}
	if (nb->link_multicast)
		return &icmp_stats.tx_error_link_bcast;
	return NULL;
}

/* An error of type and code about the datagram in nb, built in the same buffer: the quote is
 * the original datagram from its IP header on, as much as fits in 576 bytes. */
static void icmp_send_error(struct netbuf *nb, u8 type, u8 code, u64 *sent)
{
	unsigned quoted, max_quote = MIN(ICMP_ERROR_MAX_TOTAL, ipv4_max_payload() + IPV4_HLEN) - IPV4_HLEN - ICMP_HLEN;
	struct iphdr *orig = ip_hdr(nb);
	be32 dest = orig->saddr;
	u64 *refused = error_refused(nb);
	struct icmphdr *ic;

	if (refused) {
		icmp_drop(nb, refused);
		return;
	}
	if (!rate_allow()) {
		icmp_drop(nb, &icmp_stats.tx_rate_limited);
		return;
	}
	nb->data = (u8 *)orig;
	quoted = MIN(netbuf_len(nb), max_quote);
	netbuf_trim(nb, quoted);
	ic = netbuf_push(nb, ICMP_HLEN);
	if (!ic) {
		icmp_drop(nb, &icmp_stats.tx_errors);
		return;
	}
	ic->type = type;
	ic->code = code;
	ic->checksum = 0;
	ic->id = 0;
	ic->sequence = 0;
	ic->checksum = htons(inet_csum(ic, netbuf_len(nb)));
	(*sent)++;
	if (ipv4_output(nb, inet_addr(), dest, IPPROTO_ICMP) < 0)
		icmp_stats.tx_errors++;
}

void icmp_send_unreach(struct netbuf *nb, u8 code)
{
	icmp_send_error(nb, ICMP_DEST_UNREACH, code, &icmp_stats.tx_dest_unreach);
}

void icmp_send_reasm_timeout(const void *ip, unsigned len, bool link_multicast)
{
	struct netbuf *nb = netbuf_alloc();
	u8 *p = nb ? netbuf_put(nb, MIN(len, ICMP_ERROR_MAX_TOTAL)) : NULL;

	if (!p) {
		netbuf_free(nb);
		icmp_stats.tx_errors++;
		return;
	}
	memcpy(p, ip, netbuf_len(nb));
	nb->network_off = (u16)(p - nb->head);
	nb->transport_off = (u16)(nb->network_off + ip_hdrlen(ip));
	nb->link_multicast = link_multicast;
	icmp_send_error(nb, ICMP_TIME_EXCEEDED, ICMP_EXC_FRAGTIME, &icmp_stats.tx_time_exceeded);
}

int icmp_send_echo(be32 dst, u16 id, u16 seq, unsigned size)
{
	struct netbuf *nb;
	struct icmphdr *ic;
	u8 *payload;

	if (!inet_dev())
		return -ENETDOWN;
	if (size > IPV4_MAX_SEND - ICMP_HLEN)
		return -EMSGSIZE;
	nb = ipv4_alloc_tx(ICMP_HLEN + size); /* larger than the MTU: sent in fragments */
	if (!nb)
		return -ENOBUFS;
	ic = netbuf_put(nb, ICMP_HLEN + size);
	if (!ic) {
		netbuf_free(nb);
		return -EMSGSIZE;
	}
	ic->type = ICMP_ECHO;
	ic->code = 0;
	ic->checksum = 0;
	ic->id = htons(id);
	ic->sequence = htons(seq);
	payload = (u8 *)(ic + 1);
	for (unsigned i = 0; i < size; i++)
		payload[i] = (u8)(seq + i);
	ic->checksum = htons(inet_csum(ic, ICMP_HLEN + size));
	icmp_stats.tx_echo_requests++;
	return ipv4_output(nb, inet_addr(), dst, IPPROTO_ICMP);
}

/* ---- ping ------------------------------------------------------------------------------------ */

static u16 ping_next_id = 0x7600;

int ping_begin(struct ping_session *ps, be32 dst, unsigned size)
{
	if (ping_active)
		return -EBUSY;
	if (!inet_dev())
		return -ENETDOWN;
	if (size > IPV4_MAX_SEND - ICMP_HLEN)
		return -EMSGSIZE;
	memset(ps, 0, sizeof(*ps));
	ps->dst = dst;
	ps->size = size;
	ps->id = ping_next_id++;
	ps->rtt_min = UINT64_MAX;
	ping_active = ps;
	return 0;
}

void ping_end(struct ping_session *ps)
{
	if (ping_active == ps)
		ping_active = NULL;
}

int ping_send_next(struct ping_session *ps)
{
	u32 seq = ps->transmitted + 1;
	unsigned slot = seq % PING_WINDOW;
	int err;

	ps->sent_ns[slot] = now_ns();
	ps->sent_seq[slot] = seq;
	ps->seen[slot] = false;
	ps->transmitted++;
	err = icmp_send_echo(ps->dst, ps->id, (u16)seq, ps->size);
	if (err)
		ps->send_failures++;
	return err;
}

bool ping_done(const struct ping_session *ps) { return ps->received + ps->errors >= ps->transmitted; }

static bool payload_ok(const u8 *p, unsigned len, u16 seq)
{
	for (unsigned i = 0; i < len; i++)
		if (p[i] != (u8)(seq + i))
			return false;
	return true;
}

static void ping_on_reply(struct netbuf *nb, const struct icmphdr *ic)
{
	struct ping_session *ps = ping_active;
	u16 seq16 = ntohs(ic->sequence);
	unsigned len = netbuf_len(nb), slot;
	char ip[INET_ADDRSTRLEN];
	u64 rtt, us;
	bool dup;
	u32 seq;

	if (!ps || ntohs(ic->id) != ps->id || ip_hdr(nb)->saddr != ps->dst)
		return;
	/* Widen the 16-bit sequence to the nearest one we sent. */
	seq = (ps->transmitted & ~0xffffu) | seq16;
	if (seq > ps->transmitted)
		seq -= 0x10000;
	slot = seq % PING_WINDOW;
	if (seq == 0 || ps->sent_seq[slot] != seq)
		return; /* too old to match, or never sent */
	if (len != ICMP_HLEN + ps->size || !payload_ok(nb->data + ICMP_HLEN, len - ICMP_HLEN, seq16)) {
		ps->corrupted++;
		if (!ps->quiet)
			printk("%u bytes from %s: icmp_seq=%u wrong data\n", len, inet_fmt(ip, ps->dst), seq);
		return;
	}
	rtt = now_ns() - ps->sent_ns[slot];
	dup = ps->seen[slot];
	if (dup) {
		ps->duplicates++;
	} else {
		ps->seen[slot] = true;
		ps->received++;
		ps->rtt_min = MIN(ps->rtt_min, rtt);
		ps->rtt_max = MAX(ps->rtt_max, rtt);
		ps->rtt_sum += rtt;
		us = rtt / 1000;
		ps->rtt_sq_sum += us * us;
	}
	if (!ps->quiet)
		printk("%u bytes from %s: icmp_seq=%u ttl=%u time=%llu.%03llu ms%s\n", len, inet_fmt(ip, ps->dst), seq,
		       ip_hdr(nb)->ttl, (rtt / 1000000), (rtt / 1000 % 1000),
		       dup ? " (DUP!)" : "");
}

/* An error about one of our requests: the quote holds our IP header and ICMP header. */
static void ping_on_error(struct netbuf *nb, const struct icmphdr *ic)
{
	struct ping_session *ps = ping_active;
	const struct iphdr *qip = (const void *)(nb->data + ICMP_HLEN);
	unsigned len = netbuf_len(nb) - ICMP_HLEN, qhl;
	const struct icmphdr *qic;
	char ip[INET_ADDRSTRLEN];

	if (!ps || len < IPV4_HLEN)
		return;
	qhl = ip_hdrlen(qip);
	if (ip_version(qip) != 4 || qhl < IPV4_HLEN || len < qhl + ICMP_HLEN || qip->protocol != IPPROTO_ICMP ||
	    qip->daddr != ps->dst)
		return;
	qic = (const void *)((const u8 *)qip + qhl);
	if (qic->type != ICMP_ECHO || ntohs(qic->id) != ps->id)
		return;
	ps->errors++;
	if (!ps->quiet)
		printk("From %s icmp_seq=%u %s (type %u code %u)\n", inet_fmt(ip, ip_hdr(nb)->saddr),
		       ntohs(qic->sequence), ic->type == ICMP_DEST_UNREACH ? "Destination Unreachable" : "Time to live exceeded",
		       ic->type, ic->code);
}

static u64 isqrt(u64 x)
{
	u64 r = 0, bit = 1ull << 62;

	while (bit > x)
		bit >>= 2;
	while (bit) {
		if (x >= r + bit) {
			x -= r + bit;
			r = (r >> 1) + bit;
		} else {
			r >>= 1;
		}
		bit >>= 2;
	}
	return r;
}

static void print_ms(u64 ns, const char *sep)
{
	printk("%llu.%03llu%s", (ns / 1000000), (ns / 1000 % 1000), sep);
}

void ping_summary(const struct ping_session *ps, u64 elapsed_ns)
{
	char ip[INET_ADDRSTRLEN];
	u32 lost = ps->transmitted > ps->received ? ps->transmitted - ps->received : 0;
	u32 loss = ps->transmitted ? lost * 100 / ps->transmitted : 0;

	printk("--- %s ping statistics ---\n", inet_fmt(ip, ps->dst));
	printk("%u packets transmitted, %u received, ", ps->transmitted, ps->received);
	if (ps->duplicates)
		printk("+%u duplicates, ", ps->duplicates);
	if (ps->corrupted)
		printk("+%u corrupted, ", ps->corrupted);
	if (ps->errors)
		printk("+%u errors, ", ps->errors);
	printk("%u%% packet loss, time %llums\n", loss, (elapsed_ns / 1000000));
	if (ps->received) {
		u64 avg = ps->rtt_sum / ps->received;
		u64 avg_us = avg / 1000, mean_sq = ps->rtt_sq_sum / ps->received;
		u64 mdev_us = isqrt(mean_sq > avg_us * avg_us ? mean_sq - avg_us * avg_us : 0);

		printk("rtt min/avg/max/mdev = ");
		print_ms(ps->rtt_min, "/");
		print_ms(avg, "/");
		print_ms(ps->rtt_max, "/");
		print_ms(mdev_us * 1000, " ms\n");
	}
}

void icmp_print_stats(void)
{
	net_stats_print_line("icmp", icmp_stat_desc, ARRAY_SIZE(icmp_stat_desc), &icmp_stats);
}

void icmp_zero_stats(void) { memset(&icmp_stats, 0, sizeof(icmp_stats)); }
