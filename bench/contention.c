// SPDX-License-Identifier: GPL-2.0
/*
 * contention: how much a low-priority reader of /proc/PID/maps delays the
 * process it reads.
 *
 * A mapper, pinned to CPU 0, mmaps and munmaps single pages of a large
 * anonymous region as fast as it can and times every call. On CPU 1, a
 * monitor at nice 19 reads the mapper's map in a loop (as text, with
 * PROCMAP_QUERY, or with PROCMAP_QUERY_BATCH where the kernel has it), and BUSY tasks compete with it for that CPU: SCHED_FIFO
 * tasks that spin for 20 ms and sleep for 5 ms, so the monitor is
 * preempted often, and for long, wherever it happens to be.
 *
 * The "control" monitor is the same nice-19 loop reading its own map as
 * text: the CPU load and kernel work of a text monitor, and no lock shared
 * with the mapper. Under emulation a busy second vCPU alone lengthens the
 * mapper's worst case (the host has as many cores as the guest has
 * vCPUs); the control measures that part, so that what remains above it
 * is what reading the mapper's map costs the mapper.
 *
 * Each (monitor, busy) scenario runs SAMPLES times for SECONDS each. The
 * samples of one busy count are interleaved (sample 0 of every monitor,
 * then sample 1, ...), so that drift in the host's load falls on every
 * monitor alike. Every sample prints one line:
 *
 *   RESULT monitor=text busy=1 sample=0 calls=N median_us=.. p99_us=..
 *          max_us=.. reads=..
 *
 * Usage: contention [-s SECONDS] [-n SAMPLES] [-b BUSY,...] [-m MONITORS]
 *   MONITORS: a comma list of none, control, text, query, batch (default
 *   all but batch).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/vmaquery_uapi.h>

#define REGION_PAGES 2048
#define MAX_CALLS (4 << 20)

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		perror("sched_setaffinity");
		exit(1);
	}
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return x < y ? -1 : x > y;
}

/* SCHED_FIFO bursts: 20 ms spinning, 5 ms asleep, until killed. */
static void busy_task(void)
{
	struct sched_param sp = { .sched_priority = 1 };

	pin(1);
	if (sched_setscheduler(0, SCHED_FIFO, &sp))
		perror("SCHED_FIFO");
	for (;;) {
		double end = now_us() + 20000;

		while (now_us() < end)
			;
		usleep(5000);
	}
}

/* nice 19 on CPU 1, reading the mapper's map in a loop. */
static void monitor(pid_t target, const char *kind, volatile unsigned long *reads)
{
	char path[64], *buf = malloc(1 << 16), name[256];
	int fd;

	pin(1);
	setpriority(PRIO_PROCESS, 0, 19);
	if (!strcmp(kind, "control"))
		target = getpid();
	snprintf(path, sizeof(path), "/proc/%d/maps", target);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		exit(1);
	for (;;) {
		if (!strcmp(kind, "batch")) {
			struct procmap_vma_record *recs = (void *)buf;
			struct procmap_batch b;
			unsigned long long a = 0;

			/* range mode with names, 256 records a call */
			do {
				memset(&b, 0, sizeof(b));
				b.size = sizeof(b);
				b.flags = PROCMAP_BATCH_RANGE | PROCMAP_BATCH_NAMES;
				b.start = a;
				b.end = ~0ULL;
				b.rec_size = sizeof(*recs);
				b.rec_count = 256;
				b.recs_addr = (unsigned long)recs;
				b.strs_size = (1 << 16) - 256 * sizeof(*recs);
				b.strs_addr = (unsigned long)(buf + 256 * sizeof(*recs));
				if (ioctl(fd, PROCMAP_QUERY_BATCH, &b))
					exit(1);
				a = b.start;
			} while (a != ~0ULL);
		} else if (strcmp(kind, "query")) {
			lseek(fd, 0, SEEK_SET);
			while (read(fd, buf, 1 << 16) > 0)
				;
		} else {
			struct procmap_query q;
			unsigned long long a = 0;

			for (;;) {
				memset(&q, 0, sizeof(q));
				q.size = sizeof(q);
				q.query_flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA;
				q.query_addr = a;
				q.vma_name_addr = (unsigned long)name;
				q.vma_name_size = sizeof(name);
				if (ioctl(fd, PROCMAP_QUERY, &q))
					break;
				a = q.vma_end;
			}
		}
		(*reads)++;
	}
}

struct sample {
	unsigned long calls;
	float median, p99, max;
};

