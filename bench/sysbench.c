// SPDX-License-Identifier: GPL-2.0
/*
 * sysbench: what a symbolizer and a fleet agent do, with and without the
 * library, side by side in one run.
 *
 *   normalize  ADDRS addresses of a process that maps LIBS files as a
 *              shared library is mapped (four VMAs: r, r-x, r, rw) among
 *              ANON anonymous VMAs, each turned into (object, file offset)
 *              with one object per file: vmaq_normalize() against the
 *              text read with fgets + sscanf, raw PROCMAP_QUERY and raw
 *              PROCMAP_QUERY_BATCH, each followed by the same grouping
 *              of VMAs into objects (by inode) a symbolizer does.
 *   scan       every process of the machine, PROCS of them ours (each
 *              maps FILES files the same way and a few anonymous VMAs),
 *              every VMA with its name: vmaq_scan_*() (automatic, then
 *              each backend) against reading every /proc/PID/maps with
 *              fgets + sscanf, and against raw PROCMAP_QUERY_BATCH
 *              range calls (one open and one call or more per process).
 *
 * Each round runs every way once, in an order that rotates; times are
 * medians over rounds, ratios the medians of the ratios within a round.
 *
 * Usage: sysbench [-a ADDRS] [-l LIBS] [-n ANON] [-P PROCS] [-f FILES]
 *                 [-r ROUNDS]
 * Prints "RESULT bench=... way=... us=..." and "RESULT ... ratio=..."
 * lines for bench/report.
 */
#include <dirent.h>
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
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/vmaquery_uapi.h>

#include "vmaquery.h"
#include "rawmaps.h"

#define MAX_ROUNDS 64
#define BATCH_RECS 4096
#define STRS_SIZE (1u << 20)
#define OBJ_SLOTS 4096

static long pg;
static volatile uint64_t sink;
static char dir[64];

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *t, int n)
{
	double c[MAX_ROUNDS];

	memcpy(c, t, sizeof(*t) * n);
	qsort(c, n, sizeof(*c), cmp_double);
	return n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
}

/*
 * Map @nfiles files of 4 pages each as the dynamic loader maps a library
 * (r--p, r-xp, r--p, rw-p: four VMAs, one file) and @nanon anonymous
 * VMAs that do not merge. Returns the first anonymous page.
 */
static char *map_like_a_program(int nfiles, int nanon, int tag)
{
	static const int prot[4] = { PROT_READ, PROT_READ | PROT_EXEC, PROT_READ,
				     PROT_READ | PROT_WRITE };
	char path[128], *anon;

	for (int i = 0; i < nfiles; i++) {
		int fd;
		char *m;

		snprintf(path, sizeof(path), "%s/lib%d-%d.so", dir, tag, i);
		fd = open(path, O_RDWR | O_CREAT, 0600);
		if (fd < 0 || ftruncate(fd, 4 * pg))
			return NULL;
		m = mmap(NULL, 4 * pg, PROT_READ, MAP_PRIVATE, fd, 0);
		close(fd);
		if (m == MAP_FAILED)
			return NULL;
		for (int k = 0; k < 4; k++)
			if (mprotect(m + k * pg, pg, prot[k]))
				return NULL;
	}
	anon = mmap(NULL, (size_t)nanon * 2 * pg, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (anon == MAP_FAILED)
		return NULL;
	for (int i = 0; i < nanon; i++)
		if (mprotect(anon + (size_t)i * 2 * pg, pg, PROT_READ | PROT_WRITE))
			return NULL;
	return anon;
}

/* A child mapped by map_like_a_program() that waits to be killed. */
static pid_t spawn(int nfiles, int nanon, int tag, uint64_t *anon)
{
	int ready[2];
	uint64_t a = 0;
	pid_t pid;

	if (pipe(ready))
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		char *m;

		/* never outlive the benchmark, however it ends */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() == 1)
			_exit(1);
		m = map_like_a_program(nfiles, nanon, tag);

		a = (uintptr_t)m;
		if (!m || write(ready[1], &a, sizeof(a)) != sizeof(a))
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	if (read(ready[0], &a, sizeof(a)) != sizeof(a) || !a)
		die("child setup");
	close(ready[0]);
	if (anon)
		*anon = a;
	return pid;
}

/* ---------------------------------------------------------- normalize */

