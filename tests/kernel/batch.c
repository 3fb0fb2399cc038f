// SPDX-License-Identifier: GPL-2.0
/*
 * PROCMAP_QUERY_BATCH (the vmaquery series, part 2): both modes and every
 * flag against the text file and PROCMAP_QUERY, for several processes
 * (this one, busybox, thousands of VMAs, named and deleted mappings);
 * resuming with small buffers; every documented error; the bytes the
 * kernel writes and the ones it must not; and the generation guarantee,
 * by each kind of change and under a concurrent modifier.
 *
 * On a kernel without the ioctl every test skips, saying so.
 */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <linux/vmaquery_uapi.h>

#include "kselftest_harness.h"
#include "vmaq_test.h"

#define FILTERS (PROCMAP_QUERY_VMA_READABLE | PROCMAP_QUERY_VMA_WRITABLE | \
		 PROCMAP_QUERY_VMA_EXECUTABLE | PROCMAP_QUERY_VMA_SHARED | \
		 PROCMAP_QUERY_FILE_BACKED_VMA)
#define PATTERN 0xa5

static long pg;

static int batch(int fd, struct procmap_batch *b)
{
	return ioctl(fd, PROCMAP_QUERY_BATCH, b) ? -errno : 0;
}

static void batch_init(struct procmap_batch *b, uint64_t flags)
{
	memset(b, 0, sizeof(*b));
	b->size = sizeof(*b);
	b->flags = flags;
}

/* Address mode over @n addresses, with room for @n records. */
static void batch_init_addrs(struct procmap_batch *b, uint64_t flags, const uint64_t *addrs,
			     uint32_t n, uint32_t *index, struct procmap_vma_record *recs)
{
	batch_init(b, flags);
	b->addr_count = n;
	b->addrs_addr = (uintptr_t)addrs;
	b->index_addr = (uintptr_t)index;
	b->rec_size = sizeof(*recs);
	b->rec_count = n;
	b->recs_addr = (uintptr_t)recs;
}

static int generation(int fd, uint64_t *gen)
{
	struct procmap_batch b;
	int r;

	/* PROCMAP_QUERY_GENERATION; the first 6.12 series has only the batch's */
	if (!ioctl(fd, PROCMAP_QUERY_GENERATION, gen))
		return 0;
	if (errno != ENOTTY)
		return -errno;
	batch_init(&b, 0);
	r = batch(fd, &b);
	*gen = b.generation;
	return r;
}

static int open_maps(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	return open(path, O_RDONLY | O_CLOEXEC);
}

static const char *no_batch(void)
{
	int fd = open_maps(getpid());
	uint64_t gen;
	int r = generation(fd, &gen);

	close(fd);
	if (r == -ENOTTY)
		return "kernel has no PROCMAP_QUERY_BATCH";
	return NULL;
}

/*
 * The 7.3 series' ABI reports its record size; the first 6.12 series
 * (until it is rebuilt on the same ABI) leaves that field, its
 * "reserved", at 0, sorts addresses itself and limits their number.
 */
static bool abi_v2(void)
{
	static int v = -1;

	if (v < 0) {
		struct procmap_batch b;
		int fd = open_maps(getpid());

		batch_init(&b, 0);
		v = !batch(fd, &b) && b.kernel_rec_size;
		close(fd);
	}
	return v;
}

/* Call again with the same struct: its out fields must be 0 on input. */
static int batch_again(int fd, struct procmap_batch *b)
{
	b->generation = 0;
	b->resolved = 0;
	if (abi_v2())
		b->kernel_rec_size = 0;
	return batch(fd, b);
}

#define NEED_BATCH() do { \
	const char *why = no_batch(); \
	if (why) \
		SKIP(return, "%s", why); \
} while (0)

/* One VMA, as a batch record with its strings, or as a text line. */
struct vma {
	struct procmap_vma_record r;
	char name[PATH_MAX];
	unsigned char build_id[64];
};

struct vmas {
	struct vma *v;
	size_t n, cap;
	uint64_t generation;
	unsigned int calls;
};

static void vmas_free(struct vmas *m)
{
	free(m->v);
	memset(m, 0, sizeof(*m));
}

static struct vma *vmas_add(struct vmas *m)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 256;
		m->v = realloc(m->v, m->cap * sizeof(*m->v));
		if (!m->v)
			abort();
	}
	memset(&m->v[m->n], 0, sizeof(m->v[0]));
	return &m->v[m->n++];
}

static void take_strings(struct vma *v, const char *strs, uint32_t used)
{
	const struct procmap_vma_record *r = &v->r;

	if (r->name_size && r->name_off + r->name_size <= used &&
	    r->name_size <= sizeof(v->name))
		memcpy(v->name, strs + r->name_off, r->name_size);
	if (r->build_id_size && r->build_id_off + r->build_id_size <= used &&
	    r->build_id_size <= sizeof(v->build_id))
		memcpy(v->build_id, strs + r->build_id_off, r->build_id_size);
}

/*
 * Walk [from, to) in range mode, @chunk records and @strs_size bytes of
 * strings per call, resuming at the cursor. Returns 0 or -errno.
 */
static int walk(int fd, uint64_t flags, uint64_t from, uint64_t to,
		uint32_t chunk, uint32_t strs_size, struct vmas *m)
{
	struct procmap_vma_record *recs = calloc(chunk, sizeof(*recs));
	char *strs = strs_size ? malloc(strs_size) : NULL;
	struct procmap_batch b;
	int r = 0;

	memset(m, 0, sizeof(*m));
	while (from < to) {
		/* the 7.3 ABI fills in the generation when asked (the first call) */
		batch_init(&b, flags | PROCMAP_BATCH_RANGE |
			   (!m->calls && abi_v2() ? PROCMAP_BATCH_GENERATION : 0));
		b.start = from;
		b.end = to;
		b.rec_size = sizeof(*recs);
		b.rec_count = chunk;
		b.recs_addr = (uintptr_t)recs;
		b.strs_size = strs_size;
		b.strs_addr = (uintptr_t)strs;
		r = batch(fd, &b);
		if (r)
			break;
		if (!m->calls++)
			m->generation = b.generation;
		for (uint32_t i = 0; i < b.rec_count; i++) {
			struct vma *v = vmas_add(m);

			v->r = recs[i];
			take_strings(v, strs, b.strs_size);
		}
		if (b.start <= from && !b.rec_count) {
			r = -EAGAIN;	/* no progress: would loop forever */
			break;
		}
		from = b.start;
	}
	free(recs);
	free(strs);
	return r;
}

