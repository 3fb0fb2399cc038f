// SPDX-License-Identifier: GPL-2.0
/*
 * The header's sentences about threads and lifetimes, each as a test with
 * two or more threads: "different objects may be used by different threads
 * concurrently" (iterators, snapshots and the handle itself, all of one
 * handle, which share its maps file, gate record and build-ID cache), and
 * "iterators and snapshots keep their handle" (vmaq_close() while another
 * thread walks). Every test compares what each thread saw with the target's
 * text; make check also runs this program under ThreadSanitizer, which
 * fails it on any data race, including ones that happen to give the right
 * answer here.
 */
#include <pthread.h>

#include "kselftest_harness.h"
#include "vmaq_test.h"

#define ROUNDS 12

struct shared {
	struct vmaq_proc *p;
	const char *text;	/* the target's map, which holds still */
	size_t build_ids;	/* records with a build ID in one walk */
	pthread_barrier_t go;
};

struct result {
	int walks, wrong, errors;
	size_t build_ids;
};

/* One walk of the handle with names and build IDs, rendered as text. */
static int walk_once(struct vmaq_proc *p, char **out, size_t *bids)
{
	int err;

	*out = render_map_flags(p, VMAQ_NAME | VMAQ_BUILD_ID, &err, bids);
	return err;
}

static void check_walk(struct shared *sh, struct result *res)
{
	size_t bids;
	char *mine;
	int err = walk_once(sh->p, &mine, &bids);

	res->walks++;
	if (err) {
		res->errors++;
		return;
	}
	if (strcmp(mine, sh->text) || bids != sh->build_ids)
		res->wrong++;
	free(mine);
}

static void *walker(void *arg)
{
	struct shared *sh = arg;
	struct result *res = calloc(1, sizeof(*res));

	pthread_barrier_wait(&sh->go);
	for (int i = 0; i < ROUNDS; i++)
		check_walk(sh, res);
	return res;
}

/* Snapshots of the same handle: new, stale, refresh, find, free. */
static void *snapshotter(void *arg)
{
	struct shared *sh = arg;
	struct result *res = calloc(1, sizeof(*res));

	pthread_barrier_wait(&sh->go);
	for (int i = 0; i < ROUNDS; i++) {
		struct vmaq_snapshot *s;
		size_t j, bids = 0;

		res->walks++;
		if (vmaq_snapshot_new(sh->p, VMAQ_NAME | VMAQ_BUILD_ID, &s)) {
			res->errors++;
			continue;
		}
		for (j = 0; j < vmaq_snapshot_count(s); j++)
			bids += vmaq_snapshot_vma(s, j)->build_id_size > 0;
		if (bids != sh->build_ids || vmaq_snapshot_stale(s) != 0 ||
		    vmaq_snapshot_refresh(s) != 0)
			res->wrong++;
		vmaq_snapshot_free(s);
	}
	return res;
}

/*
 * Snapshots that ask for names only, or for nothing: those an automatic
 * handle on a PROCMAP_QUERY kernel reads as text or by the ioctl as it
 * measured them, timing themselves into the handle's figures, while its
 * finds and iterators use the ioctl, all on one handle. Each must be the
 * map, VMA by VMA.
 */
static void *name_snapshotter(void *arg)
{
	struct shared *sh = arg;
	struct result *res = calloc(1, sizeof(*res));

	pthread_barrier_wait(&sh->go);
	for (int i = 0; i < ROUNDS; i++) {
		struct vmaq_snapshot *s;
		const char *l;
		size_t j = 0;

		res->walks++;
		if (vmaq_snapshot_new(sh->p, i % 2 ? 0 : VMAQ_NAME, &s)) {
			res->errors++;
			continue;
		}
		for (l = sh->text; *l; l = strchr(l, '\n') + 1, j++) {
			const struct vmaq_vma *v = vmaq_snapshot_vma(s, j);

			if (!v || v->start != strtoull(l, NULL, 16) || !v->page_size) {
				res->wrong++;
				break;
			}
		}
		if (j != vmaq_snapshot_count(s))
			res->wrong++;
		vmaq_snapshot_free(s);
	}
	return res;
}

