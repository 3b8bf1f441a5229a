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
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_PORT	"12345"	/* the port the ZeroTier chat scripts used */
#define BUFSZ		(256 * 1024)	/* one direction's buffer, one-peer mode */
#define LINEMAX		(64 * 1024)	/* per-peer line buffer with -k */
#define STUCK_MS	1500	/* -k: a peer this long without progress is stuck */
#define STOP_MS		2000	/* after a signal, how long we try to flush */
#define MAXCONNS	100	/* -k default, as ncat */
#define NAMESZ		(NI_MAXHOST + NI_MAXSERV + 8)	/* "addr port N" */
#define NICKMAX		32	/* --chat: longest display name, in bytes */
#define CHATQ		(256 * 1024)	/* --chat: lines queued for one reader */
#define FD_SPARE	16	/* fds beyond the peers: stdio, listener, ... */
#define PIPESZ		(1024 * 1024)	/* pipe size asked for the splice path */

/* Exit status: 0 success, 1 network or runtime error, 2 usage error. */
enum { EXIT_NET = 1, EXIT_USAGE = 2 };

/* What poll() said is ready, remembered for splice(), which needs both ends. */
enum { RD_STDIN = 1, WR_PEER = 2, RD_PEER = 4, WR_STDOUT = 8 };

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
	long long progress;	/* ms when it last took data or was idle */
	int rd_eof;		/* it sent FIN */
	int wr_done;		/* we sent FIN (or never will write again) */
	int warned_long;	/* -v: said once that its lines are too long */
	int stuck;		/* --chat: its queue overflowed; drop it */
	struct buf out;		/* --chat: lines queued for it */
	char nick[NICKMAX * 3 + 1];	/* --chat: shown as [nick] */
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
} st;

static volatile sig_atomic_t got_signal;
static int sigpipe[2] = { -1, -1 };	/* self-pipe: wakes poll on a signal */

static void say(int errnum, const char *fmt, ...);
static void die(int status, int errnum, const char *fmt, ...);
static void note(const char *fmt, ...);
static long long now_ms(void);
static int buf_init(struct buf *b, size_t cap);
static size_t buf_len(const struct buf *b);
static size_t buf_room(const struct buf *b);
static ssize_t buf_fill(struct buf *b, int fd);
static size_t line_span(const char *p, size_t len, int final, size_t cap);
static size_t utf8_len(const unsigned char *s, size_t n);
static size_t chat_clean(const char *in, size_t len, char *out);
static int parse_port(const char *s, int allow_zero);
static int is_number(const char *s);
static void addr_name(const struct sockaddr *sa, char *out, size_t outsz);
static int listen_on(const char *host, const char *port);
static int dial(const char *host, const char *port);
static struct peer *peer_add(int fd, const struct sockaddr *sa);
static void peer_close(struct peer *p);
static void chat_notice(const char *nick, const char *what);
static void peer_drop(struct peer *p, int errnum, const char *why);
static void peer_recv(struct peer *p);
static void peer_send(struct peer *p);
static void peer_events(struct peer *p, short revents);
static struct peer *next_chunk(size_t *len);
static void stdout_write(void);
static int splice_up(const struct peer *p);
static int splice_down(const struct peer *p);
static int splice_ready(const struct peer *p);
static void splice_move(struct peer *p);
static void stdout_fail(int errnum);
static void stdin_ended(void);
static void stdin_read(void);
static void accept_peer(void);
static void settle(void);
static int finished(void);
static void run(void);
static void usage(FILE *f);
static void parse_args(int argc, char **argv);

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

/* Read what fits; slide queued bytes to the front when the tail is full. */
static ssize_t
buf_fill(struct buf *b, int fd)
{
	ssize_t n;

	if (b->end == b->cap && b->start > 0) {
		memmove(b->data, b->data + b->start, buf_len(b));
		b->end -= b->start;
		b->start = 0;
	}
	n = read(fd, b->data + b->end, b->cap - b->end);
	if (n > 0)
		b->end += n;
	return n;
}

/* Append len bytes if they fit (sliding to the front if needed); -1 if not. */
static int
buf_put(struct buf *b, const char *p, size_t len)
{
	if (buf_room(b) < len)
		return -1;
	if (b->cap - b->end < len) {
		memmove(b->data, b->data + b->start, buf_len(b));
		b->end -= b->start;
		b->start = 0;
	}
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

/* "10.1.2.3 port 40000"; IPv4-mapped IPv6 shown as plain IPv4. */
static void
addr_name(const struct sockaddr *sa, char *out, size_t outsz)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];
	struct sockaddr_in sin;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	socklen_t len = sizeof(struct sockaddr_in6);

	if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = s6->sin6_port;
		memcpy(&sin.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
		sa = (struct sockaddr *)&sin;
	}
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
			addr_name(ai->ai_addr, name, sizeof(name));
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
	int e, rc = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if ((e = getaddrinfo(opt.source, NULL, &hints, &res)) != 0) {
		errno = EADDRNOTAVAIL;
		return -1;
	}
	for (ai = res; ai && rc < 0; ai = ai->ai_next)
		rc = bind(fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(res);
	return rc;
}

