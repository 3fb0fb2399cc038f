// SPDX-License-Identifier: GPL-2.0
/*
 * The subcommands. Each one builds its whole answer for a process in
 * memory and prints it only once it is complete, so a process that exits
 * halfway leaves an error on stderr and nothing misleading on stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pwd.h>

#include "vmaquery.h"

enum { OPT_BACKEND = 0x100, OPT_FILTER, OPT_FIELDS, OPT_NO_NAMES,
       OPT_BUILD_ID, OPT_HELP, OPT_ALL, OPT_UID, OPT_CGROUP };

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
"       vmaquery maps --all [--uid=USER] [--cgroup=PATH] [OPTIONS]\n"
"Print the memory map of each process. By default the output is the same,\n"
"byte for byte, as /proc/PID/maps.\n\n"
"  --all               every process (kernel threads have no map); those that\n"
"                      exit during the scan or are not readable are counted\n"
"                      on stderr (JSON: an item {\"pid\", \"error\"} each)\n"
"  --uid=USER          with --all: processes of this effective user\n"
"  --cgroup=PATH       with --all: processes in this cgroup (v2) or below\n"
JSON_HELP
"  --filter=LIST       only VMAs with all of: r, w, x, s, file, anon\n"
"  --fields=LIST       columns, in order: start,end,size,perms,offset,dev,\n"
"                      inode,name,build_id (text output: space separated)\n"
"  --no-names          do not ask for names\n"
"  --build-id          add each file's ELF build ID\n"
"  --backend=B         batch, query or text (default: best available)\n";

const char *const vma_field_names[F_MAX] = {
	"start", "end", "size", "perms", "offset", "dev", "inode", "name",
	"build_id",
};

/* A user name or number, as ps -u takes it. */
static int parse_user(struct tool *t, const char *s, uint32_t *uid)
{
	struct passwd *pw;
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s && !*end && !errno && v < UINT32_MAX) {
		*uid = (uint32_t)v;
		return 0;
	}
	pw = getpwnam(s);
	if (!pw)
		return tool_usage(t, "no such user '%s'", s);
	*uid = (uint32_t)pw->pw_uid;
	return 0;
}

static int parse_list(struct tool *t, char *s, bool fields, unsigned int *flags,
		      enum vma_field *order, int *norder)
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
			if (!strcmp(tok, vma_field_names[i]))
				break;
		if (i == F_MAX)
			return tool_usage(t, "unknown field '%s'", tok);
		for (int k = 0; k < *norder; k++)
			if (order[k] == (enum vma_field)i)
				return tool_usage(t, "field '%s' given twice", tok);
		/* the field is asked for: so is what fills it */
		if (i == F_BUILD_ID)
			*flags |= VMAQ_BUILD_ID;
		order[(*norder)++] = (enum vma_field)i;
	}
	if (!fields && (*flags & VMAQ_FILE) && (*flags & VMAQ_ANON))
		return tool_usage(t, "filters 'file' and 'anon' exclude each other");
	if (fields && !*norder)
		return tool_usage(t, "empty field list");
	return 0;
}

/* A field in maps --fields text output. */
static void put_field(FILE *f, const struct vmaq_vma *v, enum vma_field k)
{
	char perms[5];

	switch (k) {
	case F_START:
		fprintf(f, "%" PRIx64, v->start);
		break;
	case F_END:
		fprintf(f, "%" PRIx64, v->end);
		break;
	case F_SIZE:
		fprintf(f, "%" PRIu64, v->end - v->start);
		break;
	case F_PERMS:
		perms_str(v, perms);
		fputs(perms, f);
		break;
	case F_OFFSET:
		fprintf(f, "%08" PRIx64, v->offset);
		break;
	case F_DEV:
		fprintf(f, "%02x:%02x", v->dev_major, v->dev_minor);
		break;
	case F_INODE:
		fprintf(f, "%" PRIu64, v->inode);
		break;
	case F_NAME:
		if (v->name)
			put_name(f, v->name);
		else
			fputc('-', f);
		break;
	case F_BUILD_ID:
		if (v->build_id_size)
			hex_build_id(f, v);
		else
			fputc('-', f);
		break;
	case F_MAX:
		break;
	}
}

