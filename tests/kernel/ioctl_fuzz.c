// SPDX-License-Identifier: GPL-2.0
/*
 * PROCMAP_QUERY and PROCMAP_QUERY_BATCH under fire (one test each):
 * FUZZERS threads issue them with random and
 * structured-random arguments against a target that mmaps, munmaps,
 * mremaps, mprotects, forks and is replaced when it exits, for
 * VMAQ_FUZZ_SECONDS each (default 5; make check's VM run sets minutes,
 * make torture DURATION).
 *
 * Arguments: struct sizes around every boundary, every flag bit, addresses
 * at 0, page edges of the target's VMAs, ~0 and in kernel space, name and
 * build-ID buffers that are absent, valid, too small, bad pointers, or
 * straddle an unmapped page.
 *
 * Every result must be a success whose record is consistent with the
 * query, or one of the documented errors; the kernel must never write past
 * the caller's struct or buffers (checked with guard patterns). Any other
 * outcome is a failure; a kernel splat fails the VM run.
 */
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <time.h>

#include <linux/vmaquery_uapi.h>

#include "kselftest_harness.h"
#include "vmaq_test.h"

#define FUZZERS 3
#define GUARD 0xa5

static long pg;
static atomic_int target_pid;
static atomic_bool stop;
static atomic_ulong calls, ok_calls, bad;
static char *straddle;		/* a page followed by an unmapped page */
/* shared with the targets: address-space changes that succeeded, forks */
static unsigned long *churned;
static char last_bad[256];

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The churning target: runs until killed. */
static void target_loop(void)
{
	char *region = mmap(NULL, 64 * pg, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t s = (uint64_t)getpid() * 2654435761u + 1;

	for (unsigned long i = 0;; i++) {
		char *p = region + (rnd(&s) % 60) * pg;
		bool changed = false;

		switch (rnd(&s) % 6) {
		case 0:
			changed = !munmap(p, pg);
			break;
		case 1:
			changed = mmap(p, 2 * pg, PROT_READ,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED;
			break;
		case 2:
			changed = !mprotect(p, pg, rnd(&s) % 2 ? PROT_READ : PROT_READ | PROT_WRITE);
			break;
		case 3:
			changed = mremap(p, pg, pg, MREMAP_MAYMOVE | MREMAP_FIXED,
					 region + (rnd(&s) % 60) * pg) != MAP_FAILED;
			break;
		case 4:
			changed = !prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, p, pg,
					 rnd(&s) % 2 ? "a" : NULL);
			break;
		case 5:
			if (i % 64 == 0) {
				pid_t c = fork();

				if (c == 0)
					_exit(0);
				waitpid(c, NULL, 0);
				__atomic_fetch_add(&churned[1], 1, __ATOMIC_RELAXED);
			}
			break;
		}
		if (changed)
			__atomic_fetch_add(&churned[0], 1, __ATOMIC_RELAXED);
	}
}

static pid_t start_target(void)
{
	pid_t p = fork();

	if (p == 0)
		target_loop();
	return p;
}

static void record_bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void record_bad(const char *fmt, ...)
{
	va_list ap;

	if (atomic_fetch_add(&bad, 1) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(last_bad, sizeof(last_bad), fmt, ap);
	va_end(ap);
}

static bool documented(int e)
{
	switch (e) {
	case EINVAL: case E2BIG: case ENOENT: case ESRCH: case EFAULT:
	case ENAMETOOLONG: case ENOMEM: case EINTR:
		return true;
	}
	return false;
}

static void one_call(int fd, uint64_t *s)
{
	static const size_t sizes[] = { 0, 7, 8, 15, 16, 23, 24, 96, 103,
					sizeof(struct procmap_query) - 8,
					sizeof(struct procmap_query),
					sizeof(struct procmap_query) + 8,
					4095, 4096, 4097 };
	unsigned char buf[4200], before[4200];
	struct procmap_query *q = (void *)buf;
	size_t size = rnd(s) % 4 ? sizeof(*q) : sizes[rnd(s) % (sizeof(sizes) / sizeof(sizes[0]))];
	char name[PATH_MAX + 64];
	unsigned char bid[64];
	uint64_t addr, flags, r = rnd(s);
	uint32_t name_sz = 0, bid_sz = 0;
	int ret, e;

	memset(buf, GUARD, sizeof(buf));
	memset(buf, 0, size < sizeof(*q) ? sizeof(*q) : (size > sizeof(buf) ? sizeof(buf) : size));
	memset(name, GUARD, sizeof(name));
	memset(bid, GUARD, sizeof(bid));
	switch (r % 7) {
	case 0: addr = 0; break;
	case 1: addr = ~0ull; break;
	case 2: addr = 0xffff800000000000ull + (rnd(s) % (1ull << 40)); break;
	case 3: addr = rnd(s) & ~(uint64_t)(pg - 1); break;
	default: addr = (rnd(s) % (1ull << 47)) & ~(uint64_t)(pg - 1); break;
	}
	if (r % 5 == 0)
		addr += rnd(s) % 3 - 1;		/* page edges */
	flags = rnd(s) % 8 ? rnd(s) & 0x3f : rnd(s);	/* mostly valid */
	q->size = size;
	q->query_flags = flags;
	q->query_addr = addr;
	switch (rnd(s) % 6) {
	case 0:
		break;
	case 1:
		name_sz = (uint32_t)(rnd(s) % (PATH_MAX + 10));
		q->vma_name_addr = (uintptr_t)name;
		break;
	case 2:			/* bad pointers */
		name_sz = 64;
		q->vma_name_addr = rnd(s) % 2 ? 8 : 0xffff880000000000ull;
		break;
	case 3:			/* straddles an unmapped page */
		name_sz = 256;
		q->vma_name_addr = (uintptr_t)(straddle + pg - rnd(s) % 128);
		break;
	case 4:			/* half-valid: size without address */
		name_sz = 32;
		break;
	default:
		name_sz = 4096;
		q->vma_name_addr = (uintptr_t)name;
	}
	q->vma_name_size = name_sz;
	if (rnd(s) % 3 == 0) {
		bid_sz = (uint32_t)(rnd(s) % 40);
		q->build_id_addr = rnd(s) % 4 ? (uintptr_t)bid : 16;
		q->build_id_size = bid_sz;
	}
	memcpy(before, buf, sizeof(buf));
	ret = ioctl(fd, PROCMAP_QUERY, q);
	e = errno;
	atomic_fetch_add(&calls, 1);
	/* Never beyond the struct the caller gave: past @size, nothing moved. */
	for (size_t i = size; i < sizeof(buf) && i < sizeof(*q) + 64; i++) {
		if (buf[i] != before[i]) {
			record_bad("write past the struct at %zu (size %zu)", i, size);
			return;
		}
	}
	if (ret) {
		if (!documented(e))
			record_bad("undocumented errno %d (flags %#llx)", e, (unsigned long long)flags);
		return;
	}
	atomic_fetch_add(&ok_calls, 1);
	/* a shorter struct gets only its own fields back */
	if (size < sizeof(*q))
		return;
	if (q->vma_start >= q->vma_end || q->vma_start % pg || q->vma_end % pg)
		record_bad("bad range %#llx-%#llx", (unsigned long long)q->vma_start, (unsigned long long)q->vma_end);
	else if (q->vma_end <= addr)
		record_bad("VMA ends at %#llx, at or below the query %#llx", (unsigned long long)q->vma_end, (unsigned long long)addr);
	else if (!(flags & PROCMAP_QUERY_COVERING_OR_NEXT_VMA) && q->vma_start > addr)
		record_bad("covering query at %#llx answered %#llx", (unsigned long long)addr, (unsigned long long)q->vma_start);
	else if (q->vma_flags & ~0xfull)
		record_bad("unknown vma_flags %#llx", (unsigned long long)q->vma_flags);
	else if ((q->vma_flags & (flags & 0xf)) != (flags & 0xf))
		record_bad("flags %#llx not honoured: %#llx", (unsigned long long)flags, (unsigned long long)q->vma_flags);
	else if (q->vma_name_size > name_sz)
		record_bad("name size %u over the buffer %u", q->vma_name_size, name_sz);
	else if (q->vma_name_size && q->vma_name_addr == (uintptr_t)name &&
		 name[q->vma_name_size - 1] != '\0')
		record_bad("name not terminated (size %u)", q->vma_name_size);
	else if (q->vma_name_addr == (uintptr_t)name && name_sz < sizeof(name) &&
		 (unsigned char)name[name_sz] != GUARD)
		record_bad("write past the name buffer (%u)", name_sz);
	else if (q->build_id_size > 20 || q->build_id_size > bid_sz)
		record_bad("build ID size %u (buffer %u)", q->build_id_size, bid_sz);
	else if (bid_sz && q->build_id_addr == (uintptr_t)bid && bid[bid_sz] != GUARD)
		record_bad("write past the build-ID buffer (%u)", bid_sz);
}

/* ------------------------------------------------ PROCMAP_QUERY_BATCH */

#define BREC_MAX 64
#define BREC_SIZE_MAX 128
#define BSTR_MAX 8192
#define BADDR_MAX 300

struct bbufs {
	unsigned char recs[BREC_MAX * BREC_SIZE_MAX + 64];
	char strs[BSTR_MAX + 64];
	uint64_t addrs[BADDR_MAX];
	uint32_t index[BADDR_MAX + 16];
};

static bool batch_documented(int e)
{
	switch (e) {
	case EINVAL: case E2BIG: case ENOSPC: case ESRCH: case EFAULT:
	case ENOMEM: case EINTR:
		return true;
	}
	return false;
}

static uint64_t fuzz_addr(uint64_t *s)
{
	uint64_t r = rnd(s), a;

	switch (r % 6) {
	case 0: a = 0; break;
	case 1: a = ~0ull; break;
	case 2: a = 0xffff800000000000ull + rnd(s) % (1ull << 40); break;
	default: a = (rnd(s) % (1ull << 47)) & ~(uint64_t)(pg - 1); break;
	}
	if (r % 4 == 0)
		a += rnd(s) % 3 - 1;
	return a;
}

/* A pointer for a buffer: mostly @good, sometimes bad or straddling. */
static uint64_t fuzz_ptr(uint64_t *s, void *good)
{
	switch (rnd(s) % 10) {
	case 0: return 8;
	case 1: return 0xffff880000000000ull;
	case 2: return (uintptr_t)(straddle + pg - rnd(s) % 256);
	default: return (uintptr_t)good;
	}
}

/* Check a successful call's output; returns false after recording why. */
static bool batch_output_ok(const struct procmap_batch *in, const struct procmap_batch *out,
			    struct bbufs *b)
{
	uint64_t filt = in->flags & 0x2f, lo = in->start & ~(uint64_t)(pg - 1);
	bool range = in->flags & PROCMAP_BATCH_RANGE;
	uint32_t unresolved = 0, size = in->rec_size;

	if ((range ? !in->rec_count : !in->addr_count)) {
		/* generation only: nothing else written */
		struct procmap_batch x = *out;

		x.generation = in->generation;
		x.kernel_rec_size = in->kernel_rec_size;	/* the 7.3 ABI says its size */
		/* and says it used no records and no string bytes */
		if (!out->rec_count)
			x.rec_count = in->rec_count;
		if (!out->strs_size)
			x.strs_size = in->strs_size;
		/* the first 6.12 series always fills it; 7.3's only when asked and no writer runs */
		if (memcmp(&x, in, sizeof(x)) || (!out->generation && !out->kernel_rec_size)) {
			record_bad("generation-only call wrote more than the generation");
			return false;
		}
		return true;
	}
	if (out->rec_count > in->rec_count || out->strs_size > in->strs_size) {
		record_bad("counts grew: %u/%u records, %u/%u bytes", out->rec_count,
			   in->rec_count, out->strs_size, in->strs_size);
		return false;
	}
	/* contents are checked only where they went to our guarded buffers */
	if ((in->recs_addr && in->recs_addr != (uintptr_t)b->recs) ||
	    (in->strs_addr && in->strs_addr != (uintptr_t)b->strs) ||
	    (in->addrs_addr && in->addrs_addr != (uintptr_t)b->addrs) ||
	    (in->index_addr && in->index_addr != (uintptr_t)b->index))
		return true;
	for (uint32_t i = 0; i < out->rec_count; i++) {
		struct procmap_vma_record r;
		const unsigned char *p = b->recs + (size_t)i * size;

		memcpy(&r, p, sizeof(r));
		if (r.vma_start >= r.vma_end || r.vma_start % pg || r.vma_end % pg ||
		    (r.vma_flags & ~0xfull) || (r.vma_flags & (filt & 0xf)) != (filt & 0xf) ||
		    r.build_id_size > 20 ||
		    (uint64_t)r.name_off + r.name_size > out->strs_size ||
		    (uint64_t)r.build_id_off + r.build_id_size > out->strs_size ||
		    (r.name_size && b->strs[r.name_off + r.name_size - 1] != '\0')) {
			record_bad("record %u: %#llx-%#llx flags %#llx name %u+%u bid %u+%u",
				   i, (unsigned long long)r.vma_start, (unsigned long long)r.vma_end,
				   (unsigned long long)r.vma_flags, r.name_off, r.name_size,
				   r.build_id_off, r.build_id_size);
			return false;
		}
		for (uint32_t k = sizeof(r); k < size; k++)
			if (p[k]) {
				record_bad("record %u: byte %u of the caller's tail not zero", i, k);
				return false;
			}
		if (i) {
			struct procmap_vma_record prev;

			memcpy(&prev, p - size, sizeof(prev));
			if (prev.vma_end > r.vma_start) {
				record_bad("records out of order: %#llx after %#llx",
					   (unsigned long long)r.vma_start,
					   (unsigned long long)prev.vma_end);
				return false;
			}
		}
		if (range && (r.vma_start < lo || r.vma_start >= in->end)) {
			record_bad("range [%#llx, %#llx) gave %#llx", (unsigned long long)in->start,
				   (unsigned long long)in->end, (unsigned long long)r.vma_start);
			return false;
		}
	}
	/* nothing written past what was reported */
	for (size_t k = (size_t)out->rec_count * size; k < (size_t)in->rec_count * size + 64 &&
	     k < sizeof(b->recs); k++)
		if (b->recs[k] != GUARD) {
			record_bad("record byte %zu written past %u records", k, out->rec_count);
			return false;
		}
	for (size_t k = out->strs_size; k < (size_t)in->strs_size + 64 && k < sizeof(b->strs); k++)
		if ((unsigned char)b->strs[k] != GUARD) {
			record_bad("string byte %zu written past %u", k, out->strs_size);
			return false;
		}
	if (range) {
		if (out->start < in->start || out->start > in->end) {
			record_bad("cursor %#llx outside [%#llx, %#llx]", (unsigned long long)out->start,
				   (unsigned long long)in->start, (unsigned long long)in->end);
			return false;
		}
		return true;
	}
	if (out->resolved > in->addr_count) {
		record_bad("resolved %u of %u", out->resolved, in->addr_count);
		return false;
	}
	for (uint32_t i = 0; i < in->addr_count; i++) {
		uint32_t x = b->index[i];
		struct procmap_vma_record r;

		if (x == PROCMAP_BATCH_UNRESOLVED) {
			unresolved++;
			continue;
		}
		if (x == PROCMAP_BATCH_NO_VMA)
			continue;
		if (x >= out->rec_count) {
			record_bad("index %u of %u records", x, out->rec_count);
			return false;
		}
		memcpy(&r, b->recs + (size_t)x * size, sizeof(r));
		if (b->addrs[i] < r.vma_start || b->addrs[i] >= r.vma_end) {
			record_bad("address %#llx given %#llx-%#llx", (unsigned long long)b->addrs[i],
				   (unsigned long long)r.vma_start, (unsigned long long)r.vma_end);
			return false;
		}
	}
	if (unresolved != in->addr_count - out->resolved) {
		record_bad("%u unresolved, %u resolved of %u", unresolved, out->resolved,
			   in->addr_count);
		return false;
	}
	for (uint32_t i = in->addr_count; i < in->addr_count + 16 && i < BADDR_MAX + 16; i++)
		if (b->index[i] != 0xa5a5a5a5u) {
			record_bad("index written past %u", in->addr_count);
			return false;
		}
	return true;
}

static void one_batch_call(int fd, uint64_t *s, struct bbufs *b)
{
	static const size_t sizes[] = { 0, 8, 16, 88, 95, 97,
					sizeof(struct procmap_batch) + 8, 4096, 4097 };
	static const uint32_t rec_sizes[] = { 72, 72, 80, 128, 0, 64, 76, 8192 };
	unsigned char buf[4200], before[4200];
	struct procmap_batch *q = (void *)buf, in;
	size_t size = rnd(s) % 8 ? sizeof(*q) : sizes[rnd(s) % (sizeof(sizes) / sizeof(sizes[0]))];
	bool range = rnd(s) % 2, sane = true;
	int ret, e;

	memset(buf, GUARD, sizeof(buf));
	memset(buf, 0, size < sizeof(*q) ? sizeof(*q) : (size > sizeof(buf) ? sizeof(buf) : size));
	memset(b->recs, GUARD, sizeof(b->recs));
	memset(b->strs, GUARD, sizeof(b->strs));
	memset(b->index, GUARD, sizeof(b->index));
	q->size = size;
	q->flags = (rnd(s) & 0x2f) | (range ? PROCMAP_BATCH_RANGE : 0) |
		   (rnd(s) % 2 ? PROCMAP_BATCH_NAMES : 0) |
		   (rnd(s) % 4 ? 0 : PROCMAP_BATCH_BUILD_IDS);
	if (rnd(s) % 16 == 0) {
		q->flags = rnd(s);	/* anything */
		sane = false;
	}
	if (rnd(s) % 4) {
		q->rec_count = (uint32_t)(rnd(s) % (BREC_MAX + 1));
		q->rec_size = rec_sizes[rnd(s) % (sizeof(rec_sizes) / sizeof(rec_sizes[0]))];
		if (q->rec_size > BREC_SIZE_MAX)
			q->rec_count = q->rec_count ? 1 : 0;	/* EINVAL anyway */
		q->recs_addr = q->rec_count ? fuzz_ptr(s, b->recs) : 0;
	}
	if (rnd(s) % 2) {
		q->strs_size = (uint32_t)(rnd(s) % (BSTR_MAX + 1));
		q->strs_addr = q->strs_size ? fuzz_ptr(s, b->strs) : 0;
	}
	if (range) {
		q->start = fuzz_addr(s);
		q->end = rnd(s) % 3 ? ~0ull : fuzz_addr(s);
	} else if (rnd(s) % 5) {
		q->addr_count = (uint32_t)(rnd(s) % (BADDR_MAX + 1));
		for (uint32_t i = 0; i < q->addr_count; i++)
			b->addrs[i] = fuzz_addr(s);
		/* the 7.3 ABI takes sorted addresses: mostly give it those */
		if (rnd(s) % 4)
			qsort(b->addrs, q->addr_count, sizeof(b->addrs[0]), vmaq_cmp_u64);
		q->addrs_addr = q->addr_count ? fuzz_ptr(s, b->addrs) : 0;
		q->index_addr = q->addr_count ? fuzz_ptr(s, b->index) : 0;
		if (rnd(s) % 32 == 0)
			q->addr_count = rnd(s) % 2 ? 65537 : UINT32_MAX;
	}
	if (rnd(s) % 32 == 0)
		q->kernel_rec_size = (uint32_t)rnd(s) | 1;
	if (rnd(s) % 32 == 0)	/* a field of the other mode */
		q->end = 1;
	memcpy(before, buf, sizeof(buf));
	memcpy(&in, q, sizeof(in));
	ret = ioctl(fd, PROCMAP_QUERY_BATCH, q);
	e = errno;
	atomic_fetch_add(&calls, 1);
	for (size_t i = size; i < sizeof(buf) && i < sizeof(*q) + 64; i++)
		if (buf[i] != before[i]) {
			record_bad("batch: write past the struct at %zu (size %zu)", i, size);
			return;
		}
	if (ret) {
		if (!batch_documented(e))
			record_bad("batch: undocumented errno %d (flags %#llx)", e,
				   (unsigned long long)in.flags);
		else if (memcmp(buf, before, sizeof(buf)))
			record_bad("batch: failed with errno %d but changed the struct", e);
		return;
	}
	atomic_fetch_add(&ok_calls, 1);
	if (!sane && (in.flags & ~0xf2full))
		record_bad("batch: unknown flags %#llx accepted", (unsigned long long)in.flags);
	else if (in.kernel_rec_size)
		record_bad("batch: an input kernel_rec_size %#x accepted", in.kernel_rec_size);
	else
		batch_output_ok(&in, q, b);
}

static bool fuzz_batch;		/* the test in progress fuzzes the batch ioctl */

static void *fuzzer(void *arg)
{
	uint64_t s = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 7;
	struct bbufs *bufs = fuzz_batch ? malloc(sizeof(*bufs)) : NULL;
	int fd = -1, pid = 0;

	while (!atomic_load(&stop)) {
		if (pid != atomic_load(&target_pid)) {
			char path[64];

			if (fd >= 0)
				close(fd);
			pid = atomic_load(&target_pid);
			snprintf(path, sizeof(path), "/proc/%d/maps", pid);
			fd = open(path, O_RDONLY);
		}
		if (fd < 0) {
			pid = 0;
			continue;
		}
		if (bufs)
			one_batch_call(fd, &s, bufs);
		else
			one_call(fd, &s);
	}
	if (fd >= 0)
		close(fd);
	free(bufs);
	return NULL;
}

/* Run the fuzzers against a churning, replaced target; count bad results. */
static void run_fuzzers(struct __test_metadata *_metadata)
{
	const char *env = getenv("VMAQ_FUZZ_SECONDS");
	double secs = env ? atof(env) : 5;
	pthread_t t[FUZZERS];
	struct timespec t0, t1;
	unsigned long replaced = 0;

	pg = sysconf(_SC_PAGESIZE);
	/* first: mapped later, it could fill the hole after straddle */
	churned = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, churned);
	straddle = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, straddle);
	ASSERT_EQ(0, munmap(straddle + pg, pg));
	atomic_store(&target_pid, start_target());
	for (long i = 0; i < FUZZERS; i++)
		pthread_create(&t[i], NULL, fuzzer, (void *)(i + 1));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		pid_t old = atomic_load(&target_pid);

		usleep(500000);
		/* the target dies and is replaced: fds on it go stale */
		atomic_store(&target_pid, start_target());
		kill(old, SIGKILL);
		waitpid(old, NULL, 0);
		replaced++;
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while (t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9 < secs);
	atomic_store(&stop, true);
	for (int i = 0; i < FUZZERS; i++)
		pthread_join(t[i], NULL);
	kill(atomic_load(&target_pid), SIGKILL);
	waitpid(atomic_load(&target_pid), NULL, 0);
	TH_LOG("%lu calls (%lu succeeded) in %.0f s, %lu targets, %lu bad",
	       (unsigned long)atomic_load(&calls), (unsigned long)atomic_load(&ok_calls),
	       secs, replaced, (unsigned long)atomic_load(&bad));
	TH_LOG("the targets changed their maps %lu times (mmap, munmap, mremap, mprotect, naming) and forked %lu times",
	       churned[0], churned[1]);
	/* the churn is what the fuzzer races against: it must have happened */
	EXPECT_GT(churned[0], 0ul);
	if (atomic_load(&bad))
		TH_LOG("first: %s", last_bad);
	EXPECT_EQ(0u, atomic_load(&bad));
	EXPECT_GT(atomic_load(&ok_calls), 0u);
}

TEST(procmap_query_fuzz)
{
	struct procmap_query probe = { .size = sizeof(probe) };
	int fd = open("/proc/self/maps", O_RDONLY);

	probe.query_flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA;
	if (ioctl(fd, PROCMAP_QUERY, &probe))
		SKIP(return, "kernel has no PROCMAP_QUERY");
	close(fd);
	run_fuzzers(_metadata);
}

/*
 * PROCMAP_QUERY_BATCH likewise: both modes, every field at and around its
 * limits, bad and straddling buffers. Failures must leave the struct as it
 * was; successes must be consistent with their arguments and write nothing
 * beyond the counts they report (guard patterns around every buffer).
 */
TEST(procmap_query_batch_fuzz)
{
	struct procmap_batch probe = { .size = sizeof(probe) };
	int fd = open("/proc/self/maps", O_RDONLY);

	if (ioctl(fd, PROCMAP_QUERY_BATCH, &probe))
		SKIP(return, "kernel has no PROCMAP_QUERY_BATCH");
	close(fd);
	fuzz_batch = true;
	run_fuzzers(_metadata);
}

int main(int argc, char **argv)
{
	vmaq_stretch_timeouts();
	return test_harness_run(argc, argv);
}
