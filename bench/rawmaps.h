/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bench/rawmaps.h: what programs do today, without the library, for the
 * benchmarks that compare against it (libbench on the host, batchbench in
 * the VM): a typical text parser (fgets + sscanf into an array, then a
 * binary search, as perf and libbpf's helpers do) and the least a program
 * can do with PROCMAP_QUERY.
 */
#ifndef VMAQ_BENCH_RAWMAPS_H
#define VMAQ_BENCH_RAWMAPS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/vmaquery_uapi.h>

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* ---- the typical text parser ---- */
struct tvma {
	uint64_t start, end, off, ino;
	char perms[8];
	char name[256];
};

static size_t text_parse(pid_t pid, struct tvma *out, size_t max)
{
	char path[64], line[4600], dev[16];
	unsigned long long s, e, off, ino;
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		out[n].name[0] = '\0';
		if (sscanf(line, "%llx-%llx %7s %llx %15s %llu %255[^\n]", &s, &e,
			   out[n].perms, &off, dev, &ino, out[n].name) < 6)
			continue;
		out[n].start = s;
		out[n].end = e;
		out[n].off = off;
		out[n].ino = ino;
		n++;
	}
	fclose(f);
	return n;
}

static struct tvma *tsearch_vma(struct tvma *v, size_t n, uint64_t a)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (v[mid].end <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && v[lo].start <= a ? &v[lo] : NULL;
}

/* ---- raw PROCMAP_QUERY ---- */
static inline int raw_query(int fd, uint64_t addr, uint64_t flags,
			    struct procmap_query *q, char *name)
{
	memset(q, 0, sizeof(*q));
	q->size = sizeof(*q);
	q->query_flags = flags;
	q->query_addr = addr;
	q->vma_name_addr = (uintptr_t)name;
	q->vma_name_size = PATH_MAX;
	return ioctl(fd, PROCMAP_QUERY, q);
}

static inline int raw_next(int fd, uint64_t addr, struct procmap_query *q, char *name)
{
	return raw_query(fd, addr, PROCMAP_QUERY_COVERING_OR_NEXT_VMA, q, name);
}

/* The four operations measured, each as programs would write them. */
static inline void do_raw_dump(int fd, char *name)
{
	struct procmap_query q;
	uint64_t a = 0;

	while (raw_next(fd, a, &q, name) == 0)
		a = q.vma_end;
}

static inline void do_raw_symbolize(int fd, const uint64_t *addrs, uint64_t *sorted,
			  int n, char *name)
{
	struct procmap_query q = { 0 };
	bool have = false;

	memcpy(sorted, addrs, (size_t)n * sizeof(*sorted));
	qsort(sorted, (size_t)n, sizeof(*sorted), cmp_u64);
	for (int i = 0; i < n; i++) {
		if (have && sorted[i] < q.vma_end)
			continue;
		have = raw_next(fd, sorted[i], &q, name) == 0;
	}
}

#endif /* VMAQ_BENCH_RAWMAPS_H */
