/*
 * Unit tests for the engine's Distributed Map ItemReader/ResultWriter
 * through struct asl_s3_ops (engine/asl_s3.h), with a test double that
 * answers from a loop timer: results, batching, Catch of
 * States.ItemReaderFailed, a writer failure, a stop while a read is in
 * flight (cancel, no callback), and no ops at all.
 */
#include "engine/asl.h"
#include "engine/asl_s3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/loop.h"
#include "tests/harness.h"

struct dbl {
	json_t *objects; /* "bucket/key" -> body string */
	json_t *puts;    /* "bucket/key" -> body written */
	int starts, cancels, done_calls;
	bool fail_put;
	bool hold;       /* leave calls pending (no timer) */
};

struct asl_s3_call {
	struct dbl *d;
	struct loop *loop;
	struct loop_timer *t;
	struct asl_s3_req req;
	char *path, *body;
	asl_s3_done_fn done;
	void *done_arg;
};

static void fire(void *arg)
{
	struct asl_s3_call *c = arg;
	struct asl_s3_result res = { NULL, 0, NULL };
	json_t *o;

	c->d->done_calls++;
	if (c->req.kind == ASL_S3_GET) {
		o = json_object_get(c->d->objects, c->path);
		if (!o) {
			c->done(c->done_arg, NULL, "no such key");
		} else {
			res.data = json_string_value(o);
			res.len = json_string_length(o);
			c->done(c->done_arg, &res, NULL);
		}
	} else if (c->req.kind == ASL_S3_PUT) {
		if (c->d->fail_put) {
			c->done(c->done_arg, NULL, "disk full");
		} else {
			json_object_set_new(c->d->puts, c->path, json_string(c->body));
			c->done(c->done_arg, &res, NULL);
		}
	} else {
		res.items = json_pack("[{s:s}]", "Key", "k");
		c->done(c->done_arg, &res, NULL);
		json_decref(res.items);
	}
	free(c->path);
	free(c->body);
	free(c);
}

static int d_start(void *arg, struct loop *loop, const struct asl_s3_req *req,
		   asl_s3_done_fn done, void *done_arg, struct asl_s3_call **ret, char *msg,
		   size_t msglen)
{
	struct dbl *d = arg;
	struct asl_s3_call *c = calloc(1, sizeof(*c));

	d->starts++;
	c->d = d;
	c->loop = loop;
	c->req = *req;
	c->done = done;
	c->done_arg = done_arg;
	if (asprintf(&c->path, "%s/%s", req->bucket, req->key ? req->key : "") < 0)
		abort();
	if (req->kind == ASL_S3_PUT)
		c->body = strndup(req->body, req->len);
	if (!d->hold)
		c->t = loop_timer_add(loop, 0, fire, c);
	*ret = c;
	(void)msg;
	(void)msglen;
	return 0;
}

static void d_cancel(void *arg, struct asl_s3_call *c)
{
	struct dbl *d = arg;

	d->cancels++;
	if (c->t)
		loop_timer_cancel(c->loop, c->t);
	free(c->path);
	free(c->body);
	free(c);
}

static struct asl_execution *run(struct asl_engine *e, const char *def, const char *input)
{
	struct asl_exec_opts xo = ASL_EXEC_OPTS_INIT;
	struct asl_machine *m = NULL;
	struct asl_execution *x = NULL;
	json_t *d = json_loads(def, 0, NULL), *in = json_loads(input, 0, NULL);
	char *msg = NULL;

	xo.record_history = true;
	if (asl_machine_new(d, NULL, &m, &msg) < 0) {
		fprintf(stderr, "load: %s\n", msg ? msg : "?");
		free(msg);
	} else {
		asl_execution_run_sync(e, m, in, &xo, &x);
	}
	asl_machine_unref(m);
	json_decref(d);
	json_decref(in);
	return x;
}

