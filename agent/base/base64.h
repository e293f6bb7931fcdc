/* Base64 as the guest-agent protocol carries it (passwords, file contents, program input and
 * output). Hosts wrap base64 text in lines (Proxmox encodes with Perl's encode_base64(), which
 * ends every 76 characters and the text with '\n'), so line ends are skipped, as QEMU's agent
 * does; anything else outside the alphabet is refused rather than skipped, because a value
 * that decodes to something other than what the host meant must not be used. */
#pragma once

#include <glib.h>

/* the bytes @text stands for (NUL-terminated for convenience, not counted in @out_len); NULL
 * with @error naming the first offending character and where it is */
guint8 *
qa_base64_decode(const gchar *text, gsize *out_len, GError **error);