/* The text file, parsed; names as the file shows them. */
static int text_vmas(pid_t pid, struct vmas *m)
{
	char *text = maps_text(pid, NULL), *line, *save = NULL;

	memset(m, 0, sizeof(*m));
	if (!text)
		return -errno;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long s, e, off, ino;
		unsigned int maj, min;
		char perms[5];
		int name_at = 0;
		struct vma *v;

		if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu %n", &s, &e, perms,
			   &off, &maj, &min, &ino, &name_at) < 7)
			return -EINVAL;
		v = vmas_add(m);
		v->r.vma_start = s;
		v->r.vma_end = e;
		v->r.vma_offset = off;
		v->r.dev_major = maj;
		v->r.dev_minor = min;
		v->r.inode = ino;
		v->r.vma_flags = (perms[0] == 'r' ? PROCMAP_QUERY_VMA_READABLE : 0) |
				 (perms[1] == 'w' ? PROCMAP_QUERY_VMA_WRITABLE : 0) |
				 (perms[2] == 'x' ? PROCMAP_QUERY_VMA_EXECUTABLE : 0) |
				 (perms[3] == 's' ? PROCMAP_QUERY_VMA_SHARED : 0);
		snprintf(v->name, sizeof(v->name), "%s", line + name_at);
	}
	free(text);
	return 0;
}

/* Does a record agree with the text line for the same VMA? */
static const char *differs(const struct vma *t, const struct vma *b, bool names)
{
	static char why[2 * PATH_MAX + 256];

	if (t->r.vma_start != b->r.vma_start || t->r.vma_end != b->r.vma_end ||
	    t->r.vma_flags != b->r.vma_flags || t->r.vma_offset != b->r.vma_offset ||
	    t->r.dev_major != b->r.dev_major || t->r.dev_minor != b->r.dev_minor ||
	    t->r.inode != b->r.inode || (names && strcmp(t->name, b->name))) {
		snprintf(why, sizeof(why),
			 "text %llx-%llx f%llx o%llx %x:%x %llu '%s' / batch %llx-%llx f%llx o%llx %x:%x %llu '%s'",
			 (unsigned long long)t->r.vma_start, (unsigned long long)t->r.vma_end,
			 (unsigned long long)t->r.vma_flags, (unsigned long long)t->r.vma_offset,
			 t->r.dev_major, t->r.dev_minor, (unsigned long long)t->r.inode, t->name,
			 (unsigned long long)b->r.vma_start, (unsigned long long)b->r.vma_end,
			 (unsigned long long)b->r.vma_flags, (unsigned long long)b->r.vma_offset,
			 b->r.dev_major, b->r.dev_minor, (unsigned long long)b->r.inode, b->name);
		return why;
	}
	return NULL;
}

static bool passes(const struct vma *v, uint64_t flags)
{
	uint64_t perms = flags & ~(uint64_t)PROCMAP_QUERY_FILE_BACKED_VMA & FILTERS;

	if ((flags & PROCMAP_QUERY_FILE_BACKED_VMA) && !v->r.inode &&
	    !v->r.dev_major && !v->r.dev_minor)
		return false;
	return (v->r.vma_flags & perms) == perms;
}

/* The target processes: what each sets up before it holds still. */
static int setup_many(void *arg)
{
	int n = *(int *)arg;
	char *p = mmap(NULL, (size_t)n * pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	for (int i = 0; i < n; i += 2)	/* alternate protections: no merging */
		if (mprotect(p + (size_t)i * pg, pg, PROT_READ | PROT_WRITE))
			return -1;
	return 0;
}

static const char *deleted_path = "/tmp/vmaq-batch-deleted";

static int setup_named(void *arg)
{
	char *a = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *s = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int fd = open(deleted_path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	(void)arg;
	if (a == MAP_FAILED || s == MAP_FAILED || fd < 0 || ftruncate(fd, 2 * pg))
		return -1;
	prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, a, 2 * pg, "vmaq-batch");
	prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, s, pg, "vmaq-shared");
	if (mmap(NULL, 2 * pg, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED ||
	    mmap(NULL, pg, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, pg) == MAP_FAILED)
		return -1;
	close(fd);
	return unlink(deleted_path);
}

/* Every VMA of @pid: range mode equals the text file, line for line. */
static void compare_with_text(struct __test_metadata *_metadata, pid_t pid,
			      uint32_t chunk, uint64_t flags)
{
	struct vmas t, b;
	int fd = open_maps(pid), tries = 0;
	size_t j = 0;
	char *before, *after = NULL;

	ASSERT_GE(fd, 0);
	/*
	 * When @pid is this process, the walk's own allocations may move the
	 * heap's end: take the walk whose text before and after agree.
	 */
	do {
		free(after);
		before = maps_text(pid, NULL);
		ASSERT_EQ(0, walk(fd, flags | PROCMAP_BATCH_NAMES, 0, UINT64_MAX,
				  chunk, 256 * 1024, &b));
		after = maps_text(pid, NULL);
		ASSERT_NE(NULL, before);
		ASSERT_NE(NULL, after);
		if (!strcmp(before, after))
			break;
		vmas_free(&b);
		free(before);
	} while (++tries < 5);
	free(before);
	free(after);
	ASSERT_EQ(0, text_vmas(pid, &t));
	for (size_t i = 0; i < t.n; i++) {
		const char *why;

		if (!passes(&t.v[i], flags))
			continue;
		ASSERT_LT(j, b.n) TH_LOG("batch ends before %s", t.v[i].name);
		why = differs(&t.v[i], &b.v[j], !strchr(t.v[i].name, '\\'));
		EXPECT_EQ(NULL, why) TH_LOG("VMA %zu: %s", i, why);
		j++;
	}
	EXPECT_EQ(j, b.n);
	EXPECT_NE(0, b.generation);
	vmas_free(&t);
	vmas_free(&b);
	close(fd);
}

TEST(range_mode_reproduces_the_text_file_of_this_process)
{
	NEED_BATCH();
	compare_with_text(_metadata, getpid(), 1000, 0);
	/* one record per call: every VMA is a resume point */
	compare_with_text(_metadata, getpid(), 1, 0);
}

TEST(range_mode_reproduces_the_text_of_busybox_and_of_named_deleted_maps)
{
	struct test_child c = { .release_fd = -1 };
	pid_t pid;
	int st;

	NEED_BATCH();
	/* busybox, if this runs where there is one (the VM) */
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		execl("/bin/busybox", "sleep", "5", (char *)NULL);
		execl("/bin/sleep", "sleep", "5", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {	/* until it has exec'd */
		char path[64], exe[PATH_MAX] = "";

		snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
		if (readlink(path, exe, sizeof(exe) - 1) > 0 &&
		    (strstr(exe, "busybox") || strstr(exe, "sleep")))
			break;
		usleep(10 * 1000);
	}
	compare_with_text(_metadata, pid, 7, 0);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);

	ASSERT_EQ(0, child_start(&c, setup_named, NULL));
	compare_with_text(_metadata, c.pid, 3, 0);
	ASSERT_EQ(0, child_finish(&c));
}

TEST(range_mode_with_thousands_of_vmas_and_every_filter)
{
	static const uint64_t filters[] = {
		0, PROCMAP_QUERY_VMA_READABLE, PROCMAP_QUERY_VMA_WRITABLE,
		PROCMAP_QUERY_VMA_EXECUTABLE, PROCMAP_QUERY_VMA_SHARED,
		PROCMAP_QUERY_FILE_BACKED_VMA,
		PROCMAP_QUERY_VMA_READABLE | PROCMAP_QUERY_VMA_EXECUTABLE |
		PROCMAP_QUERY_FILE_BACKED_VMA,
	};
	struct test_child c = { .release_fd = -1 };
	int n = 6000;

	NEED_BATCH();
	ASSERT_EQ(0, child_start(&c, setup_many, &n));
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++)
		compare_with_text(_metadata, c.pid, 512, filters[i]);
	ASSERT_EQ(0, child_finish(&c));
}

