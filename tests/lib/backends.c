// SPDX-License-Identifier: GPL-2.0
/*
 * Every backend against /proc/PID/maps: the records a backend returns,
 * rendered with vmaq_format(), must be the text file byte for byte, for
 * children with prepared maps (thousands of VMAs, named anonymous VMAs,
 * deleted files, odd names, offsets) and for every process on the
 * machine. Then find/lookup/filter semantics on known layouts.
 */
#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <stddef.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>

#include "kselftest_harness.h"
#include "vmaq_test.h"
#include "internal.h"

static long pg;

/* Child setups (and setup_pairs() from vmaq_test.h). */
static int setup_names(void *arg)
{
	char *m = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		return -1;
	if (prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, m, pg, "vmaq test name"))
		return -1;
	if (prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, m + 2 * pg, pg, "x"))
		return -1;
	return 0;
}

static int map_file(const char *path, size_t pages, off_t off_pages, int prot,
		    int flags, bool unlink_it)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || ftruncate(fd, (off_t)(pages + off_pages) * pg))
		return -1;
	if (mmap(NULL, pages * pg, prot, flags, fd, off_pages * pg) == MAP_FAILED)
		return -1;
	close(fd);
	if (unlink_it)
		unlink(path);
	return 0;
}

static int setup_files(void *arg)
{
	const char *dir = arg;
	char p[512];

	snprintf(p, sizeof(p), "%s/deleted file", dir);
	if (map_file(p, 2, 0, PROT_READ, MAP_PRIVATE, true))
		return -1;
	snprintf(p, sizeof(p), "%s/new\nline", dir);
	if (map_file(p, 1, 3, PROT_READ | PROT_WRITE, MAP_SHARED, false))
		return -1;
	snprintf(p, sizeof(p), "%s/offset", dir);
	if (map_file(p, 3, 5, PROT_READ | PROT_EXEC, MAP_PRIVATE, false))
		return -1;
	/* shared anonymous memory is file-backed (/dev/zero (deleted)) */
	if (mmap(NULL, pg, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
		return -1;
	return 0;
}

FIXTURE(be) {
	struct vmaq_proc *self;
	char dir[64];
	int fds_before;
};

FIXTURE_VARIANT(be) {
	enum vmaq_backend backend;
};

FIXTURE_VARIANT_ADD(be, text) { .backend = VMAQ_BACKEND_TEXT };
FIXTURE_VARIANT_ADD(be, query) { .backend = VMAQ_BACKEND_QUERY };
FIXTURE_VARIANT_ADD(be, batch) { .backend = VMAQ_BACKEND_BATCH };

FIXTURE_SETUP(be)
{
	int err;

	VMAQ_FDS_SETUP();
	pg = sysconf(_SC_PAGESIZE);
	self->self = NULL;
	self->dir[0] = '\0';
	err = open_backend(0, variant->backend, &self->self);
	if (err == -EOPNOTSUPP)
		SKIP(return, "%s backend not offered by this kernel",
		     vmaq_backend_name(variant->backend));
	ASSERT_EQ(0, err);
	ASSERT_EQ(variant->backend, vmaq_backend(self->self));
	snprintf(self->dir, sizeof(self->dir), "/tmp/vmaq-be.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
}

FIXTURE_TEARDOWN(be)
{
	char cmd[128];

	vmaq_close(self->self);
	if (self->dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", self->dir);
		if (system(cmd))
			TH_LOG("could not remove %s", self->dir);
	}
	VMAQ_FDS_TEARDOWN();
}

/* The child's map through the backend equals its text, byte for byte. */
static void expect_same_as_text(struct __test_metadata *_metadata,
				enum vmaq_backend b, pid_t pid, size_t *nlines)
{
	struct vmaq_proc *p;
	char *text, *mine;
	size_t len, i;
	int err;

	ASSERT_EQ(0, open_backend(pid, b, &p));
	text = maps_text(pid, &len);
	ASSERT_NE(NULL, text);
	mine = render_map(p, &err);
	ASSERT_EQ(0, err);
	if (strcmp(text, mine)) {
		for (i = 0; text[i] == mine[i]; i++)
			;
		TH_LOG("differ at byte %zu:\nkernel: %.100s\nlib:    %.100s",
		       i, text + i, mine + i);
	}
	EXPECT_STREQ(text, mine);
	free(mine);
	/* and a snapshot, which the backend may read its own way */
	mine = render_snapshot(p, VMAQ_NAME, &err);
	ASSERT_EQ(0, err);
	EXPECT_STREQ(text, mine);
	if (nlines)
		for (*nlines = 0, i = 0; i < len; i++)
			*nlines += text[i] == '\n';
	free(text);
	free(mine);
	vmaq_close(p);
}

TEST_F(be, plain_child_matches_text)
{
	struct test_child c;

	ASSERT_EQ(0, child_start(&c, NULL, NULL));
	expect_same_as_text(_metadata, variant->backend, c.pid, NULL);
	ASSERT_EQ(0, child_finish(&c));
}

TEST_F(be, thousands_of_vmas_match_text)
{
	struct test_child c;
	int n = 3000;
	size_t lines;

	ASSERT_EQ(0, child_start(&c, setup_pairs, &n));
	expect_same_as_text(_metadata, variant->backend, c.pid, &lines);
	EXPECT_GE(lines, (size_t)2 * n);
	ASSERT_EQ(0, child_finish(&c));
}

TEST_F(be, named_anonymous_vmas_match_text)
{
	struct test_child c;
	char *m = mmap(NULL, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, m);
	if (prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, m, pg, "probe"))
		SKIP(return, "kernel cannot name anonymous VMAs (ANON_VMA_NAME)");
	munmap(m, pg);
	ASSERT_EQ(0, child_start(&c, setup_names, NULL));
	expect_same_as_text(_metadata, variant->backend, c.pid, NULL);
	ASSERT_EQ(0, child_finish(&c));
}

TEST_F(be, files_deleted_newlines_offsets_match_text)
{
	struct test_child c;

	ASSERT_EQ(0, child_start(&c, setup_files, self->dir));
	expect_same_as_text(_metadata, variant->backend, c.pid, NULL);
	ASSERT_EQ(0, child_finish(&c));
}

/*
 * setup_files, and a hugetlb file of two VMAs (4 MiB, the second half
 * read-only): pages of 2 MiB the text cannot show, and a second VMA of
 * the same file that the text backend's page-size cache answers. The
 * caller reserves the pages (huge_pages_reserve(2)).
 */
static int setup_files_huge(void *arg)
{
	char *m;

	if (setup_files(arg))
		return -1;
	m = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (m == MAP_FAILED) {
		perror("MAP_HUGETLB");
		return -1;
	}
	if (mprotect(m + (2 << 20), 2 << 20, PROT_READ)) {
		perror("mprotect");
		return -1;
	}
	return 0;
}

/*
 * Every field of two records: what "the same records on every backend"
 * promises, beyond what vmaq_format() renders (page size, kind, name
 * length, the deleted flag).
 */
static void expect_same_record(struct __test_metadata *_metadata,
			       const struct vmaq_vma *a, const struct vmaq_vma *b)
{
	EXPECT_EQ(a->start, b->start);
	EXPECT_EQ(a->end, b->end);
	EXPECT_EQ(a->offset, b->offset);
	EXPECT_EQ(a->inode, b->inode);
	EXPECT_EQ(a->dev_major, b->dev_major);
	EXPECT_EQ(a->dev_minor, b->dev_minor);
	EXPECT_EQ(a->flags, b->flags);
	EXPECT_EQ(a->page_size, b->page_size);
	EXPECT_EQ(a->kind, b->kind);
	EXPECT_EQ(a->name_len, b->name_len);
	EXPECT_EQ(!a->name, !b->name);
	if (a->name && b->name)
		EXPECT_EQ(0, memcmp(a->name, b->name, a->name_len + 1));
	if (_metadata->exit_code != KSFT_PASS)
		TH_LOG("records differ at %" PRIx64 " (%s)", a->start,
		       a->name ? a->name : "no name");
}

/* Snapshots of @pid through @a and @b, record by record; the count. */
static size_t expect_same_snapshots(struct __test_metadata *_metadata,
				    struct vmaq_proc *a, struct vmaq_proc *b,
				    unsigned int flags)
{
	struct vmaq_snapshot *sa, *sb;
	size_t i, n = 0;

	EXPECT_EQ(0, vmaq_snapshot_new(a, flags, &sa));
	EXPECT_EQ(0, vmaq_snapshot_new(b, flags, &sb));
	if (_metadata->exit_code != KSFT_PASS)
		return 0;
	n = vmaq_snapshot_count(sa);
	EXPECT_EQ(n, vmaq_snapshot_count(sb));
	for (i = 0; i < n && i < vmaq_snapshot_count(sb) &&
		    _metadata->exit_code == KSFT_PASS; i++)
		expect_same_record(_metadata, vmaq_snapshot_vma(sa, i),
				   vmaq_snapshot_vma(sb, i));
	vmaq_snapshot_free(sa);
	vmaq_snapshot_free(sb);
	return n;
}

/*
 * Each backend's records are PROCMAP_QUERY's, field by field, for walks
 * of everything (which the text backend answers alone, asking the kernel
 * only for page sizes) and walks the kernel filters.
 */
TEST_F(be, records_are_the_query_backends_field_by_field)
{
	static const unsigned int walks[] = {
		VMAQ_NAME, 0, VMAQ_NAME | VMAQ_EXEC | VMAQ_FILE, VMAQ_ANON,
	};
	struct vmaq_snapshot *s;
	struct vmaq_proc *p, *q;
	struct test_child c;
	size_t i, huge = 0;
	long old_huge;
	int err;

	old_huge = huge_pages_reserve(2);
	ASSERT_LE(0, old_huge) TH_LOG("could not reserve 2 huge pages");
	err = child_start(&c, setup_files_huge, self->dir);
	huge_pages_restore(old_huge);	/* what the child holds stays its */
	ASSERT_EQ(0, err);
	err = open_backend(c.pid, VMAQ_BACKEND_QUERY, &q);
	if (err == -EOPNOTSUPP) {
		child_finish(&c);
		SKIP(return, "no PROCMAP_QUERY to compare with");
	}
	ASSERT_EQ(0, err);
	ASSERT_EQ(0, open_backend(c.pid, variant->backend, &p));
	for (i = 0; i < sizeof(walks) / sizeof(walks[0]); i++)
		EXPECT_LT(0, expect_same_snapshots(_metadata, p, q, walks[i]));
	/* the page size is known for every VMA: the kernel's, never 0 */
	ASSERT_EQ(0, vmaq_snapshot_new(p, VMAQ_NAME, &s));
	for (i = 0; i < vmaq_snapshot_count(s); i++) {
		const struct vmaq_vma *v = vmaq_snapshot_vma(s, i);

		EXPECT_LE((uint64_t)pg, v->page_size);
		huge += v->page_size > (uint64_t)pg;
	}
	/* both VMAs of the hugetlb file: the second from the cache */
	EXPECT_EQ(2u, huge);
	vmaq_snapshot_free(s);
	vmaq_close(p);
	vmaq_close(q);
	ASSERT_EQ(0, child_finish(&c));
}

/*
 * One handle, one record per VMA: whichever backend the library picks
 * for each operation of an automatic handle, a walk, a find and a
 * lookup of the same VMA agree on every field.
 */
TEST(auto_handle_gives_one_record_per_vma)
{
	static const unsigned int walks[] = { VMAQ_NAME, VMAQ_NAME | VMAQ_FILE };
	struct vmaq_proc *p, *e;
	struct vmaq_snapshot *s;
	struct vmaq_lookup *l;
	const struct vmaq_vma *v;
	char dir[] = "/tmp/vmaq-auto.XXXXXX", cmd[64];
	struct test_child c;
	uint64_t *addrs;
	size_t i, n;

	long old_huge;
	int err;

	pg = sysconf(_SC_PAGESIZE);
	ASSERT_NE(NULL, mkdtemp(dir));
	old_huge = huge_pages_reserve(2);
	ASSERT_LE(0, old_huge) TH_LOG("could not reserve 2 huge pages");
	err = child_start(&c, setup_files_huge, dir);
	huge_pages_restore(old_huge);
	ASSERT_EQ(0, err);
	ASSERT_EQ(0, vmaq_open(c.pid, NULL, &p));
	/* the backend it reports does every operation alike */
	ASSERT_EQ(0, open_backend(c.pid, vmaq_backend(p), &e));
	for (i = 0; i < sizeof(walks) / sizeof(walks[0]); i++)
		EXPECT_LT(0, expect_same_snapshots(_metadata, p, e, walks[i]));
	ASSERT_EQ(0, vmaq_snapshot_new(p, VMAQ_NAME, &s));
	n = vmaq_snapshot_count(s);
	addrs = calloc(n, sizeof(*addrs));
	ASSERT_NE(NULL, addrs);
	for (i = 0; i < n; i++)
		addrs[i] = vmaq_snapshot_vma(s, i)->start;
	ASSERT_EQ(0, vmaq_lookup(p, addrs, n, VMAQ_NAME, &l));
	for (i = 0; i < n && _metadata->exit_code == KSFT_PASS; i++) {
		const struct vmaq_vma *w = vmaq_snapshot_vma(s, i);

		ASSERT_EQ(0, vmaq_find(p, w->start, VMAQ_NAME, &v));
		expect_same_record(_metadata, w, v);
		v = vmaq_lookup_vma(l, i);
		ASSERT_NE(NULL, v);
		expect_same_record(_metadata, w, v);
	}
	vmaq_lookup_free(l);
	free(addrs);
	vmaq_snapshot_free(s);
	vmaq_close(p);
	vmaq_close(e);
	ASSERT_EQ(0, child_finish(&c));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	EXPECT_EQ(0, system(cmd));
}

/* A child_start() setup: *arg files in /tmp, one VMA each, kept mapped. */
static int setup_many_files(void *arg)
{
	int n = *(int *)arg;
	char path[] = "/tmp/vmaq-many.XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0 || ftruncate(fd, (off_t)n * 2 * pg))
		return -1;
	unlink(path);
	/* every other page of one file: VMAs that cannot merge, one file */
	for (int i = 0; i < n; i++) {
		char name[] = "/tmp/vmaq-many.XXXXXX";
		int f = mkstemp(name);

		if (f < 0 || ftruncate(f, pg) ||
		    mmap(NULL, pg, PROT_READ, MAP_PRIVATE, f, 0) == MAP_FAILED)
			return -1;
		unlink(name);
		close(f);
	}
	close(fd);
	return 0;
}

/*
 * A snapshot of @p (and one of @q to compare with): which way it went by
 * the measures (0: the text, 1: PROCMAP_QUERY), or -1 if it measured
 * nothing.
 */
static int snapshot_way(struct __test_metadata *_metadata,
			struct vmaq_proc *p, struct vmaq_proc *q,
			unsigned int flags)
{
	bool names = flags & VMAQ_NAME;
	uint32_t cost[2], before[2], after[2], other[2], o2[2];
	size_t n;
	int way;

	vmaq_proc_scan_stats(p, VMAQ_READER_TABLE, names, cost, before);
	vmaq_proc_scan_stats(p, VMAQ_READER_TABLE, !names, cost, other);
	n = expect_same_snapshots(_metadata, p, q, flags);
	EXPECT_LT(256u, n);
	vmaq_proc_scan_stats(p, VMAQ_READER_TABLE, !names, cost, o2);
	vmaq_proc_scan_stats(p, VMAQ_READER_TABLE, names, cost, after);
	/* the other class is left alone */
	EXPECT_EQ(other[0] + other[1], o2[0] + o2[1]);
	if (after[0] + after[1] == before[0] + before[1])
		return -1;
	/* one read, by one of the two */
	EXPECT_EQ(before[0] + before[1] + 1, after[0] + after[1]);
	way = after[0] > before[0] ? 0 : 1;
	/* a VMA's CPU time: not nothing, nor more than a millisecond */
	if (!before[way]) {
		EXPECT_LE(20u, cost[way]) TH_LOG("a VMA in %u ns?", cost[way]);
		EXPECT_GE(1000000u, cost[way]);
	}
	return way;
}

/* What an automatic handle uses on this kernel (AUTO: cannot tell). */
static enum vmaq_backend best_backend(void)
{
	unsigned int mask = 0;

	if (vmaq_kernel_backends(&mask))
		return VMAQ_BACKEND_AUTO;
	if (mask & (1u << VMAQ_BACKEND_BATCH))
		return VMAQ_BACKEND_BATCH;
	if (mask & (1u << VMAQ_BACKEND_QUERY))
		return VMAQ_BACKEND_QUERY;
	return VMAQ_BACKEND_TEXT;
}

/*
 * The automatic choice, where the kernel has PROCMAP_QUERY and no batch
 * ioctl: iterators, finds, lookups and filtered or build-ID walks go by
 * PROCMAP_QUERY; a snapshot of everything goes by the text or by
 * PROCMAP_QUERY as the handle's own reads of its class (with names, or
 * without) measured: the handle's first by the text, measuring nothing,
 * then once each way, then the cheaper per VMA, every sixteenth the
 * other way; VMAQ_ANON ones go the cheaper way and measure nothing.
 * The records are the same either way. The reads themselves are counted:
 * a snapshot that went another way than chosen, or a choice that
 * ignored the costs, fails here. With the batch ioctl, finds use
 * PROCMAP_QUERY and every walk the batch ioctl.
 */
/*
 * Maps of a few dozen VMAs, as most processes have: their reads add up
 * until they make a measure, so that both ways get measured and the
 * cheaper one is found (review of 4a8489e: reads of fewer than 256 VMAs
 * measured nothing, and such maps went by the text for ever).
 */
TEST(auto_snapshots_of_small_maps_are_measured_too)
{
	int pairs = 20, d, first = -1, second = -1;
	uint32_t cost[2], count[2];
	struct vmaq_snapshot *s;
	struct vmaq_proc *p;
	struct test_child c;
	size_t n = 0;

	pg = sysconf(_SC_PAGESIZE);
	ASSERT_EQ(0, child_start(&c, setup_pairs, &pairs));
	ASSERT_EQ(0, vmaq_open(c.pid, NULL, &p));
	for (d = 0; d < 40; d++) {
		ASSERT_EQ(0, vmaq_snapshot_new(p, VMAQ_NAME, &s));
		n = vmaq_snapshot_count(s);
		vmaq_snapshot_free(s);
		vmaq_proc_scan_stats(p, VMAQ_READER_TABLE, true, cost, count);
		if (first < 0 && count[0] + count[1])
			first = d;
		if (second < 0 && count[0] && count[1])
			second = d;
	}
	TH_LOG("%zu VMAs; the first measure after read %d, both ways after %d; "
	       "text %u ns/VMA, PROCMAP_QUERY %u ns/VMA", n, first, second, cost[0], cost[1]);
	EXPECT_GT(256u, n);
	if (best_backend() != VMAQ_BACKEND_QUERY) {
		/* one way only (the batch ioctl, or the text): nothing to measure */
		EXPECT_EQ(0u, count[0] + count[1]);
	} else {
		/* 256 VMAs' worth of reads each way, after the first (cold) */
		EXPECT_LE(0, first);
		EXPECT_LE(0, second);
		EXPECT_GE(2 + 2 * (int)(256 / n + 1), second);
		EXPECT_LE(1u, count[0]);
		EXPECT_LE(1u, count[1]);
	}
	vmaq_close(p);
	ASSERT_EQ(0, child_finish(&c));
}

TEST(auto_snapshots_go_the_way_measured_faster)
{
	int pairs = 300, files = 300, way, d;
	uint32_t cost[2], count[2];
	struct vmaq_snapshot *s;
	struct vmaq_proc *p, *q;
	struct test_child c;
	enum vmaq_backend be, scan, other;

	pg = sysconf(_SC_PAGESIZE);
	be = best_backend();
	ASSERT_NE(VMAQ_BACKEND_AUTO, be);
	scan = be == VMAQ_BACKEND_QUERY ? VMAQ_BACKEND_TEXT : be;

	/* 600 anonymous VMAs and the test program's few files */
	ASSERT_EQ(0, child_start(&c, setup_pairs, &pairs));
	ASSERT_EQ(0, vmaq_open(c.pid, NULL, &p));
	ASSERT_EQ(be, vmaq_backend(p));
	EXPECT_EQ(scan, vmaq_proc_walk_backend(p, VMAQ_OP_SCAN, VMAQ_NAME));
	EXPECT_EQ(scan, vmaq_proc_walk_backend(p, VMAQ_OP_SCAN, VMAQ_ANON));
	EXPECT_EQ(be, vmaq_proc_walk_backend(p, VMAQ_OP_SCAN, VMAQ_BUILD_ID));
	EXPECT_EQ(be, vmaq_proc_walk_backend(p, VMAQ_OP_SCAN, VMAQ_EXEC));
	EXPECT_EQ(be, vmaq_proc_walk_backend(p, VMAQ_OP_WALK, VMAQ_NAME));
	/* finds (and small lookups) of a batch handle: PROCMAP_QUERY */
	EXPECT_EQ(be == VMAQ_BACKEND_BATCH ? VMAQ_BACKEND_QUERY : be,
		  vmaq_proc_walk_backend(p, VMAQ_OP_FIND, VMAQ_NAME));
	if (be != VMAQ_BACKEND_QUERY) {
		/* one way only: nothing to measure */
		for (d = 0; d < 3; d++) {
			ASSERT_EQ(0, vmaq_snapshot_new(p, VMAQ_NAME, &s));
			vmaq_snapshot_free(s);
		}
		vmaq_proc_scan_stats(p, VMAQ_READER_TABLE, true, cost, count);
		EXPECT_EQ(0u, count[0] + count[1]);
		EXPECT_EQ(scan, vmaq_proc_walk_backend(p, VMAQ_OP_SCAN, VMAQ_NAME));
		vmaq_close(p);
		ASSERT_EQ(0, child_finish(&c));
		return;
	}
	ASSERT_EQ(0, open_backend(c.pid, VMAQ_BACKEND_QUERY, &q));
	/* the first by the text, cold: no measure; then once each way */
	EXPECT_EQ(-1, snapshot_way(_metadata, p, q, VMAQ_NAME));
	EXPECT_EQ(VMAQ_BACKEND_TEXT,
		  vmaq_proc_walk_backend(p, VMAQ_OP_SCAN, VMAQ_NAME));
	EXPECT_EQ(0, snapshot_way(_metadata, p, q, VMAQ_NAME));
	EXPECT_EQ(VMAQ_BACKEND_QUERY,
		  vmaq_proc_walk_backend(p, VMAQ_OP_SCAN, VMAQ_NAME));
	/* what does not measure goes the known way: the text, so far */
	EXPECT_EQ(VMAQ_BACKEND_TEXT,
		  vmaq_proc_walk_backend(p, VMAQ_OP_SCAN, VMAQ_ANON | VMAQ_NAME));
	EXPECT_EQ(1, snapshot_way(_metadata, p, q, VMAQ_NAME));
	/* without names: a class of its own, measured the same way */
	EXPECT_EQ(VMAQ_BACKEND_TEXT, vmaq_proc_walk_backend(p, VMAQ_OP_SCAN, 0));
	EXPECT_EQ(0, snapshot_way(_metadata, p, q, 0));
	EXPECT_EQ(1, snapshot_way(_metadata, p, q, 0));
	/* filtered: no measure of a whole map's cost */
	ASSERT_EQ(0, vmaq_snapshot_new(p, VMAQ_ANON | VMAQ_NAME, &s));
	vmaq_snapshot_free(s);
	vmaq_proc_scan_stats(p, VMAQ_READER_TABLE, true, cost, count);
	EXPECT_EQ(2u, count[0] + count[1]);
	/*
	 * Costs to go by, far apart: what real reads add to the average
	 * cannot turn them round within the test. Reads 4 to 15 of the
	 * class go the cheaper way, the sixteenth the other way; those that
	 * do not measure always the cheaper.
	 */
	for (way = 0; way < 2; way++) {
		vmaq_proc_set_scan_costs(p, VMAQ_READER_TABLE, true,
					 way ? 2000000000u : 1u,
					 way ? 1u : 2000000000u);
		for (d = 4; d < VMAQ_SCAN_PROBE; d++)
			EXPECT_EQ(way, snapshot_way(_metadata, p, q, VMAQ_NAME))
				TH_LOG("read %d", d);
		other = way ? VMAQ_BACKEND_TEXT : VMAQ_BACKEND_QUERY;
		EXPECT_EQ(other, vmaq_proc_walk_backend(p, VMAQ_OP_SCAN, VMAQ_NAME));
		EXPECT_NE(other, vmaq_proc_walk_backend(p, VMAQ_OP_SCAN,
							VMAQ_ANON | VMAQ_NAME));
		/* they do not hold the probe up */
		ASSERT_EQ(0, vmaq_snapshot_new(p, VMAQ_ANON | VMAQ_NAME, &s));
		vmaq_snapshot_free(s);
		EXPECT_EQ(!way, snapshot_way(_metadata, p, q, VMAQ_NAME));
		EXPECT_EQ(way, snapshot_way(_metadata, p, q, VMAQ_NAME));
		vmaq_proc_scan_stats(p, VMAQ_READER_TABLE, true, cost, count);
		EXPECT_EQ((uint32_t)VMAQ_SCAN_PROBE, count[0] + count[1]);
		/* a new handle measures its map again */
		vmaq_close(p);
		ASSERT_EQ(0, vmaq_open(c.pid, NULL, &p));
		EXPECT_EQ(-1, snapshot_way(_metadata, p, q, VMAQ_NAME));
		EXPECT_EQ(0, snapshot_way(_metadata, p, q, VMAQ_NAME));
		EXPECT_EQ(1, snapshot_way(_metadata, p, q, VMAQ_NAME));
	}
	vmaq_close(q);
	vmaq_close(p);
	ASSERT_EQ(0, child_finish(&c));

	/* 300 files of one VMA each: the same records both ways */
	ASSERT_EQ(0, child_start(&c, setup_many_files, &files));
	ASSERT_EQ(0, vmaq_open(c.pid, NULL, &p));
	ASSERT_EQ(0, open_backend(c.pid, VMAQ_BACKEND_QUERY, &q));
	EXPECT_EQ(-1, snapshot_way(_metadata, p, q, VMAQ_NAME));
	EXPECT_EQ(0, snapshot_way(_metadata, p, q, VMAQ_NAME));
	EXPECT_EQ(1, snapshot_way(_metadata, p, q, VMAQ_NAME));
	vmaq_close(q);
	vmaq_close(p);
	ASSERT_EQ(0, child_finish(&c));
}

/*
 * An iterator of @p, and one of @q (a PROCMAP_QUERY handle) beside it,
 * record by record, to the end or to @stop records (0: no stop): which
 * way p's measured the rest of its walk (0: the text, 1: PROCMAP_QUERY),
 * or -1 if it measured nothing. *@later is the backend it went by past
 * its first VMAQ_ITER_SWITCH_AT records (or at its last, if it had fewer).
 */
static int iter_way(struct __test_metadata *_metadata, struct vmaq_proc *p,
		    struct vmaq_proc *q, unsigned int flags, size_t stop,
		    enum vmaq_backend *later)
{
	bool names = flags & VMAQ_NAME;
	uint32_t cost[2], before[2], after[2], tb[2], ta[2];
	const struct vmaq_vma *a, *b;
	struct vmaq_iter *ia, *ib;
	size_t n = 0;
	int ra, rb;

	vmaq_proc_scan_stats(p, VMAQ_READER_ITER, names, cost, before);
	vmaq_proc_scan_stats(p, VMAQ_READER_TABLE, names, cost, tb);
	EXPECT_EQ(0, vmaq_iter_new(p, flags, &ia));
	EXPECT_EQ(0, vmaq_iter_new(q, flags, &ib));
	if (_metadata->exit_code != KSFT_PASS)
		return -2;
	/* every iterator starts by PROCMAP_QUERY where the kernel has it */
	EXPECT_EQ(vmaq_proc_walk_backend(p, VMAQ_OP_WALK, flags),
		  vmaq_iter_walk_backend(ia));
	for (;;) {
		ra = vmaq_iter_next(ia, &a);
		rb = vmaq_iter_next(ib, &b);
		EXPECT_EQ(rb, ra) TH_LOG("record %zu", n);
		if (ra <= 0 || ra != rb || _metadata->exit_code != KSFT_PASS)
			break;
		/* the same records before, at and after the switch point */
		expect_same_record(_metadata, a, b);
		if (++n <= VMAQ_ITER_SWITCH_AT + 1)
			*later = vmaq_iter_walk_backend(ia);
		/* no switch before the point */
		if (n == VMAQ_ITER_SWITCH_AT)
			EXPECT_EQ(vmaq_proc_walk_backend(p, VMAQ_OP_WALK, flags),
				  *later);
		if (n == stop)
			break;
	}
	if (!stop)
		EXPECT_EQ(0, ra);
	vmaq_iter_free(ia);
	vmaq_iter_free(ib);
	if (stop) {
		EXPECT_EQ(stop, n);
	} else {
		/* far enough past the switch point to measure */
		EXPECT_LE(VMAQ_ITER_SWITCH_AT + VMAQ_ITER_MEASURE_MIN, n);
	}
	vmaq_proc_scan_stats(p, VMAQ_READER_ITER, names, cost, after);
	vmaq_proc_scan_stats(p, VMAQ_READER_TABLE, names, cost, ta);
	/* tables' measures are their own */
	EXPECT_EQ(tb[0] + tb[1], ta[0] + ta[1]);
	if (after[0] + after[1] == before[0] + before[1])
		return -1;
	EXPECT_EQ(before[0] + before[1] + 1, after[0] + after[1]);
	return after[0] > before[0] ? 0 : 1;
}

struct steps {
	struct vmaq_iter *it;
	int n;			/* records to step, 0: to the end */
	int r;			/* the last vmaq_iter_next() */
};

static void *step_iter(void *arg)
{
	struct steps *s = arg;
	const struct vmaq_vma *v;
	int i = 0;

	while ((!s->n || i++ < s->n) && (s->r = vmaq_iter_next(s->it, &v)) > 0)
		;
	return NULL;
}

/*
 * An iterator of @p stepped past its switch point and to its end by the
 * threads of @plan in turn ('M': this one, 'T': a new one), 24 records
 * each but the last: how many measures it added (0 expected).
 */
static int handed_over(struct __test_metadata *_metadata, struct vmaq_proc *p,
		       const char *plan)
{
	uint32_t cost[2], before[2], after[2];
	struct steps s = { .r = 1 };
	size_t i, n = strlen(plan);

	vmaq_proc_scan_stats(p, VMAQ_READER_ITER, true, cost, before);
	if (vmaq_iter_new(p, VMAQ_NAME, &s.it))
		return -1;
	for (i = 0; i < n && s.r > 0; i++) {
		pthread_t t;

		s.n = i + 1 < n ? VMAQ_ITER_SWITCH_AT + 8 : 0;
		if (plan[i] == 'M') {
			step_iter(&s);
		} else {
			EXPECT_EQ(0, pthread_create(&t, NULL, step_iter, &s));
			EXPECT_EQ(0, pthread_join(t, NULL));
		}
		/* past the switch point: it went on by the text */
		if (!i)
			EXPECT_EQ(VMAQ_BACKEND_TEXT, vmaq_iter_walk_backend(s.it));
	}
	EXPECT_EQ(0, s.r);
	vmaq_iter_free(s.it);
	vmaq_proc_scan_stats(p, VMAQ_READER_ITER, true, cost, after);
	return (int)(after[0] + after[1] - before[0] - before[1]);
}

/*
 * Iterators of everything, where the kernel has PROCMAP_QUERY and no
 * batch ioctl, start by PROCMAP_QUERY (cheap to stop early) and, past
 * VMAQ_ITER_SWITCH_AT records, go on by the text or PROCMAP_QUERY, as
 * the handle's iterators of their class measured: the text while it is
 * not measured, then PROCMAP_QUERY once, then the cheaper per VMA,
 * every sixteenth the other way. An iterator measures the rest of its
 * walk if it goes to the end; filtered ones neither switch nor measure.
 * The records are PROCMAP_QUERY's throughout. Elsewhere iterators keep
 * their one backend.
 */
TEST(auto_iterators_go_on_the_way_measured_faster)
{
	uint32_t cost[2], count[2];
	enum vmaq_backend be, later;
	struct vmaq_proc *p, *q;
	struct test_child c;
	int pairs = 300, way, d;

	pg = sysconf(_SC_PAGESIZE);
	be = best_backend();
	ASSERT_NE(VMAQ_BACKEND_AUTO, be);
	ASSERT_EQ(0, child_start(&c, setup_pairs, &pairs));
	ASSERT_EQ(0, vmaq_open(c.pid, NULL, &p));
	ASSERT_EQ(be, vmaq_backend(p));
	ASSERT_EQ(0, open_backend(c.pid, be, &q));
	if (be != VMAQ_BACKEND_QUERY) {
		/* one way only: no switch, no measure */
		for (d = 0; d < 3; d++) {
			EXPECT_EQ(-1, iter_way(_metadata, p, q, VMAQ_NAME, 0, &later));
			EXPECT_EQ(be, later);
		}
		goto out;
	}
	/* the text first, then PROCMAP_QUERY, each measured */
	EXPECT_EQ(0, iter_way(_metadata, p, q, VMAQ_NAME, 0, &later));
	EXPECT_EQ(VMAQ_BACKEND_TEXT, later);
	vmaq_proc_scan_stats(p, VMAQ_READER_ITER, true, cost, count);
	/* a VMA's CPU time (the caller's share included): not nothing */
	EXPECT_LE(20u, cost[0]);
	EXPECT_GE(1000000u, cost[0]);
	EXPECT_EQ(1, iter_way(_metadata, p, q, VMAQ_NAME, 0, &later));
	EXPECT_EQ(VMAQ_BACKEND_QUERY, later);
	/* without names: a class of its own */
	EXPECT_EQ(0, iter_way(_metadata, p, q, 0, 0, &later));
	EXPECT_EQ(1, iter_way(_metadata, p, q, 0, 0, &later));
	/* filtered: PROCMAP_QUERY throughout, no measure */
	EXPECT_EQ(-1, iter_way(_metadata, p, q, VMAQ_ANON | VMAQ_NAME, 0, &later));
	EXPECT_EQ(VMAQ_BACKEND_QUERY, later);
	for (way = 0; way < 2; way++) {
		/* far apart: what real walks add cannot turn them round */
		vmaq_proc_set_scan_costs(p, VMAQ_READER_ITER, true,
					 way ? 2000000000u : 1u,
					 way ? 1u : 2000000000u);
		/* walks 3 to 15 the cheaper way, the sixteenth the other */
		for (d = 3; d < VMAQ_SCAN_PROBE; d++) {
			EXPECT_EQ(way, iter_way(_metadata, p, q, VMAQ_NAME, 0, &later))
				TH_LOG("walk %d", d);
			EXPECT_EQ(way ? VMAQ_BACKEND_QUERY : VMAQ_BACKEND_TEXT, later);
		}
		/* stopped before the switch point: no choice, no measure */
		EXPECT_EQ(-1, iter_way(_metadata, p, q, VMAQ_NAME,
				       VMAQ_ITER_SWITCH_AT / 2, &later));
		EXPECT_EQ(VMAQ_BACKEND_QUERY, later);
		EXPECT_EQ(!way, iter_way(_metadata, p, q, VMAQ_NAME, 0, &later));
		/* stopped past it: it chose (the cheaper), but measured nothing */
		EXPECT_EQ(-1, iter_way(_metadata, p, q, VMAQ_NAME, 100, &later));
		EXPECT_EQ(way ? VMAQ_BACKEND_QUERY : VMAQ_BACKEND_TEXT, later);
		/*
		 * Stepped by more than one thread past its switch point (an
		 * iterator may go from thread to thread, one at a time): the
		 * CPU clocks of two threads make no measure, whichever thread
		 * ends it, even the one that started it.
		 */
		if (!way) {
			EXPECT_EQ(0, handed_over(_metadata, p, "MT"));
			EXPECT_EQ(0, handed_over(_metadata, p, "TM"));
			EXPECT_EQ(0, handed_over(_metadata, p, "MTM"));
		}
		/* a new handle measures again */
		vmaq_close(p);
		ASSERT_EQ(0, vmaq_open(c.pid, NULL, &p));
		EXPECT_EQ(0, iter_way(_metadata, p, q, VMAQ_NAME, 0, &later));
		EXPECT_EQ(1, iter_way(_metadata, p, q, VMAQ_NAME, 0, &later));
	}
out:
	vmaq_close(q);
	vmaq_close(p);
	ASSERT_EQ(0, child_finish(&c));
}

TEST_F(be, file_records_carry_offsets_and_names)
{
	struct test_child c;
	struct vmaq_proc *p;
	struct vmaq_iter *it;
	const struct vmaq_vma *v;
	int seen = 0;
	char want[128];

	ASSERT_EQ(0, child_start(&c, setup_files, self->dir));
	ASSERT_EQ(0, open_backend(c.pid, variant->backend, &p));
	ASSERT_EQ(0, vmaq_iter_new(p, VMAQ_NAME | VMAQ_FILE, &it));
	while (vmaq_iter_next(it, &v) > 0) {
		ASSERT_TRUE(v->flags & VMAQ_FILE);
		ASSERT_NE(NULL, v->name);
		snprintf(want, sizeof(want), "%s/offset", self->dir);
		if (!strcmp(v->name, want)) {
			EXPECT_EQ((uint64_t)5 * pg, v->offset);
			EXPECT_EQ(VMAQ_READ | VMAQ_EXEC | VMAQ_FILE, v->flags);
			EXPECT_EQ((uint64_t)5 * pg + 17,
				  vmaq_vma_file_offset(v, v->start + 17));
			seen |= 1;
		}
		snprintf(want, sizeof(want), "%s/new\nline", self->dir);
		if (!strcmp(v->name, want)) {
			EXPECT_EQ((uint64_t)3 * pg, v->offset);
			EXPECT_TRUE(v->flags & VMAQ_SHARED);
			seen |= 2;
		}
		snprintf(want, sizeof(want), "%s/deleted file (deleted)", self->dir);
		if (!strcmp(v->name, want))
			seen |= 4;
	}
	vmaq_iter_free(it);
	vmaq_close(p);
	EXPECT_EQ(7, seen);
	ASSERT_EQ(0, child_finish(&c));
}

/*
 * Every process on the machine. A process may change its map between our
 * reads, so a mismatch counts only if it persists over several tries with
 * the text read both before and after, and in at least one of them the
 * map held still (the text before and after agree). A process whose map
 * never holds still over five tries (a fuzzer, say) is counted as busy.
 */
TEST_F(be, every_process_matches_text)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int checked = 0, gone = 0, nomm = 0, denied = 0, unstable = 0, busy = 0;

	ASSERT_NE(NULL, d);
	while ((de = readdir(d))) {
		pid_t pid = (pid_t)atoi(de->d_name);
		struct vmaq_proc *p;
		int tries, err, same = 0, still = 0;

		/* our own map changes as we read it (allocations) */
		if (pid <= 0 || pid == getpid())
			continue;
		err = open_backend(pid, variant->backend, &p);
		if (err == -ESRCH) {
			nomm++;	/* exited, or a kernel thread */
			continue;
		}
		if (err == -EACCES) {
			denied++;	/* e.g. outside our container's reach */
			continue;
		}
		ASSERT_EQ(0, err);
		for (tries = 0; tries < 5 && !same; tries++) {
			char *t1 = maps_text(pid, NULL);
			char *mine = render_map(p, &err);
			char *t2 = maps_text(pid, NULL);

			if (err == -ESRCH) {
				gone++;
				same = 1;
			} else {
				ASSERT_EQ(0, err);
				same = (t1 && !strcmp(t1, mine)) ||
				       (t2 && !strcmp(t2, mine));
				still |= t1 && t2 && !strcmp(t1, t2);
			}
			free(t1);
			free(mine);
			free(t2);
		}
		if (!same && !still) {
			busy++;
		} else if (!same) {
			TH_LOG("pid %d: map never matched its text", pid);
			unstable++;
		}
		checked++;
		vmaq_close(p);
	}
	closedir(d);
	TH_LOG("%d processes compared, %d without an address space, %d exited, %d denied, %d never held still",
	       checked, nomm, gone, denied, busy);
	EXPECT_GT(checked, 0);
	EXPECT_EQ(0, unstable);
}

/*
 * A walk whose target goes away in the middle. 15,000 pairs of VMAs are
 * 30,000 lines of text, about 2 MB: hundreds of read() calls for the text
 * backend (each returns about a page), hundreds of ioctls for the others
 * (a fifth of that under valgrind and in the VM). The walk has read its first
 * records when the child exits (or execs): what follows must be ESRCH,
 * never the end of a shorter map.
 */
#define CUT_PAIRS 15000
/* valgrind tracks at most some thousands of segments in a process */
#define CUT_PAIRS_VALGRIND 3000

/*
 * VMAQ_CUT_PAIRS overrides the size: the VM's debug kernels under TCG take
 * longer than the harness's 30 s to make 30,000 VMAs, and 3,000 pairs are
 * still about a hundred read() calls of text there.
 */
static int cut_pairs(void)
{
	const char *s = getenv("VMAQ_CUT_PAIRS");
	int n = s ? atoi(s) : 0;

	if (n <= 0)
		n = CUT_PAIRS;
	if (under_valgrind() && n > CUT_PAIRS_VALGRIND)
		n = CUT_PAIRS_VALGRIND;
	return n;
}

static int cut_walk(struct __test_metadata *_metadata, struct vmaq_proc *p,
		    void (*cut)(void *), void *arg, size_t *seen)
{
	struct vmaq_iter *it;
	const struct vmaq_vma *v;
	int r;

	*seen = 0;
	if (vmaq_iter_new(p, VMAQ_NAME, &it))
		return -errno;
	r = vmaq_iter_next(it, &v);
	if (r == 1) {
		*seen = 1;
		cut(arg);
		while ((r = vmaq_iter_next(it, &v)) == 1)
			(*seen)++;
	}
	vmaq_iter_free(it);
	return r;
}

/* Exited, not reaped: the pid and task stay, the address space is gone. */
static void cut_by_exit(void *arg)
{
	struct test_child *c = arg;
	siginfo_t si;

	close(c->release_fd);
	c->release_fd = -1;
	while (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOWAIT) < 0 &&
	       errno == EINTR)
		;
}

