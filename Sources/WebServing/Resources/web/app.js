// LessonLink web pages: plain JavaScript over the JSON API (/api/v1), signed in by the
// HttpOnly session cookie that POST /api/v1/sessions sets.
"use strict";

const api = {
  async request(method, path, body) {
    const init = { method, headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    if (response.status === 401 && !location.pathname.startsWith("/login")) {
      location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
      throw new Error("not signed in");
    }
    if (!response.ok) throw await api.error(response);
    return response.status === 204 ? null : response.json();
  },
  async error(response) {
    try {
      const body = await response.json();
      const error = new Error(body.error.message);
      error.code = body.error.code;
      error.status = response.status;
      return error;
    } catch {
      const error = new Error("HTTP " + response.status);
      error.status = response.status;
      return error;
    }
  },
  get: (path) => api.request("GET", path),
};

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  return node;
}

/** Seconds as m:ss (h:mm:ss past an hour). */
function formatDuration(seconds) {
  const total = Math.round(seconds);
  const two = (n) => String(n).padStart(2, "0");
  const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
  return h ? h + ":" + two(m) + ":" + two(s) : m + ":" + two(s);
}

const stateNames = { uploading: "上传中", queued: "排队转码", processing: "转码中", ready: "可播放", failed: "失败" };

async function showSignedIn() {
  const who = document.querySelector("header .who");
  if (!who) return;
  try {
    const me = await api.get("/api/v1/me");
    for (const link of document.querySelectorAll("header [data-roles]")) {
      link.hidden = !link.dataset.roles.split(" ").includes(me.role);
    }
    who.textContent = me.displayName + " · ";
    who.append(el("a", { href: "#", onclick: async (event) => {
      event.preventDefault();
      await api.request("DELETE", "/api/v1/sessions/current");
      location.href = "/login";
    } }, "退出"));
    window.signedInPerson = me;
    if (me.role === "admin") showAdminWarnings();
    // The orders waiting for this person, on the header's 点单 link.
    const ordersLink = document.querySelector('header a[href="/orders"]');
    if (ordersLink && !ordersLink.hidden) {
      api.get("/api/v1/orders?todo=true&limit=1").then((inbox) => {
        if (inbox.todo > 0) ordersLink.append(" ", el("span", { class: "count", id: "orders-todo" }, inbox.todo));
      }).catch(() => {});
    }
    return me;
  } catch { /* redirected to /login */ }
}

/** Warnings only an admin can act on, above every page: a disk filling up (before uploads are
 *  refused with 507) and a scheduled backup that failed. */
async function showAdminWarnings() {
  let status;
  try { status = await api.get("/api/v1/admin/status"); } catch { return; }
  const header = document.querySelector("header");
  const warnings = [];
  const gib = (bytes) => (bytes / (1 << 30)).toFixed(1) + " GiB";
  if (status.storage && status.storage.low) {
    warnings.push(el("div", { class: "banner", id: "storage-warning", role: "alert" },
      "存储空间不足：剩余 " + gib(status.storage.freeBytes) + "（" + status.storage.freePercent + "%，低于 "
        + status.storage.minFreePercent + "%）。请清理或扩容，否则上传将被拒绝。"));
  }
  if (status.backup && status.backup.lastError) {
    warnings.push(el("div", { class: "banner", id: "backup-warning", role: "alert" },
      "最近一次自动备份失败：" + status.backup.lastError));
  }
  for (const warning of warnings.reverse()) header.after(warning);
}

// ---------------------------------------------------------------------------------------------
// tus 1.0.0 client (https://tus.io/protocols/resumable-upload): creation, then PATCH in chunks
// from the server's offset. A dropped connection is retried with back-off from the offset HEAD
// reports; the upload URL is kept in localStorage so a reload or a new day resumes, too.

