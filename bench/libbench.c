// SPDX-License-Identifier: GPL-2.0
/*
 * libbench: the library against what programs do today, side by side in
 * one run, on one prepared process:
 *
 *   symbolize  resolve ADDRS sampled addresses (about DISTINCT VMAs)
 *   dump       read every VMA with its name
 *
 * Methods: a typical text parser (fgets + sscanf into an array, then a
 * binary search, as perf and libbpf's helpers do), raw PROCMAP_QUERY (the
 * least a program can do with the ioctl), and the library on each
 * backend. Times are medians of REPS runs; what matters is the ratios.
 * The library's overhead over raw PROCMAP_QUERY is printed last.
 *
 * Usage: libbench [-v VMAS] [-a ADDRS] [-d DISTINCT] [-r REPS]
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

static long pg;
/* Results go here so the compiler cannot drop the work that makes them. */
static volatile uint64_t sink;

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

static void do_lib_dump(struct vmaq_proc *p)
{
	struct vmaq_iter *it;
	const struct vmaq_vma *v;

	if (vmaq_iter_new(p, VMAQ_NAME, &it))
		exit(1);
	while (vmaq_iter_next(it, &v) > 0)
		;
	vmaq_iter_free(it);
}

static void do_lib_symbolize(struct vmaq_proc *p, const uint64_t *addrs, int n)
{
	struct vmaq_lookup *l;

	if (vmaq_lookup(p, addrs, (size_t)n, VMAQ_NAME, &l))
		exit(1);
	vmaq_lookup_free(l);
}

