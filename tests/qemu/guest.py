"""
tests/qemu/guest.py - one QEMU running the kernel, driven through its serial console.

A Guest owns a QEMU process started with the serial console on its stdin/stdout, the HMP
monitor on a unix socket and isa-debug-exit present. A reader thread drains QEMU's stdout for
the whole life of the process (a full pipe would stall the guest), appends it to a log file
and to an in-memory text in which "\\r\\n" has become "\\n".

Matching is expect-style: wait_for() searches from a cursor that each successful match moves
past its end, so successive waits walk forward through the console and an old line never
satisfies a new wait (pass since=0 to search the whole log). Patterns are compiled with
re.MULTILINE, so ^ and $ anchor at line boundaries.

nic() gives the -device value of the tests' NIC. Nothing here knows pytest;
tests/qemu/conftest.py builds Guests through the `boot` fixture and kills them (by PID) in
teardown.
"""
import codecs
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

PROMPT = "vnet> "
BANNER_RE = r"^vnet-kernel \S+ booting$"
READY_RE = r"^ready: boot complete in (\d+) ms$"
EXIT_STATUS_FAULT = 33  # guest code 0x10 through isa-debug-exit: (0x10 << 1) | 1
GUEST_MAC = "52:54:00:12:34:56"  # the tests' NIC (also QEMU's default for a first NIC)
NIC_ADDR = "0x4"                 # its PCI slot: 00:04.0


def nic(*props, netdev="n0", addr=NIC_ADDR, mac=GUEST_MAC):
    """The -device value of a virtio-net NIC on netdev: at addr (PCI slot; None: QEMU picks),
    with MAC mac (None: QEMU's default), then any more properties ("vectors=0", ...)."""
    return ",".join(["virtio-net-pci", f"netdev={netdev}", *([f"addr={addr}"] if addr else []),
                     *([f"mac={mac}"] if mac else []), *props])

def stop_process(proc, ask, grace):
    """End proc, by its PID only: ask(proc) asks it to go (a signal, a quit command), then
    SIGKILL after grace seconds; its stdin is closed either way. Nothing when it has ended."""
    if proc.poll() is None:
        try:
            ask(proc)
            proc.wait(grace)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(10)
    try:
        proc.stdin.close()
    except OSError:
        pass


_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def echo_pattern(line):
    """The shell's echo of a typed line, as a regex. The kernel may print a whole line of its
    own while the echo is on its way (an ARP defence, a link change, a recovery): it lands
    after any character of the echo, the last one too (before Enter's newline is echoed), so
    after each one a run of complete lines may sit."""
    return "".join(re.escape(c) + r"(?:[^\n]*\n)*?" for c in line) + r"\n"


class GuestError(AssertionError):
    """A wait on the guest failed; the message carries the tail of the serial log."""


