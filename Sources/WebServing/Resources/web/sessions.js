// Synchronized sessions (同步课堂): the session list and scheduling form, the host's page, and
// the classroom kiosk (/classroom). Every player follows the server's session clock: it measures
// its own clock's offset from the server's answers (NTP-style), corrects small drift by playback
// rate (0.97–1.03) and large drift (> 2 s: a late join, a stall, a dropped link) by a seek that
// lands ahead and waits for the clock, and reports where it is every few seconds.
"use strict";

/// The last few things the follower did (seeks, recoveries), for whoever diagnoses a screen.
const sessionLog = [];
function logSession(...parts) {
  sessionLog.push(new Date().toISOString().slice(11, 23) + " " + parts.join(" "));
  if (sessionLog.length > 50) sessionLog.shift();
}
window.sessionLog = sessionLog;

const sessionStateNames = { scheduled: "未开始", running: "进行中", paused: "已暂停", ended: "已结束", cancelled: "已取消" };

/** The server's clock for one session, read through this browser's clock and its measured offset. */
class SessionClockView {
  constructor(sessionId) {
    this.sessionId = sessionId;
    this.samples = []; // {rtt, offset} in ms
    this.offset = 0; // server time minus local time, ms
    this.clock = null;
  }

  /// One NTP-style sample: the server stamped `serverTime` between our `sent` and `received`.
  sample(sent, serverTime, received) {
    this.samples.push({ rtt: received - sent, offset: serverTime - (sent + received) / 2 });
    if (this.samples.length > 12) this.samples.shift();
    // The sample with the shortest round trip bounds the error best.
    this.offset = this.samples.reduce((best, s) => (s.rtt < best.rtt ? s : best)).offset;
  }

  /// Takes a newer clock (by revision; an equal one refreshes the reading).
  update(clock) {
    if (!this.clock || clock.revision >= this.clock.revision) this.clock = clock;
  }

  /// Reads the clock `count` times, for the offset.
  async measure(count = 5) {
    for (let i = 0; i < count; i++) {
      const sent = Date.now();
      const clock = await api.get("/api/v1/sync-sessions/" + this.sessionId + "/clock");
      this.sample(sent, clock.serverTime, Date.now());
      this.update(clock);
    }
    return this.clock;
  }

  serverNow() { return Date.now() + this.offset; }

  /// {state, position} now, as the server would say.
  reading(now = this.serverNow()) {
    const c = this.clock;
    if (!c) return { state: "scheduled", position: 0 };
    let state = c.state;
    let position = c.position;
    if (state === "scheduled") {
      if (now < c.startsAt) return { state, position: 0 };
      state = "running";
      position = (now - c.startsAt) / 1000;
    } else if (state === "running") {
      position = c.position + (now - c.serverTime) / 1000;
    }
    if (state === "running" && c.duration != null && position >= c.duration) return { state: "ended", position: c.duration };
    return { state, position };
  }
}

/** Keeps a <video> in step with a session clock, and reports to the server when asked. */
class SessionFollower {
  /// `options`: { report: bool, onState(reading), tierOf() }
  constructor(video, clock, options = {}) {
    this.clock = clock;
    this.options = options;
    this.lead = 0.8; // seconds a seek lands ahead of the clock, to have the media ready
    this.syncing = false;
    this.stalls = 0;
    this.stallSeconds = 0;
    this.stalledSince = null;
    this.lastState = null;
    this.attach(video);
  }

  /// Follows `video` (the first one, or a new one after a fatal media error).
  attach(video) {
    this.video = video;
    this.started = false;
    video.addEventListener("waiting", () => {
      if (!this.syncing && this.lastState === "running" && this.stalledSince === null) {
        this.stalls += 1;
        this.stalledSince = performance.now();
      }
    });
    video.addEventListener("playing", () => this.endStall());
  }

  endStall() {
    if (this.stalledSince !== null) {
      this.stallSeconds += (performance.now() - this.stalledSince) / 1000;
      this.stalledSince = null;
    }
  }

  start() {
    this.timer = setInterval(() => this.step(), 100);
    if (this.options.report) this.reporter = setInterval(() => this.report().catch(() => {}), 3000);
  }

