/*
 * ztpipe: copy stdin to a TCP peer and the peer to stdout, like nc(1),
 * for people on ZeroTier networks.  One poll() loop over a table of
 * peers; no data lost on half-close; whole lines when many peers send.
 */

#define _GNU_SOURCE		/* splice, F_SETPIPE_SZ, NI_MAXHOST */
#ifndef VERSION
#define VERSION "0.1.0"
#endif

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/resource.h>
#include <sys/ioctl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_PORT	"12345"	/* the port the ZeroTier chat scripts used */
#define BUFSZ		(256 * 1024)	/* one direction's buffer, one-peer mode */
#define LINEMAX		(64 * 1024)	/* -k: longest line kept whole */
#define LINEMIN		(16 * 1024)	/* -k: a peer's line buffer to begin with */
#define STUCK_MS	1500	/* -k: a peer this long without progress is stuck */
#define STOP_MS		2000	/* after a signal, how long we try to flush */
#define MAXCONNS	100	/* -k default, as ncat */
#define NAMESZ		(NI_MAXHOST + NI_MAXSERV + 8)	/* "addr port N" */
#define NICKMAX		32	/* --chat: longest display name, in bytes */
#define CHATQ		(256 * 1024)	/* --chat: lines queued for one reader */
#define FD_SPARE	16	/* fds beyond the peers: stdio, listener, ... */
#define PIPESZ		(1024 * 1024)	/* pipe size asked for the splice path */

#if defined(__GNUC__) || defined(__clang__)
#define NORETURN __attribute__((noreturn))
#else
#define NORETURN
#endif

/* Exit status: 0 success, 1 network or runtime error, 2 usage error. */
enum { EXIT_NET = 1, EXIT_USAGE = 2 };

/* What poll() said is ready, remembered for splice(), which needs both ends. */
enum { RD_STDIN = 1, WR_PEER = 2, RD_PEER = 4, WR_STDOUT = 8 };

/* getopt_long values of the options that have no letter. */
enum { OPT_6PLANE = 256, OPT_ADDRS, OPT_ALLOW, OPT_CHAT, OPT_NAME,
    OPT_NETWORK, OPT_RESOLVE };

/* Fixed poll slots; peer i uses slot SLOT_PEER + i. */
enum { SLOT_SIGNAL, SLOT_STDIN, SLOT_STDOUT, SLOT_LISTEN, SLOT_PEER };

/* A byte queue: data[start..end) is queued, data[end..cap) is free. */
struct buf {
	char *data;
	size_t cap, start, end;
};

/* A connected peer; a slot is free when in.data is NULL. */
struct peer {
	int fd;			/* -1 once closed; in may still hold bytes */
	unsigned long serial;	/* unique id, to tell whose line is on stdout */
	char name[NAMESZ];	/* "10.1.2.3 port 40000", for messages */
	struct buf in;		/* received, not yet written to stdout */
	unsigned long long sent;	/* stream offset of stdin sent to it */
	long long moved_at;	/* ms when it last took data or was idle */
	int rd_eof;		/* it sent FIN */
	int wr_done;		/* we sent FIN (or never will write again) */
	int warned_long;	/* -v: said once that its lines are too long */
	int stuck;		/* --chat: its queue overflowed; drop it */
	struct buf out;		/* --chat: lines queued for it */
	char nick[NICKMAX * 3 + 1];	/* --chat: shown as [nick] */
};

/* An address or prefix: --allow entries, ZeroTier subnets. */
struct cidr {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16];	/* network byte order; IPv4 uses 4 */
	int bits;		/* prefix length */
};

/* An address on one of this host's ZeroTier interfaces. */
struct ztaddr {
	char ifname[IF_NAMESIZE];
	struct cidr net;	/* the address, with its prefix length */
};

/* The command line. */
static struct options {
	int family;		/* -4, -6: AF_INET, AF_INET6; else AF_UNSPEC */
	int listen;		/* -l */
	int keep;		/* -k: many peers, whole lines */
	int nostdin;		/* -d: never read stdin, never half-close */
	int verbose;		/* -v */
	int wait_ms;		/* -w in ms, -1 for none */
	int maxconns;		/* -m */
	int chat;		/* --chat: relay lines between peers, -k implied */
	const char *name;	/* --name: our name in a chat */
	const char *source;	/* -s */
	const char *host;	/* host to dial or address to listen on */
	const char *port;
	const char *network;	/* --network: ZeroTier network ID, 16 hex */
	int sixplane;		/* --6plane: dial node IDs at 6PLANE addresses */
	int addrs;		/* --addrs: list ZeroTier addresses and exit */
	int probe;		/* -z: only see whether something listens */
	int port_lo, port_hi;	/* -z: the ports to probe */
	int retry_ms;		/* -R: keep trying to connect this long */
	int idle_ms;		/* -i: end after this long without data */
	int progress;		/* -P: draw progress on stderr */
	int resolve;		/* --resolve: print what host means and exit */
	struct cidr *allow;	/* --allow: who may connect (none: anyone) */
	int nallow;
} opt;

/* The running session. */
static struct state {
	struct buf ring;	/* stdin bytes not yet sent to every peer */
	unsigned long long ring_base;	/* stream offset of ring.data[start] */
	struct peer *peers;
	int npeers;		/* size of the table */
	int nconn;		/* peers with an open socket */
	unsigned long serials;	/* peers ever added */
	int lfd;		/* listening socket, -1 when not listening */
	int stdin_tty;		/* a person types: a leaving peer ends it */
	int stdin_eof;
	int stopping;		/* a signal came: flush and leave */
	int status;		/* exit status once the session ends */
	struct peer *owner;	/* -k: peer whose chunk is going to stdout */
	size_t owed;		/* bytes of that chunk still to write */
	int rr;			/* -k: where the next round-robin scan starts */
	unsigned long last_serial;	/* whose bytes stdout got last */
	int midline;		/* stdout's last byte was not a newline */
	int nl_owed;		/* a newline must go out before the next line */
	long long t0, deadline;	/* start; -w or stop deadline in ms */
	long long accept_at;	/* after EMFILE, accept again from then */
	long long stuck_at;	/* -k: look for stuck peers again then */
	struct buf chatq;	/* --chat: lines for our own stdout */
	char nick[NICKMAX * 3 + 1];	/* --chat: our name, [host] by default */
	unsigned long long nsent, nrecv;
	int flags[2];		/* stdin/stdout fcntl flags to restore */
	int splice_in;		/* stdin is a pipe: splice it to the peer */
	int splice_out;		/* stdout is a pipe: splice the peer to it */
	int ready;		/* RD_STDIN | WR_PEER | ...: for splice */
	long long total;	/* -P: bytes stdin will give, -1 if unknown */
	long long progress_at;	/* -P: when to draw next */
	int drawn;		/* -P: length of the line on screen */
	long long last_data;	/* -i: when data last moved */
	unsigned long long moved;	/* -i: nsent + nrecv then */
} st;

static volatile sig_atomic_t got_signal;
static int sigpipe[2] = { -1, -1 };	/* self-pipe: wakes poll on a signal */

static void vsay(int errnum, const char *fmt, va_list ap);
static void say(int errnum, const char *fmt, ...);
static void die(int status, int errnum, const char *fmt, ...) NORETURN;
static void note(const char *fmt, ...);
static long long now_ms(void);
static int buf_init(struct buf *b, size_t cap);
static size_t buf_len(const struct buf *b);
static size_t buf_room(const struct buf *b);
static void buf_compact(struct buf *b);
static ssize_t buf_fill(struct buf *b, int fd);
static int buf_grow(struct buf *b, size_t max);
static int buf_put(struct buf *b, const char *p, size_t len);
static size_t line_span(const char *p, size_t len, int final, size_t cap);
static int is_number(const char *s);
static int parse_port(const char *s, int allow_zero);
static const struct sockaddr *unmap(const struct sockaddr *sa,
    struct sockaddr_in *sin);
static void addr_name(const struct sockaddr *sa, char *out, size_t outsz);
static int set_nonblock(int fd, int *saved);
static void tune_socket(int fd);
static const char *family_flag(int family);
static struct addrinfo *resolve(const char *host, const char *port,
    int passive);
static int listen_on(const char *host, const char *port);
static int wait_writable(int fd, int ms);
static int bind_source(int fd, int family);
static int dial_once(struct addrinfo *res, int quiet, int *err,
    struct sockaddr_storage *last, char *name, size_t namesz);
static int dial(const char *host, const char *port);
static int probe(const char *host, int lo, int hi);
static void zt_rfc4193(uint64_t nwid, uint64_t node, unsigned char a[16]);
static void zt_6plane(uint64_t nwid, uint64_t node, unsigned char a[16]);
static int zt_ids(const unsigned char a[16], uint64_t *nwid, uint64_t *node);
static int parse_hex(const char *s, size_t n, uint64_t *v);
static int zt_ifname(const char *name);
static int prefix_len(const unsigned char *mask, int nbytes);
static void cidr_of(const struct sockaddr *sa, struct cidr *c);
static int zt_scan(struct ztaddr *out, int max);
static void cidr_str(const struct cidr *c, char *out, size_t outsz);
static int zt_networks(uint64_t *nwids, int max);
static const char *zt_node_host(const char *host);
static int zt_print_addrs(void);
static void zt_dial_hints(const struct sockaddr *bound, int port);
static void zt_fail_hint(const struct sockaddr *sa, int err);
static int cidr_parse(const char *s, struct cidr *c);
static int cidr_match(const struct cidr *c, const struct cidr *a);
static void allow_add(const char *list);
static void allow_push(const struct cidr *c);
static int allowed(const struct sockaddr *sa);
static struct peer *peer_add(int fd, const struct sockaddr *sa);
static void peer_close(struct peer *p);
static void peer_free(struct peer *p);
static void peer_drop(struct peer *p, int errnum, const char *why);
static void peer_eof(struct peer *p);
static void peer_recv(struct peer *p);
static void peer_send(struct peer *p);
static int peer_pending(const struct peer *p);
static short peer_want(const struct peer *p);
static void peer_events(struct peer *p, short revents);
static int peer_pollfd(const struct peer *p);
static size_t utf8_len(const unsigned char *s, size_t n);
static size_t chat_clean(const char *in, size_t len, char *out);
static void nick_set(char *nick, const char *s, size_t len);
static void chat_send(const char *msg, size_t len, const struct peer *from,
    int to_stdout);
