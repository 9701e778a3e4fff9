#!/usr/bin/python3
"""tools/bench/mklinux.py OUTDIR - build the Linux baseline guest for the benchmark.

From Debian's packages (fetched with `apt-get download` into OUTDIR/debs and unpacked there,
so nothing is installed on the host and no boot loader hook runs):
  linux-image-amd64's kernel   -> OUTDIR/vmlinuz, and OUTDIR/vmlinux (the same kernel
                                   uncompressed: QEMU boots it through its PVH entry point,
                                   which spares the guest its decompression under TCG)
  busybox-static               -> /bin/busybox in the initramfs
  the virtio-net modules        -> /lib/modules/*.ko, load order in /etc/modules
  tools/bench/linux/udpsrv.c   -> /bin/udpsrv, built with gcc -static
  tools/bench/linux/init       -> /init
The initramfs is an uncompressed newc cpio archive, OUTDIR/initramfs.cpio, written here (no
cpio tool needed). OUTDIR/linux.json records what was used. Reruns reuse the downloads.
"""
import glob
import json
import lzma
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The modules the NIC needs; their dependencies are found from each module's .modinfo.
WANTED_MODULES = ["virtio_pci", "virtio_net"]


def log(msg):
    print("mklinux: " + msg, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


# ---- packages --------------------------------------------------------------------------------
def kernel_package(debdir):
    """linux-image-amd64 is a metapackage: the real image is its Depends. Without a package
    list (and no way to get one), a kernel downloaded by an earlier run is used."""
    def ask():
        r = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], capture_output=True, text=True)
        for line in r.stdout.splitlines():
            line = line.strip()
            if line.startswith("Depends: linux-image-"):
                return line.split(":", 1)[1].strip()
        return None
    pkg = ask()
    if not pkg and os.geteuid() == 0:
        log("apt-get update (apt-cache knows no linux-image-amd64 yet)")
        subprocess.run(["apt-get", "update", "-q"], check=False, capture_output=True)
        pkg = ask()
    if not pkg:
        cached = sorted(p.name.split("_")[0] for p in debdir.glob("linux-image-*_*.deb"))
        if not cached:
            raise SystemExit("mklinux: apt-cache knows no linux-image-amd64 (run apt-get update)")
        pkg = cached[-1]
    return pkg


def fetch(pkg, debdir):
    """The .deb of pkg in debdir, downloading it with apt-get when it is not there yet."""
    have = sorted(debdir.glob(pkg + "_*.deb"))
    if have:
        return have[-1]
    log(f"apt-get download {pkg}")
    r = subprocess.run(["apt-get", "download", "-q", pkg], cwd=debdir, capture_output=True, text=True)
    have = sorted(debdir.glob(pkg + "_*.deb"))
    if r.returncode or not have:
        raise SystemExit(f"mklinux: apt-get download {pkg} failed:\n{r.stdout}{r.stderr}")
    return have[-1]


def unpack(deb, dest):
    if not dest.exists():
        tmp = dest.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        run(["dpkg-deb", "-x", str(deb), str(tmp)])
        tmp.rename(dest)
    return dest


# ---- kernel ----------------------------------------------------------------------------------
def extract_vmlinux(bzimage, out):
    """The ELF kernel inside a bzImage: boot protocol header fields setup_sects (0x1f1),
    payload_offset (0x248) and payload_length (0x24c) locate the compressed payload, which
    Debian compresses with xz. Returns False when the payload is in another format."""
    data = bzimage.read_bytes()
    setup_sects = data[0x1f1] or 4
    off, length = struct.unpack_from("<II", data, 0x248)
    start = (setup_sects + 1) * 512 + off
    payload = data[start:start + length]
    if not payload.startswith(b"\xfd7zXZ\x00"):
        return False
    # The kernel's own xz stream may carry trailing padding: decompress the first stream only.
    elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)
    if not elf.startswith(b"\x7fELF"):
        return False
    out.write_bytes(elf)
    return True


# ---- modules ---------------------------------------------------------------------------------
def elf_section(path, name):
    """The bytes of one section of a 64-bit little-endian ELF file (enough for .modinfo)."""
    data = path.read_bytes()
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3a)

    def header(i):
        return struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
    strtab = header(shstrndx)
    for i in range(shnum):
        h = header(i)
        start = strtab[4] + h[0]
        if data[start:data.index(b"\0", start)].decode() == name:
            return data[h[4]:h[4] + h[5]]
    return b""