TEST(range_mode_agrees_with_procmap_query_and_its_build_ids)
{
	struct vmas b;
	int fd = open_maps(getpid());
	unsigned int with_build_id = 0;

	NEED_BATCH();
	/* buffers malloc takes from the heap: none is unmapped after the walk */
	ASSERT_EQ(0, walk(fd, PROCMAP_BATCH_NAMES | PROCMAP_BATCH_BUILD_IDS, 0,
			  UINT64_MAX, 64, 1 << 15, &b));
	for (size_t i = 0; i < b.n; i++) {
		const struct procmap_vma_record *r = &b.v[i].r;
		unsigned char bid[64];
		char name[PATH_MAX];
		struct procmap_query q = {
			.size = sizeof(q), .query_addr = r->vma_start,
			.vma_name_addr = (uintptr_t)name, .vma_name_size = sizeof(name),
			.build_id_addr = (uintptr_t)bid, .build_id_size = sizeof(bid),
		};

		if (ioctl(fd, PROCMAP_QUERY, &q)) {
			/* only the gate VMA is beyond PROCMAP_QUERY */
			EXPECT_STREQ("[vsyscall]", b.v[i].name);
			continue;
		}
		EXPECT_EQ(q.vma_start, r->vma_start);
		EXPECT_EQ(q.vma_end, r->vma_end);
		EXPECT_EQ(q.vma_flags, r->vma_flags);
		EXPECT_EQ(q.vma_page_size, r->vma_page_size);
		EXPECT_EQ(q.vma_offset, r->vma_offset);
		EXPECT_EQ(q.inode, r->inode);
		EXPECT_EQ(q.dev_major, r->dev_major);
		EXPECT_EQ(q.dev_minor, r->dev_minor);
		EXPECT_EQ(q.vma_name_size, r->name_size);
		if (q.vma_name_size)
			EXPECT_STREQ(name, b.v[i].name);
		EXPECT_EQ(q.build_id_size, r->build_id_size);
		if (q.build_id_size) {
			EXPECT_EQ(0, memcmp(bid, b.v[i].build_id, q.build_id_size));
			with_build_id++;
		}
	}
	/* this program is an ELF file with a build ID */
	EXPECT_GT(with_build_id, 0);
	vmas_free(&b);
	close(fd);
}

TEST(range_mode_reports_nothing_below_the_page_of_start)
{
	struct procmap_vma_record r;
	struct procmap_batch b;
	int fd = open_maps(getpid());
	int f = open("/proc/self/exe", O_RDONLY);
	char *m = mmap(NULL, 4 * pg, PROT_READ, MAP_PRIVATE, f, 0);

	NEED_BATCH();
	ASSERT_NE(MAP_FAILED, m);
	batch_init(&b, PROCMAP_BATCH_RANGE);
	b.start = (uintptr_t)m + 2 * pg + 123;	/* inside the third page */
	b.end = (uintptr_t)m + 4 * pg;
	b.rec_size = sizeof(r);
	b.rec_count = 1;
	b.recs_addr = (uintptr_t)&r;
	ASSERT_EQ(0, batch(fd, &b));
	ASSERT_EQ(1, b.rec_count);
	EXPECT_EQ((uintptr_t)m + 2 * pg, r.vma_start);
	EXPECT_EQ((uintptr_t)m + 4 * pg, r.vma_end);
	EXPECT_EQ(2 * pg, r.vma_offset);	/* the file offset of vma_start */
	EXPECT_EQ(b.end, b.start);		/* complete */
	munmap(m, 4 * pg);
	close(f);
	close(fd);
}

TEST(names_and_build_ids_cost_nothing_unless_asked_for)
{
	struct vmas b;
	int fd = open_maps(getpid());

	NEED_BATCH();
	/* no string area at all: fine when nothing asks for one */
	ASSERT_EQ(0, walk(fd, 0, 0, UINT64_MAX, 64, 0, &b));
	ASSERT_GT(b.n, 3);
	for (size_t i = 0; i < b.n; i++) {
		EXPECT_EQ(0, b.v[i].r.name_size);
		EXPECT_EQ(0, b.v[i].r.name_off);
		EXPECT_EQ(0, b.v[i].r.build_id_size);
		EXPECT_EQ(0, b.v[i].r.build_id_off);
	}
	vmas_free(&b);
	close(fd);
}

/* Address mode: any order, duplicates, holes; against PROCMAP_QUERY. */
/* The gate VMA as the text shows it, or NULL. */
static const struct vma *gate_of(const struct vmas *t)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->v[i].name, "[vsyscall]"))
			return &t->v[i];
	return NULL;
}

static void check_addresses(struct __test_metadata *_metadata, int fd,
			    const uint64_t *addrs, uint32_t n, uint64_t flags,
			    const struct vma *gate)
{
	struct procmap_vma_record *recs = calloc(n, sizeof(*recs));
	uint32_t *index = calloc(n, sizeof(*index));
	struct procmap_batch b;
	bool sorted = true;

	for (uint32_t i = 1; i < n; i++)
		sorted = sorted && addrs[i - 1] <= addrs[i];
	batch_init_addrs(&b, flags, addrs, n, index, recs);
	if (!sorted && abi_v2()) {
		/* the 7.3 ABI takes sorted addresses only, and changes nothing */
		memset(index, 0xa5, n * sizeof(*index));
		EXPECT_EQ(-EINVAL, batch(fd, &b));
		EXPECT_EQ(0xa5a5a5a5, index[0]);
		free(recs);
		free(index);
		return;
	}
	ASSERT_EQ(0, batch(fd, &b));
	EXPECT_EQ(n, b.resolved);
	for (uint32_t i = 1; i < b.rec_count; i++)	/* increasing, distinct */ {
		EXPECT_LE(recs[i - 1].vma_end, recs[i].vma_start);
	}
	for (uint32_t i = 0; i < n; i++) {
		struct procmap_query q = { .size = sizeof(q), .query_addr = addrs[i],
					   .query_flags = flags & FILTERS };

		if (gate && addrs[i] >= gate->r.vma_start && addrs[i] < gate->r.vma_end) {
			/* the gate VMA: not PROCMAP_QUERY's, but the batch's */
			if (!passes(gate, flags)) {
				EXPECT_EQ(PROCMAP_BATCH_NO_VMA, index[i]);
				continue;
			}
			ASSERT_LT(index[i], b.rec_count);
			EXPECT_EQ(gate->r.vma_start, recs[index[i]].vma_start);
			EXPECT_EQ(gate->r.vma_end, recs[index[i]].vma_end);
			EXPECT_EQ(gate->r.vma_flags, recs[index[i]].vma_flags);
			continue;
		}
		if (ioctl(fd, PROCMAP_QUERY, &q)) {
			EXPECT_EQ(PROCMAP_BATCH_NO_VMA, index[i])
				TH_LOG("%llx: no VMA, got %u", (unsigned long long)addrs[i], index[i]);
			continue;
		}
		ASSERT_LT(index[i], b.rec_count)
			TH_LOG("%llx in %llx-%llx", (unsigned long long)addrs[i],
			       (unsigned long long)q.vma_start, (unsigned long long)q.vma_end);
		EXPECT_EQ(q.vma_start, recs[index[i]].vma_start);
		EXPECT_EQ(q.vma_end, recs[index[i]].vma_end);
		EXPECT_EQ(q.vma_flags, recs[index[i]].vma_flags);
		EXPECT_EQ(q.vma_offset, recs[index[i]].vma_offset);
		EXPECT_EQ(q.inode, recs[index[i]].inode);
	}
	/* every record is used by some address */
	for (uint32_t r = 0; r < b.rec_count; r++) {
		bool found = false;

		for (uint32_t i = 0; i < n && !found; i++)
			found = index[i] == r;
		EXPECT_TRUE(found) TH_LOG("record %u used by no address", r);
	}
	free(recs);
	free(index);
}

