// SPDX-License-Identifier: GPL-2.0
/*
 * The subcommands. Each one builds its whole answer for a process in
 * memory and prints it only once it is complete, so a process that exits
 * halfway leaves an error on stderr and nothing misleading on stdout.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmaquery.h"

enum { OPT_BACKEND = 0x100, OPT_JSON, OPT_FILTER, OPT_FIELDS, OPT_NO_NAMES,
       OPT_BUILD_ID, OPT_HELP };

#define COMMON_OPTS \
	{ "backend", required_argument, NULL, OPT_BACKEND }, \
	{ "help", no_argument, NULL, OPT_HELP }

/* Handle an option every subcommand has; -1 if it is not one of them. */
static int common_opt(struct tool *t, int c, const char *help)
{
	switch (c) {
	case OPT_BACKEND:
		if (parse_backend(optarg, &t->backend))
			return tool_usage(t, "unknown backend '%s'", optarg);
		return 0;
	case OPT_HELP:
		fputs(help, stdout);
		return -2;
	default:
		return tool_usage(t, "invalid option");
	}
}

/* Output for one process goes here first. */
struct buf {
	char *data;
	size_t len;
	FILE *f;
};

static int buf_open(struct buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->f = open_memstream(&b->data, &b->len);
	return b->f ? 0 : -errno;
}

/* Print what b holds if @keep; -errno if stdout did not take it. */
static int buf_emit(const struct tool *t, struct buf *b, bool keep)
{
	int err = 0;

	fclose(b->f);
	b->f = NULL;
	if (keep) {
		fwrite(b->data, 1, b->len, stdout);
		err = tool_check_out(t);
	}
	free(b->data);
	return err;
}

/* ------------------------------------------------------------- maps */

static const char maps_help[] =
"Usage: vmaquery maps [OPTIONS] PID...\n"
"Print the memory map of each process. By default the output is the same,\n"
"byte for byte, as /proc/PID/maps.\n\n"
"  --json              one JSON object per VMA and line\n"
"  --filter=LIST       only VMAs with all of: r, w, x, s, file, anon\n"
"  --fields=LIST       columns, in order: start,end,size,perms,offset,dev,\n"
"                      inode,name,build_id (text output: space separated)\n"
"  --no-names          do not ask for names\n"
"  --build-id          add each file's ELF build ID\n"
"  --backend=B         batch, query or text (default: best available)\n";

enum field { F_START, F_END, F_SIZE, F_PERMS, F_OFFSET, F_DEV, F_INODE,
	     F_NAME, F_BUILD_ID, F_MAX };
static const char *const field_names[F_MAX] = {
	"start", "end", "size", "perms", "offset", "dev", "inode", "name",
	"build_id",
};

static int parse_list(struct tool *t, char *s, bool fields, unsigned int *flags,
		      enum field *order, int *norder)
{
	char *tok, *save = NULL;
	int i;

	for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!fields) {
			if (!strcmp(tok, "r"))
				*flags |= VMAQ_READ;
			else if (!strcmp(tok, "w"))
				*flags |= VMAQ_WRITE;
			else if (!strcmp(tok, "x"))
				*flags |= VMAQ_EXEC;
			else if (!strcmp(tok, "s"))
				*flags |= VMAQ_SHARED;
			else if (!strcmp(tok, "file"))
				*flags |= VMAQ_FILE;
			else if (!strcmp(tok, "anon"))
				*flags |= VMAQ_ANON;
			else
				return tool_usage(t, "unknown filter '%s'", tok);
			continue;
		}
		for (i = 0; i < F_MAX; i++)
			if (!strcmp(tok, field_names[i]))
				break;
		if (i == F_MAX)
			return tool_usage(t, "unknown field '%s'", tok);
		if (*norder == F_MAX)
			return tool_usage(t, "too many fields");
		order[(*norder)++] = (enum field)i;
	}
	if (!fields && (*flags & VMAQ_FILE) && (*flags & VMAQ_ANON))
		return tool_usage(t, "filters 'file' and 'anon' exclude each other");
	if (fields && !*norder)
		return tool_usage(t, "empty field list");
	return 0;
}