static void cut_by_reaping(void *arg)
{
	child_finish(arg);
}

TEST_F(be, exit_in_the_middle_of_a_long_walk_is_esrch)
{
	struct test_child c;
	struct vmaq_proc *p;
	int n = cut_pairs(), r;
	size_t seen;

	ASSERT_EQ(0, child_start(&c, setup_pairs, &n));
	ASSERT_EQ(0, open_backend(c.pid, variant->backend, &p));
	r = cut_walk(_metadata, p, cut_by_exit, &c, &seen);
	TH_LOG("%zu records before the end of the walk", seen);
	EXPECT_EQ(-ESRCH, r);
	EXPECT_EQ(ESRCH, errno);
	EXPECT_LT(seen, (size_t)2 * n);
	/* and once the zombie is reaped */
	ASSERT_EQ(0, child_finish(&c));
	EXPECT_EQ(-ESRCH, cut_walk(_metadata, p, cut_by_reaping, &c, &seen));
	EXPECT_EQ(0u, seen);
	vmaq_close(p);
}

/*
 * The PROCMAP_QUERY backend reads a copy of the whole text for what the
 * ioctl cannot say (the gate VMA, names longer than PATH_MAX). A target
 * that exits between two reads of that copy leaves it short: that must
 * be ESRCH, not a copy without the gate, so not a walk one record short
 * that ends as if whole, nor a find that says "not mapped".
 */
