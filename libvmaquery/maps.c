// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The maps file of a handle, shared by its backends: reads that keep
 * count of whose read position the file holds, whether the address space
 * still exists, and the text's answers for what the ioctls cannot give
 * (a name longer than PATH_MAX, the gate VMA) or the text cannot tell
 * apart (a newline in a path from the four bytes "\012").
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/vmaquery_uapi.h>

#include "backend.h"

ssize_t vmaq_pread(int fd, void *buf, size_t len, off_t off)
{
	ssize_t n;

	do {
		n = pread(fd, buf, len, off);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

/*
 * End of file is also what every read returns once the address space the
 * file was opened on has gone (the task exited, or exec replaced it):
 * each read() pins the mm for its own length only, so a map can end
 * early at any read boundary and still look whole. A live mm always
 * shows at least one line from offset 0.
 */
static int alive_locked(struct vmaq_maps *m)
{
	ssize_t n;
	char c;

	n = vmaq_pread(m->fd, &c, 1, 0);
	/* the file's position is now nobody's */
	m->reader = 0;
	if (n < 0)
		return (int)n;
	return n ? 0 : -ESRCH;
}

int vmaq_maps_alive(struct vmaq_maps *m)
{
	int err;

	pthread_mutex_lock(&m->lock);
	err = alive_locked(m);
	pthread_mutex_unlock(&m->lock);
	return err;
}

void (*vmaq_test_read_all_step)(void *arg);
void *vmaq_test_read_all_arg;

/*
 * A copy is whole only if the address space still existed when its end
 * was read: as text_fill() does, end of file is confirmed by a read of
 * offset 0 under the same lock (a gone mm shows nothing there).
 */
int vmaq_maps_read_all(struct vmaq_maps *m, char **bufp, size_t *lenp)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap), *nb;
	ssize_t n;
	int err = 0;

	if (!buf)
		return -ENOMEM;
	pthread_mutex_lock(&m->lock);
	for (;;) {
		if (cap - len < 4096) {
			nb = realloc(buf, cap * 2);
			if (!nb) {
				err = -ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		n = vmaq_pread(m->fd, buf + len, cap - len - 1, (off_t)len);
		if (n < 0) {
			err = (int)n;
			break;
		}
		if (!n) {
			/* the kernel shows nothing once the address space is gone */
			err = len ? alive_locked(m) : -ESRCH;
			break;
		}
		len += (size_t)n;
		if (vmaq_test_read_all_step)
			vmaq_test_read_all_step(vmaq_test_read_all_arg);
	}
	m->reader = 0;
	pthread_mutex_unlock(&m->lock);
	if (err) {
		free(buf);
		return err;
	}
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	return 0;
}

/* Parse one line of @buf into @rec, name included. */
static int line_into(const char *line, size_t len, struct vmaq_rec *rec)
{
	const char *name;
	size_t name_len;
	int err = vmaq_parse_line(line, len, &rec->vma, &name, &name_len);

	if (err)
		return err;
	rec->vma.name = NULL;
	rec->vma.build_id = NULL;
	rec->vma.build_id_size = 0;
	return name ? vmaq_rec_set_text_name(rec, name, name_len) : 0;
}

int vmaq_maps_last_line(struct vmaq_maps *m, struct vmaq_rec *rec)
{
	size_t len, l;
	char *buf;
	int err;

	err = vmaq_maps_read_all(m, &buf, &len);
	if (err)
		return err;
	err = -EBADMSG;		/* maps always ends lines with '\n' */
	if (buf[len - 1] == '\n') {
		len--;
		for (l = len; l > 0 && buf[l - 1] != '\n'; l--)
			;
		err = line_into(buf + l, len - l, rec);
		if (!err)
			err = 1;
	}
	free(buf);
	return err;
}

static int query_name(int fd, struct vmaq_rec *rec)
{
	struct procmap_query q;
	char *name = malloc(PATH_MAX);
	int err;

	if (!name)
		return -ENOMEM;
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_addr = rec->vma.start;
	q.vma_name_addr = (uintptr_t)name;
	q.vma_name_size = PATH_MAX;
	do {
		err = ioctl(fd, PROCMAP_QUERY, &q) ? -errno : 0;
	} while (err == -EINTR);
	if (!err && q.vma_name_size)
		kernel_wrote(name, q.vma_name_size);
	/* the same VMA, or the map changed: the text's reading stands */
	if (!err && (q.vma_start != rec->vma.start || q.vma_end != rec->vma.end ||
		     q.inode != rec->vma.inode || q.vma_name_size < 2))
		err = -ESTALE;
	if (!err)
		err = vmaq_rec_set_name(rec, name, q.vma_name_size - 1);
	free(name);
	return err;
}

int vmaq_maps_page_size(struct vmaq_maps *m, const struct vmaq_vma *v,
			uint64_t *page_size)
{
	struct procmap_query q;
	int err;

	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_addr = v->start;
	do {
		err = ioctl(m->fd, PROCMAP_QUERY, &q) ? -errno : 0;
	} while (err == -EINTR);
	if (err)
		return err == -ENOENT ? -ESTALE : err;
	/* a VMA of the same file still covers the start (it may have grown) */
	if (q.inode != v->inode || q.dev_major != v->dev_major ||
	    q.dev_minor != v->dev_minor)
		return -ESTALE;
	*page_size = q.vma_page_size;
	return 0;
}

static int map_files_name(pid_t pid, struct vmaq_rec *rec)
{
	char path[80], *name;
	ssize_t n;
	int err;

	if (pid <= 0)
		return -ENOENT;
	name = malloc(PATH_MAX);
	if (!name)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", (int)pid,
		 (unsigned long long)rec->vma.start,
		 (unsigned long long)rec->vma.end);
	n = readlink(path, name, PATH_MAX);
	err = n < 0 ? -errno : n >= PATH_MAX ? -ENAMETOOLONG : 0;
	if (!err)
		err = vmaq_rec_set_name(rec, name, (size_t)n);
	free(name);
	return err;
}

int vmaq_maps_raw_name(struct vmaq_maps *m, struct vmaq_rec *rec)
{
	int err = query_name(m->fd, rec);

	/* before 6.11; map_files needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE */
	if (err == -ENOTTY)
		err = map_files_name(m->files_pid, rec);
	return err;
}

void vmaq_file_memo_fini(struct vmaq_file_memo *d)
{
	free(d->name);
	d->name = NULL;
}

bool vmaq_file_memo_has(const struct vmaq_file_memo *d, const struct vmaq_vma *v)
{
	return d->name && v->name && d->len == v->name_len && d->inode == v->inode &&
	       d->dev_major == v->dev_major && d->dev_minor == v->dev_minor &&
	       !memcmp(d->name, v->name, v->name_len);
}

int vmaq_file_memo_keep(struct vmaq_file_memo *d, const struct vmaq_vma *v,
			int answer)
{
	char *n = realloc(d->name, v->name_len + 1);

	/* without room, the next VMA of the file asks again */
	if (n) {
		memcpy(n, v->name, v->name_len + 1);
		d->name = n;
		d->len = v->name_len;
		d->inode = v->inode;
		d->dev_major = v->dev_major;
		d->dev_minor = v->dev_minor;
		d->answer = answer;
	}
	return answer;
}

/*
 * Is @name (under @dirfd) the file of @v: its inode, on its device or,
 * on btrfs, where stat(2) gives a subvolume's device, on its device's
 * mount? 1, 0, or -errno of the lookup. The mapped file is a regular
 * file, never a symlink, and the name is the target's to choose: no
 * automount, and what decides comes from one lookup: when the stat
 * device differs, inode and mount are read again from one descriptor,
 * not from a second walk of a name the target may swap meanwhile.
 */
static int name_is_vma_file(int dirfd, const char *name,
			    const struct vmaq_vma *v)
{
	struct stat st;
	bool same;
	int fd;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT))
		return -errno;
	if ((uint64_t)st.st_ino != v->inode)
		return 0;
	if (major(st.st_dev) == v->dev_major && minor(st.st_dev) == v->dev_minor)
		return 1;
	/* O_PATH opens no file; with O_NOFOLLOW it mounts nothing either */
	fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	same = !fstat(fd, &st) && (uint64_t)st.st_ino == v->inode &&
	       vmaq_on_vma_dev(fd, "", AT_EMPTY_PATH, st.st_dev, 0, v);
	close(fd);
	return same;
}