static void put_field(FILE *f, const struct vmaq_vma *v, enum field k, bool json)
{
	char perms[5];

	switch (k) {
	case F_START:
		fprintf(f, json ? "\"0x%" PRIx64 "\"" : "%" PRIx64, v->start);
		break;
	case F_END:
		fprintf(f, json ? "\"0x%" PRIx64 "\"" : "%" PRIx64, v->end);
		break;
	case F_SIZE:
		fprintf(f, "%" PRIu64, v->end - v->start);
		break;
	case F_PERMS:
		perms_str(v, perms);
		fprintf(f, json ? "\"%s\"" : "%s", perms);
		break;
	case F_OFFSET:
		fprintf(f, json ? "\"0x%" PRIx64 "\"" : "%08" PRIx64, v->offset);
		break;
	case F_DEV:
		fprintf(f, json ? "\"%02x:%02x\"" : "%02x:%02x", v->dev_major,
			v->dev_minor);
		break;
	case F_INODE:
		fprintf(f, "%" PRIu64, v->inode);
		break;
	case F_NAME:
		if (json)
			json_str(f, v->name);
		else if (v->name)
			put_name(f, v->name);
		else
			fputc('-', f);
		break;
	case F_BUILD_ID:
		if (json)
			json_build_id(f, v);
		else if (v->build_id_size)
			hex_build_id(f, v);
		else
			fputc('-', f);
		break;
	case F_MAX:
		break;
	}
}

/* One walk of p into b->f; -EAGAIN if the map changed under it. */
static int maps_walk(struct vmaq_proc *p, pid_t pid, unsigned int flags,
		     bool json, const enum field *order, int norder,
		     struct buf *b)
{
	struct vmaq_iter *it;
	const struct vmaq_vma *v;
	int err, i;

	err = vmaq_iter_new(p, flags, &it);
	if (err)
		return err;
	while ((err = vmaq_iter_next(it, &v)) > 0) {
		if (json) {
			fprintf(b->f, "{\"pid\":%d", (int)pid);
			for (i = 0; i < norder; i++) {
				fprintf(b->f, ",\"%s\":", field_names[order[i]]);
				put_field(b->f, v, order[i], true);
			}
			fputs("}\n", b->f);
		} else if (norder) {
			for (i = 0; i < norder; i++) {
				if (i)
					fputc(' ', b->f);
				put_field(b->f, v, order[i], false);
			}
			fputc('\n', b->f);
		} else {
			char line[512], *big;
			int n = vmaq_format(v, line, sizeof(line));

			if (n < (int)sizeof(line)) {
				fwrite(line, 1, (size_t)n, b->f);
				continue;
			}
			/* a long path, or one whose newlines print as \012 */
			big = malloc((size_t)n + 1);
			if (!big) {
				err = -ENOMEM;
				break;
			}
			vmaq_format(v, big, (size_t)n + 1);
			fwrite(big, 1, (size_t)n, b->f);
			free(big);
		}
	}
	vmaq_iter_free(it);
	return err;
}

/* walks of a map that keeps changing under them, before giving up */
#define MAPS_TRIES 8

/*
 * One process's map: 0, -errno after saying why (the process), or
 * -EPIPE when stdout failed (said too: nothing more can be written).
 */
static int maps_one(struct tool *t, pid_t pid, unsigned int flags, bool json,
		    const enum field *order, int norder, bool header)
{
	struct vmaq_proc *p;
	struct buf b = { 0 };
	int err, tries = 0;

	err = tool_open(t, pid, &p);
	if (err)
		return err;
	for (;;) {
		err = buf_open(&b);
		if (err)
			break;
		if (header)
			fprintf(b.f, "==> %d <==\n", (int)pid);
		err = maps_walk(p, pid, flags, json, order, norder, &b);
		/* a record overlapped the one before it: walk again */
		if (err != -EAGAIN || ++tries == MAPS_TRIES)
			break;
		buf_emit(t, &b, false);
	}
	if (err < 0)
		report_errno(t, pid, -err);
	if (b.f && buf_emit(t, &b, err == 0))
		err = -EPIPE;
	vmaq_close(p);
	return err;
}

