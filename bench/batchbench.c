// SPDX-License-Identifier: GPL-2.0
/*
 * bench/batchbench: the batch ioctl against text parsing and
 * PROCMAP_QUERY, through libvmaquery's three backends, side by side in
 * one run on one kernel (the patched one: runs in the VM).
 *
 *  symbolize   4400 addresses over 700 distinct VMAs, shuffled, in a
 *              process of about 700 file-backed VMAs, names wanted
 *  dump        every VMA of processes with 1,000, 10,000 and 60,000 VMAs
 *              (batch with and without names)
 *  generation  PROCMAP_QUERY_GENERATION (or a batch call with nothing to
 *              look up, on the first 6.12 series) against getppid()
 *
 * Each figure is the median of -r repetitions. Prints RESULT lines for
 * bench/report and a table with the ratios.
 *
 * Usage: batchbench [-r REPS] [-q]   (-q: 10,000 VMAs at most)
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/vmaquery_uapi.h>

#include "vmaquery.h"
#include "rawmaps.h"

static long pg;
/* Results go here so the compiler cannot drop the work that makes them. */
static volatile uint64_t sink;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what)
{
	fprintf(stderr, "batchbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/*
 * A process with @n file-backed VMAs: one mapping of an @n-page file,
 * every other page made executable so that none merge. Returns its pid;
 * it holds still until killed.
 */
static pid_t target(int n, uint64_t *base)
{
	char path[64];
	int ready[2], fd;
	char *m;
	pid_t pid;

	snprintf(path, sizeof(path), "/tmp/vmaq-bench-%d", n);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)n * pg) || pipe(ready))
		die("target file");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		m = mmap(NULL, (size_t)n * pg, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED)
			_exit(1);
		for (int i = 0; i < n; i += 2)
			if (mprotect(m + (size_t)i * pg, pg, PROT_READ | PROT_EXEC))
				_exit(1);
		*base = (uintptr_t)m;
		if (write(ready[1], base, sizeof(*base)) != sizeof(*base))
			_exit(1);
		for (;;)
			pause();
	}
	close(fd);
	unlink(path);
	if (read(ready[0], base, sizeof(*base)) != sizeof(*base))
		die("target setup");
	close(ready[0]);
	close(ready[1]);
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static const enum vmaq_backend backends[] = {
	VMAQ_BACKEND_TEXT, VMAQ_BACKEND_QUERY, VMAQ_BACKEND_BATCH,
};

static struct vmaq_proc *open_with(pid_t pid, enum vmaq_backend b)
{
	VMAQ_OPTS(vmaq_open_opts, o, .backend = b);
	struct vmaq_proc *p;
	int err = vmaq_open(pid, &o, &p);

	if (err) {
		fprintf(stderr, "batchbench: %s backend: %s\n", vmaq_backend_name(b),
			strerror(-err));
		exit(1);
	}
	return p;
}

/* One lookup of every address; checks that all are found. */
static double symbolize_once(struct vmaq_proc *p, const uint64_t *addrs, size_t n)
{
	struct vmaq_lookup *l;
	double t0 = now_ns(), t;

	if (vmaq_lookup(p, addrs, n, VMAQ_NAME, &l))
		die("vmaq_lookup");
	t = now_ns() - t0;
	for (size_t i = 0; i < n; i++) {
		const struct vmaq_vma *v = vmaq_lookup_vma(l, i);

		if (!v || !v->name) {
			fprintf(stderr, "batchbench: address %zu not resolved\n", i);
			exit(1);
		}
	}
	vmaq_lookup_free(l);
	return t;
}

