// SPDX-License-Identifier: GPL-2.0
/*
 * vmaquery watch: follow processes and print how their maps change, and
 * vmaquery bench: time this kernel's backends against each other.
 *
 * watch polls each process's snapshot every interval with
 * vmaq_snapshot_update(), whose diff it prints (with the batch backend a
 * poll costs one generation check while nothing changes; otherwise it
 * reads the map), and looks at a process at once when its pidfd says it
 * exited (or, for targets without one, when vmaq_events(3) tells of an
 * exec or exit anywhere). A handle that answers ESRCH belongs to an
 * address space that is gone: if the process is still there (its pidfd
 * not readable) it called exec, otherwise it exited.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vmaquery.h"

enum { OPT_BACKEND = 0x100, OPT_HELP, OPT_COUNT, OPT_DURATION, OPT_INTERVAL,
       OPT_REPS };

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

struct target {
	pid_t pid;
	int pidfd;		/* -1: none (the kernel has no pidfd_open) */
	/* without a pidfd: when it started (stat field 22), which exec keeps */
	unsigned long long started;
	struct vmaq_proc *proc;
	struct vmaq_snapshot *snap;
	bool gone;
};

struct out {
	const struct tool *t;
	struct jout j;
	bool json;
	bool failed;		/* an error was reported: exit 1 */
	bool write_err;		/* stdout failed: stop, exit 1 */
	unsigned long events, max_events;
};

/* Each change is a line of its own, out at once: a reader sees it live. */
static void emitted(struct out *o)
{
	o->events++;
	if (tool_check_out(o->t))
		o->write_err = true;
}

static void emit_vma(struct out *o, pid_t pid, char what, const struct vmaq_vma *v)
{
	char perms[5];
	static const char *const kind[] = { ['+'] = "added", ['-'] = "removed",
					    ['~'] = "changed" };

	if (o->json) {
		jout_item(&o->j, stdout);
		jw_key(&o->j.w, "pid");
		jw_u64(&o->j.w, (uint64_t)pid);
		jw_key(&o->j.w, "event");
		jw_str(&o->j.w, kind[(int)what]);
		jw_vma(&o->j.w, v, false);
		jout_item_end(&o->j);
	} else {
		perms_str(v, perms);
		printf("%d %c %" PRIx64 "-%" PRIx64 " %s %08" PRIx64 " ", (int)pid,
		       what, v->start, v->end, perms, v->offset);
		if (v->name)
			put_name(stdout, v->name);
		fputc('\n', stdout);
	}
	emitted(o);
}

static void emit_proc(struct out *o, pid_t pid, const char *what)
{
	if (o->json) {
		jout_item(&o->j, stdout);
		jw_key(&o->j.w, "pid");
		jw_u64(&o->j.w, (uint64_t)pid);
		jw_key(&o->j.w, "event");
		jw_str(&o->j.w, what);
		jout_item_end(&o->j);
	} else {
		printf("%d %s\n", (int)pid, what);
	}
	emitted(o);
}

/* What changed, as the library's diff says: removals and additions in order. */
static void emit_diff(struct out *o, pid_t pid, const struct vmaq_diff *d)
{
	static const char what[] = { [VMAQ_CHANGE_ADDED] = '+',
				     [VMAQ_CHANGE_REMOVED] = '-',
				     [VMAQ_CHANGE_MODIFIED] = '~' };

	for (size_t i = 0; i < vmaq_diff_count(d) && !o->write_err; i++) {
		const struct vmaq_change *c = vmaq_diff_change(d, i);

		emit_vma(o, pid, what[c->kind], c->vma);
	}
}

/*
 * The target's handle. Through a pidfd where the kernel has them: the
 * pidfd is the process's identity (see poll_target()). Else its start
 * time (stat field 22, in clock ticks) stands in, read before and after
 * the handle is opened.
 */
static int target_open(const struct tool *t, struct target *tg)
{
	unsigned long long again;
	int err;

	tg->pidfd = tool_pidfd(tg->pid);
	if (tg->pidfd >= 0) {
		err = tool_open_pidfd(t, tg->pid, tg->pidfd, &tg->proc);
	} else {
		err = proc_stat_field(tg->pid, 22, &tg->started);
		if (err == -ENOENT)
			err = -ESRCH;
		if (!err)
			err = tool_open(t, tg->pid, &tg->proc);
		else
			report_errno(t, tg->pid, -err);
		/* the handle must be of the process whose start time was read */
		if (!err && (proc_stat_field(tg->pid, 22, &again) || again != tg->started)) {
			report_errno(t, tg->pid, ESRCH);
			vmaq_close(tg->proc);
			tg->proc = NULL;
			err = -ESRCH;
		}
	}
	if (!err)
		err = vmaq_snapshot_new(tg->proc, VMAQ_NAME, &tg->snap);
	if (err && tg->proc)
		report_errno(t, tg->pid, -err);
	return err;
}

