/*
 * tests/unit/virtnet_harness.c - the virtio-net driver (drivers/net/virtio_net.c) and the
 * virtio core (drivers/virtio/virtio.c) on the host, against a fake transport and a simulated
 * device, for tests/unit/test_virtio_net.c and tests/fuzz/fuzz_virtnet.c.
 *
 * This file is #included by those two, not compiled alone: it includes the driver and core
 * sources themselves, so tests can reach their static state (struct virtnet_info and its
 * counters, receive_buf) and reset it between tests.
 *
 * The fake transport (struct virtio_config_ops "vh") keeps the device's status, features and
 * configuration space (MAC, link status, MTU; virtio 1.x 5.1.4) in memory, reads the space
 * through the core's generation retry loop with a generation the test can make unstable, and
 * creates real virtqueues (split, or packed when the device offers VIRTIO_F_RING_PACKED) after
 * checking the queue size the device "reports" with the core's check -- every value a test can
 * make hostile. The device side of each queue is tests/unit/sim_device_harness.c (split) or
 * sim_packed_harness.c (packed), behind vh_pop/vh_push/vh_flush: it takes posted buffers, writes received
 * frames into them (header included, num_buffers as the test or fuzzer says), completes
 * transmitted frames and raises interrupts through vring_interrupt, like a transport's
 * handler would. The stack (net/) runs on the driver's net_device.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* #included, not linked: struct virtnet_info, receive_buf and the core's state are static */
#include "drivers/virtio/virtio.c"
#include "drivers/net/virtio_net.c"
#include "tests/unit/kernel_harness.h"
#include "tests/unit/netdev_harness.h"
#include "tests/unit/sim_device_harness.h"
#include "tests/unit/sim_packed_harness.h"
#include "tests/unit/net_harness.h"

#define VH_POOL_BUFS 1800 /* the harness makes the packet-buffer pool (see vh_start) */
#define VH_MAX_TX 64      /* transmitted frames kept for inspection */
/* unit.h's check counters (tentative definitions: the same objects once a test includes it),
 * so that a transmit header that breaks the rules fails the running test like a CHECK would.
 * The fuzzer (no unit.h) reads vh.tx_hdr_bad instead. */
static int unit_check_failures;
static const char *unit_current;
#define VH_CFG_LEN 12     /* virtio_net_config up to and including mtu (5.1.4) */
#define VH_MAX_VQS 9      /* four queue pairs and the control queue */
#define VH_CTRL_LOG 16    /* control commands kept for inspection */

/* How the simulated device answers a control command (5.1.6.5). */
enum vh_ctrl_answer {
	VH_CTRL_ACK,     /* carries it out, ack VIRTIO_NET_OK, used length 1 */
	VH_CTRL_NAK,     /* ack VIRTIO_NET_ERR */
	VH_CTRL_SILENT,  /* keeps the buffer and never answers (vh_ctrl_answer_late) */
	VH_CTRL_NO_ACK,  /* returns it with used length 0: the ack byte not written */
	VH_CTRL_LONG,    /* returns it with a used length beyond its one writable byte */
};

struct vh_ctrl_cmd {
	u8 class, cmd;
	u8 data[64];
	unsigned len;
};

struct vh_config {
	u64 features;        /* offered */
	bool legacy;         /* legacy interface: no VERSION_1, queue size cannot shrink */
	u16 qsize[2];        /* queue sizes the device reports: rx, tx */
	u8 mac[ETH_ALEN];
	u16 link_status;     /* VIRTIO_NET_S_* */
	u16 mtu;
	int unstable_reads;  /* the config generation changes on this many reads (-1: always) */
	bool refuse_features; /* FEATURES_OK does not stick */
	u64 must_accept;     /* FEATURES_OK does not stick unless the driver accepted these (QEMU
	                      * refuses a driver that leaves ACCESS_PLATFORM out) */
	bool stuck_reset;    /* status never reads back 0 after a reset */
	u16 mtu_late;        /* non-zero: the MTU field changes to this once FEATURES_OK is set */
	u16 max_pairs;       /* max_virtqueue_pairs (0: 1) */
	enum vh_ctrl_answer ctrl_answer;
};

