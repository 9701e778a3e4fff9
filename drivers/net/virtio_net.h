/*
 * drivers/net/virtio_net.h - the virtio network device's wire structures (virtio 1.x 5.1).
 */
#ifndef DRIVERS_NET_VIRTIO_NET_H
#define DRIVERS_NET_VIRTIO_NET_H

#include "kernel/types.h"

/* Feature bits (5.1.3) */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_CTRL_GUEST_OFFLOADS 2
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GSO 6
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_GUEST_UFO 10
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_HOST_UFO 14
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_F_CTRL_VQ 17
#define VIRTIO_NET_F_CTRL_RX 18
#define VIRTIO_NET_F_CTRL_VLAN 19
#define VIRTIO_NET_F_CTRL_RX_EXTRA 20
#define VIRTIO_NET_F_GUEST_ANNOUNCE 21
#define VIRTIO_NET_F_MQ 22
#define VIRTIO_NET_F_CTRL_MAC_ADDR 23
#define VIRTIO_NET_F_HOST_USO 56
#define VIRTIO_NET_F_HASH_REPORT 57
#define VIRTIO_NET_F_GUEST_HDRLEN 59
#define VIRTIO_NET_F_RSS 60
#define VIRTIO_NET_F_RSC_EXT 61
#define VIRTIO_NET_F_STANDBY 62
#define VIRTIO_NET_F_SPEED_DUPLEX 63

/* Device configuration layout (5.1.4): offsets into the device-specific config space */
#define VIRTIO_NET_CFG_MAC 0      /* u8[6], valid with VIRTIO_NET_F_MAC */
#define VIRTIO_NET_CFG_STATUS 6   /* le16, valid with VIRTIO_NET_F_STATUS */
#define VIRTIO_NET_CFG_MAX_VQ_PAIRS 8
#define VIRTIO_NET_CFG_MTU 10     /* le16, valid with VIRTIO_NET_F_MTU */

#define VIRTIO_NET_S_LINK_UP 1
#define VIRTIO_NET_S_ANNOUNCE 2

/* The header in front of every frame, both directions (5.1.6). */
struct virtio_net_hdr {
	u8 flags;
	u8 gso_type;
	le16 hdr_len;
	le16 gso_size;
	le16 csum_start;
	le16 csum_offset;
} __packed;
_Static_assert(sizeof(struct virtio_net_hdr) == 10, "virtio 1.x 5.1.6: legacy header without num_buffers");

/* With VIRTIO_NET_F_MRG_RXBUF or VERSION_1 the header always carries num_buffers (5.1.6). */
struct virtio_net_hdr_mrg_rxbuf {
	struct virtio_net_hdr hdr;
	le16 num_buffers; /* buffers this received frame spans (receive only; 0 on transmit) */
} __packed;
_Static_assert(sizeof(struct virtio_net_hdr_mrg_rxbuf) == 12, "virtio 1.x 5.1.6");

/* virtio_net_hdr.flags (5.1.6) */
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1 /* checksum from csum_start to the end, stored at csum_offset */
#define VIRTIO_NET_HDR_F_DATA_VALID 2 /* receive: the device has verified the frame's checksums */

#define VIRTIO_NET_HDR_GSO_NONE 0

/*
 * The control virtqueue (5.1.6.5), with VIRTIO_NET_F_CTRL_VQ: the last queue, index 2 without
 * VIRTIO_NET_F_MQ and 2 * max_virtqueue_pairs with it (5.1.2). A command is one chain: the
 * header below and the command's data, both device-readable, then one device-writable ack byte.
 */
struct virtio_net_ctrl_hdr {
	u8 class;
	u8 cmd;
} __packed;
_Static_assert(sizeof(struct virtio_net_ctrl_hdr) == 2, "virtio 1.x 5.1.6.5");

typedef u8 virtio_net_ctrl_ack;
#define VIRTIO_NET_OK 0
#define VIRTIO_NET_ERR 1

/* 5.1.6.5.1 receive filtering: data is one byte, 0 off, 1 on (VIRTIO_NET_F_CTRL_RX) */
#define VIRTIO_NET_CTRL_RX 0
#define VIRTIO_NET_CTRL_RX_PROMISC 0
#define VIRTIO_NET_CTRL_RX_ALLMULTI 1

/* 5.1.6.5.2 MAC address filtering: TABLE_SET takes two tables, unicast then multicast, each a
 * le32 count followed by that many addresses (VIRTIO_NET_F_CTRL_RX); ADDR_SET takes the six
 * bytes of the device's new address (VIRTIO_NET_F_CTRL_MAC_ADDR). */
#define VIRTIO_NET_CTRL_MAC 1
#define VIRTIO_NET_CTRL_MAC_TABLE_SET 0
#define VIRTIO_NET_CTRL_MAC_ADDR_SET 1

/* 5.1.6.5.4 gratuitous packets: ACK, no data, once the guest has announced itself after the
 * device set VIRTIO_NET_S_ANNOUNCE (VIRTIO_NET_F_GUEST_ANNOUNCE) */
#define VIRTIO_NET_CTRL_ANNOUNCE 3
#define VIRTIO_NET_CTRL_ANNOUNCE_ACK 0

/* 5.1.6.5.5 multiqueue: VQ_PAIRS_SET takes a le16 count, 1..max_virtqueue_pairs (VIRTIO_NET_F_MQ) */
#define VIRTIO_NET_CTRL_MQ 4
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 0
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN 1
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX 0x8000

#endif
