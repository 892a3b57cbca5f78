#ifndef PNB_CLI_CLI_H
#define PNB_CLI_CLI_H

#include <stdio.h>

/*
 * A subcommand: `pinetboot NAME ARGS...`.  @run gets argv with argv[0] set
 * to the subcommand's name and returns the process exit status: 0 for
 * success, 1 for a failure while running, 2 for a usage error.
 */
struct cli_cmd {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

/* The table main() dispatches on; defined in main.c. */
extern const struct cli_cmd cli_cmds[];

int cli_serve(int argc, char **argv);
int cli_image(int argc, char **argv);
int cli_client(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_doctor(int argc, char **argv);
int cli_demo(int argc, char **argv);

/*
 * cli_usage_error() - print "pinetboot CMD: MESSAGE" and a hint to run
 * --help, to stderr.
 * Return: 2, the exit status for usage errors.
 */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

struct cfg;

/*
 * cli_read_config() - apply the config file @path to @c (sections and
 * keys of docs/config.md).
 * Return: 0, or a negative code with @msg saying "FILE:LINE: why".
 */
int cli_read_config(const char *path, struct cfg *c, char *msg, size_t msglen);

#endif