struct vh_device {
	struct virtio_device vdev;
	struct vh_config cfg;
	u8 cfgspace[VH_CFG_LEN];
	u8 status;
	u64 accepted;
	u32 generation;
	int unstable_left;
	unsigned nvqs;
	struct virtqueue *vqs[VH_MAX_VQS];
	struct sim_device sim[VH_MAX_VQS];
	struct psim_device psim[VH_MAX_VQS];          /* the same for a packed ring */
	u16 psim_steps[VH_MAX_VQS][VIRTQUEUE_MAX_SIZE]; /* slots each buffer id took when popped */
	unsigned kicks[VH_MAX_VQS];
	unsigned kicks_before_driver_ok;
	unsigned resets;
	/* what the device did */
	unsigned rx_no_buffer;          /* frames the device had to drop: nothing posted */
	unsigned tx_seen;
	u8 tx_frame[VH_MAX_TX][NETBUF_DEFAULT_SIZE]; /* the last VH_MAX_TX frames, header stripped */
	unsigned tx_len[VH_MAX_TX];
	unsigned tx_nsegs[VH_MAX_TX]; /* descriptors each of them came in */
	unsigned tx_hdr_bad;     /* transmit headers that broke 5.1.6.2.1 (vh_tx_hdr_fault) */
	const char *tx_hdr_why;  /* the last such fault */
	/* the control queue, device side: what it was told, and its filter state (QEMU's model) */
	unsigned ctrl_seen;
	struct vh_ctrl_cmd ctrl_log[VH_CTRL_LOG]; /* the last VH_CTRL_LOG commands */
	struct sim_buf ctrl_held;                 /* VH_CTRL_SILENT: the command it sits on */
	bool ctrl_holding;
	bool promisc, allmulti;
	unsigned mc_count;
	u8 mac_now[ETH_ALEN];                     /* its address, after MAC_ADDR_SET */
	u16 pairs;                                /* after MQ_VQ_PAIRS_SET */
	u8 tx_hdr[VH_MAX_TX][sizeof(struct virtio_net_hdr_mrg_rxbuf)]; /* their headers, as sent */
};

static struct vh_device vh;
static bool vh_world_ready;
static long vh_dma_baseline;

/* ---- what the kernel would provide ------------------------------------------------------- */

int parse_u64(const char *s, u64 *out)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	*out = strtoull(s, &end, 0);
	return *end ? -EINVAL : 0;
}

static struct work *vh_work; /* at most one work item exists here: the core's config work */

void work_init(struct work *w, void (*fn)(struct work *w))
{
	w->fn = fn;
	w->next = NULL;
	w->queued = false;
}

void work_schedule(struct work *w)
{
	w->queued = true;
	vh_work = w;
}

static void vh_run_work(void)
{
	struct work *w = vh_work;

	vh_work = NULL;
	if (w && w->queued) {
		w->queued = false;
		w->fn(w);
	}
}

/* ---- the fake transport --------------------------------------------------------------------- */

static struct vh_device *to_vh(struct virtio_device *vdev) { return container_of(vdev, struct vh_device, vdev); }

static u32 vh_generation(struct virtio_device *vdev)
{
	struct vh_device *d = to_vh(vdev);

	if (d->unstable_left) {
		if (d->unstable_left > 0)
			d->unstable_left--;
		d->generation++;
	}
	return d->generation;
}

static void vh_read_cfg(struct virtio_device *vdev, unsigned off, void *buf, unsigned len)
{
	memcpy(buf, to_vh(vdev)->cfgspace + off, len);
}

static int vh_get(struct virtio_device *vdev, unsigned off, void *buf, unsigned len)
{
	if (off > VH_CFG_LEN || len > VH_CFG_LEN - off)
		return -EIO;
	return virtio_config_read_stable(vdev, vh_generation, vh_read_cfg, off, buf, len);
}

static void vh_set(struct virtio_device *vdev, unsigned off, const void *buf, unsigned len) {}

static u8 vh_get_status(struct virtio_device *vdev)
{
	struct vh_device *d = to_vh(vdev);

	bool refuse = d->cfg.refuse_features || (d->accepted & d->cfg.must_accept) != d->cfg.must_accept;

	return refuse ? d->status & ~VIRTIO_CONFIG_S_FEATURES_OK : d->status;
}

static void vh_set_status(struct virtio_device *vdev, u8 status)
{
	struct vh_device *d = to_vh(vdev);

	d->status = status;
	if ((status & VIRTIO_CONFIG_S_FEATURES_OK) && d->cfg.mtu_late)
		memcpy(d->cfgspace + VIRTIO_NET_CFG_MTU, &d->cfg.mtu_late, 2);
}

