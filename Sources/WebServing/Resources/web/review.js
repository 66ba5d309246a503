// Review and credit pages: the reviewer's queue and workspace, comments on the lesson's timeline,
// browsing by the book, a teacher's coverage and credits, and the public certificate check.
"use strict";

const reviewStates = { awaiting: "待审核", inReview: "审核中", returned: "已退回", approved: "已通过", revoked: "已撤销",
  notSubmitted: "未提交", missing: "未录制" };
const levelNames = { county: "县级", city: "市级" };
const actionNames = { submit: "提交", resubmit: "重新提交", claim: "认领", release: "放回", approve: "通过", return: "退回", revoke: "撤销" };

function reviewBadge(state, level) {
  const text = (level && state !== "approved" ? levelNames[level] : "") + (reviewStates[state] || state);
  return el("span", { class: "state review-" + state, "data-review": state }, text);
}

/**
 * Comments at moments of a lesson: a mark on a bar under the player for each thread (click: the
 * player seeks there), the threads with their replies, and forms to add either.
 */
class CommentTimeline {
  constructor(container, recordingId, video, duration) {
    this.recordingId = recordingId;
    this.video = video;
    this.duration = duration || 0;
    this.bar = el("div", { class: "timeline", id: "timeline", "aria-label": "评论时间轴" });
    this.list = el("ol", { class: "threads", id: "threads" });
    this.form = el("form", { id: "comment-form", class: "comment-form" },
      el("label", { for: "comment-body" }, "在当前时刻评论"),
      el("textarea", { id: "comment-body", name: "body", rows: "2", maxlength: "2000", required: "" }),
      el("p", {}, el("button", { type: "submit" }, "发表评论"), " ", el("span", { class: "muted", id: "comment-at" })));
    container.append(this.bar, el("h2", {}, "评课"), this.form, this.list);
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.post({ position: this.video.currentTime, body: this.form.body.value }, this.form).catch(showError);
    });
    this.video.addEventListener("timeupdate", () => {
      document.querySelector("#comment-at").textContent = "时刻 " + formatDuration(this.video.currentTime);
    });
    this.video.addEventListener("loadedmetadata", () => {
      if (!this.duration && isFinite(this.video.duration)) { this.duration = this.video.duration; this.render(); }
    });
  }

  async load() {
    this.threads = (await api.get("/api/v1/recordings/" + this.recordingId + "/comments")).items;
    this.render();
  }

  async post(body, form) {
    await api.request("POST", "/api/v1/recordings/" + this.recordingId + "/comments", body);
    form.reset();
    await this.load();
  }

  seek(position) {
    this.video.currentTime = position;
    this.video.play().catch(() => {});
  }

  render() {
    const marks = this.threads.map((thread) => {
      const mark = el("button", { type: "button", class: "mark", "data-position": thread.position,
        title: formatDuration(thread.position) + " " + thread.body, "aria-label": "跳到 " + formatDuration(thread.position) });
      if (this.duration) mark.style.left = Math.min(100, (thread.position / this.duration) * 100) + "%";
      mark.addEventListener("click", () => this.seek(thread.position));
      return mark;
    });
    this.bar.replaceChildren(...marks);
    this.list.replaceChildren(...this.threads.map((thread) => {
      const reply = el("form", { class: "reply" },
        el("input", { type: "text", name: "body", maxlength: "2000", required: "", placeholder: "回复", "aria-label": "回复" }),
        " ", el("button", { type: "submit", class: "secondary" }, "回复"));
      reply.addEventListener("submit", (event) => {
        event.preventDefault();
        this.post({ parentId: thread.id, body: reply.body.value }, reply).catch(showError);
      });
      const at = el("a", { href: "#", class: "at" }, formatDuration(thread.position));
      at.addEventListener("click", (event) => { event.preventDefault(); this.seek(thread.position); });
      return el("li", { class: "thread", "data-id": thread.id },
        el("p", {}, at, " ", el("strong", {}, thread.author.name), " ", thread.body),
        el("ul", { class: "replies" }, ...(thread.replies || []).map((r) => el("li", {}, el("strong", {}, r.author.name), " ", r.body))),
        reply);
    }));
  }
}
window.CommentTimeline = CommentTimeline;

