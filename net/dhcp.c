/*
 * net/dhcp.c - DHCP client (RFC 2131, options RFC 2132).
 *
 * One timer drives the state machine: retransmissions with randomised exponential backoff
 * while SELECTING, REQUESTING and REBOOTING (4.1), then T1 (renew: unicast REQUEST to the server), T2
 * (rebind: broadcast REQUEST to anyone), with the waits of 4.4.5 in between, and the
 * lease's end (give the address up, start over).
 *
 * Transactions (4.1, table 5): one xid for the DISCOVERs and REQUESTs of an acquisition, a
 * new one for each renewal, each rebinding, each INIT-REBOOT and each RELEASE;
 * retransmissions keep theirs. 'secs' counts from the start of the acquisition or renewal
 * (section 2, table 1); a REQUEST answering an OFFER repeats the DISCOVER's (3.1 step 3).
 *
 * A new address is not used at once: an ACK in REQUESTING moves to CHECKING, where net/arp.c
 * probes the address (RFC 5227 2.1.1, 4 to 7 s); only when nobody claims it is it set. If
 * someone does, a DHCPDECLINE goes to the server and the client starts over after 10 s (RFC
 * 2131 3.1 step 5, 4.4.1). Renewals and INIT-REBOOT keep an address already in use: no probe.
 *
 * The link coming back with a lease still valid starts INIT-REBOOT (3.2, 3.7, 4.4.2): the
 * address stays in use while a broadcast REQUEST asks to keep it; an ACK binds again, a NAK
 * starts over, no answer keeps the lease until it ends (3.2 step 3). dhcp_release() sends
 * DHCPRELEASE to the server (4.4.6) and gives the address up.
 *
 * Everything a server sends is checked before use: the fixed fields (op, htype, hlen, xid,
 * our MAC in chaddr), the magic cookie, every option's length against the space left, the
 * known options' exact lengths, and the values (a host address, a contiguous mask, an
 * on-link router, sane T1 < T2 < lease).
 */
#include "kernel/errno.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "net/arp.h"
#include "net/dhcp.h"
#include "net/dns.h"
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
	case DHO_DNS: /* a list, in order of preference (RFC 2132 3.8): the first is ours */
		ok = len >= 4 && len % 4 == 0;
		if (ok && !o->have_dns)
			o->have_dns = take_addr(v, 4, &o->dns) && ipv4_is_valid_host(o->dns);
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

/* The options we send (table 5): type and client id always (the same id in every message,
 * 3.1 step 6); a REQUEST answering an OFFER names the address and the server (3.1 step 3,
 * 4.3.2), an INIT-REBOOT one the address alone (4.4.2); a RELEASE the server and why.
 * Returns the end of the options. */