/*
 * The first 6.12 series takes addresses in any order; the 7.3 series
 * takes them sorted (EINVAL otherwise, checked before anything is
 * written). Both: duplicates and holes.
 */
TEST(address_mode_resolves_sorted_input_with_duplicates_and_holes)
{
	struct test_child c = { .release_fd = -1 };
	struct vmas t;
	const struct vma *gate;
	uint64_t *addrs;
	uint32_t n = 0;
	int many = 2000, fd;

	NEED_BATCH();
	ASSERT_EQ(0, child_start(&c, setup_many, &many));
	fd = open_maps(c.pid);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, text_vmas(c.pid, &t));
	addrs = calloc(8 * t.n + 8, sizeof(*addrs));
	/* every VMA's first, last and a middle byte, the byte below, twice */
	for (size_t i = 0; i < t.n; i++) {
		uint64_t s = t.v[i].r.vma_start, e = t.v[i].r.vma_end;

		addrs[n++] = s;
		addrs[n++] = e - 1;
		addrs[n++] = s + (e - s) / 2;
		addrs[n++] = s - 1;
		addrs[n++] = e - 1;
	}
	addrs[n++] = 0;
	addrs[n++] = UINT64_MAX;
	addrs[n++] = 1ULL << 63;
	/* shuffle */
	srand(1);
	for (uint32_t i = n - 1; i > 0; i--) {
		uint32_t j = (uint32_t)rand() % (i + 1);
		uint64_t x = addrs[i];

		addrs[i] = addrs[j];
		addrs[j] = x;
	}
	gate = gate_of(&t);
	check_addresses(_metadata, fd, addrs, n, 0, gate);
	check_addresses(_metadata, fd, addrs, n, PROCMAP_QUERY_VMA_WRITABLE, gate);
	check_addresses(_metadata, fd, addrs, n, PROCMAP_QUERY_FILE_BACKED_VMA |
			PROCMAP_QUERY_VMA_EXECUTABLE, gate);
	/* sorted */
	for (uint32_t i = 1; i < n; i++)
		for (uint32_t j = i; j > 0 && addrs[j - 1] > addrs[j]; j--) {
			uint64_t x = addrs[j];

			addrs[j] = addrs[j - 1];
			addrs[j - 1] = x;
		}
	check_addresses(_metadata, fd, addrs, n, 0, gate);
	free(addrs);
	vmas_free(&t);
	close(fd);
	ASSERT_EQ(0, child_finish(&c));
}

/*
 * A map whose neighbours keep changing kind: pages of two files in turn,
 * anonymous pages, named anonymous pages and named shared memory between
 * them, so that a walk keeps switching between VMAs the kernel can read
 * without a lock (anonymous ones, and those of the file it read last) and
 * VMAs it reads under their lock (a new file, a named VMA).
 */
enum { MIXED_ROUNDS = 40 };

static int setup_mixed(void *arg)
{
	char path[2][64];
	int fd[2];
	char *base = mmap(NULL, 6 * MIXED_ROUNDS * pg, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)arg;
	if (base == MAP_FAILED)
		return -1;
	for (int f = 0; f < 2; f++) {
		snprintf(path[f], sizeof(path[f]), "/tmp/vmaq-mixed-%c-%d", 'a' + f,
			 (int)getpid());
		fd[f] = open(path[f], O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd[f] < 0 || ftruncate(fd[f], MIXED_ROUNDS * pg))
			return -1;
	}
	for (int i = 0; i < MIXED_ROUNDS; i++) {
		char *at = base + 6 * i * pg;
		int kind = i % 4;

		/* file A, file B, then A again at the next offset */
		if (mmap(at, pg, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd[0],
			 (off_t)i * pg) == MAP_FAILED ||
		    mmap(at + pg, pg, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED,
			 fd[1], (off_t)i * pg) == MAP_FAILED ||
		    mmap(at + 2 * pg, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED,
			 fd[0], (off_t)((i + 1) % MIXED_ROUNDS) * pg) == MAP_FAILED)
			return -1;
		/* then an anonymous page, named every other round */
		if (mmap(at + 3 * pg, pg, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
			return -1;
		if (kind == 1 &&
		    prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, at + 3 * pg, pg, "vmaq-mixed"))
			return -1;
		/* then named shared memory, or file B read-only, or nothing */
		if (kind == 2) {
			char *s = mmap(at + 4 * pg, pg, PROT_READ | PROT_WRITE,
				       MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

			if (s == MAP_FAILED ||
			    prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, s, pg, "vmaq-shm"))
				return -1;
		} else if (kind == 3 &&
			   mmap(at + 4 * pg, pg, PROT_READ, MAP_SHARED | MAP_FIXED,
				fd[1], 0) == MAP_FAILED) {
			return -1;
		}
	}
	for (int f = 0; f < 2; f++) {
		close(fd[f]);
		if (f)	/* one file deleted, one not */
			unlink(path[f]);
	}
	return 0;
}

TEST(walks_switching_between_unlocked_and_locked_vmas_match_the_text)
{
	struct test_child c = { .release_fd = -1 };
	static const uint32_t chunks[] = { 1, 2, 3, 5, 31, 32, 33, 1000 };
	uint64_t *addrs;
	struct vmas t;
	uint32_t n = 0;
	int fd;

	NEED_BATCH();
	ASSERT_EQ(0, child_start(&c, setup_mixed, NULL));
	/* range mode, resumed at every kind of boundary, with and without filters */
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++)
		compare_with_text(_metadata, c.pid, chunks[i], 0);
	compare_with_text(_metadata, c.pid, 7, PROCMAP_QUERY_FILE_BACKED_VMA);
	compare_with_text(_metadata, c.pid, 7, PROCMAP_QUERY_VMA_EXECUTABLE);
	compare_with_text(_metadata, c.pid, 7, PROCMAP_QUERY_VMA_WRITABLE);

	/* address mode: every VMA's first and last byte and the byte below */
	fd = open_maps(c.pid);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, text_vmas(c.pid, &t));
	addrs = calloc(3 * t.n, sizeof(*addrs));
	for (size_t i = 0; i < t.n; i++) {
		addrs[n++] = t.v[i].r.vma_start - 1;
		addrs[n++] = t.v[i].r.vma_start;
		addrs[n++] = t.v[i].r.vma_end - 1;
	}
	check_addresses(_metadata, fd, addrs, n, 0, gate_of(&t));
	check_addresses(_metadata, fd, addrs, n, PROCMAP_QUERY_FILE_BACKED_VMA, gate_of(&t));
	check_addresses(_metadata, fd, addrs, n, PROCMAP_QUERY_VMA_WRITABLE, gate_of(&t));

	/* and the names address mode returns are the text's */
	{
		struct procmap_vma_record *recs = calloc(t.n, sizeof(*recs));
		uint32_t *index = calloc(t.n, sizeof(*index));
		char *strs = malloc(1 << 20);
		struct procmap_batch b;

		n = 0;
		for (size_t i = 0; i < t.n; i++)
			addrs[n++] = t.v[i].r.vma_start;
		batch_init_addrs(&b, PROCMAP_BATCH_NAMES, addrs, n, index, recs);
		b.strs_size = 1 << 20;
		b.strs_addr = (uintptr_t)strs;
		ASSERT_EQ(0, batch(fd, &b));
		ASSERT_EQ(n, b.resolved);
		ASSERT_EQ(n, b.rec_count);
		for (uint32_t i = 0; i < n; i++) {
			struct vma v = { .r = recs[index[i]] };
			const char *why;

			ASSERT_LT(index[i], b.rec_count);
			take_strings(&v, strs, b.strs_size);
			why = differs(&t.v[i], &v, true);
			EXPECT_EQ(NULL, why) TH_LOG("VMA %u: %s", i, why);
		}
		free(recs);
		free(index);
		free(strs);
	}
	free(addrs);
	vmas_free(&t);
	close(fd);
	ASSERT_EQ(0, child_finish(&c));
}

