/*
 * drivers/net/virtio_net_priv.h - the virtio-net driver's own state, shared by its three
 * files: drivers/net/virtio_net.c (probe, receive, transmit), drivers/net/virtio_net_diag.c
 * (what `ifconfig`, `netstat` and `virtio` print about it) and
 * drivers/net/virtio_net_recovery.c (resetting a misbehaving device). Nothing else includes
 * it: the stack sees the driver only as a struct net_device (net/netdev.h).
 */
#ifndef DRIVERS_NET_VIRTIO_NET_PRIV_H
#define DRIVERS_NET_VIRTIO_NET_PRIV_H

#include "drivers/net/virtio_net.h"
#include "drivers/virtio/virtio.h"
#include "drivers/virtio/virtio_ring.h"
#include "kernel/time.h"
#include "net/netdev.h"

enum { RX_VQ, TX_VQ, VIRTNET_NVQS };

struct virtnet_stats {
	u64 rx_interrupts, tx_interrupts;
	u64 rx_polls, tx_polls;
	u64 rx_frames, rx_buffers;
	u64 rx_kicks, tx_kicks;
	u64 tx_frames, tx_completed;
	/* checksum offload (VIRTIO_NET_F_CSUM, VIRTIO_NET_F_GUEST_CSUM) */
	u64 tx_csum_partial;    /* frames sent with NEEDS_CSUM: the device completes the checksum */
	u64 rx_csum_valid;      /* frames the device marked DATA_VALID */
	u64 rx_csum_partial;    /* frames the device marked NEEDS_CSUM (verified, field not filled) */
	/* drops, by reason */
	u64 rx_too_short;       /* used length shorter than the virtio-net header */
	u64 rx_runt;            /* frame shorter than an Ethernet header */
	u64 rx_too_long;        /* frame longer than MTU + Ethernet header */
	u64 rx_bad_num_buffers; /* num_buffers 0, or more than the device completed */
	u64 rx_merge_overflow;  /* merged frame larger than a buffer can hold */
	u64 rx_refill_nomem;    /* netbuf pool empty while refilling */
	u64 tx_ring_full;       /* start_xmit said busy */
	u64 tx_no_headroom;     /* no room to prepend the header: dropped */
	u64 tx_add_error;       /* the ring refused a frame for another reason */
	u64 rx_bad_csum_hdr;    /* NEEDS_CSUM whose csum_start/csum_offset lie outside the frame */
	u64 tx_csum_unsupported; /* the stack asked for a checksum the device does not complete */
	u64 tx_timeouts;        /* the device sat on transmitted frames for TX_TIMEOUT_S */
};

/* The control queue (virtio_net_ctrl.c). */
#define VIRTNET_CTRL_TIMEOUT_MS 1000 /* a command's answer; a device that answers at all does
					* so within the kick (QEMU handles the queue in its notify) */
#define VIRTNET_CTRL_DATA_MAX (2 * sizeof(le32) + NETDEV_MC_MAX * ETH_ALEN) /* the MAC tables */

struct virtnet_ctrl_stats {
	u64 sent;      /* commands the device was given */
	u64 ok;        /* ... and acknowledged with VIRTIO_NET_OK */
	u64 nak;       /* answered with anything else (VIRTIO_NET_ERR) */
	u64 timeouts;  /* not answered within CTRL_TIMEOUT_MS: the queue is then stuck */
	u64 bad_len;   /* answered without the ack byte (used length 0) */
	u64 unusable;  /* refused here: the queue stuck, broken or full */
	u64 late;      /* a timed-out command answered after all (the queue is usable again) */
	u64 announces; /* VIRTIO_NET_S_ANNOUNCE requests handled (GUEST_ANNOUNCE) */
};

struct virtnet_ctrl {
	struct virtqueue *cvq;      /* NULL without VIRTIO_NET_F_CTRL_VQ (or while torn down) */
	bool stuck;                 /* the device holds a command it never answered */
	/* the one command in flight: header, data, ack (device memory reach: static storage) */
	struct virtio_net_ctrl_hdr hdr;
	u8 data[VIRTNET_CTRL_DATA_MAX];
	u8 ack;
	/* what the device was last told; a stale part was not acknowledged (or not sent since
	 * the reset) and is sent again */
	unsigned stale;
#define CTRL_STALE_PROMISC 1u
#define CTRL_STALE_ALLMULTI 2u
#define CTRL_STALE_TABLE 4u
	bool promisc, allmulti;
	u8 mc[NETDEV_MC_MAX][ETH_ALEN];
	unsigned mc_count;
	bool mac_set;               /* ifconfig hw ether: set the MAC again after a reset */
	/* the last command and how it ended */
	bool any;
	u8 last_class, last_cmd;
	int last_err;
	u8 last_ack;
	struct virtnet_ctrl_stats stats;
};

/* Self-healing (virtio_net_recovery.c): where the device stands, and what it cost so far. */
enum virtnet_health { VIRTNET_OK, VIRTNET_RECOVERING, VIRTNET_FAILED };
#define RECOVERY_MAX_PER_MIN 8 /* attempts; one more within the minute and the device FAILED */

