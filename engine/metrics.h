/*
 * struct metrics: opt-in Prometheus text-format endpoint. Modules keep their
 * own counters (atomics, with a *_get_stats() accessor); the daemon registers
 * one collector per module, and on each scrape the collectors append their
 * samples. Served over HTTP/1.0 on a local TCP address ("127.0.0.1:9464") or a
 * unix socket path ("/run/stepfs/NAME.sock"), GET /metrics only.
 *
 * Thread-safety: metrics_add_collector() before metrics_start(); collectors
 * run on the metrics thread and must be thread-safe.
 */
#ifndef STEPFS_METRICS_H
#define STEPFS_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct metrics;

/* Append the samples of one module to @out (use metrics_sample()). */
typedef void (*metrics_collect_fn)(void *arg, struct buf *out);

/* NULL on out-of-memory. */
struct metrics *metrics_new(void);
/* Stops the server if running; NULL is a no-op. */
void metrics_free(struct metrics *m);
int metrics_add_collector(struct metrics *m, metrics_collect_fn fn, void *arg);

/*
 * Listen on @addr ("HOST:PORT" or an absolute unix socket path) and serve
 * from a thread. Returns 0, or -errno with a reason in @errbuf.
 */
int metrics_start(struct metrics *m, const char *addr, char *errbuf, size_t errlen);
/* The bound TCP port (useful with port 0), or 0. */
int metrics_port(const struct metrics *m);

/* The whole exposition text, as a scrape would return it (caller releases @out). */
void metrics_render(struct metrics *m, struct buf *out);

/*
 * Append one sample. @type is "counter" or "gauge"; HELP/TYPE lines are
 * written when @help is non-NULL (once per metric name, by the caller).
 * @labels is NULL or pairs of name, value strings ending with NULL; values
 * are escaped as the format requires.
 */
void metrics_sample(struct buf *out, const char *name, const char *type, const char *help,
		    double value, ...) __attribute__((sentinel));

#endif
