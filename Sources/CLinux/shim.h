// Linux calls that Glibc's Swift module leaves out because they need _GNU_SOURCE.
#ifndef LESSONLINK_CLINUX_SHIM_H
#define LESSONLINK_CLINUX_SHIM_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>

/// Starts writeback of a file range without waiting for it (sync_file_range with
/// SYNC_FILE_RANGE_WRITE). Returns 0, or -1 with errno set.
static inline int lessonlink_start_writeback(int fd, off_t offset, off_t length) {
    return sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE);
}

#endif
