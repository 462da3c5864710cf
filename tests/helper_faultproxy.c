/*
 * helper_faultproxy: an HTTP/1.1 proxy for retry tests that forwards each
 * client connection to one upstream (an S3 server) and, per request, may
 * inject a fault: an immediate 503 SlowDown with an S3 XML error body, a
 * connection reset in the middle of the request or of the response, a
 * stall before the request is forwarded, or one flipped bit in the middle of
 * a request body (Content-Length framed; drawn for a request without a body
 * it is no fault), as a corrupting network would.
 *
 * One process, one poll() loop, no threads. Each client connection has its
 * own upstream connection; requests on a keep-alive connection are handled
 * one at a time (no pipelining: the next request waits in the input buffer
 * until the response to the previous one is complete). Request bodies are
 * framed by Content-Length or chunked encoding, responses by Content-Length,
 * chunked encoding or the end of the connection; `Expect: 100-continue` works
 * because interim 1xx responses are passed through.
 *
 * Faults are drawn from a seeded xorshift generator in request order, so a
 * run with the same seed and the same request sequence injects the same
 * faults. Counters go to stderr on exit (SIGTERM, SIGINT) and on SIGUSR1.
 *
 * usage: helper_faultproxy [-l PORT] [-s SEED] [-e P503] [-q PRESETREQ]
 *            [-r PRESETRESP] [-t PSTALL] [-T STALLSECS] [-c PCORRUPT] [-m MAXFAULTS] [-v]
 *            HOST:PORT
 * With -l 0 (the default) the kernel picks the port; the port is printed on
 * stdout, one line, as soon as the proxy listens.
 */
#include "engine/buf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FP_MAX_CONNS 512
#define FP_MAX_HEAD (64 * 1024)
#define FP_BUF_CAP ((size_t)4 << 20)  /* per buffer; reading stops at FP_HIGH */
#define FP_HIGH ((size_t)1 << 20)
#define FP_READ_CHUNK 65536

enum fp_fault { FAULT_NONE, FAULT_503, FAULT_RESET_REQ, FAULT_RESET_RESP, FAULT_STALL,
		FAULT_CORRUPT, FAULT__N };

static const char *const fault_names[FAULT__N] = {
	"none", "503-slowdown", "reset-mid-request", "reset-mid-response", "stall", "corrupt-body",
};

/* scanner for a chunked body: finds where it ends, passes bytes unchanged */
enum chunk_state { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER,
		   CH_TRAILER_LF, CH_DONE };

struct chunk {
	enum chunk_state st;
	uint64_t left;    /* data bytes left in this chunk */
	uint64_t size;    /* size being parsed */
	size_t line_len;  /* length of the current trailer line */
	bool have_digit;
};

enum req_state {
	REQ_HEAD,      /* waiting for a complete request head in cin */
	REQ_STALLED,   /* head complete, held until stall_until */
	REQ_BODY,      /* forwarding (or discarding) the request body */
	REQ_WAIT,      /* request forwarded, waiting for the response to finish */
};

enum resp_state { RESP_HEAD, RESP_BODY, RESP_UNTIL_CLOSE };

enum body_kind { BODY_NONE, BODY_LENGTH, BODY_CHUNKED };

struct fp_conn {
	int cfd, ufd;
	struct buf cin, cout, uin, uout;
	unsigned id;
	/* request in progress */
	enum req_state rq;
	enum fp_fault fault;
	bool fault_drawn;
	bool is_head;         /* method HEAD: response has no body */
	bool expect_continue;
	bool req_close;       /* client sent Connection: close */
	enum body_kind rq_body;
	uint64_t rq_left;     /* BODY_LENGTH bytes left */
	struct chunk rq_chunk;
	uint64_t reset_cut;   /* FAULT_RESET_*: bytes still to pass before the reset */
	uint64_t corrupt_at;  /* FAULT_CORRUPT: body bytes still to pass before the flipped
			       * one; UINT64_MAX once flipped */
	struct timespec stall_until;
	/* response in progress */
	enum resp_state rs;
	enum body_kind rs_body;
	uint64_t rs_left;
	struct chunk rs_chunk;
	bool resp_close;      /* close client after this response */
	/* teardown */
	bool close_after_flush; /* close client once cout is written */
	bool rst_after_flush;   /* ...with a reset (SO_LINGER 0) */
	bool client_eof;
	bool dead;
};

struct fp_opts {
	double p[FAULT__N];
	unsigned stall_secs;
	uint64_t seed;
	long max_faults; /* -1: unlimited */
	bool verbose;
};