int vmaq_maps_deleted_check(struct vmaq_maps *m, struct vmaq_file_memo *d,
			    const struct vmaq_vma *v)
{
	int answer;

	(void)m;
	if (!vmaq_deleted_name(v))
		return 0;
	/*
	 * The kernel adds the suffix to an unlinked file's path; a file may
	 * also be named so. The kernel writes the path as the reader sees
	 * it (relative to the reader's root, as d_path() does), so the one
	 * that exists under that very name for us, with the VMA's device and
	 * inode, is not deleted.
	 */
	if (v->name[0] != '/' || v->name_len >= PATH_MAX)
		return -1;
	/* the VMAs of one file follow each other: one stat() for them all */
	if (d && vmaq_file_memo_has(d, v))
		return d->answer;
	/* (A FUSE mount the caller may enter can still make this wait: vmaquery(7).) */
	answer = name_is_vma_file(AT_FDCWD, v->name, v);
	if (answer >= 0)
		answer = !answer;
	else
		answer = answer == -ENOENT || answer == -ENOTDIR ? 1 : -1;
	return d ? vmaq_file_memo_keep(d, v, answer) : answer;
}

/*
 * The text's line for the VMA at @start, from a copy of the whole text
 * read once per walk (@t): a walk meeting many names too long for the
 * ioctls reads the file once, not once per name. The walk asks in
 * ascending order, so the search goes on from where it stopped.
 */
