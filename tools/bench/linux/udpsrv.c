/*
 * tools/bench/linux/udpsrv.c - the Linux baseline guest's UDP services, one static binary.
 *
 * It gives the Linux guest what our kernel has built in, so both face the same load:
 *   udpsrv serve                echo (RFC 862) on UDP port 7 and discard (RFC 863) on port 9,
 *                               batched with recvmmsg/sendmmsg; counters kept in the process
 *   udpsrv stats [-z]           print (or zero) the server's counters, asked over an abstract
 *                               unix socket, in the style of our `inetstat` udp line
 *   udpsrv blast IP PORT SIZE SECONDS
 *                               our `blast` command: datagrams of SIZE bytes, a 4-byte
 *                               big-endian sequence number first, for SECONDS; same output line
 *
 * Built with `gcc -static` by tools/bench/mklinux.py; runs as /bin/udpsrv in the initramfs.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define BUF_SIZE 2048 /* larger than any frame at MTU 1500 */
#define CTL_NAME "udpsrv-ctl" /* abstract unix socket: no file, gone with the process */
#define MAX_SECONDS 60

struct counters {
	unsigned long long echo_packets, echo_bytes, echo_send_errors;
	unsigned long long discard_packets, discard_bytes;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int fail(const char *what)
{
	fprintf(stderr, "udpsrv: %s: %s\n", what, strerror(errno));
	return 1;
}

static int udp_bound(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_ANY) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int big = 4 << 20; /* the init script raises net.core.rmem_max to allow it */

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static socklen_t ctl_addr(struct sockaddr_un *su)
{
	memset(su, 0, sizeof(*su));
	su->sun_family = AF_UNIX;
	memcpy(su->sun_path + 1, CTL_NAME, strlen(CTL_NAME)); /* sun_path[0] = 0: abstract */
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(CTL_NAME));
}

/* ---- serve ---------------------------------------------------------------------------------- */

static unsigned char bufs[BATCH][BUF_SIZE];
static struct sockaddr_in peers[BATCH];
static struct iovec iovs[BATCH];
static struct mmsghdr msgs[BATCH];

/* Receive up to BATCH datagrams; returns how many (0 when none is waiting). */
static int take_batch(int fd)
{
	int n;

	for (int i = 0; i < BATCH; i++) {
		iovs[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = BUF_SIZE };
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = &peers[i], .msg_namelen = sizeof(peers[i]),
							 .msg_iov = &iovs[i], .msg_iovlen = 1 } };
	}
	n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
	return n < 0 ? 0 : n;
}

static void serve_echo(int fd, struct counters *c)
{
	int n;

	while ((n = take_batch(fd)) > 0) {
		int off = 0;

		for (int i = 0; i < n; i++) {
			iovs[i].iov_len = msgs[i].msg_len; /* send back exactly what came */
			c->echo_packets++;
			c->echo_bytes += msgs[i].msg_len;
		}
		/* The peer addresses are already in msg_name: the same array goes straight back. */
		while (off < n) {
			int sent = sendmmsg(fd, msgs + off, (unsigned)(n - off), 0);

			if (sent <= 0) {
				c->echo_send_errors += (unsigned)(n - off);
				break;
			}
			off += sent;
		}
		if (n < BATCH)
			break;
	}
}

static void serve_discard(int fd, struct counters *c)
{
	int n;

	while ((n = take_batch(fd)) > 0) {
		for (int i = 0; i < n; i++) {
			c->discard_packets++;
			c->discard_bytes += msgs[i].msg_len;
		}
		if (n < BATCH)
			break;
	}
}

static void serve_ctl(int fd, struct counters *c)
{
	struct sockaddr_un from;
	socklen_t fromlen = sizeof(from);
	char req[16], reply[256];
	ssize_t len = recvfrom(fd, req, sizeof(req) - 1, MSG_DONTWAIT, (struct sockaddr *)&from, &fromlen);
	int n;

	if (len <= 0)
		return;
	req[len] = 0;
	if (strcmp(req, "zero") == 0)
		memset(c, 0, sizeof(*c));
	n = snprintf(reply, sizeof(reply),
		     "udp: echo_packets %llu echo_bytes %llu echo_send_errors %llu discard_packets %llu discard_bytes %llu",
		     c->echo_packets, c->echo_bytes, c->echo_send_errors, c->discard_packets, c->discard_bytes);
	sendto(fd, reply, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&from, fromlen);
}

