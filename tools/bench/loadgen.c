/*
 * tools/bench/loadgen.c - the benchmark's host-side UDP load generator.
 *
 * Runs on the host, inside the benchmark's network namespace (tools/bench/bench.py starts it
 * with `ip netns exec`), and talks only to the guest address it is given. Every mode is
 * bounded in time (--seconds, at most MAX_SECONDS) and, where it counts, in requests.
 * Each run prints one JSON object on one line (stdout); diagnostics go to stderr.
 *
 *   loadgen rtt   --dst IP [--port 7] [--size 64] [--count 2000] [--warmup 50] [--samples FILE] [--spin]
 *        N sequential echo round trips; min/p50/p90/p99/max in microseconds. --spin polls the
 *        socket instead of sleeping in ppoll: on a host (itself a VM here) whose idle CPUs wake
 *        slowly, a sleeping client measures mostly its own wake-up.
 *   loadgen echo  --dst IP [--port 7] [--size 64] [--window 64] [--seconds 5]
 *        W requests in flight for T seconds; replies/s, Mbit/s, loss.
 *   loadgen flood --dst IP [--port 9] [--size 64] [--seconds 5] [--rate PPS (0: as fast as possible)]
 *        datagrams to the discard port; the guest counts what arrived (read by bench.py).
 *   loadgen sink  [--port 5001] [--seconds 10] [--idle-ms 500]
 *        count what the guest's `blast` sends: datagrams, bytes, rate, sequence gaps.
 *   loadgen probe --dst IP [--port 7] [--seconds 60] [--interval-us 2000]
 *        one echo request every interval until the first reply; prints CLOCK_MONOTONIC of
 *        that reply (bench.py subtracts QEMU's start time: boot to network ready).
 *
 * Echo requests carry a 16-byte header: a per-run tag, then a 64-bit sequence number, so a
 * reply is matched to its request and stray replies of an earlier run are ignored.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SECONDS 120
#define MAX_COUNT 1000000
#define MAX_WINDOW 4096
#define MAX_PAYLOAD 65507
#define BATCH 32             /* datagrams per sendmmsg/recvmmsg call */
#define HDR_LEN 16           /* tag (4) + padding (4) + sequence (8) */
#define WIRE_OVERHEAD 42     /* Ethernet 14 + IPv4 20 + UDP 8 bytes per datagram */
#define SLOTS 65536          /* echo: in-flight table, indexed by seq % SLOTS */

struct opts {
	const char *mode;
	const char *dst;
	const char *samples;
	int port;
	int size;
	long count;
	long warmup;
	int window;
	double seconds;
	long rate;
	long timeout_ms;
	long idle_ms;
	long interval_us;
	bool spin; /* rtt: poll the socket without sleeping */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void usage(void)
{
	fprintf(stderr, "usage: loadgen rtt|echo|flood|sink|probe [--dst IP] [--port N] [--size N] [--count N]\n"
			"               [--warmup N] [--window N] [--seconds S] [--rate PPS] [--timeout-ms N]\n"
			"               [--idle-ms N] [--interval-us N] [--samples FILE]\n");
	exit(2);
}

static long parse_long(const char *s, long lo, long hi, const char *name)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi) {
		fprintf(stderr, "loadgen: --%s %s: expected %ld..%ld\n", name, s, lo, hi);
		exit(2);
	}
	return v;
}

