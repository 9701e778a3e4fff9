/* tests/unit/vp_common_host.h - see vp_common_host.c. */
#ifndef TESTS_UNIT_VP_COMMON_HOST_H
#define TESTS_UNIT_VP_COMMON_HOST_H

#include "drivers/virtio/virtio_pci_common.h"

/* Run the INTx handler (vp_interrupt) once, as the interrupt line would. */
void vp_host_intx(struct virtio_pci_device *vp);

#endif
