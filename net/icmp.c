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

/* Echo request -> echo reply in the same buffer. Only the type byte changes in the ICMP
 * message, so the checksum is updated (RFC 1624) instead of recomputed over the payload. */
static void icmp_echo_reply(struct netbuf *nb, struct icmphdr *ic)
{
	/* LAB:SOLUTION stage5 icmp_echo_reply */
	be32 peer = ip_hdr(nb)->saddr;
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
	if (ipv4_output(nb, inet_addr(), peer, IPPROTO_ICMP) < 0)
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
	case ICMP_ECHO:
		icmp_stats.rx_echo_requests++;
		icmp_echo_reply(nb, ic);
		return;
	case ICMP_ECHOREPLY:
		icmp_stats.rx_echo_replies++;
		ping_on_reply(nb, ic);
		break;
	case ICMP_DEST_UNREACH:
		icmp_stats.rx_dest_unreach++;
		ping_on_error(nb, ic);
		break;
	case ICMP_TIME_EXCEEDED:
		icmp_stats.rx_time_exceeded++;
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

void icmp_send_unreach(struct netbuf *nb, u8 code)
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
	/* The quote is the original datagram from its IP header on, in place. */
	nb->data = (u8 *)orig;
	quoted = MIN(netbuf_len(nb), max_quote);
	netbuf_trim(nb, quoted);
	ic = netbuf_push(nb, ICMP_HLEN);
	if (!ic) {
		icmp_drop(nb, &icmp_stats.tx_errors);
		return;
	}
	ic->type = ICMP_DEST_UNREACH;
	ic->code = code;
	ic->checksum = 0;
	ic->id = 0;
	ic->sequence = 0;
	ic->checksum = htons(inet_csum(ic, netbuf_len(nb)));
	icmp_stats.tx_dest_unreach++;
	if (ipv4_output(nb, inet_addr(), dest, IPPROTO_ICMP) < 0)
		icmp_stats.tx_errors++;
}

int icmp_send_echo(be32 dst, u16 id, u16 seq, unsigned size)
{
	struct netbuf *nb;
	struct icmphdr *ic;
	u8 *payload;

	if (!inet_dev())
		return -ENETDOWN;
	if (size > ipv4_max_payload() - ICMP_HLEN)
		return -EMSGSIZE;
	nb = netbuf_alloc();
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
	if (size > ipv4_max_payload() - ICMP_HLEN)
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