static double parse_seconds(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !(v >= 0.1 && v <= MAX_SECONDS)) {
		fprintf(stderr, "loadgen: --seconds %s: expected 0.1..%d\n", s, MAX_SECONDS);
		exit(2);
	}
	return v;
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "dst", required_argument, NULL, 'd' },     { "port", required_argument, NULL, 'p' },
		{ "size", required_argument, NULL, 's' },    { "count", required_argument, NULL, 'n' },
		{ "warmup", required_argument, NULL, 'w' },  { "window", required_argument, NULL, 'W' },
		{ "seconds", required_argument, NULL, 't' }, { "rate", required_argument, NULL, 'r' },
		{ "timeout-ms", required_argument, NULL, 'T' }, { "idle-ms", required_argument, NULL, 'i' },
		{ "interval-us", required_argument, NULL, 'I' }, { "samples", required_argument, NULL, 'S' },
		{ "spin", no_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	if (argc < 2)
		usage();
	o->mode = argv[1];
	o->port = 0;
	o->size = 64;
	o->count = 2000;
	o->warmup = 50;
	o->window = 64;
	o->seconds = 0;
	o->rate = 0;
	o->timeout_ms = 500;
	o->idle_ms = 500;
	o->interval_us = 2000;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->dst = optarg; break;
		case 'p': o->port = (int)parse_long(optarg, 1, 65535, "port"); break;
		case 's': o->size = (int)parse_long(optarg, 0, MAX_PAYLOAD, "size"); break;
		case 'n': o->count = parse_long(optarg, 1, MAX_COUNT, "count"); break;
		case 'w': o->warmup = parse_long(optarg, 0, MAX_COUNT, "warmup"); break;
		case 'W': o->window = (int)parse_long(optarg, 1, MAX_WINDOW, "window"); break;
		case 't': o->seconds = parse_seconds(optarg); break;
		case 'r': o->rate = parse_long(optarg, 0, 100000000, "rate"); break;
		case 'T': o->timeout_ms = parse_long(optarg, 1, 60000, "timeout-ms"); break;
		case 'i': o->idle_ms = parse_long(optarg, 1, 60000, "idle-ms"); break;
		case 'I': o->interval_us = parse_long(optarg, 100, 1000000, "interval-us"); break;
		case 'S': o->samples = optarg; break;
		case 'P': o->spin = true; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
}

/* ---- sockets ------------------------------------------------------------------------------ */

static int udp_socket(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int big = 4 << 20;

	if (fd < 0)
		die("socket");
	/* Deep socket buffers: a burst of replies must not be dropped on the host's side. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	return fd;
}

static void connect_to(int fd, const char *ip, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	if (!ip || inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
		fprintf(stderr, "loadgen: --dst: expected an IPv4 address\n");
		exit(2);
	}
	/* connect(): the kernel filters replies to this peer, and send() needs no address. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect");
}

static void bind_port(int fd, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_ANY) };

	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("bind");
}

/* Wait up to timeout_ns for fd to become readable; false on timeout. */
static bool wait_readable(int fd, uint64_t timeout_ns)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct timespec ts = { .tv_sec = (time_t)(timeout_ns / 1000000000ull),
			       .tv_nsec = (long)(timeout_ns % 1000000000ull) };
	int n = ppoll(&p, 1, &ts, NULL);

	if (n < 0 && errno != EINTR)
		die("ppoll");
	return n > 0;
}

/* ---- request headers ------------------------------------------------------------------------ */

static uint32_t run_tag;

static void put_header(uint8_t *buf, uint64_t seq)
{
	memcpy(buf, &run_tag, 4);
	memset(buf + 4, 0, 4);
	memcpy(buf + 8, &seq, 8);
}

/* The sequence number of a reply of this run, or false for anything else. */
static bool get_header(const uint8_t *buf, ssize_t len, uint64_t *seq)
{
	uint32_t tag;

	if (len < HDR_LEN)
		return false;
	memcpy(&tag, buf, 4);
	if (tag != run_tag)
		return false;
	memcpy(seq, buf + 8, 8);
	return true;
}

static void new_run_tag(void)
{
	run_tag = (uint32_t)(now_ns() ^ ((uint64_t)getpid() << 16)) | 1;
}

static void need_header_room(const struct opts *o)
{
	if (o->size < HDR_LEN) {
		fprintf(stderr, "loadgen: --size must be at least %d for %s (sequence header)\n", HDR_LEN, o->mode);
		exit(2);
	}
}

/* --seconds, or dflt when it was not given; never more than MAX_SECONDS. */
static double seconds_of(const struct opts *o, double dflt)
{
	return o->seconds > 0 ? o->seconds : dflt;
}

