/* kernel/version.h - the name and version printed in the boot banner (docs/serial.md). */
#ifndef KERNEL_VERSION_H
#define KERNEL_VERSION_H
#define KERNEL_NAME "vnet-kernel"
#define KERNEL_VERSION "0.1"
#endif
