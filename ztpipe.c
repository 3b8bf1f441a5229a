/*
 * ztpipe: copy stdin to a TCP (or UDP) peer and the peer to stdout, like
 * nc(1), for people on ZeroTier networks.  A transfer arrives whole or
 * fails loudly on both ends; whole lines when many peers send.
 *
 * The map of this file:
 *   messages, buffers, lists of peers, addresses and sockets, ZeroTier,
 *   access control, text for terminals
 *                          the pieces, most of them pure
 *   the poll set           what each peer waits for, kept between rounds
 *                          (epoll on Linux, poll() elsewhere), and the
 *                          peers touched: a round costs what happened
 *   endpoints              stdin+stdout, each TCP peer, the session's
 *                          own socket (a TCP listener, or UDP): each
 *                          says what it waits for from its state, has a
 *                          read step and a write step; a peer's life is
 *                          one enum (OPEN, INPUT_DONE, OUTPUT_DONE,
 *                          DRAINING)
 *   routes                 the only code that knows the mode: pipe (one
 *                          peer), merge (-k: whole lines in, stdin to
 *                          all), chat (--chat), dgram (-u)
 *   the loop               route, write, reap; poll; read and accept
 *   the splice loop        one peer with a pipe on our side: splice(2),
 *                          then the general loop takes over
 *   signals, progress, command line, main
 */

#define _GNU_SOURCE		/* splice, F_SETPIPE_SZ, NI_MAXHOST */
#ifndef VERSION
#define VERSION "0.1.0"
#endif

#ifdef _WIN32
#define _WIN32_WINNT 0x0601	/* Windows 7 and later: WSAPoll, inet_ntop */
#define _FILE_OFFSET_BITS 64	/* off_t and lseek past 2 GiB */
#include <winsock2.h>
#include <ws2tcpip.h>
#include <iphlpapi.h>
#include <windows.h>
#include <shellapi.h>
#include <io.h>
#else
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <poll.h>
#endif
#include <sys/types.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__) && !defined(ZTPIPE_POLL)
#include <sys/epoll.h>
#define USE_EPOLL	/* peers wait in epoll: see the poll set */
#endif

#define DEFAULT_PORT	"12345"	/* the port the ZeroTier chat scripts used */
#define BUFSZ		(256 * 1024)	/* one direction's buffer, one-peer mode */
#define LINEMAX		(64 * 1024)	/* -k: longest line kept whole */
#define LINEMIN		(8 * 1024)	/* -k: a peer's line buffer to begin with */
#define BUDGET		(16 * 1024 * 1024)	/* peers' input buffers, all
				 * together: once it is spent the others
				 * wait in their kernels (TCP's flow
				 * control), not in our memory; one peer
				 * at a time may overdraw it by up to
				 * LINEMAX for a long line */
#define STUCK_MS	1500	/* -k, --chat: a peer full this long is stuck */
#define STOP_MS		2000	/* a stop (signal, -i): how long it drains */
#define ACK_MS		10	/* --send-only: how often to look for the ack */
#define MAXCONNS	100	/* -k default, as ncat */
#define BACKLOG		INT_MAX	/* listen(): the kernel's most, to which it
				 * cuts any larger value (Linux:
				 * net.core.somaxconn, 4096 by default) */
#define ACCEPTS		1024	/* accepts in one round at most: the queue
				 * empties fast, and the rest still move */
#define EVENTS		1024	/* epoll: ready peers taken per round */
#define NAMESZ		(INET6_ADDRSTRLEN + IF_NAMESIZE + 16)	/* numeric
				 * "addr%scope port 65535" */
#define NICKMAX		32	/* --chat: longest display name, in bytes */
#define CHATQ		(256 * 1024)	/* --chat: lines queued for one reader */
#define CHATLINE	(NICKMAX * 3 + 1 + 8 + 3 * LINEMAX) /* one, dressed */
#define FD_SPARE	16	/* fds beyond the peers: stdio, listener, ... */
#define CHUNKS		64	/* stdout's chunks written by one writev */
#define PIPESZ		(1024 * 1024)	/* pipe size asked for the splice path */
#define DGRAMMAX	65507	/* -u: a stdin read, one datagram (IPv4's most) */
#define DGRAMBUF	65536	/* -u: room for any datagram received */
#define UDPRCVBUF	(8 * 1024 * 1024)	/* -u: kernel buffer asked for */
#define NOTEDMAX	64	/* -u -v: sources noted once each, at most */
#define UDP_WAIT_MS	1000	/* -u client: replies awaited after stdin */
#define FWDBUF		(64 * 1024)	/* --to: a direction's buffer, if no pipe */
#define CONNECT_MS	10000	/* --to: a target silent this long, without -w */
#define SESSION_MS	60000	/* --to -u: a session's silence, without -i */

/* The size relations the code relies on, checked by the compiler: a
 * chat peer's queue holds any dressed line, stdout's UDP queue any
 * datagram with the newline -k adds. */
typedef char chatq_holds_a_line[CHATQ >= CHATLINE ? 1 : -1];
typedef char udpq_holds_a_datagram[2 * CHATQ > DGRAMBUF + 1 ? 1 : -1];

#if defined(__GNUC__) || defined(__clang__)
#define NORETURN __attribute__((noreturn))
#else
#define NORETURN
#endif

/* Exit status: 0 success, 1 network or runtime error, 2 usage error. */
enum { EXIT_NET = 1, EXIT_USAGE = 2 };

/* getopt_long values of the options that have no letter. */
enum { OPT_6PLANE = 256, OPT_ADDRS, OPT_ALLOW, OPT_CHAT, OPT_NAME,
    OPT_NETWORK, OPT_RESOLVE, OPT_SEND_ONLY, OPT_TO, OPT_END };

/* Poll slots of the general loop; the peers that wait follow SLOT_PEER.
 * SLOT_SOCK is the session's own socket: the TCP listener, or UDP's. */
enum { SLOT_SIGNAL, SLOT_STDIN, SLOT_STDOUT, SLOT_SOCK, SLOT_PEER };

/* A byte queue: data[start..end) is queued, data[end..cap) is free.
 * No data: the bytes wait in a pipe (--to splices), counted here, and
 * cap is the room the pipe is known to have. */
struct buf {
	char *data;
	size_t cap, start, end;
};

/* Where a peer's life has come to; it only moves down the list. */
enum life {
	CONNECTING,	/* --to: the handshake with the target is under way */
	OPEN,		/* bytes move both ways */
	INPUT_DONE,	/* it sent FIN; we may still send */
	OUTPUT_DONE,	/* we sent FIN, or can send no more; it may still send */
	DRAINING,	/* socket closed; its last bytes wait for stdout */
};

/* Peers in a list, oldest first: each list has its own links in them. */
struct link {
	struct peer *prev, *next;
	int on;			/* it is on the list */
};

struct list {
	struct peer *head, *tail;
	size_t off;		/* offsetof(struct peer, its link) */
};

/* A connected peer. */
struct peer {
	int fd;			/* -1 once DRAINING */
	enum life life;
	int err;		/* first error; said once its bytes are out */
	int fin;		/* it sent FIN (an error after it is no news) */
	int wblocked;		/* its last write was short: wait for POLLOUT */
	unsigned long serial;	/* unique id, to tell whose line is on stdout */
	char name[NAMESZ];	/* "10.1.2.3 port 40000", for messages */
	struct buf in;		/* received, not yet on stdout */
	struct buf out;		/* its own queue (chat); no data: the stdin ring */
	unsigned long long sent;	/* stream offset of the ring sent to it */
	long long moved_at;	/* ms when it last took data, or its
				 * output became full */
	int full;		/* its output was full when last looked at */
	int warned_long;	/* -v: said once that its lines are too long */
	char nick[NICKMAX * 3 + 1];	/* --chat: shown as [nick] */
	unsigned long long got;	/* bytes read from it */
	struct pair *pair;	/* --to: the pair it is one end of */
	int pipe[2];		/* --to: what it sent, spliced on; -1: in "in" */
	int pipesz;		/* --to: the pipe's size */
	int index;		/* where it is in peers.p */
	short ev;		/* what it waits for in the poll set; 0: not
				 * in it */
	int slot;		/* poll(): its entry, lp.pfd[SLOT_PEER + slot] */
	/* cppcheck-suppress unusedStructMember ; lp.touched's links */
	struct link touched;	/* its state changed this round: see reap */
	struct link ready;	/* bytes in, for the route to look at */
	struct link starved;	/* waits for BUDGET: see peer_buf */
};

/*
 * --to: a client and its own connection to the target (TCP), or a
 * client address and its own socket to the target (UDP).  Either end
 * may leave the table before the other; the pair goes with the last.
 */
struct pair {
	struct peer *client, *target;	/* NULL once gone (UDP: no client) */
	const struct addrinfo *ai;	/* the target address dialled */
	long long due;		/* connecting: give up then */
	long long active;	/* when bytes last moved */
	unsigned long long up, down;	/* bytes from the client, the target */
	unsigned long long owed;	/* -i: bytes on their way when last
				 * looked; 0: not looked since they moved */
	int connected;		/* the target answered */
	int err;		/* the first error of either end */
	const char *how;	/* how it ended, for -v; NULL: not yet */
	char name[NAMESZ];	/* the client's, said when it is gone */
	struct sockaddr_storage sa;	/* udp: the client's address */
	socklen_t salen;
	struct pair *next;	/* udp: the next in its hash chain */
};

/*
 * A route is the mode: the only code that knows where bytes go.  The
 * loop calls move() after the reads (and stdout after each chunk), and
 * asks the route the mode's questions through the hooks; the rest is
 * data the endpoints and the loop read.
 */
struct route {
	void (*move)(void);		/* inputs to outputs: stdout's next chunk */
	void (*joined)(struct peer *);	/* a peer is here, or NULL */
	void (*left)(struct peer *);	/* a peer is gone, its bytes out,
					 * its error said */
	short (*sock_wants)(void);	/* poll events for SLOT_SOCK */
	void (*sock_ready)(short);	/* SLOT_SOCK's revents */
	int (*owes)(const struct peer *);	/* what it still sends is
					 * wanted: its end cut short is a
					 * loss */
	int (*full)(const struct peer *);	/* it holds the others up:
					 * dropped after STUCK_MS; NULL: never */
	int (*over)(void);		/* the session has ended by itself;
					 * NULL: only a stop ends it */
	int (*places)(void);		/* -m's places taken; NULL: peers
					 * connected, and one that sent FIN
					 * makes room */
	void (*read_step)(struct peer *);	/* a peer's; NULL: peer_read */
	void (*write_step)(struct peer *);	/* its; NULL: peer_write */
	int (*cut)(void);		/* the end: reset what the route holds
					 * unfinished itself (pairs); how many */
	void (*settle)(void);		/* in reap, after the writes: rules
					 * that walk every peer (--to's
					 * deadlines, UDP sessions'); NULL:
					 * none */
	size_t inbuf;			/* a peer's input buffer to begin with */
	size_t outq;			/* its own output queue (and one for
					 * stdout); 0: none */
	size_t dgram;			/* a stdin read is one datagram of at
					 * most this; 0: a byte stream */
	int broadcast;			/* stdin's ring goes to every peer */
	int alone;			/* read stdin with no peer to take it */
	int eof_leaves;			/* a peer's FIN means it has left */
	int single;			/* one peer: its error fails the session */
	int wait_ms;			/* after stdin's end, end once nothing
					 * came for this long (UDP has no FIN) */
	int quiet;			/* a peer's error is the route's to
					 * say (-v), not a line of its own */
	int place_fds;			/* fds one -m place takes, for the
					 * limit on open files; 0: no -m */
	void (*init)(void);		/* its own set-up, after the rest */
};

#ifdef SPLICE_F_MOVE
/* The splice loop: one direction, from -> to. */
struct flow {
	int from, to;
	int pipe;	/* a pipe on our side: splice; else read here */
	int wait;	/* the fd it waits on, -1: try now */
};
#endif

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
	char *to_host;		/* --to: the target, as given */
	const char *to_port;
	int sixplane;		/* --6plane: dial node IDs at 6PLANE addresses */
	int addrs;		/* --addrs: list ZeroTier addresses and exit */
	int probe;		/* -z: only see whether something listens */
	int port_lo, port_hi;	/* -z: the ports to probe */
	int retry_ms;		/* -R: keep trying to connect this long */
	int idle_ms;		/* -i: end after this long without data */
	int progress;		/* -P: draw progress on stderr */
	int resolve;		/* --resolve: print what host means and exit */
	int send_only;		/* --send-only: end once stdin is delivered */
	int udp;		/* -u: datagrams */
	int socktype;		/* SOCK_STREAM, or SOCK_DGRAM with -u */
	const char *proto;	/* "tcp" or "udp", for service names */
	struct cidr *allow;	/* --allow: who may connect (none: anyone) */
	int nallow;
} opt;

/* stdin and stdout. */
static struct stdio {
	struct buf ring;	/* stdin bytes not yet sent to every peer */
	int ifd;		/* stdin as we read it: fd 0, or on Windows
				 * its relay's socket */
	unsigned long long ring_base;	/* stream offset of ring.data[start] */
	int cursors_moved;	/* a peer took some of the ring, or no longer
				 * takes it: ring_free looks again */
	int in_open;		/* stdin may give more */
	int tty;		/* stdin is a terminal: a person types */
	int eof_leaves;		/* a peer's FIN closes it: the route says so,
				 * or -d, or a person at stdin */
	struct chunk {
		struct buf *b;
		size_t n;
		struct peer *from;	/* whose input it is, or NULL */
	} out[CHUNKS];		/* stdout's next bytes, chosen by the route */
	int nout;
	struct buf q;		/* chat, udp: stdout's own queue */
	int ofd;		/* stdout as we write it: see stdout_open */
	int osock;		/* stdout is a socket: MSG_DONTWAIT */
	size_t omax;		/* most bytes one write may take */
	int wblocked;		/* stdout's last write was short */
	int out_open;		/* not closed, and its reader is there */
} io;

/* The peers: a table that grows with the peers connected, not with -m. */
static struct table {
	struct peer **p;
	int n, cap;
	int nconn;		/* with an open socket */
	unsigned long serials;	/* peers ever added */
	int lfd;		/* SLOT_SOCK's: listening, or UDP; else -1 */
	struct list ready;	/* with bytes in, for merge and chat: the
				 * oldest news first, so a round robin */
} peers = { .ready = { NULL, NULL, offsetof(struct peer, ready) } };

/*
 * The general loop's poll set, kept from round to round: the session's
 * own endpoints in pfd[0 .. SLOT_PEER), then every peer that waits for
 * something (with epoll, the epoll fd in their stead); and the peers to
 * look at this round, those whose state changed.
 */
static struct loop {
	struct pollfd *pfd;
	struct peer **polled;	/* poll(): polled[k] waits in pfd[SLOT_PEER + k] */
	int np, cap;		/* poll(): peers in pfd, room for them */
#ifdef USE_EPOLL
	int epfd;		/* epoll's fd; -1 until the set is made */
#endif
	struct list touched;
} lp = {
#ifdef USE_EPOLL
	.epfd = -1,
#endif
	.touched = { NULL, NULL, offsetof(struct peer, touched) } };

/*
 * The peers' input buffers, against BUDGET: memory grows with what
 * stdout has not taken yet, up to the budget, not with the peers that
 * came and went.  A peer holds a buffer only while bytes wait in it.
 */
static struct mem {
	size_t used;		/* their capacity, all together */
	struct peer *over;	/* the one whose long line overdraws */
	struct list starved;	/* readable, but the budget is spent */
} mem = { .starved = { NULL, NULL, offsetof(struct peer, starved) } };

/* The clocks, in now_ms() time; 0 when not set. */
static struct timers {
	long long wait;		/* -w: no peer by then is an error */
	long long stop;		/* a signal: leave by then though stdout lags */
	long long accept;	/* out of fds: accept again then */
	long long stuck;	/* the first peer to become stuck does then */
	long long ack;		/* a clean close: look for the peer's ack then */
	long long gone;		/* stdout's reader left: a byte from a peer
				 * until then is a loss, silence is not */
	long long progress;	/* -P: draw again then */
	long long last_data;	/* -i: when bytes last moved */
	long long route;	/* the route's next deadline (--to) */
} tm;

/* The session as a whole. */
static struct session {
	const struct route *route;
	long long t0, now;	/* start; this round */
	int stopping;		/* a stop (signal, -i): drain, then end */
	char why[48];		/* what stopped it: "signal 15" */
	int leave;		/* a second signal: end now */
	int said;		/* an error has been said: no second line */
	int status;		/* exit status */
	unsigned long long nsent, nrecv;
	long long total;	/* -P: bytes stdin will give, -1 if unknown */
	int drawn;		/* -P: length of the line on screen */
} ss;

/* merge: whose line stdout had last. */
static struct merge {
	unsigned long last;	/* serial of the peer stdout had last */
	int midline;		/* and it ended mid-line */
} mg;

/* chat: our name. */
static struct chat {
	char nick[NICKMAX * 3 + 1];	/* our name, the host name by default */
	unsigned long dropped;	/* lines our stdout could not take */
} chat;

/* udp: a datagram's sender, and when it was last heard. */
struct sender {
	struct sockaddr_storage sa;
	socklen_t len;
	unsigned long heard;	/* dg.clock then; the oldest makes room */
};

/* udp: who stdin's datagrams go to, and what the socket saw. */
static struct dgram {
	struct sender *to;	/* senders heard (a client: its peer) */
	int nto, cap, max;	/* how many, room, at most (1, or -m) */
	int many;		/* -k: any sender, each datagram a line */
	int sent;		/* stdin's datagram went to to[0..sent) */
	int wblocked;		/* the socket's last send would block */
	unsigned long clock;	/* datagrams accepted */
	unsigned long refused, ignored;	/* by --allow; not from the peer */
	uint32_t dropped;	/* SO_RXQ_OVFL: by the kernel */
	struct sockaddr_storage noted[NOTEDMAX];	/* -v: said already */
	int nnoted;
} dg;

/* forward (--to): the target and the pairs. */
static struct forward {
	struct addrinfo *to;	/* the target's addresses, tried in order */
	int connect_ms;		/* -w, or CONNECT_MS */
	int idle_ms;		/* -i: a pair or session silent this long ends */
	int npairs;		/* pairs (UDP: sessions) open, for -m */
	int pipe_fds;		/* pipes only below this fd: the rest is
				 * for the sockets of -m pairs */
	struct pair **hash;	/* udp: sessions by client address */
	size_t hcap;		/* its buckets, a power of 2 */
	unsigned long full, lost;	/* udp: datagrams dropped (--allow: dg) */
} fw;

static volatile sig_atomic_t got_signal;
static int sigpipe[2] = { -1, -1 };	/* self-pipe: wakes poll on a signal */

/* Forward declarations: only those the order of the sections needs. */
static void die(int status, int errnum, const char *fmt, ...) NORETURN;
static void say(int errnum, const char *fmt, ...);
static void fail(int errnum, const char *fmt, ...) NORETURN;
static void usage_error(const char *fmt, ...) NORETURN;
static void session_end(void) NORETURN;
static const char *zt_node_host(const char *host);
static void zt_dial_hints(const struct sockaddr *sa);
static void zt_fail_hint(const struct sockaddr *sa, int err);
static int cidr_parse(const char *s, struct cidr *c);
static int cidr_match(const struct cidr *c, const struct cidr *a);
static void splice_run(void);
static void fwd_settle_due(struct pair *pr);
static void human(double v, char *out, size_t outsz);
static void progress_draw(int final);
static void summary(void);

/* ---- platform: Windows ---- */

#ifdef _WIN32
/*
 * On Windows every endpoint the loop polls is a socket, as WSAPoll polls
 * nothing else: stdin and stdout are carried by two small relay threads
 * through loopback socket pairs, and Ctrl-C, Ctrl-Break and closing the
 * console wake the loop through a third pair, as a signal does through
 * the self-pipe on Unix.  Below, the POSIX calls the rest of the file
 * makes are mapped onto Winsock, its errors onto errno.  A SOCKET is
 * kept in an int: kernel handles have 32 significant bits, and a socket
 * is never 0, 1 or 2 (handles are multiples of 4), which read, write and
 * close use to tell the C runtime's fds from sockets.
 * Left out, as there is nothing like them: splice, pipe sizing, the
 * kernel's send-queue count (a clean close does not wait for the
 * peer's acknowledgement) and RLIMIT_NOFILE.
 */

static struct relay {
	HANDLE h;		/* the console, pipe or file */
	SOCKET s;		/* the thread's end of the pair */
	HANDLE thread;
	volatile int err;	/* stdout's: why a write failed, as errno */
	int told;		/* and stdout_write has said so */
	char buf[64 * 1024];
} rin, rout;
static int wine;	/* under wine, whose quirks wine_error works round */

static void cidr_of(const struct sockaddr *sa, struct cidr *c);
static int zt_ids(const unsigned char a[16], uint64_t *nwid, uint64_t *node);
static int zt_adapter(const char *name, uint64_t *nwid);

/* Winsock's error as errno, whose values the C runtime has too. */
static int
errno_of(int wsa)
{
	static const int map[][2] = {
		{ WSAEINTR, EINTR }, { WSAEBADF, EBADF }, { WSAEACCES, EACCES },
		{ WSAEFAULT, EFAULT }, { WSAEINVAL, EINVAL },
		{ WSAEMFILE, EMFILE }, { WSAEWOULDBLOCK, EAGAIN },
		{ WSAEINPROGRESS, EINPROGRESS }, { WSAEALREADY, EALREADY },
		{ WSAENOTSOCK, ENOTSOCK }, { WSAEMSGSIZE, EMSGSIZE },
		{ WSAEAFNOSUPPORT, EAFNOSUPPORT },
		{ WSAEPFNOSUPPORT, EAFNOSUPPORT },
		{ WSAEADDRINUSE, EADDRINUSE },
		{ WSAEADDRNOTAVAIL, EADDRNOTAVAIL }, { WSAENETDOWN, ENETDOWN },
		{ WSAENETUNREACH, ENETUNREACH }, { WSAENETRESET, ENETRESET },
		{ WSAECONNABORTED, ECONNABORTED },
		{ WSAECONNRESET, ECONNRESET }, { WSAENOBUFS, ENOBUFS },
		{ WSAEISCONN, EISCONN }, { WSAENOTCONN, ENOTCONN },
		{ WSAESHUTDOWN, EPIPE }, { WSAETIMEDOUT, ETIMEDOUT },
		{ WSAECONNREFUSED, ECONNREFUSED },
		{ WSAEHOSTDOWN, EHOSTUNREACH },
		{ WSAEHOSTUNREACH, EHOSTUNREACH },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i][0] == wsa)
			return map[i][1];
	return EIO;
}

static int
wsa_fail(void)
{
	errno = errno_of(WSAGetLastError());
	return -1;
}

/*
 * A UDP socket's port unreachable, under wine (8.0): no select wakes
 * for it and no recv fails with it, as Windows' do, but SO_ERROR holds
 * it.  That error as errno; 0 if none, or not wine.
 */
static int
wine_error(SOCKET s)
{
	int e = 0, type = 0, len = sizeof(e);

	if (!wine || getsockopt(s, SOL_SOCKET, SO_ERROR, (char *)&e,
	    &len) != 0 || !e || getsockopt(s, SOL_SOCKET, SO_TYPE,
	    (char *)&type, &len) != 0 || type != SOCK_DGRAM)
		return 0;
	return errno_of(e);
}

static int
w_ok(int r)
{
	return r == SOCKET_ERROR ? wsa_fail() : r;
}

/* A socket that no child inherits, or -1. */
static int
w_fd(SOCKET s)
{
	if (s == INVALID_SOCKET)
		return wsa_fail();
	(void)SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
	return (int)s;
}

/* A connect in progress says WSAEWOULDBLOCK. */
static int
w_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	if (connect(fd, sa, len) == 0)
		return 0;
	errno = WSAGetLastError() == WSAEWOULDBLOCK ? EINPROGRESS :
	    errno_of(WSAGetLastError());
	return -1;
}

/* A port another program holds with SO_EXCLUSIVEADDRUSE (as ours does),
 * or one Windows reserves, is refused as WSAEACCES: it is in use. */
