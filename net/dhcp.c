/*
 * net/dhcp.c - DHCP client (RFC 2131, options RFC 2132).
 *
 * One timer drives the state machine: retransmissions with randomised exponential backoff
 * while SELECTING and REQUESTING (4.1), then T1 (renew: unicast REQUEST to the server), T2
 * (rebind: broadcast REQUEST to anyone), with the waits of 4.4.5 in between, and the
 * lease's end (give the address up, start over).
 *
 * Transactions (4.1, table 5): one xid for the DISCOVERs and REQUESTs of an acquisition, a
 * new one for each renewal and each rebinding; retransmissions keep theirs. 'secs' counts
 * from the start of the acquisition or renewal (section 2, table 1); a REQUEST answering an
 * OFFER repeats the DISCOVER's (3.1 step 3).
 *
 * Everything a server sends is checked before use: the fixed fields (op, htype, hlen, xid,
 * our MAC in chaddr), the magic cookie, every option's length against the space left, the
 * known options' exact lengths, and the values (a host address, a contiguous mask, an
 * on-link router, sane T1 < T2 < lease).
 */
#include "kernel/errno.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "net/dhcp.h"
#include "net/inet.h"
#include "net/inet_addr.h"
#include "net/netdev.h"
#include "net/udp.h"

struct dhcp_client dhcp;
struct dhcp_stats dhcp_stats;
#define DHCP_STAT(f) NET_STAT(struct dhcp_stats, f)
static const struct net_stat_desc dhcp_stat_desc[] = { DHCP_STATS(DHCP_STAT) };

/* ---- option parsing ------------------------------------------------------------------------ */

static bool take_addr(const u8 *v, unsigned len, be32 *out)
{
	if (len != 4)
		return false;
	memcpy(out, v, 4);
	return true;
}

static bool take_u32(const u8 *v, unsigned len, u32 *out)
{
	if (len != 4)
		return false;
	*out = get_be32(v);
	return true;
}

/* One option we know; a wrong length is counted and the option ignored. The first valid
 * occurrence of each option wins. */
static void take_option(u8 code, const u8 *v, unsigned len, struct dhcp_options *o, bool allow_overload)
{
	bool ok = true;

	switch (code) {
	case DHO_MSG_TYPE:
		ok = len == 1;
		if (ok && !o->msg_type)
			o->msg_type = v[0];
		break;
	case DHO_SUBNET_MASK:
		if (!o->have_mask)
			ok = o->have_mask = take_addr(v, len, &o->mask) && inet_mask_to_prefix(o->mask) >= 0;
		break;
	case DHO_ROUTER: /* a list: the first is the preferred one */
		ok = len >= 4 && len % 4 == 0;
		if (ok && !o->have_router)
			o->have_router = take_addr(v, 4, &o->router);
		break;
	case DHO_SERVER_ID:
		if (!o->have_server_id)
			ok = o->have_server_id = take_addr(v, len, &o->server_id);
		break;
	case DHO_LEASE_TIME:
		if (!o->have_lease)
			ok = o->have_lease = take_u32(v, len, &o->lease_s);
		break;
	case DHO_T1:
		if (!o->have_t1)
			ok = o->have_t1 = take_u32(v, len, &o->t1_s);
		break;
	case DHO_T2:
		if (!o->have_t2)
			ok = o->have_t2 = take_u32(v, len, &o->t2_s);
		break;
	case DHO_OVERLOAD:
		ok = allow_overload && len == 1 && v[0] >= 1 && v[0] <= 3;
		if (ok && !o->overload)
			o->overload = v[0];
		break;
	default:
		break; /* not ours to understand */
	}
	if (!ok)
		o->bad_options++;
}

