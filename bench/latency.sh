#!/usr/bin/env bash
# latency.sh [LINES] - one-way latency of short lines over 127.0.0.1, from
# the sender's stdin to the receiver's stdout: ztpipe against nc (OpenBSD),
# ncat and socat.
#
# A python3 driver starts, for every tool, a receiver (stdout piped to the
# driver) and a sender (stdin piped from the driver).  Then, one line in
# flight at a time, it writes a numbered line to a sender and waits (select,
# 2 s bound) until the line comes out of the receiver; each line number goes
# through all tools in turn, so load drift hits them alike.  The LINES are
# split over ROUNDS (default 5) rounds with fresh connections; each round
# first sends WARMUP lines (default 50) that are not counted.  Prints
# p50/p99/max in microseconds and p50 relative to ztpipe; "pipe (no net)"
# is the same path through `cat | cat`, the floor set by the driver.
#
# Environment: WARMUP, ROUNDS, TIMEOUT (seconds per process, default
# 60 + LINES/100), TOOLS (default "ztpipe nc ncat socat"), ZTPIPE (binary,
# default ../ztpipe, built with make when missing or stale).
set -eu
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
usage() { die "usage: $prog [LINES]"; }

LINES=${1:-5000}
WARMUP=${WARMUP:-50}
ROUNDS=${ROUNDS:-5}
uints "$LINES" "$WARMUP" "$ROUNDS" || usage
if [ "$LINES" -eq 0 ] || [ "$ROUNDS" -eq 0 ]; then usage; fi
[ $# -le 1 ] || usage
TMO=${TIMEOUT:-$((60 + LINES / 100))}
TOOLS=${TOOLS:-ztpipe nc ncat socat}

bench_ztpipe
bench_install ss python3 timeout
bench_tools
[ ${#tools[@]} -gt 0 ] || die "no tool to measure"

bench_tmp ztlat

machine_line

# The driver is bounded as a whole; each tool process is bounded by timeout.
cat >"$tmp/driver.py" <<'PY'
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time

lines, warmup, rounds, tmo, zt, nc, tmpdir = sys.argv[1:8]
lines, warmup, rounds = int(lines), int(warmup), int(rounds)
tools = sys.argv[8:] + ["pipe"]
BOUND = 2.0  # seconds to wait for one line


def log(msg):
    print("latency.sh: " + msg, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def listening(port):
    out = subprocess.run(["ss", "-Hltn", "sport = :%d" % port],
                         capture_output=True, text=True).stdout
    return bool(out.strip())


def receiver_cmd(tool, port):
    return {
        "ztpipe": [zt, "-l", "-v", "127.0.0.1", "0"],
        "nc": [nc, "-l", "127.0.0.1", str(port)],
        "ncat": ["ncat", "-l", "--recv-only", "127.0.0.1", str(port)],
        "socat": ["socat", "-u", "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr" % port,
                  "STDOUT"],
    }[tool]


def sender_cmd(tool, port):
    return {
        "ztpipe": [zt, "127.0.0.1", str(port)],
        "nc": [nc, "-N", "127.0.0.1", str(port)],
        "ncat": ["ncat", "--send-only", "127.0.0.1", str(port)],
        "socat": ["socat", "-u", "STDIN", "TCP:127.0.0.1:%d" % port],
    }[tool]


def stop(proc):
    # timeout(1) forwards TERM to the tool it runs.
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(2)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def pct(sorted_ns, p):
    k = max(0, min(len(sorted_ns) - 1, -(-p * len(sorted_ns) // 100) - 1))
    return sorted_ns[k] / 1000.0


class Failed(Exception):
    pass


class Session:
    """One receiver/sender pair of a tool, connected over 127.0.0.1."""

    def __init__(self, tool, lat):
        self.tool = tool
        self.errpath = os.path.join(tmpdir, tool + ".err")
        self.err = open(self.errpath, "wb")
        self.rcv = self.snd = None
        self.buf = b""
        self.lat = lat
        self.error = None

    def start(self):
        tool = self.tool
        if tool == "pipe":  # reference: cat | cat, no network
            self.snd = subprocess.Popen(["timeout", tmo, "cat"],
                                        stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.err)
            self.rcv = subprocess.Popen(["timeout", tmo, "cat"],
                                        stdin=self.snd.stdout,
                                        stdout=subprocess.PIPE, stderr=self.err)
            self.snd.stdout.close()
            return
        port = 0 if tool == "ztpipe" else free_port()
        self.rcv = subprocess.Popen(["timeout", tmo] + receiver_cmd(tool, port),
                                    stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=self.err)
        deadline = time.monotonic() + 5
        while True:
            if tool == "ztpipe":
                with open(self.errpath, "rb") as f:
                    m = re.search(rb"listening on .* port (\d+)", f.read())
                if m:
                    port = int(m.group(1))
                    break
            elif listening(port):
                break
            if self.rcv.poll() is not None or time.monotonic() > deadline:
                raise Failed("receiver never listened")
            time.sleep(0.005)
        self.snd = subprocess.Popen(["timeout", tmo] + sender_cmd(tool, port),
                                    stdin=subprocess.PIPE,
                                    stdout=subprocess.DEVNULL, stderr=self.err)

    def line(self, i, record):
        """Send line i, wait until it comes out; record its latency (ns)."""
        wfd, rfd = self.snd.stdin.fileno(), self.rcv.stdout.fileno()
        msg = b"%08d %d\n" % (i, time.perf_counter_ns())
        t0 = time.perf_counter_ns()
        os.write(wfd, msg)
        end = time.monotonic() + BOUND
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0 or not select.select([rfd], [], [], left)[0]:
                raise Failed("line %d not received within %.0f s" % (i, BOUND))
            data = os.read(rfd, 65536)
            if not data:
                raise Failed("receiver closed its output at line %d" % i)
            self.buf += data
        t1 = time.perf_counter_ns()
        got, _, self.buf = self.buf.partition(b"\n")
        if got + b"\n" != msg:
            raise Failed("line %d garbled: %r" % (i, got[:40]))
        if record:
            self.lat.append(t1 - t0)

    def finish(self):
        """Close the sender's stdin; both sides must then exit cleanly."""
        rfd = self.rcv.stdout.fileno()
        self.snd.stdin.close()
        end = time.monotonic() + 5
        while time.monotonic() < end:
            if not select.select([rfd], [], [], end - time.monotonic())[0]:
                break
            data = os.read(rfd, 65536)
            if not data:
                break
            self.buf += data
        if self.buf:
            raise Failed("unexpected trailing output %r" % self.buf[:40])
        try:
            for p in (self.snd, self.rcv):
                p.wait(max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise Failed("tool did not exit after EOF")
        if self.snd.returncode or self.rcv.returncode:
            raise Failed("exit status sender %s receiver %s"
                         % (self.snd.returncode, self.rcv.returncode))

    def stop(self):
        stop(self.snd)
        stop(self.rcv)
        self.err.close()

    def fail(self, why):
        self.error = why
        self.stop()
        tail = open(self.errpath, "rb").read()[-300:].decode(errors="replace")
        log("\n\n*** FAILED: %s: %s\n%s\n" % (self.tool, why, tail))


signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
lat = {t: [] for t in tools}
failed = set()
log("%s: %d lines each in %d rounds (+%d warm-up lines per round), interleaved"
    % (" ".join(tools), lines, rounds, warmup))
done = 0
for rnd in range(rounds):
    # Fresh connections each round, so one unlucky CPU placement of a
    # tool's processes does not decide its figures.
    n = (lines - done) // (rounds - rnd)
    done += n
    sessions = [Session(t, lat[t]) for t in tools if t not in failed]
    if not sessions:
        break
    try:
        for s in sessions:
            try:
                s.start()
            except Failed as e:
                s.fail(str(e))
        # Line i goes through every tool in turn (the order rotates), so
        # drift in machine load hits all tools alike.  One line in flight.
        for i in range(warmup + n):
            k = i % len(sessions)
            for s in sessions[k:] + sessions[:k]:
                if s.error is None:
                    try:
                        s.line(i, i >= warmup)
                    except Failed as e:
                        s.fail(str(e))
        for s in sessions:
            if s.error is None:
                try:
                    s.finish()
                except Failed as e:
                    s.fail(str(e))
    finally:
        for s in sessions:
            s.stop()
            if s.error is not None:
                failed.add(s.tool)

results = {t: (None if t in failed else sorted(lat[t])) for t in tools}
base = results.get("ztpipe")
base_p50 = pct(base, 50) if base else None
head = ["tool", "lines", "p50 us", "p99 us", "max us", "p50 vs ztpipe"]
rows = []
label = {"pipe": "pipe (no net)"}
for tool in tools:
    r = results[tool]
    name = label.get(tool, tool)
    if r is None:
        rows.append([name, "FAILED", "-", "-", "-", "-"])
        continue
    p50 = pct(r, 50)
    rows.append([name, str(len(r)), "%.1f" % p50, "%.1f" % pct(r, 99),
                 "%.1f" % (r[-1] / 1000.0),
                 "%.2f" % (p50 / base_p50) if base_p50 else "-"])
title = ("one-way latency, %d lines (%d rounds) one at a time, "
         "client stdin to server stdout" % (lines, rounds))
print()
print(title)
w = [max(len(x[i]) for x in rows + [head]) for i in range(len(head))]
for x in [head] + rows:
    print("  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i])
                    for i, c in enumerate(x)))
print()
print("**%s**" % title)
print()
print("| " + " | ".join(head) + " |")
print("|:---|" + "---:|" * (len(head) - 1))
for x in rows:
    print("| " + " | ".join(x) + " |")
sys.exit(1 if any(v is None for v in results.values()) else 0)
PY

# Run the driver in the background so a signal to this script reaches the
# trap at once; the driver stops its tools when it gets TERM.
timeout "$((TMO * (${#tools[@]} + 1)))" python3 "$tmp/driver.py" \
	"$LINES" "$WARMUP" "$ROUNDS" "$TMO" "$ZTPIPE" "$NC" "$tmp" "${tools[@]}" &
driver=$!
bg_procs=$driver
if wait "$driver"; then rc=0; else rc=$?; fi
bg_procs=""
[ "$rc" -eq 0 ] || exit "$rc"