/* The mapper: time every mmap/munmap for @secs seconds. */
static void mapper(double secs, int go, int out)
{
	long pg = sysconf(_SC_PAGESIZE);
	float *t = malloc(MAX_CALLS * sizeof(*t));
	char *region = mmap(NULL, REGION_PAGES * pg, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned int seed = 42;
	struct sample s = { 0 };
	double end;
	char c;

	pin(0);
	if (!t || region == MAP_FAILED)
		exit(1);
	if (read(go, &c, 1) != 1)
		exit(1);
	end = now_us() + secs * 1e6;
	while (s.calls + 2 <= MAX_CALLS) {
		char *p = region + (rand_r(&seed) % REGION_PAGES) * pg;
		double t0 = now_us(), t1, t2;

		if (munmap(p, pg))
			exit(1);
		t1 = now_us();
		if (mmap(p, pg, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != p)
			exit(1);
		t2 = now_us();
		t[s.calls++] = (float)(t1 - t0);
		t[s.calls++] = (float)(t2 - t1);
		if (t2 >= end)
			break;
	}
	qsort(t, s.calls, sizeof(*t), cmp_float);
	s.median = t[s.calls / 2];
	s.p99 = t[s.calls * 99 / 100];
	s.max = t[s.calls - 1];
	if (write(out, &s, sizeof(s)) != sizeof(s))
		exit(1);
	exit(0);
}

static void run(const char *kind, int busy, int sample, double secs)
{
	volatile unsigned long *reads = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
					     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pm, mon = 0, bt[64];
	int go[2], res[2], st;
	struct sample s;

	if (pipe(go) || pipe(res))
		exit(1);
	pm = fork();
	if (pm == 0) {
		close(go[1]);
		close(res[0]);
		mapper(secs, go[0], res[1]);
	}
	close(go[0]);
	close(res[1]);
	*reads = 0;
	if (strcmp(kind, "none")) {
		mon = fork();
		if (mon == 0)
			monitor(pm, kind, reads);
	}
	for (int i = 0; i < busy && i < 64; i++) {
		bt[i] = fork();
		if (bt[i] == 0)
			busy_task();
	}
	usleep(200000);		/* let everyone settle on its CPU */
	if (write(go[1], "g", 1) != 1)
		exit(1);
	if (read(res[0], &s, sizeof(s)) != sizeof(s)) {
		fprintf(stderr, "mapper failed\n");
		exit(1);
	}
	waitpid(pm, &st, 0);
	if (mon) {
		kill(mon, SIGKILL);
		waitpid(mon, &st, 0);
	}
	for (int i = 0; i < busy && i < 64; i++) {
		kill(bt[i], SIGKILL);
		waitpid(bt[i], &st, 0);
	}
	printf("RESULT monitor=%s busy=%d sample=%d calls=%lu median_us=%.1f p99_us=%.1f max_us=%.1f reads=%lu\n",
	       kind, busy, sample, s.calls, s.median, s.p99, s.max, *reads);
	fflush(stdout);
	close(go[1]);
	close(res[0]);
	munmap((void *)reads, 4096);
}

int main(int argc, char **argv)
{
	char monitors[64] = "none,control,text,query", busy_list[64] = "0,1,10";
	double secs = 2;
	int samples = 5, opt;

	while ((opt = getopt(argc, argv, "s:n:b:m:")) != -1) {
		switch (opt) {
		case 's': secs = atof(optarg); break;
		case 'n': samples = atoi(optarg); break;
		case 'b': snprintf(busy_list, sizeof(busy_list), "%s", optarg); break;
		case 'm': snprintf(monitors, sizeof(monitors), "%s", optarg); break;
		default:
			fprintf(stderr, "usage: %s [-s SECONDS] [-n SAMPLES] [-b BUSY,...] [-m none,control,text,query,batch]\n",
				argv[0]);
			return 2;
		}
	}
	{
		char mlist[64], *save = NULL;

		snprintf(mlist, sizeof(mlist), "%s", monitors);
		for (char *m = strtok_r(mlist, ",", &save); m; m = strtok_r(NULL, ",", &save))
			if (strcmp(m, "none") && strcmp(m, "control") && strcmp(m, "text") &&
			    strcmp(m, "query") && strcmp(m, "batch")) {
				fprintf(stderr, "contention: unknown monitor '%s'\n", m);
				return 2;
			}
	}
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		fprintf(stderr, "contention: needs 2 CPUs\n");
		return 1;
	}
	for (char *b = strtok(busy_list, ","); b; b = strtok(NULL, ",")) {
		char mlist[64], *save = NULL;

		for (int i = 0; i < samples; i++) {
			snprintf(mlist, sizeof(mlist), "%s", monitors);
			for (char *m = strtok_r(mlist, ",", &save); m;
			     m = strtok_r(NULL, ",", &save))
				run(m, atoi(b), i, secs);
		}
	}
	return 0;
}