static void target_close(struct target *tg)
{
	vmaq_snapshot_free(tg->snap);
	vmaq_close(tg->proc);
	tg->snap = NULL;
	tg->proc = NULL;
}

/*
 * Whether the followed process is still there, with a new image: its
 * pidfd is readable once it has exited (a pid given to another process
 * cannot make it so); without one, the pid's start time is its own.
 */
static bool same_process(const struct target *tg)
{
	struct pollfd pfd = { .fd = tg->pidfd, .events = POLLIN };
	unsigned long long st;

	if (tg->pidfd >= 0)
		return poll(&pfd, 1, 0) == 0;
	return !proc_stat_field(tg->pid, 22, &st) && st == tg->started;
}

static void poll_target(const struct tool *t, struct out *o, struct target *tg)
{
	VMAQ_OPTS(vmaq_open_opts, opts, .backend = t->backend);
	struct vmaq_diff *d = NULL;
	int r = vmaq_snapshot_update(tg->snap, &d);

	if (r > 0) {
		emit_diff(o, tg->pid, d);
		vmaq_diff_free(d);
		return;
	}
	/* a map that kept changing under every re-read: look next time */
	if (r == 0 || r == -EAGAIN)
		return;
	target_close(tg);
	if (r == -ESRCH && same_process(tg)) {
		/* The address space is gone, the process is not: it called exec. */
		r = tg->pidfd >= 0 ? vmaq_open_pidfd(tg->pidfd, &opts, &tg->proc) :
				     vmaq_open(tg->pid, &opts, &tg->proc);
		if (!r && !same_process(tg))
			r = -ESRCH;	/* the pid was given again meanwhile */
		if (!r)
			r = vmaq_snapshot_new(tg->proc, VMAQ_NAME, &tg->snap);
		if (r != -ESRCH) {
			emit_proc(o, tg->pid, "exec");
			if (!r)
				return;
			/* the new image may not be read: a setuid program */
			target_close(tg);
		}
	}
	if (r != -ESRCH) {
		report_errno(t, tg->pid, -r);
		o->failed = true;
	}
	target_close(tg);
	emit_proc(o, tg->pid, r == -ESRCH ? "exit" : "error");
	tg->gone = true;
}

static const char watch_help[] =
"Usage: vmaquery watch [OPTIONS] PID...\n"
"Follow processes and print their map changes as they are seen: one line\n"
"per VMA added (+), removed (-) or changed (~), and 'exec' and 'exit'. A\n"
"process is known by its pid and start time: a pid given to a new process\n"
"after the one followed exited is not taken for an exec.\n\n"
"  --interval=MS       how often to look (default 100)\n"
"  --count=N           stop after N changes\n"
"  --duration=SECONDS  stop after this long\n"
JSON_HELP
"  --backend=B         batch, query or text\n\n"
"Each change is written, and flushed, as it is seen (with -j the array is\n"
"closed when watch stops, on SIGINT and SIGTERM too). watch stops with exit\n"
"status 1 when its output fails or a pipe's reader goes away, and after\n"
"reporting an error about a process.\n";

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool parse_num(const char *s, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	return !errno && *s && !*end && *v >= 0;
}