/* The target: VMAS alternating-protection pages (none can merge). */
static pid_t spawn_target(int nvmas, uint64_t *base)
{
	int p[2];
	pid_t pid;
	char *m;

	m = mmap(NULL, (size_t)nvmas * pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || pipe(p))
		exit(1);
	for (int i = 0; i < nvmas; i += 2)
		mprotect(m + (size_t)i * pg, pg, PROT_READ | PROT_WRITE);
	*base = (uintptr_t)m;
	pid = fork();
	if (pid == 0) {
		char c;

		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(p[0]);
	munmap(m, (size_t)nvmas * pg);
	return pid;
}

#define MAX_METHODS 8
struct result {
	const char *name;
	double us;
};

static double median(double *t, int n)
{
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	return t[n / 2];
}

int main(int argc, char **argv)
{
	int nvmas = 700, naddrs = 4400, distinct = 700, reps = 15, opt;
	struct result sym[MAX_METHODS], dump[MAX_METHODS];
	int nsym = 0, ndump = 0;
	uint64_t base, *addrs, *sorted;
	struct tvma *tv;
	char *name = malloc(PATH_MAX);
	double t[3 * 64], raw_sym = 0, raw_dump = 0, lib_sym = 0, lib_dump = 0;
	double auto_sym = 0, auto_dump = 0, best_sym, best_dump;
	/* the automatic choice first: what a program linking the library gets */
	static const int lib_backends[] = {
		VMAQ_BACKEND_AUTO, VMAQ_BACKEND_QUERY, VMAQ_BACKEND_TEXT,
	};
	static const char *const sym_names[] = {
		"libvmaquery vmaq_lookup (auto)", "libvmaquery vmaq_lookup (query)",
		"libvmaquery vmaq_lookup (text)",
	};
	static const char *const dump_names[] = {
		"libvmaquery iteration (auto)", "libvmaquery iteration (query)",
		"libvmaquery iteration (text)",
	};
	unsigned int mask = 0;
	bool have_query;
	pid_t pid;
	int fd, i, r, st;

	while ((opt = getopt(argc, argv, "v:a:d:r:")) != -1) {
		switch (opt) {
		case 'v': nvmas = atoi(optarg); break;
		case 'a': naddrs = atoi(optarg); break;
		case 'd': distinct = atoi(optarg); break;
		case 'r': reps = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-v VMAS] [-a ADDRS] [-d DISTINCT] [-r REPS]\n", argv[0]);
			return 2;
		}
	}
	if (reps > 64)
		reps = 64;
	if (distinct > nvmas)
		distinct = nvmas;
	pg = sysconf(_SC_PAGESIZE);
	pid = spawn_target(nvmas, &base);
	vmaq_kernel_backends(&mask);
	have_query = mask & (1u << VMAQ_BACKEND_QUERY);
	tv = calloc((size_t)nvmas + 256, sizeof(*tv));
	addrs = malloc((size_t)naddrs * sizeof(*addrs));
	sorted = malloc((size_t)naddrs * sizeof(*sorted));
	srand(1);
	for (i = 0; i < naddrs; i++)
		addrs[i] = base + (uint64_t)(rand() % distinct) * pg + (uint64_t)(rand() % pg);
	{
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/maps", pid);
		fd = open(path, O_RDONLY);
	}

	/* ---- symbolization ---- */
	for (r = 0; r < reps; r++) {
		double t0 = now_us();
		size_t n = text_parse(pid, tv, (size_t)nvmas + 256);

		for (i = 0; i < naddrs; i++) {
			struct tvma *v = tsearch_vma(tv, n, addrs[i]);

			if (v)
				sink += addrs[i] - v->start + v->off;
		}
		t[r] = now_us() - t0;
	}
	sym[nsym++] = (struct result){ "text: fgets+sscanf, then search", median(t, reps) };
	if (have_query) {
		for (r = 0; r < reps; r++) {
			double t0 = now_us();

			do_raw_symbolize(fd, addrs, sorted, naddrs, name);
			t[r] = now_us() - t0;
		}
		raw_sym = median(t, reps);
		sym[nsym++] = (struct result){ "raw PROCMAP_QUERY per distinct VMA", raw_sym };
	}
	for (size_t k = 0; k < sizeof(lib_backends) / sizeof(lib_backends[0]); k++) {
		int b = lib_backends[k];
		VMAQ_OPTS(vmaq_open_opts, o, .backend = (enum vmaq_backend)b);
		struct vmaq_proc *p;

		if (vmaq_open(pid, &o, &p))
			continue;
		for (r = 0; r < reps; r++) {
			double t0 = now_us();

			do_lib_symbolize(p, addrs, naddrs);
			t[r] = now_us() - t0;
		}
		sym[nsym] = (struct result){ sym_names[k], median(t, reps) };
		if (b == VMAQ_BACKEND_QUERY)
			lib_sym = sym[nsym].us;
		if (b == VMAQ_BACKEND_AUTO)
			auto_sym = sym[nsym].us;
		nsym++;
		vmaq_close(p);
	}

	/* ---- full dump ---- */
	for (r = 0; r < reps; r++) {
		double t0 = now_us();

		text_parse(pid, tv, (size_t)nvmas + 256);
		t[r] = now_us() - t0;
	}
	dump[ndump++] = (struct result){ "text: fgets+sscanf", median(t, reps) };
	if (have_query) {
		for (r = 0; r < reps; r++) {
			double t0 = now_us();

			do_raw_dump(fd, name);
			t[r] = now_us() - t0;
		}
		raw_dump = median(t, reps);
		dump[ndump++] = (struct result){ "raw PROCMAP_QUERY loop", raw_dump };
	}
	for (size_t k = 0; k < sizeof(lib_backends) / sizeof(lib_backends[0]); k++) {
		int b = lib_backends[k];
		VMAQ_OPTS(vmaq_open_opts, o, .backend = (enum vmaq_backend)b);
		struct vmaq_proc *p;

		if (vmaq_open(pid, &o, &p))
			continue;
		for (r = 0; r < reps; r++) {
			double t0 = now_us();

			do_lib_dump(p);
			t[r] = now_us() - t0;
		}
		dump[ndump] = (struct result){ dump_names[k], median(t, reps) };
		if (b == VMAQ_BACKEND_QUERY)
			lib_dump = dump[ndump].us;
		if (b == VMAQ_BACKEND_AUTO)
			auto_dump = dump[ndump].us;
		ndump++;
		vmaq_close(p);
	}

	/*
	 * The overhead figure: raw PROCMAP_QUERY and the library (query
	 * backend) measured alternately, rep by rep, so that drift of the
	 * machine lands on both equally.
	 */
	if (have_query) {
		VMAQ_OPTS(vmaq_open_opts, o, .backend = VMAQ_BACKEND_QUERY);
		double tr[3 * 64], tl[3 * 64];
		int n3 = reps * 3 > 3 * 64 ? 3 * 64 : reps * 3;
		struct vmaq_proc *p;

		if (vmaq_open(pid, &o, &p))
			exit(1);
		for (int pass = 0; pass < 2; pass++) {
			for (r = 0; r < n3; r++) {
				double t0 = now_us();

				if (pass == 0)
					do_raw_dump(fd, name);
				else
					do_raw_symbolize(fd, addrs, sorted, naddrs, name);
				tr[r] = now_us() - t0;
				t0 = now_us();
				if (pass == 0)
					do_lib_dump(p);
				else
					do_lib_symbolize(p, addrs, naddrs);
				tl[r] = now_us() - t0;
			}
			if (pass == 0) {
				raw_dump = median(tr, n3);
				lib_dump = median(tl, n3);
			} else {
				raw_sym = median(tr, n3);
				lib_sym = median(tl, n3);
			}
		}
		vmaq_close(p);
	}

	printf("libbench: process with %d VMAs; %d addresses over %d VMAs; median of %d runs\n\n",
	       nvmas, naddrs, distinct, reps);
	printf("%-40s %12s %10s\n", "symbolize", "time (us)", "vs text");
	for (i = 0; i < nsym; i++)
		printf("%-40s %12.1f %9.2fx\n", sym[i].name, sym[i].us, sym[0].us / sym[i].us);
	printf("\n%-40s %12s %10s\n", "full dump with names", "time (us)", "vs text");
	for (i = 0; i < ndump; i++)
		printf("%-40s %12.1f %9.2fx\n", dump[i].name, dump[i].us, dump[0].us / dump[i].us);
	/* the fastest way without the library: the text parser or the raw ioctl */
	best_sym = sym[0].us;
	best_dump = dump[0].us;
	if (have_query) {
		best_sym = sym[1].us < best_sym ? sym[1].us : best_sym;
		best_dump = dump[1].us < best_dump ? dump[1].us : best_dump;
	}
	printf("\nlibrary (auto) against the fastest raw interface: symbolize %+.1f%%, dump %+.1f%%; against fgets+sscanf: symbolize %+.1f%%, dump %+.1f%%\n",
	       (auto_sym / best_sym - 1) * 100, (auto_dump / best_dump - 1) * 100,
	       (auto_sym / sym[0].us - 1) * 100, (auto_dump / dump[0].us - 1) * 100);
	if (have_query) {
		printf("library overhead over raw PROCMAP_QUERY (measured alternately, rep by rep): symbolize %+.1f%%, dump %+.1f%%\n",
		       (lib_sym / raw_sym - 1) * 100, (lib_dump / raw_dump - 1) * 100);
	}
	close(fd);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return 0;
}
