/*
 * kernel/crc32.h - CRC-32 (IEEE 802.3 polynomial, reflected), the value zlib's crc32() and
 * Python's zlib.crc32 give: the frame log (`framelog`) prints it so a test on the host can
 * compare a received frame with what it sent.
 */
#ifndef KERNEL_CRC32_H
#define KERNEL_CRC32_H

#include "kernel/types.h"

u32 crc32_ieee(const void *buf, size_t len);

#endif
