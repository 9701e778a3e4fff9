/*
 * net/netbuf.h - packet buffers, in the spirit of Linux's sk_buff (much reduced).
 *
 *   head            data                  tail              end
 *    |  headroom     |   packet bytes      |   tailroom      |
 *
 * Every buffer is allocated with NETBUF_HEADROOM bytes in front of data, so each layer on the
 * way out prepends its header (netbuf_push) without copying the payload, down to the
 * virtio_net_hdr the driver puts in front of the Ethernet header. On the way in, each layer
 * strips its header with netbuf_pull. Buffers come from one fixed pool whose counters
 * (allocated, free, peak, failures) make a leak visible.
 *
 * The memory of a buffer is DMA-able: drivers hand it to devices (through virt_to_phys).
 * Also builds on the host for unit tests.
 */
#ifndef NET_NETBUF_H
#define NET_NETBUF_H

#include "kernel/types.h"

#define NETBUF_HEADROOM 128          /* virtio-net hdr (12) + Ethernet (14) + IPv4 (<=60) + UDP (8), rounded */
#define NETBUF_DEFAULT_SIZE 2048     /* whole buffer, headroom included: fits a 1500-byte MTU */
#define NETBUF_MAX 4096              /* most buffers the pool can hold */

struct net_device;

enum { NETBUF_CSUM_NONE, NETBUF_CSUM_PARTIAL, NETBUF_CSUM_UNNECESSARY };

struct netbuf {
	u8 *head, *data, *tail, *end;
	struct netbuf *next;       /* queue link; owned by whoever holds the buffer */
	struct net_device *dev;    /* received on / to be sent on */
	u16 protocol;              /* ethertype, host byte order (set by the Ethernet layer) */
	u16 network_off;           /* offset of the network header from head (set on receive) */
	u16 transport_off;         /* offset of the transport header from head */
	u16 index;                 /* slot in the pool, for debugging and leak reports */
	bool in_use;
	bool link_multicast;       /* received in a frame to a group MAC, broadcast or multicast
				    * (set by the Ethernet layer): RFC 1122 3.2.2 forbids an ICMP
				    * error about it, 3.3.6 an answer */
	/* Checksum offload (Linux's ip_summed, csum_start, csum_offset). On transmit the stack
	 * sets NETBUF_CSUM_PARTIAL only for a device with NETIF_F_HW_CSUM (net/netdev.h): the
	 * 16-bit ones' complement sum of the bytes from head + csum_start to the end of the frame
	 * goes to head + csum_start + csum_offset, whose field holds the seed (the pseudo-header
	 * sum). On receive the driver says what the device vouched for: NETBUF_CSUM_UNNECESSARY
	 * (checksums verified), NETBUF_CSUM_PARTIAL (data verified, the checksum field still only
	 * the seed, at csum_start + csum_offset). The stack clears it once it has used it, so a
	 * buffer turned into a reply never carries a received frame's marks. */
	u8 ip_summed;              /* NETBUF_CSUM_* */
	u16 csum_start;            /* PARTIAL: offset from head where the summed bytes begin */
	u16 csum_offset;           /* PARTIAL: where the result goes, counted from csum_start */
	/* NULL for the pool's buffers. A buffer whose memory is someone else's (an IPv4
	 * reassembly slot, net/ipv4_frag.c) sets it: netbuf_free calls it instead of returning
	 * the buffer to the pool, and the pool never counts such a buffer. */
	void (*release)(struct netbuf *nb);
};

static inline unsigned netbuf_len(const struct netbuf *nb) { return (unsigned)(nb->tail - nb->data); }
static inline unsigned netbuf_headroom(const struct netbuf *nb) { return (unsigned)(nb->data - nb->head); }
static inline unsigned netbuf_tailroom(const struct netbuf *nb) { return (unsigned)(nb->end - nb->tail); }

/* Append len bytes at the tail; returns where they go, or NULL when they do not fit. */
void *netbuf_put(struct netbuf *nb, unsigned len);
/* Prepend len bytes before data; NULL when the headroom is too small. */
void *netbuf_push(struct netbuf *nb, unsigned len);
/* Remove len bytes from the front; NULL (and nothing removed) when fewer are there. */
void *netbuf_pull(struct netbuf *nb, unsigned len);
/* Cut the packet down to len bytes (no-op when already shorter). */
void netbuf_trim(struct netbuf *nb, unsigned len);
/* Empty the buffer and leave headroom bytes in front of data. */
void netbuf_reset(struct netbuf *nb, unsigned headroom);

/* The pool. netbuf_pool_init creates it with buffers of buf_size bytes (the first caller
 * decides; later callers get -EEXIST if they want larger buffers); netbuf_pool_grow adds
 * count buffers. Returns 0 or a negative errno. How large and how many is the netdev
 * layer's policy, applied when devices register (net/netdev.h): drivers do not call these. */
int netbuf_pool_init(unsigned buf_size);
int netbuf_pool_grow(unsigned count);
unsigned netbuf_buf_size(void);
/* The most buffers the pool may hold: NETBUF_MAX, unless lowered (host tests lower it so that
 * large rings run the pool dry). */
unsigned netbuf_pool_max(void);
void netbuf_pool_set_max(unsigned max);

/* A buffer with NETBUF_HEADROOM reserved and no data; NULL when the pool is empty (counted). */
struct netbuf *netbuf_alloc(void);
/* Back to the pool; a buffer with a release function goes to it instead (see struct netbuf). */
void netbuf_free(struct netbuf *nb);

struct netbuf_stats {
	u64 total;          /* buffers in the pool */
	u64 free;
	u64 in_use;
	u64 peak_in_use;
	u64 allocs;
	u64 frees;
	u64 alloc_failures;
	u64 bad_frees;      /* double free or foreign pointer: counted, ignored */
};
void netbuf_get_stats(struct netbuf_stats *st);
void netbuf_print_stats(void); /* netstat's line "netbuf: total N free N ..." */

/* A FIFO of buffers with a bound. */
struct netbuf_queue {
	struct netbuf *head, *tail;
	unsigned len, limit;
};
void netbuf_queue_init(struct netbuf_queue *q, unsigned limit);
bool netbuf_enqueue(struct netbuf_queue *q, struct netbuf *nb); /* false: full, not queued */
struct netbuf *netbuf_dequeue(struct netbuf_queue *q);
/* Put back at the front a buffer just dequeued (no limit check: it held that place). */
void netbuf_queue_head(struct netbuf_queue *q, struct netbuf *nb);
void netbuf_queue_purge(struct netbuf_queue *q);                /* frees every buffer */

#endif
