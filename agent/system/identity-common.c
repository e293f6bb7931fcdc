/* The structs of identity.h, the same on Linux (identity.c) and Windows
 * (win32/identity-win32.c), so freed in one place that both builds compile. */
#include "identity.h"

void
qa_identity_os_info_free(QaIdentityOsInfo *info)
{
	if (info == NULL)
		return;
	g_free(info->kernel_release);
	g_free(info->kernel_version);
	g_free(info->machine);
	g_free(info->id);
	g_free(info->name);
	g_free(info->pretty_name);
	g_free(info->version);
	g_free(info->version_id);
	g_free(info->variant);
	g_free(info->variant_id);
	g_free(info);
}

void
qa_identity_user_free(QaIdentityUser *user)
{
	if (user == NULL)
		return;
	g_free(user->name);
	g_free(user->domain);
	g_free(user);
}