/* Connect to the first address of host that answers; the last error wins. */
static int
dial(const char *host, const char *port)
{
	struct addrinfo *res, *ai;
	char name[NAMESZ];
	socklen_t sl;
	int fd = -1, err = 0;

	res = resolve(host, port, 0);
	for (ai = res; ai; ai = ai->ai_next) {
		addr_name(ai->ai_addr, name, sizeof(name));
		if ((fd = socket(ai->ai_family, ai->ai_socktype, 0)) < 0) {
			err = errno;
			continue;
		}
		if (opt.source && bind_source(fd, ai->ai_family) < 0) {
			say(errno, "bind to %s", opt.source);
			err = -1;
			goto next;
		}
		if (set_nonblock(fd, NULL) < 0)
			die(EXIT_NET, errno, "fcntl");
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS && wait_writable(fd, opt.wait_ms) == 0) {
			sl = sizeof(err);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
				err = errno;
			if (err == 0)
				break;
			errno = err;
		}
		err = errno;
		say(err, "connect to %s", name);
next:
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		exit(EXIT_NET);
	note("connected to %s", name);
	return fd;
}

/* ---- peers ---- */

static struct peer *
peer_add(int fd, const struct sockaddr *sa)
{
	struct peer *p = NULL;

	for (int i = 0; i < st.npeers && !p; i++)
		if (!st.peers[i].in.data)
			p = &st.peers[i];
	if (!p)
		return NULL;
	memset(p, 0, sizeof(*p));
	if (buf_init(&p->in, opt.keep ? LINEMAX : BUFSZ) < 0)
		return NULL;
	if (opt.chat && buf_init(&p->out, CHATQ) < 0) {
		free(p->in.data);
		p->in.data = NULL;
		return NULL;
	}
	p->fd = fd;
	p->serial = ++st.serials;
	p->sent = st.ring_base + buf_len(&st.ring);	/* no replay */
	p->progress = now_ms();
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
	if (!opt.keep) {
		say(errnum, "%s", p->name);
		st.status = EXIT_NET;
	} else if (errnum)
		say(errnum, "%s: %s", p->name, why);
	else
		note("%s: %s", p->name, why);
	p->rd_eof = p->wr_done = 1;
	peer_close(p);
}

