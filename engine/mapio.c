/*
 * mapio: CSV (RFC 4180), JSON and JSON Lines item parsers for the Map
 * ItemReader. See mapio.h for the rules.
 */
#include "engine/mapio.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/buf.h"

char mapio_csv_delimiter(const char *name)
{
	static const struct {
		const char *name;
		char c;
	} names[] = { { "COMMA", ',' }, { "PIPE", '|' }, { "SEMICOLON", ';' },
		      { "SPACE", ' ' }, { "TAB", '\t' } };
	size_t i;

	for (i = 0; name && i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(name, names[i].name))
			return names[i].c;
	return 0;
}

/* A CSV reader over [p, end): one record at a time. */
struct csv {
	const char *p, *end;
	char delim;
	unsigned line;       /* line of the next character (1-based) */
	struct buf field;
};

/*
 * Read one record into @rec (an array of strings, replaced). Returns 1 for a
 * record, 0 at the end, -1 with @cause on a quoting error, -ENOMEM.
 */
static int csv_record(struct csv *c, json_t *rec, char *cause, size_t causelen)
{
	unsigned start = c->line;
	bool quoted, any = false;

	json_array_clear(rec);
	if (c->p >= c->end)
		return 0;
	for (;;) {
		buf_reset(&c->field);
		quoted = false;
		if (c->p < c->end && *c->p == '"') {
			quoted = true;
			c->p++;
			for (;;) {
				if (c->p >= c->end) {
					snprintf(cause, causelen,
						 "CSV line %u: a quoted field is not closed", start);
					return -1;
				}
				if (*c->p == '"') {
					if (c->p + 1 < c->end && c->p[1] == '"') {
						if (buf_putc(&c->field, '"') < 0)
							return -ENOMEM;
						c->p += 2;
						continue;
					}
					c->p++;
					break;
				}
				if (*c->p == '\n')
					c->line++;
				if (buf_putc(&c->field, *c->p++) < 0)
					return -ENOMEM;
			}
		}
		/* unquoted text (or what follows a closing quote, kept as written) */
		while (c->p < c->end && *c->p != c->delim && *c->p != '\n' &&
		       !(*c->p == '\r' && (c->p + 1 == c->end || c->p[1] == '\n'))) {
			if (quoted && *c->p == '"') {
				snprintf(cause, causelen,
					 "CSV line %u: unexpected '\"' after a quoted field", c->line);
				return -1;
			}
			if (buf_putc(&c->field, *c->p++) < 0)
				return -ENOMEM;
		}
		if (c->field.len || quoted || any || (c->p < c->end && *c->p == c->delim)) {
			if (json_array_append_new(rec, json_stringn(c->field.data, c->field.len)) < 0)
				return -ENOMEM;
		}
		any = true;
		if (c->p < c->end && *c->p == c->delim) {
			c->p++;
			continue;
		}
		/* end of record */
		if (c->p < c->end && *c->p == '\r')
			c->p++;
		if (c->p < c->end && *c->p == '\n') {
			c->p++;
			c->line++;
		}
		return 1;
	}
}

int mapio_parse_csv(const char *data, size_t len, const struct mapio_csv_opts *o,
		    size_t max_items, json_t **ret, char *cause, size_t causelen)
{
	struct csv c = { data, data + len, o && o->delimiter ? o->delimiter : ',', 1,
			 BUF_INIT_CAP((size_t)1 << 30) };
	json_t *headers = NULL, *rec = json_array(), *out = json_array(), *v;
	size_t i, j;
	int r = -ENOMEM;

	if (!rec || !out)
		goto fail;
	/* a UTF-8 byte order mark is not part of the first header */
	if (len >= 3 && !memcmp(data, "\xef\xbb\xbf", 3))
		c.p += 3;
	if (o && o->headers) {
		headers = json_incref(o->headers);
	} else {
		do {
			r = csv_record(&c, rec, cause, causelen);
		} while (r == 1 && json_array_size(rec) == 0);
		if (r < 0)
			goto fail;
		if (r == 0) {
			snprintf(cause, causelen, "CSV object is empty: no header row");
			r = -1;
			goto fail;
		}
		headers = json_copy(rec);
		if (!headers) {
			r = -ENOMEM;
			goto fail;
		}
	}
	for (i = 0; i < json_array_size(headers); i++) {
		if (!json_is_string(json_array_get(headers, i))) {
			snprintf(cause, causelen, "CSV header %zu is not a string", i);
			r = -1;
			goto fail;
		}
		for (j = 0; j < i; j++)
			if (json_equal(json_array_get(headers, i), json_array_get(headers, j))) {
				snprintf(cause, causelen, "CSV headers cannot contain duplicates.");
				r = -1;
				goto fail;
			}
	}
	while (!max_items || json_array_size(out) < max_items) {
		json_t *item;

		r = csv_record(&c, rec, cause, causelen);
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		if (json_array_size(rec) == 0)
			continue; /* an empty line */
		item = json_object();
		if (!item || json_array_append_new(out, item) < 0) {
			r = -ENOMEM;
			goto fail;
		}
		json_array_foreach(headers, i, v) {
			json_t *f = json_array_get(rec, i);

			if (json_object_set_new(item, json_string_value(v),
						f ? json_incref(f) : json_string("")) < 0) {
				r = -ENOMEM;
				goto fail;
			}
		}
	}
	json_decref(headers);
	json_decref(rec);
	buf_release(&c.field);
	*ret = out;
	return 0;
fail:
	json_decref(headers);
	json_decref(rec);
	json_decref(out);
	buf_release(&c.field);
	return r;
}

static void truncate_items(json_t *a, size_t max_items)
{
	while (max_items && json_array_size(a) > max_items)
		json_array_remove(a, json_array_size(a) - 1);
}

int mapio_parse_json(const char *data, size_t len, size_t max_items, json_t **ret, char *cause,
		     size_t causelen)
{
	json_error_t je;
	json_t *v = json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);

	if (!v) {
		snprintf(cause, causelen, "the object is not valid JSON: line %d column %d: %s",
			 je.line, je.column, je.text);
		return -1;
	}
	if (!json_is_array(v)) {
		json_decref(v);
		snprintf(cause, causelen, "Attempting to map over non-iterable node.");
		return -1;
	}
	truncate_items(v, max_items);
	*ret = v;
	return 0;
}

int mapio_parse_jsonl(const char *data, size_t len, size_t max_items, json_t **ret,
		      char *cause, size_t causelen)
{
	const char *p = data, *end = data + len;
	json_t *out = json_array();
	unsigned line = 0;

	if (!out)
		return -ENOMEM;
	while (p < end && (!max_items || json_array_size(out) < max_items)) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end, *s = p;
		json_error_t je;
		json_t *v;

		line++;
		p = nl ? nl + 1 : end;
		while (s < e && (*s == ' ' || *s == '\t' || *s == '\r'))
			s++;
		if (s == e)
			continue;
		v = json_loadb(s, (size_t)(e - s), JSON_DECODE_ANY, &je);
		if (!v) {
			snprintf(cause, causelen, "JSONL line %u is not valid JSON: column %d: %s",
				 line, je.column, je.text);
			json_decref(out);
			return -1;
		}
		if (json_array_append_new(out, v) < 0) {
			json_decref(out);
			return -ENOMEM;
		}
	}
	*ret = out;
	return 0;
}
