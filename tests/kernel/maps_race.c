// SPDX-License-Identifier: GPL-2.0
/*
 * /proc/PID/maps and PROCMAP_QUERY while the map changes.
 *
 * A target process lays out NCHUNK adjacent 3-page VMAs in one reservation,
 * with alternating protections so that none merge: the whole reservation
 * is always mapped. A modifier process then changes one chunk, R, in a
 * loop (split and merge, shrink and expand, a one-page VMA moving between
 * two holes, renaming), while this process reads the whole maps file again
 * and again with read() sizes that move the page boundaries of the text
 * across R, and asks PROCMAP_QUERY about R.
 *
 * Every output must satisfy, line by line:
 *  - lines are in strictly increasing order and never overlap;
 *  - every page that is mapped throughout is shown, with its permissions:
 *    a gap or a wrong line anywhere in the reservation is a tear;
 *  - every page of R is shown only in a state it really had (and every
 *    line covering R has attributes that each of its pages had).
 *
 * The 6.12 vmaquery series (release "6.12.*-vmaquery") must show no tear
 * at all in the text or PROCMAP_QUERY, and every vmaquery kernel none in
 * its batch walks. Other text and PROCMAP_QUERY readers are measured, not
 * judged: upstream's per-VMA maps (6.17+, and the 7.3 series, which keeps
 * them) may report a VMA twice across a read boundary, which its own test
 * accepts; the test then reports how many reads tore, and skips.
 *
 * The run lasts VMAQ_RACE_SECONDS per test (default 3).
 */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <time.h>

#include <linux/vmaquery_uapi.h>

#include <sys/utsname.h>

#include "kselftest_harness.h"
#include "vmaq_test.h"

/*
 * The 6.12 series also reads the text under its own rules, which never
 * tear; the 7.3 series leaves the text to upstream's per-VMA reading,
 * which may show a VMA twice across a read boundary (as proc-maps-race
 * accepts), so there the text is measured, not judged.
 */
static bool strict_text_kernel(void)
{
	struct utsname u;

	return !uname(&u) && strstr(u.release, "-vmaquery") &&
	       !strncmp(u.release, "6.12.", 5);
}

#define NCHUNK 120
#define R_CHUNK 60		/* the chunk that changes, mid-file */
#define HOLE_PAGES 8		/* a hole after the reservation: moves go here */

enum kind { SPLIT, RESIZE, MOVE, RENAME };

/* What the reader may see for one page. */
#define P_NONE	0x1		/* may be unmapped */
#define P_R	0x2		/* may be r--p */
#define P_RW	0x4		/* may be rw-p */

struct layout {
	uint64_t base;		/* reservation: NCHUNK chunks, then the hole */
	long pg;
	enum kind kind;
};

static uint64_t chunk_addr(const struct layout *l, int i)
{
	return l->base + (uint64_t)i * 3 * l->pg;
}

/* Permissions a page may show, by layout and kind. */
static unsigned int allowed(const struct layout *l, uint64_t page)
{
	uint64_t r = chunk_addr(l, R_CHUNK), hole = chunk_addr(l, NCHUNK);
	long pg = l->pg;

	if (page >= hole) {
		/* the moving page visits hole+2 and hole+5 */
		if (l->kind == MOVE && (page == hole + 2 * pg || page == hole + 5 * pg))
			return P_NONE | P_RW;
		return P_NONE;
	}
	if (page >= r && page < r + 3 * pg) {
		if (l->kind == SPLIT && page == r + pg)
			return P_RW | P_R;
		if (l->kind == RESIZE && page > r)
			return P_RW | P_NONE;
		return P_RW;
	}
	/* every other chunk: fixed, even chunks rw, odd r */
	return ((page - l->base) / (3 * pg)) % 2 ? P_R : P_RW;
}

