// LessonLink's player for fMP4 HLS: the browser's own HLS where it has one (Safari, current
// Chromium), else a small Media Source Extensions player (Firefox, the older Chromium-based
// browsers on school PCs). Both start at the tier the server chose for the classroom's link and
// offer a manual tier menu; the MSE player adapts to measured throughput when on "auto".
"use strict";

/// fetch() that treats an HTTP error (an expired link: 403) as an error, not as media bytes.
async function fetchOK(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error("HTTP " + response.status + " for " + url);
  return response;
}

const HLS = {
  /// Attributes of an HLS tag line: KEY=VALUE,KEY="quoted, value" (RFC 8216 §4.2).
  attributes(text) {
    const result = {};
    const pattern = /([A-Z0-9-]+)=("[^"]*"|[^,]*)/g;
    let match;
    while ((match = pattern.exec(text))) result[match[1]] = match[2].replace(/^"|"$/g, "");
    return result;
  },

  /// Video variants (highest first) and the audio rendition of a master playlist.
  master(text, base) {
    const lines = text.split(/\r?\n/);
    const variants = [];
    let audio = null;
    for (let i = 0; i < lines.length; i++) {
      if (lines[i].startsWith("#EXT-X-MEDIA:")) {
        const a = HLS.attributes(lines[i].slice(13));
        if (a.TYPE === "AUDIO" && a.URI && (!audio || a.DEFAULT === "YES")) audio = { uri: new URL(a.URI, base).href, group: a["GROUP-ID"] };
      } else if (lines[i].startsWith("#EXT-X-STREAM-INF:")) {
        const a = HLS.attributes(lines[i].slice(18));
        const uri = lines[i + 1];
        if (!a.RESOLUTION) continue; // the audio-only variant: the MSE player plays audio with every tier
        const [width, height] = a.RESOLUTION.split("x").map(Number);
        const codecs = (a.CODECS || "").split(",");
        variants.push({
          name: uri.split("/")[0], uri: new URL(uri, base).href, bandwidth: Number(a.BANDWIDTH), width, height,
          videoCodec: codecs.find((c) => c.startsWith("avc1")) || codecs[0],
          audioCodec: codecs.find((c) => c.startsWith("mp4a")),
        });
      }
    }
    variants.sort((a, b) => b.height - a.height);
    return { variants, audio };
  },

  /// Segments of a media playlist, with their start times, and its init segment.
  media(text, base) {
    const segments = [];
    let init = null;
    let duration = 0;
    let time = 0;
    for (const line of text.split(/\r?\n/)) {
      if (line.startsWith("#EXT-X-MAP:")) init = new URL(HLS.attributes(line.slice(11)).URI, base).href;
      else if (line.startsWith("#EXTINF:")) duration = parseFloat(line.slice(8));
      else if (line && !line.startsWith("#")) {
        segments.push({ uri: new URL(line, base).href, start: time, duration });
        time += duration;
      }
    }
    return { init, segments, duration: time };
  },
};

class LessonPlayer {
  /// `options`: { startTier, forceMSE, onChange }.
  constructor(video, masterUrl, options = {}) {
    this.video = video;
    this.masterUrl = new URL(masterUrl, location.href).href;
    this.options = options;
    this.tier = "auto";
    this.variants = [];
    this.mode = null;
  }

  static nativeHLS(video) {
    return video.canPlayType("application/vnd.apple.mpegurl") !== "";
  }

  async start() {
    const master = await (await fetchOK(this.masterUrl)).text();
    const parsed = HLS.master(master, this.masterUrl);
    this.variants = parsed.variants;
    this.audio = parsed.audio;
    if (!this.options.forceMSE && LessonPlayer.nativeHLS(this.video)) {
      this.mode = "native";
      this.video.src = this.masterUrl;
    } else if (window.MediaSource) {
      this.mode = "mse";
      await this.startMSE();
    } else {
      throw new Error("这个浏览器不能播放 HLS，也没有 Media Source Extensions");
    }
    this.changed();
  }

  /// The tier menu's choice: "auto" or a tier name.
  select(tier) {
    this.tier = tier;
    if (this.mode === "native") {
      // Native HLS picks its own variant; a manual choice plays a master holding only that tier.
      const time = this.video.currentTime;
      const playing = !this.video.paused;
      this.video.src = tier === "auto" ? this.masterUrl : this.masterUrl.replace(/master\.m3u8$/, "master-" + tier + ".m3u8");
      this.video.addEventListener("loadedmetadata", () => {
        this.video.currentTime = time;
        if (playing) this.video.play().catch(() => {});
      }, { once: true });
    } else if (this.mode === "mse" && this.videoTrack) {
      const wanted = tier === "auto" ? this.autoVariant() : this.variants.find((v) => v.name === tier);
      if (wanted) this.videoTrack.switchTo(wanted, this.video.currentTime);
    }
    this.changed();
  }