static void chat_notice(const char *nick, const char *what);
static void chat_line(struct peer *p, const char *line, size_t len);
static size_t line_first(const struct buf *b, int final, size_t max);
static void chat_relay(void);
static int splice_up(const struct peer *p);
static int splice_down(const struct peer *p);
static int up_ready(const struct peer *p);
static int down_ready(const struct peer *p);
static int splice_ready(const struct peer *p);
#ifdef SPLICE_F_MOVE
static int splice_blocked(int src, int rd, int wr);
#endif
static void splice_move(struct peer *p);
static int splice_fd(int fd);
static struct peer *next_chunk(size_t *len);
static void stdout_fail(int errnum);
static void stdout_write(void);
static int stdout_pending(void);
static void stdin_ended(void);
static void stdin_read(void);
static void accept_peer(void);
static long long stuck_check(long long now);
static void settle(void);
static int finished(void);
static int want_stdin(void);
static void on_signal(int sig);
static void restore_flags(void);
static void setup_signals(void);
static int poll_timeout(long long now);
static void run(void);
static void human(double v, char *out, size_t outsz);
static void progress_draw(int final);
static void usage(FILE *f);
static void usage_error(const char *fmt, const char *arg) NORETURN;
static int parse_range(const char *s, int *lo, int *hi);
static void prompt_host(void);
static long number_arg(const char *s, long lo, long hi, const char *what);
static void parse_args(int argc, char **argv);
static void guard_std_fds(void);
static void summary(void);
static long long stdin_size(void);
static int resolve_print(void);
static void session_init(void);
static void start_dialling(void);

/* ---- messages ---- */

/* One write per message, so lines from several processes never mix. */
static void
vsay(int errnum, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	n = snprintf(line, sizeof(line), "ztpipe: ");
	n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (n >= (int)sizeof(line) - 1)
		n = sizeof(line) - 2;
	if (errnum)
		n += snprintf(line + n, sizeof(line) - n, ": %s",
		    strerror(errnum));
	if (n >= (int)sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}

static void
say(int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(errnum, fmt, ap);
	va_end(ap);
}

static void
die(int status, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(errnum, fmt, ap);
	va_end(ap);
	exit(status);
}

/* -v: say what happens. */
static void
note(const char *fmt, ...)
{
	va_list ap;

	if (!opt.verbose)
		return;
	va_start(ap, fmt);
	vsay(0, fmt, ap);
	va_end(ap);
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- buffers ---- */

static int
buf_init(struct buf *b, size_t cap)
{
	b->start = b->end = 0;
	b->cap = cap;
	b->data = malloc(cap);
	return b->data ? 0 : -1;
}

static size_t
buf_len(const struct buf *b)
{
	return b->end - b->start;
}

static size_t
buf_room(const struct buf *b)
{
	return b->cap - buf_len(b);
}

/* Slide the queued bytes to the front, so the free space is in one piece. */
static void
buf_compact(struct buf *b)
{
	memmove(b->data, b->data + b->start, buf_len(b));
	b->end -= b->start;
	b->start = 0;
}

/* Read what fits; slide queued bytes to the front when the tail is full. */
static ssize_t
buf_fill(struct buf *b, int fd)
{
	ssize_t n;

	if (b->end == b->cap)
		buf_compact(b);
	n = read(fd, b->data + b->end, b->cap - b->end);
	if (n > 0)
		b->end += n;
	return n;
}

/* Double b's capacity, up to max; -1 if realloc fails. */
static int
buf_grow(struct buf *b, size_t max)
{
	size_t cap = b->cap * 2 > max ? max : b->cap * 2;
	char *d = realloc(b->data, cap);

	if (!d)
		return -1;
	b->data = d;
	b->cap = cap;
	return 0;
}

/* Append len bytes if they fit (sliding to the front if needed); -1 if not. */
static int
buf_put(struct buf *b, const char *p, size_t len)
{
	if (buf_room(b) < len)
		return -1;
	if (b->cap - b->end < len)
		buf_compact(b);
	memcpy(b->data + b->end, p, len);
	b->end += len;
	return 0;
}

/*
 * How many of len queued bytes may go to stdout as one piece with -k:
 * up to the last newline, so lines from different peers never mix; all
 * of it when the peer is gone (final) or when the buffer is full with
 * no newline (a line longer than cap).  Pure, for the fuzzer.
 */
static size_t
line_span(const char *p, size_t len, int final, size_t cap)
{
	size_t n;

	if (final)
		return len;
	for (n = len; n > 0; n--)
		if (p[n - 1] == '\n')
			return n;
	return len >= cap ? len : 0;
}

/* ---- addresses and sockets ---- */

static int
is_number(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* A port number 1-65535 (0 too when listening) or a service name; -1 if bad. */
static int
parse_port(const char *s, int allow_zero)
{
	struct servent *se;
	long v;

	if (is_number(s)) {
		if (strlen(s) > 5)
			return -1;
		v = strtol(s, NULL, 10);
		return (v > 65535 || (v == 0 && !allow_zero)) ? -1 : (int)v;
	}
	if (*s == '\0' || strlen(s) > 64)
		return -1;
	se = getservbyname(s, "tcp");
	return se ? ntohs(se->s_port) : -1;
}

/*
 * An IPv4 peer of a dual-stack socket arrives as ::ffff:a.b.c.d: give
 * it back as the IPv4 address it is (in *sin), else sa unchanged.
 */
static const struct sockaddr *
unmap(const struct sockaddr *sa, struct sockaddr_in *sin)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

	if (sa->sa_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return sa;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = s6->sin6_port;
	memcpy(&sin->sin_addr, &s6->sin6_addr.s6_addr[12], 4);
	return (const struct sockaddr *)sin;
}

/* "10.1.2.3 port 40000"; IPv4-mapped IPv6 shown as plain IPv4. */
static void
addr_name(const struct sockaddr *sa, char *out, size_t outsz)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];
	struct sockaddr_in sin;
	socklen_t len = sizeof(struct sockaddr_in6);

	sa = unmap(sa, &sin);
	if (sa->sa_family == AF_INET)
		len = sizeof(struct sockaddr_in);
	if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(out, outsz, "(unknown)");
	else
		snprintf(out, outsz, "%s port %s", host, serv);
}

static int
set_nonblock(int fd, int *saved)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	if (saved)
		*saved = fl;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Interactive lines go out at once; bulk writes are large anyway. */
static void
tune_socket(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static const char *
family_flag(int family)
{
	return family == AF_INET ? "-4" : "-6";
}

/* getaddrinfo, with one clear message for every way it can fail. */
static struct addrinfo *
resolve(const char *host, const char *port, int passive)
{
	struct addrinfo hints, *res;
	int e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = opt.family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = passive ? AI_PASSIVE : 0;
	e = getaddrinfo(host, port, &hints, &res);
	if (e == 0)
		return res;
	if (host && opt.family != AF_UNSPEC) {
		/* Say "wrong family", not a resolver riddle. */
		hints.ai_family = AF_UNSPEC;
		hints.ai_flags |= AI_NUMERICHOST;
		if (getaddrinfo(host, port, &hints, &res) == 0) {
			freeaddrinfo(res);
			die(EXIT_USAGE, 0, "%s is not an %s address (%s)", host,
			    opt.family == AF_INET ? "IPv4" : "IPv6",
			    family_flag(opt.family));
		}
	}
	if (e == EAI_SYSTEM)
		die(EXIT_NET, errno, "%s", host ? host : "listen");
	die(EXIT_NET, 0, "%s: %s", host ? host : "listen", gai_strerror(e));
	return NULL;
}

/* The socket for -l: dual-stack "::" unless an address or -4/-6 says otherwise. */
static int
listen_on(const char *host, const char *port)
{
	struct addrinfo *res, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char name[NAMESZ];
	int fd = -1, one = 1, v6only, err = 0;

	res = resolve(host, port, 1);
	/* glibc lists 0.0.0.0 first for a NULL host; prefer "::" for dual stack. */
	for (int pass = 0; pass < 2 && fd < 0; pass++) {
		for (ai = res; ai && fd < 0; ai = ai->ai_next) {
			if (!host && (pass == 0) != (ai->ai_family == AF_INET6))
				continue;
			if (host && pass == 1)
				break;
			addr_name(ai->ai_addr, name, sizeof(name));
			fd = socket(ai->ai_family, ai->ai_socktype, 0);
			if (fd < 0) {
				err = errno;
				continue;
			}
			(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
			    sizeof(one));
			if (ai->ai_family == AF_INET6) {
				v6only = opt.family == AF_INET6;
				(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
				    &v6only, sizeof(v6only));
			}
			if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
			    listen(fd, 128) == 0)
				break;
			err = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		die(EXIT_NET, err, "listen on %s", host ? name : port);
	if (set_nonblock(fd, NULL) < 0)
		die(EXIT_NET, errno, "fcntl");
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		addr_name((struct sockaddr *)&ss, name, sizeof(name));
		note("listening on %s", name);
		if (opt.verbose)
			zt_dial_hints((struct sockaddr *)&ss,
			    ntohs(((struct sockaddr_in *)&ss)->sin_port));
	}
	return fd;
}

/* Wait up to ms (-1: for ever) for fd to become writable; 0 if it did. */
static int
wait_writable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int n;

	do
		n = poll(&p, 1, ms);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		errno = ETIMEDOUT;
	return n > 0 ? 0 : -1;
}

/* Bind to -s source, in the family of the address being dialled. */
static int
bind_source(int fd, int family)
{
	struct addrinfo hints, *res, *ai;
	int rc = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if (getaddrinfo(opt.source, NULL, &hints, &res) != 0) {
		errno = EADDRNOTAVAIL;
		return -1;
	}
	for (ai = res; ai && rc < 0; ai = ai->ai_next)
		rc = bind(fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(res);
	return rc;
}

/*
 * One try at every address in res, in order: the connected socket, or
 * -1 with the last error in *err and its address in last and name.
 */
static int
dial_once(struct addrinfo *res, int quiet, int *err,
    struct sockaddr_storage *last, char *name, size_t namesz)
{
	struct addrinfo *ai;
	socklen_t sl;
	int fd;

	for (ai = res; ai; ai = ai->ai_next) {
		addr_name(ai->ai_addr, name, namesz);
		memcpy(last, ai->ai_addr, ai->ai_addrlen);
		if ((fd = socket(ai->ai_family, ai->ai_socktype, 0)) < 0) {
			*err = errno;
			continue;
		}
		if (opt.source && bind_source(fd, ai->ai_family) < 0) {
			*err = errno;
			say(errno, "bind to %s", opt.source);
			close(fd);
			continue;
		}
		if (set_nonblock(fd, NULL) < 0)
			die(EXIT_NET, errno, "fcntl");
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			return fd;
		if (errno != EINPROGRESS || wait_writable(fd, opt.wait_ms) < 0) {
			*err = errno;	/* refused, unreachable, timed out */
		} else {
			sl = sizeof(*err);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, err, &sl) < 0)
				*err = errno;
			if (*err == 0)
				return fd;
		}
		if (!quiet)
			say(*err, "connect to %s", name);
		close(fd);
	}
	return -1;
}