  stop() {
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.reporter);
    this.video.pause();
  }

  offsetNow() {
    return this.video.currentTime - this.clock.reading().position;
  }

  step() {
    const reading = this.clock.reading();
    if (reading.state !== this.lastState) {
      this.lastState = reading.state;
      if (this.options.onState) this.options.onState(reading);
    }
    if (this.syncing) return;
    const video = this.video;
    const drift = video.currentTime - reading.position;
    // A host's seek is a jump for everyone at once, not a drift to creep back from.
    const revision = this.clock.clock ? this.clock.clock.revision : 0;
    const jumped = revision !== this.revision && Math.abs(drift) > 0.3;
    this.revision = revision;
    if (reading.state === "running") {
      if (Math.abs(drift) > 2 || (jumped && Math.abs(drift) > 1) || !this.started) {
        this.started = true;
        this.hardSync().catch((error) => console.warn("sync failed", error));
        return;
      }
      if (video.paused || jumped) {
        // Resumed, or moved a little: a short seek inside what is buffered, and play at once.
        if (Math.abs(drift) > 0.05) video.currentTime = reading.position + 0.05;
        if (video.paused) this.play();
        return;
      }
      // Proportional correction: 0.1 s behind → 1.03 for a few seconds; within 20 ms → 1.
      const rate = Math.abs(drift) < 0.02 ? 1 : Math.min(1.03, Math.max(0.97, 1 - drift * 0.3));
      if (Math.abs(video.playbackRate - rate) > 0.001) video.playbackRate = rate;
    } else {
      if (!video.paused) video.pause();
      video.playbackRate = 1;
      if ((reading.state === "paused" || reading.state === "ended") && Math.abs(drift) > 0.05 && !video.seeking) {
        video.currentTime = reading.position;
      }
    }
  }

  play() {
    return this.video.play().catch((error) => {
      // Autoplay with sound needs a gesture; muted autoplay never does.
      if (error.name === "NotAllowedError" && !this.video.muted) {
        this.video.muted = true;
        if (this.options.onMuted) this.options.onMuted();
        return this.video.play().catch(() => {});
      }
    });
  }

  /// Seeks ahead of the clock, waits until the media there is ready, then starts playing the
  /// moment the clock reaches it. A late seek doubles the lead and tries again.
  async hardSync() {
    this.syncing = true;
    const video = this.video;
    try {
      for (let attempt = 0; attempt < 4; attempt++) {
        const reading = this.clock.reading();
        if (reading.state !== "running") return;
        const duration = this.clock.clock.duration;
        const target = Math.max(0, reading.position + this.lead);
        const destination = duration != null ? Math.min(target, Math.max(0, duration - 0.2)) : target;
        logSession("seek", destination.toFixed(2), "lead", this.lead, "ready", video.readyState);
        video.pause();
        video.currentTime = destination;
        await waitFor(video, () => !video.seeking && video.readyState >= 3, 5000);
        logSession("seeked", video.currentTime.toFixed(2), "ready", video.readyState, "clock", this.clock.reading().position.toFixed(2));
        if (video.readyState < 2) {
          // Nothing loads at all (a media stack left broken by a dropped link): start it anew.
          if (this.options.onStuck) this.options.onStuck();
          return;
        }
        for (;;) {
          const now = this.clock.reading();
          if (now.state !== "running") return;
          const early = destination - now.position;
          if (early <= 0.004) {
            if (early < -0.15) break; // too late: try again with more lead
            await this.play();
            this.endStall();
            return;
          }
          await sleep(Math.min(early * 1000, 40));
        }
        this.lead = Math.min(this.lead * 2, 8);
      }
    } finally {
      this.syncing = false;
    }
  }

  async report() {
    const reading = this.clock.reading();
    if (reading.state === "scheduled") return;
    if (this.stalledSince !== null) {
      this.stallSeconds += (performance.now() - this.stalledSince) / 1000;
      this.stalledSince = performance.now();
    }
    const body = {
      position: Math.max(0, this.video.currentTime),
      offset: this.video.currentTime - reading.position,
      tier: (this.options.tierOf && this.options.tierOf()) || null,
      playing: reading.state === "running" && !this.video.paused,
      visible: document.visibilityState === "visible",
      stalls: this.stalls,
      stallSeconds: Math.min(3600, this.stallSeconds),
    };
    this.stalls = 0;
    this.stallSeconds = 0;
    const sent = Date.now();
    const clock = await api.request("POST", "/api/v1/sync-sessions/" + this.clock.sessionId + "/reports", body);
    this.clock.sample(sent, clock.serverTime, Date.now());
    this.clock.update(clock);
    this.lastReport = body;
    document.body.dataset.offset = body.offset.toFixed(3);
  }
}