struct norm_bench {
	pid_t pid;
	int fd;
	size_t n;
	uint64_t *addrs;
	uint32_t *order;	/* address indexes, sorted by address */
	uint64_t *sorted;
	struct tvma *tv;
	size_t nmax;
	/* the symbolizer's output: per address an object and an offset */
	uint32_t *obj;
	uint64_t *off;
	/* objects by inode (open addressing), and how many */
	uint64_t slot_ino[OBJ_SLOTS];
	uint32_t slot_obj[OBJ_SLOTS];
	uint32_t nobj;
	struct procmap_vma_record *recs;
	uint32_t *index;
	char *strs, *name;
	struct vmaq_proc *lib;
};

static void objs_reset(struct norm_bench *b)
{
	memset(b->slot_ino, 0, sizeof(b->slot_ino));
	b->nobj = 0;
}

/* The object of inode @ino: one per file, as the library's are. */
static uint32_t obj_of(struct norm_bench *b, uint64_t ino)
{
	size_t h = (size_t)(ino * 0x9e3779b97f4a7c15ull) % OBJ_SLOTS;

	while (b->slot_ino[h] && b->slot_ino[h] != ino)
		h = (h + 1) % OBJ_SLOTS;
	if (!b->slot_ino[h]) {
		b->slot_ino[h] = ino;
		b->slot_obj[h] = b->nobj++;
	}
	return b->slot_obj[h];
}

static void norm_text(struct norm_bench *b)
{
	size_t n = text_parse(b->pid, b->tv, b->nmax);

	objs_reset(b);
	for (size_t i = 0; i < b->n; i++) {
		struct tvma *v = tsearch_vma(b->tv, n, b->addrs[i]);

		b->obj[i] = UINT32_MAX;
		if (!v || !v->ino)
			continue;
		b->obj[i] = obj_of(b, v->ino);
		b->off[i] = b->addrs[i] - v->start + v->off;
	}
	sink += b->nobj;
}

static uint64_t *sort_key;

static int cmp_order(const void *x, const void *y)
{
	uint64_t a = sort_key[*(const uint32_t *)x], c = sort_key[*(const uint32_t *)y];

	return a < c ? -1 : a > c;
}

static void sort_addrs(struct norm_bench *b)
{
	for (size_t i = 0; i < b->n; i++)
		b->order[i] = (uint32_t)i;
	sort_key = b->addrs;
	qsort(b->order, b->n, sizeof(*b->order), cmp_order);
}

static void norm_query(struct norm_bench *b)
{
	struct procmap_query q = { 0 };
	bool have = false;

	objs_reset(b);
	sort_addrs(b);
	for (size_t k = 0; k < b->n; k++)
		b->obj[k] = UINT32_MAX;
	for (size_t k = 0; k < b->n; k++) {
		uint32_t i = b->order[k];
		uint64_t a = b->addrs[i];

		if (!have || a >= q.vma_end) {
			if (raw_query(b->fd, a, PROCMAP_QUERY_COVERING_OR_NEXT_VMA, &q, b->name))
				break;
			have = true;
		}
		if (a < q.vma_start || !q.inode)
			continue;
		b->obj[i] = obj_of(b, q.inode);
		b->off[i] = a - q.vma_start + q.vma_offset;
	}
	sink += b->nobj;
}

static void norm_batch(struct norm_bench *b)
{
	struct procmap_batch q;

	objs_reset(b);
	sort_addrs(b);
	for (size_t k = 0; k < b->n; k++)
		b->sorted[k] = b->addrs[b->order[k]];
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.flags = PROCMAP_BATCH_NAMES;
	q.rec_size = sizeof(*b->recs);
	q.rec_count = (uint32_t)b->n;
	q.recs_addr = (uintptr_t)b->recs;
	q.strs_size = STRS_SIZE;
	q.strs_addr = (uintptr_t)b->strs;
	q.addr_count = (uint32_t)b->n;
	q.addrs_addr = (uintptr_t)b->sorted;
	q.index_addr = (uintptr_t)b->index;
	if (ioctl(b->fd, PROCMAP_QUERY_BATCH, &q))
		die("PROCMAP_QUERY_BATCH");
	for (size_t k = 0; k < b->n; k++) {
		uint32_t i = b->order[k];
		const struct procmap_vma_record *r;

		b->obj[i] = UINT32_MAX;
		if (b->index[k] >= q.rec_count)
			continue;
		r = &b->recs[b->index[k]];
		if (!r->inode)
			continue;
		b->obj[i] = obj_of(b, r->inode);
		b->off[i] = b->sorted[k] - r->vma_start + r->vma_offset;
	}
	sink += b->nobj;
}