/*
 * Connect to the first address of host that answers.  With -R, try
 * again with a growing pause until it answers or the time is up, so a
 * sender can start before its receiver.
 */
static int
dial(const char *host, const char *port)
{
	struct addrinfo *res = resolve(zt_node_host(host), port, 0);
	struct sockaddr_storage last;
	long long until = opt.retry_ms > 0 ? now_ms() + opt.retry_ms : 0;
	char name[NAMESZ];
	int fd, err = 0, pause = 100;

	while ((fd = dial_once(res, until != 0, &err, &last, name,
	    sizeof(name))) < 0 && until && now_ms() + pause < until) {
		note("connect to %s: %s; trying again", name, strerror(err));
		(void)poll(NULL, 0, pause);
		pause = pause * 2 > 2000 ? 2000 : pause * 2;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		if (until)
			say(err, "connect to %s", name);
		zt_fail_hint((struct sockaddr *)&last, err);
		exit(EXIT_NET);
	}
	note("connected to %s", name);
	return fd;
}

/* -z: is anything listening on host at each port of lo-hi?  0 if so. */
static int
probe(const char *host, int lo, int hi)
{
	struct sockaddr_storage last;
	struct addrinfo *res;
	char name[NAMESZ], port[8];
	int fd, err = 0, listening = 0;

	host = zt_node_host(host);
	for (int p = lo; p <= hi; p++) {
		snprintf(port, sizeof(port), "%d", p);
		res = resolve(host, port, 0);
		fd = dial_once(res, 1, &err, &last, name, sizeof(name));
		freeaddrinfo(res);
		if (fd >= 0) {
			close(fd);
			listening++;
			if (opt.verbose || lo != hi)
				say(0, "%s open", name);
		} else {
			note("%s: %s", name, strerror(err));
		}
	}
	return listening ? 0 : EXIT_NET;
}

/* ---- ZeroTier ---- */

/*
 * ZeroTier gives members addresses derived from the network ID (nwid,
 * 64 bits) and the node ID (40 bits):
 *   RFC4193: fd | nwid (8 bytes) | 99 93 | node (5 bytes), prefix /88
 *   6PLANE:  fc | (nwid ^ nwid >> 32) (4 bytes) | node (5 bytes) | 0... | 01
 * So an RFC4193 address on a local interface names both IDs, and a peer
 * known by node ID can be dialled without asking anyone.
 */
static void
zt_rfc4193(uint64_t nwid, uint64_t node, unsigned char a[16])
{
	a[0] = 0xfd;
	for (int i = 0; i < 8; i++)
		a[1 + i] = nwid >> (56 - 8 * i);
	a[9] = 0x99;
	a[10] = 0x93;
	for (int i = 0; i < 5; i++)
		a[11 + i] = node >> (32 - 8 * i);
}

static void
zt_6plane(uint64_t nwid, uint64_t node, unsigned char a[16])
{
	uint32_t h = (uint32_t)(nwid ^ (nwid >> 32));

	memset(a, 0, 16);
	a[0] = 0xfc;
	for (int i = 0; i < 4; i++)
		a[1 + i] = h >> (24 - 8 * i);
	for (int i = 0; i < 5; i++)
		a[5 + i] = node >> (32 - 8 * i);
	a[15] = 1;
}

/* The network and node IDs inside an RFC4193 ZeroTier address; 0 if not one. */
static int
zt_ids(const unsigned char a[16], uint64_t *nwid, uint64_t *node)
{
	if (a[0] != 0xfd || a[9] != 0x99 || a[10] != 0x93)
		return 0;
	*nwid = *node = 0;
	for (int i = 0; i < 8; i++)
		*nwid = *nwid << 8 | a[1 + i];
	for (int i = 0; i < 5; i++)
		*node = *node << 8 | a[11 + i];
	return 1;
}

/* Exactly n hex digits into *v; -1 otherwise.  Pure. */
static int
parse_hex(const char *s, size_t n, uint64_t *v)
{
	if (strlen(s) != n || strspn(s, "0123456789abcdefABCDEF") != n)
		return -1;
	*v = strtoull(s, NULL, 16);
	return 0;
}

/* Names ZeroTier gives its interfaces: zt... (Linux, BSD), feth... (macOS). */
static int
zt_ifname(const char *name)
{
	return strncmp(name, "zt", 2) == 0 || strncmp(name, "feth", 4) == 0;
}

static int
prefix_len(const unsigned char *mask, int nbytes)
{
	int bits = 0;

	for (int i = 0; i < nbytes; i++)
		for (int b = 7; b >= 0 && (mask[i] >> b & 1); b--)
			bits++;
	return bits;
}

/* An address as a cidr; IPv4-mapped IPv6 becomes plain IPv4. */
static void
cidr_of(const struct sockaddr *sa, struct cidr *c)
{
	struct sockaddr_in sin;

	sa = unmap(sa, &sin);
	memset(c, 0, sizeof(*c));
	if (sa->sa_family == AF_INET) {
		c->family = AF_INET;
		memcpy(c->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		c->bits = 32;
	} else {
		c->family = AF_INET6;
		memcpy(c->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		c->bits = 128;
	}
}

/*
 * This host's ZeroTier addresses: every address, with its prefix, on an
 * interface named like ZeroTier's or carrying an RFC4193 ZeroTier
 * address (interfaces can be renamed).  Link-local ones are left out.
 */
static int
zt_scan(struct ztaddr *out, int max)
{
	struct ifaddrs *ifa, *i;
	struct ztaddr z;
	uint64_t nwid, node;
	int n = 0, pass;
	char zt_named[8][IF_NAMESIZE];	/* interfaces with RFC4193 addresses */
	int nnamed = 0;

	if (getifaddrs(&ifa) < 0)
		return 0;
	for (pass = 0; pass < 2; pass++) {
		for (i = ifa; i; i = i->ifa_next) {
			int fam = i->ifa_addr ? i->ifa_addr->sa_family : 0;
			int known = zt_ifname(i->ifa_name);

			if (fam != AF_INET && fam != AF_INET6)
				continue;
			memset(&z, 0, sizeof(z));
			snprintf(z.ifname, sizeof(z.ifname), "%s", i->ifa_name);
			cidr_of(i->ifa_addr, &z.net);
			if (pass == 0) {
				if (fam == AF_INET6 && !known && nnamed < 8 &&
				    zt_ids(z.net.addr, &nwid, &node))
					memcpy(zt_named[nnamed++], z.ifname,
					    IF_NAMESIZE);
				continue;
			}
			for (int k = 0; k < nnamed && !known; k++)
				known = strcmp(zt_named[k], z.ifname) == 0;
			if (!known || n >= max || (fam == AF_INET6 &&
			    IN6_IS_ADDR_LINKLOCAL((struct in6_addr *)z.net.addr)))
				continue;
			if (i->ifa_netmask)
				z.net.bits = prefix_len(fam == AF_INET ?
				    (unsigned char *)&((struct sockaddr_in *)
				    i->ifa_netmask)->sin_addr :
				    ((struct sockaddr_in6 *)
				    i->ifa_netmask)->sin6_addr.s6_addr,
				    fam == AF_INET ? 4 : 16);
			out[n++] = z;
		}
	}
	freeifaddrs(ifa);
	return n;
}

static void
cidr_str(const struct cidr *c, char *out, size_t outsz)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(c->family, c->addr, a, sizeof(a));
	snprintf(out, outsz, "%s", a);
}

/* The networks this host is in, from its RFC4193 addresses; how many. */
static int
zt_networks(uint64_t *nwids, int max)
{
	struct ztaddr z[64];
	uint64_t nwid, node;
	int n = zt_scan(z, 64), k = 0, j;

	for (int i = 0; i < n; i++) {
		if (z[i].net.family != AF_INET6 ||
		    !zt_ids(z[i].net.addr, &nwid, &node))
			continue;
		for (j = 0; j < k && nwids[j] != nwid; j++)
			;
		if (j == k && k < max)
			nwids[k++] = nwid;
	}
	return k;
}

static const char zt_hint_setup[] = "is zerotier-one running, the network "
    "joined (zerotier-cli listnetworks) and this member authorized?";

/*
 * A 10-hex-digit host is a node ID: dial it at its address on the
 * network from --network, $ZTPIPE_NETWORK or the only one we are in.
 */
static const char *
zt_node_host(const char *host)
{
	static char addr[INET6_ADDRSTRLEN];
	uint64_t node, nwid, nwids[8];
	unsigned char a[16];
	const char *net = opt.network ? opt.network : getenv("ZTPIPE_NETWORK");
	char list[8 * 18];
	int n;

	if (parse_hex(host, 10, &node) < 0)
		return host;
	if (net && *net) {
		if (parse_hex(net, 16, &nwid) < 0)
			usage_error("bad network ID: '%s' (16 hex digits)", net);
	} else if ((n = zt_networks(nwids, 8)) == 1) {
		nwid = nwids[0];
	} else if (n == 0) {
		die(EXIT_NET, 0, "%s is a node ID, but this host is in no "
		    "ZeroTier network with RFC4193 addresses: %s (or give "
		    "--network)", host, zt_hint_setup);
	} else {
		list[0] = '\0';
		for (int i = 0; i < n; i++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list),
			    "%s%016" PRIx64, i ? ", " : "", nwids[i]);
		usage_error("several ZeroTier networks here, pick one with "
		    "--network: %s", list);
	}
	if (opt.sixplane)
		zt_6plane(nwid, node, a);
	else
		zt_rfc4193(nwid, node, a);
	inet_ntop(AF_INET6, a, addr, sizeof(addr));
	note("node %s on network %016" PRIx64 " is %s", host, nwid, addr);
	return addr;
}