static u8 *put_options(u8 *p, u8 type, const u8 *mac)
{
	static const char release_msg[] = "released", decline_msg[] = "address in use (ARP)";
	static const u8 params[] = { DHO_SUBNET_MASK, DHO_ROUTER, DHO_DNS, DHO_LEASE_TIME, DHO_SERVER_ID, DHO_T1, DHO_T2 };
	u8 client_id[1 + ETH_ALEN] = { 1 }; /* hardware type, then the MAC (RFC 2132 9.14) */
	u8 maxsize[2];

	memcpy(client_id + 1, mac, ETH_ALEN);
	put_be16(maxsize, 1500);
	p = opt_put(p, DHO_MSG_TYPE, 1, &type);
	p = opt_put(p, DHO_CLIENT_ID, sizeof(client_id), client_id);
	if (type == DHCPREQUEST && dhcp.state == DHCP_REQUESTING) {
		p = opt_put(p, DHO_REQUESTED_IP, 4, &dhcp.offered);
		p = opt_put(p, DHO_SERVER_ID, 4, &dhcp.server_id);
	} else if (type == DHCPREQUEST && dhcp.state == DHCP_REBOOTING) {
		p = opt_put(p, DHO_REQUESTED_IP, 4, &dhcp.leased);
	} else if (type == DHCPRELEASE) {
		p = opt_put(p, DHO_SERVER_ID, 4, &dhcp.server_id);
		p = opt_put(p, DHO_MESSAGE, sizeof(release_msg) - 1, release_msg);
	} else if (type == DHCPDECLINE) {
		p = opt_put(p, DHO_REQUESTED_IP, 4, &dhcp.leased);
		p = opt_put(p, DHO_SERVER_ID, 4, &dhcp.server_id);
		p = opt_put(p, DHO_MESSAGE, sizeof(decline_msg) - 1, decline_msg);
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

/* The fixed fields by table 5 and the addressing by 4.1 and 4.4.4: our address in ciaddr and
 * as the source only where it is confirmed ours (RENEWING, REBINDING, RELEASE; never in
 * INIT-REBOOT, 3.2 step 1, nor in a DECLINE), unicast to the server when RENEWING (4.4.5) and
 * for a RELEASE, broadcast otherwise (a DECLINE too, 4.4.4); RELEASE and DECLINE have secs 0
 * and flags 0. */
static int dhcp_send(u8 type)
{
	struct net_device *dev = inet_dev();
	bool release = type == DHCPRELEASE, final = release || type == DHCPDECLINE;
	bool have_addr = release || dhcp.state == DHCP_RENEWING || dhcp.state == DHCP_REBINDING;
	be32 saddr = have_addr ? dhcp.leased : 0;
	be32 daddr = release || dhcp.state == DHCP_RENEWING ? dhcp.server_id : INADDR_BROADCAST_BE;
	u16 secs = final ? 0 : dhcp.state == DHCP_REQUESTING ? dhcp.discover_secs : secs_elapsed();
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
	msg->flags = htons(have_addr || final ? 0 : DHCP_FLAG_BROADCAST);
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
	static const char *const names[] = { "off",	  "init",      "selecting", "requesting", "bound",
					     "renewing", "rebinding", "rebooting", "releasing",  "released",
					     "checking" };

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

/* The same, but no later than the lease's end (INIT-REBOOT holds a lease while it asks). */
static void arm_backoff_within_lease(void)
{
	u64 now = now_ns();

	arm_backoff();
	if (dhcp.timer.expires_ns > dhcp.expire_at)
		timer_arm(&dhcp.timer, dhcp.expire_at > now ? dhcp.expire_at - now : 0);
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

/* BOUND, RENEWING, REBINDING and REBOOTING: the address is ours to use. */
static bool holds_lease(void)
{
	return dhcp.state == DHCP_BOUND || dhcp.state == DHCP_RENEWING || dhcp.state == DHCP_REBINDING ||
	       dhcp.state == DHCP_REBOOTING;
}

/* Our address goes: nothing may use it from now on (4.4.5, 3.7). */
static void give_up_address(void)
{
	dns_forget_dhcp_server();
	if (inet_if.source == INET_SRC_DHCP)
		inet_clear_address();
}

/* BOUND: wait for T1 (at once when it has passed: after an unanswered INIT-REBOOT). */
static void arm_t1(void)
{
	u64 now = now_ns();

	if (dhcp.t1_at == UINT64_MAX)
		timer_cancel(&dhcp.timer); /* an infinite lease */
	else
		timer_arm(&dhcp.timer, dhcp.t1_at > now ? dhcp.t1_at - now : 0);
}

static void lease_expired(void)
{
	char ip[INET_ADDRSTRLEN];

	dhcp_stats.expiries++;
	printk("dhcp: lease of %s expired; starting over\n", inet_fmt(ip, dhcp.leased));
	give_up_address();
	dhcp_stats.restarts++;
	start_over(0);
}

/* 3.2 step 3: INIT-REBOOT got no answer -- "the client MAY choose to use the previously
 * allocated network address and configuration parameters for the remainder of the unexpired
 * lease. This corresponds to moving to BOUND state", with the lease's own T1 and T2. */
static void keep_lease(void)
{
	char ip[INET_ADDRSTRLEN];

	dhcp_stats.reboot_timeouts++;
	printk("dhcp: no answer to INIT-REBOOT; keeping %s until the lease ends\n", inet_fmt(ip, dhcp.leased));
	set_state(DHCP_BOUND);
	arm_t1();
}

/* RELEASING: the RELEASE has left when nothing waits for ARP any more (it was sent, or ARP
 * gave up on the server); until then the address stays, for ARP's answer is addressed to it.
 * Then the address goes, whatever became of the RELEASE (4.4.6: DHCP does not depend on it). */
static void release_poll(void)
{
	char ip[INET_ADDRSTRLEN], sv[INET_ADDRSTRLEN];

	if (arp_pending_total() && now_ns() < dhcp.release_deadline) {
		timer_arm(&dhcp.timer, DHCP_RELEASE_POLL_NS);
		return;
	}
	set_state(DHCP_RELEASED);
	give_up_address();
	printk("dhcp: released %s to %s\n", inet_fmt(ip, dhcp.leased), inet_fmt(sv, dhcp.server_id));
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
	case DHCP_REBOOTING:
		if (now >= dhcp.expire_at) {
			lease_expired();
		} else if (dhcp.tries >= DHCP_REQUEST_TRIES) {
			keep_lease();
		} else {
			send_request();
			arm_backoff_within_lease();
		}
		break;
	case DHCP_RELEASING:
		release_poll();
		break;
	case DHCP_CHECKING: /* the lease ended before the probe did (the link stayed down) */
		arp_probe_cancel();
		lease_expired();
		break;
	case DHCP_OFF:
	case DHCP_RELEASED:
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

/* BOUND with the lease just recorded: T1 armed, and the address set (and said) when it is
 * new or its mask or gateway changed. */
static void bind(void)
{
	char ip[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN];

	set_state(DHCP_BOUND);
	arm_t1();
	if (!inet_configured() || inet_if.addr != dhcp.leased || inet_if.mask != dhcp.mask || inet_if.gw != dhcp.router) {
		printk("dhcp: bound to %s/%d gw %s, lease %u s (renew %u s, rebind %u s)\n", inet_fmt(ip, dhcp.leased),
		       inet_mask_to_prefix(dhcp.mask), dhcp.router ? inet_fmt(gw, dhcp.router) : "none", dhcp.lease_s,
		       dhcp.t1_s, dhcp.t2_s);
		inet_set_address(dhcp.leased, dhcp.mask, dhcp.router, INET_SRC_DHCP);
	}
	if (dhcp.dns != dns_server())
		dns_set_server(dhcp.dns, DNS_SRC_DHCP); /* option 6 (a command line's dns= stands) */
}

/* DHCPDECLINE of dhcp.leased, from no address (4.4.4: broadcast, ciaddr 0), with an xid of
 * its own (table 5: "selected by client"); a new acquisition after "a minimum of ten seconds"
 * (3.1 step 5). */
static void decline_and_restart(void)
{
	dhcp_stats.declines++;
	set_state(DHCP_INIT);
	dhcp.xid = dhcp_random();
	dhcp_send(DHCPDECLINE);
	dhcp_stats.restarts++;
	start_over(DHCP_DECLINE_WAIT_NS);
}

/* net/arp.c's answer about the ACKed address. In use: DHCPDECLINE to the server (3.1 step 5,
 * 4.4.1: "the client MUST send a DHCPDECLINE message"), then a new acquisition after "a
 * minimum of ten seconds" (3.1 step 5). */
static void check_done(be32 addr, bool conflict)
{
	char ip[INET_ADDRSTRLEN];

	if (dhcp.state != DHCP_CHECKING || addr != dhcp.leased)
		return; /* cannot happen: every way out of CHECKING cancels the probe */
	if (!conflict) {
		bind();
		return;
	}
	printk("dhcp: %s is in use; declined, starting over in %llu s\n", inet_fmt(ip, addr),
	       DHCP_DECLINE_WAIT_NS / NSEC_PER_SEC);
	decline_and_restart();
}

/* net/arp.c's word that another host keeps claiming our address after we defended it
 * (RFC 5227 2.4 (b): stop using it). An address from DHCP is given up and declined to the
 * server -- DHCPDECLINE says "network address is already in use" (RFC 2131 3.1 step 5, table
 * 2) -- and a new acquisition starts after the same ten seconds as a failed check. */
static void dhcp_conflict(be32 addr)
{
	char ip[INET_ADDRSTRLEN];

	if (!holds_lease() || addr != dhcp.leased || inet_if.source != INET_SRC_DHCP)
		return;
	timer_cancel(&dhcp.timer);
	dhcp_stats.conflicts++;
	printk("dhcp: %s is in use by another host; declined, starting over in %llu s\n", inet_fmt(ip, addr),
	       DHCP_DECLINE_WAIT_NS / NSEC_PER_SEC);
	give_up_address();
	decline_and_restart();
}

static void handle_ack(const struct dhcp_msg *msg, const struct dhcp_options *o)
{
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
	dhcp.leased = addr;
	dhcp.lease_s = lease;
	dhcp.t1_s = t1;
	dhcp.t2_s = t2;
	dhcp.mask = mask;
	dhcp.router = router;
	if (o->have_server_id && ipv4_is_valid_host(o->server_id))
		dhcp.server_id = o->server_id;
	dhcp.dns = o->have_dns ? o->dns : 0;
	if (lease == 0xffffffffu) { /* infinite (RFC 2132 9.2) */
		dhcp.t1_at = dhcp.t2_at = dhcp.expire_at = UINT64_MAX;
	} else {
		dhcp.t1_at = base + (u64)t1 * NSEC_PER_SEC;
		dhcp.t2_at = base + (u64)t2 * NSEC_PER_SEC;
		dhcp.expire_at = base + (u64)lease * NSEC_PER_SEC;
	}
	/* 3.1 step 5, 4.4.1: a new address is checked before use (the probe's answer comes to
	 * check_done); if no probe can start (another one runs), it is used unchecked */
	if (dhcp.state == DHCP_REQUESTING) {
		set_state(DHCP_CHECKING);
		if (arp_probe(inet_dev(), addr, check_done) == 0) {
			if (dhcp.expire_at == UINT64_MAX)
				timer_cancel(&dhcp.timer);
			else /* the lease may end before the probe does */
				timer_arm(&dhcp.timer, dhcp.expire_at > now_ns() ? dhcp.expire_at - now_ns() : 0);
			return;
		}
	}
	bind();
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
 * there to INIT whoever sent it. REBOOTING: we named no server, and any that knows we are
 * on the wrong network says so (3.2 step 2, 4.3.2). */
static bool nak_acceptable(const struct dhcp_options *o, be32 from)
{
	if (dhcp.state == DHCP_REQUESTING || dhcp.state == DHCP_RENEWING)
		return reply_server(o, from) == dhcp.server_id;
	return dhcp.state == DHCP_REBINDING || dhcp.state == DHCP_REBOOTING;
}

static void handle_nak(void)
{
	dhcp_stats.naks++;
	printk("dhcp: server said NAK; starting over\n");
	give_up_address();
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
			   dhcp.state == DHCP_REBINDING || dhcp.state == DHCP_REBOOTING;

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
	arp_set_conflict_handler(dhcp_conflict);
	dhcp.rng = (u32)now_ns() ^ get_be32(dev->mac + 2) ^ 0x5bd1e995u;
	printk("dhcp: starting on %s\n", dev->name);
	start_over(0);
}

void dhcp_stop(void)
{
	if (dhcp.state == DHCP_CHECKING)
		arp_probe_cancel();
	if (dhcp.state != DHCP_OFF)
		timer_cancel(&dhcp.timer);
	udp_unbind(UDP_PORT_BOOTPC);
	arp_set_conflict_handler(NULL);
	memset(&dhcp, 0, sizeof(dhcp));
}

/* INIT-REBOOT (4.4.2): a new xid, secs from now; the REQUEST leaves from the timer. */
static void init_reboot(const char *why)
{
	char ip[INET_ADDRSTRLEN];

	dhcp_stats.reboots++;
	set_state(DHCP_REBOOTING);
	dhcp.xid = dhcp_random();
	dhcp.started_ns = now_ns();
	printk("dhcp: %s; confirming %s (INIT-REBOOT)\n", why, inet_fmt(ip, dhcp.leased));
	timer_arm(&dhcp.timer, 0);
}

/* A link that comes back may be a new network (3.7: use DHCP "after a disconnection from the
 * local network"): without a lease, a new acquisition at once; with one still valid,
 * INIT-REBOOT; after a release, nothing. */
void dhcp_link_change(bool up)
{
	if (!up)
		return;
	if (dhcp.state == DHCP_INIT || dhcp.state == DHCP_SELECTING || dhcp.state == DHCP_REQUESTING)
		start_over(0);
	else if (holds_lease() && now_ns() < dhcp.expire_at)
		init_reboot("link up");
}

/* The machine was moved (a live migration, a snapshot restored: the device asked us to announce
 * ourselves). Our clock did not run meanwhile (docs/migration.md), the server's did, and the
 * network may be another: a lease we still think valid is confirmed (3.7 again), once per move
 * (the device asks several times). */
void dhcp_moved(void)
{
	if (dhcp.state != DHCP_REBOOTING && holds_lease() && now_ns() < dhcp.expire_at)
		init_reboot("moved to another host");
}

int dhcp_renew_now(void)
{
	if (dhcp.state != DHCP_BOUND)
		return -EINVAL;
	timer_cancel(&dhcp.timer);
	dhcp_timer_fn(&dhcp.timer);
	return 0;
}

/* 4.4.6 and 3.1 step 6: a RELEASE to the server with its own xid (table 5), then the address
 * goes once the RELEASE has left (release_poll). */
int dhcp_release(void)
{
	if (!holds_lease())
		return -EINVAL;
	timer_cancel(&dhcp.timer); /* T1 and whatever else was due */
	dhcp_stats.releases++;
	set_state(DHCP_RELEASING);
	dhcp.xid = dhcp_random();
	dhcp.release_deadline = now_ns() + DHCP_RELEASE_WAIT_NS;
	dhcp_send(DHCPRELEASE);
	release_poll();
	return 0;
}

int dhcp_restart(void)
{
	if (dhcp.state != DHCP_RELEASED)
		return -EINVAL;
	start_over(0);
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
	if (holds_lease()) {
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