static void
peer_recv(struct peer *p)
{
	ssize_t n = buf_fill(&p->in, p->fd);

	if (n > 0) {
		st.nrecv += n;
	} else if (n == 0) {
		p->rd_eof = 1;
		note("%s closed its side", p->name);
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
		p->progress = now_ms();
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
	len = len > NICKMAX ? NICKMAX : len;
	if (len > 0)
		nick[chat_clean(s, len, nick)] = '\0';
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
		if (q != from && q->fd >= 0 && !q->stuck &&
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

/* The first line queued in b, or its rest once final or full; 0 if none. */
static size_t
line_first(const struct buf *b, int final)
{
	const char *nl = memchr(b->data + b->start, '\n', buf_len(b));

	if (nl)
		return nl - (b->data + b->start) + 1;
	return (final || buf_room(b) == 0) ? buf_len(b) : 0;
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
		    p->rd_eof || p->fd < 0)) > 0) {
			chat_line(p, p->in.data + p->in.start, n);
			p->in.start += n;
		}
	}
	while ((n = line_first(&st.ring, st.stdin_eof)) > 0) {
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

static int
splice_ready(const struct peer *p)
{
	return (splice_up(p) && (st.ready & (RD_STDIN | WR_PEER)) ==
	    (RD_STDIN | WR_PEER)) || (splice_down(p) &&
	    (st.ready & (RD_PEER | WR_STDOUT)) == (RD_PEER | WR_STDOUT));
}

#ifdef SPLICE_F_MOVE
/* A few rounds while both ends stay ready, then back to poll(). */
static void
splice_move(struct peer *p)
{
	ssize_t n;

	for (int round = 0; round < 8 && splice_ready(p); round++) {
		if (splice_up(p) && (st.ready & RD_STDIN) && (st.ready & WR_PEER)) {
			n = splice(STDIN_FILENO, NULL, p->fd, NULL, PIPESZ,
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0)
				st.nsent += n;
			else if (n == 0)
				stdin_ended();
			else if (errno == EAGAIN)
				st.ready &= ~(RD_STDIN | WR_PEER);
			else if (errno == EINVAL || errno == ENOSYS)
				st.splice_in = 0;	/* read/write will do */
			else if (errno != EINTR)
				peer_drop(p, errno, "send");
		}
		if (splice_down(p) && (st.ready & RD_PEER) &&
		    (st.ready & WR_STDOUT)) {
			n = splice(p->fd, NULL, STDOUT_FILENO, NULL, PIPESZ,
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				st.nrecv += n;
			} else if (n == 0) {
				p->rd_eof = 1;
				note("%s closed its side", p->name);
			} else if (errno == EAGAIN) {
				st.ready &= ~(RD_PEER | WR_STDOUT);
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
		    p->rd_eof || p->fd < 0 || st.stopping, p->in.cap);
		if (n == 0)
			continue;
		if (n == p->in.cap && !p->warned_long) {
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
	note("stdin closed, sending EOF after the buffered data");
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
	if (st.nconn >= opt.maxconns || set_nonblock(fd, NULL) < 0 ||
	    !(p = peer_add(fd, (struct sockaddr *)&ss))) {
		note("refused %s: %d peers already", name, st.nconn);
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

/* After each poll round: half-close, close, free, compact the ring. */
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
		if (now - p->progress >= STUCK_MS)
			peer_drop(p, 0, "not reading for 1.5 s, dropped");
		else if (!next || p->progress + STUCK_MS < next)
			next = p->progress + STUCK_MS;
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
			p->progress = now;	/* idle is not stuck */
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
	if (st.flags[0] >= 0)
		(void)fcntl(STDIN_FILENO, F_SETFL, st.flags[0]);
	if (st.flags[1] >= 0)
		(void)fcntl(STDOUT_FILENO, F_SETFL, st.flags[1]);
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

/* ms until the nearest timer: -w or the stop, a stuck check, accept again. */
static int
poll_timeout(long long now)
{
	long long t[] = { st.deadline, st.stuck_at, st.accept_at }, next = 0;

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
	int n, timeout, nslots;
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
			while (read(sigpipe[0], drain, sizeof(drain)) > 0)
				;
			if (st.stopping)
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

/* ---- command line ---- */

static void
usage(FILE *f)
{
	fprintf(f,
"usage: ztpipe [-46dv] [-s source] [-w secs] [--name name] host [port]\n"
"       ztpipe -l [-46dkv] [-m max] [-w secs] [address] [port]\n"
"       ztpipe -l --chat [-46v] [-m max] [--name name] [address] [port]\n"
"\n"
"Copy stdin to a TCP peer and the peer to stdout.  port defaults to %s.\n"
"\n"
"  -4, --ipv4            use IPv4 only\n"
"      --chat            with -l: a group chat; lines go to everyone,\n"
"                        prefixed with the sender's name\n"
"  -6, --ipv6            use IPv6 only\n"
"  -d, --no-stdin        do not read stdin and do not half-close\n"
"  -h, --help            show this help and exit\n"
"  -k, --keep-open       with -l: serve many peers, merge whole lines\n"
"  -l, --listen          wait for a peer instead of dialling one\n"
"  -m, --max-conns N     with -k: at most N peers at once (default %d)\n"
"      --name NAME       your name in a chat (default: the address,\n"
"                        or the host name for the --chat listener)\n"
"  -s, --source ADDR     dial from this local address\n"
"  -v, --verbose         say what happens on stderr, and a summary\n"
"  -V, --version         print the version and exit\n"
"  -w, --wait SECS       give up connecting (or waiting for a peer)\n"
"                        after SECS\n",
	    DEFAULT_PORT, MAXCONNS);
}

static void
usage_error(const char *fmt, const char *arg)
{
	say(0, fmt, arg);
	fprintf(stderr, "Try 'ztpipe --help'.\n");
	exit(EXIT_USAGE);
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
		{ "chat", no_argument, NULL, 'C' },
		{ "keep-open", no_argument, NULL, 'k' },
		{ "listen", no_argument, NULL, 'l' },
		{ "max-conns", required_argument, NULL, 'm' },
		{ "name", required_argument, NULL, 'N' },
		{ "source", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "wait", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	opt.family = AF_UNSPEC;
	opt.wait_ms = -1;
	opt.maxconns = MAXCONNS;
	while ((c = getopt_long(argc, argv, "46dhklm:s:vVw:", longopts,
	    NULL)) != -1) {
		switch (c) {
		case '4': opt.family = AF_INET; break;
		case '6': opt.family = AF_INET6; break;
		case 'd': opt.nostdin = 1; break;
		case 'h': usage(stdout); exit(0);
		case 'C': opt.chat = opt.keep = 1; break;
		case 'k': opt.keep = 1; break;
		case 'l': opt.listen = 1; break;
		case 'm':
			opt.maxconns = number_arg(optarg, 1, 1000000,
			    "bad connection limit: %s");
			break;
		case 'N': opt.name = optarg; break;
		case 's': opt.source = optarg; break;
		case 'v': opt.verbose = 1; break;
		case 'V': printf("ztpipe %s\n", VERSION); exit(0);
		case 'w':
			opt.wait_ms = number_arg(optarg, 1, INT_MAX / 1000,
			    "bad wait: %s") * 1000;
			break;
		default:
			fprintf(stderr, "Try 'ztpipe --help'.\n");
			exit(EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
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
	} else {
		if (argc < 1)
			usage_error("%s", "no host to connect to");
		opt.host = argv[0];
		if (argc == 2)
			opt.port = argv[1];
	}
	if (!opt.port)
		opt.port = DEFAULT_PORT;
	if (parse_port(opt.port, opt.listen) < 0)
		usage_error("bad port: %s", opt.port);
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
	run();
	summary();
	return st.status;
}
#endif
