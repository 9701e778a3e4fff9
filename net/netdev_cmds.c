/*
 * net/netdev_cmds.c - shell commands for network devices: ifconfig, netstat, sendraw,
 * framelog, netreset. Kernel-only (the rest of net/ also builds on the host).
 */
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/init.h"
#include "kernel/loop.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "kernel/string.h"
#include "kernel/time.h"
#include "net/inet.h"
#include "net/net_stats.h"
#include "net/netdev.h"

#define SENDRAW_ETHERTYPE 0x88b5 /* IEEE 802 "local experimental" ethertype */
#define SENDRAW_BURST 32        /* frames per kick, unless the command says otherwise */

extern bool netdev_framelog;

static struct net_device *first_dev(void)
{
	struct net_device *dev = netdev_get(0);

	if (!dev)
		printk("no network device\n");
	return dev;
}

static void ifconfig_show(struct net_device *dev)
{
	printk("%s: %s mac %02x:%02x:%02x:%02x:%02x:%02x mtu %u link %s%s%s\n", dev->name, dev->driver_name,
	       dev->mac[0], dev->mac[1], dev->mac[2], dev->mac[3], dev->mac[4], dev->mac[5], dev->mtu,
	       dev->carrier ? "up" : "down", dev->promisc ? " promisc" : "", dev->allmulti ? " allmulti" : "");
	inet_describe(dev);
	if (dev->ops->ndo_describe)
		dev->ops->ndo_describe(dev);
}

static int parse_mac(const char *s, u8 mac[ETH_ALEN])
{
	for (int i = 0; i < ETH_ALEN; i++) {
		u64 v = 0;
		int digits = 0;

		for (; digits < 2 && *s && *s != ':'; digits++, s++) {
			char c = *s;

			if (c >= '0' && c <= '9')
				v = v * 16 + (u64)(c - '0');
			else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
				v = v * 16 + (u64)((c | 0x20) - 'a' + 10);
			else
				return -EINVAL;
		}
		if (!digits || *s != (i == ETH_ALEN - 1 ? '\0' : ':'))
			return -EINVAL;
		if (*s)
			s++;
		mac[i] = (u8)v;
	}
	return 0;
}

static void print_mac_change(struct net_device *dev, const u8 *m)
{
	printk("ifconfig: %s hw ether %02x:%02x:%02x:%02x:%02x:%02x\n", dev->name, m[0], m[1], m[2], m[3], m[4],
	       m[5]);
}

/* ifconfig IFACE promisc|allmulti on|off, ifconfig IFACE hw ether MAC */
static int ifconfig_set(struct net_device *dev, int argc, char **argv)
{
	bool on = argc == 4 && strcmp(argv[3], "on") == 0;
	int err;

	if (argc == 5 && strcmp(argv[2], "hw") == 0 && strcmp(argv[3], "ether") == 0) {
		u8 mac[ETH_ALEN];

		if (parse_mac(argv[4], mac) < 0)
			return -EINVAL;
		err = dev_set_mac_address(dev, mac);
		if (err == -EINVAL)
			printk("ifconfig: %s is a group or zero address, not one a host may use\n", argv[4]);
		else if (!err)
			print_mac_change(dev, dev->mac);
		return err;
	}
	if (argc != 4 || (strcmp(argv[3], "on") != 0 && strcmp(argv[3], "off") != 0))
		return -EINVAL;
	if (strcmp(argv[2], "promisc") == 0)
		err = dev_set_promiscuity(dev, on);
	else if (strcmp(argv[2], "allmulti") == 0)
		err = dev_set_allmulti(dev, on);
	else
		return -EINVAL;
	if (err == -EOPNOTSUPP)
		printk("ifconfig: %s: its device cannot be told what to receive (virtio-net: no VIRTIO_NET_F_CTRL_RX)\n",
		       dev->name);
	else if (!err)
		printk("ifconfig: %s %s %s\n", dev->name, argv[2], on ? "on" : "off");
	return err;
}

static int cmd_ifconfig(int argc, char **argv)
{
	if (argc > 1) {
		for (int i = 0; i < netdev_count(); i++) {
			struct net_device *dev = netdev_get(i);

			if (strcmp(dev->name, argv[1]) != 0)
				continue;
			if (argc == 2) {
				ifconfig_show(dev);
				return 0;
			}
			return ifconfig_set(dev, argc, argv);
		}
		printk("ifconfig: no interface %s\n", argv[1]);
		return -ENODEV;
	}
	if (netdev_count() == 0)
		printk("no network devices\n");
	for (int i = 0; i < netdev_count(); i++)
		ifconfig_show(netdev_get(i));
	return 0;
}
SHELL_COMMAND(ifconfig, cmd_ifconfig, "ifconfig [IFACE [promisc|allmulti on|off | hw ether MAC]]",
	      "network interfaces: MAC, MTU, link, features; receive filter and MAC (docs/serial.md)");

