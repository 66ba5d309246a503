internal import CFFmpeg

/// Encodes one picture as a JPEG (libavcodec's mjpeg encoder), for the lesson's poster image.
enum Poster {
    static func write(_ frame: Frame, width: Int, height: Int, to path: String) throws(MediaError) {
        // Full-range YUV is what JPEG means; swscale converts the range when targeting YUVJ420P.
        let scaled = try Scaler(width: width, height: height, format: AV_PIX_FMT_YUVJ420P).scale(frame)
        let quality = FF_QP2LAMBDA * 3
        let encoder = try Encoder(name: "mjpeg") { c in
            c.pointee.width = Int32(width)
            c.pointee.height = Int32(height)
            c.pointee.pix_fmt = AV_PIX_FMT_YUVJ420P
            c.pointee.color_range = AVCOL_RANGE_JPEG
            c.pointee.time_base = AVRational(num: 1, den: 25)
            c.pointee.flags |= AV_CODEC_FLAG_QSCALE
            c.pointee.global_quality = Int32(quality)
        }
        scaled.pointer.pointee.pts = 0
        scaled.pointer.pointee.quality = Int32(quality)
        scaled.pointer.pointee.pict_type = AV_PICTURE_TYPE_I
        try encoder.send(scaled)
        try encoder.send(nil)
        let packet = try Packet()
        guard try encoder.receive(into: packet) == .ready else {
            throw MediaError(.unsupported, step: "encoding the poster", message: "the JPEG encoder returned nothing")
        }
        let stream = try OutputStream(path: path)
        try stream.write(Array(UnsafeBufferPointer(start: packet.pointer.pointee.data, count: Int(packet.pointer.pointee.size))))
        try stream.close()
    }
}
