/*
 * Unit tests for engine/router.c with the real engine, journal and rules
 * (state machines of Pass and Wait states, so no task runner is needed):
 * concurrent commits start exactly the matching executions with the AWS
 * input, replayed events start nothing twice, RUNNING executions are
 * recovered after a restart, the loop guard reads a writer's ancestry, the
 * bounded queue refuses with EBUSY, stop requests and missed schedules.
 */
#include "engine/router.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/commit.h"
#include "engine/config.h"
#include "engine/event.h"
#include "engine/journal.h"
#include "tests/harness.h"

static char dir[] = "/tmp/stepfs-test-router-XXXXXX";
static char cfgpath[300], jpath[300];

static void put(const char *name, const char *text)
{
	char p[300];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static struct config *load_cfg(const char *extra)
{
	char text[4096], err[1024];
	struct config *c = NULL;

	snprintf(text, sizeof(text),
		 "{\"Bucket\":\"bkt\",\"Region\":\"us-west-2\",\"Account\":\"111122223333\","
		 "\"StateMachines\":{"
		 "\"pass\":{\"Definition\":\"pass.asl.json\"},"
		 "\"fast\":{\"Definition\":\"pass.asl.json\",\"Type\":\"EXPRESS\"},"
		 "\"slow\":{\"Definition\":\"wait.asl.json\"}},"
		 "\"NotificationConfiguration\":{\"StateMachineConfigurations\":["
		 "{\"Id\":\"csv\",\"StateMachine\":\"pass\",\"Events\":[\"s3:ObjectCreated:*\"],"
		 "\"Filter\":{\"Key\":{\"FilterRules\":[{\"Name\":\"prefix\",\"Value\":\"in/\"},"
		 "{\"Name\":\"suffix\",\"Value\":\".csv\"}]}}},"
		 "{\"Id\":\"slow\",\"StateMachine\":\"slow\",\"Events\":[\"s3:ObjectCreated:Put\"],"
		 "\"Filter\":{\"Key\":{\"FilterRules\":[{\"Name\":\"prefix\",\"Value\":\"slow/\"}]}}}],"
		 "\"EventBridgeConfiguration\":{}},"
		 "\"EventBridgeRules\":[{\"Name\":\"fan\",\"EventPattern\":{\"detail\":{\"object\":"
		 "{\"key\":[{\"prefix\":\"in/\"}]}}},\"Targets\":[{\"Id\":\"t\",\"StateMachine\":\"fast\"}]}]"
		 "%s}",
		 extra ? extra : "");
	put("c.json", text);
	if (config_load(cfgpath, &c, err, sizeof(err)) < 0)
		fprintf(stderr, "config: %s\n", err);
	return c;
}

static struct router *start(struct config *c, double scale)
{
	struct router_opts o = ROUTER_OPTS_INIT;
	struct router *r = NULL;
	char err[1024];

	o.cfg = c;
	o.mountpoint = "/mnt/bkt";
	o.wait_scale = scale;
	if (router_new(&o, &r, err, sizeof(err)) < 0) {
		fprintf(stderr, "router: %s\n", err);
		return NULL;
	}
	if (router_start(r) < 0) {
		router_free(r);
		return NULL;
	}
	return r;
}

static int commit(struct router *r, enum commit_kind kind, const char *key, pid_t writer)
{
	struct commit_sink sink;
	struct commit_event ce;

	router_sink(r, &sink);
	memset(&ce, 0, sizeof(ce));
	ce.kind = kind;
	ce.bucket = "bkt";
	ce.key = key;
	ce.size = 3;
	ce.etag = "acbd18db4cc2f85cedef654fccc4a4d8";
	ce.writer_pid = writer;
	clock_gettime(CLOCK_REALTIME, &ce.time);
	return sink.commit(sink.arg, &ce);
}

struct committer {
	struct router *r;
	int t;
	int fails;
};

static void *committer(void *arg)
{
	struct committer *c = arg;
	char key[64];
	int i;

	for (i = 0; i < 25; i++) {
		snprintf(key, sizeof(key), "in/t%d/file %02d.csv", c->t, i);
		if (commit(c->r, COMMIT_PUT, key, 0) < 0)
			c->fails++;
	}
	return NULL;
}

static int count(struct journal *j, const char *sm, const char *status)
{
	json_t *l = NULL;
	int n;

	if (journal_exec_list(j, sm, status, 0, &l) < 0)
		return -1;
	n = (int)json_array_size(l);
	json_decref(l);
	return n;
}

static int count_all(const char *sm, const char *status)
{
	struct journal *j = NULL;
	char err[256];
	int n;

	if (journal_open(jpath, 0, &j, err, sizeof(err)) < 0)
		return -1;
	n = count(j, sm, status);
	journal_close(j);
	return n;
}

static int sql(const char *stmt)
{
	sqlite3 *db = NULL;
	int rc;

	sqlite3_open(jpath, &db);
	sqlite3_busy_timeout(db, 5000);
	rc = sqlite3_exec(db, stmt, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

static pid_t spawn_env(const char *script, char **envp)
{
	char *argv[] = { (char *)"/bin/sh", (char *)"-c", (char *)script, NULL };
	posix_spawnattr_t at;
	pid_t pid;
	int rc;

	/* own process group, so the test can kill the whole tree */
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&at, 0);
	rc = posix_spawn(&pid, "/bin/sh", NULL, &at, argv, envp);
	posix_spawnattr_destroy(&at);
	return rc ? -1 : pid;
}

static void test_flow(void)
{
	struct config *c = load_cfg(NULL);
	struct committer cm[4];
	pthread_t th[4];
	struct router *r;
	struct router_stats st;
	struct journal *j = NULL;
	json_t *d = NULL, *in = NULL;
	char err[256];
	int i, fails = 0;

	r = c ? start(c, 1.0) : NULL;
	CHECK(r != NULL);
	if (!r) {
		config_free(c);
		return;
	}
	for (i = 0; i < 4; i++) {
		cm[i].r = r;
		cm[i].t = i;
		cm[i].fails = 0;
		pthread_create(&th[i], NULL, committer, &cm[i]);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		fails += cm[i].fails;
	}
	CHECK_INT_EQ(fails, 0);
	CHECK_INT_EQ(commit(r, COMMIT_PUT, "in/readme.txt", 0), 0);  /* fan-out only */
	CHECK_INT_EQ(commit(r, COMMIT_PUT, "other/x.csv", 0), 0);    /* nothing */
	CHECK_INT_EQ(commit(r, COMMIT_DELETE, "in/t0/file 00.csv", 0), 0); /* fan-out only */
	CHECK_INT_EQ(router_wait_idle(r, 10000), 0);
	router_stats(r, &st);
	CHECK_INT_EQ(st.events, 103);
	CHECK_INT_EQ(st.routed, 103);
	CHECK_INT_EQ(st.started, 202);
	CHECK_INT_EQ(st.finished, 202);
	router_free(r);

	CHECK_INT_EQ(count_all("pass", "SUCCEEDED"), 100);
	CHECK_INT_EQ(count_all("fast", "SUCCEEDED"), 102); /* the delete too */
	CHECK_INT_EQ(count_all(NULL, NULL), 202);

	/* the input is the S3 message for the rule, with the local path */
	if (journal_open(jpath, 0, &j, err, sizeof(err)) == 0) {
		json_t *l = NULL;
		const char *name;

		journal_exec_list(j, "pass", NULL, 1, &l);
		name = json_string_value(json_object_get(json_array_get(l, 0), "name"));
		if (name && journal_exec_describe(j, name, &d) == 0) {
			in = json_loads(json_string_value(json_object_get(d, "input")), 0, NULL);
			CHECK_STR_EQ(json_string_value(json_object_get(d, "output")),
				     json_string_value(json_object_get(d, "input")));
		}
		json_decref(l);
		journal_close(j);
	}
	CHECK(in != NULL);
	if (in) {
		json_t *rec = json_array_get(json_object_get(in, "Records"), 0);
		const char *key = json_string_value(
			json_object_get(json_object_get(json_object_get(rec, "s3"), "object"), "key"));

		CHECK_STR_EQ(json_string_value(json_object_get(rec, "eventName")), "ObjectCreated:Put");
		CHECK_STR_EQ(json_string_value(json_object_get(rec, "awsRegion")), "us-west-2");
		CHECK_STR_EQ(json_string_value(json_object_get(
				     json_object_get(rec, "s3"), "configurationId")), "csv");
		CHECK(key && strncmp(key, "in/t", 4) == 0 && strstr(key, "/file+") != NULL);
		CHECK(strncmp(json_string_value(json_object_get(json_object_get(rec, "stepfs"),
								"localPath")),
			      "/mnt/bkt/in/t", 13) == 0);
	}
	json_decref(in);
	json_decref(d);

	/* replay: every event unrouted again starts nothing new */
	CHECK_INT_EQ(sql("UPDATE outbox SET routed = 0"), 0);
	r = start(c, 1.0);
	CHECK(r != NULL);
	if (r) {
		CHECK_INT_EQ(router_wait_idle(r, 10000), 0);
		router_stats(r, &st);
		CHECK_INT_EQ(st.routed, 103);
		CHECK_INT_EQ(st.started, 0);
		router_free(r);
	}
	CHECK_INT_EQ(count_all(NULL, NULL), 202);
	config_free(c);
}

static void test_recovery_and_stop(void)
{
	struct config *c = load_cfg(NULL);
	struct router *r = c ? start(c, 1.0) : NULL;
	struct router_stats st;
	struct journal *j = NULL;
	json_t *l = NULL, *h = NULL;
	char err[256], arn[512] = "";
	int i;

	CHECK(r != NULL);
	if (!r) {
		config_free(c);
		return;
	}
	CHECK_INT_EQ(commit(r, COMMIT_PUT, "slow/a", 0), 0);
	CHECK_INT_EQ(commit(r, COMMIT_PUT, "slow/b", 0), 0);
	for (i = 0; i < 500; i++) {
		router_stats(r, &st);
		if (st.running == 2)
			break;
		usleep(2000);
	}
	CHECK_INT_EQ(st.running, 2);
	/* stop one through the journal, as `stepfs executions stop` does */
	if (journal_open(jpath, 0, &j, err, sizeof(err)) == 0) {
		journal_exec_list(j, "slow", "RUNNING", 0, &l);
		snprintf(arn, sizeof(arn), "%s",
			 json_string_value(json_object_get(json_array_get(l, 0), "executionArn")));
		json_decref(l);
		CHECK(journal_daemon_alive(jpath) == 1);
		CHECK_INT_EQ(journal_request_stop(j, arn, "Stopped", "by the test"), 0);
		journal_close(j);
	}
	for (i = 0; i < 300 && count_all("slow", "ABORTED") != 1; i++)
		usleep(10000);
	CHECK_INT_EQ(count_all("slow", "ABORTED"), 1);
	router_free(r); /* the other stays RUNNING in the journal */
	CHECK_INT_EQ(count_all("slow", "RUNNING"), 1);

	/* restart without waiting: the execution is recovered and completes */
	r = start(c, 0.0);
	CHECK(r != NULL);
	if (r) {
		CHECK_INT_EQ(router_wait_idle(r, 10000), 0);
		router_free(r);
	}
	CHECK_INT_EQ(count_all("slow", "SUCCEEDED"), 1);
	CHECK_INT_EQ(count_all("slow", NULL), 2);
	if (journal_open(jpath, 0, &j, err, sizeof(err)) == 0) {
		journal_exec_list(j, "slow", "SUCCEEDED", 0, &l);
		journal_history(j, json_string_value(json_object_get(json_array_get(l, 0),
								     "executionArn")), &h);
		CHECK(json_array_size(h) >= 5);
		CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(h, 0), "type")),
			     "ExecutionStarted");
		CHECK_STR_EQ(json_string_value(json_object_get(
				     json_array_get(h, json_array_size(h) - 1), "type")),
			     "ExecutionSucceeded");
		{
			/* resumed, not restarted: one ExecutionStarted, ids 1..n */
			size_t k, starts = 0, gaps = 0;
			json_t *e;

			json_array_foreach(h, k, e) {
				if (strcmp(json_string_value(json_object_get(e, "type")),
					   "ExecutionStarted") == 0)
					starts++;
				if (json_integer_value(json_object_get(e, "id")) != (json_int_t)k + 1)
					gaps++;
			}
			CHECK_INT_EQ(starts, 1);
			CHECK_INT_EQ(gaps, 0);
		}
		json_decref(h);
		json_decref(l);
		h = NULL;
		CHECK_INT_EQ(journal_history(j, arn, &h), 0);
		CHECK_STR_EQ(json_string_value(json_object_get(
				     json_array_get(h, json_array_size(h) - 1), "type")),
			     "ExecutionAborted");
		json_decref(h);
		journal_close(j);
	}
	config_free(c);
}