/* netstat's two lines per device: traffic, then queueing and drops. The tables describe the
 * whole struct net_device, so a gauge (the backlog's length now) can sit among the counters. */
#define NETDEV_STAT(f) NET_STAT_NAMED(#f, struct net_device, stats.f)
static const struct net_stat_desc netdev_traffic_desc[] = {
	NETDEV_STAT(rx_packets) NETDEV_STAT(rx_bytes) NETDEV_STAT(tx_packets) NETDEV_STAT(tx_bytes)
};
static const struct net_stat_desc netdev_queue_desc[] = {
	NETDEV_STAT(rx_no_handler) NETDEV_STAT(tx_busy)
	NET_STAT_NAMED("tx_backlog", struct net_device, tx_backlog.len)
	NETDEV_STAT(tx_backlog_drop) NETDEV_STAT(tx_carrier_drop) NETDEV_STAT(tx_too_long)
	NETDEV_STAT(tx_detached_drop)
	NETDEV_STAT(napi_polls) NETDEV_STAT(napi_budget_exhausted)
};

static int cmd_netstat(int argc, char **argv)
{
	bool zero = argc == 2 && strcmp(argv[1], "-z") == 0;

	if (argc > 2 || (argc == 2 && !zero))
		return -EINVAL;
	for (int i = 0; i < netdev_count(); i++) {
		struct net_device *dev = netdev_get(i);
		struct netdev_stats *s = &dev->stats;

		if (zero) {
			memset(s, 0, sizeof(*s));
			if (dev->ops->ndo_zero_stats)
				dev->ops->ndo_zero_stats(dev);
			continue;
		}
		net_stats_print_line(dev->name, netdev_traffic_desc, ARRAY_SIZE(netdev_traffic_desc), dev);
		net_stats_print_line(dev->name, netdev_queue_desc, ARRAY_SIZE(netdev_queue_desc), dev);
		if (dev->ops->ndo_stats)
			dev->ops->ndo_stats(dev);
	}
	if (zero) {
		inet_zero_stats();
		printk("netstat: counters zeroed\n");
	} else {
		inet_print_stats();
		netbuf_print_stats();
	}
	return 0;
}
SHELL_COMMAND(netstat, cmd_netstat, "netstat [-z]", "packet, drop, interrupt and pool counters (-z: zero them)");

/* Frame i of a sendraw run: broadcast, our source MAC, ethertype 0x88b5, then a 4-byte
 * big-endian sequence number and bytes (seq + offset) & 0xff: a test recomputes it exactly. */
static int build_raw_frame(struct net_device *dev, struct netbuf *nb, u32 seq, unsigned size)
{
	u8 *p = netbuf_put(nb, size);

	if (!p)
		return -EMSGSIZE;
	memset(p, 0xff, ETH_ALEN);
	memcpy(p + 6, dev->mac, ETH_ALEN);
	p[12] = SENDRAW_ETHERTYPE >> 8;
	p[13] = SENDRAW_ETHERTYPE & 0xff;
	p[14] = seq >> 24;
	p[15] = seq >> 16;
	p[16] = seq >> 8;
	p[17] = seq;
	for (unsigned i = 18; i < size; i++)
		p[i] = (u8)(seq + i);
	return 0;
}

/* Wait (running the loop, so completions are reclaimed) until a buffer can be had and the
 * device's backlog has room; NULL after a second without progress. */
static struct netbuf *sendraw_alloc(struct net_device *dev)
{
	u64 deadline = now_ns() + NSEC_PER_SEC;

	for (;;) {
		struct netbuf *nb = dev->tx_backlog.len < TX_BACKLOG_LIMIT / 2 ? netbuf_alloc() : NULL;

		if (nb || now_ns() > deadline)
			return nb;
		loop_once();
	}
}

static int cmd_sendraw(int argc, char **argv)
{
	struct net_device *dev = first_dev();
	u64 count, size, burst = SENDRAW_BURST;
	u64 sent = 0, failed = 0;

	if (!dev)
		return -ENODEV;
	if (argc < 3 || argc > 4 || parse_u64(argv[1], &count) < 0 || parse_u64(argv[2], &size) < 0 ||
	    (argc == 4 && (parse_u64(argv[3], &burst) < 0 || burst == 0)))
		return -EINVAL;
	if (size < 18 || size > dev->mtu + ETH_HLEN) {
		printk("sendraw: SIZE must be 18..%u (MTU %u + Ethernet header)\n", dev->mtu + ETH_HLEN, dev->mtu);
		return -EINVAL;
	}
	for (u64 i = 0; i < count; i++) {
		struct netbuf *nb = sendraw_alloc(dev);

		if (!nb || build_raw_frame(dev, nb, (u32)i, (unsigned)size) < 0) {
			netbuf_free(nb);
			failed++;
			continue;
		}
		if (dev_queue_xmit(dev, nb) < 0)
			failed++;
		else
			sent++;
		if (i % burst == burst - 1)
			loop_once(); /* end of a burst: kick the device, reclaim what it finished */
	}
	printk("sendraw: %llu frames of %llu bytes queued, %llu failed\n", sent,
	       size, failed);
	return 0;
}
SHELL_COMMAND(sendraw, cmd_sendraw, "sendraw COUNT SIZE [BURST]",
	      "send COUNT broadcast test frames of SIZE bytes, BURST (32) between kicks (pattern: docs/serial.md)");

