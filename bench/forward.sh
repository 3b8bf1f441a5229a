#!/usr/bin/env bash
# forward.sh [BYTES] [CONNS] - port forwarding over 127.0.0.1: ztpipe -l
# --to against socat TCP-LISTEN,fork and ncat -lk --sh-exec.
#
# throughput: one connection moves BYTES (default 1 GiB) of zeros from a
# python source through the forwarder to a python sink, which answers
# with the count it got; RUNS rounds (default 3), the tool order rotating.
# Wall time runs from connect to the answer; CPU is the forwarder's
# (user+sys, its children included), from /usr/bin/time.
#
# many: CONNS connections (default 1000) are opened at once through the
# forwarder, then each sends 1 MB, and the sink answers each with its
# count.  (No client half-closes: ncat --sh-exec would drop the answer.)  CPU as above; memory is the sum over the
# forwarder's processes (socat forks one per connection), sampled every
# 0.25 s: RSS, and PSS, which shares a page among the processes that map
# it and so does not charge socat's shared pages a thousand times; and,
# as a cross-check that sees kernel memory too (pipes, socket buffers,
# page tables), how far MemAvailable fell, which other work moves too.
#
# The goals it checks, with ratios from the same run: ztpipe at least
# 1.5x socat's throughput; with CONNS connections, ztpipe's peak memory
# (PSS) under a quarter of socat's, and its CPU under socat's.
#
# Environment: RUNS, TOOLS (throughput, default "ztpipe socat ncat"),
# MANY_TOOLS (default "ztpipe socat"), TIMEOUT (seconds per process),
# ZTPIPE (binary, default ../ztpipe, built with make when missing).
set -eu
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
usage() { die "usage: [RUNS=n] $prog [BYTES] [CONNS]"; }

N=${1:-1073741824}
CONNS=${2:-1000}
RUNS=${RUNS:-3}
uints "$N" "$CONNS" "$RUNS" || usage
if [ "$N" -eq 0 ] || [ "$CONNS" -eq 0 ] || [ "$RUNS" -eq 0 ]; then usage; fi
[ $# -le 2 ] || usage
TMO=${TIMEOUT:-$((120 + N / 20000000 + CONNS / 10))}
TOOLS=${TOOLS:-ztpipe socat ncat}
MANY_TOOLS=${MANY_TOOLS:-ztpipe socat}

bench_ztpipe
TOOLS="$TOOLS $MANY_TOOLS" bench_install /usr/bin/time ss python3 timeout
bench_tools
tput_tools=("${tools[@]}")
TOOLS=$MANY_TOOLS bench_tools
many_tools=("${tools[@]}")
tools=("${tput_tools[@]}")
for t in "${many_tools[@]}"; do
	case " ${tools[*]} " in *" $t "*) ;; *) tools+=("$t") ;; esac
done

bench_tmp ztfwd
results=$tmp/results.tsv
: >"$results"
failures=0
# ztpipe asks for 6 fds a connection (two sockets, two pipes; with
# fewer, buffers stand in for pipes); the clients and the sink for one.
want_fds=$((6 * CONNS + 128))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want_fds" ]; then
	ulimit -n "$want_fds" 2>/dev/null ||
		note "NOTICE: ulimit -n $want_fds refused: ztpipe uses buffers for some pipes"
fi

# --- the python ends ----------------------------------------------------------

cat >"$tmp/sink.py" <<'PY'
"""sink PORTFILE: on 127.0.0.1, each connection starts with its length
(8 bytes, big-endian); answer with the count of bytes once that many
have come (or at EOF), then close; one thread, any number of
connections.  The clients do not half-close: a client's FIN makes ncat
--sh-exec end the connection, answer and all."""
import selectors, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(4096)
s.setblocking(False)
open(sys.argv[1], "w").write("%d\n" % s.getsockname()[1])
sel = selectors.DefaultSelector()
sel.register(s, selectors.EVENT_READ)
buf = bytearray(1 << 20)
st = {}  # connection: [length header so far, bytes after it, length]
while True:
    for key, _ in sel.select():
        if key.fileobj is s:
            try:
                c, _ = s.accept()
            except BlockingIOError:
                continue
            c.setblocking(False)
            st[c] = [b"", 0, None]
            sel.register(c, selectors.EVENT_READ)
            continue
        c = key.fileobj
        h, got, want = st[c]
        try:
            n = c.recv_into(buf)
        except BlockingIOError:
            continue
        except OSError:
            n = -1
        if n > 0:
            k = min(8 - len(h), n) if want is None else 0
            h += bytes(buf[:k])
            want = int.from_bytes(h, "big") if len(h) == 8 else None
            st[c] = [h, got + n - k, want]
            if want is None or got + n - k < want:
                continue
        if n >= 0:
            c.setblocking(True)
            try:
                c.sendall(b"%d\n" % st[c][1])
            except OSError:
                pass
        sel.unregister(c)
        del st[c]
        c.close()
