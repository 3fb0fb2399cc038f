/* SPDX-License-Identifier: GPL-2.0 */
/* The vmaquery tool: shared declarations of its subcommands. */
#ifndef VMAQUERY_TOOL_H
#define VMAQUERY_TOOL_H

#include <stdbool.h>
#include <stdio.h>

#include "../../libvmaquery/vmaquery.h"

/* Exit statuses, as vmaquery(1) documents them. */
#define EXIT_OK 0
#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

/* Output forms: text, one JSON document (-j, -p), JSON Lines. */
enum json_mode { JSON_OFF, JSON_DOC, JSON_LINES };

struct tool {
	const char *cmd;		/* subcommand name, for messages */
	enum vmaq_backend backend;	/* --backend, AUTO if not given */
	enum json_mode json;		/* -j, -p, --json-lines */
	bool pretty;			/* -p */
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
 * A pidfd for @pid (Linux 5.3), or -1: a handle opened through it with
 * tool_open_pidfd() is of that very process, and opening it again after
 * an exec gives the new image, never another process that got its pid.
 */
int tool_pidfd(pid_t pid);
int tool_open_pidfd(const struct tool *t, pid_t pid, int pidfd, struct vmaq_proc **p);

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

/* A VMA's fields: their names are the JSON keys of every command. */
enum vma_field { F_START, F_END, F_SIZE, F_PERMS, F_OFFSET, F_DEV, F_INODE,
		 F_NAME, F_BUILD_ID, F_MAX };
extern const char *const vma_field_names[F_MAX];

/* A JSON writer: separators, and indentation when pretty. */
struct jw {
	FILE *f;
	bool pretty;
	int depth;
	bool first;		/* the open container has nothing in it yet */
	bool after_key;		/* a key was written: its value comes next */
};

void jw_init(struct jw *w, FILE *f, bool pretty);
void jw_open(struct jw *w, char c);
void jw_close(struct jw *w, char c);
void jw_key(struct jw *w, const char *k);
void jw_str(struct jw *w, const char *s);
void jw_hex(struct jw *w, uint64_t v);
void jw_u64(struct jw *w, uint64_t v);
void jw_bool(struct jw *w, bool v);
void jw_printf(struct jw *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void jw_build_id(struct jw *w, const struct vmaq_vma *v);
void jw_vma_field(struct jw *w, const struct vmaq_vma *v, enum vma_field k);
/* Every field of v, build_id only if asked. */
void jw_vma(struct jw *w, const struct vmaq_vma *v, bool build_id);

/*
 * A command's JSON output: in JSON_DOC mode one array, opened by
 * jout_begin() and closed by jout_end(); in JSON_LINES mode one object a
 * line. jout_item() starts an object, written to @f (stdout or a buffer
 * that goes to stdout in order).
 */
struct jout {
	enum json_mode mode;
	struct jw w;
};

void jout_begin(struct jout *o, enum json_mode mode, bool pretty);
void jout_item(struct jout *o, FILE *f);
void jout_item_end(struct jout *o);
void jout_end(struct jout *o);

/*
 * The JSON options every command takes: 1 if @c was one of them (and is
 * now in t), 0 if not, or EXIT_USAGE.
 */
int json_opt(struct tool *t, int c);
#define OPT_JSON_LINES 0x1ff
#define JSON_OPTS \
	{ "json", no_argument, NULL, 'j' }, \
	{ "pretty", no_argument, NULL, 'p' }, \
	{ "json-lines", no_argument, NULL, OPT_JSON_LINES }
#define JSON_HELP \
"  -j, --json          one JSON document (an array of objects)\n" \
"  -p, --pretty        the same, indented\n" \
"      --json-lines    one JSON object per line, each flushed (streaming)\n"

/* From /proc/PID/stat: field @n (1-based, as in proc(5)); -errno. */
int proc_stat_field(pid_t pid, int n, unsigned long long *val);

int cmd_maps(struct tool *t, int argc, char **argv);
int cmd_find(struct tool *t, int argc, char **argv);
int cmd_pmap(struct tool *t, int argc, char **argv);
int cmd_info(struct tool *t, int argc, char **argv);
int cmd_watch(struct tool *t, int argc, char **argv);
int cmd_bench(struct tool *t, int argc, char **argv);

#endif /* VMAQUERY_TOOL_H */