static int vh_reset_dev(struct virtio_device *vdev)
{
	struct vh_device *d = to_vh(vdev);

	d->resets++;
	if (d->cfg.stuck_reset)
		return -ETIMEDOUT;
	d->status = 0;
	return 0;
}

static u64 vh_get_features(struct virtio_device *vdev)
{
	struct vh_device *d = to_vh(vdev);

	return d->cfg.legacy ? d->cfg.features & 0xffffffffull : d->cfg.features;
}

static void vh_set_features(struct virtio_device *vdev, u64 f) { to_vh(vdev)->accepted = f; }

static bool vh_notify(struct virtqueue *vq);
static void vh_ctrl_device(struct vh_device *d, struct virtqueue *vq);

static bool vh_notify(struct virtqueue *vq)
{
	struct vh_device *d = vq->priv;

	d->kicks[vq->index]++;
	if (vq->index >= 2) /* the control queue: handled within the kick, as QEMU does */
		vh_ctrl_device(d, vq);
	if (!(d->status & VIRTIO_CONFIG_S_DRIVER_OK))
		d->kicks_before_driver_ok++; /* 3.1.1: the driver MUST NOT notify before DRIVER_OK */
	return true;
}

static void vh_del_vqs(struct virtio_device *vdev)
{
	struct vh_device *d = to_vh(vdev);

	for (unsigned i = 0; i < d->nvqs; i++) {
		vdev->vqs[i] = NULL;
		if (vdev->dead || !d->vqs[i]) /* as vp_del_vqs: a device that never reset keeps its rings */
			continue;
		vring_del_virtqueue(d->vqs[i]);
		d->vqs[i] = NULL;
	}
	d->nvqs = 0;
	vdev->nvqs = 0;
}

/* Like a transport's setup: the size the device reports goes through the core's check. */
static int vh_find_vqs(struct virtio_device *vdev, unsigned nvqs, struct virtqueue *vqs[], vq_callback_t callbacks[],
		       const char *const names[])
{
	struct vh_device *d = to_vh(vdev);

	if (nvqs > VH_MAX_VQS)
		return -EINVAL;
	for (unsigned i = 0; i < nvqs; i++) {
		int size;
		struct virtqueue *vq;

		vqs[i] = d->vqs[i] = vdev->vqs[i] = NULL;
		d->nvqs = vdev->nvqs = i + 1;
		if (!names[i]) /* a queue the driver leaves unset */
			continue;
		size = virtio_check_queue_size(vdev, i, i < 2 ? d->cfg.qsize[i] : 64, !d->cfg.legacy);

		if (size < 0) {
			vh_del_vqs(vdev);
			return size;
		}
		vq = (virtio_has_feature(vdev, VIRTIO_F_RING_PACKED) ? vring_create_virtqueue_packed
								       : vring_create_virtqueue)(
			i, (unsigned)size, virtio_has_feature(vdev, VIRTIO_RING_F_EVENT_IDX),
			virtio_has_feature(vdev, VIRTIO_RING_F_INDIRECT_DESC), vh_notify, callbacks[i], names[i]);
		if (!vq) {
			vh_del_vqs(vdev);
			return -ENOMEM;
		}
		vq->priv = d;
		vq->vdev = vdev;
		vqs[i] = d->vqs[i] = vdev->vqs[i] = vq;
		d->nvqs = vdev->nvqs = i + 1;
		if (vq->packed) {
			psim_attach(&d->psim[i], vq);
			memset(d->psim_steps[i], 0, sizeof(d->psim_steps[i]));
		} else
			sim_attach(&d->sim[i], vq);
	}
	return 0;
}

/* The device side of queue q, whichever the layout: take the next posted buffer... */
static bool vh_pop(struct vh_device *d, unsigned q, struct sim_buf *b)
{
	struct psim_buf pb;

	if (!d->vqs[q]->packed)
		return sim_pop(&d->sim[q], b);
	if (!psim_pop(&d->psim[q], &pb))
		return false;
	*b = pb.b;
	if (pb.b.head < d->vqs[q]->num)
		d->psim_steps[q][pb.b.head] = pb.ndescs;
	return true;
}

/* ...write a used entry for buffer id (any id: hostile tests; a packed ring skips the slots the
 * buffer took when popped, one for an id never popped)... */
