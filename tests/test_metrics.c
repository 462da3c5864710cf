/* Unit tests for engine/metrics.c: text format, escaping, a real scrape over TCP. */
#include "engine/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/buf.h"
#include "tests/harness.h"

static void collect(void *arg, struct buf *out)
{
	int *n = arg;

	metrics_sample(out, "stepfs_uploads_total", "counter", "Objects committed.", (double)*n,
		       NULL);
	metrics_sample(out, "stepfs_events_total", "counter", "Events by rule.", 3.0, "rule",
		       "csv \"in\"", NULL);
	metrics_sample(out, "stepfs_queue_depth", "gauge", NULL, 0.5, NULL);
}

int main(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct metrics *m = metrics_new();
	struct buf out = BUF_INIT;
	char err[256], resp[4096];
	int n = 42, fd;
	ssize_t k, got = 0;

	CHECK(m != NULL);
	CHECK_INT_EQ(metrics_add_collector(m, collect, &n), 0);
	metrics_render(m, &out);
	CHECK(strstr(out.data, "# TYPE stepfs_uploads_total counter\nstepfs_uploads_total 42\n") != NULL);
	CHECK(strstr(out.data, "stepfs_events_total{rule=\"csv \\\"in\\\"\"} 3\n") != NULL);
	CHECK(strstr(out.data, "stepfs_queue_depth 0.5\n") != NULL);
	buf_release(&out);

	CHECK(metrics_start(m, "not-an-address", err, sizeof(err)) < 0);
	CHECK(strstr(err, "not-an-address") != NULL);
	CHECK_INT_EQ(metrics_start(m, "127.0.0.1:0", err, sizeof(err)), 0);
	CHECK(metrics_port(m) > 0);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_port = htons((uint16_t)metrics_port(m));
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	CHECK_INT_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK(write(fd, "GET /metrics HTTP/1.0\r\n\r\n", 25) == 25);
	while ((k = read(fd, resp + got, sizeof(resp) - 1 - (size_t)got)) > 0)
		got += k;
	resp[got] = '\0';
	close(fd);
	CHECK(strncmp(resp, "HTTP/1.0 200 OK\r\n", 17) == 0);
	CHECK(strstr(resp, "stepfs_uploads_total 42") != NULL);
	metrics_free(m);
	return TEST_DONE();
}
