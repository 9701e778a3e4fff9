/*
 * tests/fuzz/fuzz_dns.c - libFuzzer target: DNS responses (net/dns.c) from a hostile server.
 *
 * The input is one DNS message, given twice:
 *   - to dns_parse_response for the question "host.test" with the message's own first two
 *     bytes as the id (so the fuzzer reaches past the id check at once): an answer must come
 *     with a TTL of at most DNS_MAX_TTL_S;
 *   - to a real query in flight on the fake eth0 of tests/unit/net_harness.c (dns=10.0.2.2,
 *     the name "host.test"), as a datagram from the server's port 53 to the query's port, the
 *     first two bytes replaced by the query's id; then the clock runs past the last retry.
 *     The callback must be called exactly once, with an answer or an errno the API names,
 *     the port must be free again and every packet buffer free or captured.
 * Compression loops, pointers anywhere, lengths past the end: the sanitizers and the bounds
 * in read_name catch the rest.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/dns.h"
#include "tests/unit/kernel_harness.h"
#include "tests/unit/net_harness.h"

static unsigned calls;
static int last_err;

static void on_answer(void *ctx, const char *name, int err, be32 addr)
{
	calls++;
	last_err = err;
	if (strcmp(name, "host.test") != 0)
		abort();
}

static bool err_known(int err)
{
	return err == 0 || err == -ENOENT || err == -ENODATA || err == -EMSGSIZE || err == -EAGAIN ||
	       err == -ECONNREFUSED || err == -EIO || err == -ETIMEDOUT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static u8 msg[2048];
	struct dns_answer ans;
	u16 id, port;
	int err;

	if (size < 2 || size > sizeof(msg))
		return 0;
	memcpy(msg, data, size);
	err = dns_parse_response(msg, (unsigned)size, get_be16(msg), "host.test", &ans);
	if (err == 0 && ans.ttl > DNS_MAX_TTL_S)
		abort();

	host_now_ns = 1000000000ull;
	h_set_cmdline("dns", "10.0.2.2");
	h_setup(NULL, NULL);
	{
		u8 a[28];

		h_inject(h_frame(h_our_mac, h_peer_mac, ETH_P_ARP, a,
				 h_arp(a, ARPOP_REPLY, h_peer_mac, h_peer_ip, h_our_mac, h_our_ip)));
	}
	h_clear_tx();
	calls = 0;
	if (dns_resolve("host.test", on_answer, NULL) != 0 || h_ntx != 1)
		abort();
	port = get_be16(h_l4(0));
	id = get_be16(h_l4(0) + UDP_HLEN);
	h_clear_tx();
	put_be16(msg, id);
	if (size <= ETH_DATA_LEN - IPV4_HLEN - UDP_HLEN)
		h_inject_udp(DNS_PORT, port, msg, (unsigned)size);
	if (calls > 1)
		abort();
	h_advance_ns(10 * NSEC_PER_SEC);
	if (calls != 1 || !err_known(last_err) || dns_pending() || udp_port_bound(port))
		abort();
	h_clear_tx();
	if (h_leaked() != 0)
		abort();
	return 0;
}
