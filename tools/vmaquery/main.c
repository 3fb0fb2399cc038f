// SPDX-License-Identifier: GPL-2.0
/*
 * vmaquery: query processes' memory maps from the shell. Every answer
 * comes from libvmaquery; this file holds the command dispatch and what
 * the subcommands share (argument parsing, messages, JSON strings).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmaquery.h"

#ifndef VMAQ_TOOL_VERSION
#define VMAQ_TOOL_VERSION "unknown"
#endif

/* "vmaquery: CMD: message" on stderr. */
static void vmessage(const struct tool *t, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void vmessage(const struct tool *t, const char *fmt, va_list ap)
{
	fprintf(stderr, "vmaquery: ");
	if (t && t->cmd)
		fprintf(stderr, "%s: ", t->cmd);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void tool_err(const struct tool *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(t, fmt, ap);
	va_end(ap);
}

int tool_usage(const struct tool *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(t, fmt, ap);
	va_end(ap);
	if (t && t->cmd)
		fprintf(stderr, "Try 'vmaquery %s --help'.\n", t->cmd);
	else
		fprintf(stderr, "Try 'vmaquery --help'.\n");
	return EXIT_USAGE;
}

/*
 * A process id: decimal digits only, 1 to 2^31 - 1. 0 is refused: to the
 * kernel it names no process, and to the library it would mean this one.
 */
bool parse_pid(const char *s, pid_t *pid)
{
	uint64_t v = 0;

	if (!s || !*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > INT32_MAX)
			return false;
	}
	if (!v)
		return false;
	*pid = (pid_t)v;
	return true;
}

/*
 * An address: hexadecimal, with or without one 0x, as perf, addr2line and
 * maps write them; at most 64 bits, nothing before or after. The only
 * parser of addresses, for arguments and standard input alike.
 */
bool parse_addr(const char *s, uint64_t *addr)
{
	uint64_t v = 0;
	int digits = 0;

	if (!s)
		return false;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	if (!*s)
		return false;
	for (; *s; s++) {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			return false;
		/* leading zeros are not digits of the value */
		if (v || d)
			digits++;
		if (digits > 16)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*addr = v;
	return true;
}

int parse_backend(const char *s, enum vmaq_backend *b)
{
	static const enum vmaq_backend all[] = {
		VMAQ_BACKEND_AUTO, VMAQ_BACKEND_BATCH,
		VMAQ_BACKEND_QUERY, VMAQ_BACKEND_TEXT,
	};
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (!strcmp(s, vmaq_backend_name(all[i]))) {
			*b = all[i];
			return 0;
		}
	}
	return -EINVAL;
}

void report_errno(const struct tool *t, pid_t pid, int err)
{
	const char *why;

	switch (err) {
	case ESRCH:
		why = "no such process, or it has no address space (exited, or a kernel thread)";
		break;
	case EACCES:
	case EPERM:
		why = "permission denied (reading another process's map needs ptrace read access)";
		break;
	case EOPNOTSUPP:
		why = "the requested backend is not offered by this kernel";
		break;
	case EBADMSG:
		why = "the kernel's map text could not be parsed";
		break;
	case EAGAIN:
		why = "the map kept changing under every read of it (overlapping records)";
		break;
	default:
		why = strerror(err);
	}
	tool_err(t, "pid %d: %s", (int)pid, why);
}

/* Say why a handle of @pid could not be opened; @err, as it was. */
static int open_said(const struct tool *t, pid_t pid, int err)
{
	if (err == -EINVAL && t->backend == VMAQ_BACKEND_AUTO)
		tool_err(t, "VMAQ_BACKEND must be batch, query, text or auto");
	else if (err == -ENOENT)
		tool_err(t, "pid %d: no procfs mounted at /proc", (int)pid);
	else if (err)
		report_errno(t, pid, -err);
	return err;
}

int tool_open(const struct tool *t, pid_t pid, struct vmaq_proc **p)
{
	VMAQ_OPTS(vmaq_open_opts, opts, .backend = t->backend);

	return open_said(t, pid, vmaq_open(pid, &opts, p));
}

int tool_pidfd(pid_t pid)
{
	/* pidfd_open(2), Linux 5.3: its descriptor is close-on-exec */
	long fd = syscall(434, pid, 0);

	return fd < 0 ? -1 : (int)fd;
}

int tool_open_pidfd(const struct tool *t, pid_t pid, int pidfd, struct vmaq_proc **p)
{
	VMAQ_OPTS(vmaq_open_opts, opts, .backend = t->backend);

	return open_said(t, pid, vmaq_open_pidfd(pidfd, &opts, p));
}

int tool_check_out(const struct tool *t)
{
	static bool told;
	/* a write that failed already left its reason here (ENOSPC) */
	int e = ferror(stdout) ? errno : 0;

	if (!e) {
		errno = 0;
		if (!fflush(stdout) && !ferror(stdout))
			return 0;
		e = errno;
	}
	if (!e)
		e = EIO;
	if (!told)
		tool_err(t, "write error: %s", strerror(e));
	told = true;
	return -e;
}

void put_name(FILE *f, const char *name)
{
	const char *s = name, *nl;

	while ((nl = strchr(s, '\n'))) {
		fwrite(s, 1, (size_t)(nl - s), f);
		fputs("\\012", f);
		s = nl + 1;
	}
	fputs(s, f);
}

void perms_str(const struct vmaq_vma *v, char out[5])
{
	out[0] = v->flags & VMAQ_READ ? 'r' : '-';
	out[1] = v->flags & VMAQ_WRITE ? 'w' : '-';
	out[2] = v->flags & VMAQ_EXEC ? 'x' : '-';
	out[3] = v->flags & VMAQ_SHARED ? 's' : 'p';
	out[4] = '\0';
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		n = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * A JSON string. Paths are bytes, not text. Valid UTF-8 is written as it
 * is; a byte that is not part of valid UTF-8 (always 0x80 or above) is
 * written as the lone surrogate U+DC00 + byte (\udcXX), the mapping of
 * Python's surrogateescape: json.loads() then os.fsencode() gives back
 * the exact bytes, and the string equals what the Python binding returns
 * (os.fsdecode()) for the same name. Every name has one encoding and no
 * two names share one.
 */
void json_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	while (*p) {
		size_t n = utf8_len(p);

		if (*p == '"' || *p == '\\') {
			fprintf(f, "\\%c", *p);
		} else if (*p == '\n') {
			fputs("\\n", f);
		} else if (!n) {
			fprintf(f, "\\udc%02x", *p);
			n = 1;
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\u%04x", *p);
		} else {
			fwrite(p, 1, n, f);
		}
		p += n ? n : 1;
	}
	fputc('"', f);
}

void hex_build_id(FILE *f, const struct vmaq_vma *v)
{
	uint32_t i;

	for (i = 0; i < v->build_id_size; i++)
		fprintf(f, "%02x", v->build_id[i]);
}

void json_build_id(FILE *f, const struct vmaq_vma *v)
{
	if (!v->build_id_size) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	hex_build_id(f, v);
	fputc('"', f);
}

int json_opt(struct tool *t, int c)
{
	switch (c) {
	case 'p':
		t->pretty = true;
		/* fall through */
	case 'j':
		if (t->json == JSON_LINES)
			break;
		t->json = JSON_DOC;
		return 1;
	case OPT_JSON_LINES:
		if (t->json == JSON_DOC)
			break;
		t->json = JSON_LINES;
		return 1;
	default:
		return 0;
	}
	return tool_usage(t, "--json-lines and -j/-p exclude each other");
}

int proc_stat_field(pid_t pid, int n, unsigned long long *val)
{
	char path[32], buf[1024], *p, *end;
	ssize_t len;
	int fd, i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = read(fd, buf, sizeof(buf) - 1);
	i = errno;
	close(fd);
	if (len < 0)
		return -i;
	buf[len] = '\0';
	/* the command name (field 2) may hold spaces and ')': skip past its end */
	p = strrchr(buf, ')');
	if (!p || n < 3)
		return -EBADMSG;
	p++;
	for (i = 3; i <= n; i++) {
		while (*p == ' ')
			p++;
		if (!*p)
			return -EBADMSG;
		if (i == n)
			break;
		p += strcspn(p, " ");
	}
	errno = 0;
	*val = strtoull(p, &end, 10);
	if (errno || end == p)
		return -EBADMSG;
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(struct tool *t, int argc, char **argv);
	const char *help;
} cmds[] = {
	{ "maps", cmd_maps, "print processes' maps (as /proc/PID/maps, or JSON)" },
	{ "find", cmd_find, "resolve addresses to VMA, file offset, path, build ID" },
	{ "pmap", cmd_pmap, "summary of a process's mappings with totals" },
	{ "info", cmd_info, "what this kernel offers and which backend is used" },
	{ "watch", cmd_watch, "follow processes and print their map changes" },
	{ "bench", cmd_bench, "time this kernel's backends against each other" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: vmaquery [--backend=B] [-j | -p | --json-lines] COMMAND [ARGS]\n"
		   "       vmaquery COMMAND --help | --help | --version\n\n"
		   "Commands:\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-6s %s\n", cmds[i].name, cmds[i].help);
	fprintf(f, "\nThe backend (batch, query or text) can also be chosen with VMAQ_BACKEND.\n"
		   "-j prints one JSON document, -p the same indented, --json-lines one\n"
		   "object per line. See vmaquery(1).\n");
}

/* @ret, once what was written has reached stdout's file; else a failure. */
static int out_done(struct tool *t, int ret)
{
	if (tool_check_out(t))
		return EXIT_RUNTIME;
	if (fclose(stdout)) {
		tool_err(t, "write error: %s", strerror(errno));
		return EXIT_RUNTIME;
	}
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		JSON_OPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct tool t = { .cmd = NULL, .backend = VMAQ_BACKEND_AUTO };
	size_t i;
	int c, ret;

	/*
	 * A standard descriptor the caller closed is held by /dev/null, read
	 * only, so that no descriptor the library opens lands on it: output
	 * to a closed stdout then fails, as it must, instead of going into a
	 * maps file the tool opened.
	 */
	for (c = 0; c <= 2; c++) {
		if (fcntl(c, F_GETFD) < 0 && errno == EBADF) {
			int fd = open("/dev/null", O_RDONLY);

			if (fd >= 0 && fd != c) {
				dup2(fd, c);
				close(fd);
			}
		}
	}

	/* getopt's own messages would make an error two lines: ours say it */
	opterr = 0;
	/* Options before the command; '+' stops at the first non-option. */
	while ((c = getopt_long(argc, argv, "+hVjp", opts, NULL)) != -1) {
		ret = json_opt(&t, c);
		if (ret == EXIT_USAGE)
			return ret;
		if (ret)
			continue;
		switch (c) {
		case 'b':
			if (parse_backend(optarg, &t.backend))
				return tool_usage(&t, "unknown backend '%s'", optarg);
			break;
		case 'h':
			usage(stdout);
			return out_done(&t, EXIT_OK);
		case 'V':
			printf("vmaquery %s\n", VMAQ_TOOL_VERSION);
			return out_done(&t, EXIT_OK);
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (!strcmp(argv[optind], cmds[i].name)) {
			t.cmd = cmds[i].name;
			argc -= optind;
			argv += optind;
			optind = 0;
			ret = cmds[i].fn(&t, argc, argv);
			/* what was written must have reached its file */
			return out_done(&t, ret);
		}
	}
	tool_err(NULL, "unknown command '%s'", argv[optind]);
	usage(stderr);
	return EXIT_USAGE;
}
