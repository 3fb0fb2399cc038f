// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Process events: Linux's process-events connector (CONFIG_PROC_EVENTS)
 * read for exec and exit, for callers that keep maps of many processes.
 *
 * An object the caller asks for, never something a cache starts on its
 * own: a listener makes the kernel build an event for every fork, exec
 * and exit of the host while there is one, so it is had only when used.
 *
 * Subscribing. Since Linux 6.6 a subscription may name the events it
 * wants (struct proc_input), and the kernel drops the others before
 * they are queued: here exec and exit only. Older kernels take the
 * four-byte operation alone (an eight-byte one they ignore without a
 * word) and send everything, which is filtered here. The kernel counts
 * listeners and builds events while the count is above zero; before
 * 6.6 it counts LISTENs and IGNOREs, not sockets, and no kernel counts
 * a socket closed without IGNORE out: vmaq_events_free() always sends
 * IGNORE (from the process that subscribed: a forked child's copy of
 * the object must not unsubscribe its parent).
 *
 * Whether the kernel took the subscription is told by its ack, which it
 * sends before the sendto() that asked returns (the connector runs the
 * request in the sender's context): none means that the caller is not
 * in the initial user and pid namespaces (the kernel then ignores the
 * request), and an ack with an error is the kernel's no (EPERM: before
 * Linux 6.6, CAP_NET_ADMIN was needed). An ack is an event of kind
 * "none", which a socket subscribed to exec and exit alone never gets:
 * so the first request subscribes to everything (the four-byte form,
 * which every kernel takes) and waits for its ack, and the second, on
 * kernels that filter, narrows the same subscription to exec and exit
 * (the kernel counts one listener for the socket, not two). IGNORE
 * goes in the four-byte form, which every kernel takes.
 *
 * Losses. A socket whose queue is full makes the kernel drop events and
 * the next read fail with ENOBUFS: that is a VMAQ_EVENT_LOST event,
 * after which anything may have happened to any process (a cache then
 * checks every entry: vmaq_cache_feed()).
 *
 * No libmnl: one socket, one request, one receive loop.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>

#include "internal.h"

/* include/uapi/linux/cn_proc.h of Linux 6.6, newer than some headers */
struct vmaq_proc_input {
	uint32_t mcast_op;	/* enum proc_cn_mcast_op */
	uint32_t event_type;	/* enum proc_cn_event: what to send */
};

#define CN_EXEC 0x00000002u	/* PROC_EVENT_EXEC */
#define CN_EXIT 0x80000000u	/* PROC_EVENT_EXIT */

/* Events read from the socket but not yet given out (the subscription's). */
#define EVENTS_PENDING 64
#define EVENTS_RCVBUF (4 << 20)
#define EVENTS_BUF 8192

struct vmaq_events {
	int fd;
	pid_t owner;		/* who subscribed: only it unsubscribes */
	uint32_t seq, cookie;
	bool filtered;		/* asked to send exec and exit alone */
	size_t npending, pos;
	struct vmaq_event pending[EVENTS_PENDING];
	bool pending_lost;
	char buf[EVENTS_BUF] __attribute__((aligned(8)));
};

/* Linux 6.6 or later: a subscription may name the events it wants. */
static bool kernel_filters_events(void)
{
	struct utsname u;
	unsigned int major = 0, minor = 0;

	if (uname(&u) || sscanf(u.release, "%u.%u", &major, &minor) != 2)
		return false;
	return major > 6 || (major == 6 && minor >= 6);
}