/* ztpipe --addrs: what to tell a friend who wants to reach us. */
static int
zt_print_addrs(void)
{
	struct ztaddr z[64];
	uint64_t nwid, node;
	char a[INET6_ADDRSTRLEN];
	int n = zt_scan(z, 64);

	if (n == 0)
		die(EXIT_NET, 0, "no ZeroTier interface found: %s",
		    zt_hint_setup);
	/* getifaddrs lists all IPv4 addresses, then all IPv6: group by name. */
	for (int i = 0; i < n; i++) {
		int seen = 0;

		for (int j = 0; j < i && !seen; j++)
			seen = strcmp(z[j].ifname, z[i].ifname) == 0;
		if (seen)
			continue;
		printf("%s", z[i].ifname);
		for (int j = i; j < n; j++)
			if (strcmp(z[j].ifname, z[i].ifname) == 0 &&
			    z[j].net.family == AF_INET6 &&
			    zt_ids(z[j].net.addr, &nwid, &node)) {
				printf("  network %016" PRIx64
				    "  node %010" PRIx64, nwid, node);
				break;
			}
		printf("\n");
		for (int j = i; j < n; j++)
			if (strcmp(z[j].ifname, z[i].ifname) == 0) {
				cidr_str(&z[j].net, a, sizeof(a));
				printf("  %s/%d\n", a, z[j].net.bits);
			}
	}
	return 0;
}

/* -l -v: the commands a peer can run to reach the listener on fd. */
static void
zt_dial_hints(const struct sockaddr *bound, int port)
{
	struct ztaddr z[64];
	struct cidr b;
	uint64_t nwid, node, nwids[8], last = 0;
	char a[INET6_ADDRSTRLEN];
	int n = zt_scan(z, 64), nnets = zt_networks(nwids, 8);
	int any, v6only = opt.family == AF_INET6;

	cidr_of(bound, &b);
	any = b.family == AF_INET ? memcmp(b.addr, "\0\0\0\0", 4) == 0 :
	    memcmp(b.addr, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16) == 0;
	for (int i = 0; i < n; i++) {
		if (!any ? memcmp(&z[i].net.addr, b.addr, 16) != 0 ||
		    z[i].net.family != b.family :
		    (b.family == AF_INET && z[i].net.family != AF_INET) ||
		    (v6only && z[i].net.family != AF_INET6))
			continue;
		cidr_str(&z[i].net, a, sizeof(a));
		note("a peer can run: ztpipe %s %d", a, port);
		if (z[i].net.family == AF_INET6 && b.family == AF_INET6 &&
		    zt_ids(z[i].net.addr, &nwid, &node) && nwid != last) {
			/* One node, one ID, but one command per network. */
			last = nwid;
			if (nnets > 1)
				note("a peer can run: ztpipe --network %016"
				    PRIx64 " %010" PRIx64 " %d", nwid, node, port);
			else
				note("a peer can run: ztpipe %010" PRIx64 " %d",
				    node, port);
		}
	}
}

/*
 * After a failed connect: say whether ZeroTier is the likely cause.
 * Typical pools come from ZeroTier Central's suggestions.
 */
static void
zt_fail_hint(const struct sockaddr *sa, int err)
{
	static const char *pools[] = { "10.147.16.0/22", "10.144.0.0/16",
	    "10.241.0.0/16", "10.242.0.0/15", "10.244.0.0/16", "172.22.0.0/15",
	    "172.24.0.0/13", "192.168.191.0/24", "192.168.192.0/22", "fd00::/8",
	    "fc00::/8" };
	struct ztaddr z[64];
	struct cidr dst, pool;
	char a[INET6_ADDRSTRLEN];
	int n;

	if (err != ETIMEDOUT && err != EHOSTUNREACH && err != ENETUNREACH)
		return;
	cidr_of(sa, &dst);
	cidr_str(&dst, a, sizeof(a));
	n = zt_scan(z, 64);
	for (int i = 0; i < n; i++)
		if (cidr_match(&z[i].net, &dst)) {
			say(0, "hint: %s is on ZeroTier interface %s: is the peer "
			    "online and authorized? (zerotier-cli listpeers, "
			    "ZeroTier Central)", a, z[i].ifname);
			return;
		}
	for (size_t i = 0; n == 0 && i < sizeof(pools) / sizeof(pools[0]); i++)
		if (cidr_parse(pools[i], &pool) == 0 && cidr_match(&pool, &dst)) {
			say(0, "hint: %s looks like a ZeroTier address, but no "
			    "ZeroTier interface is up: %s", a, zt_hint_setup);
			return;
		}
}

/* ---- access control ---- */

/* "10.147.17.0/24", "fd80::/16" or a plain address into c; -1 if bad.  Pure. */
static int
cidr_parse(const char *s, struct cidr *c)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash;
	int max;

	if (strlen(s) >= sizeof(buf))
		return -1;
	memset(c, 0, sizeof(*c));
	strcpy(buf, s);
	if ((slash = strchr(buf, '/')))
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, c->addr) == 1)
		c->family = AF_INET, max = 32;
	else if (inet_pton(AF_INET6, buf, c->addr) == 1)
		c->family = AF_INET6, max = 128;
	else
		return -1;
	c->bits = max;
	if (slash) {
		if (!is_number(slash) || strlen(slash) > 3 ||
		    atoi(slash) > max)
			return -1;
		c->bits = atoi(slash);
	}
	/* Peers are matched as IPv4 (cidr_of): so is ::ffff:a.b.c.d/n. */
	if (c->family == AF_INET6 && c->bits >= 96 &&
	    memcmp(c->addr, "\0\0\0\0\0\0\0\0\0\0\377\377", 12) == 0) {
		memmove(c->addr, c->addr + 12, 4);
		memset(c->addr + 4, 0, 12);
		c->family = AF_INET;
		c->bits -= 96;
	}
	return 0;
}

/* Is address a (bits = full length) inside prefix c?  Pure. */
static int
cidr_match(const struct cidr *c, const struct cidr *a)
{
	int whole = c->bits / 8, rest = c->bits % 8;

	if (c->family != a->family || memcmp(c->addr, a->addr, whole) != 0)
		return 0;
	return rest == 0 ||
	    ((c->addr[whole] ^ a->addr[whole]) & (0xff00 >> rest)) == 0;
}

/* --allow LIST: addresses, prefixes and "zt", comma-separated. */
static void
allow_add(const char *list)
{
	char *copy = strdup(list), *tok, *next;
	struct ztaddr z[64];
	struct cidr c;
	int n;

	if (!copy)
		die(EXIT_NET, errno, "strdup");
	/* Not strtok: it skips empty entries, and "--allow ''" would allow all. */
	for (tok = copy; tok; tok = next) {
		if ((next = strchr(tok, ',')))
			*next++ = '\0';
		if (strcmp(tok, "zt") == 0) {
			if ((n = zt_scan(z, 64)) == 0)
				die(EXIT_NET, 0, "--allow zt: no ZeroTier "
				    "interface found: %s", zt_hint_setup);
			for (int i = 0; i < n; i++)
				allow_push(&z[i].net);
		} else if (cidr_parse(tok, &c) == 0) {
			allow_push(&c);
		} else {
			usage_error("bad --allow entry: '%s'", tok);
		}
	}
	free(copy);
}

static void
allow_push(const struct cidr *c)
{
	struct cidr *a = realloc(opt.allow, (opt.nallow + 1) * sizeof(*a));

	if (!a)
		die(EXIT_NET, errno, "realloc");
	opt.allow = a;
	opt.allow[opt.nallow++] = *c;
}

/* May this peer in?  Everyone, unless --allow says otherwise. */
static int
allowed(const struct sockaddr *sa)
{
	struct cidr a;

	if (opt.nallow == 0)
		return 1;
	cidr_of(sa, &a);
	for (int i = 0; i < opt.nallow; i++)
		if (cidr_match(&opt.allow[i], &a))
			return 1;
	return 0;
}

/* ---- peers ---- */

static struct peer *
peer_add(int fd, const struct sockaddr *sa)
{
	struct peer *p = NULL;

	for (int i = 0; i < st.npeers && !p; i++)
		if (!st.peers[i].in.data)
			p = &st.peers[i];
	if (!p) {
		errno = EAGAIN;
		return NULL;
	}
	memset(p, 0, sizeof(*p));
	if (buf_init(&p->in, opt.keep ? LINEMIN : BUFSZ) < 0)
		return NULL;
	if (opt.chat && buf_init(&p->out, CHATQ) < 0) {
		free(p->in.data);
		p->in.data = NULL;
		return NULL;
	}
	p->fd = fd;
	p->serial = ++st.serials;
	p->sent = st.ring_base + buf_len(&st.ring);	/* no replay */
	p->moved_at = st.last_data = now_ms();
	addr_name(sa, p->name, sizeof(p->name));
	/* Its chat name is its address, until it sends "/name ...". */
	snprintf(p->nick, sizeof(p->nick), "%.*s",
	    (int)strcspn(p->name, " "), p->name);
	tune_socket(fd);
	st.nconn++;
	return p;
}

/*
 * Close our end.  Called on a normal end only once the peer has sent
 * FIN, so no unread input turns the close into a reset.
 */
static void
peer_close(struct peer *p)
{
	if (p->fd < 0)
		return;
	close(p->fd);
	p->fd = -1;
	st.nconn--;
	if (opt.chat)
		chat_notice(p->nick, "left");
}

static void
peer_free(struct peer *p)
{
	free(p->in.data);
	free(p->out.data);
	p->in.data = p->out.data = NULL;
}

/*
 * An error or a stuck peer: report it and let it go.  With -k only an
 * error is worth a line without -v; alone, a lost peer fails the session.
 */
static void
peer_drop(struct peer *p, int errnum, const char *why)
{
	if (errnum)
		say(errnum, "%s", p->name);
	else
		note("%s: %s", p->name, why);
	if (!opt.keep)
		st.status = EXIT_NET;
	p->rd_eof = p->wr_done = 1;
	peer_close(p);
}

