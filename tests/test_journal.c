/*
 * Unit tests for engine/journal.c on a real SQLite file: concurrent appends
 * (group commit) give unique ids and strictly increasing sequencers, pending
 * replay, idempotent routing (the unique execution name), finish, describe,
 * list, history, stop requests, meta, retention, and reopening.
 */
#include "engine/journal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/commit.h"
#include "tests/harness.h"

#define NTHREADS 8
#define PER_THREAD 40

struct worker {
	struct journal *j;
	int t;
	int64_t ids[PER_THREAD];
	int fails;
};

static void *appender(void *arg)
{
	struct worker *w = arg;
	struct commit_event ce;
	char key[64];
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		memset(&ce, 0, sizeof(ce));
		snprintf(key, sizeof(key), "in/t%d/f%03d.csv", w->t, i);
		ce.kind = COMMIT_PUT;
		ce.bucket = "bkt";
		ce.key = key;
		ce.size = (uint64_t)i;
		ce.etag = "etag";
		clock_gettime(CLOCK_REALTIME, &ce.time);
		if (journal_append(w->j, &ce, NULL, 0, &w->ids[i]) < 0)
			w->fails++;
	}
	return NULL;
}

struct seen {
	int n;
	char last_seq[EVENT_SEQ_LEN + 1];
	int ordered;
	int64_t first_id;
	int64_t ids[NTHREADS * PER_THREAD + 8];
};

static void on_pending(void *arg, int64_t id, const struct event *ev)
{
	struct seen *s = arg;

	if (s->n && strcmp(ev->sequencer, s->last_seq) <= 0)
		s->ordered = 0;
	memcpy(s->last_seq, ev->sequencer, sizeof(s->last_seq));
	if (s->n < (int)(sizeof(s->ids) / sizeof(s->ids[0])))
		s->ids[s->n] = id;
	s->n++;
}

static int running_n;

static void on_running(void *arg, const char *arn, const char *name, const char *sm,
		       const char *type, const char *input, unsigned depth, const char *trigger)
{
	running_n++;
}

static void on_request(void *arg, const char *arn, const char *error, const char *cause)
{
	snprintf(arg, 256, "%s|%s|%s", arn, error ? error : "", cause ? cause : "");
}

static void on_task_request(void *arg, const char *kind, const char *token, const char *error,
			    const char *cause)
{
	size_t n = strlen(arg);

	snprintf((char *)arg + n, 256 - n, "%s|%s|%s|%s;", kind, token, error ? error : "",
		 cause ? cause : "");
}