static int send_op(struct vmaq_events *ev, uint32_t op, bool filtered)
{
	char req[NLMSG_SPACE(sizeof(struct cn_msg) + sizeof(struct vmaq_proc_input))]
		__attribute__((aligned(8)));
	struct sockaddr_nl to = { .nl_family = AF_NETLINK };
	size_t len = filtered ? sizeof(struct vmaq_proc_input) : sizeof(uint32_t);
	struct vmaq_proc_input in = { .mcast_op = op, .event_type = CN_EXEC | CN_EXIT };
	struct nlmsghdr *nl = (struct nlmsghdr *)req;
	struct cn_msg *cn = NLMSG_DATA(nl);
	ssize_t n;

	memset(req, 0, sizeof(req));
	nl->nlmsg_len = (uint32_t)NLMSG_LENGTH(sizeof(*cn) + len);
	nl->nlmsg_type = NLMSG_DONE;
	cn->id.idx = CN_IDX_PROC;
	cn->id.val = CN_VAL_PROC;
	/*
	 * The kernel's ack carries our ack field plus one (its seq is the
	 * kernel's own count): a number no other listener's request has,
	 * but by chance.
	 */
	cn->seq = ++ev->seq;
	cn->ack = ev->cookie + ev->seq;
	cn->len = (uint16_t)len;
	memcpy(cn->data, &in, len);
	do {
		n = sendto(ev->fd, req, nl->nlmsg_len, 0,
			   (struct sockaddr *)&to, sizeof(to));
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

/*
 * One connector message: an event for the caller (1, in *out), the ack
 * of our request (2, its error in *ack_err), or nothing of ours (0).
 */
static int parse_msg(struct vmaq_events *ev, const struct nlmsghdr *nlh,
		     struct vmaq_event *out, int *ack_err)
{
	const struct cn_msg *cn = NLMSG_DATA(nlh);
	struct proc_event pe;

	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*cn) + offsetof(struct proc_event,
								event_data)) ||
	    cn->id.idx != CN_IDX_PROC || cn->id.val != CN_VAL_PROC)
		return 0;
	/* the event follows a 20-byte header: copied to be aligned */
	memset(&pe, 0, sizeof(pe));
	memcpy(&pe, cn->data, cn->len < sizeof(pe) ? cn->len : sizeof(pe));
	switch (pe.what) {
	case PROC_EVENT_NONE:
		/* an ack: of ours, or of another listener's request */
		if (cn->ack != ev->cookie + ev->seq + 1)
			return 0;
		*ack_err = (int)pe.event_data.ack.err;
		return 2;
	case PROC_EVENT_EXEC:
		out->kind = VMAQ_EVENT_EXEC;
		out->pid = pe.event_data.exec.process_tgid;
		return 1;
	case PROC_EVENT_EXIT:
		/* a thread's exit is not its process's */
		if (pe.event_data.exit.process_pid != pe.event_data.exit.process_tgid)
			return 0;
		out->kind = VMAQ_EVENT_EXIT;
		out->pid = pe.event_data.exit.process_tgid;
		return 1;
	default:
		return 0;	/* unfiltered kernels send every kind */
	}
}

/*
 * Read what is queued, without waiting: events into @out (up to @max;
 * the rest stays queued in the socket... or, for the last message, in
 * the pending list), the ack into *ack_err. Returns the number of
 * events, or -errno.
 */
static int drain(struct vmaq_events *ev, struct vmaq_event *out, size_t max,
		 int *ack_err, bool *acked)
{
	size_t got = 0;

	while (got < max) {
		struct nlmsghdr *nlh;
		size_t off;
		ssize_t n;

		n = recv(ev->fd, ev->buf, sizeof(ev->buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				/* the kernel dropped some: say so, then go on */
				out[got].kind = VMAQ_EVENT_LOST;
				out[got].pid = 0;
				got++;
				continue;
			}
			if (errno == EAGAIN)
				break;
			return got ? (int)got : -errno;
		}
		/* the messages of one datagram, each NLMSG_ALIGN()ed */
		for (off = 0; off + sizeof(*nlh) <= (size_t)n; off += NLMSG_ALIGN(nlh->nlmsg_len)) {
			struct vmaq_event e;
			int err = 0, r;

			nlh = (struct nlmsghdr *)(ev->buf + off);
			if (nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > (size_t)n - off)
				break;
			r = parse_msg(ev, nlh, &e, &err);

			if (r == 2 && acked) {
				*acked = true;
				*ack_err = err;
			} else if (r == 1 && got < max) {
				out[got++] = e;
			} else if (r == 1 && ev->npending < EVENTS_PENDING) {
				/* one message holds one event: rarely here */
				ev->pending[ev->npending++] = e;
			} else if (r == 1) {
				ev->pending_lost = true;
			}
		}
	}
	return (int)got;
}