static void vh_push(struct vh_device *d, unsigned q, u32 id, u32 len)
{
	if (!d->vqs[q]->packed) {
		sim_push(&d->sim[q], id, len);
		return;
	}
	psim_push(&d->psim[q], (u16)id, len,
		  id < d->vqs[q]->num && d->psim_steps[q][id] ? d->psim_steps[q][id] : 1);
}

/* ...and publish them: true when an interrupt is due. */
static bool vh_flush(struct vh_device *d, unsigned q)
{
	return d->vqs[q]->packed ? psim_flush(&d->psim[q]) : sim_flush(&d->sim[q]);
}

static void vh_describe(struct virtio_device *vdev) { printk("  fake transport\n"); }
static const char *vh_bus_name(struct virtio_device *vdev) { return "fake"; }

static const struct virtio_config_ops vh_ops = {
	.get = vh_get,
	.set = vh_set,
	.get_status = vh_get_status,
	.set_status = vh_set_status,
	.reset = vh_reset_dev,
	.get_features = vh_get_features,
	.set_features = vh_set_features,
	.find_vqs = vh_find_vqs,
	.del_vqs = vh_del_vqs,
	.describe = vh_describe,
	.bus_name = vh_bus_name,
};

/* ---- world set-up and teardown ---------------------------------------------------------------- */

/* A well-behaved QEMU-like device: modern, MAC, STATUS, MRG_RXBUF, MTU 1500, EVENT_IDX,
 * INDIRECT_DESC, 64-entry queues, link up. */
static void vh_default_config(struct vh_config *c)
{
	static const u8 mac[ETH_ALEN] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

	memset(c, 0, sizeof(*c));
	c->features = BIT_ULL(VIRTIO_NET_F_MAC) | BIT_ULL(VIRTIO_NET_F_STATUS) | BIT_ULL(VIRTIO_NET_F_MRG_RXBUF) |
		      BIT_ULL(VIRTIO_NET_F_MTU) | BIT_ULL(VIRTIO_RING_F_EVENT_IDX) |
		      BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC) | BIT_ULL(VIRTIO_F_VERSION_1);
	c->qsize[0] = c->qsize[1] = 64;
	memcpy(c->mac, mac, ETH_ALEN);
	c->link_status = VIRTIO_NET_S_LINK_UP;
	c->mtu = ETH_DATA_LEN;
}

static struct virtnet_info *vh_vi(void) { return vh.vdev.priv; }
static bool vh_bound(void) { return vh.vdev.driver != NULL; }

/* Undo everything the last test built: the device (through the driver's remove, which hands
 * every buffer back), the driver's, core's and netdev layer's tables, the stack. */
static void vh_teardown(void)
{
	if (vh_bound()) {
		vh.vdev.driver->remove(&vh.vdev);
		vh.vdev.driver = NULL;
	}
	inet_reset();
	h_cancel_all_timers(); /* the driver's own timers live in virtnet_devs, cleared below */
	memset(virtnet_devs, 0, sizeof(virtnet_devs));
	nvirtnet = 0;
	memset(devices, 0, sizeof(devices));
	ndevices = ndrivers = 0;
	memset(config_pending, 0, sizeof(config_pending));
	vh_work = NULL;
	netdev_harness_reset();
}

/* Tear the device down (vh_teardown): true when every packet buffer is back in the pool and
 * every DMA allocation the test made is freed. */
static bool vh_teardown_clean(void)
{
	struct netbuf_stats ns;

	vh_teardown();
	netbuf_get_stats(&ns);
	return ns.in_use == 0 && host_dma_live == vh_dma_baseline;
}

/* Buffers neither free nor with someone entitled to hold them (the device's queues, the ARP
 * queues, the transmit backlog): should be 0 whenever the driver is idle. */
static long vh_leaked(void)
{
	struct virtnet_info *vi = vh_vi();
	struct netbuf_stats st;
	long held = (long)arp_pending_total();

	netbuf_get_stats(&st);
	if (vi && vh_bound())
		held += vi->rx_posted + vi->tx_inflight + vi->dev.tx_backlog.len;
	return (long)st.in_use - held;
}

/* Fresh world, then the device registered with cfg; returns register_virtio_device's result
 * (0 even when the driver's probe failed: check vh_bound()). */