class TusUpload {
  constructor(file, metadata, { chunkSize = 8 << 20, onProgress = () => {}, onStatus = () => {} } = {}) {
    this.file = file;
    this.metadata = metadata;
    this.chunkSize = chunkSize;
    this.onProgress = onProgress;
    this.onStatus = onStatus;
    this.paused = false;
    this.request = null;
    this.key = "tus:" + [file.name, file.size, file.lastModified].join(":");
  }

  static encodeMetadata(metadata) {
    return Object.entries(metadata)
      .filter(([, value]) => value !== undefined && value !== "")
      .map(([key, value]) => key + " " + btoa(String.fromCharCode(...new TextEncoder().encode(String(value)))))
      .join(",");
  }

  async start() {
    this.paused = false;
    this.url = localStorage.getItem(this.key);
    let offset = this.url ? await this.serverOffset() : null;
    if (offset === null) {
      const response = await fetch("/api/v1/uploads", {
        method: "POST",
        headers: { "Tus-Resumable": "1.0.0", "Upload-Length": String(this.file.size),
                   "Upload-Metadata": TusUpload.encodeMetadata(this.metadata) },
      });
      if (response.status !== 201) throw await api.error(response);
      this.url = response.headers.get("Location");
      localStorage.setItem(this.key, this.url);
      offset = 0;
    }
    let delay = 1000;
    while (offset < this.file.size) {
      if (this.paused) return "paused";
      try {
        offset = await this.patch(offset);
        delay = 1000;
      } catch (error) {
        if (this.paused) return "paused";
        if (error.status && error.status !== 409 && error.status < 500) throw error; // the server said no
        // The link dropped (or the server restarted): wait, ask where to resume, go on.
        this.onStatus("连接中断，" + Math.round(delay / 1000) + " 秒后自动续传…");
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 30000);
        const resumed = await this.serverOffset().catch(() => null);
        if (resumed !== null) offset = resumed;
      }
    }
    localStorage.removeItem(this.key);
    this.onProgress(this.file.size, this.file.size);
    return "done";
  }

  pause() {
    this.paused = true;
    if (this.request) this.request.abort();
  }

  async serverOffset() {
    const response = await fetch(this.url, { method: "HEAD", headers: { "Tus-Resumable": "1.0.0" } });
    if (response.status === 404 || response.status === 410) {
      localStorage.removeItem(this.key);
      return null;
    }
    if (!response.ok) throw new Error("HEAD " + response.status);
    return parseInt(response.headers.get("Upload-Offset"), 10);
  }

  // One PATCH with upload progress (XMLHttpRequest reports it; fetch does not).
  patch(offset) {
    return new Promise((resolve, reject) => {
      const chunk = this.file.slice(offset, offset + this.chunkSize);
      const request = new XMLHttpRequest();
      this.request = request;
      request.open("PATCH", this.url);
      request.setRequestHeader("Tus-Resumable", "1.0.0");
      request.setRequestHeader("Upload-Offset", String(offset));
      request.setRequestHeader("Content-Type", "application/offset+octet-stream");
      request.upload.onprogress = (event) => this.onProgress(offset + event.loaded, this.file.size);
      request.onload = () => {
        if (request.status === 204) {
          this.onStatus("");
          resolve(parseInt(request.getResponseHeader("Upload-Offset"), 10));
        } else {
          let message = "HTTP " + request.status;
          try { message = JSON.parse(request.responseText).error.message; } catch { /* keep the status */ }
          const error = new Error(message);
          error.status = request.status;
          reject(error);
        }
      };
      request.onerror = () => reject(new Error("network"));
      request.onabort = () => reject(new Error("aborted"));
      request.send(chunk);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Pages

const pages = {
  /** The admin's server page: disk and backups, the runners (revoke), registration tokens. */
  async admin() {
    await showSignedIn();
    const hours = (seconds) => (seconds / 3600).toFixed(1) + " 小时";
    const when = (date) => date ? new Date(date).toLocaleString("zh-CN") : "从未";
    const status = await api.get("/api/v1/admin/status");
    const disk = status.storage
      ? "磁盘剩余 " + (status.storage.freeBytes / (1 << 30)).toFixed(1) + " GiB（" + status.storage.freePercent + "%）"
      : "磁盘不可读";
    const backup = status.backup.folder
      ? "；每日 " + status.backup.schedule + " 备份到 " + status.backup.folder + "，最近成功：" + when(status.backup.lastSuccessAt)
      : "；未设置自动备份（backup.to）";
    document.querySelector("#server-status").textContent = "LessonLink " + status.version + "；" + disk + backup;
    async function load() {
      const list = await api.get("/api/v1/runners");
      document.querySelector("#queue-drain").textContent = "队列：" + hours(list.queueSeconds) + "视频"
        + (list.drainSeconds !== undefined ? "，约 " + hours(list.drainSeconds) + "转完" : "");
      const body = document.querySelector("#runners tbody");
      body.replaceChildren(...list.items.map((runner) => el("tr", { "data-runner": runner.id },
        el("td", {}, runner.name),
        el("td", {}, runner.revokedAt ? "已吊销" : when(runner.lastContactAt)),
        el("td", {}, runner.jobsDone),
        el("td", {}, runner.failures),
        el("td", {}, runner.speed !== undefined ? runner.speed.toFixed(2) + "× 实时" : "—"),
        el("td", {}, runner.revokedAt ? "" : el("button", { type: "button", class: "revoke", onclick: async () => {
          await api.request("POST", "/api/v1/runners/" + runner.id + "/revoke");
          await load();
        } }, "吊销")))));
    }
    document.querySelector("#new-runner-token").addEventListener("click", async () => {
      const made = await api.request("POST", "/api/v1/runners/registration-tokens");
      document.querySelector("#runner-token").textContent = made.token;
    });
    await load();
  },

  async login() {
    const form = document.querySelector("#login");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const message = document.querySelector("#message");
      message.textContent = "";
      try {
        const signedIn = await api.request("POST", "/api/v1/sessions", { username: form.username.value, password: form.password.value });
        const next = new URLSearchParams(location.search).get("next");
        // A classroom screen's home is its kiosk.
        const home = signedIn.person.role === "classroom" ? "/classroom" : "/";
        location.href = next && next.startsWith("/") && !next.startsWith("//") ? next : home;
      } catch (error) {
        message.textContent = error.message;
      }
    });
  },

  async catalog() {
    await showSignedIn();
    const form = document.querySelector("#search");
    const list = document.querySelector("#results");
    const more = document.querySelector("#more");
    const volumes = await api.get("/api/v1/textbook-volumes");
    const subjects = [...new Set(volumes.items.map((v) => v.subject))];
    for (const subject of subjects) form.subject.append(el("option", { value: subject }, subject));
    for (const grade of [...new Set(volumes.items.map((v) => v.grade))].sort((a, b) => a - b)) {
      form.grade.append(el("option", { value: grade }, grade + " 年级"));
    }
    let cursor = null;
    async function load(append) {
      const query = new URLSearchParams();
      for (const name of ["q", "subject", "grade", "sort"]) if (form[name].value) query.set(name, form[name].value);
      if (append && cursor) query.set("cursor", cursor);
      const page = await api.get("/api/v1/recordings?" + query);
      if (!append) list.replaceChildren();
      for (const item of page.items) {
        const thumb = item.posterUrl
          ? el("img", { class: "thumb", src: item.posterUrl, alt: "", loading: "lazy" })
          : el("div", { class: "thumb" });
        // The volume's title names the edition, subject, grade and 册 (人教版 数学 三年级 上册).
        const textbook = item.textbook ? [item.textbook.volume, item.textbook.lesson] : [];
        list.append(el("li", { class: "lesson" },
          el("a", { href: "/recordings/" + item.id, tabindex: "-1" }, thumb),
          el("div", {},
            el("a", { href: "/recordings/" + item.id }, item.title), " ",
            el("span", { class: "state " + item.state }, stateNames[item.state] || item.state),
            item.duration ? el("span", { class: "duration" }, formatDuration(item.duration)) : "",
            el("div", { class: "meta" }, [item.teacher.name, item.school.name].join(" · ")),
            textbook.length ? el("div", { class: "meta textbook" }, textbook.join(" · ")) : "")));
      }
      if (!append && page.items.length === 0) list.append(el("li", { class: "muted" }, "没有找到课例"));
      cursor = page.nextCursor;
      more.hidden = !cursor;
    }
    form.addEventListener("submit", (event) => { event.preventDefault(); load(false).catch(showError); });
    more.addEventListener("click", () => load(true).catch(showError));
    await load(false);
  },

  async upload() {
    await showSignedIn();
    const form = document.querySelector("#upload");
    const volumes = await api.get("/api/v1/textbook-volumes");
    for (const volume of volumes.items) form.volume.append(el("option", { value: volume.id }, volume.title));
    form.volume.addEventListener("change", async () => {
      form.lesson.replaceChildren(el("option", { value: "" }, "（不指定）"));
      if (!form.volume.value) return;
      const detail = await api.get("/api/v1/textbook-volumes/" + form.volume.value);
      for (const lesson of detail.lessons) form.lesson.append(el("option", { value: lesson.id }, lesson.unit + " · " + lesson.title));
    });
    const bar = document.querySelector("#progress");
    const status = document.querySelector("#status");
    const pause = document.querySelector("#pause");
    let upload = null;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const file = form.file.files[0];
      if (!file) return;
      upload = new TusUpload(file, {
        // form.title would be the form's own title attribute, not the input named "title".
        filename: file.name, title: document.getElementById("title").value || file.name, description: form.description.value,
        lesson: form.lesson.value, recordedOn: form.recordedOn.value,
      }, {
        onProgress: (sent, total) => {
          bar.max = total;
          bar.value = sent;
          document.querySelector("#percent").textContent = Math.floor((sent / total) * 100) + "%";
        },
        onStatus: (text) => { status.textContent = text; },
      });
      form.querySelector("button[type=submit]").disabled = true;
      pause.hidden = false;
      pause.textContent = "暂停";
      await run();
    });
    async function run() {
      try {
        const result = await upload.start();
        if (result === "done") {
          status.textContent = "上传完成，正在处理。";
          pause.hidden = true;
          form.querySelector("button[type=submit]").disabled = false;
        }
      } catch (error) {
        status.textContent = error.message;
        status.className = "error";
        pause.hidden = true;
        form.querySelector("button[type=submit]").disabled = false;
      }
    }
    pause.addEventListener("click", () => {
      if (!upload) return;
      if (upload.paused) {
        pause.textContent = "暂停";
        status.textContent = "";
        run();
      } else {
        upload.pause();
        pause.textContent = "继续";
        status.textContent = "已暂停";
      }
    });
  },

  async recording() {
    await showSignedIn();
    const id = location.pathname.split("/").pop();
    const box = document.querySelector("#recording");
    const forceMSE = new URLSearchParams(location.search).get("player") === "mse";
    let player = null;

    function describe(item) {
      const parts = [el("h1", {}, item.title), el("div", { id: "stage" })];
      parts.push(el("p", {},
        el("span", { class: "state " + item.state, id: "state" }, stateNames[item.state] || item.state), " ",
        el("progress", { id: "transcode", max: "1", value: "0", hidden: "" }), " ",
        el("span", { id: "eta", class: "muted" })));
      parts.push(el("p", { class: "error", id: "failure", hidden: "" }));
      parts.push(el("dl", { class: "facts" },
        el("dt", {}, "教师"), el("dd", {}, item.teacher.name),
        el("dt", {}, "学校"), el("dd", {}, item.school.name),
        el("dt", {}, "教材"), el("dd", {}, item.textbook ? item.textbook.volume + " · " + item.textbook.lesson : "—"),
        el("dt", {}, "上课日期"), el("dd", {}, item.recordedOn || "—"),
        el("dt", {}, "时长"), el("dd", {}, item.duration ? Math.round(item.duration) + " 秒" : "—"),
        el("dt", {}, "文件"), el("dd", {}, item.sourceSize ? (item.sourceSize / 1048576).toFixed(1) + " MB" : "—")));
      parts.push(el("p", {}, item.description || ""));
      parts.push(el("p", { id: "review-status" }));
      parts.push(el("div", { id: "discussion" }));
      box.replaceChildren(...parts);
    }

    function showState(event) {
      const state = document.querySelector("#state");
      state.className = "state " + event.state;
      state.textContent = stateNames[event.state] || event.state;
      const failure = document.querySelector("#failure");
      failure.hidden = !event.failure;
      failure.textContent = event.failure || "";
      const bar = document.querySelector("#transcode");
      const eta = document.querySelector("#eta");
      const job = event.transcode;
      const active = job && (job.state === "running" || job.state === "queued");
      bar.hidden = !active;
      if (active) {
        bar.value = job.progress;
        eta.textContent = Math.round(job.progress * 100) + "%" +
          (job.etaSeconds != null ? "，约 " + Math.max(1, Math.round(job.etaSeconds)) + " 秒后完成" : "") +
          (job.attempts > 1 ? "（第 " + job.attempts + " 次尝试）" : "");
      } else {
        eta.textContent = "";
      }
    }

    let item = null;
    async function play() {
      if (player) return;
      const playback = await api.get("/api/v1/recordings/" + encodeURIComponent(id) + "/playback");
      const video = el("video", { id: "player", controls: "", playsinline: "", preload: "auto" });
      if (playback.posterUrl) video.setAttribute("poster", playback.posterUrl);
      const menu = el("select", { id: "tier", "aria-label": "清晰度" }, el("option", { value: "auto" }, "自动"));
      const status = el("span", { id: "playing", class: "muted" });
      document.querySelector("#stage").replaceChildren(video, el("p", {}, el("label", { for: "tier" }, "清晰度 "), menu, " ", status));
      player = new window.LessonPlayer(video, playback.url, {
        startTier: playback.startTier, forceMSE,
        onChange: (p) => {
          status.textContent = (p.mode === "mse" ? "MSE" : "HLS") + " · " + p.currentTier();
        },
      });
      await player.start();
      for (const variant of player.variants) menu.append(el("option", { value: variant.name }, variant.name));
      menu.addEventListener("change", () => player.select(menu.value));
      window.lessonPlayer = player;
      // Timeline comments, for those the district's teaching research is open to.
      const me = window.signedInPerson;
      if (window.CommentTimeline && me && me.role !== "classroom") {
        const comments = new window.CommentTimeline(document.querySelector("#discussion"), id, video, item.duration);
        comments.load().catch(() => { document.querySelector("#discussion").hidden = true; });
      }
    }

    try {
      item = await api.get("/api/v1/recordings/" + encodeURIComponent(id));
      document.title = item.title + " · LessonLink";
      describe(item);
      if (window.showReviewStatus) window.showReviewStatus(item).catch(() => {});
      showState(item);
      if (item.state === "ready") await play();
      if (item.state !== "ready" && item.state !== "failed" || (item.transcode && ["queued", "running"].includes(item.transcode.state))) {
        // Follow the transcode live until the lesson is ready or failed.
        const events = new EventSource("/api/v1/recordings/" + encodeURIComponent(id) + "/events");
        events.addEventListener("state", (message) => {
          const event = JSON.parse(message.data);
          showState(event);
          if (event.state === "ready") play().catch(showError);
          if ((event.state === "ready" || event.state === "failed") && !(event.transcode && ["queued", "running"].includes(event.transcode.state))) events.close();
        });
      }
    } catch (error) {
      box.replaceChildren(el("p", { class: "error" }, error.status === 404 ? "没有这个课例，或您无权查看。" : error.message));
    }
  },
};

function showError(error) {
  const box = document.querySelector("#error");
  if (box) box.textContent = error.message;
}

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  if (pages[page]) pages[page]().catch(showError);
});
