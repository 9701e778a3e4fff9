/*
 * drivers/uart.c - the 16550A serial port on COM1, the kernel's console.
 *
 * Register map from the National Semiconductor PC16550D data sheet. Output is polled (simple,
 * works before interrupts exist, and cannot lose a panic message); input arrives by the
 * receive-data interrupt into a small ring that the shell drains from the event loop.
 */
#include "drivers/uart.h"
#include "kernel/io.h"
#include "kernel/irq.h"
#include "kernel/platform.h"

#define UART_RBR 0 /* receive buffer (read) */
#define UART_THR 0 /* transmit holding (write) */
#define UART_IER 1 /* interrupt enable */
#define UART_FCR 2 /* FIFO control (write) */
#define UART_LCR 3 /* line control */
#define UART_MCR 4 /* modem control */
#define UART_LSR 5 /* line status */
#define UART_DLL 0 /* divisor latch, with LCR.DLAB set */
#define UART_DLM 1

#define IER_RDA 0x01       /* received data available */
#define LCR_8N1 0x03
#define LCR_DLAB 0x80
#define FCR_ENABLE_CLEAR 0x07 /* enable FIFOs, clear both, trigger at 1 byte */
#define MCR_DTR_RTS_OUT2 0x0b /* OUT2 gates the UART's IRQ line on PC hardware */
#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY 0x20

#define RX_RING 256 /* power of two */

static u8 rx_ring[RX_RING];
static volatile u32 rx_head, rx_tail; /* head: written by the IRQ handler; tail: by the loop */
static struct uart_stats stats;
static volatile bool saw_ctrl_c;
static void (*rx_notify)(void);

void uart_init(void)
{
	outb(COM1_PORT + UART_IER, 0);
	outb(COM1_PORT + UART_LCR, LCR_DLAB);
	outb(COM1_PORT + UART_DLL, 1); /* 115200 / 1 */
	outb(COM1_PORT + UART_DLM, 0);
	outb(COM1_PORT + UART_LCR, LCR_8N1);
	outb(COM1_PORT + UART_FCR, FCR_ENABLE_CLEAR);
	outb(COM1_PORT + UART_MCR, MCR_DTR_RTS_OUT2);
}

void uart_putc(char c)
{
	while (!(inb(COM1_PORT + UART_LSR) & LSR_THR_EMPTY))
		cpu_relax();
	outb(COM1_PORT + UART_THR, (u8)c);
	stats.tx_bytes++;
}

void uart_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			uart_putc('\r');
		uart_putc(s[i]);
	}
}

/* Called in interrupt context: drain the FIFO into the ring, then poke the shell. */
static void uart_irq(int irq, void *data)
{
	bool got = false;

	while (inb(COM1_PORT + UART_LSR) & LSR_DATA_READY) {
		u8 c = inb(COM1_PORT + UART_RBR);

		if (c == 0x03)
			saw_ctrl_c = true;
		if (rx_head - rx_tail < RX_RING) {
			rx_ring[rx_head % RX_RING] = c;
			rx_head++;
			stats.rx_bytes++;
		} else {
			stats.rx_overruns++;
		}
		got = true;
	}
	if (got && rx_notify)
		rx_notify();
}

int uart_getc(void)
{
	int c;

	if (rx_tail == rx_head)
		return -1;
	c = rx_ring[rx_tail % RX_RING];
	rx_tail++;
	return c;
}

void uart_enable_rx_irq(void (*notify)(void))
{
	rx_notify = notify;
	request_irq(COM1_IRQ, uart_irq, NULL, "uart");
	outb(COM1_PORT + UART_IER, IER_RDA);
	uart_irq(COM1_IRQ, NULL); /* bytes typed before the IRQ was on */
}

void uart_get_stats(struct uart_stats *st) { *st = stats; }

bool uart_take_ctrl_c(void)
{
	bool seen = saw_ctrl_c;

	saw_ctrl_c = false;
	return seen;
}