TEST(address_mode_with_little_room_resolves_a_prefix_and_says_so)
{
	struct test_child c = { .release_fd = -1 };
	struct procmap_vma_record recs[4];
	uint64_t addrs[64];
	uint32_t index[64];
	struct procmap_batch b;
	struct vmas t;
	int many = 200, fd;
	uint32_t n = 0, unresolved = 0, got = 0;

	NEED_BATCH();
	ASSERT_EQ(0, child_start(&c, setup_many, &many));
	fd = open_maps(c.pid);
	ASSERT_EQ(0, text_vmas(c.pid, &t));
	/* the highest 64 VMAs' starts, in decreasing order (increasing on the 7.3 ABI) */
	for (size_t i = t.n; i-- > 0 && n < 64;)
		if (t.v[i].r.vma_start < (1ULL << 47))
			addrs[n++] = t.v[i].r.vma_start;
	ASSERT_EQ(64, n);
	if (abi_v2())
		qsort(addrs, n, sizeof(addrs[0]), vmaq_cmp_u64);
	batch_init(&b, 0);
	b.addr_count = n;
	b.addrs_addr = (uintptr_t)addrs;
	b.index_addr = (uintptr_t)index;
	b.rec_size = sizeof(recs[0]);
	b.rec_count = 4;
	b.recs_addr = (uintptr_t)recs;
	ASSERT_EQ(0, batch(fd, &b));
	EXPECT_EQ(4, b.rec_count);
	EXPECT_EQ(4, b.resolved);
	for (uint32_t i = 0; i < n; i++) {
		if (index[i] == PROCMAP_BATCH_UNRESOLVED) {
			unresolved++;
			continue;
		}
		ASSERT_LT(index[i], 4);
		EXPECT_EQ(addrs[i], recs[index[i]].vma_start);
		got++;
	}
	EXPECT_EQ(4, got);
	EXPECT_EQ(60, unresolved);
	/* the lowest addresses were resolved first */
	EXPECT_NE(PROCMAP_BATCH_UNRESOLVED, index[abi_v2() ? 0 : 63]);
	vmas_free(&t);
	close(fd);
	ASSERT_EQ(0, child_finish(&c));
}

/*
 * Two files, each mapped as two VMAs (as an ELF object's segments are):
 * [a, a + 2 pages) of file A, then [a + 2 pages, a + 4 pages) of file B.
 * Returns the start, or NULL; the files are unlinked, *names their paths.
 */