struct fp {
	struct fp_opts o;
	struct sockaddr_in upstream;
	int lfd, sfd;
	uint64_t rng;
	struct fp_conn *conns[FP_MAX_CONNS];
	unsigned next_id;
	uint64_t requests, responses, conns_total;
	uint64_t faults[FAULT__N];
	uint64_t upstream_errors;
};

static uint64_t fp_rand(struct fp *p)
{
	/* xorshift64* */
	uint64_t x = p->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	p->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static double fp_rand01(struct fp *p)
{
	return (double)(fp_rand(p) >> 11) / (double)(1ULL << 53);
}

static void fp_stats(const struct fp *p, const char *why)
{
	fprintf(stderr,
		"faultproxy: %s: %" PRIu64 " connections, %" PRIu64 " requests, %" PRIu64
		" responses, faults: %" PRIu64 " 503-slowdown, %" PRIu64 " reset-mid-request, %" PRIu64
		" reset-mid-response, %" PRIu64 " stall, %" PRIu64 " corrupt-body; %" PRIu64
		" upstream errors\n",
		why, p->conns_total, p->requests, p->responses, p->faults[FAULT_503],
		p->faults[FAULT_RESET_REQ], p->faults[FAULT_RESET_RESP], p->faults[FAULT_STALL],
		p->faults[FAULT_CORRUPT], p->upstream_errors);
}

static void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

/* move @n bytes from the front of @from to the end of @to */
static int buf_move(struct buf *to, struct buf *from, size_t n)
{
	int r;

	if (n > from->len)
		n = from->len;
	r = buf_add(to, from->data, n);
	if (r < 0)
		return r;
	buf_consume(from, n);
	return 0;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* close with RST instead of FIN */
static void close_reset(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	if (fd < 0)
		return;
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

/*
 * Scan @n bytes of a chunked body; return how many belong to it (all of @n
 * unless the body ends inside), or -1 on a malformed body.
 */
static ssize_t chunk_scan(struct chunk *c, const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && c->st != CH_DONE) {
		char ch = s[i];

		switch (c->st) {
		case CH_SIZE:
			if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')) {
				unsigned d = ch <= '9' ? (unsigned)(ch - '0') : (unsigned)((ch | 0x20) - 'a' + 10);

				if (c->size >> 56)
					return -1;
				c->size = c->size * 16 + d;
				c->have_digit = true;
			} else if (ch == ';' || ch == ' ' || ch == '\t') {
				c->st = CH_EXT;
			} else if (ch == '\r') {
				c->st = CH_SIZE_LF;
			} else {
				return -1;
			}
			if (!c->have_digit && c->st != CH_SIZE)
				return -1;
			i++;
			break;
		case CH_EXT:
			if (ch == '\r')
				c->st = CH_SIZE_LF;
			i++;
			break;
		case CH_SIZE_LF:
			if (ch != '\n')
				return -1;
			i++;
			c->left = c->size;
			c->st = c->size ? CH_DATA : CH_TRAILER;
			c->line_len = 0;
			c->size = 0;
			c->have_digit = false;
			break;
		case CH_DATA: {
			size_t take = n - i;

			if (take > c->left)
				take = (size_t)c->left;
			i += take;
			c->left -= take;
			if (!c->left)
				c->st = CH_DATA_CR;
			break;
		}
		case CH_DATA_CR:
			if (ch != '\r')
				return -1;
			c->st = CH_DATA_LF;
			i++;
			break;
		case CH_DATA_LF:
			if (ch != '\n')
				return -1;
			c->st = CH_SIZE;
			i++;
			break;
		case CH_TRAILER:
			if (ch == '\r')
				c->st = CH_TRAILER_LF;
			else
				c->line_len++;
			i++;
			break;
		case CH_TRAILER_LF:
			if (ch != '\n')
				return -1;
			i++;
			c->st = c->line_len ? CH_TRAILER : CH_DONE;
			c->line_len = 0;
			break;
		case CH_DONE:
			break;
		}
	}
	return (ssize_t)i;
}

/* length of the head (through the blank line) at the start of @b, or 0 */
static size_t head_len(const struct buf *b)
{
	const char *e = memmem(b->data, b->len, "\r\n\r\n", 4);

	return e ? (size_t)(e - b->data) + 4 : 0;
}

/*
 * Find header @name in the head @h of length @n (the first line is
 * skipped); copy its trimmed value into @val. Returns true if found.
 */
static bool head_get(const char *h, size_t n, const char *name, char *val, size_t vsz)
{
	const char *p = memmem(h, n, "\r\n", 2);
	const char *end = h + n;
	size_t nl = strlen(name);

	while (p && p + 2 < end) {
		const char *line = p + 2;
		const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);

		if (!eol || eol == line)
			break;
		if ((size_t)(eol - line) > nl && line[nl] == ':' && !strncasecmp(line, name, nl)) {
			const char *v = line + nl + 1;
			size_t len;

			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			len = (size_t)(eol - v);
			while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
				len--;
			if (len >= vsz)
				len = vsz - 1;
			memcpy(val, v, len);
			val[len] = '\0';
			return true;
		}
		p = eol;
	}
	return false;
}