#define MAP(reader, extra)                                                                  \
	"{\"StartAt\":\"M\",\"States\":{\"M\":{\"Type\":\"Map\",\"ItemReader\":" reader       \
	",\"ItemProcessor\":{\"ProcessorConfig\":{\"Mode\":\"DISTRIBUTED\",\"ExecutionType\":\"STANDARD\"},\"StartAt\":\"P\"," \
	"\"States\":{\"P\":{\"Type\":\"Pass\",\"End\":true}}}" extra ",\"End\":true}"         \
	"%s}}"
#define CSV_READER                                                                       \
	"{\"Resource\":\"arn:aws:states:::s3:getObject\",\"ReaderConfig\":{\"InputType\":"  \
	"\"CSV\",\"CSVHeaderLocation\":\"FIRST_ROW\"},\"Parameters\":{\"Bucket\":\"b\","     \
	"\"Key.$\":\"$.key\"}}"

static char *out_text(struct asl_execution *x)
{
	return json_dumps(asl_execution_output(x), JSON_COMPACT | JSON_SORT_KEYS);
}

static bool has_event(struct asl_execution *x, const char *type, const char *cause)
{
	json_t *h = asl_execution_history(x), *ev;
	bool found = false;
	size_t i;

	json_array_foreach(h, i, ev) {
		const char *t = json_string_value(json_object_get(ev, "type"));
		json_t *dt = json_object_get(ev, "mapRunFailedEventDetails");

		if (t && !strcmp(t, type) &&
		    (!cause || (dt && strstr(json_string_value(json_object_get(dt, "cause")) ?: "",
					     cause))))
			found = true;
	}
	json_decref(h);
	return found;
}