static int read_all_steps;

static void cut_in_read_all(void *arg)
{
	if (!read_all_steps++)
		cut_by_exit(arg);
}

static void gate_read_cut(struct __test_metadata *_metadata, bool walk)
{
	struct test_child c;
	struct vmaq_iter *it;
	const struct vmaq_vma *v;
	struct vmaq_proc *p;
	int n = cut_pairs(), r, err;
	size_t seen = 0;

	ASSERT_EQ(0, child_start(&c, setup_pairs, &n));
	err = open_backend(c.pid, VMAQ_BACKEND_QUERY, &p);
	if (err == -EOPNOTSUPP) {
		child_finish(&c);
		SKIP(return, "no PROCMAP_QUERY");
	}
	ASSERT_EQ(0, err);
	read_all_steps = 0;
	vmaq_test_read_all_arg = &c;
	vmaq_test_read_all_step = cut_in_read_all;
	if (walk) {
		ASSERT_EQ(0, vmaq_iter_new(p, VMAQ_NAME, &it));
		while ((r = vmaq_iter_next(it, &v)) == 1)
			seen++;
		vmaq_iter_free(it);
	} else {
		/* x86-64's [vsyscall], or where it would be */
		r = vmaq_find(p, UINTPTR_MAX > 0xffffffffu ? 0xffffffffff600000ull : 0xffff0000ull,
			      VMAQ_NAME, &v);
	}
	vmaq_test_read_all_step = NULL;
	TH_LOG("%zu records, %d reads of the copy", seen, read_all_steps);
	/* the copy was read, and cut after its first read */
	EXPECT_LE(1, read_all_steps);
	EXPECT_EQ(-ESRCH, r);
	EXPECT_EQ(ESRCH, errno);
	if (walk)
		EXPECT_LE((size_t)2 * n, seen);
	vmaq_close(p);
	child_finish(&c);
}

TEST(query_walk_whose_gate_read_is_cut_by_exit_is_esrch)
{
	gate_read_cut(_metadata, true);
}

TEST(query_find_of_the_gate_cut_by_exit_is_esrch)
{
	gate_read_cut(_metadata, false);
}

