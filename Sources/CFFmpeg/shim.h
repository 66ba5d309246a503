// Only what Swift cannot import from FFmpeg's headers: function-like and compound-literal macros,
// and small helpers that touch fixed-size C arrays. Everything else is used directly.
#ifndef LESSONLINK_CFFMPEG_SHIM_H
#define LESSONLINK_CFFMPEG_SHIM_H

#include <libavformat/avformat.h>
#include <libavformat/avio.h>
#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/avutil.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>
#include <libavutil/display.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libavutil/samplefmt.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>

static inline int lessonlink_averror(int posix_errno) { return AVERROR(posix_errno); }
static inline int lessonlink_averror_eof(void) { return AVERROR_EOF; }
static inline int lessonlink_averror_eagain(void) { return AVERROR(EAGAIN); }
static inline int lessonlink_averror_exit(void) { return AVERROR_EXIT; }
static inline int64_t lessonlink_nopts(void) { return AV_NOPTS_VALUE; }
static inline AVRational lessonlink_time_base_q(void) { return AV_TIME_BASE_Q; }

/// The rotation a display matrix asks for, in degrees counter-clockwise, or NaN when absent.
static inline double lessonlink_stream_rotation(const AVStream *stream) {
    const uint8_t *matrix = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, NULL);
    if (!matrix) return NAN;
    return av_display_rotation_get((const int32_t *)matrix);
}

/// Line sizes and planes are fixed arrays in C; these spare Swift from indexing 8-tuples.
static inline uint8_t *lessonlink_frame_data(const AVFrame *frame, int plane) { return frame->data[plane]; }
static inline int lessonlink_frame_linesize(const AVFrame *frame, int plane) { return frame->linesize[plane]; }
static inline uint8_t **lessonlink_frame_extended_data(const AVFrame *frame) { return frame->extended_data; }

/// Implemented in Swift (`Libav.swift`): receives each formatted libav log line.
extern void lessonlink_libav_log_line(int level, const char *line);

/// libav's log callback is variadic (va_list), which Swift cannot implement: this formats the line
/// and passes it on. libav drops lines above `av_log_get_level()` before calling it.
static inline void lessonlink_log_callback(void *avcl, int level, const char *fmt, va_list vl) {
    char line[1024];
    int prefix = 1;
    av_log_format_line2(avcl, level, fmt, vl, line, (int)sizeof line, &prefix);
    lessonlink_libav_log_line(level, line);
}

static inline void lessonlink_install_log_callback(void) { av_log_set_callback(lessonlink_log_callback); }

#endif