static void bench_symbolize(int reps)
{
	enum { VMAS = 700, ADDRS = 4400 };
	double ms[3], *v = calloc(3 * reps, sizeof(double));
	uint64_t base, *addrs = malloc(ADDRS * sizeof(*addrs));
	struct vmaq_proc *p[3];
	pid_t pid = target(VMAS, &base);
	unsigned int seed = 1;

	/* every VMA hit at least once, the rest at random; shuffled */
	for (int i = 0; i < ADDRS; i++) {
		int page = i < VMAS ? i : (int)(rand_r(&seed) % VMAS);

		addrs[i] = base + (uint64_t)page * pg + rand_r(&seed) % pg;
	}
	for (int i = ADDRS - 1; i > 0; i--) {
		int j = (int)(rand_r(&seed) % (i + 1));
		uint64_t x = addrs[i];

		addrs[i] = addrs[j];
		addrs[j] = x;
	}
	for (int b = 0; b < 3; b++) {
		p[b] = open_with(pid, backends[b]);
		symbolize_once(p[b], addrs, ADDRS);	/* warm */
	}
	/* interleaved: drift in the emulator's speed falls on every backend alike */
	for (int r = 0; r < reps; r++)
		for (int b = 0; b < 3; b++)
			v[b * reps + r] = symbolize_once(p[b], addrs, ADDRS);
	for (int b = 0; b < 3; b++) {
		ms[b] = median(v + b * reps, reps) / 1e6;
		vmaq_close(p[b]);
		printf("RESULT bench=symbolize addrs=%d vmas=%d backend=%s ms=%.3f\n",
		       ADDRS, VMAS, vmaq_backend_name(backends[b]), ms[b]);
	}
	printf("symbolize %d addresses (%d VMAs), names: text %.2f ms, query %.2f ms, batch %.2f ms; batch %.1fx faster than text, %.1fx than query\n",
	       ADDRS, VMAS, ms[0], ms[1], ms[2], ms[0] / ms[2], ms[1] / ms[2]);
	reap(pid);
	free(addrs);
	free(v);
}

/* Walk every VMA; returns the time, checks the count. */
static double dump_once(struct vmaq_proc *p, unsigned int flags, size_t want)
{
	const struct vmaq_vma *vma;
	struct vmaq_iter *it;
	size_t n = 0;
	double t0 = now_ns(), t;
	int r;

	if (vmaq_iter_new(p, flags, &it))
		die("vmaq_iter_new");
	while ((r = vmaq_iter_next(it, &vma)) > 0)
		n++;
	t = now_ns() - t0;
	if (r < 0)
		die("vmaq_iter_next");
	vmaq_iter_free(it);
	if (n < want) {
		fprintf(stderr, "batchbench: walked %zu VMAs, want %zu\n", n, want);
		exit(1);
	}
	return t;
}

static void bench_dump(int vmas, int reps)
{
	static const struct {
		enum vmaq_backend b;
		unsigned int flags;
		const char *what;
	} ways[] = {
		{ VMAQ_BACKEND_TEXT, VMAQ_NAME, "text" },
		{ VMAQ_BACKEND_QUERY, VMAQ_NAME, "query" },
		{ VMAQ_BACKEND_BATCH, VMAQ_NAME, "batch" },
		{ VMAQ_BACKEND_BATCH, 0, "batch-nonames" },
	};
	double ms[4], *v = calloc(4 * reps, sizeof(double));
	struct vmaq_proc *p[4];
	uint64_t base;
	pid_t pid = target(vmas, &base);

	for (int w = 0; w < 4; w++) {
		p[w] = open_with(pid, ways[w].b);
		dump_once(p[w], ways[w].flags, vmas);	/* warm */
	}
	/* interleaved: drift in the emulator's speed falls on every way alike */
	for (int r = 0; r < reps; r++)
		for (int w = 0; w < 4; w++)
			v[w * reps + r] = dump_once(p[w], ways[w].flags, vmas);
	for (int w = 0; w < 4; w++) {
		ms[w] = median(v + w * reps, reps) / 1e6;
		vmaq_close(p[w]);
		printf("RESULT bench=dump vmas=%d way=%s ms=%.3f\n", vmas, ways[w].what, ms[w]);
	}
	printf("dump %d VMAs: text %.2f ms, query %.2f ms, batch %.2f ms (no names %.2f ms); batch %.1fx faster than text, %.1fx than query\n",
	       vmas, ms[0], ms[1], ms[2], ms[3], ms[0] / ms[2], ms[1] / ms[2]);
	reap(pid);
	free(v);
}

/*
 * The system interfaces alone, as a symbolizer calls them without the
 * library (bench/rawmaps.h): text, parsed whole, then a binary search per
 * address; PROCMAP_QUERY once per distinct VMA after sorting; the batch
 * ioctl once, after sorting (the 7.3 ABI takes sorted addresses; the
 * first 6.12 series sorted them itself), names wanted. Then every VMA of a 10,000-VMA process with its name:
 * parsed text, a PROCMAP_QUERY loop, range-mode calls of 4096 records.
 */