int vmaq_maps_line_cached(struct vmaq_maps *m, struct vmaq_text_copy *t,
			  uint64_t start, struct vmaq_rec *rec)
{
	struct vmaq_vma v;
	const char *name;
	size_t name_len;
	char *p, *nl;
	int err, pass;

	if (!t->buf) {
		err = vmaq_maps_read_all(m, &t->buf, &t->len);
		if (err)
			return err;
		t->pos = 0;
	}
	for (pass = 0; pass < 2; pass++) {
		for (p = t->buf + t->pos;
		     (nl = memchr(p, '\n', (size_t)(t->buf + t->len - p)));
		     p = nl + 1) {
			if (vmaq_parse_line(p, (size_t)(nl - p), &v, &name, &name_len))
				continue;
			if (v.start > start)
				break;
			if (v.start == start) {
				t->pos = (size_t)(p - t->buf);
				return line_into(p, (size_t)(nl - p), rec);
			}
		}
		/* not ahead of the last answer: from the top, once */
		if (!t->pos)
			break;
		t->pos = 0;
	}
	return -ENOENT;
}

/* The text's line and the ioctl's record describe the same VMA. */
static bool same_vma(const struct vmaq_vma *a, const struct vmaq_vma *b)
{
	const uint32_t perms = VMAQ_READ | VMAQ_WRITE | VMAQ_EXEC | VMAQ_SHARED;

	return a->start == b->start && a->end == b->end && a->offset == b->offset &&
	       a->inode == b->inode && a->dev_major == b->dev_major &&
	       a->dev_minor == b->dev_minor && (a->flags & perms) == (b->flags & perms);
}

/*
 * Readings of a name's "\012"s tried per path component (2^this stats at
 * most for one), and components walked at most: past either, the text's
 * reading stands.
 */
#define NL_READINGS_MAX 8
#define NL_COMPONENTS_MAX 4096
/* Lookups (openat, fstatat) a name may cost at most. */
#define NL_LOOKUPS_MAX 4096

/*
 * Component [@p, @cend) with the newlines that @mask's bits say were
 * "\012" so, into @comp: its length, or 0 if that is past NAME_MAX.
 */
static size_t nl_component(const char *p, const char *cend, unsigned int mask,
			   char comp[NAME_MAX + 1])
{
	unsigned int bit = 0;
	size_t len = 0;

	for (; p < cend; p++) {
		size_t n = *p == '\n' && (mask & 1u << bit++) ? 4 : 1;

		if (len + n > NAME_MAX)
			return 0;
		memcpy(comp + len, n == 4 ? "\\012" : p, n);
		len += n;
	}
	comp[len] = '\0';
	return len;
}

/*
 * The reading of @v's name, [@p, @end) after its first '/', that is the
 * VMA's file, into @out (from its second byte): its length, or -ENOENT.
 * One component at a time from the root (each is below NAME_MAX where
 * the path is not below PATH_MAX), a component's newlines read every
 * way until one names a directory (the last component: the file, by
 * device and inode). No going back: two directories whose names differ
 * only so are not told apart. One directory open at a time (and the
 * last component, where its stat device is not the VMA's), opened
 * O_PATH (no automount on the way), and NL_LOOKUPS_MAX lookups at most.
 * A full descriptor table is an error, not a name left as it was.
 */