/** On a recording's page: where its review stands, and the teacher's button to submit it. */
window.showReviewStatus = async function (item) {
  const box = document.querySelector("#review-status");
  const me = window.signedInPerson;
  if (!box || !me) return;
  let view = null;
  try {
    view = await api.get("/api/v1/recordings/" + item.id + "/review");
  } catch (error) {
    if (error.status !== 404) throw error;
  }
  const parts = [el("span", { class: "muted" }, "教研审核：")];
  parts.push(view ? reviewBadge(view.state, view.level) : el("span", { class: "muted" }, "未提交"));
  if (view && view.state === "returned") {
    const reason = [...(view.history || [])].reverse().find((step) => step.action === "return");
    if (reason) parts.push(el("span", { class: "error" }, " 退回原因：" + reason.comment));
  }
  if (me.id === item.teacher.id && item.state === "ready" && (!view || view.state === "returned")) {
    const submit = el("button", { type: "button", id: "submit-review" }, view ? "重新提交审核" : "提交审核");
    submit.addEventListener("click", async () => {
      try { await api.request("POST", "/api/v1/recordings/" + item.id + "/review"); await window.showReviewStatus(item); } catch (error) { showError(error); }
    });
    parts.push(" ", submit);
  }
  if (me.role === "reviewer" && view) parts.push(" ", el("a", { href: "/review/" + item.id }, "审核页"));
  box.replaceChildren(...parts);
};

/** Starts the lesson's player in `stage`; returns the video element. */
async function startPlayer(stage, recordingId) {
  const playback = await api.get("/api/v1/recordings/" + recordingId + "/playback");
  const video = el("video", { id: "player", controls: "", playsinline: "", preload: "auto" });
  if (playback.posterUrl) video.setAttribute("poster", playback.posterUrl);
  stage.replaceChildren(video);
  const player = new window.LessonPlayer(video, playback.url, { startTier: playback.startTier });
  await player.start();
  window.lessonPlayer = player;
  return video;
}