int main(void)
{
	char dir[] = "/tmp/stepfs-test-journal-XXXXXX", path[256], err[256], name[64], name2[64];
	struct worker w[NTHREADS];
	pthread_t th[NTHREADS];
	struct journal *j = NULL, *ro = NULL;
	struct seen seen;
	struct journal_exec x[2];
	int isnew[2] = { -1, -1 };
	json_t *d = NULL, *list = NULL, *hist = NULL, *e;
	char req[256] = "", *v = NULL;
	int i, k, fails = 0;

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/journal.db", dir);
	CHECK_INT_EQ(journal_open(path, 0, &j, err, sizeof(err)), 0);
	if (!j) {
		fprintf(stderr, "%s\n", err);
		return TEST_DONE();
	}

	/* concurrent appends: group commit, unique ids */
	for (i = 0; i < NTHREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].j = j;
		w[i].t = i;
		pthread_create(&th[i], NULL, appender, &w[i]);
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		fails += w[i].fails;
	}
	CHECK_INT_EQ(fails, 0);
	CHECK_INT_EQ(journal_pending_count(j), NTHREADS * PER_THREAD);
	/* per thread, ids increase in call order */
	for (i = 0; i < NTHREADS; i++)
		for (k = 1; k < PER_THREAD; k++)
			if (w[i].ids[k] <= w[i].ids[k - 1])
				fails++;
	CHECK_INT_EQ(fails, 0);

	memset(&seen, 0, sizeof(seen));
	seen.ordered = 1;
	CHECK_INT_EQ(journal_pending(j, 0, 10000, on_pending, &seen), NTHREADS * PER_THREAD);
	CHECK_INT_EQ(seen.n, NTHREADS * PER_THREAD);
	CHECK(seen.ordered); /* sequencers strictly increase with ids */

	/* route the first event to two executions; a replay inserts nothing */
	{
		struct event ev;

		memset(&ev, 0, sizeof(ev));
		ev.bucket = (char *)"bkt";
		ev.key = (char *)"in/a.csv";
		snprintf(ev.sequencer, sizeof(ev.sequencer), "00000000000000AA");
		journal_exec_name("rule1", &ev, name, sizeof(name));
		journal_exec_name("rule2", &ev, name2, sizeof(name2));
		CHECK_INT_EQ(strlen(name), 33);
		CHECK(strncmp(name, "00000000000000AA-", 17) == 0);
		CHECK(strcmp(name, name2) != 0);
		journal_exec_name("rule1", &ev, name2, sizeof(name2));
		CHECK_STR_EQ(name, name2);
		journal_exec_name("rule2", &ev, name2, sizeof(name2));
	}
	memset(x, 0, sizeof(x));
	x[0].arn = "arn:aws:states:us-east-1:000000000000:execution:ingest:a";
	x[0].name = name;
	x[0].state_machine = "ingest";
	x[0].state_machine_arn = "arn:aws:states:us-east-1:000000000000:stateMachine:ingest";
	x[0].type = "STANDARD";
	x[0].input = "{\"k\":1}";
	x[0].start_ms = 1000;
	x[0].event_id = seen.ids[0];
	x[0].trigger = "rule1";
	x[1] = x[0];
	x[1].arn = "arn:aws:states:us-east-1:000000000000:execution:audit:b";
	x[1].name = name2;
	x[1].state_machine = "audit";
	x[1].type = "EXPRESS";
	x[1].start_ms = 2000;
	x[1].chain_depth = 2;
	x[1].parent_arn = "arn:parent";
	CHECK_INT_EQ(journal_route(j, seen.ids[0], x, 2, isnew), 0);
	CHECK(isnew[0] == 1 && isnew[1] == 1);
	CHECK_INT_EQ(journal_pending_count(j), NTHREADS * PER_THREAD - 1);
	CHECK_INT_EQ(journal_route(j, seen.ids[0], x, 2, isnew), 0);
	CHECK(isnew[0] == 0 && isnew[1] == 0);
	running_n = 0;
	CHECK_INT_EQ(journal_exec_running(j, on_running, NULL), 2);
	CHECK_INT_EQ(running_n, 2);

	/* history */
	for (i = 3; i >= 1; i--) {
		e = json_pack("{s:s,s:s,s:i,s:i}", "timestamp", "t", "type",
			      i == 1 ? "ExecutionStarted" : "PassStateEntered", "id", i,
			      "previousEventId", i - 1);
		CHECK_INT_EQ(journal_history_add(j, x[0].arn, e), 0);
		CHECK_INT_EQ(journal_history_add(j, x[0].arn, e), 0); /* idempotent */
		json_decref(e);
	}
	CHECK_INT_EQ(journal_history(j, x[0].arn, &hist), 0);
	CHECK_INT_EQ(json_array_size(hist), 3);
	CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(hist, 0), "id")), 1);
	CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(hist, 0), "type")),
		     "ExecutionStarted");
	json_decref(hist);

	CHECK_INT_EQ(journal_exec_finish(j, x[0].arn, "SUCCEEDED", "{\"ok\":true}", NULL, NULL,
					 5000),
		     0);
	CHECK_INT_EQ(journal_exec_describe(j, x[0].arn, &d), 0);
	CHECK_STR_EQ(json_string_value(json_object_get(d, "status")), "SUCCEEDED");
	CHECK_STR_EQ(json_string_value(json_object_get(d, "output")), "{\"ok\":true}");
	CHECK_STR_EQ(json_string_value(json_object_get(d, "startDate")),
		     "1970-01-01T00:00:01.000000+00:00");
	CHECK_STR_EQ(json_string_value(json_object_get(d, "stopDate")),
		     "1970-01-01T00:00:05.000000+00:00");
	CHECK_STR_EQ(json_string_value(json_object_get(d, "stateMachineArn")),
		     "arn:aws:states:us-east-1:000000000000:stateMachine:ingest");
	json_decref(d);
	CHECK_INT_EQ(journal_exec_describe(j, name2, &d), 0); /* by name */
	CHECK_STR_EQ(json_string_value(json_object_get(d, "type")), "EXPRESS");
	CHECK_INT_EQ(json_integer_value(json_object_get(d, "chainDepth")), 2);
	CHECK(json_object_get(d, "stopDate") == NULL);
	json_decref(d);
	CHECK_INT_EQ(journal_exec_describe(j, "nope", &d), -ENOENT);

	CHECK_INT_EQ(journal_exec_list(j, NULL, NULL, 0, &list), 0);
	CHECK_INT_EQ(json_array_size(list), 2);
	CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(list, 0), "name")), name2);
	json_decref(list);
	CHECK_INT_EQ(journal_exec_list(j, "ingest", "SUCCEEDED", 10, &list), 0);
	CHECK_INT_EQ(json_array_size(list), 1);
	json_decref(list);
	CHECK_INT_EQ(journal_exec_list(j, NULL, "FAILED", 10, &list), 0);
	CHECK_INT_EQ(json_array_size(list), 0);
	json_decref(list);

	/* stop requests, meta */
	CHECK_INT_EQ(journal_request_stop(j, x[1].arn, "Stopped", "by test"), 0);
	CHECK_INT_EQ(journal_take_requests(j, on_request, req), 1);
	CHECK(strstr(req, "|Stopped|by test") != NULL);
	CHECK_INT_EQ(journal_take_requests(j, on_request, req), 0);
	/* task-token callbacks share the table; each taker takes only its kinds */
	CHECK_INT_EQ(journal_request_task(j, "task_success", "tok1", NULL, "{\"a\":1}"), 0);
	CHECK_INT_EQ(journal_request_stop(j, x[1].arn, NULL, NULL), 0);
	CHECK_INT_EQ(journal_request_task(j, "task_failure", "tok2", "E", "C"), 0);
	CHECK_INT_EQ(journal_take_requests(j, on_request, req), 1);
	req[0] = '\0';
	CHECK_INT_EQ(journal_take_task_requests(j, on_task_request, req), 2);
	CHECK_STR_EQ(req, "task_success|tok1||{\"a\":1};task_failure|tok2|E|C;");
	CHECK_INT_EQ(journal_take_task_requests(j, on_task_request, req), 0);
	{
		json_t *t = NULL;

		CHECK_INT_EQ(journal_token_get(j, "tok1", &t), -ENOENT);
		CHECK_INT_EQ(journal_token_set(j, "tok1", x[1].arn, "Approve", "WAITING"), 0);
		CHECK_INT_EQ(journal_token_set(j, "tok2", x[1].arn, "Approve", "WAITING"), 0);
		CHECK_INT_EQ(journal_token_set(j, "tok1", x[1].arn, "Approve", "SUCCEEDED"), 0);
		CHECK_INT_EQ(journal_token_get(j, "tok1", &t), 0);
		CHECK_STR_EQ(json_string_value(json_object_get(t, "status")), "SUCCEEDED");
		CHECK_STR_EQ(json_string_value(json_object_get(t, "state")), "Approve");
		json_decref(t);
		t = NULL;
		CHECK_INT_EQ(journal_tokens_close_all(j), 0);
		CHECK_INT_EQ(journal_token_get(j, "tok2", &t), 0);
		CHECK_STR_EQ(json_string_value(json_object_get(t, "status")), "CLOSED");
		json_decref(t);
		t = NULL;
		CHECK_INT_EQ(journal_token_get(j, "tok1", &t), 0);
		CHECK_STR_EQ(json_string_value(json_object_get(t, "status")), "SUCCEEDED");
		json_decref(t);
	}
	CHECK_INT_EQ(journal_meta_set(j, "schedule/x", "123"), 0);
	CHECK_INT_EQ(journal_meta_get(j, "schedule/x", &v), 0);
	CHECK_STR_EQ(v, "123");
	free(v);
	CHECK_INT_EQ(journal_meta_get(j, "schedule/y", &v), -ENOENT);

	/* a second reader on the same file sees everything (live queries) */
	CHECK_INT_EQ(journal_open(path, JOURNAL_READONLY, &ro, err, sizeof(err)), 0);
	if (ro) {
		CHECK_INT_EQ(journal_exec_list(ro, NULL, NULL, 0, &list), 0);
		CHECK_INT_EQ(json_array_size(list), 2);
		json_decref(list);
		journal_close(ro);
	}

	/* the daemon lock, and stopping with no daemon */
	CHECK_INT_EQ(journal_daemon_alive(path), 0);
	CHECK_INT_EQ(journal_daemon_lock(j), 0);
	CHECK_INT_EQ(journal_daemon_alive(path), 1);
	CHECK_INT_EQ(journal_exec_abort_offline(j, x[1].arn, "Stopped", "no daemon"), 0);
	CHECK_INT_EQ(journal_exec_abort_offline(j, x[1].arn, "Stopped", "again"), -ENOENT);
	CHECK_INT_EQ(journal_history(j, x[1].arn, &hist), 0);
	CHECK_INT_EQ(json_array_size(hist), 1);
	CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(hist, 0), "type")),
		     "ExecutionAborted");
	json_decref(hist);
	CHECK_INT_EQ(journal_exec_describe(j, x[1].arn, &d), 0);
	CHECK_STR_EQ(json_string_value(json_object_get(d, "status")), "ABORTED");
	CHECK_STR_EQ(json_string_value(json_object_get(d, "cause")), "no daemon");
	json_decref(d);

	/* retention: only ended executions, routed rows and closed tokens go */
	CHECK_INT_EQ(journal_token_set(j, "tok3", x[1].arn, "Approve", "WAITING"), 0);
	CHECK_INT_EQ(journal_prune(j, journal_now_ms() + 1000), 2);
	{
		json_t *t = NULL;

		CHECK_INT_EQ(journal_token_get(j, "tok1", &t), -ENOENT);
		CHECK_INT_EQ(journal_token_get(j, "tok3", &t), 0);
		json_decref(t);
	}
	CHECK_INT_EQ(journal_history(j, x[0].arn, &hist), 0);
	CHECK_INT_EQ(json_array_size(hist), 0);
	json_decref(hist);
	CHECK_INT_EQ(journal_pending_count(j), NTHREADS * PER_THREAD - 1);
	journal_close(j);

	/* reopen: sequencers keep growing, pending survives */
	j = NULL;
	CHECK_INT_EQ(journal_open(path, 0, &j, err, sizeof(err)), 0);
	if (j) {
		struct commit_event ce;
		struct seen s2;

		memset(&ce, 0, sizeof(ce));
		ce.kind = COMMIT_DELETE;
		ce.bucket = "bkt";
		ce.key = "z";
		CHECK_INT_EQ(journal_append(j, &ce, "arn:cause", 3, NULL), 0);
		/* a key that is not UTF-8 is refused up front, and nothing else fails */
		ce.key = "caf\xe9.csv";
		CHECK_INT_EQ(journal_append(j, &ce, NULL, 0, NULL), -EILSEQ);
		ce.key = "\xed\xa0\x80"; /* a surrogate */
		CHECK_INT_EQ(journal_append(j, &ce, NULL, 0, NULL), -EILSEQ);
		ce.key = "\xc0\xaf"; /* an overlong '/' */
		CHECK_INT_EQ(journal_append(j, &ce, NULL, 0, NULL), -EILSEQ);
		ce.key = "z";
		ce.local_path = "/in/\xff";
		CHECK_INT_EQ(journal_append(j, &ce, NULL, 0, NULL), -EILSEQ);
		ce.local_path = NULL;
		ce.key = "caf\xc3\xa9 \xf0\x9f\x98\x80";
		CHECK_INT_EQ(journal_append(j, &ce, NULL, 0, NULL), 0);
		ce.key = "z";
		memset(&s2, 0, sizeof(s2));
		s2.ordered = 1;
		CHECK_INT_EQ(journal_pending(j, 0, 10000, on_pending, &s2), NTHREADS * PER_THREAD + 1);
		CHECK(s2.ordered);
		CHECK(strcmp(s2.last_seq, seen.last_seq) > 0);
		journal_close(j);
	}
	/* a file that is not a journal */
	CHECK(journal_open("/etc/hostname", JOURNAL_READONLY, &ro, err, sizeof(err)) < 0);
	CHECK(strstr(err, "/etc/hostname") != NULL);
	snprintf(path, sizeof(path), "%s/nodir/x.db", dir);
	CHECK(journal_open(path, 0, &ro, err, sizeof(err)) < 0);
	CHECK(strstr(err, "nodir") != NULL);

	{
		static const char *const files[] = { "journal.db", "journal.db-wal", "journal.db-shm",
						     "journal.db-daemon.lock" };

		for (i = 0; i < 4; i++) {
			snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
			(void)unlink(path);
		}
		(void)rmdir(dir);
	}
	return TEST_DONE();
}