/* `perf`: per-packet costs since the last `perf -z` (or boot), from snapshots of the
 * counters, so nothing else is disturbed. */
static struct netdev_stats perf_base[NET_MAX_DEVICES];
static struct loop_stats perf_loop_base;
static u64 perf_tsc_base;

/* a / b with two decimals, as an integer scaled by 100 */
static u64 ratio100(u64 a, u64 b) { return b ? a * 100 / b : 0; }

static int cmd_perf(int argc, char **argv)
{
	struct loop_stats ls;
	u64 elapsed, idle100;

	if (argc == 2 && strcmp(argv[1], "-z") == 0) {
		for (int i = 0; i < netdev_count(); i++)
			perf_base[i] = netdev_get(i)->stats;
		loop_get_stats(&perf_loop_base);
		perf_tsc_base = rdtsc();
		printk("perf: counters zeroed\n");
		return 0;
	}
	if (argc != 1)
		return -EINVAL;
	loop_get_stats(&ls);
	elapsed = rdtsc() - perf_tsc_base;
	idle100 = ratio100(ls.idle_cycles - perf_loop_base.idle_cycles, elapsed / 100);
	for (int i = 0; i < netdev_count(); i++) {
		const struct netdev_stats *now = &netdev_get(i)->stats, *then = &perf_base[i];
		u64 rx = now->rx_packets - then->rx_packets, tx = now->tx_packets - then->tx_packets;
		u64 rx_cyc = now->rx_cycles - then->rx_cycles, tx_cyc = now->tx_cycles - then->tx_cycles;
		u64 kicks100 = ratio100(now->doorbells - then->doorbells, rx + tx);
		u64 irqs100 = ratio100(now->irqs - then->irqs, rx + tx);

		printk("perf: rx_pkts %llu rx_cycles_per_pkt %llu tx_pkts %llu tx_cycles_per_pkt %llu "
		       "kicks_per_pkt %llu.%02llu interrupts_per_pkt %llu.%02llu idle_pct %llu.%02llu\n",
		       rx, (rx ? rx_cyc / rx : 0), tx,
		       (tx ? tx_cyc / tx : 0), (kicks100 / 100),
		       (kicks100 % 100), (irqs100 / 100),
		       (irqs100 % 100), (idle100 / 100),
		       (idle100 % 100));
		printk("perf: %s over %llu ms: rx %llu ns/pkt (driver + stack + replies), tx %llu ns/pkt (send, kick, reclaim), TSC %llu MHz\n",
		       netdev_get(i)->name, (tsc_to_ns(elapsed) / NSEC_PER_MSEC),
		       (rx ? tsc_to_ns(rx_cyc / rx) : 0),
		       (tx ? tsc_to_ns(tx_cyc / tx) : 0), (tsc_hz() / 1000000));
	}
	return 0;
}
SHELL_COMMAND(perf, cmd_perf, "perf [-z]", "cycles, kicks and interrupts per packet, idle time (-z: start over)");

static int cmd_stall(int argc, char **argv)
{
	u64 ms;

	if (argc != 2 || parse_u64(argv[1], &ms) < 0 || ms == 0 || ms > 60000)
		return -EINVAL;
	net_stall(ms);
	printk("stall: no network polling for %llu ms\n", ms);
	return 0;
}
SHELL_COMMAND(stall, cmd_stall, "stall MS", "stop network polling for MS ms (1..60000): rings fill, the device drops");

static int cmd_framelog(int argc, char **argv)
{
	if (argc != 2 || (strcmp(argv[1], "on") != 0 && strcmp(argv[1], "off") != 0))
		return -EINVAL;
	netdev_framelog = strcmp(argv[1], "on") == 0;
	printk("framelog: %s\n", netdev_framelog ? "on" : "off");
	return 0;
}
SHELL_COMMAND(framelog, cmd_framelog, "framelog on|off", "print length and CRC-32 of every received frame");

static int cmd_netreset(int argc, char **argv)
{
	struct net_device *dev = first_dev();
	int err;

	if (!dev)
		return -ENODEV;
	if (!dev->ops->ndo_reset)
		return -EOPNOTSUPP;
	err = dev->ops->ndo_reset(dev);
	if (!err)
		printk("netreset: %s reset and re-probed\n", dev->name);
	return err;
}
SHELL_COMMAND(netreset, cmd_netreset, "netreset", "reset the NIC, reclaim every buffer, probe again");

static void netdev_init(void)
{
	loop_set_poll_hook(net_poll, net_poll_pending);
	if (cmdline_get("framelog"))
		netdev_framelog = true;
}
INITCALL(4, netdev_init);