static void norm_lib(struct norm_bench *b)
{
	const struct vmaq_norm_addr *na;
	struct vmaq_norm *nm;

	if (vmaq_normalize(b->lib, b->addrs, b->n, 0, &nm))
		die("vmaq_normalize");
	na = vmaq_norm_addrs(nm);
	for (size_t i = 0; i < b->n; i++) {
		b->obj[i] = na[i].object;
		b->off[i] = na[i].offset;
	}
	sink += vmaq_norm_objects(nm);
	vmaq_norm_free(nm);
}

/* The ways agree: the same offsets and the same grouping (up to names). */
static void norm_check(struct norm_bench *b, void (*way)(struct norm_bench *),
		       const char *name, const uint32_t *obj0, const uint64_t *off0)
{
	way(b);
	for (size_t i = 0; i < b->n; i++) {
		bool none0 = obj0[i] == UINT32_MAX, none = b->obj[i] == UINT32_MAX;

		if (none0 != none || (!none && off0[i] != b->off[i])) {
			fprintf(stderr, "sysbench: %s disagrees at address %zu (%#llx): "
				"%u %#llx against %u %#llx\n", name, i,
				(unsigned long long)b->addrs[i], obj0[i],
				(unsigned long long)off0[i], b->obj[i],
				(unsigned long long)b->off[i]);
			exit(1);
		}
	}
}

static void bench_normalize(int naddrs, int libs, int nanon, int rounds,
			    unsigned int mask)
{
	enum { TEXT, QUERY, BATCH, LIB, NW };
	static const char *const key[NW] = { "fgets", "raw-query", "raw-batch", "auto" };
	void (*const fn[NW])(struct norm_bench *) = { norm_text, norm_query, norm_batch,
						      norm_lib };
	bool have[NW] = { true, mask & (1u << VMAQ_BACKEND_QUERY),
			  mask & (1u << VMAQ_BACKEND_BATCH), true };
	double t[NW][MAX_ROUNDS], ratio[NW][MAX_ROUNDS];
	struct norm_bench *b = calloc(1, sizeof(*b));
	uint32_t *obj0;
	uint64_t anon, *off0;
	char path[64];
	int w;

	if (!b)
		die("calloc");
	b->pid = spawn(libs, nanon, 0, &anon);
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)b->pid);
	b->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (b->fd < 0 || vmaq_open(b->pid, NULL, &b->lib))
		die("open maps");
	b->n = (size_t)naddrs;
	b->nmax = (size_t)(4 * libs + 2 * nanon) + 256;
	b->addrs = calloc(b->n, sizeof(*b->addrs));
	b->order = calloc(b->n, sizeof(*b->order));
	b->sorted = calloc(b->n, sizeof(*b->sorted));
	b->obj = calloc(b->n, sizeof(*b->obj));
	b->off = calloc(b->n, sizeof(*b->off));
	b->tv = calloc(b->nmax, sizeof(*b->tv));
	b->recs = calloc(b->n, sizeof(*b->recs));
	b->index = calloc(b->n, sizeof(*b->index));
	b->strs = malloc(STRS_SIZE);
	b->name = malloc(PATH_MAX);
	obj0 = calloc(b->n, sizeof(*obj0));
	off0 = calloc(b->n, sizeof(*off0));
	if (!b->addrs || !b->order || !b->sorted || !b->obj || !b->off || !b->tv ||
	    !b->recs || !b->index || !b->strs || !b->name || !obj0 || !off0)
		die("calloc");
	/* four in five addresses in the files' VMAs, the rest anonymous */
	{
		struct vmaq_snapshot *s;
		size_t nfile = 0, k = 0;
		uint64_t *fs;

		if (vmaq_snapshot_new(b->lib, 0, &s))
			die("snapshot");
		fs = calloc(vmaq_snapshot_count(s), sizeof(*fs));
		for (size_t i = 0; fs && i < vmaq_snapshot_count(s); i++) {
			const struct vmaq_vma *v = vmaq_snapshot_vma(s, i);

			if ((v->flags & VMAQ_FILE) && v->inode)
				fs[nfile++] = v->start;
		}
		vmaq_snapshot_free(s);
		if (!fs || !nfile)
			die("no file VMAs");
		srand(1);
		for (k = 0; k < b->n; k++)
			b->addrs[k] = k % 5 == 4 ?
				anon + (uint64_t)(rand() % (2 * nanon)) * pg + (uint64_t)(rand() % pg) :
				fs[rand() % nfile] + (uint64_t)(rand() % pg);
		free(fs);
	}
	norm_text(b);
	memcpy(obj0, b->obj, b->n * sizeof(*obj0));
	memcpy(off0, b->off, b->n * sizeof(*off0));
	for (w = 1; w < NW; w++)
		if (have[w])
			norm_check(b, fn[w], key[w], obj0, off0);
	if (rounds > MAX_ROUNDS)
		rounds = MAX_ROUNDS;
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < NW; k++) {
			double t0;
			int loops = 0;

			w = (r + k) % NW;
			if (!have[w])
				continue;
			t0 = now_us();
			/* at least 5 ms a sample: the clock's steps stay out */
			do {
				fn[w](b);
				loops++;
			} while (now_us() - t0 < 5000);
			t[w][r] = (now_us() - t0) / loops;
		}
		for (w = 0; w < NW; w++)
			ratio[w][r] = have[w] ? t[LIB][r] / t[w][r] : 0;
	}
	for (w = 0; w < NW; w++)
		if (have[w])
			printf("RESULT bench=normalize addrs=%d objects=%d vmas=%zu way=%s "
			       "us=%.2f lib_vs=%.4f\n", naddrs, libs,
			       (size_t)(4 * libs + 2 * nanon), key[w], median(t[w], rounds),
			       median(ratio[w], rounds));
	kill(b->pid, SIGKILL);
	waitpid(b->pid, NULL, 0);
	vmaq_close(b->lib);
	close(b->fd);
	free(b->addrs); free(b->order); free(b->sorted); free(b->obj); free(b->off);
	free(b->tv); free(b->recs); free(b->index); free(b->strs); free(b->name);
	free(obj0); free(off0); free(b);
}

