/*
 * kernel/init.h - initcalls: subsystems that start after the core (PCI, virtio, net) register
 * an init function with INITCALL(level, fn); kmain runs them by level, then by name.
 * Levels: 1 bus (PCI), 2 device core (virtio), 3 drivers, 4 network stack, 5 services.
 */
#ifndef KERNEL_INIT_H
#define KERNEL_INIT_H

typedef void (*initcall_t)(void);

#define INITCALL(level, fn)                                                              \
	static const initcall_t __initcall_##fn                                          \
		__attribute__((used, section(".initcall" #level "." #fn), aligned(8))) = fn

void run_initcalls(void);

#endif