/* It sent FIN: nothing more will come from it. */
static void
peer_eof(struct peer *p)
{
	p->rd_eof = 1;
	note("%s closed its side", p->name);
}

static void
peer_recv(struct peer *p)
{
	ssize_t n = buf_fill(&p->in, p->fd);

	if (n > 0) {
		st.nrecv += n;
		/* -k: room for a longer line, up to LINEMAX; lines of a
		 * few KiB keep hundreds of peers in little memory. */
		if (opt.keep && buf_room(&p->in) == 0 && p->in.cap < LINEMAX &&
		    !memchr(p->in.data + p->in.start, '\n', buf_len(&p->in)) &&
		    buf_grow(&p->in, LINEMAX) < 0)
			die(EXIT_NET, errno, "realloc");
	} else if (n == 0) {
		peer_eof(p);
	} else if (errno != EAGAIN && errno != EINTR) {
		peer_drop(p, errno, "receive");
	}
}

/* Send from the shared stdin ring, or in a chat from its own queue. */
static void
peer_send(struct peer *p)
{
	size_t off = p->sent - st.ring_base;
	ssize_t n;

	if (opt.chat)
		n = write(p->fd, p->out.data + p->out.start, buf_len(&p->out));
	else
		n = write(p->fd, st.ring.data + st.ring.start + off,
		    buf_len(&st.ring) - off);
	if (n > 0 && opt.chat) {
		p->out.start += n;
		st.nsent += n;
	} else if (n > 0) {
		p->sent += n;
		st.nsent += n;
		p->moved_at = now_ms();
	} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
		peer_drop(p, errno, "send");
	}
}

static int
peer_pending(const struct peer *p)
{
	if (p->fd < 0 || p->wr_done)
		return 0;
	if (opt.chat)
		return buf_len(&p->out) > 0;
	return p->sent < st.ring_base + buf_len(&st.ring);
}

static short
peer_want(const struct peer *p)
{
	short ev = 0;

	if (!p->rd_eof && !st.stopping && buf_room(&p->in) > 0 &&
	    !(st.splice_out && (st.ready & RD_PEER)))
		ev |= POLLIN;
	if (peer_pending(p) || (splice_up(p) && !(st.ready & WR_PEER)))
		ev |= POLLOUT;
	return ev;
}

static void
peer_events(struct peer *p, short revents)
{
	socklen_t sl = sizeof(int);
	int err = 0;

	if ((revents & POLLIN) || ((revents & (POLLERR | POLLHUP)) &&
	    (peer_want(p) & POLLIN))) {
		if (st.splice_out)
			st.ready |= RD_PEER;
		else
			peer_recv(p);
	}
	if (p->fd >= 0 && (revents & (POLLOUT | POLLERR | POLLHUP))) {
		if (peer_pending(p))
			peer_send(p);
		else if (splice_up(p))
			st.ready |= WR_PEER;
	}
	if (p->fd < 0 || !p->rd_eof || !(revents & (POLLERR | POLLHUP)) ||
	    peer_want(p))
		return;
	/* Idle after its FIN, yet poll says error or hangup: it is gone. */
	if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
		err = errno;
	if (err || !p->wr_done)
		peer_drop(p, err ? err : EPIPE, "connection");
}

/*
 * Which fd to poll for a peer.  A peer whose input buffer is full is
 * left out until stdout makes room: a hangup then must not be mistaken
 * for the end while its last bytes still wait in the socket.
 */
static int
peer_pollfd(const struct peer *p)
{
	if (!p->in.data || p->fd < 0)
		return -1;
	return (peer_want(p) || p->rd_eof) ? p->fd : -1;
}

/* ---- chat ---- */

/*
 * A chat line goes to everyone but its sender, with a name in front and
 * its control bytes made visible, so unlike the stdin broadcast of -k it
 * cannot be one shared ring with a cursor per peer: each peer gets its
 * own queue of finished lines (CHATQ), and one that overflows is dropped.
 */