/*
 * Iterators of everything, with names or without: on an automatic handle
 * they start with PROCMAP_QUERY, may go on by the text after their 16th
 * VMA, and time themselves into the handle's figures (with the thread's
 * serial number), which iterators in other threads read and write too.
 */
static void *plain_walker(void *arg)
{
	struct shared *sh = arg;
	struct result *res = calloc(1, sizeof(*res));

	pthread_barrier_wait(&sh->go);
	for (int i = 0; i < ROUNDS; i++) {
		unsigned int flags = i % 2 ? 0 : VMAQ_NAME;
		struct vmaq_iter *it;
		const struct vmaq_vma *v;
		const char *l = sh->text;
		int r;

		res->walks++;
		if (vmaq_iter_new(sh->p, flags, &it)) {
			res->errors++;
			continue;
		}
		while ((r = vmaq_iter_next(it, &v)) > 0) {
			/* a named line goes past the name column (74) */
			bool named = *l && strcspn(l, "\n") > 73;

			if (!*l || v->start != strtoull(l, NULL, 16) ||
			    !!v->name != (flags && named)) {
				res->wrong++;
				break;
			}
			l = strchr(l, '\n') + 1;
		}
		if (r < 0)
			res->errors++;
		else if (!r && *l)
			res->wrong++;
		vmaq_iter_free(it);
	}
	return res;
}

/*
 * The handle itself: finds of every 16th VMA's start, in another thread
 * (each text find reads the map from its start: all of them would take
 * minutes on the debug kernels under TCG).
 */
static void *finder(void *arg)
{
	struct shared *sh = arg;
	struct result *res = calloc(1, sizeof(*res));
	const char *l;
	int k, made = 0;

	pthread_barrier_wait(&sh->go);
	for (int i = 0; i < ROUNDS; i++) {
		res->walks++;
		for (l = sh->text, k = 0; *l; l = strchr(l, '\n') + 1) {
			unsigned long long start = strtoull(l, NULL, 16);
			const struct vmaq_vma *v;

			static const unsigned int how[] = {
				0, VMAQ_NAME, VMAQ_NAME | VMAQ_NEXT, VMAQ_NEXT,
			};
			struct vmaq_lookup *lk;
			uint64_t a[3] = { start, start + 1, 0 };

			if (k++ % 16 != i % 16)
				continue;
			/*
			 * Each way a find goes: PROCMAP_QUERY's straight line
			 * (0, VMAQ_NAME) and its general path (VMAQ_NEXT); and
			 * lookups, which share the handle too.
			 */
			if (vmaq_find(sh->p, start, how[made % 4], &v) || v->start != start) {
				res->wrong++;
				break;
			}
			if (made++ % 5 == 0) {
				if (vmaq_lookup(sh->p, a, 3, VMAQ_NAME, &lk)) {
					res->wrong++;
					break;
				}
				if (!vmaq_lookup_vma(lk, 0) || vmaq_lookup_vma(lk, 0)->start != start ||
				    vmaq_lookup_vma(lk, 1) != vmaq_lookup_vma(lk, 0) ||
				    vmaq_lookup_vma(lk, 2))
					res->wrong++;
				vmaq_lookup_free(lk);
			}
		}
	}
	return res;
}

FIXTURE(thr) {
	struct test_child c;
	struct shared sh;
	char *text;
};

FIXTURE_VARIANT(thr) {
	enum vmaq_backend backend;
};

FIXTURE_VARIANT_ADD(thr, text) { .backend = VMAQ_BACKEND_TEXT };
FIXTURE_VARIANT_ADD(thr, query) { .backend = VMAQ_BACKEND_QUERY };
FIXTURE_VARIANT_ADD(thr, batch) { .backend = VMAQ_BACKEND_BATCH };
FIXTURE_VARIANT_ADD(thr, auto) { .backend = VMAQ_BACKEND_AUTO };

