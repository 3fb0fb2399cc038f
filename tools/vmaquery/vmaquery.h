/* SPDX-License-Identifier: GPL-2.0 */
/* The vmaquery tool: shared declarations of its subcommands. */
#ifndef VMAQUERY_TOOL_H
#define VMAQUERY_TOOL_H

#include <stdbool.h>
#include <stdio.h>

#include "../../libvmaquery/vmaquery.h"

/* Exit statuses, as procps and iproute2 use them. */
#define EXIT_OK 0
#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

struct tool {
	const char *cmd;		/* subcommand name, for messages */
	enum vmaq_backend backend;	/* --backend, AUTO if not given */
};

/* Messages: "vmaquery: CMD: ..." on stderr. */
void tool_err(const struct tool *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int tool_usage(const struct tool *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

bool parse_pid(const char *s, pid_t *pid);
bool parse_addr(const char *s, uint64_t *addr);
int parse_backend(const char *s, enum vmaq_backend *b);
int tool_open(const struct tool *t, pid_t pid, struct vmaq_proc **p);
void report_errno(const struct tool *t, pid_t pid, int err);

/*
 * Flush stdout; 0, or -errno after saying "write error" once: a full disk
 * or a reader that went away is a failure of the command (exit 1).
 */
int tool_check_out(const struct tool *t);

/*
 * A name in line-oriented output, escaped as the kernel's maps text
 * escapes it (a newline as \012), so that no name can forge a line.
 */
void put_name(FILE *f, const char *name);
void perms_str(const struct vmaq_vma *v, char out[5]);
void json_str(FILE *f, const char *s);
void json_build_id(FILE *f, const struct vmaq_vma *v);
void hex_build_id(FILE *f, const struct vmaq_vma *v);

int cmd_maps(struct tool *t, int argc, char **argv);
int cmd_find(struct tool *t, int argc, char **argv);
int cmd_pmap(struct tool *t, int argc, char **argv);
int cmd_info(struct tool *t, int argc, char **argv);
int cmd_watch(struct tool *t, int argc, char **argv);
int cmd_bench(struct tool *t, int argc, char **argv);

#endif /* VMAQUERY_TOOL_H */