struct virtnet_recovery {
	enum virtnet_health state;
	const char *reason;        /* what started the latest recovery ("none" before any) */
	struct timer timer;        /* the next attempt */
	unsigned backoff_ms;       /* the wait before the attempt after the next */
	u64 down_since_ns;         /* start of the current outage */
	u64 up_since_ns;           /* when the device last came back */
	u64 attempt_ns[RECOVERY_MAX_PER_MIN]; /* times of the latest attempts (a ring) */
	unsigned slot, recent;     /* the ring's next slot, and how many of it are in use */
	u64 recoveries;            /* outages ended by a successful probe */
	u64 attempts;              /* virtio_reprobe calls made to end them */
	u64 down_ns;               /* total time of the ended outages */
};

struct virtnet_info {
	struct virtio_device *vdev;
	struct net_device dev;
	struct virtqueue *rvq, *svq;
	struct napi_struct napi;    /* receive */
	struct napi_struct napi_tx; /* transmit completions and the backlog */
	unsigned hdr_len;           /* 10, or 12 with MRG_RXBUF or VERSION_1 */
	bool mergeable_rx_bufs;
	bool any_layout;            /* the header may share a descriptor with the frame */
	bool tx_csum;               /* VIRTIO_NET_F_CSUM: the device completes our checksums */
	bool rx_csum;               /* VIRTIO_NET_F_GUEST_CSUM: received frames may carry flags */
	unsigned rx_buf_len;        /* device-writable bytes per receive buffer */
	unsigned max_frame;         /* MTU + Ethernet header */
	unsigned rx_posted;         /* buffers the device holds on the receive queue */
	unsigned tx_inflight;       /* frames the device holds on the transmit queue */
	bool tx_kick_pending;
	bool registered;
	struct timer watchdog;      /* once a second: is the device still completing frames? */
	struct timer tx_reclaim;    /* frees transmitted buffers after a burst, without interrupts */
	struct timer refill;        /* retries filling the receive queue after the pool ran dry */
	u64 watchdog_completed;     /* stats.tx_completed at the last look */
	unsigned watchdog_idle_s;   /* seconds with frames in flight and none completed */
	struct virtnet_recovery recovery;
	struct virtnet_ctrl ctrl;
	struct virtnet_stats stats;
};

/* virtio_net.c */
void free_old_xmit(struct virtnet_info *vi); /* take back what the device has transmitted */

/* virtio_net_ctrl.c */
/* Index of the control queue (5.1.2): 2 * max_virtqueue_pairs with MQ, else 2; 0 without
 * VIRTIO_NET_F_CTRL_VQ. */
unsigned virtnet_ctrl_index(struct virtio_device *vdev);
/* From validate: drop control features the device offers without what they depend on (5.1.3.1)
 * and MQ when its queue count is out of range or beyond VIRTIO_MAX_VQS. */
int virtnet_ctrl_validate(struct virtio_device *vdev);
/* Send one command and wait for its ack (bounded): 0, or -EOPNOTSUPP (no control queue),
 * -ENODEV (the device is being reset),
 * -EIO (refused: VIRTIO_NET_ERR, or the queue is stuck), -ETIMEDOUT, -EPROTO (no ack byte). */
int virtnet_send_command(struct virtnet_info *vi, u8 class, u8 cmd, const void *data, unsigned len);
/* After DRIVER_OK in every probe: one queue pair (MQ), our MAC again if it was changed, the
 * receive filter as the net_device says. */
void virtnet_ctrl_probe(struct virtnet_info *vi);
void virtnet_ctrl_remove(struct virtnet_info *vi); /* the device was reset: nothing in flight */
/* The device set VIRTIO_NET_S_ANNOUNCE: have the stack announce us, then ACK (5.1.6.5.4). */
void virtnet_guest_announce(struct virtnet_info *vi);
int virtnet_set_rx_mode(struct net_device *dev);                      /* ndo_set_rx_mode */
bool virtnet_rx_mode_in_step(const struct virtnet_info *vi); /* the device acked what dev says */
int virtnet_set_mac_address(struct net_device *dev, const u8 *mac);   /* ndo_set_mac_address */
/* ifconfig and netstat: "<prefix> ctrl sent N ok N failed N ..." */
void virtnet_ctrl_describe(struct virtnet_info *vi, const char *prefix);

/* virtio_net_recovery.c */
void virtnet_recovery_init(struct virtnet_info *vi);
/* From loop context (never interrupt context): detach now, reset and re-probe from a timer. */
void virtnet_schedule_recovery(struct virtnet_info *vi, const char *reason);
void virtnet_check_queues(struct virtnet_info *vi); /* a queue broken or out of step: recover */
void virtnet_recovery_done(struct virtnet_info *vi); /* virtnet_probe succeeded */
u64 virtnet_down_ms(const struct virtnet_info *vi);  /* ended outages plus the current one */
const char *virtnet_health_name(enum virtnet_health h);

/* virtio_net_diag.c */
const char *virtnet_feature_name(unsigned bit); /* "MRG_RXBUF" for bit 15; NULL if unknown */
void virtnet_describe(struct net_device *dev);   /* ndo_describe: ifconfig's driver lines */
void virtnet_stats(struct net_device *dev);      /* ndo_stats: netstat's driver lines */
void virtnet_zero_stats(struct net_device *dev); /* ndo_zero_stats: netstat -z */

#endif