int main(void)
{
	struct loop *loop = loop_new();
	struct dbl d = { json_object(), json_object(), 0, 0, 0, false, false };
	struct asl_s3_ops ops = { d_start, d_cancel, &d };
	struct asl_engine *e = asl_engine_new(loop, NULL), *bare = asl_engine_new(loop, NULL);
	struct asl_execution *x;
	char def[4096], *s;

	asl_engine_set_s3(e, &ops);
	json_object_set_new(d.objects, "b/rows.csv", json_string("a,b\n1,2\n3,4\n5,6\n"));

	/* read and iterate */
	snprintf(def, sizeof(def), MAP(CSV_READER, ""), "");
	x = run(e, def, "{\"key\":\"rows.csv\"}");
	CHECK_STR_EQ(asl_status_name(asl_execution_status(x)), "SUCCEEDED");
	s = out_text(x);
	CHECK_STR_EQ(s, "[{\"a\":\"1\",\"b\":\"2\"},{\"a\":\"3\",\"b\":\"4\"},{\"a\":\"5\",\"b\":\"6\"}]");
	free(s);
	CHECK(has_event(x, "MapRunStarted", NULL) && has_event(x, "MapRunSucceeded", NULL));
	asl_execution_free(x);

	/* with an ItemBatcher */
	snprintf(def, sizeof(def), MAP(CSV_READER, ",\"ItemBatcher\":{\"MaxItemsPerBatch\":2}"), "");
	x = run(e, def, "{\"key\":\"rows.csv\"}");
	s = out_text(x);
	CHECK_STR_EQ(s, "[{\"Items\":[{\"a\":\"1\",\"b\":\"2\"},{\"a\":\"3\",\"b\":\"4\"}]},"
			"{\"Items\":[{\"a\":\"5\",\"b\":\"6\"}]}]");
	free(s);
	asl_execution_free(x);

	/* a missing key fails the Map Run; Catch takes States.ItemReaderFailed */
	snprintf(def, sizeof(def),
		 MAP(CSV_READER, ",\"Catch\":[{\"ErrorEquals\":[\"States.ItemReaderFailed\"],"
				 "\"Next\":\"C\"}]"),
		 ",\"C\":{\"Type\":\"Pass\",\"End\":true}");
	/* MAP() ends the Map with "End": that and Catch's Next are both fine */
	x = run(e, def, "{\"key\":\"none.csv\"}");
	CHECK_STR_EQ(asl_status_name(asl_execution_status(x)), "SUCCEEDED");
	s = out_text(x);
	CHECK_STR_EQ(s, "{\"Cause\":\"no such key\",\"Error\":\"States.ItemReaderFailed\"}");
	free(s);
	CHECK(has_event(x, "MapRunFailed", "no such key"));
	asl_execution_free(x);

	/* ResultWriter: SUCCEEDED_0.json and manifest.json; the output names the manifest */
	snprintf(def, sizeof(def),
		 MAP(CSV_READER, ",\"ResultWriter\":{\"Resource\":\"arn:aws:states:::s3:putObject\","
				 "\"Parameters\":{\"Bucket\":\"out\",\"Prefix\":\"p/\"}}"),
		 "");
	x = run(e, def, "{\"key\":\"rows.csv\"}");
	CHECK_STR_EQ(asl_status_name(asl_execution_status(x)), "SUCCEEDED");
	CHECK_INT_EQ(json_object_size(d.puts), 2);
	{
		const char *key = json_string_value(json_object_get(
			json_object_get(asl_execution_output(x), "ResultWriterDetails"), "Key"));
		char path[256];
		json_t *man, *succ;

		CHECK(key && !strncmp(key, "p/", 2) && strstr(key, "/manifest.json"));
		snprintf(path, sizeof(path), "out/%s", key ? key : "");
		man = json_loads(json_string_value(json_object_get(d.puts, path)) ?: "", 0, NULL);
		CHECK_INT_EQ(json_array_size(json_object_get(json_object_get(man, "ResultFiles"),
							     "SUCCEEDED")), 1);
		snprintf(path, sizeof(path), "out/%s",
			 json_string_value(json_object_get(json_array_get(json_object_get(
				 json_object_get(man, "ResultFiles"), "SUCCEEDED"), 0), "Key")) ?: "");
		succ = json_loads(json_string_value(json_object_get(d.puts, path)) ?: "", 0, NULL);
		CHECK_INT_EQ(json_array_size(succ), 3);
		CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(succ, 1), "Output")),
			     "{\"a\":\"3\",\"b\":\"4\"}");
		json_decref(man);
		json_decref(succ);
	}
	asl_execution_free(x);

	/* a failing put: States.ResultWriterFailed with the store's cause */
	d.fail_put = true;
	x = run(e, def, "{\"key\":\"rows.csv\"}");
	CHECK_STR_EQ(asl_execution_error(x) ?: "", "States.ResultWriterFailed");
	CHECK_STR_EQ(asl_execution_cause(x) ?: "", "disk full");
	CHECK(has_event(x, "MapRunFailed", "disk full"));
	asl_execution_free(x);
	d.fail_put = false;

	/* WriterConfig alone: the output is transformed, nothing written */
	{
		size_t before = json_object_size(d.puts);
		json_t *o;

		json_object_set_new(d.objects, "b/arr.json", json_string("[[1,2],[3],4]"));
		snprintf(def, sizeof(def),
			 MAP("{\"Resource\":\"arn:aws:states:::s3:getObject\",\"ReaderConfig\":"
			     "{\"InputType\":\"JSON\"},\"Parameters\":{\"Bucket\":\"b\","
			     "\"Key\":\"arr.json\"}}",
			     ",\"ResultWriter\":{\"WriterConfig\":{\"Transformation\":\"FLATTEN\","
			     "\"OutputType\":\"JSON\"}}"),
			 "");
		x = run(e, def, "{}");
		s = out_text(x);
		CHECK_STR_EQ(s, "[1,2,3,4]");
		free(s);
		asl_execution_free(x);
		CHECK_INT_EQ(json_object_size(d.puts), before);
		/* NONE: the child execution records */
		snprintf(def, sizeof(def),
			 MAP("{\"Resource\":\"arn:aws:states:::s3:getObject\",\"ReaderConfig\":"
			     "{\"InputType\":\"JSON\"},\"Parameters\":{\"Bucket\":\"b\","
			     "\"Key\":\"arr.json\"}}",
			     ",\"ResultWriter\":{\"WriterConfig\":{\"Transformation\":\"NONE\","
			     "\"OutputType\":\"JSON\"}}"),
			 "");
		x = run(e, def, "{}");
		o = json_array_get(asl_execution_output(x), 1);
		CHECK_STR_EQ(json_string_value(json_object_get(o, "Status")) ?: "", "SUCCEEDED");
		CHECK_STR_EQ(json_string_value(json_object_get(o, "Output")) ?: "", "[3]");
		CHECK_STR_EQ(json_string_value(json_object_get(o, "Input")) ?: "", "[3]");
		asl_execution_free(x);
		/* exported as COMPACT JSON Lines */
		snprintf(def, sizeof(def),
			 MAP("{\"Resource\":\"arn:aws:states:::s3:getObject\",\"ReaderConfig\":"
			     "{\"InputType\":\"JSON\"},\"Parameters\":{\"Bucket\":\"b\","
			     "\"Key\":\"arr.json\"}}",
			     ",\"ResultWriter\":{\"Resource\":\"arn:aws:states:::s3:putObject\","
			     "\"Parameters\":{\"Bucket\":\"jl\"},\"WriterConfig\":{\"Transformation\":"
			     "\"COMPACT\",\"OutputType\":\"JSONL\"}}"),
			 "");
		x = run(e, def, "{}");
		CHECK_STR_EQ(asl_status_name(asl_execution_status(x)), "SUCCEEDED");
		{
			const char *k;
			json_t *v;
			int found = 0;

			json_object_foreach(d.puts, k, v)
				if (!strncmp(k, "jl/", 3) && strstr(k, "/SUCCEEDED_0.json")) {
					CHECK_STR_EQ(json_string_value(v), "[1,2]\n[3]\n4\n");
					found++;
				}
			CHECK_INT_EQ(found, 1);
		}
		asl_execution_free(x);
	}

	/* stop while the read is in flight: cancelled, never called back */
	{
		struct asl_exec_opts xo = ASL_EXEC_OPTS_INIT;
		struct asl_machine *m = NULL;
		json_t *dj, *in = json_pack("{s:s}", "key", "rows.csv");
		int cancels = d.cancels, done_calls = d.done_calls;

		snprintf(def, sizeof(def), MAP(CSV_READER, ""), "");
		dj = json_loads(def, 0, NULL);
		d.hold = true;
		CHECK_INT_EQ(asl_machine_new(dj, NULL, &m, NULL), 0);
		CHECK_INT_EQ(asl_execution_start(e, m, in, &xo, &x), 0);
		CHECK_STR_EQ(asl_status_name(asl_execution_status(x)), "RUNNING");
		asl_execution_stop(x, "Stop", "by test");
		CHECK_STR_EQ(asl_status_name(asl_execution_status(x)), "ABORTED");
		CHECK_INT_EQ(d.cancels, cancels + 1);
		loop_run(loop);
		CHECK_INT_EQ(d.done_calls, done_calls);
		asl_execution_free(x);
		asl_machine_unref(m);
		json_decref(dj);
		json_decref(in);
		d.hold = false;
	}

	/* no ops: a clear ItemReaderFailed */
	snprintf(def, sizeof(def), MAP(CSV_READER, ""), "");
	x = run(bare, def, "{\"key\":\"rows.csv\"}");
	CHECK_STR_EQ(asl_execution_error(x) ?: "", "States.ItemReaderFailed");
	CHECK_STR_EQ(asl_execution_cause(x) ?: "", "no object store is configured for bucket 'b'");
	asl_execution_free(x);

	asl_engine_free(e);
	asl_engine_free(bare);
	loop_free(loop);
	json_decref(d.objects);
	json_decref(d.puts);
	return TEST_DONE();
}