static bool has_token(const char *v, const char *tok)
{
	return strcasestr(v, tok) != NULL;
}

/* body framing from headers; returns -1 on a bad Content-Length */
static int head_body(const char *h, size_t n, enum body_kind *kind, uint64_t *len)
{
	char v[128];

	if (head_get(h, n, "Transfer-Encoding", v, sizeof(v)) && has_token(v, "chunked")) {
		*kind = BODY_CHUNKED;
		*len = 0;
		return 0;
	}
	if (head_get(h, n, "Content-Length", v, sizeof(v))) {
		char *e;
		unsigned long long x;

		errno = 0;
		x = strtoull(v, &e, 10);
		if (errno || e == v || *e || v[0] == '-')
			return -1;
		*kind = x ? BODY_LENGTH : BODY_NONE;
		*len = x;
		return 0;
	}
	*kind = BODY_NONE;
	*len = 0;
	return 0;
}

static void ts_add(struct timespec *t, unsigned secs)
{
	clock_gettime(CLOCK_MONOTONIC, t);
	t->tv_sec += secs;
}

static long ms_until(const struct timespec *t)
{
	struct timespec now;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms;
}

static enum fp_fault fp_draw(struct fp *p)
{
	double x = fp_rand01(p), acc = 0;
	int f;

	if (p->o.max_faults >= 0) {
		uint64_t total = 0;

		for (f = 1; f < FAULT__N; f++)
			total += p->faults[f];
		if (total >= (uint64_t)p->o.max_faults)
			return FAULT_NONE;
	}
	for (f = 1; f < FAULT__N; f++) {
		acc += p->o.p[f];
		if (x < acc)
			return (enum fp_fault)f;
	}
	return FAULT_NONE;
}

static int fp_slowdown(struct fp *p, struct fp_conn *c, bool close_conn)
{
	struct buf body = BUF_INIT_CAP(4096);
	int r;

	r = buf_printf(&body,
		       "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>"
		       "<Message>Please reduce your request rate.</Message>"
		       "<RequestId>faultproxy-%u-%" PRIu64 "</RequestId><HostId>faultproxy</HostId></Error>",
		       c->id, p->requests);
	if (r < 0)
		goto out;
	r = buf_printf(&c->cout,
		       "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
		       "Content-Length: %zu\r\nx-amz-request-id: faultproxy-%u-%" PRIu64 "\r\n"
		       "Connection: %s\r\n\r\n",
		       body.len, c->id, p->requests, close_conn ? "close" : "keep-alive");
	if (r < 0)
		goto out;
	if (!c->is_head)
		r = buf_add(&c->cout, body.data, body.len);
out:
	buf_release(&body);
	return r;
}