static void test_loop_guard(void)
{
	char *env_deep[] = { (char *)"STEPFS_EXECUTION_ARN=arn:aws:states:x:1:execution:sm:parent",
			     (char *)"STEPFS_CHAIN_DEPTH=2", (char *)"PATH=/usr/bin:/bin", NULL };
	char *env_one[] = { (char *)"STEPFS_EXECUTION_ARN=arn:aws:states:x:1:execution:sm:p0",
			    (char *)"STEPFS_CHAIN_DEPTH=0", (char *)"PATH=/usr/bin:/bin", NULL };
	struct config *c = load_cfg(",\"Limits\":{\"MaxChainDepth\":2}");
	struct router *r = c ? start(c, 1.0) : NULL;
	struct router_stats st;
	struct journal *j = NULL;
	char *arn = NULL, err[256];
	unsigned depth = 99;
	pid_t deep, one, child;
	json_t *l = NULL, *d = NULL;
	FILE *f;
	int n0, i;

	CHECK(r != NULL);
	if (!r) {
		config_free(c);
		return;
	}
	/* a task's child that cleared its environment is still attributed */
	deep = spawn_env("env -i sleep 30 & echo $! > child.pid; wait", env_deep);
	one = spawn_env("sleep 30", env_one);
	child = -1;
	for (i = 0; i < 200 && child <= 0; i++) {
		usleep(5000);
		f = fopen("child.pid", "r");
		if (f) {
			if (fscanf(f, "%d", &child) != 1)
				child = -1;
			fclose(f);
		}
	}
	usleep(50000);
	CHECK(child > 0);
	CHECK_INT_EQ(router_find_cause(child, &arn, &depth), 1);
	CHECK_STR_EQ(arn, "arn:aws:states:x:1:execution:sm:parent");
	CHECK_INT_EQ(depth, 2);
	free(arn);
	arn = NULL;
	CHECK_INT_EQ(router_find_cause(getpid(), &arn, &depth), 0);

	n0 = count_all("pass", NULL);
	CHECK_INT_EQ(commit(r, COMMIT_PUT, "in/loop.csv", child), 0);  /* depth 3 > 2 */
	CHECK_INT_EQ(commit(r, COMMIT_PUT, "in/ok.csv", one), 0);      /* depth 1 */
	CHECK_INT_EQ(router_wait_idle(r, 10000), 0);
	router_stats(r, &st);
	CHECK_INT_EQ(st.loop_guard, 1);
	router_free(r);
	CHECK_INT_EQ(count_all("pass", NULL), n0 + 1);
	if (journal_open(jpath, 0, &j, err, sizeof(err)) == 0) {
		journal_exec_list(j, "pass", NULL, 1, &l);
		journal_exec_describe(j, json_string_value(json_object_get(json_array_get(l, 0),
									     "executionArn")), &d);
		CHECK_INT_EQ(json_integer_value(json_object_get(d, "chainDepth")), 1);
		CHECK_STR_EQ(json_string_value(json_object_get(d, "parentExecutionArn")),
			     "arn:aws:states:x:1:execution:sm:p0");
		json_decref(d);
		json_decref(l);
		journal_close(j);
	}
	kill(-deep, SIGKILL);
	kill(-one, SIGKILL);
	waitpid(deep, NULL, 0);
	waitpid(one, NULL, 0);
	(void)unlink("child.pid");
	config_free(c);
}

