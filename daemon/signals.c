/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <liburing.h>
#include <unistd.h>

#include "log.h"
#include "signals.h"

void signals_block(sigset_t *ret_mask)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	if (ret_mask)
		*ret_mask = mask;
}

int signals_open(struct signals *sg, const sigset_t *mask)
{
	int fd;

	fd = signalfd(-1, mask, SFD_CLOEXEC);
	if (fd < 0)
		return log_error_errno(-errno, "signalfd: %m");
	sg->fd = fd;
	sg->open = true;
	return 0;
}

static void arm(struct signals *sg)
{
	struct io_uring_sqe *sqe = loop_get_sqe(sg->loop);

	if (!sqe)
		return;
	io_uring_prep_read(sqe, sg->fd, &sg->info, sizeof(sg->info), 0);
	io_uring_sqe_set_data(sqe, &sg->op);
}

static void read_complete(struct loop_op *op, int res)
{
	struct signals *sg = loop_op_owner(op, struct signals, op);
	int signo;

	if (res == (int)sizeof(sg->info))
		signo = (int)sg->info.ssi_signo;
	else
		signo = res < 0 ? res : -EIO;
	if (sg->cb(signo, sg->userdata) == 0)
		arm(sg);
}

void signals_start(struct signals *sg, struct loop *l, signals_fn cb,
		   void *userdata)
{
	sg->op.complete = read_complete;
	sg->loop = l;
	sg->cb = cb;
	sg->userdata = userdata;
	arm(sg);
}

void signals_close(struct signals *sg)
{
	if (!sg->open)
		return;
	close(sg->fd);
	sg->fd = -1;
	sg->open = false;
}