static int
w_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	if (bind(fd, sa, len) == 0)
		return 0;
	errno = WSAGetLastError() == WSAEACCES ? EADDRINUSE :
	    errno_of(WSAGetLastError());
	return -1;
}

/* SO_ERROR holds a Winsock error too. */
static int
w_getsockopt(int fd, int level, int name, void *v, socklen_t *len)
{
	if (getsockopt(fd, level, name, v, len) != 0)
		return wsa_fail();
	if (level == SOL_SOCKET && name == SO_ERROR && *(int *)v)
		*(int *)v = errno_of(*(int *)v);
	return 0;
}

static int
w_ioctl(int fd, long req, int *v)
{
	u_long n = 0;

	if (ioctlsocket(fd, req, &n) != 0)
		return wsa_fail();
	*v = n > INT_MAX ? INT_MAX : (int)n;
	return 0;
}

/* fcntl: only what set_nonblock and the start-up ask of it. */
#define F_GETFD		1
#define F_GETFL		3
#define F_SETFL		4
#define O_NONBLOCK	0x40000
static int
w_fcntl(int fd, int cmd, ...)
{
	u_long on;
	va_list ap;

	if (cmd != F_SETFL)
		return 0;	/* fds are open, readable */
	va_start(ap, cmd);
	on = (va_arg(ap, int) & O_NONBLOCK) != 0;
	va_end(ap);
	return ioctlsocket(fd, FIONBIO, &on) != 0 ? wsa_fail() : 0;
}

/*
 * A peer's reset is an error, not the end: Windows says WSAECONNRESET,
 * but wine (8.0) reads it as 0 bytes, as if the peer had closed; there
 * WSAPoll still marks the socket POLLERR, which a clean end never is.
 */
static ssize_t
w_read(int fd, void *b, size_t n)
{
	WSAPOLLFD p = { (SOCKET)fd, POLLRDNORM, 0 };
	int len = n > INT_MAX ? INT_MAX : (int)n, k;

	if (fd <= STDERR_FILENO)
		return _read(fd, b, len);
	if ((k = recv(fd, b, len, 0)) != 0)
		return w_ok(k);
	if (WSAPoll(&p, 1, 0) == 1 && (p.revents & POLLERR)) {
		errno = ECONNRESET;
		return -1;
	}
	return 0;
}

static ssize_t
w_write(int fd, const void *b, size_t n)
{
	int len = n > INT_MAX ? INT_MAX : (int)n;

	return fd <= STDERR_FILENO ? _write(fd, b, len) :
	    w_ok(send(fd, b, len, 0));
}

static int
w_close(int fd)
{
	return fd <= STDERR_FILENO ? _close(fd) : w_ok(closesocket(fd));
}

/* Only a console is a terminal: _isatty says so of NUL too. */
static int
w_isatty(int fd)
{
	DWORD mode;

	return GetConsoleMode((HANDLE)_get_osfhandle(fd), &mode) != 0;
}

/* Windows' wording of these is "Unknown error": glibc's, as on Linux. */
static char *
w_strerror(int e)
{
	static const struct { int e; char *s; } text[] = {
		{ EADDRINUSE, "Address already in use" },
		{ EADDRNOTAVAIL, "Cannot assign requested address" },
		{ EAFNOSUPPORT, "Address family not supported by protocol" },
		{ EAGAIN, "Resource temporarily unavailable" },
		{ EALREADY, "Operation already in progress" },
		{ ECONNABORTED, "Software caused connection abort" },
		{ ECONNREFUSED, "Connection refused" },
		{ ECONNRESET, "Connection reset by peer" },
		{ EHOSTUNREACH, "No route to host" },
		{ EINPROGRESS, "Operation now in progress" },
		{ EISCONN, "Transport endpoint is already connected" },
		{ EMSGSIZE, "Message too long" },
		{ ENETDOWN, "Network is down" },
		{ ENETRESET, "Network dropped connection on reset" },
		{ ENETUNREACH, "Network is unreachable" },
		{ ENOBUFS, "No buffer space available" },
		{ ENOTCONN, "Transport endpoint is not connected" },
		{ ENOTSOCK, "Socket operation on non-socket" },
		{ ETIMEDOUT, "Connection timed out" },
	};

	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++)
		if (text[i].e == e)
			return text[i].s;
	return strerror(e);
}

/* getaddrinfo's errors, in glibc's words too. */
static const char *
w_gai_strerror(int e)
{
	switch (e) {
	case EAI_AGAIN: return "Temporary failure in name resolution";
	case EAI_FAMILY: return "ai_family not supported";
	case EAI_MEMORY: return "Memory allocation failure";
	case EAI_NONAME: return "Name or service not known";
	case EAI_SERVICE: return "Servname not supported for ai_socktype";
	default: return "Name resolution failed";
	}
}

/* A set for select(): an fd_set of any size, as Winsock allows. */
struct sockset {
	u_int n;
	SOCKET s[];
};

static int
in_set(const struct sockset *set, SOCKET s)
{
	for (u_int i = 0; i < set->n; i++)
		if (set->s[i] == s)
			return 1;
	return 0;
}

/*
 * poll() on select().  WSAPoll reports a peer's FIN as POLLHUP whatever
 * was asked, so a loop that waits to write to a peer that has sent FIN
 * would spin while it is full; WSAPoll also fails on an empty set, marks
 * INVALID_SOCKET POLLNVAL under wine (Windows skips it), and missed
 * failed connects before Windows 10 2004.  select() waits for what is
 * asked.  An entry that asks for nothing (stdout's, to learn that its
 * reader left) waits to be readable: its relay never sends, so that is
 * the relay gone, POLLHUP.
 */
static int
w_poll(struct pollfd *p, unsigned long n, int ms)
{
	static struct sockset *set[3];	/* read, write, except */
	static unsigned long cap;
	struct timeval tv = { ms / 1000, ms % 1000 * 1000 };
	struct sockset *grown;
	unsigned long i;
	int k = 0;

	for (int j = 0; j < 3 && n > cap; j++) {
		if (!(grown = realloc(set[j], sizeof(**set) + n *
		    sizeof(SOCKET))))
			return -1;
		set[j] = grown;
	}
	cap = n > cap ? n : cap;
	if (!cap)
		return 0;
	set[0]->n = set[1]->n = set[2]->n = 0;
	for (i = 0; i < n; i++) {
		p[i].revents = 0;
		if (p[i].fd == INVALID_SOCKET)
			continue;
		if ((p[i].events & POLLIN) || !p[i].events)
			set[0]->s[set[0]->n++] = p[i].fd;
		if (p[i].events & POLLOUT) {
			set[1]->s[set[1]->n++] = p[i].fd;
			set[2]->s[set[2]->n++] = p[i].fd;
		}
	}
	if (set[0]->n + set[1]->n == 0) {
		Sleep(ms < 0 ? INFINITE : (DWORD)ms);
		return 0;
	}
	if (select(0, (fd_set *)set[0], (fd_set *)set[1], (fd_set *)set[2],
	    ms < 0 ? NULL : &tv) == SOCKET_ERROR)
		return wsa_fail();
	for (i = 0; i < n; i++) {
		if (p[i].fd == INVALID_SOCKET)
			continue;
		if (in_set(set[0], p[i].fd))
			p[i].revents |= p[i].events ? POLLIN : POLLHUP;
		if (in_set(set[1], p[i].fd))
			p[i].revents |= POLLOUT;
		if (in_set(set[2], p[i].fd))
			p[i].revents |= POLLERR;
		k += p[i].revents != 0;
	}
	/* Nothing came, or wine did not say so (wine_error). */
	for (i = 0; i < n && k == 0 && wine; i++)
		if (p[i].fd != INVALID_SOCKET && (p[i].events & POLLIN) &&
		    wine_error(p[i].fd)) {
			p[i].revents = POLLERR;
			k = 1;
		}
	return k;
}

struct iovec {
	void *iov_base;
	size_t iov_len;
};

struct msghdr {
	void *msg_name;
	socklen_t msg_namelen;
	struct iovec *msg_iov;
	int msg_iovlen;
	void *msg_control;
	size_t msg_controllen;
	int msg_flags;
};

/*
 * stdout's writes, to its relay: a relay that has failed says why in
 * rout.err; its reset is the reader gone, EPIPE, as a pipe says.
 */
static ssize_t
w_sendmsg(int fd, const struct msghdr *m, int flags)
{
	WSABUF b[CHUNKS];
	DWORD n;
	int k = m->msg_iovlen < CHUNKS ? m->msg_iovlen : CHUNKS;

	for (int i = 0; i < k; i++) {
		b[i].buf = m->msg_iov[i].iov_base;
		b[i].len = m->msg_iov[i].iov_len > INT_MAX ? INT_MAX :
		    (ULONG)m->msg_iov[i].iov_len;
	}
	if (WSASend(fd, b, k, &n, flags, NULL, NULL) == 0)
		return n;
	if (wsa_fail() < 0 && (errno == ECONNRESET || errno == ECONNABORTED)) {
		errno = rout.err ? rout.err : EPIPE;
		rout.told = 1;
	}
	return -1;
}

static ssize_t
w_writev(int fd, const struct iovec *iov, int n)
{
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = n };

	return w_sendmsg(fd, &m, 0);
}

/*
 * A UDP socket's recv failed.  A port unreachable, which Windows
 * reports as a reset: refused, as on Linux; to a socket with no one
 * peer (a listener) it is about someone else: EINTR, read on.  Under
 * wine a recv that would block may have one in SO_ERROR.
 */
static int
dgram_fail(int fd)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	int e = WSAGetLastError();

	if (e == WSAEWOULDBLOCK && (errno = wine_error(fd)) != 0)
		return -1;
	if (e != WSAECONNRESET) {
		errno = errno_of(e);
		return -1;
	}
	errno = getpeername(fd, (struct sockaddr *)&peer, &len) == 0 ?
	    ECONNREFUSED : EINTR;
	return -1;
}

/* The rest of the file calls recv on UDP sockets only. */
static ssize_t
w_recv(int fd, void *b, size_t n, int flags)
{
	int k = recv(fd, b, n > INT_MAX ? INT_MAX : (int)n, flags);

	return k >= 0 ? k : dgram_fail(fd);
}

/* UDP only, one buffer, no control data. */
static ssize_t
w_recvmsg(int fd, struct msghdr *m, int flags)
{
	int n;

	m->msg_controllen = 0;
	n = recvfrom(fd, m->msg_iov[0].iov_base, (int)m->msg_iov[0].iov_len,
	    flags, m->msg_name, &m->msg_namelen);
	return n >= 0 ? n : dgram_fail(fd);
}

/* Not in its C library. */
static char *
strsep(char **sp, const char *delim)
{
	char *s = *sp;

	if (s) {
		*sp = s + strcspn(s, delim);
		if (**sp)
			*(*sp)++ = '\0';
		else
			*sp = NULL;
	}
	return s;
}

static int
w_clock_gettime(struct timespec *ts)
{
	static LARGE_INTEGER freq;
	LARGE_INTEGER t;

	if (!freq.QuadPart)
		QueryPerformanceFrequency(&freq);
	QueryPerformanceCounter(&t);
	ts->tv_sec = t.QuadPart / freq.QuadPart;
	ts->tv_nsec = (long)(t.QuadPart % freq.QuadPart * 1000000000 /
	    freq.QuadPart);
	return 0;
}

/* Windows has no limit on sockets to raise. */
typedef unsigned long rlim_t;
struct rlimit {
	rlim_t rlim_cur, rlim_max;
};
#define RLIMIT_NOFILE	7
#define RLIM_INFINITY	(~0UL)
static int
getrlimit(int res, struct rlimit *rl)
{
	(void)res;
	(void)rl;
	return -1;
}

static int
setrlimit(int res, const struct rlimit *rl)
{
	(void)res;
	(void)rl;
	return -1;
}

/* From here on the rest of the file's POSIX names mean the above. */
#define read		w_read
#define write		w_write
#define close		w_close
#define isatty		w_isatty
#define fcntl		w_fcntl
#define ioctl		w_ioctl
#define poll		w_poll
#define strerror	w_strerror
#undef gai_strerror
#define gai_strerror	w_gai_strerror
#define writev		w_writev
#define sendmsg		w_sendmsg
#define recvmsg		w_recvmsg
#define clock_gettime(clock, ts)	w_clock_gettime(ts)
#define socket(d, t, p)		w_fd(socket(d, t, p))
#define accept(fd, sa, len)	w_fd(accept(fd, sa, len))
#define connect		w_connect
#define getsockopt	w_getsockopt
#define setsockopt(fd, l, o, v, n)	w_ok(setsockopt(fd, l, o, \
				    (const char *)(v), n))
#define bind		w_bind
#define listen(fd, n)		w_ok(listen(fd, n))
#define shutdown(fd, how)	w_ok(shutdown(fd, how))
#define getsockname(fd, sa, n)	w_ok(getsockname(fd, sa, n))
#define getpeername(fd, sa, n)	w_ok(getpeername(fd, sa, n))
#define send(fd, b, n, f)	w_ok(send(fd, b, n, f))
#define recv		w_recv
#define sendto(fd, b, n, f, sa, l)	w_ok(sendto(fd, b, n, f, sa, l))
#define SHUT_WR		SD_SEND
#define MSG_DONTWAIT	0	/* stdout's relay socket is nonblocking */
#ifndef EAI_SYSTEM
#define EAI_SYSTEM	(-11)	/* never: Winsock has no such code */
#endif
/* Windows' SO_REUSEADDR lets another program take a port in use; the
 * listener wants what SO_REUSEADDR means on Unix, and more. */
enum { EXCLUSIVEADDRUSE = SO_EXCLUSIVEADDRUSE };	/* ~SO_REUSEADDR */
#undef SO_REUSEADDR
#define SO_REUSEADDR	EXCLUSIVEADDRUSE

/*
 * Winsock first; binary stdio: no \r before each \n, no ^Z end; and the
 * arguments as typed, in UTF-8: the C runtime's argv is in the ANSI code
 * page, where a name like "Şule" or an option like -ş loses letters.
 */
static void
win_start(int *argc, char ***argv)
{
	WSADATA wsa;
	wchar_t **w;
	char **a;
	int e, n, len;

	if ((e = WSAStartup(MAKEWORD(2, 2), &wsa)) != 0)
		die(EXIT_NET, errno_of(e), "WSAStartup");
	wine = GetProcAddress(GetModuleHandleA("ntdll.dll"),
	    "wine_get_version") != NULL;
	for (int fd = 0; fd < 3; fd++)
		(void)_setmode(fd, _O_BINARY);
	if (!(w = CommandLineToArgvW(GetCommandLineW(), &n)) ||
	    !(a = calloc(n + 1, sizeof(*a))))
		return;
	for (int i = 0; i < n; i++) {
		len = WideCharToMultiByte(CP_UTF8, 0, w[i], -1, NULL, 0, NULL,
		    NULL);
		if (len <= 0 || !(a[i] = malloc(len)))
			return;
		WideCharToMultiByte(CP_UTF8, 0, w[i], -1, a[i], len, NULL, NULL);
	}
	LocalFree(w);
	*argc = n;
	*argv = a;
}

/*
 * A connected pair of loopback TCP sockets: sv[0] nonblocking, for the
 * loop; sv[1] for a thread or a console event.  The temporary listener
 * takes only our own connect: any other caller is refused.
 */