static void test_backpressure(void)
{
	struct config *c = load_cfg(",\"Limits\":{\"QueueSize\":2,\"EnqueueTimeoutMs\":100,"
				    "\"MaxRunningExecutions\":1}");
	struct router *r;
	struct router_stats st;
	uint64_t t0;
	int i;

	CHECK_INT_EQ(sql("UPDATE executions SET status = 'ABORTED' WHERE status = 'RUNNING'"), 0);
	r = c ? start(c, 1.0) : NULL;
	CHECK(r != NULL);
	if (!r) {
		config_free(c);
		return;
	}
	CHECK_INT_EQ(commit(r, COMMIT_PUT, "slow/1", 0), 0);
	for (i = 0; i < 500; i++) {
		router_stats(r, &st);
		if (st.running == 1 && st.queued == 0)
			break;
		usleep(2000);
	}
	CHECK_INT_EQ(commit(r, COMMIT_PUT, "slow/2", 0), 0);
	CHECK_INT_EQ(commit(r, COMMIT_PUT, "slow/3", 0), 0);
	t0 = (uint64_t)time(NULL);
	CHECK_INT_EQ(commit(r, COMMIT_PUT, "slow/4", 0), -EBUSY);
	CHECK((uint64_t)time(NULL) - t0 < 3);
	router_stats(r, &st);
	CHECK_INT_EQ(st.busy, 1);
	CHECK_INT_EQ(st.running, 1);
	CHECK_INT_EQ(st.queued, 2);
	router_free(r);
	config_free(c);
}