/*
 * Length of the valid UTF-8 sequence at s (n bytes there), or 0 for
 * anything else: overlong forms, surrogates, past U+10FFFF, and the C1
 * controls, which some terminals obey.  Pure, for the fuzzer.
 */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned long cp;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	len = s[0] < 0xc2 ? 0 : s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 :
	    s[0] < 0xf5 ? 4 : 0;
	if (len == 0 || n < len)
		return 0;
	cp = s[0] & (0x7f >> len);
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < (len == 2 ? 0xa0 : len == 3 ? 0x800 : 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/*
 * Make a peer's text safe for a terminal: controls become visible as
 * ^X, invalid bytes U+FFFD, valid UTF-8 passes untouched.  out needs
 * room for 3 * len bytes.  Pure, for the fuzzer.
 */
static size_t
chat_clean(const char *in, size_t len, char *out)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, o = 0, n;

	while (i < len) {
		if ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f) {
			out[o++] = '^';
			out[o++] = s[i++] ^ 0x40;
		} else if ((n = utf8_len(s + i, len - i)) > 0) {
			memcpy(out + o, s + i, n);
			o += n;
			i += n;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	return o;
}

/* A chat name from text: cleaned, at most NICKMAX bytes of it. */
static void
nick_set(char *nick, const char *s, size_t len)
{
	if (len > 0)
		nick[chat_clean(s, len < NICKMAX ? len : NICKMAX, nick)] = '\0';
}

/*
 * A line for everyone but its sender (and for our stdout when a peer
 * said it).  A peer whose queue is full is not reading: it is marked
 * stuck, so one silent peer cannot hold up the rest.
 */
static void
chat_send(const char *msg, size_t len, const struct peer *from, int to_stdout)
{
	struct peer *q;

	if (to_stdout && buf_put(&st.chatq, msg, len) < 0)
		note("stdout is not keeping up, a chat line was not shown");
	for (int i = 0; i < st.npeers; i++) {
		q = &st.peers[i];
		if (q != from && q->in.data && q->fd >= 0 && !q->stuck &&
		    buf_put(&q->out, msg, len) < 0)
			q->stuck = 1;
	}
}

static void
chat_notice(const char *nick, const char *what)
{
	char msg[sizeof(st.nick) + 32];

	chat_send(msg, snprintf(msg, sizeof(msg), "* %s %s\n", nick, what),
	    NULL, 1);
}

/* One line from a peer (p) or from our stdin (NULL), to the others. */
static void
chat_line(struct peer *p, const char *line, size_t len)
{
	static char msg[sizeof(st.nick) + 8 + 3 * LINEMAX];
	char old[sizeof(st.nick)];
	size_t n;

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (p && len > 6 && memcmp(line, "/name ", 6) == 0) {
		memcpy(old, p->nick, sizeof(old));
		nick_set(p->nick, line + 6, len - 6);
		chat_send(msg, snprintf(msg, sizeof(msg), "* %s is now %s\n",
		    old, p->nick), NULL, 1);
		return;
	}
	n = snprintf(msg, sizeof(msg), "[%s] ", p ? p->nick : st.nick);
	n += chat_clean(line, len, msg + n);
	msg[n++] = '\n';
	chat_send(msg, n, p, p != NULL);
}

/* The first line queued in b, or its rest once final or max long; 0 if none. */
static size_t
line_first(const struct buf *b, int final, size_t max)
{
	size_t len = buf_len(b) < max ? buf_len(b) : max;
	const char *nl = memchr(b->data + b->start, '\n', len);

	if (nl)
		return nl - (b->data + b->start) + 1;
	return (final || len >= max) ? len : 0;
}

/* Move whole lines from peers and stdin into the chat, while stdout has room. */
static void
chat_relay(void)
{
	struct peer *p;
	size_t n;

	for (int i = 0; i < st.npeers; i++) {
		p = &st.peers[i];
		while (p->in.data && buf_room(&st.chatq) >= sizeof(st.nick) +
		    8 + 3 * LINEMAX && (n = line_first(&p->in,
		    p->rd_eof || p->fd < 0, LINEMAX)) > 0) {
			chat_line(p, p->in.data + p->in.start, n);
			p->in.start += n;
		}
	}
	while ((n = line_first(&st.ring, st.stdin_eof, LINEMAX)) > 0) {
		chat_line(NULL, st.ring.data + st.ring.start, n);
		st.ring.start += n;
	}
}

/* ---- the splice fast path ---- */

/*
 * One peer and pipes on our side: splice(2) moves bytes between the
 * pipe and the socket inside the kernel, with no copy through our
 * buffers.  It needs both ends ready at once, so the loop remembers
 * what poll() said (st.ready) and forgets it when splice says EAGAIN.
 */
static int
splice_up(const struct peer *p)
{
	return st.splice_in && p->in.data && p->fd >= 0 && !p->wr_done &&
	    !st.stdin_eof && !st.stopping && buf_len(&st.ring) == 0;
}

static int
splice_down(const struct peer *p)
{
	return st.splice_out && p->in.data && p->fd >= 0 && !p->rd_eof &&
	    !st.stopping;
}

/* Both ends of a direction ready: splice can move bytes now. */
static int
up_ready(const struct peer *p)
{
	return splice_up(p) && (st.ready & (RD_STDIN | WR_PEER)) ==
	    (RD_STDIN | WR_PEER);
}

static int
down_ready(const struct peer *p)
{
	return splice_down(p) && (st.ready & (RD_PEER | WR_STDOUT)) ==
	    (RD_PEER | WR_STDOUT);
}

static int
splice_ready(const struct peer *p)
{
	return up_ready(p) || down_ready(p);
}

#ifdef SPLICE_F_MOVE
/*
 * splice said EAGAIN: which end is not ready?  Bytes waiting at the
 * source mean the destination is full.  Knowing saves a poll() per
 * chunk, which short lines feel as latency.
 */
static int
splice_blocked(int src, int rd, int wr)
{
	int n = 0;

	if (ioctl(src, FIONREAD, &n) < 0)
		return rd | wr;	/* unknown: ask poll() about both */
	return n > 0 ? wr : rd;
}

/* A few rounds while both ends stay ready, then back to poll(). */
static void
splice_move(struct peer *p)
{
	ssize_t n;

	for (int round = 0; round < 8 && splice_ready(p); round++) {
		if (up_ready(p)) {
			n = splice(STDIN_FILENO, NULL, p->fd, NULL, PIPESZ,
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0)
				st.nsent += n;
			else if (n == 0)
				stdin_ended();
			else if (errno == EAGAIN)
				st.ready &= ~splice_blocked(STDIN_FILENO,
				    RD_STDIN, WR_PEER);
			else if (errno == EINVAL || errno == ENOSYS)
				st.splice_in = 0;	/* read/write will do */
			else if (errno != EINTR)
				peer_drop(p, errno, "send");
		}
		if (down_ready(p)) {
			n = splice(p->fd, NULL, STDOUT_FILENO, NULL, PIPESZ,
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				st.nrecv += n;
			} else if ((n == 0 || errno == EAGAIN) &&
			    sockatmark(p->fd) == 1) {
				/* An urgent byte (MSG_OOB) stops splice short
				 * of the data and FIN behind it for good;
				 * read() steps over it. */
				st.splice_out = 0;
			} else if (n == 0) {
				peer_eof(p);
			} else if (errno == EAGAIN) {
				st.ready &= ~splice_blocked(p->fd, RD_PEER,
				    WR_STDOUT);
			} else if (errno == EINVAL || errno == ENOSYS) {
				st.splice_out = 0;
			} else if (errno == EPIPE) {
				stdout_fail(EPIPE);	/* the reader left */
			} else if (errno != EINTR) {
				peer_drop(p, errno, "receive");
			}
		}
	}
}
#else
static void
splice_move(struct peer *p)
{
	(void)p;
	st.splice_in = st.splice_out = 0;
}
#endif

/* Use splice for fd when it is a pipe, made large so each call moves more. */
static int
splice_fd(int fd)
{
#ifdef SPLICE_F_MOVE
	struct stat sb;

	if (opt.keep || fstat(fd, &sb) < 0 || !S_ISFIFO(sb.st_mode))
		return 0;
#ifdef F_SETPIPE_SZ
	(void)fcntl(fd, F_SETPIPE_SZ, PIPESZ);
#endif
	return 1;
#else
	(void)fd;
	return 0;
#endif
}

/* ---- the copy loop ---- */

/* Which peer's bytes go to stdout next, and how many. */
static struct peer *
next_chunk(size_t *len)
{
	struct peer *p;
	size_t n;

	if (st.owner) {
		*len = st.owed;
		return st.owner;
	}
	for (int i = 0; i < st.npeers; i++) {
		p = &st.peers[(st.rr + i) % st.npeers];
		if (!p->in.data || buf_len(&p->in) == 0)
			continue;
		if (!opt.keep) {
			*len = buf_len(&p->in);
			return p;
		}
		n = line_span(p->in.data + p->in.start, buf_len(&p->in),
		    p->rd_eof || p->fd < 0 || st.stopping, LINEMAX);
		if (n == 0)
			continue;
		if (n >= LINEMAX && !p->warned_long) {
			note("%s: line longer than %d KiB, passed on in pieces",
			    p->name, LINEMAX / 1024);
			p->warned_long = 1;
		}
		st.rr = (st.rr + i + 1) % st.npeers;
		st.owner = p;
		st.owed = n;
		/* A half line from someone else is on stdout: end it first. */
		if (st.midline && st.last_serial != p->serial)
			st.nl_owed = 1;
		*len = n;
		return p;
	}
	return NULL;
}

static void
stdout_fail(int errnum)
{
	/* A reader that left (EPIPE) is an ordinary end of a pipeline. */
	if (errnum == EPIPE)
		exit(EXIT_NET);
	die(EXIT_NET, errnum, "write to stdout");
}

static void
stdout_write(void)
{
	struct peer *p = NULL;
	const char *data;
	size_t len;
	ssize_t n;

	if (st.nl_owed) {
		data = "\n";
		len = 1;
	} else if (opt.chat) {
		data = st.chatq.data + st.chatq.start;
		len = buf_len(&st.chatq);
	} else if ((p = next_chunk(&len)) && !st.nl_owed) {
		data = p->in.data + p->in.start;
	} else {
		return;	/* nothing, or next_chunk() just owed a newline */
	}
	if ((n = write(STDOUT_FILENO, data, len)) < 0) {
		if (errno != EAGAIN && errno != EINTR)
			stdout_fail(errno);
		return;
	}
	if (st.nl_owed) {
		st.nl_owed = st.midline = 0;
	} else if (opt.chat) {
		st.chatq.start += n;
	} else {
		if (n > 0)
			st.midline = data[n - 1] != '\n';
		p->in.start += n;
		st.last_serial = p->serial;
		if (st.owner && (st.owed -= n) == 0)
			st.owner = NULL;
	}
}

/* Is anything waiting for stdout? */
static int
stdout_pending(void)
{
	size_t len;

	if (opt.chat)
		return buf_len(&st.chatq) > 0;
	return st.nl_owed || next_chunk(&len) != NULL;
}

static void
stdin_ended(void)
{
	st.stdin_eof = 1;
	note(opt.chat ? "stdin closed; the chat goes on" :
	    "stdin closed, sending EOF after the buffered data");
}

static void
stdin_read(void)
{
	ssize_t n;

	if (st.splice_in) {
		st.ready |= RD_STDIN;
		return;
	}
	n = buf_fill(&st.ring, STDIN_FILENO);
	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
		return;
	if (n < 0)
		die(EXIT_NET, errno, "read from stdin");
	stdin_ended();
}

static void
accept_peer(void)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char name[NAMESZ];
	struct peer *p;
	int fd;

	fd = accept(st.lfd, (struct sockaddr *)&ss, &sl);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			/* Out of fds: the caller waits in the backlog a while. */
			note("accept: %s; trying again shortly", strerror(errno));
			st.accept_at = now_ms() + 100;
		} else if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			say(errno, "accept");
		return;
	}
	addr_name((struct sockaddr *)&ss, name, sizeof(name));
	if (!allowed((struct sockaddr *)&ss)) {
		/* Closed before a byte moves either way. */
		note("refused %s: not in --allow", name);
		close(fd);
		return;
	}
	if (st.nconn >= opt.maxconns) {
		note("refused %s: %d peers already", name, st.nconn);
		close(fd);
		return;
	}
	/* Out of memory, or every slot still draining a closed peer's output. */
	if (set_nonblock(fd, NULL) < 0 ||
	    !(p = peer_add(fd, (struct sockaddr *)&ss))) {
		say(errno, "refused %s", name);
		close(fd);
		return;
	}
	note("connection from %s", p->name);
	if (opt.chat)
		chat_notice(p->nick, "joined");
	if (!opt.keep) {
		/* One peer: later callers are refused, not left waiting. */
		close(st.lfd);
		st.lfd = -1;
	}
}

/* -k: when to look for stuck peers next (0: nothing to watch). */
static long long
stuck_check(long long now)
{
	long long next = 0;
	struct peer *p;

	if (!opt.keep || opt.chat || buf_room(&st.ring) > 0 || st.stdin_eof)
		return 0;
	/* stdin waits on the peers behind: one that stopped reading goes. */
	for (int i = 0; i < st.npeers; i++) {
		p = &st.peers[i];
		if (!p->in.data || !peer_pending(p))
			continue;
		if (now - p->moved_at >= STUCK_MS)
			peer_drop(p, 0, "not reading for 1.5 s, dropped");
		else if (!next || p->moved_at + STUCK_MS < next)
			next = p->moved_at + STUCK_MS;
	}
	return next;
}

/* After each poll round: relay, half-close, close, free, compact the ring. */
static void
settle(void)
{
	unsigned long long end = st.ring_base + buf_len(&st.ring);
	unsigned long long low = end;
	long long now = now_ms();
	struct peer *p;

	if (opt.chat)
		chat_relay();
	st.stuck_at = stuck_check(now);	/* before the ring is compacted */
	for (int i = 0; i < st.npeers; i++) {
		p = &st.peers[i];
		if (!p->in.data)
			continue;
		if (p->stuck)
			peer_drop(p, 0, "not reading, dropped");
		if (p->fd >= 0 && !p->wr_done && st.stdin_eof && !opt.chat &&
		    p->sent == end) {
			/* All of stdin delivered: tell the peer with FIN. */
			if (shutdown(p->fd, SHUT_WR) < 0 && errno != ENOTCONN)
				say(errno, "shutdown %s", p->name);
			p->wr_done = 1;
		}
		if (p->fd >= 0 && p->rd_eof && (p->wr_done || opt.nostdin ||
		    st.stdin_tty || opt.chat))
			peer_close(p);
		if (p->fd < 0 && buf_len(&p->in) == 0 && st.owner != p) {
			peer_free(p);
			continue;
		}
		if (!peer_pending(p))
			p->moved_at = now;	/* idle is not stuck */
		else if (p->sent < low)
			low = p->sent;
	}
	if (!opt.chat) {
		/* Bytes every peer has sent are free again. */
		st.ring.start += low - st.ring_base;
		st.ring_base = low;
	}
	if (st.ring.start == st.ring.end)
		st.ring.start = st.ring.end = 0;
}

/* One-peer mode ends when its peer is gone and its bytes are out. */
static int
finished(void)
{
	if (opt.keep)
		return 0;
	return st.serials > 0 && !st.peers[0].in.data;
}

static int
want_stdin(void)
{
	if (opt.nostdin || st.stdin_eof || st.stopping)
		return 0;
	if (st.splice_in ? (st.ready & RD_STDIN) : buf_room(&st.ring) == 0)
		return 0;
	return opt.keep || st.nconn > 0;
}

static void
on_signal(int sig)
{
	int e = errno;

	got_signal = sig;
	(void)!write(sigpipe[1], "", 1);
	errno = e;
}

static void
restore_flags(void)
{
	/* Reverse order: when stdin and stdout share one open file, the
	 * flags saved for stdout already had stdin's O_NONBLOCK. */
	if (st.flags[1] >= 0)
		(void)fcntl(STDOUT_FILENO, F_SETFL, st.flags[1]);
	if (st.flags[0] >= 0)
		(void)fcntl(STDIN_FILENO, F_SETFL, st.flags[0]);
}