static void modifier(struct layout *l, int ready)
{
	uint64_t r = chunk_addr(l, R_CHUNK), hole = chunk_addr(l, NCHUNK);
	char *a = (char *)(uintptr_t)r;
	long pg = l->pg;
	int flip = 0;

	for (;;) {
		switch (l->kind) {
		case SPLIT:
			if (mprotect(a + pg, pg, flip ? PROT_READ | PROT_WRITE : PROT_READ))
				_exit(2);
			break;
		case RESIZE:
			if (mremap(a, flip ? pg : 3 * pg, flip ? 3 * pg : pg, 0) == MAP_FAILED)
				_exit(3);
			break;
		case MOVE:
			if (mremap((void *)(uintptr_t)(hole + (flip ? 5 : 2) * pg), pg, pg,
				   MREMAP_MAYMOVE | MREMAP_FIXED,
				   (void *)(uintptr_t)(hole + (flip ? 2 : 5) * pg)) == MAP_FAILED)
				_exit(4);
			break;
		case RENAME:
			prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, a, 3 * pg,
			      flip ? "vmaq-a" : "vmaq-b");
			break;
		}
		flip = !flip;
		if (ready >= 0) {	/* laid out and changed once: go */
			if (write(ready, "x", 1) != 1)
				_exit(5);
			close(ready);
			ready = -1;
		}
	}
}