function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

/// Resolves once `ready()` holds (checked on media events and every 50 ms), or after `timeout` ms.
function waitFor(video, ready, timeout) {
  return new Promise((resolve) => {
    const began = performance.now();
    const check = () => {
      if (ready() || performance.now() - began > timeout) {
        clearInterval(timer);
        resolve();
      }
    };
    const timer = setInterval(check, 50);
    check();
  });
}

/**
 * The session's event stream, reopened after a drop with back-off (1, 2, 4 … 15 s); each reopen
 * reads the clock again first, so a screen that was offline jumps back into step.
 */
class SessionEvents {
  constructor(clock, handlers) {
    this.clock = clock;
    this.handlers = handlers; // { clock(c), roster(r), question(q), over(c) }
    this.delay = 1000;
    this.closed = false;
  }

  open() {
    if (this.closed) return;
    const source = new EventSource("/api/v1/sync-sessions/" + this.clock.sessionId + "/events");
    this.source = source;
    source.addEventListener("open", () => { this.delay = 1000; document.body.dataset.link = "up"; });
    source.addEventListener("clock", (message) => {
      const clock = JSON.parse(message.data);
      this.clock.update(clock);
      if (this.handlers.clock) this.handlers.clock(clock);
      if (clock.state === "ended" || clock.state === "cancelled") {
        this.close();
        if (this.handlers.over) this.handlers.over(clock);
      }
    });
    for (const name of ["roster", "question", "source"]) {
      source.addEventListener(name, (message) => this.handlers[name] && this.handlers[name](JSON.parse(message.data)));
    }
    source.addEventListener("error", () => {
      source.close();
      if (this.closed) return;
      document.body.dataset.link = "down";
      const wait = this.delay;
      this.delay = Math.min(this.delay * 2, 15000);
      setTimeout(async () => {
        try {
          await this.clock.measure(3);
          const reading = this.clock.reading();
          if (reading.state === "ended" || reading.state === "cancelled") {
            this.close();
            if (this.handlers.over) this.handlers.over(this.clock.clock);
            return;
          }
        } catch (error) {
          if (error.status === 404) { this.close(); if (this.handlers.over) this.handlers.over(null); return; }
        }
        this.open();
      }, wait);
    });
  }

  close() {
    this.closed = true;
    if (this.source) this.source.close();
  }
}

/// Starts a player for the session's recording and a follower keeping it on the clock. A fatal
/// media error (a link that dropped mid-segment can leave the browser's demuxer broken) replaces
/// the player with a fresh one, which the follower seeks back into step.
async function startSessionPlayer(stage, session, clock, options) {
  if (session.source.kind === "live") return startLivePlayer(stage, session, clock, options);
  const { report, onState, onMuted } = options;
  const forceMSE = new URLSearchParams(location.search).get("player") === "mse";
  let follower = null;
  let current = null;
  let muted = true;
  const open = async () => {
    const playback = await api.get("/api/v1/recordings/" + session.source.recordingId + "/playback");
    const video = el("video", { id: "player", playsinline: "", preload: "auto" });
    video.muted = muted;
    if (playback.posterUrl) video.setAttribute("poster", playback.posterUrl);
    const player = new window.LessonPlayer(video, playback.url, { startTier: playback.startTier, forceMSE });
    stage.replaceChildren(video);
    await player.start();
    video.addEventListener("error", () => setTimeout(recover, 500), { once: true });
    current = { player, video };
    return current;
  };
  let recovering = false;
  const recover = async () => {
    if (recovering || (follower && follower.stopped)) return;
    recovering = true;
    logSession("restarting the player:", (current.video.error && current.video.error.message) || "no media");
    muted = current.video.muted;
    current.player.destroy();
    try {
      for (let wait = 1000; ; wait = Math.min(wait * 2, 15000)) {
        try {
          const { video } = await open();
          follower.attach(video);
          return;
        } catch (error) {
          logSession("player start failed:", error.message);
          await sleep(wait);
        }
      }
    } finally {
      recovering = false;
    }
  };
  await open();
  const tierOf = () => {
    const { player, video } = current;
    if (player.mode === "mse") return player.currentTier();
    const variant = player.variants.find((v) => v.height === video.videoHeight);
    return variant ? variant.name : null;
  };
  follower = new SessionFollower(current.video, clock, { report, onState, onMuted, tierOf, onStuck: recover });
  follower.start();
  window.sessionPlayer = {
    get player() { return current.player; }, get video() { return current.video; }, follower, tierOf,
  };
  return follower;
}