static double raw_batch(int fd, const uint64_t *addrs, uint32_t n, uint64_t flags,
			struct procmap_vma_record *recs, uint32_t *index, char *strs,
			uint32_t strs_size)
{
	struct procmap_batch b;
	double t0 = now_ns();
	uint64_t start = 0, *sorted = NULL;

	/* the 7.3 ABI takes sorted addresses: sorting is the caller's work, timed */
	if (!(flags & PROCMAP_BATCH_RANGE)) {
		sorted = malloc(n * sizeof(*sorted));
		memcpy(sorted, addrs, n * sizeof(*sorted));
		qsort(sorted, n, sizeof(*sorted), cmp_u64);
		addrs = sorted;
	}
	do {
		memset(&b, 0, sizeof(b));
		b.size = sizeof(b);
		b.flags = flags | PROCMAP_BATCH_NAMES;
		b.rec_size = sizeof(*recs);
		b.rec_count = n;
		b.recs_addr = (uintptr_t)recs;
		b.strs_size = strs_size;
		b.strs_addr = (uintptr_t)strs;
		if (flags & PROCMAP_BATCH_RANGE) {
			b.start = start;
			b.end = UINT64_MAX;
		} else {
			b.addr_count = n;
			b.addrs_addr = (uintptr_t)addrs;
			b.index_addr = (uintptr_t)index;
		}
		if (ioctl(fd, PROCMAP_QUERY_BATCH, &b))
			die("PROCMAP_QUERY_BATCH");
		if (!(flags & PROCMAP_BATCH_RANGE) && b.resolved != n) {
			fprintf(stderr, "batchbench: %u of %u addresses resolved\n", b.resolved, n);
			exit(1);
		}
		sink += b.rec_count;
		start = b.start;
	} while ((flags & PROCMAP_BATCH_RANGE) && start != UINT64_MAX);
	free(sorted);
	return now_ns() - t0;
}

/* Keep repetition @r's three times in @v (reps each); r < 0 is the warm-up. */
static void raw_keep(double *v, int reps, int r, double text, double query, double batch)
{
	if (r < 0)
		return;
	v[r] = text;
	v[reps + r] = query;
	v[2 * reps + r] = batch;
}

/* Medians of text, query and batch (reps each, in @v), as RESULT and prose. */
static void raw_report(const char *bench, const char *what, double *v, int reps)
{
	double ms[3];

	for (int m = 0; m < 3; m++)
		ms[m] = median(v + m * reps, reps) / 1e6;
	printf("RESULT bench=%s text_ms=%.3f query_ms=%.3f batch_ms=%.3f\n",
	       bench, ms[0], ms[1], ms[2]);
	printf("%s, names: text %.2f ms, query %.2f ms, batch %.2f ms; batch %.1fx faster than text, %.1fx than query\n",
	       what, ms[0], ms[1], ms[2], ms[0] / ms[2], ms[1] / ms[2]);
}

static void bench_raw(int reps)
{
	enum { VMAS = 700, ADDRS = 4400, DUMP = 10000, CHUNK = 4096 };
	struct procmap_vma_record *recs = malloc(ADDRS * sizeof(*recs));
	struct tvma *tv = malloc((DUMP + 256) * sizeof(*tv));
	uint64_t base, *addrs = malloc(ADDRS * sizeof(*addrs));
	uint64_t *sorted = malloc(ADDRS * sizeof(*sorted));
	uint32_t *index = malloc(ADDRS * sizeof(*index));
	double *v = calloc(3 * reps, sizeof(double));
	char *strs = malloc(1 << 20), *name = malloc(PATH_MAX), path[64];
	unsigned int seed = 1;
	pid_t pid = target(VMAS, &base);
	int fd;

	for (int i = 0; i < ADDRS; i++) {
		int page = i < VMAS ? i : (int)(rand_r(&seed) % VMAS);

		addrs[i] = base + (uint64_t)page * pg + rand_r(&seed) % pg;
	}
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		die("open maps");
	for (int r = -1; r < reps; r++) {	/* r == -1: warm */
		double t0 = now_ns(), t1, t2;
		size_t n = text_parse(pid, tv, VMAS + 256);

		for (int i = 0; i < ADDRS; i++) {
			struct tvma *hit = tsearch_vma(tv, n, addrs[i]);

			sink += hit ? hit->off : 0;
		}
		t1 = now_ns();
		do_raw_symbolize(fd, addrs, sorted, ADDRS, name);
		t2 = now_ns();
		raw_keep(v, reps, r, t1 - t0, t2 - t1,
			 raw_batch(fd, addrs, ADDRS, 0, recs, index, strs, 1 << 20));
	}
	raw_report("raw-symbolize", "raw symbolize 4400 addresses (700 VMAs)", v, reps);
	close(fd);
	reap(pid);

	pid = target(DUMP, &base);
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		die("open maps");
	recs = realloc(recs, CHUNK * sizeof(*recs));
	if (!recs)
		die("realloc");
	for (int r = -1; r < reps; r++) {
		double t0 = now_ns(), t1, t2;

		sink += text_parse(pid, tv, DUMP + 256);
		t1 = now_ns();
		do_raw_dump(fd, name);
		t2 = now_ns();
		raw_keep(v, reps, r, t1 - t0, t2 - t1,
			 raw_batch(fd, NULL, CHUNK, PROCMAP_BATCH_RANGE, recs, NULL, strs, 1 << 20));
	}
	raw_report("raw-dump", "raw dump 10000 VMAs", v, reps);
	close(fd);
	reap(pid);
	free(recs);
	free(tv);
	free(addrs);
	free(sorted);
	free(index);
	free(v);
	free(strs);
	free(name);
}