PY

cat >"$tmp/source.py" <<'PY'
"""source PORT BYTES: send the length, then BYTES of zeros, and check
the count that comes back; print the seconds it took."""
import socket, sys, time
port, total = int(sys.argv[1]), int(sys.argv[2])
chunk = memoryview(bytes(1 << 20))
t0 = time.time()
s = socket.create_connection(("127.0.0.1", port))
s.sendall(total.to_bytes(8, "big"))
left = total
while left:
    left -= s.send(chunk[:min(left, len(chunk))])
got = b""
while not got.endswith(b"\n"):
    b = s.recv(100)
    if not b:
        break
    got += b
dt = time.time() - t0
if got.strip() != str(total).encode():
    sys.exit("sink got %r bytes, not %d" % (got, total))
print("%.6f" % dt)
PY

cat >"$tmp/many.py" <<'PY'
"""many PORT CONNS BYTES: open CONNS connections at once, then send
BYTES on each, check each count; print "ok failed seconds"."""
import selectors, socket, sys, time
port, conns, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
data = memoryview(bytes(range(256)) * (size // 256 + 1))[:size]
t0 = time.time()
sel = selectors.DefaultSelector()
st = {}
failed = 0
for _ in range(conns):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(size.to_bytes(8, "big"))
    s.setblocking(False)
    st[s] = [0, b""]
    sel.register(s, selectors.EVENT_WRITE | selectors.EVENT_READ)
ok = 0
while st:
    for key, ev in sel.select(60):
        s = key.fileobj
        sent, got = st[s]
        try:
            if ev & selectors.EVENT_WRITE and sent < size:
                st[s][0] += s.send(data[sent:sent + 65536])
                if st[s][0] == size:
                    sel.modify(s, selectors.EVENT_READ)
            if not ev & selectors.EVENT_READ:
                continue
            b = s.recv(100)
            if b and not b.endswith(b"\n"):
                st[s][1] += b
                continue
            got += b
            ok += got.strip() == str(size).encode()
            failed += got.strip() != str(size).encode()
        except BlockingIOError:
            continue
        except OSError:
            failed += 1
        sel.unregister(s)
        s.close()
        del st[s]
print(ok, failed, "%.6f" % (time.time() - t0))
PY

cat >"$tmp/mem.py" <<'PY'
"""mem PID STOPFILE: until STOPFILE exists, every 0.25 s, sum RSS and PSS
(KiB) over PID and its descendants, and see how far MemAvailable fell
from where it was at the start (kernel memory too: socket buffers,
pipes, socat's page tables; other work on the machine moves it as
well); print the peaks and the most processes seen."""
import os, sys, time
root, stop = int(sys.argv[1]), sys.argv[2]
def avail():
    for line in open("/proc/meminfo"):
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0
base = avail()
peak_drop = 0
def tree():
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(open("/proc/%s/stat" % d).read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out
peak_rss = peak_pss = peak_n = 0
while not os.path.exists(stop):
    rss = pss = 0
    pids = tree()
    for p in pids:
        try:
            for line in open("/proc/%d/smaps_rollup" % p):
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            pass
    peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
    peak_n = max(peak_n, len(pids))
    peak_drop = max(peak_drop, base - avail())
    time.sleep(0.25)
print(peak_rss, peak_pss, peak_n, peak_drop)
PY

# --- the forwarders -----------------------------------------------------------

# fwd_cmd TOOL PORT TPORT MAX: sets cmd to TOOL forwarding PORT to TPORT.
fwd_cmd() {
	case $1 in
	ztpipe) cmd=("$ZTPIPE" -l -m "$4" 127.0.0.1 "$2" --to "127.0.0.1:$3") ;;
	# socat's listen queue is 5 unless told: 1,000 callers at once would
	# wait for SYN retries, a second each, which is not what is measured.
	socat) cmd=(socat "TCP-LISTEN:$2,bind=127.0.0.1,fork,reuseaddr,backlog=4096"
		"TCP:127.0.0.1:$3") ;;
	ncat) cmd=(ncat -lk -m "$4" 127.0.0.1 "$2" --sh-exec "ncat 127.0.0.1 $3") ;;
	esac
}