/// Seconds a live lesson is shown behind the server's clock: a 2 s segment is listed about 2.2 s
/// after it began, so 5 s leaves time to fetch it — and every classroom shows the same moment.
const LIVE_DELAY = 5;

/**
 * A session clock read for a live source: while the lesson runs, the position to show is the
 * date LIVE_DELAY seconds ago on the player's timeline, so SessionFollower's drift correction
 * keeps every classroom on the same program date-time.
 */
class LiveClock {
  constructor(inner, player) {
    this.inner = inner;
    this.player = player;
    this.sessionId = inner.sessionId;
  }

  get clock() { return this.inner.clock && { ...this.inner.clock, duration: null }; }
  serverNow() { return this.inner.serverNow(); }
  sample(...values) { this.inner.sample(...values); }
  update(clock) { this.inner.update(clock); }
  measure(count) { return this.inner.measure(count); }
  targetDate() { return this.inner.serverNow() / 1000 - LIVE_DELAY; }

  reading() {
    const reading = this.inner.reading();
    if (reading.state !== "running" || this.player.anchor === null) return reading;
    return { state: reading.state, position: this.targetDate() - this.player.anchor };
  }
}

/// The live counterpart of startSessionPlayer: the session's live HLS through LivePlayer, kept
/// on the shared date by a SessionFollower; a broken player is replaced, as for recordings.
async function startLivePlayer(stage, session, clock, { report, onState, onMuted }) {
  let follower = null;
  let current = null;
  let muted = true;
  const open = async () => {
    const live = await api.get("/api/v1/sync-sessions/" + session.id + "/live");
    const video = el("video", { id: "player", playsinline: "", preload: "auto" });
    video.muted = muted;
    const player = new window.LivePlayer(video, live.playback.url, { startDate: () => clock.serverNow() / 1000 - LIVE_DELAY });
    stage.replaceChildren(video);
    await player.start();
    video.addEventListener("error", () => setTimeout(recover, 500), { once: true });
    current = { player, video, clock: new LiveClock(clock, player) };
    return current;
  };
  const recover = async () => {
    if (follower && follower.stopped) return;
    muted = current.video.muted;
    current.player.destroy();
    for (let wait = 1000; ; wait = Math.min(wait * 2, 15000)) {
      try {
        const next = await open();
        follower.clock = next.clock;
        follower.attach(next.video);
        return;
      } catch (error) {
        logSession("live player start failed:", error.message);
        await sleep(wait);
      }
    }
  };
  for (let wait = 1000; ; wait = Math.min(wait * 2, 5000)) {
    try {
      await open();
      break;
    } catch (error) {
      if (["ended", "cancelled"].includes(clock.reading().state)) return null;
      // Nothing published yet: the screen waits for the recording classroom.
      logSession("waiting for the live source:", error.message);
      stage.replaceChildren(el("p", { class: "muted", id: "live-waiting" }, "等待录播教室开始直播…"));
      await sleep(wait);
    }
  }
  follower = new SessionFollower(current.video, current.clock, {
    report, onState, onMuted, tierOf: () => current.player.currentTier(), onStuck: recover,
  });
  follower.start();
  window.sessionPlayer = {
    get player() { return current.player; }, get video() { return current.video; }, follower,
    tierOf: () => current.player.currentTier(),
    /// The program date-time on screen now, for checks across classrooms.
    playingDate: () => current.player.anchor === null ? null : current.player.dateAt(current.video.currentTime),
  };
  return follower;
}

function formatCountdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const two = (n) => String(n).padStart(2, "0");
  const d = Math.floor(total / 86400), h = Math.floor((total % 86400) / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
  return (d ? d + " 天 " : "") + two(h) + ":" + two(m) + ":" + two(s);
}

function formatTime(value) {
  const date = new Date(value);
  return date.toLocaleString("zh-CN", { month: "numeric", day: "numeric", weekday: "short", hour: "2-digit", minute: "2-digit" });
}

