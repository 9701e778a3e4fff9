/*
 * net/net_stats.c - the one formatter for counter tables (net/net_stats.h).
 */
#include "kernel/printk.h"
#include "net/net_stats.h"

static u64 stat_value(const struct net_stat_desc *d, const void *stats)
{
	const u8 *p = (const u8 *)stats + d->offset;

	return d->size == sizeof(u32) ? *(const u32 *)p : *(const u64 *)p;
}

void net_stats_print(const struct net_stat_desc *desc, unsigned n, const void *stats)
{
	for (unsigned i = 0; i < n; i++)
		printk(" %s %llu", desc[i].name, stat_value(&desc[i], stats));
}

void net_stats_print_line(const char *prefix, const struct net_stat_desc *desc, unsigned n,
			  const void *stats)
{
	printk("%s:", prefix);
	net_stats_print(desc, n, stats);
	printk("\n");
}