int cmd_maps(struct tool *t, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTS,
		{ "json", no_argument, NULL, OPT_JSON },
		{ "filter", required_argument, NULL, OPT_FILTER },
		{ "fields", required_argument, NULL, OPT_FIELDS },
		{ "no-names", no_argument, NULL, OPT_NO_NAMES },
		{ "build-id", no_argument, NULL, OPT_BUILD_ID },
		{ NULL, 0, NULL, 0 },
	};
	enum field order[F_MAX];
	unsigned int flags = VMAQ_NAME;
	int c, i, err, norder = 0, failed = 0;
	bool json = false, names = true, bid = false;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int r = 0;

		switch (c) {
		case OPT_JSON:
			json = true;
			break;
		case OPT_FILTER:
			r = parse_list(t, optarg, false, &flags, order, &norder);
			break;
		case OPT_FIELDS:
			r = parse_list(t, optarg, true, &flags, order, &norder);
			break;
		case OPT_NO_NAMES:
			names = false;
			break;
		case OPT_BUILD_ID:
			bid = true;
			break;
		default:
			r = common_opt(t, c, maps_help);
			if (r == -2)
				return EXIT_OK;
		}
		if (r)
			return r;
	}
	if (optind >= argc)
		return tool_usage(t, "no PID given");
	for (i = optind; i < argc; i++) {
		pid_t pid;

		if (!parse_pid(argv[i], &pid))
			return tool_usage(t, "invalid pid '%s'", argv[i]);
	}
	if (!names)
		flags &= ~VMAQ_NAME;
	if (bid)
		flags |= VMAQ_BUILD_ID;
	if (!norder && (json || bid)) {
		for (i = 0; i < F_MAX; i++)
			if ((i != F_NAME || names) && (i != F_BUILD_ID || bid))
				order[norder++] = (enum field)i;
	}
	for (i = optind; i < argc; i++) {
		pid_t pid;

		parse_pid(argv[i], &pid);
		err = maps_one(t, pid, flags, json, order, norder,
			       !json && argc - optind > 1);
		if (err == -EPIPE)
			return EXIT_RUNTIME;
		if (err)
			failed = 1;
	}
	return failed ? EXIT_RUNTIME : EXIT_OK;
}

/* ------------------------------------------------------------- find */

static const char find_help[] =
"Usage: vmaquery find [OPTIONS] PID [ADDR...]\n"
"       vmaquery find [OPTIONS] < LINES\n"
"For each address (hexadecimal, one 0x optional), print the VMA that covers\n"
"it, the file offset it corresponds to, the path and build ID, or\n"
"'unmapped'. Addresses given as arguments are resolved in one batch. With\n"
"no ADDR, or where ADDR is -, standard input is read one line per address,\n"
"and the lines there when it would have to wait are answered, and\n"
"flushed, first: find can serve as a co-process. Without PID each line is\n"
"'PID ADDR' and each answer starts with the pid. A line that is not an\n"
"address is answered 'invalid'; the others go on, and the exit status is 1.\n\n"
"  --json              one JSON object per address and line\n"
"  --build-id          add the ELF build ID of each file\n"
"  --backend=B         batch, query or text (default: best available)\n";

/* One address to answer, in input order. */
struct query {
	unsigned long line;	/* of standard input; 0: an argument */
	pid_t pid;
	uint64_t addr;
	bool valid;
};

/* Processes a find keeps open at once. */
#define FIND_OPEN 32

struct find {
	struct tool *t;
	unsigned int flags;
	bool json, pids;	/* pids: input lines are "PID ADDR" */
	pid_t pid;		/* the PID argument, if !pids */
	struct query *q;
	size_t n, cap;
	uint64_t *addrs;	/* one pid's run of q, for vmaq_lookup() */
	size_t acap;
	/*
	 * The processes asked about last, kept open for the next lines
	 * (a profiler's stream interleaves a few), or the error that
	 * opening one gave, said once; the least recently used goes.
	 */
	struct find_open {
		pid_t pid;	/* 0: a free slot */
		struct vmaq_proc *proc;
		int err;
		unsigned long used;
	} open[FIND_OPEN];
	unsigned long uses;
	struct vmaq_proc *proc;	/* the handle find_proc() gave last */
	bool failed;		/* an invalid line or an error was answered */
};