Object.assign(pages, {
  /** /sessions: upcoming, running and past sessions; a form to schedule one for those who may. */
  async sessions() {
    await showSignedIn();
    const me = await api.get("/api/v1/me");
    // ?schoolId=, ?classroomId=, ?districtId= narrow the lists, as they do the API's.
    const scope = new URLSearchParams([...new URLSearchParams(location.search)].filter(([key]) => ["schoolId", "classroomId", "districtId"].includes(key)));
    const schoolFilter = document.querySelector("#school-filter");
    const allSchools = (await api.get("/api/v1/schools")).items;
    for (const school of allSchools.filter((s) => me.role === "admin" || s.districtId === me.districtId)) {
      schoolFilter.append(el("option", { value: school.id }, school.name));
    }
    schoolFilter.value = scope.get("schoolId") || "";
    schoolFilter.addEventListener("change", () => {
      location.search = schoolFilter.value ? "?schoolId=" + schoolFilter.value : "";
    });
    for (const when of ["running", "upcoming", "past"]) {
      const list = document.querySelector("#sessions-" + when);
      scope.set("when", when);
      const result = await api.get("/api/v1/sync-sessions?" + scope);
      list.replaceChildren();
      for (const session of result.items) {
        list.append(el("li", { "data-session": session.id },
          el("a", { href: "/sessions/" + session.id }, session.title), " ",
          el("span", { class: "state " + session.state }, sessionStateNames[session.state]),
          el("div", { class: "meta" }, [formatTime(session.startsAt), session.source.title, session.targets.length + " 个教室", session.scheduler.displayName].filter(Boolean).join(" · "))));
      }
      if (result.items.length === 0) list.append(el("li", { class: "muted" }, "无"));
    }
    const form = document.querySelector("#schedule");
    if (!["teacher", "coordinator", "admin"].includes(me.role)) return;
    const schools = { items: allSchools };
    const members = schools.items.filter((s) => s.kind === "member" && (me.role === "admin" || s.districtId === me.districtId));
    if (me.role === "teacher" && !schools.items.some((s) => s.id === me.schoolId && s.kind === "lead")) return;
    form.hidden = false;
    const box = form.querySelector("#targets");
    for (const school of members) {
      box.append(el("label", { class: "check" }, el("input", { type: "checkbox", name: "school", value: school.id }), " " + school.name));
    }
    const recordings = await api.get("/api/v1/recordings?state=ready&limit=100");
    for (const item of recordings.items) {
      form.recording.append(el("option", { value: item.id }, item.title + (item.duration ? " (" + formatDuration(item.duration) + ")" : "")));
    }
    const start = new Date(Date.now() + 10 * 60000);
    start.setSeconds(0, 0);
    form.startsAt.value = new Date(start.getTime() - start.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const message = form.querySelector(".error");
      message.textContent = "";
      try {
        const created = await api.request("POST", "/api/v1/sync-sessions", {
          title: form.title.value,
          recordingId: Number(form.recording.value),
          startsAt: new Date(form.startsAt.value).toISOString(),
          schoolIds: [...form.querySelectorAll("input[name=school]:checked")].map((i) => Number(i.value)),
          memberTeachersHost: form.memberTeachersHost.checked,
        });
        location.href = "/sessions/" + created.id;
      } catch (error) {
        message.textContent = error.message;
      }
    });
  },

  /** /sessions/{id}: the host's page — the player, the controls, the joined classrooms, questions. */
  async session() {
    await showSignedIn();
    const id = Number(location.pathname.split("/").pop());
    const box = document.querySelector("#session");
    let session;
    try {
      session = await api.get("/api/v1/sync-sessions/" + id);
    } catch (error) {
      box.replaceChildren(el("p", { class: "error" }, error.status === 404 ? "没有这个同步课堂，或您无权查看。" : error.message));
      return;
    }
    document.title = session.title + " · LessonLink";
    const clock = new SessionClockView(id);
    await clock.measure();
    const status = el("p", { id: "clock-state", class: "muted" });
    const stage = el("div", { id: "stage" });
    const controls = el("p", { id: "controls" });
    const roster = el("table", { id: "roster" });
    const questions = el("ul", { id: "questions", class: "results" });
    box.replaceChildren(
      el("h1", {}, session.title),
      el("p", { class: "meta" }, [formatTime(session.startsAt), session.source.title, "主持：" + session.scheduler.displayName].join(" · ")),
      status, stage, controls);
    const showStatus = () => {
      const reading = clock.reading();
      const text = reading.state === "scheduled"
        ? "距开始 " + formatCountdown(clock.clock.startsAt - clock.serverNow())
        : sessionStateNames[reading.state] + " · " + formatDuration(reading.position) + (clock.clock.duration ? " / " + formatDuration(clock.clock.duration) : "");
      status.textContent = text;
      status.dataset.state = reading.state;
    };
    setInterval(showStatus, 500);
    showStatus();
    const live = session.source.kind === "live" ? await api.get("/api/v1/sync-sessions/" + id + "/live") : null;
    const liveBox = el("section", { id: "live-source", class: "panel" });
    const showLive = (data) => {
      const source = data.source;
      const names = { waiting: "等待推流", live: "直播中", lost: "信号中断", ended: "已结束" };
      liveBox.dataset.state = source.state;
      const rows = [el("h2", {}, "直播信号：", el("span", { id: "live-state" }, names[source.state] || source.state))];
      if (source.width) rows.push(el("p", { class: "meta" }, source.width + "x" + source.height + " · " + source.tiers.join("、")
        + (source.encoderSpeed ? " · 编码速度 " + source.encoderSpeed.toFixed(1) + "×" : "")));
      if (source.dropped.length) rows.push(el("p", { class: "error", id: "live-dropped" }, "机器跟不上，已停止：" + source.dropped.join("、")));
      if (data.publishing) {
        const p = data.publishing;
        rows.push(el("dl", { id: "publish-urls" },
          el("dt", {}, "RTMP 推流地址"), el("dd", {}, el("code", { id: "rtmp-url" }, p.rtmpUrl || "（未开启）")),
          el("dt", {}, "SRT 推流地址（网络差时）"), el("dd", {}, el("code", { id: "srt-url" }, p.srtUrl || "（未开启）")),
          el("dt", {}, "建议"), el("dd", {}, p.advice)));
      }
      rows.push(el("ul", { id: "live-events", class: "results" },
        ...source.events.map((e) => el("li", { "data-state": e.state }, formatTime(e.at) + " " + e.message))));
      liveBox.replaceChildren(...rows);
    };
    if (live) {
      showLive(live);
      box.insertBefore(liveBox, stage);
    }
    // A live player waits for the publisher: the controls must not wait with it.
    if (live) startSessionPlayer(stage, session, clock, { report: false }).catch(showError);
    else await startSessionPlayer(stage, session, clock, { report: false });
    const control = async (action, position) => {
      try {
        const result = await api.request("POST", "/api/v1/sync-sessions/" + id + "/control", position === undefined ? { action } : { action, position });
        clock.update(result);
        showStatus();
      } catch (error) {
        showError(error);
      }
    };
    if (session.mayHost) {
      const seek = el("input", { type: "number", id: "seek-to", min: "0", step: "1", placeholder: "秒", "aria-label": "跳到（秒）" });
      controls.append(
        el("button", { type: "button", id: "play", onclick: () => control("play") }, "播放"), " ",
        el("button", { type: "button", id: "pause", onclick: () => control("pause") }, "暂停"), " ",
        seek, el("button", { type: "button", id: "seek", class: "secondary", onclick: () => control("seek", Number(seek.value)) }, "跳转"), " ",
        el("button", { type: "button", id: "end", class: "secondary", onclick: () => control("end") }, "结束"));
    }
    if (session.mayEdit) {
      controls.append(" ", el("button", { type: "button", id: "cancel", class: "secondary", onclick: () => control("cancel") }, "取消课堂"));
    }
    if (session.mayEdit && session.state === "scheduled") {
      // Before the start: the title and the start time can change (the screens follow at once).
      const local = new Date(new Date(session.startsAt).getTime() - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 16);
      const edit = el("form", { id: "edit", class: "panel" },
        el("label", { for: "edit-title" }, "标题"), el("input", { type: "text", id: "edit-title", name: "title", maxlength: "200", value: session.title }),
        el("label", { for: "edit-start" }, "开始时间"), el("input", { type: "datetime-local", id: "edit-start", name: "startsAt", value: local }),
        el("p", {}, el("button", { type: "submit" }, "保存")));
      edit.addEventListener("submit", async (event) => {
        event.preventDefault();
        try {
          await api.request("PATCH", "/api/v1/sync-sessions/" + id, { title: edit.title.value, startsAt: new Date(edit.startsAt.value).toISOString() });
          location.reload();
        } catch (error) {
          showError(error);
        }
      });
      box.append(edit);
    }
    if (!session.mayHost && !session.mayEdit) return;
    const attendance = el("table", { id: "attendance" });
    box.append(
      el("h2", {}, "教室"), roster,
      el("h2", {}, "举手与提问"), questions,
      el("h2", {}, "出勤"), attendance,
      el("p", {}, el("a", { href: "/api/v1/sync-sessions/" + id + "/attendance?format=csv", id: "attendance-csv" }, "下载出勤表（CSV）")));
    const showAttendance = async () => {
      const report = await api.get("/api/v1/sync-sessions/" + id + "/attendance");
      attendance.replaceChildren(el("tr", {}, ...["学校", "教室", "出勤", "观看分钟", "卡顿", "清晰度"].map((h) => el("th", {}, h))));
      for (const room of report.classrooms) {
        const tiers = Object.entries(room.tierSeconds).map(([tier, seconds]) => tier + " " + formatDuration(seconds)).join("，");
        attendance.append(el("tr", { "data-present": room.present ? "yes" : "no" },
          el("td", {}, room.school), el("td", {}, room.classroom), el("td", {}, room.present ? "出席" : "缺席"),
          el("td", {}, room.minutesWatched), el("td", {}, room.stallCount + " 次 / " + room.stallSeconds.toFixed(1) + " s"), el("td", {}, tiers)));
      }
      attendance.dataset.present = report.present;
    };
    await showAttendance();
    setInterval(() => showAttendance().catch(() => {}), 30000);
    const showRoster = (data) => {
      roster.replaceChildren(el("tr", {}, ...["学校", "教室", "在线", "偏差", "清晰度", "近一分钟卡顿"].map((h) => el("th", {}, h))));
      for (const room of data.classrooms) {
        roster.append(el("tr", { "data-classroom": room.classroomId, "data-connected": room.connected ? "yes" : "no" },
          el("td", {}, room.school), el("td", {}, room.classroom), el("td", {}, room.connected ? "在线" : "离线"),
          el("td", { class: "offset" }, room.offset == null ? "" : (room.offset >= 0 ? "+" : "") + room.offset.toFixed(2) + " s"),
          el("td", { class: "tier" }, room.tier || ""), el("td", {}, room.stallsLastMinute)));
      }
    };
    const showQuestion = (question) => {
      const existing = questions.querySelector('[data-question="' + question.id + '"]');
      const room = (lastRoster && lastRoster.classrooms.find((r) => r.classroomId === question.classroomId)) || null;
      const item = el("li", { "data-question": question.id, class: question.answeredAt ? "answered" : "" },
        question.kind === "hand" ? "✋ 举手" : "❓ " + question.text, " ",
        el("span", { class: "meta" }, room ? room.school + " " + room.classroom : ""), " ",
        question.answeredAt ? el("span", { class: "muted" }, "已回答")
          : el("button", { type: "button", class: "secondary", onclick: async () => showQuestion(await api.request("POST", "/api/v1/sync-sessions/" + id + "/questions/" + question.id + "/answer")) }, "已回答"));
      if (existing) existing.replaceWith(item); else questions.append(item);
    };
    let lastRoster = await api.get("/api/v1/sync-sessions/" + id + "/roster");
    showRoster(lastRoster);
    for (const question of (await api.get("/api/v1/sync-sessions/" + id + "/questions")).items) showQuestion(question);
    new SessionEvents(clock, {
      clock: showStatus,
      over: () => showAttendance().catch(showError),
      roster: (data) => { lastRoster = data; showRoster(data); },
      question: showQuestion,
      // "source lost" / "source back" at once; the rest (tiers, speed) with the next read.
      source: async () => { if (live) showLive(await api.get("/api/v1/sync-sessions/" + id + "/live")); },
    }).open();
  },

  /**
   * /classroom: the classroom screen's kiosk. No clicks needed: it shows the next session with a
   * countdown, plays it from the start time in step with every other classroom, follows the
   * hosts, and goes back to waiting afterwards.
   */
  async classroom() {
    const stage = document.querySelector("#kiosk");
    const title = document.querySelector("#kiosk-title");
    const status = document.querySelector("#kiosk-status");
    const sound = document.querySelector("#sound");
    const hand = document.querySelector("#hand");
    const ask = document.querySelector("#ask");
    sound.addEventListener("click", () => {
      const video = document.querySelector("#player");
      if (video) video.muted = false;
      sound.hidden = true;
    });
    for (;;) {
      let session = null;
      try {
        const running = await api.get("/api/v1/sync-sessions?when=running");
        const upcoming = running.items.length ? running : await api.get("/api/v1/sync-sessions?when=upcoming");
        session = upcoming.items[0] || null;
      } catch (error) {
        status.textContent = "连接服务器失败，稍后重试…";
      }
      if (!session) {
        document.body.dataset.kiosk = "idle";
        title.textContent = "暂无同步课堂";
        if (!status.textContent.startsWith("连接")) status.textContent = "有课时会自动开始";
        stage.replaceChildren();
        await sleep(10000);
        status.textContent = "";
        continue;
      }
      await pages.followSession(session, { stage, title, status, sound, hand, ask });
    }
  },

  /// Waits for one session, plays it in step, and returns once it is over (or cancelled).
  async followSession(session, { stage, title, status, sound, hand, ask }) {
    const clock = new SessionClockView(session.id);
    await clock.measure();
    document.body.dataset.session = session.id;
    title.textContent = session.title;
    let follower = null;
    let over = null;
    const finished = new Promise((resolve) => { over = resolve; });
    const events = new SessionEvents(clock, { over: (c) => over(c), clock: () => follower && follower.step() });
    events.open();
    hand.hidden = false;
    hand.onclick = async () => {
      try {
        await api.request("POST", "/api/v1/sync-sessions/" + session.id + "/questions", { kind: "hand" });
        hand.textContent = "已举手";
        setTimeout(() => { hand.textContent = "举手"; }, 10000);
      } catch (error) { status.textContent = error.message; }
    };
    ask.hidden = false;
    ask.onsubmit = async (event) => {
      event.preventDefault();
      const text = ask.question.value.trim();
      if (!text) return;
      try {
        await api.request("POST", "/api/v1/sync-sessions/" + session.id + "/questions", { kind: "question", text });
        ask.question.value = "";
        ask.question.placeholder = "已发送，老师会看到";
      } catch (error) { status.textContent = error.message; }
    };
    const show = () => {
      const reading = clock.reading();
      document.body.dataset.kiosk = reading.state;
      if (reading.state === "scheduled") {
        status.textContent = "距开始 " + formatCountdown(clock.clock.startsAt - clock.serverNow());
      } else {
        status.textContent = sessionStateNames[reading.state] + (reading.state === "paused" ? " · 老师暂停了课堂，请稍候" : "");
      }
      return reading;
    };
    const ticker = setInterval(show, 250);
    try {
      // The player is made shortly before the start, so it is ready (and buffered) at 0.
      for (;;) {
        const reading = show();
        if (reading.state === "ended" || reading.state === "cancelled") break;
        if (reading.state !== "scheduled" || clock.clock.startsAt - clock.serverNow() < 20000) break;
        await Promise.race([sleep(1000), finished]);
      }
      const reading = clock.reading();
      if (reading.state !== "ended" && reading.state !== "cancelled") {
        follower = await startSessionPlayer(stage, session, clock, { report: true, onMuted: () => { sound.hidden = false; } });
        if (document.querySelector("#player").muted) sound.hidden = false;
        // Until the clock runs out or a host ends or cancels it.
        while (!["ended", "cancelled"].includes(clock.reading().state)) await Promise.race([sleep(1000), finished]);
      }
      clearInterval(ticker);
      const last = clock.reading();
      document.body.dataset.kiosk = last.state;
      status.textContent = last.state === "cancelled" ? "本节同步课堂已取消" : "本节同步课堂已结束";
      if (follower) await follower.report().catch(() => {});
      await sleep(5000);
    } finally {
      clearInterval(ticker);
      events.close();
      if (follower) follower.stop();
      stage.replaceChildren();
      hand.hidden = true;
      ask.hidden = true;
      sound.hidden = true;
    }
  },
});
