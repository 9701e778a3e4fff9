/*
 * tests/unit/vp_common_harness.c - drivers/virtio/virtio_pci_common.c on the host, for the INTx
 * interrupt handler's ISR checks (virtio 1.x 4.1.4.5). Included, not linked, so the test can
 * call the static vp_interrupt; PCI and IRQ services are stubs that refuse everything (no
 * MSI-X, no interrupt lines), which is all the ISR path needs.
 */
#include "drivers/virtio/virtio_pci_common.c" /* #included, not linked: vp_interrupt is static */
#include "tests/unit/vp_common_harness.h"

int pci_msix_map(struct pci_dev *d) { return -ENODEV; }
int pci_msix_set_entry(struct pci_dev *d, u16 entry, u32 addr, u32 data) { return -ENODEV; }
void pci_msix_mask_entry(struct pci_dev *d, u16 entry, bool masked) {}
void pci_msix_enable(struct pci_dev *d, bool enable) {}
void pci_intx(struct pci_dev *d, bool enable) {}
void pci_enable_device(struct pci_dev *d) {}
void pci_set_master(struct pci_dev *d) {}
int pci_register_driver(const struct pci_driver *drv) { return 0; }
int request_irq(int irq, irq_handler_t handler, void *data, const char *name) { return -EBUSY; }
void free_irq(int irq) {}
int irq_alloc_msi(void) { return -ENOSPC; }
void irq_free_msi(int irq) {}
void irq_msi_message(int irq, u32 *addr, u32 *data) {}
u64 irq_count(int irq) { return 0; }
int virtio_pci_modern_probe(struct virtio_pci_device *vp) { return -ENODEV; }
int virtio_pci_legacy_probe(struct virtio_pci_device *vp) { return -ENODEV; }

void vp_harness_intx(struct virtio_pci_device *vp) { vp_interrupt(0, vp); }
