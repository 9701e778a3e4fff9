/*
 * net/config.c - the stack's configuration and life cycle: which device it runs on, its
 * address (static from ip=A.B.C.D/N gw=A.B.C.D, or ip=dhcp), bringing the layers up, the
 * "net: ready" serial marker (docs/serial.md), link changes, and the describe/counter hooks
 * the shell's ifconfig and netstat call.
 *
 * Defaults are ip=10.0.2.15/24 gw=10.0.2.2: the addresses QEMU's user networking hands out,
 * and the ones the TAP tests give the host side (10.0.2.2).
 */
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/init.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "kernel/timeline.h"
#include "net/arp.h"
#include "net/dhcp.h"
#include "net/dns.h"
#include "net/ethernet.h"
#include "net/icmp.h"
#include "net/inet.h"
#include "net/inet_addr.h"
#include "net/ipv4.h"
#include "net/udp.h"

#define DEFAULT_IP "10.0.2.15/24"
#define DEFAULT_GW "10.0.2.2"

struct inet_ifaddr inet_if;
static u32 rng_state;

u32 inet_random(void)
{
	u32 x = rng_state ^ (u32)now_ns();

	if (!rng_state && inet_if.dev)
		x ^= get_be32(inet_if.dev->mac + 2) ^ 0x2545f491u;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	rng_state = x ? x : 0x9e3779b9u;
	return rng_state;
}

be32 inet_subnet_broadcast(void)
{
	if (!inet_if.configured || inet_mask_to_prefix(inet_if.mask) > 30)
		return 0;
	return inet_if.addr | ~inet_if.mask;
}

/* With /31 and /32 there is no directed broadcast (RFC 3021): nothing matches, in particular
 * not 0.0.0.0, which inet_subnet_broadcast() returns there. */
bool inet_is_subnet_broadcast(be32 a)
{
	be32 b = inet_subnet_broadcast();

	return b != 0 && a == b;
}

bool inet_on_link(be32 daddr)
{
	return inet_if.configured && (daddr & inet_if.mask) == (inet_if.addr & inet_if.mask);
}

static void print_ready(void)
{
	char ip[INET_ADDRSTRLEN];
	const u8 *m = inet_if.dev->mac;

	if (inet_if.ready_printed)
		return;
	inet_if.ready_printed = true;
	timeline_mark("net ready");
	printk("net: ready ip=%s mac=%02x:%02x:%02x:%02x:%02x:%02x\n", inet_fmt(ip, inet_if.addr), m[0], m[1], m[2],
	       m[3], m[4], m[5]);
}

/* What addr is on its network when it cannot be a host's: "network" (host part all zeros)
 * or "broadcast" (all ones) -- RFC 1122 3.2.1.3 allows neither as a host number; NULL when
 * it may be a host's. A /31 or /32 has no such addresses (RFC 3021): both of a /31's are
 * hosts. */
static const char *not_a_host_of(be32 addr, be32 mask)
{
	if (inet_mask_to_prefix(mask) > 30)
		return NULL;
	if ((addr & ~mask) == 0)
		return "network";
	if ((addr & ~mask) == ~mask)
		return "broadcast";
	return NULL;
}

int inet_set_address(be32 addr, be32 mask, be32 gw, enum inet_source source)
{
	if (!inet_if.dev || !ipv4_is_valid_host(addr) || inet_mask_to_prefix(mask) < 0 || not_a_host_of(addr, mask))
		return -EINVAL;
	if (inet_if.configured && inet_if.addr != addr)
		arp_flush(); /* a new address may be a new network */
	inet_if.addr = addr;
	inet_if.mask = mask;
	inet_if.gw = gw;
	inet_if.source = source;
	inet_if.configured = true;
	print_ready();
	arp_announce(inet_if.dev, addr);
	return 0;
}

void inet_clear_address(void)
{
	inet_if.configured = false;
	inet_if.addr = inet_if.mask = inet_if.gw = 0;
	inet_if.source = INET_SRC_NONE;
	arp_flush();
}

