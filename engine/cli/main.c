/* SPDX-License-Identifier: MIT */
/* asymcache-engine: the reference inference process on asymcached's pool. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} cmds[] = {
	{ "generate", cli_generate_main, "generate from one prompt or chat" },
	{ "replay", cli_replay_main, "serve a trace of timed requests, with figures" },
	{ "tokenize", cli_tokenize_main, "chats to a replay trace of token ids" },
};

int main(int argc, char **argv)
{
	size_t i;

	if (argc >= 2)
		for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
			if (!strcmp(argv[1], cmds[i].name))
				return cmds[i].fn(argc - 1, argv + 1);
	fprintf(argc >= 2 && strcmp(argv[1], "--help") ? stderr : stdout,
		"Usage: asymcache-engine COMMAND [OPTIONS]\n\nCommands:\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		printf("  %-10s %s\n", cmds[i].name, cmds[i].help);
	return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
}