static char *map_two_files(char names[2][64])
{
	char *a = mmap(NULL, 4 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (a == MAP_FAILED)
		return NULL;
	for (int i = 0; i < 2; i++) {
		int fd;

		snprintf(names[i], 64, "/tmp/vmaq-batch-%c-%d", 'a' + i, (int)getpid());
		fd = open(names[i], O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || ftruncate(fd, 2 * pg) ||
		    mmap(a + 2 * i * pg, 2 * pg, PROT_READ, MAP_PRIVATE | MAP_FIXED,
			 fd, 0) == MAP_FAILED ||
		    mprotect(a + (2 * i + 1) * pg, pg, PROT_READ | PROT_WRITE))
			return NULL;
		close(fd);
		unlink(names[i]);
		strcat(names[i], " (deleted)");
	}
	return a;
}

TEST(string_area_too_small_for_one_name_is_enospc_then_partial)
{
	struct procmap_vma_record recs[8];
	char strs[256], names[2][64], *a;
	struct procmap_batch b;
	int fd = open_maps(getpid());
	uint32_t na, nb;

	NEED_BATCH();
	a = map_two_files(names);
	ASSERT_NE(NULL, a);
	na = strlen(names[0]) + 1;
	nb = strlen(names[1]) + 1;
	batch_init(&b, PROCMAP_BATCH_RANGE | PROCMAP_BATCH_NAMES);
	b.start = (uintptr_t)a;
	b.end = (uintptr_t)a + 4 * pg;
	b.rec_size = sizeof(recs[0]);
	b.rec_count = 8;
	b.recs_addr = (uintptr_t)recs;
	b.strs_addr = (uintptr_t)strs;
	b.strs_size = na - 1;
	EXPECT_EQ(-ENOSPC, batch(fd, &b));
	/* the struct is untouched on error */
	EXPECT_EQ((uintptr_t)a, b.start);
	EXPECT_EQ(8, b.rec_count);
	/*
	 * Room for A's name but not B's: both VMAs of A, sharing one copy
	 * of the name, then resume at B.
	 */
	b.strs_size = na + nb - 1;
	ASSERT_EQ(0, batch_again(fd, &b));
	ASSERT_EQ(2, b.rec_count);
	EXPECT_EQ(na, b.strs_size);
	EXPECT_EQ((uintptr_t)a + 2 * pg, b.start);
	EXPECT_EQ(0, recs[0].name_off);
	EXPECT_EQ(0, recs[1].name_off);
	EXPECT_EQ(na, recs[1].name_size);
	EXPECT_STREQ(names[0], strs);
	/* and from there, both of B's */
	b.rec_count = 8;
	b.strs_size = nb;
	b.end = (uintptr_t)a + 4 * pg;
	ASSERT_EQ(0, batch_again(fd, &b));
	ASSERT_EQ(2, b.rec_count);
	EXPECT_EQ(nb, b.strs_size);
	EXPECT_EQ(recs[0].name_off, recs[1].name_off);
	EXPECT_STREQ(names[1], strs + recs[1].name_off);
	EXPECT_EQ((uintptr_t)a + 3 * pg, recs[1].vma_start);
	munmap(a, 4 * pg);
	close(fd);
}

TEST(kernel_writes_exactly_the_bytes_it_reports)
{
	enum { N = 16, RS = 96, SS = 8192 };
	unsigned char *recs = malloc(N * RS), *strs = malloc(SS);
	struct procmap_batch b;
	int fd = open_maps(getpid());
	uint32_t i;

	NEED_BATCH();
	memset(recs, PATTERN, N * RS);
	memset(strs, PATTERN, SS);
	batch_init(&b, PROCMAP_BATCH_RANGE | PROCMAP_BATCH_NAMES | PROCMAP_BATCH_BUILD_IDS);
	b.end = UINT64_MAX;
	b.rec_size = RS;	/* longer than the kernel's record */
	b.rec_count = N;
	b.recs_addr = (uintptr_t)recs;
	b.strs_size = SS;
	b.strs_addr = (uintptr_t)strs;
	ASSERT_EQ(0, batch(fd, &b));
	ASSERT_GT(b.rec_count, 2);
	for (i = 0; i < b.rec_count; i++) {
		unsigned char *r = recs + (size_t)i * RS;
		struct procmap_vma_record rec;

		memcpy(&rec, r, sizeof(rec));
		/* the caller's tail beyond the kernel's record: zeroed */
		for (size_t k = sizeof(rec); k < RS; k++) {
			ASSERT_EQ(0, r[k]) TH_LOG("record %u byte %zu", i, k);
		}
		/* no byte of the record is left as the pattern by accident */
		EXPECT_NE(0xa5a5a5a5a5a5a5a5ULL, rec.inode);
		EXPECT_NE(0xa5a5a5a5U, rec.name_off);
		if (rec.name_size) {
			EXPECT_EQ('\0', strs[rec.name_off + rec.name_size - 1]);
		} else {
			EXPECT_EQ(0, rec.name_off);
		}
		if (!rec.build_id_size) {
			EXPECT_EQ(0, rec.build_id_off);
		}
	}
	/* records beyond the count and strings beyond the size: untouched */
	for (i = b.rec_count * RS; i < N * RS; i++) {
		ASSERT_EQ(PATTERN, recs[i]) TH_LOG("record byte %u", i);
	}
	for (i = b.strs_size; i < SS; i++) {
		ASSERT_EQ(PATTERN, strs[i]) TH_LOG("string byte %u", i);
	}
	/* strings are packed: every used byte belongs to some record */
	{
		unsigned char *owned = calloc(1, SS);

		for (i = 0; i < b.rec_count; i++) {
			struct procmap_vma_record rec;

			memcpy(&rec, recs + (size_t)i * RS, sizeof(rec));
			memset(owned + rec.name_off, 1, rec.name_size);
			memset(owned + rec.build_id_off, 1, rec.build_id_size);
		}
		for (i = 0; i < b.strs_size; i++) {
			ASSERT_EQ(1, owned[i]) TH_LOG("string byte %u written but unowned", i);
		}
		free(owned);
	}
	free(recs);
	free(strs);
	close(fd);
}

TEST(struct_is_extensible_both_ways)
{
	unsigned char big[sizeof(struct procmap_batch) + 64];
	struct procmap_batch *b = (void *)big;
	int fd = open_maps(getpid());

	NEED_BATCH();
	/* a newer caller's longer struct with zero tail: accepted */
	memset(big, 0, sizeof(big));
	b->size = sizeof(big);
	/* the 7.3 ABI reports the generation only when asked */
	b->flags = abi_v2() ? PROCMAP_BATCH_GENERATION : 0;
	ASSERT_EQ(0, batch(fd, b));
	EXPECT_NE(0, b->generation);
	/* a non-zero byte the kernel does not know: E2BIG */
	big[sizeof(big) - 1] = 1;
	EXPECT_EQ(-E2BIG, batch(fd, b));
	/* an older caller's shorter struct: EINVAL (no older version yet) */
	memset(big, 0, sizeof(big));
	b->size = sizeof(*b) - 8;
	EXPECT_EQ(-EINVAL, batch(fd, b));
	b->size = 8192;
	EXPECT_EQ(-E2BIG, batch(fd, b));
	close(fd);
}

TEST(every_invalid_input_has_its_errno)
{
	struct procmap_vma_record recs[4];
	uint64_t addrs[4] = { 0 };
	uint32_t index[4];
	char strs[64];
	struct procmap_batch b, saved;
	int fd = open_maps(getpid());
	void *ro = mmap(NULL, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *none = mmap(NULL, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	NEED_BATCH();
#define RANGE_OK() do { \
	batch_init(&b, PROCMAP_BATCH_RANGE); \
	b.end = UINT64_MAX; \
	b.rec_size = sizeof(recs[0]); \
	b.rec_count = 4; \
	b.recs_addr = (uintptr_t)recs; \
} while (0)
#define ADDR_OK() do { \
	batch_init(&b, 0); \
	b.addr_count = 4; \
	b.addrs_addr = (uintptr_t)addrs; \
	b.index_addr = (uintptr_t)index; \
	b.rec_size = sizeof(recs[0]); \
	b.rec_count = 4; \
	b.recs_addr = (uintptr_t)recs; \
} while (0)
#define EXPECT_ERRNO(e, what) do { \
	saved = b; \
	EXPECT_EQ(-(e), batch(fd, &b)) TH_LOG("%s", what); \
	EXPECT_EQ(0, memcmp(&saved, &b, sizeof(b))) TH_LOG("%s: struct changed", what); \
} while (0)

	RANGE_OK();
	ASSERT_EQ(0, batch(fd, &b));
	ADDR_OK();
	ASSERT_EQ(0, batch(fd, &b));

	RANGE_OK(); b.flags |= 0x1000;			EXPECT_ERRNO(EINVAL, "unknown flag");
	RANGE_OK(); b.flags |= 1ULL << 40;		EXPECT_ERRNO(EINVAL, "unknown middle flag");
	RANGE_OK(); b.flags |= 1ULL << 63;		EXPECT_ERRNO(EINVAL, "high flag");
	RANGE_OK(); b.flags |= PROCMAP_QUERY_COVERING_OR_NEXT_VMA;
	EXPECT_ERRNO(EINVAL, "COVERING_OR_NEXT is PROCMAP_QUERY's");
	RANGE_OK(); b.kernel_rec_size = 1;		EXPECT_ERRNO(EINVAL, "out field kernel_rec_size");
	RANGE_OK(); b.rec_size = 64;			EXPECT_ERRNO(EINVAL, "record too small");
	RANGE_OK(); b.rec_size = 76;			EXPECT_ERRNO(EINVAL, "record not 8-aligned");
	RANGE_OK(); b.rec_size = 8192;			EXPECT_ERRNO(EINVAL, "record too big");
	RANGE_OK(); b.recs_addr = 0;			EXPECT_ERRNO(EINVAL, "records without address");
	RANGE_OK(); b.rec_count = 0;			EXPECT_ERRNO(EINVAL, "address without records");
	RANGE_OK(); b.strs_size = 8;			EXPECT_ERRNO(EINVAL, "strings without address");
	RANGE_OK(); b.strs_addr = (uintptr_t)strs;	EXPECT_ERRNO(EINVAL, "string address without size");
	RANGE_OK(); b.start = 2; b.end = 1;		EXPECT_ERRNO(EINVAL, "start > end");
	RANGE_OK(); b.addr_count = 1;			EXPECT_ERRNO(EINVAL, "range with addresses");
	RANGE_OK(); b.addrs_addr = (uintptr_t)addrs;	EXPECT_ERRNO(EINVAL, "range with address array");
	RANGE_OK(); b.index_addr = (uintptr_t)index;	EXPECT_ERRNO(EINVAL, "range with index array");
	ADDR_OK(); b.start = 1;				EXPECT_ERRNO(EINVAL, "addresses with start");
	ADDR_OK(); b.end = 1;				EXPECT_ERRNO(EINVAL, "addresses with end");
	ADDR_OK(); b.addrs_addr = 0;			EXPECT_ERRNO(EINVAL, "count without addresses");
	ADDR_OK(); b.index_addr = 0;			EXPECT_ERRNO(EINVAL, "count without index");
	ADDR_OK(); b.rec_count = 0; b.recs_addr = 0;	EXPECT_ERRNO(EINVAL, "addresses, no records");
	/* the first 6.12 series has a limit; the 7.3 series reads any number */
	if (abi_v2()) {
		uint64_t *many = calloc(65537, sizeof(*many));
		uint32_t *midx = calloc(65537, sizeof(*midx));
		char *guard = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		ADDR_OK(); b.addr_count = 65537; b.addrs_addr = (uintptr_t)many;
		b.index_addr = (uintptr_t)midx;
		EXPECT_EQ(0, batch(fd, &b));
		EXPECT_EQ(65537, b.resolved);
		EXPECT_EQ(PROCMAP_BATCH_NO_VMA, midx[65536]);
		/* a count that runs the addresses into unmapped memory */
		ASSERT_NE(MAP_FAILED, guard);
		ASSERT_EQ(0, mprotect(guard + pg, pg, PROT_NONE));
		ADDR_OK(); b.addr_count = UINT32_MAX; b.addrs_addr = (uintptr_t)guard;
		b.index_addr = (uintptr_t)midx;
		EXPECT_ERRNO(EFAULT, "addresses past their buffer");
		free(many);
		free(midx);
		munmap(guard, 2 * pg);
		/* unsorted addresses */
		ADDR_OK(); addrs[0] = 2; addrs[1] = 1;	EXPECT_ERRNO(EINVAL, "unsorted addresses");
		addrs[0] = addrs[1] = 0;
	} else {
		ADDR_OK(); b.addr_count = 65537;
		EXPECT_ERRNO(E2BIG, "too many addresses");
		ADDR_OK(); b.addr_count = UINT32_MAX;	EXPECT_ERRNO(E2BIG, "absurd count");
	}
	/* 7.3: a record count that could be mistaken for the index's UNRESOLVED */
	if (abi_v2()) {
		RANGE_OK(); b.rec_count = PROCMAP_BATCH_UNRESOLVED;
		EXPECT_ERRNO(EINVAL, "record count a sentinel");
	}
	RANGE_OK(); b.rec_count = UINT32_MAX - 2;	EXPECT_ERRNO(EFAULT, "records beyond user space");
	RANGE_OK(); b.recs_addr = (1ULL << 47) - 2 * sizeof(recs[0]);
	EXPECT_ERRNO(EFAULT, "records across the end of user space");
	RANGE_OK(); b.recs_addr = (uintptr_t)ro;	EXPECT_ERRNO(EFAULT, "read-only records");
	RANGE_OK(); b.recs_addr = (uintptr_t)none;	EXPECT_ERRNO(EFAULT, "inaccessible records");
	RANGE_OK(); b.recs_addr = 0xffffffff81000000ULL; EXPECT_ERRNO(EFAULT, "kernel address");
	RANGE_OK(); b.flags |= PROCMAP_BATCH_NAMES; b.strs_size = 64; b.strs_addr = (uintptr_t)ro;
	EXPECT_ERRNO(EFAULT, "read-only strings");
	ADDR_OK(); b.addrs_addr = (uintptr_t)none;	EXPECT_ERRNO(EFAULT, "unreadable addresses");
	ADDR_OK(); b.index_addr = (uintptr_t)ro;	EXPECT_ERRNO(EFAULT, "read-only index");
	EXPECT_EQ(-EFAULT, ioctl(fd, PROCMAP_QUERY_BATCH, NULL) ? -errno : 0);
	EXPECT_EQ(-EFAULT, ioctl(fd, PROCMAP_QUERY_BATCH, none) ? -errno : 0);
	munmap(ro, pg);
	munmap(none, pg);
	close(fd);
}