int cmd_watch(struct tool *t, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "backend", required_argument, NULL, OPT_BACKEND },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "count", required_argument, NULL, OPT_COUNT },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "interval", required_argument, NULL, OPT_INTERVAL },
		JSON_OPTS,
		{ NULL, 0, NULL, 0 },
	};
	double interval = 100, duration = 0, count = 0, start, next;
	struct pollfd *pfd = NULL;
	struct out o = { .t = t };
	struct stat st;
	bool out_pipe;
	struct target *tg;
	struct vmaq_events *events = NULL;
	int c, i, n, alive, ret = EXIT_OK;

	while ((c = getopt_long(argc, argv, "jp", opts, NULL)) != -1) {
		int r = json_opt(t, c);

		if (r == 1)
			continue;
		if (r)
			return r;
		switch (c) {
		case OPT_BACKEND:
			if (parse_backend(optarg, &t->backend))
				return tool_usage(t, "unknown backend '%s'", optarg);
			break;
		case OPT_HELP:
			fputs(watch_help, stdout);
			return EXIT_OK;
		case OPT_COUNT:
			if (!parse_num(optarg, &count) || count < 1)
				return tool_usage(t, "invalid count '%s'", optarg);
			break;
		case OPT_DURATION:
			if (!parse_num(optarg, &duration) || duration <= 0)
				return tool_usage(t, "invalid duration '%s'", optarg);
			break;
		case OPT_INTERVAL:
			if (!parse_num(optarg, &interval) || interval < 1)
				return tool_usage(t, "invalid interval '%s'", optarg);
			break;
		default:
			return tool_usage(t, "invalid option");
		}
	}
	n = argc - optind;
	if (n < 1)
		return tool_usage(t, "no PID given");
	tg = calloc((size_t)n, sizeof(*tg));
	if (!tg) {
		tool_err(t, "out of memory");
		return EXIT_RUNTIME;
	}
	for (i = 0; i < n; i++) {
		tg[i].pidfd = -1;
		if (!parse_pid(argv[optind + i], &tg[i].pid)) {
			free(tg);
			return tool_usage(t, "invalid pid '%s'", argv[optind + i]);
		}
	}
	o.max_events = count >= 1e18 ? ULONG_MAX : (unsigned long)count;
	/* a pipe's reader that goes away shows as POLLERR on our end */
	out_pipe = !fstat(1, &st) && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	/* a reader that went away is a write error (exit 1), not a signal */
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	o.json = t->json;
	if (o.json) {
		/* the document starts at once: a reader sees it is one */
		jout_begin(&o.j, t->json, t->pretty);
		if (tool_check_out(t))
			o.write_err = true;
	}
	/* a process that cannot be followed is said, and the others are */
	for (i = 0; i < n && !o.write_err; i++) {
		if (target_open(t, &tg[i])) {
			target_close(&tg[i]);
			o.failed = true;
			emit_proc(&o, tg[i].pid, "error");
			tg[i].gone = true;
		}
	}
	/*
	 * Wake-ups between looks: each target's pidfd, readable once it has
	 * exited, which ends a wait for that target alone. Only where a
	 * target has none, the process-events connector, whose every
	 * event on the system is a reason to look at every target.
	 */
	for (i = 0; i < n; i++)
		if (!tg[i].gone && tg[i].pidfd < 0)
			break;
	if (i < n)
		vmaq_events_new(NULL, &events);
	pfd = calloc((size_t)n + 2, sizeof(*pfd));
	if (!pfd) {
		tool_err(t, "out of memory");
		o.failed = true;
		goto out;
	}
	start = now_s();
	next = start + interval / 1000;
	for (;;) {
		double ms = (next - now_s()) * 1000;
		bool all = false;

		pfd[0] = (struct pollfd){ .fd = events ? vmaq_events_fd(events) : -1,
					  .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = out_pipe ? 1 : -1 };
		for (i = 0; i < n; i++)
			pfd[2 + i] = (struct pollfd){ .fd = tg[i].gone ? -1 : tg[i].pidfd,
						      .events = POLLIN };
		/* never past the end of --duration, whatever the interval */
		if (duration && (duration - (now_s() - start)) * 1000 < ms)
			ms = (duration - (now_s() - start)) * 1000;
		if (ms > INT_MAX)
			ms = INT_MAX;
		if (ms < 0)
			ms = 0;
		if (poll(pfd, (nfds_t)n + 2, (int)ms) > 0) {
			if (pfd[1].revents & (POLLERR | POLLHUP)) {
				tool_err(t, "standard output: its reader went away");
				o.write_err = true;
				break;
			}
			if (pfd[0].revents & POLLIN) {
				struct vmaq_event evs[64];

				/* what they say, the look at every target tells */
				while (vmaq_events_read(events, evs, 64) == 64)
					;
				all = true;
			}
		}
		if (now_s() >= next) {
			all = true;
			next = now_s() + interval / 1000;
		}
		for (alive = 0, i = 0; i < n; i++) {
			if (!tg[i].gone && (all || (pfd[2 + i].revents & POLLIN)))
				poll_target(t, &o, &tg[i]);
			alive += !tg[i].gone;
			if (o.write_err || (o.max_events && o.events >= o.max_events))
				goto out;
		}
		if (stop || !alive || (duration && now_s() - start >= duration))
			break;
	}
out:
	/* -j: the document is closed however watch stops (but a write error) */
	if (o.json && !o.write_err) {
		jout_end(&o.j);
		if (tool_check_out(t))
			o.write_err = true;
	}
	if (o.failed || o.write_err)
		ret = EXIT_RUNTIME;
	for (i = 0; i < n; i++) {
		target_close(&tg[i]);
		if (tg[i].pidfd >= 0)
			close(tg[i].pidfd);
	}
	vmaq_events_free(events);
	free(tg);
	free(pfd);
	return ret;
}

