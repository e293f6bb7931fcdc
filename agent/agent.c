#include "agent.h"

QaAgent *
qa_agent_new(const QaConfig *config, QaRoots *roots)
{
	QaAgent *agent = g_new0(QaAgent, 1);

	agent->config = config;
	agent->roots = roots;
	return agent;
}

void
qa_agent_free(QaAgent *agent)
{
	if (agent == NULL)
		return;
	qa_roots_free(agent->roots);
	g_free(agent);
}
