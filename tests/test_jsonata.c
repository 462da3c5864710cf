/*
 * JSONata unit tests: hand-written checks (integer vs real results,
 * undefined vs null, errors with codes and positions, the Step Functions
 * functions), then every case of the JSONata test suite copy in
 * ../shared/conformance/jsonata/groups/<group>/case*.json (skipped cleanly
 * when absent), and of the group's other test files (arrays of cases, e.g.
 * function-formatInteger/formatInteger.json), counted apart. A suite case listed in tests/jsonata_known_failures.txt
 * that fails is reported but not counted as a failure; one on the list
 * that passes prints a note (take it off the list); any other failure is a
 * failure. JSONATA_WRITE_KNOWN=FILE writes the ids of failing cases there.
 * JSONATA_CASE=substring runs only matching cases and prints details.
 */
#include "engine/jsonata.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tests/harness.h"

static json_t *run(const char *src, unsigned flags, json_t *input, struct jsonata_err *err, int *rc)
{
	struct jsonata *j = jsonata_compile(src, flags, err);
	json_t *out = NULL;

	*rc = -2;
	if (!j)
		return NULL;
	*rc = jsonata_eval(j, input, NULL, &out, err);
	jsonata_free(j);
	return out;
}

/* Evaluate @src on @input_json and compare with the JSON text @want ("undefined" for none). */
static void check_eval(const char *src, const char *input_json, const char *want, int line)
{
	struct jsonata_err err = { "", 0, "" };
	json_t *in = input_json ? json_loads(input_json, JSON_DECODE_ANY, NULL) : NULL;
	int rc;
	json_t *out = run(src, 0, in, &err, &rc);
	char *got = out ? json_dumps(out, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;

	if (rc != 0) {
		fprintf(stderr, "line %d: '%s': error %s %s\n", line, src, err.code, err.message);
		CHECK(rc == 0);
	} else {
		CHECK_STR_EQ(got ? got : "undefined", want);
		if (!got != !strcmp(want, "undefined") || (got && strcmp(got, want)))
			fprintf(stderr, "  (line %d: '%s')\n", line, src);
	}
	free(got);
	json_decref(out);
	json_decref(in);
}

static void check_error(const char *src, unsigned flags, const char *code, long pos)
{
	struct jsonata_err err = { "", 0, "" };
	json_t *in = json_pack("{s:i}", "a", 1);
	int rc;
	json_t *out = run(src, flags, in, &err, &rc);

	CHECK(rc != 0);
	CHECK_STR_EQ(err.code, code);
	if (pos >= 0)
		CHECK_INT_EQ(err.position, pos);
	json_decref(out);
	json_decref(in);
}

static void hand_written(void)
{
	struct jsonata_err err;
	json_t *out, *in;
	int rc;

	/* integers stay integers, reals are reals */
	out = run("1 + 2", 0, NULL, &err, &rc);
	CHECK(rc == 0 && json_is_integer(out) && json_integer_value(out) == 3);
	json_decref(out);
	out = run("0.1 + 0.2", 0, NULL, &err, &rc);
	CHECK(rc == 0 && json_is_real(out) && json_real_value(out) == 0.1 + 0.2);
	json_decref(out);
	out = run("6 / 4", 0, NULL, &err, &rc);
	CHECK(rc == 0 && json_is_real(out) && json_real_value(out) == 1.5);
	json_decref(out);
	check_eval("$string(0.1 + 0.2)", NULL, "\"0.3\"", __LINE__);
	check_eval("$string(1e21)", NULL, "\"1e+21\"", __LINE__);
	check_eval("$string(123456789012)", NULL, "\"123456789012\"", __LINE__);
	check_eval("$string(1/3)", NULL, "\"0.333333333333333\"", __LINE__);
	check_eval("$string(1e-7)", NULL, "\"1e-7\"", __LINE__);
	check_eval("'n=' & 2.50", NULL, "\"n=2.5\"", __LINE__);

	/* undefined is not null */
	check_eval("missing", "{\"a\":1}", "undefined", __LINE__);
	check_eval("a", "{\"a\":null}", "null", __LINE__);
	check_eval("$exists(a)", "{\"a\":null}", "true", __LINE__);
	check_eval("$exists(b)", "{\"a\":null}", "false", __LINE__);
	check_eval("[a, b, c]", "{\"a\":1,\"c\":null}", "[1,null]", __LINE__);

	/* paths and sequences */
	check_eval("a.b", "{\"a\":[{\"b\":1},{\"b\":[2,3]}]}", "[1,2,3]", __LINE__);
	check_eval("a.b[]", "{\"a\":{\"b\":1}}", "[1]", __LINE__);
	check_eval("a[1]", "{\"a\":[5,6,7]}", "6", __LINE__);
	check_eval("a[-1]", "{\"a\":[5,6,7]}", "7", __LINE__);
	check_eval("a[$ > 5]", "{\"a\":[5,6,7]}", "[6,7]", __LINE__);
	check_eval("$sum(a)", "{\"a\":[5,6,7]}", "18", __LINE__);
	check_eval("a^(>$)", "{\"a\":[5,7,6]}", "[7,6,5]", __LINE__);
	check_eval("a{$string($): $}", "{\"a\":[1,2]}", "{\"1\":1,\"2\":2}", __LINE__);
	check_eval("($f := function($n){$n < 2 ? $n : $f($n-1) + $f($n-2)}; $f(15))", NULL, "610", __LINE__);
	check_eval("[1..5] ~> $map(function($v){$v*$v}) ~> $sum()", NULL, "55", __LINE__);
	check_eval("$replace('a1b22', /[0-9]+/, '<$0>')", NULL, "\"a<1>b<22>\"", __LINE__);
	check_eval("a#$i[$i > 0].$i", "{\"a\":[5,6,7]}", "[1,2]", __LINE__);

	/* errors carry the JSONata code and a position */
	check_error("1 +", 0, "S0207", 3);
	check_error("'abc", 0, "S0101", -1);
	check_error("a + 'x'", 0, "T2002", 3);
	check_error("$substring('a', 'b')", 0, "T0410", -1);
	check_error("$substring(1)", 0, "T0411", -1);
	check_error("$undefinedfn()", 0, "T1006", -1);
	check_error("($f := function(){$f()}; $f())", 0, "U1001", -1);
	check_error("($f := function($n){$n + $f($n)}; $f(1))", 0, "U1001", -1);
	check_error("$eval('1')", JSONATA_ASL, "T1006", -1);
	check_error("$eval('$eval($)', '$eval($)')", 0, "U1001", -1);

	/* limits: errors, never a crash or a runaway */
	check_error("$reduce([1..5000], function($a, $b){{'a': $a}})", 0, "U1001", -1);
	check_error("$reduce([1..5000], function($a, $b){[[$a]]}).x", 0, "U1001", -1);
	check_error("($f := function($x){$f($x & 'a')}; $f(''))", 0, "U1001", -1);
	check_error("[1..10000001]", 0, "D2014", -1);
	check_error("$fromMillis(1e300)", 0, "D3110", -1);
	check_eval("[1e300..1e300] ~> $count()", NULL, "1", __LINE__);
	check_eval("$round(1.5, 1e10)", NULL, "1.5", __LINE__);
	check_eval("$split('a,b,c', ',', 1e300)", NULL, "[\"a\",\"b\",\"c\"]", __LINE__);

	{
		/* a 5000-step path compiles to an error, not a C stack overflow */
		size_t len = 2 * 5000 + 2;
		char *deep = malloc(len);

		deep[0] = 'a';
		for (size_t i = 1; i + 1 < len; i += 2)
			memcpy(deep + i, ".a", 2);
		deep[len - 1] = 0;
		check_error(deep, 0, "S0207", -1);
		free(deep);
	}

	/* Step Functions functions, and only with JSONATA_ASL */
	in = json_pack("{s:s}", "s", "abc");
	out = run("$hash(s, 'SHA-256')", JSONATA_ASL, in, &err, &rc);
	CHECK(rc == 0 && json_is_string(out));
	CHECK_STR_EQ(json_string_value(out), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	json_decref(out);
	out = run("$hash(s, 'MD5')", JSONATA_ASL, in, &err, &rc);
	CHECK_STR_EQ(json_string_value(out), "900150983cd24fb0d6963f7d28e17f72");
	json_decref(out);
	json_decref(in);
	out = run("$partition([1,2,3,4,5], 2)", JSONATA_ASL, NULL, &err, &rc);
	{
		char *d = json_dumps(out, JSON_COMPACT);

		CHECK_STR_EQ(d, "[[1,2],[3,4],[5]]");
		free(d);
	}
	json_decref(out);
	out = run("$range(0, 10, 2)", JSONATA_ASL, NULL, &err, &rc);
	CHECK_INT_EQ(json_array_size(out), 6);
	json_decref(out);
	out = run("$random(7) = $random(7)", JSONATA_ASL, NULL, &err, &rc);
	CHECK(json_is_true(out));
	json_decref(out);
	out = run("$uuid() ~> $length()", JSONATA_ASL, NULL, &err, &rc);
	CHECK_INT_EQ(json_integer_value(out), 36);
	json_decref(out);
	out = run("$parse('{\"a\":[1,2]}').a[1]", JSONATA_ASL, NULL, &err, &rc);
	CHECK_INT_EQ(json_integer_value(out), 2);
	json_decref(out);
	check_error("$partition([1], 2)", 0, "T1006", -1);
}

/* one compiled expression evaluated from several threads at once gives the same answers */
struct thread_arg {
	const struct jsonata *expr;
	json_t *input;
	int bad;
};

static void *thread_main(void *p)
{
	struct thread_arg *t = p;

	for (int i = 0; i < 300; i++) {
		struct jsonata_err err;
		json_t *out = NULL;

		if (jsonata_eval(t->expr, t->input, NULL, &out, &err) != 0 || !json_is_string(out) ||
		    strcmp(json_string_value(out), "B-2|C-3|D-4"))
			t->bad++;
		json_decref(out);
	}
	return NULL;
}

static void threads(void)
{
	struct jsonata_err err;
	struct jsonata *j = jsonata_compile(
		"$join(items[$contains(name, /^[b-d]/i)]^(name).($uppercase(name) & '-' & $string(n)), '|')", 0, &err);
	json_t *in = json_loads("{\"items\":[{\"name\":\"d\",\"n\":4},{\"name\":\"a\",\"n\":1},"
			       "{\"name\":\"c\",\"n\":3},{\"name\":\"b\",\"n\":2}]}", 0, NULL);
	struct thread_arg args[4];
	pthread_t th[4];

	CHECK(j != NULL);
	if (!j)
		return;
	for (int i = 0; i < 4; i++) {
		args[i].expr = j;
		args[i].input = in;
		args[i].bad = 0;
		CHECK(pthread_create(&th[i], NULL, thread_main, &args[i]) == 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT_EQ(args[i].bad, 0);
	}
	json_decref(in);
	jsonata_free(j);
}

/* ------------------------------------------------------------------ the suite */

struct known {
	char **ids;
	int n;
	bool *seen;
};

static void known_load(struct known *k)
{
	FILE *f = fopen("tests/jsonata_known_failures.txt", "r");
	char line[512];

	k->ids = NULL;
	k->n = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n \t#")] = 0;
		if (!line[0])
			continue;
		k->ids = realloc(k->ids, sizeof(*k->ids) * (size_t)(k->n + 1));
		k->ids[k->n++] = strdup(line);
	}
	fclose(f);
	k->seen = calloc((size_t)k->n + 1, sizeof(bool));
}

static bool known_has(struct known *k, const char *id)
{
	for (int i = 0; i < k->n; i++)
		if (!strcmp(k->ids[i], id))
			return true;
	return false;
}

static bool num_equal(json_t *a, json_t *b);

static bool same(json_t *a, json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
		return num_equal(a, b);
	if (json_is_array(a) && json_is_array(b)) {
		if (json_array_size(a) != json_array_size(b))
			return false;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!same(json_array_get(a, i), json_array_get(b, i)))
				return false;
		return true;
	}
	if (json_is_object(a) && json_is_object(b)) {
		const char *key;
		json_t *v;

		if (json_object_size(a) != json_object_size(b))
			return false;
		json_object_foreach(a, key, v)
			if (!same(v, json_object_get(b, key)))
				return false;
		return true;
	}
	return json_equal(a, b);
}

static bool num_equal(json_t *a, json_t *b)
{
	double x = json_number_value(a), y = json_number_value(b);

	return x == y || fabs(x - y) <= 1e-13 * fmax(fabs(x), fabs(y));
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = malloc((size_t)n + 1);
	if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
		free(s);
		s = NULL;
	}
	if (s)
		s[n] = 0;
	fclose(f);
	return s;
}