static int cmd_serve(void)
{
	static struct counters c;
	struct sockaddr_un su;
	socklen_t sulen = ctl_addr(&su);
	struct pollfd p[3];
	int echo = udp_bound(7), discard = udp_bound(9);
	int ctl = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (echo < 0 || discard < 0 || ctl < 0)
		return fail("socket/bind");
	if (bind(ctl, (struct sockaddr *)&su, sulen) < 0)
		return fail("bind control socket");
	p[0] = (struct pollfd){ .fd = echo, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = discard, .events = POLLIN };
	p[2] = (struct pollfd){ .fd = ctl, .events = POLLIN };
	for (;;) { /* a server: runs until the guest is stopped */
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			return fail("poll");
		}
		if (p[0].revents & POLLIN)
			serve_echo(echo, &c);
		if (p[1].revents & POLLIN)
			serve_discard(discard, &c);
		if (p[2].revents & POLLIN)
			serve_ctl(ctl, &c);
	}
}

/* ---- stats ---------------------------------------------------------------------------------- */

static int cmd_stats(int zero)
{
	struct sockaddr_un su, me = { .sun_family = AF_UNIX };
	socklen_t sulen = ctl_addr(&su);
	struct timeval tv = { .tv_sec = 2 };
	char reply[256];
	const char *req = zero ? "zero" : "stats";
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ssize_t len;

	if (fd < 0)
		return fail("socket");
	/* Binding to an empty name autobinds an abstract address the server can answer to. */
	if (bind(fd, (struct sockaddr *)&me, sizeof(sa_family_t)) < 0)
		return fail("autobind");
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sendto(fd, req, strlen(req), 0, (struct sockaddr *)&su, sulen) < 0)
		return fail("is 'udpsrv serve' running? sendto");
	len = recv(fd, reply, sizeof(reply) - 1, 0);
	if (len <= 0)
		return fail("no answer from 'udpsrv serve'");
	reply[len] = 0;
	printf("%s\n", zero ? "udpsrv: counters zeroed" : reply);
	return 0;
}

/* ---- blast ---------------------------------------------------------------------------------- */

static int cmd_blast(const char *ip, const char *port_s, const char *size_s, const char *secs_s)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	long port = strtol(port_s, NULL, 10), size = strtol(size_s, NULL, 10), secs = strtol(secs_s, NULL, 10);
	unsigned long long sent = 0, nobufs = 0, failed = 0;
	uint64_t start, stop, elapsed;
	uint32_t seq = 1; /* 0 is the priming datagram, as in our blast */
	struct timeval send_timeout = { .tv_usec = 200000 };
	int fd, last_err = 0;

	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1 || port < 1 || port > 65535 || size < 0 || size > 1472 ||
	    secs < 1 || secs > MAX_SECONDS) {
		fprintf(stderr, "usage: udpsrv blast IP PORT SIZE(0..1472) SECONDS(1..%d)\n", MAX_SECONDS);
		return 2;
	}
	sa.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return fail("socket/connect");
	/* A send blocks while the socket's buffer is full; never past the deadline, even if the
	 * device stops completing frames: give up after 200 ms and count a nobufs. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout));
	memset(bufs, 0, sizeof(bufs));
	send(fd, bufs[0], (size_t)size, 0); /* priming: ARP resolves before the clock starts */
	usleep(200000);
	start = now_ns();
	stop = start + (uint64_t)secs * 1000000000ull;
	while (now_ns() < stop) {
		int n;

		for (int i = 0; i < BATCH; i++) {
			uint32_t s = seq + (uint32_t)i;

			bufs[i][0] = (unsigned char)(s >> 24);
			bufs[i][1] = (unsigned char)(s >> 16);
			bufs[i][2] = (unsigned char)(s >> 8);
			bufs[i][3] = (unsigned char)s;
			iovs[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = (size_t)size };
			msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iovs[i], .msg_iovlen = 1 } };
		}
		n = sendmmsg(fd, msgs, BATCH, 0);
		if (n < 0) {
			if (errno == ENOBUFS || errno == EAGAIN || errno == EWOULDBLOCK) {
				nobufs++;
			} else {
				failed++;
				last_err = errno;
			}
			continue;
		}
		sent += (unsigned)n;
		seq += (uint32_t)n;
	}
	elapsed = now_ns() - start;
	printf("blast: %llu datagrams of %ld bytes to %s:%ld in %llu ms, %llu per s, nobufs %llu failed %llu\n", sent,
	       size, ip, port, (unsigned long long)(elapsed / 1000000),
	       (unsigned long long)(elapsed ? sent * 1000000000ull / elapsed : 0), nobufs, failed);
	if (failed)
		printf("blast: last error: %s\n", strerror(last_err));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "serve") == 0)
		return cmd_serve();
	if (argc >= 2 && argc <= 3 && strcmp(argv[1], "stats") == 0)
		return cmd_stats(argc == 3 && strcmp(argv[2], "-z") == 0);
	if (argc == 6 && strcmp(argv[1], "blast") == 0)
		return cmd_blast(argv[2], argv[3], argv[4], argv[5]);
	fprintf(stderr, "usage: udpsrv serve | udpsrv stats [-z] | udpsrv blast IP PORT SIZE SECONDS\n");
	return 2;
}