# fwd_start TOOL D MAX: start TOOL under time(1) into D, forwarding a free
# port to the sink; sets port and fpid (the tool itself, not time).
fwd_start() {
	local i
	port=$(free_port)
	fwd_cmd "$1" "$port" "$sport" "$3"
	timeout "$TMO" /usr/bin/time -f '%e %U %S %M' -o "$2/time" "${cmd[@]}" \
		</dev/null >/dev/null 2>"$2/err" &
	tpid=$!
	bg_procs="$spid $tpid"
	fpid=""
	wait_listen "$port" "$tpid" || return 1
	for i in $(seq 1 200); do
		fpid=$(pgrep -P "$(pgrep -P "$tpid" | head -n 1)" | head -n 1) || fpid=""
		[ -z "$fpid" ] || return 0
		sleep 0.01
	done
	return 1
}

# fwd_stop D: SIGTERM to the tool, wait; sets rc and cpu (user+sys).
fwd_stop() {
	kill -TERM "$fpid" 2>/dev/null || true
	if wait "$tpid"; then rc=0; else rc=$?; fi
	bg_procs=$spid
	cpu=$(awk 'END { printf "%.2f", $2 + $3 }' "$1/time" 2>/dev/null) || cpu=""
	hwm=$(awk 'END { print $4 }' "$1/time" 2>/dev/null) || hwm=""
}

python3 "$tmp/sink.py" "$tmp/sport" </dev/null 2>"$tmp/sink.err" &
spid=$!
bg_procs=$spid
for i in $(seq 1 200); do [ -s "$tmp/sport" ] && break; sleep 0.05; done
sport=$(cat "$tmp/sport") || die "the sink never listened"

machine=$(machine_line)
versions=$(versions_line)
note "$machine"
note "throughput: $N bytes, $RUNS rounds, tools: ${tput_tools[*]}; many: $CONNS x 1 MB, tools: ${many_tools[*]}"

# --- throughput ---------------------------------------------------------------

run_tput() {
	local tool=$1 round=$2 d=$tmp/t.$1.$2 secs ok=1
	mkdir "$d"
	if ! fwd_start "$tool" "$d" 16; then
		fail "$tool: never listened: $(tail -n 3 "$d/err")"
		failures=$((failures + 1))
		kill_bg
		return 0
	fi
	secs=$(timeout "$TMO" python3 "$tmp/source.py" "$port" "$N" 2>"$d/serr") || {
		ok=0
		secs=0
		fail "$tool round $round: $(tail -n 2 "$d/serr")"
	}
	fwd_stop "$d"
	[ "$ok" -eq 1 ] || failures=$((failures + 1))
	printf 'tput\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$round" "$ok" "$secs" "$cpu" >>"$results"
	awk -v t="$tool" -v r="$round" -v R="$RUNS" -v s="$secs" -v n="$N" -v c="$cpu" \
		'BEGIN { printf "[throughput %d/%d] %-6s %8.3f s %9.1f MB/s  cpu %s s\n",
			r, R, t, s, (s > 0 ? n / 1e6 / s : 0), c }' >&2
}

