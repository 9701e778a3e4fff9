/*
 * net/stack_cmds.c - shell commands of the IPv4 stack: ping, arp, udpsend, dhcp, inet and
 * inetstat. Kernel-only (it waits in the event loop); the protocol code it drives also builds
 * on the host.
 *
 * ping waits with loop_wait(), so received frames, timers and the rest of the system keep
 * running (and the CPU halts when idle) while it waits; every wait is bounded (count,
 * interval and a reply timeout), ^C stops it early with the summary, and the shell does not
 * start another command while one runs.
 */
#include "kernel/errno.h"
#include "kernel/io.h"
#include "kernel/loop.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "kernel/string.h"
#include "kernel/time.h"
#include "net/arp.h"
#include "net/dhcp.h"
#include "net/dns.h"
#include "net/icmp.h"
#include "net/inet.h"
#include "net/inet_addr.h"
#include "net/ipv4.h"
#include "net/udp.h"

#define PING_MAX_COUNT 100000
#define PING_MAX_INTERVAL_MS 60000
#define PING_MAX_WAIT_S 60

struct ping_args {
	be32 dst;
	u64 count, size, interval_ms, wait_s;
};

static int parse_ping_args(int argc, char **argv, struct ping_args *a)
{
	bool have_dst = false;

	a->count = 4;
	a->size = 56;
	a->interval_ms = 1000;
	a->wait_s = 2;
	for (int i = 1; i < argc; i++) {
		u64 *slot = NULL;

		if (strcmp(argv[i], "-c") == 0)
			slot = &a->count;
		else if (strcmp(argv[i], "-s") == 0)
			slot = &a->size;
		else if (strcmp(argv[i], "-i") == 0)
			slot = &a->interval_ms;
		else if (strcmp(argv[i], "-W") == 0)
			slot = &a->wait_s;
		if (slot) {
			if (++i == argc || parse_u64(argv[i], slot))
				return -EINVAL;
		} else if (have_dst || inet_parse_addr(argv[i], &a->dst)) {
			return -EINVAL;
		} else {
			have_dst = true;
		}
	}
	if (!have_dst || a->count == 0 || a->count > PING_MAX_COUNT || a->interval_ms > PING_MAX_INTERVAL_MS ||
	    a->wait_s == 0 || a->wait_s > PING_MAX_WAIT_S)
		return -EINVAL;
	return 0;
}

static bool ping_all_in(void *ps) { return ping_done(ps); }

/* Run the event loop (halting while idle) until deadline, or until every reply is in when
 * stop_when_done. False when ^C interrupted the wait. */
static bool ping_wait(struct ping_session *ps, u64 deadline, bool stop_when_done)
{
	return loop_wait(deadline, stop_when_done ? ping_all_in : NULL, ps);
}

static int cmd_ping(int argc, char **argv)
{
	static struct ping_session ps; /* 13 KB of send times: not on the stack */
	char ip[INET_ADDRSTRLEN];
	struct ping_args a;
	u64 start, next;
	int err;

	if (parse_ping_args(argc, argv, &a))
		return -EINVAL;
	if (!inet_configured()) {
		printk("ping: no address configured yet\n");
		return -ENETDOWN;
	}
	err = ping_begin(&ps, a.dst, (unsigned)MIN(a.size, 65535ull));
	if (err == -EBUSY)
		printk("ping: another ping is running\n");
	if (err == -EMSGSIZE)
		printk("ping: -s %llu is more than we send (%u)\n", a.size, IPV4_MAX_SEND - ICMP_HLEN);
	if (err)
		return err;
	printk("PING %s %llu(%llu) bytes of data.\n", inet_fmt(ip, a.dst), a.size,
	       a.size + IPV4_HLEN + ICMP_HLEN);
	start = next = now_ns();
	for (u64 i = 0; i < a.count; i++) {
		err = ping_send_next(&ps);
		if (err)
			printk("ping: icmp_seq=%u not sent: %s\n", ps.transmitted, strerror(err));
		next += a.interval_ms * NSEC_PER_MSEC;
		if (i + 1 < a.count && !ping_wait(&ps, next, false))
			break; /* ^C: stop sending, report what we have */
	}
	ping_wait(&ps, now_ns() + a.wait_s * NSEC_PER_SEC, true);
	ping_end(&ps);
	ping_summary(&ps, now_ns() - start);
	return 0;
}
SHELL_COMMAND(ping, cmd_ping, "ping HOST [-c N] [-s SIZE] [-i MS] [-W SEC]",
	      "ICMP echo to HOST (A.B.C.D): N requests (4) of SIZE bytes (56), MS apart (1000), wait SEC (2)");

