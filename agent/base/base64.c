#include "base64.h"

#include <string.h>
#ifdef G_OS_WIN32
#include <windows.h>
#endif

#include "qa-error.h"

static gboolean
qa_base64_is_alphabet(gchar c)
{
	return g_ascii_isalnum(c) || c == '+' || c == '/';
}

/* a memset() the compiler may not drop as a dead store */
static void
qa_base64_wipe(gchar *buf, gsize len)
{
#ifdef G_OS_WIN32
	SecureZeroMemory(buf, len);
#else
	explicit_bzero(buf, len);
#endif
}

guint8 *
qa_base64_decode(const gchar *text, gsize *out_len, GError **error)
{
	g_autofree gchar *compact = g_new(gchar, strlen(text) + 1);
	gsize n = 0;
	gsize n_pad = 0;
	guchar *bytes;
	gsize len = 0;

	for (const gchar *p = text; *p != '\0'; p++) {
		if (*p == '\n' || *p == '\r')
			continue;
		if (*p == '=' && n_pad < 2) {
			n_pad++;
		} else if (!qa_base64_is_alphabet(*p) || n_pad > 0) {
			g_set_error(error,
				    QA_SYSTEM_ERROR,
				    QA_SYSTEM_ERROR_INVALID,
				    "Invalid base64 data: character %s%c%s (0x%02x) at offset %zu; "
				    "expected A-Z, a-z, 0-9, '+', '/', '=' padding at the end, and "
				    "line ends",
				    g_ascii_isprint(*p) ? "'" : "",
				    g_ascii_isprint(*p) ? *p : '?',
				    g_ascii_isprint(*p) ? "'" : "",
				    (guint)(guchar)*p,
				    (gsize)(p - text));
			return NULL;
		}
		compact[n++] = *p;
	}
	compact[n] = '\0';
	if (n % 4 == 1) {
		g_set_error(error,
			    QA_SYSTEM_ERROR,
			    QA_SYSTEM_ERROR_INVALID,
			    "Invalid base64 data: %zu characters cannot be whole bytes; expected a "
			    "multiple of 4 (with '=' padding)",
			    n);
		return NULL;
	}
	bytes = g_base64_decode(compact, &len);
	/* what is decoded here is often a password: no copy of it is left in freed memory */
	qa_base64_wipe(compact, n);
	/* g_base64_decode() gives NULL for an empty text: that is zero bytes, not an error */
	if (bytes == NULL) {
		bytes = g_new0(guchar, 1);
	} else {
		bytes = g_realloc(bytes, len + 1);
		bytes[len] = '\0';
	}
	*out_len = len;
	return bytes;
}