/*
 * A build ID the text backend reads from the mapped file, which it opens
 * after it has read the VMA's line: a target that exits in between
 * leaves no file to open. A find or a lookup (which stop before the end
 * of the text, and its check that the map was whole) must then say
 * ESRCH, not give the record without the build ID it had. The query and
 * batch backends have the ID from the kernel with the VMA.
 */
static void cut_before_bid_open(void *arg)
{
	struct test_child *c = arg;

	if (c->pid > 0) {
		cut_by_exit(c);
		c->pid = -c->pid;
	}
}

TEST_F(be, a_build_id_read_cut_by_exit_is_esrch)
{
	uint64_t code = (uintptr_t)&cut_before_bid_open;
	const struct vmaq_vma *v;
	struct vmaq_lookup *l;
	int round, r;

	for (round = 0; round < 2; round++) {
		struct test_child c;
		struct vmaq_proc *p;
		int n = 4;

		ASSERT_EQ(0, child_start(&c, setup_pairs, &n));
		ASSERT_EQ(0, open_backend(c.pid, variant->backend, &p));
		vmaq_test_bid_open_arg = &c;
		vmaq_test_bid_open = cut_before_bid_open;
		if (round == 0) {
			r = vmaq_find(p, code, VMAQ_NAME | VMAQ_BUILD_ID, &v);
		} else {
			r = vmaq_lookup(p, &code, 1, VMAQ_BUILD_ID, &l);
			v = r ? NULL : vmaq_lookup_vma(l, 0);
		}
		vmaq_test_bid_open = NULL;
		if (c.pid < 0) {
			/* the library opened the file: the target was gone */
			EXPECT_EQ(-ESRCH, r) TH_LOG("%s", round ? "lookup" : "find");
			c.pid = -c.pid;
		} else {
			/* the kernel gave the build ID: never opened */
			ASSERT_EQ(0, r);
			ASSERT_NE(NULL, v);
			EXPECT_EQ(20u, v->build_id_size);
			EXPECT_NE(VMAQ_BACKEND_TEXT, variant->backend);
		}
		if (round == 1 && !r)
			vmaq_lookup_free(l);
		vmaq_close(p);
		child_finish(&c);
	}
}

struct exec_child {
	pid_t pid;
	int go, execd;	/* write to start exec; EOF once exec is done */
};

static void cut_by_exec(void *arg)
{
	struct exec_child *e = arg;
	char b = 0;

	if (write(e->go, &b, 1) != 1)
		return;
	/* the close-on-exec end closes after exec has dropped the old mm */
	while (read(e->execd, &b, 1) < 0 && errno == EINTR)
		;
}