static void
setup_signals(void)
{
	struct sigaction sa;

	/* A vanished peer is an error from write(), not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	if (pipe(sigpipe) < 0 || set_nonblock(sigpipe[0], NULL) < 0 ||
	    set_nonblock(sigpipe[1], NULL) < 0)
		die(EXIT_NET, errno, "pipe");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* ms until the nearest timer: -w or the stop, stuck peers, accept, -P, -i. */
static int
poll_timeout(long long now)
{
	long long t[] = { st.deadline, st.stuck_at, st.accept_at,
	    opt.progress ? st.progress_at : 0,
	    opt.idle_ms && st.serials ? st.last_data + opt.idle_ms : 0 };
	long long next = 0;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i] > 0 && (!next || t[i] < next))
			next = t[i];
	if (!next)
		return -1;
	return next <= now ? 0 : next - now > INT_MAX ? INT_MAX :
	    (int)(next - now);
}

static void
run(void)
{
	struct pollfd *pfd;
	struct peer *p;
	int n, nsig, timeout, nslots;
	long long now;
	char drain[64];

	if (!(pfd = calloc(SLOT_PEER + st.npeers, sizeof(*pfd))))
		die(EXIT_NET, errno, "calloc");
	while (!finished()) {
		now = now_ms();
		if (st.stopping && (!stdout_pending() || now >= st.deadline))
			break;
		if (!st.stopping && st.deadline && st.serials == 0 &&
		    now >= st.deadline)
			die(EXIT_NET, 0, "no connection within %d s",
			    opt.wait_ms / 1000);
		if (st.accept_at && now >= st.accept_at)
			st.accept_at = 0;
		if (opt.progress && now >= st.progress_at)
			progress_draw(0);
		/* Waiting for our own stdout is not the peer being idle. */
		if (st.nsent + st.nrecv != st.moved || stdout_pending() ||
		    (splice_down(&st.peers[0]) && (st.ready & RD_PEER))) {
			st.moved = st.nsent + st.nrecv;
			st.last_data = now;
		}
		if (opt.idle_ms && st.serials && !st.stopping &&
		    now - st.last_data >= opt.idle_ms) {
			note("no data for %d s, ending", opt.idle_ms / 1000);
			break;
		}
		timeout = splice_ready(&st.peers[0]) ? 0 : poll_timeout(now);

		/* Events come from state each round; nothing to drift. */
		pfd[SLOT_SIGNAL] = (struct pollfd){ sigpipe[0], POLLIN, 0 };
		pfd[SLOT_STDIN] = (struct pollfd){ want_stdin() ? 0 : -1,
		    POLLIN, 0 };
		/* Polled even when idle: a pipe reader that left shows POLLERR. */
		pfd[SLOT_STDOUT] = (struct pollfd){ STDOUT_FILENO,
		    (short)(stdout_pending() || (splice_down(&st.peers[0]) &&
		    !(st.ready & WR_STDOUT)) ? POLLOUT : 0), 0 };
		pfd[SLOT_LISTEN] = (struct pollfd){
		    st.stopping || st.accept_at ? -1 : st.lfd, POLLIN, 0 };
		/* Only up to the last slot in use: poll() refuses more
		 * entries than RLIMIT_NOFILE allows. */
		nslots = SLOT_PEER;
		for (int i = 0; i < st.npeers; i++) {
			p = &st.peers[i];
			pfd[SLOT_PEER + i] = (struct pollfd){ peer_pollfd(p),
			    peer_want(p), 0 };
			if (p->in.data)
				nslots = SLOT_PEER + i + 1;
		}
		n = poll(pfd, nslots, timeout);
		if (n < 0) {
			if (errno != EINTR)
				die(EXIT_NET, errno, "poll");
			continue;
		}

		if (pfd[SLOT_SIGNAL].revents) {
			nsig = 0;
			while ((n = read(sigpipe[0], drain, sizeof(drain))) > 0)
				nsig += n;
			if (st.stopping || nsig > 1)
				break;	/* a second signal: leave now */
			st.stopping = 1;
			st.status = opt.keep ? 0 : EXIT_NET;
			st.deadline = now + STOP_MS;
			note("signal %d, stopping", (int)got_signal);
		}
		if (pfd[SLOT_STDIN].revents)
			stdin_read();
		for (int i = 0; i < nslots - SLOT_PEER; i++)
			if (pfd[SLOT_PEER + i].revents && st.peers[i].fd >= 0)
				peer_events(&st.peers[i],
				    pfd[SLOT_PEER + i].revents);
		if (pfd[SLOT_STDOUT].revents & (POLLERR | POLLHUP | POLLNVAL))
			stdout_fail(EPIPE);
		if ((pfd[SLOT_STDOUT].revents & POLLOUT) && stdout_pending())
			stdout_write();
		else if (pfd[SLOT_STDOUT].revents & POLLOUT)
			st.ready |= WR_STDOUT;
		if (st.splice_in || st.splice_out)
			splice_move(&st.peers[0]);
		if (pfd[SLOT_LISTEN].revents)
			accept_peer();
		if (st.serials > 0 && !st.stopping)
			st.deadline = 0;	/* -w covers waiting only */
		settle();
	}
	free(pfd);
}

/* ---- progress ---- */