class Guest:
    def __init__(self, argv, workdir, name="guest", sockdir=None, monitor_path=None):
        self.argv = list(argv)
        self.name = name
        self.workdir = str(workdir)
        self.serial_path = os.path.join(self.workdir, f"{name}.serial.log")
        self.stderr_path = os.path.join(self.workdir, f"{name}.qemu-stderr.log")
        self.monitor_path = monitor_path
        self._sockdir = sockdir
        self._text = ""
        self._cr_pending = False  # a "\r" at the end of a chunk, waiting to see what follows
        self._pos = 0  # the wait_for cursor
        self._eof = False
        self._at_prompt = False
        self._cond = threading.Condition()
        self._mon = None
        self._mon_buf = b""

        self._logfile = open(self.serial_path, "wb")
        self._errfile = open(self.stderr_path, "wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errfile,
            start_new_session=True)  # a terminal's ^C reaches pytest only; teardown kills QEMU
        self.pid = self.proc.pid
        self._reader = threading.Thread(target=self._drain, name=f"serial-{name}", daemon=True)
        self._reader.start()

    # ---- console capture --------------------------------------------------------------------
    def _drain(self):
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        fd = self.proc.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if chunk:
                try:
                    self._logfile.write(chunk)
                    self._logfile.flush()
                except ValueError:  # closed by kill() after its join gave up: keep draining
                    pass
            text = decoder.decode(chunk, final=not chunk)
            with self._cond:
                if self._cr_pending:
                    text = "\r" + text
                    self._cr_pending = False
                if chunk and text.endswith("\r"):
                    text = text[:-1]
                    self._cr_pending = True
                self._text += text.replace("\r\n", "\n")
                if not chunk:
                    self._eof = True
                self._cond.notify_all()
            if not chunk:
                return

    @property
    def log(self):
        """Everything the guest has printed so far, with "\\r\\n" turned into "\\n"."""
        with self._cond:
            return self._text

    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def tail(self, n=2048):
        return self.log[-n:]

    def _failure(self, what):
        status = self.proc.poll()
        parts = [what]
        if status is not None:
            parts.append(f"QEMU has exited with status {status}.")
            err = self.stderr_text().strip()
            if err:
                parts.append("QEMU stderr:\n" + err[-2048:])
        parts.append(f"last {min(2048, len(self.log))} characters of the serial log "
                     f"({self.serial_path}):\n{self.tail()}")
        return GuestError("\n".join(parts))

    # ---- waiting ----------------------------------------------------------------------------
    def wait_for(self, pattern, timeout=30, since=None):
        """Wait until pattern (a regex, re.MULTILINE) appears after the cursor; return the match.

        The cursor then moves past the match. since=N searches from offset N of the log
        instead (since=0: anywhere). A match that ends exactly at the end of what has arrived
        so far, and not at a newline or the prompt, is only accepted once output pauses, so
        r"took (\\d+) ms" does not match half a number."""
        __tracebackhide__ = True  # pytest: point failures at the test, not here
        rx = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern, re.M)
        start = self._pos if since is None else since
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                m = rx.search(self._text, start)
                if m and not self._maybe_partial(m):
                    return self._accept(m)
                left = deadline - time.monotonic()
                if m and left <= 0:
                    return self._accept(m)
                if not m and self._eof:
                    raise self._failure(f"{self.name}: QEMU ended before /{rx.pattern}/ appeared.")
                if not m and left <= 0:
                    raise self._failure(f"{self.name}: /{rx.pattern}/ did not appear "
                                        f"within {timeout} s.")
                seen = len(self._text)
                self._cond.wait(min(left, 0.1) if m else left)
                if m and len(self._text) == seen:
                    return self._accept(m)  # output paused with the match at its end

    def _accept(self, m):
        self._pos = max(self._pos, m.end())
        if m.group(0).endswith(PROMPT):
            self._at_prompt = True
        return m

    def _maybe_partial(self, m):
        if m.end() < len(self._text) or self._eof:
            return False
        s = m.group(0)
        return not (s == "" or s.endswith("\n") or s.endswith(PROMPT))

    def wait_ready(self, timeout=30):
        """Wait for the boot-complete line and the first prompt; return the boot time in ms."""
        __tracebackhide__ = True  # pytest: point failures at the test, not here
        m = self.wait_for(READY_RE, timeout)
        self.wait_for(re.escape(PROMPT), timeout)
        return int(m.group(1))

    def wait_exit(self, timeout=30):
        """Wait for QEMU to end by itself; return its exit status (2N+1 for the guest's exit N)."""
        __tracebackhide__ = True  # pytest: point failures at the test, not here
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise self._failure(f"{self.name}: QEMU still running after {timeout} s.") from None
        self._reader.join(5)
        return status

    # ---- typing -----------------------------------------------------------------------------
    def send(self, text):
        """Type text followed by a carriage return, as a terminal's Enter key sends."""
        self.send_raw(text + "\r")

    def send_raw(self, text):
        __tracebackhide__ = True  # pytest: point failures at the test, not here
        data = text.encode() if isinstance(text, str) else text
        self._at_prompt = False
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise self._failure(f"{self.name}: cannot type {text!r}: QEMU's stdin is closed.")

    def cmd(self, line, timeout=10):
        """Run one shell command; return its output: the text between the echoed command line
        and the next prompt, with "\\n" line ends. Waits for a prompt first if none is pending
        (input typed before the shell is up is lost)."""
        __tracebackhide__ = True  # pytest: point failures at the test, not here
        if not self._at_prompt:
            self.wait_for(re.escape(PROMPT), timeout=30)
        self.send(line)
        echo = self.wait_for(echo_pattern(line), timeout)
        end = self.wait_for(re.escape(PROMPT), timeout)
        return self.log[echo.end():end.start()]

    # ---- QEMU monitor -----------------------------------------------------------------------
    def monitor(self, command, timeout=10):
        """Run an HMP command (e.g. "set_link n0 off", "info network"); return its output."""
        if not self.monitor_path:
            raise GuestError(f"{self.name}: started without a monitor socket")
        deadline = time.monotonic() + timeout
        if self._mon is None:
            self._mon = self._mon_connect(deadline)
            self._mon_read_prompt(deadline)  # the banner
            if self._mon is None:
                raise GuestError(f"{self.name}: the monitor closed before its first prompt")
        self._mon.sendall(command.encode() + b"\n")
        out = self._mon_read_prompt(deadline)
        # HMP echoes the line (redrawn with cursor escapes) and ends it with \r\n.
        out = out.split("\r\n", 1)[1] if "\r\n" in out else ""
        return _ANSI_RE.sub("", out).replace("\r\n", "\n")

    def _mon_connect(self, deadline):
        """Connect to the monitor socket, which QEMU creates early in its start-up."""
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(self.monitor_path)
                return sock
            except (FileNotFoundError, ConnectionRefusedError) as e:
                sock.close()
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise GuestError(f"{self.name}: cannot reach the monitor: {e}") from None
                time.sleep(0.05)

    def _mon_read_prompt(self, deadline):
        while not self._mon_buf.endswith(b"(qemu) "):
            left = deadline - time.monotonic()
            if left <= 0:
                raise GuestError(f"{self.name}: no monitor prompt; got {self._mon_buf[-500:]!r}")
            self._mon.settimeout(left)
            data = self._mon.recv(65536)
            if not data:  # QEMU closed it: "quit", or QEMU is gone
                self._mon.close()
                self._mon = None
                out, self._mon_buf = self._mon_buf, b""
                return out.decode("utf-8", "replace")
            self._mon_buf += data
        out, self._mon_buf = self._mon_buf[:-len(b"(qemu) ")], b""
        return out.decode("utf-8", "replace")

    # ---- the end ----------------------------------------------------------------------------
    def kill(self, grace=3):
        """Stop QEMU by its PID: SIGTERM, then SIGKILL after grace seconds. Idempotent."""
        if self._mon is not None:
            try:
                self._mon.close()
            except OSError:
                pass
            self._mon = None
        stop_process(self.proc, lambda p: p.send_signal(signal.SIGTERM), grace)
        self._reader.join(5)
        self.proc.stdout.close()
        self._logfile.close()
        self._errfile.close()
        if self._sockdir:
            shutil.rmtree(self._sockdir, ignore_errors=True)
            self._sockdir = None

    @property
    def returncode(self):
        return self.proc.poll()


