/* Unit tests for engine/mapio.c: the ItemReader's CSV, JSON and JSONL parsers. */
#include "engine/mapio.h"

#include <string.h>

#include "tests/harness.h"

static char *csv(const char *text, const struct mapio_csv_opts *o, size_t max, char *cause)
{
	json_t *v = NULL;
	char *s;

	cause[0] = '\0';
	if (mapio_parse_csv(text, strlen(text), o, max, &v, cause, 256) < 0)
		return NULL;
	s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(v);
	return s;
}

#define CSV_EQ(text, o, max, want)                                  \
	do {                                                        \
		char cause_[256], *got_ = csv(text, o, max, cause_); \
		CHECK_STR_EQ(got_ ? got_ : cause_, want);           \
		free(got_);                                         \
	} while (0)

int main(void)
{
	struct mapio_csv_opts o = MAPIO_CSV_OPTS_INIT;
	char cause[256];
	json_t *v = NULL, *hdr;

	/* header row, short and long records, trailing newline */
	CSV_EQ("a,b\n1,2\n3\n4,5,6\n", NULL, 0,
	       "[{\"a\":\"1\",\"b\":\"2\"},{\"a\":\"3\",\"b\":\"\"},{\"a\":\"4\",\"b\":\"5\"}]");
	/* no final line break, CRLF, empty lines skipped */
	CSV_EQ("a,b\r\n1,2\r\n\r\n3,4", NULL, 0,
	       "[{\"a\":\"1\",\"b\":\"2\"},{\"a\":\"3\",\"b\":\"4\"}]");
	/* quotes: delimiter, doubled quote, embedded CRLF and LF, empty quoted field */
	CSV_EQ("a,b\n\"x,y\",\"say \"\"hi\"\"\"\n\"l1\r\nl2\nl3\",\"\"\n", NULL, 0,
	       "[{\"a\":\"x,y\",\"b\":\"say \\\"hi\\\"\"},{\"a\":\"l1\\r\\nl2\\nl3\",\"b\":\"\"}]");
	/* spaces are data; an empty field at the end; a lone CR inside is data */
	CSV_EQ("a,b\n   ,\nx\ry,z\n", NULL, 0,
	       "[{\"a\":\"   \",\"b\":\"\"},{\"a\":\"x\\ry\",\"b\":\"z\"}]");
	/* MaxItems */
	CSV_EQ("a\n1\n2\n3\n", NULL, 2, "[{\"a\":\"1\"},{\"a\":\"2\"}]");
	/* an empty header name */
	CSV_EQ("H1,\nv4,v5,v6\n", NULL, 0, "[{\"\":\"v5\",\"H1\":\"v4\"}]");
	/* errors */
	CSV_EQ("a,a\n1,2\n", NULL, 0, "CSV headers cannot contain duplicates.");
	CSV_EQ("a\n\"open\n", NULL, 0, "CSV line 2: a quoted field is not closed");
	CSV_EQ("a\n\"x\"y\"\n", NULL, 0, "CSV line 2: unexpected '\"' after a quoted field");
	CSV_EQ("", NULL, 0, "CSV object is empty: no header row");
	/* GIVEN headers, duplicates among them, other delimiters */
	hdr = json_pack("[s,s]", "H1", "H2");
	o.headers = hdr;
	CSV_EQ("1,2\n3,4\n", &o, 0, "[{\"H1\":\"1\",\"H2\":\"2\"},{\"H1\":\"3\",\"H2\":\"4\"}]");
	json_decref(hdr);
	hdr = json_pack("[s,s]", "H1", "H1");
	o.headers = hdr;
	CSV_EQ("1,2\n", &o, 0, "CSV headers cannot contain duplicates.");
	json_decref(hdr);
	o.headers = NULL;
	o.delimiter = mapio_csv_delimiter("PIPE");
	CSV_EQ("a|b\n1,x|\"2|3\"\n", &o, 0, "[{\"a\":\"1,x\",\"b\":\"2|3\"}]");
	o.delimiter = mapio_csv_delimiter("TAB");
	CSV_EQ("a\tb\n1\t2\n", &o, 0, "[{\"a\":\"1\",\"b\":\"2\"}]");
	CHECK_INT_EQ(mapio_csv_delimiter("SEMICOLON"), ';');
	CHECK_INT_EQ(mapio_csv_delimiter("SPACE"), ' ');
	CHECK_INT_EQ(mapio_csv_delimiter("COMMA"), ',');
	CHECK_INT_EQ(mapio_csv_delimiter("comma"), 0);

	/* JSON */
	CHECK_INT_EQ(mapio_parse_json("[1,{\"a\":2},\"x\"]", 15, 2, &v, cause, sizeof(cause)), 0);
	CHECK_INT_EQ(json_array_size(v), 2);
	json_decref(v);
	v = NULL;
	CHECK_INT_EQ(mapio_parse_json("{\"Hello\":1}", 11, 0, &v, cause, sizeof(cause)), -1);
	CHECK_STR_EQ(cause, "Attempting to map over non-iterable node.");
	CHECK_INT_EQ(mapio_parse_json("[1,", 3, 0, &v, cause, sizeof(cause)), -1);
	CHECK(strstr(cause, "not valid JSON") != NULL);
	CHECK(v == NULL);

	/* JSONL */
	{
		const char *t = "{\"a\":1}\r\n\n  [2]\n\"s\"";

		CHECK_INT_EQ(mapio_parse_jsonl(t, strlen(t), 0, &v, cause, sizeof(cause)), 0);
		CHECK_INT_EQ(json_array_size(v), 3);
		CHECK_STR_EQ(json_string_value(json_array_get(v, 2)), "s");
		json_decref(v);
		CHECK_INT_EQ(mapio_parse_jsonl(t, strlen(t), 1, &v, cause, sizeof(cause)), 0);
		CHECK_INT_EQ(json_array_size(v), 1);
		json_decref(v);
		t = "{\"a\":1}\n{oops}\n";
		CHECK_INT_EQ(mapio_parse_jsonl(t, strlen(t), 0, &v, cause, sizeof(cause)), -1);
		CHECK(strstr(cause, "JSONL line 2") != NULL);
	}
	return TEST_DONE();
}
