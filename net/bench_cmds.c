/*
 * net/bench_cmds.c - the benchmark's transmit source: `blast` sends UDP datagrams as fast as
 * the stack and driver take them, for a bounded time, to one IP:PORT (tools/bench/ counts
 * them on the host). Kernel-only: it waits in the event loop.
 *
 * Each datagram carries a 4-byte big-endian sequence number, then zeros, so the receiver can
 * tell loss from reordering. Every SEND_BURST datagrams, and whenever the stack has no buffer
 * or the device's transmit backlog is half full, blast runs loop_once(): the burst ends (one
 * kick), completed buffers come back, received frames (ARP replies) are handled. The run ends
 * at the deadline however the device behaves; the output line is in docs/benchmarks.md.
 */
#include "kernel/errno.h"
#include "kernel/io.h"
#include "kernel/loop.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "kernel/string.h"
#include "kernel/time.h"
#include "net/arp.h"
#include "net/inet.h"
#include "net/inet_addr.h"
#include "net/ipv4.h"
#include "net/netdev.h"
#include "net/udp.h"

#define BLAST_MAX_SECONDS 60
#define BLAST_BURST 32                /* datagrams between two event-loop passes */
#define BLAST_ARP_WAIT_NS (3 * NSEC_PER_SEC) /* ARP tries 3 times, 1 s apart */

struct blast_result {
	u64 sent;    /* udp_sendto accepted the datagram */
	u64 nobufs;  /* -ENOBUFS: no buffer or backlog full; retried after a loop pass */
	u64 failed;  /* any other error: not retried */
	int last_err;
};

static bool blast_running;
static u8 blast_payload[ETH_DATA_LEN];

/* The backlog fills when the ring is full; let the device drain it before adding more, so
 * blast measures the driver rather than the backlog's drop counter. */
static bool tx_has_room(void)
{
	struct net_device *dev = inet_dev();

	return dev && dev->tx_backlog.len < TX_BACKLOG_LIMIT / 2;
}

/* Send one datagram (and wait for ARP) so the timed part starts with the next hop known. */
static void blast_prime(be32 dst, u16 sport, u16 dport, size_t size)
{
	u64 deadline = now_ns() + BLAST_ARP_WAIT_NS;

	memset(blast_payload, 0, size);
	udp_sendto(dst, sport, dport, blast_payload, size);
	while (now_ns() < deadline) {
		loop_once();
		if (arp_pending_total() == 0)
			return;
		cpu_relax();
	}
}

static void blast_run(be32 dst, u16 sport, u16 dport, size_t size, u64 deadline, struct blast_result *r)
{
	u32 seq = 1; /* 0 was the priming datagram */
	unsigned burst = 0;

	while (now_ns() < deadline) {
		int err;

		if (!tx_has_room()) {
			loop_once();
			burst = 0;
			continue;
		}
		if (size >= 4) {
			blast_payload[0] = (u8)(seq >> 24);
			blast_payload[1] = (u8)(seq >> 16);
			blast_payload[2] = (u8)(seq >> 8);
			blast_payload[3] = (u8)seq;
		}
		err = udp_sendto(dst, sport, dport, blast_payload, size);
		if (err == 0) {
			r->sent++;
			seq++;
		} else if (err == -ENOBUFS) {
			r->nobufs++;
			burst = BLAST_BURST; /* out of buffers: let completions come back now */
		} else {
			r->failed++;
			r->last_err = err;
		}
		if (++burst >= BLAST_BURST) {
			loop_once();
			burst = 0;
		}
	}
	loop_once(); /* flush the last partial burst */
}

static int cmd_blast(int argc, char **argv)
{
	struct blast_result r = { 0 };
	u64 port, size, seconds, start, elapsed;
	be32 dst;
	u16 sport;

	if (argc != 5 || inet_parse_addr(argv[1], &dst) || parse_u64(argv[2], &port) || port == 0 ||
	    port > 65535 || parse_u64(argv[3], &size) || parse_u64(argv[4], &seconds) || seconds == 0 ||
	    seconds > BLAST_MAX_SECONDS)
		return -EINVAL;
	if (!inet_configured()) {
		printk("blast: no address configured yet\n");
		return -ENETDOWN;
	}
	if (size > ipv4_max_payload() - UDP_HLEN || size > sizeof(blast_payload)) {
		printk("blast: SIZE must be 0..%u\n", ipv4_max_payload() - UDP_HLEN);
		return -EMSGSIZE;
	}
	if (blast_running) { /* typed while one runs: the shell nests inside loop_once() */
		printk("blast: another blast is running\n");
		return -EBUSY;
	}
	blast_running = true;
	sport = udp_ephemeral_port();
	blast_prime(dst, sport, (u16)port, (size_t)size);
	start = now_ns();
	blast_run(dst, sport, (u16)port, (size_t)size, start + seconds * NSEC_PER_SEC, &r);
	elapsed = now_ns() - start;
	blast_running = false;
	printk("blast: %llu datagrams of %llu bytes to %s:%llu in %llu ms, %llu per s, nobufs %llu failed %llu\n",
	       r.sent, size, argv[1], port,
	       (elapsed / NSEC_PER_MSEC),
	       (elapsed ? r.sent * NSEC_PER_SEC / elapsed : 0), r.nobufs,
	       r.failed);
	if (r.failed)
		printk("blast: last error: %s\n", strerror(r.last_err));
	return 0;
}
SHELL_COMMAND(blast, cmd_blast, "blast IP PORT SIZE SECONDS",
	      "send UDP datagrams of SIZE bytes to IP:PORT as fast as possible for SECONDS (1..60)");