int dhcp_parse_options(const u8 *p, unsigned len, struct dhcp_options *o, bool allow_overload)
{
	unsigned i = 0;

	while (i < len) {
		u8 code = p[i++], olen;

		if (code == DHO_PAD)
			continue;
		if (code == DHO_END)
			return 0;
		if (i >= len)
			return -EINVAL; /* the length byte is missing */
		olen = p[i++];
		if (olen > len - i)
			return -EINVAL; /* the value runs past the area */
		take_option(code, p + i, olen, o, allow_overload);
		i += olen;
	}
	return 0; /* no END: tolerated, everything before it was well-formed */
}

int dhcp_parse_reply(const void *buf, unsigned len, struct dhcp_options *o)
{
	const struct dhcp_msg *msg = buf;

	memset(o, 0, sizeof(*o));
	if (len < DHCP_FIXED_LEN || msg->op != BOOTREPLY || msg->htype != 1 || msg->hlen != ETH_ALEN ||
	    ntohl(msg->magic) != DHCP_MAGIC)
		return -EINVAL;
	if (dhcp_parse_options(msg->options, len - DHCP_FIXED_LEN, o, true))
		return -EINVAL;
	/* RFC 2131 4.1: with overload, file is read before sname. */
	if ((o->overload & 1) && dhcp_parse_options(msg->file, sizeof(msg->file), o, false))
		return -EINVAL;
	if ((o->overload & 2) && dhcp_parse_options(msg->sname, sizeof(msg->sname), o, false))
		return -EINVAL;
	if (!o->msg_type)
		return -EINVAL;
	return 0;
}

/* ---- sending --------------------------------------------------------------------------------- */

static u32 dhcp_random(void)
{
	u32 x = dhcp.rng ? dhcp.rng : 0x9e3779b9u;

	x ^= x << 13; /* xorshift32: enough for transaction ids and jitter */
	x ^= x >> 17;
	x ^= x << 5;
	dhcp.rng = x;
	return x;
}

static u8 *opt_put(u8 *p, u8 code, u8 len, const void *val)
{
	p[0] = code;
	p[1] = len;
	memcpy(p + 2, val, len);
	return p + 2 + len;
}

/* The options we send: type, client id, what we want to hear about, and for a REQUEST in
 * SELECTING the chosen address and server (4.3.2). Returns the end of the options. */
static u8 *put_options(u8 *p, u8 type, const u8 *mac)
{
	static const u8 params[] = { DHO_SUBNET_MASK, DHO_ROUTER, DHO_LEASE_TIME, DHO_SERVER_ID, DHO_T1, DHO_T2 };
	u8 client_id[1 + ETH_ALEN] = { 1 }; /* hardware type, then the MAC (RFC 2132 9.14) */
	u8 maxsize[2];

	memcpy(client_id + 1, mac, ETH_ALEN);
	put_be16(maxsize, 1500);
	p = opt_put(p, DHO_MSG_TYPE, 1, &type);
	p = opt_put(p, DHO_CLIENT_ID, sizeof(client_id), client_id);
	if (type == DHCPREQUEST && dhcp.state == DHCP_REQUESTING) {
		p = opt_put(p, DHO_REQUESTED_IP, 4, &dhcp.offered);
		p = opt_put(p, DHO_SERVER_ID, 4, &dhcp.server_id);
	}
	if (type == DHCPDISCOVER || type == DHCPREQUEST) {
		p = opt_put(p, DHO_PARAM_REQ, sizeof(params), params);
		p = opt_put(p, DHO_MAX_MSG_SIZE, 2, maxsize);
	}
	*p++ = DHO_END;
	return p;
}

/* Seconds since the acquisition or renewal began, as the 16-bit secs field holds them. */
static u16 secs_elapsed(void)
{
	u64 secs = (now_ns() - dhcp.started_ns) / NSEC_PER_SEC;

	return (u16)MIN(secs, 0xffffull);
}

