/* The stream splitter: request boundaries in a byte stream with no framing. */
#include <glib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "splitter.h"

/* all events of feeding @input in chunks of @chunk bytes, as "T:<text>" / "LARGE" / "DEEP" */
static gchar *
split(const gchar *input, gsize len, gsize chunk, gsize max_size, guint max_depth)
{
	g_autoptr(QaSplitter) splitter = qa_splitter_new(max_size, max_depth);
	g_autoptr(GString) out = g_string_new(NULL);

	for (gsize pos = 0; pos < len; pos += chunk) {
		const gchar *text;
		gsize text_len;
		QaSplitterEvent event;

		qa_splitter_feed(splitter, (const guint8 *)input + pos, MIN(chunk, len - pos));
		while ((event = qa_splitter_next(splitter, &text, &text_len)) != QA_SPLITTER_NONE) {
			if (event == QA_SPLITTER_TEXT)
				g_string_append_printf(out, "T:%.*s|", (gint)text_len, text);
			else
				g_string_append(
				    out, event == QA_SPLITTER_TOO_LARGE ? "LARGE|" : "DEEP|");
		}
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

static const struct {
	const gchar *input;
	const gchar *expected;
} split_cases[] = {
    {"{\"execute\":\"guest-ping\"}", "T:{\"execute\":\"guest-ping\"}|"},
    {" \n{}\n\n{}  ", "T:{}|T:{}|"},
    {"{\"a\":\"}{\"}{\"b\":\"\\\"}\"}", "T:{\"a\":\"}{\"}|T:{\"b\":\"\\\"}\"}|"},
    {"{'a':'}\\'{'}", "T:{'a':'}\\'{'}|"},
    {"{\"a\":[1,{\"b\":[]}]}[3]", "T:{\"a\":[1,{\"b\":[]}]}|T:[3]|"},
    {"{\"a\":\"it's\"}", "T:{\"a\":\"it's\"}|"},
    {"42 true\n\"str\"", "T:42|T:true|T:\"str\"|"},
    {"}]{}", "T:}|T:]|T:{}|"},
    {"{\"a\":1\xff{\"b\":2}", "T:{\"b\":2}|"},
    {"{\"a\":\"x\xff{\"b\":1}", "T:{\"b\":1}|"},
    {"\xff\xff{}\xff", "T:{}|"},
    {"[[[[[]]]]]", "DEEP|"},
    {"[[[[[]]]]]{}", "DEEP|T:{}|"},
    {"[[[[[[[[{}", "DEEP|"},
    {"[[[[[[[[\xff{}", "DEEP|T:{}|"},
    {"{\"a\":\"0123456789012345678901234567890123456789\"}{}", "LARGE|T:{}|"},
    /* a bare value over the limit is one error, not an error and then an empty text */
    {"012345678901234567890123456789012345678901234567890 {}", "LARGE|T:{}|"},
    {"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{}", "LARGE|T:{}|"},
    {"\"0123456789012345678901234567890123456789\"[]", "LARGE|T:[]|"},
    /* the limit (32 here) is exact: 32 bytes pass, 33 do not, also when the last byte ends it */
    {"{\"a\":\"012345678901234567890123\"}", "T:{\"a\":\"012345678901234567890123\"}|"},
    {"{\"a\":\"0123456789012345678901234\"}{}", "LARGE|T:{}|"},
    {"\"012345678901234567890123456789\" {}", "T:\"012345678901234567890123456789\"|T:{}|"},
    {"\"0123456789012345678901234567890\" {}", "LARGE|T:{}|"},
    {"01234567890123456789012345678901 {}", "T:01234567890123456789012345678901|T:{}|"},
    {"012345678901234567890123456789012 {}", "LARGE|T:{}|"},
};

static void
test_split_cases(void **state)
{
	for (guint i = 0; i < G_N_ELEMENTS(split_cases); i++) {
		const gchar *input = split_cases[i].input;
		gsize len = strlen(input);

		/* every chunking gives the same events: one byte at a time up to all at once */
		for (gsize chunk = 1; chunk <= len; chunk++) {
			g_autofree gchar *got = split(input, len, chunk, 32, 4);
			if (g_strcmp0(got, split_cases[i].expected) != 0)
				fail_msg("case %u chunk %zu: got '%s', expected '%s'",
					 i,
					 chunk,
					 got,
					 split_cases[i].expected);
		}
	}
}

/* splitting a stream at every byte position gives the same values */
static void
test_split_every_position(void **state)
{
	const gchar *stream = "{\"execute\":\"guest-sync\",\"arguments\":{\"id\":1}}"
			      "  {'execute':'guest-ping','id':'}{'}\n[\"\\\\\"]";
	gsize len = strlen(stream);
	g_autofree gchar *whole = split(stream, len, len, 1024, 64);

	assert_string_equal(whole,
			    "T:{\"execute\":\"guest-sync\",\"arguments\":{\"id\":1}}|"
			    "T:{'execute':'guest-ping','id':'}{'}|T:[\"\\\\\"]|");
	for (gsize cut = 1; cut < len; cut++) {
		g_autoptr(QaSplitter) splitter = qa_splitter_new(1024, 64);
		g_autoptr(GString) out = g_string_new(NULL);
		const gchar *text;
		gsize text_len;

		qa_splitter_feed(splitter, (const guint8 *)stream, cut);
		while (qa_splitter_next(splitter, &text, &text_len) == QA_SPLITTER_TEXT)
			g_string_append_printf(out, "T:%.*s|", (gint)text_len, text);
		qa_splitter_feed(splitter, (const guint8 *)stream + cut, len - cut);
		while (qa_splitter_next(splitter, &text, &text_len) == QA_SPLITTER_TEXT)
			g_string_append_printf(out, "T:%.*s|", (gint)text_len, text);
		assert_string_equal(out->str, whole);
	}
}

static void
test_split_reset_drops_partial(void **state)
{
	g_autoptr(QaSplitter) splitter = qa_splitter_new(1024, 64);
	const gchar *text;
	gsize len;

	qa_splitter_feed(splitter, (const guint8 *)"{\"a\":", 5);
	assert_int_equal(qa_splitter_next(splitter, &text, &len), QA_SPLITTER_NONE);
	assert_int_equal(qa_splitter_get_pending(splitter), 5);
	qa_splitter_reset(splitter);
	assert_int_equal(qa_splitter_get_pending(splitter), 0);
	qa_splitter_feed(splitter, (const guint8 *)"{}", 2);
	assert_int_equal(qa_splitter_next(splitter, &text, &len), QA_SPLITTER_TEXT);
	assert_int_equal(len, 2);
}

/* an oversized value is never held in memory, however long it gets */
static void
test_split_large_value_not_buffered(void **state)
{
	g_autoptr(QaSplitter) splitter = qa_splitter_new(1024, 64);
	g_autofree gchar *chunk = g_strnfill(65536, 'a');
	const gchar *text;
	gsize len;

	qa_splitter_feed(splitter, (const guint8 *)"{\"x\":\"", 6);
	qa_splitter_feed(splitter, (const guint8 *)chunk, 65536);
	assert_int_equal(qa_splitter_next(splitter, &text, &len), QA_SPLITTER_TOO_LARGE);
	assert_int_equal(qa_splitter_next(splitter, &text, &len), QA_SPLITTER_NONE);
	for (guint i = 0; i < 100; i++) {
		qa_splitter_feed(splitter, (const guint8 *)chunk, 65536);
		assert_int_equal(qa_splitter_next(splitter, &text, &len), QA_SPLITTER_NONE);
		assert_true(qa_splitter_get_pending(splitter) <= 65536);
	}
	qa_splitter_feed(splitter, (const guint8 *)"\"}{}", 4);
	assert_int_equal(qa_splitter_next(splitter, &text, &len), QA_SPLITTER_TEXT);
	assert_int_equal(len, 2);
}

/* many values in one feed are handed out in linear time (lazy compaction) */
static void
test_split_many_small_values(void **state)
{
	g_autoptr(QaSplitter) splitter = qa_splitter_new(1024, 64);
	g_autoptr(GString) input = g_string_new(NULL);
	const gchar *text;
	gsize len;
	guint n = 0;

	for (guint i = 0; i < 100000; i++)
		g_string_append(input, "{}");
	qa_splitter_feed(splitter, (const guint8 *)input->str, input->len);
	while (qa_splitter_next(splitter, &text, &len) == QA_SPLITTER_TEXT)
		n++;
	assert_int_equal(n, 100000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_split_cases),
	    cmocka_unit_test(test_split_every_position),
	    cmocka_unit_test(test_split_reset_drops_partial),
	    cmocka_unit_test(test_split_large_value_not_buffered),
	    cmocka_unit_test(test_split_many_small_values),
	};
	return cmocka_run_group_tests_name("splitter", tests, NULL, NULL);
}