  /// Stops fetching (a player being replaced after a fatal media error).
  destroy() {
    this.stopped = true;
    this.video.removeAttribute("src");
    this.video.load();
  }

  changed() {
    this.video.dataset.mode = this.mode || "";
    this.video.dataset.tier = this.currentTier();
    if (this.options.onChange) this.options.onChange(this);
  }

  currentTier() {
    if (this.mode === "mse" && this.videoTrack) return this.videoTrack.variant.name;
    return this.tier;
  }

  // MARK: Media Source Extensions

  async startMSE() {
    this.throughput = null; // bits per second, smoothed
    const start = this.variants.find((v) => v.name === this.options.startTier) || this.variants[this.variants.length - 1];
    const source = new MediaSource();
    this.video.src = URL.createObjectURL(source);
    await new Promise((resolve) => source.addEventListener("sourceopen", resolve, { once: true }));
    this.source = source;
    this.tracks = [];
    if (start) {
      this.videoTrack = new Track(this, "video", start);
      this.tracks.push(this.videoTrack);
    }
    if (this.audio) {
      const codec = (start && start.audioCodec) || "mp4a.40.2";
      this.tracks.push(new Track(this, "audio", { name: "audio", uri: this.audio.uri, audioCodec: codec }));
    }
    await Promise.all(this.tracks.map((t) => t.open()));
    source.duration = Math.max(...this.tracks.map((t) => t.playlist.duration));
    this.video.addEventListener("seeking", () => this.tracks.forEach((t) => t.seek(this.video.currentTime)));
    this.pump();
  }

