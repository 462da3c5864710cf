/*
 * A very small HTTP/1.0 server for the Prometheus text exposition format.
 * One thread accepts and answers one request at a time; a scrape renders
 * every collector into a buffer and closes the connection. Requests other
 * than GET /metrics get 404; slow clients are cut off by a receive timeout.
 */
#include "engine/metrics.h"

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "engine/buf.h"

struct collector {
	metrics_collect_fn fn;
	void *arg;
};

struct metrics {
	struct collector *c;
	size_t n;
	int fd;
	int port;
	char *unix_path;
	pthread_t thread;
	int running;
	atomic_bool stop;
};

struct metrics *metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m)
		m->fd = -1;
	return m;
}

int metrics_add_collector(struct metrics *m, metrics_collect_fn fn, void *arg)
{
	struct collector *c = realloc(m->c, (m->n + 1) * sizeof(*c));

	if (!c)
		return -ENOMEM;
	m->c = c;
	c[m->n].fn = fn;
	c[m->n].arg = arg;
	m->n++;
	return 0;
}

static void put_escaped(struct buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			buf_putc(out, '\\');
		if (*s == '\n') {
			buf_puts(out, "\\n");
			continue;
		}
		buf_putc(out, *s);
	}
}

void metrics_sample(struct buf *out, const char *name, const char *type, const char *help,
		    double value, ...)
{
	const char *k, *v;
	va_list ap;
	int first = 1;

	if (help)
		buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	buf_puts(out, name);
	va_start(ap, value);
	while ((k = va_arg(ap, const char *))) {
		v = va_arg(ap, const char *);
		buf_puts(out, first ? "{" : ",");
		buf_printf(out, "%s=\"", k);
		put_escaped(out, v ? v : "");
		buf_putc(out, '"');
		first = 0;
	}
	va_end(ap);
	if (!first)
		buf_putc(out, '}');
	if (value == floor(value) && fabs(value) < 1e15)
		buf_printf(out, " %.0f\n", value);
	else
		buf_printf(out, " %.17g\n", value);
}

void metrics_render(struct metrics *m, struct buf *out)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		m->c[i].fn(m->c[i].arg, out);
}

static void serve_one(struct metrics *m, int cfd)
{
	struct timeval tv = { .tv_sec = 2 };
	char req[2048];
	size_t got = 0;
	struct buf body = BUF_INIT, head = BUF_INIT;
	const char *status = "200 OK";

	setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (got < sizeof(req) - 1) {
		ssize_t n = recv(cfd, req + got, sizeof(req) - 1 - got, 0);

		if (n <= 0)
			break;
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	req[got] = '\0';
	if (strncmp(req, "GET /metrics ", 13) == 0 || strncmp(req, "GET /metrics?", 13) == 0 ||
	    strncmp(req, "GET / ", 6) == 0) {
		metrics_render(m, &body);
	} else {
		status = "404 Not Found";
		buf_puts(&body, "only GET /metrics is served here\n");
	}
	buf_printf(&head, "HTTP/1.0 %s\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
			  "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, body.len);
	(void)!send(cfd, head.data, head.len, MSG_NOSIGNAL);
	(void)!send(cfd, body.data, body.len, MSG_NOSIGNAL);
	buf_release(&head);
	buf_release(&body);
}

static void *metrics_thread(void *arg)
{
	struct metrics *m = arg;

	while (!atomic_load(&m->stop)) {
		struct pollfd p = { .fd = m->fd, .events = POLLIN };
		int cfd;

		if (poll(&p, 1, 250) <= 0)
			continue;
		cfd = accept4(m->fd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0)
			continue;
		serve_one(m, cfd);
		close(cfd);
	}
	return NULL;
}

static int listen_on(struct metrics *m, const char *addr, char *errbuf, size_t errlen)
{
	int one = 1, fd;

	if (addr[0] == '/') {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		if (strlen(addr) >= sizeof(sa.sun_path)) {
			snprintf(errbuf, errlen, "metrics socket path '%s' is too long", addr);
			return -ENAMETOOLONG;
		}
		strcpy(sa.sun_path, addr);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			goto fail;
		(void)unlink(addr);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			goto fail_fd;
		m->unix_path = strdup(addr);
	} else {
		struct sockaddr_in sa = { .sin_family = AF_INET };
		socklen_t len = sizeof(sa);
		const char *colon = strrchr(addr, ':');
		char host[64];
		long port;
		char *end;

		if (!colon || (size_t)(colon - addr) >= sizeof(host)) {
			snprintf(errbuf, errlen, "metrics address '%s': expected HOST:PORT or a socket path",
				 addr);
			return -EINVAL;
		}
		memcpy(host, addr, (size_t)(colon - addr));
		host[colon - addr] = '\0';
		port = strtol(colon + 1, &end, 10);
		if (*end || port < 0 || port > 65535 || inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
			snprintf(errbuf, errlen, "metrics address '%s': bad IPv4 address or port", addr);
			return -EINVAL;
		}
		sa.sin_port = htons((uint16_t)port);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			goto fail;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			goto fail_fd;
		if (getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
			m->port = ntohs(sa.sin_port);
	}
	if (listen(fd, 16) < 0)
		goto fail_fd;
	m->fd = fd;
	return 0;
fail_fd:
	close(fd);
fail:
	snprintf(errbuf, errlen, "cannot listen for metrics on '%s': %s", addr, strerror(errno));
	return -errno;
}

int metrics_start(struct metrics *m, const char *addr, char *errbuf, size_t errlen)
{
	sigset_t all, old;
	int r = listen_on(m, addr, errbuf, errlen);

	if (r < 0)
		return r;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&m->thread, NULL, metrics_thread, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		snprintf(errbuf, errlen, "cannot start the metrics thread: %s", strerror(r));
		return -r;
	}
	m->running = 1;
	return 0;
}

int metrics_port(const struct metrics *m)
{
	return m->port;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	if (m->running) {
		atomic_store(&m->stop, true);
		pthread_join(m->thread, NULL);
	}
	if (m->fd >= 0)
		close(m->fd);
	if (m->unix_path)
		(void)unlink(m->unix_path);
	free(m->unix_path);
	free(m->c);
	free(m);
}