/* --------------------------------------------------------------- scan */

static struct tvma *scan_tv;
static size_t scan_tv_max = 1 << 16;
static struct procmap_vma_record *scan_recs;
static char *scan_strs;

/* Every /proc/PID/maps, read with fgets and sscanf: the VMAs seen. */
static size_t scan_text(void)
{
	struct dirent *d;
	size_t vmas = 0;
	DIR *p = opendir("/proc");

	if (!p)
		die("/proc");
	while ((d = readdir(p))) {
		if (d->d_name[0] < '1' || d->d_name[0] > '9')
			continue;
		vmas += text_parse(atoi(d->d_name), scan_tv, scan_tv_max);
	}
	closedir(p);
	return vmas;
}

/* Every process with raw range-mode batch calls, names wanted. */
static size_t scan_raw_batch(void)
{
	struct procmap_batch q;
	struct dirent *d;
	size_t vmas = 0;
	char path[300];
	DIR *p = opendir("/proc");

	if (!p)
		die("/proc");
	while ((d = readdir(p))) {
		uint64_t start = 0;
		int fd;

		if (d->d_name[0] < '1' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/maps", d->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		do {
			memset(&q, 0, sizeof(q));
			q.size = sizeof(q);
			q.flags = PROCMAP_BATCH_NAMES | PROCMAP_BATCH_RANGE;
			q.rec_size = sizeof(*scan_recs);
			q.rec_count = BATCH_RECS;
			q.recs_addr = (uintptr_t)scan_recs;
			q.strs_size = STRS_SIZE;
			q.strs_addr = (uintptr_t)scan_strs;
			q.start = start;
			q.end = UINT64_MAX;
			if (ioctl(fd, PROCMAP_QUERY_BATCH, &q))
				break;	/* gone, or a kernel thread */
			/* each record kept, as the text parser keeps its lines */
			for (uint32_t i = 0; i < q.rec_count && vmas < scan_tv_max; i++) {
				const struct procmap_vma_record *r = &scan_recs[i];
				struct tvma *t = &scan_tv[i];
				size_t len = r->name_size ? r->name_size - 1 : 0;

				t->start = r->vma_start;
				t->end = r->vma_end;
				t->off = r->vma_offset;
				t->ino = r->inode;
				if (len >= sizeof(t->name))
					len = sizeof(t->name) - 1;
				memcpy(t->name, scan_strs + r->name_off, len);
				t->name[len] = '\0';
			}
			vmas += q.rec_count;
			start = q.start;
		} while (start != UINT64_MAX);
		close(fd);
	}
	closedir(p);
	return vmas;
}

static size_t scan_lib(enum vmaq_backend be)
{
	VMAQ_OPTS(vmaq_scan_opts, o, .backend = be, .flags = VMAQ_NAME);
	const struct vmaq_vma *v;
	struct vmaq_scan *s;
	size_t vmas = 0;
	pid_t pid;

	if (vmaq_scan_new(&o, &s))
		die("vmaq_scan_new");
	while (vmaq_scan_next(s, &pid) > 0)
		while (vmaq_scan_vma(s, &v) > 0)
			vmas++;
	vmaq_scan_free(s);
	return vmas;
}