static uint64_t deadline_after(const struct opts *o, double dflt)
{
	return now_ns() + (uint64_t)(seconds_of(o, dflt) * 1e9);
}

/* ---- rtt: sequential round trips ----------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(const uint64_t *sorted, long n, double p)
{
	long i;

	if (n == 0)
		return 0;
	i = (long)(p / 100.0 * (double)(n - 1) + 0.5);
	return (double)sorted[i] / 1000.0;
}

static int mode_rtt(const struct opts *o)
{
	long total = o->count + o->warmup;
	uint64_t *rtt = calloc((size_t)o->count, sizeof(*rtt));
	uint8_t *buf = calloc(1, (size_t)o->size + 1), *rx = malloc(MAX_PAYLOAD + 1);
	uint64_t deadline = deadline_after(o, 60), timeout = (uint64_t)o->timeout_ms * 1000000ull;
	long n = 0, lost = 0, sent = 0;
	double sum = 0;
	int fd = udp_socket();

	if (!rtt || !buf || !rx)
		die("calloc");
	need_header_room(o);
	connect_to(fd, o->dst, o->port ? o->port : 7);
	new_run_tag();
	for (long i = 0; i < total && now_ns() < deadline; i++) {
		uint64_t t0, t1 = 0, wait_until;
		bool got = false;

		put_header(buf, (uint64_t)i);
		t0 = now_ns();
		if (send(fd, buf, (size_t)o->size, 0) < 0 && errno != ENOBUFS && errno != ECONNREFUSED)
			die("send");
		sent++;
		wait_until = t0 + timeout;
		while (!got) {
			uint64_t now = now_ns(), seq;
			ssize_t len;

			if (now >= wait_until)
				break;
			if (!o->spin && !wait_readable(fd, wait_until - now))
				break;
			len = recv(fd, rx, MAX_PAYLOAD + 1, MSG_DONTWAIT);
			t1 = now_ns();
			if (len < 0)
				continue; /* EAGAIN, or ECONNREFUSED from an ICMP unreachable */
			got = get_header(rx, len, &seq) && seq == (uint64_t)i && len == o->size;
		}
		if (i < o->warmup)
			continue;
		if (!got) {
			lost++;
			continue;
		}
		rtt[n] = t1 - t0;
		sum += (double)rtt[n];
		n++;
	}
	if (o->samples) {
		FILE *f = fopen(o->samples, "w");

		if (!f)
			die(o->samples);
		for (long i = 0; i < n; i++)
			fprintf(f, "%.3f\n", (double)rtt[i] / 1000.0);
		fclose(f);
	}
	qsort(rtt, (size_t)n, sizeof(*rtt), cmp_u64);
	printf("{\"mode\":\"rtt\",\"size\":%d,\"sent\":%ld,\"received\":%ld,\"lost\":%ld,\"min_us\":%.1f,"
	       "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f}\n",
	       o->size, sent - (sent > o->warmup ? o->warmup : sent), n, lost, pct(rtt, n, 0), pct(rtt, n, 50),
	       pct(rtt, n, 90), pct(rtt, n, 99), pct(rtt, n, 100), n ? sum / (double)n / 1000.0 : 0.0);
	close(fd);
	free(rtt);
	free(buf);
	free(rx);
	return n ? 0 : 1;
}

/* ---- echo: a window of requests in flight --------------------------------------------------- */

struct echo_state {
	uint64_t sent_at[SLOTS]; /* 0: slot free (answered, expired or never used) */
	uint64_t next_seq;       /* next sequence number to send */
	uint64_t oldest;         /* every seq below this is answered or expired */
	long in_flight;
	long received, received_in_time, late, expired, send_errors;
	double rtt_sum_ns;
};