static int find_push(struct find *f, unsigned long line, pid_t pid, uint64_t addr, bool valid)
{
	if (f->n == f->cap) {
		size_t ncap = f->cap ? f->cap * 2 : 256;
		struct query *nq = realloc(f->q, ncap * sizeof(*nq));

		if (!nq)
			return -ENOMEM;
		f->q = nq;
		f->cap = ncap;
	}
	f->q[f->n++] = (struct query){ .line = line, .pid = pid, .addr = addr, .valid = valid };
	return 0;
}

/*
 * The handle of @pid into f->proc: the one kept open, or a new one;
 * -errno if it cannot be opened (said once, when first tried, and kept:
 * a process that cannot be read stays so for the stream's lines).
 */
static int find_proc(struct find *f, pid_t pid, bool reopen)
{
	struct find_open *o = &f->open[0];
	size_t i;

	for (i = 0; i < FIND_OPEN; i++) {
		if (f->open[i].pid == pid) {
			o = &f->open[i];
			break;
		}
		if (f->open[i].used < o->used)
			o = &f->open[i];
	}
	o->used = ++f->uses;
	if (o->pid != pid || reopen) {
		vmaq_close(o->proc);
		o->proc = NULL;
		o->pid = pid;
		/* tool_open() says why it could not */
		o->err = tool_open(f->t, pid, &o->proc);
	}
	f->proc = o->proc;
	return o->err;
}

static int find_open_err(const struct find *f, pid_t pid)
{
	for (size_t i = 0; i < FIND_OPEN; i++)
		if (f->open[i].pid == pid)
			return f->open[i].err;
	return 0;
}

static void find_print(const struct find *f, const struct query *q,
		       const struct vmaq_vma *v, int err)
{
	char perms[5];

	if (f->json) {
		fputc('{', stdout);
		if (f->pids && q->valid)
			printf("\"pid\":%d,", (int)q->pid);
		if (!q->valid) {
			printf("\"line\":%lu,\"error\":\"invalid\"}\n", q->line);
			return;
		}
		printf("\"addr\":\"0x%" PRIx64 "\",", q->addr);
		if (err) {
			printf("\"error\":");
			json_str(stdout, strerror(-err));
			fputs("}\n", stdout);
			return;
		}
		if (!v) {
			fputs("\"mapped\":false}\n", stdout);
			return;
		}
		perms_str(v, perms);
		printf("\"mapped\":true,\"start\":\"0x%" PRIx64 "\",\"end\":\"0x%" PRIx64
		       "\",\"perms\":\"%s\",\"file_offset\":\"0x%" PRIx64 "\",\"name\":",
		       v->start, v->end, perms, vmaq_vma_file_offset(v, q->addr));
		json_str(stdout, v->name);
		if (f->flags & VMAQ_BUILD_ID) {
			fputs(",\"build_id\":", stdout);
			json_build_id(stdout, v);
		}
		fputs("}\n", stdout);
		return;
	}
	if (!q->valid) {
		printf("invalid %lu\n", q->line);
		return;
	}
	if (f->pids)
		printf("%d ", (int)q->pid);
	if (err) {
		printf("0x%" PRIx64 " error\n", q->addr);
		return;
	}
	if (!v) {
		printf("0x%" PRIx64 " unmapped\n", q->addr);
		return;
	}
	perms_str(v, perms);
	printf("0x%" PRIx64 " %" PRIx64 "-%" PRIx64 " %s 0x%" PRIx64 " ", q->addr,
	       v->start, v->end, perms, vmaq_vma_file_offset(v, q->addr));
	if (v->name)
		put_name(stdout, v->name);
	else
		fputc('-', stdout);
	if (f->flags & VMAQ_BUILD_ID) {
		fputc(' ', stdout);
		if (v->build_id_size)
			hex_build_id(stdout, v);
		else
			fputc('-', stdout);
	}
	fputc('\n', stdout);
}