/* Lay the chunks out; the returned child runs the modifier. */
static pid_t start_target(struct layout *l)
{
	long pg = l->pg;
	size_t len = (size_t)(NCHUNK * 3 + HOLE_PAGES) * pg;
	char *base = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int ready[2];
	char c;
	pid_t pid;

	if (base == MAP_FAILED || pipe(ready))
		return -1;
	/* the hole after the chunks is unmapped; keep the reservation's end */
	munmap(base + (size_t)NCHUNK * 3 * pg, (size_t)HOLE_PAGES * pg);
	l->base = (uintptr_t)base;
	pid = fork();
	if (pid) {
		close(ready[1]);
		if (pid < 0 || read(ready[0], &c, 1) != 1)
			pid = -1;
		close(ready[0]);
		return pid;
	}
	close(ready[0]);
	for (int i = 0; i < NCHUNK; i++)
		if (mmap(base + (size_t)i * 3 * pg, 3 * pg,
			 i % 2 ? PROT_READ : PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
			_exit(1);
	if (l->kind == MOVE &&
	    mmap((char *)(uintptr_t)chunk_addr(l, NCHUNK) + 2 * pg, pg,
		 PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		 -1, 0) == MAP_FAILED)
		_exit(1);
	modifier(l, ready[1]);
	_exit(0);
}

struct stats {
	unsigned long reads, lines, boundaries_in_r, queries;
};

/* Read the file with reads of @chunk bytes; note where reads ended. */
/*
 * Read the whole file in read()s of chunk bytes, except that if stop is
 * non-zero some read() is made to end exactly at offset stop.  A read()
 * of a seq_file returns at most one buffer's worth of lines (a page),
 * whatever was asked, so asking for stop bytes at once is not enough:
 * keep asking for what is left up to stop.
 */
static char *read_all(int fd, size_t stop, size_t chunk, size_t *len,
		      size_t *ends, int *nends)
{
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap);
	ssize_t r;

	*nends = 0;
	if (lseek(fd, 0, SEEK_SET)) {
		free(buf);
		return NULL;
	}
	for (;;) {
		size_t want = n < stop && stop - n < chunk ? stop - n : chunk;

		if (cap - n < chunk + 1) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
		r = read(fd, buf + n, want);
		if (r < 0) {
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (*nends < 4096)
			ends[(*nends)++] = n;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Check one full read; returns NULL or the reason it is wrong. */
static const char *check(const struct layout *l, char *text, size_t len,
			 const size_t *ends, int nends, struct stats *st,
			 char *why, size_t whylen)
{
	uint64_t lo = l->base, hi = chunk_addr(l, NCHUNK) + HOLE_PAGES * l->pg;
	uint64_t r = chunk_addr(l, R_CHUNK), covered = lo, prev_end = 0, prev_start = 0;
	char *line = text, *nl;
	bool first = true;

	for (; line < text + len; line = nl + 1) {
		unsigned long long s, e;
		char perms[5], name[64] = "";
		size_t off = (size_t)(line - text);

		nl = memchr(line, '\n', (size_t)(text + len - line));
		if (!nl)
			return "text does not end with a newline";
		*nl = '\0';
		if (sscanf(line, "%llx-%llx %4s %*x %*x:%*x %*u %63s", &s, &e, perms, name) < 3)
			return "unparsable line";
		st->lines++;
		if (!first && (s <= prev_start || s < prev_end)) {
			snprintf(why, whylen, "out of order or overlapping: %llx-%llx after %llx-%llx",
				 s, e, (unsigned long long)prev_start,
				 (unsigned long long)prev_end);
			return why;
		}
		first = false;
		prev_start = s;
		prev_end = e;
		if (e <= lo || s >= hi)
			continue;
		/* count read boundaries that fall on R's lines */
		for (int i = 0; i < nends; i++)
			if (ends[i] > off && ends[i] <= (size_t)(nl - text) + 1 &&
			    s >= r && s < r + 3 * l->pg)
				st->boundaries_in_r++;
		/* the pages between the last covered one and this line: a gap */
		for (uint64_t p = covered; p < s && p < hi; p += l->pg) {
			if (!(allowed(l, p) & P_NONE)) {
				snprintf(why, whylen, "page %llx missing (invented gap before %s)",
					 (unsigned long long)p, line);
				return why;
			}
		}
		for (uint64_t p = s; p < e && p < hi; p += l->pg) {
			unsigned int want = perms[1] == 'w' ? P_RW : P_R;

			if (p < lo)
				continue;
			if (!(allowed(l, p) & want) || perms[3] != 'p' || perms[2] != '-') {
				snprintf(why, whylen, "page %llx shown as %s: %s",
					 (unsigned long long)p, perms, line);
				return why;
			}
		}
		if (l->kind == RENAME && s >= r && s < r + 3 * l->pg &&
		    strcmp(name, "[anon:vmaq-a]") && strcmp(name, "[anon:vmaq-b]")) {
			snprintf(why, whylen, "R named '%s'", name);
			return why;
		}
		covered = e > covered ? e : covered;
	}
	for (uint64_t p = covered; p < hi; p += l->pg)
		if (!(allowed(l, p) & P_NONE)) {
			snprintf(why, whylen, "page %llx missing at the end",
				 (unsigned long long)p);
			return why;
		}
	return NULL;
}

/* PROCMAP_QUERY about R must give a shape R really had. */
static const char *check_query(const struct layout *l, int fd, char *why, size_t whylen)
{
	uint64_t r = chunk_addr(l, R_CHUNK);
	long pg = l->pg;
	struct procmap_query q = { .size = sizeof(q), .query_addr = r + pg };
	bool ok;

	if (ioctl(fd, PROCMAP_QUERY, &q)) {
		if (errno == ENOTTY)
			return NULL;
		if (l->kind == RESIZE && errno == ENOENT)
			return NULL;	/* shrunk: nothing at r + pg */
		snprintf(why, whylen, "PROCMAP_QUERY: %s", strerror(errno));
		return why;
	}
	switch (l->kind) {
	case SPLIT:
		ok = (q.vma_start == r && q.vma_end == r + 3 * pg) ||
		     (q.vma_start == r + pg && q.vma_end == r + 2 * pg);
		break;
	case RESIZE:
		ok = q.vma_start == r && q.vma_end == r + 3 * pg;
		break;
	default:
		ok = q.vma_start == r && q.vma_end == r + 3 * pg;
	}
	if (!ok) {
		snprintf(why, whylen, "PROCMAP_QUERY at R+1 page: %llx-%llx",
			 (unsigned long long)q.vma_start, (unsigned long long)q.vma_end);
		return why;
	}
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

FIXTURE(race) {
	struct layout l;
	pid_t pid;
	int fd;
};

FIXTURE_VARIANT(race) {
	enum kind kind;
};

FIXTURE_VARIANT_ADD(race, split_merge) { .kind = SPLIT };
FIXTURE_VARIANT_ADD(race, shrink_expand) { .kind = RESIZE };
FIXTURE_VARIANT_ADD(race, move) { .kind = MOVE };
FIXTURE_VARIANT_ADD(race, rename) { .kind = RENAME };

FIXTURE_SETUP(race)
{
	char path[64];

	self->fd = -1;
	self->l.pg = sysconf(_SC_PAGESIZE);
	self->l.kind = variant->kind;
	if (variant->kind == RENAME) {
		char *m = mmap(NULL, self->l.pg, PROT_READ,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		int bad = prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, m, self->l.pg, "x");

		munmap(m, self->l.pg);
		if (bad) {
			self->pid = 0;
			SKIP(return, "no ANON_VMA_NAME");
		}
	}
	self->pid = start_target(&self->l);
	ASSERT_GT(self->pid, 0) TH_LOG("target could not lay out its chunks");
	snprintf(path, sizeof(path), "/proc/%d/maps", self->pid);
	self->fd = open(path, O_RDONLY);
	ASSERT_GE(self->fd, 0);
}

FIXTURE_TEARDOWN(race)
{
	if (self->fd >= 0)
		close(self->fd);
	if (self->pid > 0) {
		kill(self->pid, SIGKILL);
		waitpid(self->pid, NULL, 0);
	}
}

TEST_F(race, every_read_shows_a_state_that_existed)
{
	static const size_t sizes[] = { 4096, 1000, 333, 65536, 8000, 100, 2048, 77 };
	const char *env = getenv("VMAQ_RACE_SECONDS");
	double end = now() + (env ? atof(env) : 3);
	struct stats st = { 0 };
	static size_t ends[4096];
	unsigned long tears = 0, qtears = 0;
	size_t r_off = 0, r_len = 0;
	char why[512];
	int nends, st_child;

	do {
		size_t len, size = sizes[st.reads % 8], stop = 0;
		char *text, *at;
		const char *bad;

		/* Every other pass, end a read() inside R's lines. */
		if (r_len && st.reads % 2)
			stop = r_off + 1 + (st.reads / 2) % r_len;
		text = read_all(self->fd, stop, size, &len, ends, &nends);
		ASSERT_NE(NULL, text) TH_LOG("reading maps: %s", strerror(errno));
		snprintf(why, sizeof(why), "%llx-", (unsigned long long)
			 chunk_addr(&self->l, R_CHUNK));
		at = strstr(text, why);
		if (at) {
			char *after = strstr(at, "\n");

			r_off = (size_t)(at - text);
			/* R and the line after it */
			after = after ? strchr(after + 1, '\n') : NULL;
			r_len = after ? (size_t)(after - at) : 0;
		}

		bad = check(&self->l, text, len, ends, nends, &st, why, sizeof(why));
		if (bad && tears++ < 3)
			TH_LOG("read %lu (size %zu): %s", st.reads, sizes[st.reads % 8], bad);
		free(text);
		bad = check_query(&self->l, self->fd, why, sizeof(why));
		if (bad && qtears++ < 3)
			TH_LOG("%s", bad);
		st.reads++;
		st.queries++;
		/* the modifier must still be running */
		if (waitpid(self->pid, &st_child, WNOHANG)) {
			self->pid = 0;
			ASSERT_TRUE(0) TH_LOG("modifier %s %d after %lu reads",
					      WIFEXITED(st_child) ? "exited with" : "killed by",
					      WIFEXITED(st_child) ? WEXITSTATUS(st_child) :
					      WTERMSIG(st_child), st.reads);
		}
	} while (now() < end);
	TH_LOG("%lu reads, %lu lines checked, %lu read boundaries inside R, %lu queries: %lu torn reads, %lu wrong answers",
	       st.reads, st.lines, st.boundaries_in_r, st.queries, tears, qtears);
	/* a failed check must not turn into a skip below */
	ASSERT_GT(st.boundaries_in_r, 0) TH_LOG("no read() ended inside R's lines");
	if (!strict_text_kernel() && (tears || qtears))
		SKIP(return, "upstream's text and PROCMAP_QUERY here: %lu of %lu reads tore",
		     tears, st.reads);
	EXPECT_EQ(0, tears);
	EXPECT_EQ(0, qtears);
}

/*
 * The batch ioctl as the reader: range walks of a few records per call
 * (so that calls resume inside and around R), rendered as maps lines and
 * held to the same rules; address mode about R must give a shape R had.
 */
static char *batch_text(int fd, uint32_t chunk, size_t *len, size_t *ends,
			int *nends)
{
	struct procmap_vma_record recs[16];
	char strs[16 * 64];
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap);
	struct procmap_batch b;
	uint64_t from = 0;

	*nends = 0;
	while (from < UINT64_MAX) {
		memset(&b, 0, sizeof(b));
		b.size = sizeof(b);
		b.flags = PROCMAP_BATCH_RANGE | PROCMAP_BATCH_NAMES;
		b.start = from;
		b.end = UINT64_MAX;
		b.rec_size = sizeof(recs[0]);
		b.rec_count = chunk;
		b.recs_addr = (uintptr_t)recs;
		b.strs_size = sizeof(strs);
		b.strs_addr = (uintptr_t)strs;
		if (ioctl(fd, PROCMAP_QUERY_BATCH, &b)) {
			free(buf);
			return NULL;
		}
		for (uint32_t i = 0; i < b.rec_count; i++) {
			const struct procmap_vma_record *r = &recs[i];

			if (cap - n < 256) {
				cap *= 2;
				buf = realloc(buf, cap);
			}
			n += (size_t)snprintf(buf + n, cap - n, "%llx-%llx %c%c%c%c 0 0:0 0 %s\n",
				(unsigned long long)r->vma_start, (unsigned long long)r->vma_end,
				r->vma_flags & PROCMAP_QUERY_VMA_READABLE ? 'r' : '-',
				r->vma_flags & PROCMAP_QUERY_VMA_WRITABLE ? 'w' : '-',
				r->vma_flags & PROCMAP_QUERY_VMA_EXECUTABLE ? 'x' : '-',
				r->vma_flags & PROCMAP_QUERY_VMA_SHARED ? 's' : 'p',
				r->name_size ? strs + r->name_off : "");
		}
		if (*nends < 4096)
			ends[(*nends)++] = n;
		from = b.start;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Address mode about R's pages and the hole must give shapes they had. */
static const char *check_batch_addrs(const struct layout *l, int fd, char *why,
				     size_t whylen)
{
	uint64_t r = chunk_addr(l, R_CHUNK), hole = chunk_addr(l, NCHUNK);
	/* sorted (the 7.3 ABI takes nothing else), one address twice */
	uint64_t addrs[] = { r, r + l->pg, r + l->pg, r + 2 * l->pg,
			     hole + 2 * l->pg, hole + 5 * l->pg };
	struct procmap_vma_record recs[8];
	uint32_t index[6];
	struct procmap_batch b = {
		.size = sizeof(b), .addr_count = 6, .addrs_addr = (uintptr_t)addrs,
		.index_addr = (uintptr_t)index, .rec_size = sizeof(recs[0]),
		.rec_count = 8, .recs_addr = (uintptr_t)recs,
	};

	if (ioctl(fd, PROCMAP_QUERY_BATCH, &b)) {
		snprintf(why, whylen, "PROCMAP_QUERY_BATCH: %s", strerror(errno));
		return why;
	}
	for (int i = 0; i < 6; i++) {
		unsigned int may = allowed(l, addrs[i] & ~(uint64_t)(l->pg - 1));

		if (index[i] == PROCMAP_BATCH_NO_VMA) {
			if (!(may & P_NONE))
				goto bad;
			continue;
		}
		if (index[i] >= b.rec_count)
			goto bad;
		if (!(may & ((recs[index[i]].vma_flags & PROCMAP_QUERY_VMA_WRITABLE) ?
			     P_RW : P_R)))
			goto bad;
		if (recs[index[i]].vma_start > addrs[i] || recs[index[i]].vma_end <= addrs[i])
			goto bad;
		continue;
bad:
		snprintf(why, whylen, "address %llx: index %u of %u records",
			 (unsigned long long)addrs[i], index[i], b.rec_count);
		return why;
	}
	/* the same address twice: the same record */
	if (index[1] != index[2]) {
		snprintf(why, whylen, "one address, two records: %u and %u",
			 index[1], index[2]);
		return why;
	}
	return NULL;
}

TEST_F(race, batch_walks_show_states_that_existed)
{
	const char *env = getenv("VMAQ_RACE_SECONDS");
	double end = now() + (env ? atof(env) : 3);
	struct stats st = { 0 };
	static size_t ends[4096];
	unsigned long tears = 0, atears = 0;
	struct procmap_batch probe = { .size = sizeof(probe) };
	char why[512];
	int nends;

	if (ioctl(self->fd, PROCMAP_QUERY_BATCH, &probe))
		SKIP(return, "kernel has no PROCMAP_QUERY_BATCH");
	do {
		/* 1 to 16 records a call: call boundaries move across R */
		uint32_t chunk = 1 + st.reads % 16;
		size_t len;
		char *text = batch_text(self->fd, chunk, &len, ends, &nends);
		const char *bad;

		ASSERT_NE(NULL, text) TH_LOG("batch walk: %s", strerror(errno));
		bad = check(&self->l, text, len, ends, nends, &st, why, sizeof(why));
		if (bad && tears++ < 3)
			TH_LOG("walk %lu (%u a call): %s", st.reads, chunk, bad);
		free(text);
		bad = check_batch_addrs(&self->l, self->fd, why, sizeof(why));
		if (bad && atears++ < 3)
			TH_LOG("%s", bad);
		st.reads++;
		st.queries++;
	} while (now() < end);
	TH_LOG("%lu walks, %lu lines checked, %lu call boundaries inside R: %lu torn walks, %lu wrong address answers",
	       st.reads, st.lines, st.boundaries_in_r, tears, atears);
	EXPECT_GT(st.boundaries_in_r, 0);
	EXPECT_EQ(0, tears);
	EXPECT_EQ(0, atears);
}

/*
 * Lockdep, KASAN and DEBUG_VM fodder: a target that maps and unmaps
 * single pages as fast as it can, forks and reaps children, while three
 * threads here read its maps, query it and resolve addresses in it. The
 * VM harness fails the run on any splat.
 */
static void *reader_text(void *arg)
{
	int fd = *(int *)arg;
	char buf[4096];

	while (read(fd, buf, sizeof(buf)) > 0 || lseek(fd, 0, SEEK_SET) == 0)
		if (getenv("VMAQ_STOP_READERS"))
			break;
	return NULL;
}

static volatile int stop_readers;

static void *reader_query(void *arg)
{
	int fd = *(int *)arg;
	struct procmap_query q;
	char name[256];
	uint64_t a = 0;

	while (!stop_readers) {
		memset(&q, 0, sizeof(q));
		q.size = sizeof(q);
		q.query_flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA;
		q.query_addr = a;
		q.vma_name_addr = (uintptr_t)name;
		q.vma_name_size = sizeof(name);
		if (ioctl(fd, PROCMAP_QUERY, &q) == 0)
			a = q.vma_end;
		else
			a = 0;
	}
	return NULL;
}

/* Whole-range batch walks with names and build IDs, two records a call. */
static void *reader_batch(void *arg)
{
	int fd = *(int *)arg;
	struct procmap_vma_record recs[2];
	uint64_t addrs[16];
	uint32_t index[16];
	char strs[2 * PATH_MAX];
	struct procmap_batch b;
	uint64_t from = 0;

	while (!stop_readers) {
		memset(&b, 0, sizeof(b));
		b.size = sizeof(b);
		b.flags = PROCMAP_BATCH_RANGE | PROCMAP_BATCH_NAMES |
			  PROCMAP_BATCH_BUILD_IDS;
		b.start = from;
		b.end = UINT64_MAX;
		b.rec_size = sizeof(recs[0]);
		b.rec_count = 2;
		b.recs_addr = (uintptr_t)recs;
		b.strs_size = sizeof(strs);
		b.strs_addr = (uintptr_t)strs;
		if (ioctl(fd, PROCMAP_QUERY_BATCH, &b))
			return NULL;	/* no such ioctl: nothing to stress */
		from = b.start < UINT64_MAX ? b.start : 0;
		/* and address mode over what was just seen */
		for (int i = 0; i < 16; i++)
			addrs[i] = recs[0].vma_start + (uint64_t)i * 4096;
		memset(&b, 0, sizeof(b));
		b.size = sizeof(b);
		b.addr_count = 16;
		b.addrs_addr = (uintptr_t)addrs;
		b.index_addr = (uintptr_t)index;
		b.rec_size = sizeof(recs[0]);
		b.rec_count = 2;
		b.recs_addr = (uintptr_t)recs;
		ioctl(fd, PROCMAP_QUERY_BATCH, &b);
	}
	return NULL;
}

static void *reader_text_loop(void *arg)
{
	int fd = *(int *)arg;
	char buf[1000];

	while (!stop_readers) {
		if (read(fd, buf, sizeof(buf)) <= 0)
			lseek(fd, 0, SEEK_SET);
	}
	return NULL;
}

TEST(stress_munmap_fork_with_readers)
{
	const char *env = getenv("VMAQ_RACE_SECONDS");
	double secs = env ? atof(env) : 3;
	long pg = sysconf(_SC_PAGESIZE);
	pthread_t t[4];
	char path[64];
	int fd1, fd2, fd3, fd4, st;
	pid_t pid;

	(void)reader_text;
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		char *m = mmap(NULL, 256 * pg, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		unsigned int seed = 1;

		for (unsigned long i = 0;; i++) {
			char *p = m + (rand_r(&seed) % 256) * pg;

			munmap(p, pg);
			if (mmap(p, pg, i % 3 ? PROT_READ : PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
				_exit(1);
			if (i % 512 == 0) {
				pid_t c = fork();

				if (c == 0)
					_exit(0);
				waitpid(c, NULL, 0);
			}
		}
	}
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	fd1 = open(path, O_RDONLY);
	fd2 = open(path, O_RDONLY);
	fd3 = open(path, O_RDONLY);
	fd4 = open(path, O_RDONLY);
	ASSERT_GE(fd4, 0);
	pthread_create(&t[0], NULL, reader_text_loop, &fd1);
	pthread_create(&t[1], NULL, reader_query, &fd2);
	pthread_create(&t[2], NULL, reader_text_loop, &fd3);
	pthread_create(&t[3], NULL, reader_batch, &fd4);
	usleep((useconds_t)(secs * 1e6));
	stop_readers = 1;
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	EXPECT_EQ(0, waitpid(pid, &st, WNOHANG));	/* still mapping */
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	close(fd1);
	close(fd2);
	close(fd3);
	close(fd4);
}

/*
 * A target that execs itself again and again (a new address space each
 * time, the old one torn down) and is killed and replaced every 300 ms,
 * while readers reopen and read its maps as text, with PROCMAP_QUERY and
 * with the batch ioctl, and one reader keeps a fd across the execs.
 * Every answer must be a valid one or the documented sign that the
 * address space is gone (ENOENT/ESRCH, or an empty file); lockdep, KASAN
 * and DEBUG_VM watch the teardown racing the readers.
 */
static const char *self_exe;
static volatile pid_t exec_target;
static atomic_ulong exec_reads, exec_gone, exec_bad;
static char exec_why[256];

static void exec_bad_answer(const char *what, int err)
{
	if (atomic_fetch_add(&exec_bad, 1) == 0)
		snprintf(exec_why, sizeof(exec_why), "%s: %s", what, strerror(err));
}

static void *exec_reader(void *arg)
{
	long kind = (long)arg;
	char path[64], buf[4096];
	struct procmap_vma_record recs[8];
	int held = -1;

	while (!stop_readers) {
		struct procmap_batch b = { .size = sizeof(b), .flags = PROCMAP_BATCH_RANGE,
			.end = UINT64_MAX, .rec_size = sizeof(recs[0]), .rec_count = 8,
			.recs_addr = (uintptr_t)recs };
		struct procmap_query q = { .size = sizeof(q),
			.query_flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA };
		ssize_t n;
		int fd;

		snprintf(path, sizeof(path), "/proc/%d/maps", (int)exec_target);
		fd = kind == 3 && held >= 0 ? held : open(path, O_RDONLY);
		if (fd < 0) {
			if (errno != ENOENT && errno != ESRCH)
				exec_bad_answer("open", errno);
			atomic_fetch_add(&exec_gone, 1);
			continue;
		}
		switch (kind) {
		case 0:
		case 3:		/* a fd held across execs: reads go empty */
			lseek(fd, 0, SEEK_SET);
			n = read(fd, buf, sizeof(buf));
			if (n == 0)
				atomic_fetch_add(&exec_gone, 1);
			while (n > 0)
				n = read(fd, buf, sizeof(buf));
			if (n < 0 && errno != ESRCH)
				exec_bad_answer("read", errno);
			break;
		case 1:
			if (ioctl(fd, PROCMAP_QUERY, &q)) {
				if (errno == ESRCH)
					atomic_fetch_add(&exec_gone, 1);
				else if (errno != ENOENT && errno != ENOTTY)
					exec_bad_answer("PROCMAP_QUERY", errno);
			}
			break;
		default:
			if (ioctl(fd, PROCMAP_QUERY_BATCH, &b)) {
				if (errno == ESRCH)
					atomic_fetch_add(&exec_gone, 1);
				else if (errno != ENOTTY)
					exec_bad_answer("PROCMAP_QUERY_BATCH", errno);
			} else if (!b.rec_count) {
				exec_bad_answer("batch walk with no records", 0);
			}
			break;
		}
		atomic_fetch_add(&exec_reads, 1);
		if (kind == 3)
			held = fd;
		else
			close(fd);
	}
	if (held >= 0)
		close(held);
	return NULL;
}

static pid_t start_exec_chain(void)
{
	pid_t pid = fork();

	if (!pid) {
		execl(self_exe, self_exe, "--exec-chain", (char *)NULL);
		_exit(127);
	}
	return pid;
}

TEST(exec_and_exit_mid_read)
{
	const char *env = getenv("VMAQ_RACE_SECONDS");
	double end = now() + (env ? atof(env) : 3);
	unsigned long targets = 0;
	pthread_t t[4];

	stop_readers = 0;
	exec_target = start_exec_chain();
	ASSERT_GT(exec_target, 0);
	for (long i = 0; i < 4; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, exec_reader, (void *)i));
	do {
		pid_t old = exec_target;

		usleep(300 * 1000);
		exec_target = start_exec_chain();
		kill(old, SIGKILL);	/* exits mid-read */
		waitpid(old, NULL, 0);
		targets++;
	} while (now() < end);
	stop_readers = 1;
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	kill(exec_target, SIGKILL);
	waitpid(exec_target, NULL, 0);
	TH_LOG("%lu targets killed mid-read, %lu reads, %lu found the address space gone, %lu bad",
	       targets, (unsigned long)atomic_load(&exec_reads),
	       (unsigned long)atomic_load(&exec_gone), (unsigned long)atomic_load(&exec_bad));
	EXPECT_EQ(0, atomic_load(&exec_bad)) TH_LOG("first: %s", exec_why);
	EXPECT_GT(atomic_load(&exec_reads), 0);
}

int main(int argc, char **argv)
{
	/* the exec chain: map a little, then become a new image, forever */
	if (argc > 1 && !strcmp(argv[1], "--exec-chain")) {
		for (int i = 0; i < 16; i++)
			mmap(NULL, 4096, i % 2 ? PROT_READ : PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		execv("/proc/self/exe", argv);
		return 127;
	}
	self_exe = "/proc/self/exe";
	vmaq_stretch_timeouts();
	return test_harness_run(argc, argv);
}