nt=${#tput_tools[@]}
for round in $(seq 1 "$RUNS"); do
	for i in $(seq 0 $((nt - 1))); do
		run_tput "${tput_tools[$(((i + round - 1) % nt))]}" "$round"
	done
done

# --- many ---------------------------------------------------------------------

run_many() {
	local tool=$1 d=$tmp/m.$1 res mres ok=1 mpid
	mkdir "$d"
	if ! fwd_start "$tool" "$d" $((CONNS + 16)); then
		fail "$tool: never listened: $(tail -n 3 "$d/err")"
		failures=$((failures + 1))
		kill_bg
		return 0
	fi
	python3 "$tmp/mem.py" "$fpid" "$d/stop" >"$d/mem" &
	mpid=$!
	bg_procs="$spid $tpid $mpid"
	res=$(timeout "$TMO" python3 "$tmp/many.py" "$port" "$CONNS" 1000000 2>"$d/merr") ||
		res=""
	: >"$d/stop"
	wait "$mpid" || true
	fwd_stop "$d"
	mres=$(cat "$d/mem")
	# shellcheck disable=SC2086 # word splitting of the fields is intended
	set -- $res $mres
	if [ $# -ne 7 ] || [ "$1" -ne "$CONNS" ] || [ "$2" -ne 0 ]; then
		ok=0
		fail "$tool: ${1:-?} of $CONNS connections whole, ${2:-?} failed" \
			"$(tail -n 3 "$d/merr")"
		[ $# -eq 7 ] || set -- 0 "$CONNS" 0 0 0 0 0
	fi
	if [ "$tool" = ztpipe ] && [ "$rc" -ne 0 ]; then
		ok=0
		fail "ztpipe: status $rc after SIGTERM with every connection done:" \
			"$(tail -n 3 "$d/err")"
	fi
	[ "$ok" -eq 1 ] || failures=$((failures + 1))
	printf 'many\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$ok" "$1" "$2" \
		"$3" "$cpu" "$4" "$5" "$6" "$7" >>"$results"
	note "[many] $tool: $1 whole, $2 failed in $3 s, cpu $cpu s, peak RSS $4 KiB," \
		"PSS $5 KiB, $6 processes, MemAvailable down $7 KiB"
}

for tool in "${many_tools[@]}"; do
	run_many "$tool"
done
kill_bg

# --- report -------------------------------------------------------------------

echo "$machine"
echo "$versions"
goals=0
python3 - "$results" "$N" "$CONNS" "${tput_tools[@]}" <<'PY' || goals=1
import statistics, sys
path, n, conns, tools = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
rows = [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
tput, many = {}, {}
for r in rows:
    if r[0] == "tput" and r[3] == "1":
        tput.setdefault(r[1], []).append((float(r[4]), float(r[5] or 0)))
    elif r[0] == "many":
        many[r[1]] = r
out, rc = [], 0
head = ["tool", "MB/s (median)", "wall s", "CPU s", "CPU s/GiB", "vs socat"]
table = []
med = {t: statistics.median(s for s, _ in v) for t, v in tput.items()}
for t in tools:
    if t not in tput:
        table.append([t, "FAILED", "-", "-", "-", "-"])
        continue
    cpu = statistics.median(c for _, c in tput[t])
    table.append([t, "%.0f" % (n / 1e6 / med[t]), "%.3f" % med[t], "%.2f" % cpu,
                  "%.2f" % (cpu / (n / 2**30)),
                  "%.2fx" % (med["socat"] / med[t]) if "socat" in med else "-"])
def show(title, head, table):
    print()
    print(title)
    w = [max(len(x[i]) for x in table + [head]) for i in range(len(head))]
    for x in [head] + table:
        print("  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i])
                        for i, c in enumerate(x)))
    print()
    print("**%s**" % title)
    print()
    print("| " + " | ".join(head) + " |")
    print("|:---|" + "---:|" * (len(head) - 1))
    for x in table:
        print("| " + " | ".join(x) + " |")
show("forward throughput: one connection, %d bytes, median of the rounds" % n,
     head, table)
goal = []
if "ztpipe" in med and "socat" in med:
    r = med["socat"] / med["ztpipe"]
    goal.append("ztpipe throughput vs socat: %.2fx (goal: at least 1.5x): %s"
                % (r, "PASS" if r >= 1.5 else "FAIL"))
    rc |= r < 1.5
head = ["tool", "connections", "failed", "wall s", "CPU s", "peak RSS KiB",
        "peak PSS KiB", "processes", "system KiB"]
table = []
for t, r in many.items():
    table.append([t, r[3], r[4], "%.2f" % float(r[5]), r[6], r[7], r[8], r[9],
                  r[10]])
show("forward, %d connections at once, 1 MB each" % conns, head, table)
z, s = many.get("ztpipe"), many.get("socat")
if z and s and z[2] == "1" and s[2] == "1":
    mr, cr = int(z[8]) / max(int(s[8]), 1), float(z[6]) / max(float(s[6]), 0.01)
    goal.append("ztpipe memory (PSS) vs socat: %.3f, RSS %.3f (goal: under 0.25): %s"
                % (mr, int(z[7]) / max(int(s[7]), 1), "PASS" if mr < 0.25 else "FAIL"))
    goal.append("ztpipe CPU vs socat: %.2f (goal: under 1): %s"
                % (cr, "PASS" if cr < 1 else "FAIL"))
    rc |= mr >= 0.25 or cr >= 1
    goal.append("system memory (MemAvailable's fall; anything else running "
                "moves it, by hundreds of MB on a shared machine) ztpipe vs "
                "socat: %.3f" % (int(z[10]) / max(int(s[10]), 1)))
print()
for g in goal:
    print(g)
sys.exit(rc)
PY

if [ "$failures" -gt 0 ] || [ "$goals" -ne 0 ]; then
	[ "$failures" -eq 0 ] || note "$failures run(s) FAILED"
	[ "$goals" -eq 0 ] || note "a goal was missed"
	exit 1
fi
