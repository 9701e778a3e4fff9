/*
 * net/netbuf.c - the packet-buffer pool and the head/data/tail/end arithmetic.
 */
#include "kernel/errno.h"
#include "kernel/mem.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "net/net_stats.h"
#include "net/netbuf.h"

#define CHUNK_BYTES (256 * 1024) /* data areas are carved from DMA chunks of this size */

static struct netbuf pool[NETBUF_MAX];
static struct netbuf *free_list;
static unsigned buf_size;
static unsigned pool_max = NETBUF_MAX;
static struct netbuf_stats stats;

void *netbuf_put(struct netbuf *nb, unsigned len)
{
	u8 *old = nb->tail;

	if (len > netbuf_tailroom(nb))
		return NULL;
	nb->tail += len;
	return old;
}

void *netbuf_push(struct netbuf *nb, unsigned len)
{
	if (len > netbuf_headroom(nb))
		return NULL;
	nb->data -= len;
	return nb->data;
}

void *netbuf_pull(struct netbuf *nb, unsigned len)
{
	if (len > netbuf_len(nb))
		return NULL;
	nb->data += len;
	return nb->data;
}

void netbuf_trim(struct netbuf *nb, unsigned len)
{
	if (len < netbuf_len(nb))
		nb->tail = nb->data + len;
}

void netbuf_reset(struct netbuf *nb, unsigned headroom)
{
	if (headroom > (unsigned)(nb->end - nb->head))
		headroom = (unsigned)(nb->end - nb->head);
	nb->data = nb->tail = nb->head + headroom;
	nb->protocol = 0;
	nb->network_off = nb->transport_off = 0;
	nb->link_multicast = false;
	nb->ip_summed = NETBUF_CSUM_NONE;
	nb->csum_start = nb->csum_offset = 0;
	nb->next = NULL;
}

int netbuf_pool_init(unsigned size)
{
	size = ALIGN_UP(size, 64u);
	if (buf_size)
		return size <= buf_size ? 0 : -EEXIST;
	if (size < NETBUF_HEADROOM + 64 || size > CHUNK_BYTES)
		return -EINVAL;
	buf_size = size;
	return 0;
}

unsigned netbuf_buf_size(void) { return buf_size; }
unsigned netbuf_pool_max(void) { return pool_max; }
void netbuf_pool_set_max(unsigned max) { pool_max = MIN(max, (unsigned)NETBUF_MAX); }

int netbuf_pool_grow(unsigned count)
{
	unsigned per_chunk;

	if (!buf_size)
		return -EINVAL;
	per_chunk = CHUNK_BYTES / buf_size;
	while (count) {
		unsigned n = MIN(count, per_chunk);
		phys_addr_t pa;
		u8 *mem;

		if (stats.total + n > pool_max)
			return -ENOSPC;
		mem = dma_alloc((size_t)n * buf_size, 64, &pa);
		if (!mem)
			return -ENOMEM;
		for (unsigned i = 0; i < n; i++) {
			struct netbuf *nb = &pool[stats.total];

			nb->index = (u16)stats.total;
			nb->head = mem + (size_t)i * buf_size;
			nb->end = nb->head + buf_size;
			nb->in_use = false;
			nb->next = free_list;
			free_list = nb;
			stats.total++;
			stats.free++;
		}
		count -= n;
	}
	return 0;
}

struct netbuf *netbuf_alloc(void)
{
	struct netbuf *nb = free_list;

	if (!nb) {
		stats.alloc_failures++;
		return NULL;
	}
	free_list = nb->next;
	nb->in_use = true;
	nb->dev = NULL;
	netbuf_reset(nb, NETBUF_HEADROOM);
	stats.allocs++;
	stats.free--;
	stats.in_use++;
	if (stats.in_use > stats.peak_in_use)
		stats.peak_in_use = stats.in_use;
	return nb;
}

void netbuf_free(struct netbuf *nb)
{
	if (!nb)
		return;
	if (nb->release) { /* not the pool's: its owner takes it back */
		nb->release(nb);
		return;
	}
	if (nb < pool || nb >= pool + stats.total || !nb->in_use) {
		stats.bad_frees++;
		return;
	}
	nb->in_use = false;
	nb->next = free_list;
	free_list = nb;
	stats.frees++;
	stats.free++;
	stats.in_use--;
}

void netbuf_get_stats(struct netbuf_stats *st) { *st = stats; }

#define NETBUF_STAT(f) NET_STAT(struct netbuf_stats, f)
static const struct net_stat_desc netbuf_stat_desc[] = {
	NETBUF_STAT(total) NETBUF_STAT(free) NETBUF_STAT(in_use)
	NET_STAT_NAMED("peak", struct netbuf_stats, peak_in_use)
	NETBUF_STAT(allocs) NETBUF_STAT(frees) NETBUF_STAT(alloc_failures) NETBUF_STAT(bad_frees)
};

void netbuf_print_stats(void) { net_stats_print_line("netbuf", netbuf_stat_desc, ARRAY_SIZE(netbuf_stat_desc), &stats); }

void netbuf_queue_init(struct netbuf_queue *q, unsigned limit)
{
	q->head = q->tail = NULL;
	q->len = 0;
	q->limit = limit;
}

bool netbuf_enqueue(struct netbuf_queue *q, struct netbuf *nb)
{
	if (q->len >= q->limit)
		return false;
	nb->next = NULL;
	if (q->tail)
		q->tail->next = nb;
	else
		q->head = nb;
	q->tail = nb;
	q->len++;
	return true;
}

void netbuf_queue_head(struct netbuf_queue *q, struct netbuf *nb)
{
	nb->next = q->head;
	q->head = nb;
	if (!q->tail)
		q->tail = nb;
	q->len++;
}

struct netbuf *netbuf_dequeue(struct netbuf_queue *q)
{
	struct netbuf *nb = q->head;

	if (nb) {
		q->head = nb->next;
		if (!q->head)
			q->tail = NULL;
		nb->next = NULL;
		q->len--;
	}
	return nb;
}

void netbuf_queue_purge(struct netbuf_queue *q)
{
	struct netbuf *nb;

	while ((nb = netbuf_dequeue(q)))
		netbuf_free(nb);
}
