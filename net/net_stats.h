/*
 * net/net_stats.h - counters described as data.
 *
 * Each layer keeps its counters in a plain struct and describes them once in a table of
 * descriptors: the name netstat prints and where the value sits in the struct (the idea of
 * the stat descriptor tables Linux drivers give ethtool). One formatter, net_stats_print,
 * walks any such table, so every counter line looks the same and adding a counter is one
 * line in one place. Most layers declare the struct and the table from one X-macro list:
 *
 *	#define ARP_STATS(X) X(rx_packets) X(rx_requests) ...
 *	struct arp_stats { ARP_STATS(NET_STAT_FIELD) };            (in the header)
 *	#define ARP_STAT(f) NET_STAT(struct arp_stats, f)
 *	static const struct net_stat_desc arp_stat_desc[] = { ARP_STATS(ARP_STAT) };
 *
 * A descriptor may also name a gauge (an unsigned, such as a queue length) among counters,
 * or print a field under another name (NET_STAT_NAMED).
 */
#ifndef NET_NET_STATS_H
#define NET_NET_STATS_H

#include "kernel/types.h"

struct net_stat_desc {
	const char *name; /* as printed */
	u16 offset;       /* of the value, from the start of the struct the table describes */
	u8 size;          /* sizeof the value: sizeof(u64) for a counter, sizeof(u32) for a gauge */
};

#define NET_STAT_NAMED(name, type, member) \
	{ name, (u16)offsetof(type, member), (u8)sizeof(((type *)0)->member) },
#define NET_STAT(type, member) NET_STAT_NAMED(#member, type, member)

/* The X-macro helper that declares one counter of a layer's stats struct. */
#define NET_STAT_FIELD(name) u64 name;

/* " name value" for each of the n values described by desc, read from stats; the caller
 * writes what begins and ends the line. */
void net_stats_print(const struct net_stat_desc *desc, unsigned n, const void *stats);
/* A whole line: "<prefix>: name value name value ...\n". */
void net_stats_print_line(const char *prefix, const struct net_stat_desc *desc, unsigned n,
			  const void *stats);

#endif