/* One walk of p into b->f; -EAGAIN if the map changed under it. */
/*
 * @p's VMAs, from scan @s where it is one's current process (whose
 * iterator has read the first already), else from an iterator.
 */
static int maps_walk(struct vmaq_proc *p, struct vmaq_scan *s, pid_t pid,
		     unsigned int flags, struct jout *j,
		     const enum vma_field *order, int norder, struct buf *b)
{
	struct vmaq_iter *it = NULL;
	const struct vmaq_vma *v;
	int err, i;

	if (!s) {
		err = vmaq_iter_new(p, flags, &it);
		if (err)
			return err;
	}
	while ((err = s ? vmaq_scan_vma(s, &v) : vmaq_iter_next(it, &v)) > 0) {
		if (j) {
			jout_item(j, b->f);
			jw_key(&j->w, "pid");
			jw_u64(&j->w, (uint64_t)pid);
			for (i = 0; i < norder; i++)
				jw_vma_field(&j->w, v, order[i]);
			jout_item_end(j);
		} else if (norder) {
			for (i = 0; i < norder; i++) {
				if (i)
					fputc(' ', b->f);
				put_field(b->f, v, order[i]);
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
 * The map of process @pid, handle @p: 0, -errno (not said), or -EPIPE
 * when stdout failed (said: nothing more can be written). Nothing of a
 * walk that failed is written.
 */
static int maps_proc(struct tool *t, struct vmaq_proc *p, struct vmaq_scan *s,
		     pid_t pid, unsigned int flags, struct jout *j,
		     const enum vma_field *order, int norder, bool header)
{
	struct buf b = { 0 };
	struct jw saved;
	int err, tries = 0;

	/* the separators of a walk that is thrown away are not written */
	if (j)
		saved = j->w;
	for (;;) {
		err = buf_open(&b);
		if (err)
			break;
		if (header)
			fprintf(b.f, "==> %d <==\n", (int)pid);
		err = maps_walk(p, s, pid, flags, j, order, norder, &b);
		/* again, if need be, with an iterator of its own */
		s = NULL;
		if (err && j)
			j->w = saved;
		/* a record overlapped the one before it: walk again */
		if (err != -EAGAIN || ++tries == MAPS_TRIES)
			break;
		buf_emit(t, &b, false);
	}
	if (b.f && buf_emit(t, &b, err == 0))
		err = -EPIPE;
	return err;
}

/*
 * One process's map: 0, -errno after saying why (the process), or
 * -EPIPE when stdout failed (said too: nothing more can be written).
 */
static int maps_one(struct tool *t, pid_t pid, unsigned int flags, struct jout *j,
		    const enum vma_field *order, int norder, bool header)
{
	struct vmaq_proc *p;
	int err;

	err = tool_open(t, pid, &p);
	if (err)
		return err;
	err = maps_proc(t, p, NULL, pid, flags, j, order, norder, header);
	if (err < 0 && err != -EPIPE)
		report_errno(t, pid, -err);
	vmaq_close(p);
	return err;
}

/* A process the scan could not read, as a JSON item of its own. */
static void maps_json_error(struct jout *j, pid_t pid, int err)
{
	jout_item(j, stdout);
	jw_key(&j->w, "pid");
	jw_u64(&j->w, (uint64_t)pid);
	jw_key(&j->w, "error");
	jw_str(&j->w, strerror(err));
	jout_item_end(j);
}

/*
 * maps --all: every process, each under its header (text), each VMA an
 * item with its pid (JSON), as for many pids. A process that exited or
 * exec'd before or while it was read, or that is not ours to read, is
 * no failure: JSON says so in an item {"pid", "error"}, the text in one
 * line on stderr at the end, with the counts.
 */
static int maps_all(struct tool *t, const struct vmaq_scan_opts *so,
		    struct jout *j, const enum vma_field *order, int norder)
{
	unsigned long gone = 0, denied = 0, other = 0, done = 0;
	struct vmaq_scan *s;
	struct vmaq_proc *p;
	pid_t pid;
	int r, err = 0;

	r = vmaq_scan_new(so, &s);
	if (r) {
		tool_err(t, "cannot scan /proc: %s", r != -EOPNOTSUPP ? strerror(-r) :
			 so->cgroup ? "no cgroups, or not the backend asked for, in this kernel" :
			 "the requested backend is not offered by this kernel");
		return EXIT_RUNTIME;
	}
	while ((r = vmaq_scan_next(s, &pid)) > 0) {
		p = vmaq_scan_proc(s);
		err = p ? maps_proc(t, p, s, pid, so->flags, j, order, norder,
				    !j) : -errno;
		if (err == -EPIPE)
			break;
		if (!err) {
			done++;
			continue;
		}
		if (err == -ESRCH)
			gone++;
		else if (err == -EACCES || err == -EPERM)
			denied++;
		else
			report_errno(t, pid, -err), other++;
		if (j)
			maps_json_error(j, pid, -err);
	}
	vmaq_scan_free(s);
	if (r < 0) {
		tool_err(t, "reading /proc: %s", strerror(-r));
		return EXIT_RUNTIME;
	}
	if (err == -EPIPE)
		return EXIT_RUNTIME;
	if (!j && (gone || denied))
		tool_err(t, "%lu processes read; %lu exited or exec'd during the scan, "
			 "%lu not readable (permission denied)", done, gone, denied);
	return other ? EXIT_RUNTIME : EXIT_OK;
}

int cmd_maps(struct tool *t, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTS,
		JSON_OPTS,
		{ "filter", required_argument, NULL, OPT_FILTER },
		{ "fields", required_argument, NULL, OPT_FIELDS },
		{ "no-names", no_argument, NULL, OPT_NO_NAMES },
		{ "build-id", no_argument, NULL, OPT_BUILD_ID },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "uid", required_argument, NULL, OPT_UID },
		{ "cgroup", required_argument, NULL, OPT_CGROUP },
		{ NULL, 0, NULL, 0 },
	};
	VMAQ_OPTS(vmaq_scan_opts, so);
	enum vma_field order[F_MAX];
	unsigned int flags = VMAQ_NAME;
	int c, i, err, norder = 0, failed = 0;
	bool names = true, bid = false, all = false;
	struct jout j;

	while ((c = getopt_long(argc, argv, "jp", opts, NULL)) != -1) {
		int r = json_opt(t, c);

		if (r == 1)
			continue;
		if (r)
			return r;
		switch (c) {
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
		case OPT_ALL:
			all = true;
			break;
		case OPT_UID:
			r = parse_user(t, optarg, &so.uid);
			so.scan_flags |= VMAQ_SCAN_UID;
			break;
		case OPT_CGROUP:
			if (optarg[0] != '/')
				return tool_usage(t, "--cgroup wants a path from the cgroup root, such as /system.slice");
			so.cgroup = optarg;
			break;
		default:
			r = common_opt(t, c, maps_help);
			if (r == -2)
				return EXIT_OK;
		}
		if (r)
			return r;
	}
	if (all && optind < argc)
		return tool_usage(t, "--all reads every process: no PID with it");
	if (!all && (so.scan_flags || so.cgroup))
		return tool_usage(t, "--uid and --cgroup select processes for --all");
	if (!all && optind >= argc)
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
	if (!norder && (t->json || bid)) {
		for (i = 0; i < F_MAX; i++)
			if ((i != F_NAME || names) && (i != F_BUILD_ID || bid))
				order[norder++] = (enum vma_field)i;
	}
	if (t->json)
		jout_begin(&j, t->json, t->pretty);
	if (all) {
		so.backend = t->backend;
		so.flags = flags;
		err = maps_all(t, &so, t->json ? &j : NULL, order, norder);
		if (t->json)
			jout_end(&j);
		return err;
	}
	for (i = optind; i < argc; i++) {
		pid_t pid;

		parse_pid(argv[i], &pid);
		err = maps_one(t, pid, flags, t->json ? &j : NULL, order, norder,
			       !t->json && argc - optind > 1);
		if (err == -EPIPE)
			return EXIT_RUNTIME;
		if (err)
			failed = 1;
	}
	/* the document ends whole even when a process could not be read */
	if (t->json)
		jout_end(&j);
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
JSON_HELP
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
	struct jout j;
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
		int pidfd;	/* the process's identity; -1: none */
		unsigned long long started;	/* without a pidfd: stat field 22 */
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
	unsigned long long st;
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
	if (o->pid == pid && !reopen) {
		f->proc = o->proc;
		return o->err;
	}
	vmaq_close(o->proc);
	o->proc = NULL;
	if (o->pid == pid) {
		/*
		 * Again after ESRCH: the same process with a new image (exec),
		 * never another that was given its pid (then ESRCH stays).
		 */
		if (o->pidfd >= 0) {
			o->err = tool_open_pidfd(f->t, pid, o->pidfd, &o->proc);
		} else if (proc_stat_field(pid, 22, &st) || st != o->started) {
			o->err = -ESRCH;
			report_errno(f->t, pid, ESRCH);
		} else {
			o->err = tool_open(f->t, pid, &o->proc);
		}
		f->proc = o->proc;
		return o->err;
	}
	if (o->pid && o->pidfd >= 0)
		close(o->pidfd);
	o->pid = pid;
	o->started = 0;
	o->pidfd = tool_pidfd(pid);
	/* tool_open() and tool_open_pidfd() say why they could not */
	if (o->pidfd >= 0) {
		o->err = tool_open_pidfd(f->t, pid, o->pidfd, &o->proc);
	} else {
		if (proc_stat_field(pid, 22, &o->started))
			o->started = 0;
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

static void find_print(struct find *f, const struct query *q,
		       const struct vmaq_vma *v, int err)
{
	char perms[5];

	if (f->json) {
		struct jw *w = &f->j.w;

		jout_item(&f->j, stdout);
		if (!q->valid) {
			jw_key(w, "line");
			jw_u64(w, q->line);
			jw_key(w, "error");
			jw_str(w, "invalid");
			jout_item_end(&f->j);
			return;
		}
		jw_key(w, "pid");
		jw_u64(w, (uint64_t)q->pid);
		jw_key(w, "addr");
		jw_hex(w, q->addr);
		if (err) {
			jw_key(w, "error");
			jw_str(w, strerror(-err));
		} else {
			jw_key(w, "mapped");
			jw_bool(w, v != NULL);
		}
		if (v) {
			jw_vma(w, v, f->flags & VMAQ_BUILD_ID);
			jw_key(w, "file_offset");
			jw_hex(w, vmaq_vma_file_offset(v, q->addr));
		}
		jout_item_end(&f->j);
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
		JSON_OPTS,
		{ "build-id", no_argument, NULL, OPT_BUILD_ID },
		{ NULL, 0, NULL, 0 },
	};
	struct find f = { .t = t, .flags = VMAQ_NAME };
	unsigned long lineno = 0;
	int c, i, err = 0;

	while ((c = getopt_long(argc, argv, "jp", opts, NULL)) != -1) {
		int r = json_opt(t, c);

		if (r == 1)
			continue;
		if (r)
			return r;
		if (c == OPT_BUILD_ID) {
			f.flags |= VMAQ_BUILD_ID;
			continue;
		}
		r = common_opt(t, c, find_help);
		if (r)
			return r == -2 ? EXIT_OK : r;
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
	}
	f.json = t->json;
	if (f.json)
		jout_begin(&f.j, t->json, t->pretty);
	/* the process must be there for its arguments to mean anything */
	if (!f.pids && find_proc(&f, f.pid, false))
		f.failed = true;
	else if (f.pids || optind + 1 == argc) {
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
	if (f.json)
		jout_end(&f.j);
	for (i = 0; i < FIND_OPEN; i++) {
		vmaq_close(f.open[i].proc);
		if (f.open[i].pid && f.open[i].pidfd >= 0)
			close(f.open[i].pidfd);
	}
	free(f.q);
	free(f.addrs);
	return err || f.failed ? EXIT_RUNTIME : EXIT_OK;
}

/* ------------------------------------------------------------- pmap */

static const char pmap_help[] =
"Usage: vmaquery pmap [OPTIONS] PID...\n"
"The memory map of each process as procps pmap prints it: one line per\n"
"VMA with its size in KiB, mode and name, then the total. With -d, the\n"
"device format: offset and device too, then the mapped, writeable/private\n"
"and shared totals.\n\n"
"  -d, --device        the device format\n"
"  -q, --quiet         no header and no footer\n"
"  -p, --show-path     the whole path of each file, not its last component\n"
"  -A, --range=LOW[,HIGH]\n"
"                      only VMAs that overlap [LOW, HIGH] (hexadecimal;\n"
"                      LOW alone: the VMA that holds it)\n"
"      --backend=B     batch, query or text (default: best available)\n\n"
"The extended formats of procps pmap (-x, -X) need /proc/PID/smaps and are\n"
"not offered.\n";

struct pmap_opts {
	bool device, quiet, path;
	uint64_t low, high;
};

/* A byte as procps pmap prints it: '?' for any that is not printable ASCII. */
static void put_pmap_bytes(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		fputc(c >= 0x20 && c < 0x7f ? c : '?', f);
	}
}

/* The whole of /proc/PID/@what (a command line has no length limit). */
static char *proc_file(pid_t pid, const char *what, size_t *len)
{
	char path[48], *buf = NULL, *nb;
	size_t cap = 0, n = 0;
	ssize_t r;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	for (;;) {
		if (n == cap) {
			cap = cap ? 2 * cap : 4096;
			nb = realloc(buf, cap);
			if (!nb)
				break;
			buf = nb;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	*len = n;
	return buf;
}

/*
 * The title procps pmap prints: the arguments, separated by spaces, each
 * byte that is not printable ASCII as '?'; "[comm]" for a process
 * without any (a kernel thread), with " <defunct>" for a zombie.
 */
static void pmap_title(FILE *f, pid_t pid, bool zombie)
{
	size_t n = 0, i;
	char *buf = proc_file(pid, "cmdline", &n);

	while (buf && n && !buf[n - 1])
		n--;
	fprintf(f, "%d:   ", (int)pid);
	if (buf && n && !zombie) {
		for (i = 0; i < n; i++)
			if (!buf[i])
				buf[i] = ' ';
		put_pmap_bytes(f, buf, n);
	} else {
		free(buf);
		buf = proc_file(pid, "comm", &n);
		if (buf && n && buf[n - 1] == '\n')
			n--;
		fputc('[', f);
		if (buf)
			put_pmap_bytes(f, buf, n);
		fputs(zombie ? "] <defunct>" : "]", f);
	}
	fputc('\n', f);
	free(buf);
}

/*
 * The mapping column: a file's last path component (-p: the path), as
 * the map text prints it and procps pmap escapes it; "[ anon ]" for the
 * rest, "[ stack ]" for the one holding the process's initial stack
 * pointer, "[ shmid=0x... ]" for System V shared memory.
 */
static void pmap_name(FILE *f, const struct vmaq_vma *v, const struct pmap_opts *o,
		      uint64_t stack)
{
	const char *n = v->name, *slash = n ? strrchr(n, '/') : NULL, *p;
	char *esc = NULL;
	size_t len = 0;
	FILE *m;

	if (n && v->dev_major == 0 && !strncmp(n, "/SYSV", 5)) {
		fprintf(f, "  [ shmid=0x%" PRIx64 " ]", v->inode);
	} else if (slash) {
		p = o->path ? strchr(n, '/') : slash[1] ? slash + 1 : slash;
		/* as the text writes it (\012), then as procps shows that */
		m = open_memstream(&esc, &len);
		if (!m)
			return;
		put_name(m, p);
		fclose(m);
		put_pmap_bytes(f, esc, len);
		free(esc);
	} else {
		fputs(v->start <= stack && stack < v->end ? "  [ stack ]" : "  [ anon ]", f);
	}
}

/* The process state (stat field 3), or 0. */
static char proc_state(pid_t pid)
{
	size_t n = 0;
	char *buf = proc_file(pid, "stat", &n), *p, st = 0;

	if (buf && n) {
		buf[n - 1] = '\0';
		p = strrchr(buf, ')');
		if (p && p[1] == ' ')
			st = p[2];
	}
	free(buf);
	return st;
}

/* One process into b: 0, or -errno (said). */
static int pmap_one(struct tool *t, pid_t pid, const struct pmap_opts *o, struct buf *b)
{
	uint64_t mapped = 0, wpriv = 0, shared = 0;
	unsigned long long stack = 0;
	struct vmaq_proc *p;
	struct vmaq_iter *it;
	const struct vmaq_vma *v;
	char mode[6];
	int err;

	unsigned long long pflags;

	bool zombie = proc_state(pid) == 'Z';

	/*
	 * A kernel thread (PF_KTHREAD) has no address space, nor a zombie
	 * any more: an empty map, as procps shows them.
	 */
	if (zombie || (!proc_stat_field(pid, 9, &pflags) && (pflags & 0x00200000))) {
		p = NULL;
		it = NULL;
	} else {
		err = tool_open(t, pid, &p);
		if (err)
			return err;
		err = vmaq_iter_new(p, VMAQ_NAME, &it);
		if (err) {
			report_errno(t, pid, -err);
			vmaq_close(p);
			return err;
		}
	}
	/* field 28, startstack; a process that has none shows no [ stack ] */
	if (proc_stat_field(pid, 28, &stack) || !stack)
		stack = UINT64_MAX;
	pmap_title(b->f, pid, zombie);
	if (o->device && !o->quiet)
		fputs("Address           Kbytes Mode  Offset           Device    Mapping\n",
		      b->f);
	while (it && (err = vmaq_iter_next(it, &v)) > 0) {
		uint64_t kb = (v->end - v->start) >> 10;

		/* the VMAs that overlap [low, high], as procps pmap -A */
		if (v->end <= o->low)
			continue;
		if (v->start > o->high)
			break;
		mode[0] = v->flags & VMAQ_READ ? 'r' : '-';
		mode[1] = v->flags & VMAQ_WRITE ? 'w' : '-';
		mode[2] = v->flags & VMAQ_EXEC ? 'x' : '-';
		mode[3] = v->flags & VMAQ_SHARED ? 's' : '-';
		mode[4] = '-';
		mode[5] = '\0';
		mapped += kb;
		if (v->flags & VMAQ_SHARED)
			shared += kb;
		else if (v->flags & VMAQ_WRITE)
			wpriv += kb;
		if (o->device)
			fprintf(b->f, "%016" PRIx64 " %7" PRIu64 " %s %016" PRIx64 " %03x:%05x ",
				v->start, kb, mode, v->offset, v->dev_major, v->dev_minor);
		else
			fprintf(b->f, "%016" PRIx64 " %6" PRIu64 "K %s ", v->start, kb, mode);
		pmap_name(b->f, v, o, stack);
		fputc('\n', b->f);
	}
	/* > 0: the walk stopped past the range */
	if (err > 0)
		err = 0;
	if (err)
		report_errno(t, pid, -err);
	else if (o->quiet)
		;
	else if (o->device)
		fprintf(b->f, "mapped: %" PRIu64 "K    writeable/private: %" PRIu64
			"K    shared: %" PRIu64 "K\n", mapped, wpriv, shared);
	else
		fprintf(b->f, " total %16" PRIu64 "K\n", mapped);
	vmaq_iter_free(it);
	vmaq_close(p);
	return err;
}

/* -A LOW[,HIGH]: either may be empty (0, the top). */
static bool parse_range(const char *arg, struct pmap_opts *o)
{
	char s[64], *comma;

	o->low = 0;
	o->high = UINT64_MAX;
	if (strlen(arg) >= sizeof(s))
		return false;
	strcpy(s, arg);
	comma = strchr(s, ',');
	if (comma)
		*comma = '\0';
	if (*s && !parse_addr(s, &o->low))
		return false;
	/* LOW alone is the VMA that holds it; nothing at all is everything */
	if (!comma) {
		if (*s)
			o->high = o->low;
		return true;
	}
	return !comma[1] || parse_addr(comma + 1, &o->high);
}

int cmd_pmap(struct tool *t, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTS,
		{ "device", no_argument, NULL, 'd' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "show-path", no_argument, NULL, 'p' },
		{ "range", required_argument, NULL, 'A' },
		{ "extended", no_argument, NULL, 'x' },
		{ NULL, 0, NULL, 0 },
	};
	struct pmap_opts o = { .high = UINT64_MAX };
	int c, i, failed = 0;

	while ((c = getopt_long(argc, argv, "dqpA:xX", opts, NULL)) != -1) {
		int r;

		switch (c) {
		case 'd':
			o.device = true;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'p':
			o.path = true;
			break;
		case 'A':
			if (!parse_range(optarg, &o))
				return tool_usage(t, "invalid range '%s'", optarg);
			break;
		case 'x':
		case 'X':
			return tool_usage(t, "-%c needs /proc/PID/smaps: use procps pmap", c);
		default:
			r = common_opt(t, c, pmap_help);
			return r == -2 ? EXIT_OK : r;
		}
	}
	if (t->json)
		return tool_usage(t, "pmap has no JSON output: use maps -j");
	if (optind >= argc)
		return tool_usage(t, "no PID given");
	for (i = optind; i < argc; i++) {
		pid_t pid;

		if (!parse_pid(argv[i], &pid))
			return tool_usage(t, "invalid pid '%s'", argv[i]);
	}
	for (i = optind; i < argc; i++) {
		struct buf b;
		pid_t pid;
		int err;

		parse_pid(argv[i], &pid);
		err = buf_open(&b);
		if (err) {
			tool_err(t, "out of memory");
			return EXIT_RUNTIME;
		}
		err = pmap_one(t, pid, &o, &b);
		/* a process read whole, or nothing of it */
		if (buf_emit(t, &b, err == 0))
			return EXIT_RUNTIME;
		if (err)
			failed = 1;
	}
	return failed ? EXIT_RUNTIME : EXIT_OK;
}

/* ------------------------------------------------------------- info */

static const char info_help[] =
"Usage: vmaquery info [OPTIONS]\n"
"What the running kernel offers (batch ioctl, PROCMAP_QUERY, text only),\n"
"whether it has an address-space generation, and which backend would be\n"
"used (after --backend and VMAQ_BACKEND).\n\n"
"  -j, --json          as one JSON object (-p: indented)\n"
"  --backend=B         batch, query or text\n";

int cmd_info(struct tool *t, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTS,
		JSON_OPTS,
		{ NULL, 0, NULL, 0 },
	};
	static const enum vmaq_backend order[] = {
		VMAQ_BACKEND_BATCH, VMAQ_BACKEND_QUERY, VMAQ_BACKEND_TEXT,
	};
	struct vmaq_proc *p;
	unsigned int mask;
	bool has_gen;
	struct jw w;
	const char *used;
	size_t i;
	int c, err;

	while ((c = getopt_long(argc, argv, "jp", opts, NULL)) != -1) {
		int r = json_opt(t, c);

		if (r == 1)
			continue;
		if (!r)
			r = common_opt(t, c, info_help);
		if (r)
			return r == -2 ? EXIT_OK : r;
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
	/* the generation comes with the batch ioctl */
	has_gen = mask & (1u << VMAQ_BACKEND_BATCH);
	if (!t->json) {
		for (i = 0; i < sizeof(order) / sizeof(order[0]); i++)
			printf("%-11s %s\n", vmaq_backend_name(order[i]),
			       mask & (1u << order[i]) ? "available"
						       : "not offered by this kernel");
		printf("generation  %s\nbackend     %s\n",
		       has_gen ? "available" : "not offered by this kernel", used);
		return EXIT_OK;
	}
	/* one object, in every JSON form */
	jw_init(&w, stdout, t->pretty);
	jw_open(&w, '{');
	jw_key(&w, "backends");
	jw_open(&w, '{');
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		jw_key(&w, vmaq_backend_name(order[i]));
		jw_bool(&w, mask & (1u << order[i]));
	}
	jw_close(&w, '}');
	jw_key(&w, "generation");
	jw_bool(&w, has_gen);
	jw_key(&w, "backend");
	jw_str(&w, used);
	jw_close(&w, '}');
	fputc('\n', stdout);
	return EXIT_OK;
}