/* gw=: an address on the configured network, or "none". */
static int parse_gateway(const char *gw, be32 addr, be32 mask, be32 *out)
{
	char ip[INET_ADDRSTRLEN], me[INET_ADDRSTRLEN];

	*out = 0;
	if (!gw || strcmp(gw, "none") == 0)
		return 0;
	if (inet_parse_addr(gw, out) || !ipv4_is_valid_host(*out)) {
		printk("net: gw=%s is not an address; no default route\n", gw);
		*out = 0;
		return -EINVAL;
	}
	if ((*out & mask) != (addr & mask) || *out == addr) {
		printk("net: gateway %s is not on the network of %s/%d; no default route\n", inet_fmt(ip, *out),
		       inet_fmt(me, addr), inet_mask_to_prefix(mask));
		*out = 0;
		return -EINVAL;
	}
	return 0;
}

int inet_parse_config(const char *ip, const char *gw, be32 *addr, be32 *mask, be32 *gwaddr, bool *dhcp_on)
{
	char net[INET_ADDRSTRLEN];
	const char *what;
	bool prefix_given;

	*dhcp_on = ip && strcmp(ip, "dhcp") == 0;
	*addr = *mask = *gwaddr = 0;
	if (*dhcp_on)
		return 0;
	if (!ip) {
		ip = DEFAULT_IP;
		if (!gw)
			gw = DEFAULT_GW;
	}
	if (inet_parse_cidr(ip, addr, mask, &prefix_given) || !ipv4_is_valid_host(*addr)) {
		printk("net: ip=%s is not A.B.C.D/N or dhcp; no address\n", ip);
		return -EINVAL;
	}
	if (!prefix_given)
		printk("net: ip=%s has no /N; assuming /24\n", ip);
	what = not_a_host_of(*addr, *mask);
	if (what) {
		printk("net: ip=%s is the %s address of %s/%d, not a host's; no address\n", ip, what,
		       inet_fmt(net, *addr & *mask), inet_mask_to_prefix(*mask));
		return -EINVAL;
	}
	parse_gateway(gw, *addr, *mask, gwaddr);
	return 0;
}

/* acd=1: a static address is probed first (RFC 5227 2.1.1) and set only if nobody has it. */
static be32 acd_mask, acd_gw;

static void acd_probe_done(be32 addr, bool conflict)
{
	char ip[INET_ADDRSTRLEN];

	if (conflict)
		printk("net: %s is in use on the link; no address (acd=1)\n", inet_fmt(ip, addr));
	else
		inet_set_address(addr, acd_mask, acd_gw, INET_SRC_STATIC);
}

static bool acd_probe_first(struct net_device *dev, be32 addr, be32 mask, be32 gw)
{
	const char *acd = cmdline_get("acd");

	if (!acd || strcmp(acd, "1") != 0)
		return false;
	acd_mask = mask;
	acd_gw = gw;
	return arp_probe(dev, addr, acd_probe_done) == 0;
}

/* Link up: the link may be another network now (RFC 5227 2.1: probe "whenever the link
 * state changes"). With acd=1 a static address is given up and probed again (set back and
 * announced when nobody has it; a probe already running for it goes on); otherwise the
 * address is announced again (2.3). DHCP confirms its lease with INIT-REBOOT. */
static void inet_link_handler(struct net_device *dev, bool up)
{
	be32 addr = inet_if.addr, mask = inet_if.mask, gw = inet_if.gw;
	char ip[INET_ADDRSTRLEN];

	if (dev != inet_if.dev)
		return;
	if (!up) {
		arp_flush(); /* whatever we knew about the wire may be stale when it returns */
		return;
	}
	if (inet_if.configured && inet_if.source == INET_SRC_STATIC && acd_probe_first(dev, addr, mask, gw)) {
		printk("net: link up; probing %s again before use (acd=1)\n", inet_fmt(ip, addr));
		inet_clear_address();
	} else if (inet_if.configured) {
		arp_announce(dev, inet_if.addr);
	}
	dhcp_link_change(true);
}