static int cmd_arp(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "-f") == 0) {
		arp_flush();
		printk("arp: cache flushed\n");
		return 0;
	}
	if (argc != 1)
		return -EINVAL;
	arp_print_cache();
	return 0;
}
SHELL_COMMAND(arp, cmd_arp, "arp [-f]", "the ARP cache (-f: flush it)");

/* udpsend -s SIZE IP PORT: SIZE bytes, byte i being 'a' + i % 26 (more than the MTU leaves in
 * fragments). */
static int udpsend_sized(int argc, char **argv)
{
	static char fill[IPV4_MAX_SEND];
	u64 size, port;
	be32 dst;
	u16 sport;
	int err;

	if (argc != 5 || parse_u64(argv[2], &size) || inet_parse_addr(argv[3], &dst) || parse_u64(argv[4], &port) ||
	    port == 0 || port > 65535)
		return -EINVAL;
	if (size > IPV4_MAX_SEND - UDP_HLEN) {
		printk("udpsend: -s is at most %u\n", IPV4_MAX_SEND - UDP_HLEN);
		return -EMSGSIZE;
	}
	for (u64 i = 0; i < size; i++)
		fill[i] = (char)('a' + i % 26);
	sport = udp_ephemeral_port();
	err = udp_sendto(dst, sport, (u16)port, fill, size);
	if (!err)
		printk("udpsend: %llu bytes to %s:%llu from port %u\n", size, argv[3], port, sport);
	return err;
}

static int cmd_udpsend(int argc, char **argv)
{
	static char text[1500];
	size_t len = 0;
	be32 dst;
	u64 port;
	u16 sport;
	int err;

	if (argc > 1 && strcmp(argv[1], "-s") == 0)
		return udpsend_sized(argc, argv);
	if (argc < 4 || inet_parse_addr(argv[1], &dst) || parse_u64(argv[2], &port) || port == 0 || port > 65535)
		return -EINVAL;
	for (int i = 3; i < argc; i++) { /* the shell split the text at spaces: join it again */
		size_t n = strlen(argv[i]);

		if (len + n + 1 > sizeof(text)) {
			printk("udpsend: text too long\n");
			return -EMSGSIZE;
		}
		if (i > 3)
			text[len++] = ' ';
		memcpy(text + len, argv[i], n);
		len += n;
	}
	sport = udp_ephemeral_port();
	err = udp_sendto(dst, sport, (u16)port, text, len);
	if (!err)
		printk("udpsend: %zu bytes to %s:%llu from port %u\n", len, argv[1], port, sport);
	return err;
}
SHELL_COMMAND(udpsend, cmd_udpsend, "udpsend IP PORT TEXT | udpsend -s SIZE IP PORT",
	      "send TEXT, or SIZE bytes a..z (up to 16376: fragmented), in one UDP datagram to IP:PORT");

/* ---- host ---------------------------------------------------------------------------------- */

struct host_lookup {
	bool done;
	int err;
	be32 addr;
};

static void host_answer(void *ctx, const char *name, int err, be32 addr)
{
	struct host_lookup *h = ctx;

	h->done = true;
	h->err = err;
	h->addr = addr;
}

static bool host_done(void *ctx) { return ((struct host_lookup *)ctx)->done; }

