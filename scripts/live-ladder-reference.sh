#!/usr/bin/env bash
# Reference for scripts/bench-live: the same live ladder LessonLink relays, made by one ffmpeg CLI
# process reading the publish in real time — the source's H.264 copied as the top tier, 480p and
# 360p encoded with x264 veryfast zerolatency (capped CRF 23, keyframes where the source has
# them), AAC 96 kb/s, 2 s fMP4 HLS segments in a 6-segment live window with program date-times.
# Usage: live-ladder-reference.sh INPUT OUTDIR
set -euo pipefail
in=$1 out=$2
rm -rf "$out" && mkdir -p "$out"
exec ffmpeg -hide_banner -loglevel error -y -re -i "$in" \
  -filter_complex "[0:v]split=2[a][b];[a]scale=-2:480[v1];[b]scale=-2:360[v2]" \
  -map 0:v -map "[v1]" -map "[v2]" -map 0:a \
  -c:v:0 copy \
  -c:v:1 libx264 -preset:v:1 veryfast -tune:v:1 zerolatency -crf:v:1 23 -maxrate:v:1 1000k -bufsize:v:1 2000k \
  -c:v:2 libx264 -preset:v:2 veryfast -tune:v:2 zerolatency -crf:v:2 23 -maxrate:v:2 500k -bufsize:v:2 1000k \
  -force_key_frames:v:1 source -force_key_frames:v:2 source -sc_threshold 0 -pix_fmt yuv420p \
  -c:a aac -b:a 96k -ac 2 -ar 48000 \
  -f hls -hls_time 2 -hls_list_size 6 -hls_flags delete_segments+program_date_time+independent_segments \
  -hls_segment_type fmp4 -master_pl_name master.m3u8 \
  -var_stream_map "v:0,agroup:aud v:1,agroup:aud v:2,agroup:aud a:0,agroup:aud" \
  -hls_segment_filename "$out/%v/seg_%05d.m4s" "$out/%v/index.m3u8"