static int dhcp_send(u8 type)
{
	struct net_device *dev = inet_dev();
	bool have_addr = dhcp.state == DHCP_RENEWING || dhcp.state == DHCP_REBINDING;
	be32 saddr = have_addr ? inet_addr() : 0;
	be32 daddr = dhcp.state == DHCP_RENEWING ? dhcp.server_id : INADDR_BROADCAST_BE;
	u16 secs = dhcp.state == DHCP_REQUESTING ? dhcp.discover_secs : secs_elapsed();
	struct netbuf *nb = dev ? netbuf_alloc() : NULL;
	struct dhcp_msg *msg;
	int err;

	if (!nb) {
		dhcp_stats.tx_errors++;
		return -ENOBUFS;
	}
	msg = netbuf_put(nb, DHCP_MIN_MSG_LEN);
	if (!msg) { /* buffers are far larger: cannot happen */
		netbuf_free(nb);
		dhcp_stats.tx_errors++;
		return -EMSGSIZE;
	}
	memset(msg, 0, DHCP_MIN_MSG_LEN);
	msg->op = BOOTREQUEST;
	msg->htype = 1;
	msg->hlen = ETH_ALEN;
	msg->xid = htonl(dhcp.xid);
	msg->secs = htons(secs);
	/* Without an address we cannot take unicast replies before ARP knows us (4.1). */
	msg->flags = htons(have_addr ? 0 : DHCP_FLAG_BROADCAST);
	msg->ciaddr = saddr;
	memcpy(msg->chaddr, dev->mac, ETH_ALEN);
	msg->magic = htonl(DHCP_MAGIC);
	put_options(msg->options, type, dev->mac);
	err = udp_output(nb, saddr, daddr, UDP_PORT_BOOTPC, UDP_PORT_BOOTPS);
	if (err)
		dhcp_stats.tx_errors++;
	return err;
}

/* ---- the state machine ------------------------------------------------------------------------ */

const char *dhcp_state_name(enum dhcp_state s)
{
	static const char *const names[] = { "off", "init", "selecting", "requesting", "bound", "renewing", "rebinding" };

	return (unsigned)s < ARRAY_SIZE(names) ? names[s] : "?";
}

static void set_state(enum dhcp_state s)
{
	dhcp.state = s;
	dhcp.tries = 0;
	dhcp.retry_ns = DHCP_RETRY_FIRST_NS;
}

/* 4.1: 4 s, 8 s, ... doubling to 64 s, each "randomized by the value of a uniform random
 * number chosen from the range -1 to +1" second (at nanosecond granularity, which 4.1
 * allows), so that clients started together do not stay in step. */
static void arm_backoff(void)
{
	u64 r = dhcp_random() % (2 * DHCP_RETRY_JITTER_NS + 1);

	timer_arm(&dhcp.timer, dhcp.retry_ns - DHCP_RETRY_JITTER_NS + r);
	dhcp.retry_ns = MIN(dhcp.retry_ns * 2, DHCP_RETRY_MAX_NS);
}

/* 4.4.5: in RENEWING and REBINDING wait "one-half of the remaining time until T2 ... and
 * one-half of the remaining lease time ..., down to a minimum of 60 seconds" before the next
 * REQUEST; a deadline nearer than that comes first (T2 moves on to REBINDING, the lease's
 * end to INIT). */
static void arm_until(u64 deadline)
{
	u64 now = now_ns(), left = deadline > now ? deadline - now : 0;
	u64 wait = MAX(left / 2, DHCP_RENEW_MIN_WAIT_NS);

	timer_arm(&dhcp.timer, MIN(wait, left));
}

static void start_over(u64 delay_ns)
{
	set_state(DHCP_INIT);
	dhcp.xid = dhcp_random();
	timer_arm(&dhcp.timer, delay_ns);
}

static void send_discover(void)
{
	if (dhcp.tries++)
		dhcp_stats.retransmits++;
	dhcp_stats.discovers++;
	dhcp.discover_secs = secs_elapsed(); /* what the REQUEST for its offer repeats */
	dhcp_send(DHCPDISCOVER);
	arm_backoff();
}

static void send_request(void)
{
	if (dhcp.tries++)
		dhcp_stats.retransmits++;
	dhcp_stats.requests++;
	dhcp.request_sent_ns = now_ns();
	dhcp_send(DHCPREQUEST);
}

