"""Process, port and /proc helpers shared by tools/compare and its helpers.

Owns: starting every child process (each in a process group of its own, killed with the
orchestrator if it dies), the registry the cleanup walks, free loopback ports, readers
for /proc/PID/{stat,status} and `ss`, and the error types the steps raise. Depends on the
standard library only.
"""

import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG = 1


class SetupError(Exception):
    """A missing tool or a bad environment: the script exits 2."""


class StepFailed(Exception):
    """One measurement could not be made; it is reported and the script goes on."""


def log(msg):
    sys.stderr.write("compare: %s\n" % msg)
    sys.stderr.flush()


_libc = ctypes.CDLL(None, use_errno=True)


def _child_setup():
    # Dies with the orchestrator even if it is SIGKILLed (the signal survives exec).
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Proc:
    """A child in its own process group, stdout and stderr in files under `logdir`."""

    registry = []

    def __init__(self, label, argv, logdir, env=None, cwd=None, hold_stdin=False):
        """`hold_stdin`: stdin is a pipe this process keeps open and never writes, so the
        child sees end-of-file when we exit, however we exit."""
        self.label = label
        self.argv = [str(a) for a in argv]
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", label)
        self.out_path = os.path.join(logdir, safe + ".out")
        self.err_path = os.path.join(logdir, safe + ".err")
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self.stdin_w = None
        stdin = subprocess.DEVNULL
        if hold_stdin:
            stdin, self.stdin_w = os.pipe()
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=stdin,
                stdout=out,
                stderr=err,
                env=full_env,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_child_setup,
            )
        if hold_stdin:
            os.close(stdin)
        self.pid = self.popen.pid
        self.started_at = time.monotonic()
        Proc.registry.append(self)

    def alive(self):
        return self.popen.poll() is None

    def returncode(self):
        return self.popen.poll()

    def stdout_text(self):
        return _read(self.out_path)

    def stderr_text(self):
        return _read(self.err_path)

    def tail(self, lines=8):
        text = (self.stdout_text() + "\n" + self.stderr_text()).strip().splitlines()
        return "\n".join("    " + line for line in text[-lines:])

    def wait(self, timeout):
        """Exit status, or None if still running after `timeout` seconds."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def signal(self, sig):
        if self.alive():
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, grace=10.0):
        """SIGTERM to the group, SIGKILL after `grace` seconds; reaps the leader."""
        if self.alive():
            self.signal(signal.SIGTERM)
            if self.wait(grace) is None:
                self.signal(signal.SIGKILL)
                self.wait(5)
        # Anything left in the group (a helper the leader forked) goes too.
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.stdin_w is not None:
            os.close(self.stdin_w)
            self.stdin_w = None
        if self in Proc.registry:
            Proc.registry.remove(self)

    @classmethod
    def stop_all(cls, grace=5.0):
        procs = list(cls.registry)
        for p in procs:
            p.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in procs:
            p.wait(max(0.1, deadline - time.monotonic()))
        for p in procs:
            p.stop(grace=0.5)


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def run(argv, timeout, check=True, env=None, cwd=None):
    """Runs a short command to completion; returns CompletedProcess (text)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    try:
        done = subprocess.run(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_child_setup,
        )
    except subprocess.TimeoutExpired:
        raise StepFailed("%s: still running after %d s" % (argv[0], timeout))
    if check and done.returncode != 0:
        raise StepFailed(
            "%s exited %d: %s" % (" ".join(map(str, argv[:3])), done.returncode, (done.stderr or done.stdout).strip()[-400:])
        )
    return done


def wait_until(what, timeout, probe, proc=None, interval=0.2):
    """Calls `probe` until it returns something truthy; StepFailed on timeout or when
    `proc` exits first."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if proc is not None and not proc.alive():
            raise StepFailed(
                "%s exited %s while waiting for %s:\n%s" % (proc.label, proc.returncode(), what, proc.tail())
            )
        if time.monotonic() >= deadline:
            tail = ("\n" + proc.tail()) if proc is not None else ""
            raise StepFailed("no %s within %d s%s" % (what, timeout, tail))
        time.sleep(interval)


# --- ports ------------------------------------------------------------------------------


_handed_out = set()


def free_port(host="127.0.0.1", udp_too=False):
    """A port nothing listens on at `host` (TCP, and UDP when asked), never handed out
    twice by this process."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port in _handed_out:
            continue
        if udp_too:
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                    u.bind((host, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise SetupError("no free port on %s" % host)


# --- /proc ------------------------------------------------------------------------------


def cpu_ticks(pid):
    """utime + stime of a process, all its threads, in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def status_kib(pid):
    """VmRSS, VmHWM, RssAnon, RssFile and Threads from /proc/PID/status (KiB)."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                out[key] = int(rest.split()[0])
    return out


def cpu_busy_ticks():
    """{cpu index: (busy ticks, total ticks)} from /proc/stat; busy leaves out idle and
    iowait."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            name, _, rest = line.partition(" ")
            if name.startswith("cpu") and name != "cpu":
                v = [int(x) for x in rest.split()[:8]]
                total = sum(v)
                out[int(name[3:])] = (total - v[3] - v[4], total)
    return out


def busy_pct(a, b, cpu):
    """Share of CPU `cpu` that was busy between two cpu_busy_ticks() samples, percent."""
    (b0, t0), (b1, t1) = a[cpu], b[cpu]
    return round(100.0 * (b1 - b0) / (t1 - t0), 1) if t1 > t0 else None


def thread_cpus(pid):
    """The set of Cpus_allowed_list values over every thread of `pid`."""
    seen = set()
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                for line in f:
                    if line.startswith("Cpus_allowed_list:"):
                        seen.add(line.split(":", 1)[1].strip())
        except OSError:
            pass
    return seen


# --- sockets (ss) -----------------------------------------------------------------------


def _ss(args):
    try:
        return subprocess.run(["ss", "-Htn"] + args, capture_output=True, text=True, timeout=20).stdout
    except subprocess.TimeoutExpired:
        return ""


def held_by(pid, port):
    """Established connections on local port `port` that process `pid` has accepted (a
    connection still in the kernel's accept queue has no owner yet and is not counted)."""
    text = _ss(["-p", "state", "established", "( sport = :%d )" % port])
    needle = "pid=%d," % pid
    return sum(1 for line in text.splitlines() if needle in line)


def established_to(port):
    """Established connections whose local or remote port is `port`."""
    text = _ss(["state", "established", "( sport = :%d or dport = :%d )" % (port, port)])
    return len([line for line in text.splitlines() if line.strip()])


def bytes_received_from(port):
    """Bytes the kernel delivered on connections whose remote port is `port` (the load
    generator's side of its connections to a seeder): payload, message headers and
    handshakes, from tcp_info."""
    text = _ss(["-i", "state", "established", "( dport = :%d )" % port])
    return sum(int(m) for m in re.findall(r"bytes_received:(\d+)", text))