TEST_F(be, exec_in_the_middle_of_a_long_walk_is_esrch)
{
	struct exec_child e;
	struct vmaq_proc *p;
	int go[2], done[2], n = cut_pairs(), r, st;
	size_t seen;
	char b;

	ASSERT_EQ(0, pipe2(go, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(done, O_CLOEXEC));
	e.pid = fork();
	ASSERT_GE(e.pid, 0);
	if (e.pid == 0) {
		close(go[1]);
		close(done[0]);
		if (setup_pairs(&n) || write(done[1], "r", 1) != 1 ||
		    read(go[0], &b, 1) != 1)
			_exit(1);
		execl("/bin/sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	close(go[0]);
	close(done[1]);
	ASSERT_EQ(1, read(done[0], &b, 1));
	e.go = go[1];
	e.execd = done[0];
	ASSERT_EQ(0, open_backend(e.pid, variant->backend, &p));
	r = cut_walk(_metadata, p, cut_by_exec, &e, &seen);
	TH_LOG("%zu records before the end of the walk", seen);
	EXPECT_EQ(-ESRCH, r);
	EXPECT_LT(seen, (size_t)2 * n);
	vmaq_close(p);
	close(go[1]);
	close(done[0]);
	kill(e.pid, SIGKILL);
	waitpid(e.pid, &st, 0);
}

/*
 * Two walks of one handle take turns while the map changes between their
 * steps: 1, 2 or 3 pages that cannot merge are mapped below both cursors,
 * so the text after them moves by whole lines. The walks share the maps
 * file and its one read position: neither may see a torn line or go
 * backwards, and each must end where the map ends.
 */
static void churn_below(char **m, int *k, int step)
{
	static const int prot[] = { PROT_NONE, PROT_READ | PROT_EXEC, PROT_NONE };
	int i;

	for (i = 0; i < *k; i++)
		munmap(m[i], pg);
	*k = step % 3 + 1;
	for (i = 0; i < *k; i++)
		m[i] = mmap(NULL, pg, prot[i], MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static uint64_t last_end_of_text(pid_t pid)
{
	char *t = maps_text(pid, NULL), *l;
	unsigned long long s = 0, e = 0;

	if (!t)
		return 0;
	l = strrchr(t, '\n');
	while (l > t && l[-1] != '\n')
		l--;
	if (sscanf(l, "%llx-%llx", &s, &e) != 2)
		e = 0;
	free(t);
	return e;
}

/* one of setup_pairs()'s read-write pages (or another such page) */
static bool rw_page(const struct vmaq_vma *v)
{
	return !(v->flags & VMAQ_FILE) && !v->name && v->end - v->start == (uint64_t)pg &&
	       (v->flags & (VMAQ_READ | VMAQ_WRITE | VMAQ_EXEC | VMAQ_SHARED)) ==
	       (VMAQ_READ | VMAQ_WRITE);
}

/* One of the test's read-write pages in [@lo, @hi): what holds still. */
static bool rw_page_in(const struct vmaq_vma *v, const char *lo, const char *hi)
{
	return rw_page(v) && v->start >= (uintptr_t)lo && v->end <= (uintptr_t)hi;
}

TEST_F(be, interleaved_walks_of_one_handle_stay_whole)
{
	struct vmaq_snapshot *s;
	size_t ref = 0, seen_a = 0, seen_b = 0, j;
	char *region, *end;
	struct vmaq_iter *a, *b;
	const struct vmaq_vma *va, *vb;
	uint64_t last_a = 0, last_b = 0;
	int n = 1000, ra = 1, rb = 1, i, k = 0, steps = 0;
	char *m[3];

	/*
	 * Our own map, tens of read() calls long: n read-write pages between
	 * read-only ones, in PROT_NONE guards so that none merges with
	 * memory the walks allocate.
	 */
	region = mmap(NULL, (size_t)(2 * n + 2) * pg, PROT_NONE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, region);
	/* only these: the heap the walks grow may split off a page of its own */
	end = region + (size_t)(2 * n + 2) * pg;
	for (j = 0; j < (size_t)n; j++) {
		ASSERT_EQ(0, mprotect(region + (2 * j + 1) * pg, pg, PROT_READ | PROT_WRITE));
		ASSERT_EQ(0, mprotect(region + (2 * j + 2) * pg, pg, PROT_READ));
	}
	ASSERT_EQ(0, vmaq_iter_new(self->self, VMAQ_NAME, &a));
	ASSERT_EQ(0, vmaq_iter_new(self->self, VMAQ_NAME, &b));
	while (ra == 1 || rb == 1) {
		for (i = 0; i < 100 && ra == 1; i++) {
			ra = vmaq_iter_next(a, &va);
			if (ra == 1) {
				EXPECT_GE(va->start, last_a);
				last_a = va->end;
				seen_a += rw_page_in(va, region, end);
			}
		}
		churn_below(m, &k, steps);
		for (i = 0; i < 60 && rb == 1; i++) {
			rb = vmaq_iter_next(b, &vb);
			if (rb == 1) {
				EXPECT_GE(vb->start, last_b);
				last_b = vb->end;
				seen_b += rw_page_in(vb, region, end);
			}
		}
		churn_below(m, &k, ++steps);
	}
	EXPECT_EQ(0, ra);
	EXPECT_EQ(0, rb);
	EXPECT_GT(steps, 10);
	EXPECT_EQ(last_end_of_text(getpid()), last_a);
	EXPECT_EQ(last_end_of_text(getpid()), last_b);
	/* no record lost or doubled by the restarts: the pages that hold still */
	ASSERT_EQ(0, vmaq_snapshot_new(self->self, 0, &s));
	for (j = 0; j < vmaq_snapshot_count(s); j++)
		ref += rw_page_in(vmaq_snapshot_vma(s, j), region, end);
	vmaq_snapshot_free(s);
	EXPECT_GE(ref, (size_t)n);
	EXPECT_EQ(ref, seen_a);
	EXPECT_EQ(ref, seen_b);
	vmaq_iter_free(a);
	vmaq_iter_free(b);
}

/*
 * A target that keeps splitting and merging neighbours (audit F6): walks
 * asked for the first VMA ending above the last one's end and got a merged
 * VMA starting below it, a map that never existed. Snapshots must hold
 * ordered, non-overlapping records (re-reading when a walk met a change);
 * iterators must end with EAGAIN rather than yield an overlap.
 */
static double elapsed_s(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void churn_forever(int n)
{
	char *m = mmap(NULL, (size_t)n * 2 * pg, PROT_READ,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned int seed = 1;

	if (m == MAP_FAILED)
		_exit(1);
	for (int i = 0; i < 2 * n; i += 2)
		mprotect(m + (size_t)i * pg, pg, PROT_READ | PROT_WRITE);
	for (;;) {
		size_t j = (size_t)(rand_r(&seed) % n) * 2;

		/* merge j, j+1 (and j+2), then split them again */
		mprotect(m + j * pg, 2 * pg, PROT_READ);
		mprotect(m + j * pg, pg, PROT_READ | PROT_WRITE);
	}
}

TEST_F(be, walks_of_a_changing_map_never_overlap)
{
	int i, again = 0, snaps = 0, walks = 0, overlaps = 0, st;
	struct timespec t0;
	pid_t pid = fork();

	ASSERT_GE(pid, 0);
	if (pid == 0)
		churn_forever(500);
	usleep(200000);
	/* 60 rounds, or as many as fit in 10 s (a debug kernel under TCG) */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 60 && (i < 5 || elapsed_s(&t0) < 10); i++) {
		struct vmaq_proc *p;
		struct vmaq_snapshot *snap;
		struct vmaq_iter *it;
		const struct vmaq_vma *v;
		uint64_t prev = 0;
		size_t j;
		int r;

		ASSERT_EQ(0, open_backend(pid, variant->backend, &p));
		r = vmaq_snapshot_new(p, VMAQ_NAME, &snap);
		if (r == -EAGAIN) {
			again++;
		} else {
			ASSERT_EQ(0, r);
			for (j = 0; j < vmaq_snapshot_count(snap); j++) {
				v = vmaq_snapshot_vma(snap, j);
				overlaps += v->start < prev;
				prev = v->end;
			}
			vmaq_snapshot_free(snap);
			snaps++;
		}
		ASSERT_EQ(0, vmaq_iter_new(p, VMAQ_NAME, &it));
		prev = 0;
		while ((r = vmaq_iter_next(it, &v)) == 1) {
			overlaps += v->start < prev;
			prev = v->end;
		}
		if (r == -EAGAIN) {
			again++;
			/* and it stays failed */
			EXPECT_EQ(-EAGAIN, vmaq_iter_next(it, &v));
		} else {
			EXPECT_EQ(0, r);
			walks++;
		}
		vmaq_iter_free(it);
		vmaq_close(p);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	TH_LOG("%d whole snapshots, %d whole walks, %d EAGAIN", snaps, walks, again);
	EXPECT_EQ(0, overlaps);
	/* most snapshots succeed: a retry rarely meets a change again */
	EXPECT_GT(snaps, i / 2);
	EXPECT_GT(walks, i / 2);
}

/*
 * The caller's own map must not decide whether another process can be
 * read: the query backend looked for the gate VMA ([vsyscall]) by parsing
 * all of our /proc/self/maps, so one mapping of ours with a path longer
 * than PATH_MAX (which the kernel prints) failed every walk of every
 * process (design review). Map one, after the child is forked.
 */
static int map_long_path(const char *dir, void **addr)
{
	char comp[201];
	int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd, i;

	memset(comp, 'd', 200);
	comp[200] = '\0';
	if (cwd < 0 || chdir(dir))
		return -1;
	for (i = 0; i < 22; i++)	/* 22 * 201 bytes: past PATH_MAX */
		if ((mkdir(comp, 0700) && errno != EEXIST) || chdir(comp))
			return -1;
	fd = open("mapped", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fchdir(cwd))
		return -1;
	close(cwd);
	if (fd < 0 || ftruncate(fd, pg))
		return -1;
	*addr = mmap(NULL, pg, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	return *addr == MAP_FAILED ? -1 : 0;
}

TEST_F(be, our_own_long_path_mapping_does_not_break_other_walks)
{
	struct test_child c;
	void *m;

	ASSERT_EQ(0, child_start(&c, NULL, NULL));
	ASSERT_EQ(0, map_long_path(self->dir, &m));
	expect_same_as_text(_metadata, variant->backend, c.pid, NULL);
	munmap(m, pg);
	ASSERT_EQ(0, child_finish(&c));
}

/*
 * A name too long for the ioctls comes from a copy of the text read once
 * per walk, older than the record it names. Here the range of a second
 * mapping of file A is mapped again with file B after the walk has read
 * its copy: B's record must get B's name, never A's (review of 4a8489e:
 * the line was matched by start and end only).
 */
TEST_F(be, a_long_name_belongs_to_the_file_of_its_record)
{
	char comp[201], *r;
	int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), fa, fb, i, n;
	struct stat sa, sb;
	struct vmaq_iter *it;
	const struct vmaq_vma *v;
	bool swapped = false, seen = false;

	memset(comp, 'd', 200);
	comp[200] = '\0';
	ASSERT_GE(cwd, 0);
	ASSERT_EQ(0, chdir(self->dir));
	for (i = 0; i < 22; i++)	/* past PATH_MAX */
		ASSERT_EQ(0, (mkdir(comp, 0700) && errno != EEXIST) || chdir(comp));
	fa = open("fileA", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	fb = open("fileB", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ASSERT_EQ(0, fchdir(cwd));
	close(cwd);
	ASSERT_GE(fa, 0);
	ASSERT_GE(fb, 0);
	ASSERT_EQ(0, ftruncate(fa, 4 * pg));
	ASSERT_EQ(0, ftruncate(fb, 4 * pg));
	ASSERT_EQ(0, fstat(fa, &sa));
	ASSERT_EQ(0, fstat(fb, &sb));
	/* A at page 0 and again, offset 2 pages, at page 3: apart, unmerged */
	r = mmap(NULL, 5 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, r);
	ASSERT_NE(MAP_FAILED, mmap(r, pg, PROT_READ, MAP_SHARED | MAP_FIXED, fa, 0));
	ASSERT_NE(MAP_FAILED, mmap(r + 3 * pg, pg, PROT_READ, MAP_SHARED | MAP_FIXED, fa, 2 * pg));
	ASSERT_EQ(0, vmaq_iter_new(self->self, VMAQ_NAME, &it));
	while ((n = vmaq_iter_next(it, &v)) == 1) {
		if (v->start == (uintptr_t)r && !swapped) {
			/* the walk has its copy of the text (A's name) now */
			ASSERT_EQ((uint64_t)sa.st_ino, v->inode);
			ASSERT_NE(MAP_FAILED, mmap(r + 3 * pg, pg, PROT_READ, MAP_SHARED | MAP_FIXED,
						   fb, 2 * pg));
			swapped = true;
		}
		if (v->start == (uintptr_t)(r + 3 * pg)) {
			/*
			 * A's, if the backend read it before the swap (a batch
			 * call reads many records at once), else B's: the name
			 * of the file whose inode the record has, either way.
			 */
			seen = true;
			ASSERT_NE(NULL, v->name);
			ASSERT_TRUE(v->inode == (uint64_t)sa.st_ino || v->inode == (uint64_t)sb.st_ino);
			EXPECT_STREQ(v->inode == (uint64_t)sb.st_ino ? "fileB" : "fileA",
				     v->name + v->name_len - 5);
			TH_LOG("the record is %s's", v->inode == (uint64_t)sb.st_ino ? "B" : "A");
		}
	}
	/* or the walk may say the map changed: never the wrong name */
	if (n == -EAGAIN)
		TH_LOG("the walk saw the change and said so");
	else
		EXPECT_EQ(0, n);
	EXPECT_TRUE(swapped);
	EXPECT_TRUE(seen || n == -EAGAIN);
	vmaq_iter_free(it);
	munmap(r, 5 * pg);
	close(fa);
	close(fb);
}

/*
 * Names as the kernel has them, whatever their length or bytes: a path of
 * more than 5,000 bytes (the ioctls return at most PATH_MAX), a file
 * named with the four bytes "\012" (which the text also writes for a
 * newline), a real newline, a live file whose name ends in " (deleted)"
 * and a deleted one. Each backend must give the very bytes, the same
 * kind and deletion flag, and still render the text byte for byte.
 */
#define DEEP_LEVELS 25		/* 25 * 201 bytes: far past PATH_MAX */

static char *deep_path(const char *dir, const char *leaf)
{
	size_t len = strlen(dir) + DEEP_LEVELS * 201 + 16, o;
	char *p = malloc(len);
	int i;

	o = (size_t)snprintf(p, len, "%s", dir);
	for (i = 0; i < DEEP_LEVELS; i++) {
		p[o++] = '/';
		memset(p + o, 'd', 200);
		o += 200;
	}
	snprintf(p + o, len - o, "/%s", leaf);
	return p;
}

static int setup_odd_names(void *arg)
{
	const char *dir = arg;
	char comp[201], p[512];
	int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd, i;

	snprintf(p, sizeof(p), "%s/back\\012slash", dir);
	if (map_file(p, 1, 0, PROT_READ, MAP_PRIVATE, false))
		return -1;
	snprintf(p, sizeof(p), "%s/real\nnewline", dir);
	if (map_file(p, 1, 0, PROT_READ, MAP_PRIVATE, false))
		return -1;
	snprintf(p, sizeof(p), "%s/live (deleted)", dir);
	if (map_file(p, 1, 0, PROT_READ, MAP_PRIVATE, false))
		return -1;
	snprintf(p, sizeof(p), "%s/gone", dir);
	if (map_file(p, 1, 0, PROT_READ, MAP_PRIVATE, true))
		return -1;
	memset(comp, 'd', 200);
	comp[200] = '\0';
	if (cwd < 0 || chdir(dir))
		return -1;
	for (i = 0; i < DEEP_LEVELS; i++)
		if ((mkdir(comp, 0700) && errno != EEXIST) || chdir(comp))
			return -1;
	/*
	 * Two such names, different: the records a backend makes of them
	 * one after the other must not share the storage the text's names
	 * go in.
	 */
	/*
	 * And two that the text writes alike, too long for the ioctls to
	 * say which is which: the four bytes "\012" and a real newline.
	 */
	for (i = 0; i < 4; i++) {
		static const char *const leaf[] = {
			"mapped", "mapped2", "long\\012back", "long\nnew",
		};

		fd = open(leaf[i], O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0 || ftruncate(fd, pg))
			return -1;
		if (mmap(NULL, pg, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0) == MAP_FAILED)
			return -1;
		close(fd);
	}
	if (fchdir(cwd))
		return -1;
	close(cwd);
	return 0;
}

/*
 * A file 2,100 directories deep (4,200 bytes of "a/"), named with the four
 * bytes "\012": its name is read from the file system a component at a
 * time, which must hold one descriptor at a time and no stack frame per
 * level (review of 7a79440: a recursive walk held a descriptor and a
 * 300-byte frame per level, ran out of both on deep paths and crashed).
 */
#define DEEPER_LEVELS 2100

static int setup_deep_backslash(void *arg)
{
	const char *dir = arg;
	int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), i, err;

	if (cwd < 0 || chdir(dir))
		return -1;
	for (i = 0; i < DEEPER_LEVELS; i++)
		if ((mkdir("a", 0700) && errno != EEXIST) || chdir("a"))
			return -1;
	err = map_file("x\\012y", 1, 0, PROT_READ, MAP_PRIVATE, false);
	if (fchdir(cwd))
		return -1;
	close(cwd);
	return err;
}

TEST_F(be, a_very_deep_name_with_a_backslash_sequence_is_its_bytes)
{
	struct rlimit old, low;
	struct test_child c;
	struct vmaq_snapshot *s;
	struct vmaq_proc *p;
	size_t i, len = strlen(self->dir) + 2 * DEEPER_LEVELS + 8, seen = 0;
	char *want;

	/* the child's copy of memory allocated before the fork would leak */
	ASSERT_EQ(0, child_start(&c, setup_deep_backslash, self->dir));
	want = malloc(len);
	ASSERT_NE(NULL, want);
	i = (size_t)snprintf(want, len, "%s", self->dir);
	while (i < strlen(self->dir) + 2 * DEEPER_LEVELS)
		i += (size_t)snprintf(want + i, len - i, "/a");
	snprintf(want + i, len - i, "/x\\012y");
	ASSERT_EQ(0, open_backend(c.pid, variant->backend, &p));
	/* a few descriptors to spare: a walk that holds one a level fails */
	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &old));
	low = old;
	low.rlim_cur = 256;
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &low));
	ASSERT_EQ(0, vmaq_snapshot_new(p, VMAQ_NAME, &s));
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &old));
	for (i = 0; i < vmaq_snapshot_count(s); i++) {
		const struct vmaq_vma *v = vmaq_snapshot_vma(s, i);

		if (!v->name || strncmp(v->name, self->dir, strlen(self->dir)))
			continue;
		seen++;
		EXPECT_EQ(strlen(want), v->name_len);
		EXPECT_EQ(0, strcmp(want, v->name)) TH_LOG("...%s", v->name + v->name_len - 12);
	}
	EXPECT_EQ(1u, seen);
	vmaq_snapshot_free(s);
	vmaq_close(p);
	free(want);
	ASSERT_EQ(0, child_finish(&c));
}

/* A deleted file, and beside it a live file named as the kernel shows it. */
static int setup_twins(void *arg)
{
	const char *dir = arg;
	char p[512];

	snprintf(p, sizeof(p), "%s/twin", dir);
	if (map_file(p, 1, 0, PROT_READ, MAP_PRIVATE, true))
		return -1;
	snprintf(p, sizeof(p), "%s/twin (deleted)", dir);
	return map_file(p, 1, 0, PROT_READ | PROT_EXEC, MAP_PRIVATE, false);
}

/*
 * Two neighbouring VMAs with the same name, one of a deleted file and one
 * of a live file literally so named: the deleted flag is each file's own
 * (a check remembered by name alone would give both the first's answer).
 */
TEST_F(be, a_deleted_file_and_its_live_namesake_are_told_apart)
{
	struct vmaq_snapshot *s;
	struct test_child c;
	struct vmaq_proc *p;
	char name[512];
	int deleted = 0, live = 0;

	snprintf(name, sizeof(name), "%s/twin (deleted)", self->dir);
	ASSERT_EQ(0, child_start(&c, setup_twins, self->dir));
	ASSERT_EQ(0, open_backend(c.pid, variant->backend, &p));
	ASSERT_EQ(0, vmaq_snapshot_new(p, VMAQ_NAME, &s));
	for (size_t i = 0; i < vmaq_snapshot_count(s); i++) {
		const struct vmaq_vma *v = vmaq_snapshot_vma(s, i);

		if (!v->name || strcmp(v->name, name))
			continue;
		if (v->flags & VMAQ_DELETED)
			deleted++;
		else
			live++;
	}
	EXPECT_EQ(1, deleted);
	EXPECT_EQ(1, live);
	vmaq_snapshot_free(s);
	vmaq_close(p);
	ASSERT_EQ(0, child_finish(&c));
}

struct want_name {
	char *name;
	bool deleted;
	int seen;
};

/*
 * Records with a name and a build ID, in tables that grow as they fill:
 * the arena holding their strings moves as it grows, and every record's
 * strings move with it, the one being added included (a move between
 * its name and its build ID once left the name in the freed block,
 * which ASan reports). Our own process, with one more mapping of this
 * program's first page (which holds its build ID) each round, and one
 * of a file whose name grows by a byte a round (in place of the last
 * round's), mapped below it: read by a new handle each time, each table
 * starts small, and the arena's moves fall on every byte of a record's
 * strings in turn.
 */
TEST_F(be, names_and_build_ids_move_with_their_table)
{
	unsigned char bid[VMAQ_BUILD_ID_MAX];
	uint32_t bid_size = 0;
	char exe[PATH_MAX];
	ssize_t len;
	void *var = NULL;
	int fd, k;

	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ASSERT_LT(0, len);
	exe[len] = '\0';
	fd = open(exe, O_RDONLY | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	for (k = 1; k <= 100 && _metadata->exit_code == KSFT_PASS; k++) {
		struct vmaq_snapshot *s;
		struct vmaq_proc *p;
		size_t i, named = 0;

		char path[sizeof(self->dir) + 80];
		size_t at = (size_t)snprintf(path, sizeof(path), "%s/", self->dir);
		int f;

		ASSERT_NE(MAP_FAILED, mmap(NULL, pg, PROT_READ, MAP_PRIVATE, fd, 0));
		/* below it (mmap goes down): earlier in the table */
		if (var)
			ASSERT_EQ(0, munmap(var, pg));
		memset(path + at, 'n', (size_t)(k % 64) + 1);
		path[at + (size_t)(k % 64) + 1] = '\0';
		f = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		ASSERT_GE(f, 0);
		ASSERT_EQ(0, ftruncate(f, pg));
		var = mmap(NULL, pg, PROT_READ, MAP_PRIVATE, f, 0);
		ASSERT_NE(MAP_FAILED, var);
		close(f);
		ASSERT_EQ(0, unlink(path));
		ASSERT_EQ(0, open_backend(getpid(), variant->backend, &p));
		ASSERT_EQ(0, vmaq_snapshot_new(p, VMAQ_NAME | VMAQ_BUILD_ID, &s));
		for (i = 0; i < vmaq_snapshot_count(s); i++) {
			const struct vmaq_vma *v = vmaq_snapshot_vma(s, i);

			if (!v->name || v->name_len != (uint32_t)len ||
			    memcmp(v->name, exe, (size_t)len))
				continue;
			named++;
			/* every VMA of this program carries its build ID */
			ASSERT_NE(NULL, v->build_id) TH_LOG("round %d, VMA %zu", k, i);
			ASSERT_LT(0u, v->build_id_size);
			if (!bid_size) {
				bid_size = v->build_id_size;
				memcpy(bid, v->build_id, bid_size);
			}
			ASSERT_EQ(bid_size, v->build_id_size);
			ASSERT_EQ(0, memcmp(bid, v->build_id, bid_size));
		}
		/* this program's own VMAs and the k mappings added */
		EXPECT_LT((size_t)k, named) TH_LOG("round %d", k);
		vmaq_snapshot_free(s);
		vmaq_close(p);
	}
	close(fd);
}

TEST_F(be, names_of_any_length_are_the_kernels_bytes)
{
	struct want_name want[8];
	struct test_child c;
	int h;
	struct vmaq_proc *p;
	struct vmaq_snapshot *s;
	const struct vmaq_vma *v;
	size_t i, k, n = 0;

	ASSERT_EQ(0, child_start(&c, setup_odd_names, self->dir));
	ASSERT_LE(0, asprintf(&want[n].name, "%s/back\\012slash", self->dir));
	want[n++].deleted = false;
	ASSERT_LE(0, asprintf(&want[n].name, "%s/real\nnewline", self->dir));
	want[n++].deleted = false;
	ASSERT_LE(0, asprintf(&want[n].name, "%s/live (deleted)", self->dir));
	want[n++].deleted = false;
	ASSERT_LE(0, asprintf(&want[n].name, "%s/gone (deleted)", self->dir));
	want[n++].deleted = true;
	want[n].name = deep_path(self->dir, "mapped");
	want[n++].deleted = false;
	want[n].name = deep_path(self->dir, "mapped2");
	want[n++].deleted = false;
	want[n].name = deep_path(self->dir, "long\\012back");
	want[n++].deleted = false;
	want[n].name = deep_path(self->dir, "long\nnew");
	want[n++].deleted = false;

	/* the text, byte for byte, first */
	expect_same_as_text(_metadata, variant->backend, c.pid, NULL);

	/* a handle from a passed fd (no pid) must tell the same */
	for (h = 0; h < 2; h++) {
		for (k = 0; k < n; k++)
			want[k].seen = 0;
		if (h == 0) {
			ASSERT_EQ(0, open_backend(c.pid, variant->backend, &p));
		} else {
			VMAQ_OPTS(vmaq_open_opts, o, .backend = variant->backend);
			char path[64];
			int fd;

			snprintf(path, sizeof(path), "/proc/%d/maps", c.pid);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			ASSERT_GE(fd, 0);
			ASSERT_EQ(0, vmaq_open_fd(fd, &o, &p));
			close(fd);
		}
		ASSERT_EQ(0, vmaq_snapshot_new(p, VMAQ_NAME, &s));
		for (i = 0; i < vmaq_snapshot_count(s); i++) {
			v = vmaq_snapshot_vma(s, i);
			ASSERT_EQ(sizeof(*v), v->size);
			if (!v->name || strncmp(v->name, self->dir, strlen(self->dir)))
				continue;
			for (k = 0; k < n; k++) {
				if (strcmp(v->name, want[k].name))
					continue;
				want[k].seen++;
				EXPECT_EQ(strlen(want[k].name), v->name_len);
				EXPECT_EQ(VMAQ_KIND_FILE, v->kind);
				EXPECT_EQ(want[k].deleted, !!(v->flags & VMAQ_DELETED))
					TH_LOG("%s", v->name);
			}
		}
		for (k = 0; k < n; k++) {
			EXPECT_EQ(1, want[k].seen)
				TH_LOG("%.80s: seen %d times", want[k].name, want[k].seen);
		}
		/*
		 * Single finds and lookups come to the same records, names
		 * (long, odd, deleted) and flags included, whichever path a
		 * find takes (PROCMAP_QUERY's goes on with the text for a
		 * name too long for the ioctl).
		 */
		for (i = 0; i < vmaq_snapshot_count(s); i++) {
			const struct vmaq_vma *sv = vmaq_snapshot_vma(s, i);
			struct vmaq_lookup *l;
			uint64_t a = sv->start;

			if (!sv->name || strncmp(sv->name, self->dir, strlen(self->dir)))
				continue;
			ASSERT_EQ(0, vmaq_find(p, a, VMAQ_NAME, &v));
			expect_same_record(_metadata, sv, v);
			ASSERT_EQ(0, vmaq_lookup(p, &a, 1, VMAQ_NAME, &l));
			ASSERT_NE(NULL, vmaq_lookup_vma(l, 0));
			expect_same_record(_metadata, sv, vmaq_lookup_vma(l, 0));
			vmaq_lookup_free(l);
		}
		/*
		 * Lookups of up to 64 addresses start in buffers of their own
		 * and move to the heap when long names outgrow them: every
		 * record must come out whole, whatever the batch size.
		 */
		for (size_t batch = 1; batch <= 65; batch += 16) {
			size_t total = vmaq_snapshot_count(s);

			for (i = 0; i < total; i += batch) {
				size_t m = total - i < batch ? total - i : batch, j;
				uint64_t a[65];
				struct vmaq_lookup *l;

				for (j = 0; j < m; j++)
					a[j] = vmaq_snapshot_vma(s, i + m - 1 - j)->start;
				ASSERT_EQ(0, vmaq_lookup(p, a, m, VMAQ_NAME, &l));
				for (j = 0; j < m; j++) {
					v = vmaq_lookup_vma(l, j);
					ASSERT_NE(NULL, v);
					expect_same_record(_metadata,
							   vmaq_snapshot_vma(s, i + m - 1 - j), v);
				}
				vmaq_lookup_free(l);
			}
		}
		vmaq_snapshot_free(s);
		vmaq_close(p);
	}
	for (k = 0; k < n; k++)
		free(want[k].name);
	ASSERT_EQ(0, child_finish(&c));
}

/*
 * The batch backend hands over a call's records as runs, which end at a
 * name only the text gives, at a record that fails, at the end of the
 * call, and skip what VMAQ_ANON drops: calls of 1, 2, 3 and 33 records
 * put those ends everywhere. 80 VMAs of one file in a row make calls
 * whose every record VMAQ_ANON drops.
 */
static int setup_runs(void *arg)
{
	char p[512];
	char *f;
	int fd, i;

	if (setup_odd_names(arg))
		return -1;
	snprintf(p, sizeof(p), "%s/run", (const char *)arg);
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, 80 * pg))
		return -1;
	f = mmap(NULL, 80 * pg, PROT_READ, MAP_PRIVATE, fd, 0);
	if (f == MAP_FAILED)
		return -1;
	close(fd);
	for (i = 0; i < 80; i += 2)
		if (mprotect(f + (size_t)i * pg, pg, PROT_READ | PROT_EXEC))
			return -1;
	return 0;
}

/* The lines of @text for anonymous VMAs (device 00:00, inode 0). */
static char *anon_lines(const char *text)
{
	char *out = malloc(strlen(text) + 1), *o = out;
	const char *l = text;

	while (out && *l) {
		const char *e = strchr(l, '\n');
		size_t n = e ? (size_t)(e - l + 1) : strlen(l);
		unsigned int maj, min;
		unsigned long ino;

		if (sscanf(l, "%*s %*s %*s %x:%x %lu", &maj, &min, &ino) == 3 &&
		    !maj && !min && !ino) {
			memcpy(o, l, n);
			o += n;
		}
		l += n;
	}
	if (out)
		*o = '\0';
	return out;
}

TEST_F(be, runs_of_records_end_anywhere)
{
	static const uint32_t caps[] = { 1, 2, 3, 33, 0 };
	struct test_child c;
	struct vmaq_proc *p;
	char *text, *want, *mine;
	size_t i;
	int err;

	ASSERT_EQ(0, child_start(&c, setup_runs, self->dir));
	text = maps_text(c.pid, NULL);
	ASSERT_NE(NULL, text);
	want = anon_lines(text);
	ASSERT_NE(NULL, want);
	ASSERT_EQ(0, open_backend(c.pid, variant->backend, &p));
	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		vmaq_batch_test_cap(caps[i]);
		TH_LOG("%u records a call", caps[i]);
		expect_same_as_text(_metadata, variant->backend, c.pid, NULL);
		mine = render_map_flags(p, VMAQ_NAME | VMAQ_ANON, &err, NULL);
		ASSERT_EQ(0, err);
		EXPECT_STREQ(want, mine);
		free(mine);
		mine = render_snapshot(p, VMAQ_NAME | VMAQ_ANON, &err);
		ASSERT_EQ(0, err);
		EXPECT_STREQ(want, mine);
		free(mine);
	}
	vmaq_batch_test_cap(0);
	vmaq_close(p);
	free(want);
	free(text);
	ASSERT_EQ(0, child_finish(&c));
}