/* a spool replay after a restart of an already journaled commit is not journaled again */
static void test_replay_dedupe(void)
{
	struct config *c = load_cfg(NULL);
	struct router *r;
	struct router_stats st;

	CHECK_INT_EQ(sql("UPDATE executions SET status = 'ABORTED' WHERE status = 'RUNNING'"), 0);
	r = c ? start(c, 1.0) : NULL;
	if (r) {
		CHECK_INT_EQ(commit(r, COMMIT_PUT, "in/replayed.csv", 1), 0);
		CHECK_INT_EQ(router_wait_idle(r, 10000), 0);
		router_free(r);
	}
	r = c ? start(c, 1.0) : NULL;
	CHECK(r != NULL);
	if (r) {
		CHECK_INT_EQ(commit(r, COMMIT_PUT, "in/replayed.csv", 0), 0); /* replay: skipped */
		CHECK_INT_EQ(commit(r, COMMIT_PUT, "in/replayed.csv", 1), 0); /* a real rewrite */
		CHECK_INT_EQ(commit(r, COMMIT_PUT, "in/replayed.csv", 0), 0); /* new in this run */
		CHECK_INT_EQ(router_wait_idle(r, 10000), 0);
		router_stats(r, &st);
		CHECK_INT_EQ(st.events, 2);
		router_free(r);
	}
	config_free(c);
}