/*
 * Answer every query held, in order: each run of one pid's addresses in
 * one vmaq_lookup(), then flush. A handle whose process exec'd (ESRCH) is
 * opened once more: the pid then names the new image.
 */
static int find_answer(struct find *f)
{
	size_t i = 0, j, k;

	while (i < f->n) {
		struct vmaq_lookup *l = NULL;
		int err = 0;

		if (!f->q[i].valid) {
			find_print(f, &f->q[i++], NULL, 0);
			f->failed = true;
			continue;
		}
		for (j = i; j < f->n && f->q[j].valid && f->q[j].pid == f->q[i].pid; j++)
			;
		if (j - i > f->acap) {
			uint64_t *na = realloc(f->addrs, (j - i) * sizeof(*na));

			if (!na)
				return -ENOMEM;
			f->addrs = na;
			f->acap = j - i;
		}
		for (k = i; k < j; k++)
			f->addrs[k - i] = f->q[k].addr;
		/* find_proc() says why it cannot open, once per process */
		err = find_proc(f, f->q[i].pid, false);
		if (!err) {
			err = vmaq_lookup(f->proc, f->addrs, j - i, f->flags, &l);
			if (err == -ESRCH)
				err = find_proc(f, f->q[i].pid, true) ?:
				      vmaq_lookup(f->proc, f->addrs, j - i, f->flags, &l);
			if (err && err != find_open_err(f, f->q[i].pid))
				report_errno(f->t, f->q[i].pid, -err);
		}
		if (err == -ENOMEM)
			return err;
		if (err)
			f->failed = true;
		for (k = i; k < j; k++)
			find_print(f, &f->q[k], l ? vmaq_lookup_vma(l, k - i) : NULL, err);
		vmaq_lookup_free(l);
		i = j;
	}
	f->n = 0;
	return tool_check_out(f->t);
}

/* One line of input, without its newline; NUL bytes make it invalid. */
static int find_line(struct find *f, unsigned long lineno, char *s, size_t len)
{
	char *e = s + len, *sp;
	uint64_t addr = 0;
	pid_t pid = f->pid;
	bool ok;

	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	while (e > s && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (s == e)
		return 0;	/* a blank line asks nothing */
	*e = '\0';
	ok = strlen(s) == (size_t)(e - s);
	if (ok && f->pids) {
		sp = strpbrk(s, " \t");
		ok = sp != NULL;
		if (ok) {
			*sp++ = '\0';
			while (*sp == ' ' || *sp == '\t')
				sp++;
			ok = parse_pid(s, &pid);
			s = sp;
		}
	}
	ok = ok && parse_addr(s, &addr);
	if (!ok)
		tool_err(f->t, "line %lu: not %s", lineno, f->pids ? "PID ADDR" : "an address");
	return find_push(f, lineno, pid, addr, ok);
}

/* Longest line kept; a longer one is invalid and skipped to its end. */
#define FIND_LINE_MAX 4096

/* Most lines answered by one lookup. */
#define FIND_BATCH 65536

/* Whether standard input can be read now without waiting. */
static bool input_waiting(void)
{
	struct pollfd pfd = { .fd = 0, .events = POLLIN };

	return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLIN | POLLHUP));
}

