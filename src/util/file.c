#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "util/error.h"

int file_read(const char *path, struct buf *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return HQ_E_IO;
	int r = 0;
	for (;;) {
		char chunk[8192];
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = HQ_E_IO;
			break;
		}
		if (n == 0)
			break;
		if ((r = buf_append(out, chunk, (size_t)n)) < 0)
			break;
	}
	int saved = errno;
	close(fd);
	errno = saved;
	return r;
}
