/* The shutdown modes a host may name, the same on Linux (power.c) and Windows
 * (win32/commands-power-win32.c): one table, one parser, one error text. */
#include "power.h"
#include "qa-error.h"

/* indexed by QaPowerMode */
static const gchar *const qa_power_mode_names[] = {
    [QA_POWER_MODE_POWERDOWN] = "powerdown",
    [QA_POWER_MODE_HALT] = "halt",
    [QA_POWER_MODE_REBOOT] = "reboot",
};

gboolean
qa_power_mode_parse(const gchar *text, QaPowerMode *out_mode, GError **error)
{
	if (text == NULL) {
		*out_mode = QA_POWER_MODE_POWERDOWN;
		return TRUE;
	}
	for (guint i = 0; i < G_N_ELEMENTS(qa_power_mode_names); i++) {
		if (g_strcmp0(text, qa_power_mode_names[i]) == 0) {
			*out_mode = (QaPowerMode)i;
			return TRUE;
		}
	}
	g_set_error(error,
		    QA_SYSTEM_ERROR,
		    QA_SYSTEM_ERROR_INVALID,
		    "Mode '%s' is invalid; valid values are: halt, powerdown, reboot",
		    text);
	return FALSE;
}

const gchar *
qa_power_mode_to_string(QaPowerMode mode)
{
	g_return_val_if_fail(mode < G_N_ELEMENTS(qa_power_mode_names), NULL);
	return qa_power_mode_names[mode];
}