static void lease_expired(void)
{
	char ip[INET_ADDRSTRLEN];

	dhcp_stats.expiries++;
	printk("dhcp: lease of %s expired; starting over\n", inet_fmt(ip, inet_addr()));
	inet_clear_address();
	dhcp_stats.restarts++;
	start_over(0);
}

static void dhcp_timer_fn(struct timer *t)
{
	u64 now = now_ns();

	switch (dhcp.state) {
	case DHCP_INIT:
		dhcp.started_ns = now;
		set_state(DHCP_SELECTING);
		/* fall through */
	case DHCP_SELECTING:
		send_discover();
		break;
	case DHCP_REQUESTING:
		if (dhcp.tries >= DHCP_REQUEST_TRIES) {
			dhcp_stats.restarts++;
			start_over(0);
			break;
		}
		send_request();
		arm_backoff();
		break;
	case DHCP_BOUND: /* T1, or dhcp_renew_now: a renewal begins, a new exchange */
		dhcp_stats.renewals++;
		set_state(DHCP_RENEWING);
		dhcp.xid = dhcp_random();
		dhcp.started_ns = now;
		/* fall through */
	case DHCP_RENEWING:
		if (now >= dhcp.t2_at) { /* T2: a new exchange, with any server; secs runs on from T1 */
			dhcp_stats.rebinds++;
			set_state(DHCP_REBINDING);
			dhcp.xid = dhcp_random();
		} else {
			send_request();
			arm_until(dhcp.t2_at);
			break;
		}
		/* fall through */
	case DHCP_REBINDING:
		if (now >= dhcp.expire_at) {
			lease_expired();
			break;
		}
		send_request();
		arm_until(dhcp.expire_at);
		break;
	case DHCP_OFF:
		break;
	}
}

/* ---- receiving -------------------------------------------------------------------------------- */

/* RFC 2132 3.3 says a mask SHOULD come with the address; without one, the class decides. */
static be32 classful_mask(be32 addr)
{
	u32 a = ntohl(addr);

	if (a < 0x80000000u)
		return htonl(0xff000000u);
	if (a < 0xc0000000u)
		return htonl(0xffff0000u);
	return htonl(0xffffff00u);
}

static void handle_offer(const struct dhcp_msg *msg, const struct dhcp_options *o, be32 from)
{
	char ip[INET_ADDRSTRLEN], sv[INET_ADDRSTRLEN];
	be32 server = o->have_server_id ? o->server_id : from;

	if (!ipv4_is_valid_host(msg->yiaddr) || !ipv4_is_valid_host(server)) {
		dhcp_stats.rx_bad_offer++;
		return;
	}
	dhcp_stats.offers++;
	dhcp.offered = msg->yiaddr;
	dhcp.server_id = server;
	printk("dhcp: offer of %s from %s\n", inet_fmt(ip, dhcp.offered), inet_fmt(sv, server));
	set_state(DHCP_REQUESTING);
	send_request();
	arm_backoff();
}

/* Lease times, repaired when absurd: T1 < T2 < lease, defaults 0.5 and 0.875 (4.4.5). */
static void lease_times(const struct dhcp_options *o, u32 *lease, u32 *t1, u32 *t2)
{
	*lease = o->have_lease ? o->lease_s : DHCP_DEFAULT_LEASE_S;
	if (*lease < DHCP_MIN_LEASE_S)
		*lease = DHCP_MIN_LEASE_S;
	*t1 = o->have_t1 ? o->t1_s : *lease / 2;
	*t2 = o->have_t2 ? o->t2_s : (u32)((u64)*lease * 7 / 8);
	if (*t2 >= *lease || *t2 == 0)
		*t2 = (u32)((u64)*lease * 7 / 8);
	if (*t1 >= *t2 || *t1 == 0)
		*t1 = *t2 / 2 ? *t2 / 2 : 1;
}