/* The device's events (net/netdev.h): a new MAC (ifconfig hw ether) and a request to announce
 * ourselves (virtio-net's GUEST_ANNOUNCE after a migration) both mean the switches and the
 * neighbours' ARP caches must learn where our address is now: announce it (RFC 5227 2.3,
 * which section 3 calls gratuitous ARP). */
static void inet_event_handler(struct net_device *dev, enum netdev_event event)
{
	if (dev != inet_if.dev || !inet_if.configured)
		return;
	arp_announce(dev, inet_if.addr);
	if (event == NETDEV_NOTIFY_PEERS) /* moved: a DHCP lease is confirmed, as on link up */
		dhcp_moved();
}

/* dns=A.B.C.D: the DNS server, whatever DHCP says (net/dns.h). */
static void inet_parse_dns(const char *dns)
{
	be32 addr;

	if (!dns)
		return;
	if (inet_parse_addr(dns, &addr) || !ipv4_is_valid_host(addr))
		printk("net: dns=%s is not an address; no DNS server from the command line\n", dns);
	else
		dns_set_server(addr, DNS_SRC_CMDLINE);
}

void inet_attach(struct net_device *dev, const char *ip, const char *gw)
{
	be32 addr, mask, gwaddr;
	bool use_dhcp;

	inet_if.dev = dev;
	netdev_set_rx_handler(eth_input);
	netdev_set_link_handler(inet_link_handler);
	netdev_set_event_handler(inet_event_handler);
	udp_services_start();
	icmp_reset();
	inet_parse_dns(cmdline_get("dns"));
	if (inet_parse_config(ip, gw, &addr, &mask, &gwaddr, &use_dhcp))
		return;
	if (use_dhcp)
		dhcp_start();
	else if (!acd_probe_first(dev, addr, mask, gwaddr))
		inet_set_address(addr, mask, gwaddr, INET_SRC_STATIC);
}

void inet_init(void)
{
	struct net_device *dev = netdev_get(0);

	if (!dev) {
		printk("net: no network device; the stack stays down\n");
		return;
	}
	inet_attach(dev, cmdline_get("ip"), cmdline_get("gw"));
}
INITCALL(5, inet_init);

void inet_reset(void)
{
	dhcp_stop();
	dns_reset();
	arp_reset();
	udp_reset();
	ipv4_reset();
	icmp_reset();
	eth_clear_multicast();
	memset(&inet_if, 0, sizeof(inet_if));
	inet_zero_stats();
}

void inet_describe(struct net_device *dev)
{
	char a[INET_ADDRSTRLEN], m[INET_ADDRSTRLEN], g[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	static const char *const how[] = { "none", "static", "dhcp" };

	if (!dev || dev != inet_if.dev)
		return;
	if (!inet_if.configured) {
		printk("  inet: no address%s\n", dhcp.state == DHCP_RELEASED ? " (dhcp released; 'dhcp start' asks again)"
						 : dhcp.state != DHCP_OFF     ? " (dhcp in progress)" : "");
	} else {
		printk("  inet %s/%d netmask %s broadcast %s gateway %s (%s)\n", inet_fmt(a, inet_if.addr),
		       inet_mask_to_prefix(inet_if.mask), inet_fmt(m, inet_if.mask),
		       inet_fmt(b, inet_subnet_broadcast() ? inet_subnet_broadcast() : INADDR_BROADCAST_BE),
		       inet_if.gw ? inet_fmt(g, inet_if.gw) : "none", how[inet_if.source]);
	}
	dhcp_describe();
	dns_describe();
}

void inet_print_stats(void)
{
	eth_print_stats();
	arp_print_stats();
	ipv4_print_stats();
	icmp_print_stats();
	udp_print_stats();
	dhcp_print_stats();
	dns_print_stats();
}

void inet_zero_stats(void)
{
	eth_zero_stats();
	arp_zero_stats();
	ipv4_zero_stats();
	icmp_zero_stats();
	udp_zero_stats();
	dhcp_zero_stats();
	dns_zero_stats();
}