/* ------------------------------------------------------------- bench */

static const char bench_help[] =
"Usage: vmaquery bench [OPTIONS] PID\n"
"Time the backends this kernel offers against each other on one process:\n"
"a full walk with names, and a lookup of one address in every VMA. Prints\n"
"the median time of each and its speed relative to the text backend.\n\n"
"  --reps=N            runs per measurement (default 21)\n";

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int cmd_bench(struct tool *t, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "reps", required_argument, NULL, OPT_REPS },
		{ NULL, 0, NULL, 0 },
	};
	static const enum vmaq_backend order[] = {
		VMAQ_BACKEND_TEXT, VMAQ_BACKEND_QUERY, VMAQ_BACKEND_BATCH,
	};
	double reps = 21, walk[3] = { 0 }, look[3] = { 0 }, *tm;
	unsigned int mask;
	size_t nvma = 0;
	pid_t pid;
	int c, k;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == OPT_HELP) {
			fputs(bench_help, stdout);
			return EXIT_OK;
		}
		if (c != OPT_REPS || !parse_num(optarg, &reps) || reps < 1 || reps > 10000)
			return tool_usage(t, c == OPT_REPS ? "invalid reps" : "invalid option");
	}
	if (optind + 1 != argc)
		return tool_usage(t, optind >= argc ? "no PID given" : "one PID only");
	if (!parse_pid(argv[optind], &pid))
		return tool_usage(t, "invalid pid '%s'", argv[optind]);
	if (vmaq_kernel_backends(&mask)) {
		tool_err(t, "cannot probe the kernel");
		return EXIT_RUNTIME;
	}
	tm = calloc((size_t)reps, sizeof(*tm));
	if (!tm)
		return EXIT_RUNTIME;
	for (k = 0; k < 3; k++) {
		VMAQ_OPTS(vmaq_open_opts, o, .backend = order[k]);
		struct vmaq_snapshot *s;
		struct vmaq_proc *p;
		uint64_t *addrs;
		int r, err;

		if (!(mask & (1u << order[k])))
			continue;
		err = vmaq_open(pid, &o, &p);
		if (err) {
			report_errno(t, pid, -err);
			free(tm);
			return EXIT_RUNTIME;
		}
		if (vmaq_snapshot_new(p, 0, &s)) {
			report_errno(t, pid, errno);
			vmaq_close(p);
			free(tm);
			return EXIT_RUNTIME;
		}
		nvma = vmaq_snapshot_count(s);
		addrs = calloc(nvma ? nvma : 1, sizeof(*addrs));
		for (size_t i = 0; addrs && i < nvma; i++) {
			const struct vmaq_vma *v = vmaq_snapshot_vma(s, i);

			addrs[i] = v->start + (v->end - v->start) / 2;
		}
		vmaq_snapshot_free(s);
		for (r = 0; addrs && r < (int)reps; r++) {
			struct vmaq_iter *it;
			const struct vmaq_vma *v;
			double t0 = now_s();

			if (!vmaq_iter_new(p, VMAQ_NAME, &it)) {
				while (vmaq_iter_next(it, &v) > 0)
					;
				vmaq_iter_free(it);
			}
			tm[r] = now_s() - t0;
		}
		qsort(tm, (size_t)reps, sizeof(*tm), cmp_d);
		walk[k] = tm[(int)reps / 2];
		for (r = 0; addrs && r < (int)reps; r++) {
			struct vmaq_lookup *l;
			double t0 = now_s();

			if (!vmaq_lookup(p, addrs, nvma, VMAQ_NAME, &l))
				vmaq_lookup_free(l);
			tm[r] = now_s() - t0;
		}
		qsort(tm, (size_t)reps, sizeof(*tm), cmp_d);
		look[k] = tm[(int)reps / 2];
		free(addrs);
		vmaq_close(p);
	}
	free(tm);
	printf("pid %d: %zu VMAs, median of %d runs\n", (int)pid, nvma, (int)reps);
	printf("%-8s %14s %10s %16s %10s\n", "backend", "walk (us)", "vs text",
	       "lookup all (us)", "vs text");
	for (k = 0; k < 3; k++) {
		if (!walk[k]) {
			printf("%-8s %14s\n", vmaq_backend_name(order[k]), "not offered");
			continue;
		}
		printf("%-8s %14.1f %9.2fx %16.1f %9.2fx\n", vmaq_backend_name(order[k]),
		       walk[k] * 1e6, walk[0] / walk[k], look[k] * 1e6, look[0] / look[k]);
	}
	return EXIT_OK;
}
