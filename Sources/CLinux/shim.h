// C library calls Swift cannot reach directly: sync_file_range and the extended-attribute calls,
// which Glibc's module leaves out, and zlib's gzip framing (a macro-configured stream).
#ifndef LESSONLINK_CLINUX_SHIM_H
#define LESSONLINK_CLINUX_SHIM_H

#include <string.h>
#include <sys/types.h>
#include <zlib.h>

// <fcntl.h> declares sync_file_range only under _GNU_SOURCE, and defining that here would give
// this module its own version of the system headers (clang then rejects two fd_set definitions
// when Dispatch meets them). The Linux declaration and flag, as the man page gives them:
extern int sync_file_range(int fd, off_t offset, off_t nbytes, unsigned int flags);
#define LESSONLINK_SYNC_FILE_RANGE_WRITE 2

// Extended attributes (<sys/xattr.h>, which Glibc's module leaves out), declared as the man
// page gives them, for the same reason: the object store keeps a file's digest on the file.
extern ssize_t getxattr(const char *path, const char *name, void *value, size_t size);
extern int setxattr(const char *path, const char *name, const void *value, size_t size, int flags);

/// Starts writeback of a file range without waiting for it (sync_file_range with
/// SYNC_FILE_RANGE_WRITE). Returns 0, or -1 with errno set.
static inline int lessonlink_start_writeback(int fd, off_t offset, off_t length) {
    return sync_file_range(fd, offset, length, LESSONLINK_SYNC_FILE_RANGE_WRITE);
}

/// An upper bound for the gzip of `length` bytes.
static inline unsigned long lessonlink_gzip_bound(unsigned long length) {
    return compressBound(length) + 18;  // + the gzip header and trailer
}

/// gzip-compresses `input` into `output` (at least lessonlink_gzip_bound bytes). Returns the
/// compressed length, or 0 on failure.
static inline unsigned long lessonlink_gzip(const unsigned char *input, unsigned long length,
                                            unsigned char *output, unsigned long capacity) {
    z_stream stream;
    memset(&stream, 0, sizeof stream);
    // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
    if (deflateInit2(&stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return 0;
    stream.next_in = (unsigned char *)input;
    stream.avail_in = (uInt)length;
    stream.next_out = output;
    stream.avail_out = (uInt)capacity;
    int status = deflate(&stream, Z_FINISH);
    unsigned long written = stream.total_out;
    deflateEnd(&stream);
    return status == Z_STREAM_END ? written : 0;
}

/// Inflates the gzip (or zlib) stream `input` into `output`. Returns the inflated length, or 0
/// when the stream is malformed or does not fit in `capacity` bytes.
static inline unsigned long lessonlink_gunzip(const unsigned char *input, unsigned long length,
                                              unsigned char *output, unsigned long capacity) {
    z_stream stream;
    memset(&stream, 0, sizeof stream);
    // windowBits 15 + 32: detect a gzip or a zlib header.
    if (inflateInit2(&stream, 15 + 32) != Z_OK) return 0;
    stream.next_in = (unsigned char *)input;
    stream.avail_in = (uInt)length;
    stream.next_out = output;
    stream.avail_out = (uInt)capacity;
    int status = inflate(&stream, Z_FINISH);
    unsigned long written = stream.total_out;
    inflateEnd(&stream);
    return status == Z_STREAM_END ? written : 0;
}

#endif