static int fp_connect_upstream(struct fp *p, struct fp_conn *c)
{
	int fd, one = 1;

	if (c->ufd >= 0)
		return 0;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* blocking connect: the upstream is local, so it succeeds or fails at once */
	if (connect(fd, (const struct sockaddr *)&p->upstream, sizeof(p->upstream)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (set_nonblock(fd) < 0) {
		close(fd);
		return -EIO;
	}
	c->ufd = fd;
	buf_reset(&c->uin);
	c->rs = RESP_HEAD;
	return 0;
}

static void fp_kill(struct fp_conn *c, bool rst)
{
	if (rst)
		close_reset(c->cfd);
	else if (c->cfd >= 0)
		close(c->cfd);
	close_reset(c->ufd);
	c->cfd = c->ufd = -1;
	c->dead = true;
}

/* pass @n request bytes from cin to uout, honouring a reset-mid-request cut */
static int fp_pass_request(struct fp *p, struct fp_conn *c, size_t n)
{
	if (c->fault == FAULT_RESET_REQ) {
		if (n >= c->reset_cut) {
			int r = buf_move(&c->uout, &c->cin, (size_t)c->reset_cut);

			c->reset_cut = 0;
			/* the partial request goes out on the next write; then both ends get a reset */
			if (r == 0 && c->ufd >= 0) {
				ssize_t w = write(c->ufd, c->uout.data, c->uout.len);

				(void)w;
			}
			if (p->o.verbose)
				fprintf(stderr, "faultproxy: conn %u: reset mid-request\n", c->id);
			fp_kill(c, true);
			return 1;
		}
		c->reset_cut -= n;
	}
	return buf_move(&c->uout, &c->cin, n);
}

/* advance the request side as far as the buffered input allows */
static int fp_do_request(struct fp *p, struct fp_conn *c)
{
	for (;;) {
		if (c->dead)
			return 0;
		switch (c->rq) {
		case REQ_HEAD: {
			size_t hl = head_len(&c->cin);
			char v[128];
			uint64_t total;
			int r;

			if (!hl) {
				if (c->cin.len > FP_MAX_HEAD) {
					fprintf(stderr, "faultproxy: conn %u: request head too long\n", c->id);
					fp_kill(c, true);
				}
				return 0;
			}
			c->is_head = !strncmp(c->cin.data, "HEAD ", 5);
			c->expect_continue = head_get(c->cin.data, hl, "Expect", v, sizeof(v)) &&
					     has_token(v, "100-continue");
			c->req_close = head_get(c->cin.data, hl, "Connection", v, sizeof(v)) &&
				       has_token(v, "close");
			if (head_body(c->cin.data, hl, &c->rq_body, &c->rq_left) < 0) {
				fprintf(stderr, "faultproxy: conn %u: bad Content-Length\n", c->id);
				fp_kill(c, true);
				return 0;
			}
			memset(&c->rq_chunk, 0, sizeof(c->rq_chunk));
			if (!c->fault_drawn) {
				p->requests++;
				c->fault = fp_draw(p);
				c->fault_drawn = true;
				if (c->fault == FAULT_CORRUPT) {
					if (c->rq_body == BODY_LENGTH && c->rq_left > 0)
						c->corrupt_at = c->rq_left / 2;
					else
						c->fault = FAULT_NONE; /* nothing to corrupt */
				}
				if (c->fault != FAULT_NONE) {
					p->faults[c->fault]++;
					if (p->o.verbose)
						fprintf(stderr, "faultproxy: conn %u: request %" PRIu64 ": %s\n",
							c->id, p->requests, fault_names[c->fault]);
				}
				if (c->fault == FAULT_STALL) {
					ts_add(&c->stall_until, p->o.stall_secs);
					c->rq = REQ_STALLED;
					return 0;
				}
			}
			if (c->fault == FAULT_503) {
				buf_consume(&c->cin, hl);
				if (c->expect_continue || c->rq_body == BODY_CHUNKED || c->req_close) {
					/* answer before the body: the connection cannot be reused */
					r = fp_slowdown(p, c, true);
					c->close_after_flush = true;
					c->rq = REQ_WAIT;
					return r;
				}
				c->rq = REQ_BODY;
				if (c->rq_body == BODY_NONE) {
					r = fp_slowdown(p, c, false);
					if (r < 0)
						return r;
					c->rq = REQ_HEAD;
					c->fault_drawn = false;
				}
				continue;
			}
			r = fp_connect_upstream(p, c);
			if (r < 0) {
				p->upstream_errors++;
				if (p->o.verbose)
					fprintf(stderr, "faultproxy: conn %u: upstream: %s\n", c->id, strerror(-r));
				/* what a client sees of a server that is down: the connection goes away */
				fp_kill(c, true);
				return 0;
			}
			if (c->fault == FAULT_RESET_REQ) {
				total = hl + (c->rq_body == BODY_LENGTH ? c->rq_left : 0);
				c->reset_cut = c->rq_body == BODY_LENGTH ? total / 2 : hl / 2;
			}
			r = fp_pass_request(p, c, hl);
			if (r)
				return r < 0 ? r : 0;
			c->rq = c->rq_body == BODY_NONE ? REQ_WAIT : REQ_BODY;
			c->rs = RESP_HEAD;
			continue;
		}
		case REQ_STALLED:
			if (ms_until(&c->stall_until) > 0)
				return 0;
			c->rq = REQ_HEAD; /* fault already drawn: proceeds normally */
			c->fault = FAULT_NONE;
			continue;
		case REQ_BODY: {
			size_t n = c->cin.len;
			int r;

			if (!n)
				return 0;
			if (c->rq_body == BODY_LENGTH) {
				if (n > c->rq_left)
					n = (size_t)c->rq_left;
			} else {
				ssize_t k = chunk_scan(&c->rq_chunk, c->cin.data, n);

				if (k < 0) {
					fprintf(stderr, "faultproxy: conn %u: bad chunked request body\n", c->id);
					fp_kill(c, true);
					return 0;
				}
				n = (size_t)k;
			}
			if (c->fault == FAULT_503) {
				buf_consume(&c->cin, n);
			} else {
				if (c->fault == FAULT_CORRUPT && c->corrupt_at != UINT64_MAX) {
					if (c->corrupt_at < n) {
						c->cin.data[c->corrupt_at] ^= 0x10;
						c->corrupt_at = UINT64_MAX;
						if (p->o.verbose)
							fprintf(stderr, "faultproxy: conn %u: flipped a body bit\n",
								c->id);
					} else {
						c->corrupt_at -= n;
					}
				}
				r = fp_pass_request(p, c, n);
				if (r)
					return r < 0 ? r : 0;
			}
			if (c->rq_body == BODY_LENGTH)
				c->rq_left -= n;
			if ((c->rq_body == BODY_LENGTH && !c->rq_left) ||
			    (c->rq_body == BODY_CHUNKED && c->rq_chunk.st == CH_DONE)) {
				if (c->fault == FAULT_503) {
					r = fp_slowdown(p, c, false);
					if (r < 0)
						return r;
					c->rq = REQ_HEAD;
					c->fault_drawn = false;
					continue;
				}
				c->rq = REQ_WAIT;
			}
			if (!c->cin.len)
				return 0;
			continue;
		}
		case REQ_WAIT:
			return 0;
		}
	}
}

static void fp_response_done(struct fp *p, struct fp_conn *c)
{
	p->responses++;
	c->rs = RESP_HEAD;
	if (c->rq == REQ_BODY || c->resp_close || c->req_close) {
		/* body never sent (final answer to Expect) or close requested */
		c->close_after_flush = true;
		close_reset(c->ufd);
		c->ufd = -1;
	}
	c->rq = REQ_HEAD;
	c->fault = FAULT_NONE;
	c->fault_drawn = false;
}

/* pass @n response bytes from uin to cout, honouring a reset-mid-response cut */
static int fp_pass_response(struct fp *p, struct fp_conn *c, size_t n)
{
	if (c->fault == FAULT_RESET_RESP) {
		if (n >= c->reset_cut) {
			int r = buf_move(&c->cout, &c->uin, (size_t)c->reset_cut);

			c->reset_cut = 0;
			c->rst_after_flush = true;
			close_reset(c->ufd);
			c->ufd = -1;
			if (p->o.verbose)
				fprintf(stderr, "faultproxy: conn %u: reset mid-response\n", c->id);
			return r < 0 ? r : 1;
		}
		c->reset_cut -= n;
	}
	return buf_move(&c->cout, &c->uin, n);
}

static int fp_do_response(struct fp *p, struct fp_conn *c)
{
	for (;;) {
		if (c->dead || c->rst_after_flush || c->ufd < 0)
			return 0;
		switch (c->rs) {
		case RESP_HEAD: {
			size_t hl = head_len(&c->uin);
			char v[128];
			int status, r;

			if (!hl) {
				if (c->uin.len > FP_MAX_HEAD) {
					fprintf(stderr, "faultproxy: conn %u: response head too long\n", c->id);
					fp_kill(c, true);
				}
				return 0;
			}
			if (sscanf(c->uin.data, "HTTP/1.%*d %d", &status) != 1) {
				fprintf(stderr, "faultproxy: conn %u: bad status line\n", c->id);
				fp_kill(c, true);
				return 0;
			}
			if (status >= 100 && status < 200) {
				r = buf_move(&c->cout, &c->uin, hl);
				if (r < 0)
					return r;
				continue;
			}
			c->resp_close = head_get(c->uin.data, hl, "Connection", v, sizeof(v)) &&
					has_token(v, "close");
			if (c->is_head || status == 204 || status == 304) {
				c->rs_body = BODY_NONE;
				c->rs_left = 0;
			} else if (head_body(c->uin.data, hl, &c->rs_body, &c->rs_left) < 0) {
				fprintf(stderr, "faultproxy: conn %u: bad response Content-Length\n", c->id);
				fp_kill(c, true);
				return 0;
			} else if (c->rs_body == BODY_NONE &&
				   !head_get(c->uin.data, hl, "Content-Length", v, sizeof(v))) {
				c->rs = RESP_UNTIL_CLOSE;
				c->resp_close = true;
			}
			memset(&c->rs_chunk, 0, sizeof(c->rs_chunk));
			if (c->fault == FAULT_RESET_RESP)
				c->reset_cut = c->rs_body == BODY_LENGTH ? (hl + c->rs_left) / 2 : hl / 2;
			r = fp_pass_response(p, c, hl);
			if (r)
				return r < 0 ? r : 0;
			if (c->rs == RESP_UNTIL_CLOSE)
				continue;
			if (c->rs_body == BODY_NONE) {
				fp_response_done(p, c);
				return 0;
			}
			c->rs = RESP_BODY;
			continue;
		}
		case RESP_BODY: {
			size_t n = c->uin.len;
			int r;

			if (!n)
				return 0;
			if (c->rs_body == BODY_LENGTH) {
				if (n > c->rs_left)
					n = (size_t)c->rs_left;
			} else {
				ssize_t k = chunk_scan(&c->rs_chunk, c->uin.data, n);

				if (k < 0) {
					fprintf(stderr, "faultproxy: conn %u: bad chunked response\n", c->id);
					fp_kill(c, true);
					return 0;
				}
				n = (size_t)k;
			}
			r = fp_pass_response(p, c, n);
			if (r)
				return r < 0 ? r : 0;
			if (c->rs_body == BODY_LENGTH)
				c->rs_left -= n;
			if ((c->rs_body == BODY_LENGTH && !c->rs_left) ||
			    (c->rs_body == BODY_CHUNKED && c->rs_chunk.st == CH_DONE)) {
				fp_response_done(p, c);
				return 0;
			}
			continue;
		}
		case RESP_UNTIL_CLOSE: {
			int r;

			if (!c->uin.len)
				return 0;
			r = fp_pass_response(p, c, c->uin.len);
			if (r)
				return r < 0 ? r : 0;
			return 0;
		}
		}
	}
}

/* read what is there into @b; returns bytes read, 0 on EOF, -errno */
static ssize_t fp_read(int fd, struct buf *b)
{
	ssize_t n;

	if (buf_grow(b, FP_READ_CHUNK) < 0)
		return -ENOBUFS;
	n = read(fd, b->data + b->len, FP_READ_CHUNK);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? -EAGAIN : -errno;
	b->len += (size_t)n;
	b->data[b->len] = '\0';
	return n;
}

/* write what is buffered; returns 0 or -errno */
static int fp_write(int fd, struct buf *b)
{
	ssize_t n;

	if (!b->len)
		return 0;
	n = send(fd, b->data, b->len, MSG_NOSIGNAL);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	buf_consume(b, (size_t)n);
	return 0;
}

static void fp_conn_free(struct fp_conn *c)
{
	if (!c)
		return;
	if (c->cfd >= 0)
		close(c->cfd);
	if (c->ufd >= 0)
		close(c->ufd);
	buf_release(&c->cin);
	buf_release(&c->cout);
	buf_release(&c->uin);
	buf_release(&c->uout);
	free(c);
}

static void fp_accept(struct fp *p)
{
	struct fp_conn *c;
	int fd, i, one = 1;

	fd = accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (i = 0; i < FP_MAX_CONNS && p->conns[i]; i++)
		;
	c = i < FP_MAX_CONNS ? calloc(1, sizeof(*c)) : NULL;
	if (!c) {
		fprintf(stderr, "faultproxy: too many connections\n");
		close(fd);
		return;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->cfd = fd;
	c->ufd = -1;
	c->id = ++p->next_id;
	buf_init(&c->cin, FP_BUF_CAP);
	buf_init(&c->cout, FP_BUF_CAP);
	buf_init(&c->uin, FP_BUF_CAP);
	buf_init(&c->uout, FP_BUF_CAP);
	p->conns[i] = c;
	p->conns_total++;
}

/* one connection after poll(): I/O, then protocol work */
static void fp_service(struct fp *p, struct fp_conn *c, short crev, short urev)
{
	ssize_t n;
	int r;

	if (c->cfd >= 0 && (crev & (POLLIN | POLLHUP | POLLERR))) {
		n = fp_read(c->cfd, &c->cin);
		if (n == 0 || (n < 0 && n != -EAGAIN)) {
			c->client_eof = true;
			fp_kill(c, false);
			return;
		}
	}
	if (c->ufd >= 0 && (urev & (POLLIN | POLLHUP | POLLERR))) {
		n = fp_read(c->ufd, &c->uin);
		if (n == 0 || (n < 0 && n != -EAGAIN)) {
			/* upstream closed: flush what we have, then end the client side too,
			 * unless it was an idle keep-alive connection */
			(void)fp_do_response(p, c);
			if (c->rs == RESP_UNTIL_CLOSE) {
				fp_response_done(p, c);
			} else if (c->rq != REQ_HEAD || c->uin.len) {
				c->close_after_flush = true;
				c->rq = REQ_WAIT;
			}
			if (c->ufd >= 0)
				close(c->ufd);
			c->ufd = -1;
			buf_reset(&c->uin);
			buf_reset(&c->uout);
		}
	}
	/* request, response, then a request that waited for that response */
	r = fp_do_request(p, c);
	if (r == 0)
		r = fp_do_response(p, c);
	if (r == 0 && c->rq == REQ_HEAD && c->cin.len)
		r = fp_do_request(p, c);
	if (r < 0) {
		fprintf(stderr, "faultproxy: conn %u: %s\n", c->id, strerror(-r));
		fp_kill(c, true);
		return;
	}
	if (c->dead)
		return;
	if (c->ufd >= 0 && fp_write(c->ufd, &c->uout) < 0) {
		close(c->ufd);
		c->ufd = -1;
		c->close_after_flush = true;
	}
	if (fp_write(c->cfd, &c->cout) < 0) {
		fp_kill(c, false);
		return;
	}
	if (!c->cout.len && (c->close_after_flush || c->rst_after_flush))
		fp_kill(c, c->rst_after_flush);
}

static int fp_listen(struct fp *p, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->lfd < 0)
		return -errno;
	(void)setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(p->lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(p->lfd, 128) < 0 ||
	    getsockname(p->lfd, (struct sockaddr *)&a, &alen) < 0)
		return -errno;
	return ntohs(a.sin_port);
}

static int fp_loop(struct fp *p)
{
	struct pollfd pfd[2 + 2 * FP_MAX_CONNS];
	int idx[FP_MAX_CONNS][2];

	for (;;) {
		int nfds = 0, i, timeout = -1;

		pfd[nfds++] = (struct pollfd){ .fd = p->sfd, .events = POLLIN };
		pfd[nfds++] = (struct pollfd){ .fd = p->lfd, .events = POLLIN };
		for (i = 0; i < FP_MAX_CONNS; i++) {
			struct fp_conn *c = p->conns[i];
			short ev;

			idx[i][0] = idx[i][1] = -1;
			if (!c)
				continue;
			if (c->rq == REQ_STALLED) {
				long ms = ms_until(&c->stall_until);

				if (timeout < 0 || ms < timeout)
					timeout = (int)ms;
			}
			ev = 0;
			/* bounded buffers: stop reading a side whose data cannot move on */
			if (c->cin.len < FP_HIGH && c->uout.len < FP_HIGH && !c->close_after_flush &&
			    !c->rst_after_flush)
				ev |= POLLIN;
			if (c->cout.len)
				ev |= POLLOUT;
			idx[i][0] = nfds;
			pfd[nfds++] = (struct pollfd){ .fd = c->cfd, .events = ev };
			if (c->ufd >= 0) {
				ev = 0;
				if (c->uin.len < FP_HIGH && c->cout.len < FP_HIGH)
					ev |= POLLIN;
				if (c->uout.len)
					ev |= POLLOUT;
				idx[i][1] = nfds;
				pfd[nfds++] = (struct pollfd){ .fd = c->ufd, .events = ev };
			}
		}
		if (poll(pfd, (nfds_t)nfds, timeout) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(p->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGUSR1) {
					fp_stats(p, "stats");
				} else {
					fp_stats(p, "exit");
					return 0;
				}
			}
		}
		for (i = 0; i < FP_MAX_CONNS; i++) {
			struct fp_conn *c = p->conns[i];
			short crev, urev;

			if (!c)
				continue;
			crev = idx[i][0] >= 0 ? pfd[idx[i][0]].revents : 0;
			urev = idx[i][1] >= 0 ? pfd[idx[i][1]].revents : 0;
			fp_service(p, c, crev, urev);
			if (c->dead) {
				fp_conn_free(c);
				p->conns[i] = NULL;
			}
		}
		if (pfd[1].revents & POLLIN)
			fp_accept(p);
	}
}

static int parse_prob(const char *s, double *ret)
{
	char *e;
	double d;

	errno = 0;
	d = strtod(s, &e);
	if (errno || e == s || *e || d < 0 || d > 1)
		return -1;
	*ret = d;
	return 0;
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *ret)
{
	char *e;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &e, 10);
	if (errno || e == s || *e || s[0] == '-' || v > max)
		return -1;
	*ret = v;
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: helper_faultproxy [options] UPSTREAM_HOST:PORT\n"
		"  -l PORT   listen on 127.0.0.1:PORT (0 = any; the port is printed on stdout)\n"
		"  -s SEED   random seed (default 1)\n"
		"  -e P      probability of an immediate 503 SlowDown per request\n"
		"  -q P      probability of a connection reset in the middle of the request\n"
		"  -r P      probability of a connection reset in the middle of the response\n"
		"  -t P      probability of a stall before the request is forwarded\n"
		"  -T SECS   stall length (default 10)\n"
		"  -c P      probability of one flipped bit in the middle of a request body\n"
		"  -m N      inject at most N faults in total\n"
		"  -v        log each fault on stderr\n"
		"counters are printed on stderr at exit (SIGTERM, SIGINT) and on SIGUSR1\n");
}