static void echo_send_some(int fd, struct echo_state *st, const struct opts *o, uint8_t *bufs, long n)
{
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	uint64_t now = now_ns();
	int k = 0, done;

	if (n > BATCH)
		n = BATCH;
	for (long i = 0; i < n; i++) {
		uint8_t *b = bufs + (size_t)i * (size_t)o->size;

		put_header(b, st->next_seq + (uint64_t)i);
		iov[i] = (struct iovec){ .iov_base = b, .iov_len = (size_t)o->size };
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
		k++;
	}
	done = sendmmsg(fd, msgs, (unsigned)k, 0);
	if (done < 0) {
		if (errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED)
			die("sendmmsg");
		st->send_errors++;
		return;
	}
	for (int i = 0; i < done; i++) {
		st->sent_at[(st->next_seq + (uint64_t)i) % SLOTS] = now;
		st->in_flight++;
	}
	st->next_seq += (uint64_t)done;
}

/* Free the slots of requests older than the timeout: they count as lost, and the window
 * moves on (a lost datagram must not stall the run). */
static void echo_expire(struct echo_state *st, uint64_t now, uint64_t timeout)
{
	while (st->oldest < st->next_seq) {
		uint64_t *slot = &st->sent_at[st->oldest % SLOTS];

		if (*slot) {
			if (now - *slot < timeout)
				break;
			*slot = 0;
			st->in_flight--;
			st->expired++;
		}
		st->oldest++;
	}
}

static void echo_receive(int fd, struct echo_state *st, const struct opts *o, uint8_t *rxbufs, bool in_time)
{
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	uint64_t now;
	int n;

	for (int i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){ .iov_base = rxbufs + (size_t)i * (MAX_PAYLOAD + 1), .iov_len = MAX_PAYLOAD + 1 };
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
	}
	n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
	if (n <= 0)
		return;
	now = now_ns();
	for (int i = 0; i < n; i++) {
		uint64_t seq, *slot;

		if (!get_header(iov[i].iov_base, msgs[i].msg_len, &seq) || msgs[i].msg_len != (unsigned)o->size)
			continue;
		if (seq >= st->next_seq || seq + SLOTS <= st->next_seq) {
			continue; /* not one of ours in flight */
		}
		slot = &st->sent_at[seq % SLOTS];
		if (!*slot || seq < st->oldest) {
			st->late++; /* already expired (or a duplicate) */
			continue;
		}
		st->rtt_sum_ns += (double)(now - *slot);
		*slot = 0;
		st->in_flight--;
		st->received++;
		if (in_time)
			st->received_in_time++;
	}
}

static int mode_echo(const struct opts *o)
{
	static struct echo_state st;
	double secs = seconds_of(o, 5);
	uint64_t timeout = (uint64_t)o->timeout_ms * 1000000ull, start, stop, drain_end, now;
	uint8_t *txbufs = calloc(BATCH, (size_t)o->size + 1), *rxbufs = malloc((size_t)BATCH * (MAX_PAYLOAD + 1));
	int fd = udp_socket();
	double rate;

	if (!txbufs || !rxbufs)
		die("calloc");
	need_header_room(o);
	if (o->window >= SLOTS / 2) {
		fprintf(stderr, "loadgen: --window too large\n");
		exit(2);
	}
	connect_to(fd, o->dst, o->port ? o->port : 7);
	new_run_tag();
	start = now_ns();
	stop = start + (uint64_t)(secs * 1e9);
	while ((now = now_ns()) < stop) {
		/* Keep the window full; a request table slot is reused only after SLOTS requests. */
		while (st.in_flight < o->window && st.next_seq - st.oldest < SLOTS / 2) {
			long before = st.in_flight;

			echo_send_some(fd, &st, o, txbufs, o->window - st.in_flight);
			if (st.in_flight == before)
				break; /* the host's queue is full: wait for replies */
		}
		if (wait_readable(fd, o->spin ? 0 : stop - now < 1000000 ? stop - now : 1000000))
			echo_receive(fd, &st, o, rxbufs, true);
		echo_expire(&st, now_ns(), timeout);
	}
	/* Stop sending; what is still in flight gets the timeout to come back. */
	drain_end = now_ns() + timeout;
	while (st.in_flight > 0 && (now = now_ns()) < drain_end) {
		if (wait_readable(fd, drain_end - now))
			echo_receive(fd, &st, o, rxbufs, false);
	}
	rate = (double)st.received_in_time / secs;
	printf("{\"mode\":\"echo\",\"size\":%d,\"window\":%d,\"seconds\":%.3f,\"sent\":%llu,\"received\":%ld,"
	       "\"lost\":%lld,\"late\":%ld,\"send_errors\":%ld,\"replies_per_s\":%.1f,\"mbit_payload\":%.3f,"
	       "\"mbit_wire\":%.3f,\"mean_rtt_us\":%.1f,\"loss_pct\":%.3f}\n",
	       o->size, o->window, secs, (unsigned long long)st.next_seq, st.received,
	       (long long)st.next_seq - st.received, st.late, st.send_errors, rate,
	       rate * o->size * 8 / 1e6, rate * (o->size + WIRE_OVERHEAD) * 8 / 1e6,
	       st.received ? st.rtt_sum_ns / (double)st.received / 1000.0 : 0.0,
	       st.next_seq ? 100.0 * (double)((long long)st.next_seq - st.received) / (double)st.next_seq : 0.0);
	close(fd);
	free(txbufs);
	free(rxbufs);
	return st.received ? 0 : 1;
}

