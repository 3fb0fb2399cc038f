// SPDX-License-Identifier: GPL-2.0
/*
 * libbench: each operation of the library against what a program does
 * without it, side by side in one run, on one prepared process (VMAS
 * anonymous VMAs and FILES file VMAs, every other one executable):
 *
 *   find       the VMA of one address
 *   lookup-8   8 addresses anywhere in the map
 *   lookup-64  64 addresses anywhere in the map
 *   symbolize  ADDRS addresses over DISTINCT VMAs
 *   walk       every VMA, with names
 *   walk-xf    the executable file VMAs, with names (a symbolizer's walk)
 *   snapshot   every VMA, with names, kept
 *
 * Ways: a typical text parser (fgets + sscanf into an array, then a
 * binary search or a filter, as perf and libbpf's helpers do); the raw
 * ioctls, used as simply as they allow, keeping what they return as the
 * text parser does (PROCMAP_QUERY, and PROCMAP_QUERY_BATCH where the
 * kernel has it); the library through each backend and through its
 * automatic choice, which is what a program linking it gets.
 *
 * Each sample times a loop long enough to leave clock granularity out
 * (about 2 ms); the ways of one operation take turns sample by sample,
 * each round starting with the next, so that drift of the machine and
 * what one way leaves in caches land on all of them. Times are medians;
 * what matters is the ratios. The last table is the library's automatic
 * choice against the fastest raw way and against the text parser, each
 * ratio the median over rounds of the two times of one round.
 *
 * Usage: libbench [-v VMAS] [-f FILES] [-a ADDRS] [-d DISTINCT] [-r REPS]
 *                 [-p OP:WAY:COUNT]
 *
 * -p runs one operation one way COUNT times and prints nothing else, for
 * a profiler or an instruction counter (valgrind --tool=callgrind);
 * WAY is a name of the RESULT lines (fgets, raw-query, raw-batch, auto,
 * batch, query, text).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/vmaquery_uapi.h>

#include "vmaquery.h"
#include "rawmaps.h"

#define SAMPLE_US 2000.0
#define MAX_REPS 64
#define BATCH_CHUNK 4096
#define STRS_SIZE (1u << 20)

static long pg;
static char target_file[64];
/* Results go here so the compiler cannot drop the work that makes them. */
static volatile uint64_t sink;

enum op { FIND, LOOKUP8, LOOKUP64, SYMBOLIZE, WALK, WALK_XF, SNAPSHOT, NOPS };

static const char *const op_names[NOPS] = {
	"find", "lookup-8", "lookup-64", "symbolize", "walk", "walk-xf", "snapshot",
};

enum way { FGETS, RAW_QUERY, RAW_BATCH, LIB_AUTO, LIB_BATCH, LIB_QUERY, LIB_TEXT, NWAYS };

static const char *const way_names[NWAYS] = {
	"text: fgets+sscanf", "raw PROCMAP_QUERY", "raw PROCMAP_QUERY_BATCH",
	"libvmaquery (auto)", "libvmaquery (batch)", "libvmaquery (query)",
	"libvmaquery (text)",
};

static const enum vmaq_backend way_backend[NWAYS] = {
	[LIB_AUTO] = VMAQ_BACKEND_AUTO, [LIB_BATCH] = VMAQ_BACKEND_BATCH,
	[LIB_QUERY] = VMAQ_BACKEND_QUERY, [LIB_TEXT] = VMAQ_BACKEND_TEXT,
};