struct suite {
	const char *root;
	struct known known;
	FILE *write_known;
	const char *only;
	int pass, fail, known_fail, fixed;
	bool extra;			/* the case being run is from a file not named case*.json */
	int case_pass, case_total;	/* the case*.json figures */
};

/* 1 pass, 0 fail */
static int run_case(struct suite *s, const char *group_dir, json_t *tc, const char *id)
{
	const char *expr = json_string_value(json_object_get(tc, "expr"));
	char *expr_buf = NULL, path[4096];
	json_t *data = NULL, *ds, *bindings, *out = NULL;
	struct jsonata_err err = { "", -1, "" };
	struct jsonata *j;
	int ok = 0, rc = 0;

	if (!expr && json_is_string(json_object_get(tc, "expr-file"))) {
		snprintf(path, sizeof(path), "%s/%s", group_dir, json_string_value(json_object_get(tc, "expr-file")));
		expr = expr_buf = read_file(path);
	}
	if (!expr)
		return 0;
	if (json_object_get(tc, "data")) {
		data = json_incref(json_object_get(tc, "data"));
	} else if (json_is_string(ds = json_object_get(tc, "dataset"))) {
		snprintf(path, sizeof(path), "%s/datasets/%s.json", s->root, json_string_value(ds));
		data = json_load_file(path, JSON_DECODE_ANY, NULL);
	}
	bindings = json_object_get(tc, "bindings");
	j = jsonata_compile(expr, 0, &err);
	if (j)
		rc = jsonata_eval(j, data, bindings, &out, &err);
	if (json_object_get(tc, "code") || json_object_get(tc, "error")) {
		const char *want = json_string_value(json_object_get(tc, "code"));

		if (!want)
			want = json_string_value(json_object_get(json_object_get(tc, "error"), "code"));
		ok = (!j || rc != 0) && want && !strcmp(err.code, want);
	} else if (!j || rc != 0) {
		ok = 0;
	} else if (json_is_true(json_object_get(tc, "undefinedResult"))) {
		ok = out == NULL;
	} else if (json_object_get(tc, "result")) {
		ok = out && same(out, json_object_get(tc, "result"));
	}
	if (s->only) {
		char *got = out ? json_dumps(out, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
		char *want = json_dumps(tc, JSON_COMPACT);

		printf("%s %s\n  expr: %s\n  case: %.600s\n  got: %s  err: %s %ld %s\n", ok ? "PASS" : "FAIL", id, expr,
		       want, got ? got : "undefined", err.code, err.position, (!j || rc) ? err.message : "");
		free(got);
		free(want);
	}
	json_decref(out);
	json_decref(data);
	jsonata_free(j);
	free(expr_buf);
	return ok;
}

static void record(struct suite *s, const char *id, int ok, int *gpass, int *gtotal)
{
	bool known = known_has(&s->known, id);

	(*gtotal)++;
	if (!s->extra) {
		s->case_total++;
		s->case_pass += ok;
	}
	if (ok) {
		(*gpass)++;
		s->pass++;
		if (known) {
			s->fixed++;
			printf("note: %s passes now; take it off tests/jsonata_known_failures.txt\n", id);
		}
		return;
	}
	if (s->write_known)
		fprintf(s->write_known, "%s\n", id);
	if (known) {
		s->known_fail++;
	} else {
		s->fail++;
		fprintf(stderr, "jsonata suite: %s fails (not on the known-failure list)\n", id);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **list_dir(const char *dir, int *ret_n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL;
	int n = 0;

	if (!d) {
		*ret_n = 0;
		return NULL;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		v = realloc(v, sizeof(*v) * (size_t)(n + 1));
		v[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(v, (size_t)n, sizeof(*v), cmp_str);
	*ret_n = n;
	return v;
}

static void suite(void)
{
	static const char *roots[] = { "../shared/conformance/jsonata", "../../shared/conformance/jsonata" };
	struct suite s = { 0 };
	char dir[4200];
	const char *env = getenv("STEPFS_CONFORMANCE");
	char envroot[4096];
	char **groups;
	int ngroups;
	struct stat st;

	if (env) {
		snprintf(envroot, sizeof(envroot), "%s/jsonata", env);
		s.root = envroot;
	} else {
		for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
			snprintf(dir, sizeof(dir), "%s/groups", roots[i]);
			if (stat(dir, &st) == 0) {
				s.root = roots[i];
				break;
			}
		}
	}
	snprintf(dir, sizeof(dir), "%s/groups", s.root ? s.root : ".");
	if (!s.root || stat(dir, &st) != 0) {
		printf("jsonata suite: not found (../shared/conformance/jsonata), skipped\n");
		return;
	}
	known_load(&s.known);
	s.only = getenv("JSONATA_CASE");
	if (getenv("JSONATA_WRITE_KNOWN"))
		s.write_known = fopen(getenv("JSONATA_WRITE_KNOWN"), "w");
	groups = list_dir(dir, &ngroups);
	for (int g = 0; g < ngroups; g++) {
		char gdir[8400];
		char **files;
		int nfiles, gpass = 0, gtotal = 0;

		snprintf(gdir, sizeof(gdir), "%s/%s", dir, groups[g]);
		files = list_dir(gdir, &nfiles);
		for (int f = 0; f < nfiles; f++) {
			char path[8800], id[512], *dot;
			json_t *doc;

			if (!(dot = strstr(files[f], ".json")) || dot[5])
				goto next;
			s.extra = strncmp(files[f], "case", 4) != 0;
			snprintf(path, sizeof(path), "%s/%s", gdir, files[f]);
			doc = json_load_file(path, 0, NULL);
			if (json_is_array(doc)) {
				for (size_t i = 0; i < json_array_size(doc); i++) {
					snprintf(id, sizeof(id), "%s/%.*s[%zu]", groups[g], (int)(dot - files[f]), files[f], i);
					if (s.only && !strstr(id, s.only))
						continue;
					record(&s, id, run_case(&s, gdir, json_array_get(doc, i), id), &gpass, &gtotal);
				}
			} else if (doc) {
				snprintf(id, sizeof(id), "%s/%.*s", groups[g], (int)(dot - files[f]), files[f]);
				if (!s.only || strstr(id, s.only))
					record(&s, id, run_case(&s, gdir, doc, id), &gpass, &gtotal);
			}
			json_decref(doc);
next:
			free(files[f]);
		}
		free(files);
		if (gtotal)
			printf("jsonata suite: %-32s %4d/%d\n", groups[g], gpass, gtotal);
		free(groups[g]);
	}
	free(groups);
	printf("jsonata suite: case*.json %d/%d pass; with the other test files %d/%d (%d known failures still failing, %d known now pass, %d new failures)\n",
	       s.case_pass, s.case_total, s.pass, s.pass + s.fail + s.known_fail, s.known_fail, s.fixed, s.fail);
	CHECK_INT_EQ(s.fail, 0);
	if (s.write_known)
		fclose(s.write_known);
	for (int i = 0; i < s.known.n; i++)
		free(s.known.ids[i]);
	free(s.known.ids);
	free(s.known.seen);
}

int main(void)
{
	if (!getenv("JSONATA_CASE")) {
		hand_written();
		threads();
	}
	suite();
	return TEST_DONE();
}