/* ---- flood: host to guest discard ----------------------------------------------------------- */

static int mode_flood(const struct opts *o)
{
	double secs = seconds_of(o, 5);
	uint8_t *buf = calloc(1, (size_t)o->size + 8);
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	uint64_t start, stop, now, sent = 0, errors = 0, calls = 0;
	int fd = udp_socket();

	if (!buf)
		die("calloc");
	connect_to(fd, o->dst, o->port ? o->port : 9);
	for (int i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){ .iov_base = buf, .iov_len = (size_t)o->size };
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
	}
	start = now_ns();
	stop = start + (uint64_t)(secs * 1e9);
	while ((now = now_ns()) < stop) {
		unsigned n = BATCH;
		int done;

		if (o->rate > 0) {
			/* Paced: never ahead of rate * elapsed; sleep 50 us when ahead. */
			uint64_t due = (uint64_t)((double)(now - start) * (double)o->rate / 1e9);

			if (sent + errors >= due) {
				struct timespec ts = { 0, 50000 };

				nanosleep(&ts, NULL);
				continue;
			}
			if (due - sent - errors < n)
				n = (unsigned)(due - sent - errors);
		}
		calls++;
		done = sendmmsg(fd, msgs, n, 0);
		if (done < 0) {
			if (errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED)
				die("sendmmsg");
			errors += n; /* the host dropped the batch (tap queue full) */
			continue;
		}
		sent += (uint64_t)done;
	}
	now = now_ns();
	printf("{\"mode\":\"flood\",\"size\":%d,\"rate\":%ld,\"seconds\":%.3f,\"sent\":%llu,\"send_errors\":%llu,"
	       "\"sent_per_s\":%.1f}\n",
	       o->size, o->rate, (double)(now - start) / 1e9, (unsigned long long)sent, (unsigned long long)errors,
	       (double)sent / ((double)(now - start) / 1e9));
	close(fd);
	free(buf);
	return 0;
}

/* ---- sink: count what the guest sends ------------------------------------------------------- */