static void test_schedule_missed(void)
{
	char extra[512], q[256];
	struct config *c;
	struct router *r;
	long long last = (long long)journal_now_ms() - 5 * 60000;

	snprintf(extra, sizeof(extra),
		 ",\"Schedules\":[{\"Name\":\"tick\",\"ScheduleExpression\":\"rate(1 minute)\","
		 "\"StateMachine\":\"fast\"},{\"Name\":\"skip\",\"ScheduleExpression\":"
		 "\"rate(1 minute)\",\"StateMachine\":\"fast\",\"MissedRuns\":\"SKIP\"}]");
	c = load_cfg(extra);
	CHECK_INT_EQ(sql("UPDATE executions SET status = 'ABORTED' WHERE status = 'RUNNING'"), 0);
	snprintf(q, sizeof(q), "INSERT OR REPLACE INTO meta VALUES('schedule/tick/last', '%lld'),"
		 "('schedule/skip/last', '%lld')", last, last);
	CHECK_INT_EQ(sql(q), 0);
	r = c ? start(c, 1.0) : NULL;
	CHECK(r != NULL);
	if (r) {
		CHECK_INT_EQ(router_wait_idle(r, 10000), 0);
		router_free(r);
	}
	CHECK_INT_EQ(count_all("fast", NULL) - count_all("fast", "SUCCEEDED"), 0);
	{
		struct journal *j = NULL;
		json_t *l = NULL, *d = NULL, *in;
		char err[256];

		if (journal_open(jpath, 0, &j, err, sizeof(err)) == 0) {
			journal_exec_list(j, "fast", NULL, 1, &l);
			CHECK(strncmp(json_string_value(json_object_get(json_array_get(l, 0), "name")),
				      "tick-", 5) == 0);
			journal_exec_describe(j, json_string_value(json_object_get(
							 json_array_get(l, 0), "executionArn")), &d);
			in = json_loads(json_string_value(json_object_get(d, "input")), 0, NULL);
			CHECK_STR_EQ(json_string_value(json_object_get(in, "detail-type")),
				     "Scheduled Event");
			json_decref(in);
			json_decref(d);
			json_decref(l);
			l = NULL;
			/* SKIP started nothing */
			journal_exec_list(j, "fast", NULL, 0, &l);
			{
				size_t i, skips = 0;
				json_t *x;

				json_array_foreach(l, i, x)
					if (strncmp(json_string_value(json_object_get(x, "name")),
						    "skip-", 5) == 0)
						skips++;
				CHECK_INT_EQ(skips, 0);
			}
			json_decref(l);
			journal_close(j);
		}
	}
	config_free(c);
}