/* 12345678 -> "11.8 MiB" */
static void
human(double v, char *out, size_t outsz)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;

	for (; v >= 1024 && u < 4; u++)
		v /= 1024;
	snprintf(out, outsz, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

/*
 * -P: one line on stderr, redrawn in place (\r) a few times a second;
 * the last one ends with a newline and stays as the summary.
 */
static void
progress_draw(int final)
{
	double secs = (now_ms() - st.t0) / 1000.0;
	char line[256], s[16], sr[16], r[16], rr[16], pct[48] = "";
	int n;

	if (!opt.progress)
		return;
	secs = secs > 0.001 ? secs : 0.001;
	human(st.nsent, s, sizeof(s));
	human(st.nsent / secs, sr, sizeof(sr));
	human(st.nrecv, r, sizeof(r));
	human(st.nrecv / secs, rr, sizeof(rr));
	if (st.total > 0 && st.nsent > 0) {
		long long eta = (long long)((st.total - (double)st.nsent) /
		    (st.nsent / secs));
		snprintf(pct, sizeof(pct), " %d%% ETA %lld:%02lld",
		    (int)(100.0 * st.nsent / st.total), eta / 60, eta % 60);
	}
	n = snprintf(line, sizeof(line), "\rsent %s (%s/s)%s, received %s "
	    "(%s/s), %d:%02d", s, sr, pct, r, rr, (int)secs / 60,
	    (int)secs % 60);
	/* Blank out what a longer earlier line left behind. */
	while (n < st.drawn + 1 && n < (int)sizeof(line) - 2)
		line[n++] = ' ';
	st.drawn = n - 1;
	if (final)
		line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
	st.progress_at = now_ms() + 250;
}

/* ---- command line ---- */

static void
usage(FILE *f)
{
	fprintf(f,
"usage: ztpipe [-46dPvz] [-i secs] [-R secs] [-s source] [-w secs] [--name name]\n"
"              [host [port]]\n"
"       ztpipe --addrs | --resolve [-46] [--network nwid] [--6plane] host\n"
"       ztpipe -l [-46dkPv] [-i secs] [-m max] [-w secs] [--allow list]\n"
"              [address] [port]\n"
"       ztpipe -l --chat [-46v] [-m max] [--name name] [address] [port]\n"
"\n"
"Copy stdin to a TCP peer and the peer to stdout.  port defaults to %s.\n"
"host may be a ZeroTier node ID (10 hex digits).\n"
"\n"
"  -4, --ipv4            use IPv4 only\n"
"  -6, --ipv6            use IPv6 only\n"
"      --6plane          dial node IDs at their 6PLANE address\n"
"      --addrs           list this host's ZeroTier interfaces and addresses\n"
"      --allow LIST      with -l: accept only these addresses, prefixes\n"
"                        (10.147.17.0/24, fd00::/8) or zt (ZeroTier subnets)\n"
"      --chat            with -l: a group chat; lines go to everyone,\n"
"                        prefixed with the sender's name\n"
"  -d, --no-stdin        do not read stdin and do not half-close\n"
"  -h, --help            show this help and exit\n"
"  -i, --idle SECS       end the session after SECS without data (status 0)\n"
"  -k, --keep-open       with -l: serve many peers, merge whole lines\n"
"  -l, --listen          wait for a peer instead of dialling one\n"
"  -m, --max-conns N     with -k: at most N peers at once (default %d)\n"
"      --name NAME       your name in a chat (default: the address,\n"
"                        or the host name for the --chat listener)\n"
"      --network NWID    the ZeroTier network for node IDs (16 hex digits)\n"
"  -P, --progress[=always]  show progress on stderr (if a terminal, unless\n"
"                        always)\n"
"  -R, --retry SECS      keep trying to connect for up to SECS\n"
"      --resolve         print the addresses host would be dialled at\n"
"  -s, --source ADDR     dial from this local address\n"
"  -v, --verbose         say what happens on stderr, and a summary\n"
"  -V, --version         print the version and exit\n"
"  -w, --wait SECS       give up connecting (or waiting for a peer)\n"
"                        after SECS\n"
"  -z, --probe           only check that something listens (port may be\n"
"                        a range, 8000-8010)\n",
	    DEFAULT_PORT, MAXCONNS);
}

static void
usage_error(const char *fmt, const char *arg)
{
	say(0, fmt, arg);
	fprintf(stderr, "Try 'ztpipe --help'.\n");
	exit(EXIT_USAGE);
}

/* "8000-8010" (or one port) into lo and hi; -1 if not a range.  Pure. */
static int
parse_range(const char *s, int *lo, int *hi)
{
	char a[8];
	const char *dash = strchr(s, '-');

	if (!dash || dash == s || (size_t)(dash - s) >= sizeof(a))
		return -1;
	memcpy(a, s, dash - s);
	a[dash - s] = '\0';
	if (!is_number(a) || !is_number(dash + 1) ||
	    (*lo = parse_port(a, 0)) < 0 || (*hi = parse_port(dash + 1, 0)) < 0 ||
	    *lo > *hi)
		return -1;
	return 0;
}

/*
 * No host, and a person at the keyboard: ask, as the chat scripts this
 * replaces did.  "address [port]"; an address may be a node ID.
 */
static void
prompt_host(void)
{
	static char line[NI_MAXHOST + 16];
	uint64_t nwids[8];
	char *host, *port;
	size_t len = 0;
	ssize_t n;
	int nnets = zt_networks(nwids, 8);

	for (int i = 0; i < nnets; i++)
		say(0, "you are on ZeroTier network %016" PRIx64 "; give an "
		    "address or a 10-digit node ID", nwids[i]);
	(void)!write(STDERR_FILENO, "peer address: ", 14);
	while (len < sizeof(line) - 1 &&
	    (n = read(STDIN_FILENO, line + len, 1)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || line[len] == '\n')
			break;
		len++;
	}
	line[len] = '\0';
	host = strtok(line, " \t\r");
	port = host ? strtok(NULL, " \t\r") : NULL;
	if (!host)
		usage_error("%s", "no host to connect to");
	opt.host = host;
	opt.port = port;
}

/* A whole number in [lo, hi], or a usage error naming the option. */
static long
number_arg(const char *s, long lo, long hi, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		usage_error(what, s);
	return v;
}

static void
parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ipv4", no_argument, NULL, '4' },
		{ "ipv6", no_argument, NULL, '6' },
		{ "no-stdin", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "6plane", no_argument, NULL, OPT_6PLANE },
		{ "addrs", no_argument, NULL, OPT_ADDRS },
		{ "allow", required_argument, NULL, OPT_ALLOW },
		{ "chat", no_argument, NULL, OPT_CHAT },
		{ "idle", required_argument, NULL, 'i' },
		{ "probe", no_argument, NULL, 'z' },
		{ "progress", optional_argument, NULL, 'P' },
		{ "retry", required_argument, NULL, 'R' },
		{ "keep-open", no_argument, NULL, 'k' },
		{ "listen", no_argument, NULL, 'l' },
		{ "max-conns", required_argument, NULL, 'm' },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "network", required_argument, NULL, OPT_NETWORK },
		{ "resolve", no_argument, NULL, OPT_RESOLVE },
		{ "source", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "wait", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	char flag[3] = "-?";
	/* Only the last word can lack its value; save it now, as musl's
	 * getopt_long then moves argv's NULL into argv[optind - 1]. */
	const char *last = argc > 0 ? argv[argc - 1] : "";
	int c;

	opt.family = AF_UNSPEC;
	opt.wait_ms = -1;
	opt.maxconns = MAXCONNS;
	opterr = 0;	/* our own one-line messages, named "ztpipe:" */
	while ((c = getopt_long(argc, argv, ":46dhi:klm:PR:s:vVw:z", longopts,
	    NULL)) != -1) {
		switch (c) {
		case '4': opt.family = AF_INET; break;
		case '6': opt.family = AF_INET6; break;
		case 'd': opt.nostdin = 1; break;
		case 'h': usage(stdout); exit(0);
		case OPT_ADDRS: opt.addrs = 1; break;
		case OPT_ALLOW: allow_add(optarg); break;
		case OPT_CHAT: opt.chat = opt.keep = 1; break;
		case OPT_NETWORK: opt.network = optarg; break;
		case OPT_6PLANE: opt.sixplane = 1; break;
		case OPT_RESOLVE: opt.resolve = 1; break;
		case 'i':
			opt.idle_ms = number_arg(optarg, 1, INT_MAX / 1000,
			    "bad idle time: %s") * 1000;
			break;
		case 'P':
			if (!optarg || strcmp(optarg, "auto") == 0)
				opt.progress = isatty(STDERR_FILENO);
			else if (strcmp(optarg, "always") == 0)
				opt.progress = 1;
			else
				usage_error("bad --progress: %s (auto or "
				    "always)", optarg);
			break;
		case 'R':
			opt.retry_ms = number_arg(optarg, 1, INT_MAX / 1000,
			    "bad retry time: %s") * 1000;
			break;
		case 'z': opt.probe = 1; break;
		case 'k': opt.keep = 1; break;
		case 'l': opt.listen = 1; break;
		case 'm':
			opt.maxconns = number_arg(optarg, 1, 1000000,
			    "bad connection limit: %s");
			break;
		case OPT_NAME: opt.name = optarg; break;
		case 's': opt.source = optarg; break;
		case 'v': opt.verbose = 1; break;
		case 'V': printf("ztpipe %s\n", VERSION); exit(0);
		case 'w':
			opt.wait_ms = number_arg(optarg, 1, INT_MAX / 1000,
			    "bad wait: %s") * 1000;
			break;
		case ':':
			usage_error("%s needs a value", last);
		default:
			flag[1] = (char)optopt;
			usage_error("unknown option: %s",
			    optopt ? flag : argv[optind - 1]);
		}
	}
	argc -= optind;
	argv += optind;
	if (opt.addrs) {
		if (argc > 0)
			usage_error("--addrs takes no arguments: %s", argv[0]);
		return;
	}
	if (opt.nallow && !opt.listen)
		usage_error("%s is for listeners, with -l", "--allow");
	if (opt.keep && !opt.listen)
		usage_error("%s needs -l", opt.chat ? "--chat" : "-k");
	if (opt.name && !*opt.name)
		usage_error("%s", "empty --name");
	if (opt.listen && opt.source)
		usage_error("%s is for dialling, not with -l", "-s");
	if (argc > 2)
		usage_error("too many arguments: %s", argv[2]);
	if (opt.listen) {
		/* "-l 9000" is a port; "-l ::1" an address. */
		if (argc == 1 && is_number(argv[0]))
			opt.port = argv[0];
		else if (argc >= 1)
			opt.host = argv[0];
		if (argc == 2)
			opt.port = argv[1];
	} else if (argc < 1 && isatty(STDIN_FILENO) && !opt.resolve &&
	    !opt.probe) {
		prompt_host();
	} else {
		if (argc < 1)
			usage_error("%s", "no host to connect to");
		opt.host = argv[0];
		if (argc == 2)
			opt.port = argv[1];
	}
	if (opt.probe && opt.listen)
		usage_error("%s is for dialling, not with -l", "-z");
	if (!opt.port)
		opt.port = DEFAULT_PORT;
	if (opt.probe && parse_range(opt.port, &opt.port_lo, &opt.port_hi) == 0)
		return;
	if ((opt.port_lo = parse_port(opt.port, opt.listen)) < 0)
		usage_error("bad port: %s", opt.port);
	opt.port_hi = opt.port_lo;
}

/*
 * fds 0-2 must be open, or a socket could become "stdout".  A closed
 * stdout becomes a read-only /dev/null, so writes to it still fail.
 */
static void
guard_std_fds(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
		    open("/dev/null", fd == 2 ? O_WRONLY : O_RDONLY) != fd)
			exit(EXIT_NET);
}

static void
summary(void)
{
	note("sent %llu bytes, received %llu bytes in %.2f s", st.nsent,
	    st.nrecv, (now_ms() - st.t0) / 1000.0);
}

#ifndef ZTPIPE_FUZZ	/* test/fuzz.c includes this file and brings its own main */
/* -P: what is left to read of a regular file on stdin; -1 if unknown. */
static long long
stdin_size(void)
{
	struct stat sb;
	off_t at;

	if (opt.nostdin || fstat(STDIN_FILENO, &sb) < 0 ||
	    !S_ISREG(sb.st_mode) || (at = lseek(STDIN_FILENO, 0, SEEK_CUR)) < 0)
		return -1;
	return sb.st_size - at;
}

/* ztpipe --resolve HOST: where dial() would go, one address a line. */
static int
resolve_print(void)
{
	struct addrinfo *res = resolve(zt_node_host(opt.host), opt.port, 0), *ai;
	char host[NI_MAXHOST];

	for (ai = res; ai; ai = ai->ai_next)
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host),
		    NULL, 0, NI_NUMERICHOST) == 0)
			printf("%s\n", host);
	freeaddrinfo(res);
	return 0;
}

/* Tables, buffers and limits for the session the options ask for. */
static void
session_init(void)
{
	struct rlimit rl;
	char host[256];

	st.t0 = now_ms();
	st.lfd = -1;
	st.flags[0] = st.flags[1] = -1;
	st.stdin_tty = isatty(STDIN_FILENO);
	st.npeers = opt.keep ? opt.maxconns : 1;
	if (!(st.peers = calloc(st.npeers, sizeof(*st.peers))) ||
	    buf_init(&st.ring, BUFSZ) < 0 ||
	    (opt.chat && buf_init(&st.chatq, 2 * CHATQ) < 0))
		die(EXIT_NET, errno, "malloc");
	/* Many peers need many fds: raise the soft limit as far as allowed. */
	if (opt.keep && getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < (rlim_t)opt.maxconns + FD_SPARE) {
		rl.rlim_cur = (rlim_t)opt.maxconns + FD_SPARE;
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
			rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (opt.name)
		nick_set(st.nick, opt.name, strlen(opt.name));
	else if (gethostname(host, sizeof(host)) == 0)
		nick_set(st.nick, host, strnlen(host, sizeof(host)));
}

static void
start_dialling(void)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char line[NICKMAX * 3 + 8];
	int fd = dial(opt.host, opt.port);

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		die(EXIT_NET, errno, "getpeername");
	if (!peer_add(fd, (struct sockaddr *)&ss))
		die(EXIT_NET, errno, "malloc");
	/* A chat server learns our name from the first line. */
	if (opt.name)
		buf_put(&st.ring, line, snprintf(line, sizeof(line),
		    "/name %s\n", st.nick));
}

int
main(int argc, char **argv)
{
	guard_std_fds();
	parse_args(argc, argv);
	if (opt.addrs)
		return zt_print_addrs();
	if (opt.resolve)
		return resolve_print();
	if (opt.probe)
		return probe(opt.host, opt.port_lo, opt.port_hi);
	session_init();
	if (opt.listen) {
		st.lfd = listen_on(opt.host, opt.port);
		if (opt.wait_ms > 0)
			st.deadline = st.t0 + opt.wait_ms;
	} else {
		start_dialling();
	}
	setup_signals();
	/* Nonblocking stdio, but never on a terminal the shell shares. */
	atexit(restore_flags);
	if (!st.stdin_tty)
		(void)set_nonblock(STDIN_FILENO, &st.flags[0]);
	if (!isatty(STDOUT_FILENO))
		(void)set_nonblock(STDOUT_FILENO, &st.flags[1]);
	st.splice_in = !opt.nostdin && splice_fd(STDIN_FILENO);
	st.splice_out = splice_fd(STDOUT_FILENO);
	st.total = stdin_size();
	run();
	progress_draw(1);
	summary();
	return st.status;
}
#endif