int main(int argc, char **argv)
{
	struct fp *p;
	unsigned long long v;
	int opt, port = 0, r, rc = 2, i;
	double sum = 0;
	sigset_t ss;
	char host[64];
	const char *colon;

	p = calloc(1, sizeof(*p));
	if (!p)
		return 1;
	p->o.seed = 1;
	p->o.stall_secs = 10;
	p->o.max_faults = -1;
	p->lfd = p->sfd = -1;
	while ((opt = getopt(argc, argv, "l:s:e:q:r:t:T:c:m:vh")) != -1) {
		switch (opt) {
		case 'l':
			if (parse_uint(optarg, 65535, &v) < 0)
				goto bad;
			port = (int)v;
			break;
		case 's':
			if (parse_uint(optarg, UINT64_MAX, &v) < 0)
				goto bad;
			p->o.seed = v;
			break;
		case 'e':
		case 'q':
		case 'r':
		case 't':
		case 'c': {
			enum fp_fault f = opt == 'e' ? FAULT_503 : opt == 'q' ? FAULT_RESET_REQ :
					  opt == 'r' ? FAULT_RESET_RESP : opt == 't' ? FAULT_STALL :
					  FAULT_CORRUPT;

			if (parse_prob(optarg, &p->o.p[f]) < 0)
				goto bad;
			break;
		}
		case 'T':
			if (parse_uint(optarg, 3600, &v) < 0)
				goto bad;
			p->o.stall_secs = (unsigned)v;
			break;
		case 'm':
			if (parse_uint(optarg, 1000000000, &v) < 0)
				goto bad;
			p->o.max_faults = (long)v;
			break;
		case 'v':
			p->o.verbose = true;
			break;
		case 'h':
			usage();
			rc = 0;
			goto out;
		default:
			usage();
			goto out;
		}
	}
	for (i = 1; i < FAULT__N; i++)
		sum += p->o.p[i];
	if (sum > 1) {
		fprintf(stderr, "faultproxy: the fault probabilities add up to more than 1\n");
		goto out;
	}
	if (optind != argc - 1) {
		usage();
		goto out;
	}
	colon = strrchr(argv[optind], ':');
	if (!colon || (size_t)(colon - argv[optind]) >= sizeof(host) ||
	    parse_uint(colon + 1, 65535, &v) < 0 || !v) {
		fprintf(stderr, "faultproxy: bad upstream '%s': want HOST:PORT\n", argv[optind]);
		goto out;
	}
	memcpy(host, argv[optind], (size_t)(colon - argv[optind]));
	host[colon - argv[optind]] = '\0';
	if (!strcmp(host, "localhost"))
		strcpy(host, "127.0.0.1");
	p->upstream.sin_family = AF_INET;
	p->upstream.sin_port = htons((uint16_t)v);
	if (inet_pton(AF_INET, host, &p->upstream.sin_addr) != 1) {
		fprintf(stderr, "faultproxy: bad upstream address '%s': want an IPv4 address\n", host);
		goto out;
	}
	/* xorshift must not start at 0 */
	p->rng = p->o.seed ^ 0x9E3779B97F4A7C15ULL;
	if (!p->rng)
		p->rng = 1;

	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGUSR1);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	signal(SIGPIPE, SIG_IGN);
	p->sfd = signalfd(-1, &ss, SFD_CLOEXEC);
	if (p->sfd < 0) {
		perror("faultproxy: signalfd");
		rc = 1;
		goto out;
	}
	r = fp_listen(p, port);
	if (r < 0) {
		fprintf(stderr, "faultproxy: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(-r));
		rc = 1;
		goto out;
	}
	printf("%d\n", r);
	fflush(stdout);
	r = fp_loop(p);
	rc = r < 0 ? 1 : 0;
	if (r < 0)
		fprintf(stderr, "faultproxy: poll: %s\n", strerror(-r));
	goto out;
bad:
	fprintf(stderr, "faultproxy: bad value '%s' for -%c\n", optarg, opt);
out:
	for (i = 0; i < FP_MAX_CONNS; i++)
		fp_conn_free(p->conns[i]);
	if (p->lfd >= 0)
		close(p->lfd);
	if (p->sfd >= 0)
		close(p->sfd);
	free(p);
	return rc;
}