TEST(exited_process_is_esrch_and_other_files_are_enotty)
{
	struct test_child c = { .release_fd = -1 };
	struct procmap_vma_record r;
	struct procmap_batch b;
	uint64_t gen;
	int fd, st;

	NEED_BATCH();
	ASSERT_EQ(0, child_start(&c, NULL, NULL));
	fd = open_maps(c.pid);
	ASSERT_EQ(0, generation(fd, &gen));
	kill(c.pid, SIGKILL);
	waitpid(c.pid, &st, 0);
	c.pid = 0;
	EXPECT_EQ(-ESRCH, generation(fd, &gen));
	batch_init(&b, PROCMAP_BATCH_RANGE);
	b.end = UINT64_MAX;
	b.rec_size = sizeof(r);
	b.rec_count = 1;
	b.recs_addr = (uintptr_t)&r;
	EXPECT_EQ(-ESRCH, batch(fd, &b));
	close(fd);
	close(c.release_fd);

	fd = open("/proc/self/status", O_RDONLY);
	EXPECT_EQ(-ENOTTY, generation(fd, &gen));
	close(fd);
}

TEST(a_kernel_thread_has_no_address_space)
{
	uint64_t gen;
	int fd = open("/proc/2/maps", O_RDONLY);	/* kthreadd */

	NEED_BATCH();
	if (fd < 0)
		SKIP(return, "no /proc/2/maps: %s", strerror(errno));
	EXPECT_EQ(-ESRCH, generation(fd, &gen));
	close(fd);
}