static int
sock_pair(SOCKET sv[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET }, me, peer;
	socklen_t len = sizeof(a), ml = sizeof(me), pl = sizeof(peer);
	u_long nb = 1;
	int l, one = 1, sz = 64 * 1024;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((l = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	sv[0] = sv[1] = INVALID_SOCKET;
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &len) < 0 ||
	    (int)(sv[0] = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(sv[0], (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(sv[0], (struct sockaddr *)&me, &ml) < 0)
		goto fail;
	for (;;) {
		if ((int)(sv[1] = accept(l, (struct sockaddr *)&peer, &pl)) < 0)
			goto fail;
		if (peer.sin_port == me.sin_port &&
		    peer.sin_addr.s_addr == me.sin_addr.s_addr)
			break;
		closesocket(sv[1]);	/* not ours */
		pl = sizeof(peer);
	}
	closesocket(l);
	for (int i = 0; i < 2; i++) {
		/* A pipe's few buffers, not megabytes: what stdout has not
		 * taken stays in the loop's queues, where it is seen. */
		(void)setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		(void)setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		(void)setsockopt(sv[i], IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	}
	if (ioctlsocket(sv[0], FIONBIO, &nb) != 0)
		return wsa_fail();
	return 0;
fail:
	closesocket(l);
	if (sv[0] != INVALID_SOCKET)
		closesocket(sv[0]);
	return -1;
}

static int
send_all(SOCKET s, const char *b, DWORD n)
{
	int k;

	for (; n > 0; b += k, n -= k)
		if ((k = send(s, b, n > INT_MAX ? INT_MAX : (int)n, 0)) <= 0)
			return -1;
	return 0;
}

/*
 * stdin to the loop.  A pipe's writer gone is its end; a console's ^Z
 * line reads as 0 bytes, a file's end too, and a pipe's under wine;
 * but a pipe whose writer is still there gives 0 bytes for an empty
 * write.  A read cut by Ctrl-C is tried again: the console event is
 * the loop's news, not stdin's end.
 */
static DWORD WINAPI
stdin_relay(LPVOID arg)
{
	DWORD n, pipe = GetFileType(rin.h) == FILE_TYPE_PIPE;

	(void)arg;
	for (;;) {
		if (!ReadFile(rin.h, rin.buf, sizeof(rin.buf), &n, NULL)) {
			if (GetLastError() == ERROR_OPERATION_ABORTED)
				continue;
			break;
		}
		if (n == 0 && pipe && PeekNamedPipe(rin.h, NULL, 0, NULL, NULL,
		    NULL))
			continue;
		if (n == 0)
			break;
		if (send_all(rin.s, rin.buf, n) < 0)
			return 1;
	}
	shutdown(rin.s, SD_SEND);	/* stdin's end, as FIN */
	return 0;
}

/*
 * The loop to stdout.  Its FIN (stdout_close, or the end) closes a pipe,
 * so the next program in a pipeline sees the end too.  A stdout that
 * fails (its reader gone) resets the pair: the loop sees POLLHUP, as it
 * sees POLLERR from a pipe on Unix.
 */
static DWORD WINAPI
stdout_relay(LPVOID arg)
{
	struct linger lg = { 1, 0 };
	DWORD w, e;
	int n;

	(void)arg;
	while ((n = recv(rout.s, rout.buf, sizeof(rout.buf), 0)) > 0)
		for (int off = 0; off < n; off += w)
			if (!WriteFile(rout.h, rout.buf + off, n - off, &w,
			    NULL)) {
				e = GetLastError();
				rout.err = e == ERROR_DISK_FULL ||
				    e == ERROR_HANDLE_DISK_FULL ? ENOSPC :
				    e == ERROR_BROKEN_PIPE ||
				    e == ERROR_NO_DATA ||
				    e == ERROR_PIPE_NOT_CONNECTED ? EPIPE : EIO;
				setsockopt(rout.s, SOL_SOCKET, SO_LINGER, &lg,
				    sizeof(lg));
				closesocket(rout.s);
				return 1;
			}
	/* A socket is shut down (a pipe refuses that), a pipe closed. */
	if (GetFileType(rout.h) == FILE_TYPE_PIPE &&
	    shutdown((SOCKET)rout.h, SD_SEND) != 0)
		(void)_close(STDOUT_FILENO);
	return 0;
}

/* Start fd's relay; the loop's end of its pair. */
static int
relay_start(struct relay *r, int fd, LPTHREAD_START_ROUTINE fn)
{
	SOCKET sv[2];

	r->h = (HANDLE)_get_osfhandle(fd);
	if (sock_pair(sv) < 0)
		die(EXIT_NET, errno, "socket pair for fd %d", fd);
	r->s = sv[1];
	if (!(r->thread = CreateThread(NULL, 0, fn, NULL, 0, NULL)))
		die(EXIT_NET, 0, "thread for fd %d: error %lu", fd,
		    (unsigned long)GetLastError());
	return (int)sv[0];
}

/*
 * At exit: what the loop wrote to stdout is in the pair, not yet with
 * its reader, as bytes in a pipe are on Unix; but they die with us,
 * so wait for the relay to write them (a stop: STOP_MS at most).  Bytes
 * it could not write are lost: status 1, and why unless the reader
 * left (EPIPE, quiet as on Unix).
 */
static void
relay_flush(void)
{
	if (io.out_open)
		(void)shutdown(io.ofd, SD_SEND);
	WaitForSingleObject(rout.thread, ss.stopping ? STOP_MS : INFINITE);
	if (!rout.err)
		return;
	if (rout.err != EPIPE && !rout.told)
		say(rout.err, "write to stdout");
	_exit(EXIT_NET);
}

/*
 * stdout, and stdin with it: a relay each (stdin's unless -d or it
 * cannot be read), started once the peer or the listener is there, as
 * stdin is read only then on Unix too.
 */
static void
stdout_open(void)
{
	io.ofd = relay_start(&rout, STDOUT_FILENO, stdout_relay);
	io.osock = 1;
	io.omax = SIZE_MAX;
	atexit(relay_flush);
	if (!opt.nostdin && io.in_open)
		io.ifd = relay_start(&rin, STDIN_FILENO, stdin_relay);
}

/* The peer has finished: our FIN tells the relay to close stdout. */
static void
stdout_close(void)
{
	if (!io.out_open)
		return;
	io.out_open = 0;
	(void)shutdown(io.ofd, SD_SEND);
}

/*
 * Wait up to ms (-1: for ever) for events on fd, as on Unix.  select,
 * not WSAPoll: WSAPoll did not report a failed connect before Windows
 * 10 2004; select shows it in the exception set.
 */
static int
wait_fd(int fd, short events, int ms)
{
	struct timeval tv = { ms / 1000, ms % 1000 * 1000 };
	fd_set r, w, x;
	int n;

	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_ZERO(&x);
	if (fd >= 0 && (events & POLLIN))
		FD_SET((SOCKET)fd, &r);
	if (fd >= 0 && (events & POLLOUT)) {
		FD_SET((SOCKET)fd, &w);
		FD_SET((SOCKET)fd, &x);
	}
	if (sigpipe[0] >= 0)
		FD_SET((SOCKET)sigpipe[0], &r);
	if (r.fd_count + w.fd_count == 0) {
		Sleep(ms < 0 ? INFINITE : (DWORD)ms);
		n = 0;
	} else if ((n = select(0, &r, &w, &x, ms < 0 ? NULL : &tv)) < 0) {
		return wsa_fail();
	}
	if (n > 0 && sigpipe[0] >= 0 && FD_ISSET((SOCKET)sigpipe[0], &r))
		errno = EINTR;
	else if (n == 0 && fd >= 0 && (events & POLLIN) && wine_error(fd))
		return 0;	/* a UDP port unreachable, said late */
	else if (n == 0)
		errno = ETIMEDOUT;
	else
		return 0;
	return -1;
}

/*
 * A console event is a stop, numbered as the signal it stands for (a
 * closed console as a hangup).  Windows ends the process once the
 * handler returns from a close, logoff or shutdown: it waits, so the
 * loop can end the session first.
 */
static BOOL WINAPI
on_console_event(DWORD ev)
{
	if (!got_signal)	/* the first is news, as on Unix */
		got_signal = ev == CTRL_C_EVENT ? SIGINT :
		    ev == CTRL_BREAK_EVENT ? SIGBREAK : 1;
	(void)send(sigpipe[1], "", 1, 0);
	if (ev != CTRL_C_EVENT && ev != CTRL_BREAK_EVENT)
		Sleep(STOP_MS + 1000);
	return TRUE;
}

static void
setup_signals(void)
{
	SOCKET sv[2];

	if (sock_pair(sv) < 0)
		die(EXIT_NET, errno, "socket pair");
	sigpipe[0] = (int)sv[0];
	sigpipe[1] = (int)sv[1];
	if (!SetConsoleCtrlHandler(on_console_event, TRUE))
		die(EXIT_NET, 0, "SetConsoleCtrlHandler: error %lu",
		    (unsigned long)GetLastError());
}

/*
 * This host's ZeroTier addresses with their prefixes, but link-local:
 * an adapter named as ZeroTier names it, or one carrying an RFC4193
 * ZeroTier address (renamed).
 */
static int
zt_scan(struct ztaddr *out, int max)
{
	IP_ADAPTER_ADDRESSES *aa = NULL, *a;
	IP_ADAPTER_UNICAST_ADDRESS *u;
	ULONG sz = 16 * 1024, rc = ERROR_BUFFER_OVERFLOW;
	char name[IF_NAMESIZE];
	struct cidr c;
	uint64_t nwid, node;
	int n = 0, zt;

	for (int tries = 0; tries < 3 && rc == ERROR_BUFFER_OVERFLOW; tries++) {
		free(aa);
		if (!(aa = malloc(sz)))
			return 0;
		rc = GetAdaptersAddresses(AF_UNSPEC, GAA_FLAG_SKIP_ANYCAST |
		    GAA_FLAG_SKIP_MULTICAST | GAA_FLAG_SKIP_DNS_SERVER, NULL,
		    aa, &sz);
	}
	for (a = rc == NO_ERROR ? aa : NULL; a && n < max; a = a->Next) {
		if (!WideCharToMultiByte(CP_UTF8, 0, a->FriendlyName, -1,
		    name, sizeof(name), NULL, NULL))
			continue;
		zt = zt_adapter(name, &nwid);
		for (u = a->FirstUnicastAddress; u && !zt; u = u->Next)
			zt = u->Address.lpSockaddr->sa_family == AF_INET6 &&
			    (cidr_of(u->Address.lpSockaddr, &c),
			    zt_ids(c.addr, &nwid, &node));
		for (u = a->FirstUnicastAddress; zt && u && n < max;
		    u = u->Next) {
			if (u->Address.lpSockaddr->sa_family != AF_INET &&
			    u->Address.lpSockaddr->sa_family != AF_INET6)
				continue;
			cidr_of(u->Address.lpSockaddr, &out[n].net);
			if (out[n].net.family == AF_INET6 &&
			    IN6_IS_ADDR_LINKLOCAL((struct in6_addr *)
			    out[n].net.addr))
				continue;
			out[n].net.bits = u->OnLinkPrefixLength;
			snprintf(out[n++].ifname, IF_NAMESIZE, "%s", name);
		}
	}
	free(aa);
	return n;
}
#endif	/* _WIN32 */


/* ---- messages ---- */

/* One write per message, so lines from several processes never mix. */
static void
vsay(int errnum, const char *fmt, va_list ap)
{
	char line[1024] = "ztpipe: ";
	int n = 8 + vsnprintf(line + 8, sizeof(line) - 8, fmt, ap);

	if (errnum && n < (int)sizeof(line))
		n += snprintf(line + n, sizeof(line) - n, ": %s",
		    strerror(errnum));
	if (n > (int)sizeof(line) - 2)	/* cut short, room for \n */
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

/* A time for messages: "200 ms", "1 s", "1.5 s". */
static const char *
ms_text(int ms)
{
	static char s[32];
	int n;

	if (ms < 1000) {
		snprintf(s, sizeof(s), "%d ms", ms);
		return s;
	}
	n = snprintf(s, sizeof(s), "%d.%03d", ms / 1000, ms % 1000);
	while (s[n - 1] == '0')
		n--;
	if (s[n - 1] == '.')
		n--;
	snprintf(s + n, sizeof(s) - n, " s");
	return s;
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
	b->data = malloc(cap);
	b->cap = b->data ? cap : 0;	/* no room is claimed without memory */
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

/* Make b's capacity cap (0: free it), its bytes kept at the front; -1
 * if realloc fails. */
static int
buf_resize(struct buf *b, size_t cap)
{
	char *d;

	if (cap == 0) {
		free(b->data);
		*b = (struct buf){ NULL, 0, 0, 0 };
		return 0;
	}
	if (b->start > 0)
		buf_compact(b);
	if (!(d = realloc(b->data, cap)))
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
 * Where the len bytes queued at p may be cut to pass on whole lines, so
 * that lines from different peers never mix: after the first newline
 * in the first max bytes (first: a chat line at a time) or after the
 * last one (-k: all whole lines at once).  With none there: all of
 * them once the peer is gone (final), or max bytes when that many hold
 * no newline (a longer line goes in pieces); else 0, wait for more.
 * Pure, for the fuzzer.
 */
static size_t
line_span(const char *p, size_t len, int final, size_t max, int first)
{
	size_t n = len < max ? len : max;

	for (size_t i = 0; i < n; i++)
		if (p[first ? i : n - 1 - i] == '\n')
			return first ? i + 1 : n - i;
	return final || len >= max ? n : 0;
}

/* ---- lists of peers ---- */

static struct link *
link_of(const struct list *l, struct peer *p)
{
	return (struct link *)(void *)((char *)p + l->off);
}

/* p at the tail of l, unless it is on l already. */
static void
list_add(struct list *l, struct peer *p)
{
	struct link *k = link_of(l, p);

	if (k->on)
		return;
	*k = (struct link){ l->tail, NULL, 1 };
	if (l->tail)
		link_of(l, l->tail)->next = p;
	else
		l->head = p;
	l->tail = p;
}

/* p off l, if it is on l. */
static void
list_del(struct list *l, struct peer *p)
{
	struct link *k = link_of(l, p);

	if (!k->on)
		return;
	if (k->prev)
		link_of(l, k->prev)->next = k->next;
	else
		l->head = k->next;
	if (k->next)
		link_of(l, k->next)->prev = k->prev;
	else
		l->tail = k->prev;
	*k = (struct link){ NULL, NULL, 0 };
}

/* ---- the poll set ---- */

/*
 * A round costs what happened in it, not the number of peers there:
 * what each peer waits for stays in the poll set from round to round,
 * and only the peers whose state changed (touched: read, written,
 * closed, their bytes taken by stdout, given budget) are looked at
 * again (reap).  What concerns every peer (stdin's bytes or its end,
 * stdout gone, the stuck and ack clocks) touches them all.  poll()
 * itself still looks at every peer that waits, each time: with 10,000
 * idle peers and one busy, that was nine tenths of the work, so on
 * Linux the peers wait in epoll, which hands over only those that are
 * ready (-DZTPIPE_POLL: poll() there too, the portable path).
 */
static void
touch(struct peer *p)
{
	list_add(&lp.touched, p);
	if (buf_len(&p->in) > 0)	/* the route's, before reap */
		list_add(&peers.ready, p);
}

static void
touch_all(void)
{
	for (int i = 0; i < peers.n; i++)
		touch(peers.p[i]);
}

/* Room in the poll set for one more peer, and for the endpoints.  The
 * epoll fd comes first, before peers can use up the fds. */
static void
loop_room(void)
{
	struct pollfd *pfd;
	struct peer **polled;
	int cap = 2 * lp.cap + 8;

	if (lp.pfd && lp.np < lp.cap)
		return;
#ifdef USE_EPOLL
	if (lp.epfd < 0 && (lp.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		fail(errno, "epoll_create1");
#endif
	if (!(pfd = realloc(lp.pfd, (SLOT_PEER + cap) * sizeof(*pfd))))
		fail(errno, "realloc");
	lp.pfd = pfd;
	if (!(polled = realloc(lp.polled, cap * sizeof(*polled))))
		fail(errno, "realloc");
	lp.polled = polled;
	lp.cap = cap;
}

/*
 * From now on p waits for ev; 0: for nothing, out of the set (poll()
 * refuses more entries than RLIMIT_NOFILE allows, and a peer that waits
 * for nothing still reports a hangup).
 */
static void
watch(struct peer *p, short ev)
{
	if (ev == p->ev)
		return;
#ifdef USE_EPOLL
	struct epoll_event ee = { (ev & POLLIN ? EPOLLIN : 0) |
	    (ev & POLLOUT ? EPOLLOUT : 0), { .ptr = p } };

	if (lp.epfd < 0)
		loop_room();
	if (epoll_ctl(lp.epfd, !p->ev ? EPOLL_CTL_ADD : ev ? EPOLL_CTL_MOD :
	    EPOLL_CTL_DEL, p->fd, &ee) < 0)
		fail(errno, "epoll_ctl");
#else
	if (!ev) {	/* the last entry takes its place */
		lp.pfd[SLOT_PEER + p->slot] = lp.pfd[SLOT_PEER + --lp.np];
		lp.polled[p->slot] = lp.polled[lp.np];
		lp.polled[p->slot]->slot = p->slot;
	} else {
		if (!p->ev) {
			loop_room();
			lp.polled[p->slot = lp.np++] = p;
		}
		lp.pfd[SLOT_PEER + p->slot] = (struct pollfd){ p->fd, ev, 0 };
	}
#endif
	p->ev = ev;
}

/* p's socket is about to close: it waits no more.  epoll forgets a
 * closed socket by itself; poll() skips an fd of -1 until reap takes
 * the entry out. */
static void
watch_closed(struct peer *p)
{
#ifdef USE_EPOLL
	p->ev = 0;
#else
	if (p->ev)
		lp.pfd[SLOT_PEER + p->slot].fd = -1;
#endif
}

/* ---- addresses and sockets ---- */

static int
is_number(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
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
	se = getservbyname(s, opt.proto);
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
	*sin = (struct sockaddr_in){ .sin_family = AF_INET,
	    .sin_port = s6->sin6_port };
	memcpy(&sin->sin_addr, &s6->sin6_addr.s6_addr[12], 4);
	return (const struct sockaddr *)sin;
}

/* "10.1.2.3 port 40000"; IPv4-mapped IPv6 shown as plain IPv4. */
static void
addr_name(const struct sockaddr *sa, char *out, size_t outsz)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE], serv[8];
	struct sockaddr_in sin;

	sa = unmap(sa, &sin);
	if (getnameinfo(sa, sa->sa_family == AF_INET ? sizeof(sin) :
	    sizeof(struct sockaddr_in6), host, sizeof(host), serv,
	    sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
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

/* TCP: interactive lines go out at once; bulk writes are large anyway;
 * urgent data stays in line, where it was sent.
 * UDP: a large kernel buffer, so bursts wait there, not dropped (as
 * root, past rmem_max); on Linux, the count of drops (SO_RXQ_OVFL). */
static void
tune(int fd)
{
	int sz = UDPRCVBUF, one = 1;

	if (opt.socktype != SOCK_DGRAM) {
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		/* An urgent byte (MSG_OOB) is a byte of the stream too. */
		(void)setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one));
		return;
	}
#ifdef SO_RCVBUFFORCE
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
#endif
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
#ifdef SO_RXQ_OVFL
	(void)setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
#endif
}

/* getaddrinfo, with one clear message for every way it can fail. */
static struct addrinfo *
resolve(const char *host, const char *port, int passive)
{
	struct addrinfo *res, hints = { .ai_family = opt.family,
	    .ai_socktype = opt.socktype, .ai_flags = passive ? AI_PASSIVE : 0 };
	int e = getaddrinfo(host, port, &hints, &res);

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
			    opt.family == AF_INET ? "-4" : "-6");
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
	struct sockaddr_storage bound;
	socklen_t sl = sizeof(bound);
	char name[NAMESZ], failed[NAMESZ] = "";
	int fd = -1, one = 1, v6only = opt.family == AF_INET6, err = 0;

	res = resolve(host, port, 1);
	/* glibc lists 0.0.0.0 first for a NULL host; prefer "::" for dual stack. */
	for (int pass = 0; pass < 2 && fd < 0; pass++)
		for (ai = res; ai && fd < 0; ai = ai->ai_next) {
			if (host ? pass == 1 :
			    (pass == 0) != (ai->ai_family == AF_INET6))
				continue;
			addr_name(ai->ai_addr, name, sizeof(name));
			fd = socket(ai->ai_family, ai->ai_socktype, 0);
			if (fd < 0) {
				if (!*failed)
					err = errno;
				continue;
			}
			(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
			    sizeof(one));
			if (ai->ai_family == AF_INET6)
				(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
				    &v6only, sizeof(v6only));
			if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
			    (ai->ai_socktype == SOCK_STREAM &&
			    listen(fd, BACKLOG) < 0)) {
				/* Say the first address that could not be
				 * bound: "::", not the 0.0.0.0 tried next. */
				if (!*failed) {
					err = errno;
					memcpy(failed, name, sizeof(name));
				}
				close(fd);
				fd = -1;
			}
		}
	freeaddrinfo(res);
	if (fd < 0)
		die(EXIT_NET, err, "listen on %s", *failed ? failed : name);
	if (set_nonblock(fd, NULL) < 0)
		die(EXIT_NET, errno, "fcntl");
	tune(fd);
	if (getsockname(fd, (struct sockaddr *)&bound, &sl) == 0) {
		addr_name((struct sockaddr *)&bound, name, sizeof(name));
		note("listening on %s", name);
		if (opt.verbose)
			zt_dial_hints((struct sockaddr *)&bound);
	}
	return fd;
}

#ifndef _WIN32	/* Windows: see its platform section */
/*
 * Wait up to ms (-1: for ever) for events on fd; 0 if they came, else
 * -1 with errno ETIMEDOUT, or EINTR if a stop signal came first (once
 * setup_signals has made the self-pipe).
 */
static int
wait_fd(int fd, short events, int ms)
{
	struct pollfd p[2] = { { fd, events, 0 }, { sigpipe[0], POLLIN, 0 } };
	int n;

	do
		n = poll(p, 2, ms);
	while (n < 0 && errno == EINTR);
	if (n > 0 && p[1].revents)
		errno = EINTR;
	else if (n == 0)
		errno = ETIMEDOUT;
	return n > 0 && !p[1].revents ? 0 : -1;
}
#endif

/* Bind to -s source, in the family of the address being dialled. */
static int
bind_source(int fd, int family)
{
	struct addrinfo *res, *ai, hints = { .ai_family = family,
	    .ai_socktype = opt.socktype, .ai_flags = AI_PASSIVE };
	int rc = -1;

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
	socklen_t sl = sizeof(*err);	/* SO_ERROR's, an int */
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
		*err = errno;	/* refused, unreachable, ... */
		if (*err == EINPROGRESS &&
		    (wait_fd(fd, POLLOUT, opt.wait_ms) < 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, err, &sl) < 0))
			*err = errno;	/* timed out, or a signal */
		if (*err == 0)
			return fd;	/* the handshake ended well */
		close(fd);
		if (*err == EINTR)
			return -1;
		if (!quiet)
			say(*err, "connect to %s", name);
	}
	return -1;
}

/*
 * Connect to the first address of host that answers.  With -R, try
 * again with a growing pause until it answers or the time is up, so a
 * sender can start before its receiver.  The last pause is cut short to
 * end at the deadline, where one last try is made: -R 2 means 2 s of
 * trying, not the 1.5 s that whole pauses happen to fit.
 */
static int
dial(const char *host, const char *port)
{
	struct addrinfo *res = resolve(zt_node_host(host), port, 0);
	struct sockaddr_storage last;
	long long now, until = opt.retry_ms > 0 ? now_ms() + opt.retry_ms : 0;
	char name[NAMESZ];
	int fd, err = 0, pause = 100;

	for (;;) {
		fd = dial_once(res, until != 0, &err, &last, name, sizeof(name));
		if (fd >= 0 || err == EINTR || !until || (now = now_ms()) >= until)
			break;
		note("connect to %s: %s; trying again", name, strerror(err));
		if (wait_fd(-1, 0, until - now < pause ? (int)(until - now) :
		    pause) < 0 && errno == EINTR) {
			err = EINTR;
			break;
		}
		pause = pause * 2 > 2000 ? 2000 : pause * 2;
	}
	freeaddrinfo(res);
	if (err == EINTR)	/* a stop signal: a session that never began */
		fail(0, "signal %d while connecting to %s", (int)got_signal,
		    name);
	if (fd < 0) {
		if (until)
			say(err, "connect to %s", name);
		zt_fail_hint((struct sockaddr *)&last, err);
		fail(0, NULL);	/* said: the end has only -v's summary */
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
		/* UDP has no handshake: an empty datagram, then 1 s (-w)
		 * for the port unreachable a closed port answers with. */
		if (fd >= 0 && opt.socktype == SOCK_DGRAM &&
		    (send(fd, "", 0, 0) < 0 || (wait_fd(fd, POLLIN,
		    opt.wait_ms > 0 ? opt.wait_ms : 1000) == 0 &&
		    recv(fd, port, 1, 0) < 0))) {
			err = errno;
			close(fd);
			fd = -1;
		}
		if (fd >= 0) {
			close(fd);
			listening++;
			if (opt.verbose || lo != hi)
				say(0, "%s open%s", name, opt.socktype ==
				    SOCK_DGRAM ? " or filtered" : "");
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
	memset(a, 0, 16);
	a[0] = 0xfc;
	for (int i = 0; i < 4; i++)
		a[1 + i] = (nwid ^ nwid >> 32) >> (24 - 8 * i);
	for (int i = 0; i < 5; i++)
		a[5 + i] = node >> (32 - 8 * i);
	a[15] = 1;
}

/*
 * The network and node IDs inside an RFC4193 ZeroTier address; 0 if not
 * one, as an IPv4 cidr (zero after its 4 bytes) never is.
 */
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

/* An address as a cidr; IPv4-mapped IPv6 becomes plain IPv4. */
static void
cidr_of(const struct sockaddr *sa, struct cidr *c)
{
	struct sockaddr_in sin;

	sa = unmap(sa, &sin);
	if (sa->sa_family == AF_INET) {
		*c = (struct cidr){ .family = AF_INET, .bits = 32 };
		memcpy(c->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else {
		*c = (struct cidr){ .family = AF_INET6, .bits = 128 };
		memcpy(c->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
}

/*
 * Windows names a ZeroTier adapter after its network, "ZeroTier One
 * [8056c2e21c000001]": 1 and the network ID in *nwid if name is one.
 * No emulator shows such a name, so test/windows.bats checks this on
 * its own.  Pure.
 */
static int
zt_adapter(const char *name, uint64_t *nwid)
{
	static const char pre[] = "ZeroTier One [";
	char hex[17];

	if (strncmp(name, pre, sizeof(pre) - 1) != 0)
		return 0;
	name += sizeof(pre) - 1;
	if (strlen(name) != 17 || name[16] != ']')
		return 0;
	memcpy(hex, name, 16);
	hex[16] = '\0';
	return parse_hex(hex, 16, nwid) == 0;
}

#ifndef _WIN32	/* Windows: see its platform section */
/*
 * Is interface name ZeroTier's?  Named zt... (Linux, BSD) or feth...
 * (macOS) or, renamed, carrying an RFC4193 ZeroTier address.
 */
static int
zt_iface(const struct ifaddrs *ifa, const char *name)
{
	struct cidr c;
	uint64_t nwid, node;

	if (strncmp(name, "zt", 2) == 0 || strncmp(name, "feth", 4) == 0 ||
	    zt_adapter(name, &nwid))
		return 1;
	for (; ifa; ifa = ifa->ifa_next)
		if (ifa->ifa_addr && ifa->ifa_addr->sa_family == AF_INET6 &&
		    strcmp(ifa->ifa_name, name) == 0) {
			cidr_of(ifa->ifa_addr, &c);
			if (zt_ids(c.addr, &nwid, &node))
				return 1;
		}
	return 0;
}

/* This host's ZeroTier addresses with their prefixes, but link-local. */
static int
zt_scan(struct ztaddr *out, int max)
{
	struct ifaddrs *ifa, *i;
	const unsigned char *mask;
	struct cidr *c;
	int n = 0, fam, bits;

	if (getifaddrs(&ifa) < 0)
		return 0;
	for (i = ifa; i && n < max; i = i->ifa_next) {
		fam = i->ifa_addr ? i->ifa_addr->sa_family : 0;
		if ((fam != AF_INET && fam != AF_INET6) ||
		    !zt_iface(ifa, i->ifa_name))
			continue;
		c = &out[n].net;
		cidr_of(i->ifa_addr, c);
		if (fam == AF_INET6 &&
		    IN6_IS_ADDR_LINKLOCAL((struct in6_addr *)c->addr))
			continue;
		snprintf(out[n++].ifname, IF_NAMESIZE, "%s", i->ifa_name);
		if (!i->ifa_netmask)
			continue;
		/* The prefix length: the leading one bits of the mask. */
		mask = fam == AF_INET ? (const unsigned char *)
		    &((struct sockaddr_in *)i->ifa_netmask)->sin_addr :
		    ((struct sockaddr_in6 *)i->ifa_netmask)->sin6_addr.s6_addr;
		for (bits = c->bits, c->bits = 0; c->bits < bits &&
		    (mask[c->bits / 8] & 0x80 >> c->bits % 8); c->bits++)
			;
	}
	freeifaddrs(ifa);
	return n;
}
#endif

/* The networks this host is in, from its RFC4193 addresses; how many. */
static int
zt_networks(uint64_t *nwids, int max)
{
	struct ztaddr z[64];
	uint64_t nwid, node;
	int n = zt_scan(z, 64), k = 0, j;

	for (int i = 0; i < n; i++) {
		if (!zt_ids(z[i].net.addr, &nwid, &node))
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
 * A 10-hex-digit host, or zt: and one, is a node ID: dial it at its
 * address on the network from --network, $ZTPIPE_NETWORK or the only
 * one we are in.  Ten decimal digits can also be an IPv4 address as
 * one number (2130706433 is 127.0.0.1, to getaddrinfo and nc): two
 * machines, so no guess; the error says how to write each.
 */
static const char *
zt_node_host(const char *host)
{
	static char addr[INET6_ADDRSTRLEN];
	struct addrinfo *ai, hints = { .ai_family = AF_INET,
	    .ai_flags = AI_NUMERICHOST };
	uint64_t node, nwid, nwids[8];
	unsigned char a[16];
	const char *net = opt.network ? opt.network : getenv("ZTPIPE_NETWORK");
	char list[8 * 18] = "", v4[INET_ADDRSTRLEN];
	int n, prefixed = strncmp(host, "zt:", 3) == 0;

	if (prefixed && parse_hex(host + 3, 10, &node) < 0)
		usage_error("bad node ID: '%s' (zt: and 10 hex digits)", host);
	if (prefixed)
		host += 3;
	else if (parse_hex(host, 10, &node) < 0)
		return host;
	if (!prefixed && getaddrinfo(host, NULL, &hints, &ai) == 0) {
		inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr,
		    v4, sizeof(v4));
		freeaddrinfo(ai);
		usage_error("%s is both IPv4 address %s and a ZeroTier node ID: "
		    "write %s for the address, zt:%s for the node", host, v4,
		    v4, host);
	}
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
	int n = zt_scan(z, 64), j;

	if (n == 0)
		die(EXIT_NET, 0, "no ZeroTier interface found: %s",
		    zt_hint_setup);
	/* getifaddrs lists all IPv4 addresses, then all IPv6: group by name. */
	for (int i = 0; i < n; i++) {
		for (j = 0; strcmp(z[j].ifname, z[i].ifname) != 0; j++)
			;
		if (j < i)
			continue;	/* listed with its first address */
		printf("%s", z[i].ifname);
		for (j = i; j < n; j++)
			if (strcmp(z[j].ifname, z[i].ifname) == 0 &&
			    zt_ids(z[j].net.addr, &nwid, &node)) {
				printf("  network %016" PRIx64
				    "  node %010" PRIx64, nwid, node);
				break;
			}
		printf("\n");
		for (j = i; j < n; j++)
			if (strcmp(z[j].ifname, z[i].ifname) == 0) {
				inet_ntop(z[j].net.family, z[j].net.addr, a,
				    sizeof(a));
				printf("  %s/%d\n", a, z[j].net.bits);
			}
	}
	return 0;
}

/* -l -v: the commands a peer can run to reach the listener bound to sa. */
static void
zt_dial_hints(const struct sockaddr *sa)
{
	static const unsigned char any[16];
	struct ztaddr z[64];
	struct cidr b, *c;
	uint64_t nwid, node, nwids[8], last = 0;
	char a[INET6_ADDRSTRLEN];
	int n = zt_scan(z, 64), nnets = zt_networks(nwids, 8), all, dual;
	int port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	const char *u = opt.socktype == SOCK_DGRAM ? "-u " : "";

	cidr_of(sa, &b);
	all = memcmp(b.addr, any, 16) == 0;
	/* "::" takes IPv4 peers too, unless -6 made it IPv6 only. */
	dual = all && b.family == AF_INET6 && opt.family != AF_INET6;
	for (int i = 0; i < n; i++) {
		c = &z[i].net;
		if ((c->family != b.family && !dual) ||
		    (!all && memcmp(c->addr, b.addr, 16) != 0))
			continue;
		inet_ntop(c->family, c->addr, a, sizeof(a));
		note("a peer can run: ztpipe %s%s %d", u, a, port);
		/* One node, one ID, but one command per network. */
		if (!zt_ids(c->addr, &nwid, &node) || nwid == last)
			continue;
		last = nwid;
		/* All digits: zt: keeps it from being read as IPv4. */
		snprintf(a, sizeof(a), "%010" PRIx64, node);
		if (nnets > 1)
			note("a peer can run: ztpipe %s--network %016" PRIx64
			    " %s%s %d", u, nwid, is_number(a) ? "zt:" : "", a,
			    port);
		else
			note("a peer can run: ztpipe %s%s%s %d", u,
			    is_number(a) ? "zt:" : "", a, port);
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
	inet_ntop(dst.family, dst.addr, a, sizeof(a));
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

	if (snprintf(buf, sizeof(buf), "%s", s) >= (int)sizeof(buf))
		return -1;
	memset(c, 0, sizeof(*c));
	if ((slash = strchr(buf, '/')))
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, c->addr) == 1)
		c->family = AF_INET, c->bits = 32;
	else if (inet_pton(AF_INET6, buf, c->addr) == 1)
		c->family = AF_INET6, c->bits = 128;
	else
		return -1;
	if (slash && (!is_number(slash) || strlen(slash) > 3 ||
	    atoi(slash) > c->bits))
		return -1;
	if (slash)
		c->bits = atoi(slash);
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
	char *copy = strdup(list), *rest = copy, *tok;
	struct ztaddr z[64];
	struct cidr *a;
	int n;

	if (!copy)
		die(EXIT_NET, errno, "strdup");
	/* Not strtok: it skips empty entries, and "--allow ''" would allow all. */
	while ((tok = strsep(&rest, ",")) != NULL) {
		if (strcmp(tok, "zt") != 0) {
			n = 1;
			if (cidr_parse(tok, &z[0].net) < 0)
				usage_error("bad --allow entry: '%s'", tok);
		} else if ((n = zt_scan(z, 64)) == 0) {
			die(EXIT_NET, 0, "--allow zt: no ZeroTier interface "
			    "found: %s", zt_hint_setup);
		}
		if (!(a = realloc(opt.allow, (opt.nallow + n) * sizeof(*a))))
			die(EXIT_NET, errno, "realloc");
		opt.allow = a;
		for (int i = 0; i < n; i++)
			opt.allow[opt.nallow++] = z[i].net;
	}
	free(copy);
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

/* ---- text for terminals ---- */

/*
 * Length of the valid UTF-8 sequence at s (n bytes there), with its code
 * point in *cp, or 0 for anything else: overlong forms, surrogates, past
 * U+10FFFF, and the C1 controls, which some terminals obey.  Pure, for
 * the fuzzer.
 */
static size_t
utf8_len(const unsigned char *s, size_t n, unsigned long *cp)
{
	size_t len, i;

	*cp = s[0];
	if (s[0] < 0x80)
		return 1;
	len = s[0] < 0xc2 ? 0 : s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 :
	    s[0] < 0xf5 ? 4 : 0;
	if (len == 0 || n < len)
		return 0;
	*cp = s[0] & (0x7f >> len);
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = *cp << 6 | (s[i] & 0x3f);
	}
	if (*cp < (len == 2 ? 0xa0 : len == 3 ? 0x800 : 0x10000) ||
	    *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return len;
}

/*
 * Does cp show nothing yet change how the text around it looks?  The
 * bidirectional controls (a name ending in an open right-to-left
 * override turns the line that follows around), zero-width characters
 * and joiners, line and paragraph separators, the byte order mark, the
 * soft hyphen, invisible operators and tags: with them "admin" and
 * "ad\u200bmin" look the same.  Pure.
 */
static int
invisible(unsigned long cp)
{
	return cp == 0xad || cp == 0x61c || cp == 0x180e ||
	    (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
	    (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff ||
	    (cp >= 0xfff9 && cp <= 0xfffb) || (cp >= 0xe0000 && cp <= 0xe007f);
}

/*
 * Make a peer's text safe for a terminal: controls become visible as
 * ^X, invisible characters as \u202e (\U000e0041 past U+FFFF, the
 * notation of C and Python), invalid bytes U+FFFD, other valid UTF-8
 * passes untouched.  No input byte yields more than three output bytes
 * (\u00ad stands for 2 bytes, \u202e for 3, \U000e0041 for 4), so out
 * needs room for 3 * len bytes.  Pure, for the fuzzer.
 */
static size_t
chat_clean(const char *in, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)in;
	unsigned long cp;
	size_t i = 0, o = 0, n;
	int digits;

	while (i < len) {
		if ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f) {
			out[o++] = '^';
			out[o++] = s[i++] ^ 0x40;
		} else if ((n = utf8_len(s + i, len - i, &cp)) > 0 &&
		    invisible(cp)) {
			digits = cp > 0xffff ? 8 : 4;
			out[o++] = '\\';
			out[o++] = digits == 8 ? 'U' : 'u';
			while (digits-- > 0)
				out[o++] = hex[(cp >> 4 * digits) & 0xf];
			i += n;
		} else if (n > 0) {
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


/* ---- endpoints: peers ---- */

static void
peer_free(struct peer *p)
{
	for (int i = 0; i < 2; i++)
		if (p->pipe[i] >= 0)
			close(p->pipe[i]);
	watch(p, 0);
	list_del(&lp.touched, p);
	list_del(&peers.ready, p);
	list_del(&mem.starved, p);
	if (!p->pair)	/* --to: an end's input is its own */
		mem.used -= p->in.cap;
	if (mem.over == p)
		mem.over = NULL;
	free(p->in.data);
	free(p->out.data);
	free(p);
}

/*
 * Room for p to read into, out of BUDGET: a buffer of the route's size
 * for a peer that has none, or twice its buffer (up to LINEMAX) for a
 * line that fills it.  0 if the budget is spent: p waits (mem_wake
 * serves those that wait, oldest first); the only buffer never waits.
 * One peer at a time may
 * overdraw it for a long line: peers that all hold half lines would
 * otherwise wait on each other for ever.
 */
static int
peer_buf(struct peer *p)
{
	size_t was = p->in.cap, cap = was ? 2 * was : ss.route->inbuf;

	if (was && cap > LINEMAX)
		cap = LINEMAX;
	if (mem.used > was && mem.used + cap - was > BUDGET) {
		if (!was || (mem.over && mem.over != p))
			return 0;
		mem.over = p;
	}
	if (buf_resize(&p->in, cap) < 0)
		fail(errno, "realloc");
	mem.used += cap - was;
	return 1;
}

/*
 * What p's buffer no longer holds goes back to the budget: all of it
 * once empty, so that a peer that is quiet or gone holds none, and a
 * long line's room once the line is out.  A pipe's one peer keeps its
 * buffer, and so does a --to end.
 */
static void
peer_trim(struct peer *p)
{
	size_t len = buf_len(&p->in), was = p->in.cap;
	size_t cap = len ? ss.route->inbuf : 0;

	if (ss.route->single || p->pair || was <= cap || len > cap ||
	    buf_resize(&p->in, cap) < 0)
		return;
	mem.used -= was - cap;
	if (mem.over == p)
		mem.over = NULL;
}

/* Budget given back: the peers that wait for it get it, oldest first. */
static void
mem_wake(void)
{
	struct peer *p;

	while ((p = mem.starved.head) && peer_buf(p)) {
		list_del(&mem.starved, p);
		touch(p);
	}
}

static struct peer *
peer_add(int fd, const struct sockaddr *sa)
{
	struct peer *p, **grown;
	int cap = peers.cap ? peers.cap * 2 : 8;

	if (peers.n == peers.cap) {
		if (!(grown = realloc(peers.p, cap * sizeof(*grown))))
			return NULL;
		peers.p = grown;
		peers.cap = cap;
	}
	/* Its input buffer comes with its first bytes (peer_read), or
	 * from the route (--to). */
	if (!(p = calloc(1, sizeof(*p))))
		return NULL;
	p->pipe[0] = p->pipe[1] = -1;
	if (ss.route->outq && buf_init(&p->out, ss.route->outq) < 0) {
		peer_free(p);
		return NULL;
	}
	p->fd = fd;
	p->life = OPEN;
	p->serial = ++peers.serials;
	p->sent = io.ring_base + buf_len(&io.ring);	/* no replay */
	p->moved_at = tm.last_data = ss.now;
	tm.wait = 0;	/* -w: someone came */
	addr_name(sa, p->name, sizeof(p->name));
	/* Its chat name is its address, until it sends "/name ...". */
	snprintf(p->nick, sizeof(p->nick), "%.*s",
	    (int)strcspn(p->name, " "), p->name);
	tune(fd);
	peers.nconn++;
	p->index = peers.n;
	peers.p[peers.n++] = p;
	touch(p);
	return p;
}

/* Bytes sent to fd that its peer has not acknowledged; 0 if unknown. */
static int
unacked(int fd)
{
	int n = 0;
#if defined(TIOCOUTQ)		/* Linux */
	if (ioctl(fd, TIOCOUTQ, &n) < 0)
		n = 0;
#elif defined(SO_NWRITE)	/* macOS */
	socklen_t sl = sizeof(n);

	if (getsockopt(fd, SOL_SOCKET, SO_NWRITE, &n, &sl) < 0)
		n = 0;
#else
	(void)fd;
#endif
	return n;
}

/*
 * A deliberate abort closes with a reset (SO_LINGER 0), never a clean
 * FIN: the other end must not take a cut transfer for a whole one.
 */
static void
linger0(int fd)
{
	struct linger lg = { 1, 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/*
 * Normally both directions are done first: no unread input, no reset.
 * Then a clean close of the last peer waits (STOP_MS at most) until
 * its kernel has every byte: a peer that had closed answers them with
 * a reset, which is its error, not a success.
 */
static void
peer_close(struct peer *p, int reset)
{
	socklen_t sl = sizeof(int);
	int err = 0;

	if (p->fd < 0)
		return;
	struct pollfd pfd = { p->fd, 0, 0 };

	for (int i = 0; !reset && ss.route->single && i < STOP_MS / 10 &&
	    unacked(p->fd) > 0 && !(pfd.revents & POLLERR); i++)
		(void)poll(&pfd, 1, 10);
	if (!reset && getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &sl) == 0)
		p->err = p->err ? p->err : err;
	if (reset)
		linger0(p->fd);
	watch_closed(p);
	close(p->fd);
	p->fd = -1;
	p->life = DRAINING;
	peers.nconn--;
	list_del(&mem.starved, p);	/* it reads no more */
	io.cursors_moved = 1;
	touch(p);
}

static int
peer_reading(const struct peer *p)
{
	return p->life == OPEN || p->life == OUTPUT_DONE;
}

static int
peer_writing(const struct peer *p)
{
	return p->life == OPEN || p->life == INPUT_DONE;
}

/*
 * One direction is over; the socket closes once both are.  INPUT_DONE:
 * nothing more comes from it, FIN (err 0) or an error.  OUTPUT_DONE: we
 * send it nothing more, FIN once stdin is all out, or a write failed;
 * it is still read dry then: the bytes it sent before the error wait in
 * the kernel, and they are its.
 */
static void
peer_done(struct peer *p, enum life half, int err)
{
	p->err = p->err ? p->err : err;
	if (!err && half == INPUT_DONE) {
		p->fin = 1;
		note("%s closed its side", p->name);
	} else if (!err && shutdown(p->fd, SHUT_WR) < 0 && errno != ENOTCONN) {
		say(errno, "shutdown %s", p->name);
	}
	if ((err && half == INPUT_DONE) ||
	    (p->life != OPEN && p->life != half))
		peer_close(p, 0);
	else
		p->life = half;
	io.cursors_moved = 1;
	touch(p);
}

/* --to: the other end of p's pair; NULL if none, or gone. */
static struct peer *
pair_other(const struct peer *p)
{
	return !p->pair ? NULL : p == p->pair->client ? p->pair->target :
	    p->pair->client;
}

/* The queue a peer is written from: its own, or with --to what the
 * other end of its pair sent; NULL: the stdin ring. */
static struct buf *
peer_queue(const struct peer *p)
{
	struct peer *from = pair_other(p);

	if (ss.route->broadcast)
		return NULL;
	return from ? &from->in : (struct buf *)&p->out;
}

/* What waits to go to it, at *data unless NULL: its queue, or the
 * stdin ring past its cursor. */
static size_t
peer_out(const struct peer *p, const char **data)
{
	const struct buf *b = peer_queue(p) ? peer_queue(p) : &io.ring;
	size_t off = ss.route->broadcast ? p->sent - io.ring_base : 0;

	if (data)
		*data = b->data + b->start + off;
	return peer_writing(p) ? buf_len(b) - off : 0;
}

/*
 * Into its buffer, which it gets here (or waits for, behind those that
 * wait already: its kernel holds its bytes meanwhile).  With many
 * peers, once more while room is left: a client that sent its lines
 * and left is done in one round, and its place (-m) is free for the
 * next caller.
 */
static void
peer_read(struct peer *p)
{
	ssize_t n = 0;

	if (!p->in.data && (mem.starved.head || !peer_buf(p)))
		list_add(&mem.starved, p);
	else
		do {
			if ((n = buf_fill(&p->in, p->fd)) > 0) {
				ss.nrecv += n;
				p->got += n;
				tm.last_data = ss.now;
			} else if (n == 0 || (errno != EAGAIN &&
			    errno != EINTR)) {
				peer_done(p, INPUT_DONE, n == 0 ? 0 : errno);
			}
		} while (n > 0 && !ss.route->single && buf_room(&p->in) > 0);
	touch(p);
}

static void
peer_write(struct peer *p)
{
	const char *data;
	size_t len = peer_out(p, &data);
	ssize_t n;

	if (len == 0 || p->wblocked)
		return;
	if ((n = write(p->fd, data, len)) > 0) {
		if (ss.route->broadcast)
			p->sent += n;
		else
			peer_queue(p)->start += n;
		io.cursors_moved = 1;
		ss.nsent += n;
		p->moved_at = tm.last_data = ss.now;
		p->wblocked = (size_t)n < len;	/* the socket is full */
	} else if (errno == EAGAIN) {
		p->wblocked = 1;
	} else if (errno != EINTR) {
		peer_done(p, OUTPUT_DONE, errno);
	}
}

/*
 * What p waits for from poll().  A line buffer (-k, --chat) that is
 * full with no whole line in it grows first, up to LINEMAX, or the
 * peer would never be read again; it waits while the budget is spent.
 * A peer with no buffer gets one when it has bytes (peer_read); a
 * --to end's buffer or pipe is its own, out of the budget.  A handshake
 * under way waits for POLLOUT, which says it has ended, well or not.
 */
static short
peer_wants(struct peer *p)
{
	short ev = 0;

	if (p->life == CONNECTING)
		return POLLOUT;
	if (!p->pair && peer_reading(p) && !p->starved.on && p->in.data &&
	    buf_room(&p->in) == 0 && p->in.cap < LINEMAX &&
	    line_span(p->in.data + p->in.start, buf_len(&p->in), 0,
	    LINEMAX, 0) == 0 && !peer_buf(p))
		list_add(&mem.starved, p);
	if (peer_reading(p) && !p->starved.on &&
	    (buf_room(&p->in) > 0 || (!p->in.data && !p->pair)))
		ev |= POLLIN;
	if (peer_out(p, NULL) > 0)
		ev |= POLLOUT;
	/* Still ours to write to, with nothing to write: a reset must be
	 * heard now, not at the next write, maybe hours away (a tail -F
	 * sender whose listener left).  poll() and epoll report errors
	 * unasked; a socket that has not sent FIN reports nothing else.
	 * Not while it is still read, only waiting for room: its read
	 * finds the error after its bytes, and taken here the error
	 * would be gone, the read's end then a FIN (-k: a reset said as
	 * a close). */
	if (!ev && peer_writing(p) && !peer_reading(p) && p->fd >= 0)
		ev = POLLERR;
	return ev;
}

/* The error a socket holds (and clears), 0 if none. */
static int
sock_error(int fd)
{
	socklen_t sl = sizeof(int);
	int err = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
		err = errno;
	return err;
}

/* Its handshake has ended (POLLOUT): OPEN, or done with the error. */
static void
peer_connected(struct peer *p)
{
	int err = sock_error(p->fd);

	if (err == 0)
		p->life = OPEN;
	else
		peer_done(p, INPUT_DONE, err);
}

/*
 * A fatal error after start-up: say it (no fmt: nothing to say, as
 * when stdout's reader has left) and end the session, which resets
 * every stream it cuts.
 */
static void
fail(int errnum, const char *fmt, ...)
{
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsay(errnum, fmt, ap);
		va_end(ap);
	}
	ss.said = 1;
	ss.status = EXIT_NET;
	session_end();
}

/* ---- endpoints: stdin, stdout, the listener ---- */

/*
 * A datagram read must land in an empty ring: one read, one datagram.
 * A stop still drains what stdin holds, but for a person's typing.
 * stdin is never made nonblocking (see stdout_open): it is read only
 * when poll() says it has something.
 */
static int
stdin_wanted(void)
{
	return (ss.route->alone || peers.nconn + dg.nto > 0) && io.in_open &&
	    !opt.nostdin && !(ss.stopping && io.tty) && (ss.route->dgram ?
	    buf_len(&io.ring) == 0 : buf_room(&io.ring) > 0);
}

/*
 * stdin has more to give: a pipe, file or device short of its end is an
 * unfinished stream, and a session that ends then cuts it.  A person at
 * a terminal (a chat), or -d, owes nothing.
 */
static int
stdin_unfinished(void)
{
	return io.in_open && !opt.nostdin && !io.tty;
}

/* What is left to read of a regular file on stdin; -1 if it is none. */
static long long
stdin_file_left(void)
{
	struct stat sb;
	off_t at;

	if (fstat(STDIN_FILENO, &sb) < 0 || !S_ISREG(sb.st_mode) ||
	    (at = lseek(STDIN_FILENO, 0, SEEK_CUR)) < 0)
		return -1;
	return sb.st_size - at;
}

/*
 * UDP has no stream to cut, only datagrams to lose: stdin holds bytes
 * not sent, a file's rest (FIONREAD's int would wrap with 2 GiB left)
 * or bytes in a pipe, or on Windows in stdin's relay, which reads a
 * file ahead.  /dev/null holds none.
 */
static int
stdin_holds(void)
{
	int k = 0;

	if (!stdin_unfinished())
		return 0;
	if (stdin_file_left() > 0)
		return 1;
	return ioctl(io.ifd, FIONREAD, &k) == 0 && k > 0;
}

/* stdin has given its last byte: whatever reaches its end says so here
 * (each peer may be owed a FIN now). */
static void
stdin_ended(void)
{
	io.in_open = 0;
	note("stdin closed");
	touch_all();
}

/*
 * A stdin that cannot be read at all (nohup and background jobs leave
 * fd 0 write-only) is a closed one; any other error cuts it short.
 */
static void
stdin_read(void)
{
	ssize_t n = buf_fill(&io.ring, io.ifd);

	if (n > 0) {
		tm.last_data = ss.now;
		if (ss.route->broadcast)
			touch_all();	/* bytes for every peer */
	} else if (n == 0 || errno == EBADF) {
		stdin_ended();
	} else if (errno != EAGAIN && errno != EINTR) {
		fail(errno, "read from stdin");
	}
}

/* n bytes of b for stdout, from a peer's input or (NULL) our own. */
static void
stdout_queue(struct buf *b, size_t n, struct peer *from)
{
	io.out[io.nout++] = (struct chunk){ b, n, from };
}

#ifndef _WIN32	/* Windows: see its platform section */
/*
 * stdout is shared with whoever started us, and O_NONBLOCK belongs to
 * the open file description: set on fd 1, it makes the shell's and a
 * pipeline neighbour's writes fail with EAGAIN.  Yet a paused terminal
 * (^S) or an unread pipe must never block the loop.  So a terminal or
 * a pipe is opened again, a description of our own that can be
 * nonblocking (a pipe through /proc, on Linux); a socket is written
 * with MSG_DONTWAIT.  Where neither works, a pipe or terminal gets at
 * most PIPE_BUF bytes a write after POLLOUT, which it takes without
 * blocking.  A file never stalls for long.
 */
static void
stdout_open(void)
{
	struct stat sb;
	char proc[32];
	const char *path = NULL;
	int fd;

	io.ofd = STDOUT_FILENO;
	io.omax = SIZE_MAX;
	if (fstat(STDOUT_FILENO, &sb) < 0)
		return;
	if (S_ISSOCK(sb.st_mode)) {
		io.osock = 1;
		return;
	}
	if (isatty(STDOUT_FILENO))
		path = ttyname(STDOUT_FILENO);
	else if (S_ISFIFO(sb.st_mode))
		path = (snprintf(proc, sizeof(proc), "/proc/self/fd/%d",
		    STDOUT_FILENO), proc);
	else
		return;
	io.omax = PIPE_BUF;
	if (path && (fd = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC)) >= 0) {
		io.ofd = fd;
		io.omax = SIZE_MAX;
	}
}
#endif

/* chat, udp: stdout's own queue goes next, once stdout is free. */
static void
stdout_queue_own(void)
{
	if (!io.nout && buf_len(&io.q) > 0)
		stdout_queue(&io.q, buf_len(&io.q), NULL);
}

/* Write the route's chunks, many in one writev, while stdout takes them. */
static void
stdout_write(void)
{
	struct iovec iov[CHUNKS];
	struct msghdr mh = { .msg_iov = iov };
	struct chunk *c;
	size_t left;
	ssize_t n;
	int i;

	if (io.nout && !io.out_open)
		fail(0, NULL);	/* bytes for a reader that has left */
	while (io.nout && !io.wblocked) {
		for (i = 0, left = io.omax; i < io.nout && left > 0; i++) {
			iov[i].iov_base = io.out[i].b->data + io.out[i].b->start;
			iov[i].iov_len = io.out[i].n < left ? io.out[i].n : left;
			left -= iov[i].iov_len;
		}
		mh.msg_iovlen = i;
		n = io.osock ? sendmsg(io.ofd, &mh, MSG_DONTWAIT) :
		    writev(io.ofd, iov, i);
		if (n < 0) {
			io.wblocked = errno == EAGAIN;
			if (errno == EPIPE)	/* its reader left: no news */
				fail(0, NULL);
			if (errno != EAGAIN && errno != EINTR)
				fail(errno, "write to stdout");
			return;
		}
		/* A blocking stdout takes more only after POLLOUT. */
		io.wblocked = io.omax != SIZE_MAX;
		tm.last_data = ss.now;
		/* A peer whose bytes went has room again, or none left. */
		for (i = 0; i < io.nout && (c = &io.out[i])->n <= (size_t)n; i++) {
			c->b->start += c->n;
			n -= c->n;
			if (c->from)
				touch(c->from);
		}
		memmove(io.out, io.out + i, (io.nout -= i) * sizeof(*c));
		if (io.nout > 0) {	/* a short write: it is full */
			io.out[0].b->start += n;
			io.out[0].n -= n;
			io.wblocked = 1;
			if (io.out[0].from)
				touch(io.out[0].from);
		} else {
			ss.route->move();
		}
	}
}

#ifndef _WIN32	/* Windows: see its platform section */
/*
 * The peer has finished and its bytes are out: whoever reads our
 * stdout sees the end too, while stdin goes on being sent.  A pipe is
 * swapped for /dev/null, so fd 1 stays taken; our own description of
 * it (stdout_open) is closed too, or the reader would wait for it.
 */
static void
stdout_close(void)
{
	struct stat sb;
	int fd;

	if (!io.out_open || fstat(STDOUT_FILENO, &sb) < 0)
		return;
	io.out_open = 0;
	touch_all();	/* what the peers say is wanted no more */
	if (io.ofd != STDOUT_FILENO)
		close(io.ofd);
	io.ofd = -1;
	if (S_ISSOCK(sb.st_mode))
		(void)shutdown(STDOUT_FILENO, SHUT_WR);
	else if (S_ISFIFO(sb.st_mode) &&
	    (fd = open("/dev/null", O_WRONLY)) >= 0) {
		(void)dup2(fd, STDOUT_FILENO);
		close(fd);
	}
}
#endif

/*
 * stdout's reader has left (POLLERR).  With bytes written for it and
 * not taken, that is an error; with none, it wants no more, and the
 * peer's FIN next is a clean end.  A byte for it after this is lost:
 * stdout_write fails then.
 */
static void
stdout_gone(void)
{
	if (io.nout)
		fail(0, NULL);
	tm.gone = ss.now + STOP_MS;	/* see stream_owes */
	stdout_close();
}

/* Close a peer that has sent FIN, to make room for a new one; 0 if none. */
static int
peer_evict(void)
{
	for (int i = 0; i < peers.n; i++)
		if (peers.p[i]->life == INPUT_DONE) {
			note("%s had closed its side; closed to make room",
			    peers.p[i]->name);
			peer_close(peers.p[i], peer_out(peers.p[i], NULL) > 0);
			return 1;
		}
	return 0;
}

/* The listener: callers wait in its backlog while we stop or lack fds. */
static short
listen_wants(void)
{
	return ss.stopping || tm.accept ? 0 : POLLIN;
}

/* -m's places taken: peers connected, or what the route counts. */
static int
places_taken(void)
{
	return ss.route->places ? ss.route->places() : peers.nconn;
}

/* One caller from the backlog; 0 once none is left. */
static int
accept_one(void)
{
	struct sockaddr_storage sa;
	socklen_t sl = sizeof(sa);
	char name[NAMESZ];
	struct peer *p;
	int fd;

	if ((fd = accept(peers.lfd, (struct sockaddr *)&sa, &sl)) < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			/* Out of fds: the caller waits in the backlog a while. */
			if (ss.route->places || !peer_evict()) {
				note("accept: %s; trying again shortly",
				    strerror(errno));
				tm.accept = ss.now + 100;
			}
			return 1;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			return 1;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			say(errno, "accept");
		return 0;
	}
	addr_name((struct sockaddr *)&sa, name, sizeof(name));
	/* Refused callers get a reset: they must not read refusal as an end. */
	if (!allowed((struct sockaddr *)&sa)) {
		note("refused %s: not in --allow", name);
	} else if (places_taken() >= opt.maxconns &&
	    (ss.route->places || !peer_evict())) {
		note("refused %s: %d %s already", name, places_taken(),
		    ss.route->places ? "connections" : "peers");
	} else if (set_nonblock(fd, NULL) < 0 ||
	    !(p = peer_add(fd, (struct sockaddr *)&sa))) {
		say(errno, "refused %s", name);
	} else {
		note("connection from %s", p->name);
		if (ss.route->joined)
			ss.route->joined(p);
		return 1;
	}
	linger0(fd);
	close(fd);
	return 1;
}

/*
 * Everything the kernel has queued, not one caller a round: a backlog
 * that overflows drops handshakes, and a client whose handshake was
 * dropped after it sent its lines loses them without a word.  Up to -m
 * (pipe: its one peer closes the listener): the callers beyond wait
 * for the next round, when those just taken have been read and the
 * ones that already left are gone; only a caller that still finds -m
 * peers then is refused.
 */
static void
accept_peer(short revents)
{
	(void)revents;
	for (int i = 0; i < ACCEPTS && peers.lfd >= 0 && listen_wants(); i++)
		if (!accept_one() || places_taken() >= opt.maxconns)
			break;
}

/* ---- endpoints: the UDP socket ---- */

/* A client's peer is gone (port unreachable): fatal.  A listener's
 * senders come and go: -v says so. */
static void
dgram_error(int err, const struct sender *s)
{
	char name[NAMESZ] = "socket";

	s = ss.route->single ? dg.to : s;
	if (s)
		addr_name((const struct sockaddr *)&s->sa, name, sizeof(name));
	if (ss.route->single)
		fail(err, "udp %s", name);
	note("udp %s: %s", name, strerror(err));
}

/*
 * Does a datagram from sa go to stdout?  Its sender becomes one stdin
 * goes to: the first only, or with -k any, the one heard least recently
 * making room past -m.  The rest are dropped, counted, and under -v
 * named once per source (the first NOTEDMAX).  1 if it goes.
 */
static int
dgram_heard(const struct sockaddr_storage *sa, socklen_t len)
{
	struct sender *s = NULL, *grown;
	char name[NAMESZ];
	int fresh, in = allowed((const struct sockaddr *)sa);

	for (int i = dg.nto - 1; i >= 0 && !s; i--)
		if (dg.to[i].len == len && memcmp(&dg.to[i].sa, sa, len) == 0)
			s = &dg.to[i];
	if ((fresh = !s) && (!in || (dg.nto == dg.max && !dg.many))) {
		*(in ? &dg.ignored : &dg.refused) += 1;
		for (int i = 0; i < dg.nnoted; i++)
			if (memcmp(&dg.noted[i], sa, len) == 0)
				return 0;
		if (opt.verbose && dg.nnoted < NOTEDMAX) {
			dg.noted[dg.nnoted++] = *sa;
			addr_name((const struct sockaddr *)sa, name,
			    sizeof(name));
			note("datagrams from %s %s", name, in ? "ignored: "
			    "not the peer" : "dropped: not in --allow");
		}
		return 0;
	}
	for (int i = 0; fresh && dg.nto == dg.max && i < dg.nto; i++)
		if (!s || dg.to[i].heard < s->heard)
			s = &dg.to[i];
	if (!s && dg.nto == dg.cap) {
		dg.cap = dg.cap ? 2 * dg.cap : 8;
		if (!(grown = realloc(dg.to, dg.cap * sizeof(*grown))))
			fail(errno, "realloc");
		dg.to = grown;
	}
	if (fresh) {
		s = s ? s : &dg.to[dg.nto++];
		s->sa = *sa;
		s->len = len;
		tm.wait = 0;	/* -w: someone came */
		addr_name((const struct sockaddr *)sa, name, sizeof(name));
		if (!ss.route->single)
			note("datagram from %s", name);
	}
	s->heard = ++dg.clock;
	return 1;
}

static short
dgram_wants(void)
{
	return (buf_room(&io.q) > DGRAMBUF ? POLLIN : 0) |
	    (dg.wblocked ? POLLOUT : 0);
}

/*
 * Datagrams, whole, onto stdout's queue while it has room for any (or
 * the ICMP error POLLERR says is pending): a slow stdout leaves them in
 * the kernel's buffer, whose losses SO_RXQ_OVFL counts.  With -k each
 * ends in a newline, so lines from many senders never run together.
 */
static void
dgram_ready(short revents)
{
	uint64_t ctl[8];	/* SO_RXQ_OVFL's, aligned as a cmsghdr */
	struct sockaddr_storage sa;
	struct iovec iov;
	struct msghdr mh;
	ssize_t n;

	dg.wblocked &= !(revents & POLLOUT);
	for (int k = 0; k < 64 && (revents & (POLLIN | POLLERR)) &&
	    buf_room(&io.q) > DGRAMBUF; k++) {
		if (io.q.cap - io.q.end <= DGRAMBUF)
			buf_compact(&io.q);
		iov = (struct iovec){ io.q.data + io.q.end, DGRAMBUF };
		mh = (struct msghdr){ .msg_name = &sa, .msg_iov = &iov,
		    .msg_namelen = sizeof(sa), .msg_iovlen = 1,
		    .msg_control = ctl, .msg_controllen = sizeof(ctl) };
		memset(&sa, 0, sizeof(sa));
		if ((n = recvmsg(peers.lfd, &mh, 0)) < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				dgram_error(errno, NULL);
			return;
		}
#ifdef SO_RXQ_OVFL	/* the only control message asked for */
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

		if (c && c->cmsg_type == SO_RXQ_OVFL)
			memcpy(&dg.dropped, CMSG_DATA(c), sizeof(dg.dropped));
#endif
		/* A connected socket hears its peer only. */
		if (!ss.route->single && !dgram_heard(&sa, mh.msg_namelen))
			continue;
		io.q.end += n;
		ss.nrecv += n;
		tm.last_data = ss.now;
		if (dg.many && (n == 0 || io.q.data[io.q.end - 1] != '\n'))
			io.q.data[io.q.end++] = '\n';
	}
}

/* ---- routes: where the bytes go ---- */

/* pipe: one peer; its bytes to stdout as they come, stdin to it. */
static void
pipe_move(void)
{
	struct peer *p = peers.n ? peers.p[0] : NULL;

	if (!p || io.nout)
		return;
	if (opt.send_only)
		p->in.start = p->in.end;	/* what it says is not ours */
	if (buf_len(&p->in) > 0)
		stdout_queue(&p->in, buf_len(&p->in), p);
	else if (!peer_reading(p))
		stdout_close();	/* each direction ends on its own */
}

/*
 * Its one peer is here (accepted, or dialled): later callers are
 * refused, not left waiting, and the splice loop serves it first.
 */
static void
pipe_joined(struct peer *p)
{
	(void)p;
	if (peers.lfd >= 0)
		close(peers.lfd);
	peers.lfd = -1;
	splice_run();
}

/*
 * merge (-k): whole lines from every peer, one peer's line at a time,
 * round robin; the stdin ring goes to all of them.
 */
static void
merge_move(void)
{
	static struct buf newline = { "\n", 1, 0, 1 };
	struct peer *p, *next;
	size_t n;
	int final;

	if (io.nout)
		return;	/* a peer's bytes must not be queued twice */
	for (p = peers.ready.head; p && io.nout < CHUNKS - 1; p = next) {
		/* Out of the queue until its bytes go or more come, then
		 * back at its end: a round robin, whoever has news. */
		next = p->ready.next;
		list_del(&peers.ready, p);
		final = !peer_reading(p);
		n = buf_len(&p->in) ? line_span(p->in.data + p->in.start,
		    buf_len(&p->in), final, LINEMAX, 0) : 0;
		if (n == 0)
			continue;	/* peer_wants grows a full buffer */
		if (mg.midline && mg.last != p->serial) {
			/* Someone's half line is on stdout: end it first. */
			newline.start = 0;
			stdout_queue(&newline, 1, NULL);
		}
		stdout_queue(&p->in, n, p);
		mg.last = p->serial;
		mg.midline = p->in.data[p->in.start + n - 1] != '\n';
		if (mg.midline && !final && !p->warned_long) {
			note("%s: line longer than %d KiB, passed on in pieces",
			    p->name, LINEMAX / 1024);
			p->warned_long = 1;
		}
		if (mg.midline)
			break;	/* its line goes on next, or a newline ends it */
	}
}

/*
 * Queue a line for every peer but from (the relay checked they have
 * room), and for our stdout if asked: stdout never holds the relay up,
 * what it cannot take is dropped and counted.
 */
static void
chat_send(const char *msg, size_t len, const struct peer *from, int to_stdout)
{
	/* A reader that left wants no more: the relay goes on. */
	if (to_stdout && io.out_open && buf_put(&io.q, msg, len) < 0 &&
	    chat.dropped++ == 0)
		note("stdout is not keeping up: chat lines for it dropped");
	for (int i = 0; i < peers.n; i++)
		if (peers.p[i] != from && peer_writing(peers.p[i])) {
			(void)buf_put(&peers.p[i]->out, msg, len);
			touch(peers.p[i]);
		}
}

static void
chat_notice(const char *nick, const char *what)
{
	char msg[sizeof(chat.nick) + 32];

	chat_send(msg, snprintf(msg, sizeof(msg), "* %s %s\n", nick, what),
	    NULL, 1);
}

/*
 * A line from p (or our stdin if NULL) for everyone else, if all of
 * them have room for it; 0 if not yet.
 */
static int
chat_line(struct peer *p, const char *line, size_t len)
{
	static char msg[CHATLINE];
	char old[sizeof(chat.nick)];
	size_t n;

	for (int i = 0; i < peers.n; i++)
		if (peers.p[i] != p && peer_writing(peers.p[i]) &&
		    buf_room(&peers.p[i]->out) < sizeof(old) + 8 + 3 * len)
			return 0;
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (p && len > 6 && memcmp(line, "/name ", 6) == 0) {
		memcpy(old, p->nick, sizeof(old));
		nick_set(p->nick, line + 6, len - 6);
		chat_send(msg, snprintf(msg, sizeof(msg), "* %s is now %s\n",
		    old, p->nick), NULL, 1);
		return 1;
	}
	n = snprintf(msg, sizeof(msg), "[%s] ", p ? p->nick : chat.nick);
	n += chat_clean(line, len, msg + n);
	msg[n++] = '\n';
	chat_send(msg, n, p, p != NULL);
	return 1;
}

/*
 * chat (--chat): a line from a peer goes to everyone else with its
 * name, and our stdin's lines too.  A line waits until every peer has
 * room for it (the stuck rule drops one that never makes room).
 */
static void
chat_move(void)
{
	struct peer *p, *next;
	size_t n;

	for (p = peers.ready.head; p; p = next) {
		next = p->ready.next;
		while ((n = buf_len(&p->in) ? line_span(p->in.data +
		    p->in.start, buf_len(&p->in), !peer_reading(p), LINEMAX,
		    1) : 0) && chat_line(p, p->in.data + p->in.start, n)) {
			p->in.start += n;
			touch(p);
		}
		if (n == 0)	/* no whole line left: out until more come */
			list_del(&peers.ready, p);
	}
	while ((n = line_span(io.ring.data + io.ring.start,
	    buf_len(&io.ring), !io.in_open, LINEMAX, 1)) &&
	    chat_line(NULL, io.ring.data + io.ring.start, n)) {
		io.ring.start += n;
		io.ring_base += n;
	}
	stdout_queue_own();
}

static void
chat_joined(struct peer *p)
{
	int sz = CHATQ / 4;

	/* The kernel would take megabytes for a peer that never reads:
	 * keep them in its queue, where the stuck rule sees them. */
	(void)setsockopt(p->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	chat_notice(p->nick, "joined");
}

static void
chat_left(struct peer *p)
{
	chat_notice(p->nick, "left");
	/* Reaping comes after the round's move(): queued now, the notice
	 * is written at once, not at the next event (the last peer's:
	 * never, as a stop with nothing queued does not wait). */
	stdout_queue_own();
}

/*
 * udp: stdin's datagram to the peer, or to every sender heard (nowhere
 * if none yet), then the ring is free for the next read; datagrams
 * received go to stdout as they are.  A client has no FIN to wait for:
 * once stdin has ended, it waits for replies until they stop for
 * UDP_WAIT_MS (the route's wait_ms), as -i 1 would (with -d, stdin
 * never ends).
 */
static void
dgram_move(void)
{
	size_t len = buf_len(&io.ring);
	struct sender *s;
	ssize_t n;

	while (len > 0 && dg.sent < dg.nto && !dg.wblocked) {
		s = &dg.to[dg.sent];
		n = sendto(peers.lfd, io.ring.data + io.ring.start, len, 0,
		    ss.route->single ? NULL : (struct sockaddr *)&s->sa,
		    ss.route->single ? 0 : s->len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
			dg.wblocked = errno == EAGAIN;
			continue;
		}
		if (n < 0)
			dgram_error(errno, s);
		ss.nsent += n > 0 ? n : 0;
		tm.last_data = ss.now;
		dg.sent++;
	}
	if (len > 0 && dg.sent >= dg.nto) {
		io.ring.start = io.ring.end = 0;
		io.ring_base += len;
		dg.sent = 0;
	}
	stdout_queue_own();
}

/* --send-only: a client's datagrams are all sent once stdin has ended. */
static int
dgram_over(void)
{
	return opt.send_only && !io.in_open && buf_len(&io.ring) == 0;
}

/*
 * pipe, merge: a peer's bytes go to stdout, wanted while its reader is
 * there.  Once it has left with nothing untaken, the peer's next word
 * decides: a byte is a loss, FIN a clean end; silence for STOP_MS (or a
 * stop) is no loss either.
 */
static int
stream_owes(const struct peer *p)
{
	(void)p;
	return !opt.send_only && (io.out_open ||
	    (!ss.stopping && ss.now < tm.gone));
}

/* chat: a peer's lines go to the others, wanted whoever reads stdout. */
static int
chat_owes(const struct peer *p)
{
	(void)p;
	return 1;
}

/* merge: the ring is full and this peer has not taken its oldest byte. */
static int
merge_full(const struct peer *p)
{
	return buf_room(&io.ring) == 0 && p->sent == io.ring_base;
}

/* chat: its queue has no room for one more dressed line. */
static int
chat_full(const struct peer *p)
{
	return buf_room(&p->out) < CHATLINE;
}

/* pipe: its one peer has come and gone. */
static int
pipe_over(void)
{
	return peers.serials > 0 && peers.n == 0;
}

/* ---- routes: forward (--to) ---- */

/*
 * "host:port", "[v6addr]:port" or "zt:node:port" into opt.to_host and
 * opt.to_port; -1 if malformed.  A bare IPv6 address is refused: its
 * last group would pass for the port.
 */
static int
fwd_target(const char *s)
{
	char *h = strdup(s), *colon;
	size_t len;

	if (!h)
		die(EXIT_NET, errno, "strdup");
	opt.to_host = h;	/* kept for the session's life */
	if (!(colon = strrchr(h, ':')) || colon[1] == '\0')
		return -1;
	*colon = '\0';
	opt.to_port = colon + 1;
	if (*h == '[') {
		len = strlen(h);
		if (len < 3 || h[len - 1] != ']')
			return -1;
		h[len - 1] = '\0';
		opt.to_host = h + 1;
	} else if (strchr(strncmp(h, "zt:", 3) == 0 ? h + 3 : h, ':') ||
	    strchr(h, ']')) {
		return -1;
	}
	return *opt.to_host ? 0 : -1;
}

/* The target's addresses, once for the session; -i, -w and stdio are
 * the pairs' business here, not the session's. */
static void
fwd_init(void)
{
	struct rlimit rl;
	char name[NAMESZ];

	fw.to = resolve(zt_node_host(opt.to_host), opt.to_port, 0);
	fw.connect_ms = opt.wait_ms > 0 ? opt.wait_ms : CONNECT_MS;
	fw.idle_ms = opt.idle_ms ? opt.idle_ms : opt.udp ? SESSION_MS : 0;
	/* A silent pair ends, not the session; -w bounds the target's
	 * connect, not the wait for a first client. */
	opt.idle_ms = opt.wait_ms = 0;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < INT_MAX)
		fw.pipe_fds = (int)rl.rlim_cur - 2 * opt.maxconns - FD_SPARE;
	else
		fw.pipe_fds = INT_MAX;
	io.in_open = 0;		/* stdin is not read */
	io.out_open = 0;	/* stdout gets nothing: it is not even polled */
	io.eof_leaves = 0;	/* a FIN is passed on, not a departure */
	ss.total = -1;
	addr_name(fw.to->ai_addr, name, sizeof(name));
	note("forwarding to %s%s", name, fw.to->ai_next ? " (or the next "
	    "address)" : "");
}

/*
 * An end's input: a pipe where splice(2) works (Linux), so that its
 * bytes go on to the other end without a copy through us, or else a
 * buffer.  A pipe holds pages only while bytes wait in it, and keeps
 * its 64 KiB: grown to 1 MiB, it saved a bulk pair a fifth of its CPU
 * at the same speed, but let every pair hold 2 MiB of kernel memory,
 * 2 GiB for a thousand.  Pipes take only the fds that -m's sockets will
 * not need: they are a saving, sockets are the service.  -1 if neither
 * can be had.
 */
static int
fwd_input(struct peer *p)
{
#if defined(SPLICE_F_MOVE) && defined(F_GETPIPE_SZ)
	if (pipe2(p->pipe, O_NONBLOCK | O_CLOEXEC) == 0) {
		if (p->pipe[1] < fw.pipe_fds) {
			p->pipesz = fcntl(p->pipe[0], F_GETPIPE_SZ);
			p->pipesz = p->pipesz > 0 ? p->pipesz : 4096;
			p->in.cap = p->pipesz;
			return 0;
		}
		close(p->pipe[0]);	/* fds a socket will need */
		close(p->pipe[1]);
	}
	p->pipe[0] = p->pipe[1] = -1;	/* a buffer will do */
#endif
	return buf_init(&p->in, FWDBUF);
}

#if defined(SPLICE_F_MOVE) && defined(F_GETPIPE_SZ)
/*
 * forward: an end's socket into its pipe.  A pipe
 * whose slots splice has filled in pieces takes nothing more, though
 * it has bytes of room, until the other end drains it: then it claims
 * no room.  An urgent byte (MSG_OOB, in line: see tune) stops splice
 * short of it for good; read() takes it and what follows, written into
 * the pipe, empty then, so that a page surely fits.
 */
static void
fwd_splice_in(struct peer *p)
{
	char b[4096];
	ssize_t n;
	int k = 0;

	n = splice(p->fd, NULL, p->pipe[1], NULL, buf_room(&p->in),
	    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	/* Not EOF, nor a wake-up for POLLOUT: the mark, or bytes waiting
	 * that the pipe did not take. */
	if ((n == 0 || (n < 0 && errno == EAGAIN)) &&
	    (sockatmark(p->fd) == 1 || (n < 0 &&
	    ioctl(p->fd, FIONREAD, &k) == 0 && k > 0))) {
		if (buf_len(&p->in) > 0) {
			/* Taken slots, or the mark: wait for a drain. */
			p->in.cap = buf_len(&p->in);
			return;
		}
		if ((n = read(p->fd, b, sizeof(b))) > 0 &&
		    write(p->pipe[1], b, n) != n)
			fail(errno, "write to a pipe");	/* an empty one */
	}
	if (n > 0) {
		p->in.end += n;
		p->got += n;
		ss.nrecv += n;
		tm.last_data = ss.now;
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		peer_done(p, INPUT_DONE, n == 0 ? 0 : errno);
	}
}

/* forward: the pipe of p, the other end, into q's socket. */
static void
fwd_splice_out(struct peer *p, struct peer *q)
{
	size_t len = peer_out(q, NULL);
	ssize_t n;

	if (len == 0 || q->wblocked)
		return;
	n = splice(p->pipe[0], NULL, q->fd, NULL, len,
	    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n > 0) {
		p->in.start += n;
		if (p->in.start == p->in.end)
			p->in.start = p->in.end = 0;
		p->in.cap = p->pipesz;	/* slots are free again */
		ss.nsent += n;
		q->moved_at = tm.last_data = ss.now;
		q->wblocked = (size_t)n < len;
	} else if (n < 0 && errno == EAGAIN) {
		q->wblocked = 1;
	} else if (n < 0 && errno != EINTR) {
		peer_done(q, OUTPUT_DONE, errno);
	}
}
#else	/* no splice: an end's input is always a buffer (fwd_input) */
static void
fwd_splice_in(struct peer *p)
{
	peer_read(p);
}

static void
fwd_splice_out(struct peer *p, struct peer *q)
{
	(void)p;
	peer_write(q);
}
#endif

/*
 * forward, an end's read and write steps: by splice where its input is
 * a pipe, else through a buffer.  Bytes that came or went touch the
 * other end: it has bytes to write, or room to read into again.  After
 * its write, an end's pair obeys its rules (see fwd_settle_all).
 */
static void
fwd_read(struct peer *p)
{
	unsigned long long got = p->got;

	if (p->in.data)
		peer_read(p);
	else
		fwd_splice_in(p);
	if (p->got != got && pair_other(p))
		touch(pair_other(p));
}

static void
fwd_write(struct peer *q)
{
	struct peer *p = pair_other(q);
	unsigned long long sent = ss.nsent;

	if (!p || p->in.data)
		peer_write(q);
	else
		fwd_splice_out(p, q);
	if (ss.nsent != sent && p)
		touch(p);
	if (q->pair)
		fwd_settle_due(q->pair);
}

/*
 * A nonblocking connect to the target for pr's client, from address
 * pr->ai on: the target end joins the table CONNECTING, and the loop
 * waits for it with the rest.  -1, with pr->err, if no address takes
 * the call at all.
 */
static int
fwd_dial(struct pair *pr)
{
	struct peer *t;
	int fd;

	for (; pr->ai; pr->ai = pr->ai->ai_next) {
		if ((fd = socket(pr->ai->ai_family, pr->ai->ai_socktype, 0)) < 0) {
			pr->err = errno;
			continue;
		}
		if (set_nonblock(fd, NULL) < 0 || (connect(fd,
		    pr->ai->ai_addr, pr->ai->ai_addrlen) < 0 &&
		    errno != EINPROGRESS)) {
			pr->err = errno;
			close(fd);
			continue;
		}
		if (!(t = peer_add(fd, pr->ai->ai_addr))) {
			pr->err = errno;
			close(fd);
			return -1;
		}
		if (fwd_input(t) < 0) {
			pr->err = errno;
			peer_close(t, 1);
			return -1;
		}
		/* Even a connect done at once: POLLOUT comes at once too. */
		t->life = CONNECTING;
		t->pair = pr;
		pr->target = t;
		pr->due = ss.now + fw.connect_ms;
		pr->err = 0;
		return 0;
	}
	return -1;
}

/* A client is here: it gets its own connection to the target. */
static void
fwd_joined(struct peer *c)
{
	struct pair *pr = calloc(1, sizeof(*pr));

	if (!pr) {
		say(errno, "refused %s", c->name);
		peer_close(c, 1);
		return;
	}
	fw.npairs++;
	pr->client = c;
	c->pair = pr;
	pr->ai = fw.to;
	pr->active = ss.now;
	snprintf(pr->name, sizeof(pr->name), "%s", c->name);
	/* The socket first: short of fds, buffers do for the pipes. */
	if (fwd_dial(pr) < 0) {
		pr->how = "the target could not be reached";
	} else if (fwd_input(c) < 0) {
		pr->err = errno;
		pr->how = "the client failed";
	}
}

/*
 * -i: the pair's bytes on their way, in its pipes or buffers and in
 * its sockets' kernels, not yet taken.  A target that takes them
 * slowly through a small window leaves us nothing to read or write
 * for a while, yet it is not silent: this number goes down.
 */
static unsigned long long
fwd_owed(const struct pair *pr)
{
	unsigned long long n = 0;
	struct peer *x;

	for (int i = 0; i < 2; i++)
		if ((x = i ? pr->target : pr->client))
			n += buf_len(&x->in) + (x->fd >= 0 ? unacked(x->fd) : 0);
	return n;
}

/*
 * A pair's rules, each round and when an end leaves the table:
 * - the target answers, or the next address is tried, until none is
 *   left: then the pair has failed;
 * - an end's FIN reaches the other end as FIN, after its bytes;
 * - an end that failed (a reset, a write refused) first hands on what
 *   it sent before, as far as the other end takes it, then the other
 *   end is reset too: bytes were lost, and a clean FIN would hide it;
 * - -i: a pair silent that long is reset both ways.
 */
static void
fwd_settle(struct pair *pr)
{
	struct peer *c = pr->client, *t = pr->target, *x, *y;
	unsigned long long owed;
	int idle;

	if ((c && c->got != pr->up) || (t && t->got != pr->down)) {
		pr->active = ss.now;
		pr->owed = 0;
	}
	pr->up = c ? c->got : pr->up;
	pr->down = t ? t->got : pr->down;
	if (t && t->life == CONNECTING && ss.now >= pr->due) {
		t->err = ETIMEDOUT;
		peer_close(t, 1);
	}
	if (t && !pr->connected && t->life != CONNECTING) {
		if (t->fd >= 0 && !t->err) {
			pr->connected = 1;
		} else {
			/* Refused, or no answer: alone, it is just reaped. */
			pr->err = t->err;
			t->pair = NULL;
			pr->target = t = NULL;
			pr->ai = pr->ai->ai_next;
			if (!c || fwd_dial(pr) < 0)
				pr->how = "the target could not be reached";
			t = pr->target;
		}
	}
	for (int i = 0; i < 2 && !pr->how; i++)
		if ((x = i ? t : c) && x->err) {
			pr->err = x->err;
			pr->how = i ? "the target failed" : "the client failed";
		}
	idle = fw.idle_ms && !pr->how && ss.now - pr->active >= fw.idle_ms;
	/* Still taken, if slowly: silent only once that stops too (at
	 * most one -i later), or when nothing is on its way. */
	if (idle && (owed = fwd_owed(pr)) > 0 && owed != pr->owed) {
		pr->owed = owed;
		pr->active = ss.now;
		idle = 0;
	}
	if (idle)
		pr->how = "idle";
	if (!pr->how) {
		for (int i = 0; i < 2; i++) {
			x = i ? t : c;
			y = i ? c : t;
			/* Gone with no error: it finished, its bytes out. */
			if (y && peer_writing(y) && (!x || (x->fin &&
			    buf_len(&x->in) == 0)))
				peer_done(y, OUTPUT_DONE, 0);
		}
		return;
	}
	/* It has failed: what the failed end sent before goes on first. */
	for (int i = 0; i < 2 && !idle; i++) {
		x = i ? t : c;
		y = i ? c : t;
		if (x && x->err && (peer_reading(x) || (buf_len(&x->in) > 0 &&
		    y && peer_writing(y))))
			return;
	}
	for (int i = 0; i < 2; i++)
		if ((x = i ? t : c)) {
			peer_close(x, 1);
			x->in.start = x->in.end = 0;	/* lost */
		}
}

/*
 * forward: bytes wait in one end's buffer and are written to the other
 * straight from it: nothing to move.  The pairs' rules run after the
 * writes instead (fwd_settle_all), as a FIN can wait for them.
 */
static void
move_nothing(void)
{
}

/* forward: pr's rules, and its next deadline into tm.route. */
static void
fwd_settle_due(struct pair *pr)
{
	long long due;

	fwd_settle(pr);
	due = pr->target && pr->target->life == CONNECTING ? pr->due : 0;
	if (fw.idle_ms && (!due || pr->active + fw.idle_ms < due))
		due = pr->active + fw.idle_ms;
	if (due && (!tm.route || due < tm.route))
		tm.route = due;
}

/*
 * forward: a pair's rules run after the writes, for each end touched,
 * from its write step (fwd_write), and once a deadline is due (a
 * handshake's -w, -i) for every pair, here.  Before the writes, a FIN
 * read behind a client's last bytes would wait for them, and their
 * write wakes no one after it: the FIN stayed with us, and the target
 * waited for ever; the write that empties an end's input touches that
 * end, so its pair looks again.  Each pair every round, as before, cost
 * a busy pair 4 times the CPU with 2,000 idle ones open.
 */
static void
fwd_settle_all(void)
{
	struct pair *pr;

	if (!tm.route || ss.now < tm.route)
		return;
	tm.route = 0;
	for (int i = 0; i < peers.n; i++) {
		pr = peers.p[i]->pair;
		/* Each pair once: at its client, or its target alone. */
		if (pr && (!pr->client || peers.p[i] == pr->client))
			fwd_settle_due(pr);
	}
}

/* An end has left the table: the other learns it; the last says how
 * the pair went (-v). */
static void
fwd_left(struct peer *p)
{
	struct pair *pr = p->pair;
	char to[NAMESZ];

	if (!pr)
		return;
	if (!pr->how && p == pr->target && !pr->connected)
		pr->how = "the target could not be reached";
	if (!pr->how && p->err) {
		pr->err = p->err;
		pr->how = p == pr->client ? "the client failed" :
		    "the target failed";
	}
	if (p == pr->client) {
		pr->up = p->got;
		pr->client = NULL;
	} else {
		pr->down = p->got;
		pr->target = NULL;
	}
	if (pr->client || pr->target) {
		fwd_settle_due(pr);
		return;
	}
	if (!pr->how)
		pr->how = "closed";
	addr_name(pr->ai ? pr->ai->ai_addr : fw.to->ai_addr, to, sizeof(to));
	if (strcmp(pr->how, "idle") == 0)
		note("%s: %llu bytes to %s, %llu back; idle for %s, reset",
		    pr->name, pr->up, to, pr->down, ms_text(fw.idle_ms));
	else
		note("%s: %llu bytes to %s, %llu back; %s%s%s%s", pr->name,
		    pr->up, to, pr->down, pr->how, pr->err ? ": " : "",
		    pr->err ? strerror(pr->err) : "",
		    strcmp(pr->how, "closed") ? ", reset" : "");
	fw.npairs--;
	free(pr);
}

/*
 * forward: what an end still sends is wanted, whatever the other end's
 * state: an end cut short cuts its pair, and both ends must learn it
 * (a reset each), in whichever order they are asked.  The pair's own
 * rules close an end; close_done never does.
 */
static int
fwd_owes(const struct peer *p)
{
	return p->pair != NULL;
}

/*
 * forward, at the end: a pair not finished both ways (an end still
 * open, or bytes held for one) is reset at both ends, never closed
 * with a FIN that would pass its cut stream for a whole one.  How many.
 */
static int
fwd_cut(void)
{
	struct pair *pr;
	struct peer *x;
	int n = 0, open;

	for (int i = 0; i < peers.n; i++) {
		pr = peers.p[i]->pair;
		if (!pr || (pr->client && peers.p[i] != pr->client))
			continue;
		open = 0;
		for (int k = 0; k < 2; k++)
			if ((x = k ? pr->target : pr->client))
				open |= x->fd >= 0 || buf_len(&x->in) > 0;
		n += open;
		for (int k = 0; k < 2 && open; k++)
			if ((x = k ? pr->target : pr->client)) {
				peer_close(x, 1);
				x->in.start = x->in.end = 0;
			}
	}
	return n;
}

/* forward: -m counts pairs (UDP: sessions), not peers. */
static int
fwd_places(void)
{
	return fw.npairs;
}

/* udp: a session owes nothing, a datagram is whole or lost. */
static int
owes_nothing(const struct peer *p)
{
	(void)p;
	return 0;
}

/* udp: the bucket of a client's address. */
static size_t
fwd_hash(const struct sockaddr_storage *sa, socklen_t len)
{
	const unsigned char *b = (const unsigned char *)sa;
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (socklen_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 16777619u;
	return h & (fw.hcap - 1);
}

/* udp: the session of a client address, NULL if none. */
static struct pair *
fwd_session(const struct sockaddr_storage *sa, socklen_t len)
{
	struct pair *pr = fw.hcap ? fw.hash[fwd_hash(sa, len)] : NULL;

	while (pr && (pr->salen != len || memcmp(&pr->sa, sa, len) != 0))
		pr = pr->next;
	return pr;
}

/* udp: twice the buckets once they are all taken, so chains stay
 * short; -1 if there is no memory for it. */
static int
fwd_rehash(void)
{
	struct pair **h, *pr;
	size_t cap = fw.hcap ? 2 * fw.hcap : 64, k;

	if ((size_t)fw.npairs < fw.hcap)
		return 0;
	if (!(h = calloc(cap, sizeof(*h))))
		return -1;
	free(fw.hash);
	fw.hash = h;
	fw.hcap = cap;
	for (int i = 0; i < peers.n; i++)
		if ((pr = peers.p[i]->pair)) {
			k = fwd_hash(&pr->sa, pr->salen);
			pr->next = h[k];
			h[k] = pr;
		}
	return 0;
}

/* udp: a new client address gets its own socket to the target; NULL
 * (said under -v) if it cannot. */
static struct pair *
fwd_session_new(const struct sockaddr_storage *sa, socklen_t len)
{
	const struct addrinfo *ai;
	struct pair *pr = NULL;
	struct peer *t = NULL;
	struct buf in = { NULL, 0, 0, 0 };
	char name[NAMESZ];
	size_t k;
	int fd = -1, err = 0;

	addr_name((const struct sockaddr *)sa, name, sizeof(name));
	for (ai = fw.to; ai && fd < 0; ai = fd < 0 ? ai->ai_next : ai) {
		if ((fd = socket(ai->ai_family, SOCK_DGRAM, 0)) >= 0 &&
		    (set_nonblock(fd, NULL) < 0 ||
		    connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)) {
			close(fd);
			fd = -1;
		}
		err = errno;
	}
	if (fd < 0 || fwd_rehash() < 0 || buf_init(&in, DGRAMBUF) < 0 ||
	    !(pr = calloc(1, sizeof(*pr))) ||
	    !(t = peer_add(fd, (const struct sockaddr *)sa))) {
		note("datagram from %s dropped: %s", name, strerror(fd < 0 ?
		    err : errno));
		if (fd >= 0)
			close(fd);
		free(in.data);
		free(pr);
		return NULL;
	}
	t->in = in;	/* the replies' buffer */
	fw.npairs++;
	pr->target = t;
	t->pair = pr;
	pr->ai = ai;
	pr->sa = *sa;
	pr->salen = len;
	pr->active = ss.now;
	pr->connected = 1;
	if (!tm.route)	/* its -i: see fwd_dgram_move */
		tm.route = ss.now + fw.idle_ms;
	snprintf(pr->name, sizeof(pr->name), "%s", name);
	k = fwd_hash(sa, len);
	pr->next = fw.hash[k];
	fw.hash[k] = pr;
	note("datagram from %s: a new session", name);
	return pr;
}

/* udp: a session's end said (-v) once, and the first dropped datagram
 * of each source too (the first NOTEDMAX). */
static void
fwd_dropped(const struct sockaddr_storage *sa, socklen_t len,
    const char *why)
{
	char name[NAMESZ];

	for (int i = 0; i < dg.nnoted; i++)
		if (memcmp(&dg.noted[i], sa, len) == 0)
			return;
	if (!opt.verbose || dg.nnoted == NOTEDMAX)
		return;
	dg.noted[dg.nnoted++] = *sa;
	addr_name((const struct sockaddr *)sa, name, sizeof(name));
	note("datagrams from %s dropped: %s", name, why);
}

/* udp: a session's error ends it at the next reap, not at its -i. */
static void
fwd_dgram_due(struct pair *pr, int err)
{
	if (!pr->err)
		pr->err = err;
	tm.route = ss.now;
}

/* udp: the listening socket, open to new clients until a stop. */
static short
fwd_dgram_wants(void)
{
	return ss.stopping ? 0 : POLLIN;
}

/*
 * udp: datagrams from clients, each to its session's socket as it
 * comes.  A datagram that finds a socket full is dropped and counted,
 * as a router drops one: holding it would hold up every session.
 */
static void
fwd_dgram_ready(short revents)
{
	static char d[DGRAMBUF];
	struct sockaddr_storage sa;
	socklen_t len;
	struct pair *pr;
	ssize_t n;

	(void)revents;
	for (int k = 0; k < 64; k++) {
		len = sizeof(sa);
		memset(&sa, 0, sizeof(sa));
		if ((n = recvfrom(peers.lfd, d, sizeof(d), 0,
		    (struct sockaddr *)&sa, &len)) < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)	/* a client's port unreachable */
				note("udp: %s", strerror(errno));
			return;
		}
		if (!(pr = fwd_session(&sa, len))) {
			if (!allowed((struct sockaddr *)&sa)) {
				dg.refused++;
				fwd_dropped(&sa, len, "not in --allow");
				continue;
			}
			if (fw.npairs >= opt.maxconns) {
				fw.full++;
				fwd_dropped(&sa, len, "-m sessions already");
				continue;
			}
			if (!(pr = fwd_session_new(&sa, len)))
				continue;
		}
		ss.nrecv += n;
		pr->up += n;
		pr->target->got += n;	/* this session's traffic, for -i */
		pr->active = tm.last_data = ss.now;
		if (send(pr->target->fd, d, n, 0) == n)
			ss.nsent += n;
		else if (errno == EAGAIN || errno == ENOBUFS)
			fw.lost++;
		else
			fwd_dgram_due(pr, errno);	/* the target's port
							 * unreachable */
	}
}

/* udp: replies from the target, each to the client of its session. */
static void
fwd_dgram_read(struct peer *p)
{
	struct pair *pr = p->pair;
	ssize_t n;

	for (int k = 0; k < 64 && p->fd >= 0; k++) {
		if ((n = recv(p->fd, p->in.data, p->in.cap, 0)) < 0) {
			if (errno != EAGAIN && errno != EINTR)
				fwd_dgram_due(pr, errno);
			if (errno != EINTR)
				return;
			continue;
		}
		ss.nrecv += n;
		pr->down += n;
		pr->active = tm.last_data = ss.now;
		if (sendto(peers.lfd, p->in.data, n, 0,
		    (struct sockaddr *)&pr->sa, pr->salen) == n)
			ss.nsent += n;
		else if (errno == EAGAIN || errno == ENOBUFS)
			fw.lost++;
		else
			note("udp %s: %s", pr->name, strerror(errno));
	}
}

/*
 * udp: a session silent for -i ends; one whose target is unreachable
 * (an ICMP error) too, so that the next datagram tries afresh.  The
 * sessions are walked only when the first -i is due, or an error came.
 */
static void
fwd_dgram_move(void)
{
	struct pair *pr;
	long long next = 0;

	if (!tm.route || ss.now < tm.route)
		return;	/* no session's time has come: see fwd_dgram_due */
	for (int i = 0; i < peers.n; i++) {
		if (!(pr = peers.p[i]->pair) || peers.p[i]->fd < 0)
			continue;
		if (pr->err || ss.now - pr->active >= fw.idle_ms) {
			pr->how = pr->err ? "the target failed" : "idle";
			peer_close(peers.p[i], 0);
		} else if (!next || pr->active + fw.idle_ms < next) {
			next = pr->active + fw.idle_ms;
		}
	}
	tm.route = next;
}

/* udp: a session has ended: out of the hash, said under -v. */
static void
fwd_dgram_left(struct peer *p)
{
	struct pair *pr = p->pair, **at;
	char to[NAMESZ];

	if (!pr)
		return;
	for (at = &fw.hash[fwd_hash(&pr->sa, pr->salen)]; *at != pr;
	    at = &(*at)->next)
		;
	*at = pr->next;
	addr_name(pr->ai->ai_addr, to, sizeof(to));
	if (pr->err)
		note("%s: %llu bytes to %s, %llu back; %s: %s", pr->name,
		    pr->up, to, pr->down, pr->how, strerror(pr->err));
	else
		note("%s: %llu bytes to %s, %llu back; idle for %s", pr->name,
		    pr->up, to, pr->down, ms_text(fw.idle_ms));
	fw.npairs--;
	free(pr);
}

static const struct route pipe_route = {
	.move = pipe_move, .joined = pipe_joined, .sock_wants = listen_wants,
	.sock_ready = accept_peer, .owes = stream_owes, .over = pipe_over,
	.inbuf = BUFSZ, .broadcast = 1, .single = 1,
};
static const struct route merge_route = {
	.move = merge_move, .sock_wants = listen_wants,
	.sock_ready = accept_peer, .owes = stream_owes, .full = merge_full,
	.inbuf = LINEMIN, .broadcast = 1, .alone = 1, .place_fds = 1,
};
static const struct route chat_route = {
	.move = chat_move, .joined = chat_joined, .left = chat_left,
	.sock_wants = listen_wants, .sock_ready = accept_peer,
	.owes = chat_owes, .full = chat_full,
	.inbuf = LINEMIN, .outq = CHATQ, .alone = 1, .eof_leaves = 1,
	.place_fds = 1,
};
/* udp: its socket is the session's one endpoint and there are no peer
 * structs: a client's (its one peer, whose errors are fatal), one
 * sender's (-u -l), or any sender's (-u -lk), whom stdin goes to even
 * before anyone is heard (nowhere, as with -k over TCP). */
static const struct route dgram_client_route = {
	.move = dgram_move, .sock_wants = dgram_wants,
	.sock_ready = dgram_ready, .over = dgram_over,
	.outq = CHATQ, .dgram = DGRAMMAX, .single = 1, .wait_ms = UDP_WAIT_MS,
};
static const struct route dgram_route = {
	.move = dgram_move, .sock_wants = dgram_wants,
	.sock_ready = dgram_ready, .outq = CHATQ, .dgram = DGRAMMAX,
};
static const struct route dgram_many_route = {
	.move = dgram_move, .sock_wants = dgram_wants,
	.sock_ready = dgram_ready, .outq = CHATQ, .dgram = DGRAMMAX,
	.alone = 1,
};
/* forward (--to): each client and its own connection to the target;
 * over UDP, each client address and its own socket to it. */
/* A forwarded TCP client's place: two sockets and two pipes (short of
 * fds, buffers stand in for the pipes). */
static const struct route fwd_route = {
	.move = move_nothing, .settle = fwd_settle_all, .joined = fwd_joined,
	.left = fwd_left, .sock_wants = listen_wants,
	.sock_ready = accept_peer, .owes = fwd_owes, .places = fwd_places,
	.cut = fwd_cut, .read_step = fwd_read, .write_step = fwd_write,
	.quiet = 1, .place_fds = 6, .init = fwd_init,
};
static const struct route fwd_dgram_route = {
	.move = move_nothing, .settle = fwd_dgram_move, .left = fwd_dgram_left,
	.sock_wants = fwd_dgram_wants, .sock_ready = fwd_dgram_ready,
	.owes = owes_nothing, .places = fwd_places, .read_step = fwd_dgram_read,
	.quiet = 1, .place_fds = 1, .init = fwd_init,
};

/* ---- the loop ---- */

/* reap's steps, one rule each.  Stdin is all out to p: FIN. */
static void
send_fin(struct peer *p)
{
	if (ss.route->broadcast && peer_writing(p) && !io.in_open &&
	    p->sent == io.ring_base + buf_len(&io.ring))
		peer_done(p, OUTPUT_DONE, 0);
}

/*
 * Close p once neither direction matters: what it says has ended (FIN)
 * or nobody wants it (--send-only, stdout's reader gone), and what we
 * send has ended or need not reach it once it has gone quiet (a person
 * at stdin, -d, a chat).  Not over unread bytes, which would turn the
 * close into a reset (the route sees them first), and not before its
 * kernel has acknowledged what we sent: no event says when, so look
 * again shortly.  A handshake under way has not begun either direction.
 */
static void
close_done(struct peer *p)
{
	int unread = 0;

	if (p->fd < 0 || p->life == CONNECTING || (peer_reading(p) && (ss.route->owes(p) ||
	    buf_len(&p->in) > 0)) || (peer_writing(p) && !io.eof_leaves))
		return;
	if (!p->err && (unacked(p->fd) > 0 || (peer_reading(p) &&
	    ioctl(p->fd, FIONREAD, &unread) == 0 && unread > 0))) {
		tm.ack = ss.now + ACK_MS;
		return;
	}
	peer_close(p, 0);
}

/*
 * The stuck rule: full this long while others wait, out with a reset.
 * Its clock starts when it is found full: a peer becomes full only by
 * what touches it (stdin's bytes, a chat line), so that is at once.
 */
static void
drop_stuck(struct peer *p)
{
	int full = ss.route->full && peer_writing(p) && ss.route->full(p);

	if (full && !p->full)
		p->moved_at = ss.now;
	if (!(p->full = full))
		return;
	if (ss.now - p->moved_at >= STUCK_MS) {
		note("%s: not reading for %.1f s, dropped", p->name,
		    STUCK_MS / 1000.0);
		peer_close(p, 1);
	} else if (!tm.stuck || p->moved_at + STUCK_MS < tm.stuck) {
		tm.stuck = p->moved_at + STUCK_MS;
	}
}

/*
 * A closed peer whose bytes are all out leaves the table, its error
 * said (with many, one that had sent FIN and then failed a write has
 * simply gone: -v says so), and the route is told.  1 if it left.
 */
static int
remove_drained(struct peer *p)
{
	if (p->life != DRAINING || buf_len(&p->in) > 0)
		return 0;
	/* Out of the table first (the last peer takes its place): left()
	 * may tell the rest. */
	peers.p[p->index] = peers.p[--peers.n];
	peers.p[p->index]->index = p->index;
	if (p->err && !ss.route->quiet && (ss.route->single || !p->fin))
		say(p->err, "%s", p->name);
	else if (p->err && !ss.route->quiet)
		note("%s: %s", p->name, strerror(p->err));
	if (p->err && ss.route->single)
		ss.status = EXIT_NET;
	if (ss.route->left)
		ss.route->left(p);
	peer_free(p);
	return 1;
}

/*
 * The bytes every peer has been sent are free again in the stdin ring:
 * looked for among them all, but only once a peer's cursor has moved
 * (or it takes the ring no more) and something is there.
 */
static void
ring_free(void)
{
	unsigned long long low = io.ring_base + buf_len(&io.ring);

	if (!ss.route->broadcast)
		return;	/* the route takes stdin itself */
	if (!io.cursors_moved || low == io.ring_base) {
		if (low == io.ring_base)
			io.ring.start = io.ring.end = 0;
		return;
	}
	io.cursors_moved = 0;
	for (int i = 0; i < peers.n; i++)
		if (peer_writing(peers.p[i]) && peers.p[i]->sent < low)
			low = peers.p[i]->sent;
	io.ring.start += low - io.ring_base;
	io.ring_base = low;
	if (io.ring.start == io.ring.end)
		io.ring.start = io.ring.end = 0;
}

/*
 * After the route, the peers whose state changed, and only they: what
 * waits to go to each is written, then each rule; what each waits for
 * now goes into the poll set.  Then the ring and the budget, which can
 * touch more.  A route's own rules come first, and again after each
 * pass that did something: those that walk every peer (UDP sessions'
 * -i, --to's deadlines).  --to's pairs obey theirs in each end's write
 * step, which waits for the writes (a FIN goes on after the last
 * bytes) and sees an end fail before it leaves the table (a refused
 * target: the next address is tried).
 */
static void
reap(void)
{
	struct peer *p;
	int n;

	do {
		if (ss.route->settle)
			ss.route->settle();
		for (n = 0; (p = lp.touched.head); n++) {
			list_del(&lp.touched, p);
			(ss.route->write_step ? ss.route->write_step :
			    peer_write)(p);
			send_fin(p);
			close_done(p);
			drop_stuck(p);
			if (remove_drained(p))
				continue;
			peer_trim(p);
			watch(p, peer_wants(p));
		}
		ring_free();
		mem_wake();
	} while (lp.touched.head || (n && ss.route->settle));
}

/* A stop (a signal, -i): drain what is here, then end; a second: now. */
static void
stop(const char *why)
{
	if (ss.stopping) {
		ss.leave = 1;
		return;
	}
	snprintf(ss.why, sizeof(ss.why), "%s", why);
	ss.stopping = 1;
	tm.stop = ss.now + STOP_MS;
	touch_all();	/* a stop cuts the wait for a reader gone */
}

static void
on_signal_pipe(void)
{
	char drain[64], why[32];
	ssize_t n;
	int nsig = 0;

	while ((n = read(sigpipe[0], drain, sizeof(drain))) > 0)
		nsig += n;
	snprintf(why, sizeof(why), "signal %d", (int)got_signal);
	note("%s, stopping", why);
	stop(why);
	ss.leave |= nsig > 1;	/* two at once: now */
}

/* -i, or a UDP client's wait for replies once stdin has ended; 0: none. */
static int
idle_limit(void)
{
	return opt.idle_ms ? opt.idle_ms : io.in_open ? 0 : ss.route->wait_ms;
}

/*
 * The clocks, for both loops: -w, the accept pause, -P, and -i, where
 * waiting on our own stdout is not idleness.  1 once a stop has begun.
 */
static int
tick(int stdout_waits)
{
	char why[48];
	int idle = idle_limit();

	if (tm.wait && ss.now >= tm.wait)
		fail(0, "no connection within %s", ms_text(opt.wait_ms));
	if (tm.accept && ss.now >= tm.accept)
		tm.accept = 0;
	/* The stuck and ack clocks, and the end of the wait for a reader
	 * gone (stream_owes): every peer looks again (reap), and sets
	 * them again if it must. */
	if ((tm.stuck && ss.now >= tm.stuck) || (tm.ack && ss.now >= tm.ack) ||
	    (tm.gone && ss.now >= tm.gone)) {
		tm.stuck = tm.ack = 0;
		if (ss.now >= tm.gone)
			tm.gone = 0;
		touch_all();
	}
	if (opt.progress && ss.now >= tm.progress)
		progress_draw(0);
	if (stdout_waits)
		tm.last_data = ss.now;
	if (idle && peers.serials && !ss.stopping &&
	    ss.now - tm.last_data >= idle) {
		snprintf(why, sizeof(why), "no data for %s", ms_text(idle));
		note("%s, ending", why);
		stop(why);
	}
	return ss.stopping;
}

/* Bytes wait to be written: a stop lets them go before it ends. */
static int
queued(void)
{
	if (io.nout || (ss.route->dgram && buf_len(&io.ring) > 0))
		return 1;
	for (int i = 0; i < peers.n; i++)
		if (peer_out(peers.p[i], NULL) > 0)
			return 1;
	return 0;
}

/*
 * A stop is over: a second signal, its time is up, or nothing more is
 * here (poll() found nothing at once) and nothing waits to go.
 */
static int
stop_over(int nready)
{
	return ss.leave || (ss.stopping && (ss.now >= tm.stop ||
	    (nready == 0 && !queued())));
}

/* ms until the nearest timer, -1 if none; a stop polls, not waits,
 * once nothing waits to go. */
static int
poll_timeout(void)
{
	int idle = idle_limit();
	long long t[] = { tm.wait, tm.accept, tm.stuck, tm.ack, tm.progress,
	    tm.route, tm.gone > ss.now ? tm.gone : 0,
	    idle && peers.serials ? tm.last_data + idle : 0,
	    ss.stopping ? (queued() ? tm.stop : ss.now) : 0 };
	long long next = lp.touched.head ? ss.now : 0;	/* reap first */

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i] > 0 && (!next || t[i] < next))
			next = t[i];
	if (!next)
		return -1;
	return next <= ss.now ? 0 : next - ss.now > INT_MAX ? INT_MAX :
	    (int)(next - ss.now);
}

/* poll() found p ready: a write may go on, and it is read. */
static void
peer_ready(struct peer *p)
{
	int err;

	p->wblocked = 0;
	if (p->life == CONNECTING) {
		peer_connected(p);
	} else if (p->ev & POLLIN) {
		(ss.route->read_step ? ss.route->read_step : peer_read)(p);
	} else if (p->ev == POLLERR) {	/* it waits for errors: one came */
		/* (Linux: EPIPE for a reset after the peer's FIN, as a
		 * write would have found) */
		err = sock_error(p->fd);
		peer_done(p, OUTPUT_DONE, err ? err : ECONNRESET);
	}
	touch(p);
}

/* The peers that are ready, as poll() or epoll says. */
static void
peers_ready(void)
{
#ifdef USE_EPOLL
	static struct epoll_event ev[EVENTS];
	int n = 0;

	if (lp.pfd[SLOT_PEER].revents &&
	    (n = epoll_wait(lp.epfd, ev, EVENTS, 0)) < 0 && errno != EINTR)
		fail(errno, "epoll_wait");
	for (int i = 0; i < n; i++)
		peer_ready(ev[i].data.ptr);
#else
	for (int k = 0; k < lp.np; k++)
		if (lp.pfd[SLOT_PEER + k].revents)
			peer_ready(lp.polled[k]);
#endif
}

/*
 * The general loop: route, write, reap, then poll and read each
 * endpoint.  What each waits for is derived from its state whenever
 * that changes (reap sees every peer touched), never from what poll()
 * said, so nothing can drift; and whatever is queued asks for POLLOUT,
 * so poll() never sleeps while it could be written (reaping can queue
 * a notice).  It returns when the session is over by itself or a stop
 * has drained; session_end() does the rest.
 */
static void
run(void)
{
	int nready;
	short ev;

	for (;;) {
		ss.now = now_ms();
		ss.route->move();
		stdout_write();
		reap();
		/* Its writes made room: what waited for it moves now, or
		 * nothing would wake poll() for it (a chat line waits until
		 * every peer has room). */
		ss.route->move();
		reap();
		if (ss.route->over && ss.route->over())
			break;
		tick(io.nout > 0);
		loop_room();
		lp.pfd[SLOT_SIGNAL] = (struct pollfd){ sigpipe[0], POLLIN, 0 };
		lp.pfd[SLOT_STDIN] = (struct pollfd){
		    stdin_wanted() ? io.ifd : -1, POLLIN, 0 };
		/* Polled even when idle: a pipe reader that left shows POLLERR. */
		lp.pfd[SLOT_STDOUT] = (struct pollfd){
		    io.out_open ? io.ofd : -1, io.nout ? POLLOUT : 0, 0 };
		ev = ss.route->sock_wants();
		lp.pfd[SLOT_SOCK] = (struct pollfd){ ev ? peers.lfd : -1, ev,
		    0 };
#ifdef USE_EPOLL
		lp.pfd[SLOT_PEER] = (struct pollfd){ lp.epfd, POLLIN, 0 };
		nready = poll(lp.pfd, SLOT_PEER + 1, poll_timeout());
#else
		nready = poll(lp.pfd, SLOT_PEER + lp.np, poll_timeout());
#endif
		if (nready < 0) {
			if (errno != EINTR)
				fail(errno, "poll");
			continue;
		}
		ss.now = now_ms();
		if (stop_over(nready))
			break;
		if (lp.pfd[SLOT_SIGNAL].revents)
			on_signal_pipe();
		if (ss.leave)
			break;
		if (lp.pfd[SLOT_STDIN].revents)
			stdin_read();
		peers_ready();
		if (lp.pfd[SLOT_STDOUT].revents &
		    (POLLERR | POLLHUP | POLLNVAL))
			stdout_gone();
		io.wblocked &= !lp.pfd[SLOT_STDOUT].revents;
		if (lp.pfd[SLOT_SOCK].revents)
			ss.route->sock_ready(lp.pfd[SLOT_SOCK].revents);
	}
}

/* ---- the splice loop ---- */

/*
 * One peer and a pipe on our side: splice(2) moves the bytes inside the
 * kernel, with no copy through our buffers.  A small loop of its own,
 * as OpenBSD nc's readwrite() is, run at the start of a one-peer
 * session: it moves bytes and calls the same endpoint steps, route and
 * reaping for every end.  At anything else (bytes in a buffer from a
 * side that is no pipe, a signal, -i, splice refused, an urgent byte)
 * it hands over to the general loop, which carries on from there.
 */
#ifdef SPLICE_F_MOVE

/* Splice fd if it is a pipe, made large so each call moves more. */
static int
splice_fd(int fd)
{
	struct stat sb;

	if (fstat(fd, &sb) < 0 || !S_ISFIFO(sb.st_mode))
		return 0;
#ifdef F_SETPIPE_SZ
	(void)fcntl(fd, F_SETPIPE_SZ, PIPESZ);
#endif
	return 1;
}
/* A few splices; -1 to hand over to the general loop. */
static int
flow_splice(struct flow *f, struct peer *p, int up)
{
	ssize_t n;
	int queued = 0;

	for (int round = 0; round < 8; round++) {
		n = splice(f->from, NULL, f->to, NULL, PIPESZ,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			*(up ? &ss.nsent : &ss.nrecv) += n;
			tm.last_data = ss.now;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		/* An urgent byte (MSG_OOB) stops splice short of the data
		 * and FIN behind it for good; read() steps over it. */
		if (!up && (n == 0 || errno == EAGAIN) &&
		    sockatmark(p->fd) == 1)
			return -1;
		if (n == 0 && up) {
			stdin_ended();
		} else if (n == 0) {
			peer_done(p, INPUT_DONE, 0);
		} else if (errno == EAGAIN) {
			/* Bytes at the source: the destination is full.
			 * Knowing which saves a poll() per chunk. */
			f->wait = ioctl(f->from, FIONREAD, &queued) == 0 &&
			    queued > 0 ? f->to : f->from;
		} else if (errno == EINVAL || errno == ENOSYS) {
			return -1;	/* read/write will do */
		} else if (up) {
			peer_done(p, OUTPUT_DONE, errno);
		} else if (errno == EPIPE) {
			/* stdout's reader left; the socket still holds what
			 * it did not take, if anything: the general loop
			 * reads on, and fails on a byte, not on the FIN. */
			stdout_gone();
			return -1;
		} else {
			peer_done(p, INPUT_DONE, errno);
		}
		return 0;
	}
	return 0;
}

static void
splice_run(void)
{
	struct peer *p = peers.p[0];
	struct flow fl[2] = {
		{ STDIN_FILENO, p->fd, !opt.nostdin && splice_fd(STDIN_FILENO),
		    STDIN_FILENO },
		/* --send-only drops what the peer says: pipe_move does. */
		{ p->fd, io.ofd, !opt.send_only && splice_fd(io.ofd), p->fd } };
	struct pollfd pfd[5];
	int on[2], timeout;

	if (!fl[0].pipe && !fl[1].pipe)
		return;
	for (;;) {
		ss.now = now_ms();
		ss.route->move();
		touch(p);	/* one peer: its rules each round */
		reap();
		if (peers.n == 0 || io.nout || buf_len(&io.ring) > 0 ||
		    buf_len(&p->in) > 0)
			return;
		on[0] = stdin_wanted();
		on[1] = peer_reading(p);
		/* The clocks are the general loop's; a stop is its too. */
		if ((!on[0] && !on[1]) ||
		    tick(on[1] && fl[1].wait == fl[1].to))
			return;
		pfd[0] = (struct pollfd){ sigpipe[0], POLLIN, 0 };
		/* A pipe reader that left shows POLLERR, data or not. */
		pfd[1] = (struct pollfd){ io.out_open ? io.ofd : -1, 0, 0 };
		/* A peer not read from shows a reset too (see peer_wants). */
		pfd[4] = (struct pollfd){ !on[1] && peer_writing(p) ? p->fd :
		    -1, 0, 0 };
		timeout = poll_timeout();
		for (int i = 0; i < 2; i++) {
			/* poll() skips a flow off or to try now: fd -1. */
			pfd[2 + i] = (struct pollfd){ on[i] ? fl[i].wait : -1,
			    fl[i].wait == fl[i].from ? POLLIN : POLLOUT, 0 };
			if (on[i] && fl[i].wait < 0)
				timeout = 0;
		}
		if (poll(pfd, 5, timeout) < 0) {
			if (errno != EINTR)
				fail(errno, "poll");
			continue;
		}
		if (pfd[0].revents || pfd[1].revents || pfd[4].revents)
			return;	/* a signal, stdout gone, a reset: the general
				 * loop's */
		for (int i = 0; i < 2; i++) {
			if (!on[i] || (fl[i].wait >= 0 && !pfd[2 + i].revents))
				continue;
			if (!fl[i].pipe && i == 0)
				stdin_read();
			else if (!fl[i].pipe)
				peer_read(p);
			else if ((fl[i].wait = -1, flow_splice(&fl[i], p, i == 0))
			    < 0)
				return;
		}
	}
}

#else
static void
splice_run(void)
{
}
#endif

/* ---- the end ---- */

/*
 * Every session ends here, whatever the cause: both directions done, a
 * stop (a signal, -i) once it has drained what was here, -w, stdout's
 * reader gone, a fatal error.  A stream it cuts (bytes for a peer
 * unsent, stdin short of its end, a peer's bytes not written or still
 * coming for someone) is reset, never closed with a clean FIN, so the
 * other end cannot take it for a whole one; one line says what was cut
 * (unless an error was said); then the last -P line, the -v summary,
 * and the status: 1 if anything was cut or failed.
 */
static void
session_end(void)
{
	const struct route *r = ss.route;
	unsigned long long held = buf_len(&io.q);
	char what[128] = "", h[16];
	struct peer *p;
	int holds = stdin_holds();	/* bytes stdin has, unread */
	int unsent = r->dgram && (buf_len(&io.ring) > 0 || holds);
	int cut = r->cut ? r->cut() : 0, reset = cut, out, in, n = 0, k;
	int short_in = 0;	/* stdin may give more: a quiet pipe */

	for (int i = 0; i < peers.n; i++) {
		p = peers.p[i];
		out = peer_out(p, NULL) > 0 || (peer_writing(p) && holds);
		unsent |= out;
		out |= peer_writing(p) && stdin_unfinished();
		short_in |= out;
		in = buf_len(&p->in) > 0 || (peer_reading(p) && r->owes(p));
		held += buf_len(&p->in);
		/* and what its kernel has received that we did not read */
		if (in && p->fd >= 0 && ioctl(p->fd, FIONREAD, &k) == 0 && k > 0)
			held += k;
		cut += out || in;
		reset += (out || in) && p->fd >= 0;
		peer_close(p, out || in);
	}
	if (unsent || short_in)
		n += snprintf(what, sizeof(what), unsent ? "data unsent" :
		    "stdin not at its end");
	if (held) {
		human(held, h, sizeof(h));
		n += snprintf(what + n, sizeof(what) - n, "%s%s received not "
		    "written", n ? ", " : "", h);
	}
	if (cut > 1 && !n)
		snprintf(what, sizeof(what), "%d %ss had not finished", cut,
		    r->cut ? "connection" : "peer");
	else if (cut && !n)
		snprintf(what, sizeof(what), "the %s had not finished",
		    r->cut ? "connection" : "peer");
	/* A single transfer whose peer never came did not happen. */
	if (r->single && !peers.serials)
		snprintf(what, sizeof(what), "no peer came");
	if (*what && !ss.said)
		say(0, "%s: %s%s", ss.stopping ? ss.why : "ending", what,
		    reset > 1 ? "; connections reset" : reset ?
		    "; connection reset" : "");
	if (*what)
		ss.status = EXIT_NET;
	progress_draw(1);
	summary();
	exit(ss.status);
}

/* ---- signals ---- */

#ifndef _WIN32	/* Windows: see its platform section */
static void
on_signal(int sig)
{
	int e = errno;

	got_signal = got_signal ? got_signal : sig;	/* the first is news */
	(void)!write(sigpipe[1], "", 1);
	errno = e;
}

static void
setup_signals(void)
{
	static const int stops[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT,
	    SIGALRM, SIGUSR1, SIGUSR2 };
	struct sigaction sa, old;

	/* A vanished peer is an error from write(), not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	if (pipe(sigpipe) < 0 || set_nonblock(sigpipe[0], NULL) < 0 ||
	    set_nonblock(sigpipe[1], NULL) < 0)
		die(EXIT_NET, errno, "pipe");
	/*
	 * Every signal that would end us quietly ends the session as
	 * SIGTERM does: a hangup (a closed terminal, a dropped ssh) must
	 * not look like a finished transfer.  One ignored when we start
	 * (nohup's SIGHUP) stays ignored.
	 */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(stops) / sizeof(stops[0]); i++)
		if (sigaction(stops[i], NULL, &old) < 0 ||
		    old.sa_handler != SIG_IGN)
			(void)sigaction(stops[i], &sa, NULL);
}
#endif

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
	double secs = (now_ms() - ss.t0) / 1000.0;
	char line[256], s[16], sr[16], r[16], rr[16], pct[48] = "";
	int n;

	if (!opt.progress)
		return;
	secs = secs > 0.001 ? secs : 0.001;
	human(ss.nsent, s, sizeof(s));
	human(ss.nsent / secs, sr, sizeof(sr));
	human(ss.nrecv, r, sizeof(r));
	human(ss.nrecv / secs, rr, sizeof(rr));
	if (ss.total > 0 && ss.nsent > 0) {
		long long eta = (long long)((ss.total - (double)ss.nsent) /
		    (ss.nsent / secs));
		snprintf(pct, sizeof(pct), " %d%% ETA %lld:%02lld",
		    (int)(100.0 * ss.nsent / ss.total), eta / 60, eta % 60);
	}
	n = snprintf(line, sizeof(line), "\rsent %s (%s/s)%s, received %s "
	    "(%s/s), %d:%02d", s, sr, pct, r, rr, (int)secs / 60,
	    (int)secs % 60);
	/* Blank out what a longer earlier line left behind. */
	while (n < ss.drawn + 1 && n < (int)sizeof(line) - 2)
		line[n++] = ' ';
	ss.drawn = n - 1;
	if (final)
		line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
	tm.progress = now_ms() + 250;
}

/* ---- command line ---- */

static void
usage(FILE *f)
{
	fprintf(f,
"usage: ztpipe [-46dPuvz] [-i time] [-R time] [-s source] [-w time]\n"
"              [--name name] [--send-only] [host [port]]\n"
"       ztpipe --addrs\n"
"       ztpipe --resolve [-46] [--network nwid] [--6plane] host\n"
"       ztpipe -l [-46dkPuv] [-i time] [-m max] [-w time] [--allow list]\n"
"              [address] [port]\n"
"       ztpipe -l --chat [-46v] [-m max] [--name name] [address] [port]\n"
"       ztpipe -l [-46Puv] [-i time] [-m max] [-w time] [--allow list]\n"
"              [address] [port] --to host:port\n"
"\n"
"Copy stdin to a TCP (-u: UDP) peer and the peer to stdout.  port defaults\n"
"to %s; give it as its own argument (ztpipe host 9000, not host:9000).\n"
"host may be a ZeroTier node ID, 10 hex digits, or zt:ID: digits that\n"
"could also be an IPv4 address (2130706433 is 127.0.0.1) need one or\n"
"the other.  TIME is seconds (0.5) or has a unit: 500ms, 2s, 1.5m, 1h.\n"
"\n"
"  -4, --ipv4            use IPv4 only\n"
"  -6, --ipv6            use IPv6 only\n"
"      --6plane          dial node IDs at their 6PLANE address\n"
"      --addrs           list this host's ZeroTier interfaces and addresses\n"
"      --allow LIST      with -l: accept only these addresses, prefixes\n"
"                        (10.147.17.0/24, fd00::/8) or zt (ZeroTier subnets);\n"
"                        others are reset\n"
"      --chat            with -l: a group chat; lines go to everyone,\n"
"                        prefixed with the sender's name\n"
"  -d, --no-stdin        do not read stdin and do not half-close\n"
"  -h, --help            show this help and exit\n"
"  -i, --idle TIME       end the session after TIME without data: status 0\n"
"                        if nothing was left unsent, else 1 and the\n"
"                        connection is reset; with --to: end a connection\n"
"                        (UDP: a session, default %ds) silent for TIME\n"
"  -k, --keep-open       with -l: serve many peers, merge whole lines\n"
"  -l, --listen          wait for a peer instead of dialling one\n"
"  -m, --max-conns N     with -k, --chat or --to: at most N peers (--to:\n"
"                        clients) at once (default %d); more are reset\n"
"      --name NAME       your name in a chat (default: the address,\n"
"                        or the host name for the --chat listener)\n"
"      --network NWID    the ZeroTier network for node IDs (16 hex digits)\n"
"  -P, --progress        show progress on stderr, if it is a terminal\n"
"      --progress=always show progress on stderr, terminal or not\n"
"  -R, --retry TIME      keep trying to connect for up to TIME\n"
"      --resolve         print the addresses host would be dialled at\n"
"      --send-only       end once stdin is sent and acknowledged, without\n"
"                        waiting for the peer's end; what it sends is dropped\n"
"  -s, --source ADDR     dial from this local address\n"
"      --to HOST:PORT    with -l: forward each client to HOST:PORT over a\n"
"                        connection of its own ([IPv6]:PORT; HOST may be a\n"
"                        node ID); stdin and stdout are not used\n"
"  -u, --udp             UDP: each read of stdin is one datagram; a client\n"
"                        waits 1 s (-i) for replies after stdin ends\n"
"  -v, --verbose         say what happens on stderr, and a summary\n"
"  -V, --version         print the version and exit\n"
"  -w, --wait TIME       give up connecting (or waiting for a peer)\n"
"                        after TIME; with --to: on the target (default %ds)\n"
"  -z, --probe           only check that something listens (port may be\n"
"                        a range, 8000-8010)\n",
	    DEFAULT_PORT, SESSION_MS / 1000, MAXCONNS, CONNECT_MS / 1000);
}

static void
usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(0, fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try 'ztpipe --help'.\n");
	exit(EXIT_USAGE);
}

/*
 * getopt_long's own messages are off (opterr = 0): from its return value
 * alone, "--chat=1" read as "unknown option: -" and "-Palways" as "-a".
 * These helpers look at the word as typed and say what is wrong with it.
 * N, p: and q: are nc's, known only to say what ztpipe does instead
 * (netcat_habit); getopt then reads their values as nc would.
 */
static const char shortopts[] = ":46dhi:klm:NPp:q:R:s:uvVw:z";
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
	{ "send-only", no_argument, NULL, OPT_SEND_ONLY },
	{ "to", required_argument, NULL, OPT_TO },
	{ "source", required_argument, NULL, 's' },
	{ "udp", no_argument, NULL, 'u' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ "wait", required_argument, NULL, 'w' },
	{ NULL, 0, NULL, 0 }
};

/*
 * The edits (insert, delete, change, or swap two neighbours) that turn
 * a[0..an) into b; EDITMAX + 1 if either is longer than EDITMAX.  Pure.
 */
static int
edits(const char *a, size_t an, const char *b)
{
	enum { EDITMAX = 32 };
	size_t bn = strlen(b);
	int d[EDITMAX + 1][EDITMAX + 1], v;

	if (an > EDITMAX || bn > EDITMAX)
		return EDITMAX + 1;
	for (size_t i = 0; i <= an; i++)
		for (size_t j = 0; j <= bn; j++) {
			if (i == 0 || j == 0) {
				d[i][j] = (int)(i + j);
				continue;
			}
			v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < v)
				v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[an][bn];
}

/* arg ("--name" or "--name=value") was refused: unknown, ambiguous, ... */
static void
long_error(const char *arg)
{
	const char *name = arg + 2, *eq = strchr(name, '=');
	size_t len = strcspn(name, "=");
	const struct option *o, *hit = NULL;
	char list[256] = "";
	int n = 0, e, best = 3;

	for (o = longopts; o->name && len > 0; o++) {
		if (strncmp(o->name, name, len) != 0)
			continue;
		hit = o;
		if (strlen(o->name) == len) {	/* exact: never ambiguous */
			n = 1;
			break;
		}
		n++;
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
		    "%s--%s", n > 1 ? ", " : "", o->name);
	}
	/* A typo ("--lsiten"): the names one or two edits away, one edit
	 * for a short name, as any name is two edits from a 2-letter one. */
	for (o = longopts; n == 0 && o->name; o++) {
		if ((e = edits(name, len, o->name)) > (len < 5 ? 1 : 2) ||
		    e > best)
			continue;
		if (e < best)
			list[0] = '\0';
		best = e;
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
		    "%s--%s", *list ? " or " : "", o->name);
	}
	if (n == 0 && *list)
		usage_error("unknown option: %s (did you mean %s?)", arg, list);
	if (n == 0)
		usage_error("unknown option: %s", arg);
	if (n > 1)
		usage_error("ambiguous option: %s could be %s", arg, list);
	if (eq && hit->has_arg == no_argument)
		usage_error("--%s takes no value: %s", hit->name, arg);
	if (strcmp(name, hit->name) == 0)
		usage_error("%s needs a value", arg);
	usage_error("--%s needs a value: %s", hit->name, arg);
}

/*
 * Letter c of a word of letters ("-vx") is unknown.  getopt does not say
 * which word, and implementations leave optind in different places (musl
 * permutes later than glibc): look for the word itself.
 */
static void
short_error(int c, int argc, char **argv)
{
	const char *w = "", *at = NULL;

	for (int i = 1; i < argc && !at; i++)
		if (argv[i] && argv[i][0] == '-' && argv[i][1] != '-' &&
		    (at = strchr(argv[i] + 1, c)))
			w = argv[i];
	if (!at)
		usage_error("unknown option: -%c", c);
	if ((w[1] == c && w[2] == '\0') || c < 0x20 || c > 0x7e)
		usage_error("unknown option: %s", w);	/* -x, or -ş whole */
	/* "-P=always", "-Palways": meant for --progress=always. */
	if (at > w + 1 && at[-1] == 'P')
		usage_error("-P takes no value (--progress=VALUE does): %s", w);
	if (c == '=')
		usage_error("-%c takes no value: %s", at[-1], w);
	usage_error("unknown option: -%c (in %s)", c, w);
}

/*
 * nc's -N, -q SECS and -l -p PORT: ztpipe needs none of them, or has
 * another way; say which.  val is the option's value, pos the arguments.
 */
static void
netcat_habit(int c, const char *val, int npos, char **pos)
{
	const char *port = val ? val : "port";

	if (c == 'N')
		usage_error("%s", "unknown option: -N (not needed: ztpipe "
		    "half-closes when stdin ends)");
	if (c == 'q')
		usage_error("%s", "unknown option: -q (to end once stdin is "
		    "sent, use --send-only)");
	/* With -l, a lone number is the port (parse_args): not an address. */
	if (opt.listen && npos > 0 && !is_number(pos[0]))
		usage_error("unknown option: -p (the port is an argument: "
		    "ztpipe -l %s %s)", pos[0], port);
	if (opt.listen)
		usage_error("unknown option: -p (the port is an argument: "
		    "ztpipe -l %s)", port);
	usage_error("unknown option: -p (the port to dial is an argument: "
	    "ztpipe %s %s)", npos > 0 ? pos[0] : "host", port);
}

/*
 * "127.0.0.1:9000", "[fd80::1]:9000", "host:9000": the port as URLs and
 * ssh write it.  getaddrinfo takes none of them (an IPv6 address has
 * two colons or more, "fd80::1" stays one) and only says "Name or
 * service not known": say where the port goes, as an argument, or at
 * the prompt after a space.  zt: is a node ID's prefix, and what is no
 * port is left to getaddrinfo and zt_node_host to refuse.
 */
static void
host_port_hint(const char *host, int prompted)
{
	const char *h = strncmp(host, "zt:", 3) == 0 ? host + 3 : host;
	const char *colon = strchr(h, ':'), *end = strchr(h, ']'), *port;
	const char *how = prompted ? "" : opt.listen ? "ztpipe -l " :
	    opt.probe ? "ztpipe -z " : opt.resolve ? "ztpipe --resolve " :
	    "ztpipe ";
	int alen;

	if (h == host && h[0] == '[' && end && (!end[1] || (end[1] == ':' &&
	    end[2]))) {
		h++;	/* "[fd80::1]:9000", or brackets alone: "[fd80::1]" */
		alen = end - h;
		port = end[1] ? end + 2 : NULL;
	} else if (colon && colon > h && colon[1] && !strchr(colon + 1, ':')) {
		h = host;	/* "127.0.0.1:9000", "zt:a45dc9d260:9000" */
		alen = colon - host;
		port = colon + 1;
	} else {
		return;
	}
	if (port && parse_port(port, 1) < 0)
		return;
	if (!port)
		usage_error("%s: an IPv6 address goes without brackets: %s%.*s",
		    host, how, alen, h);
	usage_error("%s: the port goes %s: %s%.*s %s", host, prompted ?
	    "after a space" : "in an argument of its own", how, alen, h, port);
}

/*
 * --addrs, --resolve and -z do one thing and exit: any option other than
 * those in takes (0-terminated) would be silently ignored, or worse (-l
 * --resolve had no host to resolve), so it is a usage error.
 */
static void
only_with(int mode, const int *takes, char (*seen)[12])
{
	int i;

	for (int c = 1; c < OPT_END; c++) {
		if (!*seen[c] || c == mode)
			continue;
		for (i = 0; takes[i] && takes[i] != c; i++)
			;
		if (!takes[i])
			usage_error("%s cannot be used with %s", seen[c],
			    seen[mode]);
	}
}

/* "8000-8010" (or one port) into lo and hi; -1 if not a range.  Pure. */
static int
parse_range(const char *s, int *lo, int *hi)
{
	char a[8], b[8], more;

	if (sscanf(s, "%7[0-9]-%7[0-9]%c", a, b, &more) != 2 ||
	    (*lo = parse_port(a, 0)) < 0 || (*hi = parse_port(b, 0)) < 0 ||
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
	size_t len = 0;
	ssize_t n;
	int nnets = zt_networks(nwids, 8);

	for (int i = 0; i < nnets; i++)
		say(0, "you are on ZeroTier network %016" PRIx64 "; give an "
		    "address or a 10-digit node ID", nwids[i]);
	(void)!write(STDERR_FILENO, "peer address [port]: ", 21);
	/* A byte at a time: what follows the line is data for the peer. */
	while (len < sizeof(line) - 1) {
		n = read(STDIN_FILENO, line + len, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || line[len++] == '\n')
			break;
	}
	/* After ^D the cursor is still on the prompt line: end it first. */
	if (len == 0 || line[len - 1] != '\n')
		(void)!write(STDERR_FILENO, "\n", 1);
	line[len] = '\0';
	opt.host = strtok(line, " \t\r\n");
	opt.port = strtok(NULL, " \t\r\n");
}

/*
 * A time as -i, -R and -w take it: seconds with an optional fraction
 * (0.2), or with a unit as ncat's: 500ms, 2s, 1.5m, 1h.  In ms, rounded
 * to the nearest; -1 if malformed or past INT_MAX ms.  Pure.
 */
static long long
parse_ms(const char *s)
{
	static const struct { const char *unit; long long ms; } units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
		{ "h", 3600000 },
	};
	long long whole = 0, frac = 0, scale = 1, v;
	const char *p = s;
	size_t k;

	for (; *p >= '0' && *p <= '9'; p++)
		if ((whole = whole * 10 + (*p - '0')) > INT_MAX)
			return -1;
	if (*p == '.') {
		/* Nine digits are finer than a ms, even of hours. */
		for (p++; *p >= '0' && *p <= '9'; p++)
			if (scale < 1000000000) {
				frac = frac * 10 + (*p - '0');
				scale *= 10;
			}
		if (p[-1] == '.')
			return -1;	/* "5.", "." */
	}
	if (p == s)
		return -1;	/* no digits: "", "-1", "ms" */
	for (k = 0; k < sizeof(units) / sizeof(units[0]); k++)
		if (strcmp(p, units[k].unit) == 0)
			break;
	if (k == sizeof(units) / sizeof(units[0]))
		return -1;
	v = whole * units[k].ms + (frac * units[k].ms + scale / 2) / scale;
	return v > INT_MAX ? -1 : v;
}

/* -i, -R, -w: a time, kept in ms; -m: a whole number.  Each in range. */
static void
number_opt(int c, const char *s)
{
	static const struct { int c; long max; int *v; const char *bad; }
	    num[] = {
		{ 'i', INT_MAX, &opt.idle_ms, "bad idle time: %s" },
		{ 'R', INT_MAX, &opt.retry_ms, "bad retry time: %s" },
		{ 'w', INT_MAX, &opt.wait_ms, "bad wait: %s" },
		{ 'm', 1000000, &opt.maxconns, "bad connection limit: %s" },
	};
	char *end;
	long long v;
	int k = 0;

	while (num[k].c != c)
		k++;
	if (c == 'm') {
		errno = 0;
		v = strtol(s, &end, 10);
		if (errno || end == s || *end)
			v = -1;
	} else {
		v = parse_ms(s);
	}
	if (v < 1 || v > num[k].max)
		usage_error(num[k].bad, s);
	*num[k].v = (int)v;
}

static void
parse_args(int argc, char **argv)
{
	static const int addrs_takes[] = { 'v', 0 };
	static const int resolve_takes[] = { '4', '6', 'u', 'v', OPT_NETWORK,
	    OPT_6PLANE, 0 };
	static const int probe_takes[] = { '4', '6', 'u', 'v', 's', 'w',
	    OPT_NETWORK, OPT_6PLANE, 0 };
	/* No connection to retry, chat in or name oneself on. */
	static const int udp_refuses[] = { OPT_CHAT, 'R', OPT_NAME, 0 };
	static const int to_refuses[] = { OPT_CHAT, 'd', 'R', OPT_NAME,
	    OPT_SEND_ONLY, 0 };
	const char **allow = calloc(argc, sizeof(*allow));
	char seen[OPT_END][12] = { "" };	/* as typed: -v, --verbose */
	/* Only the last word can lack its value; save it now, as musl's
	 * getopt_long then moves argv's NULL into argv[optind - 1]. */
	const char *last = argc > 0 ? argv[argc - 1] : "", *w;
	const char *habit_val = NULL;	/* nc's -p or -q: its value */
	int c, li, nallow = 0, habit = 0, prompted = 0;

	if (!allow)
		die(EXIT_NET, errno, "calloc");
	opt.family = AF_UNSPEC;
	opt.wait_ms = -1;
	opt.maxconns = MAXCONNS;
	opterr = 0;	/* our own one-line messages, named "ztpipe:" */
	/* li is set for a long option only, so reset it before each call. */
	while ((c = getopt_long(argc, argv, shortopts, longopts,
	    (li = -1, &li))) != -1) {
		if (li >= 0)
			snprintf(seen[c], sizeof(seen[c]), "--%s",
			    longopts[li].name);
		else if (c > 0 && c < OPT_END)
			snprintf(seen[c], sizeof(seen[c]), "-%c", c);
		switch (c) {
		case '4': opt.family = AF_INET; break;
		case '6': opt.family = AF_INET6; break;
		case 'd': opt.nostdin = 1; break;
		case 'h': usage(stdout); exit(0);
		case OPT_ADDRS: opt.addrs = 1; break;
		/* Read once -l is known to be given: see allow_add below. */
		case OPT_ALLOW: allow[nallow++] = optarg; break;
		case OPT_CHAT: opt.chat = opt.keep = 1; break;
		case OPT_NETWORK: opt.network = optarg; break;
		case OPT_6PLANE: opt.sixplane = 1; break;
		case OPT_RESOLVE: opt.resolve = 1; break;
		case OPT_SEND_ONLY: opt.send_only = 1; break;
		case OPT_TO:
			if (fwd_target(optarg) < 0)
				usage_error("bad --to: '%s' (host:port, or "
				    "[IPv6 address]:port)", optarg);
			break;
		case 'i': case 'm': case 'R': case 'w':
			number_opt(c, optarg);
			break;
		case 'P':
			if (!optarg)
				opt.progress = isatty(STDERR_FILENO);
			else if (strcmp(optarg, "always") == 0)
				opt.progress = 1;
			else
				usage_error("bad value for --progress: '%s' "
				    "(--progress=always, or -P alone)", optarg);
			break;
		case 'z': opt.probe = 1; break;
		case 'k': opt.keep = 1; break;
		case 'l': opt.listen = 1; break;
		case OPT_NAME: opt.name = optarg; break;
		case 's': opt.source = optarg; break;
		case 'u': opt.udp = 1; break;
		case 'v': opt.verbose = 1; break;
		case 'V': printf("ztpipe %s\n", VERSION); exit(0);
		case 'N': case 'p': case 'q':	/* once all is read */
			habit = c;
			habit_val = optarg;
			break;
		case ':':
			if (optopt == 'p' || optopt == 'q') {
				habit = optopt;
				break;
			}
			w = argv[optind - 1] ? argv[optind - 1] : last;
			if (strncmp(w, "--", 2) == 0)
				long_error(w);
			usage_error("-%c needs a value", optopt);
		default:
			/*
			 * A long option refused leaves optopt 0 (unknown,
			 * ambiguous) or its value, which is never an unknown
			 * letter; an unknown letter is a short one (musl
			 * gives a multibyte one a code past 255).
			 */
			if (optopt == 0 || (optopt >= OPT_6PLANE &&
			    optopt < OPT_END) || (optopt != ':' &&
			    optopt < 0x80 && strchr(shortopts, optopt)))
				long_error(argv[optind - 1]);
			short_error(optopt, argc, argv);
		}
	}
	if (habit)	/* -l known now, wherever it was; argv permuted */
		netcat_habit(habit, habit_val, argc - optind, argv + optind);
	opt.socktype = opt.udp ? SOCK_DGRAM : SOCK_STREAM;
	opt.proto = opt.udp ? "udp" : "tcp";
	for (int i = 0; opt.udp && udp_refuses[i]; i++)
		if (seen[udp_refuses[i]][0])
			usage_error("%s has no meaning with -u: UDP has no "
			    "connections", seen[udp_refuses[i]]);
	if (opt.addrs)
		only_with(OPT_ADDRS, addrs_takes, seen);
	else if (opt.resolve)
		only_with(OPT_RESOLVE, resolve_takes, seen);
	else if (opt.probe)
		only_with('z', probe_takes, seen);
	if (nallow && !opt.listen)
		usage_error("%s is for listeners, with -l", "--allow");
	/* Only now: a failed "--allow zt" (status 1) must not hide that. */
	for (int i = 0; i < nallow; i++)
		allow_add(allow[i]);
	free(allow);
	argc -= optind;
	argv += optind;
	if (opt.addrs) {
		if (argc > 0)
			usage_error("--addrs takes no arguments: %s", argv[0]);
		return;
	}
	/* --to forwards clients: no stdin, no chat, its own -w. */
	if (opt.to_host && !opt.listen)
		usage_error("%s", "--to needs -l: it forwards a listener's clients");
	for (int i = 0; opt.to_host && to_refuses[i]; i++)
		if (seen[to_refuses[i]][0])
			usage_error("%s cannot be used with --to", seen[to_refuses[i]]);
	if (opt.to_host && parse_port(opt.to_port, 0) < 0)
		usage_error("bad port in --to: %s", opt.to_port);
	if (opt.keep && !opt.listen)
		usage_error("%s needs -l", opt.chat ? "--chat" : "-k");
	/* One peer at a time has nothing to bound. */
	if (seen['m'][0] && !opt.keep && !opt.to_host)
		usage_error("%s needs -k, --chat or --to: without them one "
		    "peer is served", seen['m']);
	if (opt.send_only && (opt.keep || opt.nostdin))
		usage_error("--send-only cannot be used with %s", opt.chat ?
		    "--chat" : opt.keep ? "-k" : "-d");
	if (opt.name && !*opt.name)
		usage_error("%s", "empty --name");
	if (opt.listen && opt.source)
		usage_error("%s is for dialling, not with -l", "-s");
	if (opt.source && !*opt.source)
		usage_error("empty %s", seen['s']);
	if (opt.udp && opt.wait_ms > 0 && !opt.listen && !opt.probe)
		usage_error("%s", "-w has no meaning for a UDP client: "
		    "there is no connection to wait for");
	if (argc > 2)
		usage_error("too many arguments: %s", argv[2]);
	/* "-l 9000" is a port; "-l ::1" an address. */
	if (opt.listen && argc == 1 && is_number(argv[0]))
		opt.port = argv[0];
	else if (argc >= 1)
		opt.host = argv[0];
	else if (!opt.listen && isatty(STDIN_FILENO) && !opt.resolve &&
	    !opt.probe) {
		prompt_host();
		prompted = 1;
	}
	if (!opt.host && !opt.listen)
		usage_error("%s", "no host to connect to");
	if (opt.host && !*opt.host)
		usage_error("%s", "empty host");
	if (opt.host)
		host_port_hint(opt.host, prompted);
	if (argc == 2)
		opt.port = argv[1];
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
			die(EXIT_NET, errno, "/dev/null");
}

static void
summary(void)
{
	note("sent %llu bytes, received %llu bytes in %.2f s", ss.nsent,
	    ss.nrecv, (now_ms() - ss.t0) / 1000.0);
	if (chat.dropped)
		note("%lu chat lines dropped: stdout did not keep up",
		    chat.dropped);
	if (dg.ignored)
		note("%lu datagrams ignored: not from the peer", dg.ignored);
	if (dg.refused)
		note("%lu datagrams dropped by --allow", dg.refused);
	if (fw.full)
		note("%lu datagrams dropped: -m sessions already", fw.full);
	if (fw.lost)
		note("%lu datagrams dropped: a socket was full", fw.lost);
	if (dg.dropped)
		note("%lu datagrams dropped by the kernel",
		    (unsigned long)dg.dropped);
}

#ifndef ZTPIPE_FUZZ	/* test/fuzz.c includes this file and brings its own main */
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
	rlim_t want;
	int fl;

	ss.t0 = ss.now = tm.last_data = now_ms();
	ss.route = opt.to_host ? (opt.udp ? &fwd_dgram_route : &fwd_route) :
	    opt.udp ? (opt.keep ? &dgram_many_route : opt.listen ?
	    &dgram_route : &dgram_client_route) : opt.chat ? &chat_route :
	    opt.keep ? &merge_route : &pipe_route;
	/* udp: its socket is the session's peer from the start, so -i
	 * counts from now; the peer is one sender, or with -k -m. */
	peers.serials = opt.udp;
	dg.many = opt.keep;
	dg.max = opt.keep ? opt.maxconns : 1;
	peers.lfd = -1;
	io.out_open = 1;
	io.ifd = STDIN_FILENO;	/* Windows: its relay, from stdout_open */
	io.tty = isatty(STDIN_FILENO);
	io.eof_leaves = ss.route->eof_leaves || opt.nostdin || io.tty;
	/* nohup and background jobs can leave fd 0 open for writing only. */
	fl = fcntl(STDIN_FILENO, F_GETFL);
	io.in_open = fl < 0 || (fl & O_ACCMODE) != O_WRONLY;
	if (!io.in_open)
		note("stdin is not open for reading: taken as closed");
	/* -P: what is left to read of a regular file on stdin. */
	ss.total = opt.nostdin ? -1 : stdin_file_left();
	if (buf_init(&io.ring, ss.route->dgram ? ss.route->dgram : BUFSZ) < 0 ||
	    (ss.route->outq && buf_init(&io.q, 2 * CHATQ) < 0))
		die(EXIT_NET, errno, "malloc");
	/* Many peers need many fds: raise the soft limit as far as allowed. */
	want = (rlim_t)opt.maxconns * ss.route->place_fds + FD_SPARE;
	if (ss.route->place_fds && getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < want) {
		rl.rlim_cur = want;
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
			rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (opt.name)
		nick_set(chat.nick, opt.name, strlen(opt.name));
	else if (gethostname(host, sizeof(host)) == 0)
		nick_set(chat.nick, host, strnlen(host, sizeof(host)));
	if (ss.route->init)
		ss.route->init();
}

static void
start_dialling(void)
{
	struct sockaddr_storage sa;
	socklen_t sl = sizeof(sa);
	char line[NICKMAX * 3 + 8];
	int fd = dial(opt.host, opt.port), e;

	/* A peer that resets at once (-m full, --allow) may have done so
	 * already: then the socket is no longer connected, and read says
	 * why. */
	if (getpeername(fd, (struct sockaddr *)&sa, &sl) < 0) {
		e = errno;
		if (e == ENOTCONN && read(fd, line, 1) < 0 && errno != EAGAIN)
			fail(errno, "connect to %s port %s", opt.host,
			    opt.port);
		fail(e, "getpeername");
	}
	if (ss.route->dgram) {	/* no peer: the socket, and its sender */
		peers.lfd = fd;
		dgram_heard(&sa, sl);
		tune(fd);
		return;
	}
	if (!peer_add(fd, (struct sockaddr *)&sa))
		fail(errno, "malloc");
	/* A chat server learns our name from the first line. */
	if (opt.name)
		buf_put(&io.ring, line, snprintf(line, sizeof(line),
		    "/name %s\n", chat.nick));
}

int
main(int argc, char **argv)
{
#ifdef _WIN32
	win_start(&argc, &argv);
#endif
	guard_std_fds();
	parse_args(argc, argv);
	if (opt.addrs)
		return zt_print_addrs();
	if (opt.resolve)
		return resolve_print();
	if (opt.probe)
		return probe(opt.host, opt.port_lo, opt.port_hi);
	session_init();
	setup_signals();	/* a stop while dialling ends it too */
	if (opt.listen) {
		peers.lfd = listen_on(opt.host, opt.port);
		if (opt.wait_ms > 0)
			tm.wait = ss.t0 + opt.wait_ms;
	} else {
		start_dialling();
	}
	stdout_open();
	if (peers.n > 0 && ss.route->joined)	/* dialled */
		ss.route->joined(peers.p[0]);
	run();
	session_end();
}
#endif