struct bench {
	pid_t pid;
	int fd;				/* the target's maps, for the raw ioctls */
	struct vmaq_proc *lib[NWAYS];	/* NULL: that backend is not offered */
	bool have_query, have_batch;
	size_t nmax;			/* room in tv */
	struct tvma *tv;		/* what the raw ways keep */
	uint32_t *index;
	struct procmap_vma_record *recs;
	char *strs, *name;
	uint64_t *addrs[NOPS], *sorted;
	size_t naddrs[NOPS];
};

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void die(const char *what)
{
	fprintf(stderr, "libbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *t, int n)
{
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	return t[n / 2];
}

/*
 * The target: @nanon anonymous VMAs (alternating protections, so none
 * merge), then @nfile VMAs of one file, every other page executable.
 * *@base is the first anonymous VMA; it holds still until killed.
 */
static pid_t spawn_target(int nanon, int nfile, uint64_t *base)
{
	char *path = target_file;
	int ready[2], fd;
	pid_t pid;

	/* kept until the end: a mapped library is seldom a deleted one */
	snprintf(target_file, sizeof(target_file), "/tmp/vmaq-libbench-%d", (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)nfile * pg) || pipe(ready)) {
		unlink(path);
		die("target");
	}
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		char *m = mmap(NULL, (size_t)nanon * pg, PROT_READ,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		char *f = mmap(NULL, (size_t)nfile * pg, PROT_READ, MAP_PRIVATE, fd, 0);

		if (m == MAP_FAILED || f == MAP_FAILED)
			_exit(1);
		for (int i = 0; i < nanon; i += 2)
			if (mprotect(m + (size_t)i * pg, pg, PROT_READ | PROT_WRITE))
				_exit(1);
		for (int i = 0; i < nfile; i += 2)
			if (mprotect(f + (size_t)i * pg, pg, PROT_READ | PROT_EXEC))
				_exit(1);
		*base = (uintptr_t)m;
		if (write(ready[1], base, sizeof(*base)) != sizeof(*base))
			_exit(1);
		for (;;)
			pause();
	}
	close(fd);
	if (read(ready[0], base, sizeof(*base)) != sizeof(*base))
		die("target setup");
	close(ready[0]);
	close(ready[1]);
	return pid;
}

/* ---- without the library ---- */

/* The text parser's answers: a search per address, or a filter. */
static void way_fgets(struct bench *b, enum op op)
{
	size_t n = text_parse(b->pid, b->tv, b->nmax), i;

	if (op == WALK || op == SNAPSHOT) {
		sink += n;
		return;
	}
	if (op == WALK_XF) {
		for (i = 0; i < n; i++)
			sink += b->tv[i].perms[2] == 'x' && b->tv[i].ino;
		return;
	}
	for (i = 0; i < b->naddrs[op]; i++) {
		struct tvma *v = tsearch_vma(b->tv, n, b->addrs[op][i]);

		if (v)
			sink += b->addrs[op][i] - v->start + v->off;
	}
}

static void keep_query(struct tvma *t, const struct procmap_query *q, const char *name)
{
	size_t len;

	t->start = q->vma_start;
	t->end = q->vma_end;
	t->off = q->vma_offset;
	t->ino = q->inode;
	/* as much of the name as the text parser keeps */
	len = q->vma_name_size ? q->vma_name_size - 1 : 0;
	if (len >= sizeof(t->name))
		len = sizeof(t->name) - 1;
	memcpy(t->name, name, len);
	t->name[len] = '\0';
}

static void way_raw_query(struct bench *b, enum op op)
{
	uint64_t flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA, a = 0;
	struct procmap_query q;
	size_t n = 0, i;

	if (op == WALK_XF)
		flags |= PROCMAP_QUERY_VMA_EXECUTABLE | PROCMAP_QUERY_FILE_BACKED_VMA;
	if (op == WALK || op == WALK_XF || op == SNAPSHOT) {
		while (n < b->nmax && !raw_query(b->fd, a, flags, &q, b->name)) {
			keep_query(&b->tv[n++], &q, b->name);
			a = q.vma_end;
		}
		sink += n;
		return;
	}
	if (op == FIND) {
		if (!raw_query(b->fd, b->addrs[op][0], 0, &q, b->name))
			keep_query(&b->tv[0], &q, b->name);
		sink += b->tv[0].start;
		return;
	}
	/* sorted, each VMA asked once, its record kept for its addresses */
	memcpy(b->sorted, b->addrs[op], b->naddrs[op] * sizeof(*b->sorted));
	qsort(b->sorted, b->naddrs[op], sizeof(*b->sorted), cmp_u64);
	for (i = 0; i < b->naddrs[op]; i++) {
		uint64_t x = b->sorted[i];

		if (!n || x >= b->tv[n - 1].end) {
			if (raw_query(b->fd, x, flags, &q, b->name))
				break;
			keep_query(&b->tv[n++], &q, b->name);
		}
		/* what the library's caller gets: the file offset */
		if (x >= b->tv[n - 1].start)
			sink += x - b->tv[n - 1].start + b->tv[n - 1].off;
	}
}

/* One batch call (address mode), or range-mode calls to the end. */
static void way_raw_batch(struct bench *b, enum op op)
{
	bool range = op == WALK || op == WALK_XF || op == SNAPSHOT;
	struct procmap_batch q;
	uint64_t start = 0, filters = 0;
	const uint64_t *addrs = NULL;
	uint32_t count = 0;
	size_t n = 0;

	if (op == WALK_XF)
		filters = PROCMAP_QUERY_VMA_EXECUTABLE | PROCMAP_QUERY_FILE_BACKED_VMA;
	if (!range) {
		count = (uint32_t)b->naddrs[op];
		memcpy(b->sorted, b->addrs[op], count * sizeof(*b->sorted));
		/* the ABI takes sorted addresses: sorting is the caller's work */
		if (count > 1)
			qsort(b->sorted, count, sizeof(*b->sorted), cmp_u64);
		addrs = b->sorted;
	}
	do {
		memset(&q, 0, sizeof(q));
		q.size = sizeof(q);
		q.flags = filters | PROCMAP_BATCH_NAMES | (range ? PROCMAP_BATCH_RANGE : 0);
		q.rec_size = sizeof(*b->recs);
		q.rec_count = range ? BATCH_CHUNK : count;
		q.recs_addr = (uintptr_t)b->recs;
		q.strs_size = STRS_SIZE;
		q.strs_addr = (uintptr_t)b->strs;
		if (range) {
			q.start = start;
			q.end = UINT64_MAX;
		} else {
			q.addr_count = count;
			q.addrs_addr = (uintptr_t)addrs;
			q.index_addr = (uintptr_t)b->index;
		}
		if (ioctl(b->fd, PROCMAP_QUERY_BATCH, &q))
			die("PROCMAP_QUERY_BATCH");
		sink += q.rec_count;
		/* what the library's caller gets: the file offset */
		for (uint32_t i = 0; !range && i < count; i++) {
			const struct procmap_vma_record *r;

			if (b->index[i] >= q.rec_count)
				continue;
			r = &b->recs[b->index[i]];
			sink += addrs[i] - r->vma_start + r->vma_offset;
		}
		/* a walk keeps its records, as the raw PROCMAP_QUERY walk does */
		for (uint32_t i = 0; range && i < q.rec_count && n < b->nmax; i++) {
			const struct procmap_vma_record *r = &b->recs[i];
			struct tvma *t = &b->tv[n++];
			size_t len = r->name_size ? r->name_size - 1 : 0;

			t->start = r->vma_start;
			t->end = r->vma_end;
			t->off = r->vma_offset;
			t->ino = r->inode;
			if (len >= sizeof(t->name))
				len = sizeof(t->name) - 1;
			memcpy(t->name, b->strs + r->name_off, len);
			t->name[len] = '\0';
		}
		start = q.start;
	} while (range && start != UINT64_MAX);
}

/* ---- the library ---- */

static void way_lib(struct bench *b, enum op op, struct vmaq_proc *p)
{
	const struct vmaq_vma *v;
	struct vmaq_snapshot *s;
	struct vmaq_lookup *l;
	struct vmaq_iter *it;
	unsigned int flags = VMAQ_NAME;
	size_t i;

	switch (op) {
	case FIND:
		if (vmaq_find(p, b->addrs[op][0], VMAQ_NAME, &v))
			die("vmaq_find");
		sink += v->start;
		break;
	case LOOKUP8:
	case LOOKUP64:
	case SYMBOLIZE:
		if (vmaq_lookup(p, b->addrs[op], b->naddrs[op], VMAQ_NAME, &l))
			die("vmaq_lookup");
		for (i = 0; i < b->naddrs[op]; i++) {
			v = vmaq_lookup_vma(l, i);
			if (v)
				sink += vmaq_vma_file_offset(v, b->addrs[op][i]);
		}
		vmaq_lookup_free(l);
		break;
	case WALK_XF:
		flags |= VMAQ_EXEC | VMAQ_FILE;
		/* fall through */
	case WALK:
		if (vmaq_iter_new(p, flags, &it))
			die("vmaq_iter_new");
		while (vmaq_iter_next(it, &v) > 0)
			sink++;
		vmaq_iter_free(it);
		break;
	case SNAPSHOT:
		if (vmaq_snapshot_new(p, VMAQ_NAME, &s))
			die("vmaq_snapshot_new");
		sink += vmaq_snapshot_count(s);
		vmaq_snapshot_free(s);
		break;
	case NOPS:
		break;
	}
}

static void run_way(struct bench *b, enum op op, enum way w)
{
	switch (w) {
	case FGETS:
		way_fgets(b, op);
		break;
	case RAW_QUERY:
		way_raw_query(b, op);
		break;
	case RAW_BATCH:
		way_raw_batch(b, op);
		break;
	default:
		way_lib(b, op, b->lib[w]);
		break;
	}
}

static bool way_offered(const struct bench *b, enum way w)
{
	if (w == FGETS)
		return true;
	if (w == RAW_QUERY)
		return b->have_query;
	if (w == RAW_BATCH)
		return b->have_batch;
	return b->lib[w] != NULL;
}

/* Microseconds per operation, a sample of @loops of them. */
static double sample(struct bench *b, enum op op, enum way w, int loops)
{
	double t0 = now_us();

	for (int i = 0; i < loops; i++)
		run_way(b, op, w);
	return (now_us() - t0) / loops;
}

static const char *way_key(enum way w)
{
	if (w == FGETS)
		return "fgets";
	if (w == RAW_QUERY)
		return "raw-query";
	if (w == RAW_BATCH)
		return "raw-batch";
	return vmaq_backend_name(way_backend[w]) ?: "auto";
}

/* -p OP:WAY:COUNT: the operation and way by name; false if unknown. */
static bool parse_profile(const char *arg, int *op, int *way, long *count)
{
	const char *c1 = strchr(arg, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	char *end;

	if (!c2)
		return false;
	*op = *way = -1;
	for (int i = 0; i < NOPS; i++)
		if (strlen(op_names[i]) == (size_t)(c1 - arg) &&
		    !strncmp(arg, op_names[i], (size_t)(c1 - arg)))
			*op = i;
	for (int i = 0; i < NWAYS; i++)
		if (strlen(way_key(i)) == (size_t)(c2 - c1 - 1) &&
		    !strncmp(c1 + 1, way_key(i), (size_t)(c2 - c1 - 1)))
			*way = i;
	errno = 0;
	*count = strtol(c2 + 1, &end, 10);
	return *op >= 0 && *way >= 0 && !errno && *end == '\0' && *count > 0;
}

static uint64_t *random_addrs(uint64_t base, size_t n, int span)
{
	uint64_t *a = malloc(n * sizeof(*a));

	if (!a)
		die("malloc");
	for (size_t i = 0; i < n; i++)
		a[i] = base + (uint64_t)(rand() % span) * pg + (uint64_t)(rand() % pg);
	return a;
}

int main(int argc, char **argv)
{
	int nanon = 10000, nfile = -1, naddrs = 4400, distinct = 700, reps = 15, opt;
	double us[NOPS][NWAYS], pair[NOPS][NWAYS], t[NWAYS][MAX_REPS];
	int prof_op = -1, prof_way = -1, rc = 0;
	long prof_count = 0;
	unsigned int mask = 0;
	struct bench b = { 0 };
	uint64_t base;
	char path[64];
	int st;

	while ((opt = getopt(argc, argv, "v:f:a:d:r:p:")) != -1) {
		switch (opt) {
		case 'v': nanon = atoi(optarg); break;
		case 'f': nfile = atoi(optarg); break;
		case 'a': naddrs = atoi(optarg); break;
		case 'd': distinct = atoi(optarg); break;
		case 'r': reps = atoi(optarg); break;
		case 'p':
			if (parse_profile(optarg, &prof_op, &prof_way, &prof_count))
				break;
			fprintf(stderr, "libbench: -p OP:WAY:COUNT, e.g. lookup-8:auto:1000\n");
			return 2;
		default:
			fprintf(stderr, "usage: %s [-v VMAS] [-f FILES] [-a ADDRS] [-d DISTINCT] [-r REPS] "
				"[-p OP:WAY:COUNT]\n", argv[0]);
			return 2;
		}
	}
	if (nanon < 64 || naddrs < 1 || distinct < 1 || reps < 1) {
		fprintf(stderr, "libbench: VMAS >= 64, ADDRS, DISTINCT, REPS >= 1\n");
		return 2;
	}
	if (nfile < 0)
		nfile = nanon / 10;
	if (nfile < 16)
		nfile = 16;
	if (reps > MAX_REPS)
		reps = MAX_REPS;
	if (distinct > nanon)
		distinct = nanon;
	pg = sysconf(_SC_PAGESIZE);
	srand(1);
	b.pid = spawn_target(nanon, nfile, &base);
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)b.pid);
	b.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (b.fd < 0)
		die("open maps");
	if (vmaq_kernel_backends(&mask))
		die("vmaq_kernel_backends");
	b.have_query = mask & (1u << VMAQ_BACKEND_QUERY);
	b.have_batch = mask & (1u << VMAQ_BACKEND_BATCH);
	b.nmax = (size_t)nanon + (size_t)nfile + 256;
	b.tv = calloc(b.nmax, sizeof(*b.tv));
	b.recs = calloc(naddrs > BATCH_CHUNK ? (size_t)naddrs : BATCH_CHUNK, sizeof(*b.recs));
	b.index = calloc((size_t)naddrs, sizeof(*b.index));
	b.sorted = calloc((size_t)naddrs > 64 ? (size_t)naddrs : 64, sizeof(*b.sorted));
	b.strs = malloc(STRS_SIZE);
	b.name = malloc(PATH_MAX);
	if (!b.tv || !b.recs || !b.index || !b.sorted || !b.strs || !b.name)
		die("malloc");
	b.naddrs[FIND] = 1;
	b.addrs[FIND] = random_addrs(base, 1, nanon);
	b.naddrs[LOOKUP8] = 8;
	b.addrs[LOOKUP8] = random_addrs(base, 8, nanon);
	b.naddrs[LOOKUP64] = 64;
	b.addrs[LOOKUP64] = random_addrs(base, 64, nanon);
	b.naddrs[SYMBOLIZE] = (size_t)naddrs;
	b.addrs[SYMBOLIZE] = random_addrs(base, (size_t)naddrs, distinct);
	for (int w = LIB_AUTO; w < NWAYS; w++) {
		VMAQ_OPTS(vmaq_open_opts, o, .backend = way_backend[w]);

		if (vmaq_open(b.pid, &o, &b.lib[w]))
			b.lib[w] = NULL;
	}
	if (!b.lib[LIB_AUTO])
		die("vmaq_open");
	if (prof_op >= 0) {
		if (way_offered(&b, prof_way)) {
			for (long i = 0; i < prof_count; i++)
				run_way(&b, prof_op, prof_way);
		} else {
			fprintf(stderr, "libbench: %s: not offered here\n", way_key(prof_way));
			rc = 1;
		}
		goto out;
	}

	printf("libbench: a process with %d anonymous and %d file VMAs; symbolize: %d addresses over %d VMAs; "
	       "median of %d samples; auto is the %s backend\n",
	       nanon, nfile, naddrs, distinct, reps, vmaq_backend_name(vmaq_backend(b.lib[LIB_AUTO])));
	for (int op = 0; op < NOPS; op++) {
		int loops[NWAYS];

		/* warm, then loops enough for a sample of about SAMPLE_US */
		for (int w = 0; w < NWAYS; w++) {
			double one;

			if (!way_offered(&b, w))
				continue;
			sample(&b, op, w, 1);
			one = sample(&b, op, w, 1);
			loops[w] = one >= SAMPLE_US ? 1 : (int)(SAMPLE_US / (one > 0.05 ? one : 0.05));
		}
		/*
		 * Each round starts one way later: what a way leaves behind
		 * (caches, the emulator's TLB) falls on each of the others.
		 */
		for (int r = 0; r < reps; r++)
			for (int j = 0; j < NWAYS; j++) {
				int w = (j + r) % NWAYS;

				if (way_offered(&b, w))
					t[w][r] = sample(&b, op, w, loops[w]);
			}
		/*
		 * The library against each way without it, round by round:
		 * two samples taken a few milliseconds apart share the
		 * machine's state of the moment, which the medians of each
		 * way over the whole run do not (TCG drifts by more than the
		 * 10% the goal allows). Before median() sorts t.
		 */
		for (int w = FGETS; w <= RAW_BATCH; w++) {
			double q[MAX_REPS];

			pair[op][w] = -1;
			if (!way_offered(&b, w))
				continue;
			for (int r = 0; r < reps; r++)
				q[r] = t[LIB_AUTO][r] / t[w][r];
			pair[op][w] = median(q, reps);
		}
		printf("\n%-34s %12s %9s\n", op_names[op], "time (us)", "vs fgets");
		for (int w = 0; w < NWAYS; w++) {
			us[op][w] = -1;
			if (!way_offered(&b, w))
				continue;
			us[op][w] = median(t[w], reps);
			printf("%-34s %12.2f %8.2fx\n", way_names[w], us[op][w],
			       us[op][FGETS] / us[op][w]);
			printf("RESULT op=%s way=%s us=%.3f\n", op_names[op], way_key(w),
			       us[op][w]);
		}
	}

	/*
	 * The library's choice against the fastest way without it: the
	 * median over rounds of its time over that way's in the same round
	 * (pair), and the same against the text parser.
	 */
	printf("\n%-10s %-24s %10s %10s %10s %15s %9s  %s\n", "operation", "fastest raw way", "raw (us)",
	       "fgets (us)", "auto (us)", "vs fastest raw", "vs fgets", "verdict");
	for (int op = 0; op < NOPS; op++) {
		int best = FGETS;
		bool ok;

		for (int w = RAW_QUERY; w <= RAW_BATCH; w++)
			if (us[op][w] >= 0 && us[op][w] < us[op][best])
				best = w;
		ok = pair[op][best] <= 1.10 && pair[op][FGETS] <= 1.0;
		printf("%-10s %-24s %10.2f %10.2f %10.2f %+14.1f%% %+8.1f%%  %s\n", op_names[op],
		       way_names[best], us[op][best], us[op][FGETS], us[op][LIB_AUTO],
		       (pair[op][best] - 1) * 100, (pair[op][FGETS] - 1) * 100, ok ? "ok" : "SLOWER");
		printf("RESULT op=%s best=%s best_us=%.3f fgets_us=%.3f auto_us=%.3f ratio=%.4f "
		       "fgets_ratio=%.4f verdict=%s\n",
		       op_names[op], way_key(best), us[op][best], us[op][FGETS], us[op][LIB_AUTO],
		       pair[op][best], pair[op][FGETS], ok ? "ok" : "slower");
	}
out:
	for (int w = LIB_AUTO; w < NWAYS; w++)
		vmaq_close(b.lib[w]);
	close(b.fd);
	kill(b.pid, SIGKILL);
	waitpid(b.pid, &st, 0);
	unlink(target_file);
	return rc;
}