static int mode_sink(const struct opts *o)
{
	uint8_t *rxbufs = malloc((size_t)BATCH * (MAX_PAYLOAD + 1));
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	uint64_t stop = deadline_after(o, 30), idle = (uint64_t)o->idle_ms * 1000000ull;
	uint64_t first = 0, last = 0, packets = 0, timed = 0, bytes = 0, max_seq = 0, behind = 0, now;
	int fd = udp_socket();

	if (!rxbufs)
		die("malloc");
	bind_port(fd, o->port ? o->port : 5001);
	/* Tell the driver the socket is bound before the guest starts sending. */
	fprintf(stderr, "loadgen: sink listening\n");
	fflush(stderr);
	for (int i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){ .iov_base = rxbufs + (size_t)i * (MAX_PAYLOAD + 1), .iov_len = MAX_PAYLOAD + 1 };
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
	}
	while ((now = now_ns()) < stop) {
		uint64_t wait = stop - now;
		int n;

		if (packets && now - last >= idle)
			break; /* the sender has stopped */
		if (packets && wait > idle - (now - last))
			wait = idle - (now - last);
		if (!wait_readable(fd, wait))
			continue;
		n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			continue;
		now = now_ns();
		last = now;
		for (int i = 0; i < n; i++) {
			const uint8_t *p = iov[i].iov_base;
			uint64_t seq = 1;

			packets++;
			bytes += msgs[i].msg_len;
			if (msgs[i].msg_len >= 4) /* blast's big-endian sequence number */
				seq = (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
			if (seq == 0)
				continue; /* the priming datagram, sent before the sender's clock starts */
			if (!timed++)
				first = now;
			if (seq > max_seq)
				max_seq = seq;
			else
				behind++;
		}
	}
	{
		/* The rate over the timed datagrams: from the first to the last arrival. */
		double span = timed > 1 ? (double)(last - first) / 1e9 : 0;
		double pps = span > 0 ? (double)(timed - 1) / span : 0;
		double avg = packets ? (double)bytes / (double)packets : 0;

		printf("{\"mode\":\"sink\",\"packets\":%llu,\"timed_packets\":%llu,\"bytes\":%llu,\"span_s\":%.3f,"
		       "\"packets_per_s\":%.1f,\"mbit_payload\":%.3f,\"max_seq\":%llu,\"reordered\":%llu,"
		       "\"seq_missing\":%lld}\n",
		       (unsigned long long)packets, (unsigned long long)timed, (unsigned long long)bytes, span, pps,
		       pps * avg * 8 / 1e6, (unsigned long long)max_seq, (unsigned long long)behind,
		       timed ? (long long)max_seq - (long long)timed : 0);
	}
	close(fd);
	free(rxbufs);
	return packets ? 0 : 1;
}

/* ---- probe: time of the first echo reply ---------------------------------------------------- */

static int mode_probe(const struct opts *o)
{
	uint8_t buf[HDR_LEN], rx[2048];
	uint64_t stop = deadline_after(o, 60), interval = (uint64_t)o->interval_us * 1000ull;
	uint64_t start = now_ns(), next = start, seq = 0, seq_got;
	int fd = udp_socket();

	connect_to(fd, o->dst, o->port ? o->port : 7);
	new_run_tag();
	for (uint64_t now; (now = now_ns()) < stop;) {
		if (now >= next) {
			put_header(buf, seq++);
			(void)send(fd, buf, sizeof(buf), 0); /* fails while the TAP has no reader: fine */
			next = now + interval;
		}
		if (!wait_readable(fd, next > now ? next - now : 0))
			continue;
		ssize_t len = recv(fd, rx, sizeof(rx), MSG_DONTWAIT);
		if (len > 0 && get_header(rx, len, &seq_got)) {
			uint64_t t = now_ns();

			printf("{\"mode\":\"probe\",\"reply_mono_ns\":%llu,\"start_mono_ns\":%llu,\"requests\":%llu}\n",
			       (unsigned long long)t, (unsigned long long)start, (unsigned long long)seq);
			close(fd);
			return 0;
		}
	}
	printf("{\"mode\":\"probe\",\"reply_mono_ns\":null,\"start_mono_ns\":%llu,\"requests\":%llu}\n",
	       (unsigned long long)start, (unsigned long long)seq);
	close(fd);
	return 1;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	int ret;

	parse_opts(argc, argv, &o);
	if (strcmp(o.mode, "rtt") == 0)
		ret = mode_rtt(&o);
	else if (strcmp(o.mode, "echo") == 0)
		ret = mode_echo(&o);
	else if (strcmp(o.mode, "flood") == 0)
		ret = mode_flood(&o);
	else if (strcmp(o.mode, "sink") == 0)
		ret = mode_sink(&o);
	else if (strcmp(o.mode, "probe") == 0)
		ret = mode_probe(&o);
	else
		usage();
	fflush(stdout);
	return ret;
}