static int count_in_text(const char *needle)
{
	size_t len;
	char *t = maps_text(getpid(), &len), *p;
	int n = 0;

	for (p = t; p && (p = strstr(p, needle)); p++)
		n++;
	free(t);
	return n;
}

/* Kinds follow the names, and are only claimed when names are asked for. */
TEST_F(be, kinds_follow_the_names)
{
	const struct vmaq_vma *v;
	struct vmaq_iter *it;
	int heap = 0, stack = 0, vdso = 0, file = 0, anon = 0, bare = 0;
	char *m = mmap(NULL, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, m);
	/* make sure there is a heap */
	ASSERT_NE((void *)-1, sbrk(pg));
	ASSERT_EQ(0, vmaq_iter_new(self->self, VMAQ_NAME, &it));
	while (vmaq_iter_next(it, &v) > 0) {
		ASSERT_EQ(sizeof(*v), v->size);
		if (!v->name) {
			EXPECT_EQ(VMAQ_KIND_ANON, v->kind);
			EXPECT_FALSE(v->flags & VMAQ_FILE);
			anon++;
		} else if (!strcmp(v->name, "[heap]")) {
			EXPECT_EQ(VMAQ_KIND_HEAP, v->kind);
			heap++;
		} else if (!strcmp(v->name, "[stack]")) {
			EXPECT_EQ(VMAQ_KIND_STACK, v->kind);
			stack++;
		} else if (!strcmp(v->name, "[vdso]")) {
			EXPECT_EQ(VMAQ_KIND_VDSO, v->kind);
			vdso++;
		} else if (!strcmp(v->name, "[vvar]") || !strcmp(v->name, "[vvar_vclock]")) {
			EXPECT_EQ(VMAQ_KIND_VVAR, v->kind);
		} else if (!strcmp(v->name, "[vsyscall]")) {
			EXPECT_EQ(VMAQ_KIND_GATE, v->kind);
		} else if (v->name[0] == '/') {
			EXPECT_EQ(VMAQ_KIND_FILE, v->kind);
			EXPECT_TRUE(v->flags & VMAQ_FILE);
			file++;
		}
	}
	vmaq_iter_free(it);
	/* as many as the text shows (valgrind, say, has no [heap]) */
	EXPECT_EQ(count_in_text("[heap]\n"), heap);
	EXPECT_EQ(count_in_text("[stack]\n"), stack);
	EXPECT_EQ(count_in_text("[vdso]\n"), vdso);
	EXPECT_GT(stack + heap + vdso, 0);
	EXPECT_GT(file, 0);
	EXPECT_GT(anon, 0);
	/* without names nothing is claimed */
	ASSERT_EQ(0, vmaq_iter_new(self->self, 0, &it));
	while (vmaq_iter_next(it, &v) > 0) {
		EXPECT_EQ(VMAQ_KIND_UNKNOWN, v->kind);
		EXPECT_EQ(NULL, v->name);
		EXPECT_EQ(0u, v->name_len);
		EXPECT_FALSE(v->flags & VMAQ_DELETED);
		bare++;
	}
	vmaq_iter_free(it);
	EXPECT_GT(bare, file);	/* it walked the map */
	/*
	 * The break stays where sbrk() put it: malloc may have grown the heap
	 * past it since, and moving it back would take memory the library
	 * still holds (its spare iterator buffer) from under malloc.
	 */
	munmap(m, pg);
}

/*
 * The text's lines of the VMAs that overlap [lo, hi) and pass @flags'
 * permission filters, in order: what a range walk must give.
 */
static char *text_range(const char *text, uint64_t lo, uint64_t hi, unsigned int want)
{
	size_t cap = strlen(text) + 1, n = 0;
	char *out = malloc(cap);
	const char *l = text;

	out[0] = '\0';
	while (*l) {
		const char *nl = strchr(l, '\n');
		unsigned long long s, e;
		char perms[5];
		unsigned int f = 0;

		if (sscanf(l, "%llx-%llx %4s", &s, &e, perms) == 3) {
			f |= perms[0] == 'r' ? VMAQ_READ : 0;
			f |= perms[1] == 'w' ? VMAQ_WRITE : 0;
			f |= perms[2] == 'x' ? VMAQ_EXEC : 0;
			if (e > lo && s < hi && (f & want) == want) {
				memcpy(out + n, l, (size_t)(nl - l + 1));
				n += (size_t)(nl - l + 1);
				out[n] = '\0';
			}
		}
		l = nl + 1;
	}
	return out;
}

static char *render_range(struct vmaq_proc *p, unsigned int flags, uint64_t lo,
			  uint64_t hi, int *err)
{
	struct vmaq_iter *it;
	const struct vmaq_vma *v;
	size_t cap = 1 << 16, n = 0;
	char *buf;
	int r;

	*err = vmaq_iter_range(p, flags, lo, hi, &it);
	if (*err)
		return NULL;
	buf = malloc(cap);
	buf[0] = '\0';
	while ((r = vmaq_iter_next(it, &v)) > 0)
		append_line(&buf, &cap, &n, v);
	vmaq_iter_free(it);
	*err = r;
	return buf;
}

TEST_F(be, range_walks_give_the_vmas_that_overlap_the_range)
{
	struct test_child c;
	struct vmaq_proc *p;
	int n = 1000, err, i, checked = 0, rounds;
	uint64_t lo, hi, first = 0, last = 0;
	unsigned long long s, e;
	char *text, *want, *got, *l;
	struct vmaq_iter *it;
	size_t len;

	/* valgrind runs each walk some 50 times slower */
	if (under_valgrind())
		n = 600;
	rounds = under_valgrind() ? 48 : 120;
	ASSERT_EQ(0, child_start(&c, setup_pairs, &n));
	ASSERT_EQ(0, open_backend(c.pid, variant->backend, &p));
	text = maps_text(c.pid, &len);
	ASSERT_NE(NULL, text);
	/*
	 * Nearly all of the map is the 2 * n pages of the pairs: its middle
	 * VMAs, from line n - n / 3 to n + n / 3, are some of them.
	 */
	for (l = text, i = 0; *l; l = strchr(l, '\n') + 1, i++) {
		ASSERT_EQ(2, sscanf(l, "%llx-%llx", &s, &e));
		if (i == n - n / 3)
			first = s;
		if (i == n + n / 3)
			last = e;
	}
	ASSERT_LT(first, last);
	srandom(7);
	for (i = 0; i < rounds; i++) {
		/* edges on page boundaries, inside pages, and everywhere */
		switch (i % 4) {
		case 0:
			lo = first + (uint64_t)(random() % 64) * (uint64_t)pg;
			hi = lo + (uint64_t)(1 + random() % 16) * (uint64_t)pg;
			break;
		case 1:
			lo = first + (uint64_t)random() % (last - first);
			hi = lo + 1 + (uint64_t)random() % (uint64_t)(8 * pg);
			break;
		case 2:
			lo = (uint64_t)random() << 17;
			hi = lo + ((uint64_t)random() << 20);
			break;
		default:
			/* from below the first VMA, or up to the top */
			lo = i == 3 ? 0 : (uint64_t)random() % first;
			hi = i % 8 == 7 ? UINT64_MAX - (uint64_t)random() % 4096 :
			     first + (uint64_t)random() % (last - first) + 1;
		}
		want = text_range(text, lo, hi, i % 8 == 5 ? VMAQ_WRITE : 0);
		got = render_range(p, VMAQ_NAME | (i % 8 == 5 ? VMAQ_WRITE : 0), lo, hi,
				   &err);
		if (err)
			TH_LOG("range %d [%#llx, %#llx)", i, (unsigned long long)lo,
			       (unsigned long long)hi);
		ASSERT_EQ(0, err);
		if (strcmp(want, got))
			TH_LOG("range [%#llx, %#llx)", (unsigned long long)lo,
			       (unsigned long long)hi);
		ASSERT_STREQ(want, got);
		checked += *want != '\0';
		free(want);
		free(got);
	}
	/* most ranges held something: the test looked at real walks */
	EXPECT_GT(checked, rounds / 2);
	/* the whole range is the iterator of everything */
	got = render_range(p, VMAQ_NAME, 0, UINT64_MAX, &err);
	ASSERT_EQ(0, err);
	EXPECT_STREQ(text, got);
	free(got);
	EXPECT_EQ(-EINVAL, vmaq_iter_range(p, 0, 5, 5, &it));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-EINVAL, vmaq_iter_range(p, 0, 6, 5, &it));
	EXPECT_EQ(-EINVAL, vmaq_iter_range(NULL, 0, 0, 5, &it));
	free(text);
	vmaq_close(p);
	ASSERT_EQ(0, child_finish(&c));
}

/* A page of new file @path, which holds @text, mapped shared; NULL if not. */
static char *map_new_file(const char *path, const char *text)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	ssize_t n;
	char *m;

	if (fd < 0)
		return NULL;
	n = write(fd, text, strlen(text));
	m = mmap(NULL, (size_t)pg, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (m != MAP_FAILED && n == (ssize_t)strlen(text))
		return m;
	if (m != MAP_FAILED)
		munmap(m, (size_t)pg);
	return NULL;
}

/*
 * @mfd, from vmaq_vma_open() of a file that held "ELF!" when mapped: that
 * file (@opens), or ENOENT.
 */
static void expect_mapped_file(struct __test_metadata *_metadata, int mfd,
			       bool opens)
{
	char buf[4];

	if (!opens) {
		EXPECT_EQ(-ENOENT, mfd);
		return;
	}
	ASSERT_GE(mfd, 0);
	EXPECT_EQ(4, pread(mfd, buf, 4, 0));
	EXPECT_EQ(0, memcmp(buf, "ELF!", 4));
	close(mfd);
}

TEST_F(be, vma_open_opens_the_very_file_mapped)
{
	char path[128], other[128];
	const struct vmaq_vma *v;
	struct stat st;
	char buf[4];
	char *m;
	int fd;

	snprintf(path, sizeof(path), "%s/mapped", self->dir);
	snprintf(other, sizeof(other), "%s/other", self->dir);
	m = map_new_file(path, "ELF!");
	ASSERT_NE(NULL, m);
	ASSERT_EQ(0, vmaq_find(self->self, (uintptr_t)m, VMAQ_NAME, &v));
	fd = vmaq_vma_open(self->self, v);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(v->inode, (uint64_t)st.st_ino);
	EXPECT_EQ(4, pread(fd, buf, 4, 0));
	EXPECT_EQ(0, memcmp(buf, "ELF!", 4));
	EXPECT_EQ(-1, write(fd, "x", 1));	/* read-only */
	EXPECT_NE(0, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	/* replaced under its name, then deleted: still the file mapped */
	fd = open(other, O_RDWR | O_CREAT, 0600);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(4, write(fd, "FAKE", 4));
	close(fd);
	ASSERT_EQ(0, rename(other, path));
	ASSERT_EQ(0, vmaq_find(self->self, (uintptr_t)m, VMAQ_NAME, &v));
	/* map_files is for CAP_SYS_ADMIN: without, the name is another file */
	expect_mapped_file(_metadata, vmaq_vma_open(self->self, v), geteuid() == 0);
	/* and deleted: the name is no file at all */
	ASSERT_EQ(0, unlink(path));
	ASSERT_EQ(0, vmaq_find(self->self, (uintptr_t)m, VMAQ_NAME, &v));
	EXPECT_TRUE(v->flags & VMAQ_DELETED);
	expect_mapped_file(_metadata, vmaq_vma_open(self->self, v), geteuid() == 0);
	/* no file: ENOENT */
	ASSERT_EQ(0, vmaq_find(self->self, (uintptr_t)&fd, 0, &v));
	EXPECT_EQ(-ENOENT, vmaq_vma_open(self->self, v));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-EINVAL, vmaq_vma_open(NULL, v));
	munmap(m, (size_t)pg);
}