int vmaq_events_new(const struct vmaq_events_opts *opts, struct vmaq_events **evp)
{
	struct sockaddr_nl addr = { .nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC };
	int err = VMAQ_OPTS_VALID(opts, vmaq_events_opts), rcvbuf = EVENTS_RCVBUF;
	struct vmaq_event first[EVENTS_PENDING];
	struct vmaq_events *ev;
	struct timespec ts;
	bool acked = false;
	int ack_err = 0, n;

	if (err)
		return vmaq_err(err);
	if (!evp || VMAQ_OPTS_GET(opts, vmaq_events_opts, flags, 0) ||
	    VMAQ_OPTS_GET(opts, vmaq_events_opts, reserved, 0))
		return vmaq_err(-EINVAL);
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return vmaq_err(-ENOMEM);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ev->cookie = (uint32_t)ts.tv_nsec ^ ((uint32_t)getpid() * 2654435761u);
	ev->fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			NETLINK_CONNECTOR);
	if (ev->fd < 0) {
		/* no connector (CONFIG_CONNECTOR, CONFIG_PROC_EVENTS) */
		err = errno == EPROTONOSUPPORT || errno == EAFNOSUPPORT ?
		      -EOPNOTSUPP : -errno;
		free(ev);
		return vmaq_err(err);
	}
	/* room for bursts: without privilege the kernel caps it at rmem_max */
	setsockopt(ev->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(ev->fd, (struct sockaddr *)&addr, sizeof(addr))) {
		err = -errno;
		goto fail;
	}
	err = send_op(ev, PROC_CN_MCAST_LISTEN, false);
	if (err)
		goto fail;
	ev->owner = getpid();
	/* the ack is queued already (see the top of this file) */
	n = drain(ev, first, EVENTS_PENDING, &ack_err, &acked);
	if (n < 0) {
		err = n;
		goto unsubscribe;
	}
	/* what did not fit went to the pending list: call it lost */
	if (ev->npending) {
		ev->npending = 0;
		ev->pending_lost = true;
	}
	memcpy(ev->pending, first, (size_t)n * sizeof(*first));
	ev->npending = (size_t)n;
	if (!acked || ack_err) {
		/* not in the initial namespaces, or the kernel said no */
		err = !acked ? -EOPNOTSUPP : -ack_err;
		goto unsubscribe;
	}
	/* exec and exit alone, where the kernel can tell them apart */
	ev->filtered = kernel_filters_events();
	if (ev->filtered) {
		err = send_op(ev, PROC_CN_MCAST_LISTEN, true);
		if (err)
			goto unsubscribe;
	}
	*evp = ev;
	return 0;
unsubscribe:
	/* an IGNORE the kernel did not count is harmless; a LISTEN is not */
	send_op(ev, PROC_CN_MCAST_IGNORE, false);
fail:
	close(ev->fd);
	free(ev);
	return vmaq_err(err);
}

int vmaq_events_fd(const struct vmaq_events *ev)
{
	return ev ? ev->fd : vmaq_err(-EINVAL);
}

int vmaq_events_read(struct vmaq_events *ev, struct vmaq_event *out, size_t max)
{
	size_t got = 0;
	int n;

	if (!ev || (!out && max))
		return vmaq_err(-EINVAL);
	if (max > INT32_MAX)
		max = INT32_MAX;
	if (ev->pending_lost && got < max) {
		out[got].kind = VMAQ_EVENT_LOST;
		out[got++].pid = 0;
		ev->pending_lost = false;
	}
	while (ev->pos < ev->npending && got < max)
		out[got++] = ev->pending[ev->pos++];
	if (ev->pos == ev->npending)
		ev->pos = ev->npending = 0;
	if (got == max)
		return (int)got;
	n = drain(ev, out + got, max - got, NULL, NULL);
	if (n < 0)
		return got ? (int)got : vmaq_err(n);
	return (int)(got + (size_t)n);
}

void vmaq_events_free(struct vmaq_events *ev)
{
	if (!ev)
		return;
	if (ev->owner == getpid())
		send_op(ev, PROC_CN_MCAST_IGNORE, false);
	close(ev->fd);
	free(ev);
}
