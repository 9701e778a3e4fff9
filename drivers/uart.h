/*
 * drivers/uart.h - 16550A UART (COM1): polled transmit, interrupt-driven receive.
 */
#ifndef DRIVERS_UART_H
#define DRIVERS_UART_H

#include "kernel/types.h"

void uart_init(void);            /* 115200 8N1, FIFOs on, receive interrupt enabled */
void uart_putc(char c);          /* polled: waits for the transmit holding register */
void uart_write(const char *s, size_t n);
/* Receive: the IRQ handler moves bytes into a ring; this takes one (-1 when empty). */
int uart_getc(void);
void uart_enable_rx_irq(void (*notify)(void)); /* called in interrupt context per burst */
/* True (once) if a ^C byte arrived since the last call: lets a running command stop. */
bool uart_take_ctrl_c(void);

struct uart_stats {
	u64 rx_bytes;
	u64 rx_overruns; /* bytes lost because the ring was full */
	u64 tx_bytes;
};
void uart_get_stats(struct uart_stats *st);

#endif