  /// Keeps 30 s buffered ahead on every track, and ends the stream whenever everything is in. It
  /// runs for the life of the page: a seek or a tier switch reopens the stream (appending to an
  /// ended MediaSource opens it again).
  async pump() {
    while (!this.stopped) {
      let busy = false;
      try {
        for (const track of this.tracks) busy = (await track.step()) || busy;
      } catch (error) {
        console.warn("segment failed, retrying", error);
      }
      if (!busy && this.source.readyState === "open" && this.tracks.every((t) => t.done && !t.buffer.updating)) {
        try { this.source.endOfStream(); } catch { /* a buffer is updating: next round */ }
      }
      if (!busy) await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  measured(bytes, seconds) {
    const sample = (bytes * 8) / Math.max(seconds, 0.001);
    this.throughput = this.throughput === null ? sample : 0.7 * this.throughput + 0.3 * sample;
    if (this.tier === "auto" && this.videoTrack) {
      const wanted = this.autoVariant();
      if (wanted && wanted !== this.videoTrack.variant) this.videoTrack.switchTo(wanted, null);
    }
  }

  /// The highest tier whose bandwidth fits in 80 % of the measured throughput.
  autoVariant() {
    if (this.throughput === null) return this.videoTrack ? this.videoTrack.variant : this.variants[0];
    return this.variants.find((v) => v.bandwidth <= this.throughput * 0.8) || this.variants[this.variants.length - 1];
  }
}

/// Appends `data` to a SourceBuffer (or runs `operation`, a removal) and waits for it to finish.
function appendTo(buffer, data, operation) {
  return new Promise((resolve, reject) => {
    buffer.addEventListener("updateend", resolve, { once: true });
    buffer.addEventListener("error", reject, { once: true });
    if (operation) operation(); else buffer.appendBuffer(data);
  });
}

/// One SourceBuffer fed from one media playlist at a time.
class Track {
  constructor(player, kind, variant) {
    this.player = player;
    this.kind = kind;
    this.variant = variant;
    this.next = 0;
    this.done = false;
    this.needsInit = true;
  }

  async open() {
    const codec = this.kind === "video" ? this.variant.videoCodec : this.variant.audioCodec;
    this.buffer = this.player.source.addSourceBuffer(`${this.kind}/mp4; codecs="${codec}"`);
    this.buffer.mode = "segments"; // fMP4 carries its own timestamps (tfdt)
    await this.load(this.variant);
  }

  async load(variant) {
    const text = await (await fetchOK(variant.uri)).text();
    this.playlist = HLS.media(text, variant.uri);
    this.variant = variant;
    this.needsInit = true;
  }

  /// Switches tier at the next segment (or at `time`, dropping what is buffered after it).
  async switchTo(variant, time) {
    if (this.switching) return;
    this.switching = true;
    try {
      await this.load(variant);
      if (time !== null) {
        await this.append(null, () => this.buffer.remove(Math.max(0, time + 0.5), Infinity));
        this.seek(time + 0.5);
      }
      this.player.changed();
    } finally {
      this.switching = false;
    }
  }

  seek(time) {
    const index = this.playlist.segments.findIndex((s) => time < s.start + s.duration);
    this.next = index < 0 ? this.playlist.segments.length : index;
    this.done = false;
  }

  bufferedAhead() {
    const ranges = this.buffer.buffered;
    const now = this.player.video.currentTime;
    for (let i = 0; i < ranges.length; i++) {
      if (ranges.start(i) <= now + 0.3 && now < ranges.end(i)) return ranges.end(i) - now;
    }
    return 0;
  }

  /// Appends one segment if the buffer wants one; returns whether it did work.
  async step() {
    if (this.switching || this.buffer.updating || this.done) return false;
    if (this.next >= this.playlist.segments.length) {
      this.done = true;
      return false;
    }
    if (this.bufferedAhead() > 30) return false;
    if (this.needsInit) {
      const init = await (await fetchOK(this.playlist.init)).arrayBuffer();
      await this.append(init);
      this.needsInit = false;
    }
    const segment = this.playlist.segments[this.next];
    const began = performance.now();
    const data = await (await fetchOK(segment.uri)).arrayBuffer();
    if (this.kind === "video") this.player.measured(data.byteLength, (performance.now() - began) / 1000);
    if (this.needsInit) return true; // the tier changed while this downloaded: start over with its init
    await this.append(data);
    this.next += 1;
    return true;
  }

  append(data, operation) { return appendTo(this.buffer, data, operation); }
}

window.LessonPlayer = LessonPlayer;

// MARK: - Live

/// A live media playlist (RFC 8216 §6.2.2): its segments by media sequence number, each with
/// its init segment and program date-time (seconds since 1970).
function parseLivePlaylist(text, base) {
  const segments = [];
  let sequence = 0;
  let init = null;
  let date = null;
  let duration = 0;
  let ended = false;
  let target = 2;
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith("#EXT-X-MEDIA-SEQUENCE:")) sequence = Number(line.slice(22));
    else if (line.startsWith("#EXT-X-TARGETDURATION:")) target = Number(line.slice(22));
    else if (line.startsWith("#EXT-X-MAP:")) init = new URL(HLS.attributes(line.slice(11)).URI, base).href;
    else if (line.startsWith("#EXT-X-PROGRAM-DATE-TIME:")) date = Date.parse(line.slice(25)) / 1000;
    else if (line.startsWith("#EXTINF:")) duration = parseFloat(line.slice(8));
    else if (line === "#EXT-X-ENDLIST") ended = true;
    else if (line && !line.startsWith("#")) {
      segments.push({ sequence: sequence + segments.length, uri: new URL(line, base).href, init, date, duration });
      date = date === null ? null : date + duration;
    }
  }
  return { segments, ended, target };
}

/// The first `tfdt` (decode time) of a CMAF segment and the `mdhd` timescale of an init segment.
const MP4 = {
  find(bytes, type) {
    const codes = [...type].map((c) => c.charCodeAt(0));
    for (let i = 4; i + 4 <= bytes.length; i++) {
      if (bytes[i] === codes[0] && bytes[i + 1] === codes[1] && bytes[i + 2] === codes[2] && bytes[i + 3] === codes[3]) return i;
    }
    return -1;
  },
  read(bytes, at, size) {
    let value = 0;
    for (let i = 0; i < size; i++) value = value * 256 + bytes[at + i];
    return value;
  },
  timescale(init) {
    const i = MP4.find(init, "mdhd");
    return i < 0 ? 90000 : MP4.read(init, i + 8 + (init[i + 4] === 1 ? 16 : 8), 4);
  },
  decodeTime(segment) {
    const i = MP4.find(segment, "tfdt");
    return i < 0 ? 0 : MP4.read(segment, i + 8, segment[i + 4] === 1 ? 8 : 4);
  },
};

/**
 * Plays a live session through Media Source Extensions, on a timeline of program date-times:
 * `currentTime` is seconds since `anchor` (a date), whichever publish a segment came from, so
 * a dropped and returned publisher is a short gap, not a restart, and every classroom can play
 * the same date at the same moment (`dateAt`).
 */