/* Standard input, answered whenever it would have to wait. */
static int find_stream(struct find *f, unsigned long *lineno)
{
	char buf[FIND_LINE_MAX + 1], *p, *nl;
	size_t have = 0;
	bool skipping = false;
	int err = 0;

	for (;;) {
		ssize_t r = read(0, buf + have, FIND_LINE_MAX - have);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			tool_err(f->t, "standard input: %s", strerror(errno));
			f->failed = true;
			break;
		}
		if (r == 0) {
			/* the last line may have no newline */
			if (have && !skipping)
				err = find_line(f, ++*lineno, buf, have);
			break;
		}
		have += (size_t)r;
		p = buf;
		while (!err && (nl = memchr(p, '\n', have - (size_t)(p - buf)))) {
			if (skipping)
				skipping = false;
			else
				err = find_line(f, ++*lineno, p, (size_t)(nl - p));
			p = nl + 1;
		}
		have -= (size_t)(p - buf);
		memmove(buf, p, have);
		if (!err && have == FIND_LINE_MAX) {
			/* a line longer than any address: answered invalid */
			if (!skipping) {
				tool_err(f->t, "line %lu: longer than %d bytes", ++*lineno,
					 FIND_LINE_MAX);
				err = find_push(f, *lineno, 0, 0, false);
			}
			skipping = true;
			have = 0;
		}
		/*
		 * Input that is there already joins the batch (a file: up to
		 * FIND_BATCH lines a lookup); a co-process that waits for its
		 * answer gets it now.
		 */
		if (!err && (f->n >= FIND_BATCH || !input_waiting()))
			err = find_answer(f);
		if (err)
			break;
	}
	if (!err)
		err = find_answer(f);
	return err;
}

int cmd_find(struct tool *t, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTS,
		{ "json", no_argument, NULL, OPT_JSON },
		{ "build-id", no_argument, NULL, OPT_BUILD_ID },
		{ NULL, 0, NULL, 0 },
	};
	struct find f = { .t = t, .flags = VMAQ_NAME };
	unsigned long lineno = 0;
	int c, i, err = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == OPT_JSON) {
			f.json = true;
		} else if (c == OPT_BUILD_ID) {
			f.flags |= VMAQ_BUILD_ID;
		} else {
			int r = common_opt(t, c, find_help);

			if (r)
				return r == -2 ? EXIT_OK : r;
		}
	}
	f.pids = optind >= argc;
	if (f.pids && isatty(0))
		return tool_usage(t, "no PID given (and no 'PID ADDR' lines: standard input is a terminal)");
	if (!f.pids) {
		if (!parse_pid(argv[optind], &f.pid))
			return tool_usage(t, "invalid pid '%s'", argv[optind]);
		/* the whole command line first: a bad address answers nothing */
		for (i = optind + 1; i < argc; i++) {
			uint64_t x;

			if (strcmp(argv[i], "-") && !parse_addr(argv[i], &x))
				return tool_usage(t, "invalid address '%s'", argv[i]);
		}
		/* the process must be there for its arguments to mean anything */
		if (find_proc(&f, f.pid, false))
			return EXIT_RUNTIME;
	}
	if (f.pids || optind + 1 == argc) {
		err = find_stream(&f, &lineno);
	} else {
		for (i = optind + 1; !err && i < argc; i++) {
			uint64_t x;

			if (!strcmp(argv[i], "-")) {
				err = find_answer(&f) ?: find_stream(&f, &lineno);
				continue;
			}
			parse_addr(argv[i], &x);
			err = find_push(&f, 0, f.pid, x, true);
		}
		if (!err)
			err = find_answer(&f);
	}
	if (err == -ENOMEM)
		tool_err(t, "out of memory");
	for (i = 0; i < FIND_OPEN; i++)
		vmaq_close(f.open[i].proc);
	free(f.q);
	free(f.addrs);
	return err || f.failed ? EXIT_RUNTIME : EXIT_OK;
}

/* ------------------------------------------------------------- pmap */

static const char pmap_help[] =
"Usage: vmaquery pmap [OPTIONS] PID\n"
"Summary of a process's mappings, in the style of pmap -d: one line per\n"
"VMA with its size in KiB, then the mapped, writable-private and shared\n"
"totals.\n\n"
"  --backend=B         batch, query or text (default: best available)\n";