/*
 * A regular file with a GNU build-ID note, @tag in every byte of its ID,
 * one page long: enough ELF for the kernel's and the library's readers.
 */
static int write_elf_with_build_id(const char *path, unsigned char tag)
{
	struct {
		Elf64_Ehdr eh;
		Elf64_Phdr ph;
		Elf64_Nhdr nh;
		char name[4];
		unsigned char id[20];
	} f;
	char *page = calloc(1, (size_t)pg);
	ssize_t n;
	int fd;

	if (!page)
		return -1;
	memset(&f, 0, sizeof(f));
	memcpy(f.eh.e_ident, ELFMAG, SELFMAG);
	f.eh.e_ident[EI_CLASS] = ELFCLASS64;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	f.eh.e_ident[EI_DATA] = ELFDATA2LSB;
#else
	f.eh.e_ident[EI_DATA] = ELFDATA2MSB;
#endif
	f.eh.e_ident[EI_VERSION] = EV_CURRENT;
	f.eh.e_type = ET_DYN;
	f.eh.e_version = EV_CURRENT;
	f.eh.e_phoff = offsetof(typeof(f), ph);
	f.eh.e_ehsize = sizeof(f.eh);
	f.eh.e_phentsize = sizeof(f.ph);
	f.eh.e_phnum = 1;
	f.ph.p_type = PT_NOTE;
	f.ph.p_offset = offsetof(typeof(f), nh);
	f.ph.p_filesz = f.ph.p_memsz = sizeof(f) - offsetof(typeof(f), nh);
	f.ph.p_align = 4;
	f.nh.n_namesz = 4;
	f.nh.n_descsz = sizeof(f.id);
	f.nh.n_type = NT_GNU_BUILD_ID;
	memcpy(f.name, "GNU", 4);
	memset(f.id, tag, sizeof(f.id));
	memcpy(page, &f, sizeof(f));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0755);
	if (fd < 0) {
		free(page);
		return -1;
	}
	n = write(fd, page, (size_t)pg);
	free(page);
	return close(fd) || n != pg ? -1 : 0;
}

/*
 * btrfs gives stat(2) a device of each subvolume's own, the maps the
 * superblock's; and the first file of each subvolume has the same inode
 * number. Two such files, each with its build ID: every backend tells
 * them apart, and opens each (the text backend reads its build ID so).
 * A third, named as the kernel names a deleted file, is not deleted.
 */
TEST_F(be, files_of_btrfs_subvolumes_are_each_their_own)
{
	char img[160], mnt[160], cmd[600], path[3][200];
	static const unsigned char tag[3] = { 0xa1, 0xb2, 0xc3 };
	const struct vmaq_vma *v;
	struct stat st[3];
	char *m[3] = { NULL, NULL, NULL };
	bool mounted = false;
	int i, fd;

	if (geteuid())
		SKIP(return, "loop mounts need root");
	if (system("command -v mkfs.btrfs >/dev/null && command -v btrfs >/dev/null"))
		SKIP(return, "no btrfs-progs");
	snprintf(img, sizeof(img), "%s/btrfs.img", self->dir);
	snprintf(mnt, sizeof(mnt), "%s/mnt", self->dir);
	ASSERT_EQ(0, mkdir(mnt, 0700));
	snprintf(cmd, sizeof(cmd), "truncate -s 256M '%s' && mkfs.btrfs -q '%s' >/dev/null",
		 img, img);
	ASSERT_EQ(0, system(cmd));
	snprintf(cmd, sizeof(cmd), "mount -t btrfs -o loop '%s' '%s' 2>/dev/null", img, mnt);
	if (system(cmd)) {
		/* only a kernel without btrfs may skip: expected-skips says where */
		if (system("grep -qw btrfs /proc/filesystems") &&
		    system("modprobe -q btrfs 2>/dev/null; grep -qw btrfs /proc/filesystems"))
			SKIP(return, "the kernel has no btrfs");
		ASSERT_EQ(0, system(cmd));
	}
	mounted = true;
	snprintf(cmd, sizeof(cmd), "btrfs -q subvolume create '%s/sub' >/dev/null", mnt);
	EXPECT_EQ(0, system(cmd));
	snprintf(path[0], sizeof(path[0]), "%s/top.so", mnt);
	snprintf(path[1], sizeof(path[1]), "%s/sub/sub.so", mnt);
	snprintf(path[2], sizeof(path[2]), "%s/sub/lib.so (deleted)", mnt);
	for (i = 0; i < 3 && !_metadata->exit_code; i++) {
		EXPECT_EQ(0, write_elf_with_build_id(path[i], tag[i]));
		EXPECT_EQ(0, stat(path[i], &st[i]));
		fd = open(path[i], O_RDONLY);
		EXPECT_LE(0, fd);
		if (fd < 0)
			break;
		m[i] = mmap(NULL, (size_t)pg, PROT_READ, MAP_PRIVATE, fd, 0);
		close(fd);
		EXPECT_NE(MAP_FAILED, m[i]);
		if (m[i] == MAP_FAILED)
			m[i] = NULL;
	}
	if (!_metadata->exit_code) {
		/* what makes btrfs a case of its own */
		EXPECT_EQ(st[0].st_ino, st[1].st_ino);
		EXPECT_NE(st[0].st_dev, st[1].st_dev);
	}
	for (i = 0; i < 3 && m[i] && !_metadata->exit_code; i++) {
		unsigned char want[20];
		char buf[sizeof(ELFMAG)];
		struct stat fst;

		memset(want, tag[i], sizeof(want));
		ASSERT_EQ(0, vmaq_find(self->self, (uintptr_t)m[i],
				       VMAQ_NAME | VMAQ_BUILD_ID, &v)) TH_LOG("%s", path[i]);
		EXPECT_STREQ(path[i], v->name);
		EXPECT_FALSE(v->flags & VMAQ_DELETED) TH_LOG("%s", path[i]);
		EXPECT_EQ((uint64_t)st[i].st_ino, v->inode);
		/* the superblock's device, not stat(2)'s */
		EXPECT_FALSE(major(st[i].st_dev) == v->dev_major &&
			     minor(st[i].st_dev) == v->dev_minor);
		EXPECT_EQ(sizeof(want), v->build_id_size) TH_LOG("%s", path[i]);
		if (v->build_id_size == sizeof(want))
			EXPECT_EQ(0, memcmp(want, v->build_id, sizeof(want)))
				TH_LOG("%s: the other file's build ID", path[i]);
		fd = vmaq_vma_open(self->self, v);
		EXPECT_LE(0, fd) TH_LOG("%s: %s", path[i], strerror(-fd));
		if (fd >= 0) {
			EXPECT_EQ(0, fstat(fd, &fst));
			EXPECT_EQ(st[i].st_dev, fst.st_dev) TH_LOG("%s", path[i]);
			EXPECT_EQ((ssize_t)SELFMAG, pread(fd, buf, SELFMAG, 0));
			EXPECT_EQ(0, memcmp(buf, ELFMAG, SELFMAG));
			close(fd);
		}
	}
	for (i = 0; i < 3; i++)
		if (m[i])
			munmap(m[i], (size_t)pg);
	if (mounted && umount(mnt))
		EXPECT_EQ(0, umount2(mnt, MNT_DETACH));
}

/* Drop @caps (bits of CAP_*) from this process's capability sets. */
static int drop_caps(uint64_t caps)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -1;
	for (int i = 0; i < 2; i++) {
		d[i].effective &= ~(uint32_t)(caps >> (32 * i));
		d[i].permitted &= ~(uint32_t)(caps >> (32 * i));
		d[i].inheritable &= ~(uint32_t)(caps >> (32 * i));
	}
	return (int)syscall(SYS_capset, &h, d);
}

/*
 * Without the capabilities map_files asks for, vmaq_vma_open() has only
 * the name: the file under it if it is the one mapped, else ENOENT; a
 * replaced or deleted file is never opened in its place. A child of the
 * test drops them (as root, so that its files stay its own).
 */
TEST_F(be, vma_open_without_map_files_goes_by_the_name_only)
{
	char path[128], other[128];
	int fd, status;
	char *m;
	pid_t pid;

	if (geteuid())
		SKIP(return, "run as root, it drops the capabilities itself");
	snprintf(path, sizeof(path), "%s/mapped", self->dir);
	snprintf(other, sizeof(other), "%s/other", self->dir);
	m = map_new_file(path, "ELF!");
	ASSERT_NE(NULL, m);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		VMAQ_OPTS(vmaq_open_opts, o, .backend = variant->backend);
		const struct vmaq_vma *v;
		struct vmaq_proc *p;
		char buf[4];
		int mfd;

		/* 40: CAP_CHECKPOINT_RESTORE, newer than some headers */
		if (drop_caps(1ull << CAP_SYS_ADMIN | 1ull << 40))
			_exit(10);
		if (vmaq_open(0, &o, &p))
			_exit(11);
		if (vmaq_find(p, (uintptr_t)m, VMAQ_NAME, &v))
			_exit(12);
		/* map_files is closed to us now: the name, which is the file */
		mfd = vmaq_vma_open(p, v);
		if (mfd < 0 || pread(mfd, buf, 4, 0) != 4 || memcmp(buf, "ELF!", 4))
			_exit(13);
		close(mfd);
		fd = open(other, O_RDWR | O_CREAT, 0600);
		if (fd < 0 || write(fd, "FAKE", 4) != 4 || close(fd) || rename(other, path))
			_exit(14);
		if (vmaq_find(p, (uintptr_t)m, VMAQ_NAME, &v) || vmaq_vma_open(p, v) != -ENOENT)
			_exit(15);
		if (unlink(path) || vmaq_find(p, (uintptr_t)m, VMAQ_NAME, &v) ||
		    vmaq_vma_open(p, v) != -ENOENT)
			_exit(16);
		vmaq_close(p);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	/* 13: the untouched file; 15: the replaced one; 16: the deleted one */
	EXPECT_EQ(0, WEXITSTATUS(status));
	munmap(m, (size_t)pg);
}

TEST_F(be, normalize_groups_addresses_by_object)
{
	char path[128], gone[128];
	const struct vmaq_norm_addr *na;
	const struct vmaq_object *o, *og;
	const struct vmaq_vma *v;
	struct vmaq_iter *it;
	struct vmaq_norm *nm;
	struct vmaq_lookup *l;
	uint64_t addrs[12], vdso = 0;
	char *m, *d, *heap = malloc(64);
	size_t i;
	int fd;

	/* a file of 4 pages mapped as three VMAs: r--, r-x, r-- */
	snprintf(path, sizeof(path), "%s/obj", self->dir);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ftruncate(fd, 4 * pg));
	m = mmap(NULL, 4 * (size_t)pg, PROT_READ, MAP_PRIVATE, fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	close(fd);
	ASSERT_EQ(0, mprotect(m + pg, (size_t)pg, PROT_READ | PROT_EXEC));
	/* a deleted file */
	snprintf(gone, sizeof(gone), "%s/gone", self->dir);
	fd = open(gone, O_RDWR | O_CREAT, 0600);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ftruncate(fd, pg));
	d = mmap(NULL, (size_t)pg, PROT_READ, MAP_PRIVATE, fd, 0);
	ASSERT_NE(MAP_FAILED, d);
	close(fd);
	ASSERT_EQ(0, unlink(gone));
	ASSERT_EQ(0, vmaq_iter_new(self->self, VMAQ_NAME, &it));
	while (vmaq_iter_next(it, &v) > 0)
		if (v->kind == VMAQ_KIND_VDSO)
			vdso = v->start + 16;
	vmaq_iter_free(it);
	i = 0;
	addrs[i++] = (uintptr_t)m + 5;			/* 0: obj, offset 5 */
	addrs[i++] = (uintptr_t)m + pg + 7;		/* 1: obj (r-x), pg + 7 */
	addrs[i++] = (uintptr_t)heap;			/* 2: anonymous */
	addrs[i++] = 16;				/* 3: unmapped */
	addrs[i++] = (uintptr_t)m + 3 * pg + 1;		/* 4: obj, 3 pg + 1 */
	addrs[i++] = (uintptr_t)d + 9;			/* 5: gone, 9 */
	addrs[i++] = (uintptr_t)&fd;			/* 6: the stack */
	addrs[i++] = (uintptr_t)m + 5;			/* 7: again */
	addrs[i++] = vdso ? vdso : 16;			/* 8: [vdso] + 16 */
	addrs[i++] = (uintptr_t)(void *)vmaq_normalize;	/* 9: the library */
	addrs[i++] = ~0ull;				/* 10: unmapped */
	addrs[i++] = (uintptr_t)gone;			/* 11: the stack again */
	ASSERT_EQ(0, vmaq_normalize(self->self, addrs, i, VMAQ_BUILD_ID, &nm));
	ASSERT_EQ(i, vmaq_norm_count(nm));
	na = vmaq_norm_addrs(nm);
	ASSERT_NE(NULL, na);
	/* obj: one object for its three VMAs, file offsets */
	EXPECT_EQ(VMAQ_NORM_OK, na[0].reason);
	EXPECT_EQ(na[0].object, na[1].object);
	EXPECT_EQ(na[0].object, na[4].object);
	EXPECT_EQ(na[0].object, na[7].object);
	EXPECT_EQ(5u, na[0].offset);
	EXPECT_EQ((uint64_t)pg + 7, na[1].offset);
	EXPECT_EQ(3 * (uint64_t)pg + 1, na[4].offset);
	o = vmaq_norm_object(nm, na[0].object);
	ASSERT_NE(NULL, o);
	EXPECT_EQ(sizeof(*o), o->size);
	EXPECT_EQ(VMAQ_KIND_FILE, o->kind);
	EXPECT_STREQ(path, o->name);
	EXPECT_EQ(strlen(path), o->name_len);
	EXPECT_EQ(0u, o->flags);
	EXPECT_TRUE(VMAQ_OBJECT_HAS(o, build_id));
	EXPECT_EQ(0u, o->reserved);
	/* one of its VMAs, the first the addresses met: the file opens */
	v = vmaq_norm_object_vma(nm, na[0].object);
	ASSERT_NE(NULL, v);
	EXPECT_EQ((uintptr_t)m, v->start);
	EXPECT_EQ((uintptr_t)m + pg, v->end);
	EXPECT_EQ(o->inode, v->inode);
	EXPECT_STREQ(path, v->name);
	fd = vmaq_vma_open(self->self, v);
	EXPECT_LE(0, fd);
	if (fd >= 0) {
		struct stat st;

		EXPECT_EQ(0, fstat(fd, &st));
		EXPECT_EQ(o->inode, (uint64_t)st.st_ino);
		close(fd);
	}
	/* the deleted file: an object of its own, flagged */
	EXPECT_EQ(VMAQ_NORM_OK, na[5].reason);
	EXPECT_NE(na[0].object, na[5].object);
	og = vmaq_norm_object(nm, na[5].object);
	ASSERT_NE(NULL, og);
	EXPECT_EQ(VMAQ_DELETED, og->flags & VMAQ_DELETED);
	EXPECT_EQ(9u, na[5].offset);
	/* anonymous memory and holes: a reason, no object */
	EXPECT_EQ(VMAQ_NORM_ANON, na[2].reason);
	EXPECT_EQ(VMAQ_NORM_NO_OBJECT, na[2].object);
	EXPECT_EQ(VMAQ_NORM_ANON, na[6].reason);
	EXPECT_EQ(VMAQ_NORM_ANON, na[11].reason);
	EXPECT_EQ(VMAQ_NORM_UNMAPPED, na[3].reason);
	EXPECT_EQ(VMAQ_NORM_NO_OBJECT, na[3].object);
	EXPECT_EQ(VMAQ_NORM_UNMAPPED, na[10].reason);
	/* [vdso]: an object, the offset from its start */
	if (vdso) {
		EXPECT_EQ(VMAQ_NORM_OK, na[8].reason);
		o = vmaq_norm_object(nm, na[8].object);
		ASSERT_NE(NULL, o);
		EXPECT_EQ(VMAQ_KIND_VDSO, o->kind);
		EXPECT_STREQ("[vdso]", o->name);
		EXPECT_EQ(16u, na[8].offset);
	}
	/* the library: its file's offset and build ID, as a lookup gives */
	ASSERT_EQ(0, vmaq_lookup(self->self, &addrs[9], 1, VMAQ_NAME | VMAQ_BUILD_ID, &l));
	v = vmaq_lookup_vma(l, 0);
	ASSERT_NE(NULL, v);
	o = vmaq_norm_object(nm, na[9].object);
	ASSERT_NE(NULL, o);
	EXPECT_STREQ(v->name, o->name);
	EXPECT_EQ(vmaq_vma_file_offset(v, addrs[9]), na[9].offset);
	EXPECT_EQ(v->build_id_size, o->build_id_size);
	if (v->build_id_size)
		EXPECT_EQ(0, memcmp(v->build_id, o->build_id, v->build_id_size));
	vmaq_lookup_free(l);
	/* every object is named by some address; objects are distinct */
	for (i = 0; i < vmaq_norm_objects(nm); i++) {
		size_t k, used = 0;

		for (k = 0; k < vmaq_norm_count(nm); k++)
			used += na[k].object == i;
		EXPECT_GT(used, 0u);
	}
	EXPECT_EQ(NULL, vmaq_norm_object(nm, vmaq_norm_objects(nm)));
	EXPECT_EQ(NULL, vmaq_norm_object_vma(nm, vmaq_norm_objects(nm)));
	EXPECT_EQ(EINVAL, errno);
	for (i = 0; i < vmaq_norm_objects(nm); i++) {
		const struct vmaq_vma *ov = vmaq_norm_object_vma(nm, i);

		o = vmaq_norm_object(nm, i);
		ASSERT_NE(NULL, ov);
		EXPECT_EQ(o->inode, ov->inode);
		EXPECT_EQ(o->name_len, ov->name_len);
		EXPECT_EQ(o->kind, ov->kind);
	}
	vmaq_norm_free(nm);
	/* no addresses is an empty answer; bad arguments are EINVAL */
	ASSERT_EQ(0, vmaq_normalize(self->self, NULL, 0, 0, &nm));
	EXPECT_EQ(0u, vmaq_norm_count(nm));
	EXPECT_EQ(0u, vmaq_norm_objects(nm));
	vmaq_norm_free(nm);
	EXPECT_EQ(-EINVAL, vmaq_normalize(self->self, addrs, 1, VMAQ_NAME, &nm));
	EXPECT_EQ(-EINVAL, vmaq_normalize(NULL, addrs, 1, 0, &nm));
	EXPECT_EQ(-EINVAL, vmaq_normalize(self->self, NULL, 1, 0, &nm));
	munmap(m, 4 * (size_t)pg);
	munmap(d, (size_t)pg);
	free(heap);
}