static void handle_ack(const struct dhcp_msg *msg, const struct dhcp_options *o)
{
	char ip[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN];
	be32 addr = msg->yiaddr;
	be32 mask = o->have_mask ? o->mask : classful_mask(addr);
	be32 router = o->have_router ? o->router : 0;
	u32 lease, t1, t2;
	u64 base = dhcp.request_sent_ns;

	if (!ipv4_is_valid_host(addr) || (inet_mask_to_prefix(mask) <= 30 &&
					   ((addr & ~mask) == ~mask || (addr & ~mask) == 0))) {
		dhcp_stats.rx_bad_offer++;
		return;
	}
	if (router && (!ipv4_is_valid_host(router) || (router & mask) != (addr & mask) || router == addr))
		router = 0; /* unusable as a gateway: keep the address, route on-link only */
	lease_times(o, &lease, &t1, &t2);
	dhcp_stats.acks++;
	set_state(DHCP_BOUND);
	dhcp.lease_s = lease;
	dhcp.mask = mask;
	dhcp.router = router;
	if (o->have_server_id && ipv4_is_valid_host(o->server_id))
		dhcp.server_id = o->server_id;
	if (lease == 0xffffffffu) { /* infinite (RFC 2132 9.2) */
		dhcp.t1_at = dhcp.t2_at = dhcp.expire_at = UINT64_MAX;
		timer_cancel(&dhcp.timer);
	} else {
		dhcp.t1_at = base + (u64)t1 * NSEC_PER_SEC;
		dhcp.t2_at = base + (u64)t2 * NSEC_PER_SEC;
		dhcp.expire_at = base + (u64)lease * NSEC_PER_SEC;
		timer_arm(&dhcp.timer, dhcp.t1_at > now_ns() ? dhcp.t1_at - now_ns() : 0);
	}
	if (!inet_configured() || inet_if.addr != addr || inet_if.mask != mask || inet_if.gw != router) {
		printk("dhcp: bound to %s/%d gw %s, lease %u s (renew %u s, rebind %u s)\n", inet_fmt(ip, addr),
		       inet_mask_to_prefix(mask), router ? inet_fmt(gw, router) : "none", lease, t1, t2);
		inet_set_address(addr, mask, router, INET_SRC_DHCP);
	}
}

/* The server a reply comes from: its server identifier (option 54, a MUST in OFFER, ACK and
 * NAK by table 3), or else the IP source (QEMU's user-mode server sends NAKs without one). */
static be32 reply_server(const struct dhcp_options *o, be32 from)
{
	return o->have_server_id ? o->server_id : from;
}

/* Who may NAK us. REQUESTING: only the server we chose (3.1 step 4: "the selected server"
 * answers). RENEWING: our REQUEST was unicast to the server we hold the lease from (4.4.5),
 * so only it. REBINDING: the REQUEST went to "any server" (4.4.5), and figure 5 takes a NAK
 * there to INIT whoever sent it. */
static bool nak_acceptable(const struct dhcp_options *o, be32 from)
{
	if (dhcp.state == DHCP_REQUESTING || dhcp.state == DHCP_RENEWING)
		return reply_server(o, from) == dhcp.server_id;
	return dhcp.state == DHCP_REBINDING;
}

static void handle_nak(void)
{
	dhcp_stats.naks++;
	printk("dhcp: server said NAK; starting over\n");
	if (inet_if.source == INET_SRC_DHCP)
		inet_clear_address();
	dhcp_stats.restarts++;
	start_over(NSEC_PER_SEC); /* 3.1 step 5: restart, after a pause so a bad server cannot loop us */
}

static bool reply_is_ours(const struct dhcp_msg *msg)
{
	struct net_device *dev = inet_dev();

	return ntohl(msg->xid) == dhcp.xid && dev && memcmp(msg->chaddr, dev->mac, ETH_ALEN) == 0;
}