int main(void)
{
	char cwd[300];

	signal(SIGPIPE, SIG_IGN);
	json_object_seed(0);
	if (!mkdtemp(dir) || !getcwd(cwd, sizeof(cwd)) || chdir(dir) < 0)
		return 1;
	snprintf(cfgpath, sizeof(cfgpath), "%s/c.json", dir);
	snprintf(jpath, sizeof(jpath), "%s/c.journal.db", dir);
	put("pass.asl.json", "{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Pass\",\"End\":true}}}");
	put("wait.asl.json", "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"Next\":\"W\"},"
			     "\"W\":{\"Type\":\"Wait\",\"Seconds\":3600,\"Next\":\"B\"},"
			     "\"B\":{\"Type\":\"Pass\",\"End\":true}}}");
	test_flow();
	test_recovery_and_stop();
	test_loop_guard();
	test_backpressure();
	test_replay_dedupe();
	test_schedule_missed();
	{
		static const char *const files[] = { "c.json", "pass.asl.json", "wait.asl.json",
						     "c.journal.db", "c.journal.db-wal",
						     "c.journal.db-shm", "c.journal.db-daemon.lock" };
		size_t i;

		for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
			(void)unlink(files[i]);
		if (chdir(cwd) == 0)
			(void)rmdir(dir);
	}
	return TEST_DONE();
}