FIXTURE_SETUP(thr)
{
	int n = 100, err;
	char *ref;

	self->sh.p = NULL;
	self->text = NULL;
	self->c.pid = 0;
	self->c.release_fd = -1;
	ASSERT_EQ(0, child_start(&self->c, setup_pairs, &n));
	err = open_backend(self->c.pid, variant->backend, &self->sh.p);
	if (err == -EOPNOTSUPP)
		SKIP(return, "%s backend not offered by this kernel",
		     vmaq_backend_name(variant->backend));
	ASSERT_EQ(0, err);
	self->text = maps_text(self->c.pid, NULL);
	ASSERT_NE(NULL, self->text);
	self->sh.text = self->text;
	/* the reference walk, alone, on a handle of its own */
	{
		struct vmaq_proc *p;

		ASSERT_EQ(0, open_backend(self->c.pid, variant->backend, &p));
		ASSERT_EQ(0, walk_once(p, &ref, &self->sh.build_ids));
		vmaq_close(p);
	}
	ASSERT_STREQ(self->text, ref);
	free(ref);
	/* the test program and libc at least carry build IDs */
	ASSERT_GE(self->sh.build_ids, 2u);
}

FIXTURE_TEARDOWN(thr)
{
	vmaq_close(self->sh.p);
	free(self->text);
	if (self->c.pid > 0)
		child_finish(&self->c);
}

static void run_threads(struct __test_metadata *_metadata, struct shared *sh,
			void *(**fn)(void *), int n)
{
	pthread_t t[8];
	int i, walks = 0;

	ASSERT_EQ(0, pthread_barrier_init(&sh->go, NULL, n));
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, fn[i], sh));
	for (i = 0; i < n; i++) {
		struct result *res;

		ASSERT_EQ(0, pthread_join(t[i], (void **)&res));
		ASSERT_NE(NULL, res);
		EXPECT_EQ(0, res->errors);
		EXPECT_EQ(0, res->wrong);
		walks += res->walks;
		free(res);
	}
	EXPECT_EQ(n * ROUNDS, walks);
	pthread_barrier_destroy(&sh->go);
}

TEST_F(thr, two_iterators_of_one_handle_in_two_threads)
{
	void *(*fn[])(void *) = { walker, walker };

	run_threads(_metadata, &self->sh, fn, 2);
}

TEST_F(thr, iterator_snapshot_and_find_of_one_handle_in_three_threads)
{
	void *(*fn[])(void *) = { walker, snapshotter, finder };

	run_threads(_metadata, &self->sh, fn, 3);
}

TEST_F(thr, name_snapshots_finds_and_iterators_of_one_handle_in_three_threads)
{
	void *(*fn[])(void *) = { name_snapshotter, finder, walker };

	run_threads(_metadata, &self->sh, fn, 3);
}

TEST_F(thr, iterators_and_snapshots_of_everything_and_finds_in_four_threads)
{
	void *(*fn[])(void *) = { plain_walker, plain_walker, name_snapshotter, finder };

	run_threads(_metadata, &self->sh, fn, 4);
}

/* The handle is closed while another thread's iterator is mid-walk. */
struct closing {
	struct vmaq_iter *it;
	pthread_barrier_t started;
	size_t n;
	int r;
};

static void *walk_on(void *arg)
{
	struct closing *cl = arg;
	const struct vmaq_vma *v;

	cl->r = vmaq_iter_next(cl->it, &v);
	pthread_barrier_wait(&cl->started);
	cl->n = 1;
	while ((cl->r = vmaq_iter_next(cl->it, &v)) == 1)
		cl->n++;
	return NULL;
}

TEST_F(thr, handle_closed_while_another_thread_walks)
{
	struct closing cl = { 0 };
	pthread_t t;
	size_t lines = 0;
	const char *l;

	for (l = self->text; *l; l++)
		lines += *l == '\n';
	ASSERT_EQ(0, vmaq_iter_new(self->sh.p, VMAQ_NAME | VMAQ_BUILD_ID, &cl.it));
	ASSERT_EQ(0, pthread_barrier_init(&cl.started, NULL, 2));
	ASSERT_EQ(0, pthread_create(&t, NULL, walk_on, &cl));
	pthread_barrier_wait(&cl.started);
	vmaq_close(self->sh.p);
	self->sh.p = NULL;
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(0, cl.r);
	EXPECT_EQ(lines, cl.n);
	vmaq_iter_free(cl.it);
	pthread_barrier_destroy(&cl.started);
}

int main(int argc, char **argv)
{
	return vmaq_test_main(argc, argv);
}