Object.assign(pages, {
  async reviews() {
    await showSignedIn();
    const form = document.querySelector("#queue-filter");
    const list = document.querySelector("#queue");
    for (const edition of (await api.get("/api/v1/textbooks")).items) {
      for (const volume of edition.volumes) {
        if (![...form.subject.options].some((o) => o.value === volume.subject)) form.subject.append(el("option", { value: volume.subject }, volume.subject));
      }
    }
    for (let grade = 1; grade <= 12; grade++) form.grade.append(el("option", { value: grade }, grade + " 年级"));
    async function load() {
      const query = new URLSearchParams();
      if (form.subject.value) query.set("subject", form.subject.value);
      if (form.grade.value) query.set("grade", form.grade.value);
      const queue = await api.get("/api/v1/reviews?" + query);
      list.replaceChildren(...(queue.items.length ? queue.items.map((item) => {
        const open = el("a", { href: "/review/" + item.recording.id, class: "button" }, item.state === "inReview" ? "继续审核" : "认领并审核");
        if (item.state === "awaiting") {
          open.addEventListener("click", async (event) => {
            event.preventDefault();
            try {
              await api.request("POST", "/api/v1/reviews/" + item.id + "/claim");
              location.href = open.getAttribute("href");
            } catch (error) { showError(error); load(); }
          });
        }
        return el("li", { class: "submission", "data-id": item.id },
          el("p", {}, el("strong", {}, item.recording.name), " ", reviewBadge(item.state, item.level)),
          el("p", { class: "meta" }, [item.teacher.name, item.school.name, item.subject, item.lesson].filter(Boolean).join(" · "),
            " · 提交于 " + new Date(item.submittedAt).toLocaleString("zh-CN")),
          open);
      }) : [el("li", { class: "muted" }, "队列里没有待审核的课例。")]));
    }
    form.addEventListener("change", () => load().catch(showError));
    await load();
  },

  async review() {
    await showSignedIn();
    const recordingId = location.pathname.split("/").pop();
    const box = document.querySelector("#review");
    const [recording, submission, rubric] = await Promise.all([
      api.get("/api/v1/recordings/" + recordingId),
      api.get("/api/v1/recordings/" + recordingId + "/review"),
      api.get("/api/v1/review-rubric"),
    ]);
    document.title = "审核 · " + recording.title + " · LessonLink";
    const stage = el("div", { id: "stage" });
    const decision = el("form", { id: "decision", class: "panel" }, el("h2", {}, "评分与结论"));
    for (const criterion of rubric.criteria) {
      const select = el("select", { id: "score-" + criterion.key, name: criterion.key, required: "" }, el("option", { value: "" }, "—"));
      for (let score = criterion.max; score >= criterion.min; score--) select.append(el("option", { value: score }, score));
      decision.append(el("label", { for: select.id }, criterion.key + "（" + criterion.description + "）"), select);
    }
    decision.append(
      el("label", { for: "decision-comment" }, "意见（退回时必填）"), el("textarea", { id: "decision-comment", name: "comment", rows: "3" }),
      el("p", {}, el("button", { type: "submit", name: "approve", value: "approve", id: "approve" }, "通过"), " ",
        el("button", { type: "submit", name: "return", value: "return", class: "secondary", id: "return" }, "退回修改"), " ",
        el("button", { type: "button", class: "secondary", id: "release" }, "放回队列")),
      el("p", { id: "decided", class: "muted" }));
    const history = el("ol", { id: "history", class: "history" });
    function showSubmission(view) {
      box.querySelector("#review-state").replaceChildren(reviewBadge(view.state, view.level));
      history.replaceChildren(...(view.history || []).map((step) => el("li", {},
        new Date(step.at).toLocaleString("zh-CN") + " " + step.person.name + " " + (step.level ? levelNames[step.level] : "") +
        (actionNames[step.action] || step.action) + (step.scores ? " · " + Object.entries(step.scores).map(([k, v]) => k + " " + v).join("，") : "") +
        (step.comment ? " · " + step.comment : ""))));
      const mine = view.state === "inReview" && view.claimedBy === window.signedInPerson?.id;
      for (const control of decision.querySelectorAll("button, select, textarea")) control.disabled = !mine;
      decision.querySelector("#decided").textContent = mine ? "" : view.state === "inReview" ? "另一位审核员正在审核。" : "";
    }
    box.replaceChildren(
      el("h1", {}, recording.title), el("p", {}, el("span", { id: "review-state" }), " ",
        el("span", { class: "muted" }, [recording.teacher.name, recording.school.name, recording.textbook ? recording.textbook.volume + " · " + recording.textbook.lesson : ""].filter(Boolean).join(" · "))),
      stage);
    box.after(decision, el("section", { class: "panel" }, el("h2", {}, "审核记录"), history));
    showSubmission(submission);
    let choice = "approve";
    for (const name of ["approve", "return"]) decision.querySelector("#" + name).addEventListener("click", () => { choice = name; });
    decision.addEventListener("submit", async (event) => {
      event.preventDefault();
      const scores = Object.fromEntries(rubric.criteria.map((c) => [c.key, Number(decision.elements[c.key].value)]));
      try {
        const view = await api.request("POST", "/api/v1/reviews/" + submission.id + "/decision",
          { decision: choice, scores, comment: decision.comment.value });
        showSubmission(view);
        decision.querySelector("#decided").textContent = choice === "approve" ? "已通过。" : "已退回教师。";
      } catch (error) { showError(error); }
    });
    decision.querySelector("#release").addEventListener("click", async () => {
      try { showSubmission(await api.request("POST", "/api/v1/reviews/" + submission.id + "/release")); } catch (error) { showError(error); }
    });
    const video = await startPlayer(stage, recordingId);
    await new CommentTimeline(stage, recordingId, video, recording.duration).load();
  },

  async textbooks() {
    await showSignedIn();
    const box = document.querySelector("#textbooks");
    const editions = (await api.get("/api/v1/textbooks")).items;
    box.replaceChildren(el("h1", {}, "按教材浏览"), ...editions.map((edition) => el("section", { class: "edition" },
      el("h2", {}, edition.edition),
      el("ul", { class: "results" }, ...edition.volumes.map((volume) => el("li", { "data-volume": volume.id },
        el("a", { href: "/textbooks/" + volume.id }, volume.title), " ",
        el("span", { class: "meta" }, volume.approvedLessons + "/" + volume.newCourseLessons + " 节新授课已有审核通过的课例 · " + volume.recordings + " 个课例")))))));
  },

  async textbook() {
    await showSignedIn();
    const id = location.pathname.split("/").pop();
    const box = document.querySelector("#textbook");
    const volume = await api.get("/api/v1/textbooks/" + id);
    document.title = volume.title + " · LessonLink";
    function recordingCard(r) {
      return el("li", { class: "lesson" },
        r.posterUrl ? el("img", { class: "thumb", src: r.posterUrl, alt: "" }) : el("span", { class: "thumb" }),
        el("div", {}, el("a", { href: "/recordings/" + r.id }, r.title), " ", r.review ? reviewBadge(r.review, r.reviewLevel) : "",
          el("p", { class: "meta" }, r.teacher.name + " · " + r.school.name + (r.duration ? " · " + formatDuration(r.duration) : ""))));
    }
    function lessonItem(lesson) {
      const name = (lesson.number ? "第" + lesson.number + "课 " : "") + lesson.title;
      return el("li", { class: "textbook-lesson", "data-lesson": lesson.id },
        el("p", {}, el("strong", {}, name), lesson.newCourse ? "" : el("span", { class: "muted" }, "（复习/练习）")),
        lesson.recordings.length ? el("ul", { class: "recordings" }, ...lesson.recordings.map(recordingCard)) : el("p", { class: "muted" }, "还没有课例。"));
    }
    box.replaceChildren(
      el("h1", {}, volume.title),
      el("p", { class: "muted", id: "volume-coverage" }, volume.approvedLessons + "/" + volume.newCourseLessons + " 节新授课已有审核通过的课例"),
      ...volume.units.map((unit) => el("section", { class: "unit" }, el("h2", {}, unit.unit), el("ul", { class: "results" }, ...unit.lessons.map(lessonItem)))));
  },

  async coverage() {
    const me = await showSignedIn();
    const box = document.querySelector("#coverage");
    const parts = [];
    if (me && me.role === "teacher") {
      const mine = (await api.get("/api/v1/coverage")).items;
      parts.push(el("h1", {}, "我的整册进度"));
      if (!mine.length) parts.push(el("p", { class: "muted" }, "还没有关联教材的课例。上传时选择教材和课，即可在这里看到进度。"));
      for (const volume of mine) {
        const submit = el("button", { type: "button", class: "secondary" }, "整册提交审核");
        submit.addEventListener("click", async () => {
          try {
            const result = await api.request("POST", "/api/v1/textbook-volumes/" + volume.volume.id + "/review");
            submit.after(el("span", { class: "muted" }, " 已提交 " + result.submitted.length + " 个课例"));
          } catch (error) { showError(error); }
        });
        const credit = volume.credit;
        parts.push(el("section", { class: "volume-progress", "data-volume": volume.volume.id },
          el("h2", {}, volume.volume.name, " ", el("span", { class: "progress-count" }, volume.approved + "/" + volume.required)),
          el("progress", { max: String(volume.required || 1), value: String(volume.approved) }),
          credit ? el("p", { class: "credit" + (credit.revokedAt ? " revoked" : "") },
            credit.revokedAt ? "支教经历证书已撤销：" + (credit.revokeReason || "") : "已认定一学期支教经历。", " ",
            el("a", { href: credit.certificateUrl, id: "certificate-link" }, "打印证书"), " · ",
            el("a", { href: "/api/v1/credits/" + credit.id + "/credential", download: "" }, "下载电子证书"), " · ",
            el("a", { href: credit.verifyUrl }, "验证")) : el("p", {}, submit),
          el("table", { class: "coverage" }, el("tbody", {}, ...volume.lessons.map((lesson) => el("tr", { "data-review": lesson.review },
            el("td", {}, lesson.number ? "第" + lesson.number + "课" : ""), el("td", {}, lesson.title + (lesson.newCourse ? "" : "（不计入）")),
            el("td", {}, lesson.recording ? el("a", { href: "/recordings/" + lesson.recording.id }, lesson.recording.name) : "—"),
            el("td", {}, reviewBadge(lesson.review, lesson.level))))))));
      }
    }
    if (me && (me.role === "coordinator" || me.role === "admin")) {
      const matrix = await api.get("/api/v1/coverage/matrix");
      parts.push(el("h1", {}, me.role === "admin" ? "全县整册覆盖" : "学区整册覆盖"));
      parts.push(el("table", { class: "matrix", id: "matrix" },
        el("thead", {}, el("tr", {}, el("th", {}, "教师"), el("th", {}, "学校"), ...matrix.volumes.map((v) => el("th", {}, v.name)))),
        el("tbody", {}, ...matrix.rows.map((row) => el("tr", {}, el("td", {}, row.teacher.name), el("td", {}, row.school.name),
          ...matrix.volumes.map((v) => {
            const cell = row.cells.find((c) => c.volumeId === v.id);
            return el("td", { class: cell && cell.credited ? "credited" : "" }, cell ? cell.approved + "/" + cell.required + (cell.credited ? " ✓" : "") : "");
          }))))));
    }
    const notices = (await api.get("/api/v1/notifications")).items;
    parts.push(el("h2", {}, "通知"), el("ul", { class: "results", id: "notices" }, ...(notices.length ? notices.map((n) =>
      el("li", { class: n.readAt || !n.personId ? "read" : "" }, n.link ? el("a", { href: n.link.startsWith("/credits/") ? "/coverage" : n.link }, n.text) : n.text,
        el("span", { class: "meta" }, " " + new Date(n.createdAt).toLocaleString("zh-CN")))) : [el("li", { class: "muted" }, "没有通知。")])));
    box.replaceChildren(...parts);
  },

  async verify() {
    const form = document.querySelector("#verify-form");
    const result = document.querySelector("#verify-result");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const file = document.querySelector("#credential-file").files[0];
      const text = file ? await file.text() : document.querySelector("#credential-text").value;
      result.hidden = false;
      try {
        const response = await fetch("/api/v1/credentials/verify", { method: "POST", headers: { "Content-Type": "application/json" }, body: text });
        const body = await response.json();
        if (!response.ok) throw new Error(body.error.message);
        result.className = "verdict " + body.verdict;
        result.textContent = body.message + (body.holder ? "（持有人：" + body.holder + "）" : "");
      } catch (error) {
        result.className = "verdict malformed";
        result.textContent = error.message;
      }
    });
  },
});
