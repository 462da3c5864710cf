/*
 * Unit tests for engine/config.c: a complete valid file (defaults, relative
 * paths, rules, schedules, limits) and one bad file per error class, each
 * checked for the file name and JSON pointer in the message.
 */
#include "engine/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/rules.h"
#include "tests/harness.h"

static char dir[] = "/tmp/stepfs-test-config-XXXXXX";
static char cfgpath[300];

static void put(const char *name, const char *text)
{
	char p[300];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

#define SM "\"StateMachines\":{\"ingest\":{\"Definition\":\"ingest.asl.json\"}," \
	   "\"audit\":{\"Definition\":\"ingest.asl.json\",\"Type\":\"EXPRESS\"}}"

/* Load @text; 0 if it loads. Otherwise checks that the error holds @want. */
static int fails_with(const char *text, const char *want)
{
	struct config *c = NULL;
	char err[1024] = "";
	int ok;

	put("c.json", text);
	if (config_load(cfgpath, &c, err, sizeof(err)) == 0) {
		fprintf(stderr, "  unexpectedly loaded: %s\n", text);
		config_free(c);
		return 0;
	}
	ok = strstr(err, want) != NULL && strstr(err, "c.json") != NULL;
	if (!ok)
		fprintf(stderr, "  want '%s', got '%s'\n", want, err);
	return ok;
}

int main(void)
{
	struct config *c = NULL;
	char err[1024] = "", p[300];
	const struct config_sm *sm;

	if (!mkdtemp(dir))
		return 1;
	snprintf(cfgpath, sizeof(cfgpath), "%s/c.json", dir);
	put("ingest.asl.json", "{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Pass\",\"End\":true}}}");

	put("c.json",
	    "{\"Comment\":\"test\"," SM ","
	    "\"NotificationConfiguration\":{\"StateMachineConfigurations\":[{\"Id\":\"csv\","
	    "\"StateMachine\":\"ingest\",\"Events\":[\"s3:ObjectCreated:*\"],\"Filter\":{\"Key\":"
	    "{\"FilterRules\":[{\"Name\":\"suffix\",\"Value\":\".csv\"}]}}}],"
	    "\"EventBridgeConfiguration\":{}},"
	    "\"EventBridgeRules\":[{\"Name\":\"a\",\"EventPattern\":{\"source\":[\"aws.s3\"]},"
	    "\"Targets\":[{\"StateMachine\":\"audit\"}]}],"
	    "\"Schedules\":[{\"Name\":\"n\",\"ScheduleExpression\":\"rate(5 minutes)\","
	    "\"StateMachine\":\"audit\",\"Input\":\"{\\\"x\\\":1}\",\"MissedRuns\":\"SKIP\"}],"
	    "\"Limits\":{\"QueueSize\":10,\"MaxChainDepth\":2},"
	    "\"tasks\":{},\"functions\":{}}");
	CHECK_INT_EQ(config_load(cfgpath, &c, err, sizeof(err)), 0);
	if (!c) {
		fprintf(stderr, "%s\n", err);
		return TEST_DONE();
	}
	CHECK_INT_EQ(c->nsms, 2);
	sm = config_sm_find(c, "ingest");
	snprintf(p, sizeof(p), "%s/ingest.asl.json", dir);
	CHECK(sm && strcmp(sm->definition, p) == 0);
	CHECK(sm && sm->type == CONFIG_STANDARD);
	CHECK(config_sm_find(c, "audit") && config_sm_find(c, "audit")->type == CONFIG_EXPRESS);
	CHECK(config_sm_find(c, "nope") == NULL);
	snprintf(p, sizeof(p), "%s/c.journal.db", dir);
	CHECK_STR_EQ(c->journal, p);
	CHECK_STR_EQ(c->region, "us-east-1");
	CHECK_STR_EQ(c->account, "000000000000");
	CHECK_INT_EQ(c->include_local_path, 1);
	CHECK_INT_EQ(rules_target_count(c->rules), 2);
	CHECK_INT_EQ(c->nschedules, 1);
	CHECK_INT_EQ(c->schedules[0].missed, CONFIG_MISSED_SKIP);
	CHECK_INT_EQ(c->schedules[0].sched.rate_ms, 300000);
	CHECK_INT_EQ(json_integer_value(json_object_get(c->schedules[0].input, "x")), 1);
	CHECK_INT_EQ(c->limits.queue_size, 10);
	CHECK_INT_EQ(c->limits.max_chain_depth, 2);
	CHECK_INT_EQ(c->limits.max_running, 256);
	config_free(c);
	c = NULL;

	/* minimal file with an absolute journal */
	put("c.json", "{" SM ",\"Journal\":\"/var/tmp/x.db\",\"IncludeLocalPath\":false}");
	CHECK_INT_EQ(config_load(cfgpath, &c, err, sizeof(err)), 0);
	if (c) {
		CHECK_STR_EQ(c->journal, "/var/tmp/x.db");
		CHECK_INT_EQ(c->include_local_path, 0);
		CHECK_INT_EQ(rules_target_count(c->rules), 0);
	}
	config_free(c);

	CHECK(fails_with("{" SM ",}", "c.json:1:"));
	CHECK(fails_with("[]", "(top level): the configuration must be a JSON object"));
	CHECK(fails_with("{}", "missing 'StateMachines'"));
	CHECK(fails_with("{" SM ",\"Limit\":{}}", "/Limit: unknown member 'Limit'"));
	/* Map ItemReader/ResultWriter buckets and the read limit */
	CHECK(fails_with("{" SM ",\"Buckets\":[]}", "/Buckets: expected an object"));
	CHECK(fails_with("{" SM ",\"Buckets\":{\"a\":1}}", "/Buckets: 'a': expected a bucket URL"));
	CHECK(fails_with("{" SM ",\"Limits\":{\"ItemReaderMaxMiB\":0}}", "ItemReaderMaxMiB"));
	put("c.json", "{" SM ",\"Buckets\":{\"a\":\"s3://x\"},\"Limits\":{\"ItemReaderMaxMiB\":3}}");
	CHECK_INT_EQ(config_load(cfgpath, &c, err, sizeof(err)), 0);
	if (c) {
		CHECK_INT_EQ(c->limits.item_reader_max_mib, 3);
		config_free(c);
		c = NULL;
	}
	CHECK(fails_with("{\"StateMachines\":{\"a b\":{\"Definition\":\"x\"}}}",
			 "/StateMachines/a b: state machine names"));
	CHECK(fails_with("{\"StateMachines\":{\"a\":{\"Definition\":\"missing.json\"}}}",
			 "/StateMachines/a/Definition: cannot read"));
	CHECK(fails_with("{\"StateMachines\":{\"a\":{\"Definition\":\"ingest.asl.json\","
			 "\"Type\":\"standard\"}}}",
			 "/StateMachines/a/Type: Type must be"));
	CHECK(fails_with("{" SM ",\"NotificationConfiguration\":{\"StateMachineConfigurations\":"
			 "[{\"StateMachine\":\"nope\",\"Events\":[\"s3:ObjectCreated:*\"]}]}}",
			 "/NotificationConfiguration/StateMachineConfigurations/0/StateMachine: "
			 "no state machine 'nope'"));
	CHECK(fails_with("{" SM ",\"NotificationConfiguration\":{\"StateMachineConfigurations\":["
			 "{\"StateMachine\":\"ingest\",\"Events\":[\"s3:ObjectCreated:*\"],"
			 "\"Filter\":{\"Key\":{\"FilterRules\":[{\"Name\":\"suffix\",\"Value\":\"jpg\"}]}}},"
			 "{\"StateMachine\":\"audit\",\"Events\":[\"s3:ObjectCreated:Put\"],"
			 "\"Filter\":{\"Key\":{\"FilterRules\":[{\"Name\":\"suffix\",\"Value\":\"pg\"}]}}}]}}",
			 "/NotificationConfiguration/StateMachineConfigurations/1: Configuration is "
			 "ambiguously defined"));
	CHECK(fails_with("{" SM ",\"Schedules\":[{\"Name\":\"n\",\"ScheduleExpression\":"
			 "\"rate(1 minutes)\",\"StateMachine\":\"ingest\"}]}",
			 "/Schedules/0/ScheduleExpression: rate(): use the singular"));
	CHECK(fails_with("{" SM ",\"Schedules\":[{\"Name\":\"n\",\"ScheduleExpression\":"
			 "\"rate(1 minute)\",\"StateMachine\":\"x\"}]}",
			 "/Schedules/0/StateMachine: no state machine 'x'"));
	CHECK(fails_with("{" SM ",\"Schedules\":[{\"Name\":\"n\",\"ScheduleExpression\":"
			 "\"rate(1 minute)\",\"StateMachine\":\"ingest\",\"MissedRuns\":\"ALL\"}]}",
			 "/Schedules/0/MissedRuns"));
	CHECK(fails_with("{" SM ",\"Schedules\":[{\"Name\":\"n\",\"ScheduleExpression\":"
			 "\"rate(1 minute)\",\"StateMachine\":\"ingest\"},{\"Name\":\"n\","
			 "\"ScheduleExpression\":\"rate(1 minute)\",\"StateMachine\":\"ingest\"}]}",
			 "/Schedules/1: duplicate schedule name"));
	CHECK(fails_with("{" SM ",\"Limits\":{\"QueueSize\":0}}", "/Limits/QueueSize: expected"));
	CHECK(fails_with("{" SM ",\"IncludeLocalPath\":1}", "/IncludeLocalPath: expected true"));
	CHECK(fails_with("{" SM ",\"Region\":\"\"}", "/Region: expected a non-empty string"));
	CHECK(fails_with("{" SM ",\"Bucket\":\"a\",\"Bucket\":\"b\"}", "duplicate"));

	CHECK(config_load("/nonexistent/c.json", &c, err, sizeof(err)) < 0);
	CHECK(strstr(err, "/nonexistent/c.json") != NULL);

	snprintf(p, sizeof(p), "%s/c.json", dir);
	(void)unlink(p);
	snprintf(p, sizeof(p), "%s/ingest.asl.json", dir);
	(void)unlink(p);
	(void)rmdir(dir);
	return TEST_DONE();
}