def find_qemu():
    return os.environ.get("QEMU", "qemu-system-x86_64")


def qemu_argv(*, kernel=None, iso=None, append=None, machine="pc", memory=128, accel="tcg",
              devices=(), netdev=(), extra=(), monitor_path=None):
    """The QEMU command line for one guest (serial on stdio, no default devices)."""
    argv = [find_qemu(), "-machine", machine, "-accel", accel, "-m", str(memory),
            "-nodefaults", "-display", "none", "-no-reboot",
            "-chardev", "stdio,id=ser0,signal=off", "-serial", "chardev:ser0",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    if accel == "kvm":
        argv += ["-cpu", "host"]
    if monitor_path:
        argv += ["-monitor", f"unix:{monitor_path},server=on,wait=off"]
    else:
        argv += ["-monitor", "none"]
    if iso:
        if append:
            raise ValueError("append= needs -kernel; the ISO's command line comes from grub.cfg")
        argv += ["-cdrom", str(iso), "-boot", "d"]
    else:
        argv += ["-kernel", str(kernel)]
        if append:
            argv += ["-append", append]
    for n in netdev:
        argv += ["-netdev", n]
    for d in devices:
        argv += ["-device", d]
    argv += list(extra)
    # If pytest itself is killed, Linux sends QEMU SIGTERM (setpriv sets the parent-death
    # signal before exec'ing QEMU): a harness that dies must not leave guests spinning.
    setpriv = shutil.which("setpriv")
    if setpriv:
        argv = [setpriv, "--pdeathsig", "TERM", "--"] + argv
    return argv