TEST_F(be, find_covering_next_and_filters)
{
	char *m = mmap(NULL, 4 * pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	const struct vmaq_vma *v;
	uint64_t a = (uintptr_t)m;

	ASSERT_NE(MAP_FAILED, m);
	/* [ro][hole][rw][ro]: three VMAs and a hole */
	ASSERT_EQ(0, munmap(m + pg, pg));
	ASSERT_EQ(0, mprotect(m + 2 * pg, pg, PROT_READ | PROT_WRITE));

	ASSERT_EQ(0, vmaq_find(self->self, a + 10, 0, &v));
	EXPECT_EQ(a, v->start);
	EXPECT_EQ(a + pg, v->end);
	EXPECT_EQ(VMAQ_READ, v->flags);
	EXPECT_EQ(NULL, v->name);

	EXPECT_EQ(-ENOENT, vmaq_find(self->self, a + pg, 0, &v));
	EXPECT_EQ(ENOENT, errno);
	ASSERT_EQ(0, vmaq_find(self->self, a + pg, VMAQ_NEXT, &v));
	EXPECT_EQ(a + 2 * pg, v->start);

	/* a covering VMA that fails the filter is no answer */
	EXPECT_EQ(-ENOENT, vmaq_find(self->self, a, VMAQ_WRITE, &v));
	ASSERT_EQ(0, vmaq_find(self->self, a, VMAQ_WRITE | VMAQ_NEXT, &v));
	EXPECT_EQ(a + 2 * pg, v->start);
	ASSERT_EQ(0, vmaq_find(self->self, a + 2 * pg, VMAQ_ANON | VMAQ_WRITE, &v));
	EXPECT_EQ(a + 2 * pg, v->start);
	EXPECT_EQ(-ENOENT, vmaq_find(self->self, a, VMAQ_FILE, &v));

	EXPECT_EQ(-EINVAL, vmaq_find(self->self, a, VMAQ_FILE | VMAQ_ANON, &v));
	EXPECT_EQ(-EINVAL, vmaq_find(self->self, a, 0x80000000u, &v));
	EXPECT_EQ(-ENOENT, vmaq_find(self->self, 0, 0, &v));
	EXPECT_EQ(-ENOENT, vmaq_find(self->self, ~0ull, 0, &v));
	EXPECT_EQ(-ENOENT, vmaq_find(self->self, ~0ull, VMAQ_NEXT, &v));
	munmap(m, 4 * pg);
}

TEST_F(be, find_knows_own_code_and_stack)
{
	const struct vmaq_vma *v;
	int local;
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	ASSERT_GT(n, 0);
	exe[n] = '\0';
	ASSERT_EQ(0, vmaq_find(self->self, (uintptr_t)&expect_same_as_text,
			       VMAQ_NAME, &v));
	EXPECT_TRUE(v->flags & VMAQ_EXEC);
	EXPECT_TRUE(v->flags & VMAQ_FILE);
	ASSERT_NE(NULL, v->name);
	EXPECT_STREQ(exe, v->name);
	if (under_valgrind())
		SKIP(return, "valgrind runs us on a stack of its own");
	ASSERT_EQ(0, vmaq_find(self->self, (uintptr_t)&local, VMAQ_NAME, &v));
	ASSERT_NE(NULL, v->name);
	EXPECT_STREQ("[stack]", v->name);
}

/*
 * Thousands of addresses, random bits everywhere: the sort must hold. The
 * target is a child that holds still (this process's own map moves under
 * ASan and valgrind as they allocate); the reference is a snapshot of it.
 */
/*
 * A lookup's arrays say what vmaq_lookup_vma() says, address by address:
 * the same record (pointer), each record once, in ascending order, every
 * one of them used; read in pieces, as a binding does.
 */
static void expect_lookup_arrays(struct __test_metadata *_metadata,
				 const struct vmaq_lookup *l, size_t n)
{
	size_t nrec = vmaq_lookup_records(l), i, piece;
	uint32_t *idx = calloc(n + 1, sizeof(*idx));
	bool *used = calloc(nrec + 1, sizeof(*used));

	ASSERT_NE(NULL, idx);
	ASSERT_NE(NULL, used);
	for (i = 0; i < n; i += piece) {
		piece = n - i < 777 ? n - i : 777;
		ASSERT_EQ(0, vmaq_lookup_index(l, i, piece, idx + i));
	}
	for (i = 0; i < n; i++) {
		const struct vmaq_vma *v = vmaq_lookup_vma(l, i);

		if (!v) {
			EXPECT_EQ(VMAQ_LOOKUP_UNMAPPED, idx[i]);
			continue;
		}
		ASSERT_LT(idx[i], nrec);
		EXPECT_EQ(v, vmaq_lookup_record(l, idx[i]));
		used[idx[i]] = true;
	}
	for (i = 0; i < nrec; i++) {
		EXPECT_TRUE(used[i]) TH_LOG("record %zu answers no address", i);
		if (i)
			EXPECT_LE(vmaq_lookup_record(l, i - 1)->end,
				  vmaq_lookup_record(l, i)->start);
	}
	/* past the end: refused, nothing written */
	idx[n] = 12345;
	EXPECT_EQ(NULL, vmaq_lookup_record(l, nrec));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-EINVAL, vmaq_lookup_index(l, n, 1, idx + n));
	EXPECT_EQ(-EINVAL, vmaq_lookup_index(l, 1, n, idx));
	EXPECT_EQ(-EINVAL, vmaq_lookup_index(l, 0, 1, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, vmaq_lookup_index(l, n, 0, NULL));
	EXPECT_EQ(12345u, idx[n]);
	EXPECT_EQ(0u, vmaq_lookup_records(NULL));
	free(used);
	free(idx);
}

TEST_F(be, lookup_of_thousands_of_random_addresses_matches_find)
{
	enum { N = 5000 };
	static uint64_t addrs[N];
	struct test_child c = { .release_fd = -1 };
	struct vmaq_snapshot *snap;
	struct vmaq_lookup *l;
	struct vmaq_proc *p;
	unsigned int seed = 7;
	size_t i, nv;
	int n = 300;

	ASSERT_EQ(0, child_start(&c, setup_pairs, &n));
	ASSERT_EQ(0, open_backend(c.pid, variant->backend, &p));
	ASSERT_EQ(0, vmaq_snapshot_new(p, 0, &snap));
	nv = vmaq_snapshot_count(snap);
	for (i = 0; i < N; i++) {
		const struct vmaq_vma *v = vmaq_snapshot_vma(snap, (size_t)rand_r(&seed) % nv);
		uint64_t r = (uint64_t)rand_r(&seed) << 33 ^ (uint64_t)rand_r(&seed) << 11 ^
			     (uint64_t)rand_r(&seed);

		switch (i % 4) {
		case 0: addrs[i] = v->start; break;
		case 1: addrs[i] = v->end - 1; break;
		case 2: addrs[i] = v->start + r % (v->end - v->start); break;
		default: addrs[i] = r * 0x9e3779b97f4a7c15ull; break;	/* anywhere */
		}
	}
	ASSERT_EQ(0, vmaq_lookup(p, addrs, N, 0, &l));
	/*
	 * Against the snapshot's binary search (vmaq_find per address would
	 * re-read the text 5000 times: too slow under valgrind and TCG).
	 */
	for (i = 0; i < N; i++) {
		const struct vmaq_vma *got = vmaq_lookup_vma(l, i);
		const struct vmaq_vma *want = vmaq_snapshot_find(snap, addrs[i]);

		if (!want) {
			EXPECT_EQ(NULL, got) TH_LOG("%llx", (unsigned long long)addrs[i]);
			continue;
		}
		ASSERT_NE(NULL, got) TH_LOG("%llx", (unsigned long long)addrs[i]);
		EXPECT_EQ(want->start, got->start);
		EXPECT_EQ(want->end, got->end);
	}
	expect_lookup_arrays(_metadata, l, N);
	vmaq_lookup_free(l);
	vmaq_snapshot_free(snap);
	vmaq_close(p);
	ASSERT_EQ(0, child_finish(&c));
}

TEST_F(be, lookup_matches_find_for_each_address)
{
	char *m = mmap(NULL, 8 * pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t a = (uintptr_t)m, addrs[64];
	struct vmaq_lookup *l;
	size_t i, n = 0;
	int local;

	ASSERT_NE(MAP_FAILED, m);
	ASSERT_EQ(0, munmap(m + 3 * pg, pg));
	ASSERT_EQ(0, mprotect(m + 5 * pg, pg, PROT_READ | PROT_WRITE));
	/* any order, duplicates, holes, code, stack, nothing at 0 or ~0 */
	addrs[n++] = a + 6 * pg + 1;
	addrs[n++] = 0;
	addrs[n++] = a + 3 * pg + 5;
	addrs[n++] = a;
	addrs[n++] = (uintptr_t)&local;
	addrs[n++] = a + 5 * pg;
	addrs[n++] = ~0ull;
	addrs[n++] = a;
	addrs[n++] = (uintptr_t)&expect_same_as_text;
	addrs[n++] = a + 2 * pg + pg - 1;
	addrs[n++] = a + 5 * pg + 7;

	ASSERT_EQ(0, vmaq_lookup(self->self, addrs, n, VMAQ_NAME, &l));
	ASSERT_EQ(n, vmaq_lookup_count(l));
	for (i = 0; i < n; i++) {
		const struct vmaq_vma *got = vmaq_lookup_vma(l, i), *want;
		int err = vmaq_find(self->self, addrs[i], VMAQ_NAME, &want);

		if (err) {
			EXPECT_EQ(NULL, got);
			EXPECT_EQ(ENOENT, errno);
			continue;
		}
		ASSERT_NE(NULL, got);
		EXPECT_EQ(want->start, got->start);
		EXPECT_EQ(want->end, got->end);
		EXPECT_EQ(want->flags, got->flags);
		EXPECT_EQ(!want->name, !got->name);
		if (want->name && got->name)
			EXPECT_STREQ(want->name, got->name);
	}
	EXPECT_EQ(NULL, vmaq_lookup_vma(l, 1));		/* 0 */
	EXPECT_EQ(NULL, vmaq_lookup_vma(l, 2));		/* hole */
	EXPECT_EQ(NULL, vmaq_lookup_vma(l, 6));		/* ~0 */
	EXPECT_EQ(vmaq_lookup_vma(l, 3), vmaq_lookup_vma(l, 7));	/* one record */
	EXPECT_EQ(vmaq_lookup_vma(l, 5), vmaq_lookup_vma(l, 10));
	EXPECT_EQ(NULL, vmaq_lookup_vma(l, n));
	EXPECT_EQ(EINVAL, errno);
	vmaq_lookup_free(l);

	/* filters apply per address */
	ASSERT_EQ(0, vmaq_lookup(self->self, addrs, n, VMAQ_WRITE, &l));
	EXPECT_EQ(NULL, vmaq_lookup_vma(l, 3));
	EXPECT_NE(NULL, vmaq_lookup_vma(l, 5));
	vmaq_lookup_free(l);
	ASSERT_EQ(0, vmaq_lookup(self->self, NULL, 0, 0, &l));
	EXPECT_EQ(0u, vmaq_lookup_count(l));
	vmaq_lookup_free(l);
	EXPECT_EQ(-EINVAL, vmaq_lookup(self->self, NULL, 3, 0, &l));
	munmap(m, 8 * pg);
}

int main(int argc, char **argv)
{
	return vmaq_test_main(argc, argv);
}