int cmd_pmap(struct tool *t, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTS,
		{ NULL, 0, NULL, 0 },
	};
	uint64_t mapped = 0, wpriv = 0, shared = 0;
	struct vmaq_proc *p;
	struct vmaq_iter *it;
	const struct vmaq_vma *v;
	struct buf b;
	pid_t pid;
	int c, err;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int r = common_opt(t, c, pmap_help);

		if (r)
			return r == -2 ? EXIT_OK : r;
	}
	if (optind + 1 != argc)
		return tool_usage(t, optind >= argc ? "no PID given" : "one PID only");
	if (!parse_pid(argv[optind], &pid))
		return tool_usage(t, "invalid pid '%s'", argv[optind]);
	if (tool_open(t, pid, &p))
		return EXIT_RUNTIME;
	err = vmaq_iter_new(p, VMAQ_NAME, &it);
	if (err || (err = buf_open(&b))) {
		report_errno(t, pid, -err);
		vmaq_close(p);
		return EXIT_RUNTIME;
	}
	fprintf(b.f, "%d:\n", (int)pid);
	fprintf(b.f, "%-16s %8s %-5s %-16s %-9s %s\n", "Address", "Kbytes",
		"Mode", "Offset", "Device", "Mapping");
	while ((err = vmaq_iter_next(it, &v)) > 0) {
		uint64_t kb = (v->end - v->start) / 1024;
		const char *name = v->name ? v->name : "[ anon ]";
		const char *base = name[0] == '/' ? strrchr(name, '/') + 1 : name;
		char perms[5];

		perms_str(v, perms);
		mapped += kb;
		if (v->flags & VMAQ_SHARED)
			shared += kb;
		else if (v->flags & VMAQ_WRITE)
			wpriv += kb;
		fprintf(b.f, "%016" PRIx64 " %8" PRIu64 " %-5s %016" PRIx64 " %03x:%05x ",
			v->start, kb, perms, v->offset, v->dev_major,
			v->dev_minor);
		put_name(b.f, base);
		fputc('\n', b.f);
	}
	if (!err)
		fprintf(b.f, "mapped: %" PRIu64 "K    writeable/private: %" PRIu64
			"K    shared: %" PRIu64 "K\n", mapped, wpriv, shared);
	else
		report_errno(t, pid, -err);
	if (buf_emit(t, &b, err == 0))
		err = -EPIPE;
	vmaq_iter_free(it);
	vmaq_close(p);
	return err ? EXIT_RUNTIME : EXIT_OK;
}

/* ------------------------------------------------------------- info */

static const char info_help[] =
"Usage: vmaquery info [OPTIONS]\n"
"What the running kernel offers (batch ioctl, PROCMAP_QUERY, text only),\n"
"whether it has an address-space generation, and which backend would be\n"
"used (after --backend and VMAQ_BACKEND).\n\n"
"  --json              as one JSON object\n"
"  --backend=B         batch, query or text\n";

int cmd_info(struct tool *t, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTS,
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	static const enum vmaq_backend order[] = {
		VMAQ_BACKEND_BATCH, VMAQ_BACKEND_QUERY, VMAQ_BACKEND_TEXT,
	};
	struct vmaq_proc *p;
	unsigned int mask;
	bool json = false, has_gen;
	const char *used;
	size_t i;
	int c, err;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == OPT_JSON) {
			json = true;
		} else {
			int r = common_opt(t, c, info_help);

			if (r)
				return r == -2 ? EXIT_OK : r;
		}
	}
	if (optind != argc)
		return tool_usage(t, "no arguments expected");
	err = vmaq_kernel_backends(&mask);
	if (err) {
		tool_err(t, "cannot probe the kernel: %s", strerror(-err));
		return EXIT_RUNTIME;
	}
	if (tool_open(t, 0, &p))
		return EXIT_RUNTIME;
	used = vmaq_backend_name(vmaq_backend(p));
	vmaq_close(p);
	if (json)
		printf("{\"backends\":{");
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		bool has = mask & (1u << order[i]);

		if (json)
			printf("%s\"%s\":%s", i ? "," : "",
			       vmaq_backend_name(order[i]), has ? "true" : "false");
		else
			printf("%-11s %s\n", vmaq_backend_name(order[i]),
			       has ? "available" : "not offered by this kernel");
	}
	/* the generation comes with the batch ioctl */
	has_gen = mask & (1u << VMAQ_BACKEND_BATCH);
	if (json)
		printf("},\"generation\":%s,\"backend\":\"%s\"}\n",
		       has_gen ? "true" : "false", used);
	else
		printf("generation  %s\nbackend     %s\n",
		       has_gen ? "available" : "not offered by this kernel", used);
	return EXIT_OK;
}