static void dispatch(const struct dhcp_msg *msg, const struct dhcp_options *o, be32 from)
{
	bool waiting_ack = dhcp.state == DHCP_REQUESTING || dhcp.state == DHCP_RENEWING ||
			   dhcp.state == DHCP_REBINDING;

	if (o->msg_type == DHCPNAK && waiting_ack) {
		if (nak_acceptable(o, from))
			handle_nak();
		else
			dhcp_stats.naks_ignored++;
		return;
	}
	/* In REQUESTING only the server we chose may answer (4.3.2). */
	if (dhcp.state == DHCP_REQUESTING && o->have_server_id && o->server_id != dhcp.server_id) {
		dhcp_stats.rx_ignored++;
		return;
	}
	if (o->msg_type == DHCPOFFER && dhcp.state == DHCP_SELECTING)
		handle_offer(msg, o, from);
	else if (o->msg_type == DHCPACK && waiting_ack)
		handle_ack(msg, o);
	else
		dhcp_stats.rx_ignored++;
}

static void dhcp_input(void *ctx, struct netbuf *nb, const struct udp_meta *m)
{
	const struct dhcp_msg *msg = (const void *)nb->data;
	struct dhcp_options o;

	if (m->sport != UDP_PORT_BOOTPS || dhcp.state == DHCP_OFF) {
		dhcp_stats.rx_ignored++;
	} else if (dhcp_parse_reply(nb->data, netbuf_len(nb), &o)) {
		dhcp_stats.rx_malformed++;
	} else if (!reply_is_ours(msg)) {
		dhcp_stats.rx_ignored++;
	} else {
		dhcp_stats.rx_bad_options += o.bad_options;
		dispatch(msg, &o, m->saddr);
	}
	netbuf_free(nb);
}

void dhcp_start(void)
{
	struct net_device *dev = inet_dev();

	if (!dev)
		return;
	timer_setup(&dhcp.timer, dhcp_timer_fn);
	udp_unbind(UDP_PORT_BOOTPC);
	udp_bind(UDP_PORT_BOOTPC, dhcp_input, NULL);
	dhcp.rng = (u32)now_ns() ^ get_be32(dev->mac + 2) ^ 0x5bd1e995u;
	printk("dhcp: starting on %s\n", dev->name);
	start_over(0);
}

void dhcp_stop(void)
{
	if (dhcp.state != DHCP_OFF)
		timer_cancel(&dhcp.timer);
	udp_unbind(UDP_PORT_BOOTPC);
	memset(&dhcp, 0, sizeof(dhcp));
}

void dhcp_link_change(bool up)
{
	/* A new link may be a new network: if we hold no lease yet, ask again at once. */
	if (up && (dhcp.state == DHCP_SELECTING || dhcp.state == DHCP_REQUESTING || dhcp.state == DHCP_INIT))
		start_over(0);
}

int dhcp_renew_now(void)
{
	if (dhcp.state != DHCP_BOUND)
		return -EINVAL;
	timer_cancel(&dhcp.timer);
	dhcp_timer_fn(&dhcp.timer);
	return 0;
}

static void print_secs_until(const char *what, u64 at)
{
	u64 now = now_ns();

	if (at == UINT64_MAX)
		printk(" %s never", what);
	else
		printk(" %s in %llu s", what, (at > now ? (at - now) / NSEC_PER_SEC : 0));
}

void dhcp_describe(void)
{
	char sv[INET_ADDRSTRLEN];

	if (dhcp.state == DHCP_OFF)
		return;
	printk("  dhcp: %s", dhcp_state_name(dhcp.state));
	if (dhcp.state >= DHCP_BOUND) {
		printk(", server %s, lease %u s,", inet_fmt(sv, dhcp.server_id), dhcp.lease_s);
		print_secs_until("renew", dhcp.t1_at);
		print_secs_until("rebind", dhcp.t2_at);
		print_secs_until("expires", dhcp.expire_at);
	}
	printk("\n");
}

void dhcp_print_stats(void)
{
	net_stats_print_line("dhcp", dhcp_stat_desc, ARRAY_SIZE(dhcp_stat_desc), &dhcp_stats);
}

void dhcp_zero_stats(void) { memset(&dhcp_stats, 0, sizeof(dhcp_stats)); }
