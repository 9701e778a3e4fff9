/*
 * tests/unit/test_net_udpapp.c - the small application of docs/network.md ("A complete small
 * application"), built and run as it is printed there: an upper-casing server on UDP port
 * 7000 and a client of it on a port of its own, connected to the server, with an error
 * handler. Run against our own address (loopback) and against the peer on the fake wire.
 */
#include "tests/unit/kernel_harness.h"
#include "tests/unit/net_harness.h"
#include "tests/unit/unit.h"

/* ---- the application, as in docs/network.md ---- */
#include "kernel/printk.h"
#include "kernel/string.h"
#include "net/udp.h"

#define UPPER_PORT 7000

/* The server: every datagram comes back in upper case. */
static void upper_recv(void *ctx, struct netbuf *nb, const struct udp_meta *m)
{
	u8 *p = nb->data;

	if (m->dest != IP_DEST_UNICAST || m->link_multicast || m->sport == 0) {
		netbuf_free(nb); /* answer no broadcast, and nobody who wants no answer */
		return;
	}
	for (unsigned i = 0; i < netbuf_len(nb); i++)
		if (p[i] >= 'a' && p[i] <= 'z')
			p[i] = (u8)(p[i] - 'a' + 'A');
	udp_reply(nb, m, UDP_PAYLOAD_NEW); /* in place; the checksum computed anew */
}

int upper_server_start(void) { return udp_bind(UPPER_PORT, upper_recv, NULL) < 0 ? -1 : 0; }

/* The client: a port of its own (any free one), connected to one server. */
struct upper_client {
	u16 port;
	unsigned answers, errors;
	char last[64];
};

static void client_recv(void *ctx, struct netbuf *nb, const struct udp_meta *m)
{
	struct upper_client *c = ctx;
	unsigned n = MIN(netbuf_len(nb), sizeof(c->last) - 1);

	memcpy(c->last, nb->data, n); /* connected: only the server gets here */
	c->last[n] = '\0';
	c->answers++;
	netbuf_free(nb);
}

static void client_error(void *ctx, const struct udp_error *e)
{
	struct upper_client *c = ctx;

	c->errors++;
	printk("upper: the server did not take it: %s\n", strerror(e->err));
}

int upper_client_open(struct upper_client *c, ip4_addr server)
{
	int port = udp_bind(0, client_recv, c);

	if (port < 0)
		return port;
	c->port = (u16)port;
	udp_on_error(c->port, client_error);
	return udp_connect(c->port, server, UPPER_PORT);
}

int upper_ask(struct upper_client *c, const char *text) { return udp_send(c->port, text, strlen(text)); }

void upper_client_close(struct upper_client *c) { udp_unbind(c->port); }
/* ---- end of the application ---- */

static void test_app_on_loopback(void)
{
	static struct upper_client c;

	h_setup(NULL, NULL);
	host_log_clear();
	CHECK_EQ(upper_server_start(), 0);
	CHECK_EQ(upper_client_open(&c, IP4(10, 0, 2, 15)), 0); /* ourselves */
	CHECK(c.port >= UDP_EPHEMERAL_FIRST);
	CHECK_EQ(upper_ask(&c, "hello, world"), 0);
	h_advance_ns(0); /* the request, then the answer, from the event loop */
	h_advance_ns(0);
	CHECK_EQ(c.answers, 1);
	CHECK(strcmp(c.last, "HELLO, WORLD") == 0);
	/* the server gone: its port is closed, ICMP says so, the client hears it */
	CHECK_EQ(udp_unbind(UPPER_PORT), 0);
	CHECK_EQ(upper_ask(&c, "anyone?"), 0);
	h_advance_ns(0);
	h_advance_ns(0);
	CHECK_EQ(c.errors, 1);
	CHECK(strstr(host_log, "upper: the server did not take it: "));
	CHECK_EQ(h_ntx, 0); /* all of it on loopback */
	upper_client_close(&c);
	CHECK(!udp_port_bound(c.port));
	CHECK_EQ(h_leaked(), 0);
}

/* Against the peer: what goes on the wire, and an answer from someone else ignored. */
static void test_app_against_the_peer(void)
{
	static struct upper_client c;
	u8 a[28];

	h_setup(NULL, NULL);
	h_inject(h_frame(h_our_mac, h_peer_mac, ETH_P_ARP, a,
			 h_arp(a, ARPOP_REQUEST, h_peer_mac, h_peer_ip, (const u8[6]){ 0 }, h_our_ip)));
	h_clear_tx();
	memset(&c, 0, sizeof(c));
	CHECK_EQ(upper_client_open(&c, IP4(10, 0, 2, 2)), 0);
	CHECK_EQ(upper_ask(&c, "abc"), 0);
	CHECK_EQ(h_ntx, 1);
	CHECK_EQ(h_ip(0)->daddr, h_peer_ip);
	CHECK_EQ(get_be16(h_l4(0) + 2), UPPER_PORT);
	h_clear_tx();
	h_inject_udp(UPPER_PORT + 1, c.port, "FORGED", 6); /* not the server's port */
	h_inject_udp(UPPER_PORT, c.port, "ABC", 3);
	CHECK_EQ(c.answers, 1);
	CHECK(strcmp(c.last, "ABC") == 0);
	upper_client_close(&c);
	CHECK_EQ(h_leaked(), 0);
}

int main(void)
{
	RUN(test_app_on_loopback);
	RUN(test_app_against_the_peer);
	return unit_summary("net_udpapp");
}