def module_depends(ko):
    for field in elf_section(ko, ".modinfo").split(b"\0"):
        if field.startswith(b"depends="):
            return [d for d in field[len(b"depends="):].decode().split(",") if d]
    return []


def module_order(moddir, wanted):
    """Modules to insmod, dependencies first (a depth-first walk of depends=)."""
    paths = {}
    for ko in moddir.rglob("*.ko"):
        paths[ko.stem.replace("-", "_")] = ko
    order = []

    def visit(name, trail):
        name = name.replace("-", "_")
        if name in order:
            return
        if name in trail or name not in paths:
            raise SystemExit(f"mklinux: module {name}: {'dependency loop' if name in trail else 'not found'}")
        for dep in module_depends(paths[name]):
            visit(dep, trail + [name])
        order.append(name)
    for w in wanted:
        visit(w, [])
    return [(n, paths[n]) for n in order]


# ---- initramfs -------------------------------------------------------------------------------
class Cpio:
    """A newc ("070701") archive: 110-byte ASCII header, name, data, each padded to 4 bytes."""

    def __init__(self):
        self.out = bytearray()
        self.ino = 1

    def _entry(self, name, mode, data=b"", nlink=1):
        name_b = name.encode() + b"\0"
        fields = [self.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name_b), 0]
        self.ino += 1
        self.out += b"070701" + b"".join(b"%08X" % f for f in fields) + name_b
        self.out += b"\0" * (-len(self.out) % 4)
        self.out += data
        self.out += b"\0" * (-len(self.out) % 4)

    def dir(self, name):
        self._entry(name, 0o040755, nlink=2)

    def file(self, name, data, mode=0o644):
        self._entry(name, 0o100000 | mode, data)

    def symlink(self, name, target):
        self._entry(name, 0o120777, target.encode())

    def finish(self):
        self._entry("TRAILER!!!", 0)
        return bytes(self.out)


def build_udpsrv(out):
    cc = os.environ.get("HOSTCC", "gcc")
    run([cc, "-static", "-O2", "-Wall", "-Wextra", "-Werror", "-std=gnu11", "-o", str(out),
         str(HERE / "linux" / "udpsrv.c")])


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: mklinux.py OUTDIR")
    outdir = Path(sys.argv[1]).resolve()
    debdir = outdir / "debs"
    debdir.mkdir(parents=True, exist_ok=True)

    kpkg = kernel_package(debdir)
    kroot = unpack(fetch(kpkg, debdir), debdir / kpkg)
    broot = unpack(fetch("busybox-static", debdir), debdir / "busybox-static")
    vmlinuz = Path(sorted(glob.glob(str(kroot / "boot" / "vmlinuz-*")))[-1])
    kver = vmlinuz.name[len("vmlinuz-"):]
    shutil.copyfile(vmlinuz, outdir / "vmlinuz")
    have_elf = extract_vmlinux(vmlinuz, outdir / "vmlinux")
    log(f"kernel {kver} ({kpkg}){', uncompressed to vmlinux' if have_elf else ''}")

    modules = module_order(kroot / "lib" / "modules" / kver, WANTED_MODULES)
    log("modules: " + " ".join(n for n, _ in modules))
    udpsrv = outdir / "udpsrv"
    build_udpsrv(udpsrv)

    a = Cpio()
    for d in ("bin", "dev", "etc", "lib", "lib/modules", "proc", "sys", "tmp"):
        a.dir(d)
    a.file("init", (HERE / "linux" / "init").read_bytes(), 0o755)
    a.file("bin/busybox", (broot / "bin" / "busybox").read_bytes(), 0o755)
    a.symlink("bin/sh", "busybox")
    a.file("bin/udpsrv", udpsrv.read_bytes(), 0o755)
    for name, path in modules:
        a.file(f"lib/modules/{name}.ko", path.read_bytes())
    a.file("etc/modules", "".join(n + "\n" for n, _ in modules).encode())
    tmp = outdir / "initramfs.cpio.tmp"
    tmp.write_bytes(a.finish())
    tmp.rename(outdir / "initramfs.cpio")
    info = {"kernel_package": kpkg, "kernel_version": kver, "modules": [n for n, _ in modules],
            "busybox_deb": fetch("busybox-static", debdir).name, "vmlinux": have_elf}
    (outdir / "linux.json").write_text(json.dumps(info, indent=1) + "\n")
    log(f"initramfs.cpio: {(outdir / 'initramfs.cpio').stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