static int vh_start(const struct vh_config *cfg)
{
	vh_teardown();
	if (!vh_world_ready) {
		/* The pool is created once per process and shared by every test, and capped at its
		 * size: register_netdev never grows it (so the DMA leak check stays exact), and the
		 * largest rings run it dry. tests/unit/test_netdev_pool.c tests the sizing itself. */
		netbuf_pool_init(NETBUF_DEFAULT_SIZE);
		netbuf_pool_set_max(VH_POOL_BUFS);
		netbuf_pool_grow(VH_POOL_BUFS);
		vh_dma_baseline = host_dma_live;
		vh_world_ready = true;
	}
	memset(&vh, 0, sizeof(vh));
	vh.cfg = *cfg;
	memcpy(vh.cfgspace + VIRTIO_NET_CFG_MAC, cfg->mac, ETH_ALEN);
	memcpy(vh.cfgspace + VIRTIO_NET_CFG_STATUS, &cfg->link_status, 2);
	vh.cfgspace[VIRTIO_NET_CFG_MAX_VQ_PAIRS] = (u8)(cfg->max_pairs ? cfg->max_pairs : 1);
	vh.cfgspace[VIRTIO_NET_CFG_MAX_VQ_PAIRS + 1] = (u8)(cfg->max_pairs >> 8);
	vh.promisc = true; /* QEMU's state after a reset */
	memcpy(vh.mac_now, cfg->mac, ETH_ALEN);
	memcpy(vh.cfgspace + VIRTIO_NET_CFG_MTU, &cfg->mtu, 2);
	vh.unstable_left = cfg->unstable_reads;
	vh.vdev.config = &vh_ops;
	vh.vdev.id = VIRTIO_ID_NET;
	vh.vdev.modern = !cfg->legacy;
	host_log_clear();
	virtio_net_init(); /* register_virtio_driver(&virtio_net_driver) */
	return register_virtio_device(&vh.vdev);
}

/* Put the stack (net/) on the driver's net_device. */
static void vh_attach_stack(const char *ip, const char *gw)
{
	inet_reset();
	inet_attach(&vh_vi()->dev, ip, gw);
	arp_announce_stop(); /* the first announcement is sent; its second (RFC 5227 2.3) is not */
}

static unsigned vh_hdr_len(void)
{
	return (vh.accepted & (BIT_ULL(VIRTIO_NET_F_MRG_RXBUF) | BIT_ULL(VIRTIO_F_VERSION_1))) ? 12 : 10;
}

/* ---- the device side ------------------------------------------------------------------------- */

/* Run the event loop's network part until it has nothing left (bounded). */
static void vh_poll(void)
{
	for (int i = 0; i < 1000 && net_poll(); i++)
		;
	vh_run_work();
}

static void vh_interrupt(unsigned q)
{
	if (vh.vqs[q])
		vring_interrupt(vh.vqs[q]);
}

/* Write n bytes at offset off of a device-writable buffer (its writable pieces in order). */
static struct sim_buf vh_first_buf; /* the first buffer of the last vh_rx_raw */

static u32 vh_buf_write(const struct sim_buf *b, u32 off, const u8 *src, u32 n)
{
	u32 pos = 0, done = 0;

	for (unsigned s = 0; s < b->nsegs && done < n; s++) {
		const struct sim_seg *sg = &b->seg[s];

		if (!sg->write)
			continue;
		if (off < pos + sg->len) {
			u32 at = off > pos ? off - pos : 0;
			u32 k = MIN(sg->len - at, n - done);

			memcpy(sg->addr + at, src + done, k);
			done += k;
			off += k;
		}
		pos += sg->len;
	}
	return done;
}

/*
 * The device receives bytes[0..len) (virtio-net header included) into posted buffers, filling
 * each before the next, using at most max_bufs buffers (MRG_RXBUF; 1 without it). Each used
 * entry carries the bytes written into that buffer, plus len_lie on the first (a hostile
 * device). Nothing is published until vh_rx_flush. Returns the buffers used; 0 when nothing
 * was posted (the frame is lost, as on a real device).
 */
static unsigned vh_rx_raw(const u8 *bytes, u32 len, unsigned max_bufs, u32 len_lie)
{
	unsigned used = 0;
	u32 off = 0;

	if (!vh.vqs[RX_VQ])
		return 0;
	do {
		struct sim_buf b;
		u32 n;

		if (!vh_pop(&vh, RX_VQ, &b)) {
			if (!used)
				vh.rx_no_buffer++;
			break;
		}
		if (!used)
			vh_first_buf = b;
		n = vh_buf_write(&b, 0, bytes + off, MIN(b.in_bytes, len - off));
		off += n;
		vh_push(&vh, RX_VQ, b.head, n + (used == 0 ? len_lie : 0));
		used++;
	} while (off < len && used < max_bufs);
	return used;
}

