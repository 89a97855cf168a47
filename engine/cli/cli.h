/* SPDX-License-Identifier: MIT */
#ifndef AC_ENGINE_CLI_H
#define AC_ENGINE_CLI_H

int cli_generate_main(int argc, char **argv);

#endif
