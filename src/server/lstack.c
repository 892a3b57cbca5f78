#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/lstack.h"

int
lstack_open(const struct layer_stack_conf *c, struct lstack **out)
{
	struct lstack *s = calloc(1, sizeof(*s));
	struct stat st;
	const char *top = c->client ? c->client : c->versions[0];
	int r;

	*out = NULL;
	if (!s) {
		return -ENOMEM;
	}
	s->statfd = -1;
	r = layer_stack_open(c, &s->st, &s->rep);
	if (r < 0) {
		free(s);
		return r;
	}
	s->statfd = openat(c->atfd, top, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s->statfd < 0 || fstat(s->statfd, &st) < 0) {
		r = -errno;
		if (s->statfd >= 0) {
			close(s->statfd);
		}
		layer_stack_close(s->st);
		free(s);
		return r;
	}
	s->top_dev = st.st_dev;
	s->top_ino = st.st_ino;
	layer_stack_verifier(s->st, s->verf);
	atomic_init(&s->refs, 1);
	*out = s;
	return 0;
}

struct lstack *
lstack_ref(struct lstack *s)
{
	if (s) {
		atomic_fetch_add(&s->refs, 1);
	}
	return s;
}

void
lstack_unref(struct lstack *s)
{
	if (!s || atomic_fetch_sub(&s->refs, 1) > 1) {
		return;
	}
	layer_stack_close(s->st);
	close(s->statfd);
	free(s);
}