class LivePlayer {
  constructor(video, masterUrl, options = {}) {
    this.video = video;
    this.masterUrl = new URL(masterUrl, location.href).href;
    this.options = options;
    this.mode = "live";
    this.anchor = null;
  }

  async start() {
    const parsed = HLS.master(await (await fetchOK(this.masterUrl)).text(), this.masterUrl);
    this.variants = parsed.variants;
    const variant = this.variants.find((v) => v.name === this.options.startTier) || this.variants[0];
    const source = new MediaSource();
    this.video.src = URL.createObjectURL(source);
    await new Promise((resolve) => source.addEventListener("sourceopen", resolve, { once: true }));
    this.source = source;
    this.tracks = [new LiveTrack(this, "video", variant.uri, variant.videoCodec, variant.name)];
    if (parsed.audio) this.tracks.push(new LiveTrack(this, "audio", parsed.audio.uri, variant.audioCodec || "mp4a.40.2", "audio"));
    await Promise.all(this.tracks.map((t) => t.refresh()));
    const first = this.tracks[0].playlist.segments[0];
    if (!first || first.date === null) throw new Error("直播还没有开始");
    this.anchor = Math.floor(first.date);
    this.video.dataset.mode = "live";
    this.video.dataset.tier = variant.name;
    this.pump();
  }

  /// The date (seconds since 1970) being shown at `time` on the video's timeline.
  dateAt(time) { return this.anchor + time; }

  currentTier() { return this.tracks ? this.tracks[0].name : null; }

  destroy() {
    this.stopped = true;
    this.video.removeAttribute("src");
    this.video.load();
  }

  async pump() {
    while (!this.stopped) {
      let busy = false;
      for (const track of this.tracks) {
        try {
          busy = (await track.step()) || busy;
        } catch (error) {
          console.warn("live segment failed, retrying", error);
        }
      }
      if (!busy) await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }
}

/// One SourceBuffer fed from one live media playlist, reloaded about every second.
class LiveTrack {
  constructor(player, kind, uri, codec, name) {
    this.player = player;
    this.kind = kind;
    this.uri = uri;
    this.name = name;
    this.buffer = player.source.addSourceBuffer(`${kind}/mp4; codecs="${codec}"`);
    this.buffer.mode = "segments";
    this.next = null; // media sequence number of the next segment to append
    this.init = null;
    this.loadedAt = 0;
  }

  async refresh() {
    this.playlist = parseLivePlaylist(await (await fetchOK(this.uri)).text(), this.uri);
    this.loadedAt = performance.now();
  }

  /// Appends the next segment if it is listed; returns whether it did work.
  async step() {
    if (this.buffer.updating) return false;
    const video = this.player.video;
    if (performance.now() - this.loadedAt > 1000) await this.refresh();
    const segments = this.playlist.segments;
    if (!segments.length || this.player.anchor === null) return false;
    if (this.next === null) {
      // Start where the player will start: a few seconds behind the newest segment.
      const wanted = this.player.options.startDate ? this.player.options.startDate() : segments[segments.length - 1].date;
      const at = segments.findIndex((s) => s.date + s.duration > wanted - 1);
      this.next = segments[Math.max(0, at < 0 ? segments.length - 1 : at)].sequence;
    }
    const segment = segments.find((s) => s.sequence === this.next) || (this.next < segments[0].sequence ? segments[0] : null);
    if (!segment) return false;
    if (segment.date !== null && segment.date - this.player.dateAt(video.currentTime) > 20) return false; // far enough ahead
    if (segment.init !== this.init) {
      this.initBytes = new Uint8Array(await (await fetchOK(segment.init)).arrayBuffer());
      this.timescale = MP4.timescale(this.initBytes);
      await this.append(this.initBytes);
      this.init = segment.init;
    }
    const data = new Uint8Array(await (await fetchOK(segment.uri)).arrayBuffer());
    // Place the segment at its program date-time on the player's timeline.
    this.buffer.timestampOffset = segment.date - this.player.anchor - MP4.decodeTime(data) / this.timescale;
    await this.append(data);
    this.next = segment.sequence + 1;
    const ranges = this.buffer.buffered;
    if (ranges.length && video.currentTime - ranges.start(0) > 60) {
      await this.append(null, () => this.buffer.remove(0, video.currentTime - 30));
    }
    return true;
  }

  append(data, operation) { return appendTo(this.buffer, data, operation); }
}

window.LivePlayer = LivePlayer;