static void bench_scan(int procs, int files, int rounds, unsigned int mask)
{
	enum { TEXT, RAW_BATCH, AUTO, BATCH, QUERY, TXT, NW };
	static const char *const key[NW] = { "fgets", "raw-batch", "auto", "batch", "query",
					     "text" };
	static const enum vmaq_backend be[NW] = { 0, 0, VMAQ_BACKEND_AUTO, VMAQ_BACKEND_BATCH,
						  VMAQ_BACKEND_QUERY, VMAQ_BACKEND_TEXT };
	bool have[NW] = { true, mask & (1u << VMAQ_BACKEND_BATCH), true,
			  mask & (1u << VMAQ_BACKEND_BATCH), mask & (1u << VMAQ_BACKEND_QUERY),
			  true };
	double t[NW][MAX_ROUNDS], ratio[NW][MAX_ROUNDS];
	size_t seen[NW] = { 0 };
	pid_t *kids = calloc((size_t)procs, sizeof(*kids));
	int w, nproc = 0;
	struct dirent *d;
	DIR *p;

	scan_tv = calloc(scan_tv_max, sizeof(*scan_tv));
	scan_recs = calloc(BATCH_RECS, sizeof(*scan_recs));
	scan_strs = malloc(STRS_SIZE);
	if (!kids || !scan_tv || !scan_recs || !scan_strs)
		die("calloc");
	/* the files once, then each child maps them */
	for (int i = 0; i < procs; i++)
		kids[i] = spawn(files, 8, 1, NULL);
	p = opendir("/proc");
	while (p && (d = readdir(p)))
		nproc += d->d_name[0] >= '1' && d->d_name[0] <= '9';
	if (p)
		closedir(p);
	if (rounds > MAX_ROUNDS)
		rounds = MAX_ROUNDS;
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < NW; k++) {
			double t0;

			w = (r + k) % NW;
			if (!have[w])
				continue;
			t0 = now_us();
			if (w == TEXT)
				seen[w] = scan_text();
			else if (w == RAW_BATCH)
				seen[w] = scan_raw_batch();
			else
				seen[w] = scan_lib(be[w]);
			t[w][r] = now_us() - t0;
		}
		for (w = 0; w < NW; w++)
			ratio[w][r] = have[w] ? t[TEXT][r] / t[w][r] : 0;
	}
	for (w = 0; w < NW; w++)
		if (have[w])
			printf("RESULT bench=scan procs=%d ours=%d vmas=%zu way=%s us=%.1f "
			       "text_vs=%.3f\n", nproc, procs, seen[w], key[w],
			       median(t[w], rounds), median(ratio[w], rounds));
	for (int i = 0; i < procs; i++)
		kill(kids[i], SIGKILL);
	for (int i = 0; i < procs; i++)
		waitpid(kids[i], NULL, 0);
	free(kids);
	free(scan_tv);
	free(scan_recs);
	free(scan_strs);
}

int main(int argc, char **argv)
{
	int naddrs = 4400, libs = 100, nanon = 2000, procs = 300, files = 12, rounds = 9;
	unsigned int mask = 0;
	char cmd[128];
	int opt;

	while ((opt = getopt(argc, argv, "a:l:n:P:f:r:")) != -1) {
		switch (opt) {
		case 'a': naddrs = atoi(optarg); break;
		case 'l': libs = atoi(optarg); break;
		case 'n': nanon = atoi(optarg); break;
		case 'P': procs = atoi(optarg); break;
		case 'f': files = atoi(optarg); break;
		case 'r': rounds = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-a ADDRS] [-l LIBS] [-n ANON] [-P PROCS] "
				"[-f FILES] [-r ROUNDS]\n", argv[0]);
			return 2;
		}
	}
	if (naddrs < 1 || libs < 1 || nanon < 1 || procs < 1 || files < 0 || rounds < 1) {
		fprintf(stderr, "sysbench: every count at least 1\n");
		return 2;
	}
	pg = sysconf(_SC_PAGESIZE);
	if (vmaq_kernel_backends(&mask))
		die("vmaq_kernel_backends");
	snprintf(dir, sizeof(dir), "/tmp/vmaq-sysbench.%d", (int)getpid());
	if (mkdir(dir, 0700))
		die(dir);
	bench_normalize(naddrs, libs, nanon, rounds, mask);
	bench_scan(procs, files, rounds, mask);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		fprintf(stderr, "sysbench: could not remove %s\n", dir);
	return 0;
}