static ssize_t nl_reading(const char *p, const char *end,
			  const struct vmaq_vma *v, char *out)
{
	char comp[NAME_MAX + 1];
	size_t olen = 1, ncomp = 0, lookups = 0;
	int dirfd = open("/", O_PATH | O_CLOEXEC), err = -ENOENT;

	if (dirfd < 0 && (errno == EMFILE || errno == ENFILE))
		return -errno;
	while (dirfd >= 0) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		const char *cend = slash ? slash : end, *c;
		unsigned int nl = 0, mask;
		size_t len = 0;
		int fd = -1;

		for (c = p; c < cend; c++)
			nl += *c == '\n';
		if (nl > NL_READINGS_MAX || cend == p || ++ncomp > NL_COMPONENTS_MAX)
			break;
		for (mask = 0; mask < 1u << nl && lookups < NL_LOOKUPS_MAX; mask++) {
			len = nl_component(p, cend, mask, comp);
			if (!len)
				continue;
			lookups++;
			if (slash) {
				fd = openat(dirfd, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
				if (fd >= 0)
					break;
				if (errno == EMFILE || errno == ENFILE) {
					err = -errno;
					break;
				}
			} else {
				int is = name_is_vma_file(dirfd, comp, v);

				if (is > 0) {
					close(dirfd);
					memcpy(out + olen, comp, len);
					return (ssize_t)(olen + len);
				}
				if (is == -EMFILE || is == -ENFILE) {
					err = is;
					break;
				}
			}
		}
		close(dirfd);
		dirfd = fd;
		if (fd < 0)
			break;
		memcpy(out + olen, comp, len);
		olen += len;
		out[olen++] = '/';
		p = slash + 1;
	}
	if (dirfd >= 0)
		close(dirfd);
	return err;
}

/*
 * A name too long for the kernel to give whose text had "\012": each was
 * a newline or those four bytes, and only the file system can say which
 * (the path as the reader sees it, as for " (deleted)"). @rec's name is
 * the reading that is the VMA's file, or stays the text's (all
 * newlines) if none is: an unlinked file, or too many of them.
 */
static int long_name_readings(struct vmaq_rec *rec)
{
	const struct vmaq_vma *v = &rec->vma;
	size_t nl = 0, i;
	ssize_t len;
	char *out;
	int err = 0;

	if (v->name[0] != '/')
		return 0;
	for (i = 0; i < v->name_len; i++)
		nl += v->name[i] == '\n';
	out = malloc(v->name_len + 3 * nl + 1);
	if (!out)
		return -ENOMEM;
	out[0] = '/';
	len = nl_reading(v->name + 1, v->name + v->name_len, v, out);
	if (len >= 0)
		err = vmaq_rec_set_name(rec, out, (size_t)len);
	else if (len != -ENOENT)
		err = (int)len;
	free(out);
	return err;
}

int vmaq_maps_text_newlines(struct vmaq_maps *m, struct vmaq_rec *rec)
{
	if (!vmaq_maps_raw_name(m, rec))
		return 0;
	return long_name_readings(rec);
}

int vmaq_maps_long_name(struct vmaq_maps *m, struct vmaq_text_copy *t,
			struct vmaq_rec *rec)
{
	struct vmaq_rec line;
	int err, tries = 0;

	vmaq_rec_init(&line);
	/*
	 * The copy is older than the record: the range may have been mapped
	 * again since, by another file. Only a line of the same file, offset
	 * and protection gives its name; otherwise a new copy, once.
	 */
	for (;;) {
		err = vmaq_maps_line_cached(m, t, rec->vma.start, &line);
		if (err && err != -ENOENT)
			break;
		if (!err && same_vma(&line.vma, &rec->vma))
			break;
		if (tries++) {
			err = -EAGAIN;	/* the map changed in between */
			break;
		}
		vmaq_text_copy_fini(t);
	}
	if (!err && line.vma.name)
		err = vmaq_rec_set_name(rec, line.vma.name, line.vma.name_len);
	else if (!err)
		rec->vma.name = NULL;
	vmaq_rec_fini(&line);
	/*
	 * A newline here was "\012" in the text: which one, the kernel says
	 * if the name is short enough for it, else the file system.
	 */
	if (!err && rec->vma.name && (rec->vma.flags & VMAQ_FILE) &&
	    memchr(rec->vma.name, '\n', rec->vma.name_len))
		err = vmaq_maps_text_newlines(m, rec);
	return err;
}

void vmaq_text_copy_fini(struct vmaq_text_copy *t)
{
	free(t->buf);
	t->buf = NULL;
}
