/* tests/unit/vp_common_harness.h - see vp_common_harness.c. */
#ifndef TESTS_UNIT_VP_COMMON_HARNESS_H
#define TESTS_UNIT_VP_COMMON_HARNESS_H

#include "drivers/virtio/virtio_pci_common.h"

/* Run the INTx handler (vp_interrupt) once, as the interrupt line would. */
void vp_harness_intx(struct virtio_pci_device *vp);

#endif