/* Why a lookup of name failed, in words, as one line. */
static void host_error(const char *name, int err)
{
	char sv[INET_ADDRSTRLEN];

	inet_fmt(sv, dns_server());
	switch (err) {
	case -EINVAL:
		printk("host: '%s' is not a host name\n", name);
		break;
	case -EDESTADDRREQ:
		printk("host: no DNS server (dns=A.B.C.D on the command line, or DHCP option 6)\n");
		break;
	case -ENETDOWN:
		printk("host: no address configured yet\n");
		break;
	case -ENOENT:
		printk("host: %s not found: NXDOMAIN from %s\n", name, sv);
		break;
	case -ENODATA:
		printk("host: %s has no address (no A record at %s)\n", name, sv);
		break;
	case -ETIMEDOUT:
		printk("host: %s: no answer from %s (%u tries)\n", name, sv, DNS_TRIES);
		break;
	case -EAGAIN:
		printk("host: %s: server failure (SERVFAIL from %s)\n", name, sv);
		break;
	case -ECONNREFUSED:
		printk("host: %s: refused by %s\n", name, sv);
		break;
	case -EMSGSIZE:
		printk("host: %s: the answer from %s was truncated (no DNS over TCP here)\n", name, sv);
		break;
	default:
		printk("host: %s: %s\n", name, strerror(err));
	}
}

static int cmd_host(int argc, char **argv)
{
	struct host_lookup h = { 0 };
	char ip[INET_ADDRSTRLEN];
	int err;

	if (argc != 2)
		return -EINVAL;
	err = dns_resolve(argv[1], host_answer, &h);
	if (!err)
		loop_wait(now_ns() + (DNS_RETRY_FIRST_NS << DNS_TRIES) + NSEC_PER_SEC, host_done, &h);
	if (!err && !h.done) { /* ^C */
		dns_cancel(host_answer, &h);
		printk("host: interrupted\n");
		return 0;
	}
	if (!err)
		err = h.err;
	if (err)
		host_error(argv[1], err);
	else
		printk("%s has address %s\n", argv[1], inet_fmt(ip, h.addr));
	return 0;
}
SHELL_COMMAND(host, cmd_host, "host NAME", "look NAME up in the DNS (A record): 'NAME has address A.B.C.D'");

static bool dhcp_release_done(void *unused) { return dhcp.state != DHCP_RELEASING; }

static int cmd_dhcp(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "renew") == 0) {
		if (dhcp_renew_now()) {
			printk("dhcp: no lease to renew (state %s)\n", dhcp_state_name(dhcp.state));
			return -EAGAIN;
		}
		printk("dhcp: renewing\n");
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "release") == 0) {
		if (dhcp_release()) {
			printk("dhcp: no lease to release (state %s)\n", dhcp_state_name(dhcp.state));
			return -EAGAIN;
		}
		/* the address goes once the RELEASE has left: ARP may have to find the server first
		 * ("dhcp: released ..." then); bounded by the client's own deadline */
		loop_wait(now_ns() + DHCP_RELEASE_WAIT_NS + NSEC_PER_SEC, dhcp_release_done, NULL);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "start") == 0) {
		if (dhcp_restart()) {
			printk("dhcp: start follows a release (state %s)\n", dhcp_state_name(dhcp.state));
			return -EAGAIN;
		}
		printk("dhcp: starting again\n");
		return 0;
	}
	if (argc != 1)
		return -EINVAL;
	if (dhcp.state == DHCP_OFF)
		printk("dhcp: off (boot with ip=dhcp)\n");
	else
		dhcp_describe();
	return 0;
}
SHELL_COMMAND(dhcp, cmd_dhcp, "dhcp [renew|release|start]",
	      "DHCP client state and lease (renew: ask the server now; release: give the address back; "
	      "start: after a release, ask for one again)");

static int cmd_inet(int argc, char **argv)
{
	struct net_device *dev = inet_dev();

	if (argc != 1)
		return -EINVAL;
	if (!dev) {
		printk("inet: the stack has no device\n");
		return -ENODEV;
	}
	printk("%s:\n", dev->name);
	inet_describe(dev);
	return 0;
}
SHELL_COMMAND(inet, cmd_inet, "inet", "the stack's address, netmask, gateway and DHCP lease");

static int cmd_inetstat(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "-z") == 0) {
		inet_zero_stats();
		printk("inetstat: counters zeroed\n");
		return 0;
	}
	if (argc != 1)
		return -EINVAL;
	inet_print_stats();
	return 0;
}
SHELL_COMMAND(inetstat, cmd_inetstat, "inetstat [-z]", "per-layer packet and drop counters (-z: zero them)");