static void vh_rx_flush(void)
{
	if (vh.vqs[RX_VQ] && vh_flush(&vh, RX_VQ))
		vh_interrupt(RX_VQ);
}

/* A well-formed received frame: a zero header whose num_buffers says how many buffers the
 * frame really took (5.1.6.4), filled in once the count is known. Published at once.
 * Returns the buffers used. */
static unsigned vh_rx_frame(const void *frame, u32 len)
{
	static u8 tmp[16384];
	unsigned hl = vh_hdr_len(), nbufs;

	if (hl + len > sizeof(tmp))
		abort();
	memset(tmp, 0, hl);
	memcpy(tmp + hl, frame, len);
	nbufs = vh_rx_raw(tmp, hl + len, (vh.accepted & BIT_ULL(VIRTIO_NET_F_MRG_RXBUF)) ? 64 : 1, 0);
	if (nbufs && hl == 12) {
		le16 nb = (le16)nbufs;

		vh_buf_write(&vh_first_buf, 10, (const u8 *)&nb, 2);
	}
	vh_rx_flush();
	return nbufs;
}

/* What a device does with NEEDS_CSUM (5.1.6.2): the ones' complement sum of the frame from
 * csum_start to its end (the field's seed included), complemented, stored at csum_offset. */
static inline void vh_complete_csum(u8 *frame, unsigned len, const u8 *hdr)
{
	struct virtio_net_hdr h;
	u16 sum;

	memcpy(&h, hdr, sizeof(h));
	if (!(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return;
	sum = inet_csum(frame + h.csum_start, len - h.csum_start);
	put_be16(frame + h.csum_start + h.csum_offset, sum);
}

/* What is wrong with a transmit header the device received in front of a frame of flen bytes,
 * or NULL: every byte is checked against virtio 1.x 5.1.6.2.1 (driver requirements, packet
 * transmission) and what was negotiated. num_buffers 0; NEEDS_CSUM only with VIRTIO_NET_F_CSUM,
 * and then csum_start + csum_offset + 2 inside the frame; DATA_VALID, RSC_INFO and the other
 * flag bits never; gso_type GSO_NONE without HOST_TSO4/TSO6/UFO/USO (none of which this driver
 * accepts), and then no gso_size or hdr_len either; csum_start and csum_offset 0 without
 * NEEDS_CSUM (the driver promised nothing there). */
static const char *vh_tx_hdr_fault(const u8 *h, unsigned hl, u32 flen)
{
	u16 hdr_len = (u16)(h[2] | h[3] << 8), gso_size = (u16)(h[4] | h[5] << 8);
	u16 csum_start = (u16)(h[6] | h[7] << 8), csum_offset = (u16)(h[8] | h[9] << 8);
	u64 gso = BIT_ULL(VIRTIO_NET_F_HOST_TSO4) | BIT_ULL(VIRTIO_NET_F_HOST_TSO6) |
		  BIT_ULL(VIRTIO_NET_F_HOST_UFO) | BIT_ULL(VIRTIO_NET_F_HOST_USO);

	if (hl == 12 && (h[10] | h[11]))
		return "num_buffers not 0";
	if (h[0] & ~1u)
		return "flags other than NEEDS_CSUM (DATA_VALID, RSC_INFO, reserved)";
	if ((h[0] & 1) && !(vh.accepted & BIT_ULL(VIRTIO_NET_F_CSUM)))
		return "NEEDS_CSUM without VIRTIO_NET_F_CSUM";
	if ((h[0] & 1) && (u32)csum_start + csum_offset + 2 > flen)
		return "csum_start + csum_offset outside the frame";
	if (!(h[0] & 1) && (csum_start || csum_offset))
		return "csum_start/csum_offset without NEEDS_CSUM";
	if (h[1] != VIRTIO_NET_HDR_GSO_NONE && !(vh.accepted & gso))
		return "gso_type not GSO_NONE without a HOST_* GSO feature";
	if (h[1] == VIRTIO_NET_HDR_GSO_NONE && (gso_size || hdr_len))
		return "gso_size/hdr_len with GSO_NONE";
	return NULL;
}

/* The device sends what the driver queued for transmission (at most max frames), keeps a copy
 * of each frame without its header, completes them and interrupts as the rules say. Each
 * header is checked (vh_tx_hdr_fault): a bad one counts in vh.tx_hdr_bad, fails the running
 * test, and its fault is kept in vh.tx_hdr_why. */
static unsigned vh_tx_complete(unsigned max)
{
	static u8 tmp[16384];
	unsigned n = 0, hl = vh_hdr_len();
	struct sim_buf b;

	if (!vh.vqs[TX_VQ])
		return 0;
	while (n < max && vh_pop(&vh, TX_VQ, &b)) {
		u32 got = sim_read_out(&b, tmp, sizeof(tmp));
		unsigned slot = vh.tx_seen % VH_MAX_TX;
		u32 flen = got > hl ? got - hl : 0;

		const char *fault = got < hl ? "shorter than the header" : vh_tx_hdr_fault(tmp, hl, flen);

		if (fault) {
			vh.tx_hdr_bad++;
			vh.tx_hdr_why = fault;
			unit_check_failures++;
			printf("#   %s: the simulated device got a bad transmit header: %s\n",
			       unit_current ? unit_current : "vh_tx_complete", fault);
		}
		if (flen > sizeof(vh.tx_frame[0]))
			flen = sizeof(vh.tx_frame[0]);
		memcpy(vh.tx_frame[slot], tmp + (got > hl ? hl : got), flen);
		vh.tx_len[slot] = flen;
		memset(vh.tx_hdr[slot], 0, sizeof(vh.tx_hdr[slot]));
		memcpy(vh.tx_hdr[slot], tmp, MIN(got, hl));
		vh.tx_nsegs[slot] = b.nsegs;
		vh.tx_seen++;
		vh_push(&vh, TX_VQ, b.head, 0);
		n++;
	}
	if (vh_flush(&vh, TX_VQ))
		vh_interrupt(TX_VQ);
	return n;
}

/* The i-th frame transmitted since the device started (the last VH_MAX_TX are kept). */
static const u8 *vh_tx(unsigned i, unsigned *len)
{
	*len = vh.tx_len[i % VH_MAX_TX];
	return vh.tx_frame[i % VH_MAX_TX];
}

/* The header of the i-th frame transmitted (vh_hdr_len() bytes). */
static inline const u8 *vh_tx_header(unsigned i) { return vh.tx_hdr[i % VH_MAX_TX]; }

/* A configuration change: new link status, then the interrupt and the core's work item. */
static void vh_set_link(bool up)
{
	u16 st = up ? VIRTIO_NET_S_LINK_UP : 0;

	memcpy(vh.cfgspace + VIRTIO_NET_CFG_STATUS, &st, 2);
	vh.generation++;
	virtio_config_changed(&vh.vdev);
	vh_run_work();
}

/* ---- the control queue, device side ---------------------------------------------------------- */

/* Carry out one command as QEMU's virtio-net does (hw/net/virtio-net.c: receive mode, MAC
 * table and address, announce acknowledgement, queue pairs); the ack it would write. */
static u8 vh_ctrl_execute(struct vh_device *d, const struct vh_ctrl_cmd *c)
{
	u16 st;

	switch (c->class << 8 | c->cmd) {
	case VIRTIO_NET_CTRL_RX << 8 | VIRTIO_NET_CTRL_RX_PROMISC:
	case VIRTIO_NET_CTRL_RX << 8 | VIRTIO_NET_CTRL_RX_ALLMULTI:
		if (c->len != 1)
			return VIRTIO_NET_ERR;
		*(c->cmd == VIRTIO_NET_CTRL_RX_PROMISC ? &d->promisc : &d->allmulti) = c->data[0];
		return VIRTIO_NET_OK;
	case VIRTIO_NET_CTRL_MAC << 8 | VIRTIO_NET_CTRL_MAC_ADDR_SET:
		if (c->len != ETH_ALEN)
			return VIRTIO_NET_ERR;
		memcpy(d->mac_now, c->data, ETH_ALEN);
		return VIRTIO_NET_OK;
	case VIRTIO_NET_CTRL_MAC << 8 | VIRTIO_NET_CTRL_MAC_TABLE_SET: {
		u32 uni, multi;

		if (c->len < 8)
			return VIRTIO_NET_ERR;
		memcpy(&uni, c->data, 4);
		if (4 + uni * 6 + 4 > c->len)
			return VIRTIO_NET_ERR;
		memcpy(&multi, c->data + 4 + uni * 6, 4);
		if (4 + uni * 6 + 4 + multi * 6 != c->len)
			return VIRTIO_NET_ERR;
		d->mc_count = multi;
		return VIRTIO_NET_OK;
	}
	case VIRTIO_NET_CTRL_ANNOUNCE << 8 | VIRTIO_NET_CTRL_ANNOUNCE_ACK:
		memcpy(&st, d->cfgspace + VIRTIO_NET_CFG_STATUS, 2);
		if (!(st & VIRTIO_NET_S_ANNOUNCE))
			return VIRTIO_NET_ERR;
		st &= (u16)~VIRTIO_NET_S_ANNOUNCE;
		memcpy(d->cfgspace + VIRTIO_NET_CFG_STATUS, &st, 2);
		return VIRTIO_NET_OK;
	case VIRTIO_NET_CTRL_MQ << 8 | VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET:
		if (c->len != 2 || !(d->accepted & BIT_ULL(VIRTIO_NET_F_MQ)))
			return VIRTIO_NET_ERR;
		memcpy(&d->pairs, c->data, 2);
		return VIRTIO_NET_OK;
	default:
		return VIRTIO_NET_ERR;
	}
}

static void vh_ctrl_complete(struct vh_device *d, struct virtqueue *vq, const struct sim_buf *b, u8 ack, u32 len)
{
	if (len)
		vh_buf_write(b, 0, &ack, 1);
	vh_push(d, vq->index, b->head, len);
	vh_flush(d, vq->index);
}

static void vh_ctrl_device(struct vh_device *d, struct virtqueue *vq)
{
	struct sim_buf b;

	while (vh_pop(d, vq->index, &b)) {
		struct vh_ctrl_cmd *c = &d->ctrl_log[d->ctrl_seen++ % VH_CTRL_LOG];
		u8 raw[2 + sizeof(c->data)];
		u32 n = sim_read_out(&b, raw, sizeof(raw));
		u8 ack;

		if (b.nin != 1 || b.in_bytes != 1 || n < 2) /* QEMU: "ctrl missing headers" */
			abort();
		c->class = raw[0];
		c->cmd = raw[1];
		c->len = n - 2;
		memcpy(c->data, raw + 2, c->len);
		switch (d->cfg.ctrl_answer) {
		case VH_CTRL_SILENT:
			d->ctrl_held = b;
			d->ctrl_holding = true;
			continue;
		case VH_CTRL_NO_ACK:
			vh_ctrl_complete(d, vq, &b, 0, 0);
			continue;
		case VH_CTRL_LONG:
			vh_ctrl_complete(d, vq, &b, VIRTIO_NET_OK, 64);
			continue;
		case VH_CTRL_NAK:
			ack = VIRTIO_NET_ERR;
			break;
		default:
			ack = vh_ctrl_execute(d, c);
		}
		vh_ctrl_complete(d, vq, &b, ack, 1);
	}
}

/* The command a silent device sat on is answered after all (acknowledged). */
__attribute__((unused)) static void vh_ctrl_answer_late(void)
{
	struct virtqueue *vq = vh_vi()->ctrl.cvq;

	if (!vh.ctrl_holding || !vq)
		abort();
	vh.ctrl_holding = false;
	vh_ctrl_complete(&vh, vq, &vh.ctrl_held, VIRTIO_NET_OK, 1);
}

/* The last control command the device saw (i = 0), the one before (1), ... */
__attribute__((unused)) static const struct vh_ctrl_cmd *vh_ctrl_cmd(unsigned i)
{
	return &vh.ctrl_log[(vh.ctrl_seen - 1 - i) % VH_CTRL_LOG];
}

/* The device sets VIRTIO_NET_S_ANNOUNCE (QEMU after a migration) and interrupts. */
__attribute__((unused)) static void vh_request_announce(void)
{
	u16 st;

	memcpy(&st, vh.cfgspace + VIRTIO_NET_CFG_STATUS, 2);
	st |= VIRTIO_NET_S_ANNOUNCE;
	memcpy(vh.cfgspace + VIRTIO_NET_CFG_STATUS, &st, 2);
	vh.generation++;
	virtio_config_changed(&vh.vdev);
	vh_run_work();
}