static void bench_generation(int reps)
{
	enum { CALLS = 20000 };
	double gen_ns, ppid_ns, enotty_ns, *v = calloc(3 * reps, sizeof(double));
	struct procmap_batch b;
	int fd = open("/proc/self/maps", O_RDONLY);
	uint64_t gen;
	/* PROCMAP_QUERY_GENERATION, or a batch call with nothing to look up (first 6.12 series) */
	bool cmd = !ioctl(fd, PROCMAP_QUERY_GENERATION, &gen);

	printf("generation: %s\n", cmd ? "PROCMAP_QUERY_GENERATION" :
	       "PROCMAP_QUERY_BATCH with nothing to look up");
	/*
	 * Interleaved, as the other benchmarks: the generation call, getppid()
	 * and the ioctl path alone (a command the file does not know).
	 */
	for (int r = 0; r < reps; r++) {
		double t0 = now_ns();

		for (int i = 0; i < CALLS; i++) {
			if (cmd) {
				if (ioctl(fd, PROCMAP_QUERY_GENERATION, &gen))
					die("PROCMAP_QUERY_GENERATION");
				continue;
			}
			memset(&b, 0, sizeof(b));
			b.size = sizeof(b);
			if (ioctl(fd, PROCMAP_QUERY_BATCH, &b))
				die("PROCMAP_QUERY_BATCH");
		}
		v[r] = (now_ns() - t0) / CALLS;
		t0 = now_ns();
		for (int i = 0; i < CALLS; i++)
			syscall(SYS_getppid);
		v[reps + r] = (now_ns() - t0) / CALLS;
		t0 = now_ns();
		for (int i = 0; i < CALLS; i++)
			ioctl(fd, _IO(PROCFS_IOCTL_MAGIC, 0x7f), 0);
		v[2 * reps + r] = (now_ns() - t0) / CALLS;
	}
	gen_ns = median(v, reps);
	ppid_ns = median(v + reps, reps);
	enotty_ns = median(v + 2 * reps, reps);
	printf("RESULT bench=generation ns=%.1f getppid_ns=%.1f enotty_ns=%.1f\n",
	       gen_ns, ppid_ns, enotty_ns);
	printf("generation: %.0f ns a call, getppid() %.0f ns: %.2fx (an unknown ioctl on the same file: %.0f ns)\n",
	       gen_ns, ppid_ns, gen_ns / ppid_ns, enotty_ns);
	close(fd);
	free(v);
}

int main(int argc, char **argv)
{
	int reps = 9, quick = 0, opt;
	unsigned int mask;

	while ((opt = getopt(argc, argv, "r:q")) != -1) {
		if (opt == 'r')
			reps = atoi(optarg);
		else if (opt == 'q')
			quick = 1;
		else
			return 2;
	}
	if (reps < 1)
		reps = 1;
	pg = sysconf(_SC_PAGESIZE);
	if (vmaq_kernel_backends(&mask) || !(mask & (1u << VMAQ_BACKEND_BATCH))) {
		fprintf(stderr, "batchbench: this kernel has no PROCMAP_QUERY_BATCH\n");
		return 1;
	}
	bench_generation(reps);
	bench_symbolize(reps);
	bench_dump(1000, reps);
	bench_dump(10000, reps);
	bench_raw(reps);
	if (!quick)
		bench_dump(60000, reps > 3 ? 3 : reps);
	return 0;
}