/* ------------------------------------------------------------ generation */

static int fd_self;

static uint64_t gen_now(void)
{
	uint64_t g = 0;

	if (generation(fd_self, &g))
		abort();
	return g;
}

TEST(generation_is_stable_while_nothing_changes)
{
	static char buf[1 << 20];
	uint64_t a, b;

	NEED_BATCH();
	fd_self = open_maps(getpid());
	a = gen_now();
	b = gen_now();
	EXPECT_EQ(a, b);
	/* touching memory, faulting pages in: no VMA changes */
	memset(buf, 1, sizeof(buf));
	EXPECT_EQ(a, gen_now());
	close(fd_self);
}

static int grow_stack(int depth)
{
	volatile char pad[4096];

	pad[0] = (char)depth;
	return depth ? grow_stack(depth - 1) + pad[0] : pad[0];
}

TEST(generation_changes_after_every_kind_of_change)
{
	char *p, *q;
	uint64_t g;

	NEED_BATCH();
	fd_self = open_maps(getpid());
#define CHANGES(what, stmt) do { \
	g = gen_now(); \
	stmt; \
	EXPECT_NE(g, gen_now()) TH_LOG("%s did not change the generation", what); \
} while (0)
	CHANGES("mmap", p = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	ASSERT_NE(MAP_FAILED, p);
	CHANGES("mprotect", mprotect(p, pg, PROT_READ));
	CHANGES("madvise(DONTFORK)", madvise(p, pg, MADV_DONTFORK));
	CHANGES("prctl(PR_SET_VMA_ANON_NAME)",
		prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, p + 2 * pg, pg, "g"));
	CHANGES("mremap(grow)", q = mremap(p + 3 * pg, pg, 8 * pg, MREMAP_MAYMOVE));
	ASSERT_NE(MAP_FAILED, q);
	CHANGES("munmap", munmap(q, 8 * pg));
	munmap(p, 3 * pg);
	CHANGES("brk", sbrk(64 * pg));
	CHANGES("brk shrink", sbrk(-64 * (long)pg));
	if (!under_valgrind()) {
		/* a child that grows its stack: its generation changes */
		int sync[2], back[2];
		uint64_t after;
		pid_t pid;
		char c = 0;
		int fd;

		ASSERT_EQ(0, pipe(sync));
		ASSERT_EQ(0, pipe(back));
		pid = fork();
		if (!pid) {
			if (read(sync[0], &c, 1) != 1)
				_exit(1);
			grow_stack(2000);	/* 8 MiB default limit: 2000 pages fit */
			if (write(back[1], &c, 1) != 1)
				_exit(1);
			pause();
			_exit(0);
		}
		fd = open_maps(pid);
		ASSERT_EQ(0, generation(fd, &g));
		ASSERT_EQ(1, write(sync[1], &c, 1));
		ASSERT_EQ(1, read(back[0], &c, 1));
		ASSERT_EQ(0, generation(fd, &after));
		EXPECT_NE(g, after) TH_LOG("stack growth");
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(fd);
	}
	close(fd_self);
}

TEST(generation_of_an_execed_process_never_repeats_an_old_one)
{
	int sync[2], fd_old, fd_new;
	uint64_t before, after;
	pid_t pid;
	char c;

	NEED_BATCH();
	ASSERT_EQ(0, pipe(sync));
	pid = fork();
	if (!pid) {
		if (read(sync[0], &c, 1) != 1)
			_exit(1);
		execl("/proc/self/exe", "x", "-h", (char *)NULL);
		_exit(127);
	}
	fd_old = open_maps(pid);
	ASSERT_EQ(0, generation(fd_old, &before));
	/* exec: the old fd's mm is gone; a new open sees a new range */
	ASSERT_EQ(1, write(sync[1], &c, 1));
	waitpid(pid, NULL, 0);
	EXPECT_EQ(-ESRCH, generation(fd_old, &after));
	fd_new = open_maps(getpid());
	ASSERT_EQ(0, generation(fd_new, &after));
	EXPECT_NE(before, after);
	close(fd_old);
	close(fd_new);
}

/*
 * The guarantee under concurrency: readers keep sampling; the modifier
 * notes the largest value any reader saw before each change began, and
 * after the change returns, its own sample and every reader's next one
 * must be above it (the generation only advances).
 */
static _Atomic uint64_t seen_max;
static atomic_bool stop;
static _Atomic unsigned long violations, samples;
static _Atomic uint64_t floor_after;	/* a value every later sample must exceed */

static void *gen_reader(void *arg)
{
	int fd = open_maps(getpid());

	(void)arg;
	while (!atomic_load(&stop)) {
		uint64_t fl = atomic_load(&floor_after), g, m;

		if (generation(fd, &g))
			abort();
		if (g <= fl && fl)
			atomic_fetch_add(&violations, 1);
		m = atomic_load(&seen_max);
		while (g > m && !atomic_compare_exchange_weak(&seen_max, &m, g))
			;
		atomic_fetch_add(&samples, 1);
	}
	close(fd);
	return NULL;
}

TEST(generation_guarantee_holds_under_a_concurrent_modifier)
{
	const char *env = getenv("VMAQ_RACE_SECONDS");
	pthread_t th[2];
	unsigned long changes = 0;
	double end;
	struct timespec ts;

	NEED_BATCH();
	fd_self = open_maps(getpid());
	atomic_store(&stop, false);
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(0, pthread_create(&th[i], NULL, gen_reader, NULL));
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	end = ts.tv_sec + ts.tv_nsec / 1e9 + (env ? atof(env) : 2);
	do {
		uint64_t before = atomic_load(&seen_max), after;
		void *p = mmap(NULL, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		after = gen_now();
		EXPECT_GT(after, before);
		atomic_store(&floor_after, before);
		munmap(p, pg);
		changes++;
		clock_gettime(CLOCK_MONOTONIC, &ts);
	} while (ts.tv_sec + ts.tv_nsec / 1e9 < end && !_metadata->exit_code);
	atomic_store(&stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	TH_LOG("%lu changes, %lu reader samples, %lu violations", changes,
	       atomic_load(&samples), atomic_load(&violations));
	EXPECT_EQ(0, atomic_load(&violations));
	EXPECT_GT(atomic_load(&samples), 0);
	close(fd_self);
}

int main(int argc, char **argv)
{
	pg = sysconf(_SC_PAGESIZE);
	if (argc > 1 && !strcmp(argv[1], "-h") && !strcmp(argv[0], "x"))
		return 0;	/* the exec target of the generation test */
	vmaq_stretch_timeouts();
	return test_harness_run(argc, argv);
}
